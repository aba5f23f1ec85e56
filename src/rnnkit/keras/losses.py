"""Keras losses: per-sample loss functions, ``Loss`` objects and Keras's reductions.

The functions (``categorical_crossentropy``, ``mean_squared_error``, ...) map ``(y_true,
y_pred)`` to one loss per sample, differentiable in ``y_pred`` (an rnnkit ``Tensor``);
``y_true`` is a constant. ``Loss`` objects add Keras's reduction: by default
``"sum_over_batch_size"``, i.e. ``sum(loss * sample_weight) / loss.size``. They follow
Keras 3 exactly: probabilities (``from_logits=False``) are renormalised and clipped to
``[epsilon, 1 - epsilon]`` with ``epsilon = 1e-7`` before the log, and the clip has zero
gradient outside that interval (as ``torch.clip`` under Keras's torch backend).

On probabilities the crossentropies are single fused :class:`~rnnkit._tensor.Function` s
(Keras's clip has no PyTorch counterpart); on logits (``from_logits=True``) they are PyTorch's
fused ops from :mod:`rnnkit.nn.functional` (``cross_entropy`` with probability targets,
``binary_cross_entropy_with_logits``), as Keras's torch backend calls ``torch.nn.functional``'s;
so are the squared and absolute errors (``mse_loss``, ``l1_loss``) before Keras's mean over the
last axis. Huber composes :mod:`rnnkit._ops`.

Legend: B batch, C classes, ``...`` any leading axes (e.g. ``(B, T)`` for sequences).

Example:
    >>> import numpy as np
    >>> from rnnkit.keras import losses
    >>> y_true = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> y_pred = np.array([[0.4, 0.6], [0.9, 0.1]], np.float32)
    >>> round(float(losses.CategoricalCrossentropy()(y_true, y_pred).item()), 4)
    0.3081
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from rnnkit import _ops
from rnnkit._tensor import Function, Tensor, array_of, as_tensor
from rnnkit.keras import activations
from rnnkit.keras._registry import Configurable, class_config, from_class_config
from rnnkit.keras._registry import snake_per_capital as _snake
from rnnkit.nn import functional as F

__all__ = [
    "EPSILON", "Loss", "LossFunctionWrapper", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "BinaryCrossentropy", "MeanSquaredError", "MeanAbsoluteError", "Huber", "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError", "KLDivergence", "Hinge", "SquaredHinge", "CategoricalHinge", "LogCosh", "Poisson",
    "CosineSimilarity", "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy", "Dice", "Tversky",
    "CategoricalGeneralizedCrossEntropy", "CTC", "Circle",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
    "mean_squared_error", "mean_absolute_error", "huber", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "kl_divergence", "hinge", "squared_hinge", "categorical_hinge", "log_cosh",
    "poisson", "cosine_similarity", "binary_focal_crossentropy", "categorical_focal_crossentropy", "dice", "tversky",
    "categorical_generalized_cross_entropy", "ctc", "circle", "mse", "mae", "MSE", "MAE", "mape", "MAPE", "msle", "MSLE",
    "kld", "KLD", "bce", "BCE",
    "reduce_weighted_values", "get", "serialize", "deserialize",
]

EPSILON = 1e-7  # keras.backend.epsilon(): the probability clip of the crossentropies
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


# -- fused crossentropies (forward and backward on ndarrays) ---------------------------------
class _ProbCrossentropy(Function):
    """``-sum(t * log(clip(p / sum(p), eps, 1 - eps)), axis)`` and its gradient in ``p``.

    Equations (``s = sum(p)``, ``q = p / s``, ``qc = clip(q, eps, 1 - eps)``, ``m`` the
    indicator ``eps <= q <= 1 - eps``)::

        L     = -sum_c t_c * log(qc_c)
        dL/dq = -g * t / qc * m
        dL/dp = (dL/dq - sum_c(dL/dq_c * q_c)) / s
    """

    def forward(self, p, target, axis):  # p, target (..., C)
        s = p.sum(axis=axis, keepdims=True)  # (..., 1)
        q = p / s  # (..., C)
        qc = np.clip(q, EPSILON, 1.0 - EPSILON)  # (..., C)
        self.target, self.axis, self.s, self.q, self.qc = target, axis, s, q, qc
        return -(target * np.log(qc)).sum(axis=axis)  # (...)

    def backward(self, g):  # g (...)
        g = np.expand_dims(g, self.axis)  # (..., 1)
        inside = (self.q >= np.float32(EPSILON)) & (self.q <= np.float32(1.0 - EPSILON))  # (..., C)
        dq = -g * self.target / self.qc * inside  # (..., C)
        return (dq - (dq * self.q).sum(axis=self.axis, keepdims=True)) / self.s  # (..., C)


class _BinaryCrossentropy(Function):
    """Elementwise ``-(t log pc + (1 - t) log(1 - pc))``, ``pc = clip(p, eps, 1 - eps)``.

    The gradient is torch's ``binary_cross_entropy`` one, ``(pc - t) / max(pc (1 - pc), 1e-12)``,
    times the clip indicator.
    """

    def forward(self, p, target):  # p, target (..., K)
        pc = np.clip(p, EPSILON, 1.0 - EPSILON)  # (..., K)
        self.p, self.pc, self.target = p, pc, target
        log_p = np.maximum(np.log(pc), -100)  # (..., K) torch clamps the logs at -100
        log_1mp = np.maximum(np.log1p(-pc), -100)  # (..., K)
        return -(target * log_p + (1 - target) * log_1mp)  # (..., K)

    def backward(self, g):  # g (..., K)
        pc, t = self.pc, self.target
        inside = (self.p >= np.float32(EPSILON)) & (self.p <= np.float32(1.0 - EPSILON))  # (..., K)
        return g * (pc - t) / np.maximum(pc * (1 - pc), 1e-12) * inside  # (..., K)


# -- helpers ---------------------------------------------------------------------------------
def _pred(y_pred: Any) -> Tensor:
    """``y_pred`` as a floating Tensor (ndarrays are wrapped; float64 stays float64)."""
    y_pred = as_tensor(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = as_tensor(array_of(y_pred).astype(np.float32))
    return y_pred


def _true(y_true: Any, dtype: np.dtype) -> np.ndarray:
    """``y_true`` as a constant ndarray of ``dtype`` (Keras casts it to ``y_pred``'s dtype)."""
    data = array_of(y_true)
    if data.dtype.kind not in "biuf":
        raise TypeError(f"y_true: expected numbers, got an array of dtype {data.dtype}")
    return data.astype(dtype, copy=False)


def _same_shape(name: str, y_true: np.ndarray, y_pred: Tensor) -> None:
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"{name}: y_true and y_pred must have the same shape, got y_true.shape={y_true.shape} "
            f"and y_pred.shape={y_pred.shape}"
        )


