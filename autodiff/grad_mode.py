"""Grad mode: whether operations are recorded for differentiation.

Recording happens only when grad mode is on *and* some input requires grad.
The switch is thread-local, as in PyTorch, so one thread's ``no_grad`` does not
silence another thread's training loop.
"""

from __future__ import annotations

import functools
import threading


class _State(threading.local):
    enabled = True
    forward = 0  # the token of the running forward-mode sweep (jvp), 0 when none: ops then push tangents
    anomaly = False  # check every value (detect_anomaly)
    trace = False  # nodes remember where they were made and how to re-run their op
    extra = False  # any of the three: the one flag an op checks on its hot path

    def update(self) -> None:
        self.extra = bool(self.forward or self.anomaly or self.trace)


_state = _State()


def is_grad_enabled() -> bool:
    """Return True when operations are being recorded."""
    return _state.enabled


class set_grad_enabled:
    """Turn recording on or off; usable as a context manager or a decorator.

    Examples
    --------
    >>> import autodiff as ad
    >>> with ad.set_grad_enabled(False):
    ...     pass
    """

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev = _state.enabled
        _state.enabled = self.mode

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        _state.enabled = self.prev


class _GradModeContext:
    mode = True

    def __enter__(self) -> None:
        self.prev = _state.enabled
        _state.enabled = self.mode

    def __exit__(self, *exc) -> None:
        _state.enabled = self.prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):
    """Context manager and decorator that stops recording.

    Examples
    --------
    >>> import autodiff as ad
    >>> w = ad.tensor([1.0], requires_grad=True)
    >>> with ad.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    mode = False


class enable_grad(_GradModeContext):
    """Context manager and decorator that turns recording back on inside ``no_grad``."""

    mode = True


class _Flag:
    """Set a flag of the grad-mode state for the duration of a ``with`` block."""

    attribute = ""

    def __enter__(self):
        self.prev = getattr(_state, self.attribute)
        setattr(_state, self.attribute, True)
        _state.update()
        return self

    def __exit__(self, *exc) -> None:
        setattr(_state, self.attribute, self.prev)
        _state.update()


class detect_anomaly(_Flag):
    """Check every value of both sweeps; raise at the first non-finite result of finite inputs.

    The error names the op, its operand shapes and the line of your code that created it.
    Off by default, and then it costs nothing measurable.

    Examples
    --------
    >>> import autodiff as ad
    >>> x = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> with ad.detect_anomaly():
    ...     y = ad.log(x - x)
    Traceback (most recent call last):
    ...
    FloatingPointError: op 'log' made -inf from finite operands of shapes (2,), at ...
    """

    attribute = "anomaly"


class trace_ops(_Flag):
    """Make every recorded node remember the line that created it and how to re-run its op."""

    attribute = "trace"
