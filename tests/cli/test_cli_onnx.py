"""rnnkit onnx RUN_DIR OUT (char LM with its state, forecaster with its scaling) and sample --onnx."""

from __future__ import annotations

import json

import os

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
            want = [logits.detach().numpy()] + ([s.detach().numpy() for s in state] if isinstance(state, tuple) else [state.detach().numpy()])
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
            feeds_state = got[1:]
    capsys.readouterr()
    assert main(["sample", run, "--prompt", "to", "--length", "30", "--seed", "3"]) == 0
    plain = capsys.readouterr().out
    assert main(["sample", run, "--prompt", "to", "--length", "30", "--seed", "3", "--onnx", path]) == 0
    assert capsys.readouterr().out == plain and len(plain.strip()) == 32


@pytest.mark.parametrize("normalize", ["scale", "season", "profile"])
@pytest.mark.parametrize("calendar", [False, True])
def test_forecaster_export_forecasts_from_raw_values_as_the_run_does(tmp_path, calendar, normalize):
    """The exported graph takes the last values and the series scale (and in the profile mode its fitted
    profile), and gives forecast.csv's numbers."""
    pd = pytest.importorskip("pandas", reason="rnnkit forecast reads tables with pandas")
    from rnnkit.cli import checkpoint
    from rnnkit.forecast.metrics import mase_scale
    from rnnkit.forecast.network import seasonal_profile

    t = np.arange(120)
    y = 10 + np.sin(t / 3) + 0.02 * t
    csv = tmp_path / "s.csv"
    if calendar:
        dates = pd.date_range("2020-01-01", periods=len(t), freq="D")
        csv.write_text("date,y\n" + "".join(f"{d.date()},{v}\n" for d, v in zip(dates, y)), encoding="utf-8")
    else:
        csv.write_text("y\n" + "".join(f"{v}\n" for v in y), encoding="utf-8")
    out = str(tmp_path / "fc")
    assert main(["forecast", str(csv), "--column", "y", "--horizon", "3", "--hidden", "4", "--epochs", "2",
                 "--ensemble", "2", "--normalize", normalize, "--quiet", "--out", out]) == 0
    path = str(tmp_path / "f.onnx")
    assert main(["onnx", out, path, "--quiet"]) == 0
    onnx.checker.check_model(onnx.load(path), full_check=True)
    config = checkpoint.read_config(out, checkpoint.SCHEMAS)
    m, fitted = config["model"], config["fitted"]
    W, H, lag = m["window"], m["horizon"], max(fitted["season"], 1)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feeds = {"history": y[-(W + lag):].reshape(1, -1, 1).astype(np.float32),
             "scale": np.array([[mase_scale(y, fitted["season"])]], np.float32)}
    assert fitted["mode"] == normalize
    if normalize == "profile":  # trend and seasonal means fitted to the whole history, over window and horizon
        steps = np.arange(len(y) - W, len(y) + H)
        feeds["profile"] = seasonal_profile(y[:, None], fitted["season"], steps)[None].astype(np.float32)
    if calendar:  # the calendar features of the window and the horizon, as the forecaster computes them
        from rnnkit.forecast.data import calendar_features

        times = pd.date_range("2020-01-01", periods=len(t) + H, freq="D")[-(W + H):]
        feeds["known"] = np.asarray(calendar_features(times, "D"), np.float32)[None]
    assert names == list(feeds)
    point, lower, upper = session.run(None, feeds)
    expected = pd.read_csv(os.path.join(out, "forecast.csv"))
    np.testing.assert_allclose(point[0, :, 0], expected["y"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(lower[0, :, 0], expected["y_lower"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(upper[0, :, 0], expected["y_upper"], rtol=1e-4, atol=1e-4)
    batch = {k: np.repeat(v, 4, axis=0) for k, v in feeds.items()}  # the batch axis is dynamic
    np.testing.assert_allclose(session.run(None, batch)[0], np.repeat(point, 4, axis=0), rtol=1e-5, atol=1e-5)


def test_forecaster_export_with_past_and_known_covariates(tmp_path):
    """Past covariates and given known covariates are standardised inside the graph as the run does."""
    pd = pytest.importorskip("pandas", reason="rnnkit forecast reads tables with pandas")
    from rnnkit.cli import checkpoint
    from rnnkit.forecast.metrics import mase_scale

    n, H = 100, 2
    t = np.arange(n + H)
    temp = 20 + 5 * np.sin(t / 5)  # a known covariate: its future rows are given
    load = 3 + np.cos(t / 4)  # a past covariate
    y = 10 + 0.3 * temp[:n] + np.sin(t[:n] / 3)
    rows = [f"{i},{y[i]},{load[i]},{temp[i]}" for i in range(n)] + [f"{i},,,{temp[i]}" for i in range(n, n + H)]
    csv = tmp_path / "s.csv"
    csv.write_text("step,y,load,temp\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = str(tmp_path / "fc")
    assert main(["forecast", str(csv), "--column", "y", "--covariates", "load", "--known", "temp", "--horizon", str(H),
                 "--hidden", "4", "--epochs", "2", "--quiet", "--out", out]) == 0
    path = str(tmp_path / "f.onnx")
    assert main(["onnx", out, path, "--quiet"]) == 0
    config = checkpoint.read_config(out, checkpoint.SCHEMAS)
    W, lag = config["model"]["window"], max(config["fitted"]["season"], 1)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {"history": y[-(W + lag):].reshape(1, -1, 1).astype(np.float32),
             "scale": np.array([[mase_scale(y, config["fitted"]["season"])]], np.float32),
             "past": load[n - W:n].reshape(1, W, 1).astype(np.float32),
             "known": temp[n - W:n + H].reshape(1, W + H, 1).astype(np.float32)}
    assert [i.name for i in session.get_inputs()] == list(feeds)
    expected = pd.read_csv(os.path.join(out, "forecast.csv"))
    np.testing.assert_allclose(session.run(None, feeds)[0][0, :, 0], expected["y"], rtol=1e-4, atol=1e-4)


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
