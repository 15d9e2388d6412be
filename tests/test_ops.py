"""Every op of the contract against finite differences, first and second order.

One row per op: its function, the domain of each operand (where the op is
smooth) and the shapes it runs over. Kinks get exact tests of the documented
convention at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import autodiff as ad


# ------------------------------------------------------------------ domains
def real(rng, shape):
    return rng.uniform(-2.0, 2.0, shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def away_from_zero(rng, shape):
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 2.0, shape)


def distinct(rng, shape):
    """Values at least 0.1 apart, so max/min/maximum meet no ties."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.1 - n * 0.05 + rng.uniform(0, 0.01, n)).reshape(shape)


def away_from_bounds(rng, shape):
    """Away from clip's bounds at -1 and 1."""
    return rng.choice([-1.6, 0.0, 1.6], shape) + rng.uniform(-0.3, 0.3, shape)


UNARY = [(), (5,), (3, 4), (2, 3, 4)]
BINARY = [((), ()), ((5,), (5,)), ((3, 4), (3, 4)), ((2, 3, 4), (2, 3, 4)),
          ((3, 1), (1, 4)), ((4,), (3, 4)), ((), (3, 4)), ((2, 1, 4), (3, 1))]
REDUCED = [(5,), (3, 4), (2, 3, 4)]


@dataclass
class Case:
    name: str
    fn: Callable
    domains: tuple
    shapes: list = field(default_factory=lambda: UNARY)
    second_order: bool = True


def reductions(name, fn, domain=real, shapes=REDUCED):
    """A reduction over all axes, the last axis, and a pair of axes with keepdims."""
    return [
        Case(f"{name}(all)", lambda x: fn(x), (domain,), [(), *shapes]),
        Case(f"{name}(axis=-1)", lambda x: fn(x, axis=-1), (domain,), shapes),
        Case(f"{name}(axis=(0,-1),keepdims)", lambda x: fn(x, axis=(0, -1), keepdims=True),
             (domain,), shapes[1:]),
    ]


