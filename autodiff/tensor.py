"""The Tensor, which is also the graph node that records how it was made, and the op mechanism.

Decisions recorded here:

* A Tensor wraps a numpy array (``data``). When it is the result of an op on
  tensors that require grad, it is also the graph's node for that op: it holds
  the op's name, its operands and one derivative rule per operand (the slots
  ``_op``, ``_inputs``, ``_rules``, ...). No separate node object: one object less
  per op to make, and for the garbage collector to scan, in a long graph.
* A rule is ``rule(g, out, *operands) -> gradient for one operand``. The engine
  calls it with numpy arrays for an ordinary backward (no Tensor is created per
  node), and with Tensors under ``create_graph=True``; rules are written with
  numpy functions and methods, which dispatch to the differentiable ops when they
  meet a Tensor (``__array_ufunc__``/``__array_function__``), so one rule serves
  every order. A rule never captures the output Tensor: the engine passes ``out``.
* Values saved for backward are protected, not copied: while a node that saved a
  tensor is alive and not yet run, writing to that tensor (in-place ops,
  ``t.data[...] = v``, ``t.data = v``) raises an error naming the op. An array the
  user took earlier (``t.data``, ``t.numpy()``, ``np.asarray(t)``) is made read-only
  for that time, so a write through it raises too (numpy's own error). One lock per
  memory (``_MEMORY``): every tensor, view op and op that reaches one memory, and every
  array of it handed out or given, shares it, so a save through any of them covers all
  (a memory's parts are not told apart, as PyTorch's version counter does not). Views
  the user makes of such an array with numpy, never given to the engine, are beyond its
  reach.
* ``ad.tensor(data)`` and ``Tensor(data)`` copy their input, as ``np.array`` and
  ``torch.tensor`` do, so a pending graph cannot be changed through the caller's array.
"""

from __future__ import annotations

import inspect
import linecache
import numbers
import os
import sys
import threading
import weakref
from typing import Any, Callable, Iterator

import numpy as np

from . import grad_mode

_mode = grad_mode._state
_unusual = grad_mode._unusual  # threads not in the usual mode (see grad_mode)


def _is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f"


def _carries_tangent(t: Any) -> bool:
    """Whether ``t`` is a tensor with a tangent of the running forward-mode sweep."""
    if not isinstance(t, Tensor) or t._tangent is None:  # the usual answer, without reading the mode
        return False
    token = _mode.forward
    return bool(token) and t._tangent[0] == token


class _Lock:
    """How many pending nodes saved an array (shared by a tensor and its views).

    ``exposed``: None before the user held an array of its memory; then the memory's list
    of weak references to the arrays of it the user holds, handed out or given (shared with
    ``_MEMORY``, where it outlives the lock); while something is saved, the pair (that list,
    the arrays made read-only for the time). ``owner``, set when the lock is entered in
    ``_MEMORY``: the array that owns the memory. Made on hot paths by ``object.__new__``
    with the three first slots set: no call.
    """

    __slots__ = ("count", "op", "exposed", "owner", "__weakref__")

    def expose(self, array: np.ndarray) -> None:
        """Remember ``array``, handed to the user: it is made read-only while the values are saved."""
        exposed = self.exposed
        if type(array) is not np.ndarray and not isinstance(array, np.ndarray):
            return  # a numpy scalar (what numpy's reductions give): nothing writes into one
        if exposed is None:
            exposed = self.exposed = _unfiled(self, [])
        elif exposed and exposed[-1]() is array:  # usually the last
            return
        if not any(r() is array for r in exposed):
            _add_ref(exposed, array)

    def freeze(self) -> None:
        """The first pending node saved the values: the user's arrays become read-only.

        An array may be under several locks (memory a custom op returned as a view of its
        input's): ``_FROZEN`` counts the locks that froze each, and the last to thaw it makes
        it writable again.
        """
        with _MEMORY_TURN:  # the registries are the process's: one thread at a time
            exposed = self.exposed
            if type(exposed) is tuple:  # frozen still: another thread counted down to 0 and is about
                return  # to thaw (it will see the count and leave them frozen)
            self.exposed = (exposed, [a for r in exposed if (a := r()) is not None and _freeze(a)])

    def take(self, arrays: list) -> None:
        """Arrays of this lock's memory that the user gave (see ``_memory_lock``): read-only at
        once if the values are saved now."""
        exposed = self.exposed
        if type(exposed) is not tuple:
            for a in arrays:
                self.expose(a)
            return
        listed, frozen = exposed
        for a in arrays:
            if not any(r() is a for r in listed):
                _add_ref(listed, a)
                if _freeze(a):
                    frozen.append(a)

    def thaw(self) -> None:
        """The last pending node is gone: give the user's arrays back their writability.

        A view can be writable only once its base is: a base frozen through another lock
        (memory shared by tensors that do not share a lock) is thawed later, and the view
        waits in ``_WAITING`` until then; a view op's output that numpy made read-only waits
        in ``_BLOCKED`` for the array it was taken from. Each pass may free the next.
        """
        with _MEMORY_TURN:  # (a view another thread blocks meanwhile is not lost)
            if self.count:  # saved again by another thread since this one counted down to 0
                return
            self.exposed, frozen = self.exposed
            free = []
            for a in frozen:
                entry = _FROZEN[id(a)]
                entry[1] -= 1
                if not entry[1]:
                    del _FROZEN[id(a)]
                    free.append(a)
            pending = sorted(free, key=_depth)  # a view after its base (a subclass view's base is a view)
            while True:  # until nothing more became writable: a view may wait for a blocked one, and back
                thawed = False
                for a in pending + _WAITING:
                    base = a.base
                    # a base that is no array (torch's memory, a buffer): numpy checks it when asked
                    if base is None or not isinstance(base, np.ndarray) or base.flags.writeable:
                        thawed = _make_writable(a) or thawed
                        _unwait(a)
                    elif id(base) in _FROZEN or _blocked(base) or _waiting(base):
                        if not _waiting(a):  # (a subclass view's base is the view it was taken
                            _WAITING.append(a)  # from: numpy stops its chain there, and that may wait)
                    else:  # its base is read-only for good (numpy's broadcast view), and so is it
                        _unwait(a)
                pending = []
                still = []
                for view, source in _BLOCKED:  # in the order made: a view of a blocked view after it
                    if source.flags.writeable:
                        thawed = _make_writable(view) or thawed
                    elif id(source) in _FROZEN or _waiting(source) or _blocked(source):
                        still.append((view, source))  # (else read-only for good, and so is the view:
                        # a saved tensor's hand-out of numpy's broadcast view)
                _BLOCKED[:] = still
                if not thawed:
                    return


def _prune_due(n: int, first: int = 16) -> bool:
    """Whether a list of ``n`` entries is pruned now: at ``first`` (a power of 2), twice as
    many, four times... (amortised: the entries added since the last prune pay for each)."""
    return n >= first and not n & (n - 1)


def _add_ref(refs: list, array: np.ndarray) -> None:
    """Append a weak reference to ``array`` to a lock's list (see ``_Lock.exposed``), first
    dropping the dead ones when it has 16, 32, 64... (W.T.numpy() in a loop adds one each time)."""
    if _prune_due(len(refs)):
        refs[:] = [r for r in refs if r() is not None]
    refs.append(weakref.ref(array))


def _freeze(a: np.ndarray) -> bool:
    """Make ``a`` read-only for one more lock (see ``_Lock.freeze``); False if it is read-only
    of itself (a broadcast view, the caller's choice), which no lock then holds."""
    entry = _FROZEN.get(id(a))
    if entry is not None:
        entry[1] += 1
    elif a.flags.writeable:
        a.flags.writeable = False
        _FROZEN[id(a)] = [a, 1]
    elif _unwait(a) or _unblock(a):  # frozen still, waiting for its base or source to thaw:
        _FROZEN[id(a)] = [a, 1]  # this lock takes it over
    else:
        return False
    return True


_WAITING: list = []  # arrays to thaw once their base is writable (see _Lock.thaw)
# (view, the array it was taken from): a view op's output on a numpy array that a lock had
# frozen, read-only from birth; writable once that array is (see _wrap and _Lock.thaw)
_BLOCKED: list = []


def _depth(a: np.ndarray) -> int:
    """How many arrays ``a``'s chain of bases holds (numpy points a plain view at the owner:
    1; a view of a subclass view, at that view)."""
    n = 0
    while isinstance(a.base, np.ndarray):
        a, n = a.base, n + 1
    return n


def _make_writable(a: np.ndarray) -> bool:
    """Make ``a`` writable; False if its memory is read-only of itself."""
    try:
        a.flags.writeable = True
    except ValueError:
        return False
    return True


