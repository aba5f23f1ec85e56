"""``rnnkit inspect``: what a saved model is, what it holds and how it was trained.

Reads only ``config.json`` (checked against its schema) and ``model.safetensors`` (its
header checked against the config before any array is read); nothing is built or executed.
"""

from __future__ import annotations

import os

import numpy as np

from rnnkit.cli import checkpoint
from rnnkit.cli.options import InputError, InspectOptions
from rnnkit.cli.progress import format_seconds
from rnnkit.cli.schema import charlm_shapes, forecast_shapes

__all__ = ["run", "parameter_table"]


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
        print(f"training: step {config['step']}, {format_seconds(config['elapsed_seconds'])} of compute, "
              f"validation {val}")
    else:
        train = config.get("train", {})
    if train:
        print("options: " + ", ".join(f"{k} {v}" for k, v in train.items() if v is not None and v is not False))
    for key in ("metrics",):
        if key in config:
            print(f"{key}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                        for k, v in config[key].items()))
    return 0
