"""``keras.utils.Progbar``: a progress line for custom loops, with running means of the values passed.

A value named in ``stateful_metrics`` is shown as given; any other is averaged over the steps seen
(weighted by the steps each update covers), as Keras.

Example:
    >>> bar = Progbar(4, verbose=0)
    >>> bar.update(1, values=[("loss", 1.0)])
    >>> bar.update(3, values=[("loss", 4.0)])
    >>> bar.mean("loss")
    3.0
"""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["Progbar"]


class Progbar:
    """Keras's progress bar.

    Args:
        target: total steps (None when unknown).
        width: characters of the bar.
        verbose: 0 silent, 1 a redrawn line, 2 one line when finished.
        interval: least seconds between redraws.
        stateful_metrics: names of values shown as given instead of averaged.
        unit_name: the unit shown (``step``).
    """

    def __init__(self, target: int | None, width: int = 20, verbose: int = 1, interval: float = 0.05,
                 stateful_metrics: Any = None, unit_name: str = "step"):
        if target is not None and (not isinstance(target, int) or target < 0):
            raise ValueError(f"target: expected a non-negative int or None, got {target!r}")
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
        self.target, self.width, self.verbose, self.interval = target, int(width), verbose, float(interval)
        self.stateful_metrics = set(stateful_metrics or ())
        self.unit_name = unit_name
        self._sums: dict[str, list[float]] = {}  # name -> [weighted sum, weight] (or [value, 1] when stateful)
        self._seen = 0
        self._start = self._last_draw = time.time()

    def mean(self, name: str) -> float:
        """The value shown for ``name``: its running mean (or its last value when stateful)."""
        total, weight = self._sums[name]
        return total / max(weight, 1)

    def update(self, current: int, values: Any = None, finalize: bool | None = None) -> None:
        """Move to step ``current`` with ``values`` (``[(name, value), ...]``); the final update's values are
        shown as given, as Keras."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or []:
            value = float(value)
            if name in self.stateful_metrics or finalize:
                self._sums[name] = [value, 1]
            else:
                steps = max(current - self._seen, 1)
                entry = self._sums.setdefault(name, [0.0, 0])
                entry[0] += value * steps
                entry[1] += steps
        self._seen = current
        now = time.time()
        if self.verbose == 1 and (finalize or now - self._last_draw >= self.interval):
            self._last_draw = now
            sys.stdout.write("\r" + self._line(current, now) + ("\n" if finalize else ""))
            sys.stdout.flush()
        elif self.verbose == 2 and finalize:
            sys.stdout.write(self._line(current, now, bar=False) + "\n")
            sys.stdout.flush()

    def add(self, n: int, values: Any = None) -> None:
        """Advance by ``n`` steps."""
        self.update(self._seen + n, values)

    def _line(self, current: int, now: float, bar: bool = True) -> str:
        if self.target is None:
            head = f"{current:7d}/Unknown"
        else:
            digits = len(str(self.target))
            done = int(self.width * current / max(self.target, 1))
            head = f"{current:{digits}d}/{self.target}" + (
                f" {'━' * done}{' ' * (self.width - done)}" if bar else "")
        elapsed = now - self._start
        per_step = elapsed / max(current, 1)
        metrics = "".join(f" - {name}: {self.mean(name):.4f}" for name in self._sums)
        return f"{head} {elapsed:.0f}s {per_step * 1e3:.0f}ms/{self.unit_name}{metrics}"
