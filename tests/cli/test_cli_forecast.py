"""`rnnkit forecast` and `rnnkit.forecast`: dates, the future, many series, backtests, Dask == serial."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

pd = pytest.importorskip("pandas", reason="rnnkit.forecast reads tables with pandas")

from rnnkit.cli import main  # noqa: E402
from rnnkit.forecast import Forecaster, detect_season, naive, prepare, seasonal_naive  # noqa: E402
from rnnkit.forecast.data import ForecastInputError  # noqa: E402

FAST = dict(hidden=6, epochs=3, patience=2, batches_per_epoch=2)  # a few optimizer steps: shapes and plumbing
FAST_CLI = ["--hidden", "6", "--epochs", "3", "--patience", "2"]


def seasonal(n, period=12, seed=0, trend=0.02):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 10 + trend * t + 3 * np.sin(2 * np.pi * t / period) + rng.normal(0, 0.3, n)


def monthly_frame(n=96, seed=0):
    return pd.DataFrame({"month": pd.date_range("2001-01-01", periods=n, freq="MS").strftime("%Y-%m-%d"),
                         "sales": seasonal(n, seed=seed)})


def test_newest_first_csv_gives_the_same_forecast_as_oldest_first(tmp_path):
    frame = monthly_frame()
    frame.to_csv(tmp_path / "old.csv", index=False)
    frame.iloc[::-1].to_csv(tmp_path / "new.csv", index=False)
    outs = []
    for name in ("old", "new"):
        assert main(["forecast", str(tmp_path / f"{name}.csv"), "--horizon", "6", *FAST_CLI,
                     "--out", str(tmp_path / f"run-{name}")]) == 0
        outs.append(pd.read_csv(tmp_path / f"run-{name}" / "forecast.csv"))
    pd.testing.assert_frame_equal(outs[0], outs[1])
    assert outs[0]["month"].iloc[0] == "2009-01-01"


def test_gaps_and_missing_values_follow_the_policy_and_are_reported(tmp_path, capsys):
    frame = monthly_frame().astype(object)
    frame.loc[10, "sales"] = ""  # an empty cell
    frame.loc[20, "sales"] = np.nan
    frame = frame.drop(index=[30, 31])  # two missing months
    values = frame.astype(str).replace("nan", "")
    panel = prepare(values, ["sales"])
    assert panel.freq == "MS" and panel.report["gaps"] == 2 and panel.report["filled"] == 4
    y = panel.series[0].values[:, 0]
    assert len(y) == 96 and np.isfinite(y).all()
    full = seasonal(96)
    np.testing.assert_allclose(y[10], (full[9] + full[11]) / 2)  # linear interpolation
    np.testing.assert_allclose(y[30:32], full[29] + (full[32] - full[29]) * np.array([1, 2]) / 3)
    ffilled = prepare(values, ["sales"], fill="ffill").series[0].values[:, 0]
    assert ffilled[30] == ffilled[31] == full[29]
    dropped = prepare(values, ["sales"], fill="drop")
    assert len(dropped.series[0].values) == 96 - 4 and dropped.report["dropped"] == 4
    with pytest.raises(ForecastInputError, match="--fill error: column 'sales' has a missing value at 2001-11-01"):
        prepare(values, ["sales"], fill="error")
    values.to_csv(tmp_path / "holes.csv", index=False)
    assert main(["forecast", str(tmp_path / "holes.csv"), "--horizon", "6", *FAST_CLI,
                 "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "2 missing time steps (gaps)" in err and "4 missing values filled by --fill interpolate" in err


@pytest.mark.parametrize("freq, first", [("D", "2020-03-01"), ("W-SUN", "2020-03-01"), ("MS", "2020-03-01"),
                                         ("h", "2020-03-01 00:00:00")])
def test_forecast_csv_has_the_next_timestamps(tmp_path, freq, first):
    times = pd.date_range(end="2020-02-29" if freq != "W-SUN" else "2020-02-23", periods=80, freq=freq)
    if freq == "h":
        times = pd.date_range(end="2020-02-29 23:00", periods=80, freq="h")
    frame = pd.DataFrame({"when": times.astype(str), "y": seasonal(80, period=7)})
    frame.to_csv(tmp_path / "s.csv", index=False)
    assert main(["forecast", str(tmp_path / "s.csv"), "--horizon", "3", "--season", "7", *FAST_CLI,
                 "--out", str(tmp_path / "run")]) == 0
    out = pd.read_csv(tmp_path / "run" / "forecast.csv")
    expected = pd.date_range(times[-1], periods=4, freq=freq)[1:]
    assert list(pd.to_datetime(out["when"])) == list(expected)
    assert str(expected[0]).startswith(first)
    assert (out["y_lower"] <= out["y"]).all() and (out["y"] <= out["y_upper"]).all()


@pytest.mark.parametrize("period, freq", [(7, "D"), (12, "MS"), (24, "h"), (52, "W-SUN")])
def test_known_periods_are_detected(period, freq):
    y = seasonal(8 * period, period=period, seed=period)
    assert detect_season(y, freq) == period
    assert detect_season(y) == period  # from the autocorrelation alone
    assert detect_season(np.random.default_rng(0).normal(size=300)) == 1


def test_a_yearly_cycle_of_daily_data_is_not_taken_for_a_short_period():
    rng = np.random.default_rng(0)
    noise = np.zeros(3 * 365)
    for i in range(1, len(noise)):  # persistent weather: AR(1)
        noise[i] = 0.7 * noise[i - 1] + rng.normal(0, 2)
    temperature = 10 + 8 * np.sin(2 * np.pi * np.arange(len(noise)) / 365.25) + noise
    assert detect_season(temperature, "D") == 365


def test_three_series_long_csv_one_model_three_forecasts(tmp_path, capsys):
    parts = [pd.DataFrame({"store": name, "day": pd.date_range("2021-01-01", periods=70, freq="D").astype(str),
                           "sales": seasonal(70, period=7, seed=i) * (i + 1)}) for i, name in enumerate("abc")]
    pd.concat(parts).sample(frac=1.0, random_state=0).to_csv(tmp_path / "long.csv", index=False)
    out = tmp_path / "run"
    assert main(["forecast", str(tmp_path / "long.csv"), "--id", "store", "--horizon", "5", *FAST_CLI, "--json",
                 "--out", str(out)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1]["event"] == "result" and lines[-1]["rows"] == 15
    forecast = pd.read_csv(out / "forecast.csv")
    assert forecast.groupby("store").size().to_dict() == {"a": 5, "b": 5, "c": 5}
    assert set(forecast["day"]) == {str(d.date()) for d in pd.date_range("2021-03-12", periods=5)}
    config = json.load(open(out / "config.json"))
    assert config["kind"] == "forecast" and config["columns"]["id"] == "store"
    assert sorted(os.listdir(out)) == [".rnnkit.lock", "config.json", "forecast.csv", "forecast.png", "metrics.json",
                                       "model.safetensors"]
    # per-series scaling: the larger series gets the larger forecast
    means = forecast.groupby("store")["sales"].mean()
    assert means["a"] < means["b"] < means["c"]
    # the saved model forecasts new data without training
    assert main(["forecast", str(tmp_path / "long.csv"), "--load", str(out), "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "forecast" / "forecast.csv"), forecast)


def test_backtest_beats_seasonal_naive_and_says_which_wins(tmp_path, capsys):
    frame = monthly_frame(156, seed=3)
    model = Forecaster("sales", horizon=12, hidden=16, epochs=40)
    bt = model.backtest(frame, k=2, references=[])
    summary = bt.summary.set_index("method")["mase"]
    assert summary["rnnkit GRU"] < summary["seasonal naive (m=12)"] < summary["naive"]
    assert bt.winners["sales"]["mase"] == "rnnkit GRU" and "lowest MASE: rnnkit GRU" in bt.table()
    assert len(bt.per_step) == 3 * 12 and set(bt.per_step["step"]) == set(range(1, 13))
    assert model.fitted_ is None  # a backtest does not fit the forecaster itself


def test_backtest_scores_against_the_references(tmp_path, capsys):
    pytest.importorskip("statsforecast", reason="AutoETS/AutoARIMA come from statsforecast here")
    monthly_frame(120).to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "run"
    assert main(["forecast", str(tmp_path / "m.csv"), "--horizon", "6", "--backtest", "2", *FAST_CLI,
                 "--references", "AutoETS", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "AutoETS" in text and "lowest MASE:" in text
    per_step = pd.read_csv(out / "backtest.csv")
    assert set(per_step["method"]) == {"rnnkit GRU", "naive", "seasonal naive (m=12)", "AutoETS"}
    assert list(per_step.columns) == ["target", "method", "step", "mae", "rmse", "mase", "smape"]
    forecasts = pd.read_csv(out / "backtest_forecasts.csv")
    snaive = forecasts[(forecasts["origin"] == 1)]["seasonal naive (m=12)"].to_numpy()
    y = monthly_frame(120)["sales"].to_numpy()
    np.testing.assert_allclose(snaive, y[108 - 12 : 108 - 6])  # origin 1 at index 108, one season back
    assert os.path.getsize(out / "backtest.png") > 0


def test_several_targets_past_and_known_covariates():
    n = 90
    t = np.arange(n + 6)
    promo = (t % 5 == 0).astype(float)
    frame = pd.DataFrame({"month": pd.date_range("2000-01-01", periods=n + 6, freq="MS").astype(str),
                          "a": np.r_[seasonal(n), [np.nan] * 6], "b": np.r_[seasonal(n, seed=1) * 2, [np.nan] * 6],
                          "temp": np.r_[seasonal(n, seed=2), [np.nan] * 6], "promo": promo})
    model = Forecaster(["a", "b"], past=["temp"], known=["promo"], horizon=6, **FAST).fit(frame)
    assert model.panel_.report["future_rows"] == 6 and len(model.panel_.series[0].values) == n
    out = model.predict()
    assert list(out.columns) == ["month", "a", "a_lower", "a_upper", "b", "b_lower", "b_upper"]
    assert out["month"].iloc[0] == pd.Timestamp("2007-07-01") and len(out) == 6
    # D = 2 targets + 1 past + (1 known + 2 calendar) inputs per step; F = 3 known per future step
    assert model.fitted_["net"]["inputs"] == 6 and model.fitted_["net"]["future"] == 3
    with pytest.raises(ForecastInputError, match="gives 0 future rows after its last target"):
        model.predict(frame.iloc[:n])


def anomalies(n, period=12, seed=0, phi=0.8):
    """A fixed seasonal profile plus AR(1) anomalies: the last season's anomaly does not persist."""
    rng = np.random.default_rng(seed)
    a = np.zeros(n)
    for t in range(1, n):
        a[t] = phi * a[t - 1] + rng.normal(0, 0.5)
    return 25 + 2 * np.sin(2 * np.pi * np.arange(n) / period) + a


