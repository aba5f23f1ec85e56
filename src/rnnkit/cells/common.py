"""What every cell shares: the masked recurrent products, argument checks, masks, and the step runner.

The Elman pre-activation ``(a * m) W^T`` is the building block of every cell, so the three
masked products they all need live here: :func:`masked_matmul` (forward),
:func:`masked_matmul_dinput` and :func:`masked_matmul_dweight` (its two gradients). A mask is
None, one (B, K) array shared by every gate, or (G, B, K), one per gate block of the weight
(Keras draws one recurrent dropout mask per gate). :func:`gate` and :func:`run` serve the
cells' per-step ``step()`` functions (the equations as code, which run on NumPy arrays and
on torch tensors alike).

Shapes: T time, B batch, K features of the multiplied state or input, N = G * M output columns.

Example:
    >>> import numpy as np
    >>> from rnnkit.cells import common
    >>> a, W = np.ones((2, 3)), np.arange(12.0).reshape(4, 3)
    >>> mask = np.stack([np.ones((2, 3)), np.zeros((2, 3))])  # (G=2, B, K): second gate block masked out
    >>> common.masked_matmul(a, mask, W.T)
    array([[ 3., 12.,  0.,  0.],
           [ 3., 12.,  0.,  0.]])
"""

from __future__ import annotations

import numpy as np

__all__ = ["masked_matmul", "masked_matmul_dinput", "masked_matmul_dweight", "check", "holes", "zeros_if_none",
           "initial", "gate", "run"]


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


def zeros_if_none(a, shape, dtype):
    """``a`` as given, or a read-only zero array of ``shape`` that costs no memory."""
    if a is None:
        return np.broadcast_to(np.zeros((), dtype), shape)
    if a.shape != shape:
        raise ValueError(f"gradient: expected shape {shape}, got {a.shape}")
    return a


def initial(d: np.ndarray | None, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A private, writable copy of an incoming state gradient, or zeros."""
    return np.zeros(shape, dtype) if d is None else np.array(d, dtype=dtype)


def gate(k, H, a, W, b, m=None):
    """(a * m_k) W_k^T + b_k for gate k: rows k*H:(k+1)*H of W and b."""
    if m is not None:
        a = a * (m if m.ndim == 2 else m[k])
    out = a @ W[k * H:(k + 1) * H].T
    return out if b is None else out + b[k * H:(k + 1) * H]


def run(step, xs, state, mask=None, **kwargs):
    """Apply ``step`` over time; where mask[t, b] is 0 the state is carried.

    Args:
        step: one of the ``*_step`` functions; xs: sequence of (B, I) inputs;
        state: initial state tuple; mask: None or (T, B) of 0/1 numbers (same array kind as xs);
        kwargs: the step's other arguments.

    Returns:
        list over t of the state tuple after step t.
    """
    states = []
    for t in range(len(xs)):
        new = step(xs[t], state, **kwargs)
        if mask is not None:
            keep = mask[t][:, None]
            new = tuple(keep * n + (1 - keep) * s for n, s in zip(new, state))
        state = new
        states.append(state)
    return states