def _waiting(a: np.ndarray) -> bool:
    """Whether ``a`` is in ``_WAITING`` (by identity: == is elementwise)."""
    return bool(_WAITING) and any(w is a for w in _WAITING)


def _unwait(a: np.ndarray) -> bool:
    """Take ``a`` off ``_WAITING``; whether it was there."""
    if _waiting(a):
        _WAITING[:] = [w for w in _WAITING if w is not a]
        return True
    return False


# How many reverse sweeps have started in the process (see Tensor._epoch)
_SWEEPS = [0]

# Arrays made read-only by locks, by id: [the array, how many locks froze it] (see _Lock.freeze)
_FROZEN: dict[int, list] = {}
_BLOCK_BYTES = 1 << 19  # Tensor.add_ works in blocks of this size: a fraction of a core's L2 cache


class _SavedArray(np.ndarray):
    """Read-only view handed out for a tensor whose values a pending backward needs.

    Writing to it raises an error that says why; what numpy derives from it (copies,
    results of arithmetic) is writeable and behaves as any array.
    """

    def __array_finalize__(self, obj) -> None:
        self._saved_by = getattr(obj, "_saved_by", "an op")
        self._source = None  # the tensor's array, for the one Tensor.numpy() makes
        # the tensor's lock (its pending nodes, now and later), for views of its memory only
        lock = getattr(obj, "_lock", None)
        self._lock = lock if lock is not None and np.may_share_memory(self, obj) else None

    def _guard(method):
        def guarded(self, *args, **kwargs):
            lock = self._lock
            if not self.flags.writeable or lock is not None and lock.count:
                raise RuntimeError(
                    f"cannot write to this array: it holds values saved by op "
                    f"'{self._saved_by if lock is None else lock.op}' for a "
                    "pending backward(), and changing them would make the gradient wrong. Call "
                    "backward() first, drop the graph (del the output), or work on a copy (t.data.copy())."
                )
            return method(self, *args, **kwargs)

        return guarded

    __setitem__ = _guard(np.ndarray.__setitem__)
    __iadd__, __isub__ = _guard(np.ndarray.__iadd__), _guard(np.ndarray.__isub__)
    __imul__, __itruediv__ = _guard(np.ndarray.__imul__), _guard(np.ndarray.__itruediv__)
    __ipow__, __ifloordiv__ = _guard(np.ndarray.__ipow__), _guard(np.ndarray.__ifloordiv__)
    del _guard


class _Locks(tuple):
    """The locks of the values one recorded op saved (see :class:`_Lock`).

    Dropping the last reference unlocks them: backward drops it once it has run the op,
    and a graph dropped unused drops it with its tensor.
    """

    __slots__ = ()

    def __del__(self) -> None:
        for lock in self:
            lock.count -= 1
            if lock.exposed is not None and not lock.count and type(lock.exposed) is tuple:
                lock.thaw()