CASES = [
    # arithmetic
    Case("add", lambda x, y: x + y, (real, real), BINARY),
    Case("subtract", lambda x, y: x - y, (real, real), BINARY),
    Case("multiply", lambda x, y: x * y, (real, real), BINARY),
    Case("divide", lambda x, y: x / y, (real, positive), BINARY),
    Case("power", lambda x, y: x ** y, (positive, real), BINARY),
    Case("power(x, 3)", lambda x: x ** 3, (real,)),
    Case("power(x, 0.5)", lambda x: x ** 0.5, (positive,)),
    Case("rpower(2, x)", lambda x: 2.0 ** x, (real,)),
    Case("rsub/rdiv", lambda x: 1.5 - 2.0 / x, (positive,)),
    Case("negative", lambda x: -x, (real,)),
    Case("maximum", ad.maximum, (distinct, distinct), BINARY[:4]),
    Case("minimum", ad.minimum, (distinct, distinct), BINARY[:4]),
    Case("maximum(broadcast)", lambda x, y: ad.maximum(x, y + 5.0), (real, real), BINARY[4:]),
    Case("where", lambda x, y: ad.where(x > 0.3, x, y), (away_from_zero, real), BINARY),
    # elementwise
    Case("exp", ad.exp, (real,)),
    Case("log", ad.log, (positive,)),
    Case("sqrt", ad.sqrt, (positive,)),
    Case("abs", ad.abs, (away_from_zero,)),
    Case("sin", ad.sin, (real,)),
    Case("cos", ad.cos, (real,)),
    Case("tanh", ad.tanh, (real,)),
    Case("sigmoid", ad.sigmoid, (real,)),
    Case("relu", ad.relu, (away_from_zero,)),
    Case("leaky_relu", lambda x: ad.leaky_relu(x, 0.1), (away_from_zero,)),
    Case("gelu", ad.gelu, (real,)),
    Case("softplus", ad.softplus, (real,)),
    Case("clip", lambda x: ad.clip(x, -1.0, 1.0), (away_from_bounds,)),
    Case("clip(tensor bounds)", lambda x, lo: ad.clip(x, lo - 1.0, 1.0), (away_from_bounds, real),
         BINARY[:4]),
    Case("astype", lambda x: ad.astype(x, np.float64) * x, (real,)),
    # reductions
    *reductions("sum", ad.sum),
    *reductions("mean", ad.mean),
    *reductions("max", ad.max, distinct),
    *reductions("min", ad.min, distinct),
    *reductions("prod", ad.prod, away_from_zero),
    *reductions("logsumexp", ad.logsumexp),
    Case("var", lambda x: ad.var(x), (real,), REDUCED),
    Case("var(axis=-1,ddof=1)", lambda x: ad.var(x, axis=-1, ddof=1), (real,), REDUCED),
    Case("std(axis=0,keepdims)", lambda x: ad.std(x, axis=0, keepdims=True), (real,), REDUCED),
    Case("softmax", lambda x: ad.softmax(x) * ad.arange(x.shape[-1]), (real,), REDUCED),
    Case("softmax(axis=0)", lambda x: ad.softmax(x, axis=0) ** 2, (real,), REDUCED),
    Case("log_softmax", lambda x: ad.log_softmax(x) * ad.arange(x.shape[-1]), (real,), REDUCED),
    # linear algebra
    Case("matmul", ad.matmul, (real, real),
         [((3, 4), (4, 2)), ((4,), (4,)), ((4,), (4, 3)), ((3, 4), (4,)),
          ((2, 3, 4), (4, 2)), ((2, 1, 3, 4), (3, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,))]),
    Case("einsum(ij,jk->ik)", lambda x, y: ad.einsum("ij,jk->ik", x, y), (real, real), [((3, 4), (4, 2))]),
    Case("einsum(ii->i)", lambda x: ad.einsum("ii->i", x) ** 2, (real,), [(3, 3)]),
    Case("einsum(ij->)", lambda x: ad.einsum("ij->", x * x), (real,), [(3, 4)]),
    Case("einsum(i,j->ij)", lambda x, y: ad.einsum("i,j", x, y), (real, real), [((3,), (4,))]),
    Case("einsum(...i,...i->...)", lambda x, y: ad.einsum("...i,...i->...", x, y), (real, real),
         [((2, 3, 4), (2, 3, 4)), ((3, 4), (3, 4))]),
    Case("einsum(bij,bjk->bik)", lambda x, y: ad.einsum("bij,bjk->bik", x, y), (real, real),
         [((2, 3, 4), (2, 4, 2))]),
    # shape
    Case("reshape", lambda x: ad.reshape(x, (-1,)) * ad.arange(x.size), (real,)),
    Case("transpose", lambda x: x.T * ad.arange(x.shape[0] if x.ndim else 1), (real,)),
    Case("transpose(axes)", lambda x: ad.transpose(x, (1, 2, 0)) ** 2, (real,), [(2, 3, 4)]),
    Case("swapaxes", lambda x: ad.swapaxes(x, 0, -1) ** 2, (real,), [(3, 4), (2, 3, 4)]),
    Case("flatten", lambda x: ad.flatten(x) ** 3, (real,)),
    Case("squeeze", lambda x: ad.squeeze(x) ** 2, (real,), [(1,), (3, 1), (2, 1, 4)]),
    Case("expand_dims", lambda x: ad.expand_dims(x, 0) ** 2, (real,)),
    Case("broadcast_to", lambda x: ad.broadcast_to(x, (3, 4)) * ad.arange(4.0), (real,),
         [(), (4,), (3, 1), (1, 4)]),
    Case("getitem(basic)", lambda x: x[1:, ..., ::2] ** 2, (real,), [(3, 4), (2, 3, 4)]),
    Case("getitem(int)", lambda x: x[-1] ** 2, (real,), [(5,), (3, 4), (2, 3, 4)]),
    Case("getitem(repeated)", lambda x: x[[0, 2, 0, 0]] ** 2, (real,), [(5,), (3, 4), (3, 3, 4)]),
    Case("getitem(2 arrays)", lambda x: x[[0, 1, 0], [2, 2, 2]] ** 2, (real,), [(3, 4), (2, 3, 4)]),
    Case("getitem(mask)", lambda x: x[x > 0] ** 2, (away_from_zero,), [(5,), (3, 4)]),
    Case("concatenate", lambda x, y: ad.concatenate([x, y, x], axis=-1) ** 2, (real, real),
         [((5,), (2,)), ((3, 4), (3, 2))]),
    Case("stack", lambda x, y: ad.stack([x, y], axis=-1) ** 2, (real, real), BINARY[1:4]),
    Case("split", lambda x: ad.split(x, 2, axis=-1)[1] ** 2 + ad.split(x, [1], axis=-1)[0].sum(),
         (real,), [(4,), (3, 4), (2, 3, 4)]),
    Case("pad", lambda x: ad.pad(x, 1, constant_values=0.5) ** 2, (real,), [(5,), (3, 4)]),
    Case("pad(widths)", lambda x: ad.pad(x, ((0, 2), (1, 0))) ** 2, (real,), [(3, 4)]),
]


def _inputs(case: Case, shapes, seed: int):
    rng = np.random.default_rng(seed)
    return tuple(ad.tensor(domain(rng, shape), requires_grad=True) for domain, shape in zip(case.domains, shapes))


def _shape_sets(case: Case) -> list:
    """One tuple of operand shapes per run."""
    return [(s,) for s in case.shapes] if len(case.domains) == 1 else case.shapes


