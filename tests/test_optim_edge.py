"""Optimisers at their edges: the in-place update's scalar, repeated parameters, torch's argument order."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import autodiff as ad
import nn
from autodiff.tensor import _BLOCK_BYTES


# ------------------------------------------------ Tensor.add_'s alpha
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alpha", [-0.37, np.float64(-0.37), np.array(-0.37), np.float32(-0.37)],
                         ids=["float", "np.float64", "0-d array", "np.float32"])
def test_add_in_place_of_a_large_tensor_equals_a_small_ones_for_any_real_alpha(dtype, alpha):
    # a tensor of two blocks is updated block by block, its one-block first row in one pass:
    # both compute the update in the tensor's dtype, as for a Python float (PyTorch's too)
    rng = np.random.default_rng(0)
    shape = (2, _BLOCK_BYTES // np.dtype(dtype).itemsize)
    values, step = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    large, row = ad.tensor(values), ad.tensor(values[:1])
    large.add_(ad.tensor(step), alpha=alpha)
    row.add_(ad.tensor(step[:1]), alpha=alpha)
    np.testing.assert_array_equal(large.numpy()[:1], row.numpy())
    np.testing.assert_array_equal(large.numpy(), values + step * dtype(float(alpha)))
    assert large.dtype == row.dtype == dtype


def test_add_in_place_takes_integers_for_integer_tensors_and_rejects_a_non_real_alpha():
    t = ad.tensor(np.arange(3))
    t.add_(np.ones(3, t.dtype), alpha=np.int64(2))
    np.testing.assert_array_equal(t.numpy(), np.arange(3) + 2)
    assert t.dtype == np.arange(3).dtype
    p = ad.tensor(np.ones(3, np.float32))
    for alpha in ("0.5", 1j, np.complex128(0.5 + 0j), None, np.array([0.5]), [0.5]):
        with pytest.raises(TypeError, match="add_'s alpha must be a real number"):
            p.add_(np.ones(3, np.float32), alpha=alpha)
        np.testing.assert_array_equal(p.numpy(), np.ones(3, np.float32))


# ------------------------------------------------ a parameter listed twice
def test_a_parameter_listed_twice_is_an_error_naming_its_positions():
    p, q = nn.Parameter([1.0, -2.0]), nn.Parameter([1.0, -2.0])  # equal values, distinct tensors
    for optimizer in (nn.optim.SGD, nn.optim.Adam, nn.optim.AdamW, nn.optim.RMSprop):
        with pytest.raises(ValueError, match=r"the same parameter more than once \(at positions 0, 2\)"):
            optimizer([p, q, p], lr=0.1)
        with pytest.raises(ValueError, match=r"positions 0, 2, 3; 1, 4\)"):
            optimizer([p, q, p, p, q], lr=0.1)
        assert len(optimizer([p, q], lr=0.1).params) == 2


# ------------------------------------------------ torch's positional order
def _positional(cls):
    return [name for name, parameter in inspect.signature(cls).parameters.items()
            if parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_positional_parameters_are_a_prefix_of_torchs(name):
    # what torch code passes by position means the same here, or is a TypeError (too many)
    torch = pytest.importorskip("torch")
    ours, theirs = _positional(getattr(nn.optim, name)), _positional(getattr(torch.optim, name))
    assert ours == theirs[:len(ours)]


def test_rmsprop_takes_torchs_positional_order():
    p = nn.Parameter([1.0, -2.0])
    lr, alpha, eps, weight_decay, momentum = 0.01, 0.99, 1e-8, 0.1, 0.5
    opt = nn.optim.RMSprop([p], lr, alpha, eps, weight_decay, momentum)
    assert (opt.weight_decay, opt.momentum) == (weight_decay, momentum)
    x, v, buf = np.array([1.0, -2.0]), 0.0, 0.0
    for _ in range(3):
        p.grad = ad.tensor(3 * p.numpy() ** 2)  # the gradient of sum(p ** 3)
        opt.step()
        g = 3 * x ** 2 + weight_decay * x
        v = alpha * v + (1 - alpha) * g * g
        buf = momentum * buf + g / (np.sqrt(v) + eps)
        x = x - lr * buf
    np.testing.assert_allclose(p.numpy(), x, rtol=1e-14)


def test_sgd_takes_nesterov_and_weight_decay_by_keyword_only():
    p = nn.Parameter([1.0])
    with pytest.raises(TypeError):
        nn.optim.SGD([p], 0.1, 0.9, 0.0, 1e-4)  # torch's (lr, momentum, dampening, weight_decay)
    with pytest.raises(TypeError):
        nn.optim.SGD([p], 0.1, 0.9, True)
    opt = nn.optim.SGD([p], 0.1, 0.9, nesterov=True, weight_decay=1e-4)
    assert (opt.lr, opt.momentum, opt.nesterov, opt.weight_decay) == (0.1, 0.9, True, 1e-4)


def test_a_subclass_of_sgd_that_computes_its_own_direction_is_used_at_plain_settings():
    # plain SGD skips _update (p -= lr * grad): not when a subclass gives its own
    class SignSGD(nn.optim.SGD):
        def _update(self, p, grad, state):
            return np.sign(grad.numpy()), self.lr

    p = ad.tensor([1.0, -2.0], requires_grad=True)
    opt = SignSGD([p], lr=0.5)
    (p * ad.tensor([3.0, -4.0])).sum().backward()
    opt.step()
    np.testing.assert_array_equal(p.numpy(), [0.5, -1.5])


def test_plain_sgd_uses_an_update_given_to_the_instance_or_patched_on_the_class():
    from unittest import mock

    p = ad.tensor([1.0, -2.0], requires_grad=True)
    opt = nn.optim.SGD([p], lr=0.5)
    opt._update = lambda p, grad, state: (np.sign(grad.numpy()), 0.5)
    p.grad = ad.tensor([3.0, -4.0])
    opt.step()
    np.testing.assert_array_equal(p.numpy(), [0.5, -1.5])
    calls = []
    patched = lambda self, p, grad, state: calls.append(1) or (grad, 1.0)  # noqa: E731
    with mock.patch.object(nn.optim.SGD, "_update", patched):
        nn.optim.SGD([p], lr=0.5).step()
    assert calls == [1]


def test_adam_takes_its_betas_as_any_pair():
    p = nn.Parameter([1.0])
    for betas in ((0.9, 0.99), [0.9, 0.99], np.array([0.9, 0.99])):
        assert list(nn.optim.Adam([p], betas=betas).betas) == [0.9, 0.99]
