"""autodiff: reverse-mode automatic differentiation on numpy.

A :class:`Tensor` records the operations applied to it; ``backward()`` walks the
recorded graph from the output back to the inputs, accumulating each variable's
adjoint over its consumers (the chain rule run backwards).

>>> import autodiff as ad
>>> x = ad.tensor([[1., 2.], [3., 4.]], requires_grad=True)
>>> y = (x @ x.T).tanh().sum()
>>> y.backward()
>>> x.grad.shape
(2, 2)
"""

from .backward import gradients
from .creation import arange, full, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from .functional import grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp
from .grad_mode import detect_anomaly, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .ops import (
    abs, add, astype, broadcast_to, clip, concatenate, copy, cos, divide, einsum, equal, exp,
    expand_dims, flatten, gelu, getitem, greater, greater_equal, leaky_relu, less, less_equal,
    linear, log, log_softmax, logical_and, logical_not, logical_or, logsumexp, matmul, max, maximum,
    mean, min, minimum, multiply, negative, not_equal, pad, power, prod, relu, reshape,
    sigmoid, sign, sin, softmax, softplus, split, sqrt, square, squeeze, stack, std, subtract, sum,
    swapaxes, tanh, transpose, var, where,
)
from .tensor import Tensor, op
from .viz import draw, explain

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "op", "gradients", "draw", "explain", "grad", "value_and_grad", "vjp", "jvp",
    "jacobian", "hessian", "hvp", "gradcheck", "gradgradcheck", "GradcheckError",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "detect_anomaly",
    "zeros", "ones", "full", "arange", "rand", "randn", "zeros_like", "ones_like",
    "abs", "add", "astype", "broadcast_to", "clip", "concatenate", "copy", "cos", "divide", "einsum",
    "equal", "exp", "expand_dims", "flatten", "gelu", "getitem", "greater", "greater_equal",
    "leaky_relu", "less", "less_equal", "linear", "log", "log_softmax", "logical_and", "logical_not",
    "logical_or", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum",
    "multiply", "negative", "not_equal", "pad", "power", "prod", "relu", "reshape", "sigmoid",
    "sign", "sin", "softmax", "softplus", "split", "sqrt", "square", "squeeze", "stack", "std",
    "subtract", "sum", "swapaxes", "tanh", "transpose", "var", "where",
]
