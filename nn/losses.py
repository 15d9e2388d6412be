"""Loss functions, each with ``reduction="mean" | "sum" | "none"``, and module forms."""

from __future__ import annotations

import numpy as np

import autodiff as ad

from .module import Module

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction) -> None:
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:  # a list would compare elementwise
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(losses, reduction: str):
    _check_reduction(reduction)
    if reduction == "mean":
        return losses.mean()
    return losses.sum() if reduction == "sum" else losses


def _shape(a) -> tuple:
    # a tensor's own shape: np.shape would go through Tensor.__array_function__ (2 µs a call)
    return a.shape if isinstance(a, (ad.Tensor, np.ndarray)) else np.shape(a)


def _same_shape(name: str, pred, target) -> None:
    if _shape(pred) != _shape(target):
        raise ValueError(
            f"{name}: predictions of shape {_shape(pred)} and targets of shape {_shape(target)} "
            "differ; reshape one (e.g. targets[:, None]) so they match"
        )


def mse_loss(pred, target, reduction: str = "mean"):
    """Squared error ``(pred - target)²``, averaged over all elements by default."""
    _same_shape("mse_loss", pred, target)
    diff = pred - target
    return _reduce(diff * diff, reduction)


def _sigmoid(z):
    # on arrays exp(-softplus(-z)), whose exponent is <= 0; on tensors differentiable
    return ad.sigmoid(z) if isinstance(z, ad.Tensor) else np.exp(-np.logaddexp(0, -z))


_BCE_RULES = (lambda g, out, z, y: g * (_sigmoid(z) - y), lambda g, out, z, y: -(g * z))


@ad.op(name="binary_cross_entropy_with_logits", saves="inputs", symmetric=True)
def _binary_cross_entropy(z, y, /):
    # NOTE: own op: max(z, 0) - z y + log(1 + e^-|z|) is exact for both hard labels (for
    # y = 1 and z large, softplus(z) - z y cancelled: all digits lost from z = 35 in float64)
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))), _BCE_RULES


def binary_cross_entropy_with_logits(logits, targets, reduction: str = "mean"):
    """Cross-entropy of targets in [0, 1] and ``sigmoid(logits)``, computed without overflow.

    ``max(z, 0) - z*y + log(1 + e^-|z|)`` equals ``-(y log σ(z) + (1-y) log(1-σ(z)))``, is
    finite for any z, and keeps its digits for confident predictions of either label; its
    gradient is ``σ(z) - y`` for the logits and ``-z`` for the targets.
    """
    _same_shape("binary_cross_entropy_with_logits", logits, targets)
    # a list goes to the op as it is, which refuses one holding a tensor that needs a derivative
    if not isinstance(targets, (ad.Tensor, list, tuple)):
        targets = _target_array(targets, "binary_cross_entropy_with_logits")
    return _reduce(_binary_cross_entropy(logits, targets), reduction)


def _target_array(targets, loss: str, copy: bool = False) -> np.ndarray:
    """``targets`` as an array (a copy if ``copy``); a masked array's mask would be ignored: an error."""
    if isinstance(targets, np.ma.MaskedArray):
        raise TypeError(f"{loss}: the targets are a numpy masked array, whose mask would be ignored: "
                        "pass a.filled(value) for the values you mean, or a.data for all of them")
    return np.array(targets) if copy else np.asarray(targets)


def _class_indices(logits, targets) -> np.ndarray:
    # a copy: the rule reads them at backward(), the caller may refill theirs
    targets = _target_array(targets, "cross_entropy", copy=True)
    if logits.ndim != 2 or targets.shape != logits.shape[:1]:
        raise ValueError(
            f"cross_entropy: logits must be (N, classes) and targets (N,) class indices; got "
            f"{logits.shape} and {targets.shape}"
        )
    if targets.dtype.kind not in "iu":
        if targets.dtype.kind not in "f" or not np.all(np.isfinite(targets) & (targets == np.round(targets))):
            raise ValueError(f"cross_entropy: targets must be integer class indices, got {targets.dtype} "
                             f"values such as {targets.ravel()[:3].tolist()}")
        targets = targets.astype(np.int64)
    if targets.size and not 0 <= np.minimum.reduce(targets) <= np.maximum.reduce(targets) < logits.shape[1]:
        raise ValueError(f"cross_entropy: targets must lie in [0, {logits.shape[1]}), "
                         f"got {targets.min()}..{targets.max()}")
    return targets


