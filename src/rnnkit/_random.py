"""The global random generator behind initialisation, dropout and sampling, and the one dropout mask.

Example:
    >>> import numpy as np
    >>> from rnnkit._random import dropout_mask
    >>> dropout_mask(np.random.default_rng(0), (2, 4), 0.5, np.float32)
    array([[2., 2., 2., 0.],
           [0., 0., 0., 0.]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "generator", "get_rng_state", "set_rng_state", "dropout_mask"]

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator, as ``torch.manual_seed``; returns it."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed(seed): expected an int, got {type(seed).__name__}")
    _generator = np.random.default_rng(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
    return _generator


def generator() -> np.random.Generator:
    """The generator that rnnkit draws from."""
    return _generator


def get_rng_state() -> dict:
    """The global generator's state as a JSON-able dict (for checkpoints)."""
    return _generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state from :func:`get_rng_state`."""
    _generator.bit_generator.state = state


def dropout_mask(rng: np.random.Generator, shape: tuple[int, ...], p: float, dtype) -> np.ndarray:
    """The inverted-dropout mask every dropout of both dialects multiplies by.

    ``mask = (u >= p) / (1 - p)`` with u ~ U[0, 1) drawn in ``dtype`` (float32 or float64;
    other dtypes draw in float64), so an element is kept with probability 1 - p and the
    mask's expectation is 1; ``p = 1`` gives zeros. PyTorch's ``F.dropout``, its RNN's
    between-layer dropout and Keras's ``Dropout`` and recurrent ``dropout`` /
    ``recurrent_dropout`` are all this (with their own generators).

    Args:
        rng: the generator to draw from (:func:`generator`, or a layer's own seeded one).
        shape: of the mask. p: the drop probability in [0, 1]. dtype: of the mask.

    Returns:
        (*shape) array of ``dtype``: 0 or 1 / (1 - p).
    """
    dtype = np.dtype(dtype)
    draws = rng.random(shape, dtype=dtype if dtype in (np.float32, np.float64) else np.float64)
    if p >= 1:
        return np.zeros(shape, dtype)
    keep = draws >= p  # (*shape) True with probability 1 - p
    return keep.astype(dtype) * dtype.type(1 / (1 - p))
