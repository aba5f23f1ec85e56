"""GRU cell over a whole sequence (PyTorch ``nn.GRU`` gate order r, z, n; Keras ``GRU``).

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

With the numba kernel (:mod:`~rnnkit.cells._kernels`; reset_after, sigmoid/tanh, no
recurrent dropout) each step is one matmul and one compiled pass over (B, H).

Shapes: T time, B batch, H hidden.

Example:
    >>> import numpy as np
    >>> from rnnkit.cells import gru
    >>> rng = np.random.default_rng(0)
    >>> xw, W_hh, b_hn = rng.normal(size=(5, 2, 9)), rng.normal(size=(9, 3)), np.zeros(3)
    >>> hs, h_T, cache = gru.forward(xw, np.zeros((2, 3)), W_hh, b_hn)
    >>> dxw, dh0, dW_hh, db_hn = gru.backward(np.ones_like(hs), None, cache)
    >>> hs.shape, dxw.shape, dW_hh.shape, db_hn.shape
    ((5, 2, 3), (5, 2, 9), (9, 3), (3,))
"""

from __future__ import annotations

from itertools import repeat

import numpy as np

from rnnkit.cells import _kernels, activations
from rnnkit.cells.rnn import zeros_if_none, check, holes, masked_matmul, masked_matmul_dinput, masked_matmul_dweight

__all__ = ["forward", "backward"]


def _split_rec_mask(rec_mask):
    """(mask for the r, z product, mask for the n product)."""
    if rec_mask is None or rec_mask.ndim == 2:
        return rec_mask, rec_mask
    return rec_mask[:2], rec_mask[2]


def forward(xw, h0, W_hh, b_hn=None, *, mask=None, rec_mask=None, activation="tanh",
            recurrent_activation="sigmoid", reset_after=True, overwrite_xw=False):
    """Run the GRU over a sequence.

    Args:
        xw: (T, B, 3H) input projection plus the foldable biases (see the module docstring).
        h0: (B, H) initial state.
        W_hh: (3H, H) recurrent weight (r, z, n).
        b_hn: optional (H,) recurrent bias of n, applied inside the reset (reset_after only).
        mask: optional bool (T, B); False carries the state through that step.
        rec_mask: optional (B, H) or (3, B, H) recurrent dropout mask(s) on h_{t-1}.
        activation: for n (default tanh); recurrent_activation: for r, z (default sigmoid).
        reset_after: PyTorch's form (True) or the reset before the product (False).
        overwrite_xw: store the gate activations in ``xw`` itself (saves a (T, B, 3H) array;
            the driver, which owns xw, does).

    Returns:
        ``(hs, h_T, cache)``: hs (T, B, H) state after each step (carried where masked),
        h_T (B, H), cache for :func:`backward`. Outputs are views of the cache.
    """
    act = activations.get(activation)
    ract = activations.get(recurrent_activation, "recurrent_activation")
    T, B, H, rec_mask = check(xw, 3, h0, W_hh, mask, rec_mask)
    if b_hn is not None and (not reset_after or b_hn.shape != (H,) or b_hn.dtype != xw.dtype):
        raise ValueError(f"b_hn: expected None (reset_after=False) or shape {(H,)} and dtype {xw.dtype}, "
                         f"got {b_hn.shape} {b_hn.dtype} with reset_after={reset_after}")
    dtype = xw.dtype
    if _kernels.fused(act, ract, rec_mask, reset_after=reset_after):  # the compiled kernel: same math
        A = xw if overwrite_xw else xw.copy()  # (T, B, 3H) becomes r, z, n
        hs, hn = _kernels.gru_forward(A, h0, W_hh, b_hn, mask)
        return hs[1:], hs[T], dict(fused=True, A=A, hs=hs, hn=hn, W_hh=W_hh, mask=mask, has_b_hn=b_hn is not None)
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
    cache = dict(act=act, ract=ract, A=A, Z=Z if keep_z else None, hs=hs, hn=hn, W_hh=W_hh,
                 has_b_hn=b_hn is not None, reset_after=reset_after, mask=mask, rec_mask=rec_mask)
    return hs[1:], hs[T], cache