# The locks of an op whose rules read its own output, not made yet: the output is new and
# nobody else has its memory, so its lock is made only when something asks for it (the
# user takes .data, a view is made, another op saves it; see Tensor._shared_lock), and most
# outputs never need one. (tanh, exp, relu: two objects and a finalizer less per op.)
_OUT = _Locks()


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    Parameters
    ----------
    data : array_like
        Values; copied, with numpy's dtype rules (Python floats give float64).
    requires_grad : bool
        Record operations on this tensor so that ``backward()`` fills ``.grad``.
        Only floating-point tensors can require gradients.
    dtype : numpy dtype, optional
        Both options are keywords (``ad.tensor(data, dtype, requires_grad)`` also takes them
        by position).

    Examples
    --------
    >>> import autodiff as ad
    >>> x = ad.Tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    Tensor([2., 4.])
    """

    # _pending: during a reverse sweep, how many of the tensor's consumers have not yet sent
    # their gradient (see backward._sweep); None or 0 otherwise.
    # The node, for a tensor an op recorded: _rules, one rule per operand (None for a
    # tensor no op recorded, a leaf; () once backward has run the op and released it);
    # _op, the op's name; _inputs, its operands; _vals, their raw values; _needs, the
    # positions of those that require grad; _locks, the locks of the values its rules
    # read (see _Locks); _where, under anomaly detection or tracing, the Site that made it.
    # A leaf leaves all but _rules unset: they cost nothing then.
    # _epoch, a count of reverse sweeps (_SWEEPS): for a leaf, when it first required grad;
    # for a node, the sweep that released it (see backward._count_towards).
    __slots__ = ("_data", "grad", "_requires_grad", "_lock", "_hooks", "_tangent", "_pending",
                 "_rules", "_op", "_inputs", "_vals", "_needs", "_locks", "_where", "_epoch", "__weakref__")

    def __init__(self, data: Any, *, requires_grad: bool = False, dtype: Any = None) -> None:
        # keywords only: ad.tensor takes them by position in the other order (PyTorch's: dtype first)
        if isinstance(data, Tensor):
            data = data._data
        _refuse_masked(data, "Tensor")
        self._data = np.array(data, dtype=dtype)
        if self._data.dtype == object:
            raise TypeError(f"cannot make a Tensor from {type(data).__name__}: numpy gives an object array")
        self.grad = None
        self._requires_grad = False
        self._rules = None
        self._lock = None
        self._hooks = None
        self._tangent = None
        self._pending = None
        if requires_grad:
            self.requires_grad_(True)

    # ----------------------------------------------------------- attributes
    def numpy(self) -> np.ndarray:
        """The values as a numpy array, sharing memory (read-only while a pending backward needs them)."""
        lock = self._lock
        if lock is None:
            if not (self._rules and self._locks is _OUT):  # the usual first call, quickly
                self._lock = lock = _new(_Lock)
                lock.count, lock.op = 0, ""
                if isinstance(self._data, np.ndarray):
                    lock.exposed = refs = [weakref.ref(self._data)]
                    if len(_UNFILED) < 64:  # _unfiled, inline until it prunes
                        _UNFILED.append((weakref.ref(lock), refs))
                    else:
                        _unfiled(lock, refs)
                else:  # a numpy scalar (what numpy's reductions give): nothing writes into one
                    lock.exposed = None
                return self._data
        elif (not lock.count and type(lock.exposed) is list and lock.exposed
              and lock.exposed[-1]() is self._data):
            return self._data  # handed out before, and nothing saved since: the usual repeat
        lock = self._shared_lock()
        if lock.count:  # a read-only view, writable once the pending nodes are done; later its
            # guard checks the lock (held: given to a view op, it leads to this lock)
            frozen = lock.exposed[1] if type(lock.exposed) is tuple else None
            if frozen and type(frozen[-1]) is _SavedArray and frozen[-1]._source is self._data:
                return frozen[-1]  # the one handed out last (graphs that overlap keep the count
                # above 0: W.numpy() at every step would add one each time)
            view = self._data.view(_SavedArray)
            view.flags.writeable = False
            view._saved_by, view._lock, view._source = lock.op, lock, self._data
            return _frozen_with(lock, view, held=True)
        lock.expose(self._data)
        return self._data

    @property
    def data(self) -> np.ndarray:
        """The values as a numpy array (see :meth:`numpy`)."""
        return self.numpy()

    @data.setter
    def data(self, value: Any) -> None:
        self._check_writable("replace .data of")
        # a saved tensor's memory as its numpy() handed it out (u.data = t.data): shared as a tensor's
        saved = value._lock if type(value) is _SavedArray else None
        _refuse_masked(value, ".data =")
        array = value._data if isinstance(value, Tensor) else np.asarray(value)
        if not isinstance(value, Tensor) and _foreign(array):
            array = array.copy()  # it could not be locked: once read-only, it would stay so
        if self.requires_grad and not _is_float(array.dtype):
            raise TypeError(f"cannot set .data of a tensor that requires grad to dtype {array.dtype}")
        self._data = array
        if isinstance(value, Tensor):  # one memory, one lock: as a view's
            self._lock = value._shared_lock()
        elif saved is not None:  # the same, and numpy's plain view of it is writable with the lock
            self._lock = saved
            if saved.count and not array.flags.writeable:
                _frozen_with(saved, array)
        else:  # the caller keeps the array: it is read-only while saved, as one numpy() handed out
            self._lock = _memory_lock(_given(array))

    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors not made by a recorded op (their ``.grad`` is filled by backward)."""
        return self._rules is None

    @property
    def op(self) -> str | None:
        """Name of the op that made this tensor, or None for a leaf."""
        return None if self._rules is None else self._op

    @property
    def T(self) -> "Tensor":
        """The tensor with its axes reversed."""
        return _ops.transpose(self)

    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self._data.item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        arr = self.data
        if dtype is not None and arr.dtype != dtype:
            if copy is False:  # numpy 2's protocol
                raise ValueError(f"cannot convert a tensor of dtype {arr.dtype} to {np.dtype(dtype)} "
                                 "without a copy (copy=False)")
            return arr.astype(dtype)
        if copy:
            return arr.copy()
        if type(arr) is _SavedArray:  # numpy would make it a plain view, read-only for good
            arr = _frozen_with(arr._lock, arr.view(np.ndarray), held=True)
        return arr

    # ------------------------------------------------------------- autograd
    @property
    def requires_grad(self) -> bool:
        """Whether operations on this tensor are recorded; setting it is :meth:`requires_grad_`."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)  # checked as PyTorch does: floating leaves only

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set ``requires_grad`` in place on a leaf; returns self."""
        if self._rules is not None and not requires_grad:
            raise RuntimeError(
                f"requires_grad_(False) on a non-leaf tensor (made by op '{self._op}'); use .detach()"
            )
        if requires_grad and not _is_float(self._data.dtype):
            raise TypeError(
                f"only floating-point tensors can require gradients, this one has dtype {self.dtype}; "
                "make it with float values or dtype=np.float64 / np.float32"
            )
        if requires_grad and not hasattr(self, "_epoch"):  # the first time only (see __slots__)
            self._epoch = _SWEEPS[0]
        self._requires_grad = bool(requires_grad)
        return self

    def detach(self) -> "Tensor":
        """A tensor sharing this one's values, cut from the graph."""
        out = _wrap(self._data)
        out._lock = self._shared_lock()
        return out

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor on backward (accumulating, as a leaf's)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        if self._rules is None or any(isinstance(h, _RetainGrad) for h in self._hooks or ()):
            return
        self.register_hook(_RetainGrad(self))

    def register_hook(self, hook: Callable[["Tensor"], "Tensor | None"]) -> "_HookHandle":
        """Call ``hook(grad)`` when this tensor's gradient is computed.

        The hook may return a replacement gradient; it sees the gradient read-only (other
        operands' gradients and the seed may share its memory). Returns a handle with ``remove()``.
        """
        if not self.requires_grad:
            raise RuntimeError("register_hook() on a tensor that does not require grad")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return _HookHandle(self._hooks, hook)

    def backward(self, grad: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        Parameters
        ----------
        grad : array_like, optional
            Seed gradient of self's shape; may be omitted when self has one element.
        retain_graph : bool
            Keep the graph so that backward can run through it again.
        create_graph : bool
            Record the backward computation itself, for higher-order derivatives.
        """
        _backward.backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    # ------------------------------------------------------------ mutation
    def _shared_lock(self) -> _Lock:
        """The lock of this tensor's memory, made now if it has none (held already if the
        pending op that made this tensor saved it, see ``_OUT``)."""
        lock = self._lock
        if lock is None:
            lock = self._lock = _new(_Lock)  # without the call to __init__
            lock.count, lock.op, lock.exposed = 0, "", None
            if self._rules and self._locks is _OUT:
                lock.count, lock.op = 1, self._op
                self._locks = _Locks((lock,))
        return lock

    def _check_writable(self, what: str) -> None:
        lock = self._shared_lock()
        if lock.count:
            also = ", or compute out of place (y = x + 1)" if what == "modify in place" else ""
            raise RuntimeError(
                f"cannot {what} a tensor whose memory holds values saved by op '{lock.op}' for a "
                "pending backward() (its own, or those of a tensor or array sharing the memory); "
                "call backward() first, or drop the graph that needs them (del its output, "
                f"or a .grad made with create_graph=True){also}"
            )

    def _check_inplace(self, name: str, other) -> None:
        if _mode.enabled and (self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)):
            raise RuntimeError(
                f"in-place {name} involving a tensor that requires grad while recording; write "
                "x = x op y instead, or update parameters inside `with ad.no_grad():`"
            )
        if (self._tangent is not None or isinstance(other, Tensor) and other._tangent is not None) and (
                _carries_tangent(self) or _carries_tangent(other)):
            raise RuntimeError(f"in-place {name} on a tensor that carries a forward-mode tangent, which "
                               "would keep its old tangent; write x = x op y instead")
        lock = self._lock
        if lock is None or lock.count:  # else nothing saved it (an optimiser's usual update, quickly)
            self._check_writable("modify in place")

    def _inplace(self, ufunc, other) -> "Tensor":
        self._check_inplace(ufunc.__name__, other)
        ufunc(self._data, other._data if isinstance(other, Tensor) else other, out=self._data)
        return self

    def add_(self, other, alpha: float = 1.0) -> "Tensor":
        """``self += alpha * other`` in place (PyTorch's ``add_``); returns ``self``.

        The update of an optimiser's step (``p.add_(g, alpha=-lr)`` under ``no_grad``).
        A large tensor is updated in blocks whose scaled values stay in the cache, instead
        of in a pass that writes a temporary of the tensor's size and one that reads it back
        (a 784 x 512 float32 weight: 30% faster). ``alpha`` is a real number, used as the
        Python number it holds (a numpy scalar too): a float32 tensor's update is float32's.

        Examples
        --------
        >>> import autodiff as ad
        >>> p = ad.tensor([1.0, 2.0])
        >>> p.add_(ad.tensor([10.0, 20.0]), alpha=-0.5)
        Tensor([-4., -8.])
        """
        if type(alpha) not in (float, int):  # numpy 2 types numpy scalars strongly: a float64 one made a
            # float32 update float64 in one pass, not in blocks; as a Python number the tensor's dtype decides
            scalar = np.asarray(alpha)
            if scalar.ndim or scalar.dtype.kind not in "biuf":
                raise TypeError(f"add_'s alpha must be a real number, got {alpha!r}")
            alpha = float(scalar) if scalar.dtype.kind == "f" else int(scalar)
        self._check_inplace("add", other)
        data = self._data
        values = other._data if isinstance(other, Tensor) else other
        if alpha == 1 or alpha == -1:  # one pass, no scaled temporary (AdamW's rate of 1)
            (np.add if alpha == 1 else np.subtract)(data, values, out=data)
            return self
        order = None  # blocks: same dtype, shape and memory order, and memory not shared
        if (data.nbytes > _BLOCK_BYTES and type(values) is np.ndarray and values.dtype == data.dtype
                and values.shape == data.shape and not np.may_share_memory(data, values)):
            if data.flags.c_contiguous and values.flags.c_contiguous:
                order = "C"
            elif data.flags.f_contiguous and values.flags.f_contiguous:
                order = "F"
        if order is None:
            np.add(data, np.multiply(values, alpha), out=data)
            return self
        flat, source = data.ravel(order), values.ravel(order)  # views: both contiguous in that order
        block = _BLOCK_BYTES // data.itemsize
        scaled = np.empty(block, data.dtype)
        for start in range(0, data.size, block):
            part = flat[start:start + block]
            temporary = scaled[:len(part)]
            np.multiply(source[start:start + block], alpha, out=temporary)
            np.add(part, temporary, out=part)
        return self

    def copy_(self, src) -> "Tensor":
        """Write ``src``'s values into this tensor's memory (PyTorch's ``copy_``: ``src`` is
        broadcast to this shape and cast to this dtype); returns ``self``.

        Examples
        --------
        >>> import autodiff as ad
        >>> p = ad.zeros(3)
        >>> p.copy_([1.0, 2.0, 3.0])
        Tensor([1., 2., 3.])
        """
        self._check_inplace("copy", src)
        np.copyto(self._data, src._data if isinstance(src, Tensor) else src)
        return self

    def __iadd__(self, other):
        return self._inplace(np.add, other)

    def __isub__(self, other):
        return self._inplace(np.subtract, other)

    def __imul__(self, other):
        return self._inplace(np.multiply, other)

    def __itruediv__(self, other):
        return self._inplace(np.true_divide, other)

    def __ipow__(self, other):
        return self._inplace(np.power, other)

    def __setitem__(self, index, value) -> None:
        if _mode.enabled and (self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)):
            raise RuntimeError(
                "item assignment on a tensor that requires grad while recording; build the new "
                "tensor with ad.where / ad.concatenate, or assign inside `with ad.no_grad():`"
            )
        if _carries_tangent(self) or _carries_tangent(value):
            raise RuntimeError("item assignment on a tensor that carries a forward-mode tangent, which "
                               "would keep its old tangent; build the new tensor with ad.where or "
                               "ad.concatenate")
        self._check_writable("assign into")
        _refuse_masked(value, "t[...] =")
        data = self._data
        data[_ops._index_arrays(index, data.shape)] = value._data if isinstance(value, Tensor) else value

    # Operators and the methods named after ops are attached by autodiff.ops
    # (the table at its end): most are the op itself, with no delegating call.

    __hash__ = object.__hash__

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        return bool(self._data)

    def __float__(self) -> float:
        return float(self._data)

    def __int__(self) -> int:
        return int(self._data)

    def __index__(self) -> int:  # an integer tensor of one element, as a list index or a range bound
        return self._data.__index__()

    def __format__(self, spec: str) -> str:  # f"{loss:.4f}" as for a 0-d array
        return format(self._data, spec) if spec else repr(self)

    # no derivative rules: numpy says so when the tensor requires grad, else computes
    def __mod__(self, other):
        return np.remainder(self, other)

    def __rmod__(self, other):
        return np.remainder(other, self)

    def __floordiv__(self, other):
        return np.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return np.floor_divide(other, self)

    # a copy or a pickle is a new leaf with copies of the values and the gradient (a tensor
    # made by an op keeps its values, not its graph), as ad.tensor(t) would make it
    def __reduce__(self):
        grad = None if self.grad is None else np.array(self.grad._data)
        return _rebuild, (np.array(self._data), self._requires_grad, grad, type(self))

    def __deepcopy__(self, memo):
        copied = memo[id(self)] = _rebuild(*self.__reduce__()[1])
        return copied

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="Tensor(")
        extra = f", shape={self._data.shape}" if self._data.size == 0 and self._data.ndim > 1 else ""
        if self._data.dtype not in (np.float64, np.int64, np.bool_):
            extra += f", dtype={self._data.dtype}"
        if self._rules is not None:
            extra += f", op={self._op}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    # numpy functions on tensors dispatch to the differentiable ops
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _ops._array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _ops._array_function(func, args, kwargs)

    # methods whose signature differs from the op's
    def reshape(self, *shape):
        return _ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes):
        return _ops.transpose(self, (axes[0] if len(axes) == 1 else axes) or None)


def _rebuild(data: np.ndarray, requires_grad: bool, grad: np.ndarray | None, kind: type = Tensor) -> Tensor:
    """A leaf of ``data`` (see ``Tensor.__reduce__``), of the class that was copied (``nn.Parameter``)."""
    t = _wrap(data)
    if kind is not Tensor:
        t.__class__ = kind  # a subclass adds no slots
    t._requires_grad = requires_grad
    if requires_grad:  # a new leaf: no node can hold it yet (see Tensor._epoch)
        t._epoch = _SWEEPS[0]
    if grad is not None:
        t.grad = _wrap(grad)
    return t


class _RetainGrad:
    """The hook behind ``retain_grad``: refers to its tensor weakly (no cycle)."""

    __slots__ = ("ref",)

    def __init__(self, t: Tensor) -> None:
        self.ref = weakref.ref(t)

    def __call__(self, g: Tensor) -> None:
        t = self.ref()
        if t is not None:
            fresh = g if g.requires_grad else _wrap(np.array(g._data))
            t.grad = fresh if t.grad is None else t.grad + fresh


class _HookHandle:
    __slots__ = ("hooks", "hook", "removed")

    def __init__(self, hooks, hook):
        self.hooks, self.hook, self.removed = hooks, hook, False

    def remove(self) -> None:
        """Remove this registration, once (the same function registered twice stays once)."""
        if self.removed:
            return
        self.removed = True
        for i, hook in enumerate(self.hooks):
            if hook is self.hook:
                del self.hooks[i]
                return


# ---------------------------------------------------------------- recording
_new = object.__new__
_FIRST, _SECOND, _BOTH = (0,), (1,), (0, 1)  # which operands need a gradient


def _wrap(data: np.ndarray, base: Any = None) -> Tensor:
    """A tensor of ``data`` (not copied), outside any graph: every tensor an op makes.

    ``base``: what a view op was given, whose memory ``data`` may share: a tensor (the two
    then share one lock), or the caller's numpy array (read-only while the tensor is saved,
    as an array a tensor handed out).
    """
    t = _new(Tensor)
    t._data = data
    t.grad = t._rules = t._hooks = t._tangent = t._pending = None
    t._lock = None
    if base is not None:
        if isinstance(base, Tensor):
            t._lock = _view_lock(data, base)
        elif isinstance(base, np.ndarray) and (np.may_share_memory(data, base)
                                               or _owner(data) is _owner(base)):  # an empty view
            # shares no memory (both tests, as _view_lock)
            if _foreign(base):  # it could not be locked (see _foreign)
                t._data = data.copy()
            else:
                t._lock = _memory_lock(_given(base))
                _block(data, base)
    t._requires_grad = False
    return t


def _view_lock(data: np.ndarray, base: Tensor) -> _Lock | None:
    """The lock a view op's output shares with the tensor it views (None if it had to copy:
    ``flatten`` of a transpose). numpy makes a view of read-only memory read-only: made while a
    lock froze it, the view thaws with it."""
    if _owner(data) is not _owner(base._data) and not np.may_share_memory(data, base._data):
        return None  # (both: as_strided's chain of bases ends early; an empty view shares none)
    lock = base._shared_lock()
    if lock.count and not data.flags.writeable and type(lock.exposed) is tuple and id(data) not in _FROZEN:
        _frozen_with(lock, data)
    else:  # read-only through another lock (base's array given to an op, or a view of one)
        _block(data, base._data)
    return lock


def _block(view: np.ndarray, source: np.ndarray) -> None:
    """``view``, a view op's output on ``source``, waits in ``_BLOCKED`` for ``source`` to be
    writable if numpy made it read-only because a lock froze ``source`` (or an array it
    waits for). A ``source`` read-only of itself (the caller's view of frozen memory, which
    numpy made read-only) holds nothing: then the view waits for its memory's owner."""
    if view.flags.writeable:
        return
    with _MEMORY_TURN:
        for s in (source, view.base):  # view.base: the owner (numpy points every view at it)
            if isinstance(s, np.ndarray) and (id(s) in _FROZEN or _blocked(s) or _waiting(s)):
                if _prune_due(len(_BLOCKED)):  # drop the views nothing else holds (see _drop_unheld)
                    _BLOCKED[:] = [(v, w) for v, w in _BLOCKED if sys.getrefcount(v) > _ONCE]
                _BLOCKED.append((view, s))
                return


