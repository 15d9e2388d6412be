"""The Tensor, the graph node that records how it was made, and the op mechanism.

Decisions recorded here (see DESIGN.md):

* A Tensor wraps a numpy array (``data``). When it is the result of an op on
  tensors that require grad, it holds a :class:`Node`: the op's name, its
  operands and one derivative rule per operand.
* A rule is ``rule(g, out, *operands) -> gradient for one operand``. The engine
  calls it with numpy arrays for an ordinary backward (no Tensor is created per
  node), and with Tensors under ``create_graph=True``; rules are written with
  numpy functions and methods, which dispatch to the differentiable ops when they
  meet a Tensor (``__array_ufunc__``/``__array_function__``), so one rule serves
  every order. A rule never captures the output Tensor: the engine passes ``out``.
* Values saved for backward are protected, not copied: while a node that saved a
  tensor is alive and not yet run, writing to that tensor (in-place ops,
  ``t.data[...] = v``, ``t.data = v``) raises an error naming the op.
* ``ad.tensor(data)`` and ``Tensor(data)`` copy their input, as ``np.array`` and
  ``torch.tensor`` do, so a pending graph cannot be changed through the caller's array.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np

from . import grad_mode

_mode = grad_mode._state


def _is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f"


class _Lock:
    """How many pending nodes saved an array (shared by a tensor and its views)."""

    __slots__ = ("count", "op")

    def __init__(self) -> None:
        self.count = 0
        self.op = ""


class _SavedArray(np.ndarray):
    """Read-only view handed out for a tensor whose values a pending backward needs."""

    def _refuse(self, *args, **kwargs):
        op = getattr(self, "_saved_by", "an op")
        raise RuntimeError(
            f"cannot write to this array: it holds values saved by op '{op}' for a pending "
            "backward(), and changing them would make the gradient wrong. Call backward() "
            "first, drop the graph (del the output), or work on a copy (t.data.copy())."
        )

    __setitem__ = _refuse
    __iadd__ = __isub__ = __imul__ = __itruediv__ = __ipow__ = __ifloordiv__ = _refuse


class Node:
    """How a tensor was made: op name, operands, their raw values and one rule each."""

    __slots__ = ("op", "inputs", "vals", "rules", "needs", "locks", "freed", "where")

    def __init__(self, op, inputs, vals, rules, needs):
        self.op = op
        self.inputs = inputs
        self.vals = vals
        self.rules = rules
        self.needs = needs
        self.locks = ()
        self.freed = False
        self.where = None

    def release(self) -> None:
        """Free what backward needed: operands, saved values, rules, locks."""
        for lock in self.locks:
            lock.count -= 1
        self.locks = ()
        self.inputs = self.vals = ()
        self.rules = None
        self.freed = True


class _SavingNode(Node):
    """A node that saved values; unlocks them if the graph is dropped unused."""

    __slots__ = ()

    def __del__(self) -> None:
        for lock in self.locks:
            lock.count -= 1


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

    Examples
    --------
    >>> import autodiff as ad
    >>> x = ad.Tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    Tensor([2., 4.])
    """

    __slots__ = ("_data", "grad", "requires_grad", "_node", "_lock", "_hooks", "_retain", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data._data
        self._data = np.array(data, dtype=dtype)
        if self._data.dtype == object:
            raise TypeError(f"cannot make a Tensor from {type(data).__name__}: numpy gives an object array")
        self.grad = None
        self.requires_grad = False
        self._node = None
        self._lock = None
        self._hooks = None
        self._retain = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data: np.ndarray, node: Node | None = None) -> "Tensor":
        """Wrap an array without copying (internal constructor)."""
        t = object.__new__(cls)
        t._data = data
        t.grad = None
        t.requires_grad = node is not None
        t._node = node
        t._lock = None
        t._hooks = None
        t._retain = False
        return t

    # ----------------------------------------------------------- attributes
    @property
    def data(self) -> np.ndarray:
        """The values as a numpy array (read-only while a pending backward needs them)."""
        lock = self._lock
        if lock is not None and lock.count:
            view = self._data.view(_SavedArray)
            view.flags.writeable = False
            view._saved_by = lock.op
            return view
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._check_writable("replace .data of")
        value = value._data if isinstance(value, Tensor) else np.asarray(value)
        if self.requires_grad and not _is_float(value.dtype):
            raise TypeError(f"cannot set .data of a tensor that requires grad to dtype {value.dtype}")
        self._data = value
        self._lock = None

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
        return self._node is None

    @property
    def op(self) -> str | None:
        """Name of the op that made this tensor, or None for a leaf."""
        return None if self._node is None else self._node.op

    @property
    def T(self) -> "Tensor":
        return _ops.transpose(self)

    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self._data.item()

    def numpy(self) -> np.ndarray:
        """The values as a numpy array (shares memory; read-only while saved for backward)."""
        return self.data

    def tolist(self) -> Any:
        return self._data.tolist()

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        arr = self.data
        if dtype is not None and arr.dtype != dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    # ------------------------------------------------------------- autograd
    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set ``requires_grad`` in place on a leaf; returns self."""
        if self._node is not None and not requires_grad:
            raise RuntimeError(
                f"requires_grad_(False) on a non-leaf tensor (made by op '{self._node.op}'); use .detach()"
            )
        if requires_grad and not _is_float(self._data.dtype):
            raise TypeError(
                f"only floating-point tensors can require gradients, this one has dtype {self.dtype}; "
                "make it with float values or dtype=np.float64 / np.float32"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> "Tensor":
        """A tensor sharing this one's values, cut from the graph."""
        out = Tensor._make(self._data)
        out._lock = self._shared_lock()
        return out

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor on backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self._retain = True

    def register_hook(self, hook: Callable[["Tensor"], "Tensor | None"]) -> "_HookHandle":
        """Call ``hook(grad)`` when this tensor's gradient is computed.

        The hook may return a replacement gradient. Returns a handle with ``remove()``.
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
        if self._lock is None:
            self._lock = _Lock()
        return self._lock

    def _check_writable(self, what: str) -> None:
        lock = self._lock
        if lock is not None and lock.count:
            raise RuntimeError(
                f"cannot {what} a tensor whose values are saved by op '{lock.op}' for a pending "
                "backward(); call backward() first, or compute out of place (y = x + 1)"
            )

    def _inplace(self, ufunc, other) -> "Tensor":
        if _mode.enabled and (self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)):
            raise RuntimeError(
                f"in-place {ufunc.__name__} on a tensor that requires grad while recording; write "
                "x = x op y instead, or update parameters inside `with ad.no_grad():`"
            )
        self._check_writable("modify in place")
        ufunc(self._data, other._data if isinstance(other, Tensor) else other, out=self._data)
        return self

    def __iadd__(self, other):
        return self._inplace(np.add, other)

    def __isub__(self, other):
        return self._inplace(np.subtract, other)

    def __imul__(self, other):
        return self._inplace(np.multiply, other)

    def __itruediv__(self, other):
        return self._inplace(np.true_divide, other)

    def __setitem__(self, index, value) -> None:
        if _mode.enabled and (self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)):
            raise RuntimeError(
                "item assignment on a tensor that requires grad while recording; build the new "
                "tensor with ad.where / ad.concatenate, or assign inside `with ad.no_grad():`"
            )
        self._check_writable("assign into")
        self._data[_ops._index_arrays(index)] = value._data if isinstance(value, Tensor) else value

    # ------------------------------------------------------------ operators
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.subtract(self, other)

    def __rsub__(self, other):
        return _ops.subtract(other, self)

    def __mul__(self, other):
        return _ops.multiply(self, other)

    def __rmul__(self, other):
        return _ops.multiply(other, self)

    def __truediv__(self, other):
        return _ops.divide(self, other)

    def __rtruediv__(self, other):
        return _ops.divide(other, self)

    def __pow__(self, other):
        return _ops.power(self, other)

    def __rpow__(self, other):
        return _ops.power(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _ops.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __eq__(self, other):  # type: ignore[override]
        return _ops.equal(self, other)

    def __ne__(self, other):  # type: ignore[override]
        return _ops.not_equal(self, other)

    def __lt__(self, other):
        return _ops.less(self, other)

    def __le__(self, other):
        return _ops.less_equal(self, other)

    def __gt__(self, other):
        return _ops.greater(self, other)

    def __ge__(self, other):
        return _ops.greater_equal(self, other)

    def __and__(self, other):
        return _ops.logical_and(self, other)

    __rand__ = __and__

    def __or__(self, other):
        return _ops.logical_or(self, other)

    __ror__ = __or__

    def __invert__(self):
        return _ops.logical_not(self)

    __hash__ = object.__hash__

    def __getitem__(self, index):
        return _ops.getitem(self, index)

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

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="Tensor(")
        extra = ""
        if self._data.dtype not in (np.float64, np.int64, np.bool_):
            extra += f", dtype={self._data.dtype}"
        if self._node is not None:
            extra += f", op={self._node.op}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    # numpy functions on tensors dispatch to the differentiable ops
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _ops._array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _ops._array_function(func, args, kwargs)

    # methods of the same names as the ops (numpy spelling)
    def exp(self):
        return _ops.exp(self)

    def log(self):
        return _ops.log(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def abs(self):
        return _ops.abs(self)

    def sin(self):
        return _ops.sin(self)

    def cos(self):
        return _ops.cos(self)

    def tanh(self):
        return _ops.tanh(self)

    def sigmoid(self):
        return _ops.sigmoid(self)

    def relu(self):
        return _ops.relu(self)

    def leaky_relu(self, negative_slope=0.01):
        return _ops.leaky_relu(self, negative_slope)

    def gelu(self):
        return _ops.gelu(self)

    def softplus(self):
        return _ops.softplus(self)

    def clip(self, a_min=None, a_max=None):
        return _ops.clip(self, a_min, a_max)

    def maximum(self, other):
        return _ops.maximum(self, other)

    def minimum(self, other):
        return _ops.minimum(self, other)

    def matmul(self, other):
        return _ops.matmul(self, other)

    def sum(self, axis=None, keepdims=False):
        return _ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _ops.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return _ops.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return _ops.min(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, ddof=0, keepdims=False):
        return _ops.var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False):
        return _ops.std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def prod(self, axis=None, keepdims=False):
        return _ops.prod(self, axis=axis, keepdims=keepdims)

    def logsumexp(self, axis=None, keepdims=False):
        return _ops.logsumexp(self, axis=axis, keepdims=keepdims)

    def softmax(self, axis=-1):
        return _ops.softmax(self, axis=axis)

    def log_softmax(self, axis=-1):
        return _ops.log_softmax(self, axis=axis)

    def reshape(self, *shape):
        return _ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes):
        return _ops.transpose(self, (axes[0] if len(axes) == 1 else axes) or None)

    def swapaxes(self, axis1, axis2):
        return _ops.swapaxes(self, axis1, axis2)

    def flatten(self):
        return _ops.flatten(self)

    def squeeze(self, axis=None):
        return _ops.squeeze(self, axis)

    def expand_dims(self, axis):
        return _ops.expand_dims(self, axis)

    def broadcast_to(self, shape):
        return _ops.broadcast_to(self, shape)

    def astype(self, dtype):
        return _ops.astype(self, dtype)

    def split(self, indices_or_sections, axis=0):
        return _ops.split(self, indices_or_sections, axis)


class _HookHandle:
    __slots__ = ("hooks", "hook")

    def __init__(self, hooks, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self) -> None:
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


# ---------------------------------------------------------------- recording
def _record(name: str, out: Any, operands: tuple, vals: tuple, rules: Any, saves: str, view: bool) -> Tensor:
    """Wrap ``out`` in a Tensor and, when recording, attach the node that made it."""
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if not _mode.enabled or not _is_float(out.dtype):
        return Tensor._make(out)
    needs = tuple(i for i, a in enumerate(operands) if isinstance(a, Tensor) and a.requires_grad)
    if not needs:
        return Tensor._make(out)
    if not isinstance(rules, tuple):
        rules = (rules,)
    if len(rules) != len(operands):
        raise TypeError(
            f"op '{name}' returned {len(rules)} derivative rule(s) for {len(operands)} operand(s); "
            "return one rule per positional operand (None where it has no gradient)"
        )
    node = (_SavingNode if saves else Node)(name, operands, vals, rules, needs)
    result = Tensor._make(out, node)
    if view:
        result._lock = operands[0]._shared_lock()
    if saves:
        locks = []
        if saves != "out":
            for a in operands:
                if isinstance(a, Tensor):
                    locks.append(a._shared_lock())
        if saves != "inputs":
            locks.append(result._shared_lock())
        for lock in locks:
            lock.count += 1
            lock.op = name
        node.locks = tuple(locks)
    return result


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


def _operand_error(name: str, vals: tuple, error: Exception) -> ValueError:
    shapes = " and ".join(str(np.shape(v)) for v in vals)
    return ValueError(f"{name}: operands of shapes {shapes} do not fit: {error}")


def op(fn: Callable | None = None, *, name: str | None = None, saves: str | None = "all", view: bool = False):
    """Make a differentiable op from a numpy forward function that returns its rules.

    The decorated function receives its operands as numpy arrays (its
    positional-only parameters if it has any, else its leading parameters
    without defaults, or all of ``*args``) and its options as they were passed, and returns ``(out, rules)``: the output array and one
    rule per operand, ``rule(g, out, *operands)`` returning the gradient for that
    operand (``None`` if it has none). Rules use numpy functions and methods, so
    the same rule also runs on Tensors for higher-order derivatives. The engine
    reduces broadcast gradients, casts dtypes and checks shapes.

    Parameters
    ----------
    name : str, optional
        Shown in errors and drawings; defaults to the function's name.
    saves : {"all", "inputs", "out", None}
        Which values the rules read; those are protected against mutation until
        backward has run. Built-in ops declare exactly what they read.
    view : bool
        The output may share memory with the first operand.

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
        return lambda f: op(f, name=name, saves=saves, view=view)
    if saves not in ("all", "inputs", "out", None):
        raise ValueError(f"saves must be 'all', 'inputs', 'out' or None, got {saves!r}")
    opname = name or fn.__name__
    n = _count_operands(fn)

    if n == 1:
        def wrapper(x, *args, **kwargs):
            val = x._data if isinstance(x, Tensor) else x
            try:
                out, rules = fn(val, *args, **kwargs)
            except ValueError as e:
                raise _operand_error(opname, (val,), e) from e
            return _record(opname, out, (x,), (val,), rules, saves, view)
    elif n == 2:
        def wrapper(x, y, *args, **kwargs):
            vx = x._data if isinstance(x, Tensor) else x
            vy = y._data if isinstance(y, Tensor) else y
            try:
                out, rules = fn(vx, vy, *args, **kwargs)
            except ValueError as e:
                raise _operand_error(opname, (vx, vy), e) from e
            return _record(opname, out, (x, y), (vx, vy), rules, saves, view)
    else:
        def wrapper(*args, **kwargs):
            k = len(args) if n is None else n
            operands = args[:k]
            vals = tuple(a._data if isinstance(a, Tensor) else a for a in operands)
            try:
                out, rules = fn(*vals, *args[k:], **kwargs)
            except ValueError as e:
                raise _operand_error(opname, vals, e) from e
            return _record(opname, out, operands, vals, rules, saves, view)

    wrapper.__name__ = wrapper.__qualname__ = opname
    wrapper.__doc__ = fn.__doc__
    wrapper.__wrapped__ = fn
    return wrapper


from . import backward as _backward  # noqa: E402  (both modules refer to each other)
from . import ops as _ops  # noqa: E402
