"""Loss modules, as ``torch.nn``; the math (and its equations) lives in :mod:`rnnkit.nn.functional`.

Class weights and ``pos_weight`` are buffers, so they appear in ``state_dict`` as in PyTorch.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from rnnkit._tensor import Tensor, array_of
from rnnkit.nn import functional as F
from rnnkit.nn.modules.module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCEWithLogitsLoss"]


def _buffer(name: str, value: Any) -> np.ndarray | None:
    """An optional weight as a float ndarray (a copy) for ``register_buffer``."""
    if value is None:
        return None
    array = np.array(array_of(value))
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected numbers, got an array of dtype {array.dtype}")
    return array.astype(array.dtype if array.dtype.kind == "f" else np.float32)


def _legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """torch's reading of the deprecated ``size_average``/``reduce`` pair (either given overrides ``reduction``)."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "none" if not reduce else "mean" if size_average else "sum"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead.",
                  UserWarning, stacklevel=3)
    return reduction


class _Loss(Module):
    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean"):
        super().__init__()
        reduction = _legacy_reduction(size_average, reduce, reduction)
        F._check_reduction(reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits (log-softmax + NLL fused); see :func:`rnnkit.nn.functional.cross_entropy`.

    Args:
        weight: optional (C,) class weights.
        ignore_index: class-index targets equal to it are skipped.
        reduction: 'none', 'mean' or 'sum'.
        label_smoothing: eps in [0, 1].

    Shapes: input (C,), (N, C) or (N, C, d1, ...); target class indices () / (N,) / (N, d1, ...)
    or probabilities of the input's shape.

    Example:
        >>> import numpy as np
        >>> from rnnkit import nn
        >>> loss = nn.CrossEntropyLoss(label_smoothing=0.1)(np.zeros((2, 5)), np.array([1, 4]))
        >>> round(loss.item(), 4)
        1.6094
    """

    def __init__(
        self, weight: Any = None, size_average: bool | None = None, ignore_index: int = -100,
        reduce: bool | None = None, reduction: str = "mean", label_smoothing: float = 0.0,
    ):
        super().__init__(size_average, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing: expected a value in [0, 1], got {label_smoothing}")
        self.register_buffer("weight", _buffer("weight", weight))
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input: Any, target: Any):
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities; see :func:`rnnkit.nn.functional.nll_loss`.

    Example:
        >>> import numpy as np
        >>> from rnnkit import nn
        >>> round(nn.NLLLoss()(np.log([[0.25, 0.75]]), np.array([1])).item(), 4)
        0.2877
    """

    def __init__(self, weight: Any = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _buffer("weight", weight))
        self.ignore_index = ignore_index

    def forward(self, input: Any, target: Any):
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    """Mean squared error ``(x - y)^2``; see :func:`rnnkit.nn.functional.mse_loss`.

    Example:
        >>> from rnnkit import nn
        >>> nn.MSELoss()([1.0, 2.0], [1.0, 4.0]).item()
        2.0
    """

    def forward(self, input: Any, target: Any):
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error ``|x - y|``; see :func:`rnnkit.nn.functional.l1_loss`.

    Example:
        >>> from rnnkit import nn
        >>> nn.L1Loss(reduction="sum")([1.0, 2.0], [0.0, 4.0]).item()
        3.0
    """

    def forward(self, input: Any, target: Any):
        return F.l1_loss(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits; see :func:`rnnkit.nn.functional.binary_cross_entropy_with_logits`.

    Args:
        weight: optional rescaling, broadcast to the input.
        reduction: 'none', 'mean' or 'sum'.
        pos_weight: optional weight of positive examples, broadcast along the last axis.

    Example:
        >>> from rnnkit import nn
        >>> round(nn.BCEWithLogitsLoss()([0.0], [1.0]).item(), 4)
        0.6931
    """

    def __init__(self, weight: Any = None, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", pos_weight: Any = None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _buffer("weight", weight))
        self.register_buffer("pos_weight", _buffer("pos_weight", pos_weight))

    def forward(self, input: Any, target: Any):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)
