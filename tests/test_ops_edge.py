"""Ops at the edges of their domain: several axes at once, empty arrays and axes,
empty index lists, numpy's less common argument forms. Each result is compared with
numpy's (or torch's, where numpy has no such function) and each gradient with finite
differences or torch.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import autodiff as ad

SOFTMAX_AXES = [None, (0, 1), (1, 0), (0, 2), (-1, 0), (1, 2), 2, ()]


def _exp_normalised(x: np.ndarray, axis) -> np.ndarray:
    # the definition, unshifted: exact enough for inputs of order 1
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", SOFTMAX_AXES, ids=str)
def test_softmax_and_log_softmax_normalise_over_every_given_axis(axis):
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    want = _exp_normalised(x, axis)
    np.testing.assert_allclose(ad.softmax(ad.tensor(x), axis=axis).numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(ad.log_softmax(ad.tensor(x), axis=axis).numpy(), np.log(want), rtol=1e-12)


@pytest.mark.parametrize("axis", SOFTMAX_AXES, ids=str)
@pytest.mark.parametrize("fn", [ad.softmax, ad.log_softmax], ids=["softmax", "log_softmax"])
def test_softmax_over_several_axes_has_right_derivatives_in_both_modes(fn, axis):
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    weights = np.random.default_rng(2).standard_normal(x.shape)  # not constant over the axes
    f = lambda x: fn(x, axis=axis) * weights
    assert ad.gradcheck(f, (x,))  # reverse mode and forward mode against finite differences
    assert ad.gradgradcheck(f, (x,), max_full=12)
    # batched forward mode (every direction in one sweep) against reverse mode
    np.testing.assert_allclose(ad.jacobian(f, mode="fwd")(x), ad.jacobian(f, mode="rev")(x), atol=1e-12)


def test_softmax_of_a_scalar_over_all_axes_is_one():
    assert ad.softmax(ad.tensor(3.0), axis=None).item() == 1.0
    assert ad.log_softmax(ad.tensor(3.0), axis=None).item() == 0.0


# --------------------------------------------------------------- empty arrays
@pytest.mark.parametrize("shape, axis", [((0, 3), 1), ((3, 0), 0), ((3, 0), 1), ((0,), None), ((0,), 0)])
def test_prod_of_an_empty_array_has_a_gradient_of_its_shape(shape, axis):
    torch = pytest.importorskip("torch")
    x = ad.tensor(np.ones(shape), requires_grad=True)
    out = ad.prod(x, axis=axis)
    np.testing.assert_array_equal(out.numpy(), np.prod(np.ones(shape), axis=axis))
    out.sum().backward()
    t = torch.ones(shape, dtype=torch.float64, requires_grad=True)
    (torch.prod(t) if axis is None else torch.prod(t, dim=axis)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    assert x.grad.shape == shape


def test_prod_of_an_empty_array_has_second_derivatives_of_its_shape():
    x = ad.tensor(np.ones(0), requires_grad=True)
    (g,) = ad.gradients(ad.prod(x), x, create_graph=True)
    (gg,) = ad.gradients(g.sum(), x)
    assert g.shape == gg.shape == (0,)
    assert ad.hessian(ad.prod)(np.ones(0)).shape == (0, 0)


@pytest.mark.parametrize("shape, axis", [((3, 0), 1), ((3, 0), -1), ((0, 3), 0), ((2, 0, 3), (1, 2)),
                                         ((0,), None)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_and_logsumexp_over_an_empty_axis_are_torchs(shape, axis, dtype):
    torch = pytest.importorskip("torch")
    data = np.ones(shape, dtype)
    t = torch.from_numpy(data).requires_grad_()
    dims = tuple(range(len(shape))) if axis is None else axis
    cases = [(ad.logsumexp, lambda t: torch.logsumexp(t, dim=dims))]
    if isinstance(axis, int):  # torch's softmax takes one dim
        cases += [(ad.softmax, lambda t: torch.softmax(t, axis)),
                  (ad.log_softmax, lambda t: torch.log_softmax(t, axis))]
    for fn, reference in cases:
        x = ad.tensor(data, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the log of a sum of no terms is -inf, not a warning
            out = fn(x, axis=axis)
        want = reference(t)
        assert out.dtype == want.detach().numpy().dtype
        np.testing.assert_array_equal(out.numpy(), want.detach().numpy())
        seed = np.random.default_rng(3).standard_normal(out.shape).astype(dtype)
        out.backward(seed)
        t.grad = None
        want.backward(torch.from_numpy(seed))
        np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
        assert x.grad.shape == shape


def test_logsumexp_of_nothing_has_a_zero_tangent():
    out, tangent = ad.jvp(lambda x: ad.logsumexp(x, axis=1), (np.ones((3, 0)),), (np.ones((3, 0)),))
    np.testing.assert_array_equal(np.asarray(out), np.full(3, -np.inf))
    np.testing.assert_array_equal(np.asarray(tangent), np.zeros(3))


# ----------------------------------------------------------------- indexing
@pytest.mark.parametrize("index", [[], ([], 1), (slice(None), []), [[]]], ids=str)
def test_an_empty_list_indexes_as_in_numpy(index):
    data = np.arange(20.0).reshape(4, 5)
    x = ad.tensor(data, requires_grad=True)
    out = x[index]
    np.testing.assert_array_equal(out.numpy(), data[index])
    assert out.shape == data[index].shape
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros_like(data))  # no element was taken
    with ad.no_grad():
        x[index] = -1.0
    np.testing.assert_array_equal(x.numpy(), data)  # nothing written


# ---------------------------------------------------------------------- pad
@pytest.mark.parametrize("widths", [{1: (1, 2)}, {0: 2}, {-1: (0, 3), 0: (1, 0)}, {}], ids=str)
def test_pad_takes_numpys_dict_of_widths(widths):
    data = np.random.default_rng(4).standard_normal((2, 3))
    pairs = [(0, 0)] * data.ndim  # the widths as numpy < 2.3 takes them (a dict: numpy 2.3 on)
    for axis, width in widths.items():
        pairs[axis] = (width, width) if isinstance(width, int) else width
    want = np.pad(data, pairs)
    for call in (ad.pad, np.pad):
        np.testing.assert_array_equal(call(ad.tensor(data), widths).numpy(), want)
    weights = np.random.default_rng(5).standard_normal(want.shape)
    assert ad.gradcheck(lambda x: ad.pad(x, widths) * weights, (data,))


def test_pad_with_a_dict_naming_an_axis_out_of_range_raises_an_axis_error():
    with pytest.raises(np.exceptions.AxisError):
        ad.pad(ad.tensor(np.ones((2, 3))), {2: 1})
