"""Keras's regression metrics: running means of the regression losses, RMSE, log-cosh, cosine
similarity, the per-sample correlations, and R2 from sums accumulated over batches.

Example:
    >>> import numpy as np
    >>> m = RootMeanSquaredError()
    >>> m.update_state(np.array([[0.0, 1.0]]), np.array([[3.0, 5.0]]))
    >>> round(m.result(), 4)
    3.5355
"""

from __future__ import annotations

import warnings

import numpy as np

from rnnkit.keras import losses as losses_module
from rnnkit.keras.metrics.base import Metric, MeanMetricWrapper, _array, _squeeze_or_expand

__all__ = [
    "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
    "RootMeanSquaredError", "LogCoshError", "CosineSimilarity", "PearsonCorrelation", "ConcordanceCorrelation",
    "R2Score", "cosine_similarity", "pearson_correlation", "concordance_correlation",
]


class MeanSquaredError(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.mean_squared_error`."""

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(losses_module.mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.mean_absolute_error`."""

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(losses_module.mean_absolute_error, name=name, dtype=dtype)



class MeanAbsolutePercentageError(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.mean_absolute_percentage_error`."""

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(losses_module.mean_absolute_percentage_error, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.mean_squared_logarithmic_error`."""

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(losses_module.mean_squared_logarithmic_error, name=name, dtype=dtype)



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



def _squared_error(y_true, y_pred) -> np.ndarray:
    """``(y_true - y_pred)**2`` elementwise (``(B,)`` against ``(B, 1)`` aligned)."""
    y_true, y_pred = _squeeze_or_expand(_array(y_true), _array(y_pred))
    return np.square(y_true.astype(np.float32) - y_pred.astype(np.float32))



def _float_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """``y_pred`` as a float ndarray (float32 unless already floating) and ``y_true`` in its dtype, rank-fixed."""
    y_pred = _array(y_pred)
    y_pred = y_pred if y_pred.dtype.kind == "f" else y_pred.astype(np.float32)
    return _squeeze_or_expand(_array(y_true).astype(y_pred.dtype), y_pred)


def cosine_similarity(y_true, y_pred, axis: int = -1) -> np.ndarray:
    """Cosine similarity ``sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)`` per sample: minus
    :func:`rnnkit.keras.losses.cosine_similarity`.

    Example:
        >>> cosine_similarity(np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 1.0]])).round(4)
        array([0., 1.])
    """
    return -losses_module.cosine_similarity(y_true, y_pred, axis=axis).numpy()


def pearson_correlation(y_true, y_pred, axis: int = -1) -> np.ndarray:
    """Pearson's correlation of ``y_true`` and ``y_pred`` along ``axis``, one per sample (Keras's).

    Equations (means and population standard deviations along ``axis``)::

        r = mean(((y - mean(y)) / std(y)) * ((yhat - mean(yhat)) / std(yhat)))

    Example:
        >>> pearson_correlation(np.array([[1.0, 2.0, 3.0]]), np.array([[2.0, 4.0, 7.0]])).round(4)
        array([0.9934])
    """
    y_true, y_pred = _float_pair(y_true, y_pred)
    t = y_true - y_true.mean(axis=axis, keepdims=True)  # (..., K)
    p = y_pred - y_pred.mean(axis=axis, keepdims=True)  # (..., K)
    with np.errstate(divide="ignore", invalid="ignore"):
        t, p = t / t.std(axis=axis, keepdims=True), p / p.std(axis=axis, keepdims=True)
    return (t * p).mean(axis=axis)  # (...)


def concordance_correlation(y_true, y_pred, axis: int = -1) -> np.ndarray:
    """Lin's concordance correlation along ``axis``, one per sample, in Keras's form.

    Equations (``m``, ``v`` mean and population variance along ``axis``, ``eps = 1e-7``)::

        ccc = mean(2 (y - m(yhat)) (yhat - m(yhat)) / (v(y) + v(yhat) + (m(y) - m(yhat))**2 + eps))

    Example:
        >>> concordance_correlation(np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 2.0, 3.0]])).round(4)
        array([1.])
    """
    y_true, y_pred = _float_pair(y_true, y_pred)
    true_mean = y_true.mean(axis=axis, keepdims=True)  # (..., 1)
    pred_mean = y_pred.mean(axis=axis, keepdims=True)  # (..., 1)
    covar = (y_true - pred_mean) * (y_pred - pred_mean)  # (..., K)
    norm = y_true.var(axis=axis, keepdims=True) + y_pred.var(axis=axis, keepdims=True) \
        + (true_mean - pred_mean) ** 2  # (..., 1)
    return (2 * covar / (norm + losses_module.EPSILON)).mean(axis=axis)  # (...)


class LogCoshError(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.log_cosh` (``keras.metrics.LogCoshError``; Keras names it
    "logcosh")."""

    def __init__(self, name="logcosh", dtype=None):
        super().__init__(losses_module.log_cosh, name=name, dtype=dtype)


class CosineSimilarity(MeanMetricWrapper):
    """Running mean of :func:`cosine_similarity` (``keras.metrics.CosineSimilarity``; larger is better)."""

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, name=name, dtype=dtype, direction="up", axis=axis)

    def get_config(self) -> dict:
        return {"name": self.name}


class PearsonCorrelation(MeanMetricWrapper):
    """Running mean of the per-sample :func:`pearson_correlation` (``keras.metrics.PearsonCorrelation``)."""

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name=name, dtype=dtype, direction="up", axis=axis)


class ConcordanceCorrelation(MeanMetricWrapper):
    """Running mean of the per-sample :func:`concordance_correlation` (``keras.metrics.ConcordanceCorrelation``)."""

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name=name, dtype=dtype, direction="up", axis=axis)
