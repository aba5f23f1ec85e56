"""``rnnkit.cuda``: rnnkit runs on the CPU, so no CUDA device is ever available.

These answer the questions PyTorch programs ask before choosing a device; seeding the
(absent) CUDA generators does nothing, as ``torch.cuda.manual_seed`` does without CUDA.

Example:
    >>> import rnnkit
    >>> rnnkit.cuda.is_available(), rnnkit.cuda.device_count()
    (False, 0)
"""

from __future__ import annotations

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all", "is_bf16_supported", "synchronize"]


def is_available() -> bool:
    """Always False: rnnkit computes on the CPU."""
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """Nothing to seed without CUDA (torch ignores the call in that case too)."""
    int(seed)


def manual_seed_all(seed: int) -> None:
    int(seed)


def is_bf16_supported() -> bool:
    return False


def synchronize(device: object = None) -> None:
    raise RuntimeError("cuda.synchronize: rnnkit runs on the CPU only; there is no CUDA device to wait for")
