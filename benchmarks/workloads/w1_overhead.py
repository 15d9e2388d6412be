"""W1, per-node overhead: a thousand tiny elementwise ops, where bookkeeping is all the cost.

``y = tanh(y * 1.01 + 0.1)`` repeated on 8 float64 numbers, then ``sum()`` and
backward: 3 graph nodes per repetition, each doing almost no arithmetic, so the time
per node is what the engine adds to a numpy call.

W1f is the same chain in forward mode: the value and its tangent (a jvp with a
tangent of ones) in one sweep, with no graph kept. Its goal is to cost no more
than the reverse sweep of W1.
"""

from __future__ import annotations

import numpy as np

from ..registry import Goal, Workload, register

SCALE, SHIFT = 1.01, 0.1
X = np.random.default_rng(0).standard_normal(8)
ONES = np.ones_like(X)

W1 = register(Workload(
    key="W1",
    title="per-node overhead",
    summary="reps × y = tanh(y * 1.01 + 0.1) on 8 float64 numbers, then sum().backward(); "
            "3 nodes per rep",
    size_name="reps",
    sizes=(1000,),
    quick_sizes=(100,),
    unit="µs/node",
    nodes=lambda reps: 3 * reps,
    goals=(Goal("time", 3.0), Goal("ratio", 3.5)),
))

W1f = register(Workload(
    key="W1f",
    title="per-node overhead, forward mode",
    summary="the W1 chain as a jvp with a tangent of ones: value and tangent in one forward sweep",
    size_name="reps",
    sizes=W1.sizes,
    quick_sizes=W1.quick_sizes,
    unit="µs/node",
    nodes=W1.nodes,
    goals=(Goal("ratio_to", 1.0, other="W1"),),
))


def chain(y, reps: int):
    """The computation, for any engine whose tensors have ``*``, ``+`` and ``.tanh()``."""
    for _ in range(reps):
        y = (y * SCALE + SHIFT).tanh()
    return y


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
        chain(x, reps).sum().backward()
        return (x.grad.numpy(),)

    return step


@W1.implementation("torch")
def w1_torch(reps: int):
    """PyTorch eager mode, float64."""
    import torch

    def step():
        x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
        chain(x, reps).sum().backward()
        return (x.grad.numpy(),)

    return step


@W1f.implementation("limit")
def w1f_limit(reps: int):
    """numpy: value and tangent side by side; the tangent is multiplied by 1.01 (1 - t²) at each step."""
    def step():
        y, tangent = X, ONES
        for _ in range(reps):
            y = np.tanh(y * SCALE + SHIFT)
            tangent = tangent * SCALE * (1.0 - y * y)
        return (tangent,)

    return step


@W1f.implementation("ours")
def w1f_ours(reps: int):
    """autodiff's forward mode (``ad.jvp``), arrays in and out."""
    import autodiff as ad

    def step():
        _, tangent = ad.jvp(lambda y: chain(y, reps), (X,), (ONES,))
        return (tangent,)

    return step


@W1f.implementation("torch")
def w1f_torch(reps: int):
    """PyTorch's forward-mode AD (``torch.func.jvp``), float64."""
    import torch

    x, ones = torch.tensor(X), torch.tensor(ONES)

    def step():
        _, tangent = torch.func.jvp(lambda y: chain(y, reps), (x,), (ones,))
        return (tangent.numpy(),)

    return step
