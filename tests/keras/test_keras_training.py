"""The Keras dialect's training side: optimizers, losses, metrics, fit/evaluate/predict,
callbacks and saving, checked against Keras 3 (torch backend) where Keras defines the answer."""

from __future__ import annotations

import csv
import os
import pickle
import re

import numpy as np
import pytest

from rnnkit import keras as rk
from helpers import to_numpy as _to_numpy
from rnnkit import manual_seed
from rnnkit._tensor import Tensor


# -- references ------------------------------------------------------------------------------------
def _data(n=32, steps=6, features=3, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, steps, features)).astype(np.float32)
    labels = rng.integers(0, classes, n)
    return x, labels, np.eye(classes, dtype=np.float32)[labels]


def _lstm_models(K, units=5, classes=3, steps=6, features=3, **dense_kwargs):
    """The same LSTM + softmax Dense in Keras and in rnnkit, with Keras's initial weights copied over."""
    K.utils.set_random_seed(0)
    theirs = K.Sequential([K.Input((steps, features)), K.layers.LSTM(units),
                           K.layers.Dense(classes, activation="softmax", **dense_kwargs)])
    ours = rk.Sequential([rk.layers.LSTM(units, input_shape=(steps, features)),
                          rk.layers.Dense(classes, activation="softmax", **dense_kwargs)])
    ours.set_weights([_to_numpy(w) for w in theirs.get_weights()])
    return ours, theirs


def _dense_model(units, activation, features=4, seed=0):
    manual_seed(seed)
    return rk.Sequential([rk.layers.Dense(units, activation=activation, input_shape=(features,))])


# -- optimizers ------------------------------------------------------------------------------------
OPTIMIZER_CASES = [
    ("SGD", {"learning_rate": 0.1}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("RMSprop", {}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"learning_rate": 0.1}),
    ("Adam", {}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    ("AdamW", {"learning_rate": 0.01}),
    ("Adam", {"clipnorm": 1.0}),
    ("RMSprop", {"global_clipnorm": 1.0}),
    ("SGD", {"clipvalue": 0.5, "weight_decay": 0.1}),
    ("Adadelta", {"learning_rate": 1.0}),
    ("Adamax", {}),
    ("Adamax", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("Nadam", {}),
    ("Nadam", {"learning_rate": 0.01, "clipnorm": 1.0}),
    ("Lion", {}),
    ("Ftrl", {"learning_rate": 0.1}),
    ("Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.01, "l2_regularization_strength": 0.1,
              "l2_shrinkage_regularization_strength": 0.05, "beta": 0.2}),
    ("Adafactor", {"learning_rate": 0.1}),
    ("Adafactor", {"learning_rate": 0.5, "beta_2_decay": -0.5, "epsilon_2": 0.01, "clip_threshold": 0.5,
                   "relative_step": False}),
    ("Lamb", {"learning_rate": 0.01}),
    ("Lamb", {"learning_rate": 0.05, "beta_1": 0.8, "weight_decay": 0.1}),
    ("ScheduleFreeAdamW", {}),
    ("ScheduleFreeAdamW", {"learning_rate": 0.05, "warmup_steps": 3, "beta_1": 0.8, "clipnorm": 1.0}),
    ("Muon", {"learning_rate": 0.01}),
    ("Muon", {"learning_rate": 0.05, "nesterov": False, "rms_rate": None, "adam_lr_ratio": 0.5,
              "weight_decay": 0.1, "adam_weight_decay": 0.0, "ns_steps": 3}),
]


@pytest.mark.parametrize("name,kwargs", OPTIMIZER_CASES, ids=[f"{n}-{k}" for n, k in OPTIMIZER_CASES])
def test_optimizer_update_rules_match_keras(K, name, kwargs):
    import torch

    rng = np.random.default_rng(1)
    start = [rng.normal(size=s).astype(np.float32) for s in [(4, 3), (3,), (2, 3, 2)]]
    grads = [[3 * rng.normal(size=w.shape).astype(np.float32) for w in start] for _ in range(5)]
    ours = [Tensor(w.copy()) for w in start]
    theirs = [K.Variable(w.copy()) for w in start]
    opt, ref = getattr(rk.optimizers, name)(**kwargs), getattr(K.optimizers, name)(**kwargs)
    for step in grads:
        opt.apply(step, ours)
        ref.apply([torch.tensor(g) for g in step], theirs)
    assert opt.iterations == 5
    for mine, other, initial in zip(ours, theirs, start):
        np.testing.assert_allclose(mine.data, _to_numpy(other), rtol=1e-5, atol=1e-6)
        assert np.abs(mine.data - initial).max() > 1e-3  # the steps did move the weights


def test_optimizer_defaults_are_keras_defaults(K):
    for name in ("SGD", "RMSprop", "Adagrad", "Adam", "AdamW"):
        ours, theirs = getattr(rk.optimizers, name)().get_config(), getattr(K.optimizers, name)().get_config()
        for key, value in ours.items():
            if key != "name":
                assert theirs[key] == pytest.approx(value), (name, key)


def test_optimizer_arguments(K):
    # Keras 2's name: Keras 3 rejects it; rnnkit reads it with a warning (the seed tutorials use it)
    with pytest.raises(ValueError, match=r"Argument\(s\) not recognized: \{'lr'"):
        K.optimizers.Adam(lr=0.5)
    with pytest.warns(UserWarning, match="`lr` is Keras 2's name, which Keras 3 rejects"):
        assert rk.optimizers.Adam(lr=0.5).learning_rate == 0.5
    with pytest.raises(ValueError, match="learning_rate or its legacy alias lr"), pytest.warns(UserWarning):
        rk.optimizers.Adam(learning_rate=0.1, lr=0.2)
    assert isinstance(rk.optimizers.get("RMSprop"), rk.optimizers.RMSprop)
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        rk.optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="not recognized.*betta"):
        rk.optimizers.Adam(betta=0.3)
    with pytest.raises(ValueError, match="not supported by rnnkit.*use_ema"):
        rk.optimizers.Adam(use_ema=True)
    with pytest.raises(ValueError, match="unknown optimizer 'adamax2'"):
        rk.optimizers.get("adamax2")
    with pytest.raises(ValueError, match="momentum"):
        rk.optimizers.SGD(momentum=1.5)


