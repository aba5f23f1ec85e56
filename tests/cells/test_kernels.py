"""rnnkit.cells.kernels: the one selection (select, use, RNNKIT_KERNEL, per thread), float32 accuracy,
the fused inference path, the packed product. (The cells' parity matrices run under every kernel through the ``kernel``
fixture of conftest.py: tests/cells/test_cells.py.)"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from helpers import HAVE_NUMBA, random_case, scan_forward
from rnnkit.cells import activations, gru, kernels, lstm, scan, streaming

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_float32_stays_float32_and_close_to_float64(mode):
    """float32 end to end (the numba kernel's own exp/tanh included) within float32 accuracy."""
    rng = np.random.default_rng(3)
    x, h0, c0, w = random_case(mode, rng, T=9, B=6, I=5, H=7, scale=0.8)
    g = rng.normal(size=(9, 6, 7))
    res = {}
    for dtype in (np.float64, np.float32):
        cast = lambda a: None if a is None else a.astype(dtype)  # noqa: E731
        mask = np.arange(9)[:, None] < np.array([9, 4, 9, 1, 7, 9])[None]
        out, h_n, c_n, cache = scan_forward(mode, cast(x), cast(h0), cast(c0), [tuple(map(cast, w))], mask=mask)
        dx, dh0, dc0, (dw,) = scan.backward(cast(g), None, None, cache)
        arrays = [out, h_n, dx, dh0, *[a for a in dw if a is not None]]
        assert all(a.dtype == dtype for a in arrays), [a.dtype for a in arrays]
        res[dtype] = arrays
    for a32, a64 in zip(res[np.float32], res[np.float64]):
        np.testing.assert_allclose(a32, a64, rtol=0, atol=2e-5 * max(1.0, np.abs(a64).max()))


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed (the optional extra rnnkit[fast])")
def test_numba_float32_activations_are_accurate():
    """The vectorisable float32 sigmoid/tanh of the kernel against float64 math, to about 1 ulp."""
    from numba import njit

    from rnnkit.cells import _numba

    @njit
    def both(z, s, t):
        for k in range(z.size):
            s[k] = _numba.sigmoid(z[k])
            t[k] = _numba.tanh(z[k])

    z = np.concatenate([np.linspace(-100, 100, 20001), np.geomspace(1e-30, 1, 300), -np.geomspace(1e-30, 1, 300),
                        [0.0, 0.625, -0.625, 88.0, -88.0, 1e30, -1e30]]).astype(np.float32)
    s, t = np.empty_like(z), np.empty_like(z)
    both(z, s, t)
    z64 = z.astype(np.float64)
    sig = np.array([1 / (1 + math.exp(-v)) if v > -700 else 0.0 for v in z64])
    np.testing.assert_allclose(s, sig, rtol=3e-7, atol=np.finfo(np.float32).tiny)  # below the normal range: ~0
    np.testing.assert_allclose(t, np.tanh(z64), rtol=3e-7, atol=1e-37)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed (the optional extra rnnkit[fast])")
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_consumed_cache_refuses_a_second_backward(mode):
    rng = np.random.default_rng(4)
    x, h0, c0, w = random_case(mode, rng)
    with kernels.use("numba"):
        out, *_, cache = scan_forward(mode, x, h0, c0, [w])
        g = np.ones_like(out)
        first = scan.backward(g, None, None, cache)  # consume=False: the cache stays usable
        again = scan.backward(g, None, None, cache, consume=True)
        np.testing.assert_array_equal(first[0], again[0])
        with pytest.raises(ValueError, match="cache"):
            scan.backward(g, None, None, cache)


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
@pytest.mark.parametrize("T,B,bidir,bias,H", [(1, 1, False, True, 4), (2, 2, True, False, 4), (1, 3, False, False, 4),
                                              (9, 5, True, True, 12), (10, 4, False, False, 40)])
def test_fused_inference_matches_the_training_path(mode, T, B, bidir, bias, H):
    """Inference without a graph takes one compiled call per layer (projection included) when
    streaming or from FUSED_ROWS rows on: the same numbers as the training path. H = 12 and 40
    leave part of a weight panel (LSTM 48 and GRU 36 columns; GRU 120 in float64's 16)."""
    rng = np.random.default_rng(6)
    L, D, I = 2, 2 if bidir else 1, 5
    G = scan.CELLS[mode].gates
    weights = []
    for layer in range(L):
        for _ in range(D):
            k_in = I if layer == 0 else D * H
            w = [rng.normal(size=(G * H, k_in)), rng.normal(size=(G * H, H))]
            w += [rng.normal(size=G * H), rng.normal(size=G * H)] if bias else [None, None]
            weights.append(tuple(w))
    x = rng.normal(size=(T, B, I))
    h0 = rng.normal(size=(L * D, B, H))
    c0 = rng.normal(size=(L * D, B, H)) if mode == "LSTM" else None
    opts = dict(num_layers=L, bidirectional=bidir)
    ref = scan_forward(mode, x, h0, c0, weights, **opts)[:3]
    fast = scan_forward(mode, x, h0, c0, weights, need_grad=False, **opts)[:3]
    for a, b in zip(fast, ref):
        if b is not None:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T,B,bias,state", [(1, 1, True, True), (2, 2, False, True), (1, 4, True, False)])
def test_stream_equals_the_driver(kernel, mode, dtype, T, B, bias, state):
    """streaming.stream (the streaming shortcut) gives the driver's numbers where it applies."""
    rng = np.random.default_rng(8)
    x, h0, c0, w = random_case(mode, rng, T=T, B=B, I=6, H=5, bias=bias)
    x, w = x.astype(dtype), tuple(None if a is None else a.astype(dtype) for a in w)
    h0 = h0.astype(dtype) if state else None
    c0 = c0.astype(dtype) if state and c0 is not None else None
    options = dict(num_layers=1, bidirectional=False, proj_size=0, reset_after=True, lengths=None, dropout=0.0,
                   training=False)
    ref = scan_forward(mode, x, h0, c0, [w], need_grad=False, **options)[:3]
    streamed = streaming.stream(mode, x, h0, c0, [w], options)
    if kernel == "numpy":
        assert streamed is None  # the shortcut is the compiled kernel's
        return
    assert streamed is not None
    for a, b in zip(streamed, ref):
        if b is None:
            assert a is None
        else:
            assert a.dtype == dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)  # the same compiled loop


