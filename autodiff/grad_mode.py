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
