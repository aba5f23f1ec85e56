"""Keras's intersection-over-union metrics, from a confusion matrix accumulated over batches.

With ``cm[i, j]`` the weighted count of entries of true class ``i`` predicted as ``j``::

    iou_c = cm[c, c] / (sum_i cm[i, c] + sum_j cm[c, j] - cm[c, c] + eps)
    IoU   = sum over target classes with a non-empty union of iou_c / (their number + eps)

As in Keras, the metric's ``dtype`` defaults to int: labels, predicted ids and sample weights are
truncated to integers (with a warning for float weights); pass ``dtype="float32"`` for fractional
weights. Labels or predictions outside ``[0, num_classes)`` and entries labelled ``ignore_class``
are left out.

Example:
    >>> import numpy as np
    >>> m = MeanIoU(num_classes=2)
    >>> m.update_state(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]))
    >>> round(m.result(), 4)
    0.3333
"""

from __future__ import annotations

import warnings

import numpy as np

from rnnkit.keras import losses as losses_module
from rnnkit.keras.metrics.base import Metric, _array

__all__ = ["IoU", "BinaryIoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU"]


def _is_int_dtype(dtype) -> bool:
    return dtype is None or dtype == "int" or np.dtype(dtype).kind in "iub"


class IoU(Metric):
    """Mean IoU over ``target_class_ids`` (``keras.metrics.IoU``).

    Args:
        num_classes: the number of classes C (the confusion matrix is ``(C, C)``).
        target_class_ids: the classes averaged over.
        name: the logged name.
        dtype: the confusion matrix's dtype (None: int, as Keras).
        ignore_class: a label whose entries are left out.
        sparse_y_true: ``y_true`` holds class ids (else scores/one-hot rows, arg-maxed along ``axis``).
        sparse_y_pred: ``y_pred`` holds class ids (else scores, arg-maxed along ``axis``).
        axis: the class axis of non-sparse inputs.
    """

    _direction = "up"

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        owner = type(self).__name__
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"{owner}: num_classes must be a positive int, got num_classes={num_classes!r}")
        ids = list(target_class_ids)
        if not ids or any(isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < num_classes
                          for c in ids):
            raise ValueError(f"{owner}: target_class_ids must be class ids in [0, {num_classes}), "
                             f"got target_class_ids={target_class_ids!r}")
        self.num_classes, self.target_class_ids, self.ignore_class = int(num_classes), ids, ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = sparse_y_true, sparse_y_pred, axis
        super().__init__(name=name or "io_u", dtype=dtype)

    def reset_state(self) -> None:
        self.total_cm = np.zeros((self.num_classes, self.num_classes))  # (C, C) weighted counts, true x predicted

    def _ids(self, values, sparse: bool) -> np.ndarray:
        values = _array(values)
        if not sparse:
            values = np.argmax(values, axis=self.axis)
        return values.reshape(-1)  # (N,)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        as_int = _is_int_dtype(self.dtype)
        cast = (lambda a: np.trunc(np.asarray(a, np.float64))) if as_int else (lambda a: np.asarray(a, np.float64))
        y_true = cast(self._ids(y_true, self.sparse_y_true))  # (N,)
        y_pred = cast(self._ids(y_pred, self.sparse_y_pred))  # (N,)
        if sample_weight is None:
            weight = np.ones_like(y_true)
        else:
            weight = np.asarray(_array(sample_weight))
            if as_int and weight.dtype.kind == "f":
                warnings.warn(f"{type(self).__name__}: float sample weights with the default integer dtype are "
                              "truncated to integers (as Keras); pass dtype='float32' to keep them", stacklevel=2)
            weight = np.broadcast_to(cast(weight).reshape(-1) if weight.ndim > 1 else cast(weight), y_true.shape)
        valid = (y_true >= 0) & (y_true < self.num_classes) & (y_pred >= 0) & (y_pred < self.num_classes)
        if self.ignore_class is not None:
            valid &= y_true != self.ignore_class
        cm = np.zeros_like(self.total_cm)
        np.add.at(cm, (y_true[valid].astype(np.int64), y_pred[valid].astype(np.int64)), weight[valid])
        self.total_cm = self.total_cm + cm

    def result(self) -> float:
        cm = self.total_cm
        true_pos = np.diag(cm)  # (C,)
        union = (cm.sum(0) + cm.sum(1) - true_pos)[self.target_class_ids]  # (K,)
        true_pos = true_pos[self.target_class_ids]  # (K,)
        valid = union > 1e-9
        iou = np.where(valid, true_pos / (union + losses_module.EPSILON), 0.0)  # (K,)
        return float(np.float32(iou.sum() / (valid.sum() + losses_module.EPSILON)))

    def get_config(self) -> dict:
        return {"name": self.name, "num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class BinaryIoU(IoU):
    """IoU of two classes from scores: ``y_pred >= threshold`` is class 1 (``keras.metrics.BinaryIoU``).

    Example:
        >>> m = BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
        >>> m.update_state(np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.4, 0.7]))
        >>> round(m.result(), 4)
        0.3333
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name or "binary_io_u", dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        predicted = (np.asarray(_array(y_pred), np.float32) >= self.threshold).astype(np.int64)
        super().update_state(y_true, predicted, sample_weight)

    def get_config(self) -> dict:
        return {"name": self.name, "target_class_ids": self.target_class_ids, "threshold": self.threshold}


class MeanIoU(IoU):
    """IoU averaged over all ``num_classes`` classes (``keras.metrics.MeanIoU``)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True,
                 axis=-1):
        super().__init__(num_classes, list(range(num_classes)) if isinstance(num_classes, (int, np.integer)) else [],
                         name=name or "mean_io_u", dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["target_class_ids"]
        return config


class OneHotIoU(IoU):
    """:class:`IoU` on one-hot ``y_true`` and score ``y_pred`` (``keras.metrics.OneHotIoU``)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_pred=False,
                 axis=-1):
        super().__init__(num_classes, target_class_ids, name=name or "one_hot_io_u", dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """:class:`MeanIoU` on one-hot ``y_true`` and score ``y_pred`` (``keras.metrics.OneHotMeanIoU``)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name=name or "one_hot_mean_io_u", dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["sparse_y_true"]
        return config
