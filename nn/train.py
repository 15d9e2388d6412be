"""The training loop (with a progress bar) and evaluation."""

from __future__ import annotations

import functools
import numbers
import warnings
from typing import Callable

import numpy as np

import autodiff as ad

from .data import batches
from .losses import CrossEntropyLoss, _Loss, cross_entropy
from .module import Module
from .optim import Optimizer


def _fit_targets(outputs, targets: np.ndarray, loss_fn: Callable) -> np.ndarray:
    # targets of shape (N,) meet outputs of shape (N, 1) as a column, except class indices
    if loss_fn is cross_entropy or isinstance(loss_fn, CrossEntropyLoss):
        return targets
    if outputs.ndim == 2 and outputs.shape[1] == 1 and targets.ndim == 1:
        return targets[:, None]
    return targets


def accuracy(outputs, targets, threshold: float = 0.0) -> float:
    """Fraction classified right.

    ``(N, classes)`` outputs: their argmax against integer labels ``(N,)``, or against the
    argmax of ``(N, classes)`` targets (one-hot or probabilities). Other outputs, one per
    sample: ``output > threshold`` against ``target > 0`` (labels 0/1 or -1/+1; use
    ``threshold=0.5`` for probabilities).
    """
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    n = len(outputs) if outputs.ndim else 1
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        if targets.shape == outputs.shape:
            targets = targets.argmax(axis=1)
        elif targets.shape in ((n,), (n, 1)):
            targets = targets.reshape(-1)
        else:
            raise ValueError(f"accuracy: outputs of shape {outputs.shape} need class labels of shape "
                             f"({n},) or targets of shape {outputs.shape}, got {targets.shape}")
        return float(np.mean(outputs.argmax(axis=1) == targets))
    if outputs.size != n or targets.size != n:
        raise ValueError(f"accuracy: outputs of shape {outputs.shape} and targets of shape "
                         f"{targets.shape} are not one value per sample")
    return float(np.mean((outputs.reshape(-1) > threshold) == (targets.reshape(-1) > 0)))


def evaluate(model: Module, loss_fn: Callable, data: tuple, batch_size: int | None = None,
             threshold: float = 0.0) -> dict[str, float]:
    """Loss and accuracy of ``model`` on ``data = (X, y)`` in evaluation mode, without recording.

    ``loss_fn`` gives the mean over a batch (as in :func:`fit`); the loss returned is the
    mean over all samples. Every module's mode (training or evaluation) is restored after.
    """
    _check_mean(loss_fn, "evaluate")
    X, y = (np.asarray(a) for a in data)
    if not len(X):
        raise ValueError("evaluate: the data has no samples")
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    total_loss = correct = 0.0
    try:
        with ad.no_grad():
            for xb, yb in batches(X, y, len(X) if batch_size is None else batch_size, shuffle=False):
                out = model(xb)
                target = _fit_targets(out, yb, loss_fn)
                total_loss += float(loss_fn(out, target).item()) * len(xb)
                correct += accuracy(out, yb, threshold) * len(xb)
    finally:
        for module, mode in modes:
            module.training = mode
    return {"loss": total_loss / len(X), "accuracy": correct / len(X)}


def _check_mean(loss_fn, caller: str) -> None:
    """fit and evaluate weigh each batch's loss by its size: it must be the batch's mean. Checked
    for nn's losses (a loss module, its forward, a partial of either or of a loss function)."""
    reduction = None
    while isinstance(loss_fn, functools.partial):  # (the outermost keyword wins)
        if reduction is None:
            reduction = loss_fn.keywords.get("reduction")
        loss_fn = loss_fn.func
    loss_fn = getattr(loss_fn, "__self__", loss_fn)  # a loss module's bound forward
    if reduction is None and isinstance(loss_fn, _Loss):
        reduction = loss_fn.reduction
    if reduction not in (None, "mean"):
        raise ValueError(f"{caller}: loss_fn gives the {reduction!r} reduction of a batch, and {caller} "
                         "averages the batches' means: pass a loss with reduction='mean' (the default)")


