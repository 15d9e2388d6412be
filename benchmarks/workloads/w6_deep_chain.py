"""W6, deep chain: a million-op graph, for the cost of depth in time and memory.

``y = y * 1.0001 + 0.0`` repeated N times on one float64 number, then backward: 2
nodes per repetition. The time per node should not grow with N (the traversal is
iterative and linear), and the peak memory per node is what the engine keeps alive
for each node of a pending graph.
"""

from __future__ import annotations

import sys

import numpy as np

from ..registry import Goal, Workload, register

SCALE, SHIFT = 1.0001, 0.0
X = np.array([0.5])

W6 = register(Workload(
    key="W6",
    title="deep chain",
    summary="N × y = y * 1.0001 + 0.0 on shape (1,), then backward; 2 nodes per rep, "
            "time and peak memory per node",
    size_name="N",
    sizes=(10**4, 10**5, 10**6),
    quick_sizes=(10**4,),
    unit="µs/node",
    nodes=lambda n: 2 * n,
    goals=(Goal("time", 5.0, sizes=(10**6,)), Goal("kb_per_node", 0.5, sizes=(10**6,))),
    memory=True,
))


def chain(y, n: int):
    """The computation, for any engine whose tensors have ``*`` and ``+``."""
    for _ in range(n):
        y = y * SCALE + SHIFT
    return y


@W6.implementation("limit")
def w6_limit(n: int):
    """numpy: the forward keeps nothing (the derivative is a constant); the backward is n products."""
    def step():
        chain(X, n)
        g = np.ones_like(X)
        for _ in range(n):
            g = g * SCALE
        return (g,)

    return step


@W6.implementation("ours")
def w6_ours(n: int):
    """autodiff, as a user would write it."""
    import autodiff as ad

    def step():
        x = ad.tensor(X, requires_grad=True)
        chain(x, n).sum().backward()
        return (x.grad.numpy(),)

    return step


@W6.implementation("torch")
def w6_torch(n: int):
    """PyTorch eager mode, float64."""
    import torch

    def step():
        x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
        chain(x, n).sum().backward()
        return (x.grad.numpy(),)

    return step


@W6.implementation("jax")
def w6_jax(n: int):
    """JAX eager: ``jax.grad`` of the chain, every op dispatched on its own; float64.

    There is no ``jax-jit`` here: jit would unroll the Python loop into an XLA program
    of 2N ops, whose compilation is the whole cost.
    """
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(X)
    grad = jax.grad(lambda y: chain(y, n).sum())
    return lambda: (np.asarray(grad(x)),)


@W6.implementation("autograd")
def w6_autograd(n: int):
    """HIPS autograd: ``autograd.grad`` of the chain (its backward sort is iterative)."""
    import autograd

    grad = autograd.grad(lambda y: chain(y, n).sum())
    return lambda: (grad(X),)


@W6.implementation("mygrad")
def w6_mygrad(n: int):
    """MyGrad: a tensor, ``backward()``; memory guarding left on, as by default."""
    import mygrad as mg

    def step():
        x = mg.tensor(X)
        chain(x, n).sum().backward()
        return (x.grad,)

    return step


@W6.implementation("micrograd")
def w6_micrograd(n: int):
    """micrograd: one scalar ``Value`` (W6's shape is (1,)), ``backward()``.

    Each rep makes 4 Values (the constants 1.0001 and 0.0 become Values too) against the
    2 nodes W6 counts. micrograd's ``backward`` sorts the graph with a recursive function,
    one Python frame per node of depth (2 per rep), so this builder raises the recursion
    limit to ``3 * n + 1000``: with Python's default of 1000, every N here fails with
    RecursionError.
    """
    from micrograd.engine import Value

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3 * n + 1000))
    start = float(X[0])

    def step():
        x = Value(start)
        chain(x, n).backward()
        return (np.array([x.grad]),)

    return step
