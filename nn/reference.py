"""Backpropagation for a multilayer perceptron, written out by hand in matrix form.

This is the algorithm of the backpropagation literature, with no engine: the
tests require the engine's gradients to equal these to rounding. Conventions
(column vectors, as in the literature: a batch is a matrix whose columns are samples):

    o_0 = x,    net_l = W_l o_{l-1} + b_l,    o_l = φ_l(net_l),    l = 1..L

The error's derivative with respect to the last net input is the output delta
``δ_L``. The delta rule carries it back one layer at a time,

    δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ φ′_l(net_l),

and gives the gradients  ∂E/∂W_l = δ_l o_{l-1}ᵀ,  ∂E/∂b_l = δ_l 1  (summed over samples).

Read backwards, the delta rule *is* reverse-mode differentiation: each δ_l is the
adjoint of net_l, accumulated from the variables net_l influences (its consumers).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _sigmoid(net: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * net))


# φ and φ′ (the derivative given the net input and the output)
ACTIVATIONS = {
    "sigmoid": (_sigmoid, lambda net, out: out * (1 - out)),
    "tanh": (np.tanh, lambda net, out: 1 - out * out),
    "relu": (lambda net: np.maximum(net, 0), lambda net, out: (net > 0).astype(net.dtype)),
    "identity": (lambda net: net, lambda net, out: np.ones_like(net)),
}


def forward(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray,
            activations: Sequence[str]) -> tuple[list, list]:
    """Net inputs and outputs of every layer; ``x`` has one sample per column.

    Returns ``nets`` (net_1..net_L) and ``outs`` (o_0 = x, o_1..o_L).
    """
    x = np.asarray(x)
    if not weights:
        raise ValueError("no layers: give at least one weight")
    if x.ndim != 2 or x.shape[0] != np.shape(weights[0])[1]:
        raise ValueError(f"x must be a matrix with one sample per column, of {np.shape(weights[0])[1]} rows "
                         f"for the first weight of shape {np.shape(weights[0])}, got shape {x.shape}")
    nets, outs = [], [x]
    for W, b, name in zip(weights, biases, activations, strict=True):
        net = W @ outs[-1] + b[:, None]
        nets.append(net)
        outs.append(ACTIVATIONS[name][0](net))
    return nets, outs


def output_delta(net: np.ndarray, out: np.ndarray, targets: np.ndarray, loss: str,
                 activation: str) -> np.ndarray:
    """δ_L = ∂E/∂net_L for the mean loss over the batch.

    ``"mse"``: E = mean over all entries of (o_L - t)²; δ_L = 2 (o_L - t) ⊙ φ′(net_L) / entries.
    ``"cross_entropy"``: softmax of net_L against class indices ``targets``, E the mean of
    -log p_target; δ_L = (softmax(net_L) - onehot) / N (the output activation is ignored).
    """
    targets = np.asarray(targets)
    if loss == "mse":
        if targets.shape != out.shape:
            raise ValueError(f"mse: targets of shape {targets.shape} for outputs of shape {out.shape} "
                             "(one sample per column)")
        return 2 * (out - targets) * ACTIVATIONS[activation][1](net, out) / out.size
    if loss == "cross_entropy":
        classes, n = net.shape
        if (targets.shape != (n,) or targets.dtype.kind not in "iu"
                or (n and not 0 <= targets.min() <= targets.max() < classes)):
            raise ValueError(f"cross_entropy: targets must be {n} class indices in [0, {classes}), "
                             f"got an array of shape {targets.shape} and dtype {targets.dtype}")
        shifted = net - net.max(axis=0, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=0, keepdims=True)
        onehot = np.zeros_like(probs)
        onehot[targets, np.arange(net.shape[1])] = 1
        return (probs - onehot) / net.shape[1]
    raise ValueError(f"unknown loss {loss!r}: 'mse' or 'cross_entropy'")


def backward(weights: Sequence[np.ndarray], nets: list, outs: list, delta: np.ndarray,
             activations: Sequence[str]) -> tuple[list, list]:
    """From the output delta back to the first layer; returns (∂E/∂W_l, ∂E/∂b_l) for every l."""
    grad_W, grad_b = [None] * len(weights), [None] * len(weights)
    for l in reversed(range(len(weights))):
        grad_W[l] = delta @ outs[l].T          # δ_l o_{l-1}ᵀ
        grad_b[l] = delta.sum(axis=1)          # δ_l 1
        if l:
            derivative = ACTIVATIONS[activations[l - 1]][1]
            delta = (weights[l].T @ delta) * derivative(nets[l - 1], outs[l])  # the delta rule
    return grad_W, grad_b


def gradients(weights, biases, x, targets, activations, loss: str):
    """``(∂E/∂W, ∂E/∂b)`` of an MLP by the delta rule; ``x``: one sample per column."""
    unknown = sorted(set(activations) - set(ACTIVATIONS))
    if unknown:
        raise ValueError(f"the reference backprop knows the activations {sorted(ACTIVATIONS)}, not {unknown}")
    nets, outs = forward(weights, biases, x, activations)
    delta = output_delta(nets[-1], outs[-1], targets, loss, activations[-1])
    return backward(weights, nets, outs, delta, activations)
