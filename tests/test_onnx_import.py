"""rnnkit.onnx.load of models exported by torch.onnx.export gives torch's numbers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import rnnkit.onnx  # noqa: E402


@pytest.mark.parametrize("dynamo", [pytest.param(True, marks=pytest.mark.slow), False], ids=["dynamo", "torchscript"])
def test_torch_exported_lstm_loads_with_torch_numbers(tmp_path, torch, dynamo):
    if dynamo:
        pytest.importorskip("onnxscript", reason="torch's dynamo exporter needs onnxscript")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(3, 5, num_layers=2, batch_first=True, bidirectional=True)
            self.fc = torch.nn.Linear(10, 2)

        def forward(self, x):
            y, (h, c) = self.lstm(x)
            return self.fc(y), h, c

    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(2, 4, 3)
    path = str(tmp_path / "torch.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), path, dynamo=dynamo, input_names=["x"])
    model = rnnkit.onnx.load(path)
    assert sum(type(m).__name__ == "LSTM" for m in model.modules()) == 2
    got = model(x.numpy())
    with torch.no_grad():
        want = net(x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-4, atol=1e-5)
    got[0].sum().backward()  # the imported weights train
    assert all(p.grad is not None for p in model.parameters())


def test_torch_exported_gru_with_dynamic_axes(tmp_path, torch):
    torch.manual_seed(1)
    gru = torch.nn.GRU(4, 3).eval()
    path = str(tmp_path / "gru.onnx")
    x = torch.randn(5, 2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(gru, (x,), path, dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "time", 1: "batch"}})
    model = rnnkit.onnx.load(path)
    for T, B in ((5, 2), (3, 4)):
        x = torch.randn(T, B, 4)
        with torch.no_grad():
            want = gru(x)
        for g, w in zip(model(x.numpy()), want):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-4, atol=1e-5)


def test_keras3_export_of_elementary_ops_loads_with_onnxruntime_numbers(tmp_path, keras):
    """Keras 3 (torch backend) writes its LSTM/GRU as an unrolled graph of elementary ops; rnnkit runs it as ONNX
    Runtime does (the reference here is ONNX Runtime on the same file: that graph is fixed to the traced length)."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript", reason="Keras's ONNX export runs torch's dynamo exporter")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, 3))
    y = keras.layers.GRU(5)(keras.layers.LSTM(4, return_sequences=True)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(y))
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype(np.float32)
    model(x)  # Keras exports only a model that has been called
    path = str(tmp_path / "keras.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.export(path, format="onnx", verbose=False)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    loaded = rnnkit.onnx.load(path)
    for B in (2, 5):
        x = np.random.default_rng(B).normal(size=(B, 4, 3)).astype(np.float32)
        want = session.run(None, {session.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(loaded(x).numpy(), want, rtol=1e-5, atol=1e-6)
