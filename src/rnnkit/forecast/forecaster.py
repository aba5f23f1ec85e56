"""The :class:`Forecaster`: fit, predict and backtest on pandas tables, one global model for every series.

Fitting (see :mod:`rnnkit.forecast.network` for the windows and the network):

1. The season m is ``season`` or detected (:func:`~rnnkit.forecast.season.detect_season`, the
   most common period over the series); the window is ``window`` or max(2m, H, 8), shortened
   to what the shortest series allows.
2. The last ``validation`` steps of every series (default max(2H, T/8), T the shortest length) are held out: for each
   normalisation mode (``auto``: each of ``scale``, ``season`` and ``profile``) a network is trained on the
   windows before them, with early stopping on the windows inside them; the mode with the
   lower validation MASE is kept.
3. The kept mode is refitted on every window for the number of epochs early stopping chose
   (``refit``), with the same seed. With ``ensemble`` = E, each mode is E networks (seeds
   seed .. seed+E-1) whose forecasts are averaged, in validation as in use.

Prediction intervals are split-conformal: the ``level`` quantile, per step ahead and target,
of the validation windows' absolute errors in units of each series' scale s (the MASE scale)
gives q_h; the interval is yhat_h -/+ q_h * s.

A backtest refits the whole procedure at each of ``k`` origins (the last H steps, then ``step``
steps earlier each) on the history before it and scores the next H steps against naive,
seasonal naive and, when installed, AutoETS and AutoARIMA (:mod:`rnnkit.forecast.baselines`).
Every fit is an independent task (:class:`~rnnkit.forecast.parallel.Tasks`): ``jobs`` /
``scheduler`` run them on Dask with the same results as serially.

Example:
    >>> import numpy as np, pandas as pd
    >>> t = np.arange(96)
    >>> frame = pd.DataFrame({"month": pd.date_range("2000-01-01", periods=96, freq="MS"),
    ...                       "y": 10 + np.sin(2 * np.pi * t / 12) + 0.01 * t})
    >>> model = Forecaster("y", horizon=6, hidden=8, epochs=3).fit(frame)
    >>> out = model.predict()
    >>> list(out.columns), str(out["month"].iloc[0].date()), model.season_
    (['month', 'y', 'y_lower', 'y_upper'], '2008-01-01', 12)
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from rnnkit import serialization
from rnnkit.forecast import baselines
from rnnkit.forecast.data import (ForecastInputError, Panel, calendar_features, future_times, prepare,
                                  require_pandas)
from rnnkit.forecast.metrics import METRICS, mase_scale, naive, per_step, seasonal_naive
from rnnkit.forecast.network import MODES, Arrays, ForecastEnsemble, make_windows, origins, predict_windows, train
from rnnkit.forecast.parallel import Tasks
from rnnkit.forecast.season import detect_season

__all__ = ["ForecastConfig", "Forecaster", "Backtest"]

CELLS = ("lstm", "gru", "rnn")


@dataclass
class ForecastConfig:
    """The forecaster's settings."""

    horizon: int = 12  # steps forecast at once (direct multi-horizon output)
    window: int = 0  # steps the network reads (0: max(2 * season, horizon, 8))
    season: int = 0  # seasonal period (0: detect it)
    normalize: str = "auto"  # "scale", "season", "profile" or "auto" (the one with the lowest validation MASE)
    cell: str = "gru"  # recurrent cell: "gru", "lstm" or "rnn"
    hidden: int = 32  # hidden units
    epochs: int = 100  # most epochs (early stopping usually ends sooner)
    patience: int = 10  # epochs without a better validation MASE before stopping
    batch_size: int = 32  # windows per optimizer step
    batches_per_epoch: int = 20  # most optimizer steps per epoch (a fresh sample of windows each epoch)
    lr: float = 3e-3  # Adam learning rate
    ensemble: int = 1  # networks per mode, seeds seed..seed+ensemble-1; their forecasts are averaged
    validation: int = 0  # steps held out at the end of each series for early stopping (0: max(2H, T/8))
    refit: bool = True  # refit on every window (early stopping's epoch count) after choosing
    calendar: bool = True  # calendar features of the dates as known future covariates
    level: float = 0.9  # coverage of the prediction interval
    seed: int = 0  # seed of initialisation and shuffling

    def check(self) -> None:
        """ValueError naming the first bad setting."""
        for name in ("horizon", "hidden", "epochs", "patience", "batch_size", "batches_per_epoch", "ensemble"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ForecastInputError(f"{name}: expected an int >= 1, got {value!r}")
        for name in ("window", "season", "validation"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ForecastInputError(f"{name}: expected an int >= 0, got {value!r}")
        if self.normalize not in (*MODES, "auto"):
            raise ForecastInputError(f"normalize: expected 'auto', 'scale', 'season' or 'profile', got "
                                     f"{self.normalize!r}")
        if self.cell not in CELLS:
            raise ForecastInputError(f"cell: expected one of {', '.join(CELLS)}, got {self.cell!r}")
        if not 0 < self.lr < float("inf"):
            raise ForecastInputError(f"lr: expected a finite value > 0, got {self.lr!r}")
        if not 0 < self.level < 1:
            raise ForecastInputError(f"level: expected a value between 0 and 1, got {self.level!r}")


@dataclass
class Backtest:
    """A rolling-origin backtest.

    Attributes:
        per_step: DataFrame, one row per (target, method, step) with MAE, RMSE, MASE and sMAPE.
        summary: DataFrame, one row per (target, method), the metrics averaged over the steps.
        forecasts: DataFrame, one row per (series, origin, step, target): the actual value and every method's.
        winners: ``{target: {metric: best method}}``.
        model: the name of the network's method (``"rnnkit GRU"``).
        season, origins: the season used and the number of origins.
        details: per origin, earliest first: ``modes`` (the normalisation chosen), ``candidates`` (each
            mode's validation MASE and early-stopping epochs, the basis of that choice) and ``windows``.
    """

    per_step: Any
    summary: Any
    forecasts: Any
    winners: dict
    model: str
    season: int
    origins: int
    details: dict = field(default_factory=dict)

    def table(self) -> str:
        """The summary as a text table, and one line per target saying which method wins."""
        lines = []
        for target, rows in self.summary.groupby("target", sort=False):
            lines.append(f"{target}: mean over steps 1..{self.per_step['step'].max()} and {self.origins} origins")
            lines.append(f"  {'method':<22}" + "".join(f"{m.upper():>11}" for m in METRICS))
            for _, row in rows.iterrows():
                lines.append(f"  {row['method']:<22}" + "".join(f"{row[m]:>11.4g}" for m in METRICS))
            lines.append("  " + self.verdict(target))
        return "\n".join(lines)

    def verdict(self, target: str) -> str:
        """One sentence: which method has the lowest MASE and how the model compares with each baseline."""
        rows = self.summary[self.summary["target"] == target].set_index("method")["mase"]
        best = rows.idxmin()
        mine = rows[self.model]
        beaten = [m for m in rows.index if m != self.model and mine < rows[m]]
        losing = [m for m in rows.index if m != self.model and mine >= rows[m]]
        text = f"lowest MASE: {best} ({rows[best]:.3f})."
        if beaten:
            text += f" {self.model} beats {', '.join(beaten)}"
        if losing:
            text += f"{';' if beaten else ''} {self.model} does NOT beat {', '.join(losing)}"
        return text + "."


class Forecaster:
    """A recurrent forecaster of one or more series (a global model), on pandas tables.

    Args:
        target: the column to forecast, or a list of columns.
        time: the time column (None: detected when a column parses as dates; else row order).
        id: the series-id column of a long table (one global model, per-series scaling).
        past: past covariates (columns the model reads but does not forecast).
        known: known future covariates (columns whose future rows, after the targets end, are given).
        fill: the missing-value policy (:data:`rnnkit.forecast.data.FILL_POLICIES`).
        config: a :class:`ForecastConfig`; keyword arguments override its fields.
    """

    def __init__(self, target: str | list[str], *, time: str | None = None, id: str | None = None,
                 past: tuple | list = (), known: tuple | list = (), fill: str = "interpolate",
                 config: ForecastConfig | None = None, **settings: Any):
        self.targets = [target] if isinstance(target, str) else list(target)
        self.time, self.id, self.past, self.known, self.fill = time, id, list(past), list(known), fill
        unknown = sorted(set(settings) - {f.name for f in dataclasses.fields(ForecastConfig)})
        if unknown:
            raise TypeError(f"Forecaster: unknown settings {unknown}")
        self.config = dataclasses.replace(config or ForecastConfig(), **settings)
        self.config.check()
        self.panel_: Panel | None = None
        self.fitted_: dict | None = None

    # ---------------------------------------------------------------- data

    def prepare(self, frame, source: str = "the table") -> Panel:
        """``frame`` as a :class:`~rnnkit.forecast.data.Panel` with this forecaster's columns and fill policy
        (a Panel is returned as it is)."""
        if isinstance(frame, Panel):
            return frame
        return prepare(frame, self.targets, time=self.time, id=self.id, past=self.past, known=self.known,
                       fill=self.fill, source=source)

    def _season(self, panel: Panel) -> int:
        """``season``, or the period detected most often over (at most 50 of) the series."""
        return self.config.season or Counter(
            detect_season(s.values[:, 0], panel.freq) for s in panel.series[:50]).most_common(1)[0][0]

    def settings(self, panel: Panel, season: int | None = None) -> tuple[int, int, int]:
        """(season, window, validation) for ``panel`` (season: detected when None)."""
        cfg, H = self.config, self.config.horizon
        season = season or self._season(panel)
        shortest = min(len(s.values) for s in panel.series)
        validation = cfg.validation or max(2 * H, shortest // 8)
        window = cfg.window or max(2 * season, H, 8)
        # room for the validation windows and at least H training windows
        room = shortest - validation - 2 * H - season
        if not cfg.window:
            window = max(min(window, room), min(H, 8))
        needed = window + season + validation + 2 * H
        if shortest < needed:
            raise ForecastInputError(
                f"the series are too short: the shortest has {shortest} steps, fewer than the window {window} + "
                f"season {season} + validation {validation} + twice the horizon {H} = {needed}")
        return season, window, validation

    @staticmethod
    def _arrays(panel: Panel, calendar: bool, extra: int = 0) -> list[Arrays]:
        """The network's view of every series; ``extra`` > 0 adds that many future steps of known covariates."""
        out = []
        for s in panel.series:
            times = s.times
            known = s.known
            if extra:
                future = panel.future_known.get(s.id, np.zeros((0, known.shape[1])))
                if not known.shape[1]:
                    future = np.zeros((extra, 0))
                if len(future) < extra:
                    raise ForecastInputError(
                        f"known covariates {', '.join(map(repr, panel.known))}: series {s.id!r} gives "
                        f"{len(future)} future rows after its last target, fewer than the horizon {extra}")
                known = np.concatenate([known, future[:extra]], axis=0)
                ahead = future_times(times[-1], panel.freq, panel.step, extra)
                times = (np.concatenate([np.asarray(times), ahead]) if panel.freq is None
                         else times.append(ahead))
            cal = calendar_features(times, panel.freq) if calendar else np.zeros((len(times), 0))
            out.append(Arrays(s.values, s.past, np.concatenate([known, cal], axis=1), s.known.shape[1]))
        return out

    # ---------------------------------------------------------------- fitting

    def _plan(self, arrays: list[Arrays], season: int, window: int, validation: int) -> tuple[dict, list, list, list]:
        """Network arguments and the (series, origin) pairs: fit before the validation tail, validation, all."""
        H, cfg = self.config.horizon, self.config
        fit, val, every = [], [], []
        for i, a in enumerate(arrays):
            T = len(a.values)
            fit += [(i, t) for t in origins(T, window, H, season, first_target_before=T - validation)]
            val += [(i, t) for t in origins(T, window, H, season, start=T - validation)]
            every += [(i, t) for t in origins(T, window, H, season)]
        a = arrays[0]
        net_args = dict(cell=cfg.cell, inputs=a.values.shape[1] + a.past.shape[1] + a.known.shape[1],
                        hidden=cfg.hidden, window=window, targets=a.values.shape[1], horizon=H,
                        future=a.known.shape[1])
        return net_args, fit, val, every

    def _train_kwargs(self, member: int) -> dict:
        cfg = self.config
        return dict(patience=cfg.patience, batch_size=cfg.batch_size, batches_per_epoch=cfg.batches_per_epoch,
                    lr=cfg.lr, seed=cfg.seed + member)

    def _candidate_tasks(self, arrays, season, window, validation) -> list[tuple[Callable, tuple]]:
        """One training task per (mode, ensemble member)."""
        net_args, fit, val, _ = self._plan(arrays, season, window, validation)
        modes = MODES if self.config.normalize == "auto" else (self.config.normalize,)
        return [(_train_task, (net_args, arrays, fit, val, window, self.config.horizon, season, mode,
                               self.config.epochs, self._train_kwargs(member)))
                for mode in modes for member in range(self.config.ensemble)]

    @staticmethod
    def _choose(candidates: list[dict]) -> dict:
        """The mode whose members' averaged forecasts have the lowest validation MASE, with its scores."""
        scores = {}
        for mode in dict.fromkeys(c["mode"] for c in candidates):
            members = [c for c in candidates if c["mode"] == mode]
            first = members[0]
            pred = np.mean([c["val_pred"] for c in members], axis=0)  # (N_val, H, C)
            errors = np.abs(pred - first["val_true"]) / first["val_scale"]
            mase = float(errors.mean())
            scores[mode] = {"mode": mode, "members": members, "val_errors": errors,
                            "val_mase": mase if np.isfinite(mase) else np.inf}
        chosen = min(scores.values(), key=lambda c: c["val_mase"])
        if not np.isfinite(chosen["val_mase"]):
            raise RuntimeError("training diverged (the validation error was never finite); try a lower lr")
        return {**chosen, "all": scores}

    def _refit_tasks(self, arrays, season, window, validation, chosen: dict) -> list[tuple[Callable, tuple]]:
        """One task per member of the chosen mode: every window, for the epochs its early stopping chose."""
        if not self.config.refit:
            return []
        net_args, _, _, every = self._plan(arrays, season, window, validation)
        return [(_train_task, (net_args, arrays, every, [], window, self.config.horizon, season, chosen["mode"],
                               member["epoch"], self._train_kwargs(e))) for e, member in enumerate(chosen["members"])]

    def _finish(self, candidates: list[dict], refitted: list[dict], season, window, validation, arrays) -> dict:
        """The fitted state from the candidates' results and the refits'."""
        chosen = self._choose(candidates)
        q = np.quantile(chosen["val_errors"], self.config.level, axis=0)  # (H, C)
        net_args, *_ = self._plan(arrays, season, window, validation)
        members = refitted or chosen["members"]
        return {"net": {**net_args, "members": len(members)}, "mode": chosen["mode"], "season": season,
                "window": window, "validation": validation, "quantiles": q.tolist(),
                "epoch": [m["epoch"] for m in chosen["members"]],
                "state": {f"members.{e}.{k}": v for e, m in enumerate(members) for k, v in m["state"].items()},
                "losses": [m["losses"] for m in members],
                "candidates": {mode: {"val_mase": round(c["val_mase"], 6) if np.isfinite(c["val_mase"]) else None,
                                      "epochs": [m["epoch"] for m in c["members"]],
                                      "epochs_run": [m["epochs_run"] for m in c["members"]]}
                               for mode, c in chosen["all"].items()}}

    def fit(self, frame, *, source: str = "the table", scheduler: str | None = None, jobs: int = 1,
            progress: Callable[[int, int], None] | None = None) -> "Forecaster":
        """Fit on every series of ``frame`` (see the module's description); returns self."""
        panel = self.prepare(frame, source)
        season, window, validation = self.settings(panel)
        arrays = self._arrays(panel, self.config.calendar)
        with Tasks(scheduler, jobs, progress) as tasks:
            candidate_tasks = self._candidate_tasks(arrays, season, window, validation)
            tasks.expect(len(candidate_tasks) + self.config.ensemble * int(self.config.refit))
            candidates = tasks.map(candidate_tasks)
            refitted = tasks.map(self._refit_tasks(arrays, season, window, validation, self._choose(candidates)))
        self.fitted_ = self._finish(candidates, refitted, season, window, validation, arrays)
        self.panel_ = panel
        return self

    @property
    def season_(self) -> int:
        self._require_fitted()
        return self.fitted_["season"]

    def _require_fitted(self) -> None:
        if self.fitted_ is None:
            raise RuntimeError("this Forecaster is not fitted yet: call fit() or Forecaster.load() first")

    def _network(self) -> ForecastEnsemble:
        net = ForecastEnsemble(**self.fitted_["net"])
        net.load_state_dict(self.fitted_["state"])
        return net

    # ---------------------------------------------------------------- prediction

    def predict(self, frame=None, *, source: str = "the table"):
        """The next ``horizon`` steps after each series of ``frame`` (default: the data of :meth:`fit`).

        Returns:
            A DataFrame: [id,] time (or ``step``), then per target its point forecast, ``_lower`` and ``_upper``.
        """
        self._require_fitted()
        panel = self.panel_ if frame is None else self.prepare(frame, source)
        return self._predict_panel(panel)

    def _predict_panel(self, panel: Panel):
        pd = require_pandas()
        f, H = self.fitted_, self.config.horizon
        arrays = self._arrays(panel, self.config.calendar, extra=H)
        needed = f["window"] + f["season"]
        for s, a in zip(panel.series, arrays):
            if len(a.values) < needed:
                raise ForecastInputError(f"series {s.id!r} has {len(a.values)} steps, fewer than the window "
                                         f"{f['window']} + season {f['season']} = {needed} the model reads")
        point = self._point(arrays, [len(a.values) for a in arrays])  # (N, H, C)
        q = np.asarray(f["quantiles"])  # (H, C)
        frames = []
        for s, a, yhat in zip(panel.series, arrays, point):
            scale = a.scale(f["season"])  # (C,)
            times = future_times(s.times[-1], panel.freq, panel.step, H)
            part = {} if panel.id is None else {panel.id: [s.id] * H}
            part[panel.time or "step"] = times
            for c, name in enumerate(panel.targets):
                part[name] = yhat[:, c]
                part[f"{name}_lower"] = yhat[:, c] - q[:, c] * scale[c]
                part[f"{name}_upper"] = yhat[:, c] + q[:, c] * scale[c]
            frames.append(pd.DataFrame(part))
        out = pd.concat(frames, ignore_index=True)
        out.attrs["level"] = self.config.level
        return out

    def _point(self, arrays: list[Arrays], at: list[int]) -> np.ndarray:
        """Forecasts from origin ``at[i]`` of every series: (N, H, C)."""
        f = self.fitted_
        scales = [a.scale(f["season"]) for a in arrays]
        win = make_windows(arrays, list(enumerate(at)), f["window"], self.config.horizon, f["season"], f["mode"],
                           scales, targets=False)
        return predict_windows(self._network(), win)

    # ---------------------------------------------------------------- backtest

    def backtest(self, frame, k: int = 3, *, step: int | None = None, references: list[str] | None = None,
                 source: str = "the table", scheduler: str | None = None, jobs: int = 1,
                 progress: Callable[[int, int], None] | None = None, chunk: int = 100) -> Backtest:
        """Rolling-origin evaluation over ``k`` origins, ``step`` steps apart (default: the horizon).

        At each origin the forecaster is fitted on the history before it (this object is not changed)
        and its next H steps are scored with naive, seasonal naive and ``references`` (default: every
        installed one of AutoETS and AutoARIMA), per step ahead.
        """
        pd = require_pandas()
        H = self.config.horizon
        references = baselines.available() if references is None else list(references)
        panel = self.prepare(frame, source)
        plans = self.backtest_plans(panel, k, step)
        arrays = [self._arrays(h, self.config.calendar, extra=H) for h, *_ in plans]
        fit_arrays = [[Arrays(a.values, a.past, a.known[: len(a.values)], a.given) for a in arr] for arr in arrays]
        with Tasks(scheduler, jobs, progress) as tasks:
            first, owners = [], []
            for j, ((h, season, window, validation), arr) in enumerate(zip(plans, fit_arrays)):
                for task in self._candidate_tasks(arr, season, window, validation):
                    first.append(task)
                    owners.append(("fit", j))
                for c0 in range(0, len(h.series), chunk):
                    block = [s.values[:, c] for s in h.series[c0 : c0 + chunk] for c in range(len(h.targets))]
                    first.append((baselines.forecast, (block, H, season, references)))
                    owners.append(("ref", j))
            tasks.expect(len(first) + (k * self.config.ensemble if self.config.refit else 0))
            results = tasks.map(first)
            candidates = {j: [r for r, o in zip(results, owners) if o == ("fit", j)] for j in range(k)}
            refs = {j: [r for r, o in zip(results, owners) if o == ("ref", j)] for j in range(k)}
            refits = [self._refit_tasks(fit_arrays[j], season, window, validation, self._choose(candidates[j]))
                      for j, (h, season, window, validation) in enumerate(plans)]
            done = iter(tasks.map([task for per_origin in refits for task in per_origin]))
            refitted = [[next(done) for _ in per_origin] for per_origin in refits]
        model_name = f"rnnkit {self.config.cell.upper()}"
        rows, chosen_modes, candidate_scores = [], [], []
        saved = self.fitted_
        try:
            for j, (h, season, window, validation) in enumerate(plans):
                self.fitted_ = self._finish(candidates[j], refitted[j], season, window, validation, fit_arrays[j])
                chosen_modes.append(self.fitted_["mode"])
                candidate_scores.append(self.fitted_["candidates"])
                point = self._point(arrays[j], [len(a.values) for a in arrays[j]])  # (N, H, C)
                reference = {name: np.concatenate([r[name] for r in refs[j]]) for name in references}  # (N*C, H)
                for i, (s, full) in enumerate(zip(h.series, panel.series)):
                    start = len(s.values)
                    for c, target in enumerate(panel.targets):
                        history, actual = s.values[:, c], full.values[start : start + H, c]
                        methods = {model_name: point[i, :, c], "naive": naive(history, H),
                                   f"seasonal naive (m={season})": seasonal_naive(history, H, season)}
                        methods.update({name: reference[name][i * len(panel.targets) + c] for name in references})
                        scale = mase_scale(history, season)
                        for hstep in range(H):
                            rows.append({"series": s.id, "origin": j + 1, "origin_time": full.times[start],
                                         "time": full.times[start + hstep], "step": hstep + 1, "target": target, "actual": actual[hstep],
                                         "scale": scale, **{m: float(v[hstep]) for m, v in methods.items()}})
        finally:
            self.fitted_ = saved
        forecasts = pd.DataFrame(rows)
        method_names = [c for c in forecasts.columns if c not in
                        ("series", "origin", "origin_time", "time", "step", "target", "actual", "scale")]
        per, summary, winners = [], [], {}
        for target, part in forecasts.groupby("target", sort=False):
            wide = {m: part.pivot_table(index=["series", "origin"], columns="step", values=m, sort=True, dropna=False)
                    for m in [*method_names, "actual", "scale"]}
            scale = wide["scale"].iloc[:, 0].to_numpy()
            for m in method_names:
                scores = per_step(wide[m].to_numpy(), wide["actual"].to_numpy(), scale)
                for hstep in range(H):
                    per.append({"target": target, "method": m, "step": hstep + 1,
                                **{name: float(v[hstep]) for name, v in scores.items()}})
                summary.append({"target": target, "method": m, **{n: float(v.mean()) for n, v in scores.items()}})
        per, summary = pd.DataFrame(per), pd.DataFrame(summary)
        for target, part in summary.groupby("target", sort=False):
            winners[target] = {m: part.loc[part[m].idxmin(), "method"] for m in METRICS}
        return Backtest(per, summary, forecasts, winners, model_name, plans[-1][1], k,
                        {"modes": chosen_modes, "candidates": candidate_scores, "windows": [p[2] for p in plans]})

    def backtest_plans(self, panel: Panel, k: int, step: int | None = None) -> list[tuple]:
        """For each origin, earliest first: (history, season, window, validation); ForecastInputError when the
        series are too short for ``k`` origins ``step`` steps apart."""
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ForecastInputError(f"backtest: expected k >= 1 origins, got {k!r}")
        H = self.config.horizon
        step = step or H
        offsets = [H + (k - 1 - j) * step for j in range(k)]  # steps held out at each origin, earliest first
        shortest = min(len(s.values) for s in panel.series)
        if shortest - offsets[0] < 1:
            raise ForecastInputError(f"backtest: {k} origins {step} steps apart need more than {offsets[0]} "
                                     f"steps; the shortest series has {shortest}")
        histories = [panel.truncate(o) for o in offsets]
        season = self._season(histories[0])  # from the earliest history, the same at every origin
        return [(h, *self.settings(h, season)) for h in histories]

    # ---------------------------------------------------------------- files

    def save(self, directory: str) -> None:
        """Write ``model.safetensors`` and ``config.json`` (kind ``forecast``) into ``directory``, atomically."""
        self._require_fitted()
        os.makedirs(directory, exist_ok=True)
        f, panel = self.fitted_, self.panel_
        serialization.save(f["state"], os.path.join(directory, "model.safetensors"))
        config = {
            "kind": "forecast", "model": f["net"],
            "columns": {"targets": self.targets, "time": panel.time if panel else self.time, "id": self.id,
                        "past": self.past, "known": self.known, "fill": self.fill},
            "forecaster": dataclasses.asdict(self.config),
            "fitted": {k: v for k, v in f.items() if k not in ("state", "net")},
            "data": {"freq": panel.freq if panel else None, "step": panel.step if panel else 1},
        }
        serialization.atomic_write_text(os.path.join(directory, "config.json"), json.dumps(config, indent=2) + "\n")

    @classmethod
    def load(cls, directory: str) -> "Forecaster":
        """A fitted Forecaster from a directory written by :meth:`save` (``predict`` needs a table then)."""
        path = os.path.join(directory, "config.json")
        try:
            with open(path, encoding="utf-8") as file:
                config = json.load(file)
            weights = serialization.load(os.path.join(directory, "model.safetensors"))
        except (OSError, ValueError) as error:
            raise ForecastInputError(f"{directory}: not a saved forecaster ({error})") from None
        return cls.from_config(config, weights, directory)

    @classmethod
    def from_config(cls, config: dict, weights: dict, source: str = "the config") -> "Forecaster":
        """A fitted Forecaster from the ``config.json`` of :meth:`save` (parsed) and its weights."""
        if not isinstance(config, dict) or config.get("kind") != "forecast" or "fitted" not in config:
            raise ForecastInputError(f"{source}: not a saved rnnkit forecaster (config.json kind "
                                     f"{config.get('kind') if isinstance(config, dict) else None!r})")
        try:
            cols = config["columns"]
            model = cls(cols["targets"], time=cols["time"], id=cols["id"], past=cols["past"], known=cols["known"],
                        fill=cols["fill"], config=ForecastConfig(**config["forecaster"]))
            model.fitted_ = {**config["fitted"], "net": config["model"], "state": weights}
            model._network()  # the weights fit the architecture
        except (KeyError, TypeError, ValueError) as error:
            raise ForecastInputError(f"{source}: not a usable saved forecaster ({type(error).__name__}: "
                                     f"{error})") from None
        return model


def _train_task(net_args, arrays, fit, val, window, horizon, season, mode, epochs, kwargs) -> dict:
    """One training run (a Dask task): :func:`~rnnkit.forecast.network.train` plus its mode."""
    result = train(net_args, arrays, fit, val, window, horizon, season, mode, epochs=epochs, **kwargs)
    return {**result, "mode": mode}
