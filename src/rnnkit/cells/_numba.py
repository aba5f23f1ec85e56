"""The numba kernels behind :mod:`rnnkit.cells.kernels` (imported only when numba is).

Each ``*_step`` kernel fuses one time step's elementwise math (gate activations, cell update,
and in the backward every gate gradient) into one pass over (B, H) (or one thread's share of
the units); the ``*_loop`` kernels run the whole time loop compiled, the recurrent product
included (:func:`_matmul_nt`), on one thread or (``*_loop_mt``) on several, each with a fixed
slice of W_hh and of the units at every step.

Equations: exactly those of :mod:`rnnkit.cells.lstm` and :mod:`rnnkit.cells.gru` (default
activations sigmoid and tanh, PyTorch's GRU form). float32 sigmoid/tanh use a Cephes-style
exp (about 1 ulp) written so that LLVM vectorises it; float64 uses libm's. Buffers are
C-contiguous and the in-place ones are one argument (G: xw in, activations out, then
gate gradients out), so the loops over H vectorise without aliasing checks failing.

Shapes: T time, B batch, H hidden; G (B, 4H) LSTM gates i, f, g, o / (B, 3H) GRU r, z, n.
keep (B,) bool with ``has_mask``: False rows carry the state (no gradient to the gates).
[j0, j1): the units a step kernel covers (U = j1 - j0).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types
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


# -- the matrix products of the compiled loops -------------------------------------------------
# One kernel for every product of the loops: out[:, n0:n1] = base + x W[n0:n1]^T + y V[n0:n1]^T
# with the weights' rows contiguous (forward: x_t and W_ih, h_{t-1} and W_hh; backward: dz_t and
# W_hh's transpose, copied once per call). Tiles of 4 rows of x by 3 rows of W keep 12 running
# dot products in registers: each step of the K loop loads 7 vectors for 12 fused multiply-adds,
# so the loop runs at the FMA units' pace instead of at the loads' (measured here at B = 16-64,
# K = 192-768: 85-97 GFLOP/s on one core, whose sgemm peak is 101; OpenBLAS called once per
# step reaches 40-72, as it re-packs W_hh each call). Both products of a step share one set of
# dot products (K = I + H: fewer horizontal sums per multiply-add). Splitting [n0, n1) between
# threads gives each core its own slice of the weights, read from its own cache at every step.
@njit(inline="always", **_JIT)
def _tile4x3(x, W, b, n, s):
    """s (12 sums, row-major 4 x 3) + the dot products of x[b:b+4] with W[n:n+3]."""
    s00, s01, s02, s10, s11, s12, s20, s21, s22, s30, s31, s32 = s
    x0, x1, x2, x3 = x[b], x[b + 1], x[b + 2], x[b + 3]  # (K,) each
    w0, w1, w2 = W[n], W[n + 1], W[n + 2]  # (K,) each
    for k in range(x.shape[1]):
        a0, a1, a2 = w0[k], w1[k], w2[k]
        u0, u1, u2, u3 = x0[k], x1[k], x2[k], x3[k]
        s00 += u0 * a0
        s01 += u0 * a1
        s02 += u0 * a2
        s10 += u1 * a0
        s11 += u1 * a1
        s12 += u1 * a2
        s20 += u2 * a0
        s21 += u2 * a1
        s22 += u2 * a2
        s30 += u3 * a0
        s31 += u3 * a1
        s32 += u3 * a2
    return s00, s01, s02, s10, s11, s12, s20, s21, s22, s30, s31, s32


@njit(inline="always", **_JIT)
def _tile1x3(xb, W, n, s0, s1, s2):
    """(s0, s1, s2) + the dot products of one row xb with W[n:n+3]."""
    w0, w1, w2 = W[n], W[n + 1], W[n + 2]  # (K,) each
    for k in range(xb.shape[0]):
        u = xb[k]
        s0 += u * w0[k]
        s1 += u * w1[k]
        s2 += u * w2[k]
    return s0, s1, s2


@njit(inline="always", **_JIT)
def _dot(a, c, s):
    """s + a . c for two (K,) rows."""
    for k in range(a.shape[0]):
        s += a[k] * c[k]
    return s


@njit(**_JIT)
def _matmul_nt(base, x, W, y, V, out, n0, n1):
    """out[:, n0:n1] = base[:, n0:n1] + x W[n0:n1]^T + y V[n0:n1]^T.

    x (B, K1), W (N, K1) (K1 may be 0: no first product); y (B, K2), V (N, K2); out (B, N);
    base (B, N), (1, N) (one row for every b) or (0, N) (none).
    """
    B = out.shape[0]
    zero = one(out[0, 0]) * f32(0.0)  # 0 in out's precision
    n = n0
    while n + 3 <= n1:
        b = 0
        while b + 4 <= B:
            if base.shape[0] == 0:
                s = (zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero)
            else:
                r0, r1, r2, r3 = (b, b + 1, b + 2, b + 3) if base.shape[0] > 1 else (0, 0, 0, 0)
                s = (base[r0, n], base[r0, n + 1], base[r0, n + 2], base[r1, n], base[r1, n + 1], base[r1, n + 2],
                     base[r2, n], base[r2, n + 1], base[r2, n + 2], base[r3, n], base[r3, n + 1], base[r3, n + 2])
            s = _tile4x3(y, V, b, n, _tile4x3(x, W, b, n, s))
            out[b, n], out[b, n + 1], out[b, n + 2] = s[0], s[1], s[2]
            out[b + 1, n], out[b + 1, n + 1], out[b + 1, n + 2] = s[3], s[4], s[5]
            out[b + 2, n], out[b + 2, n + 1], out[b + 2, n + 2] = s[6], s[7], s[8]
            out[b + 3, n], out[b + 3, n + 1], out[b + 3, n + 2] = s[9], s[10], s[11]
            b += 4
        for b in range(b, B):  # the rows left over: 1 by 3
            r = b if base.shape[0] > 1 else 0
            s0, s1, s2 = (zero, zero, zero) if base.shape[0] == 0 else (base[r, n], base[r, n + 1], base[r, n + 2])
            s0, s1, s2 = _tile1x3(x[b], W, n, s0, s1, s2)
            out[b, n], out[b, n + 1], out[b, n + 2] = _tile1x3(y[b], V, n, s0, s1, s2)
        n += 3
    for c in range(n, n1):  # the weight rows left over: 1 by 1
        for b in range(B):
            s = zero if base.shape[0] == 0 else base[b if base.shape[0] > 1 else 0, c]
            out[b, c] = _dot(y[b], V[c], _dot(x[b], W[c], s))


@njit(**_JIT)
def _split(n: int, parts: int, p: int, align: int) -> tuple:
    """[lo, hi) of part p of range(n) cut into ``parts`` nearly equal pieces at multiples of ``align``."""
    units = (n + align - 1) // align
    return min(n, units * p // parts * align), min(n, units * (p + 1) // parts * align)


# -- LSTM --------------------------------------------------------------------------------------
# Each row b works on 1-D views (one per gate block) so LLVM sees separate streams and
# vectorises the loop over units; indexing the blocks of one 2-D row at offsets H, 2H, 3H
# would look like possible overlap and stay scalar (about 6x slower here). Every step kernel
# covers the units [j0, j1) (all of them, or one thread's share).
@njit(**_JIT)
def lstm_fwd_step(Z, G, hs, cs, keep, t, has_mask, j0, j1):
    """Step t, units [j0, j1): G[t] = act(Z) (i, f, g, o); c_t = f c_{t-1} + i g; h_t = o tanh(c_t).

    Z (B, 4H) = xw_t + h_{t-1} W_hh^T, the pre-activations; hs, cs (T+1, B, H) with
    h_{t-1} = hs[t], h_t = hs[t+1].
    """
    Gt, h_prev, c_prev, h, c, kt = G[t], hs[t], cs[t], hs[t + 1], cs[t + 1], keep[t]
    B, H = c.shape
    for b in range(B):
        hp, cp, hb, cb = h_prev[b, j0:j1], c_prev[b, j0:j1], h[b, j0:j1], c[b, j0:j1]  # (U,) each
        if has_mask and not kt[b]:
            hb[:] = hp  # carried
            cb[:] = cp
            continue
        gi, gf = Gt[b, j0:j1], Gt[b, H + j0:H + j1]  # (U,) each, out
        gg, go = Gt[b, 2 * H + j0:2 * H + j1], Gt[b, 3 * H + j0:3 * H + j1]
        zi, zf = Z[b, j0:j1], Z[b, H + j0:H + j1]  # (U,) each
        zg, zo = Z[b, 2 * H + j0:2 * H + j1], Z[b, 3 * H + j0:3 * H + j1]
        for j in range(j1 - j0):
            i = sigmoid(zi[j])
            f = sigmoid(zf[j])
            g = tanh(zg[j])
            o = sigmoid(zo[j])
            cc = f * cp[j] + i * g  # c_t
            gi[j], gf[j], gg[j], go[j] = i, f, g, o
            cb[j] = cc
            hb[j] = o * tanh(cc)  # h_t


@njit(**_JIT)
def lstm_bwd_step(G, cs, dhs, dh_rec, carry, dc, keep, t, has_dhs, has_mask, j0, j1):
    """BPTT step t, units [j0, j1): G[t] (activations) becomes dL/dz_t in place; dc becomes
    dL/dc_{t-1}.

    dh = dhs[t] + dh_rec + carry (dh_rec = dz_{t+1} W_hh); carry becomes what reaches
    h_{t-1} around the product (dh on masked rows, else 0). dhs is (T, B, H), or (1, B, H)
    zeros when ``has_dhs`` is False.
    """
    Gt, c_prev, c, dh_out, kt = G[t], cs[t], cs[t + 1], dhs[t if has_dhs else 0], keep[t]
    B, H = c.shape
    for b in range(B):
        do, dr, cr = dh_out[b, j0:j1], dh_rec[b, j0:j1], carry[b, j0:j1]  # (U,)
        gi, gf = Gt[b, j0:j1], Gt[b, H + j0:H + j1]  # (U,) each, in/out
        gg, go = Gt[b, 2 * H + j0:2 * H + j1], Gt[b, 3 * H + j0:3 * H + j1]
        if has_mask and not kt[b]:
            for j in range(j1 - j0):
                gi[j] = gf[j] = gg[j] = go[j] = 0.0  # no gradient to the gates
                cr[j] = do[j] + dr[j] + cr[j]  # dh passes to h_{t-1}; dc[b] passes unchanged
            continue
        cp, cb, dcb = c_prev[b, j0:j1], c[b, j0:j1], dc[b, j0:j1]  # (U,)
        for j in range(j1 - j0):
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
def lstm_fwd_loop(G, W_hh, hs, cs, keep, has_mask, Z, x, W_ih, bias, project):
    """All T steps of :func:`lstm_fwd_step` with the products compiled, on one thread.

    With ``project``: Z = bias + x_t W_ih^T + h_{t-1} W_hh^T (x (T, B, I), W_ih (4H, I), bias
    (1, 4H)), G's input unread. Without: Z = G[t] + h_{t-1} W_hh^T (G holds xw; x (T, B, 0),
    W_ih (4H, 0)). Either way G[t] becomes the activations.
    """
    N, H = W_hh.shape
    for t in range(G.shape[0]):
        _matmul_nt(bias if project else G[t], x[t], W_ih, hs[t], W_hh, Z, 0, N)  # (B, 4H) pre-activations
        lstm_fwd_step(Z, G, hs, cs, keep, t, has_mask, 0, H)


@njit(parallel=True, **_JIT)
def lstm_fwd_loop_mt(G, W_hh, hs, cs, keep, has_mask, Z, x, W_ih, bias, project, threads):
    """:func:`lstm_fwd_loop` on ``threads`` threads: each takes a fixed slice of W_ih's and
    W_hh's rows for the products and of the units for the gate math, at every step."""
    N, H = W_hh.shape
    for t in range(G.shape[0]):
        for p in prange(threads):
            n0, n1 = _split(N, threads, p, 3)
            _matmul_nt(bias if project else G[t], x[t], W_ih, hs[t], W_hh, Z, n0, n1)  # (B, n1 - n0)
        for p in prange(threads):
            j0, j1 = _split(H, threads, p, 8)
            lstm_fwd_step(Z, G, hs, cs, keep, t, has_mask, j0, j1)


