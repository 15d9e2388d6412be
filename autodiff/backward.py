"""The reverse sweep: adjoints accumulated over consumers, in topological order.

One pass counts, for every tensor reachable from the roots, how many recorded
consumers it has (for the gradients of some tensors only, :func:`gradients`, only
the tensors on a path to one of them, whose nodes alone then run). The sweep then
starts from the roots; a tensor is processed once all its consumers have sent their
contributions (Kahn's algorithm on the reversed graph), so its adjoint is complete
and is released right after use.
Both passes use explicit stacks: depth is limited by memory, not by recursion.

The engine alone reduces each contribution to its operand's shape (summing
broadcast axes), casts it to the operand's dtype, checks it, and frees each
node's saved values after use unless ``retain_graph`` is set. Without
``create_graph`` rules run on numpy arrays and no Tensor is made per node.
"""

from __future__ import annotations

import math
import threading
from contextlib import nullcontext
from typing import Any, Sequence

import numpy as np

from . import grad_mode
from .ops import _column_sums, _pass, _shape
from .ops import copy as _copy
from .tensor import (
    _SEQUENCES,
    _SWEEPS,
    Tensor,
    _carries_tangent,
    _differentiated_inside,
    _finite,
    _refuse_masked,
    _RetainGrad,
    _wrap,
)

_mode = grad_mode._state


def _freed_error(t: Tensor) -> RuntimeError:
    return RuntimeError(
        f"backward through a graph that was already freed: the node of op '{t._op}' ran in an "
        "earlier backward(), which released its saved values. Pass retain_graph=True to the "
        "first backward() to run through the graph again."
    )


def _unused_error(i: int, x: Tensor, reached: bool = False) -> ValueError:
    how = ("is used in computing the outputs, but no gradient reaches it (the rule of an op on the way "
           "is None for it)" if reached else "is not used in computing the outputs")
    return ValueError(f"input {i} (shape {x.shape}) {how}; pass allow_unused=True to get None for it")


def _check_finite(t: Tensor, index: int, g, gi, args) -> None:
    """Anomaly detection in the reverse sweep: a non-finite gradient from finite values."""
    if not _finite(gi) and _finite(g) and all(_finite(a) for a in args):
        where = getattr(t, "_where", None)
        shapes = ", ".join(str(np.shape(a)) for a in args)
        raise FloatingPointError(
            f"the rule of op '{t._op}' made a non-finite gradient for operand {index} from finite values "
            f"(operands of shapes {shapes}); the op was created at "
            f"{where.line if where else 'an unknown line'}"
        )


def _unbroadcast(g, shape: tuple, t: Tensor, index: int):
    """Sum ``g`` over the axes that broadcasting added to an operand of ``shape``.

    Broadcasting never gives a gradient more axes than the op's output ``t`` has:
    such a gradient comes from a wrong rule, and is an error.
    """
    lead = g.ndim - len(shape)
    if lead < 0 or g.ndim > max(t.ndim, len(shape)) or any(
            s != 1 and s != gs for s, gs in zip(shape, g.shape[lead:], strict=True)):
        raise ValueError(
            f"the rule of op '{t._op}' returned a gradient of shape {g.shape} for operand "
            f"{index}, which has shape {shape}; a rule must return its operand's shape "
            "(or a shape that broadcasts to it)"
        )
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1
    )
    if axes == (0,) and g.ndim == 2 and type(g) is np.ndarray:  # a bias added to every row
        g = _column_sums(g)
    elif axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


# A scalar root's seed of a sweep on arrays: one read-only 1 per dtype, not an array per
# backward (the sweep never writes into a gradient it does not own, see _claim; one it
# stores or returns it copies). A sweep on tensors (create_graph, forward mode) may hand
# out what it wraps: it gets a fresh one.
_UNIT: dict = {}


