"""``rnnkit forecast``: the command line over :class:`rnnkit.forecast.Forecaster`.

``rnnkit forecast data.csv --horizon 12`` reads the CSV (pandas), parses and sorts by the time
column, reports gaps and filled values, fits on all the data and writes into ``--out``:

- ``forecast.csv``: the next ``--horizon`` timestamps of every series with the point forecast
  and the ``--level`` prediction interval (split-conformal, from the validation tail's errors);
- ``forecast.png``: the history's tail, the forecast and its interval on a date axis;
- ``model.safetensors`` and ``config.json`` (``rnnkit forecast --load RUN new.csv`` forecasts
  from them without training; ``rnnkit inspect RUN`` describes them), ``metrics.json``.

``--backtest K`` first evaluates the whole procedure at K rolling origins and writes
``backtest.csv`` (MAE, RMSE, MASE and sMAPE per method and step ahead), ``backtest_forecasts.csv``
and ``backtest.png`` (MASE against the step ahead), ``backtest_steps.png`` (one panel per step ahead:
the actual values and every method's forecasts over the origins), and prints which method wins.

Example:
    >>> import os, tempfile, numpy as np
    >>> from rnnkit.cli import main
    >>> d = tempfile.mkdtemp()
    >>> path = os.path.join(d, "s.csv")
    >>> np.savetxt(path, 5 + np.sin(np.arange(80) / 2), header="y", comments="")
    >>> main(["forecast", path, "--horizon", "4", "--hidden", "4", "--epochs", "2", "--quiet",
    ...       "--out", os.path.join(d, "run")])  # doctest: +ELLIPSIS
    wrote .../run/forecast.csv (4 rows: 1 series x 4 steps), forecast.png, model.safetensors, ...
    0
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time

import numpy as np

from rnnkit import serialization
from rnnkit.cli import checkpoint, plots, rundir
from rnnkit.cli.options import ForecastOptions, InputError, RunError
from rnnkit.cli.progress import Progress, format_seconds
from rnnkit.cli.rundir import Reporter, claim_out

__all__ = ["run"]

# options that describe the model: fixed by a saved model under --load
MODEL_OPTIONS = ("column", "time", "id", "covariates", "known", "no_calendar", "fill", "horizon", "window", "season",
                 "normalize", "cell", "hidden", "epochs", "patience", "batch_size", "lr", "level", "backtest", "step",
                 "seed", "ensemble")


def _names(value: str | None, flag: str) -> list[str]:
    if value is None:
        return []
    names = [n.strip() for n in value.split(",")]
    if not all(names) or len(set(names)) != len(names):
        raise InputError(f"{flag} {value!r}: expected distinct comma-separated column names")
    return names


def _targets(frame, opts: ForecastOptions, taken: list[str]) -> list[str]:
    """--column's names, or the only numeric column left."""
    if opts.column is not None:
        return _names(opts.column, "--column")
    import pandas as pd

    numeric = [c for c in frame.columns if c not in taken
               and pd.to_numeric(frame[c].str.strip(), errors="coerce").notna().sum() * 2 >= (frame[c].str.strip() != "").sum() > 0]
    if len(numeric) != 1:
        found = ", ".join(map(repr, numeric)) or "none"
        raise InputError(f"--column is required: {opts.csv} has {len(numeric)} numeric columns ({found})")
    return numeric


def _forecaster(opts: ForecastOptions, frame):
    from rnnkit.forecast import Forecaster
    from rnnkit.forecast.data import find_time_column

    past, known = _names(opts.covariates, "--covariates"), _names(opts.known, "--known")
    when = opts.time
    if opts.column is None and when is None:
        when = find_time_column(frame, [opts.id, *past, *known])
    targets = _targets(frame, opts, [c for c in (when, opts.id, *past, *known) if c])
    return Forecaster(targets, time=when, id=opts.id, past=past, known=known, fill=opts.fill,
                      horizon=opts.horizon, window=opts.window, season=opts.season, normalize=opts.normalize,
                      cell=opts.cell, hidden=opts.hidden, epochs=opts.epochs, patience=opts.patience,
                      ensemble=opts.ensemble,
                      batch_size=opts.batch_size, lr=opts.lr, calendar=not opts.no_calendar, level=opts.level,
                      seed=opts.seed)


def _report_data(report: Reporter, panel, source: str) -> None:
    r = panel.report
    freq = panel.freq or (f"every {panel.step} (integer time)" if panel.time else "row order (no time column)")
    report.progress(f"{source}: {r['rows']} rows, {r['series']} series, targets {', '.join(panel.targets)}, "
                    f"time {panel.time!r}, frequency {freq}", **r, freq=panel.freq, time=panel.time)
    if r["sorted"]:
        report.notice(f"warning: {source} was not in time order; sorted by {panel.time!r}")
    if r["gaps"]:
        report.notice(f"warning: {r['gaps']} missing time steps (gaps) in {source}")
    if r["filled"]:
        report.notice(f"warning: {r['filled']} missing values filled by --fill {r['fill']}")
    if r["filled_covariates"]:
        report.notice(f"warning: {r['filled_covariates']} missing covariate values filled")
    if r["dropped"]:
        report.notice(f"warning: {r['dropped']} rows with missing values dropped (--fill drop)")