@ad.op(name="cross_entropy", tangents=True, batched=True)
def _cross_entropy(logits, /, targets, reduction):
    # NOTE: own rule: one stable pass (log-softmax and pick) and the gradient softmax - onehot.
    # The forward keeps the softmax for the rule, as a hand-written step does: a rule that
    # runs on the forward's values (numpy arrays, saved and locked) reads it instead of
    # computing it again; on tensors (create_graph) the rule computes it, differentiably.
    # (ufuncs' reduce rather than the array methods, which add a Python layer to each call)
    rows = np.arange(len(targets))
    shifted = logits - np.maximum.reduce(logits, axis=1, keepdims=True)
    exps = np.exp(shifted)
    total = np.add.reduce(exps, axis=1, keepdims=True)
    losses = np.log(total[:, 0]) - shifted[rows, targets]
    probs = np.divide(exps, total, out=exps)
    scale = 1.0 / len(targets) if reduction == "mean" and len(targets) else 1.0

    def softmax_minus_onehot(x):
        if type(x) is np.ndarray:
            p = probs.copy()
            p[rows, targets] -= 1
            return p
        onehot = np.zeros(logits.shape, dtype=logits.dtype)
        onehot[rows, targets] = 1
        return np.exp(x - _logsumexp_rows(x)) - onehot

    def rule(g, out, logits):
        weight = g * scale if reduction != "none" else np.expand_dims(g, 1)
        return weight * softmax_minus_onehot(logits)

    def tangent(t, out, logits):
        per_sample = (softmax_minus_onehot(logits) * t).sum(axis=-1)
        if reduction == "none":
            return per_sample
        total = per_sample.sum(axis=-1)  # a mean: nan for no samples, without numpy's warning
        return total / (len(targets) or np.nan) if reduction == "mean" else total

    out = losses if reduction == "none" else np.add.reduce(losses)
    if reduction == "mean":
        out = out / (len(targets) or np.nan)  # nan for no targets, as numpy's mean (without its warning)
    return out, rule, tangent


def _logsumexp_rows(x):
    # array methods only, so that it also runs on tensors (second derivatives)
    m = x.max(axis=1, keepdims=True)
    return m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def cross_entropy(logits, targets, reduction: str = "mean"):
    """Softmax cross-entropy of ``(N, classes)`` logits and integer class ``targets``.

    Fused and stable: finite for logits of any size; its gradient is
    ``softmax(logits) - onehot(targets)`` (divided by N for the mean).

    Examples
    --------
    >>> import autodiff as ad, nn
    >>> z = ad.tensor([[2.0, 0.0, -1e4]], requires_grad=True)
    >>> loss = nn.cross_entropy(z, [0]); loss.backward()
    >>> bool(abs(z.grad.numpy().sum()) < 1e-12)
    True
    """
    _check_reduction(reduction)
    if not isinstance(logits, ad.Tensor):
        logits = np.asarray(logits)  # a list: its shape is checked, as an array's
    return _cross_entropy(logits, _class_indices(logits, targets), reduction)


# Where the margin is violated the loss is 1 - s y, elsewhere 0 (also at the kink). Per
# element (reduction "none") the output says where; reduced, the rules compare s y with 1
# again (the same test as 1 - s y > 0: the difference is exact near 1), as a hand-written
# step does. The mean's weight 1/n is nan for no elements, as numpy's mean (no warning).
def _violated(g, s, y):
    return np.where(s * y < 1, g, 0)


