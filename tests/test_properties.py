"""Property tests: invariants of every op's gradient over random shapes and values.

Hypothesis draws broadcastable shapes, values in each op's domain and an upstream
gradient of the output's shape. The properties:

* each input's gradient has exactly the input's shape and dtype, and equals a
  reference written by hand in numpy (sum over broadcast axes included);
* forward and backward never mutate an input or the seed gradient;
* gradients never alias each other, the seed, or an input;
* backward with ``retain_graph=True`` is repeatable, and ``.grad`` accumulates;
* float32 in gives float32 out and float32 gradients (also with Python scalars);
* ``create_graph=True`` gives the same first derivative as a plain backward.

Each case is a function of hypothesis' ``data`` and a dtype that draws operands and
returns the arrays, the function under test and the numpy reference. A reference
returns, per operand, ``(gradient, scale)`` (``None`` for an operand without a
gradient): ``scale`` bounds the summands of the gradient, so that roundoff in a sum
over broadcast axes is judged against their size, not against a cancelled total.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.extra.numpy import arrays, mutually_broadcastable_shapes

import autodiff as ad

FLOATS = [np.float64, np.float32]
# |engine - reference| <= TOL * (1 + scale); the reference is computed in float64
TOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 2e-5}

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
few = settings(max_examples=10, **SETTINGS)
fewer = settings(max_examples=5, **SETTINGS)


# ---------------------------------------------------------------- reference helpers
def unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` over the axes that broadcasting added to an operand of ``shape``."""
    g = np.asarray(g)
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    ones = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    g = g.sum(axis=ones, keepdims=True) if ones else g
    return g.reshape(shape)


def reduced(term: np.ndarray, shape: tuple):
    """The reference pair for a term of the output's shape: (summed, summed magnitudes)."""
    return unbroadcast(term, shape), unbroadcast(np.abs(term), shape)


def exact(grad: np.ndarray):
    """The reference pair for a gradient that involves no sum of many terms."""
    return grad, np.abs(grad)


def keep_shape(shape: tuple, axis) -> tuple:
    ndim = len(shape)
    if axis is None:
        axes = set(range(ndim))
    else:
        axes = {a % ndim for a in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def spread(g: np.ndarray, shape: tuple, axis) -> np.ndarray:
    """A reduction's upstream gradient broadcast back over the input's shape."""
    return np.broadcast_to(np.reshape(g, keep_shape(shape, axis)), shape)


def group_size(shape: tuple, axis) -> int:
    return math.prod(shape) // max(math.prod(keep_shape(shape, axis)), 1)


def sigmoid(x):
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


# ---------------------------------------------------------------- strategies
def elements(dtype, lo, hi):
    return st.floats(lo, hi, width=np.dtype(dtype).itemsize * 8, allow_subnormal=False)


def real(dtype):
    return elements(dtype, -3.0, 3.0)


def positive(dtype):
    return elements(dtype, 0.25, 3.0)


def nonzero(dtype):
    return st.one_of(elements(dtype, 0.5, 3.0), elements(dtype, -3.0, -0.5))


def grid(dtype):
    """Multiples of 0.125: distinct values are at least 0.125 apart (well-conditioned std)."""
    return st.integers(-24, 24).map(lambda k: k / 8)


def array(data, dtype, shape, elems, unique=False):
    return data.draw(arrays(dtype, shape, elements=elems(dtype), unique=unique))


def draw_axis(data, ndim: int, int_only: bool = False):
    """None, an int or a tuple of distinct axes, each possibly negative."""
    if ndim == 0:
        return None
    kind = "int" if int_only else data.draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return data.draw(st.integers(-ndim, ndim - 1))
    axes = data.draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if data.draw(st.booleans()) else a for a in axes)


# ---------------------------------------------------------------- the cases
@dataclass
class Drawn:
    arrays: list           # operands; floating ones require grad
    fn: Callable           # the op under test, on Tensors
    ref: Callable          # ref(g, *float64 operands) -> [(grad, scale) or None per operand]


@dataclass
class Case:
    name: str
    draw: Callable         # draw(data, dtype) -> Drawn

    def __repr__(self) -> str:
        return self.name


def binary(fn, ref, left=real, right=real, min_side=0):
    def draw(data, dtype):
        shapes = data.draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                         min_side=min_side, max_side=4))
        x = array(data, dtype, shapes.input_shapes[0], left)
        y = array(data, dtype, shapes.input_shapes[1], right)

        def reference(g, x, y):
            gx, gy = ref(g, x, y)
            return [reduced(np.broadcast_to(gx, g.shape), x.shape),
                    reduced(np.broadcast_to(gy, g.shape), y.shape)]

        return Drawn([x, y], fn, reference)

    return draw