def _seed(root: Tensor, grad: Any, create: bool, caller: str = "backward"):
    if grad is None:
        data = root._data
        if data.size != 1:
            how = ("grad= an array", "y.sum().backward()") if caller == "backward" else \
                ("grad_outputs= an array (one per output)", "ad.gradients(y.sum(), x)")
            raise RuntimeError(
                f"{caller}() of a tensor of shape {root.shape} needs a seed gradient: pass "
                f"{how[0]} of shape {root.shape} (np.ones for the sum of its elements), "
                f"or reduce it to a scalar first, e.g. {how[1]}"
            )
        if data.ndim or create or _mode.forward:
            seed = np.array(1, data.dtype).reshape(data.shape)  # np.ones_like costs 3x as much
        else:
            seed = _UNIT.get(data.dtype)
            if seed is None:
                seed = _UNIT[data.dtype] = np.ones((), data.dtype)
                seed.flags.writeable = False
    else:
        # a recorded sweep saves the seed: a copy, not the caller's array, which the caller
        # may write into before the gradient's own backward()
        _refuse_masked(grad, f"{caller}()")
        seed = grad._data if isinstance(grad, Tensor) else np.array(grad, dtype=root.dtype,
                                                                     copy=True if create else None)
        if seed.shape != root.shape:
            raise ValueError(f"seed gradient of shape {seed.shape} for a tensor of shape {root.shape}")
        if seed.dtype != root.dtype:
            seed = seed.astype(root.dtype)
    if create:
        return grad if isinstance(grad, Tensor) and grad.dtype == root.dtype else _wrap(seed)
    return seed


def _run_hooks(t: Tensor, g, create: bool, store: bool):
    """Run ``t``'s hooks on its gradient; a hook may replace it.

    ``store`` is False when the sweep computes gradients for :func:`gradients` (and the
    transforms and drawings built on it): ``retain_grad`` must not write ``.grad`` then.
    """
    # retain_grad keeps the gradient after every other hook, whenever it was asked for (as PyTorch)
    hooks = [h for h in t._hooks if not isinstance(h, _RetainGrad)]
    if store:
        hooks += [h for h in t._hooks if isinstance(h, _RetainGrad)]
    for hook in hooks:
        if create and isinstance(g, Tensor) and (g.requires_grad or _carries_tangent(g)):
            result = hook(g)  # its arithmetic is recorded, or carries the tangent: g itself (which
            # refuses writes then); else a hook that wrote into g would change what shares it
        else:  # read-only: g's memory may be another operand's gradient, or the seed
            seen = np.asarray(g._data if isinstance(g, Tensor) else g).view()  # a numpy scalar
            # where 0-d contributions were added
            seen.flags.writeable = False
            given = _wrap(seen)
            try:
                result = hook(given)
                if result is given:  # what it was given (a hook that looks): g stands, not
                    result = None  # the read-only view
            except ValueError as e:
                if "read-only" not in str(e):
                    raise
                what = "a leaf" if t.op is None else f"the tensor of op '{t.op}'"
                raise ValueError(f"a hook on {what} wrote into the gradient it was given, which is "
                                 "read-only: return the new gradient instead") from e
        if result is not None:
            if not isinstance(result, Tensor):  # an array, a list: its values (a constant)
                _refuse_masked(result, "a hook")
                if type(result) in _SEQUENCES and _differentiated_inside(result):
                    raise TypeError("a hook returned a list holding a tensor that requires grad, whose "
                                    "derivative would be lost: return ad.stack(...) of it instead")
                result = _wrap(np.asarray(result)) if create else np.asarray(result)
            elif not create:
                result = result._data
            if result.shape != t.shape:
                raise ValueError(f"a hook returned a gradient of shape {result.shape} "
                                 f"for a tensor of shape {t.shape}")
            if result.dtype != t.dtype:  # as a rule's gradient, the tensor's dtype
                result = result.astype(t.dtype)
            g = result
    return g


