"""The workloads, each in its own module; importing this package registers them all."""

from ..registry import WORKLOADS
from . import w1_overhead, w6_deep_chain  # noqa: F401  (registration)

__all__ = ["WORKLOADS"]
