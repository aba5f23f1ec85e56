"""Keras's hinge losses (hinge, squared hinge, categorical hinge), per sample and as ``Loss`` objects.

Example:
    >>> import numpy as np
    >>> round(Hinge()(np.array([[0, 1], [0, 0]]), np.array([[0.6, 0.4], [0.4, 0.6]], np.float32)).item(), 4)
    1.3
"""

from __future__ import annotations

import numpy as np

from rnnkit import _ops
from rnnkit.keras.losses.base import LossFunctionWrapper, _pred, _same_shape, _true

__all__ = ["Hinge", "SquaredHinge", "CategoricalHinge", "hinge", "squared_hinge", "categorical_hinge"]


def _hinge_labels(target: np.ndarray) -> np.ndarray:
    """Keras's ``convert_binary_labels_to_hinge``: 0/1 labels become -1/1 (only when all of them are 0 or 1)."""
    return 2.0 * target - 1.0 if np.all((target == 0) | (target == 1)) else target


def hinge(y_true, y_pred):
    """Hinge loss ``mean(max(1 - t * y_pred, 0), axis=-1)``, ``t`` the labels in {-1, 1} (0/1 labels are
    mapped to -1/1 first, as Keras does when every label is 0 or 1).

    Args:
        y_true: ``(..., K)`` labels in {-1, 1} or {0, 1}.
        y_pred: ``(..., K)`` scores.

    Returns:
        ``(...)`` Tensor, one loss per sample.

    Example:
        >>> import numpy as np
        >>> hinge(np.array([[0, 1], [0, 0]]), np.array([[0.6, 0.4], [0.4, 0.6]], np.float32)).numpy().round(3)
        array([1.1, 1.5], dtype=float32)
    """
    y_pred = _pred(y_pred)
    target = _hinge_labels(_true(y_true, y_pred.dtype)).astype(y_pred.dtype)
    _same_shape("hinge", target, y_pred)
    return _ops.mean(_ops.relu(1.0 - y_pred * target), dim=-1)  # (...)


def squared_hinge(y_true, y_pred):
    """Squared hinge loss ``mean(max(1 - t * y_pred, 0)**2, axis=-1)`` (labels as in :func:`hinge`).

    Example:
        >>> import numpy as np
        >>> squared_hinge(np.array([[0, 1]]), np.array([[0.6, 0.4]], np.float32)).numpy().round(3)
        array([1.46], dtype=float32)
    """
    y_pred = _pred(y_pred)
    target = _hinge_labels(_true(y_true, y_pred.dtype)).astype(y_pred.dtype)
    _same_shape("squared_hinge", target, y_pred)
    return _ops.mean(_ops.relu(1.0 - y_pred * target) ** 2, dim=-1)  # (...)


def categorical_hinge(y_true, y_pred):
    """Categorical hinge loss ``max(max((1 - t) * y_pred) - sum(t * y_pred) + 1, 0)`` over the last axis.

    Args:
        y_true: ``(..., C)`` one-hot targets.
        y_pred: ``(..., C)`` scores.

    Returns:
        ``(...)`` Tensor, one loss per sample.

    Example:
        >>> import numpy as np
        >>> categorical_hinge(np.array([[0, 1]]), np.array([[0.6, 0.4]], np.float32)).numpy().round(3)
        array([1.2], dtype=float32)
    """
    y_pred = _pred(y_pred)
    target = _true(y_true, y_pred.dtype)
    _same_shape("categorical_hinge", target, y_pred)
    pos = _ops.sum(y_pred * target, dim=-1)  # (...)
    neg = _ops.amax(y_pred * (1.0 - target), dim=-1)  # (...)
    return _ops.relu(neg - pos + 1.0)  # (...)


class Hinge(LossFunctionWrapper):
    """:func:`hinge` with a reduction."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(hinge, reduction=reduction, name=name, dtype=dtype)


class SquaredHinge(LossFunctionWrapper):
    """:func:`squared_hinge` with a reduction."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, reduction=reduction, name=name, dtype=dtype)


class CategoricalHinge(LossFunctionWrapper):
    """:func:`categorical_hinge` with a reduction."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, reduction=reduction, name=name, dtype=dtype)