@pytest.mark.parametrize("change", [dict(num_layers=2), dict(bidirectional=True), dict(lengths=[1, 1]),
                                    dict(mask=np.ones((1, 2), bool)), dict(training=True, dropout=0.5),
                                    dict(activation="relu"), "rows", "RNN_TANH", "projection"])
def test_stream_declines_what_it_does_not_cover(change):
    rng = np.random.default_rng(9)
    mode = change if change == "RNN_TANH" else "LSTM"
    B = 5 if change == "rows" else 2
    x, h0, c0, w = random_case(mode, rng, T=1, B=B, I=3, H=4, proj=2 if change == "projection" else 0)
    options = dict(num_layers=1, bidirectional=False, proj_size=0, reset_after=True, lengths=None, dropout=0.0,
                   training=False)
    if isinstance(change, dict):
        options.update(change)
    with kernels.use("numba" if HAVE_NUMBA else "numpy"):
        assert streaming.stream(mode, x, h0, c0, [w], options) is None


@pytest.mark.skipif(not HAVE_NUMBA, reason="the shortcut is the compiled kernel's")
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_a_kept_stream_sees_every_change_between_calls(mode):
    """A Stream keeps its checks between one layer's calls, yet each call gives the driver's
    numbers for the weights as they are then: updated in place, replaced, of another layout,
    under another kernel setting, another input shape or other options, and checks again what
    it has not checked."""
    rng = np.random.default_rng(10)
    x, h0, c0, w = random_case(mode, rng, T=1, B=2, I=6, H=5)
    x, h0, w = x.astype(np.float32), h0.astype(np.float32), [a.astype(np.float32) for a in w[:4]]
    c0 = None if c0 is None else c0.astype(np.float32)
    options = dict(num_layers=1, bidirectional=False, reset_after=True, dropout=0.0, training=False)
    step = streaming.Stream()

    def check(x, w, options=options):
        B = x.shape[1]
        h, c = h0[:, :B], None if c0 is None else c0[:, :B]
        got = step(mode, x, h, c, [tuple(w)], options)
        with kernels.use("numpy"):  # the reference: the driver's NumPy cells, on the weights as they are now
            ref = scan_forward(mode, x, h, c, [tuple(w)], need_grad=False, **options)[:3]
        assert got is not None
        for a, b in zip(got, ref):
            assert (a is None and b is None) or np.allclose(a, b, rtol=1e-5, atol=1e-6)

    with kernels.use("numba"):
        check(x, w)
        kept = step._plan
        check(x, w)
        w[1] *= 0.5  # W_hh in place
        w[2][:] = rng.normal(size=w[2].shape)  # b_ih in place
        check(x, w)
        assert step._plan is kept  # the same arrays: no check again
        w[0] = rng.normal(size=w[0].shape).astype(np.float32)  # a replaced W_ih: read, the checks kept
        check(x, w)
        w[1] = np.asfortranarray(w[1])  # a view of another layout (as a Keras layer's W^T)
        check(x, w)
        assert step._plan is kept
        check(x[:, :1], w)  # another batch: checked again
        assert step._plan is not kept
        check(x, w, dict(options, dropout=0.5))  # dropout without training: still the shortcut
        bad = list(w)
        bad[1] = w[1][:, :-1]  # a replaced W_hh of the wrong shape is checked again
        with pytest.raises(ValueError, match=r"weights\[0\] w_hh: expected an ndarray of shape"):
            step(mode, x, h0, c0, [tuple(bad)], options)
        with pytest.raises(ValueError, match=r"weights\[0\] w_ih: expected .* dtype float32"):
            step(mode, x, h0, c0, [tuple([w[0].astype(np.float64)] + w[1:])], options)
        h, c = step.step(mode, x[0], h0[0], None if c0 is None else c0[0], [tuple(w)], options)  # a cell's step
        want = step(mode, x, h0, c0, [tuple(w)], options)
        assert np.array_equal(h, want[1][0]) and (c is None or np.array_equal(c, want[2][0]))
        with pytest.raises(ValueError, match=r"h0: expected an ndarray of shape \(2, 5\)"):
            step.step(mode, x[0], h0[0][:, :-1], None, [tuple(w)], options)
    with kernels.use("numba", threads=2):
        check(x, w)  # another setting: decided again
    with kernels.use("numpy"):
        assert step(mode, x, h0, c0, [tuple(w)], options) is None  # the NumPy kernel has no shortcut


