"""Keras metrics: stateful running means of per-sample values (accuracy, mae, mse, ...) and
metrics built on accumulated counts (AUC, Precision/Recall, the F scores, R2).

A mean metric accumulates ``total = sum(values * w)`` and ``count = sum(w)`` over the batches
of an epoch (``update_state``) and reports ``total / count`` (``result``), as Keras's
``Mean`` / ``MeanMetricWrapper``; the others keep Keras's variables (true/false positive
counts per threshold, per-column sums) as float64 arrays and compute ``result`` from them.
Metrics work on ndarrays (no gradients); an rnnkit
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

import warnings
from typing import Any, Callable

import numpy as np

from rnnkit._tensor import Tensor, array_of, no_grad
from rnnkit.keras import losses as losses_module
from rnnkit.keras._registry import Configurable, class_config
from rnnkit.keras._registry import snake_per_capital as _snake

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError", "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "KLDivergence",
    "RootMeanSquaredError", "R2Score", "FBetaScore", "F1Score", "AUC", "Precision", "Recall", "TruePositives",
    "FalsePositives", "TrueNegatives",
    "FalseNegatives", "confusion_counts",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
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


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.mean_absolute_percentage_error`."""

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(losses_module.mean_absolute_percentage_error, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.mean_squared_logarithmic_error`."""

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(losses_module.mean_squared_logarithmic_error, name=name, dtype=dtype)


class KLDivergence(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.kl_divergence`."""

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(losses_module.kl_divergence, name=name, dtype=dtype)


class RootMeanSquaredError(MeanMetricWrapper):
    """``sqrt`` of the running mean of the squared errors (``keras.metrics.RootMeanSquaredError``): every
    element counts once (weights broadcast over the trailing axes)."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(_squared_error, name=name, dtype=dtype)

    def result(self) -> float:
        return float(np.sqrt(super().result()))


class R2Score(Metric):
    """Coefficient of determination per output column, accumulated over batches (``keras.metrics.R2Score``).

    Equations (sums over samples, weighted by ``w``; one value per column ``c``)::

        total_c = sum w y_c**2 - (sum w y_c)**2 / sum w
        r2_c    = 1 - sum w (y_c - yhat_c)**2 / total_c          (0 where that is infinite)
        r2      = mean_c r2_c | sum_c total_c r2_c / sum_c total_c | the vector
        adjusted (num_regressors = p > 0, n = elements seen):  1 - (1 - r2)(n - 1) / (n - p - 1)

    Args:
        class_aggregation: "uniform_average", "variance_weighted_average" or None (one value per column).
        num_regressors: ``p`` of the adjusted R2 (0: plain R2).
        name: the logged name.
        dtype: accepted for Keras's signature.

    Example:
        >>> m = R2Score()
        >>> m.update_state(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [2.0], [4.0]]))
        >>> m.result()
        0.5
    """

    _direction = "up"

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError("R2Score: class_aggregation must be None, 'uniform_average' or "
                             f"'variance_weighted_average', got class_aggregation={class_aggregation!r}")
        if isinstance(num_regressors, bool) or not isinstance(num_regressors, (int, np.integer)) or num_regressors < 0:
            raise ValueError(f"R2Score: num_regressors must be an int >= 0, got num_regressors={num_regressors!r}")
        self.class_aggregation, self.num_regressors = class_aggregation, int(num_regressors)
        super().__init__(name=name, dtype=dtype)

    def reset_state(self) -> None:
        self.sum = self.squared_sum = self.total_mse = self.count = None  # (C,) each once a batch is seen
        self.num_samples = 0  # elements seen (Keras counts y_true's size, not its rows)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true = np.asarray(_array(y_true), np.float64)
        y_true, y_pred = _squeeze_or_expand(y_true, np.asarray(_array(y_pred), np.float64))
        if y_true.ndim != 2 or y_pred.ndim != 2:
            raise ValueError(f"R2Score: expected 2-D y_true and y_pred of shape (batch_size, output_dim), got "
                             f"y_true.shape={y_true.shape} and y_pred.shape={y_pred.shape}")
        weight = np.ones(1) if sample_weight is None else np.asarray(_array(sample_weight), np.float64)
        weight = np.broadcast_to(weight[:, None] if weight.ndim == 1 else weight, y_true.shape)  # (B, C)
        if self.sum is None:
            self.sum, self.squared_sum, self.total_mse, self.count = (np.zeros(y_pred.shape[-1]) for _ in range(4))
        self.sum = self.sum + (y_true * weight).sum(0)  # (C,)
        self.squared_sum = self.squared_sum + (y_true * y_true * weight).sum(0)  # (C,)
        self.total_mse = self.total_mse + ((y_true - y_pred) ** 2 * weight).sum(0)  # (C,)
        self.count = self.count + weight.sum(0)  # (C,)
        self.num_samples += y_true.size

    def result(self) -> float | list:
        if self.sum is None:
            return 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            total = self.squared_sum - self.sum * (self.sum / self.count)  # (C,)
            raw = 1 - self.total_mse / total  # (C,)
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation is None:
            score = raw
        elif self.class_aggregation == "uniform_average":
            score = raw.mean()
        else:
            score = (total * raw).sum() / total.sum()
        n, p = self.num_samples, self.num_regressors
        if p and p > n - 1:
            warnings.warn("R2Score: more independent predictors than datapoints in the adjusted R2 score; "
                          "falling back to the standard R2 score", stacklevel=2)
        elif p and p == n - 1:
            warnings.warn("R2Score: division by zero in the adjusted R2 score; falling back to the standard R2 score",
                          stacklevel=2)
        elif p:
            score = 1 - (1 - score) * (n - 1) / (n - p - 1)
        score = np.asarray(score, np.float32)
        return score.tolist() if score.ndim else float(score)

    def get_config(self) -> dict:
        return {"name": self.name, "class_aggregation": self.class_aggregation, "num_regressors": self.num_regressors}


class FBetaScore(Metric):
    """F-beta score per class, or averaged (``keras.metrics.FBetaScore``), from counts over batches.

    Predictions are 1 where ``y_pred > threshold`` or, with ``threshold=None``, at each row's maximum
    (when it is not ~0). With ``eps = 1e-7``::

        precision = tp / (tp + fp + eps),   recall = tp / (tp + fn + eps)
        f = (1 + beta**2) precision recall / (beta**2 precision + recall + eps)

    ``average``: None (one per class), "micro" (counts pooled over classes), "macro" (mean over classes),
    "weighted" (mean weighted by each class's positive labels).

    Args:
        average: None, "micro", "macro" or "weighted".
        beta: a float > 0, the weight of recall.
        threshold: a float in (0, 1], or None (the row's top score).
        name: the logged name.
        dtype: accepted for Keras's signature.

    Example:
        >>> m = F1Score(average="micro", threshold=0.5)
        >>> m.update_state(np.array([[1, 0], [0, 1]]), np.array([[0.9, 0.2], [0.6, 0.4]]))
        >>> round(m.result(), 4)
        0.5
    """

    _direction = "up"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        owner = type(self).__name__
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"{owner}: average must be None, 'micro', 'macro' or 'weighted', got average={average!r}")
        if not isinstance(beta, float) or not beta > 0:
            raise ValueError(f"{owner}: beta must be a Python float > 0, got beta={beta!r}")
        if threshold is not None and (not isinstance(threshold, float) or not 0 < threshold <= 1):
            raise ValueError(f"{owner}: threshold must be None or a Python float in (0, 1], "
                             f"got threshold={threshold!r}")
        self.average, self.beta, self.threshold = average, beta, threshold
        super().__init__(name=name, dtype=dtype)

    def reset_state(self) -> None:
        self.true_positives = self.false_positives = self.false_negatives = None  # (C,) or () once built
        self.intermediate_weights = None  # weighted positive labels per class

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = np.asarray(_array(y_true), np.float64), np.asarray(_array(y_pred), np.float32)
        if y_true.ndim != 2 or y_pred.ndim != 2:
            raise ValueError(f"{type(self).__name__}: expected 2-D y_true and y_pred of shape (batch_size, "
                             f"output_dim), got y_true.shape={y_true.shape} and y_pred.shape={y_pred.shape}")
        if self.threshold is None:
            predicted = (y_pred >= y_pred.max(-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)  # (B, C)
        else:
            predicted = y_pred > self.threshold  # (B, C)
        predicted = predicted.astype(np.float64)
        weight = 1.0 if sample_weight is None else np.asarray(_array(sample_weight), np.float64)[:, None]  # (B, 1)
        axis = None if self.average == "micro" else 0
        counts = [((predicted * y_true) * weight).sum(axis), ((predicted * (1 - y_true)) * weight).sum(axis),
                  (((1 - predicted) * y_true) * weight).sum(axis), (y_true * weight).sum(axis)]
        if self.true_positives is None:
            self.true_positives = self.false_positives = self.false_negatives = self.intermediate_weights = 0.0
        self.true_positives = self.true_positives + counts[0]
        self.false_positives = self.false_positives + counts[1]
        self.false_negatives = self.false_negatives + counts[2]
        self.intermediate_weights = self.intermediate_weights + counts[3]

    def result(self) -> float | list:
        if self.true_positives is None:
            return 0.0
        eps, tp = losses_module.EPSILON, np.asarray(self.true_positives)
        precision = tp / (tp + self.false_positives + eps)
        recall = tp / (tp + self.false_negatives + eps)
        score = (1 + self.beta**2) * precision * recall / (self.beta**2 * precision + recall + eps)
        if self.average == "weighted":
            score = (score * self.intermediate_weights / (np.sum(self.intermediate_weights) + eps)).sum()
        elif self.average is not None:
            score = np.mean(score)
        score = np.asarray(score, np.float32)
        return score.tolist() if score.ndim else float(score)

    def get_config(self) -> dict:
        return {"name": self.name, "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """:class:`FBetaScore` with ``beta = 1`` (``keras.metrics.F1Score``)."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict:
        return {"name": self.name, "average": self.average, "threshold": self.threshold}


def _squared_error(y_true, y_pred) -> np.ndarray:
    """``(y_true - y_pred)**2`` elementwise (``(B,)`` against ``(B, 1)`` aligned)."""
    y_true, y_pred = _squeeze_or_expand(_array(y_true), _array(y_pred))
    return np.square(y_true.astype(np.float32) - y_pred.astype(np.float32))


# -- confusion-matrix metrics ----------------------------------------------------------------------
def confusion_counts(y_true, y_pred, thresholds, sample_weight=None) -> tuple[np.ndarray, ...]:
    """Weighted true/false positive/negative counts at each threshold (a prediction is positive when
    ``y_pred > threshold``; a label is positive when non-zero), as Keras's ``update_confusion_matrix_variables``.

    Args:
        y_true: ``(...)`` labels (``(B,)`` against ``(B, 1)`` aligned).
        y_pred: ``(...)`` scores.
        thresholds: ``(T,)`` thresholds.
        sample_weight: weights broadcastable to ``y_pred`` (a trailing axis is added to ``(B,)`` weights).

    Returns:
        ``(tp, fp, tn, fn)``, each ``(T,)`` float64.

    Example:
        >>> [c.tolist() for c in confusion_counts(np.array([1, 0, 1]), np.array([0.8, 0.6, 0.3]), [0.5])]
        [[1.0], [1.0], [0.0], [1.0]]
    """
    y_true, y_pred = _squeeze_or_expand(_array(y_true), np.asarray(_array(y_pred), np.float32))
    if sample_weight is None:
        weight = np.ones(y_pred.shape, np.float64)
    else:
        weight = np.asarray(_array(sample_weight), np.float64)
        if weight.ndim and weight.ndim < y_pred.ndim:
            weight = weight.reshape(weight.shape + (1,) * (y_pred.ndim - weight.ndim))
        weight = np.broadcast_to(weight, y_pred.shape)
    label = np.broadcast_to(y_true.astype(bool), y_pred.shape).reshape(-1)  # (N,)
    weight, y_pred = weight.reshape(-1), y_pred.reshape(-1)  # (N,)
    pred_pos = y_pred[None, :] > np.asarray(thresholds, np.float32)[:, None]  # (T, N)
    tp = (pred_pos & label) @ weight  # (T,)
    fp = (pred_pos & ~label) @ weight  # (T,)
    tn = (~pred_pos & ~label) @ weight  # (T,)
    fn = (~pred_pos & label) @ weight  # (T,)
    return tp, fp, tn, fn


_NEG_INF = -1e10  # Keras's NEG_INF: the score of entries outside the top k, and their default threshold


def _thresholds(owner: str, thresholds: Any, default: float = 0.5) -> list[float]:
    """Keras's ``thresholds`` argument (None: ``default``) as a list of floats in [0, 1]."""
    if thresholds is None:
        return [default]
    values = [thresholds] if np.ndim(thresholds) == 0 else list(thresholds)
    for t in values:
        if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) or not 0 <= t <= 1:
            raise ValueError(f"{owner}: thresholds must be numbers in [0, 1], got thresholds={thresholds!r}")
    return [float(t) for t in values]


def _select(owner: str, y_true, y_pred, top_k: int | None, class_id: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Keras's ``top_k`` (scores outside each row's top k become -inf) and ``class_id`` (one column)."""
    y_true, y_pred = _array(y_true), np.asarray(_array(y_pred), np.float32)
    if top_k is not None:
        ranks = np.argsort(np.argsort(-y_pred, axis=-1, kind="stable"), axis=-1, kind="stable")  # (..., C)
        y_pred = np.where(ranks < top_k, y_pred, _NEG_INF).astype(np.float32)  # (..., C)
    if class_id is not None:
        if y_pred.ndim < 2 or not 0 <= class_id < y_pred.shape[-1]:
            raise ValueError(f"{owner}: class_id={class_id} needs y_pred of shape (..., C) with C > class_id, "
                             f"got {y_pred.shape}")
        y_true, y_pred = y_true[..., class_id], y_pred[..., class_id]
    return y_true, y_pred


class _ConfusionMetric(Metric):
    """Counts at ``thresholds`` accumulated over batches; ``result()`` in the subclass."""

    _direction = "up"

    def __init__(self, thresholds=None, name=None, dtype=None, *, default_threshold=0.5):
        self._given_thresholds = thresholds
        self.thresholds = _thresholds(type(self).__name__, thresholds, default_threshold)
        super().__init__(name=name, dtype=dtype)

    def reset_state(self) -> None:
        size = len(self.thresholds)
        self.true_positives, self.false_positives = np.zeros(size), np.zeros(size)  # (T,) weighted counts
        self.true_negatives, self.false_negatives = np.zeros(size), np.zeros(size)  # (T,) weighted counts

    def _select(self, y_true, y_pred):
        return y_true, y_pred

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = self._select(y_true, y_pred)
        tp, fp, tn, fn = confusion_counts(y_true, y_pred, self.thresholds, sample_weight)
        self.true_positives += tp
        self.false_positives += fp
        self.true_negatives += tn
        self.false_negatives += fn

    def _value(self, values: np.ndarray) -> float | list:
        """One threshold: a float; several: a list (as Keras returns a vector)."""
        values = np.asarray(values, np.float32)
        return float(values[0]) if np.ndim(self._given_thresholds) == 0 else values.tolist()

    def get_config(self) -> dict:
        return {"name": self.name, "thresholds": self._given_thresholds}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den == 0`` (Keras's ``divide_no_nan``)."""
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den != 0)


