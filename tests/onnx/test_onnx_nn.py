"""ONNX export of rnnkit.nn modules, run in ONNX Runtime against rnnkit; import back with rnnkit.onnx.load."""

from __future__ import annotations

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import rnnkit  # noqa: E402
import rnnkit.onnx  # noqa: E402
from rnnkit import nn  # noqa: E402

TOL = dict(rtol=1e-4, atol=2e-5)


def _session(path):
    onnx.checker.check_model(onnx.load(path), full_check=True)
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def _flat(value):
    if isinstance(value, (tuple, list)):
        return [leaf for v in value for leaf in _flat(v)]
    return [value.detach().numpy()]


def _scaled(module, scale=0.6, seed=0):
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data[...] = rng.normal(0, scale, p.shape).astype(p.dtype)
    return module.eval()


def _op_types(path):
    return [n.op_type for n in onnx.load(path).graph.node]


CASES = [
    ("LSTM", {}), ("LSTM", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    ("LSTM", {"num_layers": 3}), ("LSTM", {"proj_size": 2}), ("LSTM", {"proj_size": 2, "bidirectional": True}),
    ("LSTM", {"bias": False, "batch_first": True}),
    ("GRU", {}), ("GRU", {"num_layers": 2, "bidirectional": True}), ("GRU", {"reset_after": False}),
    ("GRU", {"reset_after": False, "bias": False, "batch_first": True}),
    ("RNN", {}), ("RNN", {"nonlinearity": "relu", "num_layers": 2, "bidirectional": True}),
    ("RNN", {"bias": False, "num_layers": 3, "batch_first": True}),
]


@pytest.mark.parametrize("mode, kwargs", CASES, ids=[f"{m}-{k}" for m, k in CASES])
def test_recurrent_layers_match_rnnkit_with_states_and_lengths(tmp_path, mode, kwargs):
    model = _scaled(getattr(nn, mode)(3, 4, **kwargs))
    bf = kwargs.get("batch_first", False)
    D = 2 if kwargs.get("bidirectional") else 1
    L, P = kwargs.get("num_layers", 1), kwargs.get("proj_size") or 4
    rng = np.random.default_rng(1)

    def batch(B, T):
        x = rng.normal(size=(B, T, 3) if bf else (T, B, 3)).astype(np.float32)
        h0 = rng.normal(size=(L * D, B, P)).astype(np.float32)
        c0 = rng.normal(size=(L * D, B, 4)).astype(np.float32)
        lengths = rng.integers(1, T + 1, B)
        lengths[0] = T
        return x, (h0, c0) if mode == "LSTM" else h0, lengths

    x, hx, lengths = batch(2, 5)
    path = str(tmp_path / "m.onnx")
    rnnkit.onnx.export(model, (x, hx, {"lengths": lengths}), path)
    session = _session(path)
    names = [i.name for i in session.get_inputs()]
    for B, T in ((1, 1), (3, 7), (4, 2)):  # dynamic batch and time
        x, hx, lengths = batch(B, T)
        feeds = dict(zip(names, [x, *(hx if mode == "LSTM" else [hx]), lengths]))
        got = session.run(None, feeds)
        want = _flat(model(x, hx, lengths))
        assert len(got) == len(want) == (3 if mode == "LSTM" else 2)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, **TOL)
    ops = _op_types(path)
    if kwargs.get("proj_size"):
        assert ops.count("Scan") == L * D and "LSTM" not in ops
    else:
        node = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "RNN"}[mode]
        assert ops.count(node) == L and "Scan" not in ops  # one node per layer
        recurrent = [n for n in onnx.load(path).graph.node if n.op_type == node]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in recurrent[0].attribute}
        assert attrs["direction"] == (b"bidirectional" if D == 2 else b"forward") and attrs["layout"] == 0
        assert recurrent[0].input[4] != ""  # sequence_lens
        if mode == "GRU":
            assert attrs["linear_before_reset"] == int(kwargs.get("reset_after", True))


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_defaults_without_states_and_unbatched_inputs(tmp_path, mode):
    model = _scaled(getattr(nn, mode)(3, 5, num_layers=2))
    rng = np.random.default_rng(2)
    path = str(tmp_path / "m.onnx")
    rnnkit.onnx.export(model, rng.normal(size=(4, 3)).astype(np.float32), path, output_names=["y"])
    session = _session(path)
    assert [o.name for o in session.get_outputs()][0] == "y"
    for T in (1, 6):
        x = rng.normal(size=(T, 3)).astype(np.float32)
        for g, w in zip(session.run(None, {"input": x}), _flat(model(x))):
            np.testing.assert_allclose(g, w, **TOL)


