"""The checker itself: it passes right rules and catches wrong ones, saying where."""

from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff.gradcheck import KinkWarning


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
    with pytest.raises(ad.GradcheckError, match=r"input 0 \(shape \(3,\)\) at element \(1,\)"
                                                r".*analytic -2\.99.*numeric -3"):
        ad.gradcheck(lambda x: wrong_square(x).sum(), (x,))
    assert ad.gradcheck(lambda x: wrong_square(x).sum(), (x,), raise_exception=False) is False


def test_a_nan_gradient_fails():
    @ad.op
    def nan_rule(x):
        return x * 2, lambda g, out, x: g * np.nan

    with pytest.raises(ad.GradcheckError, match="analytic nan, numeric 2"):
        ad.gradcheck(nan_rule, (np.array([1.0, 2.0]),))
    assert not ad.gradcheck(nan_rule, (np.array([1.0, 2.0]),), raise_exception=False, check_forward=False)


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
    assert ad.gradcheck(lambda x: cube(x), (x,), check_forward=False)
    with pytest.raises(ad.GradcheckError):
        ad.gradgradcheck(lambda x: cube(x), (x,), check_forward=False)


def test_float32_inputs_are_checked_in_float64_with_a_warning():
    x = ad.tensor([0.5, -1.5], dtype=np.float32, requires_grad=True)
    with pytest.warns(UserWarning, match="input 0 is float32; checking in float64"):
        assert ad.gradcheck(lambda x: (x * x).sum(), (x,))


def test_constants_and_tuple_outputs():
    x = ad.tensor([0.5, -1.5], requires_grad=True)
    c = ad.tensor([2.0, 3.0])  # does not require grad: held constant
    assert ad.gradcheck(lambda x, c: (x * c, x.sin()), (x, c))


def test_the_localiser_names_the_broken_op_in_a_ten_op_program():
    @ad.op(symmetric=True)
    def tanh_with_a_wrong_rule(x):
        return np.tanh(x), lambda g, out, x: g * (1 - out)  # should be 1 - out**2

    def program(x):
        y = x * 2.0
        y = ad.sin(y) + y
        y = ad.exp(y) / 3.0
        y = tanh_with_a_wrong_rule(y * 0.1)  # the line the error must name
        y = ad.softplus(y ** 2)
        return (y.sum() - 1.0) * 3.0

    x = ad.tensor([0.3, -0.5, 0.8], requires_grad=True)
    with pytest.raises(ad.GradcheckError) as caught:
        ad.gradcheck(program, (x,))
    message = str(caught.value)
    assert "first op whose rule disagrees locally: op 'tanh_with_a_wrong_rule'" in message
    assert "test_gradcheck.py" in message and "y = tanh_with_a_wrong_rule(y * 0.1)" in message


def test_forward_mode_is_checked_too():
    @ad.op(tangents=True)
    def cube(x):
        # right reverse rule, wrong tangent rule
        return x ** 3, lambda g, out, x: 3 * g * x ** 2, lambda t, out, x: 2 * t * x ** 2

    x = ad.tensor([0.5, -1.5], requires_grad=True)
    with pytest.raises(ad.GradcheckError, match="forward and reverse mode disagree"):
        ad.gradcheck(lambda x: cube(x).sum(), (x,))
    assert ad.gradcheck(lambda x: cube(x).sum(), (x,), check_forward=False)


def test_an_op_without_tangent_rule_is_checked_in_reverse_mode_with_a_warning():
    @ad.op
    def cube(x):
        return x ** 3, lambda g, out, x: 3 * g * x ** 2

    with pytest.warns(UserWarning, match="forward mode not checked: op 'cube' has no tangent rule"):
        assert ad.gradcheck(lambda x: cube(x).sum(), (ad.tensor([0.5, 2.0], requires_grad=True),))


def test_check_kinks_reports_nondifferentiable_points_instead_of_failing():
    x = ad.tensor([0.0, 1.0, -2.0], requires_grad=True)
    f = lambda x: ad.relu(x).sum() + ad.maximum(x, 1.0).sum()
    with pytest.raises(ad.GradcheckError):
        ad.gradcheck(f, (x,))
    with pytest.warns(KinkWarning,
                      match=r"(?s)step crosses a point where an op is not differentiable.*"
                            r"relu at .*test_gradcheck.py.*\n  maximum at "):
        assert ad.gradcheck(f, (x,), check_kinks=True)
    with pytest.raises(ad.GradcheckError):  # a wrong rule far from any kink still fails
        ad.gradcheck(lambda x: wrong_square(x).sum() + ad.relu(x).sum(),
                     (ad.tensor([0.5, -1.5, 2.0], requires_grad=True),), check_kinks=True)


