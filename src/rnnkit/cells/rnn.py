"""Elman RNN cell over a whole sequence, and the masked products every cell shares.

Equations (PyTorch ``nn.RNN``; Keras ``SimpleRNN`` with its recurrent dropout mask m)::

    z_t = xw_t + (h_{t-1} * m) W_hh^T          xw_t = x_t W_ih^T + b_ih + b_hh (from the driver)
    h_t = act(z_t)                              act: tanh, relu or any registered activation
    where mask[t, b] is False: h_t = h_{t-1}    (carried; no gradient to the weights)

The Elman pre-activation is the building block of the other cells, so the three masked
products they all need live here too: ``masked_matmul`` (forward), ``masked_matmul_dinput``
and ``masked_matmul_dweight`` (its two gradients). A mask is None, one (B, K) array shared
by every gate, or (G, B, K), one per gate block of the weight (Keras draws one recurrent
dropout mask per gate).

Shapes: T time, B batch, K features of the multiplied state or input, H hidden, G gates.

Example:
    >>> import numpy as np
    >>> from rnnkit.cells import rnn
    >>> rng = np.random.default_rng(0)
    >>> xw, h0, W_hh = rng.normal(size=(5, 2, 3)), np.zeros((2, 3)), rng.normal(size=(3, 3))
    >>> hs, h_T, cache = rnn.forward(xw, h0, W_hh)
    >>> dxw, dh0, dW_hh = rnn.backward(np.ones_like(hs), None, cache)
    >>> hs.shape, dxw.shape, dW_hh.shape
    ((5, 2, 3), (5, 2, 3), (3, 3))
"""

from __future__ import annotations

from itertools import repeat

import numpy as np

from rnnkit.cells import activations

__all__ = ["forward", "backward", "masked_matmul", "masked_matmul_dinput", "masked_matmul_dweight"]


def _blocks(mask: np.ndarray | None, n: int) -> list[tuple[np.ndarray | None, slice]]:
    """(mask, column block) pairs: one block for None/shared masks, G blocks for (G, B, K)."""
    if mask is None or mask.ndim == 2:
        return [(mask, slice(0, n))]
    m = n // mask.shape[0]
    return [(mask[g], slice(g * m, (g + 1) * m)) for g in range(mask.shape[0])]


def _rows(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, a.shape[-1])  # (N, K) rows of (..., B, K)


