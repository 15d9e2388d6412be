"""The recorded graph as a picture (graphviz), and backpropagation explained in text.

``draw`` reads the graph and never changes it. The adjoints it shows are the ones
the reverse sweep computes for every node, obtained with a sweep that keeps the graph,
touches no ``.grad`` and runs no hooks, so call it before ``backward()`` frees the
graph, or after ``backward(retain_graph=True)``.

Large graphs stay readable: beyond ``max_nodes``, repeated structure (a block of
ops that occurs many times in a row, as in an unrolled loop or a stack of identical
layers) is drawn once at each end with a summary node between that counts the
repeats; then chains are merged into nodes that count their ops; if that is not
enough, the nodes nearest the output are kept and the rest summarised in one node
(see ``_collapse``). Traversal is iterative, so graph depth is limited by memory
only, and adjoints are gathered only for the nodes drawn.

Rendering uses the system Graphviz ``dot`` when it is found and writes the format
asked for, else the ``graphviz-pure`` program installed with this package (PNG,
SVG, JPEG; not PDF). A format neither writes raises an error that says what to
install.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import subprocess
import sysconfig
from collections import Counter
from typing import Any

import numpy as np

from .backward import _seed, _sweep, _unbroadcast, topological
from .tensor import Tensor

_OP_SHORT = {"multiply": "mul", "subtract": "sub", "divide": "div", "negative": "neg", "power": "pow"}


_PROGRAMS = ("dot", "graphviz-pure")
# What a full Graphviz writes: a format outside this list is taken as a wrong extension,
# one inside it but not rendered here as a missing install.
_GRAPHVIZ_FORMATS = frozenset(
    "bmp canon cmap cmapx dot dot_json eps fig gd gd2 gif gv ico imap jpe jpeg jpg json json0 pdf pic "
    "plain plain-ext png pov ps ps2 svg svgz tif tiff tk vdx vml vmlz vrml wbmp webp xdot xdot_json".split()
)
_PICTURES = ("png", "svg", "jpg", "jpeg", "gif", "webp", "pdf", "ps", "eps", "bmp", "tif", "tiff")
_INSTALL_GRAPHVIZ = ("install the system Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: "
                     "brew install graphviz; others: https://graphviz.org/download/)")


def _find(name: str) -> str | None:
    # pip puts graphviz-pure beside the interpreter, which is not on PATH when a virtual
    # environment's python is run without activating the environment
    return shutil.which(name) or shutil.which(name, path=sysconfig.get_path("scripts"))


@functools.lru_cache(maxsize=None)
def formats(program: str) -> frozenset[str]:
    """The output formats a Graphviz ``program`` writes, as it lists them itself (``dot -T?``).

    Empty if the program gives no list (it is then tried with any format).
    """
    try:
        result = subprocess.run([program, "-T?"], input=b"", capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    listing = (result.stderr + result.stdout).decode(errors="replace").partition("Use one of:")[2]
    return frozenset(word.split(":")[0] for word in listing.split())


def renderer(fmt: str | None = None) -> str | None:
    """The Graphviz program that renders ``fmt`` (any format if None), or None.

    The system ``dot`` if it is found and writes ``fmt``, else the pip-installed
    ``graphviz-pure`` if it does.
    """
    for name in _PROGRAMS:
        program = _find(name)
        if program is not None and (fmt is None or fmt in (formats(program) or {fmt})):
            return program
    return None


def _system_dot() -> bool:
    return "dot" in _PROGRAMS and _find("dot") is not None


def _cannot_render(fmt: str) -> str:
    """Why ``fmt`` cannot be rendered here, and what to install (or which formats work)."""
    found = [program for program in map(_find, _PROGRAMS) if program is not None]
    system = _system_dot()
    if not found:
        return (f"cannot render .{fmt}: no Graphviz program found. pip install graphviz-pure "
                f"(a self-contained port, installed with this package) or {_INSTALL_GRAPHVIZ}; "
                "writing to a .dot or .gv path needs neither")
    available = set().union(*(formats(program) for program in found))
    pictures = ", ".join(f".{f}" for f in _PICTURES if f in available)
    names = " and ".join(os.path.basename(program) for program in found)
    hint = ("convert one of those, or write the .dot source" if system
            else f"for .{fmt}, {_INSTALL_GRAPHVIZ}")
    verb = "writes" if len(found) == 1 else "write"
    return f"cannot render .{fmt} here: {names} {verb} {pictures} (and .dot, .gv) but not .{fmt}; {hint}"


def render(source: str, fmt: str) -> bytes:
    """Lay out DOT ``source`` and return it as ``fmt`` ("png", "svg", "jpg", "pdf", ...).

    Raises
    ------
    RuntimeError
        If no Graphviz program here writes ``fmt`` (the message says what to install),
        or the program fails.
    """
    program = renderer(fmt)
    if program is None:
        raise RuntimeError(_cannot_render(fmt))
    result = subprocess.run([program, f"-T{fmt}"], input=source.encode(), capture_output=True, check=False)
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"{os.path.basename(program)} failed: {message}")
    return result.stdout


def _digraph_class():
    import graphviz

    class Picture(graphviz.Digraph):
        """A graphviz Digraph that renders itself (in Jupyter) with :func:`renderer`; so do
        ``pipe`` and ``render`` where the system Graphviz, which graphviz calls, is missing."""

        def _repr_mimebundle_(self, include=None, exclude=None, **_):
            return {"image/svg+xml": render(self.source, "svg").decode()}

        def pipe(self, format=None, *args, encoding=None, **kwargs):
            if _system_dot() or args or kwargs:  # graphviz's own, or options only it takes
                return super().pipe(format, *args, encoding=encoding, **kwargs)
            data = render(self.source, format or self.format)
            return data.decode(encoding) if encoding else data

        def render(self, filename=None, directory=None, view=False, cleanup=False, format=None, *args,
                   outfile=None, **kwargs):
            if _system_dot() or view or args or kwargs:
                return super().render(filename, directory, view, cleanup, format, *args, outfile=outfile,
                                      **kwargs)
            fmt = format or (os.path.splitext(outfile)[1][1:] if outfile is not None else None) or self.format
            if filename is None and outfile is not None:
                filename = os.path.splitext(os.fspath(outfile))[0] + ".gv"
            source = self.save(filename, directory=directory)  # the DOT source beside it, as graphviz
            target = os.fspath(outfile) if outfile is not None else f"{source}.{fmt}"
            data = render(self.source, fmt)
            with open(target, "wb") as f:
                f.write(data)
            if cleanup:
                os.remove(source)
            return target

    return Picture


# ------------------------------------------------------------------ graph
def _graph(root: Tensor, what: str = "draw") -> tuple[list[Tensor], dict[int, list[tuple[int, int]]]]:
    """Tensors reachable from ``root`` in topological order (inputs first), and each
    tensor's tensor operands as (operand index, position in that order). ``what``: the
    caller, named in errors."""
    if not isinstance(root, Tensor):
        raise TypeError(f"draw and explain take one Tensor (an output), got a {type(root).__name__}: "
                        "draw one output at a time, or their sum")
    try:
        order = topological(root)
    except RuntimeError as error:
        raise RuntimeError(f"cannot {what}: {error}") from None
    position = {id(t): k for k, t in enumerate(order)}
    parents = {}
    for k, t in enumerate(order):
        if t._rules is not None:
            parents[k] = [(i, position[id(a)]) for i, a in enumerate(t._inputs) if isinstance(a, Tensor)]
    return order, parents


def _adjoints(root: Tensor, tensors: list[Tensor]) -> dict[int, np.ndarray]:
    """The adjoint of each of ``tensors`` that requires grad, as backward computes it
    without running hooks (a drawing only looks: a hook that logs or counts must not see it)."""
    wanted = [t for t in tensors if t.requires_grad]
    if not root.requires_grad or not wanted:
        return {}
    seed = _seed(root, None if root.size == 1 else np.ones(root.shape, root.dtype), False)  # the outputs' sum
    found = _sweep((root,), (seed,), wanted, True, False, hooks=False)
    return {id(t): np.asarray(g) for t, g in found.items() if g is not None}


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
        items = list(params.items() if isinstance(params, dict) else params)
        for item in items:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Tensor)):
                raise TypeError("params names tensors: a dict {name: tensor} or (name, tensor) pairs, "
                                "as model.named_parameters() gives (not model.parameters())")
        given = {id(t): str(name) for name, t in items}
    names, leaves, ops = {}, 0, 0
    taken = set(given.values())  # a parameter named x0 or v1 keeps its name alone
    for t in order:
        if id(t) in given:
            names[id(t)] = given[id(t)]
        elif t._rules is None:
            while f"x{leaves}" in taken:
                leaves += 1
            names[id(t)] = f"x{leaves}"
            leaves += 1
        else:
            ops += 1
            while f"v{ops}" in taken:
                ops += 1
            names[id(t)] = f"v{ops}"
    return names


def _constant(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return _summary(value) if value.size <= 4 and value.ndim <= 1 else f"array{value.shape}"
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        text = repr(value.item() if isinstance(value, np.generic) else value)  # 1.0, 0.5, 2
        return text if len(text) <= 8 else f"{value:.4g}"  # np.float64(1.4142135623730951): 1.414
    return repr(value)


def _op_label(t: Tensor) -> str:
    """The op's name, with its constant operands in place ("sub(1.0, ·)": · is a tensor)."""
    op = _OP_SHORT.get(t._op, t._op)
    if all(isinstance(a, Tensor) or a is None for a in t._inputs):
        return op
    args = ["·" if isinstance(a, Tensor) else _constant(a) for a in t._inputs if a is not None]
    return f"{op}({', '.join(args)})"


