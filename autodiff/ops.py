"""Every differentiable op: the numpy forward and, beside it, one rule per operand.

A rule is ``rule(g, out, *operands)`` and returns the gradient for its operand
(see :func:`autodiff.tensor.op`). Rules are written with numpy functions and
array methods only, so they run on arrays (ordinary backward) and on Tensors
(``create_graph=True``) alike; the engine reduces broadcast gradients to each
operand's shape, so no rule thinks about broadcasting.

Conventions at points where an op is not differentiable (the value a rule gives):

* ``relu``, ``leaky_relu`` at 0: the left derivative (0, resp. ``negative_slope``).
* ``abs`` at 0: 0 (``sign(0)``).
* ``maximum``/``minimum`` on ties: the gradient is split equally between both operands.
* ``max``/``min`` reductions on ties: the gradient is split equally among the tied elements.
* ``clip`` at a bound: the gradient goes to ``x`` (as PyTorch's ``clamp``).
* ``gelu`` is the tanh approximation (PyTorch's ``approximate="tanh"``), a composite.

Composite ops (``var``, ``gelu``, ``stack``, ``split``, ``flatten``, ``squeeze``,
``expand_dims``, ``swapaxes``) carry no rule of their own.
"""

from __future__ import annotations

import builtins
import inspect
import math
import operator
import string
from typing import Any, Sequence

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from . import grad_mode
from .tensor import Tensor, _carries_tangent, _handed_out, _refuse_masked, _wrap, op

_mode = grad_mode._state


def _array_out():
    """``out=`` for a ufunc call whose 0-d result should stay an array: ``...`` from numpy 2.3.

    NOTE: without it, a ufunc gives a numpy scalar for 0-d operands, which the op's wrapper
    turns back into an array (0.13 µs: a loss's additions and sums are all 0-d); the keyword
    costs 0.02 µs where the result has axes (square's, whose operand is rarely 0-d, goes
    without)."""
    try:
        np.add(0, 0, out=...)
    except TypeError:  # numpy before 2.3: a scalar, converted by the wrapper
        return None
    return ...


_ARRAY = _array_out()


def _tensor(x: Any) -> Tensor:
    if isinstance(x, Tensor):
        return x
    _refuse_masked(x, "an op")
    array = np.asarray(x)
    return _wrap(array, array)  # the caller's array: read-only while saved (views of it are made)


def _axes(axis, ndim: int) -> tuple:
    """Normalise ``axis`` (None, int or tuple; negative allowed) to sorted non-negative ints.

    Raises numpy's AxisError for an axis out of range, as numpy does.
    """
    if axis is None:
        return tuple(range(ndim))
    return tuple(sorted(normalize_axis_tuple(axis, ndim)))


def _keep_shape(shape: tuple, axis) -> tuple:
    """The shape a reduction over ``axis`` has with keepdims=True."""
    if axis is None:
        return (1,) * len(shape)
    axes = _axes(axis, len(shape))
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _negative_axes(axis, ndim: int) -> tuple:
    """``axis`` counted from the end: the same axes when tangents carry leading batch axes."""
    return tuple(a - ndim for a in _axes(axis, ndim))


_FILL = 4096  # below this many elements _expand fills an array


def _expand(g, shape: tuple, like=None):
    """``np.broadcast_to(g, shape)`` where ``g`` has ``shape``'s rank and 1 on the axes to fill;
    an array filled here takes the memory order of ``like`` (an array of ``shape``), if given.

    NOTE: numpy's broadcast_to costs ~2 µs in Python (~10 on a slow machine); a zero-stride
    view made by the ndarray constructor ~1.3 µs, read-only as numpy's; filling a new array
    costs less than either below ~4096 elements (0.55 µs for 1024).
    """
    if type(g) is not np.ndarray:
        return np.broadcast_to(g, shape)
    if math.prod(shape) < _FILL:
        filled = np.empty(shape, g.dtype) if like is None else np.empty_like(like, g.dtype)
        filled[...] = g
        return filled
    if not g.flags.c_contiguous:
        return np.broadcast_to(g, shape)
    strides = tuple(0 if n == 1 else stride for n, stride in zip(g.shape, g.strides, strict=True))
    view = np.ndarray(shape, g.dtype, g, 0, strides)
    view.flags.writeable = False
    return view


def _unreduce(g, x, axis):
    """Spread a reduction's gradient back over the reduced axes of its operand ``x``.

    NOTE: a filled array takes ``x``'s memory order: a sum of a parameter stored transposed
    (``Linear``'s weight) then gives it a gradient in its own layout, and the products and
    sums on the way run on like layouts (mixed, they stride: 3x slower at 16 x 16).
    """
    shape = x.shape
    if axis is None and type(g) is np.ndarray and math.prod(shape) < _FILL:
        filled = np.empty_like(x, g.dtype)  # one value everywhere (as _expand, in fewer calls)
        filled[...] = g
        return filled
    return _expand(g.reshape(_keep_shape(shape, axis)), shape, x if type(x) is np.ndarray else None)


# --------------------------------------------------------------- arithmetic
def _pass(g, out, *_):
    return g


def _negate(g, out, *_):
    return -g


# Rules that capture nothing are module constants: an op then allocates no
# function objects, which keeps the garbage collector's work per node small.
_ADD = (_pass, _pass)
_SUBTRACT = (_pass, _negate)
_MULTIPLY = (lambda g, out, x, y: g * y, lambda g, out, x, y: g * x)
# 2 (g x) to the bit, the two products' sum; x + x is 2 x to the bit, and cheaper (numpy
# converts a Python number on every call)
_SQUARE = lambda g, out, x: g * (x + x)
_DIVIDE = (lambda g, out, x, y: g / y, lambda g, out, x, y: -g * out / y)
def _power_grad_x(g, out, x, y):
    if type(y) in (int, float):
        if y == 2:
            return _SQUARE(g, out, x)  # no second power op (matters at higher order)
        if y == 0:
            return np.where(True, 0, g)  # x ** 0 is constant: zeros, where y x ** -1 is 0 inf at 0
    elif np.any(both := (y == 0) & (x == 0)):
        # 0 where base and exponent are 0 (0 inf, else): elsewhere the formula, whose
        # derivative in y is right also at y = 0
        return np.where(both, 0, g * y * x ** np.where(both, 1, y - 1))
    return g * y * x ** (y - 1)


def _power_grad_y(g, out, x, y):
    # the log in the output's precision: a float32 base under a float64 exponent
    return g * out * np.log(np.where(x == 0, 1, x).astype(out.dtype))


_POWER = (_power_grad_x, _power_grad_y)


@op(saves=None, symmetric=True)
def add(x, y):
    """Elementwise ``x + y`` with broadcasting."""
    return np.add(x, y, out=_ARRAY), _ADD


@op(saves=None, symmetric=True)
def subtract(x, y):
    """Elementwise ``x - y`` with broadcasting."""
    return np.subtract(x, y, out=_ARRAY), _SUBTRACT


@op(name="multiply", saves="others", symmetric=True)
def _multiply(x, y, /):
    return np.multiply(x, y, out=_ARRAY), _MULTIPLY


def multiply(x, y):
    """Elementwise ``x * y`` with broadcasting; ``x * x`` is :func:`square`."""
    # NOTE: a tensor times itself is one operand with one rule, not two rules whose
    # gradients the sweep adds (p * p in every L2 penalty: a rule call and a sum less)
    return square(x) if x is y else _multiply(x, y)


@op(saves="inputs", symmetric=True)
def square(x):
    """Elementwise ``x * x``."""
    return np.square(x), _SQUARE