def _store_grad(t: Tensor, g, create: bool, exclusive: bool = False) -> None:
    """Accumulate into ``t.grad``: gradients never alias each other or anything else.

    ``g`` is copied unless it is ``exclusive`` (memory only the sweep holds, see ``_claim``).
    """
    old = t.grad
    if old is not None and (not isinstance(old, Tensor) or old._data.shape != t._data.shape):
        what = f"a Tensor of shape {old.shape}" if isinstance(old, Tensor) else f"a {type(old).__name__}"
        raise ValueError(f".grad of a tensor of shape {t.shape} was set to {what}, which the gradient "
                         "cannot be added to: set it to None or to a Tensor of the tensor's shape")
    if create:  # a recorded copy: g may be another leaf's gradient, the seed, or read-only
        t.grad = _copy(g) if old is None else old + g
    elif old is None:  # (0-d contributions add up to a numpy scalar: made an array here)
        dtype = t._data.dtype
        own = exclusive and type(g) is np.ndarray and g.dtype == dtype
        t.grad = _wrap(g if own else np.array(g, dtype=dtype))
    else:
        t.grad = _wrap(np.asarray(old._data + g))


# Gradients of at least this many elements are tracked for exclusivity: below, a copy
# costs less than the tracking.
_LARGE = 4096


def _claim(gi: np.ndarray, g, g_exclusive: bool, out, args, parent: Tensor, given: list,
           exclusive: set) -> None:
    """Mark ``parent`` exclusive (see ``_run``) if the sweep alone holds ``gi``, a rule's
    gradient for it, and nothing else of the sweep's holds the same memory.

    The sweep alone holds memory the rule created (not that of ``g``, ``out`` or an
    operand: rules return memory they do not keep, see :func:`autodiff.op`), and a view of
    the incoming ``g`` when ``g`` was exclusive; in either case only if no other operand
    of the node got the same memory: ``given`` records what each got, and an operand
    that shares memory with another loses its claim. A read-only result (a broadcast
    view) is never exclusive. An array's memory is owned by its ``base`` (numpy points
    every view at the owner), or by itself. Loops, not ``any()``, and no helper calls: this
    runs for every large gradient, amid a step whose BLAS calls have evicted the caches.
    """
    if not gi.flags.writeable:
        return
    owner = gi.base
    if owner is None:
        owner = gi
    for other, holder in given:
        if owner is other:
            exclusive.discard(holder)
            return
    given.append((owner, parent))
    if owner is g or owner is g.base:
        if not g_exclusive:
            return
    elif owner is out or owner is out.base:
        return
    else:
        for a in args:
            if owner is a or (type(a) is np.ndarray and owner is a.base):
                return
    exclusive.add(parent)


# Sweeps run one at a time in the process: the consumer counts they keep on the tensors
# (``Tensor._pending``) must not mix. A sweep in another thread waits; a sweep started
# inside another in the same thread (by a hook, or by a rule that differentiates) parks
# the outer sweep's counts of the tensors it reaches, and gives them back when done.
_ONE_AT_A_TIME = threading.RLock()
_running = 0  # sweeps under way in the thread that holds the lock (nested ones included)


def _park(starts) -> dict:
    """Zero the consumer counts of every tensor reachable from ``starts``; return the old ones."""
    parked: dict[Tensor, Any] = {}
    stack = [t for t in starts if t is not None]
    while stack:
        t = stack.pop()
        if t in parked:
            continue
        parked[t] = t._pending
        t._pending = None
        if t._rules:
            inputs = t._inputs
            stack.extend(inputs[i] for i in t._needs)
    return parked