def test_seasonal_profile_is_the_least_squares_trend_plus_seasonal_means():
    from rnnkit.forecast.network import seasonal_profile

    rng = np.random.default_rng(0)
    T, m = 50, 4
    y = rng.normal(size=(T, 2))
    design = np.concatenate([np.eye(m)[np.arange(T) % m], np.arange(T)[:, None]], axis=1)  # dummies, trend
    steps = np.arange(T - 6, T + 5)
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    expected = np.concatenate([np.eye(m)[steps % m], steps[:, None]], axis=1) @ coef
    np.testing.assert_allclose(seasonal_profile(y, m, steps), expected, atol=1e-10)
    line = [np.polyval(np.polyfit(np.arange(T), y[:, c], 1), T) for c in range(2)]
    np.testing.assert_allclose(seasonal_profile(y, 1, np.array([T]))[0], line, atol=1e-10)  # m = 1: a line
    one = y[:4]  # one step a phase: no trend can be estimated (b = 0), the profile repeats the values
    np.testing.assert_allclose(seasonal_profile(one, 4, np.arange(4, 8)), one)


def test_the_profile_mode_baseline_uses_only_the_past():
    from rnnkit.forecast.network import Arrays, make_windows, seasonal_profile

    y = anomalies(60, period=4)[:, None]
    t, W, H = 40, 8, 4
    series = [Arrays(y, np.zeros((60, 0)), np.zeros((60, 0)), 0)]
    win = make_windows(series, [(0, t)], W, H, 4, "profile", [np.array([2.0])])
    profile = seasonal_profile(y[:t], 4, np.arange(t - W, t + H))
    np.testing.assert_allclose(win.base[0], profile[W:])  # untrained output layers forecast the profile
    np.testing.assert_allclose(win.x[0], (y[t - W : t] - profile[:W]) / 2.0, rtol=1e-6)  # the anomalies
    changed = [Arrays(np.r_[y[:t], y[t:] + 100], np.zeros((60, 0)), np.zeros((60, 0)), 0)]
    again = make_windows(changed, [(0, t)], W, H, 4, "profile", [np.array([2.0])])
    np.testing.assert_array_equal(again.base, win.base)  # the outcomes do not enter the baseline
    np.testing.assert_array_equal(again.x, win.x)


