"""Grad mode: whether operations record a graph (``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``).

Each is a context manager and a decorator, as in PyTorch; the mode is per thread.

Example:
    >>> import rnnkit
    >>> x = rnnkit.ones(2, requires_grad=True)
    >>> with rnnkit.no_grad():
    ...     (x * 2).requires_grad
    False
    >>> @rnnkit.no_grad()
    ... def double(t):
    ...     return t * 2
    >>> double(x).requires_grad
    False
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable

__all__ = ["is_grad_enabled", "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_inference_mode_enabled"]

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless inside :class:`no_grad` (or ``set_grad_enabled(False)``)."""
    return getattr(_state, "grad_enabled", True)


def is_inference_mode_enabled() -> bool:
    """True inside :class:`inference_mode`."""
    return getattr(_state, "inference", False)


class _GradMode:
    """Sets grad mode on ``__enter__`` and restores the previous mode on ``__exit__``."""

    mode = True  # the grad mode inside the block
    inference = None  # the inference flag inside the block (None: unchanged)

    def __enter__(self) -> None:
        self._previous = (is_grad_enabled(), is_inference_mode_enabled())
        _state.grad_enabled = self.mode
        if self.inference is not None:
            _state.inference = self.inference

    def __exit__(self, *exc: Any) -> None:
        _state.grad_enabled, _state.inference = self._previous

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any):
            with type(self)._same(self):
                return fn(*args, **kwargs)

        return wrapper

    @classmethod
    def _same(cls, instance: _GradMode) -> _GradMode:
        copy = cls.__new__(cls)
        copy.__dict__.update({k: v for k, v in instance.__dict__.items() if k != "_previous"})
        return copy

    def clone(self) -> _GradMode:
        return self._same(self)


class _BareDecorator(_GradMode):
    """Also usable without parentheses: ``@no_grad`` as well as ``@no_grad()``."""

    def __new__(cls, fn: Callable | None = None):
        instance = super().__new__(cls)
        return instance if fn is None else instance(fn)


class no_grad(_BareDecorator):
    """Record no graph inside the block, as ``torch.no_grad``."""

    mode = False


class enable_grad(_BareDecorator):
    """Record the graph again inside a :class:`no_grad` block, as ``torch.enable_grad``."""

    mode = True


class set_grad_enabled(_GradMode):
    """Turn recording on or off: at once when called, until the block ends when used with ``with``.

    Args:
        mode: True to record operations, False not to.
    """

    def __init__(self, mode: bool):
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled(mode): expected a bool, got {type(mode).__name__}")
        self.mode = mode
        self._previous = (is_grad_enabled(), is_inference_mode_enabled())
        _state.grad_enabled = mode

    def __enter__(self) -> None:
        _state.grad_enabled = self.mode


class inference_mode(_GradMode):
    """Like :class:`no_grad`, as ``torch.inference_mode`` (rnnkit has no separate inference tensors).

    Args:
        mode: True (the default) to disable recording inside the block.
    """

    def __init__(self, mode: bool = True):
        if not isinstance(mode, bool):
            raise TypeError(f"inference_mode(mode): expected a bool, got {type(mode).__name__}")
        self.mode = not mode
        self.inference = mode