def _count(roots: Sequence[Tensor], wanted: set | None = None, alone: bool = False) -> bool:
    """The first pass: count the consumers of every tensor reachable from ``roots``.

    For the gradients of the ``wanted`` tensors only: not past a lone target (nothing past
    it can lead to a target), and False, with the counting unfinished, on reaching a tensor
    that may lead to no target (a leaf not wanted, a freed node: see :func:`_count_towards`).
    """
    stack = list(dict.fromkeys(roots))  # each root once
    # a root that another root reaches is expanded from the stack only (several roots, as
    # jvp's two-pass trick and gradients([y, f(y)], ...) give); one root is reached by none
    others = frozenset(stack) if len(stack) > 1 else ()
    while stack:
        t = stack.pop()
        if alone and t in wanted:
            continue
        if not t._rules:
            if wanted is not None and t not in wanted:
                return False
            if t._rules is None:  # a leaf
                continue
            raise _freed_error(t)
        inputs = t._inputs
        for i in t._needs:
            parent = inputs[i]
            count = parent._pending
            if count:
                parent._pending = count + 1
            else:
                parent._pending = 1
                if parent not in others:
                    stack.append(parent)
    return True


def _count_towards(roots: Sequence[Tensor], wanted: set, alone: bool) -> tuple[set, dict]:
    """The first pass of a sweep for the gradients of the ``wanted`` tensors (the targets) when
    some tensor reached may lead to none: count the consumers of the tensors on a path from a
    root to a target. Returns those tensors, and for their nodes
    with operands on no such path, the positions of the operands that are (none for a
    target that nothing wanted lies behind).

    The sweep runs only these nodes, towards these operands: it neither computes, frees, nor
    runs hooks on the rest of the graph (what the targets were computed from, tensors a
    function closes over), as PyTorch's ``autograd.grad``. Every consumer of such a tensor
    that a root reaches is on such a path too, so its count is complete. Past a lone target
    nothing can lead to a target: the walk stops there.
    """
    useful: set = set()
    seen: set = set()
    skip: dict = {}
    stack: list = list(roots)
    while stack:  # depth first; a node's entry (t,) comes back once its inputs are decided
        t = stack.pop()
        if type(t) is tuple:
            t = t[0]
            inputs, needs = t._inputs, t._needs
            kept = ()
            for i in needs:
                if inputs[i] in useful:
                    kept += (i,)
            if kept or t in wanted:
                useful.add(t)
                if len(kept) != len(needs):
                    skip[t] = kept
                for i in kept:
                    parent = inputs[i]
                    count = parent._pending
                    parent._pending = count + 1 if count else 1
        elif t not in seen:
            seen.add(t)
            rules = t._rules
            if rules is None or alone and t in wanted:
                if t in wanted:
                    useful.add(t)
                    if rules is not None:
                        skip[t] = ()
            elif not rules:  # freed: what lies behind is gone
                if not _all_newer(wanted, t):
                    raise _freed_error(t)
                # else every target began to require grad after the sweep that freed t had
                # started, so after t was made: none lies behind it (a function that closes
                # over a tensor whose graph backward() freed, as PyTorch computes it)
            else:
                stack.append((t,))
                inputs = t._inputs
                for i in t._needs:
                    stack.append(inputs[i])
    return useful, skip


def _all_newer(wanted: set, freed: Tensor) -> bool:
    """Whether every tensor ``wanted`` is a leaf that first required grad after the sweep
    that released ``freed`` started (see ``Tensor._epoch``): then none is behind it."""
    for x in wanted:
        if x._rules is not None or getattr(x, "_epoch", -1) < freed._epoch:
            return False
    return True


