"""``rnnkit.Generator``: a seeded random stream to pass as ``generator=``, as ``torch.Generator``.

Without ``generator=``, functions draw from the global generator that :func:`rnnkit.manual_seed`
reseeds. rnnkit's streams are NumPy's PCG64, so the numbers differ from torch's for the same seed.

Example:
    >>> import rnnkit
    >>> g = rnnkit.Generator().manual_seed(0)
    >>> a = rnnkit.rand(3, generator=g)
    >>> b = rnnkit.rand(3, generator=rnnkit.Generator().manual_seed(0))
    >>> bool((a == b).all())
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit._dtype import to_device
from rnnkit._random import generator as _global_generator

__all__ = ["Generator", "numpy_generator"]


class Generator:
    """A random number generator of its own.

    Args:
        device: ``"cpu"`` (the only device).
    """

    def __init__(self, device: Any = "cpu"):
        self.device = to_device(device, "Generator(device)")
        self._seed = int(np.random.SeedSequence().entropy) & 0xFFFF_FFFF_FFFF_FFFF
        self._rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed: int) -> Generator:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"manual_seed(seed): expected an int, got {type(seed).__name__}")
        self._seed = int(seed) & 0xFFFF_FFFF_FFFF_FFFF
        self._rng = np.random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        """Reseed from fresh entropy; returns the new seed."""
        self.manual_seed(int(np.random.SeedSequence().entropy) & 0xFFFF_FFFF_FFFF_FFFF)
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        return self._rng.bit_generator.state

    def set_state(self, state: dict) -> Generator:
        self._rng.bit_generator.state = state
        return self


def numpy_generator(generator: Generator | None) -> np.random.Generator:
    """The NumPy generator behind ``generator=`` (the global one when None)."""
    if generator is None:
        return _global_generator()
    if not isinstance(generator, Generator):
        raise TypeError(f"generator: expected an rnnkit.Generator or None, got {type(generator).__name__}")
    return generator._rng
