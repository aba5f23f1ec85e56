"""The numba kernels behind :mod:`rnnkit.cells.kernels` (imported only when numba is).

Each ``*_step`` kernel fuses one time step's elementwise math (gate activations, cell update,
and in the backward every gate gradient) into one pass over (B, H) (or one thread's share of
the units); the ``*_loop`` kernels run the whole time loop compiled, the recurrent product
included (:func:`_matmul_nt`), on one thread or (``*_loop_mt``) on several, all steps in one
parallel region: a batch of at least :data:`ROW_SPLIT` rows a thread is split by its rows (each
thread runs its own sequences, the threads never meet); a smaller one by its units (each thread
a fixed slice of W_hh and of the units, the threads meeting at a barrier once a step:
:func:`_join`, :func:`_barrier`).

Equations: exactly those of :mod:`rnnkit.cells.lstm` and :mod:`rnnkit.cells.gru` (default
activations sigmoid and tanh, PyTorch's GRU form). float32 sigmoid/tanh use a Cephes-style
exp (about 1 ulp) written so that LLVM vectorises it; float64 uses libm's. Buffers are
C-contiguous and the in-place ones are one argument (G: xw in, activations out, then
gate gradients out), so the loops over H vectorise without aliasing checks failing.

Shapes: T time, B batch, H hidden; G (B, 4H) LSTM gates i, f, g, o / (B, 3H) GRU r, z, n.
keep (B,) bool with ``has_mask``: False rows carry the state (no gradient to the gates).
[j0, j1): the units a step kernel covers (U = j1 - j0); [b0, b1): its rows (a thread's share, or all B).
"""

from __future__ import annotations

import math
import os

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

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
# Every product of the loops is out[:, n0:n1] = base + x Wx^T + y Wy^T (forward: x_t and W_ih,
# h_{t-1} and W_hh; backward: dz_t and W_hh's transpose), by one of two kernels that
# :func:`product` picks from the weights' layout:
#
# * packed panels (:func:`pack`, weights (P, K, C)): C columns of the output (PANEL_BYTES)
#   laid out row by row along K, so a tile of TILE_ROWS rows by C columns keeps its vector
#   accumulators in registers and each step of the K loop broadcasts one x value per row and
#   multiplies it into the panel's contiguous vectors of weights: no horizontal sums, no
#   re-packing per step. The tile fits the register file: with AVX-512 (32 vector registers)
#   4 rows by 4 vectors (16 accumulators, 4 weight vectors, a broadcast); with AVX2 alone (16)
#   6 rows by 2 vectors (12, 2 and 1), as BLAS kernels for such CPUs do; there the 4 by 4 tile
#   spilled its accumulators to memory at every step of K (one AMD Zen 3 core, float32: 25-34
#   GFLOP/s against 83-91 for 6 by 2, OpenBLAS 59-91, at 16-2048 rows, K 192-512). Measured on
#   an AMD Zen 4 core (B = 16-128, K = 192-512, 256-bit vectors, 4 by 4): 111-115 GFLOP/s,
#   against 72-87 for dot products along K and 41-85 for OpenBLAS called once per step (which
#   re-packs W_hh every call); on an Intel Emerald Rapids core 115 with 512-bit vectors, 75
#   with 256-bit ones. The loops pack their weights once per call.
# * rows (weights (N, K) as given): dot products along K in tiles of 4 rows by 3 weight rows,
#   for calls too short to repay packing (streaming: one step of one sequence).
#
# Splitting the columns between threads gives each core its own slice of the weights, read from
# its own cache at every step.
LINE = 64  # bytes of a cache line: the loops' buffers start on one (see empty_lines)


