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
    got = model(x.detach().numpy())
    with torch.no_grad():
        want = net(x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), rtol=1e-4, atol=1e-5)
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
        for g, w in zip(model(x.detach().numpy()), want):
            np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), rtol=1e-4, atol=1e-5)


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
        np.testing.assert_allclose(loaded(x).detach().numpy(), want, rtol=1e-5, atol=1e-6)


def _single_node_model(op, direction, layout, H=4, I=3, seed=0):
    """One ONNX LSTM/GRU node with random weights, sequence_lens and initial_h as inputs."""
    h = onnx.helper
    G = {"LSTM": 4, "GRU": 3}[op]
    D = 2 if direction == "bidirectional" else 1
    rng = np.random.default_rng(seed)
    weights = [onnx.numpy_helper.from_array(rng.normal(0, 0.5, shape).astype(np.float32), name)
               for name, shape in (("W", (D, G * H, I)), ("R", (D, G * H, H)), ("B", (D, 2 * G * H)))]
    x_shape, h_shape = (["T", "B", I], [D, "B", H]) if layout == 0 else (["B", "T", I], ["B", D, H])
    attrs = {"hidden_size": H, "direction": direction, "layout": layout}
    if op == "GRU":
        attrs["linear_before_reset"] = 1
    node = h.make_node(op, ["x", "W", "R", "B", "lens", "h0"], ["y", "y_h"], **attrs)
    graph = h.make_graph([node], "g", [h.make_tensor_value_info("x", 1, x_shape),
                                       h.make_tensor_value_info("lens", 6, ["B"]),
                                       h.make_tensor_value_info("h0", 1, h_shape)],
                         [h.make_tensor_value_info("y", 1, None), h.make_tensor_value_info("y_h", 1, None)], weights)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])


@pytest.mark.parametrize("op", ["LSTM", "GRU"])
@pytest.mark.parametrize("direction", ["reverse", "bidirectional"])
def test_reverse_and_batch_major_nodes_load(tmp_path, op, direction):
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(1)
    D = 2 if direction == "bidirectional" else 1
    x = rng.normal(size=(6, 3, 3)).astype(np.float32)
    lens = np.array([6, 2, 4], np.int32)
    h0 = rng.normal(size=(D, 3, 4)).astype(np.float32)
    path = str(tmp_path / "t.onnx")
    onnx.save(_single_node_model(op, direction, 0), path)
    want = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x, "lens": lens, "h0": h0})
    got = rnnkit.onnx.load(path)(x, lens, h0)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.detach().numpy(), w, rtol=1e-4, atol=1e-5)
    onnx.save(_single_node_model(op, direction, 1), path)  # ONNX Runtime refuses layout=1; rnnkit reads it
    y, y_h = rnnkit.onnx.load(path)(x.transpose(1, 0, 2), lens, h0.transpose(1, 0, 2))
    np.testing.assert_allclose(y.detach().numpy(), want[0].transpose(2, 0, 1, 3), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(y_h.detach().numpy(), want[1].transpose(1, 0, 2), rtol=1e-4, atol=1e-5)
