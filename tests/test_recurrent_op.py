"""rnnkit._recurrent: the one autograd op of every recurrent layer keeps its cache in the engine's
saved-tensor mechanism, so ``backward(retain_graph=True)`` works through it like through any op."""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit
from rnnkit import nn
from rnnkit.cells import kernels
from rnnkit.keras import layers as L

T, B, I, H = 5, 3, 4, 6


def _nn_layer(cls):
    return lambda x: cls(I, H, num_layers=2, bidirectional=True, dtype=rnnkit.float64)(x)[0]


def _nn_cell(cls):
    cell = cls(I, H, dtype=rnnkit.float64)
    return lambda x: cell(x[0])[0] if cls is nn.LSTMCell else cell(x[0])


def _keras(cls, **kwargs):
    layer = cls(H, return_sequences=True, dtype="float64", **kwargs)
    return lambda x: layer(rnnkit.permute(x, (1, 0, 2)))  # Keras is batch-major


LAYERS = {
    "nn.RNN": _nn_layer(nn.RNN), "nn.LSTM": _nn_layer(nn.LSTM), "nn.GRU": _nn_layer(nn.GRU),
    "nn.RNNCell": _nn_cell(nn.RNNCell), "nn.LSTMCell": _nn_cell(nn.LSTMCell), "nn.GRUCell": _nn_cell(nn.GRUCell),
    "keras.SimpleRNN": _keras(L.SimpleRNN), "keras.LSTM": _keras(L.LSTM), "keras.GRU": _keras(L.GRU),
    "keras.GRU-reset_before": _keras(L.GRU, reset_after=False),
}


@pytest.mark.parametrize("kernel", ["numpy", "numba"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_second_backward_with_retain_graph_doubles_the_gradients(name, kernel):
    rnnkit.manual_seed(0)
    with kernels.use(kernel):
        layer = LAYERS[name]
        x = rnnkit.tensor(np.random.default_rng(1).normal(size=(T, B, I)), requires_grad=True)
        loss = (layer(x) ** 2).sum()
        loss.backward(retain_graph=True)
        once = x.grad.clone()
        loss.backward()
    assert np.abs(once).max() > 0
    np.testing.assert_allclose(x.grad, 2 * once, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["nn.LSTM", "nn.GRUCell", "keras.LSTM"])
def test_second_backward_without_retain_graph_is_refused_as_torch_does(name):
    x = rnnkit.tensor(np.random.default_rng(1).normal(size=(T, B, I)), requires_grad=True)
    loss = (LAYERS[name](x) ** 2).sum()
    loss.backward()
    # torch: "Trying to backward through the graph a second time (or directly access saved tensors ...)"
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()
