"""W3 and W4, training steps where the matrix products dominate: the engine must add ~nothing.

W3, an MNIST-sized step: batch 128, MLP 784-512-512-10. W4, a large step: batch
2048, MLP 2048-2048-2048-10. Both float32, ReLU, softmax cross-entropy (mean over
the batch), backward, SGD. The inputs are random (the time does not depend on the
values); the step returns the gradients of the first update, which are checked.
"""

from __future__ import annotations

import functools

import numpy as np

from ..registry import Goal, Workload, register
from ._common import (
    mlp_forward,
    mlp_weights,
    our_grads,
    our_mlp,
    tinygrad_forward,
    tinygrad_mlp,
    tinygrad_train_step,
    torch_grads,
    torch_mlp,
)

LR = 0.01
W3_SIZES = [784, 512, 512, 10]
W4_SIZES = [2048, 2048, 2048, 10]

W3 = register(Workload(
    key="W3",
    title="MNIST-sized step",
    summary="float32, batch 128, MLP 784-512-512-10, ReLU, cross-entropy, backward, SGD",
    size_name="batch",
    sizes=(128,),
    quick_sizes=(128,),
    unit="ms",
    goals=(Goal("ratio", 1.05),),
    updates=True,
    rtol=5e-3, check="norm",  # float32: see Workload.check; a wrong gradient is off by O(1)
))

W4 = register(Workload(
    key="W4",
    title="large step",
    summary="float32, batch 2048, MLP 2048-2048-2048-10, ReLU, cross-entropy, backward, SGD",
    size_name="batch",
    sizes=(2048,),
    quick_sizes=(16,),
    unit="ms",
    goals=(Goal("ratio", 1.02, sizes=(2048,)),),
    updates=True,
    rtol=5e-3, check="norm",  # float32: see Workload.check; a wrong gradient is off by O(1)
))

SIZES = {"W3": W3_SIZES, "W4": W4_SIZES}


def both(name: str):
    """Register ``builder(sizes, batch)`` as implementation ``name`` of W3 and of W4."""
    def register(builder):
        for workload in (W3, W4):
            workload.implementation(name)(functools.partial(builder, SIZES[workload.key]))
        return builder

    return register


