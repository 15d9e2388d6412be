"""Transforms of functions: grad, value_and_grad, vjp, jvp, jacobian, hessian, hvp.

Reverse mode (``grad``, ``vjp``) accumulates adjoints over consumers: one sweep per
output. Forward mode (``jvp``) accumulates tangents over producers, alongside the
computation itself: one sweep per input direction, with no graph kept. Forward mode
carries a whole batch of directions in one sweep (the tangents get a leading batch
axis), so a forward Jacobian, a Hessian (forward mode over reverse mode) and a reverse
Jacobian (the reverse sweep is linear in its seed, so forward mode over it, seeded
with every output direction at once, gives every row) each cost one sweep, falling
back to one sweep per direction when an op's tangent rules cannot take a batch (and,
by choice, for reverse Jacobians of up to four rows, where that is cheaper).

Every transform accepts numpy arrays, Python numbers or Tensors, and returns the
kind it was given: arrays in, arrays out. None of them touches a ``.grad``.

How transforms nest (decisions recorded here):

* The engine runs one forward sweep at a time (a tensor carries one tangent), and
  computes tangents on plain arrays. A reverse transform inside a forward sweep runs
  its reverse sweep on tensors, so the sweep's tangents flow through it (forward over
  reverse); a tensor passed in keeps its tangent.
* Inside a reverse transform, or given tensors that require grad, a transform records
  what it computes (``create_graph``), so the enclosing transform can differentiate its
  results, also with respect to variables the inner function closes over.
* A forward transform (``jvp``, a Jacobian, ``hessian``, ``hvp``) that cannot run its
  own forward sweep, because one is running already or because an enclosing reverse
  transform must differentiate its tangents, computes the same numbers by reverse mode:
  ``J v`` as the gradient of ``uᵀJ v`` with respect to a dummy cotangent ``u`` (the
  transpose of the transpose), Jacobians and Hessians row by row, ``H v`` as reverse
  over reverse. Slower, never wrong: so every transform composes with every other.
* A result that depends on an enclosing transform's variables comes back as a Tensor
  whatever kind was passed (as JAX's tracers do): a plain array would cut it off.
* Outside any transform, a result is differentiable when the inputs require grad; a
  result computed from plain arrays is a constant, even if the function closes over a
  tensor that requires grad (as ``torch.autograd.grad`` without ``create_graph``).
* A transform runs the function with recording on, even under ``no_grad`` (as
  ``torch.func`` does): the function itself may still use ``no_grad`` inside, whose values
  are constants to both modes (forward mode's sweep pauses, see ``grad_mode._switch``).
"""

from __future__ import annotations

import itertools
import numbers
import threading
from typing import Any, Callable, Sequence

import numpy as np

from . import grad_mode
from .backward import gradients
from .ops import _shape, copy, stack
from .tensor import (
    _SEQUENCES,
    NoTangentRule,
    NotBatched,
    Tensor,
    _carries_tangent,
    _differentiated_inside,
    _refuse_masked,
    _wrap,
)

_mode = grad_mode._state
_tokens = itertools.count(1)


class _Nesting(threading.local):
    reverse = 0  # transforms now running user code whose inputs they differentiate by reverse mode


_nesting = _Nesting()


class _Differentiating:
    """While a transform runs user code whose inputs it will differentiate by reverse mode.

    Recording is on (an enclosing ``no_grad`` would make every gradient silently zero),
    and transforms called inside know that their results must be differentiable.
    """

    __slots__ = ("prev",)

    def __enter__(self) -> None:
        _nesting.reverse += 1
        self.prev = _mode.enabled
        _mode.enabled = True

    def __exit__(self, *exc) -> None:
        _nesting.reverse -= 1
        _mode.enabled = self.prev


def _live(t: Any) -> bool:
    """Whether ``t`` depends on a variable of an enclosing transform (records, or carries its tangent)."""
    if not isinstance(t, Tensor):
        return False
    if _carries_tangent(t):
        return True
    return t.requires_grad and bool(_mode.forward or _nesting.reverse)


def _differentiable(inputs: Sequence["_Input"], tangents: Sequence = ()) -> bool:
    """Whether an enclosing reverse transform (or the caller) may differentiate this transform's results."""
    if not _mode.enabled:
        return False
    if _nesting.reverse:
        return True
    for x in inputs:
        if x.nested:
            return True
    for t in tangents:
        if isinstance(t, Tensor) and t.requires_grad:
            return True
    return False