def masked_matmul(a: np.ndarray, mask: np.ndarray | None, W_T: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``out[..., block g] = (a * mask_g) @ W_T[:, block g]``.

    Args:
        a: (..., B, K) state or input.
        mask: None, (B, K) shared, or (G, B, K) one per block of ``W_T``'s columns.
        W_T: (K, N) transposed weight, N = G * M.
        out: optional (..., B, N) destination.

    Returns:
        (..., B, N).
    """
    if mask is None and a.ndim == 2 and out is not None:
        return np.matmul(a, W_T, out=out)  # (B, N) fast path of the time loop
    if out is None:
        out = np.empty(a.shape[:-1] + (W_T.shape[1],), dtype=a.dtype)
    for m, cols in _blocks(mask, W_T.shape[1]):
        am = a if m is None else a * m  # (..., B, K)
        if a.ndim == 2:
            np.matmul(am, W_T[:, cols], out=out[:, cols])  # (B, M)
        elif cols.stop - cols.start == out.shape[-1] and out.flags.c_contiguous:
            np.matmul(_rows(am), W_T, out=_rows(out))  # (T*B, N)
        else:
            out[..., cols] = (_rows(am) @ W_T[:, cols]).reshape(out.shape[:-1] + (-1,))  # (..., B, M)
    return out


def masked_matmul_dinput(dy: np.ndarray, W: np.ndarray, mask: np.ndarray | None,
                         out: np.ndarray | None = None) -> np.ndarray:
    """Gradient of :func:`masked_matmul` wrt ``a``: ``sum_g (dy[..., block g] @ W[block g]) * mask_g``.

    Args:
        dy: (..., B, N) gradient of the product; W: (N, K) weight; mask as in :func:`masked_matmul`.
        out: optional C-contiguous (..., B, K) destination.

    Returns:
        (..., B, K).
    """
    if out is None:
        out = np.empty(dy.shape[:-1] + (W.shape[1],), dtype=dy.dtype)
    blocks = _blocks(mask, W.shape[0])
    part = out if len(blocks) == 1 else np.empty_like(out)
    for g, (m, rows) in enumerate(blocks):
        dst = out if g == 0 else part
        np.matmul(_rows(dy[..., rows]), W[rows], out=_rows(dst))  # (N, K) dy_g W_g
        if m is not None:
            dst *= m  # (..., B, K)
        if g:
            out += part  # (..., B, K)
    return out


def masked_matmul_dweight(dy: np.ndarray, a: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Gradient of :func:`masked_matmul` wrt ``W`` (untransposed, (N, K)), summed over all rows.

    Args:
        dy: (..., B, N); a: (..., B, K); mask as in :func:`masked_matmul`.

    Returns:
        (N, K) = sum over (..., B) of ``dy[..., block g]^T (a * mask_g)`` per block.
    """
    n = dy.shape[-1]
    dW = np.empty((n, a.shape[-1]), dtype=dy.dtype)
    for m, rows in _blocks(mask, n):
        am = a if m is None else a * m  # (..., B, K)
        np.matmul(_rows(dy[..., rows]).T, _rows(am), out=dW[rows])  # (M, K)
    return dW


def check(xw: np.ndarray, gates: int, h0: np.ndarray, W_hh: np.ndarray, mask, rec_mask, out_size: int | None = None):
    """Validate the arguments every cell shares; returns (T, B, H, rec_mask cast to xw's dtype)."""
    if not isinstance(xw, np.ndarray) or xw.ndim != 3 or xw.dtype.kind != "f":
        raise TypeError(f"xw: expected a float (T, B, {gates}*H) ndarray, got "
                        f"{getattr(xw, 'shape', type(xw).__name__)}")
    T, B, GH = xw.shape
    if GH % gates:
        raise ValueError(f"xw: expected a last axis of {gates}*H, got {GH}")
    H = GH // gates
    K = H if out_size is None else out_size
    if W_hh.shape != (GH, K) or W_hh.dtype != xw.dtype:
        raise ValueError(f"W_hh: expected shape {(GH, K)} and dtype {xw.dtype}, got {W_hh.shape} {W_hh.dtype}")
    if h0.shape != (B, K) or h0.dtype != xw.dtype:
        raise ValueError(f"h0: expected shape {(B, K)} and dtype {xw.dtype}, got {h0.shape} {h0.dtype}")
    if mask is not None and (mask.shape != (T, B) or mask.dtype != np.bool_):
        raise ValueError(f"mask: expected a bool (T, B) = {(T, B)} array, got {mask.shape} {mask.dtype}")
    if rec_mask is not None:
        if rec_mask.shape not in ((B, K), (gates, B, K)):
            raise ValueError(f"rec_mask: expected shape {(B, K)} or {(gates, B, K)}, got {rec_mask.shape}")
        rec_mask = rec_mask.astype(xw.dtype, copy=False)
    return T, B, H, rec_mask


def holes(mask: np.ndarray | None, T: int) -> tuple[list[bool], list[np.ndarray | None]]:
    """Per step: does any sequence skip it, and its (B, 1) 'carry' selector ``~mask[t]`` (or None)."""
    if mask is None:
        return [False] * T, [None] * T
    return (~mask).any(axis=1).tolist(), list(~mask[:, :, None])


def forward(xw, h0, W_hh, *, mask=None, rec_mask=None, activation="tanh"):
    """Run the Elman cell over a sequence.

    Args:
        xw: (T, B, H) input projection plus both biases.
        h0: (B, H) initial state.
        W_hh: (H, H) recurrent weight.
        mask: optional bool (T, B); False carries the state through that step.
        rec_mask: optional (B, H) or (1, B, H) recurrent dropout mask multiplied into h_{t-1}.
        activation: activation name or :class:`~rnnkit.cells.activations.Activation`.

    Returns:
        ``(hs, h_T, cache)``: hs (T, B, H) state after each step (carried where masked),
        h_T (B, H), cache for :func:`backward`. hs and h_T are views of the cache: read-only.
    """
    act = activations.get(activation)
    T, B, H, rec_mask = check(xw, 1, h0, W_hh, mask, rec_mask)
    hs = np.empty((T + 1, B, H), dtype=xw.dtype)  # (T+1, B, H) hs[0] = h0, hs[t+1] = h_t
    hs[0] = h0
    Z = np.empty((T, B, H) if act.saves == "input" else (1, B, H), dtype=xw.dtype)  # pre-activations
    W_hhT = W_hh.T  # (H, H) a transposed view: BLAS reads it as is
    hole, carry = holes(mask, T)
    zs = Z if act.saves == "input" else repeat(Z[0], T)  # per-step pre-activation buffers
    with np.errstate(over="ignore"):  # exp overflow to inf is a correct limit
        for z, xw_t, h_prev, h, hole_t, carry_t in zip(zs, xw, hs[:-1], hs[1:], hole, carry):
            if rec_mask is None:
                np.dot(h_prev, W_hhT, z)  # (B, H) h_{t-1} W_hh^T
            else:
                masked_matmul(h_prev, rec_mask, W_hhT, z)  # (B, H) (h_{t-1} * m) W_hh^T
            np.add(z, xw_t, z)  # (B, H) z_t
            act.forward(z, h)  # (B, H) h_t
            if hole_t:
                np.copyto(h, h_prev, where=carry_t)  # (B, H) carried rows
    cache = dict(act=act, hs=hs, Z=Z, W_hh=W_hh, mask=mask, rec_mask=rec_mask)
    return hs[1:], hs[T], cache


def backward(dhs, dh_T, cache):
    """BPTT through :func:`forward`.

    Args:
        dhs: (T, B, H) gradient wrt hs, or None.
        dh_T: (B, H) gradient wrt h_T, or None.
        cache: from :func:`forward`.

    Returns:
        ``(dxw, dh0, dW_hh)``: (T, B, H), (B, H), (H, H).
    """
    act, hs, W_hh, mask, rec_mask = (cache[k] for k in ("act", "hs", "W_hh", "mask", "rec_mask"))
    T, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    dtype = hs.dtype
    # act'(z_t) for all steps at once (0 at masked steps); step t turns dZ[t] into dL/dz_t in place
    dZ = act.derivative(hs[1:] if act.saves == "output" else cache["Z"])  # (T, B, H)
    if mask is not None:
        dZ *= mask[:, :, None]  # (T, B, H) masked steps pass no gradient to z
    dhs = zeros_if_none(dhs, (T, B, H), dtype)
    dh_next = np.zeros((B, H), dtype) if dh_T is None else np.array(dh_T, dtype=dtype)  # (B, H)
    dh = np.empty((B, H), dtype)
    hole, carry = holes(mask, T)
    for dhs_t, dz, hole_t, carry_t in zip(dhs[::-1], dZ[::-1], reversed(hole), reversed(carry)):
        np.add(dhs_t, dh_next, dh)  # (B, H) dL/dh_t
        np.multiply(dh, dz, dz)  # (B, H) dL/dz_t = dL/dh_t act'(z_t)
        if rec_mask is None:
            np.dot(dz, W_hh, dh_next)  # (B, H) dL/dh_{t-1}
        else:
            masked_matmul_dinput(dz, W_hh, rec_mask, dh_next)  # (B, H) dL/dh_{t-1}
        if hole_t:
            np.copyto(dh_next, dh, where=carry_t)  # (B, H) carried rows pass dh through
    dW_hh = masked_matmul_dweight(dZ, hs[:-1], rec_mask)  # (H, H)
    return dZ, dh_next, dW_hh


def zeros_if_none(a, shape, dtype):
    """``a`` as given, or a read-only zero array of ``shape`` that costs no memory."""
    if a is None:
        return np.broadcast_to(np.zeros((), dtype), shape)
    if a.shape != shape:
        raise ValueError(f"gradient: expected shape {shape}, got {a.shape}")
    return a
