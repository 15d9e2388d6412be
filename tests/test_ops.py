"""Every op of the contract against finite differences, first and second order.

The table of cases (one row per op: its function, a domain where it is smooth, the
shapes it runs over) is ``autodiff.check.CASES``, shared with ``python -m autodiff
check``. Kinks get exact tests of the documented convention at the end.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import autodiff as ad
from autodiff.check import CASES, inputs_for, shape_sets

PARAMS = [
    pytest.param(case, shapes, id=f"{case.name}-{'-'.join(map(str, shapes))}")
    for case in CASES
    for shapes in shape_sets(case)
]


@pytest.mark.parametrize("case, shapes", PARAMS)
def test_first_order(case, shapes):
    inputs = inputs_for(case, shapes, seed=1)
    assert ad.gradcheck(case.fn, inputs, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("case, shapes", PARAMS)
def test_second_order(case, shapes):
    inputs = inputs_for(case, shapes, seed=2)
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


CONTRACT_NAMES = (
    "exp log sqrt abs sin cos tanh sigmoid relu leaky_relu gelu softplus clip maximum minimum where matmul "
    "sum mean max min var std prod logsumexp softmax log_softmax reshape transpose flatten squeeze "
    "expand_dims broadcast_to concatenate stack split pad einsum"
).split()


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_every_contract_op_is_a_function_and_a_method(name):
    assert callable(getattr(ad, name)) and callable(getattr(ad.Tensor, name))


def test_method_forms_put_the_tensor_first():
    x = ad.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    y = ad.tensor([[0.5, 0.5], [0.5, 0.5]])
    same = np.testing.assert_array_equal
    same(x.where(x > 0, y).numpy(), ad.where(x > 0, x, y).numpy())
    same(x.concatenate([y], axis=1).numpy(), ad.concatenate([x, y], axis=1).numpy())
    same(x.stack([y]).numpy(), ad.stack([x, y]).numpy())
    same(x.pad(1).numpy(), ad.pad(x, 1).numpy())
    same(x.einsum("ij,jk->ik", y).numpy(), (x @ y).numpy())
    x.where(x > 0, y).sum().backward()
    same(x.grad.numpy(), [[1.0, 0.0], [1.0, 1.0]])


@pytest.mark.parametrize("call", [
    lambda x: ad.softmax(x, axis=2), lambda x: ad.log_softmax(x, axis=-3), lambda x: x.sum(axis=2),
    lambda x: ad.logsumexp(x, axis=5), lambda x: ad.transpose(x, (0, 3)), lambda x: ad.swapaxes(x, 0, 5),
    lambda x: ad.concatenate([x, x], axis=2), lambda x: ad.split(x, 2, axis=3), lambda x: ad.max(x, axis=-3),
])
def test_an_axis_out_of_range_raises_as_in_numpy(call):
    with pytest.raises(np.exceptions.AxisError, match="out of bounds"):
        call(ad.tensor(np.ones((2, 4)), requires_grad=True))


# ------------------------------------------------------------------- kinks
def grad_of(fn, *values):
    xs = [ad.tensor(v, requires_grad=True) for v in values]
    fn(*xs).sum().backward()
    return [x.grad.numpy() for x in xs]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mean_is_numpys_mean_to_the_bit(dtype):
    x = np.random.default_rng(0).standard_normal((7, 3, 5)).astype(dtype)
    for axis in (None, 0, (0, 2), -1):
        got = ad.mean(ad.tensor(x, requires_grad=True), axis=axis).numpy()
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, np.mean(x, axis=axis))
    assert np.isnan(ad.mean(ad.tensor(np.ones((0, 3)), requires_grad=True)).item())


@pytest.mark.parametrize("x", [np.array([60000, 60000, 1], np.float16),  # numpy sums in float32
                               np.array([[2**62, 2**62], [3, -5]]),  # and these in float64
                               np.array([[True, False, True]] * 2)],
                         ids=["float16", "int64", "bool"])
def test_mean_widens_its_sum_as_numpy_does(x):
    for axis in (None, 0, -1):
        want = np.mean(x, axis=axis)
        got = ad.mean(ad.tensor(x), axis=axis).numpy()
        assert got.dtype == want.dtype and np.all(np.isfinite(got))
        np.testing.assert_array_equal(got, want)


def test_mean_takes_lists_and_scalars():
    assert ad.mean([1.0, 2.0]).item() == 1.5 and ad.mean(2.0).item() == 2.0


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64, bool])
def test_var_and_std_are_numpys_to_the_bit(dtype):
    # numpy's var takes the mean in the input's dtype (float16 too, unlike its mean), and
    # divides by max(n - ddof, 0)
    rng = np.random.default_rng(5)
    cases = [(rng.standard_normal((6, 4)) * 3).astype(dtype), np.array([1, 2], dtype)]
    if dtype == np.float16:
        cases.append(np.array([60000, 60000], dtype))  # numpy: inf (the float16 mean overflows)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for x in cases:
            for axis in (None, 0, -1):
                for ddof in (0, 1, 3, np.int64(1), 1.0):
                    for fn, ref in ((ad.var, np.var), (ad.std, np.std)):
                        want = ref(x, axis=axis, ddof=ddof)
                        got = fn(ad.tensor(x), axis=axis, ddof=ddof).numpy()
                        assert got.dtype == want.dtype, (fn, x, axis, ddof)
                        np.testing.assert_array_equal(got, want)


def test_bitwise_operators_are_numpys():
    a, b = np.array([6, 3], np.int32), np.array([3, 1], np.int32)
    for got, want in [(ad.tensor(a) & ad.tensor(b), a & b), (ad.tensor(a) | 8, a | 8),
                      (5 ^ ad.tensor(a), 5 ^ a), (~ad.tensor(a), ~a),
                      (~ad.tensor([True, False]), np.array([False, True])),
                      (np.bitwise_and(ad.tensor(a), b), a & b)]:
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got.numpy(), want)
    with pytest.raises(TypeError):
        ad.tensor([1.5]) & ad.tensor([2.5])  # as numpy: not defined on floats


def test_square_and_reciprocal_of_integers_are_numpys():
    for x in (np.array([2, 4, 1, -3]), np.array([True, False])):
        for ufunc in (np.square, np.reciprocal):
            with np.errstate(all="ignore"):
                got, want = ufunc(ad.tensor(x)).numpy(), ufunc(x)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


def test_a_mask_of_the_wrong_length_raises_as_in_numpy():
    x = ad.tensor(np.arange(4.0), requires_grad=True)
    for tensor, index in [(x, np.array([True, False])), (x, [True, False]),
                          (x.reshape(2, 2), (slice(None), np.array([True, False, True])))]:
        with pytest.raises(IndexError, match="boolean index did not match"):
            tensor[index]  # the mask's indices fit: only numpy's check of its length catches it
    with ad.no_grad(), pytest.raises(IndexError, match="boolean index did not match"):
        x[np.array([True, False])] = -1.0
    np.testing.assert_array_equal(x.numpy(), np.arange(4.0))
    np.testing.assert_array_equal(x[np.array([True, False, True, True])].numpy(), [0.0, 2.0, 3.0])


def test_concatenate_without_an_axis_flattens_as_numpy():
    a = ad.tensor(np.arange(4.0).reshape(2, 2), requires_grad=True)
    out = ad.concatenate([a, [7.0, 8.0]], axis=None)
    np.testing.assert_array_equal(out.numpy(), np.concatenate([a.numpy(), [7.0, 8.0]], axis=None))
    (out * np.arange(6.0)).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[0.0, 1.0], [2.0, 3.0]])


def test_sigmoid_of_integers_and_booleans_is_that_of_their_float_values():
    for x in ([True, False], np.array([-3, 0, 5], np.int32)):
        np.testing.assert_array_equal(ad.sigmoid(x).numpy(), ad.sigmoid(np.asarray(x, float)).numpy())


def test_relu_at_zero_has_gradient_zero():
    (g,) = grad_of(ad.relu, [-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("n", [10, 300, 70000])  # both sides of where relu's rule switches method
@pytest.mark.parametrize("seeded", ["directly", "through a product"])  # the second writes in place
def test_relu_passes_exactly_the_gradient_of_positive_inputs(dtype, n, seeded):
    # incoming gradients of inf and nan where the input is negative must give +0, not nan
    # or -0; elsewhere the gradient's bits pass unchanged
    rng = np.random.default_rng(n)
    x = ad.tensor(rng.standard_normal(n).astype(dtype), requires_grad=True)
    seed = rng.standard_normal(n).astype(dtype)
    seed[:3] = [np.inf, np.nan, -np.inf]
    x.data[:3] = -1.0
    out = ad.relu(x)
    if seeded == "directly":
        out.backward(seed)
    else:  # the product's rule makes a new gradient, which relu's rule may then overwrite
        (out * np.ones(n, dtype)).backward(seed)
    want = np.where(x.numpy() > 0, seed, 0).astype(dtype)
    assert x.grad.dtype == dtype
    np.testing.assert_array_equal(x.grad.numpy().view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("condition", [
    np.tile(np.array([2, 0], np.int8), 150), np.tile(np.array([0.5, 0.0]), 150), np.tile([True, False], 150),
])
def test_where_takes_a_condition_by_its_truth(condition):
    # a gradient whose last bit is set: a mask built from the condition's values would lose it
    seed = np.full(300, np.nextafter(3.0, 4.0))
    x = ad.tensor(np.ones(300), requires_grad=True)
    y = ad.tensor(np.ones(300), requires_grad=True)
    ad.where(condition, x, y).backward(seed)
    np.testing.assert_array_equal(x.grad.numpy(), np.where(condition, seed, 0))
    np.testing.assert_array_equal(y.grad.numpy(), np.where(condition, 0, seed))


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


@pytest.mark.parametrize("x", [0.0, 1.5, 3.0])
def test_clip_with_bounds_crossed_gives_every_gradient_to_the_upper_bound(x):
    # np.clip is minimum(maximum(x, lo), hi): with lo = 2 > hi = 1 every value is hi (as torch.clamp)
    gx, glo, ghi = grad_of(lambda x, lo, hi: ad.clip(x, lo, hi), [x], [2.0], [1.0])
    assert ad.clip(ad.tensor([x]), 2.0, 1.0).numpy().tolist() == [1.0]
    assert (gx.tolist(), glo.tolist(), ghi.tolist()) == ([0.0], [0.0], [1.0])
    # equal bounds: the bound whose value is taken, lo below it and hi above it
    gx, glo, ghi = grad_of(lambda x, lo, hi: ad.clip(x, lo, hi), [x], [1.0], [1.0])
    expected = ([0.0], [1.0], [0.0]) if x < 1 else ([0.0], [0.0], [1.0])
    assert (gx.tolist(), glo.tolist(), ghi.tolist()) == expected


def test_prod_is_exact_with_zeros():
    # d/dx_i prod(x) is the product of the others, also when some of them are zero
    (g,) = grad_of(ad.prod, [2.0, 0.0, 3.0])
    np.testing.assert_array_equal(g, [0.0, 6.0, 0.0])
    (g,) = grad_of(ad.prod, [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])
    (g,) = grad_of(lambda x: ad.prod(x, axis=0), [[2.0, 0.0], [5.0, 4.0]])
    np.testing.assert_array_equal(g, [[5.0, 4.0], [2.0, 0.0]])


@pytest.mark.parametrize("x", [[2.0, 0.0, 3.0, 5.0], [0.0, 0.0, 3.0, 5.0], [0.0, 0.0, 0.0, 5.0],
                               [2.0, 1.5, 3.0, 5.0]])
def test_prod_second_derivatives_are_exact_with_zeros(x):
    # d²prod/dx_i dx_j is the product of all but x_i and x_j (0 on the diagonal)
    x = np.array(x)
    expected = np.array([[0.0 if i == j else np.prod(np.delete(x, [i, j])) for j in range(4)]
                         for i in range(4)])
    np.testing.assert_array_equal(ad.hessian(ad.prod)(x), expected)
    matrix = np.stack([x, x[::-1]], axis=1)  # the same along axis 0 of a matrix, two slices
    rows = ad.hessian(lambda m: ad.prod(m, axis=0).sum())(matrix)
    np.testing.assert_array_equal(rows[:, 0, :, 0], expected)
    np.testing.assert_array_equal(rows[:, 0, :, 1], 0.0)
    assert ad.gradgradcheck(ad.prod, (ad.tensor(x, requires_grad=True),))


def test_power_gradient_in_the_exponent_at_base_zero_is_zero():
    gx, gy = grad_of(lambda x, y: x ** y, [0.0, 2.0], [2.0, 3.0])
    np.testing.assert_array_equal(gy, [0.0, 8.0 * np.log(2.0)])
    np.testing.assert_array_equal(gx, [0.0, 12.0])


def test_power_with_exponent_zero_has_gradient_zero_also_at_base_zero():
    # y x ** (y - 1) is 0 inf at x = y = 0: the gradient is 0 there (x ** 0 is constant), as torch's
    (gx,) = grad_of(lambda x: x ** 0, [0.0, 2.0])
    np.testing.assert_array_equal(gx, [0.0, 0.0])
    gx, gy = grad_of(lambda x, y: x ** y, [0.0, 0.0, 2.0], [0.0, 2.0, 0.0])
    np.testing.assert_array_equal(gx, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(gy, [0.0, 0.0, np.log(2.0)])
    # elsewhere the exponent's mixed second derivative d/dy (y x ** (y - 1)) = 1 / x at y = 0 stays
    assert ad.gradgradcheck(lambda x, y: x ** y, (np.array([0.5, 1.3]), np.array([0.0, 2.5])))


def test_std_has_gradient_zero_where_it_is_zero():
    # over a length-1 axis std is the constant 0; sqrt's infinite slope times 0 would be nan
    (g,) = grad_of(lambda x: x.std(axis=1), [[1.0], [2.0]])
    np.testing.assert_array_equal(g, [[0.0], [0.0]])
    (g,) = grad_of(lambda x: x.std(axis=1), [[1.0, 3.0], [2.0, 2.0]])
    np.testing.assert_array_equal(g, [[-0.5, 0.5], [0.0, 0.0]])
    assert ad.gradgradcheck(lambda x: x.std(axis=0), (np.array([[0.5, 1.3], [2.0, 1.0]]),))


def test_repeated_indices_add_their_gradients():
    (g,) = grad_of(lambda x: x[[0, 0, 2, 0]], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(g, [3.0, 0.0, 1.0])


def test_stable_ops_stay_finite_at_extremes():
    x = ad.tensor([-1e4, 0.0, 1e4], requires_grad=True)
    for fn in (ad.sigmoid, ad.softplus, ad.softmax, ad.log_softmax, ad.logsumexp):
        y = fn(x)
        (g,) = ad.gradients(y.sum(), x)
        assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(g.numpy())), fn.__name__


def test_softplus_and_sigmoid_at_infinity_have_the_limits_of_their_derivatives():
    x = ad.tensor([-np.inf, np.inf], requires_grad=True)
    np.testing.assert_array_equal(ad.softplus(x).numpy(), [0.0, np.inf])
    # d softplus/dx = sigmoid(x): 0 and 1 at the infinities (PyTorch's too), and sigmoid's own: 0
    np.testing.assert_array_equal(ad.gradients(ad.softplus(x).sum(), x)[0].numpy(), [0.0, 1.0])
    np.testing.assert_array_equal(ad.gradients(ad.sigmoid(x).sum(), x)[0].numpy(), [0.0, 0.0])
