"""Keras's probabilistic losses: the crossentropies (plain, focal, generalized), the KL divergence
and the Poisson loss, per sample and as ``Loss`` objects.

They follow Keras 3 exactly: probabilities (``from_logits=False``) are renormalised and clipped to
``[epsilon, 1 - epsilon]`` with ``epsilon = 1e-7`` before the log, and the clip has zero gradient
outside that interval (as ``torch.clip`` under Keras's torch backend). On probabilities the
crossentropies are single fused :class:`~rnnkit._tensor.Function` s (Keras's clip has no PyTorch
counterpart); on logits (``from_logits=True``) they are PyTorch's fused ops from
:mod:`rnnkit.nn.functional` (``cross_entropy`` with probability targets,
``binary_cross_entropy_with_logits``), as Keras's torch backend calls ``torch.nn.functional``'s.

Legend: B batch, C classes, ``...`` any leading axes (e.g. ``(B, T)`` for sequences).

Example:
    >>> import numpy as np
    >>> y_true = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> y_pred = np.array([[0.4, 0.6], [0.9, 0.1]], np.float32)
    >>> round(float(CategoricalCrossentropy()(y_true, y_pred).item()), 4)
    0.3081
"""

from __future__ import annotations

import warnings

import numpy as np

from rnnkit import _ops
from rnnkit._tensor import Function, Tensor, array_of
from rnnkit.keras.losses.base import EPSILON, LossFunctionWrapper, _matched, _one_hot, _pred, _same_shape, _true
from rnnkit.nn import functional as F

__all__ = [
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "BinaryCrossentropy", "KLDivergence", "Poisson",
    "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy", "CategoricalGeneralizedCrossEntropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy", "kl_divergence",
    "poisson", "binary_focal_crossentropy", "categorical_focal_crossentropy",
    "categorical_generalized_cross_entropy",
]


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
    target, y_pred = _matched("kl_divergence", y_true, y_pred)
    t = np.clip(target, np.asarray(EPSILON, target.dtype), 1)  # (..., K)
    p = _ops.clamp(y_pred, EPSILON, 1.0)  # (..., K)
    return _ops.sum(_ops.log(_ops.reciprocal(p) * t) * t, dim=-1)  # (...)


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


class KLDivergence(LossFunctionWrapper):
    """:func:`kl_divergence` with a reduction."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, reduction=reduction, name=name, dtype=dtype)


class Poisson(LossFunctionWrapper):
    """:func:`poisson` with a reduction."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(poisson, reduction=reduction, name=name, dtype=dtype)


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


class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper):
    """:func:`categorical_generalized_cross_entropy` with a reduction."""

    def __init__(self, q=0.5, reduction="sum_over_batch_size", name="categorical_generalized_cross_entropy",
                 dtype=None):
        if isinstance(q, bool) or not isinstance(q, (int, float, np.integer, np.floating)) or not 0 < q < 1:
            raise ValueError(f"CategoricalGeneralizedCrossEntropy: q must be in the interval (0, 1), got q={q!r}")
        super().__init__(categorical_generalized_cross_entropy, reduction=reduction, name=name, dtype=dtype, q=q)