@njit(**_JIT)
def empty_lines(shape, like):
    """An uninitialised C-contiguous array of ``shape`` and like's dtype whose data starts on a
    cache line (LINE bytes). The threads of a loop write neighbouring columns of the same rows
    (their units, their gate columns); with rows a whole number of lines long, two threads
    then never write one line (false sharing: a line passed between the cores at every step).
    NumPy's large arrays start 16 bytes past a line, which measured 7 % slower here (the
    forward of LSTM 16, 128, 256 on two threads, 5.04 ms against 4.72)."""
    n = 1
    for d in shape:
        n *= d
    raw = np.empty(n + LINE // like.itemsize, like.dtype)  # (n + one line,)
    start = (-raw.ctypes.data) % LINE // like.itemsize
    return raw[start:start + n].reshape(shape)


def lines(shape: tuple, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array of ``dtype`` whose data starts on a cache line, as
    :func:`empty_lines` makes them inside compiled code, but from NumPy's allocator, which asks
    the kernel for huge pages from 4 MiB on (numba's does not: the input projection's output at
    128, 512, 1024, 52 MiB, then faulted 4 KiB at a time inside the threads' product). The
    packed panels take one too: the tile loads whole vectors of them, and a panel 16 bytes off
    a line splits every 512-bit load in two (LSTM 64, 256, 512 inference on one Emerald Rapids
    core: 204 ms on panels 16 or 32 bytes off a line, 167 on lines)."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(size + LINE, np.uint8)  # (bytes + one line,)
    start = -raw.ctypes.data % LINE
    return raw[start:start + size].view(dtype).reshape(shape)


def _vector_bytes() -> int:
    """Bytes of the widest SIMD vector of the CPU numba compiles for: 64 with AVX-512, else 32.

    The tile's vectors take this width. On an Intel Xeon with two 512-bit FMA units (Emerald
    Rapids) 256-bit tiles reached 75 GFLOP/s on one core where 512-bit ones reach 115 (16 x 256 x
    1024, panels in L2); AMD's Zen 4 splits a 512-bit FMA in two, so there the width changes the
    instruction count, not the peak. A pure function of numba's target CPU (``NUMBA_CPU_NAME``,
    ``NUMBA_CPU_FEATURES`` or the host), which numba's cache keys its compiled code by."""
    from numba.core import config

    if config.CPU_NAME in (None, "host"):
        import llvmlite.binding as ll

        return 64 if ll.get_host_cpu_features().get("avx512f") else 32
    return 64 if "+avx512f" in (config.CPU_FEATURES or "") else 32


VECTOR_BYTES = _vector_bytes()  # bytes of one SIMD vector of the packed kernel: 64 (AVX-512) or 32
PANEL_BYTES = (4 if VECTOR_BYTES == 64 else 2) * VECTOR_BYTES  # bytes of output columns per panel: 4 vectors of 32 registers, 2 of 16
TILE_ROWS = 4 if VECTOR_BYTES == 64 else 6  # rows of x per register tile of the packed kernel


def panel_width(dtype) -> int:
    """Output columns per packed panel for ``dtype``: PANEL_BYTES of them (float32: 64 with
    AVX-512, 16 without; float64 half as many)."""
    return PANEL_BYTES // np.dtype(dtype).itemsize


def pack(W: np.ndarray, threads: int = 1) -> np.ndarray:
    """W (N, K) as panels (P, K, C) for the packed kernel: Wp[p, k, j] = W[p C + j, k], the
    columns past N zero; C = :func:`panel_width`, P = ceil(N / C). With ``threads`` > 1 the
    threads pack a share of the panels each (:func:`_pack_mt`): a product on the loops' pool
    then has no one-thread pass before it (LSTM 16, 128, 256 training on two threads packed
    for about 0.8 ms of its 22 on one thread, the other idle).

    >>> import numpy as np
    >>> Wp = pack(np.arange(6, dtype=np.float32).reshape(3, 2))  # N 3, K 2
    >>> Wp.shape == (1, 2, panel_width(np.float32)), Wp[0, :, :4].tolist()
    (True, [[0.0, 2.0, 4.0, 0.0], [1.0, 3.0, 5.0, 0.0]])
    """
    N, K = W.shape
    C = panel_width(W.dtype)
    P = -(-N // C)
    Wp = lines((P, K, C), W.dtype)  # (P, K, C) on a cache line
    by_columns = W.strides[0] <= W.strides[1]  # W's columns contiguous (a transposed view): W^T's rows, in order
    V = W.T if by_columns else W  # one compiled pass (NumPy would take three: zeros, copy, transposing copy)
    if threads > 1 and P >= threads:
        _pack_mt(V, Wp, by_columns, threads)
    elif by_columns:
        _pack_columns(V, Wp, 0, P)
    else:
        _pack_into(V, Wp, 0, P)
    return Wp


@njit(**_JIT)
def _pack_columns(V, Wp, p0, p1):
    """Wp[p, k, j] = V[k, p C + j] for the panels p0 <= p < p1, zero past N: :func:`pack`'s
    work on W = V^T (V (K, N) with rows contiguous), read row by row, front to back."""
    K, N = V.shape
    C = Wp.shape[2]
    full = min(N // C, p1)  # whole panels
    for k in range(K):
        row = V[k]  # (N,)
        for p in range(p0, full):
            panel_row = Wp[p, k]  # (C,)
            for j in range(C):
                panel_row[j] = row[p * C + j]
        for p in range(max(full, p0), p1):  # the last panel, part padding
            for j in range(C):
                Wp[p, k, j] = V[k, p * C + j] if p * C + j < N else 0.0


@njit(**_JIT)
def _pack_into(W, Wp, p0, p1):
    """Wp[p, k, j] = W[p C + j, k] for the panels p0 <= p < p1, zero past N: :func:`pack`'s
    work on W read along its rows (any strides)."""
    N, K = W.shape
    C = Wp.shape[2]
    for p in range(p0, p1):
        n0, n1 = p * C, min(p * C + C, N)
        for j in range(n1 - n0):
            for k in range(K):
                Wp[p, k, j] = W[n0 + j, k]
        for j in range(n1 - n0, C):
            for k in range(K):
                Wp[p, k, j] = 0.0


@njit(parallel=True, **_JIT)
def _pack_mt(V, Wp, by_columns, threads):
    """:func:`pack`'s work on ``threads`` threads, each a share of the panels."""
    P = Wp.shape[0]
    for q in prange(threads):
        p0, p1 = P * q // threads, P * (q + 1) // threads
        if by_columns:
            _pack_columns(V, Wp, p0, p1)
        else:
            _pack_into(V, Wp, p0, p1)


def _tile_intrinsic(R: int):
    """An intrinsic for one register tile of the packed kernel, R rows by one panel p:

        out[b + r, ooff + j] = (base[(b + r) bstride + boff + j] if use_base else 0)
                               + sum_k x[b + r, k] Wx[p, k, j] + sum_k y[b + r, k] Wy[p, k, j]

    for r < R, j < C. x and y may have any strides, the panels any strides but a contiguous last
    axis (packed by :func:`pack`, or a view of a matrix whose C columns are contiguous); base
    and out rows are contiguous. Written in LLVM's portable vector IR (fma on <L x float> /
    <L x double>), which LLVM lowers to the machine's own SIMD; the accumulators live in
    registers."""

    @intrinsic
    def tile(typingctx, base, bstride, boff, use_base, x, Wx, y, Wy, out, ooff, b, p):
        def codegen(context, builder, signature, args):
            _Tile(R, context, builder, signature, args).emit()
            return context.get_dummy_value()

        return types.void(base, bstride, boff, use_base, x, Wx, y, Wy, out, ooff, b, p), codegen

    return tile


class _Tile:
    """The LLVM IR of one tile (:func:`_tile_intrinsic`): R rows, V vectors of L lanes per row."""

    def __init__(self, R, context, builder, signature, args):
        self.R, self.context, self.builder, self.signature, self.args = R, context, builder, signature, args
        dtype = signature.args[8].dtype
        itemsize = 4 if dtype == types.float32 else 8
        self.L = VECTOR_BYTES // itemsize  # lanes of a vector
        self.V = PANEL_BYTES // VECTOR_BYTES  # vectors per panel row: 4 (AVX-512) or 2
        self.S = max(1, 8 // (R * self.V))  # accumulator sets, taking turns over k: 8 chains of FMAs or more (two units, 4 cycles each)
        self.vty = ir.VectorType(context.get_value_type(dtype), self.L)
        self.item = self.const(itemsize)  # bytes per element
        self.fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(self.vty, [self.vty] * 3),
                                                  f"llvm.fma.v{self.L}f{8 * itemsize}")

    def const(self, n):
        return ir.Constant(ir.IntType(64), n)

    def array(self, k):
        """(data pointer, shape, strides in elements) of argument k."""
        a = self.context.make_array(self.signature.args[k])(self.context, self.builder, self.args[k])
        strides = [self.builder.sdiv(st, self.item) for st in cgutils.unpack_tuple(self.builder, a.strides)]
        return a.data, cgutils.unpack_tuple(self.builder, a.shape), strides

    def vload(self, ptr):
        ld = self.builder.load(self.builder.bitcast(ptr, self.vty.as_pointer()))
        ld.align = 4
        return ld

    def row(self, ptr, stride, r, offset=None):
        """ptr + (b + r) stride (+ offset)."""
        i = self.builder.mul(self.builder.add(self.args[10], self.const(r)), stride)
        return self.builder.gep(ptr, [i if offset is None else self.builder.add(i, offset)])

    def emit(self):
        bld, R, V, L = self.builder, self.R, self.V, self.L
        accs = [[[cgutils.alloca_once_value(bld, ir.Constant(self.vty, [0.0] * L)) for _ in range(V)]
                 for _ in range(R)] for _ in range(self.S)]
        base, _, _ = self.array(0)
        base_rows = [self.row(base, self.args[1], r, self.args[2]) for r in range(R)]
        use_base = bld.icmp_signed("!=", self.args[3], self.const(0))
        with bld.if_then(use_base):  # the base is added after the products: fetch it meanwhile
            prefetch = cgutils.get_or_insert_function(
                bld.module, ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()] + [ir.IntType(32)] * 3),
                "llvm.prefetch.p0i8")
            flags = [ir.Constant(ir.IntType(32), n) for n in (0, 3, 1)]  # read, keep in cache, data
            for ptr in base_rows:
                for line in range(0, PANEL_BYTES, 64):
                    item_ptr = bld.gep(ptr, [self.const(line * L // VECTOR_BYTES)])
                    bld.call(prefetch, [bld.bitcast(item_ptr, ir.IntType(8).as_pointer())] + flags)
        self.accumulate(4, 5, accs)  # x with Wx
        self.accumulate(6, 7, accs)  # y with Wy
        for r in range(R):
            for v in range(V):
                for acc in accs[1:]:
                    bld.store(bld.fadd(bld.load(accs[0][r][v]), bld.load(acc[r][v])), accs[0][r][v])
        with bld.if_then(use_base):
            for r in range(R):
                for v in range(V):
                    value = bld.fadd(bld.load(accs[0][r][v]), self.vload(bld.gep(base_rows[r], [self.const(v * L)])))
                    bld.store(value, accs[0][r][v])
        out, _, out_strides = self.array(8)
        for r in range(R):
            out_row = self.row(out, out_strides[0], r, self.args[9])
            for v in range(V):
                st = bld.store(bld.load(accs[0][r][v]), bld.bitcast(bld.gep(out_row, [self.const(v * L)]),
                                                                      self.vty.as_pointer()))
                st.align = 4

    def accumulate(self, xi, wi, accs):
        """accs[k mod S][r][v] += x[b + r, k] W[p, k, v L : (v + 1) L] over k (arguments xi, wi)."""
        bld, L = self.builder, self.L
        x, _, x_strides = self.array(xi)
        w, w_shape, w_strides = self.array(wi)
        K = w_shape[1]
        panel = bld.gep(w, [bld.mul(self.args[11], w_strides[0])])  # W[p]
        rows = [self.row(x, x_strides[0], r) for r in range(self.R)]
        lanes = ir.Constant(ir.VectorType(ir.IntType(32), L), [0] * L)

        def step(k, acc):
            w_k = bld.gep(panel, [bld.mul(k, w_strides[1])])  # W[p, k]
            ws = [self.vload(bld.gep(w_k, [self.const(v * L)])) for v in range(self.V)]
            for r, x_r in enumerate(rows):
                u = bld.load(bld.gep(x_r, [bld.mul(k, x_strides[1])]))  # x[b + r, k]
                u = bld.insert_element(ir.Constant(self.vty, ir.Undefined), u, ir.Constant(ir.IntType(32), 0))
                u = bld.shuffle_vector(u, ir.Constant(self.vty, ir.Undefined), lanes)  # in every lane
                for v, w_v in enumerate(ws):
                    bld.store(bld.call(self.fma, [u, w_v, bld.load(acc[r][v])]), acc[r][v])

        S = self.const(self.S)
        pairs = bld.udiv(K, S)
        with cgutils.for_range(bld, pairs) as loop:
            for j in range(self.S):
                step(bld.add(bld.mul(loop.index, S), self.const(j)), accs[j])
        with cgutils.for_range(bld, bld.sub(K, bld.mul(pairs, S))) as loop:  # K mod S
            step(bld.add(bld.mul(pairs, S), loop.index), accs[0])


_tile6, _tile5, _tile4, _tile3, _tile2, _tile1 = (_tile_intrinsic(R) for R in (6, 5, 4, 3, 2, 1))


@njit(**_JIT)
def _matmul_packed(base, x, Wx, y, Wy, out, n0, n1):
    """out[:, n0:n1] = base[:, n0:n1] + x Wx^T + y Wy^T, the weights packed by :func:`pack`.

    x (B, K1), Wx (P, K1, C) (K1 may be 0); y (B, K2), Wy (P, K2, C); out (B, N); base (B, N),
    (1, N) (one row for every b) or (0, N) (none); n0 a multiple of C. Only packed (padded)
    panels may cover columns past N.
    """
    B, N = out.shape
    C = Wy.shape[2]
    use = 1 if base.shape[0] > 0 else 0
    bstride = base.shape[1] if base.shape[0] > 1 else 0
    for p in range(n0 // C, (n1 + C - 1) // C):
        c0 = p * C
        if c0 + C <= N:
            _panel(base, bstride, c0, use, x, Wx, y, Wy, out, c0, p)
        else:  # the last panel, part padding: its tiles into a scratch block, then the columns before N
            part = np.empty((B, C), out.dtype)  # (B, C)
            _panel(base, 0, 0, 0, x, Wx, y, Wy, part, 0, p)
            for b in range(B):
                for j in range(N - c0):
                    v = part[b, j]
                    if use:
                        v += base[b if bstride else 0, c0 + j]
                    out[b, c0 + j] = v


@njit(inline="always", **_JIT)
def _panel(base, bstride, boff, use, x, Wx, y, Wy, out, ooff, p):
    """Panel p of :func:`_matmul_packed` for every row: tiles of TILE_ROWS rows, the rows left
    over in one smaller tile. (The last panel of an N that is not whole panels once ran a row at
    a time: the char model's head, 2048 x 192 x 96 in panels of 64 columns, 74 -> 105 GFLOP/s
    on one Emerald Rapids core.)"""
    B = out.shape[0]
    b = 0
    while b + TILE_ROWS <= B:
        if TILE_ROWS == 6:
            _tile6(base, bstride, boff, use, x, Wx, y, Wy, out, ooff, b, p)
        else:
            _tile4(base, bstride, boff, use, x, Wx, y, Wy, out, ooff, b, p)
        b += TILE_ROWS
    if B - b == 5:
        _tile5(base, bstride, boff, use, x, Wx, y, Wy, out, ooff, b, p)
    elif B - b == 4:
        _tile4(base, bstride, boff, use, x, Wx, y, Wy, out, ooff, b, p)
    elif B - b == 3:
        _tile3(base, bstride, boff, use, x, Wx, y, Wy, out, ooff, b, p)
    elif B - b == 2:
        _tile2(base, bstride, boff, use, x, Wx, y, Wy, out, ooff, b, p)
    elif B - b == 1:
        _tile1(base, bstride, boff, use, x, Wx, y, Wy, out, ooff, b, p)


# The blocks, measured on two threads at the products of LSTM training (GFLOP/s, float32; the
# previous blocks were 256 rows by 128 terms everywhere, x read in place):
#   x's rows contiguous, panels of 8 MiB or less: 32 rows by 512 terms (out's block stays in
#   L2, the panels in L3). At 128, 512, 1024 the input projection (12800 x 512 x 4096) 191-200
#   -> 198-214 and its input gradient (12800 x 4096 x 512) 204-217 -> 217-220; at 64, 256, 512
#   190 -> 204-215; the smaller products level (221-225). With larger panels, read from memory
#   once per row block, 32 rows fell to 194 (dW_hh's shape): there 256 rows by 512 terms.
#   x read by columns (dz^T of dW_hh and dW_ih): 256 rows, copied into rows where out has 1024
#   columns or more (dW_hh at 128, 512, 1024: 181-188 -> 199-207); dW_ih (512 columns) measured
#   no better copied, and is read in place by 128 terms as before.
#   With AVX2's 6-row tile (panels of 16 float32 columns: four times as many panels read each
#   block of x) 96 rows (16 tiles; 32 are 5 tiles and a 2-row rest). One AMD Zen 3 core, the
#   input projection of LSTM 16, 128, 256 (1600 x 128 x 1024) against OpenBLAS in the same
#   process: 0.76-0.84x at 32 rows, 0.92-0.93 at 48, 1.02-1.08 at 96, 0.99-1.07 at 252.
K_BLOCK = 512  # terms of the sum per pass over a row block
ROW_BLOCK = 256  # rows of x per block where the panels are larger than PANELS_IN_CACHE
CACHED_ROW_BLOCK = 32 if VECTOR_BYTES == 64 else 96  # rows per block where they are not: out's block stays in L2, the panels in L3
PANELS_IN_CACHE = 8 * 2**20  # bytes of panels read again for every row block from the L3 cache
COPY_TILE = 8  # rows and terms per square of the block copy: its lines are read and written whole
COPY_COLUMNS = 1024  # columns of out from which an x read by columns is copied (the copy is read by N / C panels)
COLUMN_TERMS = 128  # terms per pass where such an x is read in place


@njit(**_JIT)
def _blocks(x, Wp, N):
    """(rows, terms, copy) of :func:`_matmul_rows`'s blocks for x (M, K) and panels Wp, out (M, N).

    x's rows contiguous: K_BLOCK terms, by CACHED_ROW_BLOCK rows where the panels stay in the
    L3 cache (PANELS_IN_CACHE), else by ROW_BLOCK. x read by columns (dz^T): blocks of ROW_BLOCK
    rows, copied into rows for an out of COPY_COLUMNS or more, else read in place by COLUMN_TERMS
    (a column's terms lie 4H apart: more of them at once crowd one set of the L1 cache)."""
    if x.strides[0] >= x.strides[1] or x.shape[0] == 1:
        return (ROW_BLOCK if Wp.size * Wp.itemsize > PANELS_IN_CACHE else CACHED_ROW_BLOCK), K_BLOCK, False
    if N >= COPY_COLUMNS:
        return ROW_BLOCK, K_BLOCK, True
    return ROW_BLOCK, COLUMN_TERMS, False


@njit(**_JIT)
def _matmul_rows(x, Wp, bias, out, m0, m1):
    """out[m0:m1] = bias + x[m0:m1] Wp^T (bias (M, N) (out itself included), (1, N) or (0, N):
    none), in blocks of rows by terms, each pass adding to the last one's out. Wp: panels
    (P, K, C), or rows (N, K) (C-contiguous) for a product of a few rows.

    The blocks are :func:`_blocks`'s; an x read by columns for an out of COPY_COLUMNS or more is
    copied a block at a time into rows (:func:`_rows_of_block`) before the panels read it."""
    N, K = out.shape[1], Wp.shape[1]
    rows, terms, copy = _blocks(x, Wp, N)
    block = np.empty((rows if copy else 0, terms), x.dtype)  # (rows, terms) of x, row-major
    for r0 in range(m0, m1, rows):
        r1 = min(r0 + rows, m1)
        for k0 in range(0, max(K, 1), terms):
            k1 = min(k0 + terms, K)
            base = (bias[r0:r1] if bias.shape[0] > 1 else bias) if k0 == 0 else out[r0:r1]
            if copy:
                xb = _rows_of_block(x[r0:r1, k0:k1], block)  # (rows, terms)
                product(base, xb[:, :0], Wp[:, :0], xb, Wp[:, k0:k1], out[r0:r1], 0, N)
            else:
                product(base, x[r0:r1, :0], Wp[:, :0], x[r0:r1, k0:k1], Wp[:, k0:k1], out[r0:r1], 0, N)


@njit(**_JIT)
def _rows_of_block(xb, block):
    """xb (R, S) read by columns, copied into block[:R, :S] (rows contiguous) in squares of
    COPY_TILE. Two threads, x = dz^T of dW_hh at 128, 512, 1024: read in place, 148-197 GFLOP/s
    from run to run (a column's terms lie 16 KiB apart, in one set of the L1 cache); copied,
    196-207 (205-215 with x's rows contiguous from the start). Where out has fewer columns, the
    copy is read by too few panels to pay (N = 256: 201 -> 170): see COPY_COLUMNS."""
    R, S = xb.shape
    out = block[:R, :S]  # (R, S)
    for k0 in range(0, S, COPY_TILE):
        k1 = min(k0 + COPY_TILE, S)
        for r0 in range(0, R, COPY_TILE):
            for k in range(k0, k1):
                for r in range(r0, min(r0 + COPY_TILE, R)):
                    out[r, k] = xb[r, k]
    return out


@njit(**_JIT)
def matmul(x, Wp, bias, out):
    """out = bias + x Wp^T on one thread: x (M, K) any strides, Wp (P, K, C) panels or (N, K)
    rows, out (M, N)."""
    _matmul_rows(x, Wp, bias, out, 0, out.shape[0])


@njit(parallel=True, **_JIT)
def matmul_mt(x, Wp, bias, out, threads):
    """:func:`matmul` on ``threads`` threads, each with a fixed share of the rows."""
    for q in prange(threads):
        m0, m1 = _split(out.shape[0], threads, q, TILE_ROWS)
        _matmul_rows(x, Wp, bias, out, m0, m1)


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
def _tile1x6(xb, W, n, s):
    """s (6 sums) + the dot products of one row xb with W[n:n+6]: six chains of multiply-adds,
    enough to keep the FMA units busy while W streams in (one row: a streaming step)."""
    s0, s1, s2, s3, s4, s5 = s
    w0, w1, w2, w3, w4, w5 = W[n], W[n + 1], W[n + 2], W[n + 3], W[n + 4], W[n + 5]  # (K,) each
    for k in range(xb.shape[0]):
        u = xb[k]
        s0 += u * w0[k]
        s1 += u * w1[k]
        s2 += u * w2[k]
        s3 += u * w3[k]
        s4 += u * w4[k]
        s5 += u * w5[k]
    return s0, s1, s2, s3, s4, s5


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
    while B < 4 and n + 6 <= n1:  # too few rows for a 4 x 3 tile: 1 x 6 tiles
        for b in range(B):
            r = b if base.shape[0] > 1 else 0
            s = (zero, zero, zero, zero, zero, zero)
            if base.shape[0] > 0:
                s = (base[r, n], base[r, n + 1], base[r, n + 2], base[r, n + 3], base[r, n + 4], base[r, n + 5])
            s = _tile1x6(y[b], V, n, _tile1x6(x[b], W, n, s))
            out[b, n], out[b, n + 1], out[b, n + 2], out[b, n + 3], out[b, n + 4], out[b, n + 5] = s
        n += 6
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
def _matmul_columns(base, x, W, y, V, out, n0, n1):
    """:func:`_matmul_nt` for W and V given by their columns (F-contiguous (N, K): transposed
    views, as Keras's kernels W^T), for a few rows: each row's sums gather x[b, k] times W's
    column k, one contiguous column after another, in a private buffer (so that LLVM vectorises
    them; on out itself it did not: 128 us against 20 for 1 MiB). The panels of such a W, read
    in place at its row stride, took 4-5x longer."""
    zero = one(out[0, 0]) * f32(0.0)  # 0 in out's precision
    acc = np.empty(n1 - n0, out.dtype)  # (n1 - n0,) one row's sums
    for b in range(out.shape[0]):
        r = b if base.shape[0] > 1 else 0
        for n in range(n1 - n0):
            acc[n] = zero if base.shape[0] == 0 else base[r, n0 + n]
        for k in range(x.shape[1]):
            u, column = x[b, k], W[n0:n1, k]  # (n1 - n0,) contiguous
            for n in range(n1 - n0):
                acc[n] += u * column[n]
        for k in range(y.shape[1]):
            u, column = y[b, k], V[n0:n1, k]
            for n in range(n1 - n0):
                acc[n] += u * column[n]
        out[b, n0:n1] = acc


def product(base, x, Wx, y, Wy, out, n0, n1):  # pragma: no cover - replaced by the overload inside compiled code
    """out[:, n0:n1] = base + x Wx^T + y Wy^T by the kernel for the weights' layout."""
    raise NotImplementedError


@overload(product, jit_options=_JIT)
def _product(base, x, Wx, y, Wy, out, n0, n1):
    if Wy.ndim == 3:
        return lambda base, x, Wx, y, Wy, out, n0, n1: _matmul_packed(base, x, Wx, y, Wy, out, n0, n1)
    if Wy.layout == "F":
        return lambda base, x, Wx, y, Wy, out, n0, n1: _matmul_columns(base, x, Wx, y, Wy, out, n0, n1)
    return lambda base, x, Wx, y, Wy, out, n0, n1: _matmul_nt(base, x, Wx, y, Wy, out, n0, n1)


def align(W):  # pragma: no cover - replaced by the overload inside compiled code
    """The column granularity of a thread's share of a product with weights W."""
    raise NotImplementedError


@overload(align, jit_options=_JIT)
def _align(W):
    if W.ndim == 3:
        return lambda W: W.shape[2]  # whole panels
    if W.layout == "F":
        return lambda W: 16  # whole cache lines of out (float32)
    return lambda W: 3  # whole 4 x 3 tiles


def unit_align(W):  # pragma: no cover - replaced by the overload inside compiled code
    """The granularity at which a gate block's columns of a product with weights W may be cut
    without cutting a panel: a panel (packed), any column (rows, columns)."""
    raise NotImplementedError


@overload(unit_align, jit_options=_JIT)
def _unit_align(W):
    if W.ndim == 3:
        return lambda W: W.shape[2]
    return lambda W: 1


@njit(**_JIT)
def _split(n: int, parts: int, p: int, align: int) -> tuple:
    """[lo, hi) of part p of range(n) cut into ``parts`` nearly equal pieces at multiples of ``align``."""
    units = (n + align - 1) // align
    return min(n, units * p // parts * align), min(n, units * (p + 1) // parts * align)


# -- one parallel region for a whole loop -------------------------------------------------------
# A fork-join of numba's thread pool costs microseconds; a threaded loop that opened a region per
# step (two in the backward) paid it at every step. The threaded loops run one region instead,
# whose threads meet at a barrier once a step. Threads only share a loop once all of them have
# joined (a team); if the pool runs fewer at once (another program's threads, OMP_DYNAMIC), the
# first thread to wait JOIN_SPINS runs the whole loop alone, so no thread waits for one that
# never comes. sync (3,) int64, zeros: [0] arrivals, [1] the decision, [2] barrier arrivals.
JOIN_SPINS = 1 << 22  # spins (a few milliseconds) a thread waits for the team before it runs the loop alone
YIELD_SPINS = 1 << 12  # spins at a barrier between yields of the core (other threads may need it)
OPEN, SHARE, ALONE, LEAVE = 0, 1, 2, 3  # the team's decision (OPEN: not yet), and a thread's part in a loop
if os.name == "posix":
    _yield = types.ExternalFunction("sched_yield", types.int32())
else:  # pragma: no cover - no sched_yield: spin without yielding
    @njit(**_JIT)
    def _yield():
        return 0


def _element(context, builder, signature, args):
    """A pointer to a[i] of an int64 array a (arguments 0 and 1)."""
    array = context.make_array(signature.args[0])(context, builder, args[0])
    return builder.gep(array.data, [args[1]])


@intrinsic
def _atomic_add(typingctx, a, i, v):
    """a[i] += v atomically (sequentially consistent); the old value."""
    def codegen(context, builder, signature, args):
        return builder.atomic_rmw("add", _element(context, builder, signature, args), args[2], "seq_cst")

    return types.int64(a, i, v), codegen


@intrinsic
def _atomic_load(typingctx, a, i):
    """a[i], read atomically (sequentially consistent)."""
    def codegen(context, builder, signature, args):
        return builder.load_atomic(_element(context, builder, signature, args), "seq_cst", 8)

    return types.int64(a, i), codegen


@intrinsic
def _atomic_cas(typingctx, a, i, expected, new):
    """a[i] = new if a[i] == expected, atomically; whether it did."""
    def codegen(context, builder, signature, args):
        pair = builder.cmpxchg(_element(context, builder, signature, args), args[2], args[3], "seq_cst", "seq_cst")
        return builder.extract_value(pair, 1)

    return types.boolean(a, i, expected, new), codegen


@njit(**_JIT)
def _join(sync, threads):
    """A thread's part in a team loop: SHARE (its slice, with barriers), ALONE (the whole loop)
    or LEAVE (another thread runs it alone)."""
    _atomic_add(sync, 0, np.int64(1))
    spins = 0
    while _atomic_load(sync, 1) == OPEN:
        if _atomic_load(sync, 0) >= threads:
            _atomic_cas(sync, 1, np.int64(OPEN), np.int64(SHARE))  # all here: a team
        elif spins >= JOIN_SPINS and _atomic_cas(sync, 1, np.int64(OPEN), np.int64(ALONE)):
            return ALONE  # this thread decided: it runs the loop alone
        spins += 1
    return SHARE if _atomic_load(sync, 1) == SHARE else LEAVE


@njit(**_JIT)
def _part(sync, threads, p, H, align):
    """Thread p joins a loop's team (:func:`_join`): its part and the units [j0, j1) it covers
    (its share, all of them when it runs the loop alone, none when it leaves)."""
    part = _join(sync, threads)
    if part == SHARE:
        j0, j1 = _split(H, threads, p, align)
        return part, j0, j1
    return part, 0, H if part == ALONE else 0


# A batch of enough rows is split by its rows instead: each thread runs every unit of its own
# sequences, so the threads never meet (no barrier) and never write neighbouring columns. Split
# by units, two threads writing the two halves of each row's gate blocks ran each step's gate
# math at half speed (the lines at the edges of their blocks passing between the cores): at
# B 32, H 192 (the main job) 12.1 us a step on two threads against 8.5 on one doing both
# halves. Each thread then reads all of W_hh at every step (its rows' product), which its
# rows amortise: measured on two threads, the training loops at B 8-128 went 3-15 % faster,
# at B 4 (two rows each) 25 % slower.
ROW_SPLIT = 4  # rows per thread from which a threaded loop splits the batch, not the units


@njit(**_JIT)
def _rows(B, threads, p):
    """The batch rows [b0, b1) of thread p in a loop split by rows (:data:`ROW_SPLIT`), whole
    tiles: every row is then summed by a tile of the same height as on one thread, so the
    threads' results equal one thread's bit for bit."""
    return _split(B, threads, p, TILE_ROWS)


@njit(**_JIT)
def _barrier(sync, threads, n):
    """Wait until every thread of the team has reached its n-th barrier (n = 1, 2, ...)."""
    _atomic_add(sync, 2, np.int64(1))
    spins = 0
    while _atomic_load(sync, 2) < n * threads:
        spins += 1
        if spins % YIELD_SPINS == 0:
            _yield()


# -- LSTM --------------------------------------------------------------------------------------
# Each row b works on 1-D views (one per gate block) so LLVM sees separate streams and
# vectorises the loop over units; indexing the blocks of one 2-D row at offsets H, 2H, 3H
# would look like possible overlap and stay scalar (about 6x slower here). Every step kernel
# covers the units [j0, j1) and the rows [b0, b1) (all of them, or one thread's share).
@njit(**_JIT)
def lstm_fwd_step(Z, G, hs, cs, keep, t, has_mask, j0, j1, b0, b1):
    """Step t, units [j0, j1), rows [b0, b1): G[t] = act(Z) (i, f, g, o); c_t = f c_{t-1} + i g; h_t = o tanh(c_t).

    Z (B, 4H) = xw_t + h_{t-1} W_hh^T, the pre-activations; hs, cs (T+1, B, H) with
    h_{t-1} = hs[t], h_t = hs[t+1]. For inference G and keep may be one row and cs two (a ring).
    """
    Gt, kt = G[t % G.shape[0]], keep[t % keep.shape[0]]  # one row of each: inference keeps no history
    h_prev, c_prev, h, c = hs[t], cs[t % cs.shape[0]], hs[t + 1], cs[(t + 1) % cs.shape[0]]
    B, H = c.shape
    for b in range(b0, b1):
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
def lstm_bwd_step(G, cs, dhs, dh_rec, carry, dc, keep, t, has_dhs, has_mask, j0, j1, b0, b1):
    """BPTT step t, units [j0, j1), rows [b0, b1): G[t] (activations) becomes dL/dz_t in place; dc becomes
    dL/dc_{t-1}.

    dh = dhs[t] + dh_rec + carry (dh_rec = dz_{t+1} W_hh); carry becomes what reaches
    h_{t-1} around the product (dh on masked rows, else 0). dhs is (T, B, H), or (1, B, H)
    zeros when ``has_dhs`` is False.
    """
    Gt, c_prev, c, dh_out, kt = G[t], cs[t], cs[t + 1], dhs[t if has_dhs else 0], keep[t]
    B, H = c.shape
    for b in range(b0, b1):
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
def lstm_fwd_loop(G, W_hh, hs, cs, keep, has_mask, Z, x, W_ih, bias, project, b0, b1):
    """All T steps of :func:`lstm_fwd_step` for the rows [b0, b1) (all B, or a thread's share),
    with the products compiled, on one thread.

    With ``project``: Z = bias + x_t W_ih^T + h_{t-1} W_hh^T (x (T, B, I), W_ih (4H, I), bias
    (1, 4H)), G's input unread. Without: Z = G[t] + h_{t-1} W_hh^T (G holds xw; x (T, B, 0),
    W_ih (4H, 0)). Either way G[t] becomes the activations.
    """
    N, H = Z.shape[1], hs.shape[2]
    for t in range(hs.shape[0] - 1):
        product(bias if project else G[t, b0:b1], x[t, b0:b1], W_ih, hs[t, b0:b1], W_hh, Z[b0:b1], 0, N)  # (rows, 4H)
        lstm_fwd_step(Z, G, hs, cs, keep, t, has_mask, 0, H, b0, b1)


@njit(parallel=True, **_JIT)
def lstm_fwd_loop_mt(G, W_hh, hs, cs, keep, has_mask, Z, x, W_ih, bias, project, threads):
    """:func:`lstm_fwd_loop` on ``threads`` threads, in one parallel region. A batch of at least
    ROW_SPLIT rows a thread: each thread runs its own rows through every step (every column
    of the product, the gate math of every unit), with no barrier. A smaller one: each takes a
    fixed slice of the units, and makes their four gate columns (its rows of W_ih and W_hh) and
    gate math at every step; one barrier a step (h_t complete, :func:`_join`)."""
    N, H, B = Z.shape[1], hs.shape[2], hs.shape[1]
    if B >= ROW_SPLIT * threads:  # each thread its own rows, every unit: no barrier
        for p in prange(threads):
            b0, b1 = _rows(B, threads, p)
            lstm_fwd_loop(G, W_hh, hs, cs, keep, has_mask, Z, x, W_ih, bias, project, b0, b1)
        return
    ua = unit_align(W_hh)
    if H % ua != 0:  # gate blocks not whole panels: columns and units split apart, two regions a step
        for t in range(hs.shape[0] - 1):
            for p in prange(threads):
                n0, n1 = _split(N, threads, p, align(W_hh))
                product(bias if project else G[t], x[t], W_ih, hs[t], W_hh, Z, n0, n1)  # (B, n1 - n0)
            for p in prange(threads):
                j0, j1 = _split(H, threads, p, 8)
                lstm_fwd_step(Z, G, hs, cs, keep, t, has_mask, j0, j1, 0, hs.shape[1])
        return
    sync = np.zeros(3, np.int64)
    for p in prange(threads):
        part, j0, j1 = _part(sync, threads, p, H, max(ua, 8))
        for t in range(hs.shape[0] - 1 if part != LEAVE else 0):
            for g in range(4):
                product(bias if project else G[t], x[t], W_ih, hs[t], W_hh, Z, g * H + j0, g * H + j1)
            lstm_fwd_step(Z, G, hs, cs, keep, t, has_mask, j0, j1, 0, hs.shape[1])
            if part == SHARE:
                _barrier(sync, threads, t + 1)  # h_t complete before any thread reads it


@njit(**_JIT)
def lstm_bwd_loop(G, W_T, cs, dhs, has_dhs, dh_rec, carry, dc, keep, has_mask, b0, b1):
    """All T steps of :func:`lstm_bwd_step` for the rows [b0, b1), last to first, with
    dh_rec = dz W_hh compiled (W_T = W_hh^T, (H, 4H) C-contiguous), on one thread."""
    H = dh_rec.shape[1]
    for t in range(G.shape[0] - 1, -1, -1):
        lstm_bwd_step(G, cs, dhs, dh_rec, carry, dc, keep, t, has_dhs, has_mask, 0, H, b0, b1)
        product(dh_rec[:0], G[t, b0:b1, :0], W_T[:, :0], G[t, b0:b1], W_T, dh_rec[b0:b1], 0, H)  # (rows, H) dz_t W_hh


@njit(parallel=True, **_JIT)
def lstm_bwd_loop_mt(G, W_T, cs, dhs, has_dhs, dh_rec, carry, dc, keep, has_mask, threads):
    """:func:`lstm_bwd_loop` on ``threads`` threads, one parallel region: each takes a fixed
    slice of the units for the gate math and the same columns of dh_rec = dz W_hh, which only
    it reads at the next step; one barrier a step (dz_t complete before the products). A batch
    of at least ROW_SPLIT rows a thread is split by rows instead, without barriers."""
    B, H = dh_rec.shape
    if B >= ROW_SPLIT * threads:
        for p in prange(threads):
            b0, b1 = _rows(B, threads, p)
            lstm_bwd_loop(G, W_T, cs, dhs, has_dhs, dh_rec, carry, dc, keep, has_mask, b0, b1)
        return
    sync = np.zeros(3, np.int64)
    for p in prange(threads):
        part, j0, j1 = _part(sync, threads, p, H, max(align(W_T), 8))
        for s in range(G.shape[0] if part != LEAVE else 0):
            t = G.shape[0] - 1 - s
            lstm_bwd_step(G, cs, dhs, dh_rec, carry, dc, keep, t, has_dhs, has_mask, j0, j1, 0, cs.shape[1])
            if part == SHARE:
                _barrier(sync, threads, s + 1)
            product(dh_rec[:0], G[t, :, :0], W_T[:, :0], G[t], W_T, dh_rec, j0, j1)  # (B, j1 - j0) of dz_t W_hh


# -- GRU (reset after the product, PyTorch's form) ---------------------------------------------
@njit(**_JIT)
def gru_fwd_step(Z, G, b_hn, hs, hn, keep, t, has_mask, j0, j1, b0, b1):
    """Step t, units [j0, j1), rows [b0, b1): r, z = sigma(G + Z); q = Z_n + b_hn; n = tanh(G_n + r q);
    h_t = n + z (h_{t-1} - n).

    G[t] becomes (r, z, n) in place; hn[t] = q is saved for the backward. Z (B, 3H) =
    h_{t-1} W_hh^T; hs (T+1, B, H).
    """
    Gt, qt, kt = G[t % G.shape[0]], hn[t % hn.shape[0]], keep[t % keep.shape[0]]  # inference: one row each
    h_prev, h = hs[t], hs[t + 1]
    B, H = h.shape
    bn = b_hn[j0:j1]  # (U,)
    for b in range(b0, b1):
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
def gru_bwd_step(G, hs, hn, dhs, dh_rec, carry, keep, t, has_dhs, has_mask, j0, j1, b0, b1):
    """BPTT step t, units [j0, j1), rows [b0, b1): G[t] (r, z, n) becomes (dzr, dzz, dhn), the rows of the
    recurrent product's gradient; hn[t] becomes dzn (= dL/dxw_n); carry becomes dh z (dh on
    masked rows). dh = dhs[t] + dh_rec + carry, dh_rec = dG_{t+1} W_hh."""
    Gt, h_prev, qt, dh_out, kt = G[t], hs[t], hn[t], dhs[t if has_dhs else 0], keep[t]
    B, H = h_prev.shape
    for b in range(b0, b1):
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
def gru_fwd_loop(G, W_hh, b_hn, hs, hn, keep, has_mask, Z, x, W_ih, bias, project, b0, b1):
    """All T steps of :func:`gru_fwd_step` for the rows [b0, b1) with the products compiled, on
    one thread. With ``project``, G[t] is first set to bias + x_t W_ih^T (x (T, B, I), W_ih (3H, I),
    bias (1, 3H)): one call for a whole streaming step."""
    N, H = Z.shape[1], hs.shape[2]
    for t in range(hs.shape[0] - 1):
        if project:
            product(bias, x[t, b0:b1, :0], W_ih[:, :0], x[t, b0:b1], W_ih, G[t % G.shape[0], b0:b1], 0, N)  # of xw_t
        product(Z[:0], hs[t, b0:b1, :0], W_hh[:, :0], hs[t, b0:b1], W_hh, Z[b0:b1], 0, N)  # (rows, 3H)
        gru_fwd_step(Z, G, b_hn, hs, hn, keep, t, has_mask, 0, H, b0, b1)


@njit(parallel=True, **_JIT)
def gru_fwd_loop_mt(G, W_hh, b_hn, hs, hn, keep, has_mask, Z, x, W_ih, bias, project, threads):
    """:func:`gru_fwd_loop` on ``threads`` threads (fixed slices, one region, as :func:`lstm_fwd_loop_mt`)."""
    N, H, B = Z.shape[1], hs.shape[2], hs.shape[1]
    if B >= ROW_SPLIT * threads:  # each thread its own rows, every unit: no barrier
        for p in prange(threads):
            b0, b1 = _rows(B, threads, p)
            gru_fwd_loop(G, W_hh, b_hn, hs, hn, keep, has_mask, Z, x, W_ih, bias, project, b0, b1)
        return
    ua = unit_align(W_hh)
    if H % ua != 0:  # gate blocks not whole panels: columns and units split apart, two regions a step
        for t in range(hs.shape[0] - 1):
            for p in prange(threads):
                n0, n1 = _split(N, threads, p, align(W_hh))
                if project:
                    product(bias, x[t, :, :0], W_ih[:, :0], x[t], W_ih, G[t % G.shape[0]], n0, n1)  # of xw_t
                product(Z[:0], hs[t, :, :0], W_hh[:, :0], hs[t], W_hh, Z, n0, n1)  # of h W_hh^T
            for p in prange(threads):
                j0, j1 = _split(H, threads, p, 8)
                gru_fwd_step(Z, G, b_hn, hs, hn, keep, t, has_mask, j0, j1, 0, hs.shape[1])
        return
    sync = np.zeros(3, np.int64)
    for p in prange(threads):
        part, j0, j1 = _part(sync, threads, p, H, max(ua, 8))
        for t in range(hs.shape[0] - 1 if part != LEAVE else 0):
            for g in range(3):
                n0, n1 = g * H + j0, g * H + j1
                if project:
                    product(bias, x[t, :, :0], W_ih[:, :0], x[t], W_ih, G[t % G.shape[0]], n0, n1)  # of xw_t
                product(Z[:0], hs[t, :, :0], W_hh[:, :0], hs[t], W_hh, Z, n0, n1)  # of h W_hh^T
            gru_fwd_step(Z, G, b_hn, hs, hn, keep, t, has_mask, j0, j1, 0, hs.shape[1])
            if part == SHARE:
                _barrier(sync, threads, t + 1)  # h_t complete before any thread reads it


# -- whole inference layers (the fused path): the loop's buffers made in compiled code ----------
@njit(**_JIT)
def lstm_infer(x, W_ih, W_hh, bias, h0, c0, threads):
    """A whole LSTM layer and direction without a cache, input projection fused into each
    step's product: x (T, B, I), W_ih / W_hh as rows or panels, bias (1, 4H), h0 and c0 (B, H).
    No history but h's is kept. Returns hs (T+1, B, H) with h0 in row 0, and c_T (B, H)."""
    T, B, _ = x.shape
    N, H = bias.shape[1], h0.shape[1]
    hs, cs = empty_lines((T + 1, B, H), x), empty_lines((2, B, H), x)  # (T+1, B, H), c_t in a ring
    hs[0], cs[0] = h0, c0
    G, Z = empty_lines((1, B, N), x), empty_lines((B, N), x)  # (1, B, 4H) this step's activations, (B, 4H)
    keep = np.ones((1, B), np.bool_)
    if threads > 1:
        lstm_fwd_loop_mt(G, W_hh, hs, cs, keep, False, Z, x, W_ih, bias, True, threads)
    else:
        lstm_fwd_loop(G, W_hh, hs, cs, keep, False, Z, x, W_ih, bias, True, 0, B)
    return hs, cs[T % 2]


@njit(**_JIT)
def gru_infer(x, W_ih, W_hh, bias, b_hn, h0, threads):
    """:func:`lstm_infer` for the GRU: bias (1, 3H), b_hn (H,). Returns hs (T+1, B, H)."""
    T, B, _ = x.shape
    N, H = bias.shape[1], h0.shape[1]
    hs = empty_lines((T + 1, B, H), x)  # (T+1, B, H)
    hs[0] = h0
    G, Z, hn = empty_lines((1, B, N), x), empty_lines((B, N), x), empty_lines((1, B, H), x)  # this step's
    keep = np.ones((1, B), np.bool_)
    if threads > 1:
        gru_fwd_loop_mt(G, W_hh, b_hn, hs, hn, keep, False, Z, x, W_ih, bias, True, threads)
    else:
        gru_fwd_loop(G, W_hh, b_hn, hs, hn, keep, False, Z, x, W_ih, bias, True, 0, B)
    return hs


@njit(**_JIT)
def gru_bwd_loop(G, W_T, hs, hn, dhs, has_dhs, dh_rec, carry, keep, has_mask, b0, b1):
    """All T steps of :func:`gru_bwd_step` for the rows [b0, b1), last to first, with
    dh_rec = dG W_hh compiled (W_T = W_hh^T, (H, 3H) C-contiguous), on one thread."""
    H = dh_rec.shape[1]
    for t in range(G.shape[0] - 1, -1, -1):
        gru_bwd_step(G, hs, hn, dhs, dh_rec, carry, keep, t, has_dhs, has_mask, 0, H, b0, b1)
        product(dh_rec[:0], G[t, b0:b1, :0], W_T[:, :0], G[t, b0:b1], W_T, dh_rec[b0:b1], 0, H)  # (rows, H) dG_t W_hh


@njit(parallel=True, **_JIT)
def gru_bwd_loop_mt(G, W_T, hs, hn, dhs, has_dhs, dh_rec, carry, keep, has_mask, threads):
    """:func:`gru_bwd_loop` on ``threads`` threads (fixed slices, one region, as :func:`lstm_bwd_loop_mt`)."""
    B, H = dh_rec.shape
    if B >= ROW_SPLIT * threads:
        for p in prange(threads):
            b0, b1 = _rows(B, threads, p)
            gru_bwd_loop(G, W_T, hs, hn, dhs, has_dhs, dh_rec, carry, keep, has_mask, b0, b1)
        return
    sync = np.zeros(3, np.int64)
    for p in prange(threads):
        part, j0, j1 = _part(sync, threads, p, H, max(align(W_T), 8))
        for s in range(G.shape[0] if part != LEAVE else 0):
            t = G.shape[0] - 1 - s
            gru_bwd_step(G, hs, hn, dhs, dh_rec, carry, keep, t, has_dhs, has_mask, j0, j1, 0, hs.shape[1])
            if part == SHARE:
                _barrier(sync, threads, s + 1)
            product(dh_rec[:0], G[t, :, :0], W_T[:, :0], G[t], W_T, dh_rec, j0, j1)  # (B, j1 - j0) of dG_t W_hh
