"""Functional forms of the non-recurrent layers and the losses, as ``torch.nn.functional``.

Every layer and loss here is ONE :class:`~rnnkit._tensor.Function` with a hand-written
backward (no chain of tiny ops). Inputs may be Tensors or array-likes.

Shape legend: N batch, C classes, d1..dk extra positions of a K-dimensional loss,
M = N*d1*...*dk rows once the class axis is moved last, I in-features, O out-features,
V vocabulary (embeddings), E embedding size, ``*`` any leading dimensions.

Equations (per row m of logits x_m, target class t_m, class weights w, smoothing eps):

    logp_m          = log_softmax(x_m)
    nll_m           = -w[t_m] * logp_m[t_m]
    smooth_m        = -sum_c w[c] * logp_m[c]
    cross_entropy_m = (1 - eps) * nll_m + eps / C * smooth_m
    mean            = sum_m cross_entropy_m / sum_m w[t_m]      (ignored rows excluded)

    with probability targets q_m:  cross_entropy_m = -sum_c w[c] * q'_mc * logp_mc,
    q' = (1 - eps) * q + eps / C, and the mean divides by M.

    bce_with_logits = w * ((1 - y) * x - (1 + (pos_weight - 1) * y) * log(sigmoid(x)))

Example:
    >>> import numpy as np
    >>> from rnnkit.nn import functional as F
    >>> logits = np.array([[2.0, 0.5, -1.0]])
    >>> round(float(F.cross_entropy(logits, np.array([0])).item()), 4)
    0.2413
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from rnnkit import _ops
from rnnkit._ops import _unbroadcast, log_softmax, relu, sigmoid, softmax, tanh
from rnnkit._random import dropout_mask, generator
from rnnkit._tensor import Function, Tensor, array_of, as_tensor
from rnnkit._validation import float_input
from rnnkit.cells import kernels

__all__ = [
    "linear", "embedding", "dropout", "relu", "tanh", "sigmoid", "softmax", "log_softmax", "one_hot",
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy_with_logits", "layer_norm",
    "gelu", "leaky_relu",
]

_REDUCTIONS = ("none", "mean", "sum")


# -- argument helpers ----------------------------------------------------------
def _int_array(name: str, x: Any) -> np.ndarray:
    """Class indices as an int64 ndarray (TypeError for anything else)."""
    array = array_of(x)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer class indices, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _target_like(target: Any, x: Tensor) -> Tensor:
    """A real-valued target in the input's dtype (a Tensor of another dtype is cast differentiably)."""
    if isinstance(target, Tensor):
        return target if target.dtype == x.dtype else target.astype(x.dtype)
    return Tensor(np.asarray(target), dtype=x.dtype)


def _const_array(name: str, x: Any, dtype: np.dtype) -> np.ndarray | None:
    """An optional constant (loss weights) as an ndarray of ``dtype``."""
    if x is None:
        return None
    array = array_of(x)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{name}: expected numbers, got an array of dtype {array.dtype}")
    return array.astype(dtype, copy=False)


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected 'none', 'mean' or 'sum', got {reduction!r}")


def _reduce(loss: np.ndarray, reduction: str, denom: Any) -> np.ndarray:
    """Apply a reduction to elementwise losses; ``denom`` divides the mean."""
    if reduction == "none":
        return loss
    with np.errstate(invalid="ignore", divide="ignore"):  # an empty or fully ignored mean is nan, as torch
        total = loss.sum(dtype=loss.dtype)
        return np.asarray(total if reduction == "sum" else total / np.asarray(denom, loss.dtype))


