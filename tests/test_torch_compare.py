"""Gradients of random programs against PyTorch, first and second order, in float64.

A program is built from a seeded ``numpy.random.Generator``: a few leaves, then
5 to 10 ops drawn from a table of ``(our op, torch op)`` pairs, each applied to a
value already computed (usually the newest), with a partner operand taken from the
values so far, made as a new leaf, or a Python float. Every op checks that its
operand is in a domain where it is smooth (log of positives, no ties for max,
nothing near a kink of relu/abs/clip, ...) and declines otherwise, so both
libraries differentiate the same smooth function. The loss is a random weighting
of every value computed, so every leaf and every intermediate feeds it.

Each op of the table is also the forced first op of a program of its own, so the
whole table is covered whatever the random draws; those programs and some of the
random ones also compare second derivatives (``create_graph=True``).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import pytest

import autodiff as ad

torch = pytest.importorskip(
    "torch", reason="torch not installed: pip install torch==2.13.0 to run the comparison")
F = torch.nn.functional

RTOL = 1e-10
MAX_VALUE = 1e3      # an op whose result leaves [-MAX_VALUE, MAX_VALUE] is dropped
MARGIN = 1e-3        # distance kept from kinks and ties


@dataclass
class Value:
    ours: ad.Tensor
    theirs: "torch.Tensor"

    @property
    def arr(self) -> np.ndarray:
        return self.ours.numpy()

    @property
    def shape(self) -> tuple:
        return self.ours.shape

    @property
    def ndim(self) -> int:
        return self.ours.ndim


class Program:
    """A random program, built in both libraries at once."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.leaves: list[Value] = []
        self.values: list[Value] = []
        self.ops: list[str] = []

    # ------------------------------------------------------------ operands
    def sample(self, shape: tuple, kind: str = "real") -> np.ndarray:
        rng = self.rng
        if kind == "positive":
            return rng.uniform(0.5, 2.0, shape)
        # away from zero, so that relu/abs/division meet no kink or pole
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 1.5, shape)

    def shape(self, min_dims: int = 0, max_dims: int = 3) -> tuple:
        return tuple(int(s) for s in self.rng.integers(1, 5, self.rng.integers(min_dims, max_dims + 1)))

    def leaf(self, shape: tuple, kind: str = "real") -> Value:
        arr = self.sample(shape, kind)
        v = Value(ad.tensor(arr, requires_grad=True),
                  torch.tensor(arr, dtype=torch.float64, requires_grad=True))
        self.leaves.append(v)
        self.values.append(v)
        return v

    def pick(self) -> Value:
        """Usually the newest value (programs get deep), sometimes any earlier one."""
        if self.rng.random() < 0.6:
            return self.values[-1]
        return self.values[self.rng.integers(len(self.values))]

    def scalar(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def broadcast_partner_shape(self, shape: tuple) -> tuple:
        """A shape that broadcasts with ``shape``: trailing part, ones, or extra leading axes."""
        rng = self.rng
        out = list(shape[rng.integers(0, len(shape) + 1):]) if rng.random() < 0.3 else list(shape)
        out = [1 if rng.random() < 0.3 else s for s in out]
        if rng.random() < 0.25 and len(out) == len(shape) < 4:
            out = [int(rng.integers(2, 4))] + out
        return tuple(out)

    def partner(self, v: Value, kind: str = "real", ok=lambda a: True):
        """A second operand for ``v``: a Python float, an earlier value, or a new leaf."""
        rng = self.rng
        r = rng.random()
        if r < 0.2:
            s = float(self.sample((), kind))
            if ok(np.asarray(s)):
                return s
        if r < 0.5:
            fits = []
            for w in self.values:
                try:
                    np.broadcast_shapes(w.shape, v.shape)
                except ValueError:
                    continue
                if ok(w.arr):
                    fits.append(w)
            if fits:
                return fits[rng.integers(len(fits))]
        for _ in range(10):
            arr_shape = self.broadcast_partner_shape(v.shape)
            w = self.leaf(arr_shape, kind)
            if ok(w.arr):
                return w
            self.leaves.pop()
            self.values.pop()
        return None

    def axis(self, ndim: int, allow_tuple: bool = True):
        """(numpy axis, torch dims): None, an int or a tuple, possibly negative."""
        rng = self.rng
        kind = rng.integers(3 if allow_tuple else 2)
        if kind == 0:
            return None, tuple(range(ndim))
        if kind == 1:
            a = int(rng.integers(-ndim, ndim))
            return a, (a,)
        k = int(rng.integers(1, ndim + 1))
        axes = tuple(int(a) - (ndim if rng.random() < 0.5 else 0) for a in rng.permutation(ndim)[:k])
        return axes, axes


def _ours(x):
    return x.ours if isinstance(x, Value) else x


def _theirs(x):
    return x.theirs if isinstance(x, Value) else x


def _as_torch(x):
    """Operands for torch functions that need tensors (maximum, minimum)."""
    return x.theirs if isinstance(x, Value) else torch.tensor(x, dtype=torch.float64)


def _arr(x) -> np.ndarray:
    return x.arr if isinstance(x, Value) else np.asarray(x)


def _result(ours, theirs):
    """The new value, or None when it left the range where comparisons are meaningful."""
    a = ours.numpy()
    if a.dtype != np.float64 or not np.all(np.isfinite(a)) or (a.size and np.max(np.abs(a)) > MAX_VALUE):
        return None
    return Value(ours, theirs)


# ------------------------------------------------------------------ the ops
def _binary(ours, theirs, kind="real", ok_left=lambda a: True, ok_right=lambda a: True, reflect=True):
    """An elementwise binary op; ``ok_*`` are domain checks on the left and right operands."""

    def apply(p: Program, v: Value):
        if p.rng.random() < 0.5 or not reflect:
            if not ok_left(v.arr):
                return None
            w = p.partner(v, kind, ok_right)
            if w is None:
                return None
            return _result(ours(v.ours, _ours(w)), theirs(v.theirs, _theirs(w)))
        if not ok_right(v.arr):
            return None
        w = p.partner(v, kind, ok_left)
        if w is None:
            return None
        return _result(ours(_ours(w), v.ours), theirs(_theirs(w), v.theirs))

    return apply


def _away_from_zero(a):
    return np.all(np.abs(a) > 0.3)


def _positive(a):
    return np.all(a > 0.2) and np.all(a < 5.0)


def _moderate(a):
    return np.all(np.abs(a) < 2.5)


def _pow(p: Program, v: Value):
    rng = p.rng
    choice = rng.integers(3)
    if choice == 0:  # tensor ** float
        if not _positive(v.arr):
            return None
        e = p.scalar(-1.5, 2.5)
        return _result(v.ours ** e, v.theirs ** e)
    if choice == 1:  # float ** tensor
        if not _moderate(v.arr):
            return None
        b = p.scalar(0.5, 2.0)
        return _result(b ** v.ours, b ** v.theirs)
    # tensor ** tensor, either side
    power = _binary(lambda x, y: x ** y, lambda x, y: x ** y, "positive", _positive, _moderate)
    return power(p, v)


def _matmul(p: Program, v: Value):
    rng = p.rng
    if v.ndim == 0:
        return None
    m = int(rng.integers(1, 4))
    batch = v.shape[-3] if v.ndim >= 3 else int(rng.integers(1, 3))  # broadcasts with v's batch
    if rng.random() < 0.5:  # v @ w
        k = v.shape[-1]
        options = [(k,), (k, m), (batch, k, m)]
        w = p.leaf(options[rng.integers(len(options))])
        return _result(v.ours @ w.ours, v.theirs @ w.theirs)
    k = v.shape[-2] if v.ndim >= 2 else v.shape[0]  # w @ v
    options = [(k,), (m, k), (batch, m, k)]
    w = p.leaf(options[rng.integers(len(options))])
    return _result(ad.matmul(w.ours, v.ours), torch.matmul(w.theirs, v.theirs))


def _unary(ours, theirs, ok=lambda a: True):
    def apply(p: Program, v: Value):
        if not ok(v.arr):
            return None
        return _result(ours(v.ours), theirs(v.theirs))

    return apply


def _no_tie(x, y) -> bool:
    return np.all(np.abs(_arr(x) - _arr(y)) > MARGIN)


def _extreme_binary(ours, theirs):
    def apply(p: Program, v: Value):
        w = p.partner(v, "real", lambda a: _no_tie(v.arr, a))
        if w is None:
            return None
        if p.rng.random() < 0.5:
            return _result(ours(v.ours, _ours(w)), theirs(v.theirs, _as_torch(w)))
        return _result(ours(_ours(w), v.ours), theirs(_as_torch(w), v.theirs))

    return apply


def _where(p: Program, v: Value):
    cond = v.arr > np.quantile(v.arr, p.rng.uniform(0.2, 0.8))
    w = p.partner(v)
    if w is None:
        return None
    c = np.array(cond)
    if p.rng.random() < 0.5:
        return _result(ad.where(c, v.ours, _ours(w)), torch.where(torch.as_tensor(c), v.theirs, _theirs(w)))
    return _result(ad.where(c, _ours(w), v.ours), torch.where(torch.as_tensor(c), _theirs(w), v.theirs))


def _clip(p: Program, v: Value):
    rng = p.rng
    points = np.unique(v.arr)
    gaps = [(a + b) / 2 for a, b in zip(points[:-1], points[1:], strict=True) if b - a > 2 * MARGIN]
    candidates = gaps + [float(points[0]) - 0.5, float(points[-1]) + 0.5]
    lo, hi = sorted(float(c) for c in rng.choice(candidates, 2))
    if rng.random() < 0.2:
        lo = None
    elif rng.random() < 0.2:
        hi = None
    if lo is not None and hi is not None and lo >= hi:
        return None
    return _result(ad.clip(v.ours, lo, hi), torch.clamp(v.theirs, lo, hi))


def _groups(arr: np.ndarray, axis) -> np.ndarray:
    """The reduced groups of ``arr`` as rows: shape (groups, group size)."""
    axes = tuple(range(arr.ndim)) if axis is None else tuple(
        a % arr.ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
    rest = [a for a in range(arr.ndim) if a not in axes]
    moved = np.transpose(arr, rest + list(axes))
    n = math.prod(arr.shape[a] for a in axes)
    return moved.reshape(-1, n)


def _reduction(name: str):
    def apply(p: Program, v: Value):
        if v.ndim == 0:
            return None
        axis, dims = p.axis(v.ndim)
        keep = bool(p.rng.random() < 0.4)
        rows = _groups(v.arr, axis)
        n = rows.shape[1]
        x, t = v.ours, v.theirs
        if name == "sum":
            return _result(ad.sum(x, axis=axis, keepdims=keep), torch.sum(t, dim=dims, keepdim=keep))
        if name == "mean":
            return _result(x.mean(axis=axis, keepdims=keep), torch.mean(t, dim=dims, keepdim=keep))
        if name in ("max", "min"):
            if n > 1:
                s = np.sort(rows, axis=1)
                gap = (s[:, -1] - s[:, -2]) if name == "max" else (s[:, 1] - s[:, 0])
                if np.any(gap <= MARGIN):
                    return None
            if name == "max":
                return _result(ad.max(x, axis=axis, keepdims=keep), torch.amax(t, dim=dims, keepdim=keep))
            return _result(x.min(axis=axis, keepdims=keep), torch.amin(t, dim=dims, keepdim=keep))
        if name in ("var", "std"):
            ddof = int(p.rng.integers(2)) if n > 1 else 0
            if name == "std" and (n < 2 or np.any(rows.var(axis=1) < 1e-2)):
                return None
            fn = ad.var if name == "var" else ad.std
            tfn = torch.var if name == "var" else torch.std
            return _result(fn(x, axis=axis, ddof=ddof, keepdims=keep),
                           tfn(t, dim=dims, correction=ddof, keepdim=keep))
        if name == "prod":
            if n > 12:
                return None
            out = t
            for d in sorted((d % v.ndim for d in dims), reverse=True):
                out = torch.prod(out, dim=d, keepdim=keep)
            return _result(ad.prod(x, axis=axis, keepdims=keep), out)
        if name == "logsumexp":
            return _result(ad.logsumexp(x, axis=axis, keepdims=keep),
                           torch.logsumexp(t, dim=dims, keepdim=keep))
        raise AssertionError(name)

    return apply


def _softmax(log: bool):
    def apply(p: Program, v: Value):
        if v.ndim == 0:
            return None
        axis = int(p.rng.integers(-v.ndim, v.ndim))
        if log:
            return _result(ad.log_softmax(v.ours, axis=axis), torch.log_softmax(v.theirs, dim=axis))
        return _result(v.ours.softmax(axis=axis), torch.softmax(v.theirs, dim=axis))

    return apply


def _reshape(p: Program, v: Value):
    rng = p.rng
    size = v.ours.size
    dims = []
    rest = size
    for _ in range(rng.integers(0, 3)):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = int(rng.choice(divisors))
        dims.append(d)
        rest //= d
    dims.append(rest)
    dims = [int(d) for d in rng.permutation(dims)]
    if rng.random() < 0.3:
        dims[rng.integers(len(dims))] = -1
    if rng.random() < 0.3:
        return _result(ad.flatten(v.ours), v.theirs.flatten())
    return _result(v.ours.reshape(tuple(dims)), v.theirs.reshape(tuple(dims)))


def _transpose(p: Program, v: Value):
    rng = p.rng
    if v.ndim < 2:
        return None
    r = rng.random()
    if r < 0.2:
        return _result(v.ours.T, v.theirs.permute(*reversed(range(v.ndim))))
    if r < 0.4:
        a, b = (int(i) for i in rng.choice(v.ndim, 2, replace=False))
        return _result(ad.swapaxes(v.ours, a, b), torch.swapaxes(v.theirs, a, b))
    perm = tuple(int(i) for i in rng.permutation(v.ndim))
    return _result(ad.transpose(v.ours, perm), v.theirs.permute(*perm))


def _getitem_basic(p: Program, v: Value):
    rng = p.rng
    if v.ndim == 0:
        return None
    index = []
    for n in v.shape:
        r = rng.random()
        if r < 0.25:
            index.append(int(rng.integers(-n, n)))
        elif r < 0.8:
            a = int(rng.integers(0, n))
            b = int(rng.integers(a + 1, n + 1))
            index.append(slice(a, b, int(rng.integers(1, 3))))
        else:
            index.append(slice(None))
    if rng.random() < 0.2:
        index.insert(int(rng.integers(len(index) + 1)), None)
    if rng.random() < 0.2 and isinstance(index[0], slice):
        index = [Ellipsis] + index[1:]
    index = tuple(index)
    return _result(v.ours[index], v.theirs[index])


def _getitem_advanced(p: Program, v: Value):
    rng = p.rng
    if v.ndim == 0:
        return None
    kind = rng.integers(3)
    if kind == 0:  # one integer array, with a repeated index
        axis = int(rng.integers(v.ndim))
        n = v.shape[axis]
        idx = rng.integers(-n, n, int(rng.integers(1, 5)))
        idx = np.concatenate([idx, idx[:1]])
        index = (slice(None),) * axis + (idx,)
        tindex = (slice(None),) * axis + (torch.as_tensor(idx),)
    elif kind == 1 and v.ndim >= 2:  # two arrays broadcast together, repeats likely
        m = int(rng.integers(1, 5))
        i0 = rng.integers(0, v.shape[0], (m, 1))
        i1 = rng.integers(0, v.shape[1], (1, 2))
        index = (i0, i1)
        tindex = (torch.as_tensor(i0), torch.as_tensor(i1))
    else:  # a boolean mask over the whole value (at least one element selected)
        mask = v.arr > np.quantile(v.arr, rng.uniform(0.0, 0.7))
        if not mask.any():
            return None
        index, tindex = mask, torch.as_tensor(mask)
    return _result(v.ours[index], v.theirs[tindex])


def _concatenate(p: Program, v: Value):
    rng = p.rng
    if v.ndim == 0:
        return None
    axis = int(rng.integers(-v.ndim, v.ndim))
    parts = [v]
    for _ in range(rng.integers(1, 3)):
        fits = [w for w in p.values if w.ndim == v.ndim and all(
            a == b for i, (a, b) in enumerate(zip(w.shape, v.shape, strict=True)) if i != axis % v.ndim)]
        if fits and rng.random() < 0.5:
            parts.append(fits[rng.integers(len(fits))])  # possibly v itself again
        else:
            shape = list(v.shape)
            shape[axis] = int(rng.integers(1, 4))
            parts.append(p.leaf(tuple(shape)))
    order = [int(i) for i in rng.permutation(len(parts))]
    parts = [parts[i] for i in order]
    return _result(ad.concatenate([w.ours for w in parts], axis=axis),
                   torch.cat([w.theirs for w in parts], dim=axis))


def _stack(p: Program, v: Value):
    rng = p.rng
    axis = int(rng.integers(-v.ndim - 1, v.ndim + 1))
    fits = [w for w in p.values if w.shape == v.shape]
    w = fits[rng.integers(len(fits))] if fits and rng.random() < 0.5 else p.leaf(v.shape)
    parts = [v, w] if rng.random() < 0.5 else [w, v, w]
    return _result(ad.stack([x.ours for x in parts], axis=axis),
                   torch.stack([x.theirs for x in parts], dim=axis))


def _pad(p: Program, v: Value):
    rng = p.rng
    if v.ndim == 0:
        return None
    widths = tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(v.ndim))
    c = float(rng.uniform(-1, 1))
    flat = [w for pair in reversed(widths) for w in pair]
    return _result(ad.pad(v.ours, widths, constant_values=c), F.pad(v.theirs, flat, value=c))


def _einsum(p: Program, v: Value):
    rng = p.rng
    letters = "abcdfghijk"[:v.ndim]  # "e" is kept for a letter of the second operand alone
    term = list(letters)
    sizes = dict(zip(letters, v.shape, strict=True))
    kind = rng.integers(3)
    if kind == 2 and v.ndim >= 2:  # a diagonal: two axes of equal length share a letter
        pairs = [(i, j) for i in range(v.ndim) for j in range(i + 1, v.ndim) if v.shape[i] == v.shape[j]]
        if not pairs:
            return None
        i, j = pairs[rng.integers(len(pairs))]
        term[j] = term[i]
        sizes.pop(letters[j])
    x_term = "".join(term)
    operands = [v]
    terms = [x_term]
    if kind == 1:  # a second operand sharing some letters, maybe with a letter of its own
        other = [c for c in dict.fromkeys(term) if rng.random() < 0.6]
        if rng.random() < 0.5:
            other.append("e")
            sizes["e"] = int(rng.integers(1, 4))
        other = [other[i] for i in rng.permutation(len(other))]
        w = p.leaf(tuple(sizes[c] for c in other))
        operands.append(w)
        terms.append("".join(other))
    available = list(dict.fromkeys("".join(terms)))
    out = [c for c in available if rng.random() < 0.5]
    out = "".join(out[i] for i in rng.permutation(len(out)))
    spec = ",".join(terms) + "->" + out
    return _result(ad.einsum(spec, *[w.ours for w in operands]),
                   torch.einsum(spec, *[w.theirs for w in operands]))


def _broadcast_to(p: Program, v: Value):
    rng = p.rng
    shape = [int(rng.integers(2, 4)) if s == 1 and rng.random() < 0.7 else s for s in v.shape]
    shape = [int(rng.integers(1, 4)) for _ in range(rng.integers(0, 3 - min(v.ndim, 2)))] + shape
    shape = tuple(shape)
    return _result(ad.broadcast_to(v.ours, shape), v.theirs.broadcast_to(shape))


def _squeeze(p: Program, v: Value):
    ones = [i for i, s in enumerate(v.shape) if s == 1]
    if not ones:
        return None
    if p.rng.random() < 0.3:
        return _result(ad.squeeze(v.ours), torch.squeeze(v.theirs))
    axis = int(ones[p.rng.integers(len(ones))]) - (v.ndim if p.rng.random() < 0.5 else 0)
    return _result(ad.squeeze(v.ours, axis), torch.squeeze(v.theirs, axis))


def _expand_dims(p: Program, v: Value):
    axis = int(p.rng.integers(-v.ndim - 1, v.ndim + 1))
    return _result(ad.expand_dims(v.ours, axis), torch.unsqueeze(v.theirs, axis))


def _leaky_relu(p: Program, v: Value):
    if not np.all(np.abs(v.arr) > MARGIN):
        return None
    slope = float(p.rng.choice([0.01, 0.1, 0.3]))
    return _result(ad.leaky_relu(v.ours, slope), F.leaky_relu(v.theirs, slope))


OPS = {
    "add": _binary(lambda x, y: x + y, lambda x, y: x + y),
    "subtract": _binary(lambda x, y: x - y, lambda x, y: x - y),
    "multiply": _binary(lambda x, y: x * y, lambda x, y: x * y),
    "divide": _binary(lambda x, y: x / y, lambda x, y: x / y, ok_right=_away_from_zero),
    "power": _pow,
    "negative": _unary(lambda x: -x, lambda x: -x),
    "matmul": _matmul,
    "exp": _unary(ad.exp, torch.exp, ok=lambda a: np.all(a < 3.0)),
    "log": _unary(ad.log, torch.log, ok=lambda a: np.all(a > 0.2)),
    "sqrt": _unary(lambda x: x.sqrt(), torch.sqrt, ok=lambda a: np.all(a > 0.2)),
    "abs": _unary(abs, torch.abs, ok=lambda a: np.all(np.abs(a) > MARGIN)),
    "sin": _unary(ad.sin, torch.sin),
    "cos": _unary(lambda x: x.cos(), torch.cos),
    "tanh": _unary(ad.tanh, torch.tanh),
    "sigmoid": _unary(ad.sigmoid, torch.sigmoid),
    "relu": _unary(ad.relu, F.relu, ok=lambda a: np.all(np.abs(a) > MARGIN)),
    "leaky_relu": _leaky_relu,
    "softplus": _unary(ad.softplus, F.softplus, ok=lambda a: np.all(a < 15.0)),
    "gelu": _unary(ad.gelu, lambda t: F.gelu(t, approximate="tanh")),
    "clip": _clip,
    "maximum": _extreme_binary(ad.maximum, torch.maximum),
    "minimum": _extreme_binary(ad.minimum, torch.minimum),
    "where": _where,
    "sum": _reduction("sum"),
    "mean": _reduction("mean"),
    "max": _reduction("max"),
    "min": _reduction("min"),
    "var": _reduction("var"),
    "std": _reduction("std"),
    "prod": _reduction("prod"),
    "logsumexp": _reduction("logsumexp"),
    "softmax": _softmax(log=False),
    "log_softmax": _softmax(log=True),
    "reshape": _reshape,
    "transpose": _transpose,
    "getitem": _getitem_basic,
    "getitem(advanced)": _getitem_advanced,
    "concatenate": _concatenate,
    "stack": _stack,
    "pad": _pad,
    "einsum": _einsum,
    "broadcast_to": _broadcast_to,
    "squeeze": _squeeze,
    "expand_dims": _expand_dims,
}
# the domain a fresh leaf needs for the op to apply to it
FRESH_KIND = {"log": "positive", "sqrt": "positive", "power": "positive"}
NAMES = list(OPS)


def build(seed: int, first: str | None = None) -> Program:
    """A program of 5-10 ops (after ``first``, if given, applied to a fresh leaf)."""
    p = Program(seed)
    for _ in range(p.rng.integers(1, 3)):
        p.leaf(p.shape(min_dims=1))
    if first is not None:
        for _ in range(100):
            v = p.leaf(p.shape(min_dims=1), FRESH_KIND.get(first, "real"))
            out = OPS[first](p, v)
            if out is not None:
                p.values.append(out)
                p.ops.append(first)
                break
        else:
            raise AssertionError(f"op {first!r} never applied to a fresh leaf: its domain check too strict")
    target = len(p.ops) + int(p.rng.integers(5, 11))
    for _ in range(500):
        if len(p.ops) >= target:
            break
        name = NAMES[p.rng.integers(len(NAMES))]
        out = OPS[name](p, p.pick())
        if out is not None:
            p.values.append(out)
            p.ops.append(name)
    assert len(p.ops) >= target, f"only {len(p.ops)} ops applied: {p.ops}"
    return p


def losses(p: Program):
    """A random weighting of every value: every leaf and intermediate feeds the loss."""
    ours, theirs = 0.0, 0.0
    for v in p.values:
        w = p.rng.standard_normal(v.shape)
        ours = ours + (v.ours * ad.tensor(w)).sum()
        theirs = theirs + (v.theirs * torch.as_tensor(w)).sum()
    return ours, theirs


def _dense(t):
    # torch may answer a second derivative with a "ZeroTensor", which has no storage to read
    return torch.zeros(t.shape, dtype=torch.float64).add(t.detach())


def assert_close(ours, theirs, what: str) -> None:
    want = np.zeros(()) if theirs is None else _dense(theirs).numpy()
    got = np.zeros(()) if ours is None else ours.numpy()
    got = np.broadcast_to(got, want.shape) if ours is None else got
    want = np.broadcast_to(want, got.shape) if theirs is None else want
    assert got.shape == want.shape, f"{what}: shape {got.shape}, torch {want.shape}"
    scale = 1.0 + (np.max(np.abs(want)) if want.size else 0.0)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def describe(p: Program) -> str:
    return f"ops: {' -> '.join(p.ops)}; leaf shapes: {[v.shape for v in p.leaves]}"


def check_first_order(p: Program) -> None:
    loss, tloss = losses(p)
    assert_close(loss, tloss, f"loss value; {describe(p)}")
    loss.backward()
    tloss.backward()
    for i, leaf in enumerate(p.leaves):
        assert leaf.ours.grad is not None, f"leaf {i} got no gradient; {describe(p)}"
        assert leaf.ours.grad.shape == leaf.shape and leaf.ours.grad.dtype == np.float64
        assert_close(leaf.ours.grad, leaf.theirs.grad, f"gradient of leaf {i}; {describe(p)}")


def check_second_order(p: Program) -> None:
    loss, tloss = losses(p)
    ours_leaves = [v.ours for v in p.leaves]
    torch_leaves = [v.theirs for v in p.leaves]
    grads = ad.gradients(loss, ours_leaves, create_graph=True)
    tgrads = torch.autograd.grad(tloss, torch_leaves, create_graph=True)
    for i, (g, tg) in enumerate(zip(grads, tgrads, strict=True)):
        assert_close(g, tg, f"first derivative (create_graph) of leaf {i}; {describe(p)}")
    # a random projection of the gradient, differentiated again: a Hessian-vector product
    s, ts = 0.0, 0.0
    for g, tg in zip(grads, tgrads, strict=True):
        w = p.rng.standard_normal(g.shape)
        s = s + (g * ad.tensor(w)).sum()
        ts = ts + (tg * torch.as_tensor(w)).sum()
    assert_close(s, ts, f"projected gradient; {describe(p)}")
    if isinstance(s, ad.Tensor) and s.requires_grad:
        second = ad.gradients(s, ours_leaves, allow_unused=True)
    else:
        second = [None] * len(ours_leaves)
    if ts.requires_grad:
        tsecond = torch.autograd.grad(ts, torch_leaves, allow_unused=True)
    else:
        tsecond = [None] * len(torch_leaves)
    for i, (h, th, leaf) in enumerate(zip(second, tsecond, p.leaves, strict=True)):
        h = h if h is not None else ad.zeros(leaf.shape)
        th = th if th is not None else torch.zeros(leaf.shape, dtype=torch.float64)
        assert_close(h, th, f"second derivative of leaf {i}; {describe(p)}")


SEEDS = list(range(30))


@pytest.mark.parametrize("seed", SEEDS)
def test_random_program_gradients_match_torch(seed):
    check_first_order(build(seed))


@pytest.mark.parametrize("seed", SEEDS[::3])
def test_random_program_second_derivatives_match_torch(seed):
    check_second_order(build(seed))


def _seed_of(name: str) -> int:
    return zlib.crc32(name.encode())


@pytest.mark.parametrize("name", NAMES)
def test_each_op_leading_a_random_program_matches_torch(name):
    check_first_order(build(_seed_of(name), first=name))


@pytest.mark.parametrize("name", NAMES)
def test_each_op_leading_a_random_program_matches_torch_in_second_order(name):
    check_second_order(build(_seed_of(name) + 1, first=name))


def test_the_random_programs_mix_many_ops():
    used = set()
    for seed in SEEDS:
        p = build(seed)
        assert 5 <= len(p.ops) <= 10
        used.update(p.ops)
    assert len(used) >= len(NAMES) * 2 // 3, sorted(set(NAMES) - used)
