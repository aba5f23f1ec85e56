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

Selection happens in one place, :func:`select`, which the driver (:mod:`~rnnkit.cells.scan`)
calls once per cell call and whose answer it hands down to the cell (``kernel=``):
``'numpy'``, ``'numba'``, or ``'numba-tiny'`` (streaming-sized inference: one compiled call
per layer that does the input projection too). Which kernels may run is a per-thread (per
context) setting: the environment variable ``RNNKIT_KERNEL`` = ``auto`` (default: numba when it
imports, else numpy), ``numba`` or ``numpy``, read once at the first recurrent call, unless
:func:`use` (a context manager, built on a :class:`contextvars.ContextVar`) says otherwise for
the block. Buffers of the fused loops
(legend: T time, B batch, H hidden, G gates)::

    G   (T, B, G*H)   xw on input; the gate activations after forward; dL/dz after backward
    hs  (T+1, B, H)   hs[0] = h0, hs[t+1] = h_t;  cs likewise (LSTM)
    hn  (T, B, H)     GRU: W_hn h_{t-1} + b_hn, then dL/dxw_n after backward

Example:
    >>> from rnnkit.cells import activations, kernels
    >>> tanh, sigmoid = activations.get("tanh"), activations.get("sigmoid")
    >>> with kernels.use("numpy"):
    ...     kernels.active(), kernels.select("LSTM", tanh, sigmoid)
    ('numpy', 'numpy')
    >>> with kernels.use("numba"):
    ...     kernels.select("LSTM", tanh, sigmoid), kernels.select("LSTM", tanh, sigmoid, inference_rows=1)
    ('numba', 'numba-tiny')
"""

from __future__ import annotations

import contextlib
import functools
import os
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from rnnkit.cells.common import initial

__all__ = ["ENV", "KERNELS", "SMALL_BATCH", "Kernel", "current", "active", "describe", "use", "select",
           "lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "tiny_forward"]

ENV = "RNNKIT_KERNEL"  # environment variable: auto | numba | numpy
KERNELS = ("numba", "numpy")
SMALL_BATCH = 4  # B at or below which the numba loop also does the recurrent product itself
_BLAS_GEMV_BYTES = 2**21  # at B = 1, a W_hh this large streams faster through threaded BLAS gemv


@dataclass(frozen=True)
class Kernel:
    """The kernel setting in force: which kernel, and where its compiled loop takes over."""

    name: str  # 'numba' or 'numpy'
    small_batch: int = SMALL_BATCH  # B (or T*B for the tiny path) at or below which the loop runs compiled


_selected: ContextVar[Kernel | None] = ContextVar("rnnkit_kernel", default=None)  # None: from RNNKIT_KERNEL


@functools.cache
def _numba():
    """The rnnkit.cells._numba module (imports numba itself; ImportError without it)."""
    from rnnkit.cells import _numba as module

    return module


@functools.cache
def _resolve(request: str) -> Kernel:
    """The kernel for a request (auto | numba | numpy)."""
    if request not in ("auto",) + KERNELS:
        raise ValueError(f"{ENV}: expected one of auto, numba, numpy, got {request!r}")
    if request == "numpy":
        return Kernel("numpy")
    try:
        _numba()
    except ImportError as error:
        if request == "numba":
            raise ImportError(f"{ENV}=numba: numba is not importable ({error}); install numba "
                              "or choose numpy") from None
        return Kernel("numpy")
    return Kernel("numba")


@functools.cache
def _from_environment() -> Kernel:
    """``RNNKIT_KERNEL``'s kernel, read once, at the first recurrent call (as a process setting)."""
    return _resolve(os.environ.get(ENV, "auto").strip().lower() or "auto")


def current() -> Kernel:
    """The kernel setting of this thread/context: :func:`use`'s, else ``RNNKIT_KERNEL``'s."""
    kernel = _selected.get()
    return _from_environment() if kernel is None else kernel


def active() -> str:
    """The kernel in use: ``'numba'`` or ``'numpy'``."""
    return current().name


def describe() -> str:
    """One line for reports: the kernel and why."""
    request = os.environ.get(ENV, "auto")
    kernel = current()
    if kernel.name == "numba":
        import numba

        return (f"numba {numba.__version__} fused kernels (LSTM, GRU; compiled loop for B <= {kernel.small_batch}, "
                f"else NumPy BLAS per step) [{ENV}={request}]")
    return f"numpy (pure-NumPy cells) [{ENV}={request}]"


@contextlib.contextmanager
def use(name: str, *, small_batch: int = SMALL_BATCH) -> Iterator[str]:
    """Run the block (in this thread/context only) with kernel ``name`` (``'numba'``, ``'numpy'``, ``'auto'``).

    Args:
        name: the kernel; ``'auto'`` is numba when it imports.
        small_batch: B at or below which the numba kernel runs the whole loop compiled (the
            recurrent product included) instead of one BLAS call per step; 0 never, a huge
            number always (the tests run both loops this way).
    """
    if not isinstance(small_batch, int) or small_batch < 0:
        raise ValueError(f"small_batch: expected an int >= 0, got {small_batch!r}")
    kernel = Kernel(_resolve(name).name, small_batch)
    token = _selected.set(kernel)
    try:
        yield kernel.name
    finally:
        _selected.reset(token)


