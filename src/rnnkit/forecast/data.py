"""From a pandas table to regular, filled series: time parsing, sorting, gaps, frequency, fill policy.

A :class:`Panel` holds one or more series (long format: one per ``id``), each on a regular
time grid: the rows are sorted by time, duplicate timestamps are refused, the frequency is
the one every step is a multiple of, missing steps (gaps) become rows, and missing values
are filled by the policy:

- ``interpolate`` (default): linear in time, the ends carried from the nearest value;
- ``ffill``: the last value before (the leading values from the first one after);
- ``drop``: the rows are removed and the remaining rows treated as consecutive steps (missing
  covariate values are interpolated);
- ``error``: refuse the table, naming the first missing value.

Calendar features (the known future covariates generated from the dates) are sin/cos pairs
of the periods the frequency has: hour of day and day of week below a day, day of week and
day of year for daily data, week of year for weekly, month of year for monthly and quarterly.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"date": ["2024-01-03", "2024-01-01", "2024-01-04", "2024-01-05"],
    ...                       "y": [3.0, 1.0, None, 5.0]})
    >>> panel = prepare(frame, targets=["y"])
    >>> panel.time, panel.freq, panel.series[0].values[:, 0].tolist()
    ('date', 'D', [1.0, 2.0, 3.0, 4.0, 5.0])
    >>> panel.report["gaps"], panel.report["filled"]
    (1, 2)
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = ["ForecastInputError", "require_pandas", "find_time_column", "Series", "Panel", "prepare", "read_csv", "calendar_features",
           "future_times", "FILL_POLICIES"]

FILL_POLICIES = ("interpolate", "ffill", "drop", "error")
MAX_ABS = 1e150  # largest |value| whose squares (variances, squared errors) stay finite in float64


class ForecastInputError(ValueError):
    """Bad data or arguments for :mod:`rnnkit.forecast` (the command line prints it as one line, exit 2)."""


def require_pandas():
    """The pandas module, or :class:`ImportError` saying how to install it."""
    try:
        import pandas
    except ImportError:
        raise ImportError("rnnkit.forecast needs pandas for tables and dates: pip install 'rnnkit[data]'") from None
    return pandas


@dataclass
class Series:
    """One regular series: ``values`` (T, C) targets, ``past`` (T, P) past covariates, ``known`` (T, F) given
    known-future covariates; ``times`` its T timestamps (a DatetimeIndex, or integers without dates)."""

    id: str
    times: Any
    values: np.ndarray
    past: np.ndarray
    known: np.ndarray

    def head(self, length: int) -> "Series":
        """The first ``length`` steps."""
        return Series(self.id, self.times[:length], self.values[:length], self.past[:length], self.known[:length])


@dataclass
class Panel:
    """Series sharing targets, covariates and a frequency (``freq`` None: integer steps of ``step``)."""

    series: list[Series]
    targets: list[str]
    past: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)
    time: str | None = None
    id: str | None = None
    freq: str | None = None
    step: int = 1
    report: dict = field(default_factory=dict)
    future_known: dict[str, np.ndarray] = field(default_factory=dict)  # id -> (rows, F) known values after the end

    def truncate(self, offset: int) -> "Panel":
        """Every series without its last ``offset`` steps (the history at a backtest origin)."""
        return dataclasses.replace(self, series=[s.head(len(s.values) - offset) for s in self.series],
                                   future_known={s.id: s.known[len(s.values) - offset:] for s in self.series})


def read_csv(path: str):
    """A CSV file as a DataFrame of strings (so that every cell can be checked and named on error)."""
    pd = require_pandas()
    if os.path.isdir(path):
        raise ForecastInputError(f"{path}: is a directory, expected a CSV file")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise ForecastInputError(f"{path}: no such file") from None
    except pd.errors.EmptyDataError:
        raise ForecastInputError(f"{path}: the file is empty (expected a header row)") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as error:
        raise ForecastInputError(f"{path}: not a readable CSV file ({str(error).splitlines()[0]})") from None


def _numeric(frame, column: str, source: str) -> np.ndarray:
    """The column as float64 with NaN for empty cells; a non-numeric cell is an error naming its line."""
    pd = require_pandas()
    raw = frame[column]
    if raw.dtype.kind in "fiub":
        return _bounded(raw.to_numpy(dtype=np.float64), column)
    text = raw.astype(str).str.strip()
    empty = (text == "") | text.str.lower().isin(["nan", "na", "null", "none"]) | raw.isna().to_numpy()
    values = pd.to_numeric(text.where(~empty, None), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~empty.to_numpy() & ~np.isfinite(values))
    if len(bad):
        row = bad[0]
        raise ForecastInputError(f"column {column!r}: line {row + 2} of {source} holds {text.iloc[row]!r}, "
                                 "not a number")
    return _bounded(values, column)


def _bounded(values: np.ndarray, column: str) -> np.ndarray:
    """``values``, or ForecastInputError when their squares (variances, errors) would overflow float64."""
    if len(values) and np.nanmax(np.abs(values), initial=0.0) > MAX_ABS:
        raise ForecastInputError(f"column {column!r}: values up to {np.nanmax(np.abs(values)):.3g} overflow float64 "
                                 f"arithmetic (their squares); rescale the column below {MAX_ABS:.0e}")
    return values


def _parse_times(frame, column: str, source: str):
    """The time column as a DatetimeIndex (dates) or an int64 array (integer steps)."""
    pd = require_pandas()
    raw = frame[column]
    text = raw.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().all() and (numbers == numbers.round()).all() and not text.str.fullmatch(r"\d{8}").all():
        return numbers.to_numpy(dtype=np.int64)
    parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise ForecastInputError(f"time column {column!r}: line {row + 2} of {source} holds {text.iloc[row]!r}, "
                                 "not a date or time")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.DatetimeIndex(parsed)


def find_time_column(frame, exclude: Sequence[str]) -> str | None:
    """The first column (not in ``exclude``) whose every cell parses as a date and is not a plain number."""
    pd = require_pandas()
    for column in frame.columns:
        if column in exclude:
            continue
        text = frame[column].astype(str).str.strip()
        if pd.to_numeric(text, errors="coerce").notna().all():
            continue
        with np.errstate(all="ignore"):
            try:
                parsed = pd.to_datetime(text, errors="coerce", format="mixed")
            except (ValueError, TypeError, OverflowError):
                continue
        if len(text) and parsed.notna().all():
            return column
    return None


def _frequency(times, source: str):
    """``(freq, step)``: a pandas frequency string for dates (step 1), or None and the integer step."""
    pd = require_pandas()
    if not isinstance(times, pd.DatetimeIndex):
        gaps = np.diff(times)
        return None, int(np.gcd.reduce(gaps)) if len(gaps) else 1
    if len(times) < 3:
        raise ForecastInputError(f"{source}: {len(times)} timestamps are too few to tell the frequency")
    inferred = pd.infer_freq(times)
    if inferred is not None:
        return inferred, 1
    days = np.diff(times.values).astype("timedelta64[s]").astype(np.int64) / 86400.0  # step lengths in days
    modal = float(pd.Series(days).mode().iloc[0])
    calendar = {(28, 31): "M", (89, 92): "Q", (365, 366): "Y"}
    for (low, high), unit in calendar.items():
        if low <= modal <= high:
            starts = bool((times.day == 1).all())
            return (f"{unit}S" if starts else f"{unit}E"), 1
    seconds = np.diff(times.values).astype("timedelta64[s]").astype(np.int64)
    unit = int(np.gcd.reduce(seconds))
    return pd.tseries.frequencies.to_offset(pd.Timedelta(seconds=unit)).freqstr, 1


def _grid(times, freq: str | None, step: int):
    """The regular grid from the first to the last timestamp."""
    pd = require_pandas()
    if freq is None:
        return np.arange(times[0], times[-1] + 1, step, dtype=np.int64)
    return pd.date_range(times[0], times[-1], freq=freq)


def future_times(last, freq: str | None, step: int, horizon: int):
    """The ``horizon`` timestamps after ``last``."""
    pd = require_pandas()
    if freq is None:
        return np.asarray(last + step * np.arange(1, horizon + 1), dtype=np.int64)
    return pd.date_range(last, periods=horizon + 1, freq=freq)[1:]


def calendar_features(times, freq: str | None) -> np.ndarray:
    """Sin/cos pairs of the calendar periods of ``freq`` at ``times``: (T, F); F = 0 without dates."""
    pd = require_pandas()
    if freq is None:
        return np.zeros((len(times), 0))
    times = pd.DatetimeIndex(times)
    span = pd.tseries.frequencies.to_offset(freq)
    nanos = pd.Timedelta(days=1) if not isinstance(span, pd.offsets.Tick) else pd.Timedelta(span)
    base = freq.lstrip("0123456789").split("-")[0].upper()
    if base.startswith(("M", "Q", "BM", "BQ", "SM")):
        phases = [(times.month - 1) / 12.0]
    elif base.startswith(("Y", "A", "BY", "BA")):
        phases = []
    elif base.startswith("W") or nanos >= pd.Timedelta(days=7):
        phases = [(times.isocalendar().week.to_numpy() - 1) / 52.18]
    elif nanos >= pd.Timedelta(days=1):
        phases = [times.dayofweek / 7.0, (times.dayofyear - 1) / 365.25]
    else:
        phases = [(times.hour + times.minute / 60.0) / 24.0, times.dayofweek / 7.0]
    columns = []
    for phase in phases:
        angle = 2 * np.pi * np.asarray(phase, dtype=np.float64)
        columns += [np.sin(angle), np.cos(angle)]
    return np.stack(columns, axis=1) if columns else np.zeros((len(times), 0))


def _fill(values: np.ndarray, policy: str, names: list[str], times, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (T, C) filled by ``policy``, and the mask of the rows kept (all but for ``drop``)."""
    pd = require_pandas()
    missing = np.isnan(values)
    keep = np.ones(len(values), dtype=bool)
    if not missing.any():
        return values, keep
    if policy == "error":
        row, col = map(int, np.argwhere(missing)[0])
        raise ForecastInputError(f"--fill error: column {names[col]!r}{where} has a missing value at "
                                 f"{times[row]} (use --fill interpolate, ffill or drop)")
    if policy == "drop":
        keep = ~missing.any(axis=1)
        return values[keep], keep
    frame = pd.DataFrame(values)
    if np.isnan(values).all(axis=0).any():
        col = int(np.flatnonzero(np.isnan(values).all(axis=0))[0])
        raise ForecastInputError(f"column {names[col]!r}{where} has no values")
    filled = frame.interpolate(method="linear", limit_direction="both") if policy == "interpolate" else frame.ffill()
    return filled.bfill().to_numpy(dtype=np.float64), keep


