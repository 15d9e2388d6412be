"""Optimisers and learning-rate schedules, with PyTorch's documented update formulas.

Every optimiser takes an iterable of parameters (or a module's ``parameters()``),
updates them in place under ``no_grad`` in ``step()``, and skips parameters whose
``.grad`` is None. Schedules change ``optimizer.lr`` each time their ``step()`` is called.
"""

from __future__ import annotations

import math
import numbers
from typing import Iterable

import numpy as np

import autodiff as ad

from .module import Module


class Optimizer:
    """Base class: holds the parameters, the learning rate and per-parameter state."""

    def __init__(self, params: Iterable[ad.Tensor], lr: float) -> None:
        if isinstance(params, ad.Tensor):  # list() would walk its rows, which no sweep reaches
            raise TypeError("the optimiser takes an iterable of parameters, got a single Tensor: "
                            "pass [p] or model.parameters()")
        if isinstance(params, Module):
            raise TypeError(f"the optimiser takes an iterable of parameters, got a "
                            f"{type(params).__name__}: pass its .parameters()")
        self.params = list(params)
        if not self.params:
            raise ValueError("the optimiser got no parameters")
        positions: dict[int, list[int]] = {}  # by identity: == on tensors compares elements
        for i, p in enumerate(self.params):
            positions.setdefault(id(p), []).append(i)
            if not isinstance(p, ad.Tensor):
                raise TypeError(f"the optimiser's parameters must be Tensors; entry {i} is a "
                                f"{type(p).__name__}")
            if not p.is_leaf:  # it would update the result of an op, not what made it
                raise ValueError(f"the optimiser's parameter {i} was made by the op {p.op!r}: "
                                 "only leaf tensors can be optimised (pass the tensors it came from)")
        repeated = [", ".join(map(str, at)) for at in positions.values() if len(at) > 1]
        if repeated:  # it would be updated once per entry, each with its own state (PyTorch: a future error)
            raise ValueError(f"the optimiser got the same parameter more than once (at positions "
                             f"{'; '.join(repeated)}): list each parameter once")
        _check_range("learning rate", lr)
        self.lr = float(np.asarray(lr))  # not the caller's array (schedules change the rate)
        self.state: list[dict] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Forget the parameters' gradients."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        plain = -self.lr if self._plain() else None  # the rate when the direction is the gradient
        with ad.no_grad():
            for i, p in enumerate(self.params):
                g = p.grad
                if g is not None:
                    if not isinstance(g, ad.Tensor) or g.shape != p.shape:
                        _wrong_grad(i, p, g)
                    if plain is not None:  # no call to _update (0.25 µs a parameter)
                        p.add_(g, alpha=plain)
                    else:
                        direction, rate = self._update(p, g, self.state[i])
                        p.add_(direction, alpha=-rate)  # in cache-sized blocks for large parameters

    def _plain(self) -> bool:
        """Whether a step is ``p -= lr * grad`` (plain SGD), without :meth:`_update`."""
        return False

    def _update(self, p: ad.Tensor, grad: ad.Tensor, state: dict) -> tuple[np.ndarray | ad.Tensor, float]:
        """``(direction, rate)`` for the gradient ``grad``: the step subtracts ``rate * direction``
        from ``p``.

        NOTE: both are tensors; an update reads their values (``numpy()``) only when it computes
        with them: an array handed out is protected (made read-only and back) each time a
        recorded op saves the tensor: 3 µs a parameter a step in micrograd's demo (W2) for
        ``p``; for ``grad``, the hand-out itself costs 0.7 µs (plain SGD's step passes the tensor to
        ``add_``, see :meth:`_plain`).
        """
        raise NotImplementedError


def _check_range(name: str, value: float, below: float = math.inf) -> None:
    # a real number of any kind: Python's, numpy's, a 0-d array or tensor (not a str or a bool)
    number = np.asarray(value)
    if number.ndim or number.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    if not 0 <= float(number) < below:  # also false for nan
        interval = "finite and non-negative" if below == math.inf else f"in [0, {below})"
        raise ValueError(f"{name} must be {interval}, got {value}")


def _check_optimizer(schedule: str, optimizer) -> None:
    if not hasattr(optimizer, "lr"):
        raise TypeError(f"{schedule} takes the optimiser whose learning rate it changes, got a "
                        f"{type(optimizer).__name__}")


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _wrong_grad(i: int, p: ad.Tensor, g) -> None:
    what = f"shape {g.shape}" if isinstance(g, ad.Tensor) else f"type {type(g).__name__} (not a Tensor)"
    raise ValueError(f"parameter {i} of shape {p.shape} has a gradient of {what}: a gradient "
                     "must be a Tensor of its parameter's shape")


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay.

    ``g = grad + weight_decay * p``; with momentum, ``b = momentum * b + g`` (``b = g`` at
    the first step) and ``g = g + momentum * b`` (Nesterov) or ``g = b``; ``p -= lr * g``.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, *, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:  # keywords: PyTorch's third is dampening
        super().__init__(params, lr)
        _check_range("momentum", momentum)
        _check_range("weight_decay", weight_decay)
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay

    def _plain(self) -> bool:  # (not for an _update of a subclass's, the instance's or a patch's)
        own = getattr(self._update, "__func__", None) is _SGD_UPDATE
        return own and not (self.weight_decay or self.momentum)

    def _update(self, p, grad, state):
        g = grad.numpy()
        if self.weight_decay:
            g = g + self.weight_decay * p.numpy()
        if self.momentum:
            buf = state.get("momentum")
            buf = g.copy() if buf is None else self.momentum * buf + g
            state["momentum"] = buf
            g = g + self.momentum * buf if self.nesterov else buf
        return g, self.lr


