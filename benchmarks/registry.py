"""The registry of workloads, their implementations and their goals.

A workload is one computation, run at one or more sizes. Each implementation of it
is a *builder*: ``builder(size)`` does the setup (inputs, imports) and returns a
*step*, a function of no arguments that runs the forward and the backward pass once
and returns the gradients of the inputs as a tuple of numpy arrays. Every workload
has two implementations:

* ``"limit"``: plain numpy with the backward pass written by hand, the speed a
  Python program with numpy can reach; the reference for gradients and time.
* ``"ours"``: the autodiff engine.

and may have one for each peer of :data:`benchmarks.peers.PEERS`. Adding a peer to
a workload is writing one builder::

    @W1.implementation("jax")
    def w1_jax(reps): ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

Step = Callable[[], tuple[np.ndarray, ...]]
Builder = Callable[[int], Step]

# the unit of each figure a goal can bound, as the tables print it
UNITS = {"us_per_node": " µs/node", "ratio": "× limit", "kb_per_node": " KB/node"}


@dataclass(frozen=True)
class Goal:
    """An upper bound on one of our engine's figures.

    Parameters
    ----------
    metric : {"us_per_node", "ratio", "kb_per_node"}
        Time per node, time as a multiple of the limit's, or peak memory per node.
    bound : float
        The figure must be at most this.
    sizes : tuple of int, optional
        The sizes the goal applies to (default: every size).
    """

    metric: str
    bound: float
    sizes: tuple[int, ...] | None = None

    def applies(self, size: int) -> bool:
        return self.sizes is None or size in self.sizes

    def describe(self) -> str:
        return f"≤ {self.bound:g}{UNITS[self.metric]}"


@dataclass
class Workload:
    """A computation that every implementation runs, with its sizes and goals.

    Parameters
    ----------
    key, title : str
        Short name (``"W1"``) and what it is (``"per-node overhead"``).
    summary : str
        What it measures, one sentence for the README and the JSON.
    size_name : str
        What the size counts (``"reps"``, ``"N"``).
    sizes, quick_sizes : tuple of int
        Sizes of a full run and of ``--quick``.
    nodes : callable
        ``nodes(size)``: graph nodes at that size; times and memory are per node.
    goals : tuple of Goal
    memory : bool
        Report peak memory per node beside time.
    rtol, atol : float
        Tolerance of the gradient check against the limit.
    """

    key: str
    title: str
    summary: str
    size_name: str
    sizes: tuple[int, ...]
    quick_sizes: tuple[int, ...]
    nodes: Callable[[int], int]
    goals: tuple[Goal, ...] = ()
    memory: bool = False
    rtol: float = 1e-9
    atol: float = 0.0
    implementations: dict[str, Builder] = field(default_factory=dict)

    def implementation(self, name: str) -> Callable[[Builder], Builder]:
        """Register ``builder`` as this workload's implementation ``name`` (a decorator)."""
        def register(builder: Builder) -> Builder:
            self.implementations[name] = builder
            return builder

        return register


WORKLOADS: dict[str, Workload] = {}


def register(workload: Workload) -> Workload:
    """Add ``workload`` to :data:`WORKLOADS` under its key and return it."""
    WORKLOADS[workload.key] = workload
    return workload