PARAMS = [
    pytest.param(case, shapes, id=f"{case.name}-{'-'.join(map(str, shapes))}")
    for case in CASES
    for shapes in _shape_sets(case)
]


@pytest.mark.parametrize("case, shapes", PARAMS)
def test_first_order(case, shapes):
    inputs = _inputs(case, shapes, seed=1)
    assert ad.gradcheck(case.fn, inputs, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("case, shapes", PARAMS)
def test_second_order(case, shapes):
    inputs = _inputs(case, shapes, seed=2)
    # large sides are checked with random projections, which keeps this fast
    assert ad.gradgradcheck(case.fn, inputs, atol=1e-5, rtol=1e-4, max_full=12)


def test_table_covers_the_contract():
    contract = {
        "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "leaky_relu", "gelu",
        "softplus", "clip", "maximum", "minimum", "where", "matmul", "sum", "mean", "max", "min",
        "var", "std", "prod", "logsumexp", "softmax", "log_softmax", "reshape", "transpose",
        "flatten", "squeeze", "expand_dims", "broadcast_to", "getitem", "concatenate", "stack",
        "split", "pad", "einsum", "add", "subtract", "multiply", "divide", "power", "negative",
    }
    covered = {case.name.split("(")[0] for case in CASES}
    assert contract <= covered, contract - covered


# ------------------------------------------------------------------- kinks
def grad_of(fn, *values):
    xs = [ad.tensor(v, requires_grad=True) for v in values]
    fn(*xs).sum().backward()
    return [x.grad.numpy() for x in xs]


def test_relu_at_zero_has_gradient_zero():
    (g,) = grad_of(ad.relu, [-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])


def test_leaky_relu_at_zero_has_the_left_slope():
    (g,) = grad_of(lambda x: ad.leaky_relu(x, 0.2), [-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(g, [0.2, 0.2, 1.0])


def test_abs_at_zero_has_gradient_zero():
    (g,) = grad_of(ad.abs, [-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])


def test_maximum_and_minimum_split_ties_equally():
    gx, gy = grad_of(ad.maximum, [1.0, 2.0, 3.0], [1.0, 5.0, 0.0])
    np.testing.assert_array_equal(gx, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(gy, [0.5, 1.0, 0.0])
    gx, gy = grad_of(ad.minimum, [1.0, 2.0, 3.0], [1.0, 5.0, 0.0])
    np.testing.assert_array_equal(gx, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(gy, [0.5, 0.0, 1.0])


def test_max_and_min_reductions_share_the_gradient_among_ties():
    (g,) = grad_of(ad.max, [3.0, 1.0, 3.0, 3.0])
    np.testing.assert_array_equal(g, [1 / 3, 0.0, 1 / 3, 1 / 3])
    (g,) = grad_of(lambda x: ad.min(x, axis=1), [[2.0, 2.0], [0.0, 1.0]])
    np.testing.assert_array_equal(g, [[0.5, 0.5], [1.0, 0.0]])


def test_clip_gives_the_gradient_to_x_at_the_bounds():
    (g,) = grad_of(lambda x: ad.clip(x, -1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 1.0, 0.0])
    gx, lo = grad_of(lambda x, lo: ad.clip(x, lo, None), [-2.0, 0.5], [-1.0, -1.0])
    np.testing.assert_array_equal(gx, [0.0, 1.0])
    np.testing.assert_array_equal(lo, [1.0, 0.0])


def test_prod_is_exact_with_zeros():
    # d/dx_i prod(x) is the product of the others, also when some of them are zero
    (g,) = grad_of(ad.prod, [2.0, 0.0, 3.0])
    np.testing.assert_array_equal(g, [0.0, 6.0, 0.0])
    (g,) = grad_of(ad.prod, [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])
    (g,) = grad_of(lambda x: ad.prod(x, axis=0), [[2.0, 0.0], [5.0, 4.0]])
    np.testing.assert_array_equal(g, [[5.0, 4.0], [2.0, 0.0]])


def test_power_gradient_in_the_exponent_at_base_zero_is_zero():
    gx, gy = grad_of(lambda x, y: x ** y, [0.0, 2.0], [2.0, 3.0])
    np.testing.assert_array_equal(gy, [0.0, 8.0 * np.log(2.0)])
    np.testing.assert_array_equal(gx, [0.0, 12.0])


def test_repeated_indices_add_their_gradients():
    (g,) = grad_of(lambda x: x[[0, 0, 2, 0]], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(g, [3.0, 0.0, 1.0])


def test_stable_ops_stay_finite_at_extremes():
    x = ad.tensor([-1e4, 0.0, 1e4], requires_grad=True)
    for fn in (ad.sigmoid, ad.softplus, ad.softmax, ad.log_softmax, ad.logsumexp):
        y = fn(x)
        (g,) = ad.gradients(y.sum(), x)
        assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(g.numpy())), fn.__name__
