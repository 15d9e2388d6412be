"""Finite-difference checking of first and second derivatives.

The analytic side is the engine's reverse mode: one sweep per output cotangent
``v`` gives ``vᵀJ`` for every input. The numeric side is central differences in
float64. Small outputs are checked with every one-hot ``v`` and small inputs
element by element (the full Jacobian); beyond ``max_full`` elements a side is
checked with random unit projections instead (``vᵀJu``). Inputs are upcast to
float64, with a warning when the caller's were of lower precision.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from .backward import _unbroadcast, gradients, topological
from .functional import _ForwardSweep, _tangent
from .grad_mode import no_grad, trace_ops
from .ops import _keep_shape, concatenate, reshape
from .tensor import NoTangentRule, Tensor, _wrap


class GradcheckError(AssertionError):
    """Analytic and numeric derivatives disagree; the message names where."""


def _flat(out: Any) -> Tensor:
    """The function's output(s) as one flat tensor."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    for o in outs:
        if not isinstance(o, Tensor) and np.asarray(o).dtype.kind not in "biuf":
            raise TypeError(f"the function checked returned {type(o).__name__}: it must return a "
                            "Tensor (or numbers), or a tuple of them")
    outs = [o if isinstance(o, Tensor) else _wrap(np.asarray(o, dtype=np.float64)) for o in outs]
    return reshape(outs[0], (-1,)) if len(outs) == 1 else concatenate([reshape(o, (-1,)) for o in outs])


def _differentiable(inputs: Sequence) -> list[bool]:
    """Which inputs are checked: Tensors that require grad (as PyTorch) and floating arrays
    (and lists); numbers are constants (a slope, a scale); at least one must be checked."""
    active = [x.requires_grad if isinstance(x, Tensor)
              else not isinstance(x, numbers.Number) and np.asarray(x).dtype.kind == "f"
              for x in inputs]
    if not any(active):
        raise ValueError("gradcheck: no input to check: pass the inputs to differentiate as Tensors "
                         "with requires_grad=True (or as floating numpy arrays)")
    return active