# -- losses and metrics ------------------------------------------------------------------------------
def _loss_cases():
    rng = np.random.default_rng(2)
    probs = rng.random((6, 5)).astype(np.float32)
    probs[0, 1], probs[2] = 0.0, [1e-9, 1, 1e-9, 1e-9, 1e-9]  # entries the epsilon clip acts on
    logits = 4 * rng.normal(size=(6, 5)).astype(np.float32)
    labels = rng.integers(0, 5, 6)
    one_hot = np.eye(5, dtype=np.float32)[labels]
    bits = (rng.random((6, 3)) > 0.5).astype(np.float32)
    p_bits = rng.random((6, 3)).astype(np.float32)
    p_bits[0, 0], p_bits[1, 1] = 0.0, 1.0
    y, y_hat = rng.normal(size=(6, 3)).astype(np.float32), 2 * rng.normal(size=(6, 3)).astype(np.float32)
    return [
        ("CategoricalCrossentropy", {}, one_hot, probs),
        ("CategoricalCrossentropy", {"from_logits": True}, one_hot, logits),
        ("CategoricalCrossentropy", {"label_smoothing": 0.1}, one_hot, probs),
        ("SparseCategoricalCrossentropy", {}, labels, probs),
        ("SparseCategoricalCrossentropy", {"from_logits": True}, labels, logits),
        ("BinaryCrossentropy", {}, bits, p_bits),
        ("BinaryCrossentropy", {"from_logits": True}, bits, logits[:, :3]),
        ("MeanSquaredError", {}, y, y_hat),
        ("MeanSquaredError", {}, y[:, 0], y_hat[:, :1]),  # (B,) targets against (B, 1) outputs
        ("MeanAbsoluteError", {}, y, y_hat),
        ("Huber", {}, y, y_hat),
        ("Huber", {"delta": 0.5, "reduction": "sum"}, y, y_hat),
    ]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name,kwargs,y_true,y_pred", _loss_cases(),
                         ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(_loss_cases())])
