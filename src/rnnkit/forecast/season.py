"""Seasonal period detection from the autocorrelation function.

The series is detrended (a least-squares line removed) and its autocorrelation computed up
to half its length. When the frequency is known, the calendar periods it has (24 and 168
for hourly, 7 and 365 for daily, 52 for weekly, 12 for monthly, 4 for quarterly) are tried
first: the first whose autocorrelation peaks within 5% of it (a local maximum above
``threshold`` that rises at least 0.1 above the lowest autocorrelation before it) is the
season. Otherwise (or when none qualifies) the season is the first local peak whose autocorrelation
is within 90% of the highest such peak (the first, so that a multiple of the
period is not chosen); 1 when there is none.

Example:
    >>> import numpy as np
    >>> t = np.arange(240)
    >>> detect_season(np.sin(2 * np.pi * t / 12) + 0.01 * t)
    12
    >>> detect_season(np.random.default_rng(0).normal(size=200))
    1
"""

from __future__ import annotations

import numpy as np

__all__ = ["autocorrelation", "detect_season", "CALENDAR_PERIODS"]

CALENDAR_PERIODS = {"h": (24, 168), "min": (60, 1440), "D": (7, 365), "B": (5, 260), "W": (52,), "M": (12,),
                    "Q": (4,)}


def autocorrelation(y: np.ndarray, max_lag: int) -> np.ndarray:
    """The autocorrelation of linearly detrended ``y`` at lags 0..max_lag: (max_lag + 1,)."""
    t = np.arange(len(y))
    r = y - np.polyval(np.polyfit(t, y, 1), t)  # detrended
    r = r - r.mean()
    denom = float(r @ r)
    if denom == 0:
        return np.zeros(max_lag + 1)
    return np.array([1.0] + [float(r[:-k] @ r[k:]) / denom for k in range(1, max_lag + 1)])


def _calendar_candidates(freq: str | None) -> tuple[int, ...]:
    if not freq:
        return ()
    base = freq.lstrip("0123456789").split("-")[0]
    if freq[0].isdigit() and base not in ("min", "s"):
        return ()  # a multiple of a unit (2h, 7D): no calendar periods assumed
    for unit, periods in CALENDAR_PERIODS.items():
        if base == unit or (len(unit) == 1 and base[:1].upper() == unit and unit in "WMQ"):
            return periods
    return ()


def detect_season(y: np.ndarray, freq: str | None = None, threshold: float = 0.3) -> int:
    """The seasonal period of ``y`` (1: none found).

    Args:
        y: the series (T,), no missing values.
        freq: its pandas frequency string, if known (its calendar periods are tried first).
        threshold: the least autocorrelation a period must have.

    Returns:
        The period m >= 1.
    """
    y = np.asarray(y, dtype=np.float64)
    max_lag = len(y) // 2
    if max_lag < 3:
        return 1
    acf = autocorrelation(y, max_lag)

    def peak(k: int, width: int = 1) -> bool:
        """A local maximum over +-width lags, above the threshold, and rising at least 0.1 above the lowest
        autocorrelation before it (so that a wiggle of a slowly decaying autocorrelation does not count)."""
        if not 2 <= k < max_lag or acf[k] <= threshold:
            return False
        around = acf[max(k - width, 1) : k + width + 1]
        return acf[k] >= around.max() and acf[k] - acf[1:k].min() > 0.1

    for period in _calendar_candidates(freq):
        width = max(1, period // 20)  # a yearly period of daily data may peak a few days off
        near = range(max(period - width, 2), min(period + width, max_lag - 1) + 1)
        if len(near) and peak(max(near, key=lambda k: acf[k]), width):
            return period
    peaks = [k for k in range(2, max_lag) if peak(k)]
    if not peaks:
        return 1
    best = max(acf[k] for k in peaks)
    return next(k for k in peaks if acf[k] >= 0.9 * best)
