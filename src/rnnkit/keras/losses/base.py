"""The base of Keras's losses: the helpers every loss function uses, Keras's reductions, and the
``Loss`` / ``LossFunctionWrapper`` objects.

``Loss`` objects add Keras's reduction to a per-sample loss: by default ``"sum_over_batch_size"``,
i.e. ``sum(loss * sample_weight) / loss.size``. An output mask (``y_pred._keras_mask``) and a mask
the loss function puts on its values (``ignore_class``, Circle) fold into the weights as in Keras.

Example:
    >>> import numpy as np
    >>> from rnnkit._tensor import Tensor
    >>> reduce_weighted_values(Tensor(np.array([1.0, 3.0])), sample_weight=np.array([1.0, 0.5])).item()
    1.25
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from rnnkit import _ops
from rnnkit._tensor import Tensor, array_of, as_tensor
from rnnkit.keras._registry import Configurable
from rnnkit.keras._registry import snake_per_capital as _snake

__all__ = ["EPSILON", "REDUCTIONS", "Loss", "LossFunctionWrapper", "reduce_weighted_values"]

EPSILON = 1e-7  # keras.backend.epsilon(): the probability clip of the crossentropies


REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


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


def _matched(name: str, y_true: Any, y_pred: Any) -> tuple[np.ndarray, Tensor]:
    """``(y_true, y_pred)`` of an elementwise loss ``name``: y_pred a floating Tensor, y_true a
    constant of its dtype, ranks matched as Keras matches them, then the same shape or a ValueError."""
    y_pred = _pred(y_pred)
    target, y_pred = _squeeze_or_expand(_true(y_true, y_pred.dtype), y_pred)
    _same_shape(name, target, y_pred)
    return target, y_pred


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
