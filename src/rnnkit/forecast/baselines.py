"""The statistical references: AutoETS and AutoARIMA, from statsforecast or else statsmodels.

With statsforecast installed, ``AutoETS`` and ``AutoARIMA`` are its models of those names
(model selection by AICc, Hyndman & Khandakar 2008). Without it and with statsmodels, they are
the lowest-AIC fit of a small family: ETS models (additive or damped-additive trend or none,
additive season or none, ``ETSModel``) and seasonal ARIMA (p, 1, q)(0, 1, 1)_m with p, q in
{0, 1} (``SARIMAX``). With neither, there are no references (:func:`available` says which).

Example:
    >>> import numpy as np
    >>> y = 10 + np.sin(2 * np.pi * np.arange(48) / 12)
    >>> out = forecast([y], horizon=3, season=12, methods=available()[:1])
    >>> [v.shape for v in out.values()] in ([], [(1, 3)])
    True
"""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np

__all__ = ["available", "forecast", "REFERENCES"]

REFERENCES = ("AutoETS", "AutoARIMA")


def _backend() -> str | None:
    for name in ("statsforecast", "statsmodels"):
        if importlib.util.find_spec(name) is not None:
            return name
    return None


def available() -> list[str]:
    """The reference methods this installation can run (empty without statsforecast and statsmodels)."""
    return list(REFERENCES) if _backend() else []


def forecast(histories: list[np.ndarray], horizon: int, season: int, methods: list[str]) -> dict[str, np.ndarray]:
    """Forecasts of every history by every method in ``methods``: ``{method: (N, H)}``."""
    if not methods:
        return {}
    unknown = sorted(set(methods) - set(available()))
    if unknown:
        raise ValueError(f"methods: {unknown} are not available (installed: {available()})")
    if _backend() == "statsforecast":
        return _statsforecast(histories, horizon, season, methods)
    return {m: np.stack([_statsmodels(y, horizon, season, m) for y in histories]) for m in methods}


def _statsforecast(histories, horizon, season, methods):
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS

    m = max(int(season), 1)
    models = {"AutoETS": lambda: AutoETS(season_length=m), "AutoARIMA": lambda: AutoARIMA(season_length=m)}
    frame = pd.DataFrame({
        "unique_id": np.concatenate([np.full(len(y), i) for i, y in enumerate(histories)]),
        "ds": np.concatenate([np.arange(len(y)) for y in histories]),
        "y": np.concatenate(histories).astype(np.float64),
    })
    engine = StatsForecast(models=[models[name]() for name in methods], freq=1, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = engine.forecast(df=frame, h=horizon).sort_values(["unique_id", "ds"])
    return {name: out[name].to_numpy(dtype=np.float64).reshape(len(histories), horizon) for name in methods}


def _statsmodels(y, horizon, season, method):
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    m = season if 1 < season and 2 * season <= len(y) else 1
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "AutoETS":
            for trend, damped in ((None, False), ("add", False), ("add", True)):
                for seasonal in ((None, "add") if m > 1 else (None,)):
                    try:
                        fits.append(ETSModel(y, trend=trend, damped_trend=damped, seasonal=seasonal,
                                             seasonal_periods=m if seasonal else None).fit(disp=False))
                    except (ValueError, np.linalg.LinAlgError):
                        continue
        else:
            for p in (0, 1):
                for q in (0, 1):
                    try:
                        fits.append(SARIMAX(y, order=(p, 1, q),
                                            seasonal_order=(0, 1, 1, m) if m > 1 else (0, 0, 0, 0)).fit(disp=False))
                    except (ValueError, np.linalg.LinAlgError):
                        continue
    if not fits:
        return np.repeat(y[-1], horizon).astype(np.float64)
    best = min(fits, key=lambda f: f.aic if np.isfinite(f.aic) else np.inf)
    return np.asarray(best.forecast(horizon), dtype=np.float64)
