"""Write examples/series.csv and examples/shops.csv, synthetic data for ``rnnkit forecast`` (run: python examples/make_series.py).

Two years of daily values with a slow trend, a weekly and a yearly cycle and Gaussian
noise, from a fixed seed, so the file is the same on every machine::

    value_t = 100 + 0.02 t + 8 sin(2 pi t / 7) + 15 sin(2 pi t / 365.25) + noise_t,  noise_t ~ N(0, 2^2)

shops.csv is long format: three shops (``shop``), a year of daily ``sales`` and ``returns``
driven by a weekly cycle, the day's ``temp`` (a past covariate) and a ``promo`` flag (a known
covariate, given HORIZON days past the end, where sales and returns are empty).
"""

import datetime
import pathlib

import numpy as np

DAYS = 730  # two years
START = datetime.date(2024, 1, 1)  # the first date
SHOP_DAYS = 365  # a year per shop
HORIZON = 12  # days of promo plans past the end of shops.csv's sales


def series(days: int = DAYS, seed: int = 0) -> np.ndarray:
    """The values (days,) of the equation above."""
    t = np.arange(days)
    noise = np.random.default_rng(seed).normal(0.0, 2.0, days)
    return 100 + 0.02 * t + 8 * np.sin(2 * np.pi * t / 7) + 15 * np.sin(2 * np.pi * t / 365.25) + noise


def shop_rows(seed: int = 1) -> list[str]:
    """The rows of shops.csv (after its header)."""
    rng = np.random.default_rng(seed)
    rows = []
    for shop, level in (("north", 50.0), ("south", 80.0), ("east", 30.0)):
        t = np.arange(SHOP_DAYS + HORIZON)
        promo = (rng.random(len(t)) < 0.1).astype(int)
        temp = 15 + 10 * np.sin(2 * np.pi * t / 365.25) + rng.normal(0, 1, len(t))
        sales = level * (1 + 0.2 * np.sin(2 * np.pi * t / 7)) + 10 * promo + 0.3 * temp + rng.normal(0, 2, len(t))
        returns = 0.1 * sales + rng.normal(0, 0.5, len(t))
        for i in t:
            day = START + datetime.timedelta(days=int(i))
            known = i < SHOP_DAYS
            rows.append(f"{day},{shop},{f'{sales[i]:.2f}' if known else ''},{f'{returns[i]:.2f}' if known else ''},"
                        f"{f'{temp[i]:.1f}' if known else ''},{promo[i]}")
    return rows


def main() -> None:
    rows = [f"{START + datetime.timedelta(days=int(i))},{v:.2f}" for i, v in enumerate(series())]
    here = pathlib.Path(__file__)
    here.with_name("series.csv").write_text("date,value\n" + "\n".join(rows) + "\n", encoding="utf-8")
    here.with_name("shops.csv").write_text("date,shop,sales,returns,temp,promo\n" + "\n".join(shop_rows()) + "\n",
                                           encoding="utf-8")


if __name__ == "__main__":
    main()