def _sweep(roots: Sequence[Tensor], seeds: Sequence, targets: Sequence[Tensor] | None,
           retain: bool, create: bool, all_used: bool = False, hooks: bool = True) -> dict | None:
    """Run the reverse sweep; fill ``.grad`` of leaves, or return {target: adjoint}.

    ``all_used``: raise, before any node runs (and frees its values), if a target is
    neither a root nor reached from one. ``hooks``: run the tensors' hooks (drawings,
    which only look, do not).

    The first pass counts each tensor's consumers in ``t._pending``: a count on the tensor
    costs 8 bytes, an entry in a dictionary 40 or more at the peak of a long graph. If the
    sweep fails, the counts it leaves are zeroed. Dictionaries are keyed by the tensors
    themselves: their hash is their identity, and a lookup never reaches
    ``Tensor.__eq__`` because identity is tried first.
    """
    global _running
    with _ONE_AT_A_TIME:
        _SWEEPS[0] += 1
        parked = _park(roots) if _running else None
        _running += 1
        previous = _mode.enabled
        # a recorded sweep under no_grad records (as PyTorch's): a forward sweep paused there runs too
        resumed = grad_mode._switch(True) if create else None
        ready: list = []
        try:
            return _run(roots, seeds, targets, retain, create, ready, all_used, hooks, parked)
        except BaseException:
            _park(list(roots) + [t for t, _ in ready])
            raise
        finally:
            grad_mode._restore(previous, resumed)
            _running -= 1
            if parked:
                for t, count in parked.items():
                    t._pending = count