class _Input:
    """A function argument made into a tensor, remembering what kind the caller gave."""

    __slots__ = ("kind", "nested", "data", "pair", "_leaf", "_source")

    def __init__(self, value: Any) -> None:
        if type(value) in _SEQUENCES:
            _no_tensor_inside(value)
        self.kind = ("tensor" if isinstance(value, Tensor) else
                     "array" if isinstance(value, np.ndarray) or np.ndim(value) else "number")
        # a tensor that already requires grad comes from the caller's graph (or an enclosing
        # transform): the results stay differentiable through it, so transforms nest
        self.nested = isinstance(value, Tensor) and value.requires_grad
        self._leaf = None
        self._source = value if isinstance(value, Tensor) else None
        self.pair = None
        if isinstance(value, Tensor):
            data = value._data
            # the tangent of an enclosing forward sweep: a fresh leaf made from this tensor is
            # the same variable to that sweep, so it must carry the tangent along
            if _carries_tangent(value):
                self.pair = value._tangent
        else:
            _refuse_masked(value, "a transform")
            data = np.array(value)  # a copy: the caller may write into the array before a pullback runs
        if data.dtype.kind not in "fiub":
            raise TypeError(f"cannot differentiate with respect to a {type(value).__name__} of dtype "
                            f"{data.dtype}: pass real numbers (float arrays, Python floats or Tensors)")
        if data.dtype.kind != "f":
            data = data.astype(np.float64)
        self.data = data

    @property
    def leaf(self) -> Tensor:
        """The tensor to differentiate by reverse mode: a fresh leaf, or for a caller's tensor
        that requires grad a copy recorded from it.

        NOTE: not the caller's tensor itself: f may also close over it (an outer transform's
        variable, or the same tensor given as two arguments), and the derivative by this
        argument alone would then be the total one (JAX tells the two apart by levels).
        """
        if self._leaf is None:
            if self.nested:
                with grad_mode.enable_grad():  # recorded under an enclosing no_grad too
                    self._leaf = copy(self._source)
            else:  # a caller's tensor shares its lock: writing into it while a pullback waits is an error
                self._leaf = _wrap(self.data, self._source).requires_grad_()
                self._leaf._tangent = self.pair
        return self._leaf

    def seeded(self, token: int, tangent: Any, differentiable: bool = False) -> Tensor:
        """A fresh tensor (never the caller's) carrying ``tangent`` for the forward sweep ``token``.

        Plain forward mode records nothing (no tape); ``differentiable`` makes a leaf that
        requires grad, for forward mode over reverse mode.
        """
        t = _wrap(self.data, self._source)  # a caller's tensor's memory: under its lock, as leaf's
        if differentiable:
            t.requires_grad_()
        if tangent is not None:
            _refuse_masked(tangent, "a transform")
            value = np.asarray(tangent._data if isinstance(tangent, Tensor) else tangent, dtype=t.dtype)
            if value.shape[value.ndim - t.ndim:] != t.shape:
                raise ValueError(f"tangent of shape {value.shape} for a primal of shape {t.shape}")
            t._tangent = (token, value)
        return t

    def give(self, result: Any) -> Any:
        """``result`` (a Tensor or an array) as the kind the caller gave."""
        # recorded: differentiable by a tensor of the caller's (a tangent or cotangent that
        # requires grad), so kept a tensor whatever the primal's kind
        if self.kind == "tensor" or _live(result) or (isinstance(result, Tensor) and result.requires_grad):
            return result if isinstance(result, Tensor) else _wrap(np.asarray(result))
        data = result._data if isinstance(result, Tensor) else np.asarray(result)
        return data.item() if self.kind == "number" and data.ndim == 0 else data


def _no_tensor_inside(seq: list | tuple) -> None:
    """A list or tuple given as an argument is an array: a tensor inside it would be a constant."""
    what = _differentiated_inside(seq)
    if what:
        raise TypeError(f"a transform got a {type(seq).__name__} holding a tensor that {what}; its "
                        "derivative would be lost: pass one tensor (ad.stack or ad.concatenate), or "
                        "each as an argument of its own")


def _is_index(i: Any) -> bool:
    return isinstance(i, numbers.Integral) and not isinstance(i, bool)