def _blocked(array: np.ndarray) -> bool:
    return bool(_BLOCKED) and any(v is array for v, _ in _BLOCKED)


def _unblock(array: np.ndarray) -> bool:
    """Take ``array`` off ``_BLOCKED``; whether it was there."""
    with _MEMORY_TURN:
        if _blocked(array):
            _BLOCKED[:] = [(v, source) for v, source in _BLOCKED if v is not array]
            return True
        return False


def _held_once() -> int:
    """``sys.getrefcount`` of an array in a loop over the one list that holds it (the count
    has another baseline in other CPython versions: measured, not assumed)."""
    for a in [np.empty(0)]:
        return sys.getrefcount(a)


_ONCE = _held_once()


def _drop_unheld(frozen: list) -> None:
    """When a lock's list of frozen arrays has 16, 32, 64... entries, drop those nothing else
    holds (nor a view of them: numpy's views hold their base), which only this lock froze:
    they need no thaw. (While graphs overlap a memory stays saved, and each np.asarray(W) or
    W.T.numpy() adds one.)"""
    if not _prune_due(len(frozen)):
        return
    kept = []
    for a in frozen:
        entry = _FROZEN.get(id(a))
        # held by the list and the entry alone
        if entry is not None and entry[0] is a and entry[1] == 1 and sys.getrefcount(a) <= _ONCE + 1:
            del _FROZEN[id(a)]
        else:
            kept.append(a)
    frozen[:] = kept


def _frozen_with(lock: _Lock, array: np.ndarray, held: bool = False) -> np.ndarray:
    """Count ``array`` (read-only, of memory ``lock`` guards) as frozen by it: it is made
    writable when the lock's pending nodes are done. ``held``: the user holds it (one with
    no guard of its own), and later saves make it read-only again. Returns it."""
    with _MEMORY_TURN:
        _FROZEN[id(array)] = [array, 1]
        exposed = lock.exposed
        if type(exposed) is tuple:
            _drop_unheld(exposed[1])
            exposed[1].append(array)
        else:
            exposed = lock.exposed = (_unfiled(lock, []) if exposed is None else exposed, [array])
        if held:
            _add_ref(exposed[0], array)
    return array