def test_profile_mode_is_chosen_on_validation_for_mean_reverting_anomalies():
    """Seasonal means + AR(1) anomalies: the validation tail (never the test steps) picks the profile mode,
    and the backtest beats seasonal naive."""
    n = 240
    frame = pd.DataFrame({"month": pd.date_range("1990-01-01", periods=n, freq="MS"), "sst": anomalies(n)})
    model = Forecaster("sst", horizon=12, **FAST)
    bt = model.backtest(frame, k=2, references=[])
    assert bt.details["modes"] == ["profile", "profile"]
    for scores in bt.details["candidates"]:
        assert set(scores) == {"scale", "season", "profile"}
        assert scores["profile"]["val_mase"] < min(scores["scale"]["val_mase"], scores["season"]["val_mase"])
    summary = bt.summary.set_index("method")["mase"]
    assert summary["rnnkit GRU"] < summary["seasonal naive (m=12)"]


def test_deployed_profile_mode_needs_the_profile_and_other_modes_refuse_it():
    from rnnkit.forecast.network import DeployedForecaster, ForecastEnsemble

    net = ForecastEnsemble(1, cell="gru", inputs=1, hidden=2, window=4, targets=1, horizon=2, future=0)
    history, scale, profile = np.ones((1, 6, 1)), np.ones((1, 1)), np.full((1, 6, 1), 3.0)
    deployed = DeployedForecaster(net, 4, 2, 2, "profile", 0, np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"profile: the 'profile' mode needs each series' profile \(N, 6, 1\)"):
        deployed(history, scale)
    point, lower, upper = deployed(history, scale, profile=profile)
    np.testing.assert_allclose(point.numpy(), 3.0)  # untrained output layers: the profile itself
    with pytest.raises(ValueError, match="profile: the 'season' mode reads no profile"):
        DeployedForecaster(net, 4, 2, 2, "season", 0, np.zeros((2, 1)))(history, scale, profile=profile)


