"""Weight initialisers: each ``init(shape, rng, dtype)`` returns a numpy array.

``shape`` is a weight's ``(fan_out, fan_in)`` (PyTorch's layout) or a bias's
``(fan_out,)``. Defaults: :class:`nn.Linear` uses ``pytorch_default``, uniform in
``±1/sqrt(fan_in)`` for weight and bias as PyTorch's ``nn.Linear``; :class:`nn.MLP`
uses ``he_uniform`` weights for the ReLU family, ``xavier_uniform`` for tanh and
sigmoid, and zero biases.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np


def _fans(shape: tuple) -> tuple[int, int]:
    """``(fan_in, fan_out)`` as PyTorch's: a weight ``(out, in, *field)`` counts each input and
    output once per element of its receptive field; a bias ``(n,)`` counts n for both."""
    if len(shape) < 2:
        n = shape[0] if len(shape) else 1
        return n, n
    field = math.prod(shape[2:])
    return shape[1] * field, shape[0] * field


def _root(numerator: float, fan: int) -> float:
    """``sqrt(numerator / fan)``, and 0 for a fan of 0 (a layer of no inputs: PyTorch's bias bound)."""
    return math.sqrt(numerator / fan) if fan else 0.0


def zeros(shape: tuple, rng: np.random.Generator, dtype: Any = np.float64) -> np.ndarray:
    """All zeros."""
    return np.zeros(shape, dtype=dtype)


def _uniform(bound: float, shape: tuple, rng: np.random.Generator, dtype: Any) -> np.ndarray:
    return rng.uniform(-bound, bound, shape).astype(dtype, copy=False)


def _normal(std: float, shape: tuple, rng: np.random.Generator, dtype: Any) -> np.ndarray:
    return (rng.standard_normal(shape) * std).astype(dtype, copy=False)


def xavier_uniform(shape: tuple, rng: np.random.Generator, dtype: Any = np.float64) -> np.ndarray:
    """Glorot uniform: ``U(±sqrt(6 / (fan_in + fan_out)))``."""
    fan_in, fan_out = _fans(shape)
    return _uniform(_root(6.0, fan_in + fan_out), shape, rng, dtype)


def xavier_normal(shape: tuple, rng: np.random.Generator, dtype: Any = np.float64) -> np.ndarray:
    """Glorot normal: ``N(0, 2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(shape)
    return _normal(_root(2.0, fan_in + fan_out), shape, rng, dtype)


def he_uniform(shape: tuple, rng: np.random.Generator, dtype: Any = np.float64) -> np.ndarray:
    """He (Kaiming) uniform for ReLU: ``U(±sqrt(6 / fan_in))``."""
    fan_in, _ = _fans(shape)
    return _uniform(_root(6.0, fan_in), shape, rng, dtype)


def he_normal(shape: tuple, rng: np.random.Generator, dtype: Any = np.float64) -> np.ndarray:
    """He (Kaiming) normal for ReLU: ``N(0, 2 / fan_in)``."""
    fan_in, _ = _fans(shape)
    return _normal(_root(2.0, fan_in), shape, rng, dtype)


def pytorch_default(shape: tuple, rng: np.random.Generator, dtype: Any = np.float64,
                    fan_in: int | None = None) -> np.ndarray:
    """PyTorch's ``nn.Linear`` default: ``U(±1/sqrt(fan_in))`` (biases use the weight's fan_in)."""
    fan_in = _fans(shape)[0] if fan_in is None else fan_in
    return _uniform(_root(1.0, fan_in), shape, rng, dtype)


INITIALISERS: dict[str, Callable] = {
    "zeros": zeros, "xavier_uniform": xavier_uniform, "xavier_normal": xavier_normal,
    "he_uniform": he_uniform, "he_normal": he_normal, "kaiming_uniform": he_uniform,
    "kaiming_normal": he_normal, "glorot_uniform": xavier_uniform, "glorot_normal": xavier_normal,
    "pytorch_default": pytorch_default,
}


def get(init: str | Callable) -> Callable:
    """An initialiser by name, or the callable itself."""
    if callable(init):
        return init
    if init not in INITIALISERS:
        raise ValueError(f"unknown initialiser {init!r}; choose one of {sorted(INITIALISERS)} "
                         "or pass a function")
    return INITIALISERS[init]
