"""Write examples/series.csv: a synthetic daily series for ``rnnkit forecast`` (run: python examples/make_series.py).

Two years of daily values with a slow trend, a weekly and a yearly cycle and Gaussian
noise, from a fixed seed, so the file is the same on every machine::

    value_t = 100 + 0.02 t + 8 sin(2 pi t / 7) + 15 sin(2 pi t / 365.25) + noise_t,  noise_t ~ N(0, 2^2)
"""

import datetime
import pathlib

import numpy as np

DAYS = 730  # two years
START = datetime.date(2024, 1, 1)  # the first date


def series(days: int = DAYS, seed: int = 0) -> np.ndarray:
    """The values (days,) of the equation above."""
    t = np.arange(days)
    noise = np.random.default_rng(seed).normal(0.0, 2.0, days)
    return 100 + 0.02 * t + 8 * np.sin(2 * np.pi * t / 7) + 15 * np.sin(2 * np.pi * t / 365.25) + noise


def main() -> None:
    rows = [f"{START + datetime.timedelta(days=int(i))},{v:.2f}" for i, v in enumerate(series())]
    path = pathlib.Path(__file__).with_name("series.csv")
    path.write_text("date,value\n" + "\n".join(rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
