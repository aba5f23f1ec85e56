"""Keras's regression losses: squared, absolute, percentage, squared-log and Huber errors, log-cosh
and the (negative) cosine similarity, per sample and as ``Loss`` objects.

The squared and absolute errors are PyTorch's fused ``mse_loss`` / ``l1_loss`` of
:mod:`rnnkit.nn.functional` (as Keras's torch backend) before Keras's mean over the last axis;
the others compose :mod:`rnnkit._ops`.

Example:
    >>> import numpy as np
    >>> round(MeanSquaredError()(np.array([[1.0, 2.0]]), np.array([[1.0, 4.0]], np.float32)).item(), 4)
    2.0
"""

from __future__ import annotations

import numpy as np

from rnnkit import _ops
from rnnkit._tensor import Tensor
from rnnkit.keras import activations
from rnnkit.keras.losses.base import EPSILON, LossFunctionWrapper, _matched
from rnnkit.nn import functional as F

__all__ = [
    "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "Huber",
    "LogCosh", "CosineSimilarity", "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "huber", "log_cosh", "cosine_similarity",
]


def mean_squared_error(y_true, y_pred):
    """``mean((y_true - y_pred)**2, axis=-1)``: one loss per sample.

    Args:
        y_true: ``(..., K)`` targets (``(B,)`` against ``(B, 1)`` is accepted, as in Keras).
        y_pred: ``(..., K)`` predictions.

    Returns:
        ``(...)`` Tensor.

    Example:
        >>> import numpy as np
        >>> mean_squared_error(np.array([[1.0, 2.0]]), np.array([[1.0, 4.0]], np.float32)).numpy()
        array([2.], dtype=float32)
    """
    target, y_pred = _matched("mean_squared_error", y_true, y_pred)
    return _ops.mean(F.mse_loss(y_pred, target, reduction="none"), dim=-1)  # (...)


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_true - y_pred|, axis=-1)``: one loss per sample.

    Args:
        y_true: ``(..., K)`` targets.
        y_pred: ``(..., K)`` predictions.

    Returns:
        ``(...)`` Tensor.

    Example:
        >>> import numpy as np
        >>> mean_absolute_error(np.array([[1.0, 2.0]]), np.array([[1.0, 4.0]], np.float32)).numpy()
        array([1.], dtype=float32)
    """
    target, y_pred = _matched("mean_absolute_error", y_true, y_pred)
    return _ops.mean(F.l1_loss(y_pred, target, reduction="none"), dim=-1)  # (...)


def huber(y_true, y_pred, delta: float = 1.0):
    """Huber loss: quadratic for small errors, linear beyond ``delta``; averaged over the last axis.

    Equations (``e = y_pred - y_true``)::

        h    = 0.5 * e**2                       if |e| <= delta
        h    = delta * |e| - 0.5 * delta**2     otherwise
        loss = mean(h, axis=-1)

    Args:
        y_true: ``(..., K)`` targets.
        y_pred: ``(..., K)`` predictions.
        delta: where the loss turns from quadratic to linear.

    Returns:
        ``(...)`` Tensor.

    Example:
        >>> import numpy as np
        >>> huber(np.array([[0, 1], [0, 0]]), np.array([[0.6, 0.4], [0.4, 0.6]], np.float32)).numpy().round(3)
        array([0.18, 0.13], dtype=float32)
    """
    target, y_pred = _matched("huber", y_true, y_pred)
    error = y_pred - target  # (..., K)
    abs_error = _ops.abs(error)  # (..., K)
    quadratic = 0.5 * error**2  # (..., K)
    linear = delta * abs_error - 0.5 * delta**2  # (..., K)
    return _ops.mean(_ops.where(abs_error.data <= delta, quadratic, linear), dim=-1)  # (...)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|y_true - y_pred| / max(|y_true|, EPSILON), axis=-1)``: one loss per sample.

    Args:
        y_true: ``(..., K)`` targets.
        y_pred: ``(..., K)`` predictions.

    Returns:
        ``(...)`` Tensor.

    Example:
        >>> import numpy as np
        >>> mean_absolute_percentage_error(np.array([[1.0, 2.0]]), np.array([[1.5, 2.0]], np.float32)).numpy()
        array([25.], dtype=float32)
    """
    target, y_pred = _matched("mean_absolute_percentage_error", y_true, y_pred)
    scale = np.maximum(np.abs(target), np.asarray(EPSILON, target.dtype))  # (..., K)
    return 100.0 * _ops.mean(_ops.abs((y_pred - target) / scale), dim=-1)  # (...)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(max(y_pred, EPSILON) + 1) - log(max(y_true, EPSILON) + 1))**2, axis=-1)``.

    Args:
        y_true: ``(..., K)`` targets.
        y_pred: ``(..., K)`` predictions.

    Returns:
        ``(...)`` Tensor, one loss per sample.

    Example:
        >>> import numpy as np
        >>> mean_squared_logarithmic_error(np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]], np.float32)).numpy()
        array([0.], dtype=float32)
    """
    target, y_pred = _matched("mean_squared_logarithmic_error", y_true, y_pred)
    eps = np.asarray(EPSILON, target.dtype)
    first_log = _ops.log(_ops.clamp_min(y_pred, EPSILON) + 1.0)  # (..., K)
    second_log = np.log(np.maximum(target, eps) + 1)  # (..., K)
    return _ops.mean((first_log - second_log) ** 2, dim=-1)  # (...)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed as ``e + softplus(-2 e) - log 2``
    (Keras's overflow-free form).

    Example:
        >>> import numpy as np
        >>> log_cosh(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]], np.float32)).numpy().round(4)
        array([0.2169], dtype=float32)
    """
    target, y_pred = _matched("log_cosh", y_true, y_pred)
    error = y_pred - target  # (..., K)
    return _ops.mean(error + activations.softplus(error * -2.0) - float(np.log(2.0)), dim=-1)  # (...)


