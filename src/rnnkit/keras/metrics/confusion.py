"""Keras's metrics built on weighted confusion counts accumulated over batches: true/false
positives/negatives at thresholds, Precision/Recall, AUC, the "X at Y" metrics
(SensitivityAtSpecificity, ...) and the F scores.

Example:
    >>> import numpy as np
    >>> m = Precision()
    >>> m.update_state(np.array([0, 1, 1, 1]), np.array([1, 0, 1, 1]))
    >>> round(m.result(), 4)
    0.6667
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit.keras import losses as losses_module
from rnnkit.keras.metrics.base import Metric, _array, _ratio, _squeeze_or_expand

__all__ = [
    "TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives", "Precision", "Recall", "AUC",
    "FBetaScore", "F1Score", "SensitivitySpecificityBase", "SensitivityAtSpecificity", "SpecificityAtSensitivity",
    "PrecisionAtRecall", "RecallAtPrecision", "confusion_counts", "bucket_counts",
]


def confusion_counts(y_true, y_pred, thresholds, sample_weight=None, evenly=False) -> tuple[np.ndarray, ...]:
    """Weighted true/false positive/negative counts at each threshold (a prediction is positive when
    ``y_pred > threshold``; a label is positive when non-zero), as Keras's ``update_confusion_matrix_variables``.

    Args:
        y_true: ``(...)`` labels (``(B,)`` against ``(B, 1)`` aligned).
        y_pred: ``(...)`` scores.
        thresholds: ``(T,)`` thresholds.
        sample_weight: weights broadcastable to ``y_pred`` (a trailing axis is added to ``(B,)`` weights).
        evenly: ``thresholds`` are ``0, 1/(T-1), ..., 1``: count by buckets (:func:`bucket_counts`, where a
            score counts as positive at ``t_i`` iff ``p (T - 1) > i``), as Keras does for such thresholds.

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
    if evenly:
        tp, fp = bucket_counts((weight * label)[:, None], (weight * ~label)[:, None], y_pred[:, None],
                               len(thresholds), with_epsilon=False)  # (T, 1)
        tp, fp = tp[:, 0], fp[:, 0]  # (T,)
        return tp, fp, (weight * ~label).sum() - fp, (weight * label).sum() - tp
    pred_pos = y_pred[None, :] > np.asarray(thresholds, np.float32)[:, None]  # (T, N)
    tp = (pred_pos & label) @ weight  # (T,)
    fp = (pred_pos & ~label) @ weight  # (T,)
    tn = (~pred_pos & ~label) @ weight  # (T,)
    fn = (~pred_pos & label) @ weight  # (T,)
    return tp, fp, tn, fn


