"""Keras's accuracy metrics: the per-sample functions (ndarray in, ndarray out) and their running means.

"accuracy" resolves, as in Keras's ``compile``, to binary accuracy when ``y_pred`` has
one unit, to sparse categorical accuracy when ``y_true`` holds class indices (rank lower
than ``y_pred``'s, or a trailing axis of 1), otherwise to categorical accuracy
(see :func:`rnnkit.keras.metrics.resolve`).

Legend: B batch, C classes, ``...`` any leading axes.

Example:
    >>> import numpy as np
    >>> m = CategoricalAccuracy()
    >>> m.update_state(np.array([[0, 0, 1], [0, 1, 0]]), np.array([[0.1, 0.9, 0.8], [0.05, 0.95, 0]]))
    >>> m.result()
    0.5
"""

from __future__ import annotations

import numpy as np

from rnnkit.keras.metrics.base import MeanMetricWrapper, _array, _squeeze_or_expand

__all__ = [
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy", "accuracy", "binary_accuracy", "categorical_accuracy",
    "sparse_categorical_accuracy", "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
]


def accuracy(y_true, y_pred) -> np.ndarray:
    """``1.0`` where ``y_true == y_pred`` exactly, else ``0.0`` (Keras's ``Accuracy``)."""
    y_true, y_pred = _squeeze_or_expand(_array(y_true), _array(y_pred))
    return (y_true == y_pred).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> np.ndarray:
    """``mean(y_true == (y_pred > threshold), axis=-1)``.

    Args:
        y_true: ``(..., K)`` 0/1 targets.
        y_pred: ``(..., K)`` probabilities.
        threshold: decision threshold.

    Returns:
        ``(..., K)`` float32 matches (averaged per sample by the metric).

    Example:
        >>> binary_accuracy(np.array([[1], [0]]), np.array([[0.98], [0.6]]))
        array([[1.],
               [0.]], dtype=float32)
    """
    y_true, y_pred = _squeeze_or_expand(_array(y_true), _array(y_pred))
    return (y_true == (y_pred > threshold).astype(y_true.dtype)).astype(np.float32)


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """``argmax(y_true, -1) == argmax(y_pred, -1)`` per sample.

    Args:
        y_true: ``(..., C)`` one-hot targets.
        y_pred: ``(..., C)`` scores.

    Returns:
        ``(...)`` float32 matches.

    Example:
        >>> categorical_accuracy(np.array([[0, 1], [1, 0]]), np.array([[0.3, 0.7], [0.2, 0.8]]))
        array([1., 0.], dtype=float32)
    """
    y_true, y_pred = _array(y_true), _array(y_pred)
    if y_true.shape[-1:] != y_pred.shape[-1:]:
        raise ValueError(
            f"categorical_accuracy: y_true must be one-hot with y_pred's {y_pred.shape[-1]} classes, "
            f"got y_true.shape={y_true.shape} and y_pred.shape={y_pred.shape}"
        )
    return (np.argmax(y_true, -1) == np.argmax(y_pred, -1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """``y_true == argmax(y_pred, -1)`` per sample (``y_true`` of shape ``(...)`` or ``(..., 1)``).

    Example:
        >>> sparse_categorical_accuracy(np.array([2, 1]), np.array([[0.1, 0.6, 0.3], [0.05, 0.95, 0]]))
        array([0., 1.], dtype=float32)
    """
    y_true, y_pred = _array(y_true), _array(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return (y_true == np.argmax(y_pred, -1)).astype(np.float32)


# -- stateful metrics ----------------------------------------------------------------------------
def _in_top_k(labels: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """1.0 where the label's score is at least the k-th largest score of its row (ties count, as Keras)."""
    scores = y_pred.reshape(-1, y_pred.shape[-1])  # (N, C)
    labels = labels.reshape(-1).astype(np.int64)  # (N,)
    kth = np.sort(scores, axis=-1)[:, max(scores.shape[-1] - k, 0)]  # (N,)
    return (scores[np.arange(len(labels)), labels] >= kth).astype(np.float32).reshape(y_pred.shape[:-1])


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """Whether the one-hot target class is among the ``k`` highest scores, per sample."""
    y_pred = _array(y_pred)
    return _in_top_k(np.argmax(_array(y_true), axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5, from_sorted_ids: bool = False) -> np.ndarray:
    """Whether the integer target is among the ``k`` highest scores (or, ``from_sorted_ids``, among the
    first ``k`` ids of ``y_pred``), per sample; ``y_true`` of shape ``(...)`` or ``(..., 1)``."""
    y_true, y_pred = _array(y_true), _array(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if from_sorted_ids:
        return np.any(y_pred[..., :k] == y_true[..., None], axis=-1).astype(np.float32)
    return _in_top_k(y_true, y_pred, k)


class Accuracy(MeanMetricWrapper):
    """Exact-match accuracy (``keras.metrics.Accuracy``)."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype, direction="up")


class BinaryAccuracy(MeanMetricWrapper):
    """Fraction of ``(y_pred > threshold) == y_true`` (``keras.metrics.BinaryAccuracy``)."""

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, direction="up", threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """Fraction of ``argmax(y_pred) == argmax(y_true)`` (``keras.metrics.CategoricalAccuracy``)."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype, direction="up")


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of ``argmax(y_pred) == y_true`` (``keras.metrics.SparseCategoricalAccuracy``)."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype, direction="up")



class TopKCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose one-hot class is among the ``k`` top scores (``keras.metrics``'s)."""

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, direction="up", k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose integer class is among the ``k`` top scores (``keras.metrics``'s)."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, direction="up", k=k,
                         from_sorted_ids=from_sorted_ids)

