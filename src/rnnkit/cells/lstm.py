"""LSTM cell over a whole sequence (PyTorch ``nn.LSTM`` gate order i, f, g, o; Keras ``LSTM``).

Equations, with xw_t = x_t W_ih^T + b_ih + b_hh from the driver, sigma = recurrent_activation
(default sigmoid), act = activation (default tanh), m the optional recurrent dropout mask
(shared, or one per gate as Keras draws them; it touches only the recurrent product)::

    [zi, zf, zg, zo] = xw_t + (h_{t-1} * m) W_hh^T       (B, 4H), W_hh: (4H, P)
    i, f, o = sigma(zi), sigma(zf), sigma(zo)     g = act(zg)
    c_t = f * c_{t-1} + i * g
    r_t = o * act(c_t)
    h_t = r_t W_hr^T  with a projection (W_hr: (P, H)), else h_t = r_t (P = H)
    where mask[t, b] is False: h_t = h_{t-1}, c_t = c_{t-1} (no gradient to the weights)

BPTT (per step, dh = dL/dh_t incl. the carry from t+1, dr = dh W_hr or dh)::

    dc = dc_next + dr * o * act'(c_t)
    dzi = dc g sigma'(zi)   dzf = dc c_{t-1} sigma'(zf)   dzg = dc i act'(zg)   dzo = dr act(c_t) sigma'(zo)
    dc_next = dc * f        dh_next = (dz W_hh) * m
    dW_hh = sum_t dz_t^T (h_{t-1} * m)     dW_hr = sum_t dh_t^T r_t        (one matmul each)

The products of saved values in the backward (g sigma'(zi), ...) are formed for all steps at
once before the loop, so each step is 6 elementwise calls and one matmul. With the numba
kernel (:mod:`~rnnkit.cells._kernels`; sigmoid/tanh, no projection, no recurrent dropout)
each step is instead one matmul and one compiled pass over (B, H) that does all of the
above, act(c_t) recomputed rather than stored.

Shapes: T time, B batch, H hidden, P projected (output) size (= H without projection).

Example:
    >>> import numpy as np
    >>> from rnnkit.cells import lstm
    >>> rng = np.random.default_rng(0)
    >>> xw, W_hh = rng.normal(size=(5, 2, 12)), rng.normal(size=(12, 3))
    >>> hs, h_T, c_T, cache = lstm.forward(xw, np.zeros((2, 3)), np.zeros((2, 3)), W_hh)
    >>> dxw, dh0, dc0, dW_hh, dW_hr = lstm.backward(np.ones_like(hs), None, None, cache)
    >>> hs.shape, dxw.shape, dW_hh.shape, dW_hr
    ((5, 2, 3), (5, 2, 12), (12, 3), None)
"""

from __future__ import annotations

from itertools import repeat

import numpy as np

from rnnkit.cells import _kernels, activations
from rnnkit.cells.rnn import (
    zeros_if_none, check, holes, masked_matmul, masked_matmul_dinput, masked_matmul_dweight,
)

__all__ = ["forward", "backward"]


