"""W7, drawing: a 100,000-node graph drawn with the defaults, rendered to a picture.

The graph is the W1 chain (``y = tanh(y * 1.01 + 0.1)``, 3 nodes per repetition)
after ``backward(retain_graph=True)``, so nodes show values and adjoints. The
default ``max_nodes`` collapses it to a readable picture; the time includes
rendering it to SVG with whichever ``dot`` is found (the system's or the
pip-installed graphviz-pure). There is no numpy limit for drawing: the goal is
absolute, and peers draw no graphs of this size.
"""

from __future__ import annotations

import os
import re
import tempfile

import numpy as np

from ..registry import Goal, Workload, register
from .w1_overhead import chain

W7 = register(Workload(
    key="W7",
    title="drawing",
    summary="ad.draw of a W1 chain with the given number of nodes, defaults, rendered to SVG",
    size_name="nodes",
    sizes=(10**5,),
    quick_sizes=(3000,),
    unit="s",
    goals=(Goal("time", 10.0, sizes=(10**5,)),),
))


@W7.implementation("ours")
def w7_ours(nodes: int):
    """``ad.draw(root, "graph.svg")``; fails if the picture has more nodes than ``max_nodes``."""
    import autodiff as ad

    x = ad.tensor(np.random.default_rng(0).standard_normal(8), requires_grad=True)
    root = chain(x, -(-nodes // 3)).sum()
    root.backward(retain_graph=True)
    path = os.path.join(tempfile.mkdtemp(), "graph.svg")

    def step():
        drawn = ad.draw(root, path)
        count = len(re.findall(r"^\s*\S+ \[", drawn.source, flags=re.MULTILINE))
        if not 0 < count <= 250 or os.path.getsize(path) == 0:
            raise RuntimeError(f"the picture of {nodes} nodes has {count} nodes, expected 1 to 250")
        return (np.array([count]),)

    return step