@pytest.mark.parametrize("cls", [nn.LSTMCell, nn.GRUCell, nn.RNNCell])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_step_like_rnnkit(tmp_path, cls, batched):
    cell = _scaled(cls(3, 4))
    rng = np.random.default_rng(5)
    lead = (2,) if batched else ()
    state = tuple(rng.normal(size=lead + (4,)).astype(np.float32) for _ in range(2 if cls is nn.LSTMCell else 1))
    hx = state if cls is nn.LSTMCell else state[0]
    path = str(tmp_path / "m.onnx")
    rnnkit.onnx.export(cell, (rng.normal(size=lead + (3,)).astype(np.float32), hx), path)
    session = _session(path)
    names = [i.name for i in session.get_inputs()]
    for B in ((5,) if batched else ()), lead:
        x = rng.normal(size=B + (3,)).astype(np.float32)
        hx = tuple(rng.normal(size=B + (4,)).astype(np.float32) for _ in state)
        got = session.run(None, dict(zip(names, (x, *hx))))
        for g, w in zip(got, _flat(cell(x, hx if cls is nn.LSTMCell else hx[0]))):
            np.testing.assert_allclose(g, w, **TOL)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_float64_layers_run_in_onnxruntime(tmp_path, mode):
    model = _scaled(getattr(nn, mode)(3, 4, bidirectional=True, dtype=np.float64))
    path = str(tmp_path / "m.onnx")
    rnnkit.onnx.export(model, np.zeros((2, 1, 3)), path)
    session = _session(path)
    x = np.random.default_rng(6).normal(size=(6, 2, 3))
    for g, w in zip(session.run(None, {"input": x}), _flat(model(x))):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_sequential_of_layers_and_activations(tmp_path):
    model = _scaled(nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Dropout(0.5), nn.Linear(6, 6), nn.ReLU(),
                                  nn.Sigmoid(), nn.Flatten(1), nn.Identity(), nn.Linear(6, 3), nn.LogSoftmax(dim=-1)))
    model.train()  # exported in eval mode, and left in its own mode afterwards
    path = str(tmp_path / "m.onnx")
    rnnkit.onnx.export(model, np.zeros((2, 4), np.float32), path)
    assert model.training
    model.eval()
    session = _session(path)
    x = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(session.run(None, {"input": x})[0], model(x).detach().numpy(), **TOL)
    back = rnnkit.onnx.load(path)
    np.testing.assert_allclose(back(x).detach().numpy(), model(x).detach().numpy(), **TOL)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_layer_norm_gelu_and_leaky_relu_export_and_load(tmp_path, approximate):
    model = _scaled(nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.GELU(approximate=approximate),
                                  nn.Linear(6, 6), nn.LeakyReLU(0.2), nn.LayerNorm(6, elementwise_affine=False)))
    path = str(tmp_path / "m.onnx")
    rnnkit.onnx.export(model, np.zeros((2, 3, 4), np.float32), path, dynamic_axes={"input": {0: "b", 1: "t"}})
    assert {"LayerNormalization", "LeakyRelu"} <= set(_op_types(path))
    x = np.random.default_rng(4).normal(size=(5, 7, 4)).astype(np.float32)
    np.testing.assert_allclose(_session(path).run(None, {"input": x})[0], model(x).detach().numpy(), **TOL)
    back = rnnkit.onnx.load(path)
    np.testing.assert_allclose(back(x).detach().numpy(), model(x).detach().numpy(), **TOL)
    # the loaded graph is differentiable through LayerNormalization and Erf: its gradient equals the model's
    xt, xb = rnnkit.tensor(x, requires_grad=True), rnnkit.tensor(x, requires_grad=True)
    model(xt).sum().backward()
    back(xb).sum().backward()
    np.testing.assert_allclose(xb.grad.detach().numpy(), xt.grad.detach().numpy(), rtol=1e-3, atol=1e-4)


def test_layer_norm_needs_opset_17(tmp_path):
    with pytest.raises(ValueError, match="LayerNormalization.*opset=17"):
        rnnkit.onnx.export(nn.LayerNorm(3), np.zeros((2, 3), np.float32), str(tmp_path / "m.onnx"), opset=16)


