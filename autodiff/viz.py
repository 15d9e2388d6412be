"""The recorded graph as a picture (graphviz), and backpropagation explained in text.

``draw`` reads the graph and never changes it. The adjoints it shows are the ones
the reverse sweep computes for every node, obtained with ``gradients(...,
retain_graph=True)`` (no ``.grad`` is touched), so call it before ``backward()``
frees the graph, or after ``backward(retain_graph=True)``.

Large graphs stay readable: beyond ``max_nodes``, linear chains are collapsed into
summary nodes that count the ops they hold; if that is not enough, the nodes
nearest the output are kept and the rest summarised in one node. Traversal is
iterative, so graph depth is limited by memory only.

Rendering uses the system Graphviz ``dot`` when it is on PATH, else the
``graphviz-pure`` program installed with this package.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from typing import Any

import numpy as np

from .backward import gradients, topological
from .tensor import Tensor

_OP_SHORT = {"multiply": "mul", "subtract": "sub", "divide": "div", "negative": "neg", "power": "pow",
             "_getitem": "getitem", "_concatenate": "concatenate", "_einsum": "einsum"}


def renderer() -> str | None:
    """The Graphviz program used to render: system ``dot``, else ``graphviz-pure`` (None if neither)."""
    return shutil.which("dot") or shutil.which("graphviz-pure")


def render(source: str, fmt: str) -> bytes:
    """Lay out DOT ``source`` and return it as ``fmt`` ("png", "svg", "pdf")."""
    program = renderer()
    if program is None:
        raise RuntimeError(
            f"cannot render {fmt.upper()}: no Graphviz program found. pip install graphviz-pure "
            "(a self-contained port, installed with this package) or install Graphviz's dot; "
            "writing to a .dot or .gv path needs neither"
        )
    result = subprocess.run([program, f"-T{fmt}"], input=source.encode(), capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{os.path.basename(program)} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def _digraph_class():
    import graphviz

    class Picture(graphviz.Digraph):
        """A graphviz Digraph that renders itself (in Jupyter) with :func:`renderer`."""

        def _repr_mimebundle_(self, include=None, exclude=None, **_):
            return {"image/svg+xml": render(self.source, "svg").decode()}

    return Picture


# ------------------------------------------------------------------ graph
def _graph(root: Tensor) -> tuple[list[Tensor], dict[int, list[tuple[int, int]]]]:
    """Tensors reachable from ``root`` in topological order (inputs first), and each
    tensor's tensor operands as (operand index, position in that order)."""
    try:
        order = topological(root)
    except RuntimeError as error:
        raise RuntimeError(f"cannot draw: {error}") from None
    position = {id(t): k for k, t in enumerate(order)}
    parents = {}
    for k, t in enumerate(order):
        if t._node is not None:
            parents[k] = [(i, position[id(a)]) for i, a in enumerate(t._node.inputs) if isinstance(a, Tensor)]
    return order, parents


def _adjoints(root: Tensor, order: list[Tensor]) -> dict[int, np.ndarray]:
    """The adjoint of every tensor in ``order`` that requires grad, as backward computes it."""
    wanted = [t for t in order if t.requires_grad]
    if not root.requires_grad or not wanted:
        return {}
    seed = None if root.size == 1 else Tensor(np.ones(root.shape, root.dtype))  # the sum of the outputs
    grads = gradients(root, wanted, grad_outputs=seed, retain_graph=True, allow_unused=True)
    return {id(t): g.numpy() for t, g in zip(wanted, grads) if g is not None}


def _summary(values: np.ndarray) -> str:
    values = np.asarray(values)
    if values.size == 1:
        return f"{values.item():.4g}"
    if values.size <= 4:
        return "[" + ", ".join(f"{v:.3g}" for v in values.ravel()) + "]"
    if values.dtype.kind not in "fiu":
        return f"{values.dtype} array"
    return f"min {values.min():.3g} mean {values.mean():.3g} max {values.max():.3g}"


