"""Elman RNN cell: its step (the equations as code), then forward and BPTT over a sequence.

Equations (PyTorch ``nn.RNN``; Keras ``SimpleRNN`` with its dropout masks m_x, m_h)::

    z_t = (x_t * m_x) W_ih^T + b_ih + (h_{t-1} * m_h) W_hh^T + b_hh
    h_t = act(z_t)                              act: tanh, relu or any registered activation
    where mask[t, b] is False: h_t = h_{t-1}    (carried; no gradient to the weights)

:func:`step` is that, one step at a time. :func:`forward` runs the time loop on
``xw_t = x_t W_ih^T + b_ih + b_hh`` (the driver does the input product for all steps at
once) and :func:`backward` is its BPTT::

    dz_t = (dhs_t + dh_t) act'(z_t)     dh_{t-1} = (dz_t W_hh) * m_h     dW_hh = sum_t dz_t^T (h_{t-1} * m_h)

The protocol every cell shares: ``forward(xw, state, params, config, ...)`` takes the state
as a tuple (here ``(h0,)``) and returns ``(hs, state_T, cache)``; ``backward(dhs, dstate_T,
cache)`` returns ``(dxw, dstate0, dparams)`` with ``dparams`` a :class:`Params` of gradients.

Shapes: T time, B batch, H hidden.

Example:
    >>> import numpy as np
    >>> from rnnkit.cells import rnn
    >>> rng = np.random.default_rng(0)
    >>> xw, h0, W_hh = rng.normal(size=(5, 2, 3)), np.zeros((2, 3)), rng.normal(size=(3, 3))
    >>> hs, (h_T,), cache = rnn.forward(xw, (h0,), rnn.Params(W_hh))
    >>> dxw, (dh0,), dparams = rnn.backward(np.ones_like(hs), None, cache)
    >>> hs.shape, dxw.shape, dparams.W_hh.shape
    ((5, 2, 3), (5, 2, 3), (3, 3))
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat

import numpy as np

from rnnkit.cells import activations
from rnnkit.cells.common import check, gate, holes, initial, masked_matmul, masked_matmul_dinput, masked_matmul_dweight, zeros_if_none

__all__ = ["step", "Params", "Config", "Cache", "forward", "backward", "STATES"]

STATES = ("h",)  # the state tuple's entries


def step(x, state, W_ih, W_hh, b_ih, b_hh, act, m_x=None, m_h=None):
    """One step: ``h = act((x * m_x) W_ih^T + b_ih + (h * m_h) W_hh^T + b_hh)``.

    Args:
        x: (B, I); state: ``(h,)`` with h (B, H); weights in PyTorch's layout (biases may be None);
        act: the activation, a callable; m_x, m_h: None or dropout masks (B, K).

    Returns:
        The new state ``(h,)``. Only ``@ * + -`` and ``act``: NumPy arrays or torch tensors alike.
    """
    (h,) = state
    H = W_hh.shape[0]
    return (act(gate(0, H, x, W_ih, b_ih, m_x) + gate(0, H, h, W_hh, b_hh, m_h)),)


@dataclass
class Params:
    """The recurrent parameters of the time loop (or their gradients)."""

    W_hh: np.ndarray  # (H, H) recurrent weight

    @classmethod
    def from_weights(cls, w_hh, b_hh, w_hr=None, config=None):
        """(params, the part of b_hh that folds into xw); Elman has no projection."""
        if w_hr is not None:
            raise ValueError("w_hr: only LSTM has a projection")
        return cls(w_hh), b_hh

    def weight_grads(self, db):
        """(dW_hh, db_hh, dW_hr) in PyTorch's layout, given db = the gradient of the folded bias."""
        return self.W_hh, db, None


@dataclass(frozen=True)
class Config:
    """The cell's options."""

    activation: str | activations.Activation = "tanh"  # of h (PyTorch: tanh or relu)


@dataclass
class Cache:
    """What :func:`backward` needs from :func:`forward`."""

    act: activations.Activation
    hs: np.ndarray  # (T+1, B, H) hs[0] = h0, hs[t+1] = h_t
    Z: np.ndarray  # (T, B, H) pre-activations (only if act' needs them, else a (1, B, H) buffer)
    params: Params
    mask: np.ndarray | None  # (T, B) bool
    rec_mask: np.ndarray | None  # (B, H) or (1, B, H)


def forward(xw, state, params, config=Config(), *, mask=None, rec_mask=None, overwrite_xw=False, kernel=None):
    """Run the Elman cell over a sequence.

    Args:
        xw: (T, B, H) input projection plus both biases.
        state: ``(h0,)``, h0 (B, H) initial state.
        params: :class:`Params`; config: :class:`Config`.
        mask: optional bool (T, B); False carries the state through that step.
        rec_mask: optional (B, H) or (1, B, H) recurrent dropout mask multiplied into h_{t-1}.
        overwrite_xw: permission to overwrite ``xw`` (the Elman loop never needs to).
        kernel: ``'numpy'`` or None (no compiled Elman kernel; see :func:`rnnkit.cells.kernels.select`).

    Returns:
        ``(hs, (h_T,), cache)``: hs (T, B, H) state after each step (carried where masked),
        h_T (B, H), cache for :func:`backward`. hs and h_T are views of the cache: read-only.
    """
    if kernel not in (None, "numpy"):
        raise ValueError(f"kernel: the Elman cell runs on 'numpy' only, got {kernel!r}")
    act = activations.get(config.activation)
    (h0,) = state
    W_hh = params.W_hh
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
    return hs[1:], (hs[T],), Cache(act, hs, Z, params, mask, rec_mask)


def backward(dhs, dstate, cache, consume=False):
    """BPTT through :func:`forward`.

    Args:
        dhs: (T, B, H) gradient wrt hs, or None.
        dstate: ``(dh_T,)`` gradient wrt the final state (entries may be None), or None.
        cache: from :func:`forward`. consume: accepted for the protocol (nothing to reuse here).

    Returns:
        ``(dxw, (dh0,), Params(dW_hh))``: (T, B, H), (B, H), (H, H).
    """
    act, hs, W_hh, mask, rec_mask = cache.act, cache.hs, cache.params.W_hh, cache.mask, cache.rec_mask
    T, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    dtype = hs.dtype
    # act'(z_t) for all steps at once (0 at masked steps); step t turns dZ[t] into dL/dz_t in place
    dZ = act.derivative(hs[1:] if act.saves == "output" else cache.Z)  # (T, B, H)
    if mask is not None:
        dZ *= mask[:, :, None]  # (T, B, H) masked steps pass no gradient to z
    dhs = zeros_if_none(dhs, (T, B, H), dtype)
    dh_next = initial(None if dstate is None else dstate[0], (B, H), dtype)  # (B, H)
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
    return dZ, (dh_next,), Params(dW_hh)