def _argnums(argnums: int | Sequence[int], count: int) -> tuple[int, ...]:
    if _is_index(argnums):
        nums = (int(argnums),)
    elif isinstance(argnums, (tuple, list)) and argnums and all(_is_index(i) for i in argnums):
        nums = tuple(int(i) for i in argnums)
    else:
        raise TypeError(f"argnums must be an int or a non-empty tuple of ints, got {argnums!r}")
    for i in nums:
        if not -count <= i < count:
            raise ValueError(f"argnums {argnums} out of range for a call with {count} positional arguments")
    nums = tuple(i % count for i in nums)
    if len(set(nums)) != len(nums):
        raise ValueError(f"argnums {argnums} names an argument twice; name each once")
    return nums


def _zeros_for(x: Tensor, batch: tuple = ()) -> Tensor:
    return _wrap(np.zeros(batch + x.shape, x.dtype))


def _value(first: _Input, out: Tensor, create: bool) -> Any:
    """A scalar function's value: a Tensor where results are Tensors, else a Python number (or array);
    detached unless this transform's results are differentiable (it hangs on the internal leaf)."""
    if create or _carries_tangent(out):
        return out
    if first.kind == "tensor":
        return out.detach()
    return out._data if out.ndim else out.item()


def _plain(aux: Any, first: _Input) -> Any:
    """``has_aux``'s auxiliary data, its tensors detached from the internal leaves (and arrays
    where the caller gave arrays), in lists, tuples and dicts too."""
    if isinstance(aux, Tensor):
        return first.give(aux.detach())
    if isinstance(aux, (list, tuple)):
        return type(aux)(_plain(a, first) for a in aux)
    if isinstance(aux, dict):
        return {k: _plain(v, first) for k, v in aux.items()}
    return aux


def _constant(out: Any) -> Tensor | None:
    """f's output as a constant tensor if it is a number or an array of them (f's value does not
    depend on its inputs, such as an inner transform's result that does not depend on this
    one's variable); None otherwise."""
    data = np.asarray(out) if isinstance(out, (np.ndarray, np.number, numbers.Real)) else None
    if data is None or data.dtype.kind not in "fiub":
        return None
    return _wrap(data if data.dtype.kind == "f" else data.astype(np.float64))


def _returned_tensor(out: Any, name: str) -> Tensor:
    """f's output as a tensor (see _constant)."""
    if isinstance(out, Tensor):
        return out
    constant = _constant(out)
    if constant is None:
        raise TypeError(f"{name} needs f to return a Tensor, it returned {type(out).__name__}")
    return constant


def _scalar(out: Any, name: str) -> Tensor:
    if not isinstance(out, Tensor):
        constant = _constant(out)
        out = out if constant is None else constant
    if not isinstance(out, Tensor) or out.size != 1:
        raise ValueError(
            f"{name} needs f to return a one-element tensor, it returned {type(out).__name__} of shape "
            f"{np.shape(out)}; reduce it (e.g. .sum()) or use jacobian / vjp"
        )
    return out


def _as_seed(seed: Any, like: Tensor) -> Any:
    """A cotangent or tangent for ``like``: a Tensor keeps its graph and tangent (cast by an op)."""
    if isinstance(seed, Tensor):
        seed = seed if seed.dtype == like.dtype else seed.astype(like.dtype)
    else:
        _refuse_masked(seed, "a transform")
        seed = np.asarray(seed, dtype=like.dtype)
    if seed.shape != like.shape:
        raise ValueError(f"a direction of shape {seed.shape} for a value of shape {like.shape}")
    return seed


def _pull(outs: Sequence[Tensor], wrt: Sequence[Tensor], seeds: Sequence, create: bool) -> tuple:
    """``gradients`` of ``outs`` seeded with ``seeds``, keeping the graph, None where unused.

    The engine keeps a seed as a Tensor only in a recorded sweep, so a seed that is
    differentiable or carries the running sweep's tangent makes the sweep recorded.
    """
    create = create or any(s.requires_grad or _live(s) for s in seeds if isinstance(s, Tensor))
    return gradients(list(outs), list(wrt), grad_outputs=list(seeds), retain_graph=True, create_graph=create,
                     allow_unused=True)