def _max_x(g, x, y):
    return np.where(x > y, g, np.where(x == y, g * 0.5, 0.0))


def _where_draw(data, dtype):
    shapes = data.draw(mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3,
                                                     min_side=0, max_side=4))
    c = data.draw(arrays(np.bool_, shapes.input_shapes[0]))
    x = array(data, dtype, shapes.input_shapes[1], real)
    y = array(data, dtype, shapes.input_shapes[2], real)

    def reference(g, c, x, y):
        return [None,
                reduced(np.broadcast_to(np.where(c, g, 0.0), g.shape), x.shape),
                reduced(np.broadcast_to(np.where(c, 0.0, g), g.shape), y.shape)]

    return Drawn([c, x, y], ad.where, reference)


BINARY = [
    Case("add", binary(lambda x, y: x + y, lambda g, x, y: (g, g))),
    Case("subtract", binary(lambda x, y: x - y, lambda g, x, y: (g, -g))),
    Case("multiply", binary(lambda x, y: x * y, lambda g, x, y: (g * y, g * x))),
    Case("divide", binary(lambda x, y: x / y, lambda g, x, y: (g / y, -g * x / y**2), right=nonzero)),
    Case("power", binary(lambda x, y: x ** y,
                         lambda g, x, y: (g * y * x ** (y - 1), g * x**y * np.log(x)), left=positive)),
    # ties happen (hypothesis likes repeated values): the documented convention splits g
    Case("maximum", binary(ad.maximum, lambda g, x, y: (_max_x(g, x, y), _max_x(g, y, x)))),
    Case("minimum", binary(ad.minimum, lambda g, x, y: (_max_x(g, -x, -y), _max_x(g, -y, -x)))),
    Case("where", _where_draw),
]


def unary(fn, ref, elems=real, min_dims=0, min_side=0, options=None):
    """``ref(g, x, **opts)`` is the gradient; ``options(data, x)`` draws keyword options."""
    def draw(data, dtype):
        shape = data.draw(st.lists(st.integers(min_side, 4), min_size=min_dims, max_size=3).map(tuple))
        x = array(data, dtype, shape, elems)
        opts = options(data, x) if options else {}
        return Drawn([x], lambda t: fn(t, **opts), lambda g, x: [exact(ref(g, x, **opts))])

    return draw


def _gelu_grad(g, x):
    c = math.sqrt(2 / math.pi)
    t = np.tanh(c * (x + 0.044715 * x**3))
    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x))


def _clip_options(data, x):
    lo = data.draw(st.one_of(st.none(), st.sampled_from([-3.0, -1.0, -0.5, 0.0])))
    hi = data.draw(st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 3.0])))
    return {"a_min": lo, "a_max": hi}


def _clip_grad(g, x, a_min, a_max):
    keep = np.ones(x.shape, bool)
    if a_min is not None:
        keep &= x >= a_min
    if a_max is not None:
        keep &= x <= a_max
    return np.where(keep, g, 0.0)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _leaky_grad(g, x, negative_slope):
    return np.where(x > 0, g, g * negative_slope)


def _slope_option(data, x):
    return {"negative_slope": data.draw(st.sampled_from([0.01, 0.2]))}


def _axis_option(data, x):
    return {"axis": draw_axis(data, x.ndim, int_only=True)}


