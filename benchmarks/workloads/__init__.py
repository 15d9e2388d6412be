"""The workloads, each in its own module; importing this package registers them all."""

from ..registry import WORKLOADS, select
from . import (  # noqa: F401  (registration)
    w1_overhead,
    w2_micrograd_step,
    w3_w4_mlp_step,
    w5_second_order,
    w6_deep_chain,
    w7_drawing,
)

__all__ = ["WORKLOADS", "select"]