@op(symmetric=True)
def divide(x, y):
    """Elementwise ``x / y`` with broadcasting."""
    return np.true_divide(x, y), _DIVIDE


@op(symmetric=True)
def power(x, y):
    """Elementwise ``x ** y``. The gradient in ``y`` at ``x == 0`` is taken as 0."""
    return np.power(x, y), _POWER


@op(saves=None, symmetric=True)
def negative(x):
    """Elementwise ``-x``."""
    return np.negative(x), _negate


def _transposed(a) -> bool:
    """True for a matrix stored transposed (``W.T`` of a C-ordered ``W``, as ``Linear`` uses)."""
    return type(a) is np.ndarray and a.ndim == 2 and a.flags.f_contiguous and not a.flags.c_contiguous


# A matrix operand stored transposed gets its gradient stored the same way, at no cost
# (the product of the transposes, transposed): a parameter's gradient then has the
# parameter's layout, and the optimiser's elementwise update runs at memory speed
# instead of striding across it (12x slower for a 2048 x 2048 float32 weight).
def _matmul_grad_x(g, out, x, y):
    if y.ndim == 1:
        return g * y if x.ndim == 1 else np.expand_dims(g, -1) * y
    if x.ndim == 1:
        return np.matmul(y, np.expand_dims(g, -1))[..., 0]
    if _transposed(x) and g.ndim == 2:
        return np.matmul(y, g.T).T
    return np.matmul(g, y.swapaxes(-1, -2))  # the method: np.swapaxes adds a Python layer


def _matmul_grad_y(g, out, x, y):
    if x.ndim == 1:
        return g * x if y.ndim == 1 else np.expand_dims(x, -1) * np.expand_dims(g, -2)
    if y.ndim == 1:
        return np.matmul(np.swapaxes(x, -1, -2), np.expand_dims(g, -1))[..., 0]
    if _transposed(y) and g.ndim == 2:
        return np.matmul(g.T, x).T
    return np.matmul(x.swapaxes(-1, -2), g)


def _lift(t, x, extra: int):
    """A tangent of ``x`` with ``extra`` unit axes between its batch axes and ``x``'s own axes,
    so that a batch of directions lines up with the other operand's broadcast axes."""
    lead = t.ndim - x.ndim
    return t.reshape(t.shape[:lead] + (1,) * extra + x.shape) if lead and extra > 0 else t


def _matmul_tangent_x(t, out, x, y):
    if x.ndim == 1 and t.ndim > 1 and y.ndim > 2:  # a batch of row vectors against a stack of matrices
        return np.matmul(t.reshape(t.shape[:-1] + (1,) * (y.ndim - 1) + t.shape[-1:]), y)[..., 0, :]
    if x.ndim >= 2:
        t = _lift(t, x, y.ndim - x.ndim)
    return np.matmul(t, y)


def _matmul_tangent_y(t, out, x, y):
    if y.ndim == 1 and t.ndim > 1:  # a batch of vector tangents: columns of a matrix
        column = t.reshape(t.shape[:-1] + (1,) * builtins.max(x.ndim - 2, 0) + t.shape[-1:] + (1,))
        return np.matmul(x, column)[..., 0]
    return np.matmul(x, _lift(t, y, x.ndim - y.ndim) if y.ndim >= 2 else t)


_MATMUL = (_matmul_grad_x, _matmul_grad_y)
_MATMUL_TANGENTS = (_matmul_tangent_x, _matmul_tangent_y)


@op(saves="others", tangents=True, batched=True)
def matmul(x, y):
    """Matrix product with numpy's rules for 1-d operands and batch broadcasting."""
    return np.matmul(x, y), _MATMUL, _MATMUL_TANGENTS


def _shape(a) -> tuple:
    """``np.shape(a)`` without numpy's dispatch to ``Tensor.__array_function__`` (2 µs a call)."""
    return a.shape if isinstance(a, (Tensor, np.ndarray)) else np.shape(a)


def linear(x, weight, bias=None):
    """The affine map ``x @ weight.T + bias`` (PyTorch's ``F.linear``); ``weight`` is (out, in).

    NOTE: one op with its own rules rather than transpose, matmul and add: a layer is then
    one node instead of three (a third of the bookkeeping of a small network's step), and
    the bias is added in place.
    """
    w = weight._data if isinstance(weight, Tensor) else weight  # a tensor's array: its shape with no call
    b = bias._data if isinstance(bias, Tensor) else bias
    if (w.ndim if type(w) is np.ndarray else np.ndim(w)) != 2 or (
            b is not None and (b.ndim if type(b) is np.ndarray else np.ndim(b)) > 1):
        raise ValueError(
            f"linear: weight must be a matrix (out_features, in_features) and bias a vector "
            f"(out_features,), got shapes {_shape(weight)} and {_shape(bias)}; for other shapes "
            "write x @ weight.T + bias"
        )
    if bias is None:
        if _shape(x)[-1:] != _shape(weight)[1:]:  # matmul's error would name matmul and weight.T
            raise ValueError(f"linear: input of shape {_shape(x)} for a weight of shape {_shape(weight)} "
                             f"(out_features, in_features): the input's last axis must be in_features")
        return matmul(x, transpose(weight))
    return _linear(x, weight, bias)


def _linear_grad_x(g, out, x, w, b):
    return np.matmul(g, w)


def _linear_grad_w(g, out, x, w, b):
    if x.ndim == 1:
        return np.expand_dims(g, -1) * x
    if x.ndim > 2:
        g, x = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])  # leading axes as one
    if _transposed(w):  # the gradient in the weight's layout (see _matmul_grad_x)
        return np.matmul(x.T, g).T
    return np.matmul(g.T, x)


def _linear_grad_b(g, out, x, w, b):
    if g.ndim == 1:
        return g
    if g.ndim == 2 and type(g) is np.ndarray:
        return _column_sums(g)
    return g.sum(axis=tuple(range(g.ndim - 1)))


_ONES: dict = {}  # dtype -> a vector of ones, as long as the longest column summed yet


def _column_sums(g: np.ndarray) -> np.ndarray:
    """``g.sum(axis=0)`` of a matrix: a product with a vector of ones for float32 and float64.

    NOTE: numpy reduces over the leading axis row by row, slowly for few columns; BLAS's
    matrix-vector product does not (float64: 1.1 vs 2.4 µs for 100 x 16, 2.8 vs 23 µs for
    1000 x 16). Both add each column in working precision, in different orders.
    """
    if g.dtype.char not in "fd":  # BLAS's types
        return np.add.reduce(g, axis=0)
    n = g.shape[0]
    ones = _ONES.get(g.dtype)
    if ones is None or len(ones) < n:
        ones = _ONES[g.dtype] = np.ones(n, g.dtype)
    return np.matmul(ones[:n] if len(ones) > n else ones, g)


def _linear_tangent_x(t, out, x, w, b):
    return np.matmul(t, w.swapaxes(-1, -2))


def _linear_tangent_w(t, out, x, w, b):
    # a batch of weight directions against every row of x (which may have leading axes)
    return np.matmul(x, np.swapaxes(_lift(t, w, builtins.max(np.ndim(x) - 2, 0)), -1, -2))


def _linear_tangent_b(t, out, x, w, b):
    return _lift(t, b, np.ndim(out) - np.ndim(b))  # a vector or a 0-d bias


_LINEAR = (_linear_grad_x, _linear_grad_w, _linear_grad_b)
_LINEAR_TANGENTS = (_linear_tangent_x, _linear_tangent_w, _linear_tangent_b)


