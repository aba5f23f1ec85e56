"""Keras metrics: stateful running means of per-sample values (accuracy, mae, mse, ...).

A metric accumulates ``total = sum(values * w)`` and ``count = sum(w)`` over the batches
of an epoch (``update_state``) and reports ``total / count`` (``result``), as Keras's
``Mean`` / ``MeanMetricWrapper``. Metrics work on ndarrays (no gradients); an rnnkit
``Tensor`` is read through ``.data``.

"accuracy" resolves, as in Keras's ``compile``, to binary accuracy when ``y_pred`` has
one unit, to sparse categorical accuracy when ``y_true`` holds class indices (rank lower
than ``y_pred``'s, or a trailing axis of 1), otherwise to categorical accuracy
(see :func:`resolve`).

Legend: B batch, C classes, ``...`` any leading axes.

Example:
    >>> import numpy as np
    >>> from rnnkit.keras import metrics
    >>> m = metrics.CategoricalAccuracy()
    >>> m.update_state(np.array([[0, 0, 1], [0, 1, 0]]), np.array([[0.1, 0.9, 0.8], [0.05, 0.95, 0]]))
    >>> m.result()
    0.5
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from rnnkit._tensor import Tensor, array_of, no_grad
from rnnkit.keras import losses as losses_module
from rnnkit.keras._registry import Configurable, class_config
from rnnkit.keras._registry import snake_per_capital as _snake

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError", "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy", "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
    "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "get", "resolve", "serialize", "deserialize",
]


def _array(x: Any) -> np.ndarray:
    return array_of(x)


def _squeeze_or_expand(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras's rank fix for a trailing axis of 1 (``(B,)`` against ``(B, 1)``)."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0] if y_pred.ndim > 1 else y_true
        y_pred = y_pred[..., None] if y_pred.ndim == 1 else y_pred
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred[..., 0] if y_true.ndim > 1 else y_pred
        y_true = y_true[..., None] if y_true.ndim == 1 else y_true
    return y_true, y_pred


# -- per-sample metric functions (ndarray -> ndarray) ------------------------------------------
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


class Metric(Configurable):
    """Base class: ``update_state(y_true, y_pred, sample_weight=None)``, ``result()``, ``reset_state()``.

    Attributes:
        name: the key under which the value appears in logs and ``History``.
        _direction: ``"up"`` when larger is better (used by callbacks in ``mode="auto"``).
    """

    _direction = "down"

    def __init__(self, name: str | None = None, dtype: Any = None):
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype
        self.reset_state()

    def reset_state(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def update_state(self, *args, **kwargs) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def result(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, *args, **kwargs) -> float:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name} result={self.result():.4g}>"


class Mean(Metric):
    """Weighted running mean of values, as ``keras.metrics.Mean``.

    Equations (values reduced to one per sample by averaging the trailing axes)::

        total += sum_b v_b * w_b,   count += sum_b w_b,   result = total / count   (0 if count == 0)
    """

    def reset_state(self) -> None:
        self.total = 0.0  # sum of weighted per-sample values
        self.count = 0.0  # sum of weights (samples seen when unweighted)

    def update_state(self, values, sample_weight=None) -> None:
        values = np.asarray(_array(values), np.float64)
        if sample_weight is not None:
            weight = np.asarray(_array(sample_weight), np.float64)
            values, weight = _squeeze_or_expand(values, weight)
            if values.ndim > weight.ndim:  # average the axes the weights do not cover
                values = values.mean(axis=tuple(range(weight.ndim, values.ndim)))
            weight = np.broadcast_to(weight, values.shape)
            values = values * weight
            if weight.ndim > 1:
                weight = weight.mean(axis=tuple(range(1, weight.ndim)))
            if values.ndim > 1:
                values = values.mean(axis=tuple(range(1, values.ndim)))
            self.total += float(values.sum())
            self.count += float(weight.sum())
            return
        if values.ndim > 1:
            values = values.mean(axis=tuple(range(1, values.ndim)))
        self.total += float(values.sum())
        self.count += float(values.shape[0]) if values.ndim >= 1 else 1.0

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """A :class:`Mean` of ``fn(y_true, y_pred, **kwargs)`` per sample.

    ``fn`` may be a metric function (ndarrays in and out) or a Keras loss function (it is
    then evaluated without recording gradients). An output mask (``y_pred._keras_mask``)
    multiplies the sample weights.
    """

    def __init__(self, fn: Callable, name: str | None = None, dtype: Any = None, direction: str = "down", **kwargs):
        self._fn, self._fn_kwargs, self._direction = fn, kwargs, direction
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        mask = getattr(y_pred, "_keras_mask", None)
        with no_grad():
            values = _array(self._fn(y_true, y_pred, **self._fn_kwargs))
        if mask is not None:
            mask = np.asarray(mask, np.float64)
            if sample_weight is None:
                sample_weight = mask
            else:
                weight = np.asarray(_array(sample_weight), np.float64)
                weight = weight.reshape(weight.shape + (1,) * (mask.ndim - weight.ndim))
                sample_weight = weight * mask
        super().update_state(values, sample_weight)

    def get_config(self) -> dict:
        return {"name": self.name, **self._fn_kwargs}


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


class MeanSquaredError(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.mean_squared_error`."""

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(losses_module.mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.mean_absolute_error`."""

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(losses_module.mean_absolute_error, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose one-hot class is among the ``k`` top scores (``keras.metrics``'s)."""

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, direction="up", k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose integer class is among the ``k`` top scores (``keras.metrics``'s)."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, direction="up", k=k,
                         from_sorted_ids=from_sorted_ids)


# -- lookup ----------------------------------------------------------------------------------------
_CLASSES = {
    cls.__name__: cls
    for cls in (Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                MeanSquaredError, MeanAbsoluteError, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy)
}
_FUNCTIONS = {  # name -> (function, direction)
    "binary_accuracy": (binary_accuracy, "up"),
    "categorical_accuracy": (categorical_accuracy, "up"),
    "sparse_categorical_accuracy": (sparse_categorical_accuracy, "up"),
    "top_k_categorical_accuracy": (top_k_categorical_accuracy, "up"),
    "sparse_top_k_categorical_accuracy": (sparse_top_k_categorical_accuracy, "up"),
    "mean_squared_error": (losses_module.mean_squared_error, "down"),
    "mse": (losses_module.mean_squared_error, "down"),
    "MSE": (losses_module.mean_squared_error, "down"),
    "mean_absolute_error": (losses_module.mean_absolute_error, "down"),
    "mae": (losses_module.mean_absolute_error, "down"),
    "MAE": (losses_module.mean_absolute_error, "down"),
    "categorical_crossentropy": (losses_module.categorical_crossentropy, "down"),
    "sparse_categorical_crossentropy": (losses_module.sparse_categorical_crossentropy, "down"),
    "binary_crossentropy": (losses_module.binary_crossentropy, "down"),
    "huber": (losses_module.huber, "down"),
}
ACCURACY_NAMES = ("accuracy", "acc")  # resolved from the shapes by resolve()


def get(identifier: Any) -> Metric:
    """A fresh :class:`Metric` from a name, class, config dict, Metric object or function.

    "accuracy"/"acc" need the data to pick a variant: use :func:`resolve` for those.

    Raises:
        ValueError: for an unknown name, naming it and the known ones.
        TypeError: for anything else.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier in _FUNCTIONS:
            fn, direction = _FUNCTIONS[identifier]
            return MeanMetricWrapper(fn, name=identifier, direction=direction)
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        known = sorted(set(_FUNCTIONS) | set(_CLASSES) | set(ACCURACY_NAMES))
        raise ValueError(f"metrics: unknown metric {identifier!r}; expected one of {known}, a Metric or a callable")
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise TypeError(f"metrics: expected a name, a Metric or a callable, got {type(identifier).__name__} {identifier!r}")


def resolve(identifier: Any, y_true_shape: tuple[int, ...], y_pred_shape: tuple[int, ...]) -> Metric:
    """Keras's ``get_metric``: "accuracy"/"acc" become the binary, sparse or categorical variant.

    Args:
        identifier: anything :func:`get` accepts, or "accuracy"/"acc".
        y_true_shape: shape of the targets.
        y_pred_shape: shape of the model's output.

    Returns:
        A :class:`Metric` named as the identifier when it is a string (so ``"acc"`` logs as ``acc``).
    """
    if isinstance(identifier, str) and identifier.lower() in ACCURACY_NAMES:
        is_binary = y_pred_shape[-1] == 1
        is_sparse = len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1)
        cls = BinaryAccuracy if is_binary else SparseCategoricalAccuracy if is_sparse else CategoricalAccuracy
        return cls(name=identifier)
    metric = get(identifier)
    if isinstance(identifier, str):
        metric.name = identifier
    return metric


def serialize(metric: Any) -> Any:
    """A JSON-able description (names stay names)."""
    if isinstance(metric, str):
        return metric
    if isinstance(metric, Metric) and type(metric).__name__ in _CLASSES:
        return class_config(metric)
    raise ValueError(f"metrics: cannot serialize the custom metric {metric!r}")


def deserialize(config: Any) -> Any:
    """Inverse of :func:`serialize`."""
    if isinstance(config, str):
        return config
    if not isinstance(config, dict) or config.get("class_name") not in _CLASSES:
        raise ValueError(f"metrics: expected a name or a {{'class_name', 'config'}} dict, got {config!r}")
    return _CLASSES[config["class_name"]].from_config(dict(config.get("config") or {}))
