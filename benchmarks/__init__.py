"""Benchmarks: the engine's speed and memory against a hand-written numpy limit and peers.

``python -m benchmarks`` runs the suite (``--help`` for options). Every figure is a
ratio to the *limit*: the same computation in plain numpy with its backward pass
written by hand. See ``benchmarks/README.md`` for the workloads and the method.

This module imports nothing but the standard library, so that the command line can
pin numpy's threads before numpy is first imported.
"""

from __future__ import annotations

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pin_threads(threads: int) -> None:
    """Limit numpy's BLAS and OpenMP pools to ``threads`` in this process and its children.

    Takes effect in a process only if numpy is imported after the call.

    Parameters
    ----------
    threads : int
        Threads per pool; the suite's default is 1.

    Examples
    --------
    >>> pin_threads(1)
    >>> os.environ["OMP_NUM_THREADS"]
    '1'
    """
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
