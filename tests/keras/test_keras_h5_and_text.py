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