@njit(**_JIT)
def lstm_bwd_loop(G, W_T, cs, dhs, has_dhs, dh_rec, carry, dc, keep, has_mask):
    """All T steps of :func:`lstm_bwd_step`, last to first, with dh_rec = dz W_hh compiled
    (W_T = W_hh^T, (H, 4H) C-contiguous)."""
    H = W_T.shape[0]
    for t in range(G.shape[0] - 1, -1, -1):
        lstm_bwd_step(G, cs, dhs, dh_rec, carry, dc, keep, t, has_dhs, has_mask, 0, H)
        _matmul_nt(dh_rec[:0], G[t, :, :0], W_T[:, :0], G[t], W_T, dh_rec, 0, H)  # (B, H) dz_t W_hh


@njit(parallel=True, **_JIT)
def lstm_bwd_loop_mt(G, W_T, cs, dhs, has_dhs, dh_rec, carry, dc, keep, has_mask, threads):
    """:func:`lstm_bwd_loop` on ``threads`` threads (fixed slices of the units, as forward)."""
    H = W_T.shape[0]
    for t in range(G.shape[0] - 1, -1, -1):
        for p in prange(threads):
            j0, j1 = _split(H, threads, p, 8)
            lstm_bwd_step(G, cs, dhs, dh_rec, carry, dc, keep, t, has_dhs, has_mask, j0, j1)
        for p in prange(threads):
            k0, k1 = _split(H, threads, p, 3)
            _matmul_nt(dh_rec[:0], G[t, :, :0], W_T[:, :0], G[t], W_T, dh_rec, k0, k1)  # (B, k1 - k0) of dz_t W_hh


