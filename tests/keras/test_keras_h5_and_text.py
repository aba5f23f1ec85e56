"""Keras's legacy HDF5 files written by rnnkit and opened by real Keras 3, the ``Wrapper`` base class,
and ``text_dataset_from_directory`` against Keras's own."""

from __future__ import annotations

import json

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
    x = L.Bidirectional(L.LSTM(4, return_sequences=True))(inputs)
    x = L.TimeDistributed(L.Dense(3, activation="tanh"))(x)
    x = L.Bidirectional(L.GRU(2), merge_mode="sum")(x)
    return lib.Model(inputs, L.Dense(1)(x))


def _data(case):
    rng = np.random.default_rng(0)
    if case == "sequential":
        ids = rng.integers(1, 12, size=(8, 7)).astype(np.int32)
        ids[0, 4:] = 0
        ids[3, 2:] = 0
        return ids, rng.integers(0, 2, size=8)
    return rng.normal(size=(8, 6, 3)).astype(np.float32), rng.normal(size=(8, 1)).astype(np.float32)


CASES = {"sequential": (_sequential, "sparse_categorical_crossentropy"), "functional": (_functional, "mean_squared_error")}  # Keras 3.15 cannot reload "mse" from .h5 (its own files too)


@pytest.mark.parametrize("case", sorted(CASES))
def test_rnnkit_h5_opens_in_keras(K, tmp_path, case):
    build, loss = CASES[case]
    ours = build(rk)
    x, y = _data(case)
    ours.compile(optimizer=rk.optimizers.Adam(0.01), loss=loss)
    ours.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    path = tmp_path / "m.h5"
    ours.save(path)
    with h5py.File(path, "r") as f:
        assert {"model_config", "keras_version", "backend", "training_config"} <= set(f.attrs)
        names = [n.decode() if isinstance(n, bytes) else n for n in f["model_weights"].attrs["layer_names"]]
        assert names == [layer.name for layer in ours.layers]
        assert json.loads(f.attrs["training_config"])["optimizer_config"]["class_name"] == "Adam"
    theirs = K.models.load_model(path)
    np.testing.assert_allclose(_np(theirs.predict(x, verbose=0)), _np(ours.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)
    assert int(_np(theirs.optimizer.iterations)) == 2
    assert float(_np(theirs.optimizer.learning_rate)) == pytest.approx(0.01)
    # the optimizer state is in the file, in Keras's order (Keras 3.15 restores only iterations and the
    # learning rate from any .h5 file, its own too: it builds the optimizer on the top-level variables)
    from rnnkit.keras import keras_format
    ours_state = keras_format.optimizer_targets(ours)
    with h5py.File(path, "r") as f:
        group = f["optimizer_weights"]
        stored = [group[n.decode() if isinstance(n, bytes) else n][()] for n in group.attrs["weight_names"]]
    assert len(stored) == len(ours_state)
    for a, b in zip(ours_state, stored):
        np.testing.assert_allclose(np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1),
                                   rtol=1e-6, atol=1e-7)
    again = rk.models.load_model(path)  # and rnnkit reads its own file back
    np.testing.assert_array_equal(_np(again.predict(x, verbose=0)), _np(ours.predict(x, verbose=0)))
    assert again.optimizer.iterations == 2


