"""``rnnkit forecast``: forecast a numeric CSV column, scored against naive baselines.

Method:

- Split chronologically: the first 70% of the values train, the next 15% validate (the
  epoch with the lowest validation loss is kept), the last 15% test. Each sample reads the
  ``window`` values before time t and predicts the ``horizon`` values from t on; a sample
  belongs to the span holding its first target (its inputs may reach back before it, as
  they would in use).
- Scale by the standard deviation of the training span only, and make every window
  relative to its last value: the model reads (y[t-W:t] - y[t-1]) / s and predicts
  (y[t:t+H] - y[t-1]) / s, i.e. a correction to the naive forecast. A trend then never
  takes the values outside the range seen in training.
- Model: a one-layer RNN/LSTM/GRU over the window; a linear map from its last hidden state
  to the ``horizon`` outputs (direct multi-step forecasting), trained on MSE with Adam.
- Baselines: naive (every step ahead = the last observed value) and seasonal naive
  (y_{t+h} = the value one season earlier, y_{t+h-m*ceil((h+1)/m)}). The season m is
  ``--season``, or detected as the strongest autocorrelation peak of the linearly detrended
  training span (lags 2 .. n_train/3, peak above 0.3; none found: no seasonal baseline).
- Metrics on the test span over every step ahead: MAE, RMSE and MASE = MAE divided by the
  in-sample MAE of the one-step naive forecast on the training span (Hyndman & Koehler, 2006),
  so MASE < 1 beats the naive forecast's typical training error and every method shares the scale.

Shapes: N samples, W window, H horizon, K hidden.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import sys

import numpy as np

from rnnkit import manual_seed, nn, no_grad, optim, serialization
from rnnkit.cli import checkpoint, plots, rundir
from rnnkit.cli.charlm import LAYERS
from rnnkit.cli.options import ForecastOptions, InputError, RunError

__all__ = ["run", "read_column", "detect_season", "Forecaster", "naive", "seasonal_naive", "scores"]

SPLITS = (0.70, 0.15)  # train and validation fractions; the test span is the rest
MAX_ABS = 1e150  # largest |value| whose squares (variances, MSE) stay finite in float64


def read_column(path: str, column: str) -> np.ndarray:
    """The values of ``column`` in the CSV file ``path`` as float64; :class:`InputError` on bad input."""
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, expected a CSV file")
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file)
            if not reader.fieldnames:
                raise InputError(f"{path}: the file is empty (expected a header row)")
            if column not in reader.fieldnames:
                names = ", ".join(repr(n) for n in reader.fieldnames)
                raise InputError(f"--column {column!r}: {path} has no such column; its columns are {names}")
            values = []
            for row in reader:
                cell = (row.get(column) or "").strip()
                try:
                    value = float(cell)
                except ValueError:
                    raise InputError(f"--column {column!r}: line {reader.line_num} of {path} holds {cell!r}, "
                                     "not a number") from None
                if not math.isfinite(value):
                    raise InputError(f"--column {column!r}: line {reader.line_num} of {path} holds {cell!r}, "
                                     "not a finite number")
                values.append(value)
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{path}: not a readable CSV file ({error})") from None
    if not values:
        raise InputError(f"{path}: column {column!r} has no values")
    return np.asarray(values, dtype=np.float64)


def detect_season(y: np.ndarray, max_lag: int | None = None, threshold: float = 0.3) -> int:
    """The lag of the strongest autocorrelation peak of linearly detrended ``y``; 1 when there is none."""
    n = len(y)
    max_lag = min(max_lag or n // 3, n - 2)
    if max_lag < 2:
        return 1
    t = np.arange(n)
    r = y - np.polyval(np.polyfit(t, y, 1), t)  # detrended
    r = r - r.mean()
    denom = float(r @ r)
    if denom == 0:
        return 1
    acf = np.array([r[:-k] @ r[k:] / denom for k in range(1, max_lag + 1)])  # acf[k-1] at lag k
    peaks = [k for k in range(2, max_lag)
             if acf[k - 1] > threshold and acf[k - 1] >= acf[k - 2] and acf[k - 1] >= acf[k]]  # local maxima
    if not peaks:
        return 1
    best = max(acf[k - 1] for k in peaks)
    return next(k for k in peaks if acf[k - 1] >= 0.9 * best)  # the first near-best peak, not a multiple of it


def windows(y: np.ndarray, starts: np.ndarray, window: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (N, W) = y[t-W:t] and targets (N, H) = y[t:t+H] for each first-target index t in ``starts``."""
    x = np.stack([y[t - window : t] for t in starts])  # (N, W)
    target = np.stack([y[t : t + horizon] for t in starts])  # (N, H)
    return x, target