def test_loss_value_and_gradient_match_keras(K, name, kwargs, y_true, y_pred, weighted):
    import torch

    weights = np.linspace(0.2, 1.5, len(y_pred)).astype(np.float32) if weighted else None
    mine = Tensor(y_pred.copy(), requires_grad=True)
    value = getattr(rk.losses, name)(**kwargs)(y_true, mine, sample_weight=weights)
    value.backward()
    theirs = torch.tensor(y_pred.copy(), requires_grad=True)
    expected = getattr(K.losses, name)(**kwargs)(y_true, theirs, sample_weight=weights)
    expected.backward()
    assert value.item() == pytest.approx(expected.item(), rel=1e-6, abs=1e-6)
    np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_losses_by_name_and_errors():
    assert rk.losses.get("mse") is rk.losses.mean_squared_error
    assert isinstance(rk.losses.get("CategoricalCrossentropy"), rk.losses.CategoricalCrossentropy)
    with pytest.raises(ValueError, match="unknown loss 'cross_entropi'"):
        rk.losses.get("cross_entropi")
    with pytest.raises(ValueError, match=r"y_true holds class indices in \[0, 7\].*5 classes"):
        rk.losses.sparse_categorical_crossentropy(np.array([0, 7]), np.full((2, 5), 0.2, np.float32))
    with pytest.raises(ValueError, match=r"y_true.shape=\(2, 4\).*y_pred.shape=\(2, 5\)"):
        rk.losses.categorical_crossentropy(np.eye(4)[:2], np.full((2, 5), 0.2, np.float32))


METRIC_CASES = [
    ("BinaryAccuracy", lambda r: ((r.random((8, 1)) > 0.5).astype("float32"), r.random((8, 1)).astype("float32"))),
    ("CategoricalAccuracy",
     lambda r: (np.eye(4, dtype="float32")[r.integers(0, 4, 8)], r.random((8, 4)).astype("float32"))),
    ("SparseCategoricalAccuracy", lambda r: (r.integers(0, 4, (8, 1)), r.random((8, 4)).astype("float32"))),
    ("MeanSquaredError", lambda r: (r.normal(size=(8, 3)).astype("float32"), r.normal(size=(8, 3)).astype("float32"))),
    ("MeanAbsoluteError", lambda r: (r.normal(size=(8, 3)).astype("float32"), r.normal(size=(8, 3)).astype("float32"))),
    ("TopKCategoricalAccuracy",
     lambda r: (np.eye(9, dtype="float32")[r.integers(0, 9, 8)], r.random((8, 9)).astype("float32"))),
    ("SparseTopKCategoricalAccuracy", lambda r: (r.integers(0, 9, 8), r.random((8, 9)).astype("float32"))),
    ("SparseTopKCategoricalAccuracy", lambda r: (r.integers(0, 9, (8, 1)), r.random((8, 9)).astype("float32"))),
]


@pytest.mark.parametrize("name,make", METRIC_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(METRIC_CASES)])
def test_metric_values_match_keras(K, name, make):
    rng = np.random.default_rng(3)
    ours, theirs = getattr(rk.metrics, name)(), getattr(K.metrics, name)()
    for step in range(3):  # running means over several batches, weighted on the last one
        y_true, y_pred = make(rng)
        weights = rng.random(8).astype(np.float32) if step == 2 else None
        ours.update_state(y_true, y_pred, sample_weight=weights)
        theirs.update_state(y_true, y_pred, sample_weight=weights)
    assert ours.result() == pytest.approx(float(_to_numpy(theirs.result())), rel=1e-6)
    ours.reset_state()
    assert ours.result() == 0.0


