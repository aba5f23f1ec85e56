"""GRU cell: its step (the equations as code), then forward and BPTT over a sequence.

Gate order r, z, n (PyTorch ``nn.GRU``; Keras ``GRU`` is permuted to it by its layer).

Equations, sigma = recurrent_activation (default sigmoid), act = activation (default tanh),
m_k the optional recurrent dropout mask of gate k (one shared mask, or one per gate as Keras
draws them). reset_after=True is PyTorch's form (and Keras's default); xw_t holds
x_t W_ih^T + b_ih plus b_hh's r and z parts, and b_hn stays inside the reset::

    r = sigma(xw_r + (h_{t-1} * m_r) W_hr^T)       z = sigma(xw_z + (h_{t-1} * m_z) W_hz^T)
    n = act(xw_n + r * ((h_{t-1} * m_n) W_hn^T + b_hn))
    h_t = (1 - z) * n + z * h_{t-1}                 (the unmasked h_{t-1}, as in Keras)

reset_after=False (Keras ``reset_after=False``, the original GRU); xw_t holds all of b_hh::

    n = act(xw_n + (r * h_{t-1} * m_n) W_hn^T)

Where mask[t, b] is False: h_t = h_{t-1}, with no gradient to the weights.

BPTT (dh = dL/dh_t incl. the carry from t+1)::

    dzn = dh (1 - z) act'(n)     dzz = dh (h_{t-1} - n) sigma'(z)
    reset_after:  dhn = dzn * r,  dzr = dzn * hn * sigma'(r)   (hn = (h m_n) W_hn^T + b_hn)
                  dh_{t-1} = dh z + ([dzr, dzz, dhn] W_hh) * m
    otherwise:    d(rh) = dzn W_hn,  dzr = d(rh) h m_n sigma'(r)
                  dh_{t-1} = dh z + ([dzr, dzz] W_hrz) * m_rz + d(rh) r m_n

With the numba kernel (:mod:`~rnnkit.cells.kernels`; reset_after, sigmoid/tanh, no
recurrent dropout) each step is one matmul and one compiled pass over (B, H).

Shapes: T time, B batch, H hidden.

Example:
    >>> import numpy as np
    >>> from rnnkit.cells import gru
    >>> rng = np.random.default_rng(0)
    >>> xw, W_hh, b_hn = rng.normal(size=(5, 2, 9)), rng.normal(size=(9, 3)), np.zeros(3)
    >>> hs, (h_T,), cache = gru.forward(xw, (np.zeros((2, 3)),), gru.Params(W_hh, b_hn))
    >>> dxw, (dh0,), dparams = gru.backward(np.ones_like(hs), None, cache)
    >>> hs.shape, dxw.shape, dparams.W_hh.shape, dparams.b_hn.shape
    ((5, 2, 3), (5, 2, 9), (9, 3), (3,))
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat

import numpy as np

from rnnkit.cells import activations, kernels
from rnnkit.cells.common import check, gate, holes, initial, masked_matmul, masked_matmul_dinput, masked_matmul_dweight, zeros_if_none

__all__ = ["step", "Params", "Config", "Cache", "forward", "backward", "STATES"]

STATES = ("h",)  # the state tuple's entries


def step(x, state, W_ih, W_hh, b_ih, b_hh, act, rec_act, m_x=None, m_h=None, reset_after=True):
    """One step: r, z = rec_act(.); n = act(x_n + r * h_n) (reset_after) or act(x_n + (r * h) W_hn^T + b_hn);
    h = (1 - z) n + z h.

    Args:
        x: (B, I); state: ``(h,)``, (B, H); weights in PyTorch's layout (biases may be None);
        act, rec_act: callables; m_x, m_h: None or dropout masks, (B, K) or (3, B, K) one per gate;
        reset_after: PyTorch's form (True) or the original GRU's (False).

    Returns:
        The new state ``(h,)``. Only ``@ * + -`` and the activations: NumPy or torch alike.
    """
    (h,) = state
    H = W_hh.shape[0] // 3
    r = rec_act(gate(0, H, x, W_ih, b_ih, m_x) + gate(0, H, h, W_hh, b_hh, m_h))
    z = rec_act(gate(1, H, x, W_ih, b_ih, m_x) + gate(1, H, h, W_hh, b_hh, m_h))
    x_n = gate(2, H, x, W_ih, b_ih, m_x)
    if reset_after:
        n = act(x_n + r * gate(2, H, h, W_hh, b_hh, m_h))
    else:
        m_n = None if m_h is None else (m_h if m_h.ndim == 2 else m_h[2])
        rh = r * h if m_n is None else r * h * m_n
        n = act(x_n + gate(2, H, rh, W_hh, b_hh))
    return ((1 - z) * n + z * h,)


@dataclass
class Params:
    """The recurrent parameters of the time loop (or their gradients)."""

    W_hh: np.ndarray  # (3H, H) recurrent weight, rows r, z, n
    b_hn: np.ndarray | None = None  # (H,) recurrent bias of n, inside the reset (reset_after only)

    @classmethod
    def from_weights(cls, w_hh, b_hh, w_hr=None, config=None):
        """(params, the part of b_hh that folds into xw): with reset_after, b_hh's n part stays
        inside the reset as b_hn and only its r, z parts fold."""
        if w_hr is not None:
            raise ValueError("w_hr: only LSTM has a projection")
        if b_hh is None or not (config or Config()).reset_after:
            return cls(w_hh), b_hh
        H = w_hh.shape[1]
        b_hn = b_hh[2 * H:]
        return cls(w_hh, b_hn), np.concatenate([b_hh[:2 * H], np.zeros_like(b_hn)])  # (3H,) r, z parts only

    def weight_grads(self, db):
        """(dW_hh, db_hh, dW_hr) in PyTorch's layout, given db = the gradient of the folded bias."""
        H = self.W_hh.shape[1]
        return self.W_hh, db if self.b_hn is None else np.concatenate([db[:2 * H], self.b_hn]), None