def test_baselines():
    y = np.tile(np.arange(6.0), 10)
    np.testing.assert_array_equal(seasonal_naive(y[:30], 8, 6), y[30:38])  # exact on a periodic series
    assert seasonal_naive(y[:30], 9, 7)[7] == y[30 + 7 - 14]  # two seasons back for m <= h-1 < 2m
    np.testing.assert_array_equal(naive(y[:31], 3), [0.0, 0.0, 0.0])


def test_dask_local_cluster_gives_the_serial_numbers():
    pytest.importorskip("dask.distributed", reason="the Dask path needs dask.distributed")
    parts = [pd.DataFrame({"id": str(i), "y": seasonal(60, period=6, seed=i)}) for i in range(4)]
    frame = pd.concat(parts, ignore_index=True)
    model = Forecaster("y", id="id", horizon=4, **FAST)
    serial = model.backtest(frame, k=2, references=[])
    seen = []
    parallel = model.backtest(frame, k=2, references=[], jobs=2, progress=lambda done, total: seen.append(total))
    pd.testing.assert_frame_equal(serial.forecasts, parallel.forecasts)
    pd.testing.assert_frame_equal(serial.per_step, parallel.per_step)
    assert len(seen) == seen[-1] == 3 * 2 + 2 + 2  # 3 modes x 2 origins, reference chunks, refits


BAD = {
    "not numeric": ("month,sales\n2020-01-01,1\n2020-02-01,high\n", [],
                    "column 'sales': line 3 of {f} holds 'high', not a number"),
    "time does not parse": ("month,sales\n2020-01-01,1\n2020-02-01,2\nlater,3\n", ["--time", "month"],
                            "time column 'month': line 4 of {f} holds 'later', not a date or time"),
    "duplicate timestamps": ("month,sales\n" + "".join(f"2020-{m:02d}-01,{m}\n" for m in range(1, 13))
                             + "2020-03-01,5\n", ["--horizon", "2"], "duplicate timestamp 2020-03-01"),
    "too short": ("month,sales\n" + "".join(f"2020-{m:02d}-01,{m}\n" for m in range(1, 13)), ["--horizon", "3"],
                  "the series are too short: the shortest has 12 steps"),
    "unknown id": ("month,sales\n2020-01-01,1\n", ["--id", "shop"], "--id 'shop': {f} has no such column"),
    "horizon 0": ("month,sales\n2020-01-01,1\n", ["--horizon", "0"], "--horizon: expected a value >= 1, got 0"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_one_line_exit_2_nothing_written(name, tmp_path, capsys):
    text, args, expected = BAD[name]
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    assert main(["forecast", str(path), *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert expected.format(f=path) in err
    assert not out.exists()


def test_without_pandas_the_command_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "pandas", None)  # `import pandas` now fails
    (tmp_path / "s.csv").write_text("t,y\n0,1\n", encoding="utf-8")
    assert main(["forecast", str(tmp_path / "s.csv"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'rnnkit[data]'" in err
    assert not (tmp_path / "run").exists()


def test_a_column_list_given_twice_is_refused(capsys):
    assert main(["forecast", "x.csv", "--column", "a", "--column", "b"]) == 2
    assert "--column: given twice; list several names in one, separated by commas" in capsys.readouterr().err