@pytest.mark.parametrize("case", ["binary", "sparse", "categorical"])
def test_accuracy_variant_and_evaluate_match_keras(K, case):
    """compile(metrics=["accuracy", ...]) picks the accuracy variant Keras picks; evaluate() agrees."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    units, activation, loss = {"binary": (1, "sigmoid", "binary_crossentropy"),
                               "sparse": (3, "softmax", "sparse_categorical_crossentropy"),
                               "categorical": (3, "softmax", "categorical_crossentropy")}[case]
    y = {"binary": (rng.random((40, 1)) > 0.5).astype(np.float32), "sparse": rng.integers(0, 3, 40),
         "categorical": np.eye(3, dtype=np.float32)[rng.integers(0, 3, 40)]}[case]
    K.utils.set_random_seed(0)
    theirs = K.Sequential([K.Input((4,)), K.layers.Dense(units, activation=activation)])
    ours = _dense_model(units, activation)
    ours.set_weights([_to_numpy(w) for w in theirs.get_weights()])
    other = {"binary": "mae", "sparse": "sparse_categorical_crossentropy", "categorical": "mse"}[case]
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss=loss, metrics=["accuracy", other])
    expected = theirs.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    got = ours.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert set(got) == set(expected) == {"loss", "accuracy", other}
    for key in expected:
        assert got[key] == pytest.approx(float(expected[key]), rel=1e-5), key
    assert type(ours.metrics[1]).__name__ == {"binary": "BinaryAccuracy", "sparse": "SparseCategoricalAccuracy",
                                              "categorical": "CategoricalAccuracy"}[case]


# -- training parity with Keras --------------------------------------------------------------------
PARITY_OPTIMIZERS = [
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("RMSprop", {"learning_rate": 0.01}),
    ("Adagrad", {"learning_rate": 0.1}),
    ("Adam", {"learning_rate": 0.01}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.05}),
]


@pytest.mark.parametrize("name,kwargs", PARITY_OPTIMIZERS, ids=[c[0] for c in PARITY_OPTIMIZERS])
def test_lstm_training_matches_keras(K, name, kwargs):
    """LSTM + Dense, same initial weights and batches: 4 steps of fit() give Keras's weights and logs."""
    x, _, y = _data()
    ours, theirs = _lstm_models(K)
    start = ours.get_weights()
    ours.compile(optimizer=getattr(rk.optimizers, name)(**kwargs), loss="categorical_crossentropy",
                 metrics=["accuracy"])
    theirs.compile(optimizer=getattr(K.optimizers, name)(**kwargs), loss="categorical_crossentropy",
                   metrics=["accuracy"])
    mine = ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ref = theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b, a0 in zip(ours.get_weights(), theirs.get_weights(), start):
        np.testing.assert_allclose(a, _to_numpy(b), rtol=1e-4, atol=1e-5)
        assert np.abs(a - a0).max() > 1e-3
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(mine.history[key], ref.history[key], rtol=1e-5, atol=1e-6)


