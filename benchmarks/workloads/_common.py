"""What several workloads share: data, initial weights and the Rosenbrock function.

Every implementation of a workload starts from these same arrays, so their results
can be checked against the numpy limit's.
"""

from __future__ import annotations

import numpy as np


def moons(n: int, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles: ``n`` points of shape (n, 2), labels -1 and +1 (micrograd's demo)."""
    rng = np.random.default_rng(seed)
    upper = n // 2
    angle = np.pi * rng.uniform(size=n)
    X = np.where(np.arange(n)[:, None] < upper,
                 np.stack([np.cos(angle), np.sin(angle)], axis=1),
                 np.stack([1 - np.cos(angle), 0.5 - np.sin(angle)], axis=1))
    X = X + noise * rng.standard_normal((n, 2))
    y = np.where(np.arange(n) < upper, -1.0, 1.0)
    return X, y


def mlp_weights(sizes: list[int], dtype=np.float64, seed: int = 0) -> list[np.ndarray]:
    """``[W1, b1, W2, b2, ...]`` with ``W`` of shape (fan_in, fan_out), He-uniform, and small biases.

    Layer ``l`` computes ``x @ W_l + b_l`` (layers that store ``W.T``, as PyTorch's
    ``Linear`` does, take the transpose).
    """
    rng = np.random.default_rng(seed)
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False):
        bound = np.sqrt(6.0 / fan_in)
        weights.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
        weights.append(rng.uniform(-0.1, 0.1, fan_out).astype(dtype))
    return weights


def our_mlp(sizes: list[int], weights: list[np.ndarray]):
    """``nn.MLP(sizes)`` (ReLU between layers) holding ``weights``, as :func:`mlp_weights` gives them."""
    import nn

    model = nn.MLP(sizes, dtype=weights[0].dtype)
    values = [a for W, b in zip(weights[::2], weights[1::2], strict=True) for a in (W.T, b)]
    names = [name for name, _ in model.named_parameters()]
    model.load_state_dict(dict(zip(names, values, strict=True)))  # into the layers' own layout
    return model


def our_grads(model) -> tuple[np.ndarray, ...]:
    """The gradients of :func:`our_mlp`'s parameters in :func:`mlp_weights`'s order and layout."""
    return tuple(g for layer in model.linears for g in (layer.weight.grad.numpy().T, layer.bias.grad.numpy()))


def torch_mlp(sizes: list[int], weights: list[np.ndarray]):
    """A ``torch.nn.Sequential`` of Linear and ReLU layers holding ``weights``; also its Linear layers."""
    import torch

    layers = []
    for W, b in zip(weights[::2], weights[1::2], strict=True):
        layer = torch.nn.Linear(*W.shape, dtype=torch.from_numpy(W).dtype)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(W.T))
            layer.bias.copy_(torch.from_numpy(b))
        layers += [layer, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1]), layers[::2]


def torch_grads(linears) -> tuple[np.ndarray, ...]:
    """The gradients of :func:`torch_mlp`'s layers in :func:`mlp_weights`'s order and layout."""
    return tuple(g for layer in linears for g in (layer.weight.grad.numpy().T, layer.bias.grad.numpy()))


def mlp_forward(params, x, relu):
    """The MLP of :func:`mlp_weights` on ``x``, for engines whose arrays have ``@`` and ``+``.

    ``params`` is ``[W1, b1, W2, b2, ...]`` in that engine's arrays (jax, autograd, mygrad);
    ``relu`` is its ReLU, applied between layers.
    """
    for i in range(0, len(params) - 2, 2):
        x = relu(x @ params[i] + params[i + 1])
    return x @ params[-2] + params[-1]


def tinygrad_mlp(weights: list[np.ndarray]):
    """tinygrad ``nn.Linear`` layers holding ``weights`` (as their transposes, in the arrays' dtype)."""
    from tinygrad import Tensor, nn

    layers = []
    for W, b in zip(weights[::2], weights[1::2], strict=True):
        layer = nn.Linear(*W.shape)
        layer.weight, layer.bias = Tensor(W.T.copy()), Tensor(b.copy())
        layers.append(layer)
    return layers


def tinygrad_forward(layers, x):
    """:func:`tinygrad_mlp`'s layers on ``x``, ReLU between them."""
    for layer in layers[:-1]:
        x = layer(x).relu()
    return layers[-1](x)


def tinygrad_train_step(optimizer, layers) -> tuple[np.ndarray, ...]:
    """Realise the gradients and ``optimizer``'s update together; the gradients as :func:`our_grads` has them.

    tinygrad is lazy: nothing is computed until realised. The gradients are realised
    with the update (as tinygrad's own examples do, ``loss.realize(*opt.schedule_step())``),
    not after it, which would recompute them from the updated weights.
    """
    from tinygrad import Context, Tensor

    grads = [t.grad for layer in layers for t in (layer.weight, layer.bias)]
    with Context(TRAINING=1):
        Tensor.realize(*grads, *optimizer.schedule_step())
    return tuple(g.numpy().T if g.ndim == 2 else g.numpy() for g in grads)


def rosenbrock_point(n: int) -> tuple[np.ndarray, np.ndarray]:
    """A point and a direction in n dimensions, away from the minimum."""
    rng = np.random.default_rng(0)
    return rng.uniform(-1.5, 1.5, n), rng.standard_normal(n)


def rosenbrock_hessian_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The diagonal and the off-diagonal of the (tridiagonal) Hessian of Rosenbrock's function.

    f(x) = Σ_{i<n-1} 100 (x_{i+1} - x_i²)² + (1 - x_i)², so
    ∂²f/∂x_i² = 1200 x_i² - 400 x_{i+1} + 2 (i < n-1), plus 200 (i > 0), and
    ∂²f/∂x_i∂x_{i+1} = -400 x_i.
    """
    diagonal = np.zeros_like(x)
    diagonal[:-1] = 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    diagonal[1:] += 200
    return diagonal, -400 * x[:-1]