@pytest.mark.skipif(not HAVE_NUMBA, reason="the layouts are the compiled loops'")
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
@pytest.mark.parametrize("T,B", [(1, 1), (1, 4), (1, 6), (2, 3), (9, 2)])
@pytest.mark.parametrize("threads", [1, 2])
def test_transposed_weights_as_keras_holds_them_give_the_contiguous_numbers(mode, T, B, threads):
    """W_ih and W_hh as transposed views (Keras keeps kernel = W_ih^T): read as panels in place
    (one step of one row tile), or packed, never copied across their rows; the same outputs
    and gradients as from contiguous copies (to float32 accuracy: panels and rows sum in other
    orders), in training and inference (H = 32: whole panels)."""
    rng = np.random.default_rng(11)
    x, h0, c0, w = random_case(mode, rng, T=T, B=B, I=24, H=32)
    x, h0 = x.astype(np.float32), h0.astype(np.float32)
    c0 = None if c0 is None else c0.astype(np.float32)
    rows = tuple(a.astype(np.float32) for a in w[:4])
    views = tuple(np.ascontiguousarray(a.T).T if a.ndim == 2 else a for a in rows)  # (N, K), columns contiguous
    assert not views[0].flags.c_contiguous and views[0].strides[0] == 4
    g = rng.normal(size=(T, B, 32)).astype(np.float32)
    with kernels.use("numba", threads=threads, parallel_flops=0, product_flops=0):
        for need_grad in (False, True):
            got, ref = (scan_forward(mode, x, h0, c0, [ws], need_grad=need_grad) for ws in (views, rows))
            for a, b in zip(got[:3], ref[:3]):  # panels and rows sum in other orders: float32 accuracy
                assert (a is None and b is None) or np.allclose(a, b, rtol=1e-5, atol=1e-6)
        grads = [scan.backward(g, None, None, run[3]) for run in (got, ref)]
    for a, b in zip(grads[0][:3] + tuple(grads[0][3][0]), grads[1][:3] + tuple(grads[1][3][0])):
        assert (a is None and b is None) or np.allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not HAVE_NUMBA, reason="the layouts are the compiled loops'")
def test_a_layout_copies_only_where_the_copy_pays():
    """Rows in place below pack_steps; a transposed view in place for one step of one row tile
    (by its columns), else packed, as one whose rows are padded (never copied across its rows);
    panels from pack_steps on."""
    W = np.random.default_rng(12).normal(size=(64, 40)).astype(np.float32)  # (N, K), N whole panels
    view = np.ascontiguousarray(W.T).T  # W's values, columns contiguous (F-contiguous)
    padded = np.zeros((40, 80), np.float32)[:, :64]  # (K, N) rows padded: its .T has columns contiguous
    padded[...] = W.T
    with kernels.use("numba", pack_steps=8):
        assert kernels._layout(W, 7) is W
        assert kernels._layout(view, 1, 4) is view
        panels = kernels._numba().pack(W)  # (P, K, C)
        for V, T, B in ((view, 1, kernels._numba().TILE_ROWS + 1), (view, 2, 1), (view, 8, 1), (padded.T, 1, 1), (W, 8, 1)):
            packed = kernels._layout(V, T, B)
            assert packed.ndim == 3 and not np.shares_memory(packed, V) and packed.flags.c_contiguous
            np.testing.assert_array_equal(packed, panels)


def test_select_is_the_one_decision():
    tanh, sig, relu = activations.get("tanh"), activations.get("sigmoid"), activations.get("relu")
    with kernels.use("numpy"):
        assert kernels.select("LSTM", tanh, sig) == "numpy"
        assert kernels.select("GRU", tanh, sig, inference_shape=(1, 1)) == "numpy"
    if HAVE_NUMBA:
        with kernels.use("numba"):
            assert kernels.select("LSTM", tanh, sig) == "numba"
            assert kernels.select("GRU", tanh, sig, inference_shape=(2, 2)) == "numba-fused"  # streaming
            assert kernels.select("GRU", tanh, sig, inference_shape=(5, 1)) == "numba"  # one large xw GEMM wins
            assert kernels.select("GRU", tanh, sig, inference_shape=(100, 3)) == "numba"
            assert kernels.select("GRU", tanh, sig, inference_shape=(100, 4)) == "numba-fused"
            assert kernels.select("RNN", tanh) == "numpy"  # no compiled Elman kernel
            assert kernels.select("LSTM", tanh, sig, rec_mask=np.ones((2, 3))) == "numpy"  # recurrent dropout
            assert kernels.select("LSTM", tanh, sig, W_hr=np.ones((2, 3))) == "numpy"  # projection
            assert kernels.select("GRU", tanh, sig, reset_after=False) == "numpy"  # the other GRU form
            assert kernels.select("LSTM", relu, sig) == "numpy"