def forward(xw, h0, c0, W_hh, W_hr=None, *, mask=None, rec_mask=None, activation="tanh",
            recurrent_activation="sigmoid", overwrite_xw=False):
    """Run the LSTM over a sequence.

    Args:
        xw: (T, B, 4H) input projection plus both biases, gates i, f, g, o.
        h0: (B, P) initial hidden state; c0: (B, H) initial cell state.
        W_hh: (4H, P) recurrent weight; W_hr: optional (P, H) projection.
        mask: optional bool (T, B); False carries (h, c) through that step.
        rec_mask: optional (B, P) or (4, B, P) recurrent dropout mask(s) multiplied into h_{t-1}.
        activation: for g and for c (default tanh); recurrent_activation: for i, f, o (default sigmoid).
        overwrite_xw: store the gate activations in ``xw`` itself (saves a (T, B, 4H) array;
            the driver, which owns xw, does).

    Returns:
        ``(hs, h_T, c_T, cache)``: hs (T, B, P) hidden state after each step (carried where
        masked), h_T (B, P), c_T (B, H), cache for :func:`backward`. Outputs are views of the cache.
    """
    act = activations.get(activation)
    ract = activations.get(recurrent_activation, "recurrent_activation")
    P = h0.shape[-1] if W_hr is None else W_hr.shape[0]
    T, B, H, rec_mask = check(xw, 4, h0, W_hh, mask, rec_mask, out_size=P)
    if W_hr is not None and (W_hr.shape != (P, H) or W_hr.dtype != xw.dtype):
        raise ValueError(f"W_hr: expected shape {(P, H)} and dtype {xw.dtype}, got {W_hr.shape} {W_hr.dtype}")
    if W_hr is None and P != H:
        raise ValueError(f"h0: expected (B, {H}) without a projection, got {h0.shape}")
    if c0.shape != (B, H) or c0.dtype != xw.dtype:
        raise ValueError(f"c0: expected shape {(B, H)} and dtype {xw.dtype}, got {c0.shape} {c0.dtype}")
    dtype = xw.dtype
    if _kernels.fused(act, ract, rec_mask, W_hr=W_hr):  # the compiled kernel: same math, one pass per step
        A = xw if overwrite_xw else xw.copy()  # (T, B, 4H) becomes i, f, g, o
        hs, cs = _kernels.lstm_forward(A, h0, c0, W_hh, mask)
        return hs[1:], hs[T], cs[T], dict(fused=True, A=A, hs=hs, cs=cs, W_hh=W_hh, mask=mask)
    keep_z = act.saves == "input" or ract.saves == "input"
    A = xw if overwrite_xw else np.empty((T, B, 4 * H), dtype)  # (T, B, 4H) i, f, g, o
    Z = np.empty((T if keep_z else 1, B, 4 * H), dtype)  # pre-activations (all steps only if needed)
    cs = np.empty((T + 1, B, H), dtype)  # (T+1, B, H) cs[0] = c0, cs[t+1] = c_t
    hs = np.empty((T + 1, B, P), dtype)  # (T+1, B, P) hs[0] = h0, hs[t+1] = h_t
    cs[0], hs[0] = c0, h0
    tc = np.empty((T, B, H), dtype)  # (T, B, H) act(c_t)
    rs = hs[1:] if W_hr is None else np.empty((T, B, H), dtype)  # (T, B, H) o * act(c_t)
    i_, f_, g_, o_ = (A[..., k * H:(k + 1) * H] for k in range(4))  # (T, B, H) each
    ig = np.empty((B, H), dtype)
    W_hhT, W_hrT = W_hh.T, None if W_hr is None else W_hr.T  # (P, 4H), (H, P) views: BLAS reads them as is
    hole, carry = holes(mask, T)
    zs = Z if keep_z else repeat(Z[0], T)  # per-step pre-activation buffers
    zgs = Z[..., 2 * H:3 * H] if keep_z else repeat(Z[0, :, 2 * H:3 * H], T)  # their g slots
    dot, add, mul = np.dot, np.add, np.multiply
    steps = zip(zs, zgs, xw, A, i_, f_, g_, o_, cs[:-1], cs[1:], tc, rs, hs[:-1], hs[1:], hole, carry)
    with np.errstate(over="ignore"):  # exp(-z) -> inf in sigmoid is fine
        for z, zg, xw_t, a, i, f, g, o, c_prev, c, tc_t, r, h_prev, h, hole_t, carry_t in steps:
            if rec_mask is None:
                dot(h_prev, W_hhT, z)  # (B, 4H) h_{t-1} W_hh^T
            else:
                masked_matmul(h_prev, rec_mask, W_hhT, z)  # (B, 4H) (h_{t-1} * m) W_hh^T
            add(z, xw_t, z)  # (B, 4H) zi, zf, zg, zo
            ract.forward(z[:, :2 * H], a[:, :2 * H])  # (B, 2H) i, f
            ract.forward(z[:, 3 * H:], o)  # (B, H) o
            act.forward(zg, g)  # (B, H) g
            mul(f, c_prev, c)  # (B, H) f * c_{t-1}
            mul(i, g, ig)  # (B, H) i * g
            add(c, ig, c)  # (B, H) c_t
            act.forward(c, tc_t)  # (B, H) act(c_t)
            mul(o, tc_t, r)  # (B, H) r_t
            if W_hrT is not None:
                dot(r, W_hrT, h)  # (B, P) h_t = r_t W_hr^T
            if hole_t:
                np.copyto(h, h_prev, where=carry_t)  # (B, P) carried rows
                np.copyto(c, c_prev, where=carry_t)  # (B, H)
    cache = dict(act=act, ract=ract, A=A, Z=Z if keep_z else None, cs=cs, hs=hs, tc=tc, rs=rs,
                 W_hh=W_hh, W_hr=W_hr, mask=mask, rec_mask=rec_mask)
    return hs[1:], hs[T], cs[T], cache