def _mean_weight(s):
    return 1 / (s.size or np.nan)


_HINGE_RULES = {
    "none": (lambda g, out, s, y: np.where(out > 0, -(g * y), 0),
             lambda g, out, s, y: np.where(out > 0, -(g * s), 0)),
    # the sign on the (0-d) outer gradient: a pass less over the batch, the same bits
    "sum": (lambda g, out, s, y: _violated(-g * y, s, y), lambda g, out, s, y: _violated(-g * s, s, y)),
    "mean": (lambda g, out, s, y: _violated(-(g * _mean_weight(s)) * y, s, y),
             lambda g, out, s, y: _violated(-(g * _mean_weight(s)) * s, s, y)),
}


def _summed(rule, mean: bool):
    """A reduced loss's tangent rule from its gradient rule: the rule's terms, summed per direction."""
    def tangent(t, out, s, y):  # s: an array, or a tensor at higher orders
        total = _sum_last(rule(t, out, s, y), s.ndim)
        return total * _mean_weight(s) if mean else total
    return tangent


def _sum_last(x, n: int):
    """``x`` summed over its last ``n`` axes (a tangent's leading axes are a batch of them)."""
    return x.sum(axis=tuple(range(-n, 0))) if n else x


_HINGE_TANGENTS = {"none": _HINGE_RULES["none"], "sum": tuple(_summed(r, False) for r in _HINGE_RULES["sum"]),
                   "mean": tuple(_summed(r, True) for r in _HINGE_RULES["sum"])}


@ad.op(name="hinge_loss", tangents=True, batched=True)
def _hinge(s, y, /, reduction):
    # NOTE: own op with its reduction: one node, not a product, a difference, a relu and a
    # mean (a small network's step spends its time per node)
    losses = np.maximum(1 - s * y, 0)
    if reduction == "none":
        out = losses
    else:
        out = np.add.reduce(losses, axis=None)
        if reduction == "mean":
            out = out / (losses.size or np.nan)  # nan for none, as numpy's mean (without its warning)
    return out, _HINGE_RULES[reduction], _HINGE_TANGENTS[reduction]


def hinge_loss(scores, targets, reduction: str = "mean"):
    """Max-margin loss ``relu(1 - y * score)`` for targets ±1 (micrograd's demo loss).

    Its gradient is ``-y`` where the margin is violated (``y * score < 1``), else 0, also at
    ``y * score = 1`` (relu's convention at its kink).
    """
    _check_reduction(reduction)
    _same_shape("hinge_loss", scores, targets)
    values = targets.numpy() if isinstance(targets, ad.Tensor) else _target_array(targets, "hinge_loss")
    if np.count_nonzero(np.abs(values) != 1):  # count_nonzero: no reduction machinery (any() is 2x dearer)
        # labels 0/1 would cost a constant 1 where y = 0 and teach nothing there
        raise ValueError("hinge_loss: targets must be -1 or +1 (for labels 0/1 pass 2 * y - 1)")
    # a list goes to the op as it is: one holding a tensor that needs a derivative is refused there
    return _hinge(scores, targets if isinstance(targets, (ad.Tensor, list, tuple)) else values, reduction)


class _Loss(Module):
    function = staticmethod(mse_loss)

    def __init__(self, reduction: str = "mean") -> None:
        _check_reduction(reduction)  # PyTorch's first argument is a weight: a tensor here is an error
        self.reduction = reduction

    def forward(self, pred, target):
        return type(self).function(pred, target, reduction=self.reduction)


class MSELoss(_Loss):
    function = staticmethod(mse_loss)


class BCEWithLogitsLoss(_Loss):
    function = staticmethod(binary_cross_entropy_with_logits)


class CrossEntropyLoss(_Loss):
    function = staticmethod(cross_entropy)


class HingeLoss(_Loss):
    function = staticmethod(hinge_loss)