def _run(roots: Sequence[Tensor], seeds: Sequence, targets: Sequence[Tensor] | None,
         retain: bool, create: bool, ready: list, all_used: bool = False, hooks: bool = True,
         outer: dict | None = None) -> dict | None:
    """The two passes of :func:`_sweep`; ``ready`` holds (tensor, adjoint) pairs whose adjoint is
    complete. ``outer``: the counts of an enclosing sweep (see _park), whose nodes are kept."""
    skip = None  # nodes run towards some of their operands only: see _count_towards
    if targets is None:
        _count(roots)
    else:
        wanted = set(targets)
        alone = len(wanted) == 1
        if _count(roots, wanted, alone):  # every tensor reached leads to a target: the usual case
            skip = {t: () for t in wanted if alone and t._rules is not None}
        else:
            _park(roots)  # the counts made so far
            useful, skip = _count_towards(roots, wanted, alone)
            kept = [(r, s) for r, s in zip(roots, seeds, strict=True) if r in useful]
            roots, seeds = [r for r, _ in kept], [s for _, s in kept]
    if all_used:
        for i, x in enumerate(targets):
            if not x._pending and not any(x is r for r in roots):  # `is`: == is elementwise
                raise _unused_error(i, x)

    # ready: (tensor, its complete adjoint); adjoint: the partial sums of the others. A
    # tensor with one consumer (a chain) goes straight to ready, past the dictionary.
    adjoint: dict[Tensor, Any] = {}
    for root, seed in zip(roots, seeds, strict=True):
        adjoint[root] = adjoint[root] + seed if root in adjoint else seed
    for root in list(adjoint):
        if not root._pending:
            ready.append((root, adjoint.pop(root)))
    found = None if targets is None else dict.fromkeys(targets)
    pop_ready, push_ready = ready.pop, ready.append
    # Rules run on tensors to record the sweep (create_graph), and during a forward-mode
    # sweep so that tangents flow through them too (forward-over-reverse).
    tensors = create or bool(_mode.forward)
    anomaly = _mode.anomaly
    if tensors:
        adjoint = {t: g if isinstance(g, Tensor) else _wrap(g) for t, g in adjoint.items()}
        ready[:] = [(t, g if isinstance(g, Tensor) else _wrap(g)) for t, g in ready]
    get_adjoint, pop_adjoint = adjoint.get, adjoint.pop
    exclusive: set = set()  # tensors whose adjoint is large and held by the sweep alone
    large = math.inf if tensors else _LARGE  # tensors are never tracked

    _mode.enabled = create
    epoch = _SWEEPS[0]  # this sweep's, kept on the nodes it releases
    kind = Tensor if tensors else np.ndarray  # what the rules' gradients are made of
    t = None
    try:
        while ready:
            t, g = pop_ready()
            rules = t._rules
            if g is not None:
                g_exclusive = False
                if exclusive and t in exclusive:
                    exclusive.discard(t)
                    g_exclusive = True
                if t._hooks and hooks:
                    g = _run_hooks(t, g, tensors, found is None)
                    g_exclusive = False  # a hook may keep what it saw
                if found is not None and t in found:
                    found[t] = g
                    g_exclusive = False  # returned to the caller
                if rules is None:  # a leaf
                    if found is None:
                        _store_grad(t, g, tensors, g_exclusive)
                    continue
                if tensors:
                    args, out = t._inputs, t
                else:
                    args, out = t._vals, t._data
                n_args = len(args)
                given = None  # memory given to the node's operands (see _claim)
            elif rules is None:
                continue
            elif rules:  # no gradient reached it: it runs as a node whose rules give none
                rules = (None,) * len(rules)
            inputs, needs = t._inputs, t._needs
            if skip and t in skip:
                needs = skip[t]
                if not needs:  # a target that nothing wanted lies behind: not run, nor freed
                    continue
            if not rules:  # freed since the first pass (by a sweep a hook ran)
                raise _freed_error(t)
            for i in needs:
                parent = inputs[i]
                rule = rules[i]
                if rule is None:
                    gi = None
                else:
                    if g_exclusive and len(needs) == 1 and not anomaly:
                        # g is the sweep's alone and this rule its last reader: a rule that
                        # has an in_place form may write its result into g
                        rule = getattr(rule, "in_place", rule)
                    if rule is _pass:  # an add's: no call
                        gi = g
                    elif n_args == 1:  # the usual counts without *args, which packs a tuple (90 ns a call)
                        gi = rule(g, out, args[0])
                    elif n_args == 2:
                        gi = rule(g, out, args[0], args[1])
                    elif n_args == 3:  # linear's
                        gi = rule(g, out, args[0], args[1], args[2])
                    else:
                        gi = rule(g, out, *args)
                    if gi is not None:
                        if type(gi) is not kind:  # a number, a numpy scalar; an array in a recorded sweep
                            if not tensors:
                                gi = np.asarray(gi)
                            elif not isinstance(gi, Tensor):
                                gi = _wrap(np.asarray(gi))
                        if anomaly:
                            _check_finite(t, i, g, gi, args)
                        pdata = parent._data
                        if gi.shape != pdata.shape:
                            gi = _unbroadcast(gi, pdata.shape, t, i)
                        if gi.dtype is not pdata.dtype and gi.dtype != pdata.dtype:  # `is`: cheap, usual
                            gi = gi.astype(pdata.dtype)
                count = parent._pending - 1
                parent._pending = count
                before = get_adjoint(parent) if count else pop_adjoint(parent, None)
                if gi is None:
                    gi = before
                else:
                    if before is not None:
                        gi = before + gi
                    if gi.size >= large:
                        if before is not None:  # the sum is new memory
                            exclusive.add(parent)
                        else:
                            if given is None:
                                given = []
                            _claim(gi, g, g_exclusive, out, args, parent, given, exclusive)
                if count:
                    if gi is not None:
                        adjoint[parent] = gi
                elif gi is None or parent._rules is not None or parent._hooks or found is not None:
                    push_ready((parent, gi))
                elif exclusive and parent in exclusive:  # a leaf whose gradient is complete: stored
                    exclusive.discard(parent)  # now, past the ready list
                    _store_grad(parent, gi, tensors, True)
                else:  # a sum made here (before + gi) is new memory at any size: not copied
                    _store_grad(parent, gi, tensors, before is not None and gi is not before)
            # release the node (dropping its locks unlocks them, see _Locks), unless an
            # enclosing sweep (this one runs in its hook or rule) still has it to run
            if not retain and (outer is None or outer.get(t) is None):
                t._inputs = t._vals = t._rules = t._locks = ()
                t._epoch = epoch
    except BaseException:
        ready.append((t, None))  # the failed node's tensor: the counts left are reached from it
        raise
    return found


