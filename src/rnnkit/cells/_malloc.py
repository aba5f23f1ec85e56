"""glibc's malloc, set for arrays that come and go at every training step.

A training step allocates and frees the same large arrays each time: the gate buffer (T, B, G*H),
the states, the packed panels, every gradient. With glibc's defaults a block from 128 KiB is
mapped fresh from the kernel (its adaptive threshold climbs only to the largest block freed so
far), and the heap hands freed memory back as soon as 128 KiB (or twice the threshold) lies
free at its top; either way the next step faults every page in again, one 4 KiB page at a time,
and on several threads the faults queue on one lock. Measured here (2 cores, the char model's
training step, ``benchmarks/bench.py``'s): 6,022 page faults and 16 ms of system time a step
with the defaults, 1 fault and 0.1 ms with :data:`MMAP_THRESHOLD` and :data:`TRIM_THRESHOLD`;
46.1 -> 39.8 ms a step (six alternated processes, best of 25 steps each).

Blocks above glibc's largest mmap threshold (32 MiB) are mapped fresh whatever the threshold,
and unmapped on free: the gate buffers of the larger layers (64, 256, 512 and up: 52 MiB and
more). Their pages were faulted in again at every step, and after another process had used the
memory (the benchmark's torch worker, between rnnkit's blocks) the first step spent 0.67-0.78 s
of system time doing it: LSTM 128, 512, 1024 training on two threads, driven through the
benchmark's own workers, 3.28 s against 2.67-2.94 for the steps after it. With no block mapped,
the same steps fault 0-1 pages and spend no system time: 2.34-2.60 s, torch's 2.53-2.62.

So the first recurrent call (:func:`rnnkit.cells.kernels.current`) sets three of malloc's
parameters, once per process: it maps no block on its own (:data:`MMAP_MAX`), so blocks of
every size come from the heap, and the heap keeps up to 256 MiB free at its top for the next
step (:data:`TRIM_THRESHOLD`); :data:`MMAP_THRESHOLD` (32 MiB, set first) decides only which
blocks would be mapped, none while MMAP_MAX is 0. The cost is that memory freed by a step stays
with the process (up to 256 MiB at the top of the heap, and any free block below a live one
until it is used again: a 2-layer LSTM 64, 256, 512 training loop holds 465 MiB from its
second step on, against 310-360 with glibc's defaults), as with the caching allocators of the
large frameworks. It is left alone:

* where the user has set malloc's own environment (``MALLOC_MMAP_THRESHOLD_``,
  ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_``, ``MALLOC_MMAP_MAX_``, or ``GLIBC_TUNABLES`` with
  ``glibc.malloc``);
* with ``RNNKIT_MALLOC=system``;
* where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import os
from typing import Callable, Mapping

__all__ = ["ENV", "MMAP_MAX", "MMAP_THRESHOLD", "TRIM_THRESHOLD", "tune"]

ENV = "RNNKIT_MALLOC"  # environment variable: 'steps' (default: keep memory between steps) or 'system'
MMAP_THRESHOLD = 32 * 2**20  # bytes from which a block is mapped on its own (and unmapped on free): glibc's largest
TRIM_THRESHOLD = 256 * 2**20  # free bytes the heap keeps at its top before it returns memory to the kernel
MMAP_MAX = 0  # blocks malloc may map on their own at once: none, so that blocks above 32 MiB come from the heap too
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4  # mallopt's parameter numbers (malloc.h)
_USERS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def _glibc_mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt``, or None where the C library is another."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
    except (AttributeError, ValueError, OSError):  # no confstr, or no such name: not glibc
        return None
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt


def tune(environ: Mapping[str, str] = os.environ,
         mallopt: Callable[[int, int], int] | None | str = "glibc") -> str:
    """Set glibc's malloc for recurring steps (all three settings), unless the environment says otherwise.

    Args:
        environ: the environment to read (``RNNKIT_MALLOC``, malloc's own variables).
        mallopt: the C function to call; ``"glibc"``: this process's, None: there is none.

    Returns:
        What was done, for reports: ``'steps'`` (set), ``'user'`` (malloc's own environment
        set), ``'system'`` (``RNNKIT_MALLOC=system``) or ``'not glibc'``.

    Raises:
        ValueError: ``RNNKIT_MALLOC`` is neither ``steps`` nor ``system``.

    Example:
        >>> calls = []
        >>> tune({"RNNKIT_MALLOC": "steps"}, lambda option, value: calls.append((option, value)) or 1)
        'steps'
        >>> calls == [(-3, MMAP_THRESHOLD), (-1, TRIM_THRESHOLD), (-4, MMAP_MAX)]
        True
    """
    choice = environ.get(ENV, "steps").strip().lower() or "steps"
    if choice not in ("steps", "system"):
        raise ValueError(f"{ENV}: expected 'steps' or 'system', got {environ.get(ENV)!r}")
    if choice == "system":
        return "system"
    if any(name in environ for name in _USERS) or "glibc.malloc" in environ.get("GLIBC_TUNABLES", ""):
        return "user"
    if mallopt == "glibc":
        mallopt = _glibc_mallopt()
    if mallopt is None:
        return "not glibc"
    if not (mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
            and mallopt(_M_MMAP_MAX, MMAP_MAX)):
        return "not glibc"  # refused: a C library that has mallopt but not these parameters
    return "steps"
