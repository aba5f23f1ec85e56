"""Keras 3's own files both ways: ``.keras`` archives and ``.weights.h5`` written by rnnkit open in real
Keras 3.15 (torch backend) with equal predictions, and files written by real Keras open in rnnkit; the
optimizer state travels too (one more epoch gives the same weights). Bad files fail clearly and run nothing."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from rnnkit import keras as rk
from helpers import to_numpy as _np

h5py = pytest.importorskip("h5py")


def _sequential(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((None,), dtype="int32"), L.Embedding(12, 4, mask_zero=True),
                           L.SimpleRNN(5, return_sequences=True), L.LSTM(4, return_sequences=True),
                           L.GRU(3), L.Dense(2, activation="softmax")])


def _functional(lib):
    L = lib.layers
    inputs = lib.Input((6, 3))
    x = L.Masking()(inputs)
    x = L.Bidirectional(L.LSTM(4, return_sequences=True))(x)
    x = L.TimeDistributed(L.Dense(3, activation="tanh"))(x)
    x = L.Bidirectional(L.GRU(2), merge_mode="sum")(x)
    return lib.Model(inputs, L.Dense(1)(x))


def _sequential_data():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 12, size=(8, 7)).astype(np.int32)
    ids[0, 4:] = 0
    ids[3, 2:] = 0
    return ids, rng.integers(0, 2, size=8)


def _functional_data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 6, 3)).astype(np.float32)
    x[1, 3:] = 0.0
    x[5, :2] = 0.0
    return x, rng.normal(size=(8, 1)).astype(np.float32)


CASES = {
    "sequential": (_sequential, _sequential_data, "sparse_categorical_crossentropy", "accuracy"),
    "functional": (_functional, _functional_data, "mse", "mae"),
}


def _trained(lib, case):
    build, data, loss, metric = CASES[case]
    model = build(lib)
    x, y = data()
    model.compile(optimizer=lib.optimizers.Adam(0.01), loss=loss, metrics=[metric])
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    return model, x, y


def _same_predictions(a, b, x):
    np.testing.assert_allclose(_np(a.predict(x, verbose=0)), _np(b.predict(x, verbose=0)), rtol=1e-5, atol=1e-6)


def _one_more_epoch_agrees(a, b, x, y):
    """The optimizer state came along: one more epoch in each gives the same weights."""
    a.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    b.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(_np(wa), _np(wb), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", sorted(CASES))
def test_keras_files_open_in_rnnkit(K, tmp_path, case):
    theirs, x, y = _trained(K, case)
    path = tmp_path / "keras.keras"
    theirs.save(path)
    ours = rk.models.load_model(path)
    assert [type(l).__name__ for l in ours.layers if not isinstance(l, rk.layers.InputLayer)] == \
        [type(l).__name__ for l in theirs.layers if not isinstance(l, K.layers.InputLayer)]
    _same_predictions(ours, theirs, x)
    assert type(ours.optimizer) is rk.optimizers.Adam and ours.optimizer.iterations == 2
    assert ours.optimizer.learning_rate == pytest.approx(0.01)
    _one_more_epoch_agrees(ours, theirs, x, y)


@pytest.mark.parametrize("case", sorted(CASES))
def test_rnnkit_files_open_in_keras(K, tmp_path, case):
    ours, x, y = _trained(rk, case)
    path = tmp_path / "rnnkit.keras"
    ours.save(path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(archive.read("config.json"))
    assert {"module", "class_name", "config", "registered_name", "build_config", "compile_config"} <= set(config)
    theirs = K.models.load_model(path)
    _same_predictions(ours, theirs, x)
    assert int(_np(theirs.optimizer.iterations)) == 2
    _one_more_epoch_agrees(ours, theirs, x, y)


def _h5_tree(path):
    """Path -> (shape, dtype) of each array, and the attribute names of each group (names are counters)."""
    tree = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, item: tree.__setitem__(
            name, (item.shape, str(item.dtype)) if isinstance(item, h5py.Dataset) else sorted(item.attrs)))
    return tree


@pytest.mark.parametrize("case", sorted(CASES))
def test_weights_h5_has_keras_layout_both_ways(K, tmp_path, case):
    """rnnkit writes the same HDF5 tree as Keras (paths, names, shapes, dtypes) and each loads the other's."""
    build, data = CASES[case][:2]
    x, _ = data()
    ours, theirs = build(rk), build(K)
    theirs.set_weights(ours.get_weights())
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    tree_ours, tree_theirs = _h5_tree(tmp_path / "ours.weights.h5"), _h5_tree(tmp_path / "theirs.weights.h5")
    assert tree_ours == tree_theirs
    with h5py.File(tmp_path / "ours.weights.h5", "r") as handle:
        assert handle["vars"].attrs["name"] == ours.name
        assert handle["layers/dense/vars"].attrs["name"] == ours.layers[-1].name
    fresh_ours, fresh_theirs = build(rk), build(K)
    fresh_ours.load_weights(tmp_path / "theirs.weights.h5")
    fresh_theirs.load_weights(tmp_path / "ours.weights.h5")
    _same_predictions(fresh_ours, theirs, x)
    _same_predictions(fresh_theirs, ours, x)


