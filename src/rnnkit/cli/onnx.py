"""``rnnkit onnx RUN_DIR OUT.onnx``: export a trained command-line model to ONNX.

* A character model (``rnnkit train``) becomes ``ids`` (B, T) int64 and the recurrent state
  (``h0`` (L, B, H), plus ``c0`` for an LSTM) in, ``logits`` (B, T, V) and the final state
  (``hn``, ``cn``) out, so a client samples one character at a time by feeding the state
  back (:class:`OnnxCharLM` does it with ONNX Runtime for ``rnnkit sample --onnx``). The
  alphabet is stored in the file's metadata (``vocab``, a JSON string).
* A forecaster (``rnnkit forecast``) becomes :class:`rnnkit.forecast.network.DeployedForecaster`:
  raw values in, forecasts out, the window normalisation inside the graph. Inputs ``history``
  (N, W+m, C) the last W+m values of each series, ``scale`` (N, C) each series' scale, in the
  ``profile`` mode ``profile`` (N, W+H, C) each series' fitted trend and seasonal means over the
  window and the horizon, and when the model has them ``past`` (N, W, P) and ``known`` (N, W+H, F)
  covariates; outputs
  ``forecast``, ``lower`` and ``upper`` (N, H, C). The metadata names the mode, the season and
  the columns.
"""

from __future__ import annotations

import json
import os

import numpy as np

from rnnkit._tensor import Tensor
from rnnkit.cli import checkpoint
from rnnkit.cli.checkpoint import load_model
from rnnkit.cli.options import InputError, OnnxOptions
from rnnkit.cli.rundir import Reporter
from rnnkit.forecast.network import DeployedForecaster, ForecastEnsemble
from rnnkit.onnx import export
from rnnkit.onnx._graph import check_path, require_onnx

__all__ = ["run", "OnnxCharLM", "export_run"]


def export_run(directory: str, path: str, opset: int) -> str:
    """Export the model of run ``directory`` to ``path``; returns its kind (``charlm`` or ``forecast``)."""
    if not os.path.isdir(directory):
        raise InputError(f"{directory}: no such directory")
    config = checkpoint.read_config(directory, checkpoint.SCHEMAS)
    if config is None:
        raise InputError(f"{directory} holds no model (no {checkpoint.CONFIG}); train one with rnnkit train or "
                         "rnnkit forecast")
    kind = config.get("kind")
    if kind == "charlm":
        model, _ = load_model(directory)
        L, H = model.config.layers, model.config.hidden
        state = (np.zeros((L, 1, H), np.float32),) * (2 if model.config.cell == "lstm" else 1)
        names = ["h0", "c0"][:len(state)]
        example = (np.zeros((1, 2), np.int64), state if len(state) == 2 else state[0])
        axes = {"ids": {0: "batch", 1: "time"}, "logits": {0: "batch", 1: "time"},
                **{n: {1: "batch"} for n in names + ["hn", "cn"]}}
        export(model, example, path, input_names=["ids", *names], output_names=["logits", "hn", "cn"][:1 + len(state)],
               dynamic_axes=axes, opset=opset, metadata={"vocab": json.dumps(config["vocab"]), "kind": "charlm"})
    elif kind == "forecast":
        m, fitted, columns = config["model"], config["fitted"], config["columns"]
        weights = checkpoint.load_forecast(config)  # checked against the config before the model is built
        ensemble = ForecastEnsemble(**m)
        ensemble.load_state_dict(weights)
        W, H, C, lag = m["window"], m["horizon"], m["targets"], max(int(fitted["season"]), 1)
        model = DeployedForecaster(ensemble, W, H, int(fitted["season"]), fitted["mode"], len(columns["known"]),
                                   np.asarray(fitted["quantiles"]))
        P, F = m["inputs"] - C - m["future"], m["future"]
        covariates = {}  # keyword inputs, only those the model reads
        if fitted["mode"] == "profile":
            covariates["profile"] = np.zeros((1, W + H, C), np.float32)
        if P:
            covariates["past"] = np.zeros((1, W, P), np.float32)
        if F:
            covariates["known"] = np.zeros((1, W + H, F), np.float32)
        example = (np.zeros((1, W + lag, C), np.float32), np.ones((1, C), np.float32), covariates)
        names = ["history", "scale", *covariates]
        outputs = ["forecast", "lower", "upper"]
        export(model, example, path, input_names=names, output_names=outputs,
               dynamic_axes={n: {0: "batch"} for n in names + outputs}, opset=opset,
               metadata={"kind": "forecast", "mode": str(fitted["mode"]), "season": str(fitted["season"]),
                         "targets": json.dumps(columns["targets"]), "past": json.dumps(columns["past"]),
                         "known": json.dumps(columns["known"]), "calendar": str(F - len(columns["known"]))})
    else:
        raise InputError(f"{directory} holds a {kind} model; rnnkit onnx exports character models and forecasters")
    return kind