def _squeeze_or_expand(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """Keras's ``squeeze_or_expand_to_same_rank``: fix a rank gap of one trailing 1-axis (ndarrays or Tensors)."""
    if not isinstance(y_true, Tensor):
        y_true = np.asarray(y_true)
    if not isinstance(y_pred, Tensor):
        y_pred = as_tensor(y_pred)
    t_rank, p_rank = y_true.ndim, y_pred.ndim
    if t_rank == p_rank + 1 and y_true.shape[-1] == 1:
        if p_rank == 1:
            y_pred = _ops.unsqueeze(y_pred, -1)
        else:
            y_true = _ops.squeeze(y_true, -1) if isinstance(y_true, Tensor) else y_true[..., 0]
    elif p_rank == t_rank + 1 and y_pred.shape[-1] == 1:
        if t_rank == 1:
            y_true = _ops.unsqueeze(y_true, -1) if isinstance(y_true, Tensor) else y_true[..., None]
        else:
            y_pred = _ops.squeeze(y_pred, -1)
    return y_true, y_pred


def _logits_crossentropy(y_pred: Tensor, target: np.ndarray, axis: int) -> Tensor:
    """``-sum(target * log_softmax(y_pred), axis)`` through :func:`rnnkit.nn.functional.cross_entropy`
    (probability targets, no reduction) on the rows of the class axis moved last."""
    if axis != y_pred.ndim - 1:
        order = [d for d in range(y_pred.ndim) if d != axis] + [axis]
        y_pred = _ops.permute(y_pred, *order)  # (..., C)
        target = np.moveaxis(target, axis, -1)  # (..., C)
    C = y_pred.shape[-1]
    rows = F.cross_entropy(_ops.reshape(y_pred, (-1, C)), np.ascontiguousarray(target).reshape(-1, C),
                           reduction="none")  # (M,)
    return _ops.reshape(rows, y_pred.shape[:-1])  # (...)


def _one_hot(name: str, labels: np.ndarray, depth: int, dtype: np.dtype) -> np.ndarray:
    """``(...)`` integer labels -> ``(..., depth)`` one-hot of ``dtype``; ValueError when out of range."""
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"{name}: y_true must hold integer class indices, got non-integer values")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= depth):
        raise ValueError(
            f"{name}: y_true holds class indices in [{labels.min()}, {labels.max()}] but y_pred has "
            f"{depth} classes (expected indices in [0, {depth - 1}])"
        )
    out = np.zeros(labels.shape + (depth,), dtype)  # (..., C)
    np.put_along_axis(out, labels[..., None], 1, axis=-1)
    return out


