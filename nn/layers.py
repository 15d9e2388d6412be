"""Layers: Linear, Sequential, MLP, activations and Dropout."""

from __future__ import annotations

import numbers
from typing import Any, Callable, Sequence

import numpy as np

import autodiff as ad

from . import init as _init
from .module import Module, Parameter


class Linear(Module):
    """Affine map ``y = x @ weight.T + bias`` with ``weight`` of shape ``(out_features, in_features)``.

    The weight is stored in Fortran order: its memory is that of the ``(in_features,
    out_features)`` matrix ``weight.T`` in C order, so the forward ``x @ weight.T`` and the
    gradients are the products a hand-written ``x @ W`` network computes, which BLAS runs
    faster than the transposed ones (OpenBLAS, float32, a 784-512-512-10 MLP: the forward
    7-12% faster, the training step 3%).

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    init : str or callable
        Weight initialiser (see :mod:`nn.init`); the default is PyTorch's
        ``U(±1/sqrt(in_features))`` for weight and bias.
    bias_init : str or callable, optional
        Bias initialiser; by default PyTorch's rule with ``init="pytorch_default"``, else zeros.
    rng : numpy.random.Generator or an int seed, optional
    dtype : numpy dtype (default float64)

    Examples
    --------
    >>> import numpy as np, nn
    >>> layer = nn.Linear(3, 2, rng=np.random.default_rng(0))
    >>> layer(np.ones((4, 3))).shape
    (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 init: str | Callable = "pytorch_default", bias_init: str | Callable | None = None,
                 rng: np.random.Generator | int | None = None, dtype: Any = None) -> None:
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
                raise ValueError(f"Linear's {name} must be a non-negative integer, got {n!r}")
        rng = np.random.default_rng(rng)
        dtype = np.float64 if dtype is None else dtype
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(np.asfortranarray(_init.get(init)((out_features, in_features), rng, dtype)))
        self.bias = None
        if bias:
            if bias_init is None:
                bias_init = init if _init.get(init) is _init.pytorch_default else "zeros"
            if _init.get(bias_init) is _init.pytorch_default:  # the weight's fan_in, as PyTorch's
                values = _init.pytorch_default((out_features,), rng, dtype, fan_in=in_features)
            else:
                values = _init.get(bias_init)((out_features,), rng, dtype)
            self.bias = Parameter(values)

    def forward(self, x):
        return ad.linear(x, self.weight, self.bias)

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"


class Sequential(Module):
    """Apply modules (or functions) in order.

    Examples
    --------
    >>> import numpy as np, nn
    >>> model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    >>> model(np.zeros((3, 2))).shape
    (3, 1)
    """

    def __init__(self, *layers: Module | Callable) -> None:
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, index: int | slice):
        """A layer, or a Sequential of the layers in a slice (as PyTorch's)."""
        return Sequential(*self.layers[index]) if isinstance(index, slice) else self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)


