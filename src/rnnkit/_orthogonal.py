"""The orthogonal initialiser both dialects share (``nn.init.orthogonal_``, ``keras.initializers.Orthogonal``).

Saxe et al. (2014): the Q factor of the QR decomposition of a Gaussian matrix, with the signs
fixed by R's diagonal so that the decomposition (and the result) is unique::

    A (m, n), m >= n, A_ij ~ N(0, 1);   A = Q R
    W = gain * Q diag(sign(diag(R)))          (m, n): orthonormal columns
    W = its transpose                         for a wide (n, m) target: orthonormal rows

Each framework draws A in its own order (PyTorch draws the target's (rows, cols) and transposes
a wide one; Keras draws (max, min) directly), so the callers draw and this module orthogonalises.

Example:
    >>> import numpy as np
    >>> w = orthogonal(np.random.default_rng(0).standard_normal((5, 3)), wide=True)
    >>> w.shape, bool(np.allclose(w @ w.T, np.eye(3)))
    ((3, 5), True)
"""

from __future__ import annotations

import numpy as np

__all__ = ["orthogonal"]


def orthogonal(tall: np.ndarray, wide: bool, gain: float = 1.0) -> np.ndarray:
    """``gain * Q`` (or its transpose when ``wide``) of the sign-fixed QR of a tall Gaussian matrix.

    Args:
        tall: (m, n) standard normal draws, m >= n.
        wide: return (n, m) (orthonormal rows) instead of (m, n) (orthonormal columns).
        gain: multiplier.

    Returns:
        (m, n), or (n, m) when ``wide``.
    """
    q, r = np.linalg.qr(tall)  # q (m, n), r (n, n)
    q *= np.sign(np.diag(r))  # unique decomposition: positive diagonal of r
    return gain * (q.T if wide else q)
