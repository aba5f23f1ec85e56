"""Which kernel runs the LSTM and GRU time loops, and the fused loops themselves.

Two kernels compute the same equations (:mod:`~rnnkit.cells.lstm`, :mod:`~rnnkit.cells.gru`):

* ``numpy``: the cells' own NumPy code, one ufunc per operation (always available; it
  also handles every option: any activation, recurrent dropout, projection, GRU
  ``reset_after=False``).
* ``numba``: :mod:`~rnnkit.cells._numba`, one compiled pass per step for the gate math of
  the common case (sigmoid/tanh, no recurrent dropout, no projection, PyTorch's GRU form,
  with or without a mask). The recurrent product stays NumPy's BLAS call per step, except
  for small batches (B <= ``SMALL_BATCH``), where the whole loop runs compiled (measured
  here: 1.6x faster at B = 1, H = 128 and 1.4-3x at B = 2-4; OpenBLAS is slow for 2-4
  rows; from B = 8 BLAS per step wins).

Selection: the environment variable ``RNNKIT_KERNEL`` = ``auto`` (default: numba when it
imports, else numpy), ``numba`` or ``numpy``, read at the first recurrent call; or
:func:`use` (a context manager) in code and tests. Buffers of the fused loops (legend:
T time, B batch, H hidden, G gates)::

    G   (T, B, G*H)   xw on input; the gate activations after forward; dL/dz after backward
    hs  (T+1, B, H)   hs[0] = h0, hs[t+1] = h_t;  cs likewise (LSTM)
    hn  (T, B, H)     GRU: W_hn h_{t-1} + b_hn, then dL/dxw_n after backward

Example:
    >>> from rnnkit.cells import _kernels
    >>> with _kernels.use("numpy"):
    ...     _kernels.active()
    'numpy'
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import numpy as np

__all__ = ["ENV", "KERNELS", "active", "describe", "use", "fused", "lstm_forward", "lstm_backward", "gru_forward",
           "gru_backward", "SMALL_BATCH"]

ENV = "RNNKIT_KERNEL"  # environment variable: auto | numba | numpy
KERNELS = ("numba", "numpy")
SMALL_BATCH = 4  # B at or below which the numba loop also does the recurrent product itself
_BLAS_GEMV_BYTES = 2**21  # at B = 1, a W_hh this large streams faster through threaded BLAS gemv

_chosen: str | None = None  # resolved kernel name, None until first needed
_numba = None  # the rnnkit.cells._numba module once imported


def _import_numba():
    global _numba
    if _numba is None:
        from rnnkit.cells import _numba as module  # imports numba itself

        _numba = module
    return _numba


def _resolve(request: str) -> str:
    if request not in ("auto",) + KERNELS:
        raise ValueError(f"{ENV}: expected one of auto, numba, numpy, got {request!r}")
    if request == "numpy":
        return "numpy"
    try:
        _import_numba()
    except ImportError as error:
        if request == "numba":
            raise ImportError(f"{ENV}=numba: numba is not importable ({error}); install rnnkit[fast] "
                              "or choose numpy") from None
        return "numpy"
    return "numba"


def active() -> str:
    """The kernel in use: ``'numba'`` or ``'numpy'``."""
    global _chosen
    if _chosen is None:
        _chosen = _resolve(os.environ.get(ENV, "auto").strip().lower() or "auto")
    return _chosen


def describe() -> str:
    """One line for reports: the kernel and why."""
    request = os.environ.get(ENV, "auto")
    name = active()
    if name == "numba":
        import numba

        return (f"numba {numba.__version__} fused kernels (LSTM, GRU; compiled loop for B <= {SMALL_BATCH}, "
                f"else NumPy BLAS per step) [{ENV}={request}]")
    return f"numpy (pure-NumPy cells) [{ENV}={request}]"


@contextlib.contextmanager
def use(name: str) -> Iterator[str]:
    """Run the block with kernel ``name`` (``'numba'``, ``'numpy'`` or ``'auto'``)."""
    global _chosen
    previous = active()
    _chosen = _resolve(name)
    try:
        yield _chosen
    finally:
        _chosen = previous


def fused(act, ract, rec_mask, *, W_hr=None, reset_after=True) -> bool:
    """Does the numba kernel cover this case (and is it the active one)?"""
    return (W_hr is None and rec_mask is None and reset_after and act.name == "tanh" and ract.name == "sigmoid"
            and active() == "numba")


# -- shared ------------------------------------------------------------------------------------
def _keep(mask: np.ndarray | None, T: int, B: int) -> tuple[np.ndarray, bool]:
    """(T, B) bool rows for the kernels and whether any is False."""
    if mask is None:
        return np.ones((T, B), np.bool_), False
    return np.ascontiguousarray(mask, np.bool_), True


def _dhs(dhs: np.ndarray | None, shape: tuple[int, ...], dtype) -> tuple[np.ndarray, bool]:
    """The per-step output gradients as a C-contiguous (T, B, H) array, or one zero row."""
    if dhs is None:
        return np.zeros((1,) + shape[1:], dtype), False
    return np.ascontiguousarray(dhs, dtype), True


def _compiled(B: int, W_hh: np.ndarray) -> bool:
    """Whole loop compiled (small batches: a BLAS call per step costs more than it saves)?"""
    return B <= SMALL_BATCH and (B > 1 or W_hh.nbytes < _BLAS_GEMV_BYTES)


def _projection(project, dtype) -> tuple:
    """The compiled loops' (x, W_ih, b, project) arguments; empty stand-ins when not projecting."""
    if project is None:
        return np.empty((0, 0, 0), dtype), np.empty((0, 0), dtype), np.empty(0, dtype), False
    x, W_ih, b = project
    b = np.zeros(W_ih.shape[0], dtype) if b is None else b
    return np.ascontiguousarray(x), np.ascontiguousarray(W_ih), np.ascontiguousarray(b), True