def test_regularizer_constraint_class_weight_and_validation_match_keras(K):
    """The step adds model.losses, applies constraints after the update; class_weight and val_* as Keras."""
    x, labels, y = _data(n=40)
    extra = {"kernel_regularizer": "l2", "kernel_constraint": "max_norm"}
    ours, theirs = _lstm_models(K, **extra)
    class_weight = {0: 1.0, 1: 3.0, 2: 0.5}
    for model, lib in ((ours, rk), (theirs, K)):
        model.compile(optimizer=lib.optimizers.Adam(learning_rate=0.05), loss="categorical_crossentropy",
                      metrics=["accuracy"])
    mine = ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, class_weight=class_weight,
                    validation_split=0.25)
    ref = theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, class_weight=class_weight,
                     validation_split=0.25)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _to_numpy(b), rtol=1e-4, atol=1e-5)
    assert sorted(mine.history) == sorted(ref.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in ref.history:
        np.testing.assert_allclose(mine.history[key], ref.history[key], rtol=1e-5, atol=1e-6)
    kernel = ours.layers[-1].get_weights()[0]
    assert np.sqrt((kernel**2).sum(axis=0)).max() <= 2.0 + 1e-5  # max_norm(2) held after every step


def test_masked_sequence_loss_matches_keras(K):
    """Masking + LSTM(return_sequences) + Dense: the loss averages over the unmasked steps only, as Keras."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(12, 7, 3)).astype(np.float32)
    x[:4, 5:], x[4:8, 3:] = 0, 0  # padded tails
    y = rng.integers(0, 4, (12, 7))
    K.utils.set_random_seed(0)
    theirs = K.Sequential([K.Input((7, 3)), K.layers.Masking(), K.layers.LSTM(5, return_sequences=True),
                           K.layers.Dense(4, activation="softmax")])
    ours = rk.Sequential([rk.layers.Masking(input_shape=(7, 3)), rk.layers.LSTM(5, return_sequences=True),
                          rk.layers.Dense(4, activation="softmax")])
    ours.set_weights([_to_numpy(w) for w in theirs.get_weights()])
    for model, lib in ((ours, rk), (theirs, K)):
        model.compile(optimizer=lib.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    mine = ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    ref = theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(mine.history[key], ref.history[key], rtol=1e-5, atol=1e-6)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _to_numpy(b), rtol=1e-4, atol=1e-5)


def test_multi_output_training_matches_keras(K):
    """Two heads with a loss each, loss_weights and per-output metrics: values and log names as Keras."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    y_class, y_value = rng.integers(0, 3, 16), rng.normal(size=(16, 1)).astype(np.float32)

    def build(lib):
        inputs = lib.Input((4,))
        hidden = lib.layers.Dense(6, activation="tanh", name="hidden")(inputs)
        return lib.Model(inputs, [lib.layers.Dense(3, activation="softmax", name="cls")(hidden),
                                  lib.layers.Dense(1, name="reg")(hidden)])

    K.utils.set_random_seed(0)
    theirs, ours = build(K), build(rk)
    ours.set_weights([_to_numpy(w) for w in theirs.get_weights()])
    for model, lib in ((ours, rk), (theirs, K)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss=["sparse_categorical_crossentropy", "mse"],
                      loss_weights=[1.0, 0.5], metrics=[["accuracy"], ["mae"]])
    mine = ours.fit(x, [y_class, y_value], batch_size=8, epochs=2, shuffle=False, verbose=0)
    ref = theirs.fit(x, [y_class, y_value], batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert sorted(mine.history) == sorted(ref.history) == ["cls_accuracy", "cls_loss", "loss", "reg_loss", "reg_mae"]
    for key in ref.history:
        np.testing.assert_allclose(mine.history[key], ref.history[key], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.evaluate(x, [y_class, y_value], verbose=0),
                               theirs.evaluate(x, [y_class, y_value], verbose=0), rtol=1e-5)
    by_name = ours.evaluate(x, {"reg": y_value, "cls": y_class}, verbose=0)  # targets by output name
    np.testing.assert_allclose(by_name, ours.evaluate(x, [y_class, y_value], verbose=0))
    with pytest.raises(ValueError, match=r"no targets for output\(s\) \['reg'\]"):
        ours.fit(x, {"cls": y_class}, verbose=0)


def test_train_test_predict_on_batch_match_keras(K):
    x, labels, _ = _data(n=16)
    ours, theirs = _lstm_models(K)
    for model, lib in ((ours, rk), (theirs, K)):
        model.compile(optimizer=lib.optimizers.RMSprop(), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    for _ in range(3):
        got, expected = ours.train_on_batch(x, labels), theirs.train_on_batch(x, labels)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.test_on_batch(x, labels), theirs.test_on_batch(x, labels), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.predict_on_batch(x), _to_numpy(theirs.predict_on_batch(x)), rtol=1e-5, atol=1e-6)
    out = ours.predict(x, batch_size=5, verbose=0)
    assert isinstance(out, np.ndarray) and out.shape == (16, 3)
    np.testing.assert_allclose(out, ours.predict_on_batch(x), rtol=1e-6, atol=1e-7)


# -- fit behaviour, progress bar, bad input ----------------------------------------------------------
def _toy_problem(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def _compiled(optimizer="adam", **kwargs):
    model = _dense_model(2, "softmax")
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"], **kwargs)
    return model


def test_fit_learns_and_history(capsys):
    x, y = _toy_problem()
    model = _compiled(rk.optimizers.Adam(0.05))
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0, validation_data=(x[:16], y[:16]))
    assert history is model.history and history.epoch == list(range(6))
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.8
    assert capsys.readouterr().out == ""


def test_progress_bar_looks_like_keras(capsys):
    x, y = _toy_problem()
    model = _compiled()
    model.fit(x, y, epochs=2, batch_size=16, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    line = r"4/4 ━{20} \d+s \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}"
    assert len(re.findall(line, out)) == 2, out
    model.fit(x, y, epochs=2, batch_size=16, verbose=2)
    out = capsys.readouterr().out
    assert len(re.findall(r"^4/4 - \d+s - \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}$", out,
                          re.MULTILINE)) == 2, out
    model.evaluate(x, y, verbose=1)
    assert re.search(r"2/2 ━{20} \d+s \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}",
                     capsys.readouterr().out)


def test_shuffle_follows_manual_seed():
    x, y = _toy_problem()
    results = []
    for _ in range(2):
        model = _compiled()
        manual_seed(5)
        model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=True)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_sample_weight_zero_ignores_samples():
    """Samples with weight 0 do not move the weights: training on them alone changes nothing."""
    x, y = _toy_problem(n=16)
    model = _compiled(rk.optimizers.SGD(0.5))
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, sample_weight=np.zeros(16))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_input_is_rejected_with_clear_errors():
    x, y = _toy_problem(n=20)
    model = _dense_model(2, "softmax")
    with pytest.raises(ValueError, match=r"compile\(\) before fit"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="unknown loss 'categorical_crossentropi'"):
        model.compile(optimizer="adam", loss="categorical_crossentropi")
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'"):
        model.compile(optimizer="adamm", loss="mse")
    with pytest.raises(ValueError, match="unknown metric 'acuracy'"):
        model.compile(optimizer="adam", loss="mse", metrics=["acuracy"])
    with pytest.raises(TypeError, match="optimizer"):
        model.compile(optimizer=42, loss="mse")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    with pytest.raises(ValueError, match="x and y must have the same number of samples, got x with 20 and y with 19"):
        model.fit(x, y[:19], verbose=0)
    with pytest.raises(ValueError, match=r"y does not match.*class indices in \[0, 4\].*2 classes"):
        model.fit(x, y * 4, verbose=0)
    with pytest.raises(ValueError, match=r"y does not match.*y_true.shape=\(20, 3\)"):
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        model.fit(x, np.eye(3, dtype=np.float32)[y], verbose=0)
    with pytest.raises(ValueError, match="class_weight and sample_weight"):
        model.fit(x, y, class_weight={0: 1.0}, sample_weight=np.ones(20), verbose=0)
    with pytest.raises(ValueError, match="validation_split must be in"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match="verbose must be"):
        model.fit(x, y, verbose=3)
    with pytest.raises(ValueError, match="batch_size: expected an int >= 1, got 0"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="sample_weight must have one weight per sample"):
        model.fit(x, y, sample_weight=np.ones(3), verbose=0)


def test_non_finite_loss_stops_training_naming_epoch_and_batch():
    x, y = _toy_problem(n=64)
    model = _dense_model(1, None)
    model.compile(optimizer="sgd", loss="mse")
    target = y.astype(np.float32)
    target[40] = np.nan  # batch 3 of 4 (batch_size 16, no shuffling)
    with pytest.warns(RuntimeWarning, match=r"Epoch 2/5, batch 3/4: the loss is nan"):
        model.fit(x[:32], target[:32], epochs=1, batch_size=16, verbose=0, shuffle=False)  # all finite
        history = model.fit(x, target, epochs=5, initial_epoch=1, batch_size=16, verbose=0, shuffle=False)
    assert history.epoch == [1]  # stopped during the first epoch of this fit
    assert all(np.isfinite(w).all() for w in model.get_weights())  # the NaN step was not applied
    assert np.isnan(history.history["loss"][0])


# -- callbacks -------------------------------------------------------------------------------------
def _forced(key, values):
    """A callback that overwrites logs[key] with values[epoch] (placed before the callback under test)."""
    return rk.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update({key: values[epoch]}))