def relative(x: np.ndarray, target: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Window and targets relative to the window's last value, divided by ``scale``: (N, W), (N, H)."""
    last = x[:, -1:]  # (N, 1)
    return ((x - last) / scale).astype(np.float32), ((target - last) / scale).astype(np.float32)


def naive(y: np.ndarray, starts: np.ndarray, horizon: int) -> np.ndarray:
    """Every step ahead = the last observed value y[t-1]: (N, H)."""
    return np.repeat(y[starts - 1][:, None], horizon, axis=1)


def seasonal_naive(y: np.ndarray, starts: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """y_{t+h} = y_{t+h-m*ceil((h+1)/m)}, the last observed value one or more seasons back: (N, H)."""
    h = np.arange(horizon)
    back = season * ((h + season) // season)  # m * ceil((h+1)/m)
    return y[starts[:, None] + h[None, :] - back[None, :]]


def scores(pred: np.ndarray, target: np.ndarray, scale: float) -> dict[str, float]:
    """MAE, RMSE and MASE (MAE / ``scale``) over every sample and step ahead."""
    err = pred - target
    mae = float(np.mean(np.abs(err)))
    return {"mae": mae, "rmse": float(np.sqrt(np.mean(err**2))), "mase": mae / scale}


class Forecaster(nn.Module):
    """A recurrent layer over the window, then Linear(last hidden) -> the next ``horizon`` values.

    Equations::

        h_t = cell(x_t, h_{t-1}),  t = 1..W          (N, K)
        yhat = W_out h_W + b_out                     (N, H)
    """

    def __init__(self, cell: str, hidden: int, horizon: int):
        super().__init__()
        self.rnn = LAYERS[cell](1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, horizon)

    def forward(self, x: np.ndarray):
        """x (N, W) relative, scaled values -> (N, H) relative, scaled forecasts."""
        out, _ = self.rnn(np.asarray(x, np.float32)[:, :, None])  # (N, W, K)
        return self.head(out[:, -1])  # (N, H)


def run(opts: ForecastOptions) -> int:
    with rundir.lock(opts.out):  # one writer per run directory
        return _forecast(opts)


def _forecast(opts: ForecastOptions) -> int:
    # -- data: chronological spans, windows, scaling fitted on the training span only
    y = read_column(opts.csv, opts.column)
    if np.abs(y).max() > MAX_ABS:
        raise InputError(f"--column {opts.column!r}: values up to {np.abs(y).max():.3g} overflow float64 arithmetic "
                         f"(their squares); rescale the column below {MAX_ABS:.0e}")
    n, W, H = len(y), opts.window, opts.horizon
    n_train, n_val = int(n * SPLITS[0]), int(n * SPLITS[1])
    n_test = n - n_train - n_val
    if W + H > n_train:
        raise InputError(f"--window {W}: too long for the series: column {opts.column!r} has {n} values, so the "
                         f"training span (first {SPLITS[0]:.0%}) has {n_train}, fewer than the window plus "
                         f"--horizon {H} = {W + H}")
    if H > min(n_val, n_test):
        raise InputError(f"--horizon {H}: longer than the validation ({n_val}) or test ({n_test}) span of the "
                         f"{n} values")
    saved = checkpoint.read_config(opts.out)
    if saved is not None and saved.get("kind") != "forecast":
        raise InputError(f"--out {opts.out} already holds a {saved.get('kind')} model; choose another --out")
    spans = {"train": np.arange(W, n_train - H + 1), "val": np.arange(n_train, n_train + n_val - H + 1),
             "test": np.arange(n_train + n_val, n - H + 1)}
    std = float(y[:n_train].std()) or 1.0
    data = {name: relative(*windows(y, starts, W, H), std) for name, starts in spans.items()}
    season = opts.season or detect_season(y[:n_train])
    if season > n_train + n_val:
        raise InputError(f"--season {season}: longer than the {n_train + n_val} values before the test span")

    # -- model and training (keeping the epoch with the lowest validation loss)
    manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    model = Forecaster(opts.cell, opts.hidden, H)
    optimizer = optim.Adam(model.parameters(), lr=opts.lr)
    criterion = nn.MSELoss()
    best_val, best_state, best_epoch = math.inf, None, 0
    x_train, t_train = data["train"]
    print(f"forecasting {opts.column!r} ({n} values: {n_train} train, {n_val} validation, {n_test} test) with a "
          f"{opts.cell.upper()} (hidden {opts.hidden}), window {W}, horizon {H}", flush=True)
    for epoch in range(1, opts.epochs + 1):
        model.train()
        order = rng.permutation(len(x_train))
        for i in range(0, len(order), opts.batch_size):
            batch = order[i : i + opts.batch_size]
            loss = criterion(model(x_train[batch]), t_train[batch])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        model.eval()
        with no_grad():
            val_loss = criterion(model(data["val"][0]), data["val"][1]).item()
        if val_loss < best_val:
            best_val, best_epoch = val_loss, epoch
            best_state = {k: v.copy() for k, v in model.state_dict().items()}
        if epoch % max(1, opts.epochs // 10) == 0 or epoch == opts.epochs:
            print(f"epoch {epoch}/{opts.epochs}: train MSE {loss.item():.4f}, validation MSE {val_loss:.4f} (scaled)",
                  flush=True)
    if best_state is None:
        print(f"rnnkit forecast: error: the validation loss was never finite ({val_loss}); try a lower --lr",
              file=sys.stderr)
        return 1
    model.load_state_dict(best_state)

    # -- test span: the model against the baselines
    model.eval()
    starts = spans["test"]
    x_test, target = windows(y, starts, W, H)  # (N, W), (N, H)
    with no_grad():
        pred = x_test[:, -1:] + std * model(data["test"][0]).numpy().astype(np.float64)  # (N, H)
    scale = float(np.mean(np.abs(np.diff(y[:n_train])))) or 1.0  # in-sample one-step naive MAE
    results = {opts.cell.upper(): scores(pred, target, scale), "naive": scores(naive(y, starts, H), target, scale)}
    if season > 1:
        results[f"seasonal naive (m={season})"] = scores(seasonal_naive(y, starts, H, season), target, scale)
    if not np.isfinite(pred).all():
        raise RunError(f"the {opts.cell.upper()}'s forecasts are not finite (the values of column {opts.column!r} "
                       "are too large for float64 arithmetic); rescale the column; nothing was written")
    model_scores, naive_scores = results[opts.cell.upper()], results["naive"]
    beats = model_scores["mae"] < naive_scores["mae"]

    print(f"\ntest span: {len(starts)} forecasts of 1..{H} steps ahead; MASE scale {scale:.4g} "
          f"(in-sample one-step naive MAE)")
    print(f"  {'method':<26}{'MAE':>12}{'RMSE':>12}{'MASE':>9}")
    for name, s in results.items():
        print(f"  {name:<26}{s['mae']:>12.4g}{s['rmse']:>12.4g}{s['mase']:>9.3f}")
    if beats:
        print(f"The {opts.cell.upper()} beats the naive last-value baseline (MAE {model_scores['mae']:.4g} vs "
              f"{naive_scores['mae']:.4g}).")
    else:
        print(f"The {opts.cell.upper()} does NOT beat the naive last-value baseline (MAE {model_scores['mae']:.4g} vs "
              f"{naive_scores['mae']:.4g}): use the naive forecast, or try a longer --window, more --epochs or "
              "more data.")
    for name, s in list(results.items())[2:]:
        if s["mae"] <= model_scores["mae"]:
            print(f"The {name} baseline is at least as good as the model (MAE {s['mae']:.4g}).")

    # -- files
    os.makedirs(opts.out, exist_ok=True)
    metrics = {
        "column": opts.column, "values": n, "split": {"train": n_train, "validation": n_val, "test": n_test},
        "season": season, "season_detected": not opts.season, "mase_scale": scale,
        "best_epoch": best_epoch, "scores": results, "beats_naive": beats,
    }
    checkpoint.write_json(os.path.join(opts.out, "metrics.json"), metrics)
    serialization.save(model.state_dict(), os.path.join(opts.out, checkpoint.MODEL))
    checkpoint.write_json(os.path.join(opts.out, checkpoint.CONFIG), {
        "kind": "forecast", "model": {"cell": opts.cell, "hidden": opts.hidden, "window": W, "horizon": H},
        "scaler": {"relative_to": "last value of the window", "std": std}, "train": dataclasses.asdict(opts),
        "metrics": {k: v for k, v in model_scores.items()},
    })
    title = f"{opts.column}: test span, one step ahead"
    if plots.forecast(os.path.join(opts.out, "forecast.png"), target[:, 0], pred[:, 0], naive(y, starts, 1)[:, 0],
                      title):
        print(f"wrote {opts.out}/forecast.png, metrics.json, model.safetensors and config.json")
    else:
        print(plots.MISSING)
    return 0
