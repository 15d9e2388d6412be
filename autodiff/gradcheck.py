"""Finite-difference checking of first and second derivatives.

The analytic side is the engine's reverse mode: one sweep per output cotangent
``v`` gives ``vᵀJ`` for every input. The numeric side is central differences in
float64. Small outputs are checked with every one-hot ``v`` and small inputs
element by element (the full Jacobian); beyond ``max_full`` elements a side is
checked with random unit projections instead (``vᵀJu``). Inputs are upcast to
float64, with a warning when the caller's were of lower precision.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import numpy as np

from .backward import gradients
from .grad_mode import no_grad
from .ops import concatenate, reshape
from .tensor import Tensor, _wrap


class GradcheckError(AssertionError):
    """Analytic and numeric derivatives disagree; the message names where."""


def _flat(out: Any) -> Tensor:
    """The function's output(s) as one flat tensor."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    outs = [o if isinstance(o, Tensor) else _wrap(np.asarray(o, dtype=np.float64)) for o in outs]
    return reshape(outs[0], (-1,)) if len(outs) == 1 else concatenate([reshape(o, (-1,)) for o in outs])


def _differentiable(inputs: Sequence) -> list[bool]:
    # Tensors: those that require grad (as PyTorch); other values: every floating array
    return [
        x.requires_grad if isinstance(x, Tensor) else np.asarray(x).dtype.kind == "f"
        for x in inputs
    ]


def gradcheck(f: Callable, inputs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              *, max_full: int = 256, projections: int = 4, seed: int = 0,
              raise_exception: bool = True) -> bool:
    """Check the engine's gradients of ``f`` at ``inputs`` against central differences.

    Parameters
    ----------
    f : callable
        Takes the inputs as Tensors, returns a Tensor (or a tuple of Tensors).
    inputs : Tensor, array or tuple of them
        Checked: Tensors that require grad, and floating arrays.
    eps, atol, rtol : float
        Step of the central difference; an entry passes when
        ``|analytic - numeric| <= atol + rtol * |numeric|``.
    max_full : int
        Sides (an input, the output) with at most this many elements are checked
        element by element; larger ones with ``projections`` random unit vectors.
    raise_exception : bool
        Raise :class:`GradcheckError` naming the input, the worst element and both
        values (default), or return False.

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
    for i, (x, on) in enumerate(zip(inputs, active)):
        arr = np.asarray(x._data if isinstance(x, Tensor) else x)
        if on and arr.dtype != np.float64:
            warnings.warn(
                f"gradcheck: input {i} is {arr.dtype}; checking in float64, since finite "
                "differences at lower precision are too coarse to tell a wrong rule",
                stacklevel=2,
            )
        values.append(arr.astype(np.float64) if on else arr)
    rng = np.random.default_rng(seed)

    def evaluate(vals) -> np.ndarray:
        # inputs require grad here too: f may itself differentiate (as in gradgradcheck)
        args = [_wrap(v).requires_grad_() if on else x for v, x, on in zip(vals, inputs, active)]
        return _flat(f(*args))._data

    # analytic: vᵀJ for each output cotangent v
    leaves = [_wrap(v.copy()).requires_grad_() if on else x for v, x, on in zip(values, inputs, active)]
    out = _flat(f(*leaves))
    m = out.size
    cotangents = list(np.eye(m)) if m <= max_full else [_unit(rng, m) for _ in range(projections)]
    wrt = [t for t, on in zip(leaves, active) if on]
    analytic = []
    for v in cotangents:
        if out.requires_grad and wrt:
            grads = gradients(out, wrt, grad_outputs=_wrap(v), retain_graph=True, allow_unused=True)
        else:
            grads = [None] * len(wrt)
        analytic.append([np.zeros_like(t._data) if g is None else g._data for g, t in zip(grads, wrt)])
        for g, t in zip(grads, wrt):
            if g is not None and (g.shape != t.shape or g.dtype != t.dtype):
                raise GradcheckError(f"gradient of shape {g.shape}, dtype {g.dtype} for an input of shape {t.shape}, dtype {t.dtype}")

    # numeric, input by input; compare
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
            column = (evaluate(plus) - evaluate(minus)) / (2 * eps)  # J u
            for r, v in enumerate(cotangents):
                numeric = float(v @ column)
                a = analytic[r][k]
                value = float(a[idx]) if u is None else float(np.sum(a * u))
                excess = abs(value - numeric) - (atol + rtol * abs(numeric))
                if worst is None or excess > worst[0]:
                    worst = (excess, i, idx, r, value, numeric)
    if worst is None or worst[0] <= 0:
        return True
    if not raise_exception:
        return False
    excess, i, idx, r, value, numeric = worst
    where = f"element {idx}" if idx is not None else "a random projection"
    against = f"output element {r}" if m <= max_full else "a random output projection"
    raise GradcheckError(
        f"gradcheck failed for input {i} (shape {values[i].shape}) at {where}, {against}: "
        f"analytic {value:.10g}, numeric {numeric:.10g}, difference {abs(value - numeric):.3g} "
        f"exceeds atol + rtol*|numeric| = {atol + rtol * abs(numeric):.3g}"
    )


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
        columns.append((np.asarray(f(x + step), dtype=np.float64) - np.asarray(f(x - step), dtype=np.float64)) / (2 * eps))
    out_shape = columns[0].shape if columns else np.shape(f(x))
    return np.stack(columns, axis=-1).reshape(out_shape + x.shape) if columns else np.zeros(out_shape + x.shape)


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
                     if on else x for x, on in zip(inputs, active)]
            shape = _flat(f(*probe)).shape
        grad_outputs = np.random.default_rng(seed).standard_normal(shape)
    n = len(inputs)

    def first_derivative(*args):
        xs, v = args[:n], args[n]
        out = _flat(f(*xs))
        wrt = [x for x, on in zip(xs, active) if on]
        if not out.requires_grad:
            return tuple(_wrap(np.zeros(x.shape)) for x in wrt)
        grads = gradients(out, wrt, grad_outputs=v, create_graph=True, allow_unused=True)
        return tuple(_wrap(np.zeros(x.shape)) if g is None else g for g, x in zip(grads, wrt))

    v = Tensor(np.asarray(grad_outputs, dtype=np.float64).reshape(-1), requires_grad=True)
    return gradcheck(first_derivative, (*inputs, v), eps=eps, atol=atol, rtol=rtol, seed=seed, **kwargs)
