"""Keras's weight regularizers: penalties added to the training loss.

A regularizer maps a weight (a Tensor) to a scalar Tensor, differentiably::

    L1(l1):        l1 * sum(|w|)                 (default l1 = 0.01)
    L2(l2):        l2 * sum(w^2)                 (default l2 = 0.01)
    L1L2(l1, l2):  l1 * sum(|w|) + l2 * sum(w^2) (class defaults 0, 0)

The name ``"l1_l2"`` (and the function :func:`l1_l2`) means ``L1L2(0.01, 0.01)``, Keras 2's
defaults; Keras 3 no longer accepts the string, rnnkit keeps it for old models.

Example:
    >>> import numpy as np
    >>> from rnnkit.keras import regularizers
    >>> round(regularizers.get("l2")(np.ones((2, 3), np.float32)).item(), 6)
    0.06
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit import _ops
from rnnkit._tensor import Tensor
from rnnkit._validation import check_nonnegative
from rnnkit.keras._registry import Configurable, Registry

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize", "deserialize"]


class Regularizer(Configurable):
    """Base class: ``__call__(w: Tensor) -> scalar Tensor`` and ``get_config()``."""

    def __call__(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w^2)``."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = check_nonnegative("l1", 0.0 if l1 is None else l1)
        self.l2 = check_nonnegative("l2", 0.0 if l2 is None else l2)

    def __call__(self, x):
        x = _tensor(x)
        total = _ops.sum(x * 0.0)  # a differentiable zero of the weight's dtype
        if self.l1:
            total = total + _ops.sum(_ops.abs(x)) * self.l1
        if self.l2:
            total = total + _ops.sum(x * x) * self.l2
        return total

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 * sum(|w|)``."""

    def __init__(self, l1: float = 0.01):
        self.l1 = check_nonnegative("l1", l1)

    def __call__(self, x):
        return _ops.sum(_ops.abs(_tensor(x))) * self.l1

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(w^2)``."""

    def __init__(self, l2: float = 0.01):
        self.l2 = check_nonnegative("l2", l2)

    def __call__(self, x):
        x = _tensor(x)
        return _ops.sum(x * x) * self.l2

    def get_config(self):
        return {"l2": self.l2}


def l1(l1: float = 0.01) -> L1:  # noqa: D103 - Keras 2 function form
    return L1(l1)


def l2(l2: float = 0.01) -> L2:  # noqa: D103
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """Keras 2's ``l1_l2`` with its defaults (0.01, 0.01)."""
    return L1L2(l1, l2)


_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}
_REGISTRY = Registry("regularizer", Regularizer, names={
    **_CLASSES, "l1": L1, "l2": L2, "l1l2": L1L2, "l1_l2": l1_l2,
}, classes=_CLASSES)

# get(identifier, argument="regularizer"): from a name, a config dict, a class, an instance, a callable or None;
# serialize(regularizer) -> {"class_name": ..., "config": {...}}; deserialize(config, argument="regularizer").
get, serialize, deserialize = _REGISTRY.get, _REGISTRY.serialize, _REGISTRY.deserialize