def _rows(out: Tensor, xs: Sequence[Tensor], create: bool) -> list[Tensor]:
    """``∂out/∂x`` for each ``x`` (shape ``out.shape + x.shape``), one reverse sweep per element of
    ``out``, on tensors: for nested transforms, whose results must carry tangents or be recorded."""
    if not out.requires_grad or out.size == 0:
        return [_zeros_for(x, out.shape) for x in xs]
    rows = [[] for _ in xs]
    for seed in _basis(out):
        grads = gradients(out, list(xs), grad_outputs=seed, retain_graph=True, create_graph=create,
                          allow_unused=True)
        for row, x, g in zip(rows, xs, grads, strict=True):
            row.append(_zeros_for(x) if g is None else g)
    return [stack(row).reshape(out.shape + x.shape) for row, x in zip(rows, xs, strict=True)]


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
        create = _differentiable(list(inputs.values()))
        call = [inputs[i].leaf if i in inputs else a for i, a in enumerate(args)]
        with _Differentiating():
            out = f(*call, **kwargs)
        aux = None
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):  # a tensor of two rows would unpack
                raise TypeError(f"with has_aux=True, f must return a pair (value, aux), got a "
                                f"{type(out).__name__}")
            out, aux = out
        out = _scalar(out, "grad / value_and_grad")
        wrt = [inputs[i].leaf for i in nums]
        if out.requires_grad:
            grads = gradients(out, wrt, create_graph=create, allow_unused=True)
        else:
            grads = [None] * len(wrt)
        grads = [inputs[i].give(_zeros_for(x) if g is None else g)
                 for i, x, g in zip(nums, wrt, grads, strict=True)]
        result = grads[0] if _is_index(argnums) else tuple(grads)
        first = inputs[nums[0]]
        value = _value(first, out, create)
        return ((value, aux if create else _plain(aux, first)), result) if has_aux else (value, result)

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
    create = _differentiable(inputs)
    xs = [x.leaf for x in inputs]
    with _Differentiating():
        out = _returned_tensor(f(*xs), "vjp")

    def pullback(cotangent: Any) -> tuple:
        seed = _as_seed(cotangent, out)
        grads = _pull([out], xs, [seed], create) if out.requires_grad else [None] * len(xs)
        return tuple(x.give(_zeros_for(t) if g is None else g)
                     for x, t, g in zip(inputs, xs, grads, strict=True))

    value = out if create or _carries_tangent(out) else out.detach()  # else it hangs on the internal leaves
    return (inputs[0].give(value) if inputs else value), pullback


# ------------------------------------------------------------ forward mode
class _ForwardSweep:
    """While active, every op pushes tangents; each sweep has its own token.

    One sweep at a time: transforms nested in a sweep use reverse mode instead (see the
    module's docstring).
    """

    def __enter__(self) -> int:
        if _mode.forward:
            raise NotImplementedError("a forward sweep inside a forward sweep (one tangent per tensor)")
        self.paused = _mode.paused  # an enclosing sweep's, paused by no_grad (see grad_mode._switch)
        _mode.forward = next(_tokens)
        return _mode.forward

    def __exit__(self, *exc) -> None:
        _mode.forward = 0
        if _mode.paused != self.paused:  # this sweep's: f switched no_grad on and left it
            _mode.paused = self.paused


def _tangent(out: Tensor, token: int, batch: tuple = ()) -> np.ndarray:
    pair = out._tangent
    if pair is None or pair[0] != token:
        return np.zeros(batch + out.shape, out.dtype)
    return np.asarray(pair[1]._data if isinstance(pair[1], Tensor) else pair[1])


def _jvp_by_reverse(f: Callable, inputs: list[_Input], tangents: Sequence) -> tuple[Tensor, Tensor]:
    """``f(*inputs)`` and ``J v`` by reverse mode: the gradient of ``uᵀ(J v)`` in a dummy ``u``.

    ``Jᵀu`` is linear in ``u``, so its gradient with respect to ``u`` along ``v`` is ``J v``.
    Two recorded reverse sweeps instead of one forward sweep, but the result carries the
    tangents of a running sweep and is differentiable: the way forward mode nests.
    """
    create = _differentiable(inputs, tangents)
    xs = [x.leaf for x in inputs]
    with _Differentiating():
        out = _returned_tensor(f(*xs), "jvp")
    directions = [None if v is None else _as_seed(v, x) for v, x in zip(tangents, xs, strict=True)]
    product = None
    if out.requires_grad:
        u = _wrap(np.zeros(out.shape, out.dtype)).requires_grad_()
        transposed = gradients(out, xs, grad_outputs=u, retain_graph=True, create_graph=True,
                               allow_unused=True)  # Jᵀu, recorded: linear in u
        pairs = [(g, v) for g, v in zip(transposed, directions, strict=True)
                 if g is not None and v is not None and g.requires_grad]
        if pairs:
            (product,) = _pull([g for g, _ in pairs], [u], [v for _, v in pairs], create)
    return out, _zeros_for(out) if product is None else product


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
    _check_tangents("jvp", tangents, inputs)
    if _mode.forward or _differentiable(inputs, tangents):
        out, tangent = _jvp_by_reverse(f, inputs, tangents)
    else:
        with _ForwardSweep() as token:
            seeded = [x.seeded(token, v) for x, v in zip(inputs, tangents, strict=True)]
            out = _returned_tensor(f(*seeded), "jvp")
            tangent = _tangent(out, token)
    first = inputs[0]
    return first.give(out), first.give(tangent)


