"""Training inputs as Keras takes them: label shapes, dicts, generators, PyDataset, weights, validation forms;
and keras.utils' dataset helpers. Parity against Keras 3 (torch backend) with copied weights."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rnnkit import keras as rk
from helpers import to_numpy as _np


def _binary_models(K, steps=5, features=3):
    K.utils.set_random_seed(1)
    theirs = K.Sequential([K.Input((steps, features)), K.layers.GRU(4), K.layers.Dense(1, activation="sigmoid")])
    ours = rk.Sequential([rk.Input((steps, features)), rk.layers.GRU(4), rk.layers.Dense(1, activation="sigmoid")])
    ours.set_weights([_np(w) for w in theirs.get_weights()])
    for model, lib in ((ours, rk), (theirs, K)):
        model.compile(optimizer=lib.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    return ours, theirs


def _assert_same(ours, theirs, mine=None, ref=None, keys=None):
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _np(b), rtol=1e-4, atol=1e-6)
    for key in keys or []:
        np.testing.assert_allclose(mine.history[key], ref.history[key], rtol=1e-5, atol=1e-6)


def _binary_data(n=24, steps=5, features=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, steps, features)).astype(np.float32), rng.integers(0, 2, n)


def test_rank_one_labels_against_one_unit_sigmoid_train_as_keras(K):
    """(N,) labels with Dense(1, sigmoid) and binary_crossentropy: Keras expands them; one epoch is equal."""
    x, y = _binary_data()
    ours, theirs = _binary_models(K)
    mine = ours.fit(x, y, batch_size=8, shuffle=False, verbose=0, validation_split=0.25)
    ref = theirs.fit(x, y, batch_size=8, shuffle=False, verbose=0, validation_split=0.25)
    _assert_same(ours, theirs, mine, ref, ["loss", "accuracy", "val_loss", "val_accuracy"])
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-5)


@pytest.mark.parametrize("loss", ["mse", "mae", "huber", "binary_crossentropy"])
def test_losses_squeeze_or_expand_as_keras(K, loss):
    """Keras's loss wrappers accept targets one rank off a trailing 1-axis, both ways."""
    rng = np.random.default_rng(0)
    y_pred = rng.uniform(0.1, 0.9, size=(6, 1)).astype(np.float32)
    from keras.src.losses.losses import LossFunctionWrapper
    for y_true in (rng.integers(0, 2, 6).astype(np.float32), rng.integers(0, 2, (6, 1)).astype(np.float32)):
        mine = rk.losses.get(loss)
        ref = K.losses.get(loss)
        mine = mine if isinstance(mine, rk.losses.Loss) else rk.losses.LossFunctionWrapper(mine)
        ref = ref if isinstance(ref, K.losses.Loss) else LossFunctionWrapper(ref)
        np.testing.assert_allclose(float(mine(y_true, y_pred).numpy()), float(_np(ref(y_true, y_pred))), rtol=1e-6)


class _Counting:
    """A PyDataset body shared by the rnnkit and the Keras subclass: batches of (x, y[, w]), epochs counted."""

    def setup(self, x, y, w=None, batch=8):
        self.x, self.y, self.w, self.batch, self.ends = x, y, w, batch, 0

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch))

    def __getitem__(self, i):
        part = slice(i * self.batch, (i + 1) * self.batch)
        return (self.x[part], self.y[part]) + (() if self.w is None else (self.w[part],))

    def on_epoch_end(self):
        self.ends += 1


def _dataset(base, *args):
    cls = type("Data", (_Counting, base), {})
    data = cls()
    base.__init__(data)
    data.setup(*args)
    return data


