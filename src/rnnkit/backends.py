"""``rnnkit.backends``: the accelerator back-ends PyTorch programs probe (none is available).

Example:
    >>> import rnnkit
    >>> rnnkit.backends.mps.is_available()
    False
"""

from __future__ import annotations

from types import SimpleNamespace

__all__ = ["mps", "cudnn"]


def _unavailable() -> bool:
    return False


mps = SimpleNamespace(is_available=_unavailable, is_built=_unavailable)
cudnn = SimpleNamespace(is_available=_unavailable, enabled=False, deterministic=False, benchmark=False)