def _expand_grad(g: np.ndarray, shape: tuple[int, ...], reduction: str, denom: Any) -> np.ndarray:
    """The upstream gradient of a reduced loss, spread back over its elements."""
    if reduction == "none":
        return g.reshape(shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = g if reduction == "sum" else g / np.asarray(denom, g.dtype)
    return np.broadcast_to(scale, shape)


# -- linear, embedding, dropout ------------------------------------------------
class _Linear(Function):
    """y = x W^T + b over any leading dimensions."""

    def forward(self, x, weight, *bias):
        self.save_for_backward(x, weight)
        y = kernels.matmul(x.reshape(-1, x.shape[-1]), weight.T, bias[0] if bias else None)  # (M, O), M = prod(*)
        return y.reshape(x.shape[:-1] + weight.shape[:1])  # (*, O)

    def backward(self, g):
        x, weight = self.saved
        g2 = g.reshape(-1, g.shape[-1])  # (M, O)
        dx = kernels.matmul(g2, weight).reshape(x.shape) if self.needs_input_grad[0] else None  # (*, I)
        dW = kernels.matmul(g2.T, x.reshape(-1, x.shape[-1])) if self.needs_input_grad[1] else None  # (O, I)
        if len(self.needs_input_grad) == 2:
            return dx, dW
        db = g2.sum(axis=0) if self.needs_input_grad[2] else None  # (O,)
        return dx, dW, db


def linear(input: Any, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y = x W^T + b``.

    Args:
        input: (*, I); array-likes are converted to ``weight``'s dtype.
        weight: (O, I).
        bias: optional (O,).

    Returns:
        (*, O).
    """
    weight = as_tensor(weight)
    x = float_input("input", input, weight.dtype)
    if weight.ndim != 2:
        raise ValueError(f"weight: expected a 2-D (out_features, in_features) tensor, got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"input: expected last dimension {weight.shape[1]} (in_features), got shape {x.shape}")
    if bias is None:
        return _Linear.apply(x, weight)
    bias = as_tensor(bias)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"bias: expected shape ({weight.shape[0]},), got {bias.shape}")
    return _Linear.apply(x, weight, bias)


class _Embedding(Function):
    """Row lookup; the gradient scatter-adds into the rows used (never the padding row)."""

    def forward(self, weight, indices, padding_idx):
        self.indices, self.padding_idx, self.num_embeddings = indices, padding_idx, weight.shape[0]
        return weight[indices]  # (*, E)

    def backward(self, g):
        dW = np.zeros((self.num_embeddings, g.shape[-1]), g.dtype)  # (V, E)
        flat = self.indices.ravel()  # (M,)
        if flat.size:  # sort, then one sum per distinct index (several times faster than np.add.at)
            order = np.argsort(flat, kind="stable")  # (M,)
            ordered = flat[order]  # (M,)
            starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # (U,) first of each run
            dW[ordered[starts]] = np.add.reduceat(g.reshape(-1, g.shape[-1])[order], starts, axis=0)  # (U, E)
        if self.padding_idx is not None:
            dW[self.padding_idx] = 0
        return dW


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Look up rows of ``weight``.

    Args:
        input: integer indices of any shape (*), each in [0, V).
        weight: (V, E).
        padding_idx: a row that receives no gradient (negative counts from the end).

    Returns:
        (*, E).
    """
    weight = as_tensor(weight)
    indices = _int_array("input", input)
    if weight.ndim != 2:
        raise ValueError(f"weight: expected a 2-D (num_embeddings, embedding_dim) tensor, got shape {weight.shape}")
    V = weight.shape[0]
    if indices.size and (indices.min() < 0 or indices.max() >= V):
        bad = indices[(indices < 0) | (indices >= V)].flat[0]
        raise ValueError(f"input: expected indices in [0, {V}) (num_embeddings), got {bad}")
    if padding_idx is not None:
        if not -V <= padding_idx < V:
            raise ValueError(f"padding_idx: expected a value in [{-V}, {V}), got {padding_idx}")
        padding_idx %= V
    return _Embedding.apply(weight, indices=indices, padding_idx=padding_idx)


class _Dropout(Function):
    """x * mask / (1 - p) with mask ~ Bernoulli(1 - p)."""

    def forward(self, x, p):
        self.scaled_mask = dropout_mask(generator(), x.shape, p, x.dtype)  # (*) 0 or 1 / (1 - p)
        return x * self.scaled_mask

    def backward(self, g):
        return g * self.scaled_mask


def _check_p(p: Any) -> float:
    """A dropout probability: a number in [0, 1]."""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
        raise TypeError(f"p: expected a dropout probability (a number in [0, 1]), got {type(p).__name__}")
    if not 0 <= p <= 1:
        raise ValueError(f"p: dropout probability has to be between 0 and 1, but got {p}")
    return float(p)


def dropout(input: Any, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (inverted dropout).

    Identity when ``training`` is False or ``p`` is 0.
    """
    p = _check_p(p)
    x = float_input("input", input)
    if not training or p == 0:
        return x
    return _Dropout.apply(x, p=p)


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """(*) integer classes -> (*, num_classes) int64 one-hot; ``-1`` infers max + 1."""
    indices = _int_array("tensor", tensor)
    if indices.size and indices.min() < 0:
        raise ValueError(f"tensor: expected non-negative class values, got {indices.min()}")
    if num_classes == -1:
        num_classes = int(indices.max()) + 1 if indices.size else 0
    if indices.size and indices.max() >= num_classes:
        raise ValueError(f"num_classes: expected more than the largest class {indices.max()}, got {num_classes}")
    return Tensor((indices[..., None] == np.arange(num_classes)).astype(np.int64))


# -- classification losses -------------------------------------------------------
def _rows(x: np.ndarray) -> np.ndarray:
    """(C,) -> (1, C); (N, C) as is; (N, C, d1..dk) -> (M, C) with the class axis last."""
    if x.ndim == 1:
        return x[None, :]
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _unrows(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`_rows` for a gradient of the input's ``shape``."""
    if len(shape) == 1:
        return g.reshape(shape)
    moved = shape[:1] + shape[2:] + shape[1:2]  # (N, d1..dk, C)
    return np.ascontiguousarray(np.moveaxis(g.reshape(moved), -1, 1))


def _log_softmax_rows(x2: np.ndarray) -> np.ndarray:
    shifted = x2 - x2.max(axis=1, keepdims=True)  # (M, C)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (M, C)


class _ClassIndexTargets:
    """Targets as class indices, flattened to rows, with their weights (shared by NLL and CE)."""

    def __init__(self, input_shape, target, weight, ignore_index, dtype):
        C = input_shape[0] if len(input_shape) == 1 else input_shape[1]
        expected = () if len(input_shape) == 1 else input_shape[:1] + input_shape[2:]
        if target.shape != expected:
            raise ValueError(
                f"target: expected class indices of shape {expected} for input of shape {input_shape}, "
                f"got shape {target.shape}"
            )
        t = target.reshape(-1)  # (M,)
        self.valid = t != ignore_index  # (M,)
        bad = self.valid & ((t < 0) | (t >= C))
        if bad.any():
            raise ValueError(
                f"target: expected class indices in [0, {C}) or ignore_index={ignore_index}, got {t[bad][0]}"
            )
        self.index = np.where(self.valid, t, 0)  # (M,)
        self.rows = np.arange(t.size)  # (M,)
        self.shape, self.C = target.shape, C
        self.w_t = self.valid.astype(dtype) if weight is None else weight[self.index] * self.valid  # (M,)


class _NLLLoss(Function):
    def forward(self, x, targets: _ClassIndexTargets, reduction):
        self.shape, self.targets, self.reduction = x.shape, targets, reduction
        picked = _rows(x)[targets.rows, targets.index]  # (M,)
        loss = -targets.w_t * picked  # (M,)
        self.denom = targets.w_t.sum()
        return _reduce(loss.reshape(targets.shape), reduction, self.denom)

    def backward(self, g):
        tg = self.targets
        g_m = _expand_grad(g, tg.shape, self.reduction, self.denom).reshape(-1)  # (M,)
        M = tg.rows.size
        dx2 = np.zeros((M, tg.C), g.dtype)  # (M, C)
        dx2[tg.rows, tg.index] = -tg.w_t * g_m
        return _unrows(dx2, self.shape)


class _CrossEntropyIndex(Function):
    def forward(self, x, targets: _ClassIndexTargets, weight, reduction, label_smoothing):
        self.shape, self.targets, self.reduction, self.eps = x.shape, targets, reduction, label_smoothing
        self.weight = weight
        logp = _log_softmax_rows(_rows(x))  # (M, C)
        loss = -(1 - label_smoothing) * targets.w_t * logp[targets.rows, targets.index]  # (M,)
        if label_smoothing:
            smooth = logp.sum(axis=1) if weight is None else logp @ weight  # (M,)
            loss -= label_smoothing / targets.C * targets.valid * smooth  # (M,)
        self.p = np.exp(logp)  # (M, C)
        self.denom = targets.w_t.sum()
        return _reduce(loss.reshape(targets.shape), reduction, self.denom)

    def backward(self, g):
        tg, eps, p = self.targets, self.eps, self.p
        g_m = _expand_grad(g, tg.shape, self.reduction, self.denom).reshape(-1, 1)  # (M, 1)
        dx2 = (1 - eps) * tg.w_t[:, None] * p  # (M, C)
        dx2[tg.rows, tg.index] -= (1 - eps) * tg.w_t
        if eps:
            w_sum = tg.C if self.weight is None else self.weight.sum()
            w = 1 if self.weight is None else self.weight
            dx2 += eps / tg.C * tg.valid[:, None] * (p * w_sum - w)  # (M, C)
        return _unrows(dx2 * g_m, self.shape)


class _CrossEntropyProb(Function):
    def forward(self, x, q, weight, reduction, label_smoothing):
        self.shape, self.reduction, self.eps, self.weight = x.shape, reduction, label_smoothing, weight
        C = x.shape[0] if x.ndim == 1 else x.shape[1]
        self.logp = _log_softmax_rows(_rows(x))  # (M, C)
        q2 = _rows(q)  # (M, C)
        if label_smoothing:
            q2 = q2 * (1 - label_smoothing) + label_smoothing / C  # (M, C)
        self.wq = q2 if weight is None else q2 * weight  # (M, C)
        loss = -(self.wq * self.logp).sum(axis=1)  # (M,)
        self.loss_shape = () if x.ndim == 1 else x.shape[:1] + x.shape[2:]
        self.denom = loss.size
        return _reduce(loss.reshape(self.loss_shape), reduction, self.denom)

    def backward(self, g):
        g_m = _expand_grad(g, self.loss_shape, self.reduction, self.denom).reshape(-1, 1)  # (M, 1)
        dx = dq = None
        if self.needs_input_grad[0]:
            dx2 = np.exp(self.logp) * self.wq.sum(axis=1, keepdims=True) - self.wq  # (M, C)
            dx = _unrows(dx2 * g_m, self.shape)
        if self.needs_input_grad[1]:
            w = 1 if self.weight is None else self.weight
            dq = _unrows(-(1 - self.eps) * w * self.logp * g_m, self.shape)  # (M, C) -> input's shape
        return dx, dq


def _class_input(x: Any) -> Tensor:
    x = float_input("input", x)
    if x.ndim == 0:
        raise ValueError("input: expected (C,), (N, C) or (N, C, d1, ...) scores, got a 0-d tensor")
    return x


def _class_weight(weight: Any, C: int, dtype: np.dtype) -> np.ndarray | None:
    w = _const_array("weight", weight, dtype)
    if w is not None and w.shape != (C,):
        raise ValueError(f"weight: expected one weight per class, shape ({C},), got {w.shape}")
    return w


def nll_loss(
    input: Any, target: Any, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"
) -> Tensor:
    """Negative log-likelihood of log-probabilities: ``-w[t] * input[t]``.

    Args:
        input: (C,), (N, C) or (N, C, d1, ...) log-probabilities.
        target: class indices, () / (N,) / (N, d1, ...); entries equal to ``ignore_index`` are skipped.
        weight: optional (C,) class weights.
        reduction: 'none' (shape of target), 'mean' (divided by the summed weights of the
            targets used) or 'sum'.
    """
    _check_reduction(reduction)
    x = _class_input(input)
    C = x.shape[0] if x.ndim == 1 else x.shape[1]
    w = _class_weight(weight, C, x.dtype)
    targets = _ClassIndexTargets(x.shape, _int_array("target", target), w, ignore_index, x.dtype)
    return _NLLLoss.apply(x, targets=targets, reduction=reduction)


def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy of unnormalised scores, log-softmax and NLL in one fused op (see the module equations).

    Args:
        input: (C,), (N, C) or (N, C, d1, ...) logits.
        target: class indices (integer, shape () / (N,) / (N, d1, ...)) or class probabilities
            (floating, the shape of ``input``).
        weight: optional (C,) class weights.
        ignore_index: class-index targets equal to it add nothing (not allowed with probabilities).
        reduction: 'none', 'mean' or 'sum'.
        label_smoothing: eps in [0, 1]: the target becomes (1 - eps) * target + eps / C.

    Returns:
        The loss: a scalar, or the target's shape (without the class axis) for 'none'.
    """
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing: expected a value in [0, 1], got {label_smoothing}")
    x = _class_input(input)
    C = x.shape[0] if x.ndim == 1 else x.shape[1]
    w = _class_weight(weight, C, x.dtype)
    target_data = array_of(target)
    if target_data.dtype.kind == "f":
        if target_data.shape != x.shape:
            raise ValueError(
                f"target: expected class probabilities of the input's shape {x.shape} "
                f"(or integer class indices), got shape {target_data.shape}"
            )
        if ignore_index >= 0:
            raise ValueError(f"ignore_index: not supported with class-probability targets, got {ignore_index}")
        q = _target_like(target, x)
        return _CrossEntropyProb.apply(x, q, weight=w, reduction=reduction, label_smoothing=label_smoothing)
    targets = _ClassIndexTargets(x.shape, _int_array("target", target), w, ignore_index, x.dtype)
    return _CrossEntropyIndex.apply(
        x, targets=targets, weight=w, reduction=reduction, label_smoothing=label_smoothing
    )


# -- regression losses -------------------------------------------------------------
class _PointwiseLoss(Function):
    """mean/sum/none of f(x - y) for f = square (MSE) or abs (L1)."""

    def forward(self, x, y, kind, reduction):
        self.shapes, self.reduction = (x.shape, y.shape), reduction
        diff = x - y  # (*)
        self.dloss = 2 * diff if kind == "mse" else np.sign(diff)  # (*) d loss / d x
        loss = diff * diff if kind == "mse" else np.abs(diff)  # (*)
        self.loss_shape, self.denom = loss.shape, loss.size
        return _reduce(loss, reduction, self.denom)

    def backward(self, g):
        dx = self.dloss * _expand_grad(g, self.loss_shape, self.reduction, self.denom)  # (*)
        return (
            _unbroadcast(dx, self.shapes[0]) if self.needs_input_grad[0] else None,
            _unbroadcast(-dx, self.shapes[1]) if self.needs_input_grad[1] else None,
        )


def _pointwise(kind: str, input: Any, target: Any, reduction: str) -> Tensor:
    _check_reduction(reduction)
    x = float_input("input", input)
    y = _target_like(target, x)
    if x.shape != y.shape:
        try:
            np.broadcast_shapes(x.shape, y.shape)
        except ValueError:
            raise ValueError(f"target: expected the input's shape {x.shape}, got {y.shape}") from None
        warnings.warn(
            f"Using a target size ({y.shape}) that is different to the input size ({x.shape}). "
            "This will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.",
            UserWarning,
            stacklevel=3,
        )
    return _PointwiseLoss.apply(x, y, kind=kind, reduction=reduction)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Squared error ``(x - y)^2``, reduced by 'mean' (over all elements), 'sum' or 'none'."""
    return _pointwise("mse", input, target, reduction)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Absolute error ``|x - y|``, reduced by 'mean' (over all elements), 'sum' or 'none'."""
    return _pointwise("l1", input, target, reduction)


class _BCEWithLogits(Function):
    def forward(self, x, y, weight, pos_weight, reduction):
        self.reduction = reduction
        log_sig = -np.logaddexp(0, -x)  # (*) log sigmoid(x), stable
        lw = 1 if pos_weight is None else 1 + (pos_weight - 1) * y  # (*) weight of the positive term
        loss = (1 - y) * x - lw * log_sig  # (*)
        w = 1 if weight is None else weight
        self.dx = w * ((1 - y) - lw * (1 - np.exp(log_sig)))  # (*) d loss / d x
        if self.needs_input_grad[1]:
            pw_term = 0 if pos_weight is None else (pos_weight - 1) * log_sig  # (*)
            self.dy = w * (-x - pw_term)  # (*) d loss / d y
        loss = loss * w  # (*)
        self.loss_shape, self.denom = loss.shape, loss.size
        return _reduce(loss, reduction, self.denom)

    def backward(self, g):
        g_el = _expand_grad(g, self.loss_shape, self.reduction, self.denom)  # (*)
        dx = self.dx * g_el if self.needs_input_grad[0] else None
        dy = self.dy * g_el if self.needs_input_grad[1] else None
        return dx, dy


def binary_cross_entropy_with_logits(
    input: Any, target: Any, weight: Any = None, reduction: str = "mean", pos_weight: Any = None
) -> Tensor:
    """Binary cross-entropy on logits, sigmoid fused in (see the module equations).

    Args:
        input: (*) logits.
        target: (*) targets in [0, 1], the input's shape.
        weight: optional rescaling broadcast to the input's shape.
        reduction: 'none', 'mean' or 'sum'.
        pos_weight: optional weight of positive examples, broadcast along the last axis (C,).
    """
    _check_reduction(reduction)
    x = float_input("input", input)
    y = _target_like(target, x)
    if y.shape != x.shape:
        raise ValueError(f"target: expected the input's shape {x.shape}, got {y.shape}")
    w = _const_array("weight", weight, x.dtype)
    pw = _const_array("pos_weight", pos_weight, x.dtype)
    for name, array in (("weight", w), ("pos_weight", pw)):
        if array is not None and _broadcast_or_none(array.shape, x.shape) != x.shape:
            raise ValueError(f"{name}: expected a shape that broadcasts to the input's {x.shape}, got {array.shape}")
    return _BCEWithLogits.apply(x, y, weight=w, pos_weight=pw, reduction=reduction)


def _broadcast_or_none(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        return None


def layer_norm(input: Any, normalized_shape: Any, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dimensions, as ``torch.nn.functional.layer_norm``."""
    x = as_tensor(input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape:
        raise RuntimeError(f"layer_norm: expected input with trailing shape {shape}, got {x.shape}")
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    mean = _ops.mean(x, dims, keepdim=True)
    centred = x - mean
    var = _ops.mean(centred * centred, dims, keepdim=True)
    y = centred * _ops.rsqrt(var + eps)  # (..., *shape)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


_erf = np.vectorize(math.erf, otypes=[np.float64])  # NumPy has no erf; math.erf is exact to rounding


class _GELU(Function):
    """GELU: ``x * Phi(x)`` (``approximate='none'``) or its tanh approximation, as torch."""

    def forward(self, x, approximate):
        self.approximate = approximate
        self.save_for_backward(x)
        if approximate == "tanh":
            inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
            return (0.5 * x * (1 + np.tanh(inner))).astype(x.dtype)
        return (0.5 * x * (1 + _erf(x / math.sqrt(2)))).astype(x.dtype)

    def backward(self, g):
        (x,) = self.saved
        if self.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            t = np.tanh(k * (x + 0.044715 * x**3))
            return (g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x))).astype(x.dtype)
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return (g * (0.5 * (1 + _erf(x / math.sqrt(2))) + x * pdf)).astype(x.dtype)


def gelu(input: Any, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit, as ``torch.nn.functional.gelu``."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu(approximate): expected 'none' or 'tanh', got {approximate!r}")
    return _GELU.apply(float_input("input", input), approximate=approximate)


def leaky_relu(input: Any, negative_slope: float = 0.01) -> Tensor:
    """``x`` where positive, else ``negative_slope * x``."""
    x = float_input("input", input)
    return _ops.where(array_of(x) > 0, x, x * negative_slope)