def gradcheck(f: Callable, inputs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              *, max_full: int = 256, projections: int = 4, seed: int = 0, check_forward: bool = True,
              check_kinks: bool = False, raise_exception: bool = True) -> bool:
    """Check the engine's gradients of ``f`` at ``inputs`` against central differences.

    Parameters
    ----------
    f : callable
        Takes the inputs as Tensors, returns a Tensor (or a tuple of Tensors).
    inputs : Tensor, array or tuple of them
        Checked: Tensors that require grad, and floating arrays; the others (numbers,
        Tensors that do not require grad, integer arrays) are passed as they are.
    eps, atol, rtol : float
        Step of the central difference; an entry passes when
        ``|analytic - numeric| <= atol + rtol * |numeric|``.
    max_full : int
        Sides (an input, the output) with at most this many elements are checked
        element by element; larger ones with ``projections`` random unit vectors.
    check_forward : bool
        Also check forward mode: ``uᵀ(J v)`` from a jvp must agree with ``(uᵀJ) v`` from
        a vjp and with finite differences (skipped, with a warning, where an op has no
        tangent rule).
    check_kinks : bool
        Where an entry disagrees and its finite-difference step takes an op across a point
        where it is not differentiable (relu, leaky_relu or abs at 0, ties of
        max/min/maximum/minimum, clip's bounds), warn with :class:`KinkWarning` naming the
        op instead of failing. Entries whose steps cross no kink are checked as usual.
    raise_exception : bool
        Raise :class:`GradcheckError` naming the input, the worst element and both
        values, and the first op whose rule disagrees with finite differences
        locally, with the line that created it (default); or return False.

    Returns
    -------
    bool
        True when every entry agrees.

    Examples
    --------
    >>> import autodiff as ad
    >>> x = ad.tensor([0.3, -1.2], requires_grad=True)
    >>> ad.gradcheck(lambda x: (x.tanh() * x).sum(), (x,))
    True
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    active = _differentiable(inputs)
    values = []
    for i, (x, on) in enumerate(zip(inputs, active, strict=True)):
        arr = np.asarray(x._data if isinstance(x, Tensor) else x)
        if on and arr.dtype != np.float64:
            warnings.warn(
                f"gradcheck: input {i} is {arr.dtype}; checking in float64, since finite "
                "differences at lower precision are too coarse to tell a wrong rule (so the "
                f"rules run in float64 here, not in {arr.dtype})",
                stacklevel=2,
            )
        values.append(arr.astype(np.float64) if on else arr)
    rng = np.random.default_rng(seed)

    def evaluate(vals, sides: list | None = None) -> np.ndarray:
        """f's values at ``vals``; the sides of its kinks appended to ``sides``, if given."""
        # inputs require grad here too: f may itself differentiate (as in gradgradcheck)
        args = [_wrap(v).requires_grad_() if on else x for v, x, on in zip(vals, inputs, active, strict=True)]
        if sides is None:
            return _flat(f(*args))._data
        with trace_ops():
            result = _flat(f(*args))
        sides.append(_sides(result))
        return result._data

    # analytic: vᵀJ for each output cotangent v (nodes remember their lines for the localiser)
    leaves = [_wrap(v.copy()).requires_grad_() if on else x
              for v, x, on in zip(values, inputs, active, strict=True)]
    with trace_ops():
        out = _flat(f(*leaves))
    m = out.size
    cotangents = list(np.eye(m)) if m <= max_full else [_unit(rng, m) for _ in range(projections)]
    wrt = [t for t, on in zip(leaves, active, strict=True) if on]
    analytic = []
    for v in cotangents:
        if out.requires_grad and wrt:
            grads = gradients(out, wrt, grad_outputs=_wrap(v), retain_graph=True, allow_unused=True)
        else:
            grads = [None] * len(wrt)
        analytic.append([np.zeros_like(t._data) if g is None else g._data
                         for g, t in zip(grads, wrt, strict=True)])
        for g, t in zip(grads, wrt, strict=True):
            if g is not None and (g.shape != t.shape or g.dtype != t.dtype):
                raise GradcheckError(f"gradient of shape {g.shape}, dtype {g.dtype} "
                                     f"for an input of shape {t.shape}, dtype {t.dtype}")

    # numeric, input by input; compare
    center = _sides(out) if check_kinks else None
    kinked: dict[str, None] = {}  # ops whose kinks excused a disagreement (check_kinks)
    worst = None
    for k, i in enumerate(i for i, on in enumerate(active) if on):
        x = values[i]
        if x.size <= max_full:
            directions = [(idx, None) for idx in np.ndindex(x.shape)]
        else:
            directions = [(None, _unit(rng, x.size).reshape(x.shape)) for _ in range(projections)]
        for idx, u in directions:
            step = np.zeros_like(x)
            if u is None:
                step[idx] = eps
            else:
                step = u * eps
            plus = [v + step if j == i else v for j, v in enumerate(values)]
            minus = [v - step if j == i else v for j, v in enumerate(values)]
            sides = None if center is None else []
            column = (evaluate(plus, sides) - evaluate(minus, sides)) / (2 * eps)  # J u
            crossed = sides and _crossed(center, sides)
            for r, v in enumerate(cotangents):
                numeric = float(v @ column)
                a = analytic[r][k]
                value = float(a[idx]) if u is None else float(np.sum(a * u))
                excess = _excess(value, numeric, atol, rtol)
                if excess > 0 and crossed:
                    kinked.update(dict.fromkeys(crossed))
                    continue
                if worst is None or excess > worst[0]:
                    worst = (excess, i, idx, r, value, numeric)
    failure = None
    if worst is not None and worst[0] > 0:
        excess, i, idx, r, value, numeric = worst
        where = f"element {idx}" if idx is not None else "a random projection"
        against = f"output element {r}" if m <= max_full else "a random output projection"
        failure = (
            f"gradcheck failed for input {i} (shape {values[i].shape}) at {where}, {against}: "
            f"analytic {value:.10g}, numeric {numeric:.10g}, difference {abs(value - numeric):.3g} "
            f"exceeds atol + rtol*|numeric| = {atol + rtol * abs(numeric):.3g}"
        )
    elif check_forward:
        failure = _check_forward(f, inputs, values, active, out, wrt, evaluate, eps, atol, rtol, rng,
                                 center, kinked)
    if kinked:
        warnings.warn(KinkWarning("gradcheck: derivatives disagree where a finite-difference step crosses "
                                  "a point where an op is not differentiable, reported instead of "
                                  "failing:\n  " + "\n  ".join(kinked)), stacklevel=2)
    if failure is None:
        return True
    if not raise_exception:
        return False
    culprit = _localize(out, eps, atol, rtol, rng)
    del out, leaves, wrt  # the graph: it holds the caller's tensors that it saved (see _Locks)
    raise GradcheckError(failure + (f"\nthe first op whose rule disagrees locally: {culprit}"
                                    if culprit else ""))


class KinkWarning(UserWarning):
    """gradcheck met a point where an op is not differentiable."""


