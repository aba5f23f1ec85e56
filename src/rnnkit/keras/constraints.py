"""Keras's weight constraints: projections applied to a weight after each optimizer step.

A constraint maps an ndarray to an ndarray of the same shape (a Tensor in gives a Tensor out,
without gradient). With ``norms = sqrt(sum(w^2, axis, keepdims))`` and ``eps = 1e-7``::

    MaxNorm(max_value=2, axis=0):   w * clip(norms, 0, max_value) / (eps + norms)
    NonNeg():                       max(w, 0)
    UnitNorm(axis=0):               w / (eps + norms)
    MinMaxNorm(min_value=0, max_value=1, rate=1, axis=0):
                                    w * (rate * clip(norms, min, max) + (1 - rate) * norms) / (eps + norms)

Example:
    >>> import numpy as np
    >>> from rnnkit.keras import constraints
    >>> constraints.get("non_neg")(np.array([-1.0, 2.0]))
    array([0., 2.])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit._tensor import Tensor, array_of
from rnnkit.keras._registry import Configurable, Registry

__all__ = ["Constraint", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "get", "serialize", "deserialize"]

_EPSILON = 1e-7  # keras.backend.epsilon()


class Constraint(Configurable):
    """Base class: ``__call__(w) -> projected w`` and ``get_config()``."""

    def __call__(self, w: Any) -> Any:
        if isinstance(w, Tensor):
            return Tensor(self.project(array_of(w)))
        return self.project(np.asarray(w))

    def project(self, w: np.ndarray) -> np.ndarray:
        return w


def _norms(w: np.ndarray, axis: Any) -> np.ndarray:
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Rescale the weights incident to each unit to a norm of at most ``max_value``."""

    def __init__(self, max_value: float = 2, axis: Any = 0):
        self.max_value, self.axis = max_value, axis

    def project(self, w):
        norms = _norms(w, self.axis)
        return (w * (np.clip(norms, 0, self.max_value) / (_EPSILON + norms))).astype(w.dtype)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Clip negative weights to zero."""

    def project(self, w):
        return np.maximum(w, 0).astype(w.dtype)


class UnitNorm(Constraint):
    """Rescale the weights incident to each unit to unit norm."""

    def __init__(self, axis: Any = 0):
        self.axis = axis

    def project(self, w):
        return (w / (_EPSILON + _norms(w, self.axis))).astype(w.dtype)

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Move the norm of the weights incident to each unit into [min_value, max_value] at ``rate``."""

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: Any = 0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def project(self, w):
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return (w * (desired / (_EPSILON + norms))).astype(w.dtype)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

_CLASSES = {"MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm, "MinMaxNorm": MinMaxNorm}
_REGISTRY = Registry("constraint", Constraint, names={
    **_CLASSES, "max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm, "min_max_norm": MinMaxNorm,
    "maxnorm": MaxNorm, "nonneg": NonNeg, "unitnorm": UnitNorm,
}, classes=_CLASSES)

# get(identifier, argument="constraint"): from a name, a config dict, a class, an instance, a callable or None;
# serialize(constraint) -> {"class_name": ..., "config": {...}}; deserialize(config, argument="constraint").
get, serialize, deserialize = _REGISTRY.get, _REGISTRY.serialize, _REGISTRY.deserialize