def _finite(forecast, source: str) -> None:
    """RunError (exit 1, nothing written) when a forecast is not finite."""
    values = forecast.select_dtypes("number").to_numpy()
    if not np.isfinite(values).all():
        raise RunError(f"the forecasts of {source} are not finite (values too large for float64 arithmetic?); "
                       "nothing was written")


def _write_csv(path: str, frame) -> None:
    serialization.atomic_write_text(path, frame.to_csv(index=False))


def _tasks_progress(report: Reporter, label: str):
    """A progress callback over tasks: a tqdm bar on a terminal, else a line per task (none with --quiet)."""
    bar = Progress(total=None, every=1, use_tqdm=False if report.json or report.quiet else None)

    def update(done: int, total: int) -> None:
        if report.json:
            report.progress(f"{label}: {done}/{total} tasks", done=done, total=total)
        elif not report.quiet:
            if bar.bar is not None:
                bar.bar.total = total
                bar.bar.set_description(f"{label} tasks", refresh=False)
                bar.update(done, {})
            else:
                print(f"{label}: task {done}/{total}", flush=True)
        if done == total:
            bar.close()

    return update


def run(opts: ForecastOptions) -> int:
    from rnnkit.forecast import ForecastInputError, require_pandas

    try:
        require_pandas()
    except ImportError as error:
        raise InputError(str(error)) from None
    if (opts.jobs > 1 or opts.dask) and importlib.util.find_spec("distributed") is None:
        raise InputError(f"--{'dask' if opts.dask else 'jobs'} needs dask.distributed: pip install 'rnnkit[scale]'")
    report = Reporter(json=opts.json, quiet=opts.quiet)
    try:
        return _run(opts, report)
    except ForecastInputError as error:
        raise InputError(str(error)) from None
    except RuntimeError as error:  # training diverged
        print(f"rnnkit forecast: error: {error}", file=sys.stderr)
        return 1


def _run(opts: ForecastOptions, report: Reporter) -> int:
    from rnnkit.forecast import read_csv

    # every check on the data before anything is written
    frame = read_csv(opts.csv)
    if opts.load is not None:
        return _run_loaded(opts, frame, report)
    model = _forecaster(opts, frame)
    panel = model.prepare(frame, source=opts.csv)
    season, window, validation = model.settings(panel)
    plans = model.backtest_plans(panel, opts.backtest, opts.step or None) if opts.backtest else None
    references = _references(opts.references)
    if opts.dask not in (None, "local"):
        from rnnkit.forecast.parallel import connect

        connect(opts.dask).close()  # reachable, before anything is written
    out = opts.out or "runs/forecast"
    with rundir.lock(out):  # one writer per run directory; removed again if nothing was written
        return _fit_and_write(opts, report, model, panel, out, (season, window, validation), plans, references)


