"""Transforms of functions: grad, value_and_grad, vjp, jvp, jacobian, hessian, hvp.

Reverse mode (``grad``, ``vjp``) accumulates adjoints over consumers: one sweep per
output. Forward mode (``jvp``) accumulates tangents over producers, alongside the
computation itself: one sweep per input direction, with no graph kept. ``jacobian``
chooses: forward mode for functions with fewer inputs than outputs, reverse mode
otherwise. Forward mode carries a whole batch of directions in one sweep (the
tangents get a leading batch axis), so a Jacobian or a Hessian (forward mode over
reverse mode) costs one sweep, falling back to one sweep per direction only when an
op's tangent rules cannot take a batch.

Every transform accepts numpy arrays, Python numbers or Tensors, and returns the
kind it was given: arrays in, arrays out. None of them touches a ``.grad``.
A Tensor that requires grad is used as it is, so that transforms nest
(``grad(grad(f))``): their results are then differentiable Tensors.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Sequence

import numpy as np

from . import grad_mode
from .backward import gradients
from .tensor import NotBatched, Tensor, _wrap

_mode = grad_mode._state
_tokens = itertools.count(1)


class _Input:
    """A function argument made into a tensor, remembering what kind the caller gave."""

    def __init__(self, value: Any) -> None:
        self.kind = "tensor" if isinstance(value, Tensor) else "array" if np.ndim(value) else "number"
        # a tensor that already requires grad comes from the caller's graph (or an enclosing
        # transform): use it as it is and keep the results differentiable, so transforms nest
        self.nested = isinstance(value, Tensor) and value.requires_grad
        if self.nested:
            self.tensor = value
        else:
            data = value._data if isinstance(value, Tensor) else np.asarray(value)
            if data.dtype.kind != "f":
                data = data.astype(np.float64)
            self.tensor = _wrap(data).requires_grad_()

    def give(self, result: Any) -> Any:
        """``result`` (a Tensor) as the kind the caller gave."""
        if self.kind == "tensor":
            return result
        data = result._data if isinstance(result, Tensor) else np.asarray(result)
        return data.item() if self.kind == "number" and data.size == 1 else data


def _argnums(argnums: int | Sequence[int], count: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not -count <= i < count:
            raise ValueError(f"argnums {argnums} out of range for a call with {count} positional arguments")
    return tuple(i % count for i in nums)


def _nested(inputs) -> bool:
    return any(x.nested for x in inputs)


def _zeros_for(x: Tensor) -> Tensor:
    return _wrap(np.zeros(x.shape, x.dtype))


# ------------------------------------------------------------ reverse mode
def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """``f``'s value and its gradient with respect to argument(s) ``argnums``.

    ``f`` must return a one-element tensor (or ``(value, aux)`` with ``has_aux``).

    Examples
    --------
    >>> import numpy as np, autodiff as ad
    >>> value, g = ad.value_and_grad(lambda x: (x ** 2).sum())(np.array([1.0, 2.0]))
    >>> value, g
    (5.0, array([2., 4.]))
    """

    def transformed(*args, **kwargs):
        nums = _argnums(argnums, len(args))
        inputs = {i: _Input(args[i]) for i in nums}
        call = [inputs[i].tensor if i in inputs else a for i, a in enumerate(args)]
        out = f(*call, **kwargs)
        aux = None
        if has_aux:
            out, aux = out
        if not isinstance(out, Tensor) or out.size != 1:
            raise ValueError(
                f"grad needs f to return a one-element tensor, it returned {type(out).__name__} of shape "
                f"{np.shape(out)}; reduce it (e.g. .sum()) or use jacobian / vjp"
            )
        wrt = [inputs[i].tensor for i in nums]
        if out.requires_grad:
            grads = gradients(out, wrt, create_graph=_nested(inputs.values()), allow_unused=True)
        else:
            grads = [None] * len(wrt)
        grads = [inputs[i].give(_zeros_for(inputs[i].tensor) if g is None else g) for i, g in zip(nums, grads)]
        result = grads[0] if isinstance(argnums, int) else tuple(grads)
        first = inputs[nums[0]]
        value = out if first.kind == "tensor" else first.give(out.detach()) if out.ndim else out.item()
        return ((value, aux), result) if has_aux else (value, result)

    return transformed


def grad(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The gradient of ``f`` (a one-element output) with respect to argument(s) ``argnums``.

    Examples
    --------
    >>> import autodiff as ad
    >>> ad.grad(lambda x: x ** 3)(2.0)
    12.0
    >>> ad.grad(ad.grad(lambda x: x ** 3))(2.0)
    12.0
    """

    def transformed(*args, **kwargs):
        return value_and_grad(f, argnums)(*args, **kwargs)[1]

    return transformed


