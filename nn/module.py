"""Modules and parameters, found automatically; state dicts and .npz files.

A :class:`Module` finds its parameters and sub-modules in its attributes,
including lists, tuples and dicts of them; ``named_parameters()`` gives a
module's own parameters first, then those of each sub-module, list or dict, in the
order they were assigned (as PyTorch), with dotted names such as ``layers.0.weight``.
"""

from __future__ import annotations

import os
import zipfile
from typing import Any, BinaryIO, Iterator

import numpy as np

import autodiff as ad


class Parameter(ad.Tensor):
    """A tensor that is a learnable parameter: it requires grad unless told otherwise.

    Examples
    --------
    >>> import nn
    >>> nn.Parameter([1.0, 2.0]).requires_grad
    True
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor"):]


def _children(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(name, Parameter or Module) pairs in an attribute value, lists and dicts included."""
    if isinstance(value, (Parameter, Module)):
        yield prefix, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _children(item, f"{prefix}.{i}")
    elif isinstance(value, (set, frozenset)):  # no order, so no names
        if any(isinstance(item, (Parameter, Module)) for item in value):
            raise TypeError(f"the set '{prefix}' holds a parameter or module: keep them in a list or "
                            "a dict, whose order and keys name them")
    elif isinstance(value, dict):
        for key, item in value.items():
            for child in _children(item, f"{prefix}.{key}"):
                if not isinstance(key, str) or "." in key:  # 1 and "1" would both be named "d.1",
                    # {"a.b": p} and {"a": {"b": q}} both "d.a.b"
                    raise TypeError(f"the dict '{prefix}' holds a parameter or module under the key "
                                    f"{key!r}: keys must be strings without dots, which name them")
                yield child


class Module:
    """Base class of layers and models: ``__call__`` runs ``forward``.

    Examples
    --------
    >>> import nn
    >>> class Affine(nn.Module):
    ...     def __init__(self):
    ...         self.scale = nn.Parameter([2.0])
    ...         self.shift = nn.Parameter([0.5])
    ...     def forward(self, x):
    ...         return x * self.scale + self.shift
    >>> [name for name, _ in Affine().named_parameters()]
    ['scale', 'shift']
    """

    training: bool = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def _members(self) -> Iterator[tuple[str, Any]]:
        for name, value in vars(self).items():
            yield from _children(value, name)

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """This module and every sub-module, each once (a shared one under its first name),
        with dotted names ('' for this one)."""
        seen: set[int] = set()

        def walk(module: Module, name: str) -> Iterator[tuple[str, Module]]:
            if id(module) in seen:  # shared, or a reference back up the tree
                return
            seen.add(id(module))
            yield name, module
            for member_name, member in module._members():
                if isinstance(member, Module):
                    yield from walk(member, f"{name}.{member_name}" if name else member_name)

        return walk(self, prefix)

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name, each once (a shared one under its first name).

        As PyTorch's order: a module's own parameters (its attributes), then, in the order
        they were assigned, its sub-modules' and those in its lists and dicts (PyTorch's
        ParameterList is a sub-module too).
        """
        seen_modules, seen = set(), set()

        def walk(module: Module, name: str) -> Iterator[tuple[str, Parameter]]:
            if id(module) in seen_modules:  # shared, or a reference back up the tree
                return
            seen_modules.add(id(module))
            members = list(module._members())
            for own in (True, False):  # a name without a dot is an attribute's own
                for member_name, member in members:
                    full = f"{name}.{member_name}" if name else member_name
                    if isinstance(member, Parameter):
                        if ("." not in member_name) == own and id(member) not in seen:
                            seen.add(id(member))
                            yield full, member
                    elif not own:
                        yield from walk(member, full)

        return walk(self, prefix)

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Forget accumulated gradients (sets every ``.grad`` to None)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> "Module":
        """Set training mode (dropout active) on this module and its sub-modules."""
        if not isinstance(mode, (bool, np.bool_)):  # a string would be true
            raise ValueError(f"train() takes True or False, got {mode!r}")
        mode = bool(mode)
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> "Module":
        """Set evaluation mode (dropout is the identity)."""
        return self.train(False)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter's values by dotted name: a shared one once, under its
        first name (PyTorch's lists it under every name)."""
        return {name: p.numpy().copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Set every parameter from ``state``; on any mismatch raise and change nothing."""
        params = dict(self.named_parameters())
        missing = sorted(set(params) - set(state))
        extra = sorted(set(state) - set(params))
        problems = []
        if missing:
            problems.append(f"missing entries {missing}")
        if extra:
            problems.append(f"unexpected entries {extra}")
        for name in sorted(set(params) & set(state)):
            shape = np.shape(state[name])
            if shape != params[name].shape:
                problems.append(f"'{name}' has shape {shape}, the parameter {params[name].shape}")
        if problems:
            raise ValueError(f"cannot load state into {type(self).__name__}: " + "; ".join(problems))
        for name, p in params.items():  # values saved for a pending backward stay: raise first,
            try:  # with the engine's own test (what p.copy_(values) would raise)
                p._check_writable("load a state into")
            except RuntimeError as e:
                raise RuntimeError(f"cannot load state into {type(self).__name__}: '{name}': {e}") from None
        loaded = {}
        for name, p in params.items():  # every value converted before any parameter changes
            values = np.empty(p.shape, p.dtype)
            try:
                values[...] = state[name]
            except (TypeError, ValueError) as e:
                raise ValueError(f"cannot load state into {type(self).__name__}: '{name}' does not "
                                 f"convert to {values.dtype}: {e}") from e
            loaded[name] = values
        with ad.no_grad():
            for name, p in params.items():
                p.copy_(loaded[name])  # into the parameter's own memory and layout

    def __repr__(self) -> str:
        if id(self) in _PRINTING:  # a reference back up the tree
            return f"{type(self).__name__}(...)"
        _PRINTING.add(id(self))
        try:
            lines = [f"  ({name}): {module!r}".replace("\n", "\n  ")
                     for name, module in self._members() if isinstance(module, Module)]
        finally:
            _PRINTING.discard(id(self))
        return f"{type(self).__name__}(" + ("\n" + "\n".join(lines) + "\n" if lines else "") + ")"


_PRINTING: set = set()  # the modules whose repr is being made


def save(module: Module, path: str | os.PathLike | BinaryIO) -> None:
    """Write ``module.state_dict()`` to a ``.npz`` file at exactly ``path`` (or a binary file object)."""
    # NOTE: not np.savez: it appends ".npz" to a path without it (so that load(path) missed the
    # file), and a parameter named "file" or "allow_pickle" collides with its arguments
    with zipfile.ZipFile(path, "w") as archive:
        for name, values in module.state_dict().items():
            with archive.open(name + ".npy", "w") as f:
                np.lib.format.write_array(f, values, allow_pickle=False)


def load(module: Module, path: str | os.PathLike) -> Module:
    """Load parameters saved by :func:`save` into ``module`` (checked; nothing changes on error)."""
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError:  # numpy's message is about pickles: it tried a pickle last
        raise ValueError(f"nn.load: {path} is not a .npz file written by nn.save") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"nn.load: {path} holds a single array, not a .npz file written by nn.save")
    with archive:
        module.load_state_dict({name: archive[name] for name in archive.files})
    return module