def _excess(value: float, numeric: float, atol: float, rtol: float) -> float:
    """By how much ``value`` misses ``numeric``'s tolerance (> 0: it does); infinite where the
    difference is nan (a nan or infinite value), which no comparison would catch (nan > 0 is False)."""
    excess = abs(value - numeric) - (atol + rtol * abs(numeric))
    return excess if excess == excess else math.inf


def _check_forward(f, inputs, values, active, out, wrt, evaluate, eps, atol, rtol, rng,
                   center: list | None, kinked: dict) -> str | None:
    """Forward mode against reverse mode and finite differences along random u, v; where the
    step crosses a kink (``center``: the sides of the kinks, with check_kinks), against
    reverse mode only, the op recorded in ``kinked``."""
    directions = [_unit(rng, v.size).reshape(v.shape) if on else None
                  for v, on in zip(values, active, strict=True)]
    u = _unit(rng, out.size)
    try:
        with _ForwardSweep() as token:
            args = []
            for v, x, on, d in zip(values, inputs, active, directions, strict=True):
                if on:
                    x = _wrap(v.copy()).requires_grad_()
                    x._tangent = (token, d)
                args.append(x)
            Jv = _tangent(_flat(f(*args)), token)
    except NoTangentRule as error:
        warnings.warn(f"gradcheck: forward mode not checked: {error}", stacklevel=3)
        return None
    forward = float(u @ Jv)
    grads = gradients(out, wrt, grad_outputs=_wrap(u), retain_graph=True, allow_unused=True) \
        if out.requires_grad else [None] * len(wrt)
    active_directions = [d for d in directions if d is not None]
    reverse = float(sum(np.sum(g._data * d)
                        for g, d in zip(grads, active_directions, strict=True) if g is not None))
    plus = [v + eps * d if d is not None else v for v, d in zip(values, directions, strict=True)]
    minus = [v - eps * d if d is not None else v for v, d in zip(values, directions, strict=True)]
    sides = None if center is None else []
    numeric = float(u @ (evaluate(plus, sides) - evaluate(minus, sides))) / (2 * eps)
    crossed = sides and _crossed(center, sides)
    if crossed and _excess(forward, reverse, atol, rtol) <= 0 and _excess(reverse, numeric, atol, rtol) > 0:
        kinked.update(dict.fromkeys(crossed))
    elif _excess(forward, numeric, atol, rtol) > 0 or _excess(reverse, numeric, atol, rtol) > 0:
        return (f"forward and reverse mode disagree along random directions: uᵀ(J v) = {forward:.10g} by "
                f"jvp, (uᵀJ) v = {reverse:.10g} by vjp, {numeric:.10g} by finite differences")
    return None


def _localize(out: Tensor, eps: float, atol: float, rtol: float, rng: np.random.Generator) -> str | None:
    """The first op, in topological order, whose reverse rule disagrees with a local finite difference."""
    for t in topological(out):
        site = getattr(t, "_where", None) if t._rules else None
        if site is None:
            continue
        vals, g = t._vals, rng.standard_normal(t.shape)
        for i in t._needs:
            x = np.asarray(vals[i])
            if x.dtype.kind != "f":
                continue
            w = rng.standard_normal(x.shape)
            gi = t._rules[i](g, t._data, *vals)
            gi = np.zeros(x.shape) if gi is None else np.asarray(gi)
            if gi.shape != x.shape:
                gi = _unbroadcast(gi, x.shape, t, i)
            analytic = float(np.sum(gi * w))

            def local(value, i=i, vals=vals, site=site):
                args = list(vals)
                args[i] = value
                with no_grad():
                    return np.asarray(site.fn(*args, *site.args, **site.kwargs))

            numeric = float(np.sum(g * (local(x + eps * w) - local(x - eps * w)))) / (2 * eps)
            if _excess(analytic, numeric, atol, rtol) > 0:
                shapes = ", ".join(str(np.shape(v)) for v in vals)
                return (f"op '{t._op}' (operand {i}; operands of shapes {shapes}), created at {site.line}: "
                        f"its rule gives {analytic:.8g}, finite differences {numeric:.8g}")
    return None


def _reduction_axis(site) -> Any:
    return site.kwargs.get("axis", site.args[0] if site.args else None)


def _extremes(vals, out, site) -> np.ndarray:
    # which elements a max/min reduction picks: a step that changes them crosses a tie
    return vals[0] == np.reshape(out, _keep_shape(np.shape(vals[0]), _reduction_axis(site)))