def _fit_and_write(opts: ForecastOptions, report: Reporter, model, panel, out: str, settings: tuple, plans,
                   references) -> int:
    season, window, validation = settings
    scheduler = opts.dask
    claim_out(out, overwrite=opts.overwrite)
    _report_data(report, panel, opts.csv)
    report.progress(f"season {season}{' (detected)' if not opts.season else ''}, window {window}, horizon "
                    f"{opts.horizon}, validation tail {validation} steps, {opts.cell.upper()} hidden {opts.hidden}",
                    season=season, window=window, validation=validation)
    if not plots.available():
        report.notice(plots.MISSING)
    results: dict = {"data": {k: v for k, v in panel.report.items()}, "freq": panel.freq, "season": season,
                     "window": window}
    started = time.perf_counter()
    if plans is not None:
        bt = model.backtest(panel, opts.backtest, step=opts.step or None, references=references, scheduler=scheduler,
                            jobs=opts.jobs, progress=_tasks_progress(report, "backtest"))
        elapsed = time.perf_counter() - started
        _write_csv(os.path.join(out, "backtest.csv"), bt.per_step)
        _write_csv(os.path.join(out, "backtest_forecasts.csv"), bt.forecasts)
        plots.backtest_steps(os.path.join(out, "backtest.png"), bt.per_step, "MASE by step ahead (backtest)")
        plots.backtest_forecasts(os.path.join(out, "backtest_steps.png"), bt.forecasts,
                                 list(dict.fromkeys(bt.per_step["method"])), "backtest forecasts by step ahead")
        for line in bt.table().splitlines():
            report.progress(line)
        report.progress(f"backtest: {bt.origins} origins x {len(panel.series)} series in "
                        f"{format_seconds(elapsed)} ({elapsed:.1f} s); modes chosen {', '.join(bt.details['modes'])}",
                        seconds=elapsed)
        results["backtest"] = {"summary": bt.summary.to_dict(orient="records"), "winners": bt.winners,
                               "verdicts": {t: bt.verdict(t) for t in panel.targets}, "seconds": elapsed,
                               "modes": bt.details["modes"], "candidates": bt.details["candidates"]}
    model.fit(panel, scheduler=scheduler, jobs=opts.jobs, progress=_tasks_progress(report, "fit"))
    fitted = model.fitted_
    for mode, c in fitted["candidates"].items():
        report.progress(f"mode {mode}: validation MASE {c['val_mase']} (best epoch of each network "
                        f"{', '.join(map(str, c['epochs']))}; epochs run {', '.join(map(str, c['epochs_run']))})",
                        mode=mode, **c)
    losses = fitted["losses"]
    final = [f"{run[-1]:.4f}" if run else "none (epoch 0 kept: the baseline itself)" for run in losses]
    report.progress(f"kept mode {fitted['mode']}; refitted on every window for {', '.join(map(str, fitted['epoch']))} "
                    f"epochs; last epoch-mean training loss (L1, scaled) {', '.join(final)}",
                    mode=fitted["mode"], epochs=fitted["epoch"], losses=losses)
    forecast = model.predict()
    _finite(forecast, opts.csv)
    model.save(out)
    _write_csv(os.path.join(out, "forecast.csv"), forecast)
    plots.forecast(os.path.join(out, "forecast.png"), panel, forecast, f"{opts.horizon}-step forecast, "
                   f"{opts.level:.0%} interval")
    results.update(mode=fitted["mode"], candidates=fitted["candidates"], epoch=fitted["epoch"], losses=losses)
    checkpoint.write_json(os.path.join(out, "metrics.json"), json.loads(json.dumps(results, default=str)))
    seconds = time.perf_counter() - started
    report.result(f"wrote {out}/forecast.csv ({len(forecast)} rows: {len(panel.series)} series x {opts.horizon} "
                  f"steps), forecast.png, model.safetensors, config.json, metrics.json"
                  + (", backtest.csv, backtest.png, backtest_steps.png" if plans is not None else "")
                  + f" in {format_seconds(seconds)}", out=out, rows=len(forecast), seconds=seconds,
                  **({"verdicts": results["backtest"]["verdicts"]} if plans is not None else {}))
    return 0


def _references(value: str) -> list[str] | None:
    from rnnkit.forecast import baselines

    if value == "auto":
        return None
    if value == "none":
        return []
    names = _names(value, "--references")
    unknown = [n for n in names if n not in baselines.REFERENCES]
    if unknown:
        raise InputError(f"--references {value!r}: expected auto, none or some of "
                         f"{', '.join(baselines.REFERENCES)}, got {', '.join(unknown)}")
    missing = [n for n in names if n not in baselines.available()]
    if missing:
        raise InputError(f"--references {value!r}: {', '.join(missing)} needs statsforecast or statsmodels "
                         "(pip install 'rnnkit[test]')")
    return names


def _run_loaded(opts: ForecastOptions, frame, report: Reporter) -> int:
    from rnnkit.forecast import Forecaster

    defaults = ForecastOptions(csv=opts.csv)
    fixed = [f"--{n.replace('_', '-')}" for n in MODEL_OPTIONS if getattr(opts, n) != getattr(defaults, n)]
    if fixed:
        raise InputError(f"--load {opts.load}: {', '.join(fixed)} cannot be changed; the saved model fixes them")
    if not os.path.isdir(opts.load):
        raise InputError(f"--load {opts.load}: no such directory")
    config = checkpoint.read_config(opts.load, checkpoint.SCHEMAS)  # checked against its schema
    if config is None or config["kind"] != "forecast":
        raise InputError(f"--load {opts.load}: holds no forecaster (" + (f"a {config['kind']} model"
                         if config else f"no {checkpoint.CONFIG}") + "); write one with rnnkit forecast")
    weights = checkpoint.load_forecast(config)  # checked against the config before any array is read
    model = Forecaster.from_config(config, weights, opts.load)
    panel = model.prepare(frame, source=opts.csv)
    forecast = model.predict(panel)
    _finite(forecast, opts.csv)
    out = opts.out or os.path.join(opts.load, "forecast")
    with rundir.lock(out):  # one writer per run directory
        claim_out(out, overwrite=opts.overwrite)
        _report_data(report, panel, opts.csv)
        _write_csv(os.path.join(out, "forecast.csv"), forecast)
        if not plots.forecast(os.path.join(out, "forecast.png"), panel, forecast,
                              f"{model.config.horizon}-step forecast, {model.config.level:.0%} interval"):
            report.notice(plots.MISSING)
    report.result(f"wrote {out}/forecast.csv ({len(forecast)} rows) and forecast.png with the model of {opts.load}",
                  out=out, rows=len(forecast))
    return 0