def backward(dhs, dh_T, dc_T, cache, consume=False):
    """BPTT through :func:`forward`.

    Args:
        dhs: (T, B, P) gradient wrt hs, or None; dh_T: (B, P) or None; dc_T: (B, H) or None.
        cache: from :func:`forward`.
        consume: the compiled kernel may turn the saved gate activations into dxw in place
            (one (T, B, 4H) array less); the cache cannot be differentiated again after.

    Returns:
        ``(dxw, dh0, dc0, dW_hh, dW_hr)``: (T, B, 4H), (B, P), (B, H), (4H, P), (P, H) or None.
    """
    if cache.get("fused"):
        return _fused_backward(dhs, dh_T, dc_T, cache, consume)
    act, ract, A, Z, cs, hs, tc, rs, W_hh, W_hr, mask, rec_mask = (cache[k] for k in (
        "act", "ract", "A", "Z", "cs", "hs", "tc", "rs", "W_hh", "W_hr", "mask", "rec_mask"))
    T, B, H4 = A.shape
    H, P, dtype = H4 // 4, hs.shape[-1], A.dtype
    i_, f_, g_, o_ = (A[..., k * H:(k + 1) * H] for k in range(4))  # (T, B, H) each
    S = A if ract.saves == "output" else Z  # what sigma' needs
    Sg = g_ if act.saves == "output" else Z[..., 2 * H:3 * H]  # what act'(zg) needs
    # Per-step factors for all steps at once (masked steps: no gate gradient, c passes through);
    # step t turns F[t] into dz_t in place, so F ends as dL/dxw.
    F = np.empty((T, B, 4, H), dtype)  # (T, B, 4, H) dz_k = F_k * (dc, dc, dc, dr)
    np.multiply(g_, ract.derivative(S[..., :H]), out=F[:, :, 0])  # (T, B, H) g sigma'(zi)
    np.multiply(cs[:-1], ract.derivative(S[..., H:2 * H]), out=F[:, :, 1])  # (T, B, H) c_{t-1} sigma'(zf)
    np.multiply(i_, act.derivative(Sg), out=F[:, :, 2])  # (T, B, H) i act'(zg)
    np.multiply(tc, ract.derivative(S[..., 3 * H:]), out=F[:, :, 3])  # (T, B, H) act(c) sigma'(zo)
    od = act.derivative(tc if act.saves == "output" else cs[1:])  # (T, B, H) act'(c_t)
    od *= o_  # (T, B, H) o act'(c_t)
    fc = f_  # (T, B, H) dc_{t-1} = dc_t * fc
    if mask is not None:
        F *= mask[:, :, None, None]  # (T, B, 4, H)
        od *= mask[:, :, None]  # (T, B, H)
        fc = np.where(mask[:, :, None], f_, np.ones((), dtype))  # (T, B, H) 1 where carried
    dhs = zeros_if_none(dhs, (T, B, P), dtype)
    dh_next = np.zeros((B, P), dtype) if dh_T is None else np.array(dh_T, dtype=dtype)  # (B, P)
    dc_next = np.zeros((B, H), dtype) if dc_T is None else np.array(dc_T, dtype=dtype)  # (B, H)
    dZ = F.reshape(T, B, 4 * H)  # (T, B, 4H) dL/dz_t = dL/dxw_t once step t has run
    dH = np.empty((T, B, P), dtype)  # (T, B, P) dL/dh_t (for dW_hr)
    dr = dH if W_hr is None else np.empty((T, B, H), dtype)  # (T, B, H) dL/dr_t
    dc = np.empty((B, H), dtype)
    dc3 = dc[:, None, :]  # (B, 1, H) view
    hole, carry = holes(mask, T)
    dot, add, mul = np.dot, np.add, np.multiply
    steps = zip(*(a[::-1] for a in (dhs, dH, dr, od, F[:, :, :3], F[:, :, 3], dZ, fc)), reversed(hole), reversed(carry))
    for dhs_t, dh, dr_t, od_t, F_ifg, F_o, dz, fc_t, hole_t, carry_t in steps:
        add(dhs_t, dh_next, dh)  # (B, P) dL/dh_t
        if W_hr is not None:
            dot(dh, W_hr, dr_t)  # (B, H) dL/dr_t
        mul(dr_t, od_t, dc)  # (B, H) through h = o act(c)
        add(dc, dc_next, dc)  # (B, H) dL/dc_t
        mul(dc3, F_ifg, F_ifg)  # (B, 3, H) dzi, dzf, dzg
        mul(dr_t, F_o, F_o)  # (B, H) dzo
        mul(dc, fc_t, dc_next)  # (B, H) dL/dc_{t-1}
        if rec_mask is None:
            dot(dz, W_hh, dh_next)  # (B, P) dL/dh_{t-1}
        else:
            masked_matmul_dinput(dz, W_hh, rec_mask, dh_next)  # (B, P) dL/dh_{t-1}
        if hole_t:
            np.copyto(dh_next, dh, where=carry_t)  # (B, P) carried rows pass dh through
    dW_hh = masked_matmul_dweight(dZ, hs[:-1], rec_mask)  # (4H, P)
    dW_hr = None
    if W_hr is not None:
        if mask is not None:
            dH *= mask[:, :, None]  # (T, B, P) carried steps do not use W_hr
        dW_hr = dH.reshape(-1, P).T @ rs.reshape(-1, H)  # (P, H)
    return dZ, dh_next, dc_next, dW_hh, dW_hr


def _fused_backward(dhs, dh_T, dc_T, cache, consume):
    """:func:`backward` for a forward that ran the compiled kernel."""
    A, hs, cs, W_hh, mask = (cache[k] for k in ("A", "hs", "cs", "W_hh", "mask"))
    if A is None:
        raise ValueError("cache: already consumed by a backward with consume=True")
    if consume:
        cache["A"] = None
    else:
        A = A.copy()  # (T, B, 4H) keep the cache differentiable again
    dZ, dh0, dc0 = _kernels.lstm_backward(A, hs, cs, W_hh, mask, dhs, dh_T, dc_T)  # dZ: dL/dxw
    return dZ, dh0, dc0, masked_matmul_dweight(dZ, hs[:-1], None), None  # dW_hh (4H, H)