@op(name="linear", saves=(0, 1), tangents=True, batched=True)
def _linear(x, weight, bias, /):
    out = np.matmul(x, np.asarray(weight).T)
    if type(out) is np.ndarray and (getattr(bias, "dtype", None) is out.dtype  # the usual case, quickly
                                    or np.result_type(out, bias) == out.dtype):  # bias has at most 1 axis
        np.add(out, bias, out=out)  # a new array: adding in place saves a pass over memory
    else:
        out = out + bias
    return out, _LINEAR, _LINEAR_TANGENTS


# ------------------------------------------------------------- elementwise
_BITS = {2: np.int16, 4: np.int32, 8: np.int64}
_BOOL = np.dtype(bool)


def _select(keep, g, in_place: bool = False):
    """``g`` where ``keep`` holds, else 0: ``np.where(keep, g, 0)`` to the bit; written into
    ``g`` if ``in_place`` (when the array is large enough for that to matter).

    NOTE: np.where branches per element and mispredicts on a mask like relu's: from a
    couple of hundred elements, multiplying ``g``'s bits, as integers, by the boolean mask
    is faster (on masks that differ from call to call, as in training: 2.6 vs 7.9 µs at
    1600 elements, 5x at 65,536) and exact: the bits are kept or become +0.0, even where
    ``g`` is inf or nan (``g * keep`` would give nan there). Only for a boolean ``keep``:
    a condition of other values (2, 0.5) must be taken by its truth, as np.where does.
    """
    if type(g) is np.ndarray and type(keep) is np.ndarray and g.size >= 256 and g.shape == keep.shape:
        ints = _BITS.get(g.dtype.itemsize) if g.dtype.kind == "f" else None
        if ints is not None and keep.dtype is _BOOL:
            bits = g.view(ints)
            if in_place:
                np.multiply(bits, keep, out=bits)
                return g
            return np.multiply(bits, keep).view(g.dtype)
    return np.where(keep, g, 0)


_EXP = lambda g, out, x: g * out
_LOG = lambda g, out, x: g / x
_SQRT = lambda g, out, x: g * 0.5 / out
_ABS = lambda g, out, x: g * np.sign(x)
_SIN = lambda g, out, x: g * np.cos(x)
_COS = lambda g, out, x: -g * np.sin(x)
_TANH = lambda g, out, x: g * (1 - out * out)
_SIGMOID = lambda g, out, x: g * out * (1 - out)
_RELU = lambda g, out, x: _select(out > 0, g)
_RELU.in_place = lambda g, out, x: _select(out > 0, g, in_place=True)  # see backward._run


@op(saves="out", symmetric=True)
def exp(x):
    """Elementwise ``e ** x``."""
    return np.exp(x), _EXP


@op(saves="inputs", symmetric=True)
def log(x):
    """Elementwise natural logarithm."""
    return np.log(x), _LOG


@op(saves="out", symmetric=True)
def sqrt(x):
    """Elementwise square root."""
    return np.sqrt(x), _SQRT


@op(saves="inputs", symmetric=True)
def abs(x):
    """Elementwise absolute value; its gradient at 0 is 0."""
    return np.abs(x), _ABS


@op(saves="inputs", symmetric=True)
def sin(x):
    """Elementwise sine."""
    return np.sin(x), _SIN


@op(saves="inputs", symmetric=True)
def cos(x):
    """Elementwise cosine."""
    return np.cos(x), _COS


@op(saves="out", symmetric=True)
def tanh(x):
    """Elementwise hyperbolic tangent."""
    return np.tanh(x), _TANH


@op(saves="out", symmetric=True)
def sigmoid(x):
    """Elementwise logistic function ``1 / (1 + e ** -x)``, accurate for large ``|x|``."""
    x = np.asarray(x)
    if x.dtype.kind in "biu":  # as scipy's expit (numpy has no -x for booleans)
        x = x.astype(np.float64)
    e = np.exp(-np.abs(x))  # never overflows
    r = 1 / (1 + e)
    return np.where(x >= 0, r, e * r), _SIGMOID


@op(saves="out", symmetric=True)
def relu(x):
    """Elementwise ``max(x, 0)``; its gradient at 0 is 0."""
    return np.maximum(x, 0), _RELU


@op(saves="inputs", symmetric=True)
def leaky_relu(x, negative_slope: float = 0.01):
    """Elementwise ``x if x > 0 else negative_slope * x``."""
    return (
        np.where(x > 0, x, x * negative_slope),
        lambda g, out, x: np.where(x > 0, g, g * negative_slope),
    )


def _softplus_grad(g, out, x):
    # the derivative sigmoid(x) as exp(-softplus(-x)), whose exponent is <= 0 (exp(x - out)
    # is nan at x = inf); on tensors, for higher orders, the op
    return g * (sigmoid(x) if isinstance(x, Tensor) else np.exp(-np.logaddexp(0, -x)))


@op(saves="inputs", symmetric=True)
def softplus(x):
    """Elementwise ``log(1 + e ** x)``, computed without overflow."""
    return np.logaddexp(0, x), _softplus_grad


