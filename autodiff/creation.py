"""Factories: tensors from data, constants, ranges and random numbers.

Random factories take a ``numpy.random.Generator`` (``rng``) so results are
reproducible; without one they use a fresh ``np.random.default_rng()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .tensor import Tensor


def _shape(shape: tuple) -> tuple:
    # accept zeros(2, 3) as well as zeros((2, 3))
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor holding a copy of ``data`` (numpy's dtype rules).

    Examples
    --------
    >>> import autodiff as ad
    >>> ad.tensor([[1.0, 2.0]], requires_grad=True).shape
    (1, 2)
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def zeros(*shape, dtype: Any = np.float64, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return Tensor(np.zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype: Any = np.float64, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return Tensor(np.ones(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def full(shape, fill_value, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``."""
    return Tensor(np.full(shape, fill_value, dtype=dtype), requires_grad=requires_grad)


def arange(*args, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Evenly spaced values, as ``np.arange``."""
    return Tensor(np.arange(*args, dtype=dtype), requires_grad=requires_grad)


def zeros_like(x, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros of ``x``'s shape (and dtype unless given)."""
    return Tensor(np.zeros_like(np.asarray(x), dtype=dtype), requires_grad=requires_grad)


def ones_like(x, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones of ``x``'s shape (and dtype unless given)."""
    return Tensor(np.ones_like(np.asarray(x), dtype=dtype), requires_grad=requires_grad)


def rand(*shape, rng: np.random.Generator | int | None = None, dtype: Any = np.float64,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from ``rng`` (a ``numpy.random.Generator``, or a seed)."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return Tensor(rng.random(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def randn(*shape, rng: np.random.Generator | int | None = None, dtype: Any = np.float64,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples from ``rng`` (a ``numpy.random.Generator``, or a seed)."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return Tensor(rng.standard_normal(_shape(shape), dtype=dtype), requires_grad=requires_grad)
