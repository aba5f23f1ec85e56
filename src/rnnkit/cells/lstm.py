"""LSTM cell: its step (the equations as code), then forward and BPTT over a sequence.

Gate order i, f, g, o (PyTorch ``nn.LSTM``; Keras ``LSTM`` is permuted to it by its layer).

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
kernel (:mod:`~rnnkit.cells.kernels`; sigmoid/tanh, no projection, no recurrent dropout)
each step is instead one matmul and one compiled pass over (B, H) that does all of the
above, act(c_t) recomputed rather than stored.

Shapes: T time, B batch, H hidden, P projected (output) size (= H without projection).

Example:
    >>> import numpy as np
    >>> from rnnkit.cells import lstm
    >>> rng = np.random.default_rng(0)
    >>> xw, W_hh = rng.normal(size=(5, 2, 12)), rng.normal(size=(12, 3))
    >>> hs, (h_T, c_T), cache = lstm.forward(xw, (np.zeros((2, 3)), np.zeros((2, 3))), lstm.Params(W_hh))
    >>> dxw, (dh0, dc0), dparams = lstm.backward(np.ones_like(hs), None, cache)
    >>> hs.shape, dxw.shape, dparams.W_hh.shape, dparams.W_hr
    ((5, 2, 3), (5, 2, 12), (12, 3), None)
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat

import numpy as np

from rnnkit.cells import activations, kernels
from rnnkit.cells.common import check, gate, holes, initial, masked_matmul, masked_matmul_dinput, masked_matmul_dweight, zeros_if_none

__all__ = ["step", "Params", "Config", "Cache", "forward", "backward", "STATES"]

STATES = ("h", "c")  # the state tuple's entries


def step(x, state, W_ih, W_hh, b_ih, b_hh, act, rec_act, m_x=None, m_h=None, W_hr=None):
    """One step: i, f, o = rec_act(.), g = act(.); c = f c + i g; h = o act(c) [W_hr^T].

    Args:
        x: (B, I); state: ``(h, c)``, (B, P) and (B, H); weights in PyTorch's layout (biases
        may be None); act, rec_act: callables; m_x, m_h: None or dropout masks, (B, K) or
        (4, B, K) one per gate; W_hr: optional (P, H) projection.

    Returns:
        The new state ``(h, c)``. Only ``@ * + -`` and the activations: NumPy or torch alike.
    """
    h, c = state
    H = W_hh.shape[0] // 4
    i, f, g, o = (gate(k, H, x, W_ih, b_ih, m_x) + gate(k, H, h, W_hh, b_hh, m_h) for k in range(4))
    i, f, g, o = rec_act(i), rec_act(f), act(g), rec_act(o)
    c = f * c + i * g
    h = o * act(c)
    return (h if W_hr is None else h @ W_hr.T, c)


@dataclass
class Params:
    """The recurrent parameters of the time loop (or their gradients)."""

    W_hh: np.ndarray  # (4H, P) recurrent weight
    W_hr: np.ndarray | None = None  # (P, H) projection (PyTorch proj_size), or None

    @classmethod
    def from_weights(cls, w_hh, b_hh, w_hr=None, config=None):
        """(params, the part of b_hh that folds into xw: all of it)."""
        return cls(w_hh, w_hr), b_hh

    def weight_grads(self, db):
        """(dW_hh, db_hh, dW_hr) in PyTorch's layout, given db = the gradient of the folded bias."""
        return self.W_hh, db, self.W_hr


@dataclass(frozen=True)
class Config:
    """The cell's options."""

    activation: str | activations.Activation = "tanh"  # of g and of c
    recurrent_activation: str | activations.Activation = "sigmoid"  # of the gates i, f, o


@dataclass
class Cache:
    """What :func:`backward` needs from :func:`forward` (the fused kernel keeps only the first six)."""

    kernel: str  # 'numpy' or 'numba': which loop ran, so which backward runs
    A: np.ndarray | None  # (T, B, 4H) gate activations i, f, g, o (None once consumed)
    hs: np.ndarray  # (T+1, B, P) hs[0] = h0, hs[t+1] = h_t
    cs: np.ndarray  # (T+1, B, H) cs[0] = c0, cs[t+1] = c_t
    params: Params
    mask: np.ndarray | None  # (T, B) bool
    act: activations.Activation | None = None
    ract: activations.Activation | None = None
    Z: np.ndarray | None = None  # (T, B, 4H) pre-activations, when an activation's derivative needs them
    tc: np.ndarray | None = None  # (T, B, H) act(c_t)
    rs: np.ndarray | None = None  # (T, B, H) o * act(c_t) (the projection's input)
    rec_mask: np.ndarray | None = None  # (B, P) or (4, B, P)