def _start(a: np.ndarray | None, shape: tuple[int, ...], dtype) -> np.ndarray:
    return np.zeros(shape, dtype) if a is None else np.array(a, dtype=dtype)  # a private, writable copy


# -- LSTM --------------------------------------------------------------------------------------
def lstm_forward(G, h0, c0, W_hh, mask, project=None):
    """Forward over all steps. G (T, B, 4H): xw in, activations (i, f, g, o) out.

    ``project = (x, W_ih, b)`` (small B only): G's input is not read; each step first sets
    G[t] = x[t] W_ih^T + b inside the compiled loop (a whole streaming step in one call).

    Returns ``(hs, cs)``, each (T+1, B, H) with the initial state in row 0.
    """
    K = _import_numba()
    T, B, H4 = G.shape
    H, dtype = H4 // 4, G.dtype
    hs = np.empty((T + 1, B, H), dtype)  # (T+1, B, H)
    cs = np.empty((T + 1, B, H), dtype)  # (T+1, B, H)
    hs[0], cs[0] = h0, c0
    keep, has_mask = _keep(mask, T, B)
    W = np.ascontiguousarray(W_hh)  # (4H, H)
    Z = np.empty((B, H4), dtype)  # (B, 4H) h_{t-1} W_hh^T
    if _compiled(B, W) or project is not None:
        K.lstm_fwd_loop(G, W, hs, cs, keep, has_mask, Z, *_projection(project, dtype))
        return hs, cs
    W_T, step, dot = W.T, K.lstm_fwd_step, np.dot  # W_T (H, 4H): a transposed view, BLAS reads it as is
    for t, h_prev in enumerate(hs[:-1]):
        dot(h_prev, W_T, Z)  # (B, 4H) h_{t-1} W_hh^T
        step(Z, G, hs, cs, keep, t, has_mask)
    return hs, cs