UNARY = [
    Case("exp", unary(ad.exp, lambda g, x: g * np.exp(x))),
    Case("log", unary(ad.log, lambda g, x: g / x, positive)),
    Case("sqrt", unary(ad.sqrt, lambda g, x: g * 0.5 / np.sqrt(x), positive)),
    Case("abs", unary(ad.abs, lambda g, x: g * np.sign(x))),
    Case("sin", unary(ad.sin, lambda g, x: g * np.cos(x))),
    Case("cos", unary(ad.cos, lambda g, x: -g * np.sin(x))),
    Case("tanh", unary(ad.tanh, lambda g, x: g * (1 - np.tanh(x) ** 2))),
    Case("sigmoid", unary(ad.sigmoid, lambda g, x: g * sigmoid(x) * (1 - sigmoid(x)))),
    Case("relu", unary(ad.relu, lambda g, x: np.where(x > 0, g, 0.0))),
    Case("softplus", unary(ad.softplus, lambda g, x: g * sigmoid(x))),
    Case("leaky_relu", unary(ad.leaky_relu, _leaky_grad, options=_slope_option)),
    Case("gelu", unary(ad.gelu, _gelu_grad)),
    Case("clip", unary(ad.clip, _clip_grad, options=_clip_options)),
    Case("negative", unary(ad.negative, lambda g, x: -g)),
    Case("softmax", unary(ad.softmax, lambda g, x, axis: _softmax(x, axis) * (
        g - (g * _softmax(x, axis)).sum(axis=axis, keepdims=True)),
        min_dims=1, min_side=1, options=_axis_option)),
    Case("log_softmax", unary(ad.log_softmax,
                              lambda g, x, axis: g - _softmax(x, axis) * g.sum(axis=axis, keepdims=True),
                              min_dims=1, min_side=1, options=_axis_option)),
]


def reduction(name, fn, ref, elems=real, min_side=1, unique=False, ddof=False):
    """``ref(g_spread, x, axis, ddof)``: the gradient, given g spread over x's shape."""
    def draw(data, dtype):
        shape = data.draw(st.lists(st.integers(min_side, 3 if unique else 4), min_size=1 if unique else 0,
                                   max_size=3).map(tuple))
        x = array(data, dtype, shape, elems, unique=unique)
        axis = draw_axis(data, x.ndim)
        keepdims = data.draw(st.booleans())
        kwargs = {"axis": axis, "keepdims": keepdims}
        d = 0
        if ddof and group_size(shape, axis) > 1:
            d = kwargs["ddof"] = data.draw(st.sampled_from([0, 1]))

        def reference(g, x):
            return [exact(ref(spread(g, x.shape, axis), x, axis, d))]

        return Drawn([x], lambda t: fn(t, **kwargs), reference)

    return draw


def _extreme_grad(reduce):
    def grad(gs, x, axis, ddof):
        tied = x == reduce(x, axis=axis, keepdims=True)
        return np.where(tied, gs / tied.sum(axis=axis, keepdims=True), 0.0)

    return grad


def _prod_grad(gs, x, axis, ddof):
    """Brute force: the product of the other elements of each element's group."""
    out = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        others = x.copy()
        others[idx] = 1.0
        out[idx] = gs[idx] * np.broadcast_to(np.prod(others, axis=axis, keepdims=True), x.shape)[idx]
    return out


def _var_grad(gs, x, axis, ddof):
    n = group_size(x.shape, axis)
    return gs * 2 * (x - x.mean(axis=axis, keepdims=True)) / (n - ddof)


def _std_grad(gs, x, axis, ddof):
    n = group_size(x.shape, axis)
    d = x - x.mean(axis=axis, keepdims=True)
    return gs * d / ((n - ddof) * np.sqrt((d * d).sum(axis=axis, keepdims=True) / (n - ddof)))


def _logsumexp_grad(gs, x, axis, ddof):
    m = x.max(axis=axis, keepdims=True)
    return gs * np.exp(x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True)))


REDUCTIONS = [
    Case("sum", reduction("sum", ad.sum, lambda gs, x, axis, ddof: gs, min_side=0)),
    Case("mean", reduction("mean", ad.mean, lambda gs, x, axis, ddof: gs / group_size(x.shape, axis))),
    Case("max", reduction("max", ad.max, _extreme_grad(np.max))),
    Case("min", reduction("min", ad.min, _extreme_grad(np.min))),
    Case("prod", reduction("prod", ad.prod, _prod_grad)),
    Case("var", reduction("var", ad.var, _var_grad, ddof=True)),
    # groups of at least 2 distinct values: std > 0, where it is differentiable
    Case("std", reduction("std", ad.std, _std_grad, elems=grid, min_side=2, unique=True, ddof=True)),
    Case("logsumexp", reduction("logsumexp", ad.logsumexp, _logsumexp_grad)),
]