def forward(xw, state, params, config=Config(), *, mask=None, rec_mask=None, overwrite_xw=False, kernel=None):
    """Run the LSTM over a sequence.

    Args:
        xw: (T, B, 4H) input projection plus both biases, gates i, f, g, o.
        state: ``(h0, c0)``: (B, P) initial hidden state, (B, H) initial cell state.
        params: :class:`Params` (W_hh, optional projection W_hr); config: :class:`Config`.
        mask: optional bool (T, B); False carries (h, c) through that step.
        rec_mask: optional (B, P) or (4, B, P) recurrent dropout mask(s) multiplied into h_{t-1}.
        overwrite_xw: store the gate activations in ``xw`` itself (saves a (T, B, 4H) array;
            the driver, which owns xw, does).
        kernel: ``'numpy'`` or ``'numba'`` as chosen by :func:`rnnkit.cells.kernels.select`
            (None: select here).

    Returns:
        ``(hs, (h_T, c_T), cache)``: hs (T, B, P) hidden state after each step (carried where
        masked), h_T (B, P), c_T (B, H), cache for :func:`backward`. Outputs are views of the cache.
    """
    act = activations.get(config.activation)
    ract = activations.get(config.recurrent_activation, "recurrent_activation")
    h0, c0 = state
    W_hh, W_hr = params.W_hh, params.W_hr
    P = h0.shape[-1] if W_hr is None else W_hr.shape[0]
    T, B, H, rec_mask = check(xw, 4, h0, W_hh, mask, rec_mask, out_size=P)
    if W_hr is not None and (W_hr.shape != (P, H) or W_hr.dtype != xw.dtype):
        raise ValueError(f"W_hr: expected shape {(P, H)} and dtype {xw.dtype}, got {W_hr.shape} {W_hr.dtype}")
    if W_hr is None and P != H:
        raise ValueError(f"h0: expected (B, {H}) without a projection, got {h0.shape}")
    if c0.shape != (B, H) or c0.dtype != xw.dtype:
        raise ValueError(f"c0: expected shape {(B, H)} and dtype {xw.dtype}, got {c0.shape} {c0.dtype}")
    kernel = kernel or kernels.select("LSTM", act, ract, rec_mask=rec_mask, W_hr=W_hr)
    if kernel == "numba":  # the compiled kernel: same math, one pass per step
        A = xw if overwrite_xw else xw.copy()  # (T, B, 4H) becomes i, f, g, o
        hs, cs = kernels.lstm_forward(A, h0, c0, W_hh, mask)
        return hs[1:], (hs[T], cs[T]), Cache("numba", A, hs, cs, params, mask)
    if kernel != "numpy":
        raise ValueError(f"kernel: expected 'numpy' or 'numba' for the LSTM cell, got {kernel!r}")
    cache = _numpy_forward(xw, h0, c0, params, act, ract, mask, rec_mask, overwrite_xw)
    return cache.hs[1:], (cache.hs[T], cache.cs[T]), cache


def _numpy_forward(xw, h0, c0, params, act, ract, mask, rec_mask, overwrite_xw) -> Cache:
    """The NumPy time loop of :func:`forward` (every activation, projection, recurrent dropout)."""
    T, B, H4 = xw.shape
    H, P, dtype, W_hh, W_hr = H4 // 4, h0.shape[-1], xw.dtype, params.W_hh, params.W_hr
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
    return Cache("numpy", A, hs, cs, params, mask, act, ract, Z if keep_z else None, tc, rs, rec_mask)