def _names(order: list[Tensor], params: Any) -> dict[int, str]:
    """Names for display: parameters by their given names, other leaves x0, x1, …, ops v1, v2, …"""
    if params is None:
        given = {}
    else:
        items = params.items() if isinstance(params, dict) else params
        given = {id(t): name for name, t in items}
    names, leaves, ops = {}, 0, 0
    for t in order:
        if id(t) in given:
            names[id(t)] = given[id(t)]
        elif t._node is None:
            names[id(t)] = f"x{leaves}"
            leaves += 1
        else:
            ops += 1
            names[id(t)] = f"v{ops}"
    return names


def _constant(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return _summary(value) if value.size <= 4 else f"array{value.shape}"
    return repr(value)


def _op_label(t: Tensor) -> str:
    """The op's name, with its constant operands in place ("sub(1.0, ·)": · is a tensor)."""
    node = t._node
    op = _OP_SHORT.get(node.op, node.op)
    if all(isinstance(a, Tensor) or a is None for a in node.inputs):
        return op
    args = ["·" if isinstance(a, Tensor) else _constant(a) for a in node.inputs if a is not None]
    return f"{op}({', '.join(args)})"


# --------------------------------------------------------------- collapse
def _collapse(order, parents, max_nodes):
    """Groups of node indices to draw as one: chains first, then everything far from the root."""
    n = len(order)
    children = [0] * n
    for k, ps in parents.items():
        for _, p in ps:
            children[p] += 1
    group = list(range(n))
    if n > max_nodes:
        # a chain node has one tensor operand and one consumer: merge runs of them
        for k in range(n):
            ps = parents.get(k, [])
            if len(ps) == 1 and children[k] == 1 and k != n - 1:
                p = ps[0][1]
                p_chain = len(parents.get(p, [])) == 1 and children[p] == 1
                if p_chain:
                    group[k] = group[p]
    if len(set(group)) > max_nodes:
        # keep the groups nearest the root (by edges to it); the rest become one summary
        depth = {group[n - 1]: 0}
        for k in range(n - 1, -1, -1):
            d = depth.get(group[k])
            if d is None:
                continue
            for _, p in parents.get(k, []):
                if group[p] != group[k] and group[p] not in depth:
                    depth[group[p]] = d + 1
        keep = sorted(set(group), key=lambda g: (depth.get(g, math.inf), -g))[: max_nodes - 1]
        keep = set(keep)
        rest = -1
        group = [g if g in keep else rest for g in group]
    return group


# ------------------------------------------------------------------- draw
def draw(root: Tensor, path: str | os.PathLike | None = None, *, show_data: bool = True,
         show_grad: bool = True, rankdir: str = "LR", max_nodes: int = 250, params: Any = None,
         color_by_grad: bool = False, group_by_module: bool = False):
    """Draw the graph that produced ``root``; returns a ``graphviz.Digraph``.

    Parameters
    ----------
    root : Tensor
        The output (a loss, say). Its graph must not have been freed by ``backward()``.
    path : str, optional
        Write the picture: ``.png``, ``.svg`` or ``.pdf`` (rendered), ``.dot`` / ``.gv`` (source).
    show_data, show_grad : bool
        Show each node's value and adjoint (a number, a few values, or min/mean/max).
    rankdir : str
        Graphviz direction: "LR" (left to right) or "TB".
    max_nodes : int
        Larger graphs are collapsed into at most this many drawn nodes.
    params : dict or iterable of (name, Tensor), optional
        Names for parameters, e.g. ``model.named_parameters()``.
    color_by_grad : bool
        Shade nodes by the size of their adjoint (where the gradient flows).
    group_by_module : bool
        Draw the parameters of each module, and the ops that use them directly, as a cluster.

    Examples
    --------
    >>> import autodiff as ad
    >>> w = ad.tensor(-1.2, requires_grad=True)
    >>> picture = ad.draw((w * 0.5).tanh())
    >>> "tanh" in picture.source and "mul(·, 0.5)" in picture.source
    True
    """
    order, parents = _graph(root)
    params = list(params.items() if isinstance(params, dict) else params) if params is not None else None
    names = _names(order, params)
    adjoints = _adjoints(root, order) if show_grad else {}
    group = _collapse(order, parents, max_nodes)
    members: dict[int, list[int]] = {}
    for k, g in enumerate(group):
        members.setdefault(g, []).append(k)
    scale = max((float(np.abs(a).max()) for a in adjoints.values() if a.size and np.all(np.isfinite(a))), default=0.0)

    dot = _digraph_class()("autodiff", graph_attr={"rankdir": rankdir}, node_attr={"fontname": "Helvetica", "fontsize": "11"})
    node_id = {g: f"n{i}" for i, g in enumerate(sorted(members, key=lambda g: members[g][0]))}
    clusters: dict[str, list[tuple[str, dict]]] = {}
    for g, ks in members.items():
        if len(ks) > 1 or g == -1:
            counts = Counter(_OP_SHORT.get(order[k]._node.op, order[k]._node.op) if order[k]._node else "leaf" for k in ks)
            label = f"{len(ks)} ops\n" + ", ".join(f"{op} ×{c}" for op, c in counts.most_common(4))
            if g == -1:
                label = f"… {len(ks)} earlier nodes\n" + label.split("\n", 1)[1]
            dot.node(node_id[g], label, shape="box3d", style="filled", fillcolor="#eeeeee")
            continue
        t = order[ks[0]]
        lines = [names[id(t)] if t._node is None else f"{names[id(t)]} = {_op_label(t)}"]
        lines.append(f"{t.shape} {t.dtype}")
        value = t._data
        bad = value.dtype.kind == "f" and not np.all(np.isfinite(value))
        if show_data:
            lines.append(f"value {_summary(value)}")
        adjoint = adjoints.get(id(t))
        if adjoint is not None:
            bad = bad or not np.all(np.isfinite(adjoint))
            lines.append(f"grad {_summary(adjoint)}")
        attrs = {"shape": "box" if t._node is None else "ellipse", "style": "filled"}
        if bad:
            attrs["fillcolor"] = "#ff8080"
        elif not t.requires_grad:
            attrs.update(fillcolor="#f0f0f0", fontcolor="#808080", color="#a0a0a0")
        elif color_by_grad and adjoint is not None and scale > 0:
            level = math.log10(1 + 9 * float(np.abs(adjoint).max()) / scale)  # 0..1
            attrs["fillcolor"] = f"#ff{int(255 - 155 * level):02x}{int(255 - 235 * level):02x}"
        else:
            attrs["fillcolor"] = "#cfe2ff" if t._node is None else "white"
        cluster = _module_of(t, names, params, parents, order, ks[0]) if group_by_module else None
        if cluster is None:
            dot.node(node_id[g], "\n".join(lines), **attrs)
        else:
            clusters.setdefault(cluster, []).append((node_id[g], {"label": "\n".join(lines), **attrs}))
    for cluster, nodes in clusters.items():
        with dot.subgraph(name=f"cluster_{cluster}") as sub:
            sub.attr(label=cluster, style="rounded", color="#7090c0")
            for nid, attrs in nodes:
                sub.node(nid, **attrs)
    edges = set()
    for k, ps in parents.items():
        operands = len(ps)
        for i, p in ps:
            a, b = group[p], group[k]
            if a == b or (a, b, i) in edges:
                continue
            edges.add((a, b, i))
            label = str(i) if operands > 1 and members.get(b) == [k] else None
            dot.edge(node_id[a], node_id[b], label=label)
    if path is not None:
        _write(dot, os.fspath(path))
    return dot


def _module_of(t, names, params, parents, order, k) -> str | None:
    """The module a node belongs to: a parameter's own, or that of a parameter it uses directly."""
    if params is None:
        return None
    own = names[id(t)]
    if t._node is None:
        return own.rpartition(".")[0] if "." in own else None
    for _, p in parents.get(k, []):
        name = names[id(order[p])]
        if order[p]._node is None and "." in name:
            return name.rpartition(".")[0]
    return None


def _write(dot, path: str) -> None:
    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    if fmt in ("dot", "gv"):
        with open(path, "w") as f:
            f.write(dot.source)
        return
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"cannot tell the format from {path!r}: use .png, .svg, .pdf, .dot or .gv")
    data = render(dot.source, fmt)
    with open(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- explain
def explain(root: Tensor, params: Any = None) -> str:
    """Backpropagation on ``root``'s graph, step by step, with the numbers filled in.

    First the forward pass (each variable and how it was made), then, from the
    output back to the inputs, each adjoint as the sum over the variable's
    consumers of (consumer's adjoint) × (local derivative). Best on small graphs
    of scalars; for arrays the contributions are summarised. ``params`` names
    tensors as for :func:`draw` (a dict, or ``model.named_parameters()``).

    Examples
    --------
    >>> import autodiff as ad
    >>> w = ad.tensor(2.0, requires_grad=True)
    >>> print(ad.explain(w * w, params={"w": w}))
    forward
      w = 2
      v1 = mul(w, w) = 4
    backward (adjoint = sum over consumers of consumer adjoint × local derivative)
      ∂v1/∂v1 = 1
      ∂v1/∂w = ∂v1/∂v1 × ∂v1/∂w[0] + ∂v1/∂v1 × ∂v1/∂w[1] = 1 × 2 + 1 × 2 = 4
    """
    order, parents = _graph(root)
    names = _names(order, params)
    adjoints = _adjoints(root, order)
    out = names[id(root)]
    lines = ["forward"]
    for k, t in enumerate(order):
        if t._node is None:
            lines.append(f"  {names[id(t)]} = {_summary(t._data)}")
        else:
            node = t._node
            args = [names[id(a)] if isinstance(a, Tensor) else _constant(a) for a in node.inputs if a is not None]
            lines.append(f"  {names[id(t)]} = {_OP_SHORT.get(node.op, node.op)}({', '.join(args)}) = {_summary(t._data)}")
    lines.append("backward (adjoint = sum over consumers of consumer adjoint × local derivative)")
    consumers: dict[int, list[tuple[int, int]]] = {}
    for k, ps in parents.items():
        for i, p in ps:
            consumers.setdefault(p, []).append((k, i))
    for k in range(len(order) - 1, -1, -1):
        t = order[k]
        if not t.requires_grad or id(t) not in adjoints:
            continue
        name = f"∂{out}/∂{names[id(t)]}"
        if k == len(order) - 1:
            lines.append(f"  {name} = {_summary(adjoints[id(t)])}")
            continue
        symbols, numbers = [], []
        for c, i in consumers.get(k, []):
            consumer = order[c]
            if id(consumer) not in adjoints:
                continue
            node = consumer._node
            g = adjoints[id(consumer)]
            repeated = sum(1 for a in node.inputs if a is t) > 1
            local = f"∂{names[id(consumer)]}/∂{names[id(t)]}" + (f"[{i}]" if repeated else "")
            symbols.append(f"∂{out}/∂{names[id(consumer)]} × {local}")
            vals = [a._data if isinstance(a, Tensor) else a for a in node.inputs]
            if t.size == 1 and consumer.size == 1:
                derivative = node.rules[i](np.ones_like(consumer._data), consumer._data, *vals)
                numbers.append(f"{_summary(g)} × {_summary(derivative)}")
            else:
                numbers.append(_summary(np.asarray(node.rules[i](g, consumer._data, *vals))))
        lines.append(f"  {name} = {' + '.join(symbols)} = {' + '.join(numbers)} = {_summary(adjoints[id(t)])}")
    return "\n".join(lines)