def _handed_out(result: Any, args: list) -> Any:
    """``result`` of a numpy function without a rule called on tensors in ``args``: a tensor's
    array (``np.atleast_2d``) or a view of its memory (``np.moveaxis``, ``np.real``) is handed
    out as its ``numpy()`` is."""
    if isinstance(result, (list, tuple)):  # (a namedtuple, as np.linalg.svd's, takes them one by one)
        items = [_handed_out(r, args) for r in result]
        return type(result)(*items) if hasattr(result, "_fields") else type(result)(items)
    # (a foreign one, as sliding_window_view(writeable=True) gives, numpy could not make writable
    # again: it is left as a view the user made)
    if isinstance(result, np.ndarray) and not _foreign(result):
        for t in _tensors_inside(args):
            if result is t._data:
                return t.numpy()
            if np.may_share_memory(result, t._data):
                lock = t._shared_lock()
                if not lock.count:
                    lock.expose(result)
                elif result.flags.writeable:  # saved: read-only until the graph is done
                    result.flags.writeable = False
                    _frozen_with(lock, result, held=True)
                else:  # read-only of itself (np.diagonal's), or as its frozen source is
                    _block(result, t._data)
    return result


# Every memory of which the user holds an array (one a tensor handed out, or one given to a
# tensor, a view op or an op), by the id of the array that owns it (see _owner): [a weak
# reference to its lock, the list of weak references to those arrays (the lock's
# ``exposed``)]. Every way into one memory finds its lock here, so a value saved through any
# of them makes read-only every array of it the user holds, and a tensor on any part of it
# refuses writes meanwhile: a whole memory under one lock, as a tensor and its views are
# (PyTorch likewise keeps one version counter per memory). The list outlives the lock while
# one of its arrays lives (a view op's output handed out, the tensor gone): a new lock of the
# memory takes it over. An entry is live while its lock or one of its arrays is (either keeps
# the owner, and so its id); dead ones go when the dict has doubled, or when the id is reused.
_MEMORY: dict[int, list] = {}
_MEMORY_PRUNE = [64]
# The tensors' locks that handed out an array since _MEMORY was last read, as (a weak
# reference to the lock, its list of arrays): entered there when it is (_file), not at each
# hand-out (a gradient's numpy() at every step of a training loop; most are gone by then).
# The list outlives the lock while one of its arrays lives (a tensor's numpy() and .T.numpy(),
# the tensor gone). The dead ones are dropped when the list has doubled. Threads append to it
# freely; pruning it, filing it and finding a memory's lock (_memory_lock) take turns
# (_MEMORY_TURN), each acting on the part of the list it read (others append at its end).
_UNFILED: list = []
_MEMORY_TURN = threading.RLock()


