"""W1, per-node overhead: a thousand tiny elementwise ops, where bookkeeping is all the cost.

``y = tanh(y * 1.01 + 0.1)`` repeated on 8 float64 numbers, then ``sum()`` and
backward: 3 graph nodes per repetition, each doing almost no arithmetic, so the time
per node is what the engine adds to a numpy call.
"""

from __future__ import annotations

import numpy as np

from ..registry import Goal, Workload, register

SCALE, SHIFT = 1.01, 0.1
X = np.random.default_rng(0).standard_normal(8)

W1 = register(Workload(
    key="W1",
    title="per-node overhead",
    summary="reps × y = tanh(y * 1.01 + 0.1) on 8 float64 numbers, then sum().backward(); "
            "3 nodes per rep",
    size_name="reps",
    sizes=(1000,),
    quick_sizes=(100,),
    nodes=lambda reps: 3 * reps,
    goals=(Goal("us_per_node", 3.0), Goal("ratio", 3.5)),
))


@W1.implementation("limit")
def w1_limit(reps: int):
    """numpy: the forward keeps each tanh output t; the backward multiplies by 1.01 (1 - t²)."""
    def step():
        outputs = []
        y = X
        for _ in range(reps):
            y = np.tanh(y * SCALE + SHIFT)
            outputs.append(y)
        g = np.ones_like(y)
        for t in reversed(outputs):
            g = g * (1.0 - t * t) * SCALE
        return (g,)

    return step


@W1.implementation("ours")
def w1_ours(reps: int):
    """autodiff, as a user would write it."""
    import autodiff as ad

    def step():
        x = ad.tensor(X, requires_grad=True)
        y = x
        for _ in range(reps):
            y = (y * SCALE + SHIFT).tanh()
        y.sum().backward()
        return (x.grad.numpy(),)

    return step


@W1.implementation("torch")
def w1_torch(reps: int):
    """PyTorch eager mode, float64."""
    import torch

    def step():
        x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
        y = x
        for _ in range(reps):
            y = (y * SCALE + SHIFT).tanh()
        y.sum().backward()
        return (x.grad.numpy(),)

    return step
