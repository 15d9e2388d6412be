"""The checker itself: it passes right rules and catches wrong ones, saying where."""

from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad


@ad.op
def wrong_square(x):
    # the forward is x**2 but the rule claims 2x + 0.01 at element 1 only
    def rule(g, out, x):
        bias = np.zeros_like(x)
        bias.flat[1] = 0.01
        return g * (2 * x + bias)

    return x * x, rule


def test_a_wrong_rule_is_caught_and_located():
    x = ad.tensor([0.5, -1.5, 2.0], requires_grad=True)
    with pytest.raises(ad.GradcheckError, match=r"input 0 \(shape \(3,\)\) at element \(1,\).*analytic -2\.99.*numeric -3"):
        ad.gradcheck(lambda x: wrong_square(x).sum(), (x,))
    assert ad.gradcheck(lambda x: wrong_square(x).sum(), (x,), raise_exception=False) is False


def test_a_wrong_rule_is_caught_by_random_projections_on_large_inputs():
    x = ad.tensor(np.linspace(-1, 1, 600).reshape(20, 30), requires_grad=True)
    with pytest.raises(ad.GradcheckError, match="random projection"):
        ad.gradcheck(lambda x: wrong_square(x) * 3.0, (x,))


def test_the_right_rule_passes_on_large_inputs():
    rng = np.random.default_rng(0)
    x = ad.tensor(rng.standard_normal((20, 30)), requires_grad=True)
    w = ad.tensor(rng.standard_normal((30, 40)), requires_grad=True)
    assert ad.gradcheck(lambda x, w: (x @ w).tanh(), (x, w))


def test_a_wrong_second_derivative_is_caught():
    # a first-order rule that is right in value but not differentiable as written:
    # it uses the output's value as a constant, so its own derivative is wrong
    @ad.op
    def cube(x):
        return x ** 3, lambda g, out, x: g * 3 * np.asarray(x) ** 2

    x = ad.tensor([0.5, -1.0], requires_grad=True)
    assert ad.gradcheck(lambda x: cube(x), (x,))
    with pytest.raises(ad.GradcheckError):
        ad.gradgradcheck(lambda x: cube(x), (x,))


def test_float32_inputs_are_checked_in_float64_with_a_warning():
    x = ad.tensor([0.5, -1.5], dtype=np.float32, requires_grad=True)
    with pytest.warns(UserWarning, match="input 0 is float32; checking in float64"):
        assert ad.gradcheck(lambda x: (x * x).sum(), (x,))


def test_constants_and_tuple_outputs():
    x = ad.tensor([0.5, -1.5], requires_grad=True)
    c = ad.tensor([2.0, 3.0])  # does not require grad: held constant
    assert ad.gradcheck(lambda x, c: (x * c, x.sin()), (x, c))
