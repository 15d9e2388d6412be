"""The registry of workloads, their implementations and their goals.

A workload is one computation, run at one or more sizes. Each implementation of it
is a *builder*: ``builder(size)`` does the setup (inputs, imports) and returns a
*step*, a function of no arguments that runs the computation once (forward and
backward, and an optimiser update where the workload has one) and returns the
numbers to check as a tuple of numpy arrays: gradients, tangents or Hessians. A
workload normally has two implementations:

* ``"limit"``: plain numpy with the derivatives written by hand, the speed a
  Python program with numpy can reach; the reference for the numbers and the time.
* ``"ours"``: the autodiff engine.

and may have one for each peer of :data:`benchmarks.peers.PEERS`. Adding a peer to
a workload is writing one builder::

    @W1.implementation("jax")
    def w1_jax(reps): ...

A workload without a limit (drawing has no numpy equivalent) is timed against its
goal alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

Step = Callable[[], tuple[np.ndarray, ...]]
Builder = Callable[[int], Step]

# what a time is divided by, and how it is printed: per node in µs, per call in ms or s
UNIT_SCALE = {"µs/node": 1e6, "ms": 1e3, "s": 1.0}


@dataclass(frozen=True)
class Goal:
    """An upper bound on one of our engine's figures.

    Parameters
    ----------
    metric : {"time", "ratio", "kb_per_node", "ratio_to"}
        Time in the workload's unit; time as a multiple of the limit's; peak memory
        per node; or time as a multiple of our own time on workload ``other``.
    bound : float
        The figure must be at most this.
    sizes : tuple of int, optional
        The sizes the goal applies to (default: every size).
    other : str, optional
        The workload that ``"ratio_to"`` compares with (at the same size).
    """

    metric: str
    bound: float
    sizes: tuple[int, ...] | None = None
    other: str | None = None

    def applies(self, size: int) -> bool:
        return self.sizes is None or size in self.sizes

    def describe(self, unit: str) -> str:
        if self.metric == "time":
            return f"≤ {self.bound:g} {unit}"
        if self.metric == "ratio":
            return f"≤ {self.bound:g}× limit"
        if self.metric == "kb_per_node":
            return f"≤ {self.bound:g} KB/node"
        return f"≤ {self.bound:g}× ours on {self.other}"


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
        What the size counts (``"reps"``, ``"N"``, ``"batch"``).
    sizes, quick_sizes : tuple of int
        Sizes of a full run and of ``--quick``.
    unit : {"µs/node", "ms", "s"}
        How times are given: per graph node (then ``nodes`` says how many), or per call.
    nodes : callable, optional
        ``nodes(size)``: graph nodes at that size, for per-node times and memory.
    goals : tuple of Goal
    memory : bool
        Report peak memory per node beside time (needs ``nodes``).
    rtol, atol : float
        Tolerance of the check against the limit's numbers.
    updates : bool
        The step updates parameters (an optimiser's step): the numbers of its second call,
        made with the parameters the first call updated, are checked too, so that a wrong
        or missing update is caught as a wrong gradient is.
    check : {"elements", "norm"}
        Compare element by element (``np.isclose``), or each result by its relative
        distance ``‖got - limit‖ / ‖limit‖ ≤ rtol``: for float32 networks, where a
        pre-activation within rounding of 0 may fall on either side of a ReLU in two
        correct programs that sum in different orders, and change a few elements.
    """

    key: str
    title: str
    summary: str
    size_name: str
    sizes: tuple[int, ...]
    quick_sizes: tuple[int, ...]
    unit: str = "ms"
    nodes: Callable[[int], int] | None = None
    goals: tuple[Goal, ...] = ()
    memory: bool = False
    rtol: float = 1e-9
    atol: float = 0.0
    check: str = "elements"
    updates: bool = False
    implementations: dict[str, Builder] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.unit not in UNIT_SCALE:
            raise ValueError(f"workload {self.key}: unit must be one of {sorted(UNIT_SCALE)}, "
                             f"got {self.unit!r}")
        if (self.unit == "µs/node" or self.memory) and self.nodes is None:
            raise ValueError(f"workload {self.key}: per-node figures need nodes=")

    def figure(self, seconds: float, size: int) -> float:
        """A time in seconds for one call, in this workload's unit."""
        if self.unit == "µs/node":
            seconds /= self.nodes(size)
        return seconds * UNIT_SCALE[self.unit]

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


def select(names: list[str] | None) -> list[str]:
    """The workload keys ``names`` asks for: ``W5`` also means its variants ``W5h`` and ``W5v``.

    Raises KeyError naming the first name that matches nothing.
    """
    if not names:
        return list(WORKLOADS)
    chosen = []
    for name in names:
        found = [key for key in WORKLOADS
                 if key.lower() == name.lower() or (key[:len(name)].lower() == name.lower()
                                                   and key[len(name):].isalpha())]
        if not found:
            raise KeyError(name)
        chosen += found
    return [key for key in WORKLOADS if key in chosen]