def gelu(x):
    """GELU, tanh approximation: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    x = _tensor(x)
    return 0.5 * x * (1 + tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)))


def clip(x, a_min=None, a_max=None):
    """Limit values to ``[a_min, a_max]`` (either may be None); at a bound the gradient goes to ``x``."""
    return _clip(x, a_min, a_max)


# np.clip is minimum(maximum(x, lo), hi): where lo > hi every value is hi, and hi's the gradient
def _clip_grad_x(g, out, x, lo, hi):
    keep = True
    if lo is not None:
        keep = keep & (x >= lo)
    if hi is not None:
        keep = keep & (x <= hi)
    return _select(keep, g)


def _clip_grad_lo(g, out, x, lo, hi):
    return _select(x < lo if hi is None else (x < lo) & (lo <= hi), g)


def _clip_grad_hi(g, out, x, lo, hi):
    return _select(x > hi if lo is None else (x > hi) | (lo > hi), g)


_CLIP = (_clip_grad_x, _clip_grad_lo, _clip_grad_hi)


@op(name="clip", saves="inputs", symmetric=True)
def _clip(x, a_min, a_max):
    return np.clip(x, a_min, a_max), _CLIP


def _tie_split(g, x, y):
    # gradient of maximum/minimum for the operand x: all where x wins, half on a tie
    return np.where(x == y, g * 0.5, g)


@op(saves="inputs", symmetric=True)
def maximum(x, y):
    """Elementwise maximum; on ties the gradient is split equally.

    Examples
    --------
    >>> import autodiff as ad
    >>> x = ad.tensor([1.0, 5.0], requires_grad=True)
    >>> ad.maximum(x, 1.0).sum().backward()
    >>> x.grad
    Tensor([0.5, 1. ])
    """
    return np.maximum(x, y), (
        lambda g, out, x, y: _select(x >= y, _tie_split(g, x, y)),
        lambda g, out, x, y: _select(y >= x, _tie_split(g, x, y)),
    )


@op(saves="inputs", symmetric=True)
def minimum(x, y):
    """Elementwise minimum; on ties the gradient is split equally."""
    return np.minimum(x, y), (
        lambda g, out, x, y: _select(x <= y, _tie_split(g, x, y)),
        lambda g, out, x, y: _select(y <= x, _tie_split(g, x, y)),
    )


@op(saves=(0,), symmetric=True)  # the rules read the condition alone
def where(condition, x, y):
    """Choose ``x`` where ``condition`` holds, else ``y`` (numpy's three-argument ``where``)."""
    return np.where(condition, x, y), (
        None,
        lambda g, out, c, x, y: _select(c, g),
        lambda g, out, c, x, y: _select(np.logical_not(c), g),
    )


@op(saves=None, symmetric=True)
def astype(x, /, dtype):
    """Cast to ``dtype``; the gradient is cast back."""
    return np.asarray(x).astype(dtype), _pass


@op(saves=None, symmetric=True)
def copy(x):
    """A copy in memory of its own (PyTorch's ``clone``); the gradient passes through."""
    return np.array(x, copy=True), _pass


# --------------------------------------------------------------- reductions
@op(saves=None, tangents=True, batched=True)
def sum(x, axis=None, keepdims: bool = False):
    """Sum over ``axis`` (all axes by default)."""
    # NOTE: np.add.reduce is np.sum without its Python layer (0.7 vs 1.9 us on 256 elements)
    total = np.add.reduce(x, axis=axis, keepdims=keepdims, out=_ARRAY)
    if axis is None and not keepdims:  # the usual sum of everything: rules made once
        return total, _SUM_ALL, _SUM_ALL_TANGENT
    return (total, lambda g, out, x: _unreduce(g, x, axis),
            lambda t, out, x: np.sum(t, axis=_negative_axes(axis, x.ndim), keepdims=keepdims))


_SUM_ALL = lambda g, out, x: _unreduce(g, x, None)
_SUM_ALL_TANGENT = lambda t, out, x: np.sum(t, axis=tuple(range(-x.ndim, 0)))


@op(saves=None, tangents=True, batched=True)
def mean(x, axis=None, keepdims: bool = False):
    """Arithmetic mean over ``axis``: numpy's value (the sum divided by the count)."""
    # NOTE: one op, not sum and a product: a node less in every loss that averages.
    # As numpy's mean, integers and booleans sum in float64, float16 in float32 (cast back)
    x = np.asarray(x)
    wide = np.float64 if x.dtype.kind in "biu" else np.float32 if x.dtype == np.float16 else None
    total = np.add.reduce(x, axis=axis, keepdims=keepdims, dtype=wide)  # an array or a numpy scalar
    n = x.size // builtins.max(total.size, 1)
    if not n:  # an empty reduction: nan, as numpy's (without its warning)
        n = math.nan
    out = total / n  # the operator: np.true_divide makes a 0-d array of a scalar first (0.8 vs 0.05 µs)
    if x.dtype == np.float16:
        out = out.astype(np.float16)
    return (out,
            lambda g, out, x: _unreduce(g / n, x, axis),
            lambda t, out, x: np.sum(t, axis=_negative_axes(axis, x.ndim), keepdims=keepdims) / n)


def _extreme(name: str, reduce):
    @op(name=name, tangents=True, batched=True)
    def extreme(x, axis=None, keepdims: bool = False):
        def share(x, out, dtype):
            # 1/count at the tied extremes, 0 elsewhere (keepdims shape)
            tied = x == out.reshape(_keep_shape(x.shape, axis))
            return np.where(tied, 1 / tied.sum(axis=axis, keepdims=True).astype(dtype), 0)

        def rule(g, out, x):
            return g.reshape(_keep_shape(x.shape, axis)) * share(x, out, g.dtype)

        def tangent(t, out, x):
            return np.sum(t * share(x, out, t.dtype), axis=_negative_axes(axis, x.ndim), keepdims=keepdims)

        return reduce(x, axis=axis, keepdims=keepdims), rule, tangent

    extreme.__doc__ = f"{name.capitalize()} over ``axis``; ties share the gradient equally."
    return extreme


max = _extreme("max", np.maximum.reduce)  # np.max without its Python layer
min = _extreme("min", np.minimum.reduce)


def var(x, axis=None, ddof: int = 0, keepdims: bool = False):
    """Variance over ``axis`` with ``ddof`` delta degrees of freedom (numpy's definition)."""
    x = _tensor(x)
    n = x.size if axis is None else math.prod(x.shape[a] for a in normalize_axis_tuple(axis, x.ndim))
    # as numpy's var: the mean of integers in float64, of floats in their dtype (float16
    # too, unlike numpy's mean); the divisor max(n - ddof, 0), a Python number
    m = mean(x, axis=axis, keepdims=True) if x.dtype.kind in "biu" else \
        sum(x, axis=axis, keepdims=True) / (n or math.nan)
    d = x - m
    return sum(d * d, axis=axis, keepdims=keepdims) / builtins.max(n - float(ddof), 0)


def std(x, axis=None, ddof: int = 0, keepdims: bool = False):
    """Standard deviation over ``axis``; its gradient is 0 where it is 0 (as PyTorch's)."""
    return _root_of_variance(var(x, axis=axis, ddof=ddof, keepdims=keepdims))


# sqrt's gradient g / (2 out) is infinite where the variance is 0, and the variance's own
# gradient 0 there (every element at the mean): 0 * inf would be nan. The gradient is taken
# as 0 there; the inner where keeps inf out of the branch not taken (and its derivatives).
_STD = lambda g, out, v: np.where(out == 0, 0, g * 0.5 / np.where(out == 0, 1, out))


@op(name="std", saves="out", symmetric=True)
def _root_of_variance(v):
    return np.sqrt(v), _STD


@op(tangents=True, batched=True)
def prod(x, axis=None, keepdims: bool = False):
    """Product over ``axis``; exact gradients also where elements are zero."""

    def others(x):
        # d prod / d x_i is the product of the others in x_i's slice
        if isinstance(x, Tensor):
            return _product_of_others(x, axis)
        return _product_of_others_array(x, axis)

    return (
        np.prod(x, axis=axis, keepdims=keepdims),
        lambda g, out, x: g.reshape(_keep_shape(x.shape, axis)) * others(x),
        lambda t, out, x: np.sum(t * others(x), axis=_negative_axes(axis, x.ndim), keepdims=keepdims),
    )


def _product_of_others_array(x: np.ndarray, axis) -> np.ndarray:
    """For each element, the product of the others in its slice along ``axis``.

    NOTE: not ``out / x_i``: that is wrong where the slice holds a zero, and where the whole
    product underflows or overflows while the product of the others does not (float32
    [1e-38, 3e-8, 2, ...] has a product of 0). The product of the elements before x_i times
    the product of those after it (two cumulative products) is exact at zeros and
    over- or underflows only when a partial product does.
    """
    reduced = _axes(axis, x.ndim)
    order = [a for a in range(x.ndim) if a not in reduced] + list(reduced)
    moved = np.transpose(x, order)
    kept = x.ndim - len(reduced)
    # the row length spelled out: numpy cannot infer a -1 beside an axis of length 0
    rows = moved.reshape(moved.shape[:kept] + (math.prod(moved.shape[kept:]),))
    before, after = np.ones_like(rows), np.ones_like(rows)
    np.cumprod(rows[..., :-1], axis=-1, out=before[..., 1:])
    np.cumprod(rows[..., :0:-1], axis=-1, out=after[..., -2::-1])
    return np.transpose((before * after).reshape(moved.shape), np.argsort(order))


def _product_of_others(x: Tensor, axis) -> Tensor:
    """For each element, the product of the others in its slice along ``axis``, on tensors.

    NOTE: not the array formula's cumulative products, which have no rule here. This is
    the product with x_i replaced by 1: a polynomial in x, so every derivative of it is
    exact, at zeros too. It costs n² per slice of n elements, and runs only for higher
    derivatives.
    """
    reduced = _axes(axis, x.ndim)
    perm = [a for a in range(x.ndim) if a not in reduced] + list(reduced)
    moved = transpose(x, perm)
    n = math.prod(moved.shape[x.ndim - len(reduced):])
    rows = reshape(moved, moved.shape[: x.ndim - len(reduced)] + (1, n))
    products = prod(where(np.eye(n, dtype=bool), 1.0, rows), axis=-1)
    return transpose(reshape(products, moved.shape), np.argsort(perm))


def _max_kept(x, axis):
    """``np.max(x, axis, keepdims=True)``, the shift that keeps exp from overflowing; zeros for
    an ``x`` of no elements, which needs none, and has none over an empty axis (numpy's max
    raises there: no identity)."""
    try:
        return np.max(x, axis=axis, keepdims=True)
    except ValueError:
        if np.size(x):
            raise
        return np.zeros_like(x, shape=_keep_shape(x.shape, axis))  # x's dtype, as a max would have


def _log_sum_exp_kept(z, axis):
    """``log(sum(exp(z)))`` over ``axis`` with keepdims; -inf over no elements (as torch's and
    scipy's), without numpy's warning at the log of their sum, 0."""
    total = np.sum(np.exp(z), axis=axis, keepdims=True)
    if z.size:
        return np.log(total)
    with np.errstate(divide="ignore"):
        return np.log(total)


@op(tangents=True, batched=True)
def logsumexp(x, axis=None, keepdims: bool = False):
    """``log(sum(exp(x)))`` over ``axis``, without overflow."""
    # NOTE: own rule for stability: the composite would overflow in exp for large x.
    m = _max_kept(x, axis)
    m = np.where(np.isfinite(m), m, 0)
    out = _log_sum_exp_kept(x - m, axis) + m
    if not keepdims:
        out = np.squeeze(out, axis=axis)

    def rule(g, out, x):
        keep = _keep_shape(x.shape, axis)
        return g.reshape(keep) * np.exp(x - out.reshape(keep))

    def tangent(t, out, x):
        softmax = np.exp(x - out.reshape(_keep_shape(x.shape, axis)))
        return np.sum(t * softmax, axis=_negative_axes(axis, x.ndim), keepdims=keepdims)

    return out, rule, tangent


@op(saves="out", symmetric=True)
def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` over ``axis`` (an int, a tuple of them, or None: all axes)."""
    # NOTE: own rule: the composite's graph would be larger and less stable.
    # the axes as a tuple (numpy's reductions take one at the cost of an int), counted from
    # the end: also right for tangents with batch axes
    axis = _negative_axes(axis, np.ndim(x))
    e = np.exp(x - _max_kept(x, axis))
    out = e / np.sum(e, axis=axis, keepdims=True)
    return out, lambda g, out, x: out * (g - (g * out).sum(axis=axis, keepdims=True))


@op(saves="out", tangents=True, batched=True)
def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` over ``axis`` (an int, a tuple of them, or None: all axes)."""
    # NOTE: own rule for stability (no log of an underflowed softmax).
    axis = _negative_axes(axis, np.ndim(x))  # as softmax's
    z = x - _max_kept(x, axis)
    out = z - _log_sum_exp_kept(z, axis)
    return (out, lambda g, out, x: g - np.exp(out) * g.sum(axis=axis, keepdims=True),
            lambda t, out, x: t - (np.exp(out) * t).sum(axis=axis, keepdims=True))


# -------------------------------------------------------------------- shape
def _batch(t, x) -> tuple:
    """The leading batch axes of a tangent ``t`` of operand ``x``."""
    return t.shape[: t.ndim - np.ndim(x)]


@op(saves=None, view=True, tangents=True, batched=True)
def reshape(x, /, shape):
    """Give a new shape (one dimension may be -1)."""
    return (np.asarray(x).reshape(shape), lambda g, out, x: g.reshape(x.shape),
            lambda t, out, x: t.reshape(_batch(t, x) + out.shape))


@op(saves=None, view=True, tangents=True, batched=True)
def transpose(x, axes=None):
    """Permute axes (reverse them by default)."""
    out = np.asarray(x).transpose(axes)  # numpy checks the axes
    if axes is None:  # reversed (x.T): its own inverse
        axes, inverse = tuple(range(np.ndim(x) - 1, -1, -1)), None
    else:
        axes = normalize_axis_tuple(axes, np.ndim(x))
        inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))

    def tangent(t, out, x):
        lead = t.ndim - x.ndim
        return t.transpose(tuple(range(lead)) + tuple(lead + a for a in axes))

    return out, lambda g, out, x: g.transpose(inverse), tangent


def swapaxes(x, axis1: int, axis2: int):
    """Interchange two axes."""
    x = _tensor(x)
    axes = list(range(x.ndim))
    axis1, axis2 = normalize_axis_index(axis1, x.ndim), normalize_axis_index(axis2, x.ndim)
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, tuple(axes))


def flatten(x):
    """The values in one axis: a view where the layout allows (as ``np.ravel`` and PyTorch's
    ``flatten``), not always a copy as ``ndarray.flatten``."""
    return reshape(x, (-1,))


def squeeze(x, axis=None):
    """Remove axes of length one."""
    x = _tensor(x)
    return reshape(x, np.squeeze(x._data, axis).shape)


def expand_dims(x, axis):
    """Insert axes of length one at ``axis`` (int or tuple)."""
    x = _tensor(x)
    return reshape(x, np.expand_dims(x._data, axis).shape)


@op(saves=None, view=True, symmetric=True)
def broadcast_to(x, /, shape):
    """Broadcast to ``shape``; the gradient is summed back over the broadcast axes."""
    return np.broadcast_to(x, shape), _pass


def _index_arrays(index, shape: tuple):
    """Unwrap Tensors and lists in an index into an array of ``shape``; boolean masks
    become their integer indices."""
    if not isinstance(index, tuple):
        index = (index,)
    parts, unwrapped, masked = [], [], False
    for part in index:
        if isinstance(part, (Tensor, np.ndarray)):  # copied: the rules read it at backward(),
            _refuse_masked(part, "an index")
            part = np.array(part._data if isinstance(part, Tensor) else part)  # the caller may write
        elif isinstance(part, slice):  # into it before (i = np.array(0); i += 1); bounds as ints
            bounds = (part.start, part.stop, part.step)
            if not builtins.all(type(b) is int or b is None for b in bounds):
                part = slice(*(None if b is None else operator.index(b) for b in bounds))
        elif isinstance(part, list):
            part = np.asarray(part)
            if not part.size:  # as numpy: an empty list indexes with integers (np.asarray: floats)
                part = part.astype(np.intp)
        unwrapped.append(part)
        if isinstance(part, np.ndarray) and part.dtype == bool and part.ndim:
            parts.extend(np.nonzero(part))
            masked = True
        else:
            parts.append(part)
    if masked:
        # a mask's indices fit any axis at least as long as the mask: numpy's own check that
        # the mask matches the axes it indexes, on an array of no memory (stride 0)
        np.broadcast_to(np.empty((), bool), shape)[tuple(unwrapped)]
    return tuple(parts)


def _is_basic(index: tuple) -> bool:
    """True when indexing gives a view with no repeated element (no integer arrays)."""
    return builtins.all(
        part is None or part is Ellipsis or isinstance(part, slice)
        or (isinstance(part, (int, np.integer)) and not isinstance(part, (bool, np.bool_)))
        for part in index
    )


def _unindex(g, shape: tuple, index: tuple):
    """The adjoint of indexing: ``g`` added into zeros of ``shape`` at ``index``."""
    if isinstance(g, Tensor):
        return _scatter(g, shape, index)
    out = np.zeros(shape, dtype=g.dtype)
    if _is_basic(index):
        out[index] = g
    else:
        np.add.at(out, index, g)  # repeated indices add up
    return out


def _batched(t, x, index: tuple) -> tuple:
    """``index`` for a tangent of ``x`` with leading batch axes."""
    return (slice(None),) * (t.ndim - np.ndim(x)) + index


def _batch_last(t, b: int):
    """``t`` with its ``b`` leading (batch) axes moved to the end."""
    return t.transpose(tuple(range(b, t.ndim)) + tuple(range(b)))


def _batch_first(t, b: int):
    """``t`` with its ``b`` last (batch) axes moved to the front."""
    return t.transpose(tuple(range(t.ndim - b, t.ndim)) + tuple(range(t.ndim - b)))


def _batch_after(index: tuple, b: int) -> tuple:
    """``index`` for an array whose ``b`` batch axes come after the indexed ones."""
    ellipsis = builtins.any(part is Ellipsis for part in index)
    return index + (() if ellipsis else (Ellipsis,)) + (slice(None),) * b


# With batch axes in front, advanced indices that a slice separates would put their axes
# before the batch axes (numpy moves them first): such an index takes the batch axes last.
def _take_batched(t, x, index: tuple):
    """``t[index]`` for a tangent ``t`` of ``x`` with leading batch axes, kept in front."""
    b = t.ndim - np.ndim(x)
    if not b or _is_basic(index):
        return t[_batched(t, x, index)]
    return _batch_first(_batch_last(t, b)[_batch_after(index, b)], b)


def _unindex_batched(t, g, shape: tuple, index: tuple):
    """The adjoint of :func:`_take_batched`: ``t`` (batch axes first) added into zeros of ``shape``."""
    b = t.ndim - np.ndim(g)
    if not b or _is_basic(index):
        return _unindex(t, _batch(t, g) + shape, _batched(t, g, index))
    return _batch_first(_unindex(_batch_last(t, b), shape + _batch(t, g), _batch_after(index, b)), b)


@op(name="index_add", saves=None, tangents=True, batched=True)
def _scatter(g, /, shape, index):
    return (_unindex(g, shape, index), lambda gg, out, g: gg[index],
            lambda t, out, g: _unindex_batched(t, g, shape, index))


def _getitem(x, /, index):
    return (np.asarray(x)[index], lambda g, out, x: _unindex(g, x.shape, index),
            lambda t, out, x: _take_batched(t, x, index))


# basic indexing gives a view (sharing x's lock), advanced indexing a copy (a lock of its own)
_getitem_view = op(name="getitem", saves=None, view=True, tangents=True, batched=True)(_getitem)
_getitem_copy = op(name="getitem", saves=None, tangents=True, batched=True)(_getitem)


def getitem(x, index):
    """``x[index]`` with numpy's basic and advanced indexing; repeated indices add their gradients.

    Examples
    --------
    >>> import autodiff as ad
    >>> x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> x[[0, 0, 2]].sum().backward()
    >>> x.grad
    Tensor([2., 0., 1.])
    """
    index = _index_arrays(index, _shape(x))
    return (_getitem_view if _is_basic(index) else _getitem_copy)(x, index)


@op(name="concatenate", saves=None, tangents=True, batched=True)
def _concatenate(*xs, axis=0):
    out = np.concatenate(xs, axis=axis)  # numpy checks the shapes and the axis
    ax = normalize_axis_index(axis, out.ndim)
    lengths = [np.shape(x)[ax] for x in xs]
    ends = np.cumsum(lengths)
    rules, tangents = [], []
    for k, (start, end) in enumerate(zip(ends - lengths, ends, strict=True)):
        part = (slice(None),) * ax + (slice(int(start), int(end)),)
        rules.append(lambda g, out, *xs, part=part: g[part])
        tangents.append(lambda t, out, *xs, part=part, k=k:
                        _unindex(t, _batch(t, xs[k]) + out.shape, _batched(t, xs[k], part)))
    return out, tuple(rules), tuple(tangents)


def concatenate(arrays: Sequence, axis: int = 0):
    """Join a sequence of tensors along an existing axis (``axis=None``: flattened first, as numpy)."""
    if len(arrays) == 0:
        raise ValueError("concatenate needs at least one tensor")
    if axis is None:
        return _concatenate(*(flatten(a) for a in arrays), axis=0)
    return _concatenate(*arrays, axis=axis)


def stack(arrays: Sequence, axis: int = 0):
    """Join a sequence of same-shaped tensors along a new axis."""
    if len(arrays) == 0:
        raise ValueError("stack needs at least one tensor")
    shapes = {np.shape(a._data if isinstance(a, Tensor) else a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis)


def split(x, indices_or_sections, axis: int = 0) -> list:
    """Split into a list of tensors (as ``np.split``)."""
    x = _tensor(x)
    axis = normalize_axis_index(axis, x.ndim)
    n = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        if indices_or_sections < 1:
            raise ValueError(f"split: the number of sections must be at least 1, got {indices_or_sections}")
        if n % indices_or_sections:
            raise ValueError(f"split: axis of length {n} does not divide into "
                             f"{indices_or_sections} equal parts")
        step = n // indices_or_sections
        bounds = list(range(0, n + 1, step)) if step else [0] * (indices_or_sections + 1)
    else:
        bounds = [0, *indices_or_sections, n]
    lead = (slice(None),) * axis
    return [x[lead + (slice(a, b),)] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


@op(saves=None, tangents=True, batched=True)
def pad(x, /, pad_width, mode: str = "constant", constant_values=0):
    """Pad with a constant (numpy's ``pad`` in ``mode="constant"``); ``pad_width`` may also be
    a dict ``{axis: width or (before, after)}``, as numpy's (the axes not named: no padding)."""
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is differentiable here, got mode={mode!r}")
    if isinstance(pad_width, dict):  # spelled out for every axis: the rules read the widths
        named = {normalize_axis_index(axis, np.ndim(x)): width for axis, width in pad_width.items()}
        pad_width = [np.broadcast_to(named.get(axis, 0), 2).tolist() for axis in range(np.ndim(x))]
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (np.ndim(x), 2))
    inner = tuple(slice(int(b), int(b) + s) for (b, _), s in zip(widths, np.shape(x), strict=True))
    return (np.pad(x, pad_width, mode="constant", constant_values=constant_values),
            lambda g, out, x: g[inner],
            lambda t, out, x: np.pad(t, [(0, 0)] * (t.ndim - x.ndim) + widths.tolist()))


# ------------------------------------------------------------------- einsum
def _einsum_parse(subscripts: str, shapes: list) -> tuple[list, str]:
    """Explicit subscripts for each operand and the output, with ``...`` spelled out."""
    subscripts = subscripts.replace(" ", "")
    ins, arrow, out = subscripts.partition("->")
    terms = ins.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {len(terms)} subscript terms for {len(shapes)} operands")
    spare = [c for c in string.ascii_letters if c not in subscripts]
    widest = 0
    for i, term in enumerate(terms):
        if "..." in term:
            width = len(shapes[i]) - (len(term) - 3)
            widest = builtins.max(widest, width)
    ell = "".join(spare[:widest])
    terms = [t.replace("...", ell[widest - (len(s) - (len(t) - 3)):]) if "..." in t else t
             for t, s in zip(terms, shapes, strict=True)]
    for t, s in zip(terms, shapes, strict=True):
        if len(t) != len(s):
            raise ValueError(f"einsum: subscripts '{t}' for an operand with {len(s)} axes (shape {s})")
    if not arrow:
        letters = "".join(terms)
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return terms, out


@op(name="einsum", saves="inputs", tangents=True, batched=True)
def _einsum(*xs, subscripts):
    terms, out_term = _einsum_parse(subscripts, [np.shape(x) for x in xs])
    used = "".join(terms) + out_term

    def rule_for(k):
        term = terms[k]
        others = [t for i, t in enumerate(terms) if i != k]
        available = set(out_term).union(*others)
        unique = "".join(dict.fromkeys(term))
        reached = "".join(c for c in unique if c in available)

        def rule(g, out, *xs):
            rest = [x for i, x in enumerate(xs) if i != k]
            sizes = dict(zip(term, np.shape(xs[k]), strict=True))  # this operand's own
            r = np.einsum(",".join([out_term, *others]) + "->" + reached, g, *rest)
            wide = tuple(i for i, c in enumerate(reached) if sizes[c] == 1 and r.shape[i] != 1)
            if wide:  # an axis of 1 that numpy broadcast against another operand's: summed back
                r = r.sum(axis=wide, keepdims=True)
            if reached != unique or r.shape != tuple(sizes[c] for c in reached):
                # letters summed in this operand alone, or of size 1 in the operands that reach
                # them (numpy broadcast this one's axis against them): broadcast back
                r = r.reshape([r.shape[reached.index(c)] if c in reached else 1 for c in unique])
                r = np.broadcast_to(r, [sizes[c] for c in unique])
            if unique != term:  # repeated letters (a diagonal): put r on that diagonal
                spare = iter(c for c in string.ascii_letters if c not in used)
                full, eyes, eye_terms = "", [], []
                for c in term:
                    if c in full:
                        fresh = next(spare)
                        eye_terms.append(c + fresh)
                        eyes.append(np.eye(sizes[c], dtype=g.dtype))
                        c = fresh
                    full += c
                r = np.einsum(",".join([unique, *eye_terms]) + "->" + full, r, *eyes)
            return r

        return rule

    def tangent_for(k):
        def tangent(t, out, *xs):
            # linear in each operand: the same contraction with t in operand k's place
            batch = "".join(c for c in string.ascii_letters if c not in used)[: t.ndim - np.ndim(xs[k])]
            spec = [batch + term if i == k else term for i, term in enumerate(terms)]
            operands = [t if i == k else x for i, x in enumerate(xs)]
            return np.einsum(",".join(spec) + "->" + batch + out_term, *operands)

        return tangent

    out = np.einsum(subscripts, *xs)
    if not out.flags.owndata:  # numpy returns a view of the operand for 'ii->i', 'ij->ji', ...
        out = out.copy()  # an op that is not declared a view must not share its operands' memory
    return (out, tuple(rule_for(k) for k in range(len(xs))),
            tuple(tangent_for(k) for k in range(len(xs))))


def einsum(subscripts: str, *operands):
    """Einstein summation (numpy's ``einsum``, including ``...`` and repeated letters)."""
    return _einsum(*operands, subscripts=subscripts)


# ---------------------------------------------------- no gradient (0 a.e.)
def _constant(ufunc):
    def fn(*args):
        return _wrap(np.asarray(ufunc(*(a._data if isinstance(a, Tensor) else a for a in args))))

    fn.__name__ = ufunc.__name__
    fn.__doc__ = f"``np.{ufunc.__name__}`` on tensors; the result carries no gradient."
    return fn


equal = _constant(np.equal)
not_equal = _constant(np.not_equal)
less = _constant(np.less)
less_equal = _constant(np.less_equal)
greater = _constant(np.greater)
greater_equal = _constant(np.greater_equal)
logical_and = _constant(np.logical_and)
logical_or = _constant(np.logical_or)
logical_not = _constant(np.logical_not)
bitwise_and = _constant(np.bitwise_and)  # the operators &, |, ^, ~: bitwise on integers, as numpy's
bitwise_or = _constant(np.bitwise_or)
bitwise_xor = _constant(np.bitwise_xor)
invert = _constant(np.invert)
sign = _constant(np.sign)


# ------------------------------------------------- numpy protocol dispatch
_UFUNCS = {
    np.add: add, np.subtract: subtract, np.multiply: multiply, np.true_divide: divide,
    np.power: power, np.negative: negative, np.matmul: matmul, np.exp: exp, np.log: log,
    np.sqrt: sqrt, np.absolute: abs, np.sin: sin, np.cos: cos, np.tanh: tanh,
    np.maximum: maximum, np.minimum: minimum,
    np.square: lambda x: square(x) if x.dtype.kind == "f" else _wrap(np.square(x._data)),
    np.reciprocal: lambda x: divide(1, x) if x.dtype.kind == "f" else _wrap(np.reciprocal(x._data)),
    np.positive: lambda x: x,
}
# ufuncs whose derivative is zero wherever it exists, or whose output is boolean
_CONSTANT_UFUNCS = {
    np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal,
    np.logical_and, np.logical_or, np.logical_not, np.logical_xor, np.bitwise_and, np.bitwise_or,
    np.bitwise_xor, np.invert, np.sign, np.floor,
    np.ceil, np.rint, np.trunc, np.isnan, np.isinf, np.isfinite, np.signbit,
}
_FUNCTIONS = {
    np.sum: sum, np.mean: mean, np.max: max, np.min: min, np.amax: max, np.amin: min,
    np.var: var, np.std: std, np.prod: prod, np.reshape: reshape, np.transpose: transpose,
    np.swapaxes: swapaxes, np.expand_dims: expand_dims, np.squeeze: squeeze,
    np.broadcast_to: broadcast_to, np.concatenate: concatenate, np.stack: stack,
    np.split: split, np.pad: pad, np.einsum: einsum, np.where: where, np.clip: clip,
    np.matmul: matmul, np.ravel: flatten, np.copy: copy,
}
# numpy's reductions take (a, axis, then dtype, out, keepdims...): the ops take (x, axis,
# keepdims) or (x, axis, ddof, keepdims), so numpy's further positional arguments go by name
_REDUCTIONS = {np.sum, np.mean, np.max, np.min, np.amax, np.amin, np.prod, np.var, np.std}
# functions whose result carries no gradient; they may read values of any tensor
_VALUE_FUNCTIONS = {
    np.allclose, np.isclose, np.array_equal, np.array_equiv, np.shape, np.ndim, np.size,
    np.argmax, np.argmin, np.argsort, np.nonzero, np.count_nonzero, np.any, np.all,
    np.result_type, np.zeros_like, np.ones_like, np.empty_like, np.full_like, np.copyto,
    np.argwhere, np.flatnonzero, np.searchsorted, np.argpartition, np.digitize, np.isin,
}


# functions that write into their first argument
_WRITE_FIRST = {np.copyto, np.put, np.putmask, np.place, np.fill_diagonal, np.put_along_axis}


def _unwrap(args):
    """Replace tensors (also inside lists and tuples) by their arrays; report if any records
    (or carries a forward-mode tangent, which a function without a rule would drop)."""
    needs_grad = False

    def one(a):
        nonlocal needs_grad
        if isinstance(a, Tensor):
            needs_grad = needs_grad or a.requires_grad or _carries_tangent(a)
            return a._data
        if isinstance(a, (list, tuple)):
            return type(a)(one(b) for b in a)
        return a

    return [one(a) for a in args], needs_grad


# a ufunc call's keywords at numpy's defaults ask nothing: dropped (code that passes where=True)
_UFUNC_DEFAULTS = {"where": True, "casting": "same_kind", "order": "K", "dtype": None, "subok": True,
                   "signature": None}


def _asks_nothing(value, default) -> bool:
    """Whether a keyword's ``value`` is numpy's ``default`` for it (None, a bool, a string)."""
    if default is None or type(default) is bool:
        return value is default
    return type(default) is str and type(value) is str and value == default


def _array_ufunc(ufunc, method, inputs, kwargs):
    if kwargs and method == "__call__":
        kwargs = {k: v for k, v in kwargs.items()
                  if not (k in _UFUNC_DEFAULTS and _asks_nothing(v, _UFUNC_DEFAULTS[k]))}
    if method == "__call__" and not kwargs:
        fn = _UFUNCS.get(ufunc)
        if fn is not None:
            return fn(*inputs)
    values, needs_grad = _unwrap(inputs)
    kw_values, kw_grad = _unwrap(list(kwargs.values()))
    if "out" in kwargs and any(isinstance(o, Tensor) for o in kwargs["out"]):
        raise TypeError(f"np.{ufunc.__name__}(..., out=tensor) is not supported; assign the result instead")
    if method == "at" and isinstance(inputs[0], Tensor):  # writes into its first operand
        inputs[0]._check_inplace(f"{ufunc.__name__}.at", inputs[2] if len(inputs) > 2 else None)
    if (needs_grad or kw_grad) and _mode.enabled and ufunc not in _CONSTANT_UFUNCS:
        if method == "__call__" and ufunc in _UFUNCS:
            if "out" in kwargs:
                raise TypeError(
                    f"np.{ufunc.__name__}(..., out=array) (or an in-place operator on a numpy array) would "
                    "write a result that needs a gradient into a numpy array, where it cannot be recorded; "
                    "write a = a + t to get a tensor, or use t.detach() if no gradient should flow"
                )
            raise TypeError(
                f"np.{ufunc.__name__} with {', '.join(f'{k}=' for k in kwargs)} is not supported on tensors "
                f"that require grad or carry a tangent; call np.{ufunc.__name__} without them (cast with "
                "t.astype(dtype))"
            )
        raise TypeError(
            f"np.{ufunc.__name__}{'' if method == '__call__' else '.' + method} has no derivative rule in "
            "autodiff; build it from the ops that have one, define it with @ad.op, or apply it to "
            "t.detach() if no gradient should flow"
        )
    result = getattr(ufunc, method)(*values, **dict(zip(kwargs, kw_values, strict=True)))
    if "out" in kwargs or method == "at":  # numpy's: the arrays written into, themselves (arr += t
        return result  # keeps arr); None from ufunc.at
    if isinstance(result, tuple):
        return tuple(_wrap(np.asarray(r)) for r in result)
    return _wrap(np.asarray(result))


def _accepts(fn) -> frozenset:
    """The keyword arguments an op's function takes (numpy's functions take more)."""
    names = _ACCEPTS.get(fn)
    if names is None:
        names = _ACCEPTS[fn] = frozenset(inspect.signature(fn).parameters)
    return names


_ACCEPTS: dict = {}
_PARAMETERS: dict = {}  # numpy function -> its parameters, in order (empty where unknown)


def _numpy_parameters(func) -> dict:
    params = _PARAMETERS.get(func)
    if params is None:
        try:
            params = dict(inspect.signature(func).parameters)
        except (TypeError, ValueError):
            params = {}
        _PARAMETERS[func] = params
    return params


def _numpy_default(func, name: str):
    """numpy's default for ``func``'s keyword ``name`` (None where it has none, or is unknown)."""
    p = _numpy_parameters(func).get(name)
    return None if p is None or p.default is p.empty else p.default


def _array_function(func, args, kwargs):
    if func is np.where and len(args) + len(kwargs) == 1:  # numpy's one-argument where: indices
        func = np.nonzero
    if len(args) > 2 and func in _REDUCTIONS:  # by numpy's names (np.sum's third is dtype, sum's keepdims)
        names = tuple(_numpy_parameters(func))[2:]  # (numpy's own signature refused more)
        kwargs = {**dict(zip(names, args[2:], strict=False)), **kwargs}
        args = args[:2]
    fn = _FUNCTIONS.get(func)
    if fn is not None:
        extra = [k for k in kwargs if k not in _accepts(fn)]
        if extra:
            if not builtins.all(_asks_nothing(kwargs[k], _numpy_default(func, k)) for k in extra):
                raise TypeError(
                    f"np.{func.__name__}(..., {'=..., '.join(extra)}=...) is not supported on tensors: "
                    f"autodiff's {fn.__name__} takes {', '.join(sorted(_accepts(fn)))}; call it without "
                    "those arguments (cast with t.astype(dtype), assign instead of out=)"
                )
            kwargs = {k: v for k, v in kwargs.items() if k not in extra}
        return fn(*args, **kwargs)
    writes = func in _WRITE_FIRST or func is np.nan_to_num and kwargs.get("copy", True) is False
    if writes and args and isinstance(args[0], Tensor):  # checked as t[...] = v is
        args[0]._check_inplace(func.__name__, args[1] if len(args) > 1 else None)
    out = kwargs.get("out")
    if isinstance(out, Tensor) or isinstance(out, tuple) and any(isinstance(o, Tensor) for o in out):
        raise TypeError(f"np.{func.__name__}(..., out=tensor) is not supported; assign the result instead")
    values, needs_grad = _unwrap(args)
    kw_values, kw_grad = _unwrap(list(kwargs.values()))
    if (needs_grad or kw_grad) and _mode.enabled and func not in _VALUE_FUNCTIONS:
        where = getattr(func, "__module__", None) or "numpy"  # numpy.linalg's inv is np.linalg.inv
        name = "np" + where[len("numpy"):] if where.startswith("numpy") else where
        raise TypeError(
            f"{name}.{func.__name__} has no derivative rule in autodiff; build it from the ops that have "
            "one, define it with @ad.op, or call it on t.detach() / np.asarray(t) if no gradient "
            "should flow"
        )
    return _handed_out(func(*values, **dict(zip(kwargs, kw_values, strict=True))), [*args, *kwargs.values()])


# ------------------------------------------------ Tensor operators and methods
def _reflected(fn):
    def method(self, other):
        return fn(other, self)

    method.__name__ = f"__r{fn.__name__}__"
    return method


_METHODS = {
    "__add__": add, "__radd__": _reflected(add), "__sub__": subtract, "__rsub__": _reflected(subtract),
    "__mul__": multiply, "__rmul__": _reflected(multiply), "__truediv__": divide,
    "__rtruediv__": _reflected(divide), "__pow__": power, "__rpow__": _reflected(power),
    "__matmul__": matmul, "__rmatmul__": _reflected(matmul), "__neg__": negative, "__abs__": abs,
    "__eq__": equal, "__ne__": not_equal, "__lt__": less, "__le__": less_equal, "__gt__": greater,
    "__ge__": greater_equal, "__and__": bitwise_and, "__rand__": bitwise_and, "__or__": bitwise_or,
    "__ror__": bitwise_or, "__xor__": bitwise_xor, "__rxor__": bitwise_xor, "__invert__": invert,
    "__getitem__": getitem, "__pos__": lambda x: x,
}
_METHODS.update({fn.__name__: fn for fn in (
    exp, log, sqrt, square, abs, sin, cos, tanh, sigmoid, relu, leaky_relu, gelu, softplus, clip,
    maximum, minimum, matmul, sum, mean, max, min, var, std, prod, logsumexp, softmax, log_softmax, swapaxes,
    flatten, squeeze, expand_dims, broadcast_to, astype, copy, split,
)})


# methods for the functions whose first argument is not a tensor: the tensor comes first
def _where_method(self, condition, other):
    """``where(condition, self, other)`` (PyTorch's ``Tensor.where``)."""
    return where(condition, self, other)


def _concatenate_method(self, others: Sequence, axis: int = 0):
    """``concatenate([self, *others], axis)``."""
    return concatenate([self, *others], axis=axis)


def _stack_method(self, others: Sequence, axis: int = 0):
    """``stack([self, *others], axis)``."""
    return stack([self, *others], axis=axis)


def _einsum_method(self, subscripts: str, *others):
    """``einsum(subscripts, self, *others)``."""
    return einsum(subscripts, self, *others)


_METHODS.update(ravel=flatten, pad=pad, where=_where_method, concatenate=_concatenate_method,
                stack=_stack_method, einsum=_einsum_method)
for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