def test_early_stopping_stops_at_the_right_epoch_and_restores_best_weights():
    x, y = _toy_problem()
    model = _compiled()
    snapshots = []
    record = rk.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    losses = [1.0, 0.5, 0.6, 0.55, 0.7, 0.1, 0.1]  # best at epoch 1, then 3 epochs without improvement
    stop = rk.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    history = model.fit(x, y, epochs=7, batch_size=32, verbose=0, validation_data=(x, y),
                        callbacks=[_forced("val_loss", losses), record, stop])
    assert history.epoch == [0, 1, 2, 3, 4] and stop.stopped_epoch == 4 and stop.best_epoch == 1
    assert model.stop_training
    for restored, best in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(restored, best)
    assert not np.array_equal(snapshots[1][0], snapshots[4][0])


def test_early_stopping_min_delta_baseline_and_start_epoch():
    x, y = _toy_problem()
    accuracy = [0.5, 0.6, 0.605, 0.607, 0.9]
    stop = rk.callbacks.EarlyStopping(monitor="accuracy", min_delta=0.01, patience=2)  # "auto" -> max
    history = _compiled().fit(x, y, epochs=5, verbose=0, callbacks=[_forced("accuracy", accuracy), stop])
    assert history.epoch == [0, 1, 2, 3]  # 0.605 and 0.607 do not beat 0.6 by 0.01
    losses = [0.9, 0.8, 0.85, 0.95, 0.5]
    stop = rk.callbacks.EarlyStopping(monitor="loss", patience=2)
    history = _compiled().fit(x, y, epochs=5, verbose=0, callbacks=[_forced("loss", losses), stop])
    assert history.epoch == [0, 1, 2, 3]
    stop = rk.callbacks.EarlyStopping(monitor="loss", patience=2, baseline=0.1)
    history = _compiled().fit(x, y, epochs=5, verbose=0, callbacks=[_forced("loss", losses), stop])
    assert history.epoch == [0, 1, 2]  # improvements that miss the baseline do not reset the wait
    stop = rk.callbacks.EarlyStopping(monitor="loss", patience=0, start_from_epoch=3)
    history = _compiled().fit(x, y, epochs=6, verbose=0, callbacks=[_forced("loss", [5, 6, 7, 1, 2, 0]), stop])
    assert history.epoch == [0, 1, 2, 3, 4]


