"""The forecasting network, its windows and their normalisation, and its training loop.

Shapes: N windows, W window, H horizon, C targets, P past covariates, F known covariates
(given columns, then calendar features), D = C + P + F inputs per step, K hidden.

A window at origin t (the first step forecast) reads steps t-W .. t-1 and forecasts t .. t+H-1.
Its targets are normalised by one of three modes (chosen by validation when ``auto``):

- ``scale`` (per-window scaling): z = (y - y_{t-1}) / sd_w, with sd_w the standard deviation
  of the window (the series scale s when it is 0); the forecast is y_{t-1} + sd_w * out.
- ``season`` (seasonal differencing at lag m, first differencing when m = 1):
  z_j = (y_j - y_{j-m}) / s, and the model forecasts the seasonal naive forecast's error:
  yhat_{t+h-1} = snaive_{t+h-1} + s * out_h, with s the series scale (per-series scaling).
- ``profile`` (deviations from the series' profile): p_j = a linear trend plus seasonal
  means fitted by least squares to y_0 .. y_{t-1} (:func:`seasonal_profile`; the series'
  seasonal means, its "climatology", when it has no trend), z_j = (y_j - p_j) / s and
  yhat_{t+h-1} = p_{t+h-1} + s * out_h. It beats seasonal naive on mean-reverting seasonal
  series (sea temperatures, weather) where the last season's anomaly does not persist, and on
  a steady trend with a fixed season; the network sees the current anomalies in z. Only steps
  before the origin enter the fit, so no window's targets leak into its baseline.

The series scale s is the in-sample MAE of its seasonal naive forecast (the MASE scale), per
target. Past covariates are standardised by the window's mean and standard deviation, given
known covariates likewise (with the window's statistics, also over the horizon); calendar
features are used as they are.

Equations (direct multi-horizon output with a linear highway from the inputs, as in LSTNet)::

    h_W  = cell(x_j, h_{j-1}),  j = 1..W                       (N, K)
    out  = W_h h_W + W_s [z_window ; known_future] + b         (N, H*C)

Example:
    >>> import numpy as np, rnnkit
    >>> _ = rnnkit.manual_seed(0)
    >>> net = ForecastNet(cell="gru", inputs=3, hidden=4, window=6, targets=1, horizon=2, future=2)
    >>> tuple(net(np.zeros((5, 6, 3), np.float32), np.zeros((5, 10), np.float32)).shape)
    (5, 2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rnnkit import Tensor, manual_seed, nn, no_grad, optim
from rnnkit._tensor import array_of
from rnnkit.forecast.metrics import mase_scale, seasonal_naive
from rnnkit.onnx import Graph, Sym, convert, register

__all__ = ["ForecastNet", "ForecastEnsemble", "DeployedForecaster", "Arrays", "Windows", "make_windows", "origins",
           "train", "predict_windows", "seasonal_profile", "MODES"]

MODES = ("scale", "season", "profile")


@dataclass
class Arrays:
    """One series as the network sees it: ``values`` (T, C), ``past`` (T, P), ``known`` (T', F) with T' >= T
    (given known covariates then calendar features; T' - T steps of the future when forecasting), and
    ``given`` = the number of given known covariates among the F."""

    values: np.ndarray
    past: np.ndarray
    known: np.ndarray
    given: int

    def scale(self, season: int) -> np.ndarray:
        """The series scale s per target: (C,)."""
        return np.array([mase_scale(self.values[:, c], season) for c in range(self.values.shape[1])])


@dataclass
class Windows:
    """A batch of windows: inputs x (N, W, D), highway inputs (N, W*C + H*F), and the map back to values:
    base (N, H, C) and unit (N, 1, C) with yhat = base + unit * out; target (N, H, C) normalised, or None."""

    x: np.ndarray
    skip: np.ndarray
    base: np.ndarray
    unit: np.ndarray
    target: np.ndarray | None


def _standardise(block: np.ndarray, reference: np.ndarray) -> np.ndarray:
    mean, sd = reference.mean(axis=0), reference.std(axis=0)
    return (block - mean) / np.where(sd > 0, sd, 1.0)


def seasonal_profile(history: np.ndarray, season: int, steps: np.ndarray) -> np.ndarray:
    """The ``profile`` mode's baseline: a linear trend plus seasonal means, fitted to ``history`` (T, C).

    Least squares of y_j = c_{j mod m} + b j over j = 0..T-1 (a regression on seasonal dummies
    and a trend, m = max(season, 1)), in closed form per target: with jbar_k, ybar_k the means of
    j and y over the steps of phase k,

        b = sum_j (j - jbar_k)(y_j - ybar_k) / sum_j (j - jbar_k)^2   (0 when each phase has one step)
        profile_j = ybar_k + b (j - jbar_k),  k = j mod m

    evaluated at ``steps`` (indices counted from the history's first step; T and beyond are the
    future). Without a trend it is the series' seasonal means (its "climatology"). Needs T >= m.

    Returns:
        (len(steps), C).

    Example:
        >>> y = np.array([1.0, 10.0, 2.0, 11.0, 3.0, 12.0])[:, None]  # phases 0 and 1, trend 0.5 a step
        >>> seasonal_profile(y, 2, np.array([6, 7])).ravel().tolist()
        [4.0, 13.0]
    """
    T, m = len(history), max(season, 1)
    j = np.arange(T)
    phase = j % m
    counts = np.bincount(phase, minlength=m)  # (m,)
    jbar = np.bincount(phase, weights=j, minlength=m) / counts  # (m,)
    ybar = np.stack([np.bincount(phase, weights=history[:, c], minlength=m) for c in range(history.shape[1])],
                    axis=1) / counts[:, None]  # (m, C)
    dj = j - jbar[phase]  # (T,)
    den = float(dj @ dj)
    b = dj @ (history - ybar[phase]) / den if den > 0 else np.zeros(history.shape[1])  # (C,)
    k = np.asarray(steps) % m
    return ybar[k] + (np.asarray(steps) - jbar[k])[:, None] * b  # (S, C)


def make_windows(series: list[Arrays], pairs: list[tuple[int, int]], window: int, horizon: int, season: int,
                 mode: str, scales: list[np.ndarray], targets: bool = True,
                 profiles: list[np.ndarray] | None = None) -> Windows:
    """The windows at the (series index, origin t) ``pairs`` (needs t >= window + season).

    ``profiles`` (``profile`` mode): each window's (W+H, C) :func:`seasonal_profile` at steps t-W .. t+H-1,
    when the series given are shorter than the history it was fitted to (default: fitted to y_0 .. y_{t-1}).
    """
    W, H, m = window, horizon, max(season, 1)
    xs, skips, bases, units, outs = [], [], [], [], []
    for i, t in pairs:
        s = series[i]
        history = s.values[t - W - m : t]  # (W+m, C)
        recent = history[m:]  # (W, C)
        if mode == "scale":
            sd = recent.std(axis=0)
            unit = np.where(sd > 0, sd, scales[i])  # (C,)
            z = (recent - recent[-1]) / unit  # (W, C)
            base = np.repeat(recent[-1:], H, axis=0)  # (H, C)
        elif mode == "profile":
            unit = scales[i]
            profile = (seasonal_profile(s.values[:t], m, np.arange(t - W, t + H)) if profiles is None
                       else profiles[i])  # (W+H, C)
            z = (recent - profile[:W]) / unit  # deviations from the profile (W, C)
            base = profile[W:]  # (H, C)
        else:
            unit = scales[i]
            z = (recent - history[:W]) / unit  # lag-m differences (W, C)
            base = np.stack([seasonal_naive(s.values[:t, c], H, m) for c in range(s.values.shape[1])], axis=1)
        past = _standardise(s.past[t - W : t], s.past[t - W : t])  # (W, P)
        known = s.known[t - W : t + H]  # (W+H, F)
        if s.given:
            known = np.concatenate([_standardise(known[:, : s.given], known[:W, : s.given]),
                                    known[:, s.given :]], axis=1)
        xs.append(np.concatenate([z, past, known[:W]], axis=1))  # (W, D)
        skips.append(np.concatenate([z.ravel(), known[W:].ravel()]))  # (W*C + H*F,)
        bases.append(base)
        units.append(unit[None, :])
        if targets:
            outs.append((s.values[t : t + H] - base) / unit)  # (H, C)
    return Windows(np.stack(xs).astype(np.float32), np.stack(skips).astype(np.float32), np.stack(bases),
                   np.stack(units), np.stack(outs).astype(np.float32) if targets else None)


def origins(length: int, window: int, horizon: int, season: int, first_target_before: int | None = None,
            start: int | None = None) -> range:
    """The origins t of the windows of a series of ``length`` steps whose targets end by ``first_target_before``
    (default: the end) and that start at or after ``start`` (default: the first one with a full history)."""
    end = length if first_target_before is None else first_target_before
    lowest = window + max(season, 1)
    return range(max(lowest, start if start is not None else lowest), end - horizon + 1)


class ForecastNet(nn.Module):
    """A recurrent layer over the window and a direct multi-horizon linear output with a highway.

    Args:
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        inputs: D, the features per step.
        hidden: K.
        window, targets, horizon, future: W, C, H and F (the known covariates per future step).
    """

    def __init__(self, cell: str, inputs: int, hidden: int, window: int, targets: int, horizon: int, future: int):
        super().__init__()
        self.rnn = getattr(nn, cell.upper())(inputs, hidden, batch_first=True)  # nn.RNN, nn.LSTM or nn.GRU
        self.head = nn.Linear(hidden, horizon * targets)
        self.skip = nn.Linear(window * targets + horizon * future, horizon * targets)
        for layer in (self.head, self.skip):  # start from the baseline: out = 0 (its mode's baseline)
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: np.ndarray, skip: np.ndarray):
        """x (N, W, D), skip (N, W*C + H*F) -> (N, H*C) normalised forecasts."""
        out, _ = self.rnn(x)  # (N, W, K)
        return self.head(out[:, -1]) + self.skip(skip)  # (N, H*C)


class ForecastEnsemble(nn.Module):
    """``members`` :class:`ForecastNet` of one architecture; the forecast is their mean (N, H*C).

    Args:
        members: how many networks.
        **net: the arguments of each :class:`ForecastNet`.
    """

    def __init__(self, members: int = 1, **net):
        super().__init__()
        self.members = nn.ModuleList([ForecastNet(**net) for _ in range(members)])

    def forward(self, x: np.ndarray, skip: np.ndarray):
        """x (N, W, D), skip (N, W*C + H*F) -> (N, H*C), the members' mean."""
        total = None
        for member in self.members:
            out = member(x, skip)
            total = out if total is None else total + out
        return total / len(self.members)


def predict_windows(net: nn.Module, win: Windows) -> np.ndarray:
    """Forecasts in the series' units: (N, H, C)."""
    net.eval()
    with no_grad():
        out = array_of(net(win.x, win.skip)).astype(np.float64)  # (N, H*C)
    return win.base + win.unit * out.reshape(win.base.shape)


def train(net_args: dict, series: list[Arrays], fit: list[tuple[int, int]], val: list[tuple[int, int]],
          window: int, horizon: int, season: int, mode: str, *, epochs: int, patience: int, batch_size: int,
          batches_per_epoch: int, lr: float, seed: int) -> dict:
    """Train a :class:`ForecastNet` on the ``fit`` windows, keeping the epoch best on the ``val`` windows.

    The output layers start at zero, so the untrained network forecasts the baseline of its mode (naive,
    seasonal naive or the series' profile); it is scored as epoch 0. Without ``val`` windows every one of
    ``epochs`` epochs runs and the last is kept. Each epoch visits at most ``batches_per_epoch`` batches
    of a fresh shuffle. The loss is the mean absolute error of the normalised forecasts; the validation
    score is the mean of |error| / s (the MASE of the validation windows).

    Returns:
        ``{"state": weights, "epoch": best epoch, "epochs_run", "losses": epoch-mean training losses,
        "val_mase", "val_pred": (N_val, H, C) forecasts at the best epoch, "val_true": the outcomes,
        "val_scale": (N_val, 1, C) each window's s}``.
    """
    manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = ForecastNet(**net_args)
    optimizer = optim.Adam(net.parameters(), lr=lr)
    loss_fn = nn.L1Loss()
    scales = [s.scale(season) for s in series]
    val_win = make_windows(series, val, window, horizon, season, mode, scales) if val else None
    val_scale = np.stack([scales[i] for i, _ in val])[:, None, :] if val else None  # (N_val, 1, C)
    val_true = val_win.base + val_win.unit * val_win.target if val else None  # (N_val, H, C)
    best = {"val_mase": math.inf, "epoch": 0, "state": None}

    def validate(epoch: int) -> bool:
        """Keep the weights when the validation MASE improved; True when it did."""
        pred = predict_windows(net, val_win)
        errors = np.abs(pred - val_true) / val_scale
        if float(errors.mean()) < best["val_mase"]:
            best.update(val_mase=float(errors.mean()), epoch=epoch, val_pred=pred,
                        state={k: v.clone() for k, v in net.state_dict().items()})
            return True
        return False

    if val_win is not None:
        validate(0)  # the untrained network forecasts the baseline itself
    losses, stale = [], 0
    for epoch in range(1, epochs + 1):
        net.train()
        order = rng.permutation(len(fit))[: batch_size * batches_per_epoch]
        batch_losses = []
        for b in range(0, len(order), batch_size):
            win = make_windows(series, [fit[j] for j in order[b : b + batch_size]], window, horizon, season, mode,
                               scales)
            loss = loss_fn(net(win.x, win.skip), win.target.reshape(len(win.target), -1))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            batch_losses.append(loss.item())
        losses.append(float(np.mean(batch_losses)))
        if not math.isfinite(losses[-1]):
            break
        if val_win is None:
            best = {"val_mase": math.nan, "epoch": epoch, "state": None}
        elif validate(epoch):
            stale = 0
        else:
            stale += 1
            if stale >= patience:
                break
    if best["state"] is None:
        best["state"] = {k: v.clone() for k, v in net.state_dict().items()}
    return {**best, "epochs_run": len(losses), "losses": losses, "val_true": val_true, "val_scale": val_scale}


# -- ONNX: `rnnkit onnx` and rnnkit.onnx.export write the networks with these converters ---------
@register(ForecastNet)
def _forecast_net(g: Graph, m: ForecastNet, x: Sym, skip: Sym):
    out, _ = convert(g, m.rnn, x, scope="rnn")  # (N, W, K)
    last = g.op("Squeeze", [g.op("Slice", [out.name, g.ints([-1]), g.ints([np.iinfo(np.int64).max]), g.ints([1])]),
                            g.ints([1])])  # (N, K)
    head = convert(g, m.head, Sym(last, 2, x.dtype), scope="head")  # (N, H*C)
    highway = convert(g, m.skip, skip, scope="skip")  # (N, H*C)
    return Sym(g.op("Add", [head.name, highway.name]), 2, x.dtype)


@register(ForecastEnsemble)
def _forecast_ensemble(g: Graph, m: ForecastEnsemble, x: Sym, skip: Sym):
    outs = [convert(g, member, x, skip, scope=f"members.{e}") for e, member in enumerate(m.members)]
    total = outs[0].name
    for out in outs[1:]:
        total = g.op("Add", [total, out.name])
    count = g.const(np.asarray(len(outs), np.float32), "members")
    return Sym(g.op("Div", [total, count]), 2, x.dtype)  # (N, H*C), the members' mean


class DeployedForecaster(nn.Module):
    """A fitted forecaster from raw values to forecasts and intervals: what ``rnnkit onnx`` exports.

    ``forward(history, scale[, past][, known][, profile])`` with history (N, W+m, C) the last W+m
    values of each series (m = max(season, 1)), scale (N, C) each series' scale (the in-sample MAE
    of its seasonal naive forecast, :meth:`Arrays.scale`), past (N, W, P) the past covariates of
    the window, known (N, W+H, F) the known covariates of the window and the horizon (given
    columns, then the calendar features of :func:`rnnkit.forecast.data.calendar_features`) and,
    in the ``profile`` mode only, profile (N, W+H, C) each series' :func:`seasonal_profile` fitted to
    its whole history, at the window's and the horizon's steps, returns ``(forecast, lower, upper)``,
    each (N, H, C)::

        forecast = base + unit * net(windows)        (the normalisation of :func:`make_windows`)
        lower, upper = forecast -/+ q_h * scale       (q: the validation errors' quantiles, (H, C))
    """

    def __init__(self, ensemble: nn.Module, window: int, horizon: int, season: int, mode: str, given: int,
                 quantiles: np.ndarray):
        super().__init__()
        self.ensemble = ensemble
        self.window, self.horizon, self.season, self.mode, self.given = window, horizon, season, mode, given
        self.quantiles = np.asarray(quantiles, np.float64)  # (H, C)

    def forward(self, history, scale, past=None, known=None, profile=None):
        history, scale = np.asarray(history, np.float64), np.asarray(scale, np.float64)
        N, W, H = history.shape[0], self.window, self.horizon
        m = max(self.season, 1)
        C = history.shape[2]
        if (profile is None) == (self.mode == "profile"):
            raise ValueError(f"profile: the {self.mode!r} mode " + (f"needs each series' profile (N, {W + H}, {C})"
                             if self.mode == "profile" else "reads no profile; pass none"))
        profiles = None if profile is None else list(np.asarray(profile, np.float64))  # N x (W+H, C)
        past = np.zeros((N, W, 0)) if past is None else np.asarray(past, np.float64)
        known = np.zeros((N, W + H, 0)) if known is None else np.asarray(known, np.float64)
        series = [Arrays(history[i], np.concatenate([np.zeros((m, past.shape[2])), past[i]]),
                         np.concatenate([np.zeros((m, known.shape[2])), known[i]]), self.given) for i in range(N)]
        win = make_windows(series, [(i, W + m) for i in range(N)], W, H, self.season, self.mode, list(scale),
                           targets=False, profiles=profiles)
        out = array_of(self.ensemble(win.x, win.skip)).reshape(N, H, C)  # (N, H, C) normalised
        point = win.base + win.unit * out  # (N, H, C)
        spread = self.quantiles[None] * scale[:, None, :]  # (N, H, C)
        return tuple(Tensor(a.astype(np.float32)) for a in (point, point - spread, point + spread))


def _slice(g: Graph, x: str, start: int, end: int, axis: int) -> str:
    return g.op("Slice", [x, g.ints([start]), g.ints([end]), g.ints([axis])])


def _mean_sd(g: Graph, x: str, count: int) -> tuple[str, str]:
    """Mean and population standard deviation over axis 1 (kept): (N, 1, K) each."""
    n = g.const(np.asarray(count, np.float32), "count")
    mean = g.op("Div", [g.op("ReduceSum", [x, g.ints([1])], keepdims=1), n])
    centred = g.op("Sub", [x, mean])
    var = g.op("Div", [g.op("ReduceSum", [g.op("Mul", [centred, centred]), g.ints([1])], keepdims=1), n])
    return mean, g.op("Sqrt", [var])


def _positive_or(g: Graph, sd: str, fallback: str) -> str:
    zero = g.const(np.asarray(0.0, np.float32), "zero")
    return g.op("Where", [g.op("Greater", [sd, zero]), sd, fallback])


@register(DeployedForecaster)
def _deployed(g: Graph, m: DeployedForecaster, history: Sym, scale: Sym, past: Sym | None = None,
              known: Sym | None = None, profile: Sym | None = None):
    W, H, lag = m.window, m.horizon, max(m.season, 1)
    recent = _slice(g, history.name, lag, W + lag, 1)  # (N, W, C)
    unit_series = g.op("Unsqueeze", [scale.name, g.ints([1])])  # (N, 1, C)
    if m.mode == "scale":
        _, sd = _mean_sd(g, recent, W)
        unit = _positive_or(g, sd, unit_series)  # (N, 1, C)
        last = _slice(g, history.name, W + lag - 1, W + lag, 1)  # (N, 1, C)
        z = g.op("Div", [g.op("Sub", [recent, last]), unit])  # (N, W, C)
        base = last  # broadcast over the horizon
    elif m.mode == "profile":
        unit = unit_series
        z = g.op("Div", [g.op("Sub", [recent, _slice(g, profile.name, 0, W, 1)]), unit])  # (N, W, C)
        base = _slice(g, profile.name, W, W + H, 1)  # (N, H, C)
    else:
        unit = unit_series
        z = g.op("Div", [g.op("Sub", [recent, _slice(g, history.name, 0, W, 1)]), unit])  # lag differences
        h = np.arange(1, H + 1)
        index = (W + lag) + h - 1 - lag * ((h + lag - 1) // lag)  # the seasonal naive value of each step
        base = g.op("Gather", [history.name, g.const(index.astype(np.int64), "snaive")], axis=1)  # (N, H, C)
    parts = [z]
    if past is not None:
        mean, sd = _mean_sd(g, past.name, W)
        parts.append(g.op("Div", [g.op("Sub", [past.name, mean]),
                                  _positive_or(g, sd, g.const(np.asarray(1.0, np.float32), "one"))]))
    future = None
    if known is not None:
        k = known.name
        if m.given:
            given = _slice(g, k, 0, m.given, 2)  # (N, W+H, G)
            mean, sd = _mean_sd(g, _slice(g, given, 0, W, 1), W)
            given = g.op("Div", [g.op("Sub", [given, mean]),
                                 _positive_or(g, sd, g.const(np.asarray(1.0, np.float32), "one"))])
            k = g.op("Concat", [given, _slice(g, k, m.given, np.iinfo(np.int64).max, 2)], axis=2)
        parts.append(_slice(g, k, 0, W, 1))  # (N, W, F)
        future = g.op("Reshape", [_slice(g, k, W, W + H, 1), g.ints([0, -1])])  # (N, H*F)
    x = g.op("Concat", parts, axis=2) if len(parts) > 1 else z  # (N, W, D)
    flat_z = g.op("Reshape", [z, g.ints([0, -1])])  # (N, W*C)
    skip = g.op("Concat", [flat_z, future], axis=1) if future is not None else flat_z
    out = convert(g, m.ensemble, Sym(x, 3), Sym(skip, 2), scope="network")  # (N, H*C)
    C = m.quantiles.shape[1]
    point = g.op("Add", [base, g.op("Mul", [unit, g.op("Reshape", [out.name, g.ints([0, H, C])])])])  # (N, H, C)
    spread = g.op("Mul", [g.const(m.quantiles.astype(np.float32), "quantiles"), unit_series])  # (N, H, C)
    return (Sym(point, 3), Sym(g.op("Sub", [point, spread]), 3), Sym(g.op("Add", [point, spread]), 3))