# -- GRU (reset after the product, PyTorch's form) ---------------------------------------------
@njit(**_JIT)
def gru_fwd_step(Z, G, b_hn, hs, hn, keep, t, has_mask, j0, j1):
    """Step t, units [j0, j1): r, z = sigma(G + Z); q = Z_n + b_hn; n = tanh(G_n + r q);
    h_t = n + z (h_{t-1} - n).

    G[t] becomes (r, z, n) in place; hn[t] = q is saved for the backward. Z (B, 3H) =
    h_{t-1} W_hh^T; hs (T+1, B, H).
    """
    Gt, h_prev, h, qt, kt = G[t], hs[t], hs[t + 1], hn[t], keep[t]
    B, H = h.shape
    bn = b_hn[j0:j1]  # (U,)
    for b in range(B):
        hp, hb = h_prev[b, j0:j1], h[b, j0:j1]  # (U,)
        if has_mask and not kt[b]:
            hb[:] = hp  # carried
            continue
        gr, gz, gn = Gt[b, j0:j1], Gt[b, H + j0:H + j1], Gt[b, 2 * H + j0:2 * H + j1]  # (U,) each, in/out
        zr, zz, zn = Z[b, j0:j1], Z[b, H + j0:H + j1], Z[b, 2 * H + j0:2 * H + j1]  # (U,) each
        qb = qt[b, j0:j1]  # (U,)
        for j in range(j1 - j0):
            r = sigmoid(gr[j] + zr[j])
            z = sigmoid(gz[j] + zz[j])
            q = zn[j] + bn[j]  # W_hn h_{t-1} + b_hn
            n = tanh(gn[j] + r * q)
            gr[j], gz[j], gn[j] = r, z, n
            qb[j] = q
            hb[j] = n + z * (hp[j] - n)  # h_t = (1 - z) n + z h_{t-1}


