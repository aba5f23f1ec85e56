"""Helpers of the float64 parity tests against torch (test_losses.py, test_nn_layers.py)."""

from __future__ import annotations

import numpy as np

import rnnkit

TOL = 1e-10  # float64 end to end: agreement to rounding


def close(ours, ref, tol=TOL):
    """Assert that ``ours`` (rnnkit Tensor or array) equals ``ref`` (torch tensor or array) in shape and value."""
    ours = ours.data if isinstance(ours, rnnkit.Tensor) else np.asarray(ours)
    ref = ref.detach().numpy() if hasattr(ref, "detach") else np.asarray(ref)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol)