def _owner(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory: the end of its chain of bases."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _unfiled(lock: _Lock, refs: list) -> list:
    """``lock``'s first array is being handed out, ``refs`` its list (see ``_Lock.exposed``):
    it is to be entered in ``_MEMORY``. Returns ``refs``."""
    n = len(_UNFILED)
    if _prune_due(n, 64) and _MEMORY_TURN.acquire(blocking=False):
        try:
            kept = []
            for item in _UNFILED[:n]:  # (a loop, not calls: one item per array handed out)
                if item[0]() is not None:
                    kept.append(item)
                    continue
                for r in item[1]:
                    if r() is not None:
                        kept.append(item)
                        break
            _UNFILED[:n] = kept
        finally:
            _MEMORY_TURN.release()
    _UNFILED.append((weakref.ref(lock), refs))
    return refs


def _alive(refs: list) -> np.ndarray | None:
    """An array of ``refs`` (weak references) still alive, if one is."""
    for r in refs:
        a = r()
        if a is not None:
            return a
    return None


def _file() -> None:
    """Enter in ``_MEMORY`` the memories of the locks in ``_UNFILED`` whose arrays the user holds
    (a live lock whose arrays are gone is as one that handed out none: filed at its next)."""
    n = len(_UNFILED)  # (the caller takes _MEMORY_TURN)
    unfiled = _UNFILED[:n]
    del _UNFILED[:n]
    for item in unfiled:
        ref, refs = item
        lock = ref()
        array = _alive(refs)
        if array is None:
            if lock is not None:
                if type(lock.exposed) is list:
                    lock.exposed = None
                else:  # saved now: the next hand-out is a _SavedArray, not exposed
                    _UNFILED.append(item)
            continue
        owner = _owner(array)
        entry = _MEMORY.get(id(owner))
        if entry is not None and entry[0]() is not None:  # the memory's lock (another one: a view a
            continue  # custom op returned of its input; each then protects the arrays it exposed)
        if lock is None:  # the tensor is gone, its arrays not: the memory's next lock takes them
            lock = _new(_Lock)
            lock.count, lock.op, lock.exposed = 0, "", refs
        _enter(lock, owner, refs, entry)


def _enter(lock: _Lock, owner: np.ndarray, refs: list, entry: list | None) -> None:
    """Make ``lock``, whose list of arrays is ``refs``, the lock of ``owner``'s memory in
    ``_MEMORY``, whose entry is ``entry`` (None, or one whose lock is gone: the arrays that
    outlived it join)."""
    lock.owner = owner
    if entry is not None:  # (none outlived if the id is another memory's now: dead references)
        outlived = [a for r in entry[1] if (a := r()) is not None]
        entry[0], entry[1] = weakref.ref(lock), refs
        lock.take(outlived)
        return
    if len(_MEMORY) >= _MEMORY_PRUNE[0]:  # drop the dead entries when it has doubled
        dead = [key for key, (ref, arrays) in _MEMORY.items() if ref() is None and _alive(arrays) is None]
        for key in dead:
            del _MEMORY[key]
        _MEMORY_PRUNE[0] = max(64, 2 * len(_MEMORY))
    _MEMORY[id(owner)] = [weakref.ref(lock), refs]


def _memory_lock(arrays: list) -> _Lock:
    """The lock of the memory of ``arrays`` (the user's, of one memory: see ``_given``), made
    if it has none; the arrays join those it protects."""
    with _MEMORY_TURN:  # (threads: else two could make two locks of one memory)
        if _UNFILED:
            _file()
        owner = _owner(arrays[0])
        entry = _MEMORY.get(id(owner))
        lock = None if entry is None else entry[0]()
        if lock is None:
            lock = _new(_Lock)
            lock.count, lock.op, lock.exposed = 0, "", []
            _enter(lock, owner, lock.exposed, entry)
        lock.take(arrays)
        return lock


def _given(a: np.ndarray) -> list:
    """The arrays to protect of an array the caller gave (``t.data = a``, an op's or a view
    op's operand): it, and for a view the array it was taken from, which the caller may
    write into too."""
    return [a, a.base] if isinstance(a.base, np.ndarray) else [a]


def _hold(t: Tensor, name: str) -> _Lock:
    """Count one more pending use of ``t``'s values by op ``name``.

    A tensor whose own pending op saved it without a lock (``_OUT``) gets that lock first.
    """
    lock = t._lock
    if lock is None and t._rules and t._locks is _OUT:
        lock = t._shared_lock()
    if lock is None:
        lock = t._lock = _new(_Lock)  # without the call to __init__: once per saved tensor
        lock.count, lock.exposed = 1, None
    else:
        lock.count += 1
    lock.op = name
    if lock.exposed is not None and lock.count == 1:
        lock.freeze()
    return lock


def _checked_rules(name: str, rules: Any, n: int) -> tuple:
    """An op's rules as a tuple of one per operand, or an error saying what the op returned."""
    if type(rules) is not tuple:
        rules = (rules,)
    if len(rules) != n:
        raise TypeError(
            f"op '{name}' returned {len(rules)} derivative rule(s) for {n} operand(s); "
            "return one rule per positional operand (None where it has no gradient)"
        )
    return rules


def _locks(t: Tensor, name: str, operands: tuple, needs: tuple, saves: str | tuple) -> tuple:
    """Hold the values the rules of op ``name`` read (see ``saves`` of :func:`op`); ``t`` is its output.

    Returns a :class:`_Locks`, or () when nothing is saved.
    """
    if saves == "out":
        return _OUT if t._lock is None else _Locks((_hold(t, name),))
    if type(saves) is tuple:  # the operands at these positions (map: a comprehension is a call)
        read = map(operands.__getitem__, saves)
    elif saves == "others" and len(needs) == 1:  # an operand's value is read only by the others' rules
        alone = operands[needs[0]]
        read = [a for a in operands if a is not alone]
    else:
        read = operands
    locks = []
    for a in read:
        if isinstance(a, Tensor):
            locks.append(_hold(a, name))
        elif isinstance(a, np.ndarray) and a.nbytes > _COPY_BYTES:
            locks.append(_hold_array(a, name))  # a large array the caller gave
    if saves == "all":
        locks.append(_hold(t, name))
    return _Locks(locks) if locks else ()


# A numpy array given to an op (not a tensor's memory) whose values the rules read stays
# the caller's, who may write into it before backward(): up to _COPY_BYTES it is copied
# (_capture), a larger one is made read-only while saved (_hold_array), as an array a tensor
# handed out: a copy would cost a pass over its memory at every step (W4's input: 16 MB),
# a lock costs more than copying a small one.
_COPY_BYTES = 1 << 16


def _foreign(a: np.ndarray) -> bool:
    """Whether ``a``'s memory belongs to no numpy array (torch's, a buffer's): numpy cannot
    make such an array writable again once read-only, so it is copied rather than locked."""
    return _owner(a).base is not None


def _capture(operands: tuple, vals: tuple, saves: str | tuple) -> tuple[tuple, tuple]:
    """``operands`` and ``vals`` with copies of the small numpy arrays among the operands that
    the rules read (see ``saves`` and _COPY_BYTES)."""
    if saves == "out":
        return operands, vals
    operands, vals = list(operands), list(vals)
    for i, a in enumerate(operands):
        if (a is vals[i] and isinstance(a, np.ndarray) and (a.nbytes <= _COPY_BYTES or _foreign(a))
                and (type(saves) is not tuple or i in saves)):
            operands[i] = vals[i] = a.copy()
    return tuple(operands), tuple(vals)


def _hold_array(a: np.ndarray, name: str) -> _Lock:
    """Count one more pending use of the array ``a`` by op ``name``, under the lock of its
    memory (see ``_MEMORY``); read-only at the first, with the array it was taken from (which
    matters for one read-only of itself: numpy's broadcast view of a writable array).
    (Small ones are the op's own copies, see _capture: the caller checks the size.)"""
    lock = _memory_lock(_given(a))
    lock.count += 1
    lock.op = name
    if lock.count == 1:
        lock.freeze()
    return lock


def _attach(name: str, out: np.ndarray, operands: tuple, vals: tuple, rules: Any, needs: tuple,
            saves: str | None, base: Tensor | None = None) -> Tensor:
    """Wrap ``out`` in a tensor that records the op that made it; lock what the rules will read.

    NOTE: the wrappers of plain one- and two-operand ops do the same inline: the call
    costs 4% of a small op's time.
    """
    if type(rules) is not tuple:
        rules = (rules,)  # the usual way to give one operand's rule
    if len(rules) != len(operands):
        rules = _checked_rules(name, rules, len(operands))
    t = _new(Tensor)  # as _wrap does, without the call: this runs once per recorded op
    t._data, t._requires_grad = out, True
    t.grad = t._hooks = t._tangent = t._pending = t._rules = None  # rules: once locks are held
    t._lock = None if base is None else _view_lock(out, base)
    t._locks = () if saves is None else _locks(t, name, operands, needs, saves)
    t._op, t._inputs, t._vals, t._rules, t._needs = name, operands, vals, rules, needs
    return t


class Site:
    """Where a node was made (the first frame outside autodiff) and how to re-run its op."""

    __slots__ = ("line", "fn", "args", "kwargs")

    def __init__(self, fn: Callable, args: tuple, kwargs: dict) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        frame = sys._getframe(2)
        package = os.path.dirname(__file__)
        while frame is not None and os.path.dirname(frame.f_code.co_filename) == package:
            frame = frame.f_back
        self.line = "unknown" if frame is None else _describe(frame)

    def __repr__(self) -> str:
        return self.line


def _describe(frame) -> str:
    code = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" + (f": {code}" if code else "")


def _finite(value: Any) -> bool:
    value = value._data if isinstance(value, Tensor) else value
    return not isinstance(value, np.ndarray) or value.dtype.kind != "f" or bool(np.isfinite(value).all())


def _after_op(name: str, t: Tensor, operands: tuple, vals: tuple, result: tuple, index: int | None,
              batched: bool, fn: Callable, args: tuple, kwargs: dict) -> None:
    """Forward mode, tracing and anomaly detection: the rare work after an op."""
    token = _mode.forward
    if token:
        _push_tangent(name, t, operands, vals, result, index, batched, token)
    if _mode.checks:
        site = Site(fn, args, kwargs)
        if t._rules is not None:
            t._where = site
        if _mode.anomaly and not _finite(t._data) and all(_finite(v) for v in vals):
            bad = "nan" if np.isnan(t._data).any() else "-inf" if np.isneginf(t._data).any() else "inf"
            shapes = ", ".join(str(np.shape(v)) for v in vals)
            raise FloatingPointError(f"op '{name}' made {bad} from finite operands "
                                     f"of shapes {shapes}, at {site.line}")


def _not_real(name: str, out: np.ndarray, why: str = "requires grad") -> TypeError:
    """An op gave a complex or object result from an operand being differentiated: not
    recorded, nor given a tangent, its derivative would be a silent 0 (or a real rule's)."""
    return TypeError(f"op '{name}' gave a {out.dtype} result from an operand that {why}; autodiff "
                     "differentiates real floating-point values only: compute with floats, or .detach() "
                     "the operand if no derivative should flow through it")


class NotBatched(Exception):
    """A batch of tangents reached an op whose tangent rules do not take batch axes."""


class NoTangentRule(TypeError):
    """A tangent reached an op that has no tangent rule: forward mode cannot pass through it."""


def _push_tangent(name: str, t: Tensor, operands: tuple, vals: tuple, result: tuple, index: int | None,
                  batched: bool, token: int) -> None:
    """Forward mode: the tangent of ``t`` as the sum over its operands' tangent contributions.

    A tangent is stored with the token of the sweep that made it (``token``), so a tensor
    left over from an earlier sweep contributes nothing to this one.
    """
    out = t._data
    total = None
    for i, a in enumerate(operands):
        if not isinstance(a, Tensor):
            continue
        pair = a._tangent
        if pair is None or pair[0] != token:
            continue
        if index is None:
            raise NoTangentRule(
                f"op '{name}' has no tangent rule, so forward mode cannot pass through it; give it "
                "tangent rules (@op(tangents=True), returning them third) or declare @op(symmetric=True)"
            )
        rule = result[index]
        if type(rule) is tuple:
            rule = rule[i]
        tangent = pair[1]
        ndim = a._data.ndim
        batch = tangent.ndim - ndim
        if batch:
            if index != 1 and not batched:
                raise NotBatched(name)
            if index == 1 and ndim < out.ndim:
                # a reverse rule used as tangent rule broadcasts like numpy: align the batch axes
                tangent = tangent.reshape(tangent.shape[:batch] + (1,) * (out.ndim - ndim) + a._data.shape)
        if isinstance(tangent, Tensor):  # the tangent itself is recorded: run the rule on tensors
            part = rule(tangent, t, *operands)
        else:
            part = rule(tangent, out, *vals)
        total = part if total is None else total + part
    if total is None:
        return
    if out.dtype.kind in "cO":
        raise _not_real(name, out, "carries a forward-mode tangent")
    if total.shape != out.shape:  # a broadcast operand's part, or a batch of tangents
        shape = total.shape[: total.ndim - out.ndim] + out.shape if total.ndim >= out.ndim else out.shape
        if total.shape != shape:
            total = np.broadcast_to(total, shape)
    if total.dtype is not out.dtype and total.dtype != out.dtype:
        total = total.astype(out.dtype)
    t._tangent = (token, total)


def _count_operands(fn: Callable) -> int | None:
    """How many leading parameters are operands (None: all positional arguments).

    The positional-only parameters when there are any (``def reshape(x, /, shape)``),
    else the leading parameters without a default; ``*args`` makes every positional
    argument an operand.
    """
    params = list(inspect.signature(fn).parameters.values())
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return None
    positional_only = [p for p in params if p.kind == p.POSITIONAL_ONLY]
    if positional_only:
        return len(positional_only)
    n = 0
    for p in params:
        if p.kind != p.POSITIONAL_OR_KEYWORD or p.default is not p.empty:
            break
        n += 1
    return n


def _options(name: str, args: tuple, kwargs: dict, start: int, names: tuple) -> tuple[tuple, dict]:
    """An op's options (the arguments from ``args[start]`` on, named ``names`` in order, and
    ``kwargs``) with tensors replaced by their values. An op does not differentiate by its
    options: an option that would need a gradient or carries a tangent is an error, not a
    silent 0."""
    for a in (*args[start:], *kwargs.values()):  # a loop, not any() over generators (a frame each)
        if isinstance(a, (Tensor, np.ndarray)):
            break
    else:  # the usual options: numbers, strings, tuples
        return args, kwargs

    def value(what, a):
        # arrays copied: a rule may read an option at backward() (leaky_relu's slope), and the
        # caller may write into the array, or the tensor's memory, before
        if isinstance(a, np.ndarray):  # a plain array (np.matrix's * is a product: see _operand)
            _refuse_masked(a, f"op '{name}'")
            return np.array(a, copy=True)
        if not isinstance(a, Tensor):
            return a
        tangent = _carries_tangent(a)
        if tangent or (a.requires_grad and _mode.enabled):
            needs = "carries a tangent" if tangent else "requires grad"
            raise TypeError(f"op '{name}' got a tensor that {needs} as its option {what}, and does "
                            "not differentiate by its options: pass a number or an array (or "
                            ".detach() the tensor), or write the computation with ops on tensors")
        return a._data.copy()

    args = args[:start] + tuple(value(repr(names[i]) if i < len(names) else f"number {i + 1}", a)
                                for i, a in enumerate(args[start:]))
    return args, {key: value(repr(key), v) for key, v in kwargs.items()}


def _operand_error(name: str, vals: tuple, error: ValueError) -> ValueError:
    """numpy's error from an op's forward, saying which op and which shapes."""
    shapes = " and ".join(str(np.shape(v)) for v in vals)
    if isinstance(error, np.exceptions.AxisError):
        return np.exceptions.AxisError(f"{name}: {error} (operands of shapes {shapes})")
    return ValueError(f"{name}: operands of shapes {shapes} do not fit: {error}")


_SEQUENCES = (list, tuple)
# operands given to an op's forward as they are (numbers and arrays; see _operand)
_PLAIN = frozenset({float, int, bool, complex, np.ndarray, np.float64, np.float32, type(None)})


def _operand(x: Any, name: str) -> Any:
    """An operand that is not a tensor, a number or an array, as the op's forward gets it: a
    list or tuple as an array (see _sequence_operand); an array-like (array.array, a
    memoryview, an object with ``__array__``, another library's tensor) as numpy's view of it,
    which the op then copies or locks as any array it reads (see _capture), instead of
    reading the caller's object, whose memory may change before backward(); an array of a
    subclass with arithmetic of its own (``np.matrix``) as a copy of its values in a plain
    array, which rules compute with as the forward did; anything else (numpy's scalars,
    arrays of other subclasses, a custom op's key or callable) as it is."""
    if type(x) in _SEQUENCES:
        return _sequence_operand(x, name)
    if isinstance(x, np.ndarray):
        if _own_arithmetic(type(x)):
            _refuse_masked(x, f"op '{name}'")
            return np.array(x, copy=True)
        return x
    if isinstance(x, (np.generic, numbers.Number, str, bytes)) or x is None:
        return x
    kind = type(x)
    if not (hasattr(kind, "__array__") or hasattr(kind, "__array_interface__")
            or hasattr(kind, "__array_struct__")):
        try:
            memoryview(x).release()  # a buffer (array.array, a memoryview, a bytearray)
        except TypeError:
            return x
    return np.asarray(x)


# What a rule computes with: an ndarray subclass that defines one of these (np.matrix: * is a
# matrix product, ** a matrix power; a masked array's mask) would make its rules differentiate
# another function than its forward computed (numpy's ufunc on its values).
_ARITHMETIC = frozenset({"__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
                         "__rtruediv__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__neg__",
                         "__array_ufunc__", "__array_function__"})
_OWN_ARITHMETIC: dict = {}  # ndarray subclass -> whether it defines any of _ARITHMETIC


def _own_arithmetic(kind: type) -> bool:
    """Whether arrays of ``kind`` (np.ndarray or a subclass) compute otherwise than numpy's own."""
    own = _OWN_ARITHMETIC.get(kind)
    if own is None:
        mro = kind.__mro__
        below = mro[:mro.index(np.ndarray)]  # the subclasses between kind and ndarray
        own = _OWN_ARITHMETIC[kind] = any(not _ARITHMETIC.isdisjoint(vars(k)) for k in below)
    return own


def _refuse_masked(value: Any, what: str) -> None:
    """A masked array's mask would be dropped (its values under the mask counted as any other):
    an error, as JAX and Numba give."""
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{what} got a numpy masked array, whose mask would be ignored: pass "
                        "a.filled(value) for the values you mean, or a.data for all of them")


