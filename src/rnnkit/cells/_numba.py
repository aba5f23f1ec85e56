"""The numba kernels behind :mod:`rnnkit.cells.kernels` (imported only when numba is).

Each kernel fuses one time step's elementwise math (gate activations, cell update, and in
the backward every gate gradient) into one pass over (B, H); the recurrent matrix product
stays outside (NumPy's BLAS) in ``*_step`` kernels, or is done here in the ``*_loop``
kernels, which run the whole time loop compiled for small batches, where calling BLAS and
a kernel per step would cost more than the arithmetic.

Equations: exactly those of :mod:`rnnkit.cells.lstm` and :mod:`rnnkit.cells.gru` (default
activations sigmoid and tanh, PyTorch's GRU form). float32 sigmoid/tanh use a Cephes-style
exp (about 1 ulp) written so that LLVM vectorises it; float64 uses libm's. Buffers are
C-contiguous and the in-place ones are one argument (G: xw in, activations out, then
gate gradients out), so the loops over H vectorise without aliasing checks failing.

Shapes: T time, B batch, H hidden; G (B, 4H) LSTM gates i, f, g, o / (B, 3H) GRU r, z, n.
keep (B,) bool with ``has_mask``: False rows carry the state (no gradient to the gates).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

_JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract", "reassoc", "nsz", "arcp"})
f32 = np.float32


# -- activations -------------------------------------------------------------------------------
def sigmoid(x):  # pragma: no cover - replaced by the overload inside compiled code
    raise NotImplementedError


def tanh(x):  # pragma: no cover - replaced by the overload inside compiled code
    raise NotImplementedError


@njit(**_JIT)
def _exp32(x):
    """exp for float32 without a libm call: 2^n * p(r), r = x - n ln2 (Cephes expf)."""
    x = min(max(x, f32(-87.3)), f32(88.7))
    n = np.floor(x * f32(1.44269504088896341) + f32(0.5))
    r = x - n * f32(0.693359375) + n * f32(2.12194440e-4)  # r = x - n ln2 in two parts
    p = f32(1.9875691500e-4)
    p = p * r + f32(1.3981999507e-3)
    p = p * r + f32(8.3334519073e-3)
    p = p * r + f32(4.1665795894e-2)
    p = p * r + f32(1.6666665459e-1)
    p = p * r + f32(5.0000001201e-1)
    y = p * (r * r) + r + f32(1.0)
    scale = np.int32((np.int32(n) + np.int32(127)) << np.int32(23))  # the bits of 2^n
    return y * scale.view(np.float32)


@overload(sigmoid, jit_options=_JIT)
def _sigmoid(x):
    if x == types.float32:
        def impl(x):
            return f32(1.0) / (f32(1.0) + _exp32(-x))
    else:
        def impl(x):
            return 1.0 / (1.0 + math.exp(-x))
    return impl


@overload(tanh, jit_options=_JIT)
def _tanh(x):
    if x == types.float32:
        def impl(x):
            a = abs(x)
            s = x * x  # |x| < 0.625: odd polynomial (Cephes tanhf)
            small = ((((f32(-5.70498872745e-3) * s + f32(2.06390887954e-2)) * s - f32(5.37397155531e-2)) * s
                      + f32(1.33314422036e-1)) * s - f32(3.33332819422e-1)) * s * x + x
            big = f32(1.0) - f32(2.0) / (_exp32(f32(2.0) * a) + f32(1.0))  # 1 - 2 / (e^{2|x|} + 1)
            big = big if x >= f32(0.0) else -big
            return small if a < f32(0.625) else big
    else:
        def impl(x):
            return math.tanh(x)
    return impl


def one(x):  # pragma: no cover - replaced by the overload inside compiled code
    raise NotImplementedError


@overload(one, jit_options=_JIT)
def _one(x):
    """1 in x's precision (a bare 1.0 literal is float64 and would promote float32 math)."""
    if x == types.float32:
        return lambda x: f32(1.0)
    return lambda x: 1.0


