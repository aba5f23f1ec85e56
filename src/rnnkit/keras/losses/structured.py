"""Keras's losses over sets, pairs and sequences: Dice and Tversky (overlaps, for segmentation),
Circle (pairs of embeddings, for metric learning) and CTC (label sequences read off a recurrent
network's outputs without an alignment), per sample and as ``Loss`` objects.

Example:
    >>> import numpy as np
    >>> round(Dice()(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]], np.float32)).item(), 4)
    0.5
"""

from __future__ import annotations

import numpy as np

from rnnkit import _ops
from rnnkit._tensor import Function, Tensor, array_of
from rnnkit.keras import activations
from rnnkit.keras.losses.base import EPSILON, LossFunctionWrapper, _pred, _true

__all__ = ["Dice", "Tversky", "CTC", "Circle", "dice", "tversky", "ctc", "circle"]


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


class Dice(LossFunctionWrapper):
    """:func:`dice` with a reduction."""

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(dice, reduction=reduction, name=name, dtype=dtype, axis=axis)


class Tversky(LossFunctionWrapper):
    """:func:`tversky` with a reduction."""

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky", axis=None, dtype=None):
        super().__init__(tversky, reduction=reduction, name=name, dtype=dtype, alpha=alpha, beta=beta, axis=axis)


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