def _matmul_draw(data, dtype):
    batch = data.draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3))
    n, k, m = (data.draw(st.integers(1, 4)) for _ in range(3))
    x_vec, y_vec = data.draw(st.booleans()), data.draw(st.booleans())
    x = array(data, dtype, (k,) if x_vec else batch.input_shapes[0] + (n, k), real)
    y = array(data, dtype, (k,) if y_vec else batch.input_shapes[1] + (k, m), real)

    def reference(g, x, y):
        # promote 1-d operands to matrices as numpy does, then take the matrix rules
        X = x[None, :] if x.ndim == 1 else x
        Y = y[:, None] if y.ndim == 1 else y
        if x.ndim == 1 and y.ndim == 1:
            G = np.reshape(g, (1, 1))
        else:
            G = g[..., None, :] if x.ndim == 1 else g
            G = G[..., None] if y.ndim == 1 else G
        gx = np.matmul(G, np.swapaxes(Y, -1, -2))
        gy = np.matmul(np.swapaxes(X, -1, -2), G)
        sx = np.matmul(np.abs(G), np.abs(np.swapaxes(Y, -1, -2)))
        sy = np.matmul(np.abs(np.swapaxes(X, -1, -2)), np.abs(G))
        return [(unbroadcast(gx, X.shape).reshape(x.shape), unbroadcast(sx, X.shape).reshape(x.shape)),
                (unbroadcast(gy, Y.shape).reshape(y.shape), unbroadcast(sy, Y.shape).reshape(y.shape))]

    return Drawn([x, y], ad.matmul, reference)


def _transpose_draw(data, dtype):
    shape = data.draw(st.lists(st.integers(0, 4), max_size=4).map(tuple))
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    x = array(data, dtype, shape, real)
    return Drawn([x], lambda t: ad.transpose(t, perm),
                 lambda g, x: [exact(np.transpose(g, np.argsort(perm)))])


def _getitem_draw(data, dtype):
    """Advanced indexing along one axis, with repeated indices."""
    shape = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple))
    axis = data.draw(st.integers(0, len(shape) - 1))
    idx = np.array(data.draw(st.lists(st.integers(-shape[axis], shape[axis] - 1), min_size=1, max_size=6)))
    index = (slice(None),) * axis + (idx,)
    x = array(data, dtype, shape, real)

    def reference(g, x):
        out = np.zeros_like(x)
        np.add.at(out, index, g)
        return [(out, np.ones_like(out) * np.abs(g).sum())]

    return Drawn([x], lambda t: t[index], reference)


def _broadcast_to_draw(data, dtype):
    shapes = data.draw(mutually_broadcastable_shapes(num_shapes=1, min_dims=0, max_dims=3,
                                                     min_side=0, max_side=4))
    x = array(data, dtype, shapes.input_shapes[0], real)
    target = shapes.result_shape
    return Drawn([x], lambda t: ad.broadcast_to(t, target), lambda g, x: [reduced(g, x.shape)])


def _concatenate_draw(data, dtype):
    shape = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=3).map(tuple))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    other = list(shape)
    other[axis] = data.draw(st.integers(0, 3))
    x = array(data, dtype, shape, real)
    y = array(data, dtype, tuple(other), real)

    def reference(g, x, y):
        gx, gy = np.split(g, [x.shape[axis]], axis=axis)
        return [exact(gx), exact(gy)]

    return Drawn([x, y], lambda a, b: ad.concatenate([a, b], axis=axis), reference)


SHAPE_OPS = [
    Case("matmul", _matmul_draw),
    Case("transpose", _transpose_draw),
    Case("getitem(repeated)", _getitem_draw),
    Case("broadcast_to", _broadcast_to_draw),
    Case("concatenate", _concatenate_draw),
]

CASES = BINARY + UNARY + REDUCTIONS + SHAPE_OPS


# ---------------------------------------------------------------- running a case
def leaves(drawn: Drawn) -> list:
    return [ad.tensor(a, requires_grad=a.dtype.kind == "f") for a in drawn.arrays]


def differentiable(tensors) -> list:
    return [t for t in tensors if t.requires_grad]


def seed_for(data, out) -> np.ndarray:
    return data.draw(arrays(out.dtype, out.shape, elements=real(out.dtype)), label="seed")


def assert_matches_reference(drawn: Drawn, tensors, grads, g: np.ndarray) -> None:
    tol = TOL[np.dtype(g.dtype)]
    as64 = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in drawn.arrays]
    expected = drawn.ref(g.astype(np.float64), *as64)
    for i, (t, grad, ref) in enumerate(zip(tensors, grads, expected, strict=True)):
        if ref is None:
            continue
        want, scale = ref
        assert isinstance(grad, ad.Tensor), f"operand {i}: gradient is {type(grad).__name__}, not a Tensor"
        assert grad.shape == t.shape, f"operand {i}: gradient shape {grad.shape} != input shape {t.shape}"
        assert grad.dtype == t.dtype, f"operand {i}: gradient dtype {grad.dtype} != input dtype {t.dtype}"
        got = grad.numpy().astype(np.float64)
        excess = np.abs(got - want) - tol * (1 + scale)
        assert not np.any(excess > 0), (
            f"operand {i}: gradient differs from the numpy reference by up to "
            f"{np.max(np.abs(got - want))}\ngot\n{got}\nwant\n{want}")


