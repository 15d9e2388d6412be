"""Mini-batches and small datasets generated in code (plus scikit-learn's digits).

Every generator returns ``(X, y)`` numpy arrays: ``X`` float64 of shape ``(n, features)``,
``y`` integer labels; the random ones take a ``numpy.random.Generator`` (``rng``).
"""

from __future__ import annotations

import numbers
from typing import Iterator

import numpy as np


def batches(X, y, batch_size: int = 32, shuffle: bool = True,
            rng: np.random.Generator | int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(X_batch, y_batch)`` pairs covering the data once (the last batch may be smaller).

    Examples
    --------
    >>> import numpy as np, nn
    >>> X, y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> [len(yb) for _, yb in nn.data.batches(X, y, batch_size=2, shuffle=False)]
    [2, 2, 1]
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):  # checked here, when called, not when the first batch is asked for
        raise ValueError(f"batches: X has {len(X)} rows but y has {len(y)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    order = np.arange(len(X))
    if shuffle:
        order = np.random.default_rng(rng).permutation(len(X))
    return ((X[order[start:start + batch_size]], y[order[start:start + batch_size]])
            for start in range(0, len(X), batch_size))


def xor() -> tuple[np.ndarray, np.ndarray]:
    """The four points of XOR with labels 0/1."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return X, np.array([0, 1, 1, 0])


def moons(n: int = 200, noise: float = 0.1, rng: np.random.Generator | int | None = None):
    """Two interleaving half circles (as scikit-learn's ``make_moons``), labels 0/1."""
    rng = np.random.default_rng(rng)
    n_out = n // 2
    n_in = n - n_out
    outer = np.linspace(0, np.pi, n_out)
    inner = np.linspace(0, np.pi, n_in)
    X = np.concatenate([
        np.stack([np.cos(outer), np.sin(outer)], axis=1),
        np.stack([1 - np.cos(inner), 0.5 - np.sin(inner)], axis=1),
    ])
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    X = X + rng.normal(scale=noise, size=X.shape)
    order = rng.permutation(n)
    return X[order], y[order]


def spirals(n: int = 300, classes: int = 3, noise: float = 0.2, rng: np.random.Generator | int | None = None):
    """``classes`` interleaved spiral arms of ``n // classes`` points each (cs231n's dataset)."""
    if classes < 1 or n < classes:
        raise ValueError(f"spirals: needs at least one class and a point a class, "
                         f"got n={n}, classes={classes}")
    rng = np.random.default_rng(rng)
    per_class = n // classes
    radius = np.tile(np.linspace(0.0, 1.0, per_class), classes)
    label = np.repeat(np.arange(classes), per_class)
    angle = (label * 4.0 + radius * 4.0 + rng.standard_normal(per_class * classes) * noise)
    X = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    order = rng.permutation(len(X))
    return X[order], label[order]


def blobs(n: int = 300, centers: int = 3, features: int = 2, std: float = 1.0,
          rng: np.random.Generator | int | None = None):
    """Gaussian clusters around ``centers`` random centres in ``[-10, 10]^features``."""
    rng = np.random.default_rng(rng)
    middles = rng.uniform(-10, 10, (centers, features))
    label = np.arange(n) % centers
    X = middles[label] + rng.standard_normal((n, features)) * std
    order = rng.permutation(n)
    return X[order], label[order]


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (1797 images), pixels scaled to [0, 1]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(
            "digits() needs scikit-learn, which ships the data set: pip install -e '.[examples]' "
            "(or pip install scikit-learn)"
        ) from error
    data = load_digits()
    return data.data / 16.0, data.target.astype(np.int64)


def train_test_split(X, y, test_fraction: float = 0.25, rng: np.random.Generator | int | None = None):
    """Shuffle and split into ``(X_train, y_train, X_test, y_test)``."""
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"train_test_split: X has {len(X)} rows but y has {len(y)}")
    if not 0 <= test_fraction <= 1:
        raise ValueError(f"test_fraction must be in [0, 1], got {test_fraction}")
    rng = np.random.default_rng(rng)
    order = rng.permutation(len(X))
    cut = len(X) - int(round(len(X) * test_fraction))
    return X[order[:cut]], y[order[:cut]], X[order[cut:]], y[order[cut:]]
