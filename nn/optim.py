"""Optimisers and learning-rate schedules, with PyTorch's documented update formulas.

Every optimiser takes an iterable of parameters (or a module's ``parameters()``),
updates them in place under ``no_grad`` in ``step()``, and skips parameters whose
``.grad`` is None. Schedules change ``optimizer.lr`` each time their ``step()`` is called.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

import autodiff as ad


class Optimizer:
    """Base class: holds the parameters, the learning rate and per-parameter state."""

    def __init__(self, params: Iterable[ad.Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("the optimiser got no parameters")
        if lr < 0:
            raise ValueError(f"learning rate must be non-negative, got {lr}")
        self.lr = lr
        self.state: list[dict] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Forget the parameters' gradients."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        with ad.no_grad():
            for p, state in zip(self.params, self.state, strict=True):
                if p.grad is not None:
                    p -= self._update(p, p.grad.numpy(), state)

    def _update(self, p: ad.Tensor, g: np.ndarray, state: dict) -> np.ndarray:
        """The step to subtract from ``p``, given its gradient ``g``.

        NOTE: ``p`` is the tensor; an update reads its values (``p.numpy()``) only when weight
        decay needs them: an array handed out is protected (made read-only and back) each
        time a recorded op saves the tensor: 3 µs a parameter a step in micrograd's demo (W2).
        """
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay.

    ``g = grad + weight_decay * p``; with momentum, ``b = momentum * b + g`` (``b = g`` at
    the first step) and ``g = g + momentum * b`` (Nesterov) or ``g = b``; ``p -= lr * g``.
    """

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay

    def _update(self, p, g, state):
        if self.weight_decay:
            g = g + self.weight_decay * p.numpy()
        if self.momentum:
            buf = state.get("momentum")
            buf = g.copy() if buf is None else self.momentum * buf + g
            state["momentum"] = buf
            g = g + self.momentum * buf if self.nesterov else buf
        return self.lr * g


class Adam(Optimizer):
    """Adam: ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g²``,
    ``p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)``; ``weight_decay`` adds ``wd * p`` to g.
    """

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay

    def _update(self, p, g, state):
        b1, b2 = self.betas
        if self.weight_decay and not self.decoupled:
            g = g + self.weight_decay * p.numpy()
        m = state["m"] = b1 * state.get("m", 0) + (1 - b1) * g
        v = state["v"] = b2 * state.get("v", 0) + (1 - b2) * g * g
        t = state["t"] = state.get("t", 0) + 1
        step = self.lr / (1 - b1 ** t) * m / (np.sqrt(v) / math.sqrt(1 - b2 ** t) + self.eps)
        if self.weight_decay and self.decoupled:
            step = step + self.lr * self.weight_decay * p.numpy()
        return step


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p -= lr * wd * p`` besides the Adam step."""

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """RMSprop: ``v = alpha v + (1-alpha) g²``, ``p -= lr * g / (sqrt(v) + eps)``; with momentum,
    ``b = momentum * b + g / (sqrt(v) + eps)`` and ``p -= lr * b``.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.alpha, self.eps, self.momentum, self.weight_decay = alpha, eps, momentum, weight_decay

    def _update(self, p, g, state):
        if self.weight_decay:
            g = g + self.weight_decay * p.numpy()
        v = state["v"] = self.alpha * state.get("v", 0) + (1 - self.alpha) * g * g
        scaled = g / (np.sqrt(v) + self.eps)
        if self.momentum:
            scaled = state["momentum"] = self.momentum * state.get("momentum", 0) + scaled
        return self.lr * scaled


class StepLR:
    """Multiply the learning rate by ``gamma`` every ``step_size`` calls of ``step()``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.optimizer, self.step_size, self.gamma = optimizer, step_size, gamma
        self.base_lr, self.epoch = optimizer.lr, 0

    def step(self) -> None:
        self.epoch += 1
        self.optimizer.lr = self.base_lr * self.gamma ** (self.epoch // self.step_size)


class CosineAnnealingLR:
    """``lr = eta_min + (base_lr - eta_min) (1 + cos(pi * epoch / T_max)) / 2``."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.optimizer, self.T_max, self.eta_min = optimizer, T_max, eta_min
        self.base_lr, self.epoch = optimizer.lr, 0

    def step(self) -> None:
        self.epoch += 1
        cosine = (1 + math.cos(math.pi * self.epoch / self.T_max)) / 2
        self.optimizer.lr = self.eta_min + (self.base_lr - self.eta_min) * cosine