case_params = pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
dtype_params = pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)


# ---------------------------------------------------------------- properties
@case_params
@dtype_params
@few
@given(data=st.data())
def test_gradient_has_the_input_shape_and_dtype_and_matches_the_numpy_reference(case, dtype, data):
    drawn = case.draw(data, dtype)
    tensors = leaves(drawn)
    out = drawn.fn(*tensors)
    assert out.dtype == dtype, f"{case.name} on {np.dtype(dtype).name} gave {out.dtype}"
    g = seed_for(data, out)
    out.backward(g)
    assert_matches_reference(drawn, tensors, [t.grad for t in tensors], g)


@case_params
@dtype_params
@fewer
@given(data=st.data())
def test_forward_and_backward_never_mutate_inputs_or_the_seed(case, dtype, data):
    drawn = case.draw(data, dtype)
    tensors = leaves(drawn)
    before = [t.numpy().copy() for t in tensors]
    out = drawn.fn(*tensors)
    g = seed_for(data, out)
    g_before = g.copy()
    out.backward(g, retain_graph=True)
    ad.gradients(out, differentiable(tensors), grad_outputs=g, create_graph=True)
    for i, (t, b) in enumerate(zip(tensors, before, strict=True)):
        assert t.numpy().dtype == b.dtype and t.numpy().shape == b.shape
        assert t.numpy().tobytes() == b.tobytes(), f"{case.name} mutated operand {i}"
    assert g.tobytes() == g_before.tobytes(), f"{case.name} mutated the seed gradient"


@case_params
@dtype_params
@fewer
@given(data=st.data())
def test_backward_is_repeatable_and_grad_accumulates(case, dtype, data):
    drawn = case.draw(data, dtype)
    tensors = leaves(drawn)
    wrt = differentiable(tensors)
    out = drawn.fn(*tensors)
    g = seed_for(data, out)

    first = [r.numpy().copy() for r in ad.gradients(out, wrt, grad_outputs=g, retain_graph=True)]
    second = [r.numpy().copy() for r in ad.gradients(out, wrt, grad_outputs=g, retain_graph=True)]
    assert all(t.grad is None for t in wrt), "ad.gradients must not touch .grad"
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)

    out.backward(g, retain_graph=True)
    for t, a in zip(wrt, first, strict=True):
        np.testing.assert_array_equal(t.grad.numpy(), a)
    out.backward(g, retain_graph=True)
    for t, a in zip(wrt, first, strict=True):
        np.testing.assert_array_equal(t.grad.numpy(), 2 * a)  # accumulated, as in PyTorch
        assert t.grad.dtype == t.dtype
    out.backward(g)  # releases the graph
    for t, a in zip(wrt, first, strict=True):
        np.testing.assert_array_equal(t.grad.numpy(), 3 * a)
    with pytest.raises(RuntimeError, match="retain_graph"):
        out.backward(g)


@case_params
@dtype_params
@fewer
@given(data=st.data())
def test_create_graph_gives_the_same_first_derivative(case, dtype, data):
    drawn = case.draw(data, dtype)
    tensors = leaves(drawn)
    wrt = differentiable(tensors)
    out = drawn.fn(*tensors)
    g = seed_for(data, out)
    plain = ad.gradients(out, wrt, grad_outputs=g, retain_graph=True)
    recorded = ad.gradients(out, wrt, grad_outputs=ad.tensor(g), create_graph=True)
    for t, p, r in zip(wrt, plain, recorded, strict=True):
        assert isinstance(r, ad.Tensor)
        assert r.shape == t.shape and r.dtype == t.dtype, (r.shape, r.dtype, t.shape, t.dtype)
        np.testing.assert_allclose(r.numpy(), p.numpy(), rtol=TOL[np.dtype(dtype)], atol=TOL[np.dtype(dtype)])
    # and the recorded one matches the hand-written reference too
    by_leaf = dict(zip(map(id, wrt), recorded, strict=True))
    assert_matches_reference(drawn, tensors, [by_leaf.get(id(t)) for t in tensors], g)