# For each op with kinks, which side of them its operands lie on: a step that changes it
# crosses one (or leaves or reaches one), where finite differences mean nothing.
_SIDES = {
    "relu": lambda vals, out, site: np.sign(vals[0]),
    "leaky_relu": lambda vals, out, site: np.sign(vals[0]),
    "abs": lambda vals, out, site: np.sign(vals[0]),
    "maximum": lambda vals, out, site: np.sign(np.subtract(vals[0], vals[1])),
    "minimum": lambda vals, out, site: np.sign(np.subtract(vals[0], vals[1])),
    "clip": lambda vals, out, site: [np.sign(np.subtract(vals[0], b)) for b in vals[1:] if b is not None],
    "max": _extremes,
    "min": _extremes,
}


def _sides(out: Tensor) -> list[tuple[str, Any]]:
    """(op and line, sides of its kinks) for each op with kinks in ``out``'s graph, in order."""
    found = []
    for t in topological(out):
        site = getattr(t, "_where", None) if t._rules else None
        if site is not None and t._op in _SIDES:
            found.append((f"{t._op} at {site.line}", _SIDES[t._op](t._vals, t._data, site)))
    return found


def _crossed(center: list, evaluations: list) -> list[str]:
    """The ops whose kinks a step crossed: their sides differ from ``center``'s in one of the
    ``evaluations``; a step that changes which such ops run crosses them all."""
    crossed: dict[str, None] = {}
    for sides in evaluations:
        if [name for name, _ in sides] != [name for name, _ in center]:
            crossed.update((name, None) for name, _ in center + sides)
            continue
        for (name, a), (_, b) in zip(center, sides, strict=True):
            a, b = (a, b) if type(a) is list else ([a], [b])  # clip: one array a bound
            if not all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)):
                crossed[name] = None
    return list(crossed)


def numeric_jacobian(f: Callable[[np.ndarray], Any], x: Any, eps: float = 1e-6) -> np.ndarray:
    """The Jacobian of an array function by central differences in float64: ``out.shape + x.shape``.

    Examples
    --------
    >>> import numpy as np
    >>> from autodiff.gradcheck import numeric_jacobian
    >>> np.round(numeric_jacobian(lambda x: x ** 2, np.array([1.0, 3.0])), 6)
    array([[2., 0.],
           [0., 6.]])
    """
    x = np.asarray(x, dtype=np.float64)
    columns = []
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        columns.append((np.asarray(f(x + step), dtype=np.float64)
                        - np.asarray(f(x - step), dtype=np.float64)) / (2 * eps))
    out_shape = columns[0].shape if columns else np.shape(f(x))
    return (np.stack(columns, axis=-1).reshape(out_shape + x.shape) if columns
            else np.zeros(out_shape + x.shape))


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal(n)
    return v / np.linalg.norm(v)


def gradgradcheck(f: Callable, inputs: Any, grad_outputs: Any = None, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, *, seed: int = 0, **kwargs) -> bool:
    """Check second derivatives: gradcheck of ``x, v -> vᵀ df/dx`` built with ``create_graph``.

    ``grad_outputs`` (the cotangent ``v``, random by default) is checked as an input too.

    Examples
    --------
    >>> import autodiff as ad
    >>> x = ad.tensor([0.3, -1.2], requires_grad=True)
    >>> ad.gradgradcheck(lambda x: x.sin() * x, (x,))
    True
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    active = _differentiable(inputs)
    if grad_outputs is None:
        with no_grad():
            probe = [_wrap(np.asarray(x._data if isinstance(x, Tensor) else x, dtype=np.float64))
                     if on else x for x, on in zip(inputs, active, strict=True)]
            shape = _flat(f(*probe)).shape
        grad_outputs = np.random.default_rng(seed).standard_normal(shape)
    n = len(inputs)

    def first_derivative(*args):
        xs, v = args[:n], args[n]
        out = _flat(f(*xs))
        wrt = [x for x, on in zip(xs, active, strict=True) if on]
        if not out.requires_grad:
            return tuple(_wrap(np.zeros(x.shape)) for x in wrt)
        grads = gradients(out, wrt, grad_outputs=v, create_graph=True, allow_unused=True)
        return tuple(_wrap(np.zeros(x.shape)) if g is None else g for g, x in zip(grads, wrt, strict=True))

    v = Tensor(np.asarray(grad_outputs, dtype=np.float64).reshape(-1), requires_grad=True)
    return gradcheck(first_derivative, (*inputs, v), eps=eps, atol=atol, rtol=rtol, seed=seed, **kwargs)