@dataclass(frozen=True)
class Config:
    """The cell's options."""

    activation: str | activations.Activation = "tanh"  # of n
    recurrent_activation: str | activations.Activation = "sigmoid"  # of the gates r, z
    reset_after: bool = True  # PyTorch's form (and Keras's default); False: the reset before the product


@dataclass
class Cache:
    """What :func:`backward` needs from :func:`forward` (the fused kernel keeps only the first six)."""

    kernel: str  # 'numpy' or 'numba': which loop ran, so which backward runs
    A: np.ndarray | None  # (T, B, 3H) gate activations r, z, n (None once consumed)
    hs: np.ndarray  # (T+1, B, H) hs[0] = h0, hs[t+1] = h_t
    hn: np.ndarray | None  # (T, B, H) reset_after: (h m_n) W_hn^T + b_hn; otherwise rh = r * h * m_n
    params: Params
    mask: np.ndarray | None  # (T, B) bool
    act: activations.Activation | None = None
    ract: activations.Activation | None = None
    Z: np.ndarray | None = None  # (T, B, 3H) pre-activations, when an activation's derivative needs them
    reset_after: bool = True
    rec_mask: np.ndarray | None = None  # (B, H) or (3, B, H)


def _split_rec_mask(rec_mask):
    """(mask for the r, z product, mask for the n product)."""
    if rec_mask is None or rec_mask.ndim == 2:
        return rec_mask, rec_mask
    return rec_mask[:2], rec_mask[2]


def forward(xw, state, params, config=Config(), *, mask=None, rec_mask=None, overwrite_xw=False, kernel=None):
    """Run the GRU over a sequence.

    Args:
        xw: (T, B, 3H) input projection plus the foldable biases (see the module docstring).
        state: ``(h0,)``, h0 (B, H) initial state.
        params: :class:`Params` (W_hh (3H, H) rows r, z, n; b_hn, reset_after only); config: :class:`Config`.
        mask: optional bool (T, B); False carries the state through that step.
        rec_mask: optional (B, H) or (3, B, H) recurrent dropout mask(s) on h_{t-1}.
        overwrite_xw: store the gate activations in ``xw`` itself (saves a (T, B, 3H) array;
            the driver, which owns xw, does).
        kernel: ``'numpy'`` or ``'numba'`` as chosen by :func:`rnnkit.cells.kernels.select`
            (None: select here).

    Returns:
        ``(hs, (h_T,), cache)``: hs (T, B, H) state after each step (carried where masked),
        h_T (B, H), cache for :func:`backward`. Outputs are views of the cache.
    """
    act = activations.get(config.activation)
    ract = activations.get(config.recurrent_activation, "recurrent_activation")
    (h0,) = state
    W_hh, b_hn, reset_after = params.W_hh, params.b_hn, config.reset_after
    T, B, H, rec_mask = check(xw, 3, h0, W_hh, mask, rec_mask)
    if b_hn is not None and (not reset_after or b_hn.shape != (H,) or b_hn.dtype != xw.dtype):
        raise ValueError(f"b_hn: expected None (reset_after=False) or shape {(H,)} and dtype {xw.dtype}, "
                         f"got {b_hn.shape} {b_hn.dtype} with reset_after={reset_after}")
    kernel = kernel or kernels.select("GRU", act, ract, rec_mask=rec_mask, reset_after=reset_after)
    if kernel == "numba":  # the compiled kernel: same math
        A = xw if overwrite_xw else xw.copy()  # (T, B, 3H) becomes r, z, n
        hs, hn = kernels.gru_forward(A, h0, W_hh, b_hn, mask)
        return hs[1:], (hs[T],), Cache("numba", A, hs, hn, params, mask)
    if kernel != "numpy":
        raise ValueError(f"kernel: expected 'numpy' or 'numba' for the GRU cell, got {kernel!r}")
    cache = _numpy_forward(xw, h0, params, act, ract, reset_after, mask, rec_mask, overwrite_xw)
    return cache.hs[1:], (cache.hs[T],), cache