def test_keras_config_matches_keras_serialization(K, tmp_path):
    """Every layer entry of our config.json carries Keras's keys, and the layer configs Keras's own keys."""
    ours = _functional(rk)
    theirs = _functional(K)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    configs = [json.loads(zipfile.ZipFile(tmp_path / f"{who}.keras").read("config.json")) for who in ("ours", "theirs")]
    layers = [{e["class_name"]: e for e in c["config"]["layers"]} for c in configs]
    for name in ("InputLayer", "Masking", "Bidirectional", "TimeDistributed", "Dense"):
        assert set(layers[0][name]) <= set(layers[1][name]), name
        assert set(layers[0][name]["config"]) == set(layers[1][name]["config"]), name
    lstm = [layers[i]["Bidirectional"]["config"]["layer"] for i in (0, 1)]
    assert set(lstm[0]["config"]) == set(lstm[1]["config"]) and lstm[0]["module"] == lstm[1]["module"]
    assert lstm[0]["config"]["kernel_initializer"]["module"] == "keras.initializers"
    assert lstm[0]["config"]["dtype"] == {"module": "keras", "class_name": "DTypePolicy",
                                          "config": {"name": "float32"}, "registered_name": None}


def test_uncompiled_model_loads_uncompiled_and_compile_false(K, tmp_path):
    ours = _sequential(rk)
    ours.save(tmp_path / "plain.keras")
    theirs = K.models.load_model(tmp_path / "plain.keras")
    assert getattr(theirs, "optimizer", None) is None
    x, _ = _sequential_data()
    _same_predictions(ours, theirs, x)
    trained, _, _ = _trained(K, "sequential")
    trained.save(tmp_path / "trained.keras")
    assert not getattr(rk.models.load_model(tmp_path / "trained.keras", compile=False), "compiled", False)


# -- bad input -------------------------------------------------------------------------------------
def _no_pickle(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)