def _check_tangents(name: str, tangents: Sequence, inputs: Sequence[_Input]) -> None:
    for i, (v, x) in enumerate(zip(tangents, inputs, strict=True)):
        if v is not None and _shape(v) != x.data.shape:
            raise ValueError(f"{name}: tangent {i} has shape {_shape(v)}, its primal {x.data.shape}: "
                             "give one tangent of each primal's shape")


# ----------------------------------------------------- Jacobians, Hessians
def _basis(x: Tensor) -> np.ndarray:
    """Every one-hot direction in ``x``'s space, stacked: shape (x.size, *x.shape)."""
    return np.eye(x.size, dtype=x.dtype).reshape((x.size,) + x.shape)


def _joint_basis(inputs: Sequence[_Input]) -> tuple[list[np.ndarray], list[slice]]:
    """One-hot directions in the joint space of all inputs: one (n, *x.shape) tangent per input."""
    sizes = [x.data.size for x in inputs]
    n = sum(sizes)
    if len(inputs) == 1:
        x = inputs[0].data
        return [np.eye(n, dtype=x.dtype).reshape((n,) + x.shape)], [slice(0, n)]
    tangents, spans, start = [], [], 0
    for x, size in zip(inputs, sizes, strict=True):
        tangent = np.zeros((n, size), x.data.dtype)
        tangent[start:start + size] = np.eye(size, dtype=x.data.dtype)
        tangents.append(tangent.reshape((n,) + x.data.shape))
        spans.append(slice(start, start + size))
        start += size
    return tangents, spans


def _forward_columns(run: Callable, inputs: list[_Input], differentiable: bool = False) -> tuple[list, list]:
    """Tangents of ``run``'s outputs (a list of tensors) for every joint basis direction of the
    inputs: one (n, *out.shape) array per output, and each input's span of the n directions.

    One sweep carrying all directions at once; one sweep per direction if an op cannot batch.
    """
    basis, spans = _joint_basis(inputs)
    n = basis[0].shape[0]
    try:
        with _ForwardSweep() as token:
            outs = run([x.seeded(token, b, differentiable) for x, b in zip(inputs, basis, strict=True)])
            return [_tangent(out, token, (n,)) for out in outs], spans
    except NotBatched:
        columns = []
        for d in range(n):
            with _ForwardSweep() as token:
                outs = run([x.seeded(token, b[d], differentiable)
                            for x, b in zip(inputs, basis, strict=True)])
                columns.append([_tangent(out, token) for out in outs])
        return [np.stack(c) for c in zip(*columns, strict=True)], spans


# Per-row sweeps on arrays up to this many rows: the batched sweep runs its rules on tensors
# and pushes tangents through each, a fixed cost of about three plain sweeps (measured on MLPs
# and elementwise chains: 4 rows take about as long either way, 8 rows 1.5-2x longer by row).
_LOOP_ROWS = 4