class _Silent(list):
    """The epochs without a progress bar (tqdm is not even imported)."""

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def _check_fit(model, loss_fn, optimizer, data, scheduler) -> None:
    """fit's arguments are what it takes (misplaced ones failed deep inside, or trained nothing)."""
    if not isinstance(model, Module):
        raise TypeError(f"fit: model must be an nn.Module, got {type(model).__name__}")
    if not callable(loss_fn) or isinstance(loss_fn, Optimizer):
        raise TypeError(f"fit: loss_fn must be a loss function such as nn.cross_entropy, got "
                        f"{type(loss_fn).__name__} (the order is model, loss_fn, optimizer, data)")
    _check_mean(loss_fn, "fit")
    if not (callable(getattr(optimizer, "step", None)) and callable(getattr(optimizer, "zero_grad", None))):
        raise TypeError(f"fit: optimizer must be an optimiser such as nn.optim.SGD(model.parameters(), lr), "
                        f"got {type(optimizer).__name__}")
    mine = {id(p) for p in model.parameters()}  # nn.Parameters: a model may train other tensors
    if mine and isinstance(optimizer, Optimizer) and not any(id(p) in mine for p in optimizer.params):
        warnings.warn("fit: the optimiser updates none of the model's parameters (was it made for "
                      "another model?): pass model.parameters() to it", stacklevel=3)
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        got = type(data).__name__ + (f" of {len(data)}" if isinstance(data, (tuple, list)) else "")
        raise TypeError(f"fit: data must be a pair (X, y) of inputs and targets, got {got}")
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"fit: scheduler must be a schedule such as nn.optim.StepLR(optimizer, 10), "
                        f"got {type(scheduler).__name__}")


def fit(model: Module, loss_fn: Callable, optimizer: Optimizer, data: tuple, epochs: int = 1, *,
        batch_size: int = 32, val_data: tuple | None = None, shuffle: bool = True,
        rng: np.random.Generator | int | None = None, scheduler=None, threshold: float = 0.0,
        progress: bool = True, desc: str = "training") -> dict[str, list[float]]:
    """Train ``model`` on ``data = (X, y)``; return the history of loss and accuracy per epoch.

    Each batch: forward, ``loss_fn(outputs, targets)`` (a mean over the batch), backward,
    ``optimizer.step()``. ``scheduler.step()`` runs after each epoch. The progress bar
    (tqdm, on stderr) shows the epoch's loss and accuracy.

    Examples
    --------
    >>> import numpy as np, nn
    >>> rng = np.random.default_rng(0)
    >>> X, y = nn.data.blobs(60, centers=2, rng=rng)
    >>> model = nn.MLP([2, 8, 2], rng=rng)
    >>> history = nn.fit(model, nn.cross_entropy, nn.optim.Adam(model.parameters(), 0.05),
    ...                  (X, y), epochs=20, rng=rng, progress=False)
    >>> history["accuracy"][-1]
    1.0
    """
    _check_fit(model, loss_fn, optimizer, data, scheduler)
    X, y = (np.asarray(a) for a in data)
    if not len(X):
        raise ValueError("fit: the data has no samples")
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
    batches(X, y, batch_size, shuffle=False)  # its checks (lengths, batch size) now, before any epoch
    rng = np.random.default_rng(rng)
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    if val_data is not None:
        history.update(val_loss=[], val_accuracy=[])
    model.train()
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(range(epochs), desc=desc, leave=False)
    else:
        bar = _Silent(range(epochs))
    for _ in bar:
        total_loss = correct = 0.0
        for xb, yb in batches(X, y, batch_size, shuffle=shuffle, rng=rng):
            out = model(xb)
            loss = loss_fn(out, _fit_targets(out, yb, loss_fn))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(xb)
            correct += accuracy(out.detach(), yb, threshold) * len(xb)
        history["loss"].append(total_loss / len(X))
        history["accuracy"].append(correct / len(X))
        postfix = {"loss": f"{history['loss'][-1]:.4f}", "acc": f"{history['accuracy'][-1]:.3f}"}
        if val_data is not None:
            scores = evaluate(model, loss_fn, val_data, threshold=threshold)
            history["val_loss"].append(scores["loss"])
            history["val_accuracy"].append(scores["accuracy"])
            postfix["val_acc"] = f"{scores['accuracy']:.3f}"
        bar.set_postfix(postfix, refresh=False)
        if scheduler is not None:
            scheduler.step()
    bar.close()
    return history