def test_use_is_per_thread_and_restores():
    """kernels.use sets a context variable: another thread keeps its own (the environment's) kernel."""
    seen = {}
    inside, done = threading.Event(), threading.Event()

    def other():
        inside.wait()
        seen["other"] = kernels.active()
        done.set()

    with kernels.use("numba" if HAVE_NUMBA else "numpy", threads=1):
        outer = kernels.current()
        thread = threading.Thread(target=other)
        thread.start()
        with kernels.use("numpy", threads=7, parallel_flops=5, blas_threads=1):
            assert kernels.current() == kernels.Kernel("numpy", 7, 5, 1, kernels.BLAS_ROWS)
            inside.set()
            done.wait(5)
        assert kernels.current() == outer
    thread.join()
    assert seen["other"] == kernels.current().name  # untouched by this thread's use()
    with pytest.raises(ValueError, match="threads"):
        with kernels.use("numpy", threads=0):
            pass
    with pytest.raises(ValueError, match="parallel_flops"):
        with kernels.use("numpy", parallel_flops=-1):
            pass
    with pytest.raises(ValueError, match="product_flops: expected an int >= 0, got -1"):
        with kernels.use("numpy", product_flops=-1):
            pass


def _in_a_fresh_interpreter(code: str, **environment: str) -> subprocess.CompletedProcess:
    """RNNKIT_KERNEL is read once per process: each setting needs its own interpreter."""
    env = dict(os.environ, **environment)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("request_, expected", [("numpy", "numpy"), ("auto", "numba" if HAVE_NUMBA else "numpy"),
                                                ("fortran", "ValueError")])
def test_selection_by_environment(request_, expected):
    code = """
from rnnkit.cells import kernels
try:
    print(kernels.active(), kernels.describe())
except ValueError as error:
    print("ValueError", error)
with kernels.use("numpy"):  # use() wins over the environment
    print(kernels.active())
"""
    done = _in_a_fresh_interpreter(code, RNNKIT_KERNEL=request_)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.strip().splitlines()
    assert first.split()[0] == expected, first
    said = f"got '{request_}'" if expected == "ValueError" else f"RNNKIT_KERNEL={request_}"
    assert said in first and second == "numpy", first


@pytest.mark.parametrize("threads, blas, expected", [("3", "", "3"), ("", "1", "cores"), ("", "", "cores"),
                                                     ("", "4", "cores"), ("zero", "", "ValueError"),
                                                     ("0", "", "ValueError")])