class _Activation(Module):
    fn: Callable = staticmethod(lambda x: x)

    def forward(self, x):
        return type(self).fn(x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ReLU(_Activation):
    fn = staticmethod(ad.relu)


class Tanh(_Activation):
    fn = staticmethod(ad.tanh)


class Sigmoid(_Activation):
    fn = staticmethod(ad.sigmoid)


class GELU(_Activation):
    """GELU in its tanh approximation (PyTorch's ``nn.GELU(approximate="tanh")``; see ``ad.gelu``)."""

    fn = staticmethod(ad.gelu)


class Softplus(_Activation):
    fn = staticmethod(ad.softplus)


class LeakyReLU(Module):
    """``x if x > 0 else negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = negative_slope

    def forward(self, x):
        return ad.leaky_relu(x, self.negative_slope)

    def __repr__(self) -> str:
        return f"LeakyReLU({self.negative_slope})"


class Identity(_Activation):
    pass


ACTIVATIONS: dict[str, type] = {
    "relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "gelu": GELU, "softplus": Softplus,
    "leaky_relu": LeakyReLU, "identity": Identity, "linear": Identity,
}


def _activation(spec: str | Module | Callable | None) -> Module | Callable:
    if spec is None:
        return Identity()
    if isinstance(spec, str):
        if spec not in ACTIVATIONS:
            raise ValueError(f"unknown activation {spec!r}; choose one of {sorted(ACTIVATIONS)}")
        return ACTIVATIONS[spec]()
    if isinstance(spec, type) and issubclass(spec, Module):  # the class (torchvision's convention)
        return spec()
    return spec


class Dropout(Module):
    """Zero each element with probability ``p`` in training (scaling the rest by ``1/(1-p)``).

    The identity in evaluation mode. The mask comes from ``rng`` (seeded for reproducibility).
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | int | None = None) -> None:
        # rng by keyword: PyTorch's second argument is inplace (Dropout(0.5, True) was seed 1)
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        if isinstance(rng, bool):
            raise TypeError(f"Dropout's rng must be a numpy Generator or an int seed, got {rng}")
        self.p = p
        self.rng = np.random.default_rng(rng)

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if not isinstance(x, (ad.Tensor, np.ndarray)):
            x = np.asarray(x)
        keep = self.rng.random(x.shape) >= self.p  # all False at p = 1: zeros, as PyTorch's
        # the scaled mask in x's float dtype (float64 for integers, which it would truncate)
        dtype = x.dtype if x.dtype.kind == "f" else np.float64
        return x * (keep / (1 - self.p) if self.p < 1 else keep).astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


class MLP(Module):
    """Multilayer perceptron: Linear layers with an activation between them.

    Parameters
    ----------
    sizes : sequence of int
        Widths from input to output, e.g. ``[2, 16, 16, 1]``.
    activation : str, module or module class
        Between layers: "relu" (default), "tanh", "sigmoid", "gelu", "softplus", "leaky_relu"
        (or ``nn.Tanh()``, ``nn.Tanh``, any callable).
    output_activation : str or module, optional
        After the last layer (none by default: the network outputs logits or values).
    init : str or callable, optional
        Weight initialiser; by default ``he_uniform`` for the ReLU family and
        ``xavier_uniform`` otherwise. Biases are zero, except with ``"pytorch_default"``,
        which initialises them as PyTorch's ``nn.Linear`` does.
    dropout : float
        Dropout probability after each hidden activation (0: none).
    rng, dtype : as for :class:`Linear`.

    Examples
    --------
    >>> import numpy as np, nn
    >>> model = nn.MLP([2, 16, 16, 1], rng=np.random.default_rng(0))
    >>> [name for name, _ in model.named_parameters()][:2]
    ['layers.0.weight', 'layers.0.bias']
    """

    def __init__(self, sizes: Sequence[int], activation: str | Module = "relu",
                 output_activation: str | Module | None = None, init: str | Callable | None = None,
                 dropout: float = 0.0, bias: bool = True, rng: np.random.Generator | int | None = None,
                 dtype: Any = None) -> None:
        if len(sizes) < 2:
            raise ValueError(f"an MLP needs at least an input and an output size, got {list(sizes)}")
        rng = np.random.default_rng(rng)
        if init is None:
            family = (ReLU, LeakyReLU, GELU)
            relu_family = (activation in ("relu", "leaky_relu", "gelu") or isinstance(activation, family)
                           or isinstance(activation, type) and issubclass(activation, family))
            init = "he_uniform" if relu_family else "xavier_uniform"
        self.sizes = list(sizes)
        self.layers = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            self.layers.append(Linear(fan_in, fan_out, bias=bias, init=init, rng=rng, dtype=dtype))
            if i < len(sizes) - 2:
                self.layers.append(_activation(activation))
                if dropout:
                    self.layers.append(Dropout(dropout, rng=rng))
        if output_activation is not None:
            self.layers.append(_activation(output_activation))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    @property
    def linears(self) -> list[Linear]:
        """The affine layers, input to output."""
        return [layer for layer in self.layers if isinstance(layer, Linear)]