@pytest.mark.filterwarnings("ignore::autodiff.gradcheck.KinkWarning")  # the first one's, at z
@pytest.mark.parametrize("kink", [
    lambda x, z: ad.relu(z).sum(),  # a kink at another input
    lambda x, z: ad.relu(0 * x).sum(),  # exact zeros into relu: no step crosses it
    lambda x, z: ad.relu(x[:0]).sum() + ad.clip(x, None, None).sum(),  # no elements, no bounds
])
def test_check_kinks_excuses_only_the_steps_that_cross_a_kink(kink):
    x = ad.tensor([0.5, -1.5, 2.0], requires_grad=True)
    z = ad.tensor([0.0, 1.0], requires_grad=True)
    with pytest.raises(ad.GradcheckError, match=r"input 0 \(shape \(3,\)\) at element \(1,\)"):
        ad.gradcheck(lambda x, z: wrong_square(x).sum() + kink(x, z), (x, z), check_kinks=True)
    with pytest.raises(ad.GradcheckError, match="forward and reverse mode disagree"):  # and in forward mode
        ad.gradcheck(lambda x, z: cube_wrong_tangent(x).sum() + kink(x, z), (x, z), check_kinks=True)


@ad.op(tangents=True)
def cube_wrong_tangent(x):
    return x ** 3, lambda g, out, x: 3 * g * x ** 2, lambda t, out, x: 2 * t * x ** 2


def test_inputs_numbers_and_outputs_are_told_apart():
    x = ad.tensor([0.3, -1.2], requires_grad=True)
    # a number is a constant, as in PyTorch (its gradient is no business of the check)
    assert ad.gradcheck(lambda x, s: ad.leaky_relu(x, s).sum(), (x, 0.1))
    assert ad.gradcheck(lambda x, n: (x ** n).sum(), (x, 3))
    with pytest.raises(ValueError, match="no input to check.*requires_grad=True"):
        ad.gradcheck(lambda x: wrong_square(x).sum(), (ad.tensor([0.3, -1.2]),))
    with pytest.raises(ValueError, match="no input to check"):
        ad.gradgradcheck(lambda x: x * x, (ad.tensor([0.3, -1.2]),))
    with pytest.raises(TypeError, match="returned NoneType: it must return a Tensor"):
        ad.gradcheck(lambda x: None, (x,))


def test_a_failed_check_leaves_the_callers_tensors_writable():
    x = ad.tensor([0.3, -1.2], requires_grad=True)
    w = ad.tensor([1.0, 2.0])
    with pytest.raises(ad.GradcheckError) as info:  # the error is kept: its graph must not be
        ad.gradcheck(lambda x, w: (wrong_square(x) * w).sum(), (x, w))
    assert "wrong_square" in str(info.value)
    w.data[0] = 3.0  # saved by the product of the checked graph, which is gone
    assert w.numpy()[0] == 3.0


def test_detect_anomaly_names_log_in_log_of_x_minus_x():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(FloatingPointError, match=r"op 'log' made -inf from finite operands "
                                                 r"of shapes \(2,\), at .*test_gradcheck.py"):
        with ad.detect_anomaly(), np.errstate(divide="ignore"):
            ad.log(x - x)
    y = ad.log(x - x + 1.0)  # off: nothing is checked, nothing raised
    assert np.all(np.isfinite(y.numpy()))


def test_detect_anomaly_in_the_reverse_sweep_names_where_the_op_was_made():
    x = ad.tensor([0.0, 4.0], requires_grad=True)
    with ad.detect_anomaly(), np.errstate(divide="ignore"):
        y = ad.sqrt(x).sum()  # finite, but its gradient at 0 is not
        with pytest.raises(FloatingPointError, match=r"rule of op 'sqrt' made a non-finite gradient"
                                                     r".*test_gradcheck.py.*ad.sqrt\(x\)"):
            y.backward()


@pytest.mark.parametrize("create_graph", [False, True])
def test_detect_anomaly_catches_a_rule_that_returns_a_number(create_graph):
    @ad.op
    def careless(x):
        return x * 1.0, lambda g, out, x: float("inf")  # a number, not an array

    x = ad.tensor([1.0, 2.0], requires_grad=True)
    with ad.detect_anomaly(), pytest.raises(FloatingPointError, match="rule of op 'careless'"):
        careless(x).sum().backward(create_graph=create_graph)