# -- per-sample loss functions -----------------------------------------------------------------
def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1):
    """Crossentropy between one-hot (or soft) targets and predicted class probabilities.

    Equations (``eps = 1e-7``; ``ls`` = label_smoothing)::

        t    = y_true * (1 - ls) + ls / C
        loss = -sum_c t_c * log_softmax(y_pred)_c                        (from_logits)
        loss = -sum_c t_c * log(clip(y_pred_c / sum(y_pred), eps, 1 - eps))   (otherwise)

    Args:
        y_true: ``(..., C)`` targets.
        y_pred: ``(..., C)`` probabilities, or logits when ``from_logits``.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in ``[0, 1]``; mixes the targets with the uniform distribution.
        axis: the class axis.

    Returns:
        ``(...)`` Tensor: one loss per sample.

    Example:
        >>> import numpy as np
        >>> categorical_crossentropy(np.array([[0.0, 1.0]]), np.array([[0.5, 0.5]], np.float32)).numpy().round(4)
        array([0.6931], dtype=float32)
    """
    y_pred = _pred(y_pred)
    target = _true(y_true, y_pred.dtype)
    _same_shape("categorical_crossentropy", target, y_pred)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / target.shape[axis]  # (..., C)
        target = target.astype(y_pred.dtype)
    if from_logits:
        return _logits_crossentropy(y_pred, target, axis % y_pred.ndim)
    return _ProbCrossentropy.apply(y_pred, target=target, axis=axis % y_pred.ndim)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False, ignore_class: int | None = None,
                                    axis: int = -1):
    """Crossentropy between integer class labels and predicted class probabilities.

    Same as :func:`categorical_crossentropy` with ``one_hot(y_true)`` (labels of shape
    ``(..., 1)`` are squeezed first, as Keras does).

    Args:
        y_true: ``(...)`` or ``(..., 1)`` integer labels in ``[0, C)``.
        y_pred: ``(..., C)`` probabilities, or logits when ``from_logits``.
        from_logits: whether ``y_pred`` holds logits.
        ignore_class: a label whose entries get loss 0 and no gradient; the result then carries
            ``_keras_mask`` (False there), which the reductions and metrics honour, as in Keras.
        axis: the class axis (must be the last one).

    Returns:
        ``(...)`` Tensor: one loss per sample.

    Example:
        >>> import numpy as np
        >>> probs = np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]], np.float32)
        >>> sparse_categorical_crossentropy(np.array([1, 2]), probs).numpy().round(4)
        array([0.0513, 2.3026], dtype=float32)
    """
    y_pred = _pred(y_pred)
    if axis % y_pred.ndim != y_pred.ndim - 1:
        raise ValueError(f"sparse_categorical_crossentropy: only axis=-1 is supported, got axis={axis}")
    labels = array_of(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(
            "sparse_categorical_crossentropy: y_true must have y_pred's shape without the class axis, "
            f"got y_true.shape={labels.shape} and y_pred.shape={y_pred.shape}"
        )
    valid = None
    if ignore_class is not None:
        valid = labels != ignore_class  # (...)
        labels = np.where(valid, labels, 0)
    target = _one_hot("sparse_categorical_crossentropy", labels, y_pred.shape[-1], y_pred.dtype)  # (..., C)
    if valid is not None:
        target = target * valid[..., None]  # (..., C): an ignored entry has no target, hence loss 0
    if from_logits:
        loss = _logits_crossentropy(y_pred, target, y_pred.ndim - 1)
    else:
        loss = _ProbCrossentropy.apply(y_pred, target=target, axis=y_pred.ndim - 1)
    if valid is not None:
        loss._keras_mask = valid
    return loss


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1):
    """Binary crossentropy, averaged over ``axis``.

    Equations (``eps = 1e-7``, ``ls`` = label_smoothing)::

        t    = y_true * (1 - ls) + 0.5 * ls
        e    = (1 - t) z - log(sigmoid(z))                               (from_logits, z = y_pred)
        e    = -(t log pc + (1 - t) log(1 - pc)),  pc = clip(y_pred, eps, 1 - eps)   (otherwise)
        loss = mean(e, axis)

    Args:
        y_true: ``(..., K)`` targets in ``[0, 1]``.
        y_pred: ``(..., K)`` probabilities, or logits when ``from_logits``.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in ``[0, 1]``; squeezes the targets towards 0.5.
        axis: the axis averaged over.

    Returns:
        ``(...)`` Tensor: one loss per sample.

    Example:
        >>> import numpy as np
        >>> probs = np.array([[0.6, 0.4], [0.4, 0.6]], np.float32)
        >>> binary_crossentropy(np.array([[0, 1], [0, 0]]), probs).numpy().round(3)
        array([0.916, 0.714], dtype=float32)
    """
    y_pred = _pred(y_pred)
    target = _true(y_true, y_pred.dtype)
    _same_shape("binary_crossentropy", target, y_pred)
    if label_smoothing:
        target = (target * (1.0 - label_smoothing) + 0.5 * label_smoothing).astype(y_pred.dtype)  # (..., K)
    if from_logits:
        elementwise = F.binary_cross_entropy_with_logits(y_pred, target, reduction="none")  # (..., K)
    else:
        elementwise = _BinaryCrossentropy.apply(y_pred, target=target)  # (..., K)
    return _ops.mean(elementwise, dim=axis)


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
    y_pred = _pred(y_pred)
    target, y_pred = _squeeze_or_expand(_true(y_true, y_pred.dtype), y_pred)
    _same_shape("mean_squared_error", target, y_pred)
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
    y_pred = _pred(y_pred)
    target, y_pred = _squeeze_or_expand(_true(y_true, y_pred.dtype), y_pred)
    _same_shape("mean_absolute_error", target, y_pred)
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
    y_pred = _pred(y_pred)
    target, y_pred = _squeeze_or_expand(_true(y_true, y_pred.dtype), y_pred)
    _same_shape("huber", target, y_pred)
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
    y_pred = _pred(y_pred)
    target, y_pred = _squeeze_or_expand(_true(y_true, y_pred.dtype), y_pred)
    _same_shape("mean_absolute_percentage_error", target, y_pred)
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
    y_pred = _pred(y_pred)
    target, y_pred = _squeeze_or_expand(_true(y_true, y_pred.dtype), y_pred)
    _same_shape("mean_squared_logarithmic_error", target, y_pred)
    eps = np.asarray(EPSILON, target.dtype)
    first_log = _ops.log(_ops.clamp_min(y_pred, EPSILON) + 1.0)  # (..., K)
    second_log = np.log(np.maximum(target, eps) + 1)  # (..., K)
    return _ops.mean((first_log - second_log) ** 2, dim=-1)  # (...)