_SGD_UPDATE = SGD._update


class Adam(Optimizer):
    """Adam: ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g²``,
    ``p -= lr / (1-b1^t) * m / (sqrt(v) / sqrt(1-b2^t) + eps)``; ``weight_decay`` adds ``wd * p`` to g.
    """

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if np.ndim(betas) != 1 or len(betas) != 2:  # a tuple, a list, an array
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        _check_range("betas[0]", betas[0], 1)
        _check_range("betas[1]", betas[1], 1)
        _check_range("eps", eps)
        _check_range("weight_decay", weight_decay)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay

    def _update(self, p, grad, state):
        g, (b1, b2) = grad.numpy(), self.betas
        if self.weight_decay and not self.decoupled:
            g = g + self.weight_decay * p.numpy()
        m = state["m"] = b1 * state.get("m", 0) + (1 - b1) * g
        v = state["v"] = b2 * state.get("v", 0) + (1 - b2) * g * g
        t = state["t"] = state.get("t", 0) + 1
        direction, rate = m / (np.sqrt(v) / math.sqrt(1 - b2 ** t) + self.eps), self.lr / (1 - b1 ** t)
        if self.weight_decay and self.decoupled:
            return rate * direction + self.lr * self.weight_decay * p.numpy(), 1.0
        return direction, rate


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
                 weight_decay: float = 0.0, momentum: float = 0.0) -> None:  # PyTorch's order
        super().__init__(params, lr)
        for name, value in (("alpha", alpha), ("eps", eps), ("weight_decay", weight_decay),
                            ("momentum", momentum)):
            _check_range(name, value)
        self.alpha, self.eps, self.momentum, self.weight_decay = alpha, eps, momentum, weight_decay

    def _update(self, p, grad, state):
        g = grad.numpy()
        if self.weight_decay:
            g = g + self.weight_decay * p.numpy()
        v = state["v"] = self.alpha * state.get("v", 0) + (1 - self.alpha) * g * g
        scaled = g / (np.sqrt(v) + self.eps)
        if self.momentum:
            scaled = state["momentum"] = self.momentum * state.get("momentum", 0) + scaled
        return scaled, self.lr


def _initial_lr(optimizer) -> float:
    """The optimiser's rate when its first schedule was made (PyTorch's ``initial_lr``), kept
    on it then."""
    if getattr(optimizer, "initial_lr", None) is None:
        optimizer.initial_lr = float(np.asarray(optimizer.lr))
    return optimizer.initial_lr


class StepLR:
    """Multiply the learning rate by ``gamma`` every ``step_size`` calls of ``step()``.

    As PyTorch's schedules, it changes the rate it finds: a change made from outside
    (a warm-up, another schedule) is kept and decays with it.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        _check_optimizer("StepLR", optimizer)
        _check_count("step_size", step_size)
        _check_range("gamma", gamma)
        self.optimizer, self.step_size, self.gamma = optimizer, step_size, gamma
        self.epoch = 0
        _initial_lr(optimizer)

    def step(self) -> None:
        self.epoch += 1
        if self.epoch % self.step_size == 0:
            # (not *=: a rate the caller set as an array stays theirs)
            self.optimizer.lr = self.optimizer.lr * self.gamma


class CosineAnnealingLR:
    """Anneal the learning rate along a cosine from its value at the start to ``eta_min``
    in ``T_max`` calls of ``step()`` (and back up in the next ``T_max``, and so on):
    ``lr = eta_min + (base_lr - eta_min) (1 + cos(pi * epoch / T_max)) / 2``, where
    ``base_lr`` is the rate when the optimiser's first schedule was made (PyTorch's
    ``initial_lr``: the peak is the same whichever schedule came first).

    Each step scales the distance to ``eta_min`` by the cosine's ratio between this epoch
    and the last (PyTorch's recursive form): it gives the formula's rate when nothing else
    changes the rate, and keeps a change made from outside.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        _check_optimizer("CosineAnnealingLR", optimizer)
        _check_count("T_max", T_max)
        _check_range("eta_min", eta_min)
        self.optimizer, self.T_max, self.eta_min = optimizer, T_max, eta_min
        self.base_lr, self.epoch = _initial_lr(optimizer), 0

    def step(self) -> None:
        self.epoch += 1
        e, T, low, lr = self.epoch, self.T_max, self.eta_min, self.optimizer.lr
        if (e - 1 - T) % (2 * T) == 0:  # at the bottom the ratio below is 0/0: climb by the formula's step
            lr += (self.base_lr - low) * (1 - math.cos(math.pi / T)) / 2
        else:
            lr = low + (lr - low) * (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
        self.optimizer.lr = lr