@njit(**_JIT)
def gru_bwd_step(G, hs, hn, dhs, dh_rec, carry, keep, t, has_dhs, has_mask, j0, j1):
    """BPTT step t, units [j0, j1): G[t] (r, z, n) becomes (dzr, dzz, dhn), the rows of the
    recurrent product's gradient; hn[t] becomes dzn (= dL/dxw_n); carry becomes dh z (dh on
    masked rows). dh = dhs[t] + dh_rec + carry, dh_rec = dG_{t+1} W_hh."""
    Gt, h_prev, qt, dh_out, kt = G[t], hs[t], hn[t], dhs[t if has_dhs else 0], keep[t]
    B, H = h_prev.shape
    for b in range(B):
        do, dr, cr, qb = dh_out[b, j0:j1], dh_rec[b, j0:j1], carry[b, j0:j1], qt[b, j0:j1]  # (U,)
        gr, gz, gn = Gt[b, j0:j1], Gt[b, H + j0:H + j1], Gt[b, 2 * H + j0:2 * H + j1]  # (U,) each, in/out
        if has_mask and not kt[b]:
            for j in range(j1 - j0):
                gr[j] = gz[j] = gn[j] = qb[j] = 0.0
                cr[j] = do[j] + dr[j] + cr[j]  # dh passes to h_{t-1}
            continue
        hp = h_prev[b, j0:j1]  # (U,)
        for j in range(j1 - j0):
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
def gru_fwd_loop(G, W_hh, b_hn, hs, hn, keep, has_mask, Z, x, W_ih, bias, project):
    """All T steps of :func:`gru_fwd_step` with the products compiled, on one thread. With
    ``project``, G[t] is first set to bias + x_t W_ih^T (x (T, B, I), W_ih (3H, I), bias (1, 3H)):
    one call for a whole streaming step."""
    N, H = W_hh.shape
    for t in range(G.shape[0]):
        if project:
            _matmul_nt(bias, x[t, :, :0], W_ih[:, :0], x[t], W_ih, G[t], 0, N)  # (B, 3H) xw_t
        _matmul_nt(Z[:0], hs[t, :, :0], W_hh[:, :0], hs[t], W_hh, Z, 0, N)  # (B, 3H) h_{t-1} W_hh^T
        gru_fwd_step(Z, G, b_hn, hs, hn, keep, t, has_mask, 0, H)