# -- small matrix products (the compiled loops) ---------------------------------------------
@njit(**_JIT)
def _matmul_nt(h, W, out):
    """out (B, N) = h (B, K) W^T, W (N, K): dot products, four rows of W at a time, each row
    read once for all B rows of h (W streams from cache once per step)."""
    B, K = h.shape
    N = W.shape[0]
    n = 0
    while n + 4 <= N:
        w0, w1, w2, w3 = W[n], W[n + 1], W[n + 2], W[n + 3]  # (K,) each
        for b in range(B):
            hb = h[b]  # (K,)
            s0 = w0[0] * f32(0.0)  # zero in W's precision
            s1, s2, s3 = s0, s0, s0
            for k in range(K):
                x = hb[k]
                s0 += w0[k] * x
                s1 += w1[k] * x
                s2 += w2[k] * x
                s3 += w3[k] * x
            out[b, n], out[b, n + 1], out[b, n + 2], out[b, n + 3] = s0, s1, s2, s3
        n += 4
    for r in range(n, N):  # the rows left over
        wr = W[r]
        for b in range(B):
            hb = h[b]
            s = wr[0] * f32(0.0)
            for k in range(K):
                s += wr[k] * hb[k]
            out[b, r] = s


@njit(**_JIT)
def _matmul_nn(d, W, out):
    """out (B, K) = d (B, N) W, W (N, K): rows of W scaled and added, four at a time, each
    read once for all B rows of d."""
    B, N = d.shape
    out[:] = 0.0
    n = 0
    while n + 4 <= N:
        w0, w1, w2, w3 = W[n], W[n + 1], W[n + 2], W[n + 3]  # (K,) each
        for b in range(B):
            ob = out[b]  # (K,)
            a0, a1, a2, a3 = d[b, n], d[b, n + 1], d[b, n + 2], d[b, n + 3]
            for k in range(ob.shape[0]):
                ob[k] += a0 * w0[k] + a1 * w1[k] + a2 * w2[k] + a3 * w3[k]
        n += 4
    for r in range(n, N):
        wr = W[r]
        for b in range(B):
            ob = out[b]
            a = d[b, r]
            for k in range(ob.shape[0]):
                ob[k] += a * wr[k]


# -- LSTM --------------------------------------------------------------------------------------
# Each row b works on 1-D views (one per gate block) so LLVM sees separate streams and
# vectorises the loop over H; indexing the blocks of one 2-D row at offsets H, 2H, 3H
# would look like possible overlap and stay scalar (about 6x slower here).
@njit(**_JIT)
def lstm_fwd_step(Z, G, hs, cs, keep, t, has_mask):
    """Step t: G[t] = act(G[t] + Z) in place (i, f, g, o); c_t = f c_{t-1} + i g; h_t = o tanh(c_t).

    Z (B, 4H) = h_{t-1} W_hh^T; hs, cs (T+1, B, H) with h_{t-1} = hs[t], h_t = hs[t+1].
    """
    Gt, h_prev, c_prev, h, c, kt = G[t], hs[t], cs[t], hs[t + 1], cs[t + 1], keep[t]
    B, H = c.shape
    for b in range(B):
        if has_mask and not kt[b]:
            h[b] = h_prev[b]  # (H,) carried
            c[b] = c_prev[b]  # (H,)
            continue
        gi, gf, gg, go = Gt[b, :H], Gt[b, H:2 * H], Gt[b, 2 * H:3 * H], Gt[b, 3 * H:]  # (H,) each, in/out
        zi, zf, zg, zo = Z[b, :H], Z[b, H:2 * H], Z[b, 2 * H:3 * H], Z[b, 3 * H:]  # (H,) each
        cp, cb, hb = c_prev[b], c[b], h[b]  # (H,)
        for j in range(H):
            i = sigmoid(gi[j] + zi[j])
            f = sigmoid(gf[j] + zf[j])
            g = tanh(gg[j] + zg[j])
            o = sigmoid(go[j] + zo[j])
            cc = f * cp[j] + i * g  # c_t
            gi[j], gf[j], gg[j], go[j] = i, f, g, o
            cb[j] = cc
            hb[j] = o * tanh(cc)  # h_t