def topological(root: Tensor) -> list[Tensor]:
    """Every tensor ``root`` was made from, in topological order (inputs first, ``root`` last).

    Iterative; raises if backward() already freed part of the graph.
    """
    order: list[Tensor] = []
    done: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if id(t) in done:
            continue
        if expanded or t._rules is None:
            done.add(id(t))
            order.append(t)
            continue
        if not t._rules:
            raise RuntimeError(
                f"backward() already freed this graph (op '{t._op}'); use it before backward(), "
                "or call backward(retain_graph=True)"
            )
        stack.append((t, True))
        for operand in reversed(t._inputs):
            if isinstance(operand, Tensor) and id(operand) not in done:
                stack.append((operand, False))
    return order


def backward(root: Tensor, grad: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into ``.grad`` of every leaf that requires grad."""
    if not root.requires_grad:
        raise RuntimeError(
            "backward() on a tensor that does not require grad: no input of its computation "
            "had requires_grad=True (or it was computed under no_grad)"
        )
    _sweep((root,), (_seed(root, grad, create_graph),), None, retain_graph or create_graph, create_graph)


def gradients(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
              create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, without touching any ``.grad``.

    The engine-level function (PyTorch's ``torch.autograd.grad``); ``ad.grad`` and
    the other transforms build on it.

    Parameters
    ----------
    outputs : Tensor or sequence of Tensors
    inputs : Tensor or sequence of Tensors
    grad_outputs : seed gradients, one per output (None for one-element outputs)
    retain_graph : keep the graph (default: ``create_graph``)
    create_graph : record the computation, for higher derivatives
    allow_unused : give None for an input the outputs do not depend on, instead of an error

    Examples
    --------
    >>> import autodiff as ad
    >>> x = ad.tensor(3.0, requires_grad=True)
    >>> ad.gradients(x * x, x)
    (Tensor(6.),)
    """
    if isinstance(outputs, Tensor):
        if type(grad_outputs) in (list, tuple) and len(grad_outputs) == 1:
            one = grad_outputs[0]
            if one is None or _shape(one) == outputs.shape:
                grad_outputs = one  # a list of one seed per output, as PyTorch takes it
        outputs, grad_outputs = (outputs,), (grad_outputs,)
    else:
        outputs = tuple(outputs)
        if isinstance(grad_outputs, Tensor):  # one seed for one output, as PyTorch takes it
            grad_outputs = (grad_outputs,)
        grad_outputs = (None,) * len(outputs) if grad_outputs is None else tuple(grad_outputs)
        if len(grad_outputs) != len(outputs):
            raise ValueError(f"{len(grad_outputs)} seed gradients for {len(outputs)} outputs")
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise ValueError(f"input {i} does not require grad, so it has no gradient")
    roots, seeds = [], []
    for out, seed in zip(outputs, grad_outputs, strict=True):
        if out.requires_grad:
            roots.append(out)
            seeds.append(_seed(out, seed, create_graph, "gradients"))
    if not roots and not allow_unused:
        raise ValueError(
            "gradients() of outputs none of which requires grad: no input of their computation "
            "had requires_grad=True (or they were computed under no_grad); pass allow_unused=True "
            "to get None for every input"
        )
    retain = create_graph if retain_graph is None else retain_graph
    found = _sweep(roots, seeds, inputs, retain, create_graph, not allow_unused) if roots \
        else dict.fromkeys(inputs)
    result = []
    for i, x in enumerate(inputs):
        g = found[x]
        if g is None:
            if not allow_unused:  # reached, but every rule on the way gave None
                raise _unused_error(i, x, reached=True)
        elif not isinstance(g, Tensor):
            g = _wrap(np.array(g, dtype=x.dtype))
        elif any(g is other for other in (*result, *seeds)):  # one adjoint for two inputs (add
            with grad_mode.enable_grad() if create_graph else nullcontext():  # passes it on), or
                g = _copy(g)  # the caller's seed: a copy, each its own (recorded as the sweep was)
        result.append(g)
    return tuple(result)