def _l2_normalize(x: Tensor | np.ndarray, axis: int) -> Tensor | np.ndarray:
    """Keras's ``normalize(x, axis)``: ``x * min(rsqrt(sum(x**2, axis)), 1 / EPSILON)``."""
    if isinstance(x, Tensor):
        return x * _ops.clamp_max(_ops.rsqrt(_ops.sum(x * x, dim=axis, keepdim=True)), 1.0 / EPSILON)
    with np.errstate(divide="ignore"):
        inv_norm = 1.0 / np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    return x * np.minimum(inv_norm, np.asarray(1.0 / EPSILON, x.dtype))


def cosine_similarity(y_true, y_pred, axis: int = -1):
    """Negative cosine similarity ``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``: -1 for
    vectors pointing the same way, 0 for orthogonal ones (and for zero vectors).

    Example:
        >>> import numpy as np
        >>> cosine_similarity(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]], np.float32)).numpy().round(4)
        array([-0.7071], dtype=float32)
    """
    target, y_pred = _matched("cosine_similarity", y_true, y_pred)
    return -_ops.sum(_l2_normalize(target, axis) * _l2_normalize(y_pred, axis), dim=axis)  # (...)


class MeanSquaredError(LossFunctionWrapper):
    """:func:`mean_squared_error` with a reduction."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    """:func:`mean_absolute_error` with a reduction."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """:func:`mean_absolute_percentage_error` with a reduction."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, reduction=reduction, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """:func:`mean_squared_logarithmic_error` with a reduction."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, reduction=reduction, name=name, dtype=dtype)


class Huber(LossFunctionWrapper):
    """:func:`huber` with a reduction."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=delta)


class LogCosh(LossFunctionWrapper):
    """:func:`log_cosh` with a reduction."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(log_cosh, reduction=reduction, name=name, dtype=dtype)


class CosineSimilarity(LossFunctionWrapper):
    """:func:`cosine_similarity` with a reduction."""

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis)