@njit(**_JIT)
def lstm_bwd_step(G, cs, dhs, dh_rec, carry, dc, keep, t, has_dhs, has_mask):
    """BPTT step t: G[t] (activations) becomes dL/dz_t in place; dc becomes dL/dc_{t-1}.

    dh = dhs[t] + dh_rec + carry (dh_rec = dz_{t+1} W_hh); carry becomes what reaches
    h_{t-1} around the product (dh on masked rows, else 0). dhs is (T, B, H), or (1, B, H)
    zeros when ``has_dhs`` is False.
    """
    Gt, c_prev, c, dh_out, kt = G[t], cs[t], cs[t + 1], dhs[t if has_dhs else 0], keep[t]
    B, H = c.shape
    for b in range(B):
        do, dr, cr = dh_out[b], dh_rec[b], carry[b]  # (H,)
        if has_mask and not kt[b]:
            Gt[b] = 0.0  # (4H,) no gradient to the gates
            for j in range(H):
                cr[j] = do[j] + dr[j] + cr[j]  # dh passes to h_{t-1}; dc[b] passes unchanged
            continue
        gi, gf, gg, go = Gt[b, :H], Gt[b, H:2 * H], Gt[b, 2 * H:3 * H], Gt[b, 3 * H:]  # (H,) each, in/out
        cp, cb, dcb = c_prev[b], c[b], dc[b]  # (H,)
        for j in range(H):
            dh = do[j] + dr[j] + cr[j]  # dL/dh_t
            i, f, g, o = gi[j], gf[j], gg[j], go[j]
            one_ = one(i)
            tc = tanh(cb[j])  # recomputed: cheaper than storing (T, B, H)
            dcc = dcb[j] + dh * o * (one_ - tc * tc)  # dL/dc_t
            gi[j] = dcc * g * i * (one_ - i)  # dzi
            gf[j] = dcc * cp[j] * f * (one_ - f)  # dzf
            gg[j] = dcc * i * (one_ - g * g)  # dzg
            go[j] = dh * tc * o * (one_ - o)  # dzo
            dcb[j] = dcc * f  # dL/dc_{t-1}
            cr[j] = 0.0


@njit(**_JIT)
def _project(x, W_ih, b, out):
    """out (B, GH) = x (B, I) W_ih^T + b: the input projection of one step, for tiny inputs."""
    _matmul_nt(x, W_ih, out)
    for r in range(out.shape[0]):
        o = out[r]
        for j in range(o.shape[0]):
            o[j] += b[j]


@njit(**_JIT)
def lstm_fwd_loop(G, W_hh, hs, cs, keep, has_mask, Z, x, W_ih, b, project):
    """All T steps of :func:`lstm_fwd_step` with the recurrent product compiled (small B).

    With ``project``, G[t] is first set to x[t] W_ih^T + b (x (T, B, I), W_ih (4H, I),
    b (4H,)): one call for a whole streaming step. Otherwise x, W_ih, b are unused.
    """
    for t in range(G.shape[0]):
        if project:
            _project(x[t], W_ih, b, G[t])  # (B, 4H)
        _matmul_nt(hs[t], W_hh, Z)  # (B, 4H)
        lstm_fwd_step(Z, G, hs, cs, keep, t, has_mask)


@njit(**_JIT)
def lstm_bwd_loop(G, W_hh, cs, dhs, has_dhs, dh_rec, carry, dc, keep, has_mask):
    """All T steps of :func:`lstm_bwd_step`, last to first, with dh_rec = dz W_hh compiled."""
    for t in range(G.shape[0] - 1, -1, -1):
        lstm_bwd_step(G, cs, dhs, dh_rec, carry, dc, keep, t, has_dhs, has_mask)
        _matmul_nn(G[t], W_hh, dh_rec)  # (B, H)