class TruePositives(_ConfusionMetric):
    """Weighted count of positive labels predicted positive (``y_pred > thresholds``)."""

    def result(self):
        return self._value(self.true_positives)


class FalsePositives(_ConfusionMetric):
    """Weighted count of negative labels predicted positive."""

    _direction = "down"

    def result(self):
        return self._value(self.false_positives)


class TrueNegatives(_ConfusionMetric):
    """Weighted count of negative labels predicted negative."""

    def result(self):
        return self._value(self.true_negatives)


class FalseNegatives(_ConfusionMetric):
    """Weighted count of positive labels predicted negative."""

    _direction = "down"

    def result(self):
        return self._value(self.false_negatives)


class Precision(_ConfusionMetric):
    """``tp / (tp + fp)`` at ``thresholds`` (default 0.5), as ``keras.metrics.Precision``.

    Args:
        thresholds: a float or a list of floats in [0, 1] (the result is then a list).
        top_k: only each row's ``top_k`` highest scores can be positive.
        class_id: the one class (last axis) the metric looks at.
        name: the logged name.
        dtype: accepted for Keras's signature (results are float32 values).

    Example:
        >>> m = Precision()
        >>> m.update_state(np.array([0, 1, 1, 1]), np.array([1, 0, 1, 1]))
        >>> round(m.result(), 4)
        0.6667
    """

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        for arg, value in (("top_k", top_k), ("class_id", class_id)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                      or value < (1 if arg == "top_k" else 0)):
                kind = "positive" if arg == "top_k" else "non-negative"
                raise ValueError(f"{type(self).__name__}: {arg} must be a {kind} int or None, got {arg}={value!r}")
        self.top_k, self.class_id = top_k, class_id
        super().__init__(thresholds=thresholds, name=name, dtype=dtype,
                         default_threshold=0.5 if top_k is None else _NEG_INF)

    def _select(self, y_true, y_pred):
        return _select(type(self).__name__, y_true, y_pred, self.top_k, self.class_id)

    def result(self):
        return self._value(_ratio(self.true_positives, self.true_positives + self.false_positives))

    def get_config(self):
        return {**super().get_config(), "top_k": self.top_k, "class_id": self.class_id}