def data(sizes: list[int], batch: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.standard_normal((batch, sizes[0])).astype(np.float32), rng.integers(0, sizes[-1], batch)


@both("limit")
def limit(sizes: list[int], batch: int):
    """numpy: forward keeping each layer's output; softmax minus one-hot; the delta rule back."""
    X, labels = data(sizes, batch)
    params = mlp_weights(sizes, np.float32)
    rows = np.arange(batch)

    def step():
        outs = [X]
        for i in range(0, len(params) - 2, 2):
            outs.append(np.maximum(outs[-1] @ params[i] + params[i + 1], 0))
        logits = outs[-1] @ params[-2] + params[-1]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        delta = e / e.sum(axis=1, keepdims=True)  # softmax
        loss = -np.log(delta[rows, labels]).mean()  # noqa: F841  (computed as a step computes it)
        delta[rows, labels] -= 1
        delta /= batch
        grads = [None] * len(params)
        for i in range(len(params) - 2, -1, -2):
            grads[i], grads[i + 1] = outs[i // 2].T @ delta, delta.sum(axis=0)
            if i:
                delta = delta @ params[i].T
                delta *= outs[i // 2] > 0
        for p, g in zip(params, grads, strict=True):
            p -= LR * g
        return tuple(grads)

    return step


@both("ours")
def ours(sizes: list[int], batch: int):
    """autodiff with nn: nn.MLP, nn.cross_entropy, nn.optim.SGD, as a user would write it."""
    import nn

    X, labels = data(sizes, batch)
    model = our_mlp(sizes, mlp_weights(sizes, np.float32))
    optimizer = nn.optim.SGD(model.parameters(), lr=LR)

    def step():
        optimizer.zero_grad()
        nn.cross_entropy(model(X), labels).backward()
        grads = our_grads(model)
        optimizer.step()
        return grads

    return step


@both("torch")
def torch_step(sizes: list[int], batch: int):
    """PyTorch eager mode with torch.nn, float32."""
    import torch

    X, labels = data(sizes, batch)
    model, linears = torch_mlp(sizes, mlp_weights(sizes, np.float32))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    Xt, target = torch.from_numpy(X), torch.from_numpy(labels)

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(Xt), target).backward()
        grads = torch_grads(linears)
        optimizer.step()
        return grads

    return step


def _jax_loss(X, labels):
    """Mean softmax cross-entropy of the MLP as a function of the parameters, in jax.numpy."""
    import jax
    import jax.numpy as jnp

    def loss(params):
        log_p = jax.nn.log_softmax(mlp_forward(params, X, jax.nn.relu))
        return -jnp.take_along_axis(log_p, labels[:, None], axis=1).mean()

    return loss


@both("jax")
def jax_step(sizes: list[int], batch: int):
    """JAX eager: ``jax.grad`` of the loss over the parameter list, then a plain SGD update; float32.

    The step blocks on the gradients (converted to numpy) and on the updated parameters.
    """
    import jax
    import jax.numpy as jnp

    X, labels = data(sizes, batch)
    params = [jnp.asarray(p) for p in mlp_weights(sizes, np.float32)]
    grad = jax.grad(_jax_loss(jnp.asarray(X), jnp.asarray(labels)))

    def step():
        nonlocal params
        grads = grad(params)
        params = jax.block_until_ready([p - LR * g for p, g in zip(params, grads, strict=True)])
        return tuple(np.asarray(g) for g in grads)

    return step


@both("jax-jit")
def jax_jit_step(sizes: list[int], batch: int):
    """The same step (gradients and update) as one ``jax.jit`` function; float32."""
    import jax
    import jax.numpy as jnp

    X, labels = data(sizes, batch)
    params = [jnp.asarray(p) for p in mlp_weights(sizes, np.float32)]
    loss = _jax_loss(jnp.asarray(X), jnp.asarray(labels))

    @jax.jit
    def update(params):
        grads = jax.grad(loss)(params)
        return [p - LR * g for p, g in zip(params, grads, strict=True)], grads

    def step():
        nonlocal params
        params, grads = update(params)
        jax.block_until_ready(params)
        return tuple(np.asarray(g) for g in grads)

    return step


@both("autograd")
def autograd_step(sizes: list[int], batch: int):
    """HIPS autograd: ``autograd.grad`` of the loss (with autograd.scipy's logsumexp), plain SGD."""
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    X, labels = data(sizes, batch)
    params = mlp_weights(sizes, np.float32)
    rows = np.arange(batch)

    def loss(params):
        logits = mlp_forward(params, X, lambda h: anp.maximum(h, 0.0))
        log_p = logits - logsumexp(logits, axis=1, keepdims=True)
        return -anp.mean(log_p[rows, labels])

    grad = autograd.grad(loss)

    def step():
        nonlocal params
        grads = grad(params)
        params = [p - LR * g for p, g in zip(params, grads, strict=True)]
        return tuple(grads)

    return step


@both("mygrad")
def mygrad_step(sizes: list[int], batch: int):
    """MyGrad: ``mygrad.nnet.relu`` and ``softmax_crossentropy``; an in-place SGD update of each ``.data``."""
    import mygrad as mg

    X, labels = data(sizes, batch)
    params = [mg.tensor(p) for p in mlp_weights(sizes, np.float32)]

    def step():
        mg.nnet.softmax_crossentropy(mlp_forward(params, X, mg.nnet.relu), labels).backward()
        grads = tuple(p.grad for p in params)
        for p in params:
            p.data -= LR * p.grad
        return grads

    return step


@both("tinygrad")
def tinygrad_step(sizes: list[int], batch: int):
    """tinygrad: ``nn.Linear`` layers, ``sparse_categorical_crossentropy``, ``nn.optim.SGD``; float32."""
    from tinygrad import Tensor, nn

    X, labels = data(sizes, batch)
    layers = tinygrad_mlp(mlp_weights(sizes, np.float32))
    optimizer = nn.optim.SGD([t for layer in layers for t in (layer.weight, layer.bias)], lr=LR)
    Xt, target = Tensor(X), Tensor(labels)

    def step():
        optimizer.zero_grad()
        tinygrad_forward(layers, Xt).sparse_categorical_crossentropy(target).backward()
        return tinygrad_train_step(optimizer, layers)

    return step
