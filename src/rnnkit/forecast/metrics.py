"""Baseline forecasts and accuracy per horizon step.

Equations, for a forecast origin t (the first unseen index), step h = 1..H and season m:

- naive: yhat_{t+h-1} = y_{t-1}
- seasonal naive: yhat_{t+h-1} = y_{t+h-1-m*ceil(h/m)} (the last value one or more seasons back)
- MAE_h = mean |e|, RMSE_h = sqrt(mean e^2), e = yhat - y at step h over every origin and series
- MASE_h = mean(|e| / s), s = the in-sample MAE of the seasonal naive forecast of the history,
  mean_t |y_t - y_{t-m}| (m = 1 without a season; Hyndman & Koehler 2006, as in the M4 competition)
- sMAPE_h = mean(200 |e| / (|y| + |yhat|)) in percent (0 where both are 0)

Example:
    >>> import numpy as np
    >>> y = np.arange(10.0)
    >>> naive(y, 3).tolist(), seasonal_naive(np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0]), 4, 3).tolist()
    ([9.0, 9.0, 9.0], [1.0, 2.0, 3.0, 1.0])
    >>> per_step(np.array([[1.0, 2.0]]), np.array([[1.0, 4.0]]), np.array([2.0]))["mase"].tolist()
    [0.0, 1.0]
"""

from __future__ import annotations

import numpy as np

__all__ = ["naive", "seasonal_naive", "mase_scale", "per_step", "METRICS"]

METRICS = ("mae", "rmse", "mase", "smape")


def naive(history: np.ndarray, horizon: int) -> np.ndarray:
    """The last value, repeated: (H,)."""
    return np.repeat(history[-1], horizon).astype(np.float64)


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The value one or more seasons before each step ahead: (H,); the naive forecast when season <= 1."""
    if season <= 1 or season > len(history):
        return naive(history, horizon)
    h = np.arange(1, horizon + 1)
    back = season * ((h + season - 1) // season)  # m * ceil(h / m)
    return history[len(history) + h - 1 - back].astype(np.float64)


def mase_scale(history: np.ndarray, season: int) -> float:
    """mean |y_t - y_{t-m}| over the history (m = 1 when it is too short for a season); 1 when that is 0."""
    m = season if 1 < season < len(history) else 1
    scale = float(np.mean(np.abs(history[m:] - history[:-m]))) if len(history) > m else 0.0
    return scale if scale > 0 else 1.0


def per_step(pred: np.ndarray, actual: np.ndarray, scale: np.ndarray) -> dict[str, np.ndarray]:
    """MAE, RMSE, MASE and sMAPE at each step ahead.

    Args:
        pred, actual: (N, H) forecasts and outcomes, one row per (series, origin).
        scale: (N,) the MASE scale of each row.

    Returns:
        ``{metric: (H,)}``.
    """
    err = pred - actual  # (N, H)
    denom = np.abs(actual) + np.abs(pred)
    smape = np.where(denom > 0, 200 * np.abs(err) / np.where(denom > 0, denom, 1), 0.0)
    return {"mae": np.mean(np.abs(err), axis=0), "rmse": np.sqrt(np.mean(err**2, axis=0)),
            "mase": np.mean(np.abs(err) / scale[:, None], axis=0), "smape": np.mean(smape, axis=0)}