class Recall(Precision):
    """``tp / (tp + fn)`` at ``thresholds`` (default 0.5), as ``keras.metrics.Recall`` (same arguments as
    :class:`Precision`)."""

    def result(self):
        return self._value(_ratio(self.true_positives, self.true_positives + self.false_negatives))


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from counts at ``num_thresholds`` thresholds
    (``keras.metrics.AUC``).

    Thresholds ``t_0 = -eps, t_i = i / (T - 1), t_{T-1} = 1 + eps`` (or ``-eps``, the given ``thresholds``,
    ``1 + eps``). With evenly spaced thresholds, scores are clipped to [0, 1] and dropped into buckets
    ``ceil(p (T - 1)) - 1`` (Keras's fast path: ``p`` counts as positive at ``t_i`` iff ``p (T - 1) > i``);
    otherwise ``p > t_i``. With ``x, y`` = (fpr, recall) for ROC and (recall, precision) for PR::

        interpolation:  AUC = sum_i (x_i - x_{i+1}) (y_i + y_{i+1}) / 2
        minoring:       AUC = sum_i (x_i - x_{i+1}) min(y_i, y_{i+1})
        majoring:       AUC = sum_i (x_i - x_{i+1}) max(y_i, y_{i+1})

    PR with interpolation uses Davis & Goadrich's interpolation of precision between thresholds (TP and
    TP + FP linear in each interval):
    ``sum_i slope_i (dTP_i + intercept_i log(P_i / P_{i+1})) / (TP_{i+1} + FN_{i+1})``.
    ``multi_label``: one AUC per column of ``(B, L)`` data, averaged (weighted by ``label_weights``);
    otherwise every entry is one sample (``label_weights`` then weight the columns' entries).

    Args:
        num_thresholds: T > 1 (ignored when ``thresholds`` is given, as in Keras).
        curve: "ROC" or "PR".
        summation_method: "interpolation", "minoring" or "majoring".
        name: the logged name.
        dtype: accepted for Keras's signature.
        thresholds: inner thresholds in [0, 1] instead of evenly spaced ones.
        multi_label: one curve per label column.
        num_labels: the number of label columns (optional, with ``multi_label``).
        label_weights: ``(L,)`` non-negative weights of the label columns.
        from_logits: apply a sigmoid to ``y_pred`` first.

    Example:
        >>> m = AUC(num_thresholds=3)
        >>> m.update_state(np.array([0, 0, 1, 1]), np.array([0, 0.5, 0.3, 0.9]))
        >>> m.result()
        0.75
    """

    _direction = "up"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        owner = type(self).__name__
        curve_name = str(curve).upper()
        if curve_name not in ("ROC", "PR"):
            raise ValueError(f"{owner}: curve must be 'ROC' or 'PR' ('PRGAIN' is not supported here), got {curve!r}")
        method = str(summation_method).lower()
        if method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f"{owner}: summation_method must be 'interpolation', 'minoring' or 'majoring', "
                             f"got {summation_method!r}")
        if thresholds is not None:
            inner = sorted(_thresholds(owner, thresholds))
            self.num_thresholds = len(inner) + 2
            self._evenly = len(inner) + 2 >= 3 and np.allclose(
                [0.0, *inner, 1.0], np.arange(len(inner) + 2, dtype=np.float32) / (len(inner) + 1),
                atol=losses_module.EPSILON)
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)) \
                    or num_thresholds <= 1:
                raise ValueError(f"{owner}: num_thresholds must be an integer > 1, "
                                 f"got num_thresholds={num_thresholds!r}")
            self.num_thresholds, self._evenly = int(num_thresholds), True
            inner = [(i + 1) * 1.0 / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
        self._given_thresholds = None if thresholds is None else inner
        self.thresholds = [0.0 - losses_module.EPSILON] + inner + [1.0 + losses_module.EPSILON]
        if num_labels is not None and not multi_label:
            raise ValueError(f"{owner}: num_labels is needed only when multi_label is True, "
                             f"got num_labels={num_labels}")
        if label_weights is not None:
            label_weights = np.asarray(label_weights, np.float32)
            if label_weights.ndim != 1 or (label_weights < 0).any():
                raise ValueError(f"{owner}: label_weights must be a 1-D list of non-negative weights, "
                                 f"got {label_weights.tolist()!r}")
        self.curve, self.summation_method, self.from_logits = curve_name, method, bool(from_logits)
        self.multi_label, self.num_labels, self.label_weights = bool(multi_label), num_labels, label_weights
        super().__init__(name=name or "auc", dtype=dtype)

    def reset_state(self) -> None:
        size = (self.num_thresholds, self.num_labels or 1) if self.multi_label else (self.num_thresholds,)
        self.true_positives, self.false_positives = np.zeros(size), np.zeros(size)  # (T, L) or (T,) weighted counts
        self.true_negatives, self.false_negatives = np.zeros(size), np.zeros(size)  # (T, L) or (T,) weighted counts

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = _squeeze_or_expand(_array(y_true), np.asarray(_array(y_pred), np.float32))
        if self.from_logits:
            y_pred = (1 / (1 + np.exp(-y_pred))).astype(np.float32)
        weight = np.ones(y_pred.shape) if sample_weight is None else np.asarray(_array(sample_weight), np.float64)
        if weight.ndim and weight.ndim < y_pred.ndim:
            weight = weight.reshape(weight.shape + (1,) * (y_pred.ndim - weight.ndim))
        weight = np.broadcast_to(weight, y_pred.shape)
        label = np.broadcast_to(y_true.astype(bool), y_pred.shape)
        if self.multi_label:
            if y_pred.ndim != 2:
                raise ValueError(f"{type(self).__name__}: y_pred must have rank 2 when multi_label=True, "
                                 f"got shape {y_pred.shape}")
            columns = y_pred.shape[1]
            if self.true_positives.shape[1] != columns:  # the first batch sets the number of labels
                if self.true_positives.any() or self.false_positives.any() or self.num_labels not in (None, columns):
                    raise ValueError(f"{type(self).__name__}: y_pred has {columns} labels, the metric was built "
                                     f"for {self.true_positives.shape[1]}")
                self.true_positives, self.false_positives, self.true_negatives, self.false_negatives = (
                    np.zeros((self.num_thresholds, columns)) for _ in range(4))
        else:
            if self.label_weights is not None:
                weight = weight * np.broadcast_to(self.label_weights, y_pred.shape)
            label, weight, y_pred = label.reshape(-1, 1), weight.reshape(-1, 1), y_pred.reshape(-1, 1)  # (N, 1)
        pos, neg = weight * label, weight * ~label  # (N, L)
        if self._evenly:
            size = self.num_thresholds
            scaled = np.clip(y_pred, 0, 1) * np.float32(size - 1)  # (N, L)
            bucket = np.maximum(np.ceil(scaled) - 1, 0).astype(np.int64)  # (N, L)
            tp = np.stack([np.bincount(bucket[:, j], pos[:, j], size) for j in range(bucket.shape[1])], 1)
            fp = np.stack([np.bincount(bucket[:, j], neg[:, j], size) for j in range(bucket.shape[1])], 1)
            tp, fp = np.cumsum(tp[::-1], 0)[::-1], np.cumsum(fp[::-1], 0)[::-1]  # (T, L): bucket >= i
        else:
            pred_pos = y_pred[None] > np.asarray(self.thresholds, np.float32)[:, None, None]  # (T, N, L)
            tp, fp = (pred_pos * pos).sum(1), (pred_pos * neg).sum(1)  # (T, L)
        tn, fn = neg.sum(0) - fp, pos.sum(0) - tp  # (T, L)
        if not self.multi_label:
            tp, fp, tn, fn = tp[:, 0], fp[:, 0], tn[:, 0], fn[:, 0]  # (T,)
        self.true_positives += tp
        self.false_positives += fp
        self.true_negatives += tn
        self.false_negatives += fn

    def _by_label(self, terms: np.ndarray) -> float:
        """Sum over thresholds, then the (label-weighted) mean over labels."""
        by_label = terms.sum(0)  # (L,) or ()
        if not self.multi_label:
            return float(np.float32(by_label))
        if self.label_weights is None:
            return float(np.float32(by_label.mean()))
        return float(np.float32(_ratio(np.sum(by_label * self.label_weights), np.sum(self.label_weights))))

    def _interpolate_pr(self) -> float:
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]  # (T-1, L)
        p = tp + fp  # (T, L)
        dp = p[:-1] - p[1:]  # (T-1, L)
        slope = _ratio(dtp, np.maximum(dp, 0))  # (T-1, L)
        intercept = tp[1:] - slope * p[1:]  # (T-1, L)
        both = (p[:-1] > 0) & (p[1:] > 0)
        p_ratio = np.where(both, _ratio(p[:-1], np.maximum(p[1:], 0)), 1.0)  # (T-1, L)
        return self._by_label(_ratio(slope * (dtp + intercept * np.log(p_ratio)), np.maximum(tp[1:] + fn[1:], 0)))

    def result(self) -> float:
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr()
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        recall = _ratio(tp, tp + fn)  # (T, L)
        x, y = (_ratio(fp, fp + tn), recall) if self.curve == "ROC" else (recall, _ratio(tp, tp + fp))
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2  # (T-1, L)
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._by_label((x[:-1] - x[1:]) * heights)

    def get_config(self) -> dict:
        config = {"name": self.name, "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                  "from_logits": self.from_logits}
        if self._given_thresholds is not None:
            config["thresholds"] = self._given_thresholds
        return config


# -- lookup ----------------------------------------------------------------------------------------
_CLASSES = {
    cls.__name__: cls
    for cls in (Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                MeanSquaredError, MeanAbsoluteError, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
                MeanAbsolutePercentageError, MeanSquaredLogarithmicError, KLDivergence, RootMeanSquaredError,
                R2Score, FBetaScore, F1Score, AUC, Precision, Recall, TruePositives, FalsePositives, TrueNegatives,
                FalseNegatives)
}
_CLASS_ALIASES = {  # Keras's snake-case names of metric classes
    "auc": AUC, "precision": Precision, "recall": Recall, "true_positives": TruePositives,
    "false_positives": FalsePositives, "true_negatives": TrueNegatives, "false_negatives": FalseNegatives,
    "root_mean_squared_error": RootMeanSquaredError, "r2_score": R2Score,
    "f1_score": F1Score, "fbeta_score": FBetaScore,
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
    "mean_absolute_percentage_error": (losses_module.mean_absolute_percentage_error, "down"),
    "mape": (losses_module.mean_absolute_percentage_error, "down"),
    "MAPE": (losses_module.mean_absolute_percentage_error, "down"),
    "mean_squared_logarithmic_error": (losses_module.mean_squared_logarithmic_error, "down"),
    "msle": (losses_module.mean_squared_logarithmic_error, "down"),
    "MSLE": (losses_module.mean_squared_logarithmic_error, "down"),
    "kl_divergence": (losses_module.kl_divergence, "down"),
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
        if identifier in _CLASS_ALIASES:
            return _CLASS_ALIASES[identifier]()
        known = sorted(set(_FUNCTIONS) | set(_CLASSES) | set(_CLASS_ALIASES) | set(ACCURACY_NAMES))
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
