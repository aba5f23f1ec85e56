"""model.export(path, format="onnx") for rnnkit.keras models, run in ONNX Runtime against rnnkit."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import rnnkit.onnx  # noqa: E402
from rnnkit import keras  # noqa: E402
from rnnkit.keras import layers  # noqa: E402

TOL = dict(rtol=1e-4, atol=2e-5)
RNG = np.random.default_rng(0)


def _randomize(model, scale=0.6):
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(0, scale, w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


def _check(model, tmp_path, batches, **export_kwargs):
    """Export, then compare ONNX Runtime with the model on every batch (a list of input arrays)."""
    path = str(tmp_path / "k.onnx")
    model.export(path, format="onnx", **export_kwargs)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    ops = [n.op_type for n in onnx.load(path).graph.node]
    loaded = None if {"Scan", "If"} & set(ops) else rnnkit.onnx.load(path)  # and back into rnnkit.nn
    for inputs in batches:
        got = session.run(None, dict(zip(names, inputs)))
        want = model(inputs[0] if len(inputs) == 1 else list(inputs))
        want = [w.detach().numpy() for w in (want if isinstance(want, (list, tuple)) else [want])]
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, **TOL)
        if loaded is not None:
            back = loaded(*inputs)
            for g, w in zip(back if isinstance(back, tuple) else [back], want):
                np.testing.assert_allclose(g.detach().numpy(), w, **TOL)
    return ops


def _ids(B, T, padded=True, holes=False):
    """(B, T) ids in 1..9, with trailing zero padding (``holes``: and zeros inside, a mask that is not a
    prefix, or with no valid step at all)."""
    ids = RNG.integers(1, 10, (B, T))
    if padded:
        lengths = RNG.integers(1, T + 1, B)
        ids[np.arange(T)[None, :] >= lengths[:, None]] = 0
    if holes:
        ids[0, 1] = 0
        ids[-1, :] = 0
    return ids.astype(np.int64)


def _all_ops(graph):
    """Op types of a graph and of its subgraphs (If branches, Scan bodies)."""
    ops = []
    for node in graph.node:
        ops.append(node.op_type)
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                ops += _all_ops(a.g)
    return ops


CELLS = {"LSTM": layers.LSTM, "GRU": layers.GRU, "GRU-reset_before": lambda u, **k: layers.GRU(u, reset_after=False, **k),
         "SimpleRNN": layers.SimpleRNN}
FLAGS = [{}, {"return_sequences": True}, {"go_backwards": True}, {"return_sequences": True, "go_backwards": True}]


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: "-".join(f) or "last")
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
def test_recurrent_layers_with_masks_and_go_backwards(tmp_path, cell, flags, masked):
    i = keras.Input((None,), dtype="int64")
    e = layers.Embedding(10, 4, mask_zero=masked)(i)
    y = CELLS[cell](3, **flags)(e)
    model = _randomize(keras.Model(i, layers.Dense(2)(y)))
    ops = _check(model, tmp_path, [[_ids(2, 5, masked)], [_ids(3, 7, masked, holes=masked)], [_ids(1, 1, False)]])
    node = "RNN" if cell == "SimpleRNN" else cell.split("-")[0]
    assert ops.count(node) == (0 if masked else 1)
    if masked:  # the node with sequence_lens for padding at the end, the scan for other masks
        graph = onnx.load(str(tmp_path / "k.onnx")).graph
        branches = [n for n in graph.node if n.op_type == "If"]
        assert len(branches) == 1 and sorted(set(_all_ops(graph)) & {node, "Scan"}) == sorted({node, "Scan"})
        recurrent = next(n for a in branches[0].attribute for n in a.g.node if n.op_type == node)
        assert recurrent.input[4] != ""  # sequence_lens


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
def test_bidirectional_merges_and_stacked_sequences(tmp_path, merge_mode, masked):
    i = keras.Input((None,), dtype="int64")
    x = layers.Embedding(10, 4, mask_zero=masked)(i)
    x = layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode="concat")(x)
    x = layers.GRU(3, return_sequences=True)(x)
    out = layers.Bidirectional(layers.GRU(3), merge_mode=merge_mode)(x)
    outs = list(out) if merge_mode is None else [out]
    model = _randomize(keras.Model(i, outs))
    ops = _check(model, tmp_path, [[_ids(2, 6, masked)], [_ids(4, 3, masked, holes=masked)]])
    if not masked:
        assert ops.count("LSTM") == 1 and ops.count("GRU") == 2 and "Scan" not in ops


def test_states_in_and_out_custom_activations_and_time_distributed(tmp_path):
    x_in, h_in, c_in = keras.Input((None, 3)), keras.Input((4,)), keras.Input((4,))
    y, h, c = layers.LSTM(4, return_sequences=True, return_state=True, activation="relu",
                          recurrent_activation="hard_sigmoid")(x_in, initial_state=[h_in, c_in])
    y = layers.SimpleRNN(4, activation="gelu", return_sequences=True)(y)
    y = layers.TimeDistributed(layers.Dense(2, activation="softmax"))(layers.Dropout(0.3)(y))
    model = _randomize(keras.Model([x_in, h_in, c_in], [y, h, c]))

    def batch(B, T):
        return [RNG.normal(size=s).astype(np.float32) for s in ((B, T, 3), (B, 4), (B, 4))]

    ops = _check(model, tmp_path, [batch(2, 5), batch(3, 1)])
    assert ops.count("Scan") == 2  # activations no ONNX node has: a scan of elementary ops


def test_sequential_with_masking_and_flatten(tmp_path):
    model = keras.Sequential([keras.Input((4, 2)), layers.Masking(0.0), layers.GRU(3, return_sequences=True),
                              layers.Flatten(), layers.Dense(2, activation="tanh")])
    _randomize(model)
    x = RNG.normal(size=(3, 4, 2)).astype(np.float32)
    x[0, 2:] = 0.0
    x[1, 0] = 0.0
    _check(model, tmp_path, [[x], [x[:1]]])


def test_export_errors(tmp_path):
    never_called = keras.Sequential([layers.LSTM(3)])
    with pytest.raises(ValueError, match="never been called"):
        never_called.export(str(tmp_path / "a.onnx"), format="onnx")
    x = np.zeros((2, 5, 4), np.float32)
    _check(never_called, tmp_path, [[x]], input_signature=[keras.Input((None, 4))])
    with pytest.raises(ValueError, match="format"):
        never_called.export(str(tmp_path / "a.onnx"))  # Keras's default format is TensorFlow's
    with pytest.raises(ValueError, match="opset: 12 is too old"):
        never_called.export(str(tmp_path / "a.onnx"), format="onnx", opset_version=12)
    with pytest.raises(ValueError, match="does not exist"):
        never_called.export(str(tmp_path / "missing" / "a.onnx"), format="onnx")


def test_stateful_layers_export_their_states_as_inputs_and_outputs(tmp_path):
    model = keras.Sequential([keras.Input((None, 2), batch_size=3), layers.LSTM(4, stateful=True, return_sequences=True),
                              layers.Bidirectional(layers.GRU(3, stateful=True))])
    _randomize(model)
    x1, x2 = (RNG.normal(size=(3, T, 2)).astype(np.float32) for T in (5, 2))
    model.reset_states()
    want = [model(x1).detach().numpy(), model(x2).detach().numpy()]  # the second call starts from the first one's states
    path = str(tmp_path / "s.onnx")
    model.export(path, format="onnx")
    onnx.checker.check_model(onnx.load(path), full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert len(names) == 1 + 2 + 2 and [o.name for o in session.get_outputs()][1:] == [n + "_out" for n in names[1:]]
    states = [np.zeros((3, s.shape[1]), np.float32) for s in session.get_inputs()[1:]]
    for x, w in zip((x1, x2), want):
        out, *states = session.run(None, dict(zip(names, [x, *states])))
        np.testing.assert_allclose(out, w, **TOL)


@pytest.mark.parametrize("layer", [
    lambda: layers.RNN(layers.GRUCell(3, reset_after=False), return_sequences=True),
    lambda: layers.LSTM(3, return_sequences=True, time_major=True),
    lambda: layers.SimpleRNN(3, activation="relu", return_sequences=True, go_backwards=True),
], ids=["RNN(GRUCell)", "time_major", "relu-backwards"])
def test_generic_rnn_time_major_and_relu(tmp_path, layer):
    model = _randomize(keras.Sequential([keras.Input((None, 2)), layer()]))
    _check(model, tmp_path, [[RNG.normal(size=(3, 4, 2)).astype(np.float32)],
                             [RNG.normal(size=(1, 6, 2)).astype(np.float32)]])


@pytest.mark.parametrize("options", [{}, {"center": False}, {"scale": False, "epsilon": 1e-5}, {"rms_scaling": True},
                                     {"axis": [-2, -1]}])
def test_layer_normalization_after_a_recurrent_layer(tmp_path, options):
    model = keras.Sequential([keras.Input((5, 4)), layers.GRU(6, return_sequences=True),
                              layers.LayerNormalization(**options), layers.Dense(3)])
    _randomize(model)
    ops = _check(model, tmp_path, [[RNG.normal(size=(B, 5, 4)).astype(np.float32)] for B in (2, 3)])
    assert ("LayerNormalization" in ops) != bool(options.get("rms_scaling"))

