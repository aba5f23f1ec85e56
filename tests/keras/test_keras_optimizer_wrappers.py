"""Keras's optimizer wrappers: ``loss_scale_factor`` on any optimizer, ``LossScaleOptimizer`` (dynamic
scale, skipped non-finite steps) and ``MultiOptimizer``/``OptimizerMap``, against Keras 3 (torch backend)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import to_numpy as _to_numpy
from rnnkit import keras as rk
from rnnkit._tensor import Tensor


@pytest.mark.parametrize("inner", ["SGD", "Adam"])
def test_loss_scale_optimizer_steps_match_keras(K, inner):
    """Finite steps unscale the gradients and double the scale every dynamic_growth_steps; a step with a
    non-finite gradient leaves the weights and halves the scale."""
    import torch

    rng = np.random.default_rng(40)
    start = [rng.normal(size=s).astype(np.float32) for s in [(4, 3), (3,)]]
    ours = [Tensor(w.copy()) for w in start]
    theirs = [K.Variable(w.copy()) for w in start]
    opt = rk.optimizers.LossScaleOptimizer(getattr(rk.optimizers, inner)(0.05), initial_scale=8.0,
                                           dynamic_growth_steps=2)
    ref = K.optimizers.LossScaleOptimizer(getattr(K.optimizers, inner)(0.05), initial_scale=8.0,
                                          dynamic_growth_steps=2)
    for step in range(7):
        grads = [8 * rng.normal(size=w.shape).astype(np.float32) for w in start]
        if step == 3:
            grads[1][0] = np.inf
        opt.apply(grads, ours)
        ref.apply([torch.tensor(g) for g in grads], theirs)
        assert float(opt.dynamic_scale) == float(_to_numpy(ref.dynamic_scale)), step
        assert opt.step_counter == int(_to_numpy(ref.step_counter)), step
        for mine, other in zip(ours, theirs):
            np.testing.assert_allclose(mine.data, _to_numpy(other), rtol=1e-6, atol=1e-7)
    assert opt.iterations == opt.inner_optimizer.iterations == int(_to_numpy(ref.iterations)) == 6  # one skipped
    assert opt.learning_rate == pytest.approx(float(_to_numpy(ref.learning_rate)))


@pytest.mark.parametrize("make", [
    lambda lib: lib.optimizers.LossScaleOptimizer(lib.optimizers.Adam(0.01), initial_scale=4.0,
                                                  dynamic_growth_steps=2),
    lambda lib: lib.optimizers.SGD(0.1, momentum=0.5, loss_scale_factor=3.0),
    lambda lib: lib.optimizers.RMSprop(0.01, loss_scale_factor=1024.0, clipnorm=0.5),
], ids=["LossScaleOptimizer", "SGD-loss_scale_factor", "RMSprop-loss_scale_factor-clipnorm"])
def test_training_with_loss_scaling_matches_keras(K, make):
    rng = np.random.default_rng(41)
    x = rng.normal(size=(24, 5, 3)).astype(np.float32)
    y = rng.normal(size=(24, 2)).astype(np.float32)
    K.utils.set_random_seed(0)
    theirs = K.Sequential([K.Input((5, 3)), K.layers.GRU(4), K.layers.Dense(2)])
    ours = rk.Sequential([rk.layers.GRU(4, input_shape=(5, 3)), rk.layers.Dense(2)])
    ours.set_weights([_to_numpy(w) for w in theirs.get_weights()])
    ours.compile(optimizer=make(rk), loss="mse")
    theirs.compile(optimizer=make(K), loss="mse")
    mine = ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    ref = theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(mine.history["loss"], ref.history["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _to_numpy(b), rtol=1e-4, atol=1e-6)


def test_loss_scale_configs_and_files_both_ways(K, tmp_path):
    ours = rk.optimizers.LossScaleOptimizer(rk.optimizers.Adam(0.02), initial_scale=64.0, dynamic_growth_steps=5)
    theirs = K.optimizers.LossScaleOptimizer(K.optimizers.Adam(0.02), initial_scale=64.0, dynamic_growth_steps=5)
    config = ours.get_config()
    assert {k: v for k, v in config.items() if k not in ("inner_optimizer", "name")} == \
        {k: v for k, v in theirs.get_config().items() if k not in ("inner_optimizer", "name")}
    from_keras = rk.optimizers.LossScaleOptimizer.from_config(theirs.get_config())
    assert isinstance(from_keras.inner_optimizer, rk.optimizers.Adam)
    assert from_keras.learning_rate == pytest.approx(0.02)
    assert rk.optimizers.deserialize(rk.optimizers.serialize(ours)).get_config() == config
    assert rk.optimizers.SGD(0.1, loss_scale_factor=2.0).get_config()["loss_scale_factor"] == 2.0
    x = np.ones((4, 3, 2), np.float32)
    model = rk.Sequential([rk.layers.LSTM(2, input_shape=(3, 2))])
    model.compile(optimizer=ours, loss="mse")
    model.fit(x, np.zeros((4, 2), np.float32), verbose=0)
    with pytest.warns(UserWarning, match="LossScaleOptimizer"):
        model.save(tmp_path / "m.keras")
    loaded = K.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer, K.optimizers.LossScaleOptimizer)
    assert isinstance(loaded.optimizer.inner_optimizer, K.optimizers.Adam)
    np.testing.assert_allclose(_to_numpy(loaded.predict(x, verbose=0)), model.predict(x, verbose=0), rtol=1e-6)
    loaded.fit(x, np.zeros((4, 2), np.float32), verbose=0)
    loaded.save(tmp_path / "k.keras")
    with pytest.warns(UserWarning, match="LossScaleOptimizer"):
        back = rk.models.load_model(tmp_path / "k.keras")
    assert isinstance(back.optimizer, rk.optimizers.LossScaleOptimizer)
    assert back.optimizer.get_config()["initial_scale"] == 64.0


def test_loss_scale_bad_input():
    with pytest.raises(TypeError, match="inner_optimizer"):
        rk.optimizers.LossScaleOptimizer("adam")
    with pytest.raises(ValueError, match="dynamic=False"):
        rk.optimizers.LossScaleOptimizer(rk.optimizers.SGD(), dynamic=False)
    with pytest.raises(ValueError, match="clipnorm"):
        rk.optimizers.LossScaleOptimizer(rk.optimizers.SGD(), clipnorm=1.0)
    with pytest.raises(ValueError, match="dynamic_growth_steps"):
        rk.optimizers.LossScaleOptimizer(rk.optimizers.SGD(), dynamic_growth_steps=0)
    with pytest.raises(ValueError, match="loss_scale_factor"):
        rk.optimizers.Adam(loss_scale_factor=-1.0)


# -- MultiOptimizer ---------------------------------------------------------------------------------------
def _two_dense(lib):
    return lib.Sequential([lib.Input((3,)), lib.layers.Dense(4, name="a"), lib.layers.Dense(2, name="b")])


@pytest.mark.parametrize("loss_scale_factor", [None, 4.0])
def test_multi_optimizer_training_matches_keras(K, loss_scale_factor):
    """Adam on layer "a" (chosen by a pattern both libraries' paths match), SGD with momentum elsewhere."""
    rng = np.random.default_rng(42)
    x, y = rng.normal(size=(16, 3)).astype(np.float32), rng.normal(size=(16, 2)).astype(np.float32)
    K.utils.set_random_seed(0)
    theirs, ours = _two_dense(K), _two_dense(rk)
    ours.set_weights([_to_numpy(w) for w in theirs.get_weights()])
    for lib, model in ((rk, ours), (K, theirs)):
        choose = lib.optimizers.OptimizerMap(lib.optimizers.SGD(0.05, momentum=0.9),
                                             {".*a/.*": lib.optimizers.Adam(0.01)})
        model.compile(optimizer=lib.optimizers.MultiOptimizer(choose, loss_scale_factor=loss_scale_factor),
                      loss="mse")
    mine = ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    ref = theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(mine.history["loss"], ref.history["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _to_numpy(b), rtol=1e-5, atol=1e-6)
    adam, sgd = ours.optimizer.optimizers
    assert type(adam).__name__ == "Adam" and adam.iterations == sgd.iterations == ours.optimizer.iterations == 8
    with pytest.raises(AttributeError, match="learning rate"):
        ours.optimizer.learning_rate


def test_multi_optimizer_config_files_and_bad_input(K, tmp_path):
    choose = rk.optimizers.OptimizerMap(rk.optimizers.SGD(0.1), {".*b/kernel": rk.optimizers.Lion(0.001)})
    config = rk.optimizers.MultiOptimizer(choose).get_config()
    theirs = K.optimizers.MultiOptimizer(K.optimizers.OptimizerMap(K.optimizers.SGD(0.1),
                                                                   {".*b/kernel": K.optimizers.Lion(0.001)}))
    assert set(config) == set(theirs.get_config())
    again = rk.optimizers.MultiOptimizer.from_config(theirs.get_config())
    assert type(again.optimizers[0]).__name__ == "Lion" and again.optimizers[1].learning_rate == pytest.approx(0.1)
    model = _two_dense(rk)
    model.compile(optimizer=rk.optimizers.MultiOptimizer(choose), loss="mse")
    model.fit(np.ones((4, 3), np.float32), np.ones((4, 2), np.float32), verbose=0)
    with pytest.warns(UserWarning, match="MultiOptimizer"):
        model.save(tmp_path / "m.keras")
    loaded = K.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer, K.optimizers.MultiOptimizer)
    with pytest.warns(UserWarning, match="selects none of the variables"):
        bad = rk.optimizers.MultiOptimizer(rk.optimizers.OptimizerMap(rk.optimizers.SGD(),
                                                                      {"sequential/a/kernel": rk.optimizers.Adam()}))
        bad.build(model.trainable_weights)
    overlapping = rk.optimizers.OptimizerMap(rk.optimizers.SGD(), {"a/.*": rk.optimizers.Adam(),
                                                                    ".*/kernel": rk.optimizers.SGD()})
    with pytest.raises(ValueError, match="several optimizers"):
        overlapping["a/kernel"]
    with pytest.raises(TypeError, match="default_optimizer"):
        rk.optimizers.OptimizerMap("sgd")
    with pytest.raises(ValueError, match="other than LossScaleOptimizer"):
        rk.optimizers.OptimizerMap(rk.optimizers.SGD(), {"x": rk.optimizers.LossScaleOptimizer(rk.optimizers.SGD())})