class OnnxCharLM:
    """An exported character model run by ONNX Runtime, called like :class:`CharLM` (for ``generate``).

    ``model(ids (1, T) int64, state)`` returns ``(logits Tensor (1, T, V), state)``; the state is
    the tuple of the graph's state outputs, fed back as its state inputs.
    """

    def __init__(self, path: str, config: dict):
        try:
            import onnxruntime
        except ImportError:
            raise InputError("--onnx needs ONNX Runtime: pip install onnxruntime") from None
        if not os.path.isfile(path):
            raise InputError(f"--onnx {path}: no such file")
        try:
            self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for a bad file
            raise InputError(f"--onnx {path}: not a model ONNX Runtime can load ({error})") from None
        self.inputs = [i.name for i in self.session.get_inputs()]
        shapes = {i.name: i.shape for i in self.session.get_inputs()}
        if self.inputs[:1] != ["ids"] or "h0" not in shapes:
            raise InputError(f"--onnx {path}: not a character model exported by rnnkit onnx (inputs {self.inputs})")
        self.state_shapes = [shapes[n] for n in self.inputs[1:]]
        model = config["model"]
        found = (self.session.get_outputs()[0].shape[-1], len(self.state_shapes), self.state_shapes[0][0],
                 self.state_shapes[0][2])
        expected = (len(config["vocab"]), 2 if model["cell"] == "lstm" else 1, model["layers"], model["hidden"])
        if found != expected:
            raise InputError(f"--onnx {path}: not this run's model (characters, states, layers, hidden: {found} in "
                             f"the file, {expected} in the run); export it with rnnkit onnx DIR FILE")

    def eval(self) -> "OnnxCharLM":
        return self

    def __call__(self, ids: np.ndarray, state=None):
        if state is None:
            state = tuple(np.zeros((s[0], ids.shape[0], s[2]), np.float32) for s in self.state_shapes)
        logits, *state = self.session.run(None, {"ids": ids, **dict(zip(self.inputs[1:], state))})
        return Tensor(logits), tuple(state)


def run(opts: OnnxOptions) -> int:
    report = Reporter(json=opts.json, quiet=opts.quiet)
    try:
        require_onnx()
    except ImportError as error:
        raise InputError(str(error)) from None
    if os.path.exists(opts.out) and not opts.overwrite:
        raise InputError(f"{opts.out}: already exists; pass --overwrite to replace it")
    try:
        check_path(opts.out)
    except (TypeError, ValueError) as error:
        raise InputError(str(error).replace("path: ", "OUT: ", 1)) from None
    try:
        kind = export_run(opts.dir, opts.out, opts.opset)
    except ValueError as error:
        raise InputError(str(error)) from None
    report.result(f"wrote {opts.out} ({kind} model, opset {opts.opset})", path=opts.out, kind=kind, opset=opts.opset)
    return 0