# ---------------------------------------------------------------- dtypes
SCALAR_OPS = {
    "t + s": (lambda t, s: t + s, lambda g, x, s: g),
    "s + t": (lambda t, s: s + t, lambda g, x, s: g),
    "t - s": (lambda t, s: t - s, lambda g, x, s: g),
    "s - t": (lambda t, s: s - t, lambda g, x, s: -g),
    "t * s": (lambda t, s: t * s, lambda g, x, s: g * s),
    "s * t": (lambda t, s: s * t, lambda g, x, s: g * s),
    "t / s": (lambda t, s: t / s, lambda g, x, s: g / s),
    "s / t": (lambda t, s: s / t, lambda g, x, s: -g * s / x**2),
    "t ** s": (lambda t, s: t ** s, lambda g, x, s: g * s * x ** (s - 1)),
    "s ** t": (lambda t, s: s ** t, lambda g, x, s: g * s**x * np.log(s)),
    "maximum(t, s)": (lambda t, s: ad.maximum(t, s), lambda g, x, s: _max_x(g, x, s)),
    "minimum(s, t)": (lambda t, s: ad.minimum(s, t), lambda g, x, s: _max_x(g, -x, -s)),
    "where(t > 1, s, t)": (lambda t, s: ad.where(t > 1.0, s, t), lambda g, x, s: np.where(x > 1.0, 0.0, g)),
}