def prepare(frame, targets: Sequence[str], *, time: str | None = None, id: str | None = None,
            past: Sequence[str] = (), known: Sequence[str] = (), fill: str = "interpolate",
            source: str = "the table", detect_time: bool = True) -> Panel:
    """Validate ``frame`` and turn it into a :class:`Panel`.

    Args:
        frame: a DataFrame (cells may be strings, as from :func:`read_csv`).
        targets: the columns to forecast.
        time: the time column; None: the first column that parses as dates (``detect_time``), else row order.
        id: the series-id column of a long table (one series per value), or None for one series.
        past: past covariates (read by the model, not forecast).
        known: known future covariates; rows after a series' last target (targets empty) hold their future values.
        fill: the missing-value policy, one of :data:`FILL_POLICIES`.
        source: the name used in error messages (the file name).

    Returns:
        A :class:`Panel`; ``panel.report`` counts the rows, gaps, filled values and duplicates.
    """
    pd = require_pandas()
    if fill not in FILL_POLICIES:
        raise ForecastInputError(f"fill: expected one of {', '.join(FILL_POLICIES)}, got {fill!r}")
    targets, past, known = list(targets), list(past), list(known)
    if not targets:
        raise ForecastInputError("targets: expected at least one column to forecast")
    names = ", ".join(repr(c) for c in frame.columns)
    for flag, columns in (("--id", [id] if id else []), ("--time", [time] if time else []), ("--column", targets),
                          ("--covariates", past), ("--known", known)):
        for column in columns:
            if column not in frame.columns:
                raise ForecastInputError(f"{flag} {column!r}: {source} has no such column; its columns are {names}")
    if len(frame) == 0:
        raise ForecastInputError(f"{source}: no rows")
    if time is None and detect_time:
        time = find_time_column(frame, [id, *targets, *past, *known])
    values = np.stack([_numeric(frame, c, source) for c in targets], axis=1)  # (rows, C)
    past_values = np.stack([_numeric(frame, c, source) for c in past], axis=1) if past else np.zeros((len(frame), 0))
    known_values = (np.stack([_numeric(frame, c, source) for c in known], axis=1) if known
                    else np.zeros((len(frame), 0)))
    times = _parse_times(frame, time, source) if time else np.arange(len(frame), dtype=np.int64)
    groups = frame[id].astype(str).to_numpy() if id else np.zeros(len(frame), dtype=object)
    freq, step, series, future_known = None, 1, [], {}
    report = {"rows": len(frame), "series": 0, "gaps": 0, "filled": 0, "dropped": 0, "future_rows": 0,
              "filled_covariates": 0, "sorted": False, "fill": fill}
    order_ids = list(dict.fromkeys(groups.tolist()))
    # one frequency for all series: the one of the first, checked on the others by their grids
    for number, key in enumerate(order_ids):
        rows = np.flatnonzero(groups == key)
        where = f" of series {key!r}" if id else ""
        t = times[rows]
        order = np.argsort(np.asarray(t), kind="stable")
        report["sorted"] |= bool(np.any(order != np.arange(len(order))))
        rows, t = rows[order], t[order]
        if len(t) > 1 and np.any(np.asarray(t)[1:] == np.asarray(t)[:-1]):
            dup = t[1:][np.asarray(t)[1:] == np.asarray(t)[:-1]][0]
            raise ForecastInputError(f"time column {time!r}{where}: duplicate timestamp {dup} "
                                     "(one row per time step expected)")
        y, p, k = values[rows], past_values[rows], known_values[rows]
        # trailing rows without any target but with known covariates: the future of a known covariate
        observed = np.flatnonzero(~np.isnan(y).all(axis=1))
        if not len(observed):
            raise ForecastInputError(f"columns {', '.join(map(repr, targets))}{where} hold no values")
        end = observed[-1] + 1 if known else len(rows)
        if end < len(rows):
            future_known[str(key)] = k[end:]
            report["future_rows"] += len(rows) - end
        y, p, k, t = y[:end], p[:end], k[:end], t[:end]
        if number == 0:
            freq, step = _frequency(t, source) if time else (None, 1)
        if time:
            grid = _grid(t, freq, step)
            position = grid.get_indexer(t) if freq else np.searchsorted(grid, t)
            misplaced = position < 0 if freq else grid[np.minimum(position, len(grid) - 1)] != t
            if np.any(misplaced):
                bad = np.asarray(t)[np.flatnonzero(misplaced)[0]]
                raise ForecastInputError(f"time column {time!r}{where}: {bad} is off the {freq or step} grid of "
                                         "the other timestamps (irregular times cannot be forecast)")
            report["gaps"] += len(grid) - len(t)
            full = np.full((len(grid), y.shape[1]), np.nan)
            full[position] = y
            full_p = np.full((len(grid), p.shape[1]), np.nan)
            full_p[position] = p
            full_k = np.full((len(grid), k.shape[1]), np.nan)
            full_k[position] = k
            y, p, k, t = full, full_p, full_k, grid
        report["filled"] += 0 if fill == "drop" else int(np.isnan(y).sum())
        y, keep = _fill(y, fill, targets, t, where)
        if fill == "drop":
            report["dropped"] += int((~keep).sum())
            t, p, k = t[keep], p[keep], k[keep]
        covariate_fill = "interpolate" if fill == "drop" else fill  # their rows are kept: fill them
        report["filled_covariates"] += int(np.isnan(p).sum() + np.isnan(k).sum())
        if past:
            p, _ = _fill(p, covariate_fill, past, t, where)
        if known:
            k, _ = _fill(k, covariate_fill, known, t, where)
        series.append(Series(str(key), t, y, p, k))
    report["series"] = len(series)
    return Panel(series, targets, past, known, time, id, freq, step, report, future_known)