def backward(dhs, dh_T, cache, consume=False):
    """BPTT through :func:`forward`.

    Args:
        dhs: (T, B, H) gradient wrt hs, or None; dh_T: (B, H) or None; cache: from :func:`forward`.
        consume: the compiled kernel may turn the saved activations into gradients in place
            (one (T, B, 3H) array less); the cache cannot be differentiated again after.

    Returns:
        ``(dxw, dh0, dW_hh, db_hn)``: (T, B, 3H), (B, H), (3H, H), (H,) or None (no b_hn).
    """
    if cache.get("fused"):
        return _fused_backward(dhs, dh_T, cache, consume)
    act, ract, A, Z, hs, hn, W_hh, mask, rec_mask, reset_after = (cache[k] for k in (
        "act", "ract", "A", "Z", "hs", "hn", "W_hh", "mask", "rec_mask", "reset_after"))
    T, B, H3 = A.shape
    H, dtype = H3 // 3, A.dtype
    r_, z_, n_ = (A[..., k * H:(k + 1) * H] for k in range(3))  # (T, B, H) each
    h_prev = hs[:-1]  # (T, B, H)
    S = A if ract.saves == "output" else Z  # what sigma' needs
    m_rz, m_n = _split_rec_mask(rec_mask)
    # Per-step factors for all steps at once (masked steps: no gate gradient, h passes through);
    # step t turns F[t] into its gate gradients in place.
    pn = act.derivative(n_ if act.saves == "output" else Z[..., 2 * H:])  # (T, B, H) act'(zn)
    pn *= 1 - z_  # (T, B, H) dzn = dh * pn
    F = np.empty((T, B, 3, H), dtype)  # (T, B, 3, H) per-dh factors (see below)
    np.subtract(h_prev, n_, out=F[:, :, 1])  # (T, B, H) h_{t-1} - n
    F[:, :, 1] *= ract.derivative(S[..., H:2 * H])  # (T, B, H) dzz = dh * F1
    qr = None  # reset_after=False only
    if reset_after:  # rows of the recurrent product: [dzr, dzz, dhn] = dh * F
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
    dhs = zeros_if_none(dhs, (T, B, H), dtype)
    dh_next = np.zeros((B, H), dtype) if dh_T is None else np.array(dh_T, dtype=dtype)  # (B, H)
    dH = np.empty((T, B, H), dtype)  # (T, B, H) dL/dh_t
    dZ = F.reshape(T, B, 3 * H)  # (T, B, 3H) after step t: [dzr, dzz, dhn] (reset_after) or dL/dxw
    rec = np.empty((B, H), dtype)
    drh = np.empty((B, H), dtype)
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
    if reset_after:
        dW_hh = masked_matmul_dweight(dZ, h_prev, rec_mask)  # (3H, H)
        db_hn = dZ[..., 2 * H:].sum(axis=(0, 1)) if cache["has_b_hn"] else None  # (H,)
        np.multiply(dH, pn, out=dZ[..., 2 * H:])  # (T, B, H) dzn: dZ is now dL/dxw
    else:
        dW_hh = np.empty_like(W_hh)  # (3H, H)
        dW_hh[:2 * H] = masked_matmul_dweight(dZ[..., :2 * H], h_prev, m_rz)  # (2H, H)
        dW_hh[2 * H:] = dZ[..., 2 * H:].reshape(-1, H).T @ hn.reshape(-1, H)  # (H, H) sum dzn^T rh
        db_hn = None
    return dZ, dh_next, dW_hh, db_hn


def _fused_backward(dhs, dh_T, cache, consume):
    """:func:`backward` for a forward that ran the compiled kernel (reset_after only)."""
    A, hs, hn, W_hh, mask = (cache[k] for k in ("A", "hs", "hn", "W_hh", "mask"))
    if A is None:
        raise ValueError("cache: already consumed by a backward with consume=True")
    if consume:
        cache["A"] = cache["hn"] = None
    else:
        A, hn = A.copy(), hn.copy()  # keep the cache differentiable again
    H = hn.shape[-1]
    dG, dzn, dh0 = _kernels.gru_backward(A, hs, hn, W_hh, mask, dhs, dh_T)  # dG: [dzr, dzz, dhn]
    dW_hh = masked_matmul_dweight(dG, hs[:-1], None)  # (3H, H)
    db_hn = dG[..., 2 * H:].sum(axis=(0, 1)) if cache["has_b_hn"] else None  # (H,)
    dG[..., 2 * H:] = dzn  # (T, B, H) dG is now dL/dxw
    return dG, dh0, dW_hh, db_hn
