"""Grad mode: whether operations are recorded for differentiation.

Recording happens only when grad mode is on *and* some input requires grad.
The switch is thread-local, as in PyTorch, so one thread's ``no_grad`` does not
silence another thread's training loop.
"""

from __future__ import annotations

import functools
import inspect
import threading

# NOTE: reading a thread-local attribute costs ~30 ns, a plain one ~4, and an op reads
# the mode twice. The threads not in the usual mode (recording on, nothing extra) are
# listed here, process-wide; a thread leaves the usual mode only by itself, so while the
# set is empty every op knows its own thread's mode without reading it. (Adding to and
# discarding from a set hold the GIL: no lock is needed.)
_unusual: set = set()
_set = threading.local.__setattr__


class _State(threading.local):
    enabled = True
    forward = 0  # the token of the running forward-mode sweep (jvp), 0 when none: ops then push tangents
    anomaly = False  # check every value (detect_anomaly)
    trace = False  # nodes remember where they were made and how to re-run their op
    # any of the three (kept by __setattr__), the one value an op reads for them: the forward
    # token when forward mode alone is on, -1 when checks are, 0 when none
    extra = 0
    checks = False  # anomaly or trace (kept by __setattr__)
    paused = 0  # the forward sweep's token while no_grad pauses it (see _switch)

    def __setattr__(self, name: str, value) -> None:
        # NOTE: every read of an attribute here is a thread-local lookup (~0.1 µs); switching
        # recording on or off (each no_grad block, each backward) reads one
        _set(self, name, value)
        if name == "enabled":  # a paused forward sweep keeps the thread unusual: _switch resumes it
            usual = value and not self.extra and not self.paused
        else:
            checks = bool(self.anomaly or self.trace)
            _set(self, "checks", checks)
            _set(self, "extra", -1 if checks else self.forward)
            usual = self.enabled and not self.extra and not self.paused
        if usual:  # enabled and nothing extra: listed in _unusual otherwise
            if _unusual:
                _unusual.discard(threading.get_ident())
        else:
            _unusual.add(threading.get_ident())


_state = _State()


def _switch(mode: bool) -> tuple | None:
    """Turn recording on or off; returns the forward-mode state before and after, if changed.

    Forward mode stops under ``no_grad`` too (the running sweep's token is paused, and
    resumed by ``enable_grad``), as reverse mode does: a derivative must not depend on which
    mode a transform picks to compute it.
    """
    saved = None
    if _unusual:  # a forward sweep runs only in a thread out of the usual mode
        forward, paused = _state.forward, _state.paused
        after = None  # (forward, paused) once switched
        if forward and not mode:
            after = (0, forward)
        elif paused and mode and not forward:
            after = (paused, 0)
        if after is not None:
            saved = (forward, paused), after
            _state.paused = after[1]  # first: the thread stays unusual while paused
            _state.forward = after[0]
    _state.enabled = mode
    return saved


def _restore(enabled: bool, saved: tuple | None) -> None:
    """Undo :func:`_switch`: the forward state only if it is as the switch left it (a sweep
    that ended meanwhile is not brought back)."""
    _state.enabled = enabled
    if saved is not None and (_state.forward, _state.paused) == saved[1]:
        _state.paused, _state.forward = saved[0][1], saved[0][0]


def is_grad_enabled() -> bool:
    """Return True when operations are being recorded."""
    return _state.enabled


def _decorate(fn, make):
    """``fn`` running inside a fresh context manager from ``make()`` on every call (also generators)."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator(*args, **kwargs):
            gen = fn(*args, **kwargs)
            try:
                with make():  # the mode holds while the generator runs, not while the caller does
                    request = next(gen)
                while True:
                    try:
                        response = yield request
                    except GeneratorExit:
                        with make():  # its finally blocks run in the mode too
                            gen.close()
                        raise
                    except BaseException as error:
                        with make():
                            request = gen.throw(error)
                    else:
                        with make():
                            request = gen.send(response)
            except StopIteration as stop:
                return stop.value

        return generator

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with make():
            return fn(*args, **kwargs)

    return wrapper


class set_grad_enabled:
    """Turn recording on or off; usable as a function, a context manager or a decorator.

    As in PyTorch, the mode is set at once when the object is made (so
    ``ad.set_grad_enabled(False)`` alone switches recording off), restored on leaving
    a ``with`` block, and, as a decorator, set on each call of the function only.

    Examples
    --------
    >>> import autodiff as ad
    >>> with ad.set_grad_enabled(False):
    ...     ad.is_grad_enabled()
    False
    >>> @ad.set_grad_enabled(False)
    ... def frozen():
    ...     return ad.is_grad_enabled()
    >>> frozen(), ad.is_grad_enabled()
    (False, True)
    """

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev = _state.enabled
        self.saved = _switch(self.mode)

    def __enter__(self) -> None:
        saved = _switch(self.mode)  # again: the object may have been made before (PyTorch's too)
        if saved is not None:  # else made just now (or what it undoes no longer holds: see _restore)
            self.saved = saved

    def __exit__(self, *exc) -> None:
        _restore(self.prev, self.saved)

    def __call__(self, fn):
        # made as a decorator: the mode was set when the decorator was made, which must
        # not outlive the decoration; each call sets it afresh
        _restore(self.prev, self.saved)
        mode = self.mode
        return _decorate(fn, lambda: set_grad_enabled(mode))


class _GradModeContext:
    """A context manager and decorator, with or without parentheses (``@no_grad``, ``@no_grad()``)."""

    mode = True

    def __new__(cls, fn=None):
        if fn is None:
            return object.__new__(cls)  # not super(): one call less, made per no_grad block
        if not callable(fn):
            raise TypeError(f"{cls.__name__}() takes no arguments; use it as `with ad.{cls.__name__}():` "
                            f"or as a decorator")
        return _decorate(fn, cls)

    def __enter__(self) -> None:
        self.prev = _state.enabled
        self.saved = _switch(self.mode)

    def __exit__(self, *exc) -> None:
        _restore(self.prev, self.saved)

    def __call__(self, fn):
        return _decorate(fn, type(self))


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
    >>> @ad.no_grad
    ... def update(w):
    ...     return w * 2
    >>> update(w).requires_grad
    False
    """

    mode = False


class enable_grad(_GradModeContext):
    """Context manager and decorator that turns recording back on inside ``no_grad``.

    Examples
    --------
    >>> import autodiff as ad
    >>> w = ad.tensor([1.0], requires_grad=True)
    >>> with ad.no_grad(), ad.enable_grad():
    ...     y = w * 2
    >>> y.requires_grad
    True
    """

    mode = True


class _Flag:
    """Set a flag of the grad-mode state for the duration of a ``with`` block."""

    attribute = ""

    def __enter__(self):
        self.prev = getattr(_state, self.attribute)
        setattr(_state, self.attribute, True)
        return self

    def __exit__(self, *exc) -> None:
        setattr(_state, self.attribute, self.prev)


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