def vjp(f: Callable, *primals: Any) -> tuple[Any, Callable]:
    """``f(*primals)`` and a function mapping a cotangent ``v`` (output-shaped) to ``vᵀJ``,
    one gradient per primal.

    Examples
    --------
    >>> import numpy as np, autodiff as ad
    >>> out, pullback = ad.vjp(lambda x: x * x, np.array([1.0, 3.0]))
    >>> pullback(np.array([1.0, 10.0]))
    (array([ 2., 60.]),)
    """
    inputs = [_Input(p) for p in primals]
    out = f(*[x.tensor for x in inputs])
    if not isinstance(out, Tensor):
        raise TypeError(f"vjp needs f to return a Tensor, it returned {type(out).__name__}")

    def pullback(cotangent: Any) -> tuple:
        if not out.requires_grad:
            return tuple(x.give(_zeros_for(x.tensor)) for x in inputs)
        seed = cotangent if isinstance(cotangent, Tensor) else np.asarray(cotangent, dtype=out.dtype)
        grads = gradients(out, [x.tensor for x in inputs], grad_outputs=seed, retain_graph=True,
                          create_graph=_nested(inputs) or isinstance(cotangent, Tensor) and cotangent.requires_grad,
                          allow_unused=True)
        return tuple(x.give(_zeros_for(x.tensor) if g is None else g) for x, g in zip(inputs, grads))

    return inputs[0].give(out) if inputs and inputs[0].kind != "tensor" else out, pullback


# ------------------------------------------------------------ forward mode
class _ForwardSweep:
    """While active, every op pushes tangents; each sweep has its own token."""

    def __enter__(self) -> int:
        if _mode.forward:
            raise NotImplementedError("jvp inside jvp (forward over forward) is not supported")
        _mode.forward = next(_tokens)
        _mode.update()
        return _mode.forward

    def __exit__(self, *exc) -> None:
        _mode.forward = 0
        _mode.update()


def _seeded(inputs: Sequence[_Input], tangents: Sequence[Any], token: int, differentiable: bool = False) -> list:
    """Fresh tensors for the primals (never the caller's), carrying their tangents for this sweep.

    Plain forward mode records nothing (no tape); ``differentiable`` makes leaves that
    require grad, for forward mode over reverse mode.
    """
    seeded = []
    for x, tangent in zip(inputs, tangents):
        if x.nested:
            t = x.tensor * 1
        else:
            t = _wrap(x.tensor._data)
            if differentiable:
                t.requires_grad_()
        if tangent is not None:
            value = tangent if isinstance(tangent, Tensor) and tangent.requires_grad else \
                np.asarray(tangent._data if isinstance(tangent, Tensor) else tangent, dtype=t.dtype)
            if value.shape[value.ndim - t.ndim:] != t.shape:
                raise ValueError(f"tangent of shape {value.shape} for a primal of shape {t.shape}")
            t._tangent = (token, value)
        seeded.append(t)
    return seeded


def _tangent(out: Tensor, token: int, batch: tuple = ()) -> Any:
    pair = out._tangent
    if pair is None or pair[0] != token:
        return np.zeros(batch + out.shape, out.dtype)
    return pair[1]


def jvp(f: Callable, primals: Any, tangents: Any) -> tuple[Any, Any]:
    """``f(*primals)`` and the directional derivative ``J @ tangents``, by one forward sweep.

    Examples
    --------
    >>> import numpy as np, autodiff as ad
    >>> ad.jvp(lambda x: (x * x).sum(), (np.array([1.0, 2.0]),), (np.array([1.0, 0.0]),))
    (array(5.), array(2.))
    """
    primals = tuple(primals) if isinstance(primals, (tuple, list)) else (primals,)
    tangents = tuple(tangents) if isinstance(tangents, (tuple, list)) else (tangents,)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    inputs = [_Input(p) for p in primals]
    with _ForwardSweep() as token:
        out = f(*_seeded(inputs, tangents, token))
        tangent = _tangent(out, token)
    first = inputs[0]
    if first.kind == "tensor":
        return out, tangent if isinstance(tangent, Tensor) else _wrap(np.asarray(tangent))
    value = out._data
    tangent = tangent._data if isinstance(tangent, Tensor) else np.asarray(tangent)
    if first.kind == "number" and value.size == 1:
        return value.item(), tangent.item()
    return value, tangent


# ----------------------------------------------------- Jacobians, Hessians
def _basis(x: Tensor) -> np.ndarray:
    """Every one-hot direction in ``x``'s space, stacked: shape (x.size, *x.shape)."""
    return np.eye(x.size, dtype=x.dtype).reshape((x.size,) + x.shape)


def _forward_columns(run: Callable, inputs: list[_Input], k: int, differentiable: bool = False) -> np.ndarray:
    """Tangents of ``run``'s output for every basis direction of input ``k``: (n, *out.shape).

    One sweep carrying all directions at once; one sweep per direction if an op cannot batch.
    """
    basis = _basis(inputs[k].tensor)
    try:
        with _ForwardSweep() as token:
            seeded = _seeded(inputs, [basis if i == k else None for i in range(len(inputs))], token, differentiable)
            out = run(seeded)
            return np.asarray(_tangent(out, token, basis.shape[:1]))
    except NotBatched:
        columns = []
        for direction in basis:
            with _ForwardSweep() as token:
                seeded = _seeded(inputs, [direction if i == k else None for i in range(len(inputs))], token,
                                 differentiable)
                out = run(seeded)
                columns.append(np.asarray(_tangent(out, token)))
        return np.stack(columns)


