"""``rnnkit onnx RUN_DIR OUT.onnx``: export a trained command-line model to ONNX.

* A character model (``rnnkit train``) becomes ``ids`` (B, T) int64 and the recurrent state
  (``h0`` (L, B, H), plus ``c0`` for an LSTM) in, ``logits`` (B, T, V) and the final state
  (``hn``, ``cn``) out, so a client samples one character at a time by feeding the state
  back (:class:`OnnxCharLM` does it with ONNX Runtime for ``rnnkit sample --onnx``). The
  alphabet is stored in the file's metadata (``vocab``, a JSON string).
* A forecaster (``rnnkit forecast``) becomes ``window`` (N, W) raw values in, ``forecast``
  (N, H) raw values out: the scaling of the run (relative to the window's last value, divided
  by the training span's standard deviation) is part of the graph::

      forecast = last + std * model((window - last) / std),   last = window[:, -1:]
"""

from __future__ import annotations

import json
import os

import numpy as np

from rnnkit import nn
from rnnkit._tensor import Tensor
from rnnkit.cli import checkpoint
from rnnkit.cli.charlm import CharLM
from rnnkit.cli.forecast import Forecaster
from rnnkit.cli.options import InputError, OnnxOptions
from rnnkit.cli.rundir import Reporter
from rnnkit.onnx._graph import Graph, Sym
from rnnkit.onnx._nn import convert, register

__all__ = ["run", "ScaledForecaster", "OnnxCharLM", "export_run"]


class ScaledForecaster(nn.Module):
    """A :class:`Forecaster` with its run's scaling: raw window (N, W) -> raw forecast (N, H)."""

    def __init__(self, model: Forecaster, std: float):
        super().__init__()
        self.model = model
        self.std = float(std)

    def forward(self, window):
        x = window if isinstance(window, Tensor) else Tensor(np.asarray(window, np.float32))
        last = x[:, -1:]  # (N, 1)
        return last + self.model((x - last).numpy() / np.float32(self.std)) * np.float32(self.std)  # (N, H)


@register(CharLM)
def _charlm(g: Graph, m: CharLM, ids: Sym, state=None):
    e = convert(g, m.embedding, ids, scope="embedding")  # (B, T, E); dropout: identity in eval mode
    h, state = convert(g, m.rnn, e, state, scope="rnn")  # (B, T, H)
    return convert(g, m.head, h, scope="head"), state  # (B, T, V)


@register(Forecaster)
def _forecaster(g: Graph, m: Forecaster, x: Sym):
    x3 = Sym(g.op("Unsqueeze", [x.name, g.ints([2])]), 3, x.dtype)  # (N, W, 1)
    out, _ = convert(g, m.rnn, x3, scope="rnn")  # (N, W, K)
    last = g.op("Squeeze", [g.op("Slice", [out.name, g.ints([-1]), g.ints([np.iinfo(np.int64).max]), g.ints([1])]),
                            g.ints([1])])  # (N, K)
    return convert(g, m.head, Sym(last, 2, x.dtype), scope="head")  # (N, H)


@register(ScaledForecaster)
def _scaled(g: Graph, m: ScaledForecaster, window: Sym):
    std = g.const(np.asarray(m.std, np.float32), "std")
    last = g.op("Slice", [window.name, g.ints([-1]), g.ints([np.iinfo(np.int64).max]), g.ints([1])])  # (N, 1)
    relative = Sym(g.op("Div", [g.op("Sub", [window.name, last]), std]), 2, window.dtype)  # (N, W)
    y = convert(g, m.model, relative, scope="forecaster")  # (N, H)
    return Sym(g.op("Add", [last, g.op("Mul", [y.name, std])]), 2, window.dtype)


def export_run(directory: str, path: str, opset: int) -> str:
    """Export the model of run ``directory`` to ``path``; returns its kind (``charlm`` or ``forecast``)."""
    from rnnkit.onnx import export

    if not os.path.isdir(directory):
        raise InputError(f"{directory}: no such directory")
    config = checkpoint.read_config(directory, checkpoint.SCHEMAS)
    if config is None:
        raise InputError(f"{directory} holds no model (no {checkpoint.CONFIG}); train one with rnnkit train or "
                         "rnnkit forecast")
    kind = config.get("kind")
    if kind == "charlm":
        from rnnkit.cli.sample import load_model

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
        settings = config["model"]
        weights = checkpoint.load_forecast(config)  # checked against the config before the model is built
        model = Forecaster(settings["cell"], settings["hidden"], settings["horizon"])
        model.load_state_dict(weights)
        scaled = ScaledForecaster(model, config["scaler"]["std"])
        export(scaled, np.zeros((1, settings["window"]), np.float32), path, input_names=["window"],
               output_names=["forecast"], dynamic_axes={"window": {0: "batch"}, "forecast": {0: "batch"}},
               opset=opset, metadata={"kind": "forecast"})
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
    from rnnkit.onnx._graph import check_path, require_onnx

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