def test_damaged_and_foreign_keras_files_fail_clearly(tmp_path, monkeypatch):
    _no_pickle(monkeypatch)
    model = _sequential(rk)
    model.save(tmp_path / "good.keras")
    data = (tmp_path / "good.keras").read_bytes()
    (tmp_path / "truncated.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or damaged zip archive"):
        rk.models.load_model(tmp_path / "truncated.keras")
    (tmp_path / "pickle.keras").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="not a zip archive"):
        rk.models.load_model(tmp_path / "pickle.keras")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.pkl", b"")
    (tmp_path / "torch.keras").write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="no config.json"):
        rk.models.load_model(tmp_path / "torch.keras")
    model.save_weights(tmp_path / "good.weights.h5")
    weights = (tmp_path / "good.weights.h5").read_bytes()
    (tmp_path / "cut.weights.h5").write_bytes(weights[: len(weights) // 3])
    with pytest.raises(ValueError, match="damaged or truncated"):
        model.load_weights(tmp_path / "cut.weights.h5")
    (tmp_path / "not.weights.h5").write_bytes(b"PK\x03\x04 not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        model.load_weights(tmp_path / "not.weights.h5")
    with pytest.raises(FileNotFoundError):
        rk.models.load_model(tmp_path / "missing.keras")


def _rewrite_config(src, dst, edit):
    with zipfile.ZipFile(src) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(dst, "w") as archive:
        for name, value in members.items():
            archive.writestr(name, value)


def test_unknown_class_and_serialized_code_are_refused(K, tmp_path, monkeypatch):
    _no_pickle(monkeypatch)
    model = _functional(rk)
    model.save(tmp_path / "good.keras")

    def rename(config):
        config["config"]["layers"][-1]["class_name"] = "EvilDense"

    _rewrite_config(tmp_path / "good.keras", tmp_path / "unknown.keras", rename)
    with pytest.raises(ValueError, match="unknown layer class 'EvilDense'"):
        rk.models.load_model(tmp_path / "unknown.keras")
    theirs = K.Sequential([K.Input((3,)), K.layers.Lambda(lambda t: t * 2.0), K.layers.Dense(1)])
    theirs.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="Python lambda.*safe_mode=True") as refused:
        rk.models.load_model(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="lambda") as keras_refused:
        K.models.load_model(tmp_path / "lambda.keras")
    assert "safe_mode" in str(keras_refused.value) and "safe_mode" in str(refused.value)
    with pytest.raises(ValueError, match="never runs code from a file, even with safe_mode=False"):
        rk.models.load_model(tmp_path / "lambda.keras", safe_mode=False)


def test_mismatched_weights_name_the_variable_and_change_nothing(tmp_path):
    model = _sequential(rk)
    model.save_weights(tmp_path / "w.weights.h5")
    L = rk.layers
    wider = rk.Sequential([rk.Input((None,), dtype="int32"), L.Embedding(12, 4, mask_zero=True),
                           L.SimpleRNN(5, return_sequences=True), L.LSTM(6, return_sequences=True),
                           L.GRU(3), L.Dense(2, activation="softmax")])
    before = wider.get_weights()
    with pytest.raises(ValueError, match=r"layers/lstm/cell/vars/0 .*has shape \(5, 16\), the model expects \(5, 24\)"):
        wider.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(before, wider.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.warns(UserWarning, match="skipping"):
        wider.load_weights(tmp_path / "w.weights.h5", skip_mismatch=True)
    np.testing.assert_array_equal(wider.layers[0].get_weights()[0], model.layers[0].get_weights()[0])


def test_time_major_cannot_be_written_in_keras_format(tmp_path):
    model = rk.Sequential([rk.Input((4, 2)), rk.layers.LSTM(3, time_major=True)])
    with pytest.raises(ValueError, match="time_major=True"):
        model.save(tmp_path / "tm.keras")
    assert not list(tmp_path.iterdir())


def _more_layers(lib, kind):
    L = lib.layers
    inputs = lib.Input((6, 4))
    if kind == "conv_norm":
        x = L.Conv1D(3, 2, padding="causal")(inputs)
        x = L.GlobalAveragePooling1D()(L.LayerNormalization()(L.BatchNormalization()(x)))
    elif kind == "stacked_cells":
        x = L.RNN([L.LSTMCell(3), L.GRUCell(2)])(inputs)
    elif kind == "cells":
        x = L.GRU(2, reset_after=False)(L.RNN(L.SimpleRNNCell(3), return_sequences=True)(inputs))
    elif kind == "attention":
        x = L.Flatten()(L.MultiHeadAttention(2, 3)(L.AdditiveAttention()([L.Attention()([inputs, inputs]), inputs]),
                                                   inputs))
    else:  # merging and reshaping
        a, b = L.Dense(3)(inputs), L.Dense(3)(inputs)
        x = L.Permute((2, 1))(L.RepeatVector(2)(L.Reshape((36,))(L.Concatenate()([a, L.Add()([a, b])]))))
    return lib.Model(inputs, L.Dense(1)(L.Flatten()(x)) if kind != "conv_norm" else L.Dense(1)(x))


@pytest.mark.parametrize("kind", ["conv_norm", "stacked_cells", "cells", "attention", "merging"])
def test_more_layers_same_files_both_ways(K, tmp_path, kind):
    x = np.random.default_rng(4).normal(size=(3, 6, 4)).astype(np.float32)
    ours, theirs = _more_layers(rk, kind), _more_layers(K, kind)
    theirs.set_weights(ours.get_weights())
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    assert _h5_tree(tmp_path / "ours.weights.h5") == _h5_tree(tmp_path / "theirs.weights.h5")
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    _same_predictions(K.models.load_model(tmp_path / "ours.keras"), ours, x)
    _same_predictions(rk.models.load_model(tmp_path / "theirs.keras"), theirs, x)


OPTIMIZERS = {
    "RMSprop": lambda K: K.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "SGD": lambda K: K.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "Adagrad": lambda K: K.optimizers.Adagrad(0.05),
    "AdamW": lambda K: K.optimizers.AdamW(0.01, amsgrad=True),
    "Adadelta": lambda K: K.optimizers.Adadelta(0.5),
    "Adamax": lambda K: K.optimizers.Adamax(0.01),
    "Nadam": lambda K: K.optimizers.Nadam(0.01),
    "Lion": lambda K: K.optimizers.Lion(0.001),
    "Ftrl": lambda K: K.optimizers.Ftrl(0.05),
    "Adafactor": lambda K: K.optimizers.Adafactor(0.05),
    "Lamb": lambda K: K.optimizers.Lamb(0.01),
    "ScheduleFreeAdamW": lambda K: K.optimizers.ScheduleFreeAdamW(0.01, warmup_steps=2),
    "Muon": lambda K: K.optimizers.Muon(0.01, exclude_layers=["dense"]),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_compile_config_and_optimizer_state_both_ways(K, tmp_path, name):
    """Loss and metric objects and each optimizer's variables (Keras's order) travel both ways."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(8, 5, 3)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.float32)[:, None]
    for source, target in ((K, rk), (rk, K)):
        model = source.Sequential([source.Input((5, 3)), source.layers.LSTM(3),
                                   source.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=OPTIMIZERS[name](source), loss=source.losses.BinaryCrossentropy(label_smoothing=0.1),
                      metrics=[source.metrics.BinaryAccuracy()])
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        model.save(tmp_path / f"{name}.keras")
        loaded = target.models.load_model(tmp_path / f"{name}.keras")
        assert type(loaded.optimizer).__name__ == name
        assert type(loaded.loss).__name__ == "BinaryCrossentropy"
        assert loaded.loss.get_config()["label_smoothing"] == pytest.approx(0.1)
        _same_predictions(loaded, model, x)
        _one_more_epoch_agrees(loaded, model, x, y)


def _double(t):
    return t * 2.0


def test_named_function_loads_only_from_custom_objects(K, tmp_path):
    theirs = K.Sequential([K.Input((3,)), K.layers.Lambda(_double), K.layers.Dense(1)])
    theirs.save(tmp_path / "named.keras")
    with pytest.raises(ValueError, match=r"Python function '_double'.*custom_objects=\{'_double': fn\}"):
        rk.models.load_model(tmp_path / "named.keras")
    ours = rk.models.load_model(tmp_path / "named.keras", custom_objects={"_double": _double})
    _same_predictions(ours, theirs, np.random.default_rng(6).normal(size=(4, 3)).astype(np.float32))


def test_missing_h5py_is_named(tmp_path, monkeypatch):
    import sys

    model = _sequential(rk)
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"install h5py \(pip install 'rnnkit\[files\]'"):
        model.save(tmp_path / "m.keras")
    with pytest.raises(ImportError, match="h5py"):
        model.save_weights(tmp_path / "m.weights.h5")
    assert not list(tmp_path.iterdir())


def test_configs_the_weights_cannot_back_are_refused_before_building(tmp_path, monkeypatch):
    _no_pickle(monkeypatch)
    model = _functional(rk)
    model.save(tmp_path / "good.keras")

    def huge(config):
        config["config"]["layers"][-1]["config"]["units"] = 10 ** 9

    _rewrite_config(tmp_path / "good.keras", tmp_path / "huge.keras", huge)
    with pytest.raises(ValueError, match="units is 1000000000, larger than any dimension of the stored weights"):
        rk.models.load_model(tmp_path / "huge.keras")

    def broken(config):
        del config["config"]["layers"]

    _rewrite_config(tmp_path / "good.keras", tmp_path / "broken.keras", broken)
    with pytest.raises(ValueError, match="does not describe a model: KeyError 'layers'"):
        rk.models.load_model(tmp_path / "broken.keras")
    with zipfile.ZipFile(tmp_path / "good.keras") as archive:
        config = archive.read("config.json")
    with zipfile.ZipFile(tmp_path / "noweights.keras", "w") as archive:
        archive.writestr("config.json", config)
    with pytest.raises(ValueError, match="no model.weights.h5"):
        rk.models.load_model(tmp_path / "noweights.keras")
    deep = "[" * 100000 + "]" * 100000
    with zipfile.ZipFile(tmp_path / "deep.keras", "w") as archive:
        archive.writestr("config.json", deep)
    with pytest.raises(ValueError, match="config.json"):
        rk.models.load_model(tmp_path / "deep.keras")
    with pytest.raises(ValueError, match="holds weights only"):
        model.save_weights(tmp_path / "w.weights.h5")
        rk.models.load_model(tmp_path / "w.weights.h5")


def _embedding_graph(lib):
    L = lib.layers
    ids = lib.Input((None,), dtype="int32")
    x = L.GlobalAveragePooling1D()(L.LSTM(3, return_sequences=True)(L.Embedding(10, 4, mask_zero=True)(ids)))
    return lib.Model(ids, L.Dense(1)(x))


def _seq2seq_graph(lib):
    L = lib.layers
    source, target = lib.Input((None, 5)), lib.Input((None, 4))
    _, h, c = L.LSTM(6, return_state=True)(source)
    out = L.LSTM(6, return_sequences=True)(target, initial_state=[h, c])
    return lib.Model([source, target], L.TimeDistributed(L.Dense(4, activation="softmax"))(out))


def _shared_graph(lib):
    L = lib.layers
    a, b = lib.Input((5, 3)), lib.Input((5, 3))
    gru = L.GRU(4)
    return lib.Model([a, b], L.Dense(1)(L.Concatenate()([gru(a), gru(b)])))


@pytest.mark.parametrize("build", [_embedding_graph, _seq2seq_graph, _shared_graph], ids=lambda f: f.__name__)
def test_functional_graphs_both_ways(K, tmp_path, build):
    """Embedding masks, initial_state given as tensors, a layer shared by two inputs."""
    rng = np.random.default_rng(7)
    ids = rng.integers(0, 10, size=(3, 6)).astype(np.int32)
    ids[0, 3:] = 0
    normal = lambda *shape: rng.normal(size=shape).astype(np.float32)  # noqa: E731
    x = {"_embedding_graph": ids, "_seq2seq_graph": [normal(3, 7, 5), normal(3, 4, 4)],
         "_shared_graph": [normal(3, 5, 3), normal(3, 5, 3)]}
    for source, target in ((K, rk), (rk, K)):
        model = build(source)
        model.save(tmp_path / "graph.keras")
        _same_predictions(target.models.load_model(tmp_path / "graph.keras"), model, x[build.__name__])


def _scaled_model(lib):
    @lib.saving.register_keras_serializable(package="files_test", name="Scale")
    class Scale(lib.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="random_normal", name="w")

        def call(self, x):
            return x * self.w * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    return lib.Sequential([lib.Input((3,)), Scale(3.0), lib.layers.Dense(1)])


def test_registered_custom_layers_both_ways(K, tmp_path):
    x = np.random.default_rng(8).normal(size=(4, 3)).astype(np.float32)
    for source, target in ((K, rk), (rk, K)):
        model = _scaled_model(source)
        _scaled_model(target)  # registered on the other side too, as a user would
        model.save(tmp_path / "custom.keras")
        with zipfile.ZipFile(tmp_path / "custom.keras") as archive:
            entry = json.loads(archive.read("config.json"))["config"]["layers"][1]
        assert entry["registered_name"] == "files_test>Scale" and entry["config"]["factor"] == 3.0
        _same_predictions(target.models.load_model(tmp_path / "custom.keras"), model, x)


# -- Keras's legacy HDF5 files ---------------------------------------------------------------------
def _keras2_nodes(config):
    """Keras 2's form of a functional config: nodes as [[layer, node, tensor, kwargs]], InputLayer's
    batch_input_shape (Keras 3 reads both)."""
    for layer in config["config"]["layers"]:
        nodes = []
        for node in layer["inbound_nodes"]:
            args = node["args"][0]
            tensors = args if isinstance(args, list) else [args]
            nodes.append([t["config"]["keras_history"] + [node["kwargs"]] for t in tensors])
        layer["inbound_nodes"] = nodes
        if layer["class_name"] == "InputLayer":
            layer["config"]["batch_input_shape"] = layer["config"].pop("batch_shape")
    return config


@pytest.mark.parametrize("case", sorted(CASES))
def test_legacy_h5_files_of_keras_open_in_rnnkit(K, tmp_path, case):
    theirs, x, y = _trained(K, case)
    path = tmp_path / "legacy.h5"
    theirs.save(path)
    ours = rk.models.load_model(path)
    _same_predictions(ours, theirs, x)
    fresh = CASES[case][0](rk)
    fresh.load_weights(path)
    _same_predictions(fresh, theirs, x)
    assert ours.optimizer.iterations == 2
    _one_more_epoch_agrees(ours, theirs, x, y)


def test_keras2_functional_configs_read_as_keras_reads_them(K, tmp_path):
    theirs = _functional(K)
    theirs.save(tmp_path / "legacy.h5")
    with h5py.File(tmp_path / "legacy.h5", "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        config["config"]["layers"] = [l for l in config["config"]["layers"]
                                      if l["module" if "module" in l else "class_name"] != "keras.src.ops.numpy"
                                      and l["class_name"] not in ("NotEqual", "Any")]
        for layer in config["config"]["layers"]:
            for node in layer["inbound_nodes"]:
                node["kwargs"].pop("mask", None)  # Keras 2 files carry no mask tensors: masks propagate
        handle.attrs["model_config"] = json.dumps(_keras2_nodes(config))
    x, _ = _functional_data()
    reference = K.models.load_model(tmp_path / "legacy.h5", compile=False)
    _same_predictions(reference, theirs, x)
    _same_predictions(rk.models.load_model(tmp_path / "legacy.h5", compile=False), theirs, x)


def test_foreign_hdf5_files_are_named(tmp_path):
    with h5py.File(tmp_path / "data.h5", "w") as handle:
        handle["x"] = np.zeros(3)
    model = _sequential(rk)
    with pytest.raises(ValueError, match="is an HDF5 file but not a Keras one"):
        rk.models.load_model(tmp_path / "data.h5")
    with pytest.raises(ValueError, match="is an HDF5 file but not a Keras one"):
        model.load_weights(tmp_path / "data.h5")
    with h5py.File(tmp_path / "weights_only.h5", "w") as handle:
        handle.attrs["layer_names"] = ["dense"]
        handle.create_group("dense").attrs["weight_names"] = []
    with pytest.raises(ValueError, match="holds no model_config"):
        rk.models.load_model(tmp_path / "weights_only.h5")
    with pytest.raises(ValueError, match="weights for 0 layers"):
        model.load_weights(tmp_path / "weights_only.h5")
