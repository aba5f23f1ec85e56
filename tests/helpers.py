"""The test suite's shared helpers (the one module tests import besides rnnkit): float64 parity
assertions and the random recurrent cases of the cell tests."""

from __future__ import annotations

import numpy as np

import rnnkit

TOL = 1e-10  # float64 end to end: agreement to rounding
RNG = np.random.default_rng(0)  # the random projections of check_grad

try:
    import numba  # noqa: F401

    HAVE_NUMBA = True
except ImportError:
    HAVE_NUMBA = False

# numpy; numba with the whole loop compiled (small batches); numba with BLAS per step (large).
KERNEL_VARIANTS = ["numpy"] + (["numba-1", "numba-mt", "numba-blas"] if HAVE_NUMBA else [])


def close(ours, ref, tol=TOL):
    """Assert that ``ours`` (rnnkit Tensor or array) equals ``ref`` (torch tensor or array) in shape and value."""
    ours = ours.detach().numpy() if isinstance(ours, rnnkit.Tensor) else np.asarray(ours)
    ref = ref.detach().numpy() if hasattr(ref, "detach") else np.asarray(ref)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol)


def close_scaled(a, b, what, tol=TOL):
    """Assert max |a - b| <= tol * max(1, max |b|), naming ``what``."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    err = np.max(np.abs(a - b)) if a.size else 0.0
    assert err <= tol * max(1.0, np.max(np.abs(b)) if b.size else 1.0), f"{what}: max abs diff {err:.3e}"


def random_case(mode, rng, T=6, B=3, I=4, H=5, proj=0, bias=True, scale=0.5):
    """(x, h0, c0, weights) of one layer and direction of ``mode`` in float64, PyTorch's layout."""
    from rnnkit.cells import scan

    G = scan.CELLS[mode].gates
    P = proj or H
    w = [rng.normal(0, scale, (G * H, I)), rng.normal(0, scale, (G * H, P))]
    w += [rng.normal(0, scale, G * H), rng.normal(0, scale, G * H)] if bias else [None, None]
    w.append(rng.normal(0, scale, (P, H)) if proj else None)
    x = rng.normal(size=(T, B, I))
    h0 = rng.normal(size=(1, B, P))
    c0 = rng.normal(size=(1, B, H)) if mode == "LSTM" else None
    return x, h0, c0, tuple(w)


def scan_forward(mode, x, h0, c0, weights, **options):
    """``rnnkit.cells.scan.forward`` with its Options spelled as keywords."""
    from rnnkit.cells import scan

    return scan.forward(mode, x, h0, c0, weights, scan.Options(**options))


def check_grad(fn, *arrays, eps=1e-6, rtol=1e-6, atol=1e-8):
    """Assert that backward through ``fn`` equals central differences of <fn(x), R> for a random R.

    ``fn`` receives Tensors and returns a Tensor (or a tuple/list of Tensors, which are all checked).
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    tensors = [rnnkit.tensor(a, requires_grad=True) for a in arrays]

    def outputs(ts):
        out = fn(*ts)
        return list(out) if isinstance(out, (tuple, list)) else [out]

    outs = outputs(tensors)
    weights = [RNG.standard_normal(o.shape) for o in outs]
    assert all(o.dtype == np.float64 for o in outs)
    total = sum((o * rnnkit.Tensor(w)).sum() for o, w in zip(outs, weights))
    total.backward()

    def objective(values):
        with rnnkit.no_grad():
            return sum(float((o.detach().numpy() * w).sum()) for o, w in zip(outputs([rnnkit.Tensor(v) for v in values]), weights))

    for i, a in enumerate(arrays):
        numeric = np.zeros_like(a)
        for j in np.ndindex(a.shape):
            plus = [v.copy() for v in arrays]
            minus = [v.copy() for v in arrays]
            plus[i][j] += eps
            minus[i][j] -= eps
            numeric[j] = (objective(plus) - objective(minus)) / (2 * eps)
        assert tensors[i].grad is not None, f"input {i} got no gradient"
        assert tensors[i].grad.shape == a.shape
        np.testing.assert_allclose(tensors[i].grad, numeric, rtol=rtol, atol=atol, err_msg=f"input {i}")


def to_numpy(value):
    """A reference framework's tensor (torch, Keras on torch) or an array-like as a NumPy array."""
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
