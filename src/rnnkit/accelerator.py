"""``rnnkit.accelerator``: no accelerator is ever available (rnnkit computes on the CPU), as
``torch.accelerator`` answers on a machine without one.

Example:
    >>> import rnnkit
    >>> rnnkit.accelerator.is_available(), rnnkit.accelerator.device_count()
    (False, 0)
"""

from __future__ import annotations

__all__ = ["is_available", "device_count", "current_accelerator"]


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def current_accelerator(check_available: bool = False) -> None:
    """None: there is no accelerator."""
    return None
