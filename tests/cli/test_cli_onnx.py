"""rnnkit onnx RUN_DIR OUT (char LM with its state, forecaster with its scaling) and sample --onnx."""

from __future__ import annotations

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from rnnkit.cli import main  # noqa: E402
from rnnkit.cli.checkpoint import load_model  # noqa: E402


@pytest.fixture(scope="module")
def charlm_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("charlm")
    text = root / "text.txt"
    text.write_text("to be or not to be, that is the question\n" * 20, encoding="utf-8")
    runs = {}
    for cell in ("lstm", "gru"):
        out = str(root / cell)
        assert main(["train", "--text", str(text), "--cell", cell, "--layers", "2", "--hidden", "8", "--embed", "4",
                     "--seq-len", "8", "--batch-size", "2", "--steps", "2", "--eval-every", "2", "--out", out]) == 0
        runs[cell] = out
    return runs


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_charlm_export_streams_like_rnnkit(charlm_runs, tmp_path, cell, capsys):
    run = charlm_runs[cell]
    path = str(tmp_path / "m.onnx")
    assert main(["onnx", run, path]) == 0
    model_proto = onnx.load(path)
    onnx.checker.check_model(model_proto, full_check=True)
    model, config = load_model(run)
    meta = {p.key: p.value for p in model_proto.metadata_props}
    assert json.loads(meta["vocab"]) == config["vocab"]
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == (["ids", "h0", "c0"] if cell == "lstm" else ["ids", "h0"])
    assert [o.name for o in session.get_outputs()] == (["logits", "hn", "cn"] if cell == "lstm" else ["logits", "hn"])
    rng = np.random.default_rng(0)
    V = len(config["vocab"])
    for B, T in ((1, 1), (3, 5)):
        ids = rng.integers(0, V, (B, T)).astype(np.int64)
        state = None
        feeds_state = [np.zeros((2, B, 8), np.float32)] * (len(names) - 1)
        for chunk in (ids[:, :2], ids[:, 2:] if T > 2 else ids):  # the state carries from one call to the next
            logits, state = model(chunk, state)
            got = session.run(None, {"ids": chunk, **dict(zip(names[1:], feeds_state))})
            want = [logits.numpy()] + ([s.numpy() for s in state] if isinstance(state, tuple) else [state.numpy()])
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
            feeds_state = got[1:]
    capsys.readouterr()
    assert main(["sample", run, "--prompt", "to", "--length", "30", "--seed", "3"]) == 0
    plain = capsys.readouterr().out
    assert main(["sample", run, "--prompt", "to", "--length", "30", "--seed", "3", "--onnx", path]) == 0
    assert capsys.readouterr().out == plain and len(plain.strip()) == 32


def test_forecaster_export_is_its_network(tmp_path):
    pytest.importorskip("pandas", reason="rnnkit forecast reads tables with pandas")
    from rnnkit.cli import checkpoint
    from rnnkit.forecast.network import ForecastEnsemble

    t = np.arange(120)
    csv = tmp_path / "s.csv"
    csv.write_text("y\n" + "".join(f"{v}\n" for v in 10 + np.sin(t / 3) + 0.02 * t), encoding="utf-8")
    out = str(tmp_path / "fc")
    assert main(["forecast", str(csv), "--column", "y", "--horizon", "2", "--hidden", "4", "--epochs", "2",
                 "--ensemble", "2", "--quiet", "--out", out]) == 0
    path = str(tmp_path / "f.onnx")
    assert main(["onnx", out, path, "--quiet"]) == 0
    onnx.checker.check_model(onnx.load(path), full_check=True)
    config = checkpoint.read_config(out, checkpoint.SCHEMAS)
    m = config["model"]
    model = ForecastEnsemble(**m)
    model.load_state_dict(checkpoint.load_forecast(config))
    model.eval()
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for N in (1, 5):
        rng = np.random.default_rng(N)
        x = rng.normal(size=(N, m["window"], m["inputs"])).astype(np.float32)
        skip = rng.normal(size=(N, m["window"] * m["targets"] + m["horizon"] * m["future"])).astype(np.float32)
        got = session.run(None, {"x": x, "skip": skip})[0]
        np.testing.assert_allclose(got, model(x, skip).numpy(), rtol=1e-4, atol=1e-4)


def test_cli_errors(charlm_runs, tmp_path, capsys):
    path = str(tmp_path / "m.onnx")
    assert main(["onnx", charlm_runs["gru"], path]) == 0
    assert main(["onnx", charlm_runs["gru"], path]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main(["onnx", charlm_runs["gru"], path, "--overwrite", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "charlm"
    assert main(["onnx", str(tmp_path / "nope"), path]) == 2
    assert main(["onnx", charlm_runs["gru"], str(tmp_path / "no" / "m.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["onnx", charlm_runs["gru"], path, "--overwrite", "--opset", "6"]) == 2
    assert main(["sample", charlm_runs["lstm"], "--onnx", path]) == 2  # a GRU export for an LSTM run
    assert main(["sample", charlm_runs["lstm"], "--onnx", str(tmp_path / "none.onnx")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 3
