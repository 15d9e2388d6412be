"""W1, per-node overhead: a thousand tiny elementwise ops, where bookkeeping is all the cost.

``y = tanh(y * 1.01 + 0.1)`` repeated on 8 float64 numbers, then ``sum()`` and
backward: 3 graph nodes per repetition, each doing almost no arithmetic, so the time
per node is what the engine adds to a numpy call.

W1f is the same chain in forward mode: the value and its tangent (a jvp with a
tangent of ones) in one sweep, with no graph kept. Its goal is to cost no more
than the reverse sweep of W1.
"""

from __future__ import annotations

import math
import sys

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
    goals=(Goal("time", 3.0, sizes=(1000,)), Goal("ratio", 3.5, sizes=(1000,))),
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
    goals=(Goal("ratio_to", 1.0, sizes=W1.sizes, other="W1"),),
))


def chain(y, reps: int):
    """The computation, for any engine whose tensors have ``*``, ``+`` and ``.tanh()``."""
    for _ in range(reps):
        y = (y * SCALE + SHIFT).tanh()
    return y


def chain_with(tanh, y, reps: int):
    """The computation, for engines whose tanh is a function (``jnp.tanh``, ``mygrad.tanh``)."""
    for _ in range(reps):
        y = tanh(y * SCALE + SHIFT)
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


@W1.implementation("jax")
def w1_jax(reps: int):
    """JAX eager: ``jax.grad`` of the chain, every op dispatched on its own; float64 (x64 enabled)."""
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(X)
    grad = jax.grad(lambda y: chain_with(jnp.tanh, y, reps).sum())
    return lambda: (np.asarray(grad(x)),)


@W1.implementation("jax-jit")
def w1_jax_jit(reps: int):
    """The same gradient under ``jax.jit`` (the loop is unrolled into one XLA program); float64."""
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(X)
    grad = jax.jit(jax.grad(lambda y: chain_with(jnp.tanh, y, reps).sum()))
    return lambda: (np.asarray(grad(x)),)


@W1.implementation("autograd")
def w1_autograd(reps: int):
    """HIPS autograd: ``autograd.grad`` of the chain written with ``autograd.numpy``."""
    import autograd
    import autograd.numpy as anp

    grad = autograd.grad(lambda y: chain_with(anp.tanh, y, reps).sum())
    return lambda: (grad(X),)


@W1.implementation("mygrad")
def w1_mygrad(reps: int):
    """MyGrad: a tensor, ``mygrad.tanh``, ``backward()``; memory guarding left on, as by default."""
    import mygrad as mg

    def step():
        x = mg.tensor(X)
        chain_with(mg.tanh, x, reps).sum().backward()
        return (x.grad,)

    return step


def _micrograd_tanh(self):
    """tanh for micrograd's ``Value`` (it has none), written as its own ops are, as in Karpathy's lecture."""
    t = math.tanh(self.data)
    out = type(self)(t, (self,), "tanh")

    def _backward():
        self.grad += (1 - t * t) * out.grad

    out._backward = _backward
    return out


@W1.implementation("micrograd")
def w1_micrograd(reps: int):
    """micrograd: a scalar engine, so 8 chains of ``Value`` summed with ``sum()``, then ``backward()``.

    micrograd has no tanh: the builder adds one to ``Value``, written like micrograd's own
    ops. Each rep makes 5 Values (1.01 and 0.1 become Values too) per element, 40 per rep
    in all, against the 3 nodes W1 counts. micrograd's ``backward`` sorts the graph with a
    recursive function, one Python frame per node of depth (3 per rep), so this builder
    raises the recursion limit to ``4 * reps + 1000`` (Python's default of 1000 fails
    from about 330 reps on, with RecursionError).
    """
    from micrograd.engine import Value

    if not hasattr(Value, "tanh"):
        Value.tanh = _micrograd_tanh
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * reps + 1000))
    start = X.tolist()

    def step():
        xs = [Value(v) for v in start]
        sum(chain(x, reps) for x in xs).backward()
        return (np.array([x.grad for x in xs]),)

    return step


@W1.implementation("tinygrad")
def w1_tinygrad(reps: int):
    """tinygrad: lazy, so ``backward()`` builds the gradient graph and ``.numpy()`` realises it."""
    from tinygrad import Tensor

    def step():
        x = Tensor(X)
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


@W1f.implementation("jax")
def w1f_jax(reps: int):
    """JAX eager forward mode: ``jax.jvp`` of the chain, float64."""
    import jax
    import jax.numpy as jnp

    x, ones = jnp.asarray(X), jnp.asarray(ONES)
    return lambda: (np.asarray(jax.jvp(lambda y: chain_with(jnp.tanh, y, reps), (x,), (ones,))[1]),)


@W1f.implementation("jax-jit")
def w1f_jax_jit(reps: int):
    """The same ``jax.jvp`` under ``jax.jit``, float64."""
    import jax
    import jax.numpy as jnp

    x, ones = jnp.asarray(X), jnp.asarray(ONES)
    tangent = jax.jit(lambda y, t: jax.jvp(lambda z: chain_with(jnp.tanh, z, reps), (y,), (t,))[1])
    return lambda: (np.asarray(tangent(x, ones)),)


@W1f.implementation("autograd")
def w1f_autograd(reps: int):
    """HIPS autograd's forward mode, ``autograd.make_jvp``: tangents pushed forward op by op, no graph kept.

    Its tanh rule is ``g / cosh(x)**2``, not ``g (1 - tanh(x)**2)``: equal, rounded differently.
    """
    import autograd
    import autograd.numpy as anp

    jvp = autograd.make_jvp(lambda y: chain_with(anp.tanh, y, reps))
    return lambda: (jvp(X)(ONES)[1],)