def jacobian(f: Callable, argnums: int | Sequence[int] = 0, mode: str = "auto") -> Callable:
    """The Jacobian of ``f``: shape ``out.shape + input.shape`` (a tuple for several argnums).

    ``mode="fwd"``: forward mode, all input directions in one batched sweep;
    ``mode="rev"``: reverse mode, one sweep per output element; ``"auto"`` takes forward
    mode when the inputs have fewer elements than the output.

    Examples
    --------
    >>> import numpy as np, autodiff as ad
    >>> ad.jacobian(lambda x: x ** 2, mode="fwd")(np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    """
    if mode not in ("auto", "fwd", "rev"):
        raise ValueError(f"mode must be 'auto', 'fwd' or 'rev', got {mode!r}")

    def transformed(*args, **kwargs):
        nums = _argnums(argnums, len(args))
        inputs = [_Input(args[i]) for i in nums]

        def run(tensors):
            call = list(args)
            for i, t in zip(nums, tensors):
                call[i] = t
            out = f(*call, **kwargs)
            if not isinstance(out, Tensor):
                raise TypeError(f"jacobian needs f to return a Tensor, it returned {type(out).__name__}")
            return out

        chosen = mode
        if mode == "auto":
            out_size = run([x.tensor for x in inputs]).size
            chosen = "fwd" if sum(x.tensor.size for x in inputs) < out_size else "rev"
        if chosen == "fwd":
            blocks = []
            for k, x in enumerate(inputs):
                columns = _forward_columns(run, inputs, k)  # (n, *out.shape)
                out_shape = columns.shape[1:]
                blocks.append(np.moveaxis(columns, 0, -1).reshape(out_shape + x.tensor.shape))
        else:
            out = run([x.tensor for x in inputs])
            rows = [[] for _ in inputs]
            for seed in _basis(out):
                grads = gradients(out, [x.tensor for x in inputs], grad_outputs=seed, retain_graph=True,
                                  allow_unused=True) if out.requires_grad else [None] * len(inputs)
                for k, (x, g) in enumerate(zip(inputs, grads)):
                    rows[k].append(np.zeros(x.tensor.shape) if g is None else g._data)
            blocks = [np.stack(r).reshape(out.shape + x.tensor.shape) if r else np.zeros(out.shape + x.tensor.shape)
                      for r, x in zip(rows, inputs)]
        results = [x.give(_wrap(b)) for x, b in zip(inputs, blocks)]
        return results[0] if isinstance(argnums, int) else tuple(results)

    return transformed


def _gradient_of(f: Callable, args: tuple, kwargs: dict, i: int) -> Callable:
    """``tensors -> ∇_i f`` as a tensor (rules run on tensors, so tangents flow through)."""

    def run(tensors):
        call = list(args)
        call[i] = tensors[0]
        out = f(*call, **kwargs)
        if not isinstance(out, Tensor) or out.size != 1:
            raise ValueError("hessian / hvp need f to return a one-element tensor")
        (g,) = gradients(out, tensors[0], allow_unused=True) if out.requires_grad else (None,)
        return _zeros_for(tensors[0]) if g is None else g

    return run


def hessian(f: Callable, argnums: int = 0) -> Callable:
    """The Hessian of a scalar ``f``: shape ``x.shape + x.shape``, by forward mode over reverse mode
    with all directions in one batched sweep.

    Examples
    --------
    >>> import numpy as np, autodiff as ad
    >>> ad.hessian(lambda x: (x ** 3).sum())(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """

    def transformed(*args, **kwargs):
        (i,) = _argnums(argnums, len(args))
        x = _Input(args[i])
        columns = _forward_columns(_gradient_of(f, args, kwargs, i), [x], 0, differentiable=True)  # (n, *x.shape)
        return x.give(_wrap(np.moveaxis(columns, 0, -1).reshape(x.tensor.shape + x.tensor.shape)))

    return transformed


def hvp(f: Callable, primals: Any, tangents: Any) -> tuple[Any, Any]:
    """``f(x)`` and the Hessian-vector product ``H v`` (forward over reverse, one sweep).

    Examples
    --------
    >>> import numpy as np, autodiff as ad
    >>> ad.hvp(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    (9.0, array([ 6., 12.]))
    """
    primal = primals[0] if isinstance(primals, (tuple, list)) else primals
    tangent = tangents[0] if isinstance(tangents, (tuple, list)) else tangents
    x = _Input(primal)
    values = {}

    def run(tensors):
        out = f(tensors[0])
        values["out"] = out
        (g,) = gradients(out, tensors[0], allow_unused=True) if out.requires_grad else (None,)
        return _zeros_for(tensors[0]) if g is None else g

    with _ForwardSweep() as token:
        g = run(_seeded([x], [tangent], token, differentiable=True))
        product = _tangent(g, token)
    out = values["out"]
    if x.kind == "tensor":
        return out, product if isinstance(product, Tensor) else _wrap(np.asarray(product))
    value = out._data.item() if out.size == 1 else out._data
    return value, x.give(_wrap(np.asarray(product._data if isinstance(product, Tensor) else product)))