def _numpy_forward(xw, h0, params, act, ract, reset_after, mask, rec_mask, overwrite_xw) -> Cache:
    """The NumPy time loop of :func:`forward` (every activation, both forms, recurrent dropout)."""
    T, B, H3 = xw.shape
    H, dtype, W_hh, b_hn = H3 // 3, xw.dtype, params.W_hh, params.b_hn
    keep_z = act.saves == "input" or ract.saves == "input"
    A = xw if overwrite_xw else np.empty((T, B, 3 * H), dtype)  # (T, B, 3H) r, z, n
    Z = np.empty((T if keep_z else 1, B, 3 * H), dtype)  # pre-activations (all steps only if needed)
    hs = np.empty((T + 1, B, H), dtype)  # (T+1, B, H) hs[0] = h0, hs[t+1] = h_t
    hs[0] = h0
    # reset_after: hn = (h m_n) W_hn^T + b_hn; otherwise: rh = r * h * m_n, the input of W_hn.
    hn = np.empty((T, B, H), dtype)  # (T, B, H)
    r_, z_, n_ = (A[..., k * H:(k + 1) * H] for k in range(3))  # (T, B, H) each
    m_rz, m_n = _split_rec_mask(rec_mask)
    W_hhT, W_rzT, W_nT = W_hh.T, W_hh[:2 * H].T, W_hh[2 * H:].T  # (H, 3H), (H, 2H), (H, H) views for BLAS
    tmp = np.empty((B, H), dtype)
    hole, carry = holes(mask, T)
    pres = Z if keep_z else repeat(Z[0], T)  # per-step pre-activation buffers (B, 3H)
    pre_rzs = Z[..., :2 * H] if keep_z else repeat(Z[0, :, :2 * H], T)  # their r, z slots
    pre_ns = Z[..., 2 * H:] if keep_z else repeat(Z[0, :, 2 * H:], T)  # their n slot
    dot, add, mul = np.dot, np.add, np.multiply
    steps = zip(pres, pre_rzs, pre_ns, xw[..., :2 * H], xw[..., 2 * H:], A[..., :2 * H], r_, z_, n_, hn,
                hs[:-1], hs[1:], hole, carry)
    with np.errstate(over="ignore"):  # exp(-z) -> inf in sigmoid is fine
        for pre, pre_rz, pre_n, xw_rz, xw_n, a_rz, r, z, n, hn_t, h_prev, h, hole_t, carry_t in steps:
            if reset_after:
                if rec_mask is None:
                    dot(h_prev, W_hhT, pre)  # (B, 3H) h_{t-1} W_hh^T
                else:
                    masked_matmul(h_prev, rec_mask, W_hhT, pre)  # (B, 3H) (h_{t-1} * m) W_hh^T
                if b_hn is None:
                    np.copyto(hn_t, pre_n)  # (B, H) hn
                else:
                    add(pre_n, b_hn, hn_t)  # (B, H) hn = (h m_n) W_hn^T + b_hn
            else:
                masked_matmul(h_prev, m_rz, W_rzT, pre_rz)  # (B, 2H) (h_{t-1} * m) W_hrz^T
            add(pre_rz, xw_rz, pre_rz)  # (B, 2H) zr, zz
            ract.forward(pre_rz, a_rz)  # (B, 2H) r, z
            if reset_after:
                mul(r, hn_t, pre_n)  # (B, H) r * hn
            else:
                mul(r, h_prev, hn_t)  # (B, H) r * h_{t-1}
                if m_n is not None:
                    hn_t *= m_n  # (B, H) rh = r * h_{t-1} * m_n
                np.matmul(hn_t, W_nT, pre_n)  # (B, H) rh W_hn^T
            add(pre_n, xw_n, pre_n)  # (B, H) zn
            act.forward(pre_n, n)  # (B, H) n
            np.subtract(h_prev, n, tmp)  # (B, H) h_{t-1} - n
            mul(z, tmp, tmp)  # (B, H) z (h_{t-1} - n)
            add(n, tmp, h)  # (B, H) h_t = (1 - z) n + z h_{t-1}
            if hole_t:
                np.copyto(h, h_prev, where=carry_t)  # (B, H) carried rows
    return Cache("numpy", A, hs, hn, params, mask, act, ract, Z if keep_z else None, reset_after, rec_mask)