@njit(parallel=True, **_JIT)
def gru_fwd_loop_mt(G, W_hh, b_hn, hs, hn, keep, has_mask, Z, x, W_ih, bias, project, threads):
    """:func:`gru_fwd_loop` on ``threads`` threads (fixed slices, as :func:`lstm_fwd_loop_mt`)."""
    N, H = W_hh.shape
    for t in range(G.shape[0]):
        for p in prange(threads):
            n0, n1 = _split(N, threads, p, 3)
            if project:
                _matmul_nt(bias, x[t, :, :0], W_ih[:, :0], x[t], W_ih, G[t], n0, n1)  # (B, n1 - n0) of xw_t
            _matmul_nt(Z[:0], hs[t, :, :0], W_hh[:, :0], hs[t], W_hh, Z, n0, n1)  # (B, n1 - n0) of h W_hh^T
        for p in prange(threads):
            j0, j1 = _split(H, threads, p, 8)
            gru_fwd_step(Z, G, b_hn, hs, hn, keep, t, has_mask, j0, j1)


@njit(**_JIT)
def gru_bwd_loop(G, W_T, hs, hn, dhs, has_dhs, dh_rec, carry, keep, has_mask):
    """All T steps of :func:`gru_bwd_step`, last to first, with dh_rec = dG W_hh compiled
    (W_T = W_hh^T, (H, 3H) C-contiguous)."""
    H = W_T.shape[0]
    for t in range(G.shape[0] - 1, -1, -1):
        gru_bwd_step(G, hs, hn, dhs, dh_rec, carry, keep, t, has_dhs, has_mask, 0, H)
        _matmul_nt(dh_rec[:0], G[t, :, :0], W_T[:, :0], G[t], W_T, dh_rec, 0, H)  # (B, H) dG_t W_hh


@njit(parallel=True, **_JIT)
def gru_bwd_loop_mt(G, W_T, hs, hn, dhs, has_dhs, dh_rec, carry, keep, has_mask, threads):
    """:func:`gru_bwd_loop` on ``threads`` threads (fixed slices)."""
    H = W_T.shape[0]
    for t in range(G.shape[0] - 1, -1, -1):
        for p in prange(threads):
            j0, j1 = _split(H, threads, p, 8)
            gru_bwd_step(G, hs, hn, dhs, dh_rec, carry, keep, t, has_dhs, has_mask, j0, j1)
        for p in prange(threads):
            k0, k1 = _split(H, threads, p, 3)
            _matmul_nt(dh_rec[:0], G[t, :, :0], W_T[:, :0], G[t], W_T, dh_rec, k0, k1)  # (B, k1 - k0) of dG_t W_hh