def _reverse_jacobian(out: Tensor, xs: list[Tensor]) -> list[np.ndarray]:
    """Every row of ``∂out/∂x`` for each ``x``: one (out.size, *x.shape) array each.

    The reverse sweep is linear in its seed, so one forward sweep through it, seeded with
    every output direction at once, carries all rows uᵀJ as tangents of the gradients
    (forward over reverse, as ``hessian``). One sweep per row for a few rows, or if an op
    cannot batch.
    """
    m = out.size
    if not out.requires_grad or m == 0:
        return [np.zeros((m,) + x.shape, x.dtype) for x in xs]
    basis = _basis(out)
    if m > _LOOP_ROWS:
        weights = _wrap(np.ones(out.shape, out.dtype))
        with grad_mode.enable_grad():
            total = (out * weights).sum()  # out's adjoint is `weights`, whose tangents are the seeds
        try:
            with _ForwardSweep() as token:
                weights._tangent = (token, basis)
                grads = gradients(total, xs, retain_graph=True, allow_unused=True)
                return [np.zeros((m,) + x.shape, x.dtype) if g is None else _tangent(g, token, (m,))
                        for x, g in zip(xs, grads, strict=True)]
        except NotBatched:
            pass
    rows = [[] for _ in xs]
    for seed in basis:
        grads = gradients(out, xs, grad_outputs=seed, retain_graph=True, allow_unused=True)
        for row, x, g in zip(rows, xs, grads, strict=True):
            row.append(np.zeros(x.shape, x.dtype) if g is None else g._data)
    return [np.stack(row) for row in rows]


def _forward_is_cheaper(n: int, m: int) -> bool:
    """For a Jacobian with ``n`` inputs and ``m`` outputs, whether forward mode is the cheaper one.

    Measured on MLPs and elementwise chains (n, m from 2 to 3000): the batched reverse sweep
    costs about two forward sweeps of the same batch, so forward mode wins up to n = 2m; and
    while its tangents are small (n (n + m) up to about 10^5 numbers) a sweep costs its per-op
    overhead alone, so one forward sweep beats the batched reverse one, but not a few per-row
    reverse sweeps (which reuse the run of f that told the output's size).
    """
    return n <= 2 * m or (m > _LOOP_ROWS and n * (n + m) <= 100_000)


def jacobian(f: Callable, argnums: int | Sequence[int] = 0, mode: str = "auto") -> Callable:
    """The Jacobian of ``f``: shape ``out.shape + input.shape`` (a tuple for several argnums).

    ``mode="fwd"``: forward mode, every input direction in one batched sweep;
    ``mode="rev"``: reverse mode, every output row in one batched sweep (forward mode over
    the reverse sweep; one sweep per row for up to four rows, where that is cheaper);
    ``"auto"`` takes reverse mode for wide Jacobians (many more inputs than outputs, and
    large enough for the arithmetic to matter), forward mode otherwise.

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
            for i, t in zip(nums, tensors, strict=True):
                call[i] = t
            return _returned_tensor(f(*call, **kwargs), "jacobian")

        if _mode.forward or _differentiable(inputs):
            # nested: row by row on tensors, so that the blocks carry tangents or are recorded
            create = _differentiable(inputs)
            xs = [x.leaf for x in inputs]
            with _Differentiating():
                out = run(xs)
            blocks = _rows(out, xs, create)
        else:
            n = sum(x.data.size for x in inputs)
            chosen, out = ("rev" if mode == "auto" else mode), None
            if mode != "fwd":
                xs = [x.leaf for x in inputs]
                with _Differentiating():
                    out = run(xs)
                if mode == "auto" and _forward_is_cheaper(n, out.size):
                    chosen = "fwd"
            if chosen == "fwd":
                try:
                    columns, spans = _forward_columns(lambda tensors: [run(tensors)], inputs)
                except NoTangentRule:
                    if mode == "fwd":
                        raise
                    chosen = "rev"  # auto: an op without a tangent rule leaves reverse mode
                else:
                    columns = columns[0]  # (n, *out.shape)
                    blocks = [np.moveaxis(columns[span], 0, -1).reshape(columns.shape[1:] + x.data.shape)
                              for x, span in zip(inputs, spans, strict=True)]
            if chosen == "rev":
                blocks = [rows.reshape(out.shape + x.shape)
                          for rows, x in zip(_reverse_jacobian(out, xs), xs, strict=True)]
        results = [x.give(b) for x, b in zip(inputs, blocks, strict=True)]
        return results[0] if _is_index(argnums) else tuple(results)

    return transformed


def _gradient_of(f: Callable, args: tuple, kwargs: dict, nums: tuple, create: bool = False) -> Callable:
    """``tensors -> [∇_i f for i in nums]`` as tensors, zeros where f does not depend on one."""

    def run(tensors):
        call = list(args)
        for i, t in zip(nums, tensors, strict=True):
            call[i] = t
        with _Differentiating():
            out = _scalar(f(*call, **kwargs), "hessian / hvp")
        grads = gradients(out, tensors, create_graph=create, retain_graph=create, allow_unused=True) \
            if out.requires_grad else [None] * len(tensors)
        return [_zeros_for(t) if g is None else g for t, g in zip(tensors, grads, strict=True)], out

    return run


def hessian(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Hessian of a scalar ``f``: shape ``x.shape + x.shape``, by forward mode over reverse mode
    with all directions in one batched sweep.

    With a tuple ``argnums``, the blocks ``H[i][j] = ∂²f/∂x_i∂x_j`` (shape ``x_i.shape + x_j.shape``)
    as a tuple of tuples, as JAX gives them.

    Examples
    --------
    >>> import numpy as np, autodiff as ad
    >>> ad.hessian(lambda x: (x ** 3).sum())(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    >>> ad.hessian(lambda x, y: (x * y).sum(), argnums=(0, 1))(1.0, 2.0)[0][1]
    1.0
    """

    def transformed(*args, **kwargs):
        nums = _argnums(argnums, len(args))
        inputs = [_Input(args[i]) for i in nums]
        if _mode.forward or _differentiable(inputs):
            # nested: reverse over reverse, row by row (see the module's docstring)
            create = _differentiable(inputs)
            xs = [x.leaf for x in inputs]
            grads, _ = _gradient_of(f, args, kwargs, nums, create=True)(xs)
            blocks = [_rows(g, xs, create) for g in grads]
        else:
            columns, spans = _forward_columns(lambda tensors: _gradient_of(f, args, kwargs, nums)(tensors)[0],
                                              inputs, differentiable=True)
            blocks = [[np.moveaxis(c[span], 0, -1).reshape(xi.data.shape + xj.data.shape)
                       for xj, span in zip(inputs, spans, strict=True)]
                      for c, xi in zip(columns, inputs, strict=True)]
        results = tuple(tuple(x.give(b) for b in row) for x, row in zip(inputs, blocks, strict=True))
        return results[0][0] if _is_index(argnums) else results

    return transformed


