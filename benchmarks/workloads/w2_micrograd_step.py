"""W2, micrograd's demo step: a small MLP on two moons with the max-margin loss.

100 samples, MLP 2-16-16-1 with ReLU, loss ``mean(relu(1 - y * score)) + 1e-4 Σ p²``
(over every weight and bias, as in micrograd's demo), backward, and an SGD update;
float64. The step returns the gradients of the first update, which are checked.
"""

from __future__ import annotations

import numpy as np

from ..registry import Goal, Workload, register
from ._common import mlp_weights, moons, our_grads, our_mlp, torch_grads, torch_mlp

SIZES = [2, 16, 16, 1]
ALPHA, LR = 1e-4, 0.05

W2 = register(Workload(
    key="W2",
    title="micrograd's demo step",
    summary="moons (100 samples), MLP 2-16-16-1 ReLU, hinge loss + 1e-4 Σp², backward, SGD; float64",
    size_name="samples",
    sizes=(100,),
    quick_sizes=(100,),
    unit="ms",
    goals=(Goal("time", 0.20),),
))


@W2.implementation("limit")
def w2_limit(samples: int):
    """numpy: the forward keeps pre-activations; the backward is the delta rule, by hand."""
    X, y = moons(samples)
    params = mlp_weights(SIZES)
    Y = y[:, None]

    def step():
        W1, b1, W2_, b2, W3, b3 = params
        net1 = X @ W1 + b1
        h1 = np.maximum(net1, 0)
        net2 = h1 @ W2_ + b2
        h2 = np.maximum(net2, 0)
        scores = h2 @ W3 + b3
        margin = 1 - Y * scores
        # loss = mean(max(margin, 0)) + ALPHA * Σ p²
        d_scores = np.where(margin > 0, -Y, 0.0) / samples
        d_net2 = (d_scores @ W3.T) * (net2 > 0)
        d_net1 = (d_net2 @ W2_.T) * (net1 > 0)
        grads = [X.T @ d_net1, d_net1.sum(0), h1.T @ d_net2, d_net2.sum(0), h2.T @ d_scores, d_scores.sum(0)]
        for p, g in zip(params, grads, strict=True):
            g += 2 * ALPHA * p
            p -= LR * g
        return tuple(grads)

    return step


@W2.implementation("ours")
def w2_ours(samples: int):
    """autodiff with nn: nn.MLP, nn.hinge_loss, nn.optim.SGD, as a user would write it."""
    import nn

    X, y = moons(samples)
    model = our_mlp(SIZES, mlp_weights(SIZES))
    params = model.parameters()
    optimizer = nn.optim.SGD(params, lr=LR)
    Y = y[:, None]

    def step():
        optimizer.zero_grad()
        loss = nn.hinge_loss(model(X), Y) + ALPHA * sum((p * p).sum() for p in params)
        loss.backward()
        grads = our_grads(model)
        optimizer.step()
        return grads

    return step


@W2.implementation("torch")
def w2_torch(samples: int):
    """PyTorch eager mode with torch.nn, float64."""
    import torch

    X, y = moons(samples)
    model, linears = torch_mlp(SIZES, mlp_weights(SIZES))
    params = list(model.parameters())
    optimizer = torch.optim.SGD(params, lr=LR)
    Xt, Y = torch.from_numpy(X), torch.from_numpy(y[:, None])

    def step():
        optimizer.zero_grad()
        loss = torch.relu(1 - Y * model(Xt)).mean() + ALPHA * sum((p * p).sum() for p in params)
        loss.backward()
        grads = torch_grads(linears)
        optimizer.step()
        return grads

    return step