def test_threads_by_environment(threads, blas, expected):
    """RNNKIT_NUM_THREADS, else every core (whatever the BLAS is told)."""
    code = """
import os
from rnnkit.cells import kernels
try:
    print(kernels.current().threads, len(os.sched_getaffinity(0)))
except ValueError as error:
    print("ValueError", error)
"""
    environment = {name: blas for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    done = _in_a_fresh_interpreter(code, RNNKIT_NUM_THREADS=threads, RNNKIT_KERNEL="numpy", **environment)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.split(maxsplit=1)
    if expected == "ValueError":
        assert first == "ValueError" and f"RNNKIT_NUM_THREADS: expected a positive integer, got {threads!r}" in second
    else:
        assert first == (second.strip() if expected == "cores" else expected)


@pytest.mark.parametrize("request_", ["auto", "numba"])
def test_without_numba_auto_falls_back_and_numba_is_refused(request_):
    """A fresh interpreter where numba cannot be imported."""
    code = """
import sys
sys.modules["numba"] = None  # import numba -> ImportError
from rnnkit.cells import kernels
try:
    print(kernels.active())
except ImportError as error:
    print("ImportError", error)
"""
    done = _in_a_fresh_interpreter(code, RNNKIT_KERNEL=request_)
    assert done.returncode == 0, done.stderr
    if request_ == "auto":
        assert done.stdout.strip() == "numpy"
    else:
        assert done.stdout.startswith("ImportError RNNKIT_KERNEL=numba: numba is not importable"), done.stdout


def test_cell_functions_keep_xw_unless_told():
    """The cells' own entry points (not only the driver) must not clobber the caller's xw."""
    rng = np.random.default_rng(5)
    H = 4
    for kernel in ["numpy"] + (["numba"] if HAVE_NUMBA else []):
        with kernels.use(kernel):
            xw = rng.normal(size=(5, 2, 4 * H))
            before = xw.copy()
            lstm.forward(xw, (np.zeros((2, H)), np.zeros((2, H))), lstm.Params(rng.normal(size=(4 * H, H))))
            np.testing.assert_array_equal(xw, before)
            xw3 = rng.normal(size=(5, 2, 3 * H))
            before = xw3.copy()
            gru.forward(xw3, (np.zeros((2, H)),), gru.Params(rng.normal(size=(3 * H, H)), np.zeros(H)))
            np.testing.assert_array_equal(xw3, before)


def test_the_default_install_runs_the_compiled_kernels():
    """numba is a run-time dependency: a fresh process with no setting runs nn.LSTM on the numba kernels."""
    import importlib.metadata

    requires = importlib.metadata.requires("rnnkit") or []
    assert any(r.split(";")[0].replace(" ", "").startswith("numba") and "extra" not in r for r in requires)
    env = {k: v for k, v in os.environ.items() if k != kernels.ENV}
    code = ("import rnnkit\nfrom rnnkit.cells import activations, kernels\n"
            "print(kernels.current().name, kernels.select('LSTM', activations.get('tanh'), activations.get('sigmoid')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split() == ["numba", "numba"]


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M,K,N", [(37, 13, 50), (130, 300, 96), (8, 64, 64), (1, 5, 3), (3, 1100, 64), (1, 40, 96)])
@pytest.mark.parametrize("layout", ["C", "strided", "F"])
@pytest.mark.parametrize("b_layout", ["C", "F"])
def test_matmul_on_the_loops_pool_equals_numpy(dtype, M, K, N, layout, b_layout):
    """kernels.matmul with threaded loops runs the packed kernel (panels read in place or copied,
    partial panels, W's rows for a few rows by W^T, any strides of a and b, with and without
    bias): NumPy's product within rounding."""
    rng = np.random.default_rng(7)
    a = rng.normal(size=(M, K)).astype(dtype)
    a = {"C": a, "strided": np.repeat(a, 2, axis=1)[:, ::2], "F": np.asfortranarray(a)}[layout]  # F: a transposed view
    b, bias = rng.normal(size=(K, N)).astype(dtype), rng.normal(size=N).astype(dtype)
    b = b if b_layout == "C" else np.asfortranarray(b)  # F: b = W^T, W's rows contiguous
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for threads in (2, 1):
        with kernels.use("numba", threads=threads, parallel_flops=0, product_flops=0):
            for bias_ in (None, bias):
                out = kernels.matmul(a, b, bias_)
                assert out.dtype == dtype and out.shape == (M, N)
                np.testing.assert_allclose(out, a @ b + (0 if bias_ is None else bias_), **tol)
    # panels copied a part of the terms at a time (the first part adds the bias, the next ones out)
    big = rng.normal(size=(2 * kernels.VIEW_BYTES // (32 * b.itemsize) + 5, 32)).astype(dtype)  # 3 parts
    a_big = rng.normal(size=(M, big.shape[0])).astype(dtype)
    a_big = {"C": a_big, "strided": np.repeat(a_big, 2, axis=1)[:, ::2], "F": np.asfortranarray(a_big)}[layout]
    bias_big = rng.normal(size=32).astype(dtype)
    for threads in (2, 1):
        with kernels.use("numba", threads=threads, parallel_flops=0, product_flops=0):
            np.testing.assert_allclose(kernels.matmul(a_big, big, bias_big), a_big @ big + bias_big,
                                       rtol=tol["rtol"], atol=tol["atol"] * 100)



@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_layout,N,big", [("columns", "copied", False), ("columns", "in place", False),
                                           ("rows", "wide", False), ("rows", "wide", True)])
def test_matmul_blocks_by_layout_and_size_equal_numpy(dtype, x_layout, N, big):
    """The packed kernel's blocks (_blocks): x read by columns (dz^T) copied into rows block by
    block for an out of COPY_COLUMNS or more, read in place for a narrower one; x's rows
    contiguous, by CACHED_ROW_BLOCK rows where the panels fit PANELS_IN_CACHE, by ROW_BLOCK
    where they do not. Blocks cut at uneven rows and terms, a part panel: NumPy's product
    within rounding, on one thread and two, through the kernel and through kernels.matmul
    (which packs in parts); the block copy alone equals its block exactly."""
    from rnnkit.cells import _numba as K

    rng = np.random.default_rng(9)
    M = K.ROW_BLOCK + 45
    N = {"copied": K.COPY_COLUMNS + 40, "in place": K.COPY_COLUMNS // 2 + 40, "wide": K.COPY_COLUMNS + 40}[N]
    C = K.panel_width(dtype)
    panel_bytes = -(-N // C) * C * np.dtype(dtype).itemsize  # bytes of panels per term
    T = K.PANELS_IN_CACHE // panel_bytes + 19 if big else K.K_BLOCK + 2 * K.COPY_TILE + 3
    x = rng.normal(size=(T, M) if x_layout == "columns" else (M, T)).astype(dtype)
    x = x.T if x_layout == "columns" else x  # (M, T)
    h = rng.normal(size=(T, N)).astype(dtype)
    Wp = K.pack(h.T)  # (P, T, C) whole: kernels.matmul packs it in parts
    expected = {("columns", True): (K.ROW_BLOCK, K.K_BLOCK, True),
                ("columns", False): (K.ROW_BLOCK, K.COLUMN_TERMS, False),
                ("rows", True): (K.ROW_BLOCK, K.K_BLOCK, False),
                ("rows", False): (K.CACHED_ROW_BLOCK, K.K_BLOCK, False)}
    key = (x_layout, N >= K.COPY_COLUMNS) if x_layout == "columns" else (x_layout, big)
    assert K._blocks(x, Wp, N) == expected[key]
    assert (Wp.nbytes > K.PANELS_IN_CACHE) == big
    tol = dict(rtol=1e-4, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-11)
    for threads in (2, 1):
        out = np.full((M, N), np.nan, dtype)
        if threads == 1:
            K.matmul(x, Wp, np.empty((0, N), dtype), out)
        else:
            K.matmul_mt(x, Wp, np.empty((0, N), dtype), out, threads)
        np.testing.assert_allclose(out, x @ h, **tol)
        with kernels.use("numba", threads=threads, parallel_flops=0, product_flops=0):
            np.testing.assert_allclose(kernels.matmul(x, h), x @ h, **tol)
    if x_layout == "columns":
        block = np.zeros((K.ROW_BLOCK, K.K_BLOCK), dtype)
        xb = x[3:3 + K.ROW_BLOCK - 5, 7:7 + K.K_BLOCK - 3]  # (R, S), R and S not multiples of COPY_TILE
        rows = K._rows_of_block(xb, block)
        assert rows.shape == xb.shape and np.shares_memory(rows, block)  # a view of the block: its first R rows, S terms
        np.testing.assert_array_equal(rows, xb)
        np.testing.assert_array_equal(block[:xb.shape[0], :xb.shape[1]], xb)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
def test_one_thread_matmul_takes_the_packed_kernel_beside_a_one_thread_blas(monkeypatch):
    """On one thread, a product whose flops lie in ONE_THREAD_FLOPS runs on the packed kernel
    when the BLAS has one thread too (where that measured faster than OpenBLAS on one core);
    a smaller or larger one, one beside a multi-threaded BLAS, or one whose left operand is read
    by columns (dz^T of a weight gradient, where OpenBLAS measured faster) is NumPy's. Every
    answer equals NumPy's product within rounding."""
    from rnnkit.cells import _numba as K

    lo, hi = kernels.ONE_THREAD_FLOPS
    assert lo <= 2 * 1600 * 128 * 1024 < hi and 2 * 100 * 64 * 512 < lo  # LSTM 16, 128, 256 in; 1, 64, 128 out
    calls = []
    packed = K.matmul
    monkeypatch.setattr(K, "matmul", lambda *args: calls.append(args[0].shape) or packed(*args))
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(64, 48)).astype(np.float32), rng.normal(size=(48, 96)).astype(np.float32)
    flops = 2 * 64 * 48 * 96
    for blas_threads, window, expected in ((1, (flops, flops + 1), 1), (1, (flops + 1, hi), 0),
                                           (1, (lo, flops), 0), (2, (flops, flops + 1), 0)):
        calls.clear()
        monkeypatch.setattr(kernels, "ONE_THREAD_FLOPS", window)
        with kernels.use("numba", threads=1, blas_threads=blas_threads):
            np.testing.assert_allclose(kernels.matmul(a, b), a @ b, rtol=1e-4, atol=1e-4)
        assert len(calls) == expected, (blas_threads, window, calls)
    calls.clear()
    monkeypatch.setattr(kernels, "ONE_THREAD_FLOPS", (flops, flops + 1))
    aT = np.asfortranarray(a)  # the same (64, 48) values, read by columns
    with kernels.use("numba", threads=1, blas_threads=1):
        np.testing.assert_allclose(kernels.matmul(aT, b), a @ b, rtol=1e-4, atol=1e-4)
    assert calls == []


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
def test_linear_and_matmul_ops_on_the_loops_pool_match_torch():
    """nn.Linear and 2-D matmul, forward and every gradient, with their products on the loops' pool."""
    torch = pytest.importorskip("torch")
    import rnnkit

    rng = np.random.default_rng(8)
    x, W, bias, m = (rng.normal(size=s).astype(np.float32) for s in ((3, 7, 40), (24, 40), (24,), (24, 9)))
    tx, tW, tb, tm = (torch.tensor(a, requires_grad=True) for a in (x, W, bias, m))
    (torch.nn.functional.linear(tx, tW, tb) @ tm).square().sum().backward()
    with kernels.use("numba", threads=2, parallel_flops=0, product_flops=0):
        rx, rW, rb, rm = (rnnkit.tensor(a, requires_grad=True) for a in (x, W, bias, m))
        y = rnnkit.nn.functional.linear(rx, rW, rb) @ rm
        y.square().sum().backward()
    for ours, theirs in ((rx, tx), (rW, tW), (rb, tb), (rm, tm)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=2e-4, atol=2e-4)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("need_grad", [True, False])
@pytest.mark.parametrize("B, lengths", [(5, None), (13, None), (13, [9, 3, 9, 1, 7, 9, 9, 2, 9, 5, 9, 9, 4])])
def test_threads_splitting_whole_panels_of_units_match_numpy(mode, dtype, need_grad, B, lengths):
    """H = 64: every gate block is whole panels (float32: 2 of 32 columns, float64: 4 of 16), so
    at B = 5 each thread computes its own units' gate columns in one parallel region per step;
    at B = 13 (ROW_SPLIT rows a thread and more) each thread runs every unit of its own rows
    (4 and 9), with or without lengths (masked rows). Forward and every gradient equal the
    NumPy reference."""
    from rnnkit.cells import _numba as K

    assert (B >= K.ROW_SPLIT * 2) == (B == 13)
    rng = np.random.default_rng(11)
    x, h0, c0, w = random_case(mode, rng, T=9, B=B, I=6, H=64, scale=0.3)
    cast = lambda a: None if a is None else a.astype(dtype)  # noqa: E731
    x, h0, c0, w = cast(x), cast(h0), cast(c0), tuple(map(cast, w))
    g = rng.normal(size=(9, B, 64)).astype(dtype)
    lengths = None if lengths is None else np.array(lengths)
    results = []
    for name, settings in (("numpy", {}), ("numba", dict(threads=2, parallel_flops=0, product_flops=0, pack_steps=1))):
        with kernels.use(name, **settings):
            out, h_n, c_n, cache = scan_forward(mode, x, h0, c0, [w], need_grad=need_grad, lengths=lengths)
            grads = scan.backward(g, None, None, cache)[:2] + tuple(scan.backward(g, None, None, cache)[3][0][:4]) \
                if need_grad else ()
        results.append((out, h_n, *grads))
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for ours, reference in zip(*results):
        np.testing.assert_allclose(ours, reference, **tol)


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
def test_packed_kernel_at_256_bit_vectors_on_a_target_without_avx512(tmp_path):
    """The tile takes the vectors and registers of numba's target CPU (_numba.VECTOR_BYTES):
    compiled for a target without AVX-512 (NUMBA_CPU_NAME=haswell, its own cache), the kernel
    runs at 256 bits with 16 vector registers, so 6-row tiles of two vectors (panels of 64
    bytes: 12 accumulators, two weight vectors and a broadcast), and its products equal
    NumPy's, every row tile left over (37 to 41 rows: 1 to 5 rows past whole tiles; N = 101: a
    part panel), in float32. The machine's own width is what every other test runs, in both
    precisions."""
    import llvmlite.binding as ll

    if not ll.get_host_cpu_features().get("avx2"):
        pytest.skip("the host cannot run code compiled for haswell (no AVX2)")
    code = """
import numpy as np
from rnnkit.cells import _numba as K
rng = np.random.default_rng(0)
worst = 0.0
for dtype in (np.float32,):  # one precision: each compiles the kernel again (seconds of the suite)
    for M in (37, 38, 39, 40, 41):
        x, W = rng.normal(size=(M, 70)).astype(dtype), rng.normal(size=(101, 70)).astype(dtype)
        out = np.empty((M, 101), dtype)
        K.matmul(x, K.pack(W), np.zeros((0, 101), dtype), out)
        worst = max(worst, float(np.abs(out - x @ W.T).max() / np.abs(x @ W.T).max()))
print(K.VECTOR_BYTES, K.PANEL_BYTES, K.panel_width(np.float32), K.TILE_ROWS, worst)
"""
    done = _in_a_fresh_interpreter(code, NUMBA_CPU_NAME="haswell", NUMBA_CACHE_DIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    vector, panel, columns, rows, worst = done.stdout.split()
    assert (int(vector), int(panel), int(columns), int(rows)) == (32, 64, 16, 6)
    assert float(worst) < 1e-5


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "transposed view", "strided", "strided transposed view"])
def test_pack_lays_out_panels_by_their_definition(dtype, order):
    """pack(W)[p, k, j] = W[p C + j, k], zero past N, whatever W's strides (the backward packs the
    transposed view W_hh^T), on one thread and on several (pack(W, threads)): compared element
    by element with the definition; the panels start on a cache line (the tile loads whole vectors)."""
    from rnnkit.cells import _numba

    rng = np.random.default_rng(3)
    for N, K in ((70, 9), (64, 33), (1, 1), (200, 37)):
        W = rng.normal(size=(N, K)).astype(dtype)
        W = {"C": W, "transposed view": np.ascontiguousarray(W.T).T, "strided": np.repeat(W, 2, axis=0)[::2],
             "strided transposed view": np.repeat(W.T, 2, axis=0)[::2].T}[order]
        C = _numba.panel_width(dtype)
        expected = np.zeros((-(-N // C), K, C), dtype)
        for n in range(N):
            expected[n // C, :, n % C] = W[n]
        for threads in (1, 2, 3):  # each thread a share of the panels (fewer panels than threads: one)
            Wp = _numba.pack(W, threads)
            assert Wp.dtype == dtype and Wp.flags.c_contiguous and Wp.ctypes.data % _numba.LINE == 0  # on a line
            np.testing.assert_array_equal(Wp, expected)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_loops_buffers_start_on_a_cache_line(dtype):
    """The buffers that a loop's threads write side by side (hs, cs, Z, the products' outputs)
    start on a 64-byte line, so that two threads' columns never share one where a row is a
    whole number of lines; the values are those NumPy computes."""
    from rnnkit.cells import _numba as K

    like = np.zeros(1, dtype)
    for shape in ((3,), (101, 16, 128), (0, 5), (7, 3)):
        for _ in range(4):  # several allocations: each one's own start
            a = K.empty_lines(shape, like)
            assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
            assert a.ctypes.data % K.LINE == 0
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(40, 24)).astype(dtype), rng.normal(size=(24, 64)).astype(dtype)
    with kernels.use("numba", threads=2, parallel_flops=0, product_flops=0):
        out = kernels.matmul(a, b)
        G = rng.normal(size=(6, 4, 4 * 32)).astype(dtype)
        hs, cs = kernels.lstm_forward(G.copy(), np.zeros((4, 32), dtype), np.zeros((4, 32), dtype),
                                      rng.normal(size=(128, 32)).astype(dtype), None)
    assert out.ctypes.data % K.LINE == 0 and hs.ctypes.data % K.LINE == 0 and cs.ctypes.data % K.LINE == 0
    np.testing.assert_allclose(out, a @ b, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("pool", [2, 1])
@pytest.mark.parametrize("B", [5, 13])
def test_threaded_loops_equal_one_thread_whether_or_not_the_team_forms(pool, B):
    """The threaded loops run one parallel region. At B = 5 its threads split the units and meet
    at a barrier each step: with numba's pool at 2 they work as a team; at 1 the two parts run
    one after the other, so the first runs the whole loop alone and the second leaves (no
    deadlock). At B = 13 they split the rows (whole row tiles: 4 and 9 with the 4-row tile of
    AVX-512, 6 and 7 with the 6-row tile of AVX2) and never meet. Either
    way every output equals the one-thread loop's, bit for bit (the same products and gate
    math per element)."""
    import numba

    from rnnkit.cells import _numba as K

    rng = np.random.default_rng(12)
    T, H = 7, 64
    f = np.float32
    W = K.pack(rng.normal(size=(4 * H, H)).astype(f) * 0.2)  # (P, H, C) W_hh panels
    W_T = K.pack(np.ascontiguousarray(rng.normal(size=(H, 4 * H)).astype(f) * 0.2))  # panels of W_hh^T
    none = (np.empty((T, B, 0), f), K.pack(np.empty((4 * H, 0), f)), np.empty((1, 0), f))
    xw = rng.normal(size=(T, B, 4 * H)).astype(f)
    dhs = rng.normal(size=(T, B, H)).astype(f)
    keep = np.ones((T, B), np.bool_)
    previous = numba.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(pool if threads == 2 else previous)
            G, hs, cs = xw.copy(), np.zeros((T + 1, B, H), f), np.zeros((T + 1, B, H), f)
            Z = np.empty((B, 4 * H), f)
            dh, carry, dc = np.zeros((B, H), f), np.zeros((B, H), f), np.zeros((B, H), f)
            if threads == 1:
                K.lstm_fwd_loop(G, W, hs, cs, keep, False, Z, *none, False, 0, B)
                K.lstm_bwd_loop(G, W_T, cs, dhs, True, dh, carry, dc, keep, False, 0, B)
            else:
                K.lstm_fwd_loop_mt(G, W, hs, cs, keep, False, Z, *none, False, 2)
                K.lstm_bwd_loop_mt(G, W_T, cs, dhs, True, dh, carry, dc, keep, False, 2)
            results.append((hs, cs, G, dh, dc))
    finally:
        numba.set_num_threads(previous)
    for ours, reference in zip(*results):
        np.testing.assert_array_equal(ours, reference)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
def test_a_team_loop_never_waits_for_a_thread_that_does_not_come():
    """The join protocol of the threaded loops, one thread at a time: the parts of a team of 2
    split the units once both have joined; a thread that waits alone for its partner in vain
    (the pool ran the two parts one after the other) runs the whole loop, and the late one leaves."""
    from rnnkit.cells import _numba as K

    H = 64
    alone = np.zeros(3, np.int64)
    assert K._part(alone, 2, 0, H, 8) == (K.ALONE, 0, H)  # waits JOIN_SPINS, then takes it all
    assert K._part(alone, 2, 1, H, 8) == (K.LEAVE, 0, 0)
    team = np.zeros(3, np.int64)
    team[0] = 1  # the partner has joined and is waiting
    assert K._part(team, 2, 1, H, 8) == (K.SHARE, 32, 64)
    assert team[1] == K.SHARE
    K._barrier(team, 1, 1)  # one arrival completes a barrier of a team of 1
    assert team[2] == 1


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
def test_a_loop_takes_threads_by_its_work_and_its_panels():
    """From PARALLEL_FLOPS a step a loop whose gate blocks are whole panels runs as a team; one
    whose hidden size cuts a panel (two forks a step) needs PRODUCT_FLOPS."""
    team = min(2, kernels._numba_pool()) if kernels._parallel_layer() else 1
    f32 = np.float32
    with kernels.use("numba", threads=2):
        assert kernels._threads_for(1, np.zeros((4 * 128, 128), f32)) == team  # 131,072 flops a step
        assert kernels._threads_for(1, np.zeros((4 * 64, 64), f32)) == 1  # 32,768
        assert kernels._threads_for(32, np.zeros((4 * 20, 20), f32)) == 1  # 102,400, H = 20 cuts a panel
        assert kernels._threads_for(128, np.zeros((4 * 48, 48), f32)) == team  # 2.4 M, H = 48 cuts one too
    with kernels.use("numba", threads=1):
        assert kernels._threads_for(64, np.zeros((4 * 512, 512), f32)) == 1