def lstm_backward(G, hs, cs, W_hh, mask, dhs, dh_T, dc_T):
    """BPTT over all steps; G (activations) becomes dL/dxw in place.

    Returns ``(G, dh0, dc0)``.
    """
    K = _import_numba()
    T, B, H4 = G.shape
    H, dtype = H4 // 4, G.dtype
    keep, has_mask = _keep(mask, T, B)
    dhs, has_dhs = _dhs(dhs, (T, B, H), dtype)
    dh_rec = _start(dh_T, (B, H), dtype)  # (B, H) dz_{t+1} W_hh (dh_T to begin)
    dc = _start(dc_T, (B, H), dtype)  # (B, H) dL/dc_t
    carry = np.zeros((B, H), dtype)  # (B, H) dh passed around the product (masked rows)
    W = np.ascontiguousarray(W_hh)  # (4H, H)
    if _compiled(B, W):
        K.lstm_bwd_loop(G, W, cs, dhs, has_dhs, dh_rec, carry, dc, keep, has_mask)
    else:
        step, dot = K.lstm_bwd_step, np.dot
        for t in range(T - 1, -1, -1):
            step(G, cs, dhs, dh_rec, carry, dc, keep, t, has_dhs, has_mask)
            dot(G[t], W, dh_rec)  # (B, H) dz_t W_hh
    dh_rec += carry  # (B, H) dL/dh0
    return G, dh_rec, dc


# -- GRU ---------------------------------------------------------------------------------------
def gru_forward(G, h0, W_hh, b_hn, mask, project=None):
    """Forward over all steps. G (T, B, 3H): xw (with b_ih and b_hh's r, z parts) in, (r, z, n) out;
    ``project``: as in :func:`lstm_forward`.

    Returns ``(hs, hn)``: hs (T+1, B, H), hn (T, B, H) = W_hn h_{t-1} + b_hn.
    """
    K = _import_numba()
    T, B, H3 = G.shape
    H, dtype = H3 // 3, G.dtype
    hs = np.empty((T + 1, B, H), dtype)  # (T+1, B, H)
    hs[0] = h0
    hn = np.empty((T, B, H), dtype)  # (T, B, H)
    b = np.zeros(H, dtype) if b_hn is None else np.ascontiguousarray(b_hn)  # (H,)
    keep, has_mask = _keep(mask, T, B)
    W = np.ascontiguousarray(W_hh)  # (3H, H)
    Z = np.empty((B, H3), dtype)  # (B, 3H) h_{t-1} W_hh^T
    if _compiled(B, W) or project is not None:
        K.gru_fwd_loop(G, W, b, hs, hn, keep, has_mask, Z, *_projection(project, dtype))
        return hs, hn
    W_T, step, dot = W.T, K.gru_fwd_step, np.dot  # W_T (H, 3H)
    for t, h_prev in enumerate(hs[:-1]):
        dot(h_prev, W_T, Z)  # (B, 3H) h_{t-1} W_hh^T
        step(Z, G, b, hs, hn, keep, t, has_mask)
    return hs, hn


def gru_backward(G, hs, hn, W_hh, mask, dhs, dh_T):
    """BPTT over all steps. G becomes (dzr, dzz, dhn) (the recurrent product's gradient rows),
    hn becomes dzn = dL/dxw_n.

    Returns ``(G, hn, dh0)``.
    """
    K = _import_numba()
    T, B, H3 = G.shape
    H, dtype = H3 // 3, G.dtype
    keep, has_mask = _keep(mask, T, B)
    dhs, has_dhs = _dhs(dhs, (T, B, H), dtype)
    dh_rec = _start(dh_T, (B, H), dtype)  # (B, H) dG_{t+1} W_hh (dh_T to begin)
    carry = np.zeros((B, H), dtype)  # (B, H) dh z_{t+1}: the direct path
    W = np.ascontiguousarray(W_hh)  # (3H, H)
    if _compiled(B, W):
        K.gru_bwd_loop(G, W, hs, hn, dhs, has_dhs, dh_rec, carry, keep, has_mask)
    else:
        step, dot = K.gru_bwd_step, np.dot
        for t in range(T - 1, -1, -1):
            step(G, hs, hn, dhs, dh_rec, carry, keep, t, has_dhs, has_mask)
            dot(G[t], W, dh_rec)  # (B, H) dG_t W_hh
    dh_rec += carry  # (B, H) dL/dh0
    return G, hn, dh_rec