def test_embedding_softmax_and_static_axes(tmp_path):
    model = _scaled(nn.Sequential(nn.Embedding(7, 3), nn.Softmax(dim=-1)))
    path = str(tmp_path / "m.onnx")
    ids = np.array([[1, 2, 6]], np.int64)
    rnnkit.onnx.export(model, ids, path, dynamic_axes={"input": {0: "batch"}, "output": [0]})
    session = _session(path)
    assert session.get_inputs()[0].shape == ["batch", 3]  # axis 1 fixed to the example's size
    ids = np.array([[0, 5, 6], [4, 4, 1]], np.int64)
    np.testing.assert_allclose(session.run(None, {"input": ids})[0], model(ids).detach().numpy(), **TOL)


@pytest.mark.parametrize("mode, kwargs", [("LSTM", {"num_layers": 2, "bidirectional": True}),
                                          ("GRU", {"reset_after": False}), ("RNN", {"nonlinearity": "relu"})])
def test_load_of_an_export_gives_the_same_numbers_and_trains(tmp_path, mode, kwargs):
    model = _scaled(getattr(nn, mode)(3, 4, **kwargs))
    path = str(tmp_path / "m.onnx")
    x = np.random.default_rng(4).normal(size=(6, 2, 3)).astype(np.float32)
    rnnkit.onnx.export(model, (x, None, {"lengths": np.array([6, 3])}), path)
    back = rnnkit.onnx.load(path)
    lengths = np.array([2, 6])
    for g, w in zip(_flat(back(x, lengths)), _flat(model(x, None, lengths))):
        np.testing.assert_allclose(g, w, **TOL)
    params = list(back.parameters())
    assert params and sum(p.numel() for p in params) == sum(p.numel() for p in model.parameters())
    out = back(x, lengths)[0]
    out.sum().backward()
    assert all(p.grad is not None for p in params)


def test_bad_input_is_named(tmp_path):
    lstm = nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="example_input"):
        rnnkit.onnx.export(lstm, None, str(tmp_path / "m.onnx"))
    with pytest.raises(ValueError, match=r"opset: 12 is too old for the ONNX op \w+ that layer 'lstm'"):
        rnnkit.onnx.export(lstm, np.zeros((2, 1, 3), np.float32), str(tmp_path / "m.onnx"), opset=12)
    with pytest.raises(ValueError, match="opset"):
        rnnkit.onnx.export(lstm, np.zeros((2, 1, 3), np.float32), str(tmp_path / "m.onnx"), opset=99)
    with pytest.raises(ValueError, match="does not exist"):
        rnnkit.onnx.export(lstm, np.zeros((2, 1, 3), np.float32), str(tmp_path / "no" / "m.onnx"))
    with pytest.raises(ValueError, match="is a directory"):
        rnnkit.onnx.export(lstm, np.zeros((2, 1, 3), np.float32), str(tmp_path))
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        with pytest.raises(ValueError, match="not writable"):
            rnnkit.onnx.export(lstm, np.zeros((2, 1, 3), np.float32), str(locked / "m.onnx"))

    packed = nn.utils.rnn.pack_padded_sequence(np.zeros((4, 2, 3), np.float32), [4, 2])
    with pytest.raises(TypeError, match="PackedSequence.*lengths"):
        rnnkit.onnx.export(nn.LSTM(3, 4), packed, str(tmp_path / "m.onnx"))

    class Custom(nn.Module):
        def forward(self, x):
            return x.numpy().sum()

    with pytest.raises(ValueError, match=r"Tensor.numpy\(\), in module 'custom'"):
        rnnkit.onnx.export(Custom(), np.zeros((1, 3), np.float32), str(tmp_path / "m.onnx"))
    with pytest.raises(TypeError, match="model"):
        rnnkit.onnx.export(object(), np.zeros((1, 3), np.float32), str(tmp_path / "m.onnx"))
    assert not os.path.exists(tmp_path / "m.onnx")  # nothing half-written


def test_load_names_unsupported_ops(tmp_path):
    h = onnx.helper
    graph = h.make_graph([h.make_node("Relu", ["x"], ["r"]), h.make_node("Acosh", ["r"], ["y"], name="acosh_1")], "g",
                         [h.make_tensor_value_info("x", 1, [2])], [h.make_tensor_value_info("y", 1, [2])])
    path = str(tmp_path / "m.onnx")
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), path)
    with pytest.raises(ValueError, match=r"cannot import the ONNX ops \['Acosh'\].*acosh_1"):
        rnnkit.onnx.load(path)
    with pytest.raises(ValueError, match="not a file"):
        rnnkit.onnx.load(str(tmp_path / "missing.onnx"))
