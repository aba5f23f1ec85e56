"""``rnnkit inspect``: what a saved model is, what it holds and how it was trained.

Reads only ``config.json`` (checked against its schema), ``metrics.csv`` and
``model.safetensors`` (its header checked against the config before any array is read);
nothing is executed. For a character model it also summarises the loss curve (the
validation bits per character at the start, the best, the last; the training bits per
character over the last logged steps) and prints a short seeded sample.
"""

from __future__ import annotations

import os

import numpy as np

from rnnkit.cli import checkpoint
from rnnkit.cli.charlm import CharLM, generate
from rnnkit.cli.options import InputError, InspectOptions
from rnnkit.cli.progress import format_seconds
from rnnkit.cli.schema import charlm_shapes, forecast_shapes
from rnnkit.cli.train import read_metrics

__all__ = ["run", "parameter_table", "loss_curve_summary"]


def parameter_table(weights: dict[str, np.ndarray]) -> str:
    """A text table: name, shape, dtype and count of every array, and the total."""
    rows = [(name, "x".join(map(str, a.shape)) or "scalar", str(a.dtype), f"{a.size:,}") for name, a in weights.items()]
    rows.append(("total", "", "", f"{sum(a.size for a in weights.values()):,}"))
    widths = [max(len(r[i]) for r in rows + [("name", "shape", "dtype", "count")]) for i in range(4)]
    line = lambda r: f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:>{widths[3]}}"
    body = [line(("name", "shape", "dtype", "count"))] + [line(r) for r in rows[:-1]]
    return "\n".join(body + ["  " + "-" * (sum(widths) + 6), line(rows[-1])])


def run(opts: InspectOptions) -> int:
    if not os.path.isdir(opts.dir):
        raise InputError(f"{opts.dir}: no such directory")
    config = checkpoint.read_config(opts.dir, checkpoint.SCHEMAS)
    if config is None:
        raise InputError(f"{opts.dir} holds no model (no {checkpoint.PREFIX}<step> directory or {checkpoint.CONFIG})")
    kind = config["kind"]
    if kind == "charlm":
        config, weights = checkpoint.load_charlm(opts.dir)  # checked against the config before reading
        order = list(charlm_shapes(config["model"]))
    elif kind == "forecast":
        weights = checkpoint.load_forecast(config)
        order = list(forecast_shapes(config["model"]))
    else:
        weights = checkpoint.read_weights(config, checkpoint.MODEL, None)
        order = sorted(weights)
    weights = {k: weights[k] for k in order if k in weights}
    print(f"{opts.dir}: {kind} model")
    print("architecture: " + ", ".join(f"{k} {v}" for k, v in config.get("model", {}).items()))
    print("parameters:\n" + parameter_table(weights))
    if kind == "charlm":
        data, train = config["data"], config["train"]
        print(f"vocabulary: {len(config['vocab'])} characters: {config['vocab']!r}")
        print(f"data: {data['source']}: {data['chars']:,} characters ({data['train_chars']:,} train, "
              f"{data['val_chars']:,} held out), sha256 {data['sha256'][:12]}")
        val = f"{config['val_bpc']:.3f} bits/char" if config.get("val_bpc") is not None else "not measured"
        print(f"training: step {config['step']}, {format_seconds(config['elapsed_seconds'])} of wall time, "
              f"validation {val}")
        curve = loss_curve_summary(read_metrics(opts.dir))
        if curve:
            print(f"loss curve: {curve}")
    else:
        train = config.get("train", {})
    if train:
        print("options: " + ", ".join(f"{k} {v}" for k, v in train.items() if v is not None and v is not False))
    for key in ("metrics",):
        if key in config:
            print(f"{key}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                        for k, v in config[key].items()))
    if kind == "charlm" and opts.sample > 0:
        model = CharLM.from_config(config["model"])
        model.load_state_dict(weights)
        rng = np.random.default_rng(opts.seed)
        text = "".join(generate(model, config["vocab"], "", opts.sample, temperature=0.8, rng=rng))
        print(f"sample (temperature 0.8, seed {opts.seed}):\n{text}")
    return 0


def loss_curve_summary(rows: list[dict]) -> str:
    r"""One line about a run's metrics rows: validation first/best/last, recent training bits/char.

    Example:
        >>> rows = [{"step": 0, "train_bpc": None, "val_bpc": 6.0}, {"step": 10, "train_bpc": 3.1, "val_bpc": None},
        ...         {"step": 20, "train_bpc": 2.9, "val_bpc": 2.5}]
        >>> print(*loss_curve_summary(rows).split("; "), sep="\n")
        validation 6.000 (step 0) -> best 2.500 (step 20) -> last 2.500 (step 20) bits/char
        training 3.000 bits/char over steps 10-20
    """
    val = [(r["step"], r["val_bpc"]) for r in rows if r.get("val_bpc") is not None]
    train = [(r["step"], r["train_bpc"]) for r in rows if r.get("train_bpc") is not None]
    parts = []
    if val:
        best = min(val, key=lambda sv: sv[1])
        parts.append(f"validation {val[0][1]:.3f} (step {val[0][0]}) -> best {best[1]:.3f} (step {best[0]}) -> "
                     f"last {val[-1][1]:.3f} (step {val[-1][0]}) bits/char")
    if train:
        recent = train[-5:]  # the last logged rows (each the mean over LOG_EVERY steps)
        parts.append(f"training {np.mean([v for _, v in recent]):.3f} bits/char over steps "
                     f"{recent[0][0]}-{recent[-1][0]}")
    return "; ".join(parts)