def test_model_checkpoint_writes_files(tmp_path):
    x, y = _toy_problem()
    model = _compiled()
    losses = [1.0, 2.0, 0.5]
    every = rk.callbacks.ModelCheckpoint(str(tmp_path / "all" / "m-{epoch:02d}-{val_loss:.2f}.keras"),
                                         monitor="val_loss")
    best = rk.callbacks.ModelCheckpoint(str(tmp_path / "best-{epoch}.keras"), monitor="val_loss",
                                        save_best_only=True)
    weights = rk.callbacks.ModelCheckpoint(str(tmp_path / "w.weights.h5"), save_weights_only=True)
    model.fit(x, y, epochs=3, verbose=0, validation_data=(x, y),
              callbacks=[_forced("val_loss", losses), every, best, weights])
    assert sorted(os.listdir(tmp_path / "all")) == ["m-01-1.00.keras", "m-02-2.00.keras", "m-03-0.50.keras"]
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith("best")) == ["best-1.keras", "best-3.keras"]
    restored = rk.models.load_model(str(tmp_path / "best-3.keras"))
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    fresh = _dense_model(2, "softmax", seed=9)
    fresh.load_weights(str(tmp_path / "w.weights.h5"))
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_csv_logger_rows(tmp_path):
    x, y = _toy_problem()
    path = tmp_path / "log.csv"
    history = _compiled().fit(x, y, epochs=3, verbose=0, validation_split=0.25,
                              callbacks=[rk.callbacks.CSVLogger(str(path))])
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    np.testing.assert_allclose([float(r["loss"]) for r in rows], history.history["loss"])
    _compiled().fit(x, y, epochs=2, verbose=0, callbacks=[rk.callbacks.CSVLogger(str(path), append=True)])
    with open(path, newline="") as file:
        lines = file.read().splitlines()
    assert len(lines) == 1 + 3 + 2 and lines[0].startswith("epoch,")


def test_reduce_lr_on_plateau_and_scheduler():
    x, y = _toy_problem()
    model = _compiled(rk.optimizers.Adam(0.01))
    plateau = rk.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_lr=0.002)
    history = model.fit(x, y, epochs=7, verbose=0, callbacks=[_forced("loss", [1, 1, 1, 1, 1, 1, 1]), plateau])
    # no improvement after epoch 0: halved after epochs 2 and 4 (patience 2), clipped to min_lr after 6
    np.testing.assert_allclose(history.history["learning_rate"], [0.01, 0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025])
    assert model.optimizer.learning_rate == pytest.approx(0.002)
    scheduler = rk.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[scheduler])
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.05, 0.1 / 3])


def test_terminate_on_nan_and_lambda_callback(capsys):
    x, y = _toy_problem(n=48)
    model = _dense_model(1, None)
    model.compile(optimizer="sgd", loss="mse")
    target = y.astype(np.float32)
    target[20] = np.inf
    seen = []
    hooks = rk.callbacks.LambdaCallback(on_train_begin=lambda logs: seen.append("begin"),
                                        on_batch_end=lambda batch, logs: seen.append(batch),
                                        on_train_end=lambda logs: seen.append("end"))
    with pytest.warns(RuntimeWarning, match="batch 2/3"):
        model.fit(x, target, epochs=3, batch_size=16, shuffle=False, verbose=0,
                  callbacks=[hooks, rk.callbacks.TerminateOnNaN()])
    assert "Batch 1: Invalid loss, terminating training" in capsys.readouterr().out
    assert seen == ["begin", 0, 1, "end"]
    with pytest.raises(TypeError, match="unknown hook 'on_epoch_ends'"):
        rk.callbacks.LambdaCallback(on_epoch_ends=print)