# --------------------------------------------------------------- collapse
# Large graphs are collapsed in stages, each only if the previous ones left more than
# max_nodes drawn nodes:
#   1. repeated structure (an unrolled loop, a stack of identical layers): a block of ops
#      that occurs many times in a row is drawn once at the start and once at the end of
#      the run, with one summary node in between that says how many repeats it holds;
#   2. chains (one tensor operand, one consumer) merge into one node that counts its ops;
#   3. runs of repeats are summarised whole, the first and last block included;
#   4. the nodes nearest the output are kept and all earlier ones summarised in one node.
_MIN_REPEATS = 4   # a block must occur this often in a row to be summarised
_MAX_OPERANDS = 4  # a node with more tensor operands (concatenate of many) is never part of a repeat
_PERIODS_TRIED = 8  # block lengths tried per range: the most frequent distances between equal ops
_NESTING = 3       # repeats inside the drawn blocks of a repeat are looked for to this depth


class _Structure:
    """The graph in arrays: a code per node (op, operand slots, shape, dtype), the positions
    of its tensor operands, the position of the previous node with the same code, and a
    looser code (the op's name only)."""

    def __init__(self, order, parents):
        n = len(order)
        self.code = np.empty(n, np.int64)
        self.kind = np.empty(n, np.int64)
        self.operands = np.full((n, _MAX_OPERANDS), -1, np.int64)
        self.previous = np.full(n, -1, np.int64)
        codes, kinds, last = {}, {}, {}
        for k, t in enumerate(order):
            ps = parents.get(k, ())
            data = t._data
            if t._rules is None:
                key = (None, data.shape, data.dtype.char, t.requires_grad)
            elif len(ps) > _MAX_OPERANDS:
                key = k
            else:
                key = (t._op, tuple(i for i, _ in ps), data.shape, data.dtype.char)
                for slot, (_, p) in enumerate(ps):
                    self.operands[k, slot] = p
            code = codes.setdefault(key, len(codes))
            self.code[k] = code
            self.kind[k] = kinds.setdefault(None if t._rules is None else t._op, len(kinds))
            self.previous[k] = last.get(code, -1)
            last[code] = k

    def repeats(self, lo: int, hi: int, depth: int = 0) -> list[tuple[int, int, int]]:
        """Runs of a repeated block in positions [lo, hi), as (start, block length, repeats).

        Node ``j`` repeats node ``j - p`` if both have the same code and each tensor operand
        of ``j`` is either the same node as that of ``j - p`` (a shared weight) or lies ``p``
        later (the previous block's output). The longest runs win; runs inside the first
        and last block of a run (drawn in full) are looked for in turn.

        A run's first block may match by op names only: the first pass through a loop often
        differs (it takes a constant, or a parameter's first use), and taking it in puts
        the block boundaries where the loop's body starts (a layer reads linear → relu,
        and a chain of its own ops mul → add → tanh, not add → tanh → mul).
        """
        size = hi - lo
        if size < 2 * _MIN_REPEATS:
            return []
        previous = self.previous[lo:hi]
        distances = (np.arange(lo, hi) - previous)[previous >= lo]
        if not distances.size:
            return []
        values, counts = np.unique(distances, return_counts=True)
        periods = [int(p) for p in values[np.argsort(-counts, kind="stable")[:_PERIODS_TRIED]]
                   if p * _MIN_REPEATS <= size]
        runs = []
        for p in periods:
            a, b = self.operands[lo + p:hi], self.operands[lo:hi - p]
            operands_match = np.all((a == b) | ((a - b == p) & (b >= 0)), axis=1)
            same = (self.code[lo + p:hi] == self.code[lo:hi - p]) & operands_match
            edges = np.flatnonzero(np.diff(np.concatenate(([0], same.view(np.int8), [0]))))
            starts, ends = edges[::2], edges[1::2]
            long = ends - starts >= (_MIN_REPEATS - 1) * p
            for u, v in zip(starts[long].tolist(), ends[long].tolist(), strict=True):
                runs.append(((v - u + p) // p * p, p, lo + u, lo + v + p))
        taken = np.zeros(size, bool)
        chosen = []
        for covered, p, start, end in sorted(runs, key=lambda run: (-run[0], run[1])):
            if taken[start - lo:start - lo + covered].any():
                continue
            back = 0
            while (back < p and start - back - 1 >= lo and not taken[start - back - 1 - lo]
                   and self.kind[start - back - 1] == self.kind[start - back - 1 + p]):
                back += 1
            start -= back
            repeats = (end - start) // p
            while taken[start - lo:start - lo + repeats * p].any():
                repeats -= 1
            if repeats < _MIN_REPEATS:
                continue
            taken[start - lo:start - lo + repeats * p] = True
            chosen.append((start, p, repeats))
        if depth + 1 < _NESTING:
            for start, p, repeats in list(chosen):
                chosen += self.repeats(start, start + p, depth + 1)
                chosen += self.repeats(start + (repeats - 1) * p, start + repeats * p, depth + 1)
        return chosen


def _op_name(t: Tensor) -> str:
    return "leaf" if t._rules is None else _OP_SHORT.get(t._op, t._op)


def _block(order, start: int, length: int) -> str:
    """The ops of a block, four to a line (a run of one op as "sin ×12"); a long block shows its ends."""
    ops: list[str] = []
    count = 0
    for k in range(start, start + length):
        name = _op_name(order[k])
        count += 1
        if k + 1 == start + length or _op_name(order[k + 1]) != name:
            ops.append(name if count == 1 else f"{name} ×{count}")
            count = 0
    if len(ops) > 12:
        ops = ops[:6] + [f"… ({len(ops) - 10} more)"] + ops[-4:]
    return "\n".join(" → ".join(ops[i:i + 4]) for i in range(0, len(ops), 4))


def _span(order, names, members: np.ndarray) -> str:
    """A line naming a summary's first and last op and input, so it reads between the drawn nodes."""
    ends = []
    for is_op in (True, False):
        first = next((k for k in members.tolist() if (order[k]._rules is not None) == is_op), None)
        if first is not None:
            last = next(k for k in reversed(members.tolist()) if (order[k]._rules is not None) == is_op)
            ends.append(names[id(order[first])] if first == last
                        else f"{names[id(order[first])]} … {names[id(order[last])]}")
    return "\n" + "; ".join(ends)


def _collapse(order, parents, max_nodes: int) -> tuple[np.ndarray, dict[int, str]]:
    """A group per node (the nodes of a group are drawn as one) and labels of summary groups.

    A node drawn on its own is the only member of its group and has no label. Group ids
    are node positions for chains, and ``len(order)`` and above for the other summaries.
    """
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, got {max_nodes}")
    n = len(order)
    group = np.arange(n)
    labels: dict[int, str] = {}
    if n <= max_nodes:
        return group, labels

    def drawn() -> int:
        return len(np.unique(group))

    runs = _Structure(order, parents).repeats(0, n - 1)  # the output is always drawn alone
    for number, (start, p, repeats) in enumerate(runs):
        middle = slice(start + p, start + (repeats - 1) * p)
        group[middle] = n + number
        labels[n + number] = (f"× {repeats - 2:,} repeats of\n{_block(order, start, p)}\n"
                              f"({(repeats - 2) * p:,} nodes)")

    if drawn() > max_nodes:
        # a chain node has one tensor operand and one consumer: merge runs of them
        consumers = np.zeros(n, np.int64)
        for ps in parents.values():
            for _, p in ps:
                consumers[p] += 1
        single = group == np.arange(n)

        def chain(k):
            return single[k] and consumers[k] == 1 and len(parents.get(k, ())) == 1

        for k in range(n - 1):
            if chain(k):
                p = parents[k][0][1]
                if chain(p):
                    group[k] = group[p]

    if drawn() > max_nodes:
        # innermost runs first (found last), so that what stays drawn keeps the most detail
        for number in reversed(range(len(runs))):
            if drawn() <= max_nodes:
                break
            start, p, repeats = runs[number]
            if group[start + p] != n + number:  # inside a run already summarised whole
                continue
            group[start:start + repeats * p] = n + number
            labels[n + number] = (f"× {repeats:,} repeats of\n{_block(order, start, p)}\n"
                                  f"({repeats * p:,} nodes)")

    earlier = n + len(runs)
    if drawn() > max_nodes:
        # keep the groups nearest the output (fewest edges to it); the rest become one summary
        depth = {int(group[n - 1]): 0}
        for k in range(n - 1, -1, -1):
            d = depth.get(int(group[k]))
            if d is None:
                continue
            for _, p in parents.get(k, ()):
                if group[p] != group[k] and int(group[p]) not in depth:
                    depth[int(group[p])] = d + 1
        first: dict[int, int] = {}
        for k, g in enumerate(group.tolist()):
            first.setdefault(g, k)
        keep = sorted(first, key=lambda g: (depth.get(g, math.inf), -first[g]))[: max_nodes - 1]
        group[~np.isin(group, keep)] = earlier
        labels = {g: label for g, label in labels.items() if g in keep}

    ids, sizes = np.unique(group, return_counts=True)
    for g, size in zip(ids[sizes > 1].tolist(), sizes[sizes > 1].tolist(), strict=True):
        if g not in labels:
            held = np.flatnonzero(group == g)
            if g != earlier and size <= 4:  # a short chain reads best as its ops in order
                labels[g] = f"chain of {size} ops\n" + _block(order, int(held[0]), size)
                continue
            ops = Counter(_op_name(order[k]) for k in held).most_common(4)
            head = f"… {size:,} earlier nodes" if g == earlier else f"chain of {size:,} ops"
            labels[g] = head + "\n" + ", ".join(f"{op} ×{count:,}" for op, count in ops)
    return group, labels


# ------------------------------------------------------------------- draw
def draw(root: Tensor, path: str | os.PathLike | None = None, *, show_data: bool = True,
         show_grad: bool = True, rankdir: str = "LR", max_nodes: int = 250, params: Any = None,
         color_by_grad: bool = False, group_by_module: bool = False):
    """Draw the graph that produced ``root``; returns a ``graphviz.Digraph``.

    Raises ``RuntimeError`` if the graph was freed, or the picture's format cannot be
    rendered here (the message says what to install); ``ValueError`` if the extension
    names no format.

    Parameters
    ----------
    root : Tensor
        The output (a loss, say). Its graph must not have been freed by ``backward()``.
    path : str, optional
        Write the picture, in the format its extension names: ``.png``, ``.svg``, ``.jpg``
        with either renderer, ``.pdf`` (and Graphviz's other formats) with the system
        Graphviz only; ``.dot`` / ``.gv`` write the source and need no renderer.
    show_data, show_grad : bool
        Show each node's value and adjoint (a number, a few values, or min/mean/max).
    rankdir : str
        Graphviz direction: "LR" (left to right) or "TB".
    max_nodes : int
        Larger graphs are collapsed into at most this many drawn nodes: repeated blocks of
        ops into a node that counts the repeats (the first and last block stay drawn), then
        chains into a node that counts their ops, then earlier nodes into one.
    params : dict or iterable of (name, Tensor), optional
        Names for parameters, e.g. ``model.named_parameters()``.
    color_by_grad : bool
        Shade nodes by the size of their adjoint (where the gradient flows): the larger the
        largest absolute value, relative to that of the drawn nodes, the deeper the red.
    group_by_module : bool
        Draw the parameters of each module, and the ops that use them directly, as a cluster;
        the modules are read from the dotted names of ``params``, which it needs.

    Examples
    --------
    >>> import autodiff as ad
    >>> w = ad.tensor(-1.2, requires_grad=True)
    >>> picture = ad.draw((w * 0.5).tanh())
    >>> "tanh" in picture.source and "mul(·, 0.5)" in picture.source
    True
    """
    if group_by_module and params is None:
        raise ValueError("group_by_module needs the parameters' names to find the modules: pass "
                         "params=model.named_parameters()")
    order, parents = _graph(root)
    params = list(params.items() if isinstance(params, dict) else params) if params is not None else None
    names = _names(order, params)
    group, summaries = _collapse(order, parents, max_nodes)
    ids, firsts = np.unique(group, return_index=True)
    drawn = sorted(zip(firsts.tolist(), ids.tolist(), strict=True))  # (first member, group), inputs first
    node_id = {g: f"n{i}" for i, (_, g) in enumerate(drawn)}
    alone = [k for k, g in drawn if g not in summaries]
    # only the nodes drawn need their adjoints (one sweep either way, but far fewer arrays kept)
    adjoints = _adjoints(root, [order[k] for k in alone]) if show_grad else {}
    scale = max((float(np.abs(a).max()) for a in adjoints.values() if a.size and np.all(np.isfinite(a))),
                default=0.0)

    dot = _digraph_class()("autodiff", graph_attr={"rankdir": rankdir},
                           node_attr={"fontname": "Helvetica", "fontsize": "11"})
    clusters: dict[str, list[tuple[str, dict]]] = {}
    for k, g in drawn:
        if g in summaries:
            label = summaries[g] + _span(order, names, np.flatnonzero(group == g))
            dot.node(node_id[g], label, shape="box3d", style="filled", fillcolor="#eeeeee")
            continue
        t = order[k]
        lines = [names[id(t)] if t._rules is None else f"{names[id(t)]} = {_op_label(t)}"]
        lines.append(f"{t.shape} {t.dtype}")
        value = t._data
        bad = value.dtype.kind == "f" and not np.all(np.isfinite(value))
        if show_data:
            lines.append(f"value {_summary(value)}")
        adjoint = adjoints.get(id(t))
        if adjoint is not None:
            bad = bad or not np.all(np.isfinite(adjoint))
            lines.append(f"grad {_summary(adjoint)}")
        attrs = {"shape": "box" if t._rules is None else "ellipse", "style": "filled"}
        if bad:
            attrs["fillcolor"] = "#ff8080"
        elif not t.requires_grad:
            attrs.update(fillcolor="#f0f0f0", fontcolor="#808080", color="#a0a0a0")
        elif color_by_grad and adjoint is not None and scale > 0:
            level = math.log10(1 + 9 * float(np.abs(adjoint).max()) / scale)  # 0..1
            attrs["fillcolor"] = f"#ff{int(255 - 155 * level):02x}{int(255 - 235 * level):02x}"
        else:
            attrs["fillcolor"] = "#cfe2ff" if t._rules is None else "white"
        cluster = _module_of(t, names, params, parents, order, k) if group_by_module else None
        if cluster is None:
            dot.node(node_id[g], "\n".join(lines), **attrs)
        else:
            clusters.setdefault(cluster, []).append((node_id[g], {"label": "\n".join(lines), **attrs}))
    for cluster, nodes in clusters.items():
        with dot.subgraph(name=f"cluster_{cluster}") as sub:
            sub.attr(label=cluster, style="rounded", color="#7090c0")
            for nid, attrs in nodes:
                sub.node(nid, **attrs)
    # between nodes drawn alone, one edge per operand, labelled by its position when the op
    # has several; from or into a summary, one edge per pair, labelled by how many operands
    # it stands for when more than one (a stack of a loop's 300 outputs: one edge, not 300)
    edges: dict[tuple, list[int]] = {}
    group = group.tolist()
    for k, ps in parents.items():
        b = group[k]
        for i, p in ps:
            a = group[p]
            if a != b:
                alone = a not in summaries and b not in summaries
                edges.setdefault((a, b, i) if alone else (a, b), []).append(i if len(ps) > 1 else -1)
    for key, positions in edges.items():
        if len(key) == 3:
            label = None if positions[0] < 0 else str(positions[0])
        else:
            label = f"{len(positions)} operands" if len(positions) > 1 else None
        dot.edge(node_id[key[0]], node_id[key[1]], label=label)
    if path is not None:
        _write(dot, os.fspath(path))
    return dot


def _module_of(t, names, params, parents, order, k) -> str | None:
    """The module a node belongs to: a parameter's own, or that of a parameter it uses directly."""
    if params is None:
        return None
    own = names[id(t)]
    if t._rules is None:
        return own.rpartition(".")[0] if "." in own else None
    for _, p in parents.get(k, []):
        name = names[id(order[p])]
        if order[p]._rules is None and "." in name:
            return name.rpartition(".")[0]
    return None


def _write(dot, path: str) -> None:
    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    if fmt in ("dot", "gv"):
        with open(path, "w", encoding="utf-8") as f:  # Graphviz reads UTF-8, whatever the locale
            f.write(dot.source)
        return
    if renderer(fmt) is None and fmt not in _GRAPHVIZ_FORMATS:
        found = [program for program in map(_find, _PROGRAMS) if program is not None]
        here = set().union(*(formats(program) for program in found))
        pictures = ", ".join(f".{f}" for f in _PICTURES if f in here or not found and f in ("png", "svg"))
        raise ValueError(f"cannot tell the picture format from {path!r}: use {pictures} "
                         "(Graphviz's other formats with the system Graphviz), or .dot / .gv for the source")
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
    >>> print(ad.explain(w * (w + 1), params={"w": w}))
    forward
      w = 2
      v1 = add(w, 1) = 3
      v2 = mul(w, v1) = 6
    backward (adjoint = sum over consumers of consumer adjoint × local derivative)
      ∂v2/∂v2 = 1
      ∂v2/∂v1 = ∂v2/∂v2 × ∂v2/∂v1 = 1 × 2 = 2
      ∂v2/∂w = ∂v2/∂v1 × ∂v1/∂w + ∂v2/∂v2 × ∂v2/∂w = 2 × 1 + 1 × 3 = 5
    """
    order, parents = _graph(root, "explain")
    names = _names(order, params)
    adjoints = _adjoints(root, order)
    out = names[id(root)]
    lines = ["forward"]
    for t in order:
        if t._rules is None:
            lines.append(f"  {names[id(t)]} = {_summary(t._data)}")
        else:
            args = [names[id(a)] if isinstance(a, Tensor) else _constant(a)
                    for a in t._inputs if a is not None]
            op = _OP_SHORT.get(t._op, t._op)
            lines.append(f"  {names[id(t)]} = {op}({', '.join(args)}) = {_summary(t._data)}")
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
            g = adjoints[id(consumer)]
            repeated = sum(1 for a in consumer._inputs if a is t) > 1
            local = f"∂{names[id(consumer)]}/∂{names[id(t)]}" + (f"[{i}]" if repeated else "")
            symbols.append(f"∂{out}/∂{names[id(consumer)]} × {local}")
            vals = [a._data if isinstance(a, Tensor) else a for a in consumer._inputs]
            if t.size == 1 and consumer.size == 1:
                derivative = consumer._rules[i](np.ones_like(consumer._data), consumer._data, *vals)
                numbers.append(f"{_summary(g)} × {_summary(derivative)}")
            else:  # the contribution as the sweep adds it: summed back over broadcast axes
                part = consumer._rules[i](g, consumer._data, *vals)
                part = np.zeros(t.shape, t.dtype) if part is None else np.asarray(part)
                if part.shape != t.shape:
                    part = _unbroadcast(part, t.shape, consumer, i)
                numbers.append(_summary(part))
        total = _summary(adjoints[id(t)])
        lines.append(f"  {name} = {' + '.join(symbols)} = {' + '.join(numbers)} = {total}")
    return "\n".join(lines)

