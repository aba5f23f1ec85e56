"""The classes a caller allows ``rnnkit.load`` to rebuild beyond tensors and containers, as
``torch.serialization.safe_globals`` / ``add_safe_globals``.

Example:
    >>> import rnnkit
    >>> class Net(rnnkit.nn.Module):
    ...     pass
    >>> with rnnkit.serialization.safe_globals([Net]):
    ...     len(rnnkit.serialization.get_safe_globals()) >= 1
    True
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterable, Iterator

__all__ = ["safe_globals", "add_safe_globals", "get_safe_globals", "clear_safe_globals", "allowed"]


class _Allowed:
    """The classes the caller allows beyond torch's list (``safe_globals``), by qualified name."""

    def __init__(self) -> None:
        self.extra: dict[str, Any] = {}


_ALLOWED = _Allowed()  # process-wide, as torch's list


def allowed(name: str) -> Any:
    """The allowed class or function of that qualified name, or None."""
    return _ALLOWED.extra.get(name)


def _name(obj: Any) -> str:
    if isinstance(obj, tuple):  # (obj, "name"), as torch accepts
        return obj[1]
    return f"{obj.__module__}.{obj.__qualname__}"


def add_safe_globals(safe: Iterable[Any]) -> None:
    """Allow these classes (or functions) when loading, as ``torch.serialization.add_safe_globals``."""
    for obj in safe:
        _ALLOWED.extra[_name(obj)] = obj[0] if isinstance(obj, tuple) else obj


def get_safe_globals() -> list[Any]:
    return list(_ALLOWED.extra.values())


def clear_safe_globals() -> None:
    _ALLOWED.extra.clear()


@contextlib.contextmanager
def safe_globals(safe: Iterable[Any]) -> Iterator[None]:
    """Allow these classes inside the block only, as ``torch.serialization.safe_globals``."""
    before = dict(_ALLOWED.extra)
    add_safe_globals(safe)
    try:
        yield
    finally:
        _ALLOWED.extra.clear()
        _ALLOWED.extra.update(before)