def backward(dhs, dstate, cache, consume=False):
    """BPTT through :func:`forward`.

    Args:
        dhs: (T, B, H) gradient wrt hs, or None; dstate: ``(dh_T,)`` (entries may be None) or None;
        cache: from :func:`forward`.
        consume: the compiled kernel may turn the saved activations into gradients in place
            (one (T, B, 3H) array less); the cache cannot be differentiated again after.

    Returns:
        ``(dxw, (dh0,), Params(dW_hh, db_hn))``: (T, B, 3H), (B, H), (3H, H), (H,) or None (no b_hn).
    """
    dh_T = None if dstate is None else dstate[0]
    if cache.kernel == "numba":
        return _fused_backward(dhs, dh_T, cache, consume)
    T, B, H3 = cache.A.shape
    H, dtype = H3 // 3, cache.A.dtype
    F, pn, qr, zc = _factors(cache)
    dhs = zeros_if_none(dhs, (T, B, H), dtype)
    dh_next = initial(dh_T, (B, H), dtype)  # (B, H)
    dH = _bptt(cache, dhs, F, qr, zc, dh_next)
    dZ = F.reshape(T, B, 3 * H)  # (T, B, 3H) [dzr, dzz, dhn] (reset_after) or dL/dxw
    h_prev, W_hh = cache.hs[:-1], cache.params.W_hh
    if cache.reset_after:
        dW_hh = masked_matmul_dweight(dZ, h_prev, cache.rec_mask)  # (3H, H)
        db_hn = dZ[..., 2 * H:].sum(axis=(0, 1)) if cache.params.b_hn is not None else None  # (H,)
        np.multiply(dH, pn, out=dZ[..., 2 * H:])  # (T, B, H) dzn: dZ is now dL/dxw
    else:
        dW_hh = np.empty_like(W_hh)  # (3H, H)
        dW_hh[:2 * H] = masked_matmul_dweight(dZ[..., :2 * H], h_prev, _split_rec_mask(cache.rec_mask)[0])  # (2H, H)
        dW_hh[2 * H:] = dZ[..., 2 * H:].reshape(-1, H).T @ cache.hn.reshape(-1, H)  # (H, H) sum dzn^T rh
        db_hn = None
    return dZ, (dh_next,), Params(dW_hh, db_hn)


def _factors(cache: Cache):
    """Per-step factors of the backward for all steps at once (masked steps: no gate gradient,
    h passes through); step t turns F[t] (T, B, 3, H) into its gate gradients in place.

    Returns ``(F, pn, qr, zc)``: dzn = dh * pn; dzr = d(rh) * qr (reset_after=False, else None);
    dh_{t-1} = dh * zc + the recurrent part."""
    act, ract, A, Z, hs, hn, mask = cache.act, cache.ract, cache.A, cache.Z, cache.hs, cache.hn, cache.mask
    T, B, H3 = A.shape
    H, dtype = H3 // 3, A.dtype
    r_, z_, n_ = (A[..., k * H:(k + 1) * H] for k in range(3))  # (T, B, H) each
    h_prev = hs[:-1]  # (T, B, H)
    S = A if ract.saves == "output" else Z  # what sigma' needs
    m_n = _split_rec_mask(cache.rec_mask)[1]
    pn = act.derivative(n_ if act.saves == "output" else Z[..., 2 * H:])  # (T, B, H) act'(zn)
    pn *= 1 - z_  # (T, B, H) dzn = dh * pn
    F = np.empty((T, B, 3, H), dtype)  # (T, B, 3, H) per-dh factors (see below)
    np.subtract(h_prev, n_, out=F[:, :, 1])  # (T, B, H) h_{t-1} - n
    F[:, :, 1] *= ract.derivative(S[..., H:2 * H])  # (T, B, H) dzz = dh * F1
    qr = None  # reset_after=False only
    if cache.reset_after:  # rows of the recurrent product: [dzr, dzz, dhn] = dh * F
        np.multiply(pn, hn, out=F[:, :, 0])  # (T, B, H) (1 - z) act' hn
        F[:, :, 0] *= ract.derivative(S[..., :H])  # (T, B, H) dzr = dh * F0
        np.multiply(pn, r_, out=F[:, :, 2])  # (T, B, H) dhn = dh * F2
    else:  # [., dzz, dzn] = dh * F; dzr comes from d(rh) = dzn W_hn
        F[:, :, 2] = pn  # (T, B, H)
        qr = ract.derivative(S[..., :H])  # (T, B, H) sigma'(zr)
        qr *= h_prev  # (T, B, H) dzr = d(rh) * qr
        if m_n is not None:
            qr *= m_n  # (T, B, H)
    zc = z_  # (T, B, H) dh_{t-1} = dh * zc + recurrent part
    if mask is not None:
        F *= mask[:, :, None, None]  # (T, B, 3, H)
        pn *= mask[:, :, None]  # (T, B, H)
        zc = np.where(mask[:, :, None], z_, np.ones((), dtype))  # (T, B, H) 1 where carried
    return F, pn, qr, zc