# -- saving ------------------------------------------------------------------------------------------
def _trained_lstm(seed=0):
    manual_seed(seed)
    x, labels, _ = _data(n=24)
    model = rk.Sequential([rk.layers.LSTM(4, input_shape=(6, 3)), rk.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=rk.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, labels, epochs=1, batch_size=8, verbose=0, shuffle=False)
    return model, x, labels


def test_save_and_load_model_round_trip_without_pickle(tmp_path, monkeypatch):
    model, x, labels = _trained_lstm()
    path = str(tmp_path / "model.keras")
    model.save(path)

    def no_pickle(*args, **kwargs):
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(pickle, "Unpickler", no_pickle)
    restored = rk.models.load_model(path)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert type(restored.optimizer) is rk.optimizers.Adam and restored.optimizer.learning_rate == 0.01
    assert restored.optimizer.iterations == model.optimizer.iterations == 3
    # the optimizer state came along: one more epoch gives the same weights in both
    model.fit(x, labels, epochs=1, batch_size=8, verbose=0, shuffle=False)
    restored.fit(x, labels, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert restored.evaluate(x, labels, verbose=0) == pytest.approx(model.evaluate(x, labels, verbose=0))


def test_saved_file_is_one_safetensors_file(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    import json

    from safetensors import safe_open

    model, _, _ = _trained_lstm()
    path = str(tmp_path / "model.safetensors")
    model.save(path)
    assert os.listdir(tmp_path) == ["model.safetensors"]
    tensors = safetensors_numpy.load_file(path)
    assert [k for k in sorted(tensors) if k.startswith("weights/")] == [f"weights/{i}" for i in range(5)]
    with safe_open(path, "np") as file:
        metadata = file.metadata()
    config = json.loads(metadata["model_config"])
    assert config["class_name"] == "Sequential" and config["config"] == json.loads(json.dumps(model.get_config()))
    assert json.loads(metadata["compile_config"])["optimizer"]["class_name"] == "Adam"


def test_corrupted_or_foreign_files_fail_clearly(tmp_path):
    model, _, _ = _trained_lstm()
    path = tmp_path / "model.safetensors"
    model.save(str(path))
    data = path.read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        rk.models.load_model(str(tmp_path / "truncated.safetensors"))
    (tmp_path / "garbage.safetensors").write_bytes(b"\x00" * 3 + os.urandom(200))
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        rk.models.load_model(str(tmp_path / "garbage.safetensors"))
    (tmp_path / "pickle.safetensors").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="pickle"):
        rk.models.load_model(str(tmp_path / "pickle.safetensors"))
    from rnnkit import serialization

    serialization.save({"w": np.ones(2, np.float32)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not an rnnkit Keras model or weights file"):
        rk.models.load_model(str(tmp_path / "other.safetensors"))
    with pytest.raises(FileNotFoundError):
        rk.models.load_model(str(tmp_path / "missing.safetensors"))


def test_save_is_atomic(tmp_path, monkeypatch):
    model, x, _ = _trained_lstm()
    path = str(tmp_path / "model.keras")
    model.save(path)
    before = open(path, "rb").read()
    other, _, _ = _trained_lstm(seed=1)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        other.save(path)
    assert open(path, "rb").read() == before and os.listdir(tmp_path) == ["model.keras"]


def test_weights_round_trip_and_mismatch(tmp_path):
    model, x, _ = _trained_lstm()
    path = str(tmp_path / "w.safetensors")
    model.save_weights(path)
    twin, _, _ = _trained_lstm(seed=3)
    twin.load_weights(path)
    np.testing.assert_array_equal(twin.predict(x, verbose=0), model.predict(x, verbose=0))
    wider = rk.Sequential([rk.layers.LSTM(5, input_shape=(6, 3)), rk.layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match=r"weight 0 .*has shape \(3, 16\), the model expects \(3, 20\)"):
        wider.load_weights(path)
    with pytest.raises(ValueError, match="holds weights only"):
        rk.models.load_model(path)