def bucket_counts(pos: np.ndarray, neg: np.ndarray, y_pred: np.ndarray, size: int,
                  with_epsilon: bool) -> tuple[np.ndarray, np.ndarray]:
    """Weighted true and false positives at ``size`` evenly spaced thresholds in one pass (Keras's
    ``_update_confusion_matrix_variables_optimized``).

    A score ``p`` (clipped to [0, 1]) falls in bucket ``ceil(p (T - 1)) - 1`` and counts as positive
    at every threshold up to its bucket. With ``with_epsilon`` (thresholds ``-eps, ..., 1 + eps``) a
    score of 0 goes to bucket 0; without (thresholds ``0, ..., 1``) it is positive at no threshold.

    Args:
        pos: ``(N, L)`` weights of the positive labels (0 for negatives).
        neg: ``(N, L)`` weights of the negative labels.
        y_pred: ``(N, L)`` scores.
        size: T, the number of thresholds.
        with_epsilon: whether the outer thresholds are ``-eps`` and ``1 + eps``.

    Returns:
        ``(tp, fp)``, each ``(T, L)`` float64.
    """
    bucket = np.ceil(np.clip(y_pred, 0, 1) * np.float32(size - 1)) - 1  # (N, L)
    if with_epsilon:
        bucket = np.maximum(bucket, 0)
    bucket = bucket.astype(np.int64) + 1  # (N, L): 0 collects the scores positive nowhere
    tp = np.stack([np.bincount(bucket[:, j], pos[:, j], size + 1) for j in range(bucket.shape[1])], 1)[1:]
    fp = np.stack([np.bincount(bucket[:, j], neg[:, j], size + 1) for j in range(bucket.shape[1])], 1)[1:]
    return np.cumsum(tp[::-1], 0)[::-1], np.cumsum(fp[::-1], 0)[::-1]  # (T, L): bucket >= i


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

    PRGAIN (Flach & Kull's precision-recall-gain curve) takes, with ``s = (TP + FN) / (TN + FP)``,
    ``x = max(1 - s FN / TP, 0)`` (0 where TP = 0) and ``y = 1 - s FP / TP`` (1 where TP = 0).
    PR with interpolation uses Davis & Goadrich's interpolation of precision between thresholds (TP and
    TP + FP linear in each interval):
    ``sum_i slope_i (dTP_i + intercept_i log(P_i / P_{i+1})) / (TP_{i+1} + FN_{i+1})``.
    ``multi_label``: one AUC per column of ``(B, L)`` data, averaged (weighted by ``label_weights``);
    otherwise every entry is one sample (``label_weights`` then weight the columns' entries).

    Args:
        num_thresholds: T > 1 (ignored when ``thresholds`` is given, as in Keras).
        curve: "ROC", "PR" or "PRGAIN".
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
        if curve not in ("ROC", "roc", "PR", "pr", "PRGAIN", "prgain"):
            raise ValueError(f"{owner}: curve must be 'ROC', 'PR' or 'PRGAIN' (or in lower case), got curve={curve!r}")
        if summation_method not in ("interpolation", "Interpolation", "minoring", "Minoring", "majoring",
                                    "Majoring"):
            raise ValueError(f"{owner}: summation_method must be 'interpolation', 'minoring' or 'majoring' (or "
                             f"capitalised), got summation_method={summation_method!r}")
        curve_name, method = curve.upper(), summation_method.lower()
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
            tp, fp = bucket_counts(pos, neg, y_pred, self.num_thresholds, with_epsilon=True)
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
        if self.curve == "ROC":
            x, y = _ratio(fp, fp + tn), recall  # (T, L): false positive rate, recall
        elif self.curve == "PR":
            x, y = recall, _ratio(tp, tp + fp)  # (T, L): recall, precision
        else:  # PRGAIN: recall and precision gains (0 and 1 where there is no true positive)
            scale = _ratio(tp + fn, tn + fp)  # (T, L)
            x = np.where(tp == 0, 0.0, np.maximum(1.0 - scale * _ratio(fn, tp), 0.0))
            y = np.where(tp == 0, 1.0, 1.0 - scale * _ratio(fp, tp))
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



class SensitivitySpecificityBase(Metric):
    """Counts at ``num_thresholds`` evenly spaced thresholds ``0, ..., 1`` (or at 0.5 alone when
    ``num_thresholds == 1``); a subclass's ``result`` is the best value of one rate among the thresholds
    where another rate reaches ``value`` (Keras's ``SensitivitySpecificityBase``).

    Args:
        value: the constraint in [0, 1].
        num_thresholds: T > 0.
        class_id: the one class (last axis) the metric looks at.
        name: the logged name.
        dtype: accepted for Keras's signature.
    """

    _direction = "up"
    _constraint = "value"  # the name of the constructor argument that holds ``value``

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        owner = type(self).__name__
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not 0 <= value <= 1:
            raise ValueError(f"{owner}: {self._constraint} must be a number in [0, 1], "
                             f"got {self._constraint}={value!r}")
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)) \
                or num_thresholds <= 0:
            raise ValueError(f"{owner}: num_thresholds must be an integer > 0, got num_thresholds={num_thresholds!r}")
        if class_id is not None and (isinstance(class_id, bool) or not isinstance(class_id, (int, np.integer))
                                     or class_id < 0):
            raise ValueError(f"{owner}: class_id must be a non-negative int or None, got class_id={class_id!r}")
        self.value, self.num_thresholds, self.class_id = value, int(num_thresholds), class_id
        self._evenly = self.num_thresholds > 1
        inner = [(i + 1) * 1.0 / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
        self.thresholds = [0.0, *inner, 1.0] if self._evenly else [0.5]
        super().__init__(name=name, dtype=dtype)

    def reset_state(self) -> None:
        size = len(self.thresholds)
        self.true_positives, self.false_positives = np.zeros(size), np.zeros(size)  # (T,) weighted counts
        self.true_negatives, self.false_negatives = np.zeros(size), np.zeros(size)  # (T,) weighted counts

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = _select(type(self).__name__, y_true, y_pred, None, self.class_id)
        tp, fp, tn, fn = confusion_counts(y_true, y_pred, self.thresholds, sample_weight, evenly=self._evenly)
        self.true_positives += tp
        self.false_positives += fp
        self.true_negatives += tn
        self.false_negatives += fn

    def _rates(self) -> dict[str, np.ndarray]:
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        return {"recall": _ratio(tp, tp + fn), "precision": _ratio(tp, tp + fp), "specificity": _ratio(tn, tn + fp)}

    def _max_under_constraint(self, constrained: np.ndarray, dependent: np.ndarray) -> float:
        """``max(dependent where constrained >= value, else 0)`` (0 when nothing qualifies)."""
        return float(np.float32(np.max(np.where(constrained >= self.value, dependent, 0.0), initial=0.0)))

    def get_config(self) -> dict:
        return {"name": self.name, "class_id": self.class_id, "num_thresholds": self.num_thresholds,
                self._constraint: self.value}


class SensitivityAtSpecificity(SensitivitySpecificityBase):
    """The best sensitivity (recall) among the thresholds whose specificity is at least ``specificity``.

    Example:
        >>> m = SensitivityAtSpecificity(0.5)
        >>> m.update_state(np.array([0, 0, 0, 1, 1]), np.array([0, 0.3, 0.8, 0.3, 0.8]))
        >>> m.result()
        0.5
    """

    _constraint = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)

    def result(self) -> float:
        rates = self._rates()
        return self._max_under_constraint(rates["specificity"], rates["recall"])


class SpecificityAtSensitivity(SensitivitySpecificityBase):
    """The best specificity among the thresholds whose sensitivity (recall) is at least ``sensitivity``."""

    _constraint = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)

    def result(self) -> float:
        rates = self._rates()
        return self._max_under_constraint(rates["recall"], rates["specificity"])


class PrecisionAtRecall(SensitivitySpecificityBase):
    """The best precision among the thresholds whose recall is at least ``recall``."""

    _constraint = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)

    def result(self) -> float:
        rates = self._rates()
        return self._max_under_constraint(rates["recall"], rates["precision"])


class RecallAtPrecision(SensitivitySpecificityBase):
    """The best recall among the thresholds whose precision is at least ``precision``."""

    _constraint = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)

    def result(self) -> float:
        rates = self._rates()
        return self._max_under_constraint(rates["precision"], rates["recall"])
