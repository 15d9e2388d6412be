"""nn: a thin neural-network package on top of autodiff.

Modules find their parameters automatically; layers, an MLP, losses,
initialisers, optimisers, data batching and a training loop with a progress bar.
``nn.reference`` holds backpropagation for an MLP written out by hand in matrix
form, which the engine's gradients must match to rounding.
"""

from . import data, init, optim, reference
from .layers import (
    GELU, MLP, Dropout, Identity, LeakyReLU, Linear, ReLU, Sequential, Sigmoid, Softplus, Tanh,
)
from .losses import (
    BCEWithLogitsLoss, CrossEntropyLoss, HingeLoss, MSELoss, binary_cross_entropy_with_logits,
    cross_entropy, hinge_loss, mse_loss,
)
from .module import Module, Parameter, load, save
from .train import accuracy, evaluate, fit

__all__ = [
    "Module", "Parameter", "save", "load", "Linear", "Sequential", "MLP", "ReLU", "Tanh", "Sigmoid",
    "GELU", "Softplus", "LeakyReLU", "Identity", "Dropout", "mse_loss",
    "binary_cross_entropy_with_logits", "cross_entropy", "hinge_loss", "MSELoss", "BCEWithLogitsLoss",
    "CrossEntropyLoss", "HingeLoss", "fit", "evaluate", "accuracy", "data", "init", "optim", "reference",
]