def backward(dhs, dstate, cache, consume=False):
    """BPTT through :func:`forward`.

    Args:
        dhs: (T, B, P) gradient wrt hs, or None.
        dstate: ``(dh_T, dc_T)``, (B, P) and (B, H), gradients wrt the final state (entries
            may be None), or None.
        cache: from :func:`forward`.
        consume: the compiled kernel may turn the saved gate activations into dxw in place
            (one (T, B, 4H) array less); the cache cannot be differentiated again after.

    Returns:
        ``(dxw, (dh0, dc0), Params(dW_hh, dW_hr))``: (T, B, 4H), (B, P), (B, H), (4H, P), (P, H) or None.
    """
    dh_T, dc_T = (None, None) if dstate is None else dstate
    if cache.kernel == "numba":
        return _fused_backward(dhs, dh_T, dc_T, cache, consume)
    T, B, H4 = cache.A.shape
    H, P, dtype = H4 // 4, cache.hs.shape[-1], cache.A.dtype
    F, od, fc = _factors(cache)
    dhs = zeros_if_none(dhs, (T, B, P), dtype)
    dh_next = initial(dh_T, (B, P), dtype)  # (B, P)
    dc_next = initial(dc_T, (B, H), dtype)  # (B, H)
    dZ = F.reshape(T, B, 4 * H)  # (T, B, 4H) dL/dz_t = dL/dxw_t once step t has run
    dH = _bptt(cache, dhs, F, od, fc, dh_next, dc_next)
    W_hr, mask, rs = cache.params.W_hr, cache.mask, cache.rs
    dW_hh = masked_matmul_dweight(dZ, cache.hs[:-1], cache.rec_mask)  # (4H, P)
    dW_hr = None
    if W_hr is not None:
        if mask is not None:
            dH *= mask[:, :, None]  # (T, B, P) carried steps do not use W_hr
        dW_hr = dH.reshape(-1, P).T @ rs.reshape(-1, H)  # (P, H)
    return dZ, (dh_next, dc_next), Params(dW_hh, dW_hr)


def _factors(cache: Cache):
    """The per-step factors of the backward for all steps at once (masked steps: no gate
    gradient, c passes through): F (T, B, 4, H) with dz_k = F_k * (dc, dc, dc, dr), od = o act'(c_t),
    fc with dc_{t-1} = dc_t * fc."""
    act, ract, A, Z, cs, tc, mask = cache.act, cache.ract, cache.A, cache.Z, cache.cs, cache.tc, cache.mask
    T, B, H4 = A.shape
    H, dtype = H4 // 4, A.dtype
    i_, f_, g_, o_ = (A[..., k * H:(k + 1) * H] for k in range(4))  # (T, B, H) each
    S = A if ract.saves == "output" else Z  # what sigma' needs
    Sg = g_ if act.saves == "output" else Z[..., 2 * H:3 * H]  # what act'(zg) needs
    F = np.empty((T, B, 4, H), dtype)  # (T, B, 4, H); step t turns F[t] into dz_t in place
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
    return F, od, fc


def _bptt(cache: Cache, dhs, F, od, fc, dh_next, dc_next):
    """The backward time loop: F becomes dL/dxw, dh_next / dc_next dL/dh0 / dL/dc0 (in place).

    Returns dH (T, B, P), dL/dh_t per step (for dW_hr)."""
    T, B, _, H = F.shape
    P, dtype, W_hh, W_hr, rec_mask = dh_next.shape[-1], F.dtype, cache.params.W_hh, cache.params.W_hr, cache.rec_mask
    dZ = F.reshape(T, B, 4 * H)  # (T, B, 4H)
    dH = np.empty((T, B, P), dtype)  # (T, B, P) dL/dh_t (for dW_hr)
    dr = dH if W_hr is None else np.empty((T, B, H), dtype)  # (T, B, H) dL/dr_t
    dc = np.empty((B, H), dtype)
    dc3 = dc[:, None, :]  # (B, 1, H) view
    hole, carry = holes(cache.mask, T)
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
    return dH


def _fused_backward(dhs, dh_T, dc_T, cache: Cache, consume):
    """:func:`backward` for a forward that ran the compiled kernel."""
    A, hs = cache.A, cache.hs
    if A is None:
        raise ValueError("cache: already consumed by a backward with consume=True")
    if consume:
        cache.A = None
    else:
        A = A.copy()  # (T, B, 4H) keep the cache differentiable again
    dZ, dh0, dc0 = kernels.lstm_backward(A, hs, cache.cs, cache.params.W_hh, cache.mask, dhs, dh_T, dc_T)  # dL/dxw
    T, B, H = cache.cs.shape[0] - 1, dZ.shape[1], cache.cs.shape[2]
    dW_hh = kernels.matmul(dZ.reshape(T * B, 4 * H).T, hs[:-1].reshape(T * B, H))  # (4H, H) sum_t dz_t^T h_{t-1}
    return dZ, (dh0, dc0), Params(dW_hh, None)