def _sequence_operand(seq: list | tuple, name: str) -> np.ndarray:
    """A list or tuple given as an operand, as an array: rules then read arrays (``x.ndim``),
    at every order. A tensor inside it that requires grad, or carries a forward-mode tangent,
    would lose its gradient or tangent: an error."""
    what = _differentiated_inside(seq)
    if what:
        raise TypeError(
            f"op '{name}' got a {type(seq).__name__} holding a tensor that {what}; "
            "its derivative would be lost: combine tensors with ad.stack or ad.concatenate"
        )
    return np.asarray(seq)


def _differentiated_inside(seq: list | tuple) -> str | None:
    """What makes a tensor inside ``seq`` (nested lists too) differentiated, if one is: it
    requires grad while recording, or carries a tangent of the running forward sweep (a
    tangent left from an ended sweep is not one)."""
    for item in _tensors_inside(seq):
        if item.requires_grad and _mode.enabled:
            return "requires grad"
        if _carries_tangent(item):
            return "carries a forward-mode tangent"
    return None


def _tensors_inside(seq: list | tuple) -> Iterator[Tensor]:
    """The tensors in a list or tuple, in nested ones too."""
    pending = [seq]
    while pending:
        for item in pending.pop():
            if isinstance(item, Tensor):
                yield item
            elif type(item) in _SEQUENCES:
                pending.append(item)