def kl_divergence(y_true, y_pred):
    """Kullback-Leibler divergence ``sum(t * log(t / p), axis=-1)`` with ``t, p`` clipped to ``[EPSILON, 1]``.

    Args:
        y_true: ``(..., K)`` target distributions.
        y_pred: ``(..., K)`` predicted distributions.

    Returns:
        ``(...)`` Tensor, one loss per sample.

    Example:
        >>> import numpy as np
        >>> kl_divergence(np.array([[0.5, 0.5]]), np.array([[0.5, 0.5]], np.float32)).numpy()
        array([0.], dtype=float32)
    """
    y_pred = _pred(y_pred)
    target, y_pred = _squeeze_or_expand(_true(y_true, y_pred.dtype), y_pred)
    _same_shape("kl_divergence", target, y_pred)
    t = np.clip(target, np.asarray(EPSILON, target.dtype), 1)  # (..., K)
    p = _ops.clamp(y_pred, EPSILON, 1.0)  # (..., K)
    return _ops.sum(_ops.log(_ops.reciprocal(p) * t) * t, dim=-1)  # (...)


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


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed as ``e + softplus(-2 e) - log 2``
    (Keras's overflow-free form).

    Example:
        >>> import numpy as np
        >>> log_cosh(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]], np.float32)).numpy().round(4)
        array([0.2169], dtype=float32)
    """
    y_pred = _pred(y_pred)
    target, y_pred = _squeeze_or_expand(_true(y_true, y_pred.dtype), y_pred)
    _same_shape("log_cosh", target, y_pred)
    error = y_pred - target  # (..., K)
    return _ops.mean(error + activations.softplus(error * -2.0) - float(np.log(2.0)), dim=-1)  # (...)


def poisson(y_true, y_pred):
    """Poisson loss ``mean(y_pred - y_true * log(y_pred + EPSILON), axis=-1)``.

    Example:
        >>> import numpy as np
        >>> poisson(np.array([[1.0, 0.0]]), np.array([[1.0, 2.0]], np.float32)).numpy().round(4)
        array([1.5], dtype=float32)
    """
    y_pred = _pred(y_pred)
    target = _true(y_true, y_pred.dtype)
    _same_shape("poisson", target, y_pred)
    return _ops.mean(y_pred - _ops.log(y_pred + EPSILON) * target, dim=-1)  # (...)


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
    y_pred = _pred(y_pred)
    target, y_pred = _squeeze_or_expand(_true(y_true, y_pred.dtype), y_pred)
    _same_shape("cosine_similarity", target, y_pred)
    return -_ops.sum(_l2_normalize(target, axis) * _l2_normalize(y_pred, axis), dim=axis)  # (...)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing: bool = False, alpha: float = 0.25,
                              gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                              axis: int = -1):
    """Binary focal crossentropy (Lin et al., 2017), averaged over ``axis``, in Keras's form.

    Equations (``p = sigmoid(y_pred)`` when ``from_logits``, else ``y_pred``; ``t`` the smoothed targets;
    ``bce`` the elementwise clipped crossentropy of :func:`binary_crossentropy`)::

        p_t  = t p + (1 - t)(1 - p)
        e    = (1 - p_t)**gamma * bce                 (times t alpha + (1 - t)(1 - alpha) with class balancing)
        loss = mean(e, axis)

    Args:
        y_true: ``(..., K)`` targets in [0, 1].
        y_pred: ``(..., K)`` probabilities, or logits when ``from_logits``.
        apply_class_balancing: weigh the positives by ``alpha`` and the negatives by ``1 - alpha``.
        alpha: the class-balancing weight.
        gamma: the focusing exponent (0: plain binary crossentropy).
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: squeezes the targets towards 0.5.
        axis: the axis averaged over.

    Returns:
        ``(...)`` Tensor, one loss per sample.

    Example:
        >>> import numpy as np
        >>> y_pred = np.array([[0.6, 0.4], [0.4, 0.6]], np.float32)
        >>> binary_focal_crossentropy(np.array([[0, 1], [0, 0]]), y_pred, gamma=2.0).numpy().round(3)
        array([0.33 , 0.206], dtype=float32)
    """
    y_pred = _pred(y_pred)
    target = _true(y_true, y_pred.dtype)
    _same_shape("binary_focal_crossentropy", target, y_pred)
    if label_smoothing:
        target = (target * (1.0 - label_smoothing) + 0.5 * label_smoothing).astype(y_pred.dtype)  # (..., K)
    if from_logits:
        y_pred = _ops.sigmoid(y_pred)  # (..., K)
    bce = _BinaryCrossentropy.apply(y_pred, target=target)  # (..., K)
    p_t = y_pred * target + (1.0 - y_pred) * (1.0 - target)  # (..., K)
    focal = (1.0 - p_t) ** gamma * bce  # (..., K)
    if apply_class_balancing:
        focal = focal * (target * alpha + (1.0 - target) * (1.0 - alpha)).astype(y_pred.dtype)
    return _ops.mean(focal, dim=axis)  # (...)


def categorical_focal_crossentropy(y_true, y_pred, alpha: float = 0.25, gamma: float = 2.0, from_logits: bool = False,
                                   label_smoothing: float = 0.0, axis: int = -1):
    """Categorical focal crossentropy, in Keras's form.

    Equations (``q = softmax(y_pred)`` when ``from_logits``, else ``y_pred``; ``eps = 1e-7``)::

        o    = clip(q / sum(q), eps, 1 - eps)
        loss = sum_c alpha (1 - o_c)**gamma * (-t_c log o_c)

    Args:
        y_true: ``(..., C)`` one-hot (or soft) targets.
        y_pred: ``(..., C)`` probabilities, or logits when ``from_logits``.
        alpha: the weight of every term.
        gamma: the focusing exponent.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: mixes the targets with the uniform distribution.
        axis: the class axis.

    Returns:
        ``(...)`` Tensor, one loss per sample.

    Example:
        >>> import numpy as np
        >>> y_pred = np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]], np.float32)
        >>> categorical_focal_crossentropy(np.array([[0, 1, 0], [0, 0, 1]]), y_pred).numpy().round(4)
        array([0.    , 0.4663], dtype=float32)
    """
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"categorical_focal_crossentropy: axis must be an int, got axis={axis!r}")
    y_pred = _pred(y_pred)
    target = _true(y_true, y_pred.dtype)
    _same_shape("categorical_focal_crossentropy", target, y_pred)
    if y_pred.shape[-1] == 1:
        warnings.warn("categorical_focal_crossentropy: expected y_pred of shape (batch_size, num_classes) with "
                      f"num_classes > 1, got y_pred.shape={y_pred.shape}; consider 'binary_crossentropy' for "
                      "two classes", SyntaxWarning, stacklevel=2)
    if label_smoothing:
        target = (target * (1.0 - label_smoothing) + label_smoothing / target.shape[-1]).astype(y_pred.dtype)
    if from_logits:
        y_pred = _ops.softmax(y_pred, dim=axis)  # (..., C)
    output = _ops.clamp(y_pred / _ops.sum(y_pred, dim=axis, keepdim=True), EPSILON, 1.0 - EPSILON)  # (..., C)
    cce = _ops.log(output) * -target  # (..., C)
    return _ops.sum((1.0 - output) ** gamma * alpha * cce, dim=axis)  # (...)


def dice(y_true, y_pred, axis=None):
    """Dice loss ``1 - 2 sum(t p) / (sum(t) + sum(p) + eps)`` over ``axis`` (None: everything).

    Example:
        >>> import numpy as np
        >>> round(dice(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]], np.float32)).item(), 4)
        0.5
    """
    y_pred = _pred(y_pred)
    target = _true(y_true, y_pred.dtype)
    intersection = _ops.sum(y_pred * target, dim=axis)  # (...) or ()
    denominator = _ops.sum(y_pred, dim=axis) + target.sum(axis=axis) + EPSILON  # (...) or ()
    return 1.0 - 2.0 * intersection / denominator


def tversky(y_true, y_pred, alpha: float = 0.5, beta: float = 0.5, axis=None):
    """Tversky loss ``1 - TP / (TP + alpha FP + beta FN + eps)`` over ``axis`` (None: everything), with
    ``TP = sum(t p)``, ``FP = sum((1 - p) t)`` and ``FN = sum(p (1 - t))`` in Keras's (swapped) naming.

    Example:
        >>> import numpy as np
        >>> round(tversky(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]], np.float32)).item(), 4)
        0.5
    """
    y_pred = _pred(y_pred)
    target = _true(y_true, y_pred.dtype)
    intersection = _ops.sum(y_pred * target, dim=axis)  # (...) or ()
    fp = _ops.sum((1.0 - y_pred) * target, dim=axis)  # (...) or ()
    fn = _ops.sum(y_pred * (1.0 - target), dim=axis)  # (...) or ()
    return 1.0 - intersection / (intersection + fp * alpha + fn * beta + EPSILON)


def categorical_generalized_cross_entropy(y_true, y_pred, q: float):
    """Generalized crossentropy (Zhang & Sabuncu, 2018) ``(1 - p_y**q) / q`` of integer labels ``y``.

    Args:
        y_true: ``(...)`` integer class labels.
        y_pred: ``(..., C)`` probabilities.
        q: in (0, 1): towards 0 the crossentropy, at 1 the mean absolute error.

    Returns:
        ``(...)`` Tensor, one loss per sample.

    Example:
        >>> import numpy as np
        >>> y_pred = np.array([[0.2, 0.8]], np.float32)
        >>> categorical_generalized_cross_entropy(np.array([1]), y_pred, q=0.5).numpy().round(4)
        array([0.2111], dtype=float32)
    """
    y_pred = _pred(y_pred)
    labels = array_of(y_true)
    if labels.dtype.kind == "f":
        labels = np.trunc(labels)  # Keras casts the labels to int
    one_hot = _one_hot("categorical_generalized_cross_entropy", labels, y_pred.shape[-1], y_pred.dtype)  # (..., C)
    p = _ops.sum(y_pred * one_hot, dim=-1)  # (...)
    return (1.0 - p**q) / q


class _CTCLoss(Function):
    """Connectionist temporal classification (Graves et al., 2006) of logits, per sequence, in log space.

    With ``l'`` the labels interleaved with blanks (``blank, l_1, blank, ..., l_S, blank``) and
    ``y = softmax(logits)`` over the classes::

        alpha_1(0) = log y_1(blank),  alpha_1(1) = log y_1(l_1)
        alpha_t(s) = log y_t(l'_s) + logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), [alpha_{t-1}(s-2)
                     when l'_s is not blank and differs from l'_{s-2}])
        loss       = -logsumexp(alpha_T(2S), alpha_T(2S - 1))
        d loss / d logits_t = y_t - posterior_t,  posterior_t(k) = sum_{s: l'_s = k} exp(alpha_t(s) + beta_t(s) + loss)

    where ``beta`` is the same recursion run backwards (without the step's own ``log y``). A label
    sequence no alignment of length T can produce has loss inf and NaN gradients, as in torch.
    """

    def forward(self, logits, labels, lengths, blank):  # logits (B, T, C); labels (B, L) int; lengths (B,)
        B, T, C = logits.shape
        shifted = logits - logits.max(-1, keepdims=True)  # (B, T, C)
        log_y = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))  # (B, T, C)
        S = 2 * labels.shape[1] + 1
        ext = np.full((B, S), blank, np.int64)  # (B, S): blank, l_1, blank, ..., blank
        ext[:, 1::2] = labels
        valid = np.arange(S)[None, :] < (2 * lengths + 1)[:, None]  # (B, S)
        skip = np.zeros((B, S), bool)  # (B, S): the transition s-2 -> s is allowed
        skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
        emit = np.take_along_axis(log_y, np.broadcast_to(ext[:, None, :], (B, T, S)), axis=2)  # (B, T, S)
        emit = np.where(valid[:, None, :], emit, -np.inf)
        neg_inf = np.full((B, 1), -np.inf, logits.dtype)
        alpha = np.full((B, T, S), -np.inf, logits.dtype)  # (B, T, S)
        alpha[:, 0, 0] = emit[:, 0, 0]
        alpha[:, 0, 1] = np.where(lengths > 0, emit[:, 0, 1], -np.inf) if S > 1 else alpha[:, 0, 0]
        with np.errstate(invalid="ignore", over="ignore"):
            for t in range(1, T):
                prev = alpha[:, t - 1]  # (B, S)
                one = np.concatenate([neg_inf, prev[:, :-1]], 1)  # (B, S): from s - 1
                two = np.where(skip, np.concatenate([neg_inf, neg_inf, prev[:, :-2]], 1)[:, :S], -np.inf)
                alpha[:, t] = np.logaddexp(np.logaddexp(prev, one), two) + emit[:, t]
            beta = np.full((B, T, S), -np.inf, logits.dtype)  # (B, T, S), without the step's own emission
            last = 2 * lengths  # (B,)
            rows = np.arange(B)
            beta[rows, T - 1, last] = 0.0
            beta[rows[lengths > 0], T - 1, last[lengths > 0] - 1] = 0.0
            skip_next = np.concatenate([skip[:, 2:], np.zeros((B, 2), bool)], 1)  # (B, S): s -> s+2 allowed
            for t in range(T - 2, -1, -1):
                nxt = beta[:, t + 1] + emit[:, t + 1]  # (B, S)
                one = np.concatenate([nxt[:, 1:], neg_inf], 1)  # (B, S): to s + 1
                two = np.where(skip_next, np.concatenate([nxt[:, 2:], neg_inf, neg_inf], 1), -np.inf)
                beta[:, t] = np.logaddexp(np.logaddexp(nxt, one), two)
            end = alpha[rows, T - 1, last]  # (B,)
            end = np.where(lengths > 0, np.logaddexp(end, alpha[rows, T - 1, np.maximum(last - 1, 0)]), end)
            posterior = np.exp(alpha + beta + (-end)[:, None, None])  # (B, T, S)
        grad = np.zeros_like(logits)  # (B, T, C)
        for b in range(B):  # scatter the posteriors of the extended labels onto their classes
            np.add.at(grad[b], (slice(None), ext[b]), np.nan_to_num(posterior[b]))
        self.d_logits = np.exp(log_y) - grad  # (B, T, C)
        self.d_logits[np.isneginf(end)] = np.nan  # an impossible alignment: loss inf, gradient NaN (as torch)
        return -end  # (B,)

    def backward(self, g):  # g (B,)
        return g[:, None, None] * self.d_logits


def ctc(y_true, y_pred):
    """CTC loss of ``(B, T, C)`` logits against ``(B, L)`` integer labels, as Keras's ``losses.ctc``: class 0
    is the blank (and pads the labels: a row's label length is its number of non-zero entries, its first
    entries being the labels); every sequence uses all ``T`` steps. See :class:`_CTCLoss`.

    Args:
        y_true: ``(B, L)`` integer labels in ``[1, C)``, 0-padded.
        y_pred: ``(B, T, C)`` logits (a softmax over the last axis is applied inside).

    Returns:
        ``(B,)`` Tensor, ``-log p(labels | logits)``.

    Example:
        >>> import numpy as np
        >>> round(float(ctc(np.array([[1]]), np.zeros((1, 1, 2), np.float32)).numpy()[0]), 4)
        0.6931
    """
    labels = array_of(y_true)
    y_pred = _pred(y_pred)
    if labels.ndim != 2:
        raise ValueError(f"ctc: y_true must be (batch_size, max_length) integer labels, got shape {labels.shape}")
    if y_pred.ndim != 3:
        raise ValueError(f"ctc: y_pred must be (batch_size, max_length, num_classes) logits, got shape "
                         f"{y_pred.shape}")
    if labels.dtype.kind not in "iub" and not np.all(labels == np.round(labels)):
        raise ValueError("ctc: y_true must hold integer labels")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= y_pred.shape[-1]):
        raise ValueError(f"ctc: y_true holds labels in [{labels.min()}, {labels.max()}], expected [0, "
                         f"{y_pred.shape[-1] - 1}] for y_pred's {y_pred.shape[-1]} classes")
    lengths = (labels != 0).sum(-1)  # (B,)
    return _CTCLoss.apply(y_pred, labels=labels, lengths=lengths, blank=0)


def _masked_logsumexp(terms: Tensor, mask: np.ndarray) -> Tensor:
    """``logsumexp`` over each row's entries where ``mask``; ``-inf`` (with no gradient) for a row without any."""
    empty = ~mask.any(axis=1)  # (B,)
    kept = _ops.where(mask | empty[:, None], _ops.where(mask, terms, 0.0), float("-inf"))  # (B, R)
    return _ops.where(empty, float("-inf"), _ops.logsumexp(kept, 1))  # (B,)


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal: bool = True, gamma: float = 80,
           margin: float = 0.4):
    """Circle loss (Sun et al., 2020) of L2-normalised embeddings, in Keras's form.

    Equations (``d_ij = max(1 - e_i . r_j, 0)`` the cosine distances to the references, ``P_i``/``N_i`` the
    references with the same / another label, the pair ``(i, i)`` left out of ``P_i`` with
    ``remove_diagonal``)::

        p_i  = logsumexp_{j in P_i}(-gamma * max(margin + d_ij, 0) * (margin - d_ij))
        n_i  = logsumexp_{j in N_i}(gamma * max(1 + margin - d_ij, 0) * (1 - margin - d_ij))
        loss = softplus(p_i + n_i)

    The result carries ``_keras_mask`` (``loss > 0``), so the reductions average over the samples
    with a non-zero loss, as in Keras. A sample without any positive (or negative) reference has
    loss 0 and, here, no gradient (torch's logsumexp gives it NaN gradients under Keras).

    Args:
        y_true: ``(B,)`` integer labels.
        y_pred: ``(B, D)`` embeddings.
        ref_labels: ``(R,)`` labels of the references (default ``y_true``).
        ref_embeddings: ``(R, D)`` reference embeddings (default ``y_pred``).
        remove_diagonal: leave each sample out of its own positives.
        gamma: the scale.
        margin: the relaxation margin.

    Returns:
        ``(B,)`` Tensor.

    Example:
        >>> import numpy as np
        >>> e = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], np.float32)
        >>> circle(np.array([0, 0, 1]), e, gamma=2.0).numpy().round(4)
        array([0.5459, 1.2842, 0.    ], dtype=float32)
    """
    y_pred = _pred(y_pred)
    labels = array_of(y_true).astype(np.int64).reshape(-1, 1)  # (B, 1)
    refs = y_pred if ref_embeddings is None else _pred(ref_embeddings)  # (R, D)
    ref = labels if ref_labels is None else array_of(ref_labels).astype(np.int64).reshape(-1, 1)  # (R, 1)
    positive = labels == ref.T  # (B, R)
    negative = ~positive
    if remove_diagonal:
        positive &= ~np.eye(labels.shape[0], ref.shape[0], dtype=bool)
    distances = _ops.relu(1.0 - y_pred @ _ops.t(refs))  # (B, R)
    pos_weights = _ops.relu((distances + margin) * positive.astype(y_pred.dtype))  # (B, R)
    neg_weights = _ops.relu(((1.0 + margin) - distances) * negative.astype(y_pred.dtype))  # (B, R)
    pos_terms = pos_weights * (margin - distances) * -gamma  # (B, R)
    neg_terms = neg_weights * ((1.0 - margin) - distances) * gamma  # (B, R)
    loss = activations.softplus(_masked_logsumexp(pos_terms, positive) + _masked_logsumexp(neg_terms, negative))
    loss._keras_mask = loss.data > 0  # (B,)
    return loss


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence
bce = BCE = binary_crossentropy


# -- reduction -------------------------------------------------------------------------------
def _apply_mask(sample_weight, mask, dtype, reduction):
    """Keras's ``apply_mask``: fold an output mask into the sample weights."""
    if mask is None:
        return sample_weight
    mask = np.asarray(mask, bool)
    if reduction in ("mean", "sum_over_batch_size"):
        valid = mask.sum()
        float_mask = np.where(mask, mask.size / valid if valid else 0.0, 0.0).astype(dtype)
    else:
        float_mask = mask.astype(dtype)
    if sample_weight is None:
        return float_mask
    sample_weight = np.asarray(sample_weight, dtype)
    if sample_weight.ndim < float_mask.ndim:
        sample_weight = sample_weight.reshape(sample_weight.shape + (1,) * (float_mask.ndim - sample_weight.ndim))
    return sample_weight * float_mask


def reduce_weighted_values(values: Tensor, sample_weight=None, mask=None, reduction="sum_over_batch_size") -> Tensor:
    """Keras's loss reduction of per-sample ``values``.

    Equations (``w`` = sample_weight, broadcast to ``values`` after Keras's rank fix)::

        "sum_over_batch_size", "mean":  sum(values * w) / values.size
        "mean_with_sample_weight":      sum(values * w) / sum(w)
        "sum":                          sum(values * w)
        "none" / None:                  values * w

    Args:
        values: ``(B, ...)`` per-sample losses.
        sample_weight: ``(B,)`` or ``(B, ...)`` weights, or None.
        mask: ``(B, ...)`` bool mask of valid entries (e.g. ``y_pred._keras_mask``), or None.
        reduction: one of ``REDUCTIONS``.

    Returns:
        A scalar Tensor (or ``values * w`` for no reduction).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction: expected one of {list(REDUCTIONS)}, got {reduction!r}")
    sample_weight = _apply_mask(sample_weight, mask, values.dtype, reduction)
    if sample_weight is not None:
        sample_weight = array_of(sample_weight)
        sample_weight = sample_weight.astype(values.dtype)
        if sample_weight.ndim == values.ndim + 1 and sample_weight.shape[-1] == 1:
            sample_weight = sample_weight[..., 0]
        elif values.ndim == sample_weight.ndim + 1 and values.shape[-1] == 1:
            sample_weight = sample_weight[..., None]
        while sample_weight.ndim < values.ndim:  # (B,) weights against (B, T) losses
            sample_weight = sample_weight[..., None]
        try:
            np.broadcast_shapes(sample_weight.shape, values.shape)
        except ValueError:
            raise ValueError(
                f"sample_weight of shape {sample_weight.shape} does not match the losses of shape {values.shape}"
            ) from None
        values = values * sample_weight
    if reduction in (None, "none") or values.ndim == 0 or array_of(values).size == 0:
        return values
    total = _ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = float(np.broadcast_to(sample_weight, values.shape).sum())
    else:
        divisor = float(array_of(values).size)
    return total / divisor if divisor else total * 0.0


# -- Loss objects ----------------------------------------------------------------------------
class Loss(Configurable):
    """Base class of Keras losses: ``loss(y_true, y_pred, sample_weight=None)`` -> scalar Tensor.

    Subclasses implement ``call(y_true, y_pred)`` returning per-sample losses; ``__call__``
    applies the output mask (``y_pred._keras_mask``, and-ed with the losses' own ``_keras_mask``
    when they carry one), the sample weights and the reduction.

    Args:
        name: the loss's name.
        reduction: ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``,
            ``"mean_with_sample_weight"``, ``"none"`` or None.
        dtype: ignored (the computation runs in ``y_pred``'s dtype); accepted for Keras compatibility.
    """

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size", dtype: Any = None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction: expected one of {list(REDUCTIONS)}, got {reduction!r}")
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype

    def call(self, y_true, y_pred) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.call")

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        in_mask = getattr(y_pred, "_keras_mask", None)
        values = self.call(y_true, y_pred)
        out_mask = getattr(values, "_keras_mask", None)
        if in_mask is not None and out_mask is not None:
            mask = np.asarray(in_mask, bool) & np.asarray(out_mask, bool)
        else:
            mask = out_mask if in_mask is None else in_mask
        return reduce_weighted_values(values, sample_weight, mask, self.reduction)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}


class LossFunctionWrapper(Loss):
    """A :class:`Loss` around a per-sample function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn: Callable, reduction="sum_over_batch_size", name: str | None = None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred) -> Tensor:
        y_true, y_pred = _squeeze_or_expand(y_true, y_pred)  # (N,) labels against (N, 1) outputs, as Keras
        return as_tensor(self.fn(y_true, y_pred, **self._fn_kwargs))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(self._fn_kwargs)
        return config


class CategoricalCrossentropy(LossFunctionWrapper):
    """:func:`categorical_crossentropy` with a reduction (Keras's ``CategoricalCrossentropy``)."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """:func:`sparse_categorical_crossentropy` with a reduction."""

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", axis=-1,
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(sparse_categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, ignore_class=ignore_class, axis=axis)


class BinaryCrossentropy(LossFunctionWrapper):
    """:func:`binary_crossentropy` with a reduction."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(binary_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


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


class KLDivergence(LossFunctionWrapper):
    """:func:`kl_divergence` with a reduction."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, reduction=reduction, name=name, dtype=dtype)


class Huber(LossFunctionWrapper):
    """:func:`huber` with a reduction."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=delta)


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


class LogCosh(LossFunctionWrapper):
    """:func:`log_cosh` with a reduction."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(log_cosh, reduction=reduction, name=name, dtype=dtype)


class Poisson(LossFunctionWrapper):
    """:func:`poisson` with a reduction."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(poisson, reduction=reduction, name=name, dtype=dtype)


class CosineSimilarity(LossFunctionWrapper):
    """:func:`cosine_similarity` with a reduction."""

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis)


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """:func:`binary_focal_crossentropy` with a reduction."""

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name="binary_focal_crossentropy", dtype=None):
        super().__init__(binary_focal_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """:func:`categorical_focal_crossentropy` with a reduction."""

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy", dtype=None):
        super().__init__(categorical_focal_crossentropy, reduction=reduction, name=name, dtype=dtype, alpha=alpha,
                         gamma=gamma, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class Dice(LossFunctionWrapper):
    """:func:`dice` with a reduction."""

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(dice, reduction=reduction, name=name, dtype=dtype, axis=axis)


class Tversky(LossFunctionWrapper):
    """:func:`tversky` with a reduction."""

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky", axis=None, dtype=None):
        super().__init__(tversky, reduction=reduction, name=name, dtype=dtype, alpha=alpha, beta=beta, axis=axis)


class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper):
    """:func:`categorical_generalized_cross_entropy` with a reduction."""

    def __init__(self, q=0.5, reduction="sum_over_batch_size", name="categorical_generalized_cross_entropy",
                 dtype=None):
        if isinstance(q, bool) or not isinstance(q, (int, float, np.integer, np.floating)) or not 0 < q < 1:
            raise ValueError(f"CategoricalGeneralizedCrossEntropy: q must be in the interval (0, 1), got q={q!r}")
        super().__init__(categorical_generalized_cross_entropy, reduction=reduction, name=name, dtype=dtype, q=q)


class CTC(LossFunctionWrapper):
    """:func:`ctc` with a reduction."""

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(ctc, reduction=reduction, name=name, dtype=dtype)


class Circle(LossFunctionWrapper):
    """:func:`circle` with a reduction."""

    def __init__(self, gamma=80.0, margin=0.4, remove_diagonal=True, reduction="sum_over_batch_size", name="circle",
                 dtype=None):
        super().__init__(circle, reduction=reduction, name=name, dtype=dtype, gamma=gamma, margin=margin,
                         remove_diagonal=remove_diagonal)


# -- lookup ----------------------------------------------------------------------------------
_FUNCTIONS = {
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy, "bce": binary_crossentropy, "BCE": binary_crossentropy,
    "mean_absolute_percentage_error": mean_absolute_percentage_error, "mape": mean_absolute_percentage_error,
    "MAPE": mean_absolute_percentage_error,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error, "msle": mean_squared_logarithmic_error,
    "MSLE": mean_squared_logarithmic_error,
    "kl_divergence": kl_divergence, "kld": kl_divergence, "KLD": kl_divergence,
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error, "MSE": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error, "MAE": mean_absolute_error,
    "huber": huber, "hinge": hinge, "squared_hinge": squared_hinge, "categorical_hinge": categorical_hinge,
    "log_cosh": log_cosh, "poisson": poisson, "cosine_similarity": cosine_similarity,
    "binary_focal_crossentropy": binary_focal_crossentropy,
    "categorical_focal_crossentropy": categorical_focal_crossentropy, "dice": dice, "tversky": tversky, "ctc": ctc,
    "circle": circle,
}
_CLASSES = {
    cls.__name__: cls
    for cls in (CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy,
                MeanSquaredError, MeanAbsoluteError, Huber, MeanAbsolutePercentageError,
                MeanSquaredLogarithmicError, KLDivergence, Hinge, SquaredHinge, CategoricalHinge, LogCosh, Poisson,
                CosineSimilarity, BinaryFocalCrossentropy, CategoricalFocalCrossentropy, Dice, Tversky,
                CategoricalGeneralizedCrossEntropy, CTC, Circle)
}

# Keras 3.15 exports these classes but keras.losses.get does not know their names (configs still name them)
_CONFIG_ONLY = ("CategoricalGeneralizedCrossEntropy",)


def get(identifier: Any) -> Callable | Loss | None:
    """Resolve a loss given by name, config dict, ``Loss`` object or callable, as ``keras.losses.get``.

    Raises:
        ValueError: for an unknown name, naming it and the known ones.
        TypeError: for anything else.
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier in _FUNCTIONS:
            return _FUNCTIONS[identifier]
        if identifier in _CLASSES and identifier not in _CONFIG_ONLY:
            return _CLASSES[identifier]()
        raise ValueError(
            f"loss: unknown loss {identifier!r}; expected one of "
            f"{sorted(set(_FUNCTIONS) | set(_CLASSES) - set(_CONFIG_ONLY))}, "
            "a keras.losses.Loss object or a callable(y_true, y_pred)"
        )
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(
        f"loss: expected a name, a Loss object or a callable, got {type(identifier).__name__} {identifier!r}"
    )


def serialize(loss: Any) -> dict | str:
    """A JSON-able description of ``loss`` (a name for the built-in functions)."""
    if isinstance(loss, Loss):
        if type(loss).__name__ not in _CLASSES:
            if isinstance(loss, LossFunctionWrapper) and loss.fn in _FUNCTIONS.values():
                return {"class_name": "LossFunctionWrapper", "config": {**loss.get_config(), "fn": loss.fn.__name__}}
            raise ValueError(f"loss: cannot serialize a custom loss object {loss!r}")
        return class_config(loss)
    for name, fn in _FUNCTIONS.items():
        if loss is fn:
            return name
    raise ValueError(f"loss: cannot serialize the custom loss {loss!r}; pass it again to compile() after loading")


def deserialize(config: dict | str) -> Callable | Loss:
    """Inverse of :func:`serialize`."""
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"loss: expected a name or a {{'class_name', 'config'}} dict, got {config!r}")
    name, cfg = config["class_name"], dict(config.get("config") or {})
    if name == "LossFunctionWrapper":
        fn = get(cfg.pop("fn"))
        return LossFunctionWrapper(fn, **cfg)
    return from_class_config(_CLASSES, name, config, "loss", "loss")