def test_pydataset_with_sample_weights_and_dataset_validation_match_keras(K):
    x, y = _binary_data(32)
    w = np.linspace(0.5, 2.0, 32).astype(np.float32)
    ours, theirs = _binary_models(K)
    train_ours, train_theirs = _dataset(rk.utils.PyDataset, x, y, w), _dataset(K.utils.PyDataset, x, y, w)
    val_ours, val_theirs = _dataset(rk.utils.PyDataset, x[:16], y[:16]), _dataset(K.utils.PyDataset, x[:16], y[:16])
    mine = ours.fit(train_ours, epochs=2, verbose=0, validation_data=val_ours, shuffle=False)
    ref = theirs.fit(train_theirs, epochs=2, verbose=0, validation_data=val_theirs, shuffle=False)
    _assert_same(ours, theirs, mine, ref, ["loss", "accuracy", "val_loss", "val_accuracy"])
    assert train_ours.ends == 2  # once per epoch (Keras adds a call when fit starts)
    np.testing.assert_allclose(ours.predict(val_ours, verbose=0), _np(theirs.predict(val_theirs, verbose=0)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.evaluate(val_ours, verbose=0), theirs.evaluate(val_theirs, verbose=0), rtol=1e-5)


def test_generator_with_steps_per_epoch_and_tuple_validation_match_keras(K):
    x, y = _binary_data(32)

    def batches():
        while True:  # endless, as Keras's generator examples: steps_per_epoch ends the epochs
            for i in range(0, 32, 8):
                yield x[i: i + 8], y[i: i + 8]

    ours, theirs = _binary_models(K)
    kwargs = dict(epochs=2, steps_per_epoch=3, verbose=0, validation_data=(x[:8], y[:8]))
    mine = ours.fit(batches(), **kwargs)
    ref = theirs.fit(batches(), **kwargs)
    _assert_same(ours, theirs, mine, ref, ["loss", "accuracy", "val_loss"])
    for model in (ours, theirs):  # class weights come from arrays or a PyDataset, not a generator
        with pytest.raises(ValueError, match="class_weight"):
            model.fit(batches(), steps_per_epoch=1, class_weight={0: 1.0, 1: 2.0}, verbose=0)
    shuffled = _dataset(rk.utils.PyDataset, x, y)
    ours.fit(shuffled, epochs=1, verbose=0, class_weight={0: 1.0, 1: 2.0})  # batches in a random order
    assert shuffled.ends == 1


def test_one_shot_generator_runs_out_with_a_warning():
    x, y = _binary_data(16)
    model = rk.Sequential([rk.Input((5, 3)), rk.layers.SimpleRNN(2), rk.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy")
    gen = ((x[i: i + 8], y[i: i + 8]) for i in range(0, 16, 8))
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(gen, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1
    with pytest.raises(ValueError, match="y and sample_weight must not be given"):
        model.fit(iter([(x, y)]), y, verbose=0)
    with pytest.raises(ValueError, match="validation_split is only supported"):
        model.fit(iter([(x, y)]), validation_split=0.5, verbose=0)
    with pytest.raises(ValueError, match="has no targets"):
        model.fit(iter([x]), verbose=0)
    with pytest.raises(TypeError, match="PyDataset"):
        model.fit(object(), verbose=0)


def test_dict_inputs_and_outputs_by_name_match_keras(K):
    rng = np.random.default_rng(2)
    data = {"seq": rng.normal(size=(16, 4, 2)).astype(np.float32), "aux": rng.normal(size=(16, 3)).astype(np.float32)}
    target = {"score": rng.normal(size=(16, 1)).astype(np.float32)}

    def build(lib):
        seq, aux = lib.Input((4, 2), name="seq"), lib.Input((3,), name="aux")
        out = lib.layers.Dense(1, name="score")(lib.layers.LSTM(3)(seq))
        return lib.Model([seq, aux], [out, lib.layers.Dense(1, name="side")(aux)])

    K.utils.set_random_seed(3)
    theirs = build(K)
    ours = build(rk)
    ours.set_weights([_np(w) for w in theirs.get_weights()])
    target["side"] = rng.normal(size=(16, 1)).astype(np.float32)
    for model, lib in ((ours, rk), (theirs, K)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss={"score": "mse", "side": "mae"})
    for a, b in zip(ours.predict(data, verbose=0), theirs.predict(data, verbose=0)):
        np.testing.assert_allclose(a, _np(b), rtol=1e-5, atol=1e-6)
    mine = ours.fit(data, target, batch_size=8, shuffle=False, verbose=0)
    ref = theirs.fit(data, target, batch_size=8, shuffle=False, verbose=0)
    _assert_same(ours, theirs, mine, ref, ["loss"])


def test_timeseries_dataset_windows_targets_and_options():
    data, targets = np.arange(100).reshape(50, 2), np.arange(50) * 10
    ds = rk.utils.timeseries_dataset_from_array(data, targets, sequence_length=4, sequence_stride=3, sampling_rate=2,
                                                batch_size=5, start_index=2, end_index=40)
    windows = np.concatenate([x for x, _ in ds])
    labels = np.concatenate([y for _, y in ds])
    starts = list(range(0, 40 - 2 - 3 * 2, 3))
    assert len(windows) == len(starts) and len(ds) == -(-len(starts) // 5)
    for w, t, p in zip(windows, labels, starts):
        np.testing.assert_array_equal(w, data[2 + p: 2 + p + 8: 2])
        assert t == targets[2 + p]
    shuffled = rk.utils.timeseries_dataset_from_array(data, None, 4, batch_size=None, shuffle=True, seed=7)
    order = np.arange(47)
    np.random.RandomState(7).shuffle(order)
    np.testing.assert_array_equal(np.stack(list(shuffled))[:, 0], data[order])
    assert len(ds.take(2)) == 2 and len(ds.skip(1)) == len(ds) - 1 and len(ds.unbatch()) == len(starts)
    with pytest.raises(ValueError, match="sampling_rate"):
        rk.utils.timeseries_dataset_from_array(data, None, 3, sampling_rate=50)
    with pytest.raises(ValueError, match="start_index"):
        rk.utils.timeseries_dataset_from_array(data, None, 3, start_index=60)


def test_split_dataset_sizes_and_batches():
    x, y = np.arange(10), np.arange(10) * 2
    left, right = rk.utils.split_dataset((x, y), left_size=0.75)
    assert len(left) == round(0.75 * 10) and len(right) == 10 - round(0.75 * 10)
    lx, ly = next(iter(left.batch(4)))
    np.testing.assert_array_equal(ly, lx * 2)
    left, right = rk.utils.split_dataset(x, right_size=3, shuffle=True, seed=1)
    assert sorted(np.concatenate([list(left.as_numpy_iterator()), list(right.as_numpy_iterator())]).tolist()) == list(range(10))
    assert left[0].numpy().shape == ()  # elements are Tensors (tf tensors offer .numpy() too)
    with pytest.raises(ValueError, match="left_size"):
        rk.utils.split_dataset(x, left_size=1.5)


def test_timeseries_forecaster_fed_by_dataset_trains_as_keras_on_the_same_batches(K):
    """The weather tutorial's shape: windows from timeseries_dataset_from_array into an LSTM regressor."""
    series = np.sin(np.arange(120) / 5.0)[:, None].astype(np.float32)
    ds = rk.utils.timeseries_dataset_from_array(series[:-6], series[6:, 0], sequence_length=6, batch_size=16)
    K.utils.set_random_seed(4)
    theirs = K.Sequential([K.Input((6, 1)), K.layers.LSTM(8), K.layers.Dense(1)])
    ours = rk.Sequential([rk.Input((6, 1)), rk.layers.LSTM(8), rk.layers.Dense(1)])
    ours.set_weights([_np(w) for w in theirs.get_weights()])
    ours.compile(optimizer=rk.optimizers.Adam(0.01), loss="mse")
    theirs.compile(optimizer=K.optimizers.Adam(0.01), loss="mse")
    mine = ours.fit(ds, epochs=1, verbose=0)
    ref = theirs.fit((batch for batch in ds), epochs=1, verbose=0)  # the same batches, in order
    _assert_same(ours, theirs, mine, ref, ["loss"])


def test_pad_sequences_matches_keras(K):
    seqs = [[1, 2, 3, 4], [5], [], [6, 7]]
    for kwargs in ({}, {"maxlen": 3, "padding": "post"}, {"maxlen": 2, "truncating": "post", "value": -1}):
        np.testing.assert_array_equal(rk.preprocessing.sequence.pad_sequences(seqs, **kwargs),
                                      K.preprocessing.sequence.pad_sequences(seqs, **kwargs))


def test_progbar_means_match_keras(K, capsys):
    ours, theirs = rk.utils.Progbar(4, verbose=0, stateful_metrics=["lr"]), K.utils.Progbar(4, verbose=0,
                                                                                               stateful_metrics=["lr"])
    for bar in (ours, theirs):
        bar.update(1, [("loss", 2.0), ("lr", 0.1)])
        bar.update(3, [("loss", 5.0), ("lr", 0.2)])
        bar.add(1, [("loss", 1.0)])
    assert ours.mean("loss") == pytest.approx(theirs._values["loss"][0] / theirs._values["loss"][1])
    middle, reference = rk.utils.Progbar(None, verbose=0), K.utils.Progbar(None, verbose=0)
    for bar in (middle, reference):
        bar.update(1, [("loss", 2.0)])
        bar.update(3, [("loss", 5.0)])
    assert middle.mean("loss") == pytest.approx(reference._values["loss"][0] / reference._values["loss"][1])
    assert ours.mean("lr") == pytest.approx(0.2)
    loud = rk.utils.Progbar(2, verbose=1)
    loud.update(2, [("loss", 1.5)])
    assert "2/2" in capsys.readouterr().out


def test_plot_model_writes_dot_and_names_missing_programs(tmp_path, monkeypatch):
    pytest.importorskip("pydot")
    inp = rk.Input((4, 2), name="x")
    model = rk.Model(inp, rk.layers.Dense(1, name="head")(rk.layers.LSTM(3, name="enc")(inp)))
    target = tmp_path / "m.dot"
    rk.utils.plot_model(model, str(target), show_shapes=True)
    text = target.read_text()
    assert "enc (LSTM)" in text and "->" in text and "(?, 4, 2)" in text
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ImportError, match="graphviz"):
        rk.utils.plot_model(model, str(tmp_path / "m.png"))