# -- GRU (reset after the product, PyTorch's form) ---------------------------------------------
@njit(**_JIT)
def gru_fwd_step(Z, G, b_hn, hs, hn, keep, t, has_mask):
    """Step t: r, z = sigma(G + Z); q = Z_n + b_hn; n = tanh(G_n + r q); h_t = n + z (h_{t-1} - n).

    G[t] becomes (r, z, n) in place; hn[t] = q is saved for the backward. Z (B, 3H) =
    h_{t-1} W_hh^T; hs (T+1, B, H).
    """
    Gt, h_prev, h, qt, kt = G[t], hs[t], hs[t + 1], hn[t], keep[t]
    B, H = h.shape
    for b in range(B):
        if has_mask and not kt[b]:
            h[b] = h_prev[b]  # (H,) carried
            continue
        gr, gz, gn = Gt[b, :H], Gt[b, H:2 * H], Gt[b, 2 * H:]  # (H,) each, in/out
        zr, zz, zn = Z[b, :H], Z[b, H:2 * H], Z[b, 2 * H:]  # (H,) each
        hp, hb, qb = h_prev[b], h[b], qt[b]  # (H,)
        for j in range(H):
            r = sigmoid(gr[j] + zr[j])
            z = sigmoid(gz[j] + zz[j])
            q = zn[j] + b_hn[j]  # W_hn h_{t-1} + b_hn
            n = tanh(gn[j] + r * q)
            gr[j], gz[j], gn[j] = r, z, n
            qb[j] = q
            hb[j] = n + z * (hp[j] - n)  # h_t = (1 - z) n + z h_{t-1}


@njit(**_JIT)
def gru_bwd_step(G, hs, hn, dhs, dh_rec, carry, keep, t, has_dhs, has_mask):
    """BPTT step t: G[t] (r, z, n) becomes (dzr, dzz, dhn), the rows of the recurrent
    product's gradient; hn[t] becomes dzn (= dL/dxw_n); carry becomes dh z (dh on masked rows).
    dh = dhs[t] + dh_rec + carry, dh_rec = dG_{t+1} W_hh."""
    Gt, h_prev, qt, dh_out, kt = G[t], hs[t], hn[t], dhs[t if has_dhs else 0], keep[t]
    B, H = h_prev.shape
    for b in range(B):
        do, dr, cr = dh_out[b], dh_rec[b], carry[b]  # (H,)
        if has_mask and not kt[b]:
            Gt[b] = 0.0  # (3H,)
            qt[b] = 0.0  # (H,)
            for j in range(H):
                cr[j] = do[j] + dr[j] + cr[j]  # dh passes to h_{t-1}
            continue
        gr, gz, gn = Gt[b, :H], Gt[b, H:2 * H], Gt[b, 2 * H:]  # (H,) each, in/out
        hp, qb = h_prev[b], qt[b]  # (H,)
        for j in range(H):
            dh = do[j] + dr[j] + cr[j]  # dL/dh_t
            r, z, n = gr[j], gz[j], gn[j]
            one_ = one(r)
            dzn = dh * (one_ - z) * (one_ - n * n)  # dL/d(pre-activation of n)
            gr[j] = dzn * qb[j] * r * (one_ - r)  # dzr
            gz[j] = dh * (hp[j] - n) * z * (one_ - z)  # dzz
            gn[j] = dzn * r  # dhn
            qb[j] = dzn
            cr[j] = dh * z  # direct path to h_{t-1}


@njit(**_JIT)
def gru_fwd_loop(G, W_hh, b_hn, hs, hn, keep, has_mask, Z, x, W_ih, b, project):
    """All T steps of :func:`gru_fwd_step` with the recurrent product compiled (small B);
    ``project``: as in :func:`lstm_fwd_loop`."""
    for t in range(G.shape[0]):
        if project:
            _project(x[t], W_ih, b, G[t])  # (B, 3H)
        _matmul_nt(hs[t], W_hh, Z)  # (B, 3H)
        gru_fwd_step(Z, G, b_hn, hs, hn, keep, t, has_mask)


@njit(**_JIT)
def gru_bwd_loop(G, W_hh, hs, hn, dhs, has_dhs, dh_rec, carry, keep, has_mask):
    """All T steps of :func:`gru_bwd_step`, last to first, with dh_rec = dG W_hh compiled."""
    for t in range(G.shape[0] - 1, -1, -1):
        gru_bwd_step(G, hs, hn, dhs, dh_rec, carry, keep, t, has_dhs, has_mask)
        _matmul_nn(G[t], W_hh, dh_rec)  # (B, H)
