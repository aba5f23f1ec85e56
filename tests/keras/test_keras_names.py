"""The names ``get`` accepts for losses, metrics, optimizers and activations are Keras 3.15's, and the
activations added for them compute Keras's values and gradients."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import to_numpy as _to_numpy
from rnnkit import keras as rk

NEW_ACTIVATIONS = [("celu", {}), ("celu", {"alpha": 0.5}), ("glu", {}), ("hard_shrink", {}),
                   ("hard_shrink", {"threshold": 1.0}), ("soft_shrink", {}), ("soft_shrink", {"threshold": 0.2}),
                   ("tanh_shrink", {}), ("hard_silu", {}), ("hard_swish", {}), ("log_sigmoid", {}), ("mish", {}),
                   ("sparse_plus", {}), ("sparse_sigmoid", {}), ("squareplus", {}), ("squareplus", {"b": 1.5}),
                   ("threshold", {"threshold": 0.3, "default_value": -2.0}), ("sparsemax", {}),
                   ("sparsemax", {"axis": 0})]


@pytest.mark.parametrize("name,kwargs", NEW_ACTIVATIONS, ids=[f"{n}-{k}" for n, k in NEW_ACTIVATIONS])
def test_new_activations_match_keras(K, name, kwargs):
    import torch

    from rnnkit._tensor import Tensor

    rng = np.random.default_rng(31)
    x = (2.5 * rng.normal(size=(5, 6))).astype(np.float32)
    x[0, :6] = [-3.0, 3.0, -1.0, 1.0, 0.5, -0.5]  # the kinks of hard_silu, the sparse ones and the shrinks
    weights = rng.normal(size=x.shape).astype(np.float32)  # a random projection: every gradient entry counts
    mine = Tensor(x.copy(), requires_grad=True)
    out = rk.activations.get(name)(mine, **kwargs)
    weights = weights[tuple(slice(0, n) for n in out.shape)]  # glu halves the axis
    (out * weights).sum().backward()
    theirs = torch.tensor(x.copy(), requires_grad=True)
    expected = K.activations.get(name)(theirs, **kwargs)
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["celu", "hard_silu", "mish", "log_sigmoid", "squareplus", "sparse_plus"])
def test_new_activations_in_a_layer_train_as_keras(K, name):
    rng = np.random.default_rng(32)
    x, y = rng.normal(size=(16, 3)).astype(np.float32), rng.normal(size=(16, 4)).astype(np.float32)
    K.utils.set_random_seed(0)
    theirs = K.Sequential([K.Input((3,)), K.layers.Dense(4, activation=name)])
    ours = rk.Sequential([rk.layers.Dense(4, activation=name, input_shape=(3,))])
    ours.set_weights([_to_numpy(w) for w in theirs.get_weights()])
    for lib, model in ((rk, ours), (K, theirs)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
    mine = ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ref = theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(mine.history["loss"], ref.history["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _to_numpy(b), rtol=1e-5, atol=1e-6)


def _accepts(get, name):
    try:
        return get(name) is not None
    except Exception:  # Keras's optimizers.get raises KeyError for some of its own table's names
        return False


def _known_names(module):
    """The names in rnnkit's own 'unknown name' message."""
    import ast
    import re

    try:
        module.get("__no_such_name__")
    except ValueError as error:
        return set(ast.literal_eval(re.search(r"(\[.*?\])", str(error)).group(1)))
    raise AssertionError("get accepted a made-up name")


# Keras's abstract bases are in its tables but are no loss, metric or optimizer (and OptimizerMap is no optimizer).
NOT_HERE = {"losses": {"Loss"}, "metrics": {"Metric", "metric", "MeanMetricWrapper", "mean_metric_wrapper"},
            "optimizers": {"optimizer", "optimizermap"}, "activations": set()}


@pytest.mark.parametrize("family", ["losses", "metrics", "optimizers", "activations"])
def test_get_accepts_the_names_keras_accepts(K, family):
    """Over Keras's own names and rnnkit's: a name resolves in rnnkit iff it resolves in Keras."""
    import importlib

    keras_module = importlib.import_module(f"keras.src.{family}")
    ours = getattr(rk, family)
    names = set(keras_module.ALL_OBJECTS_DICT) | _known_names(ours)
    differ = sorted(n for n in names - NOT_HERE[family]
                    if _accepts(keras_module.get, n) != _accepts(ours.get, n))
    assert differ == []
    assert not any(_accepts(ours.get, n) for n in NOT_HERE[family])  # refused clearly, not half-supported


def test_huber_loss_alias_is_refused_as_keras(K):
    with pytest.raises(ValueError):
        K.losses.get("huber_loss")
    with pytest.raises(ValueError, match="unknown loss 'huber_loss'"):
        rk.losses.get("huber_loss")
    assert rk.losses.Huber().name == K.losses.Huber().name == "huber_loss"  # the class's default name stays


def test_leaky_relu_alpha_is_read_with_keras_warning(K):
    """Keras 2's LeakyReLU(alpha=...) (keras-io's multivariate LSTM example writes it): Keras 3 reads it with a
    deprecation warning; so does rnnkit."""
    with pytest.warns(UserWarning, match="`alpha` is deprecated"):
        theirs = K.layers.LeakyReLU(alpha=0.5)
    with pytest.warns(UserWarning, match="`alpha` is deprecated"):
        ours = rk.layers.LeakyReLU(alpha=0.5)
    x = np.linspace(-2, 2, 9).astype(np.float32)
    np.testing.assert_allclose(ours(x).numpy(), _to_numpy(theirs(x)), rtol=1e-7)