def test_uncompiled_h5_loads_uncompiled_in_keras(K, tmp_path):
    ours = _functional(rk)
    x, _ = _data("functional")
    path = tmp_path / "m.hdf5"
    ours.save(path)
    with h5py.File(path, "r") as f:
        assert "training_config" not in f.attrs and "optimizer_weights" not in f
    theirs = K.models.load_model(path)
    np.testing.assert_allclose(_np(theirs.predict(x, verbose=0)), _np(ours.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)
    mine = rk.models.load_model(path)
    np.testing.assert_array_equal(_np(mine.predict(x, verbose=0)), _np(ours.predict(x, verbose=0)))


def test_h5_save_of_unbuilt_model_fails_and_writes_nothing(tmp_path):
    model = rk.Sequential([rk.layers.Dense(2)])
    with pytest.raises(ValueError, match="not built"):
        model.save(tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists()


def test_wrapper_is_the_base_of_time_distributed_as_in_keras(K):
    for lib in (rk, K):
        td = lib.layers.TimeDistributed(lib.layers.Dense(2))
        bi = lib.layers.Bidirectional(lib.layers.LSTM(2))
        assert isinstance(td, lib.layers.Wrapper) and td.layer.__class__.__name__ == "Dense"
        assert not isinstance(bi, lib.layers.Wrapper)  # Keras 3.15's Bidirectional is a plain Layer


def test_wrapper_subclass_builds_serializes_and_round_trips():
    class Twice(rk.layers.Wrapper):
        def call(self, inputs):
            return self.layer(inputs) * 2

    twice = Twice(rk.layers.Dense(3, name="inner"), name="twice")
    x = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    y = _np(twice(x))
    np.testing.assert_allclose(y, 2 * _np(twice.layer(x)), rtol=1e-6)
    config = twice.get_config()
    assert config["name"] == "twice" and config["layer"]["config"]["name"] == "inner"
    copy = Twice.from_config(config)
    assert isinstance(copy.layer, rk.layers.Dense) and copy.layer is not twice.layer
    copy(x)
    copy.set_weights(twice.get_weights())
    np.testing.assert_array_equal(_np(copy(x)), y)


def test_wrapper_refuses_what_is_not_a_layer():
    with pytest.raises(TypeError, match="layer: expected a keras layer"):
        rk.layers.Wrapper(np.zeros(3))
    with pytest.raises(TypeError, match="layer: expected a keras layer"):
        rk.layers.TimeDistributed("dense")


def _text_tree(root):
    """Three classes, a nested folder, a non-.txt file, a hidden folder and an upper-case extension."""
    files = {"neg/b.txt": "awful film", "neg/a.txt": "bad", "neg/sub/c.TXT": "dull, très", "pos/z.txt": "great",
             "pos/m.txt": "good fun", "pos/notes.md": "ignored", "mid/x.txt": "fine", "mid/y.txt": "okay-ish",
             ".hidden/h.txt": "hidden"}
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _keras_index(K, root, shuffle, seed, validation_split=None, subset=None, class_names=None):
    from keras.src.utils import dataset_utils

    paths, labels, names = dataset_utils.index_directory(str(root), "inferred", formats=(".txt",),
                                                         class_names=class_names, shuffle=shuffle, seed=seed,
                                                         verbose=False)
    paths, labels = dataset_utils.get_training_or_validation_split(paths, labels, validation_split, subset)
    return list(paths), np.asarray(labels), names


def _all(dataset):
    texts, labels = [], []
    for i in range(len(dataset)):
        t, y = dataset[i]
        texts.extend(t.tolist())
        labels.append(_np(y))
    return texts, np.concatenate(labels)


@pytest.mark.parametrize("shuffle, seed", [(False, None), (True, 7)])
def test_text_dataset_has_keras_files_labels_and_order(K, tmp_path, shuffle, seed):
    root = _text_tree(tmp_path)
    paths, labels, names = _keras_index(K, root, shuffle, seed)
    ds = rk.utils.text_dataset_from_directory(root, batch_size=3, shuffle=shuffle, seed=seed, verbose=False)
    assert ds.class_names == names == ["mid", "neg", "pos"]
    assert ds.file_paths == paths and len(ds) == 3
    texts, got = _all(ds)
    assert texts == [open(p, "rb").read() for p in paths]
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, labels)


def test_text_dataset_label_modes_class_names_max_length_and_subsets(K, tmp_path):
    root = _text_tree(tmp_path)
    paths, labels, _ = _keras_index(K, root, False, None, class_names=["pos", "neg"])
    ds = rk.utils.text_dataset_from_directory(root, class_names=["pos", "neg"], label_mode="binary", batch_size=None,
                                              shuffle=False, max_length=4, format="grain", verbose=False)
    assert ds.file_paths == paths and len(ds) == len(paths)
    texts, y = zip(*(ds[i] for i in range(len(ds))))
    assert list(texts) == [open(p, encoding="utf-8").read()[:4] for p in paths]
    np.testing.assert_array_equal(np.stack([_np(v) for v in y]), labels.astype(np.float32)[:, None])
    one_hot = rk.utils.text_dataset_from_directory(root, label_mode="categorical", shuffle=False, verbose=False)
    _, y = _all(one_hot)
    np.testing.assert_array_equal(y, K.utils.to_categorical(_keras_index(K, root, False, None)[1], 3))
    for subset in ("training", "validation"):
        paths, labels, _ = _keras_index(K, root, True, 3, validation_split=0.3, subset=subset)
        part = rk.utils.text_dataset_from_directory(root, validation_split=0.3, subset=subset, seed=3, verbose=False)
        assert part.file_paths == paths
        np.testing.assert_array_equal(_all(part)[1], labels)
    train, val = rk.utils.text_dataset_from_directory(root, validation_split=0.3, subset="both", seed=3,
                                                      verbose=False)
    assert train.file_paths + val.file_paths == _keras_index(K, root, True, 3)[0]


def test_text_dataset_feeds_fit_through_map(tmp_path):
    root = _text_tree(tmp_path)
    ds = rk.utils.text_dataset_from_directory(root, label_mode="int", batch_size=4, seed=1, verbose=False)

    def vectorize(texts, labels):  # bytes -> padded byte ids, the job TextVectorization does in Keras
        ids = rk.utils.pad_sequences([list(t[:8]) for t in texts], maxlen=8)
        return ids, labels

    model = rk.Sequential([rk.Input((8,), dtype="int32"), rk.layers.Embedding(256, 4, mask_zero=True),
                           rk.layers.LSTM(3), rk.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(ds.map(vectorize), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    x, y = ds.map(vectorize)[0]
    assert x.shape == (4, 8) and _np(y).shape == (4,)


def test_text_dataset_bad_input_names_the_argument(tmp_path):
    root = _text_tree(tmp_path)
    cases = [(dict(directory=tmp_path / "missing"), ValueError, "directory"),
             (dict(label_mode="sparse"), ValueError, "label_mode"),
             (dict(labels="folders"), TypeError, "labels"),
             (dict(labels=[0, 1]), ValueError, "labels"),
             (dict(class_names=["pos", "nope"]), ValueError, "class_names"),
             (dict(label_mode="binary"), ValueError, "label_mode"),
             (dict(validation_split=1.5, subset="training", seed=1), ValueError, "validation_split"),
             (dict(validation_split=0.2), ValueError, "subset"),
             (dict(validation_split=0.2, subset="test", seed=1), ValueError, "subset"),
             (dict(validation_split=0.2, subset="training"), ValueError, "seed"),
             (dict(validation_split=0.01, subset="training", seed=1), ValueError, "validation_split"),
             (dict(batch_size=0), ValueError, "batch_size"),
             (dict(max_length=2.5), TypeError, "max_length"),
             (dict(format="torch"), ValueError, "format")]
    for kwargs, error, name in cases:
        kwargs = {"directory": root, "verbose": False, **kwargs}
        with pytest.raises(error, match=name):
            rk.utils.text_dataset_from_directory(**kwargs)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no text files"):
        rk.utils.text_dataset_from_directory(tmp_path / "empty", labels=None, verbose=False)