def _bptt(cache: Cache, dhs, F, qr, zc, dh_next):
    """The backward time loop: F's rows become the gate gradients, dh_next dL/dh0 (in place).

    Returns dH (T, B, H), dL/dh_t per step."""
    T, B, _, H = F.shape
    W_hh, rec_mask, reset_after, r_ = cache.params.W_hh, cache.rec_mask, cache.reset_after, cache.A[..., :H]
    m_rz, m_n = _split_rec_mask(rec_mask)
    dH = np.empty((T, B, H), F.dtype)  # (T, B, H) dL/dh_t
    dZ = F.reshape(T, B, 3 * H)  # (T, B, 3H)
    rec = np.empty((B, H), F.dtype)
    drh = np.empty((B, H), F.dtype)
    W_rz, W_n = W_hh[:2 * H], W_hh[2 * H:]  # (2H, H), (H, H)
    rev = lambda a: repeat(None, T) if a is None else a[::-1]  # noqa: E731  (BPTT walks time backwards)
    steps = zip(*map(rev, (dhs, dH, dH[:, :, None], F, F[:, :, 1:], dZ, dZ[..., :H], dZ[..., :2 * H],
                           dZ[..., 2 * H:], qr, r_, zc)))
    dot, add, mul = np.dot, np.add, np.multiply
    for dhs_t, dh, dh1, F_t, F_zn, dz, dz_r, dz_rz, dz_n, qr_t, r, zc_t in steps:
        add(dhs_t, dh_next, dh)  # (B, H) dL/dh_t
        if reset_after:
            mul(dh1, F_t, F_t)  # (B, 3, H) dzr, dzz, dhn
            if rec_mask is None:
                dot(dz, W_hh, rec)  # (B, H) through W_hh
            else:
                masked_matmul_dinput(dz, W_hh, rec_mask, rec)  # (B, H) through W_hh
        else:
            mul(dh1, F_zn, F_zn)  # (B, 2, H) dzz, dzn
            np.matmul(dz_n, W_n, drh)  # (B, H) d(rh)
            mul(drh, qr_t, dz_r)  # (B, H) dzr
            masked_matmul_dinput(dz_rz, W_rz, m_rz, rec)  # (B, H) through W_hrz
            drh *= r  # (B, H) d(rh) r
            if m_n is not None:
                drh *= m_n  # (B, H)
            rec += drh  # (B, H)
        mul(dh, zc_t, dh_next)  # (B, H) direct path z h_{t-1}
        add(dh_next, rec, dh_next)  # (B, H) dL/dh_{t-1}
    return dH


def _fused_backward(dhs, dh_T, cache: Cache, consume):
    """:func:`backward` for a forward that ran the compiled kernel (reset_after only)."""
    A, hs, hn = cache.A, cache.hs, cache.hn
    if A is None:
        raise ValueError("cache: already consumed by a backward with consume=True")
    if consume:
        cache.A = cache.hn = None
    else:
        A, hn = A.copy(), hn.copy()  # keep the cache differentiable again
    H = hn.shape[-1]
    dG, dzn, dh0 = kernels.gru_backward(A, hs, hn, cache.params.W_hh, cache.mask, dhs, dh_T)  # dG: [dzr, dzz, dhn]
    T, B = dG.shape[:2]
    dW_hh = kernels.matmul(dG.reshape(T * B, 3 * H).T, hs[:-1].reshape(T * B, H))  # (3H, H) sum_t dG_t^T h_{t-1}
    db_hn = dG[..., 2 * H:].sum(axis=(0, 1)) if cache.params.b_hn is not None else None  # (H,)
    dG[..., 2 * H:] = dzn  # (T, B, H) dG is now dL/dxw
    return dG, (dh0,), Params(dW_hh, db_hn)
