"""Forecasting with recurrent networks on pandas tables: dates, the future, many series, honest backtests.

:class:`Forecaster` fits one global network over every series of a table (long format with an
id column, per-series scaling), forecasts the next ``horizon`` steps with prediction intervals,
and backtests itself at rolling origins against naive, seasonal naive, AutoETS and AutoARIMA.
pandas is needed (the ``data`` extra: ``pip install 'rnnkit[data]'``); Dask runs the
independent fits of a backtest in parallel (the ``scale`` extra).

Modules: :mod:`~rnnkit.forecast.data` (tables to regular series), :mod:`~rnnkit.forecast.season`,
:mod:`~rnnkit.forecast.metrics` (baselines and scores), :mod:`~rnnkit.forecast.baselines`
(statistical references), :mod:`~rnnkit.forecast.network` (windows, network, training),
:mod:`~rnnkit.forecast.parallel` (serial or Dask tasks), :mod:`~rnnkit.forecast.forecaster`.

Example:
    >>> import numpy as np, pandas as pd
    >>> from rnnkit.forecast import Forecaster
    >>> frame = pd.DataFrame({"y": 5 + np.sin(np.arange(80) / 2.0)})
    >>> Forecaster("y", horizon=4, hidden=8, epochs=2).fit(frame).predict().shape
    (4, 4)
"""

from rnnkit.forecast.data import FILL_POLICIES, ForecastInputError, Panel, prepare, read_csv, require_pandas
from rnnkit.forecast.forecaster import Backtest, ForecastConfig, Forecaster
from rnnkit.forecast.metrics import mase_scale, naive, per_step, seasonal_naive
from rnnkit.forecast.season import detect_season

__all__ = ["Forecaster", "ForecastConfig", "Backtest", "ForecastInputError", "Panel", "prepare", "read_csv",
           "require_pandas", "detect_season", "naive", "seasonal_naive", "mase_scale", "per_step", "FILL_POLICIES"]
