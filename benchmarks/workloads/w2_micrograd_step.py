"""W2, micrograd's demo step: a small MLP on two moons with the max-margin loss.

100 samples, MLP 2-16-16-1 with ReLU, loss ``mean(relu(1 - y * score)) + 1e-4 Σ p²``
(over every weight and bias, as in micrograd's demo), backward, and an SGD update;
float64. The step returns the gradients of the first update, which are checked.
"""

from __future__ import annotations

import numpy as np

from ..registry import Goal, Workload, register
from ._common import (
    mlp_forward,
    mlp_weights,
    moons,
    our_grads,
    our_mlp,
    tinygrad_forward,
    tinygrad_mlp,
    tinygrad_train_step,
    torch_grads,
    torch_mlp,
)

SIZES = [2, 16, 16, 1]
ALPHA, LR = 1e-4, 0.0625  # a learning rate float32 holds exactly: tinygrad keeps it in float32

W2 = register(Workload(
    key="W2",
    title="micrograd's demo step",
    summary="moons (100 samples), MLP 2-16-16-1 ReLU, hinge loss + 1e-4 Σp², backward, SGD; float64",
    size_name="samples",
    sizes=(100,),
    quick_sizes=(100,),
    unit="ms",
    goals=(Goal("time", 0.20),),
    updates=True,
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
        loss = np.maximum(margin, 0).mean() + ALPHA * sum((p * p).sum() for p in params)  # noqa: F841  (as a step computes it)
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


def _jax_loss(X, Y):
    """The loss as a function of the parameters, in jax.numpy."""
    import jax

    def loss(params):
        scores = mlp_forward(params, X, jax.nn.relu)
        return jax.nn.relu(1 - Y * scores).mean() + ALPHA * sum((p * p).sum() for p in params)

    return loss


@W2.implementation("jax")
def w2_jax(samples: int):
    """JAX eager: ``jax.grad`` of the loss over the parameter list, then a plain SGD update; float64.

    JAX has no optimiser of its own (optax is a separate library). The step blocks on the
    gradients (converted to numpy) and on the updated parameters.
    """
    import jax
    import jax.numpy as jnp

    X, y = moons(samples)
    params = [jnp.asarray(p) for p in mlp_weights(SIZES)]
    grad = jax.grad(_jax_loss(jnp.asarray(X), jnp.asarray(y[:, None])))

    def step():
        nonlocal params
        grads = grad(params)
        params = jax.block_until_ready([p - LR * g for p, g in zip(params, grads, strict=True)])
        return tuple(np.asarray(g) for g in grads)

    return step


@W2.implementation("jax-jit")
def w2_jax_jit(samples: int):
    """The same step (gradients and update) as one ``jax.jit`` function; float64."""
    import jax
    import jax.numpy as jnp

    X, y = moons(samples)
    params = [jnp.asarray(p) for p in mlp_weights(SIZES)]
    loss = _jax_loss(jnp.asarray(X), jnp.asarray(y[:, None]))

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


@W2.implementation("autograd")
def w2_autograd(samples: int):
    """HIPS autograd: ``autograd.grad`` of the loss over the parameter list, then a plain SGD update.

    autograd's ``misc.optimizers.sgd`` runs a whole loop with momentum, so the update is
    written out. Its ``maximum`` splits the gradient at a tie (0.5 each): no pre-activation
    or margin here is exactly 0, so the ReLU is as everywhere else.
    """
    import autograd
    import autograd.numpy as anp

    X, y = moons(samples)
    params = mlp_weights(SIZES)
    Y = y[:, None]

    def loss(params):
        scores = mlp_forward(params, X, lambda h: anp.maximum(h, 0.0))
        return anp.maximum(1 - Y * scores, 0.0).mean() + ALPHA * sum((p * p).sum() for p in params)

    grad = autograd.grad(loss)

    def step():
        nonlocal params
        grads = grad(params)
        params = [p - LR * g for p, g in zip(params, grads, strict=True)]
        return tuple(grads)

    return step


@W2.implementation("mygrad")
def w2_mygrad(samples: int):
    """MyGrad: tensors, ``mygrad.nnet.relu``, ``backward()``; an in-place SGD update of each ``.data``.

    MyGrad has no optimiser (mynn, a separate package, has one, and updates ``.data`` so).
    """
    import mygrad as mg

    X, y = moons(samples)
    params = [mg.tensor(p) for p in mlp_weights(SIZES)]
    Y = y[:, None]

    def step():
        loss = mg.nnet.relu(1 - Y * mlp_forward(params, X, mg.nnet.relu)).mean() \
            + ALPHA * sum((p * p).sum() for p in params)
        loss.backward()
        grads = tuple(p.grad for p in params)
        for p in params:
            p.data -= LR * p.grad
        return grads

    return step


@W2.implementation("micrograd")
def w2_micrograd(samples: int):
    """micrograd's own demo: ``micrograd.nn.MLP(2, [16, 16, 1])``, its loss and its update, on scalar Values.

    Every weight and bias ``Value`` takes its ``.data`` from the shared weights. As in the
    demo, the inputs are made Values in each step, the loss is ``sum(losses) * (1 / n)``
    plus ``alpha * sum(p * p)``, and the update is ``p.data -= lr * p.grad`` after
    ``model.zero_grad()``. Reading the 337 gradients back into arrays is in the timed step.
    """
    from micrograd.engine import Value
    from micrograd.nn import MLP

    X, y = moons(samples)
    model = MLP(SIZES[0], SIZES[1:])
    weights = mlp_weights(SIZES)
    for layer, W, b in zip(model.layers, weights[::2], weights[1::2], strict=True):
        for j, neuron in enumerate(layer.neurons):
            for i, w in enumerate(neuron.w):
                w.data = float(W[i, j])
            neuron.b.data = float(b[j])
    params = model.parameters()
    rows, labels = X.tolist(), y.tolist()

    def step():
        inputs = [list(map(Value, row)) for row in rows]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * score).relu() for yi, score in zip(labels, scores, strict=True)]
        total = sum(losses) * (1.0 / len(losses)) + ALPHA * sum(p * p for p in params)
        model.zero_grad()
        total.backward()
        grads = tuple(g for layer in model.layers
                      for g in (np.array([[w.grad for w in n.w] for n in layer.neurons]).T,
                                np.array([n.b.grad for n in layer.neurons])))
        for p in params:
            p.data -= LR * p.grad
        return grads

    return step


@W2.implementation("tinygrad")
def w2_tinygrad(samples: int):
    """tinygrad: ``nn.Linear`` layers in float64, ``nn.optim.SGD``; the gradients realised with the update.

    tinygrad's SGD keeps its learning rate as a float32 tensor, which holds W2's rate exactly:
    the updated parameters, on which the second step's checked gradients depend, are the limit's.
    """
    from tinygrad import Tensor, nn

    X, y = moons(samples)
    layers = tinygrad_mlp(mlp_weights(SIZES))
    params = [t for layer in layers for t in (layer.weight, layer.bias)]
    optimizer = nn.optim.SGD(params, lr=LR)
    Xt, Y = Tensor(X), Tensor(y[:, None])

    def step():
        optimizer.zero_grad()
        scores = tinygrad_forward(layers, Xt)
        loss = (1 - Y * scores).relu().mean() + ALPHA * sum((p * p).sum() for p in params)
        loss.backward()
        return tinygrad_train_step(optimizer, layers)

    return step
