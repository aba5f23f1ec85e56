"""`rnnkit forecast`: beats the naive baseline on a seasonal series, and the baselines themselves."""

from __future__ import annotations

import json
import os

import numpy as np

from rnnkit.cli import main
from rnnkit.cli.forecast import detect_season, naive, seasonal_naive


def write_csv(path, values, column="value"):
    path.write_text(f"t,{column}\n" + "".join(f"{i},{v:.6f}\n" for i, v in enumerate(values)), encoding="utf-8")
    return str(path)


def seasonal_series(n=300, period=12, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 10 + 0.02 * t + 3 * np.sin(2 * np.pi * t / period) + rng.normal(0, 0.3, n)


def test_forecast_beats_naive_on_a_seasonal_series(tmp_path, capsys):
    csv_path = write_csv(tmp_path / "series.csv", seasonal_series())
    out = str(tmp_path / "fc")
    assert main(["forecast", csv_path, "--column", "value", "--window", "24", "--horizon", "3", "--hidden", "24",
                 "--epochs", "15", "--out", out]) == 0
    stdout = capsys.readouterr().out
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert metrics["season"] == 12 and metrics["season_detected"]
    assert metrics["split"] == {"train": 210, "validation": 45, "test": 45}
    model, baseline = metrics["scores"]["LSTM"], metrics["scores"]["naive"]
    assert metrics["beats_naive"] and model["mae"] < 0.6 * baseline["mae"]
    assert model["rmse"] < baseline["rmse"] and model["mase"] < 1
    assert "beats the naive last-value baseline" in stdout
    assert os.path.getsize(os.path.join(out, "forecast.png")) > 0
    assert main(["inspect", out]) == 0
    assert "forecast model" in capsys.readouterr().out


def test_forecast_says_plainly_when_it_does_not_beat_naive(tmp_path, capsys):
    walk = np.cumsum(np.random.default_rng(1).normal(0, 1, 200))  # naive is the best forecast of a random walk
    csv_path = write_csv(tmp_path / "walk.csv", walk)
    out = str(tmp_path / "fc")
    assert main(["forecast", csv_path, "--column", "value", "--window", "8", "--hidden", "8", "--epochs", "1",
                 "--lr", "1.0", "--season", "5", "--out", out]) == 0
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert not metrics["beats_naive"]
    assert "does NOT beat the naive last-value baseline" in capsys.readouterr().out


def test_baselines_and_season_detection():
    y = np.tile(np.array([1.0, 5.0, 2.0, 8.0, 3.0, 0.0, 4.0]), 20) + 0.01 * np.arange(140)
    assert detect_season(y) == 7
    assert detect_season(np.random.default_rng(0).normal(size=300)) == 1
    starts = np.array([30, 31, 50])
    np.testing.assert_array_equal(naive(y, starts, 3), np.repeat(y[starts - 1][:, None], 3, axis=1))
    pure = np.tile(np.arange(6.0), 10)
    target = np.stack([pure[t : t + 8] for t in starts])
    np.testing.assert_array_equal(seasonal_naive(pure, starts, 8, 6), target)  # exact on a purely periodic series
    # one season back for h < m, two seasons back for m <= h < 2m
    assert seasonal_naive(y, np.array([30]), 9, 7)[0, 7] == y[30 + 7 - 14]
