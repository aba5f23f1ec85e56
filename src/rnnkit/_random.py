"""The global random generator behind initialisation, dropout and sampling."""

from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "generator", "get_rng_state", "set_rng_state"]

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