def op(fn: Callable | None = None, *, name: str | None = None, saves: str | None = "all", view: bool = False,
       symmetric: bool = False, tangents: bool = False, batched: bool = False):
    """Make a differentiable op from a numpy forward function that returns its rules.

    The decorated function receives its operands as numpy arrays (its
    positional-only parameters if it has any, else its leading parameters
    without defaults, or all of ``*args``) and its options as they were passed,
    and returns ``(out, rules)``: the output array and one
    rule per operand, ``rule(g, out, *operands)`` returning the gradient for that
    operand (``None`` if it has none). Rules use numpy functions and methods, so
    the same rule also runs on Tensors for higher-order derivatives. The engine
    reduces broadcast gradients, casts dtypes and checks shapes. A rule returns a new
    array or a view of ``g`` or of an operand, never memory it keeps: the engine may
    store what it returns as a gradient, or let a later rule write into it.

    Parameters
    ----------
    name : str, optional
        Shown in errors and drawings; defaults to the function's name.
    saves : {"all", "inputs", "others", "out", None} or tuple of int
        Which values the rules read; those are protected against mutation until
        backward has run. Built-in ops declare what they read (a few, ``divide`` and
        ``prod`` among them, more: these forms cannot name one operand and the output
        together, so such an op saves all). ``"others"``:
        each operand's rule reads the other operands only (a product), so an operand
        is saved only if another operand's gradient is wanted. A tuple: the operands
        at these positions (``linear`` reads its input and weight, not its bias).
    view : bool
        The output may share memory with the first operand.
    symmetric : bool
        Each operand's Jacobian is diagonal or symmetric (every elementwise op is), so
        each rule, applied to a tangent instead of a gradient, also gives the tangent
        of the output: forward mode needs nothing more.
    tangents : bool
        The function returns a third element: one tangent rule per operand,
        ``tangent_rule(t, out, *operands)`` giving that operand's contribution to the
        output's tangent (forward mode).
    batched : bool
        The tangent rules accept tangents with leading batch axes (a batch of
        directions, as ``jacobian`` and ``hessian`` send) and put them first in the
        result; the engine broadcasts each contribution to ``batch + out.shape``. A
        symmetric op needs no such care: the engine aligns the batch axes for it.

    Examples
    --------
    >>> import numpy as np, autodiff as ad
    >>> @ad.op
    ... def cube(x):
    ...     return x ** 3, lambda g, out, x: 3 * g * x ** 2
    >>> x = ad.tensor(2.0, requires_grad=True)
    >>> cube(x).backward(); x.grad
    Tensor(12.)
    """
    if fn is None:
        return lambda f: op(f, name=name, saves=saves, view=view, symmetric=symmetric, tangents=tangents,
                            batched=batched)
    opname = name or fn.__name__
    n = _count_operands(fn)
    if not (saves in ("all", "inputs", "others", "out", None) or (
            type(saves) is tuple and all(type(i) is int and 0 <= i and (n is None or i < n) for i in saves))):
        raise ValueError(f"saves must be 'all', 'inputs', 'others', 'out', None or a tuple of operand "
                         f"positions, got {saves!r}")

    jvp_index = 2 if tangents else 1 if symmetric else None
    # ops with no options (most of them) get wrappers without *args and **kwargs: packing
    # them costs a fifth of an unrecorded op's overhead
    params = list(inspect.signature(fn).parameters.values())
    plain = len(params) == n
    option_names = tuple(p.name for p in params[n or 0:]
                         if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))  # for _options' errors

    if n == 1 and plain:
        def wrapper(x):
            if isinstance(x, Tensor):
                val, rec = x._data, x._requires_grad
            else:
                if type(x) not in _PLAIN:  # a list, an array-like: an array (see _operand)
                    x = _operand(x, opname)
                val, rec = x, False
            try:
                result = fn(val)
            except ValueError as e:
                raise _operand_error(opname, (val,), e) from e
            out = result[0]
            if type(out) is not np.ndarray:
                out = np.asarray(out)
            usual = not _unusual
            if rec and (usual or _mode.enabled) and out.dtype.kind == "f":
                rules = result[1]
                if type(rules) is not tuple:
                    rules = (rules,)  # the usual way to give one operand's rule
                elif len(rules) != 1:
                    rules = _checked_rules(opname, rules, 1)
                t = _new(Tensor)  # _attach, inline
                t._data, t._requires_grad = out, True
                t.grad = t._hooks = t._tangent = t._pending = t._rules = None  # rules: once locks are held
                t._lock = _view_lock(out, x) if view else None
                if saves is None:
                    t._locks = ()
                elif saves == "out" and t._lock is None:  # as _locks does
                    t._locks = _OUT
                elif saves == "out" or saves == "inputs":
                    t._locks = _Locks((_hold(t if saves == "out" else x, opname),))
                else:
                    t._locks = _locks(t, opname, (x,), _FIRST, saves)
                t._op, t._inputs, t._vals, t._rules, t._needs = opname, (x,), (val,), rules, _FIRST
            else:
                if rec and out.dtype.kind in "cO" and (usual or _mode.enabled):
                    raise _not_real(opname, out)
                t = _wrap(out, x if view else None)
            if not usual and (extra := _mode.extra):
                if extra > 0:  # forward mode alone (extra is its token), the usual extra: no detour
                    _push_tangent(opname, t, (x,), (val,), result, jvp_index, batched, extra)
                else:
                    _after_op(opname, t, (x,), (val,), result, jvp_index, batched, wrapper, (), {})
            return t
    elif n == 2 and plain:
        def wrapper(x, y):
            if isinstance(x, Tensor):
                vx, rx = x._data, x._requires_grad
            else:
                if type(x) not in _PLAIN:  # a list, an array-like: an array (see _operand)
                    x = _operand(x, opname)
                vx, rx = x, False
            if isinstance(y, Tensor):
                vy, ry = y._data, y._requires_grad
            else:
                if type(y) not in _PLAIN:  # a list, an array-like: an array (see _operand)
                    y = _operand(y, opname)
                vy, ry = y, False
            try:
                result = fn(vx, vy)
            except ValueError as e:
                raise _operand_error(opname, (vx, vy), e) from e
            out = result[0]
            if type(out) is not np.ndarray:
                out = np.asarray(out)
            base = x if view and isinstance(x, Tensor) else None
            usual = not _unusual
            if (rx or ry) and (usual or _mode.enabled) and out.dtype.kind == "f":
                needs = _BOTH if rx and ry else _FIRST if rx else _SECOND
                rules = result[1]
                if type(rules) is not tuple or len(rules) != 2:
                    rules = _checked_rules(opname, rules, 2)
                if saves is not None and ((vx is x and isinstance(x, np.ndarray))
                                          or (vy is y and isinstance(y, np.ndarray))):
                    (x, y), (vx, vy) = _capture((x, y), (vx, vy), saves)  # arrays the rules read
                t = _new(Tensor)  # _attach, inline
                t._data, t._requires_grad = out, True
                t.grad = t._hooks = t._tangent = t._pending = t._rules = None  # rules: once locks are held
                t._lock = None if base is None else _view_lock(out, base)
                if saves is None:
                    t._locks = ()
                elif saves == "others" and len(needs) == 1:  # the usual product: no call
                    other = y if rx else x
                    if isinstance(other, Tensor):
                        t._locks = _Locks((_hold(other, opname),))
                    elif isinstance(other, np.ndarray) and other.nbytes > _COPY_BYTES:  # see _hold_array
                        t._locks = _locks(t, opname, (x, y), needs, saves)
                    else:  # a number
                        t._locks = ()
                elif saves == "others" or (saves == "inputs" and needs is _BOTH):  # two tensors
                    t._locks = _Locks((_hold(x, opname), _hold(y, opname)))
                else:
                    t._locks = _locks(t, opname, (x, y), needs, saves)
                t._op, t._inputs, t._vals, t._rules, t._needs = opname, (x, y), (vx, vy), rules, needs
            else:
                if (rx or ry) and out.dtype.kind in "cO" and (usual or _mode.enabled):
                    raise _not_real(opname, out)
                t = _wrap(out, x if view else None)
            if not usual and (extra := _mode.extra):
                if extra > 0:  # forward mode alone (extra is its token), the usual extra: no detour
                    _push_tangent(opname, t, (x, y), (vx, vy), result, jvp_index, batched, extra)
                else:
                    _after_op(opname, t, (x, y), (vx, vy), result, jvp_index, batched, wrapper, (), {})
            return t
    elif n == 1:
        def wrapper(x, *args, **kwargs):
            if isinstance(x, Tensor):
                val, rec = x._data, x._requires_grad
            else:
                if type(x) not in _PLAIN:  # a list, an array-like: an array (see _operand)
                    x = _operand(x, opname)
                val, rec = x, False
            if args or kwargs:
                args, kwargs = _options(opname, args, kwargs, 0, option_names)
            try:
                # options passed on only when given: packing them costs more than the test
                result = fn(val, *args, **kwargs) if args or kwargs else fn(val)
            except ValueError as e:
                raise _operand_error(opname, (val,), e) from e
            out = result[0]
            if type(out) is not np.ndarray:
                out = np.asarray(out)
            usual = not _unusual
            if rec and (usual or _mode.enabled) and out.dtype.kind == "f":
                t = _attach(opname, out, (x,), (val,), result[1], _FIRST, saves, x if view else None)
            else:
                if rec and out.dtype.kind in "cO" and (usual or _mode.enabled):
                    raise _not_real(opname, out)
                t = _wrap(out, x if view else None)
            if not usual and _mode.extra:
                _after_op(opname, t, (x,), (val,), result, jvp_index, batched, wrapper, args, kwargs)
            return t
    else:
        def wrapper(*args, **kwargs):
            k = len(args) if n is None else n
            operands = args[:k]
            vals, needs = [], []  # one loop, not two comprehensions (each a frame of its own)
            i = 0
            replaced = arrays = False
            for a in operands:
                if isinstance(a, Tensor):
                    vals.append(a._data)
                    if a._requires_grad:
                        needs.append(i)
                elif type(a) not in _PLAIN and (v := _operand(a, opname)) is not a:
                    vals.append(v)
                    replaced = True
                    arrays = arrays or type(a) not in _SEQUENCES  # numpy's view of an array-like
                else:
                    vals.append(a)
                    if isinstance(a, np.ndarray):
                        arrays = True
                i += 1
            vals, needs = tuple(vals), tuple(needs)
            if replaced:  # the arrays replace them as operands too
                operands = tuple(a if isinstance(a, Tensor) else v
                                 for a, v in zip(operands, vals, strict=True))
            if kwargs or len(args) > k:
                args, kwargs = _options(opname, args, kwargs, k, option_names)
            try:
                result = fn(*vals, *args[k:], **kwargs) if kwargs or len(args) > k else fn(*vals)
            except ValueError as e:
                raise _operand_error(opname, vals, e) from e
            out = result[0]
            if type(out) is not np.ndarray:
                out = np.asarray(out)
            base = operands[0] if view and operands and isinstance(operands[0], Tensor) else None
            usual = not _unusual
            if needs and (usual or _mode.enabled) and out.dtype.kind == "f":
                if arrays and saves is not None:
                    operands, vals = _capture(operands, vals, saves)  # small arrays the rules read
                t = _attach(opname, out, operands, vals, result[1], needs, saves, base)
            else:
                if needs and out.dtype.kind in "cO" and (usual or _mode.enabled):
                    raise _not_real(opname, out)
                t = _wrap(out, operands[0] if view and operands else None)
            if not usual and _mode.extra:
                _after_op(opname, t, operands, vals, result, jvp_index, batched, wrapper, args[k:], kwargs)
            return t

    wrapper.__name__ = wrapper.__qualname__ = opname
    wrapper.__doc__ = fn.__doc__
    wrapper.__wrapped__ = fn
    return wrapper


from . import backward as _backward  # noqa: E402  (both modules refer to each other)
from . import ops as _ops  # noqa: E402
