"""Other autodiff engines the suite compares against; each one is optional.

:data:`PEERS` maps an implementation name to a :class:`Peer`: the module to import,
the distribution its version is read from, and a ``setup(threads)`` run in the
measuring process *before* the builder imports the engine, which limits the
engine's own thread pools. A peer whose module cannot be found is skipped, with
the reason on one line. Adding a peer is one entry here and one builder per
workload it runs (see :mod:`benchmarks.registry`).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from typing import Callable


def _torch(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)


@dataclass(frozen=True)
class Peer:
    """An optional engine: ``module`` to import, ``dist`` to read the version of, ``setup(threads)``."""

    module: str
    dist: str
    setup: Callable[[int], None] | None = None

    def version(self) -> str:
        """The installed version; raises ImportError, saying so, when the engine is not installed."""
        if importlib.util.find_spec(self.module) is None:
            raise ImportError(f"not installed (pip install {self.dist})")
        try:
            return importlib.metadata.version(self.dist)
        except importlib.metadata.PackageNotFoundError:
            return "unknown version"


PEERS: dict[str, Peer] = {
    "torch": Peer("torch", "torch", _torch),
}
