"""Other autodiff engines the suite compares against; each one is optional.

:data:`PEERS` maps an implementation name to a loader: ``loader(threads)`` imports
the engine, limits its own thread pool to ``threads`` and returns its version. It
raises ImportError when the engine is not installed, and the suite then skips that
peer with the error as its reason. Adding a peer is one loader here and one builder
per workload it runs (see :mod:`benchmarks.registry`).
"""

from __future__ import annotations

from typing import Callable


def _torch(threads: int) -> str:
    import torch

    torch.set_num_threads(threads)
    return torch.__version__


PEERS: dict[str, Callable[[int], str]] = {"torch": _torch}