@pytest.mark.parametrize("name", SCALAR_OPS)
@dtype_params
@few
@given(data=st.data())
def test_a_python_scalar_operand_keeps_the_tensor_dtype(name, dtype, data):
    fn, ref = SCALAR_OPS[name]
    shape = data.draw(st.lists(st.integers(0, 4), max_size=3).map(tuple))
    x = array(data, dtype, shape, positive)  # positive: a valid base for both powers
    s = data.draw(st.one_of(st.floats(0.25, 3.0), st.integers(1, 3)))  # Python scalars are weak in numpy
    t = ad.tensor(x, requires_grad=True)
    out = fn(t, s)
    assert out.dtype == dtype, (
        f"{name}: {np.dtype(dtype).name} tensor and Python {type(s).__name__} gave {out.dtype}")
    g = seed_for(data, out)
    out.backward(g)
    assert t.grad.shape == t.shape and t.grad.dtype == dtype
    s_op = float(np.asarray(s, dtype))  # the value the op compares with (ties) and computes with
    want = np.broadcast_to(ref(g.astype(np.float64), x.astype(np.float64), s_op), x.shape)
    tol = TOL[np.dtype(dtype)]
    np.testing.assert_allclose(t.grad.numpy(), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("case", BINARY[:7] + [SHAPE_OPS[0]], ids=lambda c: c.name)
@few
@given(data=st.data())
def test_mixed_float32_and_float64_operands_each_get_a_gradient_of_their_own_dtype(case, data):
    drawn = case.draw(data, np.float64)
    drawn.arrays[0] = drawn.arrays[0].astype(np.float32)
    x, y = leaves(drawn)
    out = drawn.fn(x, y)
    assert out.dtype == np.float64  # numpy's promotion
    g = seed_for(data, out)
    out.backward(g)
    assert x.grad.dtype == np.float32 and y.grad.dtype == np.float64
    assert x.grad.shape == x.shape and y.grad.shape == y.shape
    # the reference is taken at the float32 values; the float32 gradient is rounded once
    (wx, sx), (wy, sy) = drawn.ref(g, drawn.arrays[0].astype(np.float64), drawn.arrays[1])
    assert np.all(np.abs(x.grad.numpy() - wx) <= 1e-6 * (1 + sx))
    assert np.all(np.abs(y.grad.numpy() - wy) <= 1e-12 * (1 + sy))


def test_float32_survives_a_composition_of_every_op():
    rng = np.random.default_rng(0)
    x = ad.tensor(rng.uniform(0.5, 2.0, (3, 4)).astype(np.float32), requires_grad=True)
    w = ad.tensor(rng.uniform(-1.0, 1.0, (4, 2)).astype(np.float32), requires_grad=True)
    h = (x @ w).tanh() * 0.5 + x[:, :2].log() - x[:, 1:3].sqrt() / 3.0 + 2.0 ** x[:, :2]
    h = ad.maximum(h, -1.0).sigmoid().softplus().gelu() + ad.clip(h, -0.5, 0.5).relu().abs()
    h = ad.concatenate([h.softmax(), h.log_softmax(axis=0), ad.where(h > 0.5, h, 0.25)], axis=1)
    y = h.exp().sum(axis=0).mean() + h.var() + h.std(axis=1).sum() + h.max() - h.min(axis=0).sum()
    y = y + h.prod(axis=1).sum() + h.logsumexp(axis=1).sum() + (h.sin() * h.cos()).sum() ** 2
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32
    assert np.all(np.isfinite(x.grad.numpy())) and np.all(np.isfinite(w.grad.numpy()))
    # second order keeps float32 as well
    x2 = ad.tensor(x.numpy(), requires_grad=True)
    (first,) = ad.gradients((x2 * x2).tanh().sum(), x2, create_graph=True)
    assert first.dtype == np.float32
    (second,) = ad.gradients(first.sum(), x2)
    assert second.dtype == np.float32 and second.shape == x2.shape


# ---------------------------------------------------------------- aliasing
GRAPHS = {
    "x + y": lambda x, y: x + y,
    "x * 1 + y * 1": lambda x, y: x * 1 + y * 1,
    "x + y (y broadcast)": lambda x, y: x + y[:1],
    "x - y": lambda x, y: x - y,
    "concatenate([x, y])": lambda x, y: ad.concatenate([x, y]),
    "stack([x, y])": lambda x, y: ad.stack([x, y]),
    "x.reshape(-1) + y.T.reshape(-1)": lambda x, y: x.reshape(-1) + y.T.reshape(-1),
    "x[:] + broadcast_to(y, ...)": lambda x, y: x[:] + ad.broadcast_to(y, y.shape),
    "where(c, x, y)": lambda x, y: ad.where(x > 0, x, y),
    "x + x and y": lambda x, y: ad.stack([x + x, y]),
}


def _all_arrays_independent(named: dict) -> None:
    items = list(named.items())
    for i, (a_name, a) in enumerate(items):
        for b_name, b in items[i + 1:]:
            assert not np.shares_memory(a, b), f"{a_name} shares memory with {b_name}"


@pytest.mark.parametrize("graph", GRAPHS)
@dtype_params
@fewer
@given(data=st.data())
def test_gradients_never_alias_each_other_the_seed_or_an_input(graph, dtype, data):
    shape = data.draw(st.lists(st.integers(1, 4), min_size=2, max_size=2).map(tuple))
    x = ad.tensor(array(data, dtype, shape, nonzero), requires_grad=True)
    y = ad.tensor(array(data, dtype, shape, nonzero), requires_grad=True)
    out = GRAPHS[graph](x, y)
    g = seed_for(data, out)
    out.backward(g, retain_graph=True)
    _all_arrays_independent({"x.grad": x.grad.numpy(), "y.grad": y.grad.numpy(), "seed": g,
                             "x": x.numpy(), "y": y.numpy()})
    gx, gy = ad.gradients(out, (x, y), grad_outputs=g, retain_graph=True)
    _all_arrays_independent({"x.grad": x.grad.numpy(), "y.grad": y.grad.numpy(), "seed": g,
                             "gradients()[0]": gx.numpy(), "gradients()[1]": gy.numpy()})

    # writing into one gradient changes nothing else
    y_grad, g_copy, gx_copy = y.grad.numpy().copy(), g.copy(), gx.numpy().copy()
    x.grad.numpy()[...] = 123.0
    np.testing.assert_array_equal(y.grad.numpy(), y_grad)
    np.testing.assert_array_equal(g, g_copy)
    np.testing.assert_array_equal(gx.numpy(), gx_copy)
    gy.numpy()[...] = -7.0
    np.testing.assert_array_equal(y.grad.numpy(), y_grad)

    # nor does it leak into the next backward through the retained graph
    x.grad = None
    y.grad = None
    out.backward(g)
    np.testing.assert_array_equal(x.grad.numpy(), gx_copy)
    np.testing.assert_array_equal(y.grad.numpy(), y_grad)
    _all_arrays_independent({"x.grad": x.grad.numpy(), "y.grad": y.grad.numpy(), "seed": g})


@ad.op
def _passes_g(x):
    return x * 1.0, lambda g, out, x: g  # its gradient is the incoming gradient itself


@ad.op
def _returns_out(x):
    return x.copy(), lambda g, out, x: out * 0.0 + out  # a new array, but computed from out


LARGE_GRAPHS = {
    **GRAPHS,
    "x @ y.T (a leaf's transpose)": lambda x, y: x @ y.T,
    "passes g twice": lambda x, y: _passes_g(x) + _passes_g(y),
    "returns out": lambda x, y: _returns_out(x) * y,
    "x.T + y.T": lambda x, y: x.T + y.T,
    "concatenate([x.T, y.T])": lambda x, y: ad.concatenate([x.T, y.T]),
}


@pytest.mark.parametrize("graph", LARGE_GRAPHS)
def test_large_gradients_never_alias_anything(graph):
    # large gradients that only the sweep holds are stored without a copy: check that
    # nothing else ever shares their memory
    rng = np.random.default_rng(0)
    x = ad.tensor(rng.uniform(0.5, 2.0, (64, 80)), requires_grad=True)
    y = ad.tensor(rng.uniform(0.5, 2.0, (64, 80)), requires_grad=True)
    out = LARGE_GRAPHS[graph](x, y)
    seed = rng.standard_normal(out.shape)
    seen = []
    out.register_hook(lambda g: seen.append(g.numpy()))
    out.retain_grad()
    out.backward(seed, retain_graph=True)
    arrays = {"x.grad": x.grad.numpy(), "y.grad": y.grad.numpy(), "seed": seed, "x": x.numpy(),
              "y": y.numpy(), "out": out.numpy(), "out.grad": out.grad.numpy()}
    _all_arrays_independent(arrays)
    for name in ("x.grad", "y.grad"):  # a hook sees out's gradient (the seed), never a stored one
        assert not np.shares_memory(arrays[name], seen[0]), name
    x_grad, y_grad = x.grad.numpy().copy(), y.grad.numpy().copy()
    x.grad.numpy()[...] = 5.0
    y.grad.numpy()[...] = 7.0
    x.grad = y.grad = None
    out.backward(seed)  # the retained graph gives the same gradients again
    np.testing.assert_array_equal(x.grad.numpy(), x_grad)
    np.testing.assert_array_equal(y.grad.numpy(), y_grad)


def _relu_beside_a_pending_sharer(x, y):
    # add gives its one gradient array to relu(x) and to r; r's adjoint waits for r * 2, so
    # relu(x)'s rule runs first: writing into that array would change r's adjoint
    r = ad.relu(y)
    return r * 2 + (ad.relu(x) + r) * 1.0


IN_PLACE_GRAPHS = {
    "relu beside a pending sharer": _relu_beside_a_pending_sharer,
    "relu of relu": lambda x, y: ad.relu(ad.relu(x * y - 1.0)),
    "relu of a product, used twice": lambda x, y: (lambda h: ad.relu(h) * h)(x @ y.T),
    "relu of passes g": lambda x, y: ad.relu(_passes_g(x - 1.0)) * y,
}


@pytest.mark.parametrize("graph", IN_PLACE_GRAPHS)
def test_rules_that_write_into_the_gradient_change_no_other_value(graph):
    # relu's rule writes into its incoming gradient when the sweep alone holds it; the
    # gradients must equal those of a sweep on tensors (create_graph), which never does
    rng = np.random.default_rng(1)
    x = ad.tensor(rng.uniform(-1.0, 2.0, (64, 80)), requires_grad=True)
    y = ad.tensor(rng.uniform(-1.0, 2.0, (64, 80)), requires_grad=True)
    out = IN_PLACE_GRAPHS[graph](x, y)
    seed = rng.standard_normal(out.shape)
    want = [g.numpy() for g in ad.gradients(out, (x, y), grad_outputs=seed, create_graph=True)]
    out.backward(seed, retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), want[0], rtol=1e-14, atol=0)
    np.testing.assert_allclose(y.grad.numpy(), want[1], rtol=1e-14, atol=0)


def test_a_gradient_asked_for_is_not_written_into_by_the_rule_after_it():
    rng = np.random.default_rng(2)
    x = ad.tensor(rng.standard_normal((64, 80)), requires_grad=True)
    c = rng.standard_normal((64, 80))
    r = ad.relu(x)
    g_r, g_x = ad.gradients((r * c).sum(), (r, x))
    np.testing.assert_array_equal(g_r.numpy(), c)
    np.testing.assert_array_equal(g_x.numpy(), np.where(x.numpy() > 0, c, 0))


def test_backward_of_a_leaf_itself_copies_the_seed():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    g = np.array([3.0, 4.0])
    x.backward(g)
    assert not np.shares_memory(x.grad.numpy(), g)
    g[0] = 100.0
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])
