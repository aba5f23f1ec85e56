"""rnnkit.cells._kernels: every kernel passes the same parity matrix, in both of the numba
kernel's regimes (compiled loop, BLAS per step); selection by RNNKIT_KERNEL; float32."""

from __future__ import annotations

import math

import numpy as np
import pytest

import test_cells  # the parity matrix of the cells, re-run below under each kernel
from rnnkit.cells import _kernels, gru, lstm, scan
from test_cells import _torch_single_thread  # noqa: F401  (autouse here too)

try:
    import numba  # noqa: F401

    HAVE_NUMBA = True
except ImportError:
    HAVE_NUMBA = False

# numpy; numba with the whole loop compiled (small batches); numba with BLAS per step (large).
VARIANTS = ["numpy"] + (["numba-loop", "numba-step"] if HAVE_NUMBA else [])


@pytest.fixture(params=VARIANTS)
def kernel(request, monkeypatch):
    name = request.param
    if name != "numpy":
        monkeypatch.setattr(_kernels, "SMALL_BATCH", 10**9 if name == "numba-loop" else 0)
    with _kernels.use(name.split("-")[0]):
        yield name


# The torch parity matrix and the reference-cell matrix of test_cells, once per kernel.
@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("mode,proj", test_cells.PARITY_MODES, ids=[f"{m}-proj{p}" for m, p in test_cells.PARITY_MODES])
@pytest.mark.parametrize("L,bidir,bias,use_lengths,init", test_cells.PARITY_CONFIGS)
def test_parity_with_torch(mode, proj, L, bidir, bias, use_lengths, init):
    test_cells.test_parity_with_torch(mode, proj, L, bidir, bias, use_lengths, init)


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("case", sorted(test_cells.REF_CASES))
def test_fast_path_matches_reference(case):
    test_cells.test_fast_path_matches_reference(case)


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_float32_stays_float32_and_close_to_float64(mode):
    """float32 end to end (the numba kernel's own exp/tanh included) within float32 accuracy."""
    rng = np.random.default_rng(3)
    x, h0, c0, w = test_cells._random_case(mode, rng, T=9, B=6, I=5, H=7, scale=0.8)
    g = rng.normal(size=(9, 6, 7))
    res = {}
    for dtype in (np.float64, np.float32):
        cast = lambda a: None if a is None else a.astype(dtype)  # noqa: E731
        mask = np.arange(9)[:, None] < np.array([9, 4, 9, 1, 7, 9])[None]
        out, h_n, c_n, cache = scan.forward(mode, cast(x), cast(h0), cast(c0), [tuple(map(cast, w))], mask=mask)
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
    x, h0, c0, w = test_cells._random_case(mode, rng)
    with _kernels.use("numba"):
        out, *_, cache = scan.forward(mode, x, h0, c0, [w])
        g = np.ones_like(out)
        first = scan.backward(g, None, None, cache)  # consume=False: the cache stays usable
        again = scan.backward(g, None, None, cache, consume=True)
        np.testing.assert_array_equal(first[0], again[0])
        with pytest.raises(ValueError, match="cache"):
            scan.backward(g, None, None, cache)


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
@pytest.mark.parametrize("T,B,bidir,bias", [(1, 1, False, True), (2, 2, True, False), (1, 3, False, False)])
def test_streaming_inference_matches_the_training_path(mode, T, B, bidir, bias):
    """Tiny inputs without a graph take one compiled call per layer (projection included)."""
    rng = np.random.default_rng(6)
    L, D, I, H = 2, 2 if bidir else 1, 5, 4
    G = scan.MODES[mode]
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
    ref = scan.forward(mode, x, h0, c0, weights, **opts)[:3]
    fast = scan.forward(mode, x, h0, c0, weights, need_grad=False, **opts)[:3]
    for a, b in zip(fast, ref):
        if b is not None:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_kernel_covers_only_the_common_case():
    from rnnkit.cells import activations

    tanh, sig = activations.get("tanh"), activations.get("sigmoid")
    with _kernels.use("numpy"):
        assert not _kernels.fused(tanh, sig, None)
    if HAVE_NUMBA:
        with _kernels.use("numba"):
            assert _kernels.fused(tanh, sig, None)
            assert not _kernels.fused(tanh, sig, np.ones((2, 3)))  # recurrent dropout
            assert not _kernels.fused(tanh, sig, None, W_hr=np.ones((2, 3)))  # projection
            assert not _kernels.fused(tanh, sig, None, reset_after=False)  # the other GRU form
            assert not _kernels.fused(activations.get("relu"), sig, None)


def test_selection_by_environment(monkeypatch):
    monkeypatch.setattr(_kernels, "_chosen", None)
    monkeypatch.setenv(_kernels.ENV, "numpy")
    assert _kernels.active() == "numpy"
    assert "numpy" in _kernels.describe()

    monkeypatch.setattr(_kernels, "_chosen", None)
    monkeypatch.setenv(_kernels.ENV, "fortran")
    with pytest.raises(ValueError, match="RNNKIT_KERNEL.*fortran"):
        _kernels.active()

    monkeypatch.setattr(_kernels, "_chosen", None)
    monkeypatch.setenv(_kernels.ENV, "auto")
    assert _kernels.active() == ("numba" if HAVE_NUMBA else "numpy")


def test_without_numba_auto_falls_back_and_numba_is_refused(monkeypatch):
    def missing():
        raise ImportError("No module named 'numba'")

    monkeypatch.setattr(_kernels, "_import_numba", missing)
    monkeypatch.setattr(_kernels, "_chosen", None)
    monkeypatch.setenv(_kernels.ENV, "auto")
    assert _kernels.active() == "numpy"
    monkeypatch.setattr(_kernels, "_chosen", None)
    monkeypatch.setenv(_kernels.ENV, "numba")
    with pytest.raises(ImportError, match="RNNKIT_KERNEL=numba"):
        _kernels.active()
    monkeypatch.setattr(_kernels, "_chosen", "numpy")  # leave a usable state for the rest of the module


def test_cell_functions_keep_xw_unless_told():
    """The cells' own entry points (not only the driver) must not clobber the caller's xw."""
    rng = np.random.default_rng(5)
    H = 4
    for kernel in ["numpy"] + (["numba"] if HAVE_NUMBA else []):
        with _kernels.use(kernel):
            xw = rng.normal(size=(5, 2, 4 * H))
            before = xw.copy()
            lstm.forward(xw, np.zeros((2, H)), np.zeros((2, H)), rng.normal(size=(4 * H, H)))
            np.testing.assert_array_equal(xw, before)
            xw3 = rng.normal(size=(5, 2, 3 * H))
            before = xw3.copy()
            gru.forward(xw3, np.zeros((2, H)), rng.normal(size=(3 * H, H)), np.zeros(H))
            np.testing.assert_array_equal(xw3, before)
