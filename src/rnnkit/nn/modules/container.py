"""Containers, as ``torch.nn``: ``Sequential``, ``ModuleList``, ``ModuleDict`` and ``Identity``.

Children are registered under their position ("0", "1", ...) or key, so ``state_dict``
names match PyTorch's (``0.weight``, ``encoder.bias``).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable, Iterator, Mapping

from rnnkit.nn.modules.module import Module

__all__ = ["Sequential", "ModuleList", "ModuleDict", "Identity"]


def _check_module(name: str, value: Any) -> Module:
    if not isinstance(value, Module):
        raise TypeError(f"{name}: expected a Module, got {type(value).__name__}")
    return value


class Identity(Module):
    """Returns its input unchanged (extra arguments are ignored).

    Example:
        >>> from rnnkit import nn
        >>> nn.Identity()(3)
        3
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


class _IndexedModules(Module):
    """Shared list behaviour: children stored under "0", "1", ... in order."""

    def _index(self, idx: int) -> int:
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"index: expected a position in [{-n}, {n}), got {idx}")
        return idx % n

    def _rebuild(self, modules: Iterable[Module]) -> None:
        self._modules.clear()
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def __getitem__(self, idx: int):
        return list(self._modules.values())[self._index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(str(self._index(idx)), _check_module("module", module))

    def __delitem__(self, idx: int | slice) -> None:
        modules = list(self._modules.values())
        del modules[idx if isinstance(idx, slice) else self._index(idx)]
        self._rebuild(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module):
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), _check_module("module", module))
        return self

    def extend(self, modules: Iterable[Module]):
        """Append each of ``modules``; returns self."""
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index``."""
        modules = list(self._modules.values())
        modules.insert(index, _check_module("module", module))
        self._rebuild(modules)


class Sequential(_IndexedModules):
    """Modules applied one after another: ``forward(x) = m_n(...m_1(x))``.

    Args:
        *modules: the modules in order, or a single ``OrderedDict`` name -> module.

    Example:
        >>> import numpy as np
        >>> from rnnkit import nn
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
        >>> model(np.zeros((3, 4))).shape, len(model), list(model.state_dict())[:2]
        ((3, 2), 3, ['0.weight', '0.bias'])
    """

    def __init__(self, *modules: Module | Mapping[str, Module]):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for name, module in modules[0].items():
                self.add_module(name, _check_module(f"modules[{name!r}]", module))
        else:
            for i, module in enumerate(modules):
                self.add_module(str(i), _check_module(f"modules[{i}]", module))

    def __getitem__(self, idx: int | slice):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[self._index(idx)]
        self.add_module(key, _check_module("module", module))

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)
        for key in keys[idx] if isinstance(idx, slice) else [keys[self._index(idx)]]:
            del self._modules[key]

    def forward(self, input: Any) -> Any:
        for module in self._modules.values():
            input = module(input)
        return input


class ModuleList(_IndexedModules):
    """A list of modules whose parameters are registered (no forward of its own).

    Example:
        >>> from rnnkit import nn
        >>> layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
        >>> len(layers), len(list(layers.parameters()))
        (3, 6)
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx: int | slice):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return super().__getitem__(idx)


class ModuleDict(Module):
    """A dict of modules whose parameters are registered, in insertion order.

    Example:
        >>> from rnnkit import nn
        >>> heads = nn.ModuleDict({"a": nn.Linear(2, 1), "b": nn.Identity()})
        >>> list(heads.keys()), "a" in heads
        (['a', 'b'], True)
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            raise KeyError(f"key: no module named {key!r}; have {list(self._modules)}")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str):
            raise TypeError(f"key: expected a str, got {type(key).__name__}")
        self.add_module(key, _check_module(f"modules[{key!r}]", module))

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key: str) -> Module:
        module = self[key]
        del self._modules[key]
        return module

    def clear(self) -> None:
        self._modules.clear()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add (or replace) each name -> module pair."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in pairs:
            self[key] = module
