"""`rnnkit forecast --backtest` on real series shipped inside installed packages, and a many-series timing.

    python benchmarks/forecast.py               # the table of the README's forecasting section
    python benchmarks/forecast.py --many 1000   # a 1,000-series backtest, its total time

Series: AirPassengers (sktime's bundled datasets, monthly 1949-1960), co2 (statsmodels,
Mauna Loa weekly 1958-2001, averaged to months; its missing weeks are skipped by the mean),
sunspots (statsmodels, yearly 1700-2008) and elnino (statsmodels, monthly sea surface
temperatures 1950-2010, from its year-by-month table). Each is written to a CSV and run
through the command line exactly as a user would: ``rnnkit forecast SERIES.csv --horizon 12
--backtest 3 --ensemble 3 --references AutoETS`` (3 rolling origins 12 steps apart: the last
36 steps are scored; 3 networks per normalisation mode, averaged; the mode, one of scale,
season and profile, chosen at each origin on the validation tail of its history). The
many-series run writes a long CSV of synthetic seasonal series with different levels, trends,
periods and noise and backtests one global model over all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

from rnnkit.cli import main as rnnkit

COMMAND = ["--horizon", "12", "--backtest", "3", "--ensemble", "3", "--references", "AutoETS", "--quiet"]


def series() -> dict:
    """name -> DataFrame (time column, value column)."""
    import pandas as pd
    import statsmodels.api as sm
    from sktime.datasets import load_airline

    air = load_airline()
    co2 = sm.datasets.co2.load_pandas().data["co2"].resample("MS").mean()
    spots = sm.datasets.sunspots.load_pandas().data
    nino = sm.datasets.elnino.load_pandas().data
    months = nino.columns[1:]
    return {
        "AirPassengers": pd.DataFrame({"month": air.index.to_timestamp().strftime("%Y-%m-%d"),
                                       "passengers": air.to_numpy()}),
        "co2": pd.DataFrame({"month": co2.index.strftime("%Y-%m-%d"), "co2": co2.to_numpy()}),
        "sunspots": pd.DataFrame({"year": [f"{int(y)}-01-01" for y in spots["YEAR"]],
                                  "activity": spots["SUNACTIVITY"].to_numpy()}),
        "elnino": pd.DataFrame([(f"{int(row.YEAR)}-{i + 1:02d}-01", row[m]) for _, row in nino.iterrows()
                                for i, m in enumerate(months)], columns=["month", "temperature"]),
    }


def table(workdir: str) -> str:
    rows = ["| series | length | season | rnnkit GRU | seasonal naive | AutoETS | beats seasonal naive | "
            "matches or beats AutoETS | seconds |", "|---|---:|---:|---:|---:|---:|---|---|---:|"]
    for name, frame in series().items():
        path = os.path.join(workdir, f"{name}.csv")
        frame.to_csv(path, index=False)
        out = os.path.join(workdir, name)
        start = time.perf_counter()
        assert rnnkit(["forecast", path, *COMMAND, "--out", out, "--overwrite"]) == 0
        seconds = time.perf_counter() - start
        metrics = json.load(open(os.path.join(out, "metrics.json")))
        mase = {row["method"]: row["mase"] for row in metrics["backtest"]["summary"]}
        snaive = next(v for k, v in mase.items() if k.startswith("seasonal naive"))
        mine = mase["rnnkit GRU"]
        rows.append(f"| {name} | {len(frame)} | {metrics['season']} | {mine:.3f} | {snaive:.3f} | "
                    f"{mase['AutoETS']:.3f} | {'yes' if mine < snaive else '**no**'} | "
                    f"{'yes' if mine <= mase['AutoETS'] else '**no**'} | {seconds:.0f} |")
        print(rows[-1], flush=True)
    return "\n".join(rows)


def many(count: int, jobs: int, workdir: str) -> None:
    import pandas as pd

    rng = np.random.default_rng(0)
    parts = []
    for i in range(count):
        n, period = 72, int(rng.choice([4, 6, 12]))
        t = np.arange(n)
        y = (rng.uniform(10, 100) + rng.normal(0, 0.05) * t * 10
             + rng.uniform(1, 10) * np.sin(2 * np.pi * t / period + rng.uniform(0, 6)) + rng.normal(0, 1, n))
        parts.append(pd.DataFrame({"series": f"s{i:04d}", "month": pd.date_range("2015-01-01", periods=n,
                                   freq="MS").strftime("%Y-%m-%d"), "value": y}))
    path = os.path.join(workdir, "many.csv")
    pd.concat(parts).to_csv(path, index=False)
    argv = ["forecast", path, "--id", "series", "--horizon", "6", "--season", "12", "--backtest", "2",
            "--normalize", "season", "--epochs", "20", "--references", "AutoETS", "--jobs", str(jobs),
            "--out", os.path.join(workdir, "many"), "--overwrite"]
    print("rnnkit " + " ".join(argv), flush=True)
    start = time.perf_counter()
    assert rnnkit(argv) == 0
    print(f"{count} series, {jobs} worker(s): total {time.perf_counter() - start:.1f} s", flush=True)


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--many", type=int, default=0, help="backtest this many synthetic series instead")
    parser.add_argument("--jobs", type=int, default=2, help="Dask workers of the many-series run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        if args.many:
            many(args.many, args.jobs, workdir)
        else:
            print(table(workdir))
    return 0


if __name__ == "__main__":
    sys.exit(run())
