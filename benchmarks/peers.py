"""Other autodiff engines the suite compares against; each one is optional.

:data:`PEERS` maps an implementation name to a :class:`Peer`: the module to import,
the distribution its version is read from, and a ``setup(threads)`` run in the
measuring process *before* the builder imports the engine, which limits the
engine's own thread pools. A peer whose module cannot be found is skipped, with
the reason on one line. Adding a peer is one entry here and one builder per
workload it runs (see :mod:`benchmarks.registry`).

What each setup limits (``threads`` is 1 unless ``--threads`` says otherwise):

* torch: its intra-op and inter-op pools (``torch.set_num_threads``).
* jax: XLA's CPU client sizes its intra-op pool (``XLAEigen``) from the CPUs the process
  may run on, and in jax 0.10 ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false
  intra_op_parallelism_threads=1`` does not shrink it (two pool threads on two CPUs with
  the flags, one with the affinity below). So the setup sets the flags *and* restricts the
  process to ``threads`` CPUs (``os.sched_setaffinity``, Linux), then enables float64,
  which W1, W2, W5 and W6 need (JAX computes in float32 otherwise).
* autograd and mygrad compute with numpy, whose BLAS/OpenMP pools the caller has pinned
  already; micrograd is pure Python. None has a pool of its own.
* tinygrad: ``NUM_CPU_THREADS``, the number of cores its CPU kernels are split across
  (and of compile workers); ``DEV=CPU``, as every engine here runs on the CPU. Its CPU
  device compiles kernels with ``clang``, which must be on PATH; without it the peer is
  skipped, saying so.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
from dataclasses import dataclass
from typing import Callable


def _torch(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)


def _jax(threads: int) -> None:
    os.environ["XLA_FLAGS"] = " ".join(filter(None, [
        os.environ.get("XLA_FLAGS"),
        f"--xla_cpu_multi_thread_eigen={str(threads > 1).lower()} intra_op_parallelism_threads={threads}"]))
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if threads < len(cpus):
            os.sched_setaffinity(0, cpus[:threads])
    import jax

    jax.config.update("jax_enable_x64", True)


def _tinygrad(threads: int) -> None:
    os.environ["DEV"] = "CPU"  # else tinygrad takes the first accelerator it finds
    os.environ["NUM_CPU_THREADS"] = str(threads)


def _clang() -> str | None:
    return None if shutil.which(os.environ.get("CC", "clang")) else "its CPU device needs clang on PATH"


@dataclass(frozen=True)
class Peer:
    """An optional engine: ``module`` to import, ``dist`` to read the version of, ``setup(threads)``.

    ``limits`` says how its threads are limited, for the report; ``unusable()``, if given,
    says why an installed engine cannot run here (None if it can).
    """

    module: str
    dist: str
    limits: str
    setup: Callable[[int], None] | None = None
    unusable: Callable[[], str | None] | None = None

    def version(self) -> str:
        """The installed version; raises ImportError, saying why, if the engine is not installed or usable."""
        if importlib.util.find_spec(self.module) is None:
            raise ImportError("not installed (pip install -e '.[compare]' installs every peer)")
        reason = self.unusable() if self.unusable is not None else None
        if reason:
            raise ImportError(reason)
        try:
            return importlib.metadata.version(self.dist)
        except importlib.metadata.PackageNotFoundError:
            return "unknown version"


PEERS: dict[str, Peer] = {
    "torch": Peer("torch", "torch", "set_num_threads and set_num_interop_threads", _torch),
    "jax": Peer("jax", "jax", "XLA_FLAGS and CPU affinity", _jax),
    "autograd": Peer("autograd", "autograd", "numpy's pools"),
    "mygrad": Peer("mygrad", "mygrad", "numpy's pools"),
    "micrograd": Peer("micrograd", "micrograd", "pure Python"),
    "tinygrad": Peer("tinygrad", "tinygrad", "NUM_CPU_THREADS", _tinygrad, _clang),
}
