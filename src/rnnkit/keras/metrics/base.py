"""The metric base classes: :class:`Metric` (``update_state``/``result``/``reset_state``), the weighted
running :class:`Mean` and :class:`Sum` of per-sample values, and :class:`MeanMetricWrapper`, the mean of a
per-sample function (most of Keras's metrics are one).

A mean metric accumulates ``total = sum(values * w)`` and ``count = sum(w)`` over the batches
of an epoch (``update_state``) and reports ``total / count`` (``result``), as Keras's
``Mean`` / ``MeanMetricWrapper``. Metrics work on ndarrays (no gradients); an rnnkit
``Tensor`` is read through ``.data``.

Example:
    >>> import numpy as np
    >>> m = Mean()
    >>> m.update_state(np.array([1.0, 2.0, 6.0]), sample_weight=np.array([1.0, 1.0, 0.5]))
    >>> m.result()
    2.4
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from rnnkit._tensor import array_of, no_grad
from rnnkit.keras._registry import Configurable
from rnnkit.keras._registry import snake_per_capital as _snake

__all__ = ["Metric", "Mean", "Sum", "MeanMetricWrapper", "samplewise"]


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


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den == 0`` (Keras's ``divide_no_nan``)."""
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den != 0)


def samplewise(values, sample_weight, reduce: Callable) -> tuple[np.ndarray, np.ndarray | None]:
    """Keras's ``reduce_to_samplewise_values``: one weighted value per sample.

    The axes of ``values`` beyond the weights' rank are reduced with ``reduce`` (``np.mean`` or
    ``np.sum``); the values are multiplied by the weights (broadcast after Keras's rank fix); the
    trailing axes of both are then reduced with ``reduce`` too.

    Returns:
        ``(values, weight)``: ``(B,)`` (or scalar) float64 values, and ``(B,)`` weights or None.
    """
    values, weight = np.asarray(_array(values), np.float64), None
    if sample_weight is not None:
        weight = np.asarray(_array(sample_weight), np.float64)
        values, weight = _squeeze_or_expand(values, weight)
        if values.ndim > weight.ndim:  # reduce the axes the weights do not cover
            values = reduce(values, axis=tuple(range(weight.ndim, values.ndim)))
        weight = np.broadcast_to(weight, values.shape)
        values = values * weight
        if weight.ndim > 1:
            weight = reduce(weight, axis=tuple(range(1, weight.ndim)))
    if values.ndim > 1:
        values = reduce(values, axis=tuple(range(1, values.ndim)))
    return values, weight


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
        values, weight = samplewise(values, sample_weight, np.mean)  # (B,), (B,) or None
        self.total += float(values.sum())
        if weight is not None:
            self.count += float(weight.sum())
        else:
            self.count += float(values.shape[0]) if values.ndim >= 1 else 1.0

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


class Sum(Metric):
    """Weighted running sum of values, as ``keras.metrics.Sum``: ``total += sum_b v_b * w_b`` (values
    summed over their trailing axes).

    Example:
        >>> m = Sum()
        >>> m.update_state(np.array([[1.0, 2.0], [3.0, 4.0]]), sample_weight=np.array([1.0, 0.5]))
        >>> m.result()
        6.5
    """

    def reset_state(self) -> None:
        self.total = 0.0  # sum of weighted values

    def update_state(self, values, sample_weight=None) -> None:
        values, _ = samplewise(values, sample_weight, np.sum)  # (B,)
        self.total += float(values.sum())

    def result(self) -> float:
        return float(np.float32(self.total))


class MeanMetricWrapper(Mean):
    """A :class:`Mean` of ``fn(y_true, y_pred, **kwargs)`` per sample.

    ``fn`` may be a metric function (ndarrays in and out) or a Keras loss function (it is
    then evaluated without recording gradients). An output mask (``y_pred._keras_mask``)
    multiplies the sample weights; so does the mask a loss puts on its values (``ignore_class``)
    when weights are given (unweighted, those values count as 0, as in Keras).
    """

    def __init__(self, fn: Callable, name: str | None = None, dtype: Any = None, direction: str = "down", **kwargs):
        self._fn, self._fn_kwargs, self._direction = fn, kwargs, direction
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        mask = getattr(y_pred, "_keras_mask", None)
        with no_grad():
            result = self._fn(y_true, y_pred, **self._fn_kwargs)
        values, out_mask = _array(result), getattr(result, "_keras_mask", None)
        if mask is not None:
            mask = np.asarray(mask, np.float64)
            if sample_weight is None:
                sample_weight = mask
            else:
                weight = np.asarray(_array(sample_weight), np.float64)
                weight = weight.reshape(weight.shape + (1,) * (mask.ndim - weight.ndim))
                sample_weight = weight * mask
        if out_mask is not None and sample_weight is not None:  # Keras masks only the weights (e.g. ignore_class)
            weight = np.asarray(_array(sample_weight), np.float64)
            out_mask = np.asarray(out_mask, np.float64)
            weight, out_mask = _squeeze_or_expand(weight, out_mask)
            sample_weight = weight.reshape(weight.shape + (1,) * (out_mask.ndim - weight.ndim)) * out_mask
        super().update_state(values, sample_weight)

    def get_config(self) -> dict:
        return {"name": self.name, **self._fn_kwargs}