def hvp(f: Callable, primals: Any, tangents: Any) -> tuple[Any, Any]:
    """``f(*primals)`` and the Hessian-vector product ``H v`` (forward over reverse, one sweep).

    ``primals`` and ``tangents`` are one array each, or tuples of them (the Hessian in the
    joint space of all primals); the product has the same structure as ``primals``.

    Examples
    --------
    >>> import numpy as np, autodiff as ad
    >>> ad.hvp(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    (9.0, array([ 6., 12.]))
    >>> ad.hvp(lambda x, y: x * x * y, (1.0, 2.0), (1.0, 0.0))
    (2.0, (4.0, 2.0))
    """
    several = isinstance(primals, (tuple, list))
    primals = tuple(primals) if several else (primals,)
    tangents = tuple(tangents) if isinstance(tangents, (tuple, list)) else (tangents,)
    if len(primals) != len(tangents):
        raise ValueError(f"hvp: {len(primals)} primals but {len(tangents)} tangents")
    inputs = [_Input(p) for p in primals]
    _check_tangents("hvp", tangents, inputs)
    nums = tuple(range(len(inputs)))
    create = _differentiable(inputs, tangents)
    if _mode.forward or create:
        # nested: reverse over reverse (H is symmetric, so ∇(∇f · v) = H v)
        xs = [x.leaf for x in inputs]
        grads, out = _gradient_of(f, primals, {}, nums, create=True)(xs)
        pairs = [(g, _as_seed(v, x)) for g, v, x in zip(grads, tangents, xs, strict=True)
                 if v is not None and g.requires_grad]
        products = _pull([g for g, _ in pairs], xs, [v for _, v in pairs], create) if pairs \
            else [None] * len(xs)
        products = [_zeros_for(x) if p is None else p for x, p in zip(xs, products, strict=True)]
    else:
        with _ForwardSweep() as token:
            seeded = [x.seeded(token, v, differentiable=True) for x, v in zip(inputs, tangents, strict=True)]
            grads, out = _gradient_of(f, primals, {}, nums)(seeded)
            products = [_tangent(g, token) for g in grads]
    value = _value(inputs[0], out, create)
    products = tuple(x.give(p) for x, p in zip(inputs, products, strict=True))
    return value, products if several else products[0]