def select(cell: str, act, ract=None, *, rec_mask=None, W_hr=None, reset_after=True,
           inference_rows: int | None = None) -> str:
    """The one decision of which loop runs a cell call.

    Args:
        cell: ``'RNN'``, ``'LSTM'`` or ``'GRU'``.
        act, ract: the cell's :class:`~rnnkit.cells.activations.Activation` objects.
        rec_mask: the recurrent dropout mask or None; W_hr: the LSTM projection or None;
        reset_after: the GRU form.
        inference_rows: T * B when the call needs no gradient and has no mask and no dropout
            (a candidate for the tiny path), else None.

    Returns:
        ``'numba-tiny'`` (whole layer, input projection included, one compiled call),
        ``'numba'`` (fused gate math) or ``'numpy'`` (the cells' own NumPy code).
    """
    kernel = current()
    if (kernel.name != "numba" or cell == "RNN" or W_hr is not None or rec_mask is not None or not reset_after
            or act.name != "tanh" or getattr(ract, "name", None) != "sigmoid"):
        return "numpy"
    return "numba-tiny" if inference_rows is not None and inference_rows <= kernel.small_batch else "numba"


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
    return B <= current().small_batch and (B > 1 or W_hh.nbytes < _BLAS_GEMV_BYTES)


def _projection(project, dtype) -> tuple:
    """The compiled loops' (x, W_ih, b, project) arguments; empty stand-ins when not projecting."""
    if project is None:
        return np.empty((0, 0, 0), dtype), np.empty((0, 0), dtype), np.empty(0, dtype), False
    x, W_ih, b = project
    b = np.zeros(W_ih.shape[0], dtype) if b is None else b
    return np.ascontiguousarray(x), np.ascontiguousarray(W_ih), np.ascontiguousarray(b), True


# -- LSTM --------------------------------------------------------------------------------------
def lstm_forward(G, h0, c0, W_hh, mask, project=None):
    """Forward over all steps. G (T, B, 4H): xw in, activations (i, f, g, o) out.

    ``project = (x, W_ih, b)`` (small B only): G's input is not read; each step first sets
    G[t] = x[t] W_ih^T + b inside the compiled loop (a whole streaming step in one call).

    Returns ``(hs, cs)``, each (T+1, B, H) with the initial state in row 0.
    """
    K = _numba()
    T, B, H4 = G.shape
    H, dtype = H4 // 4, G.dtype
    hs = np.empty((T + 1, B, H), dtype)  # (T+1, B, H)
    cs = np.empty((T + 1, B, H), dtype)  # (T+1, B, H)
    hs[0], cs[0] = h0, c0
    keep, has_mask = _keep(mask, T, B)
    W = np.ascontiguousarray(W_hh)  # (4H, H)
    Z = np.empty((B, H4), dtype)  # (B, 4H) h_{t-1} W_hh^T
    if project is not None or _compiled(B, W):
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
    K = _numba()
    T, B, H4 = G.shape
    H, dtype = H4 // 4, G.dtype
    keep, has_mask = _keep(mask, T, B)
    dhs, has_dhs = _dhs(dhs, (T, B, H), dtype)
    dh_rec = initial(dh_T, (B, H), dtype)  # (B, H) dz_{t+1} W_hh (dh_T to begin)
    dc = initial(dc_T, (B, H), dtype)  # (B, H) dL/dc_t
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
    K = _numba()
    T, B, H3 = G.shape
    H, dtype = H3 // 3, G.dtype
    hs = np.empty((T + 1, B, H), dtype)  # (T+1, B, H)
    hs[0] = h0
    hn = np.empty((T, B, H), dtype)  # (T, B, H)
    b = np.zeros(H, dtype) if b_hn is None else np.ascontiguousarray(b_hn)  # (H,)
    keep, has_mask = _keep(mask, T, B)
    W = np.ascontiguousarray(W_hh)  # (3H, H)
    Z = np.empty((B, H3), dtype)  # (B, 3H) h_{t-1} W_hh^T
    if project is not None or _compiled(B, W):
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
    K = _numba()
    T, B, H3 = G.shape
    H, dtype = H3 // 3, G.dtype
    keep, has_mask = _keep(mask, T, B)
    dhs, has_dhs = _dhs(dhs, (T, B, H), dtype)
    dh_rec = initial(dh_T, (B, H), dtype)  # (B, H) dG_{t+1} W_hh (dh_T to begin)
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


# -- the tiny-inference path -------------------------------------------------------------------
def tiny_forward(cell: str, x, W_ih, b, params, state):
    """One layer and direction of an LSTM or GRU, input projection included, in one compiled call.

    Args:
        cell: ``'LSTM'`` or ``'GRU'``; x: (T, B, I); W_ih: (G*H, I); b: (G*H,) folded bias or None;
        params: the cell's ``Params`` (W_hh (G*H, H); GRU: b_hn (H,) or None);
        state: ``(h0,)`` or ``(h0, c0)``, each (B, H).

    Returns:
        ``(hs, state_T)``: hs (T, B, H) and the final state tuple. No cache: inference only.
    """
    T, B, _ = x.shape
    G = np.empty((T, B, params.W_hh.shape[0]), x.dtype)  # (T, B, G*H) gate activations
    if cell == "LSTM":
        hs, cs = lstm_forward(G, *state, params.W_hh, None, project=(x, W_ih, b))
        return hs[1:], (hs[T], cs[T])
    hs, _ = gru_forward(G, *state, params.W_hh, params.b_hn, None, project=(x, W_ih, b))
    return hs[1:], (hs[T],)
