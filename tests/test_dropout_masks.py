"""rnnkit._random.dropout_mask is the one dropout of both dialects: the same seed draws the same masks
in nn.functional.dropout, nn.Dropout, the nn RNNs' between-layer dropout, keras Dropout and the
Keras recurrent layers' dropout / recurrent_dropout."""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit
from rnnkit import nn
from rnnkit._random import dropout_mask, generator
from rnnkit.keras import layers as L

P = 0.4


def _expected(seed, shape, dtype):
    rnnkit.manual_seed(seed)
    return dropout_mask(generator(), shape, P, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nn_and_keras_dropout_draw_the_same_mask_from_the_same_seed(dtype):
    shape = (6, 5, 7)
    ones = np.ones(shape, dtype)
    rnnkit.manual_seed(11)
    torch_style = nn.functional.dropout(rnnkit.tensor(ones), P, training=True).data
    rnnkit.manual_seed(11)
    module = nn.Dropout(P)(rnnkit.tensor(ones)).data
    rnnkit.manual_seed(11)
    keras_style = L.Dropout(P, dtype=np.dtype(dtype).name)(rnnkit.tensor(ones), training=True).data
    np.testing.assert_array_equal(torch_style, keras_style)
    np.testing.assert_array_equal(module, keras_style)
    np.testing.assert_array_equal(keras_style, _expected(11, shape, dtype))
    assert set(np.unique(keras_style)) == {0, dtype(1 / (1 - P))}  # a real mask: both values occur


@pytest.mark.parametrize("kind,gates", [(L.SimpleRNN, 1), (L.LSTM, 4), (L.GRU, 3)])
def test_keras_recurrent_dropout_masks_are_the_same_draws(kind, gates):
    """Keras draws the input mask then the recurrent one (one per gate with implementation=1)."""
    B, I, H = 3, 4, 5
    layer = kind(H, dropout=P, recurrent_dropout=P, dtype="float64")
    layer.build((B, 2, I))
    rnnkit.manual_seed(5)
    in_mask, rec_mask = layer.cell.dropout_masks(B, I, np.dtype(np.float64), True)
    rnnkit.manual_seed(5)
    lead = (gates,) if gates > 1 else ()
    want_in = dropout_mask(generator(), lead + (B, I), P, np.float64)
    want_rec = dropout_mask(generator(), lead + (B, H), P, np.float64)
    # the layer reorders Keras's gate blocks (GRU z, r, h) into PyTorch's: compare as sets of blocks
    assert sorted(map(bytes, np.reshape(in_mask, (-1, B * I)))) == sorted(map(bytes, want_in.reshape(-1, B * I)))
    assert sorted(map(bytes, np.reshape(rec_mask, (-1, B * H)))) == sorted(map(bytes, want_rec.reshape(-1, B * H)))


def test_nn_rnn_between_layer_dropout_is_the_same_mask():
    """A 2-layer nn.LSTM in training = layer 0, times the mask nn.functional.dropout draws, then layer 1."""
    T, B, I, H = 5, 3, 4, 6
    rnnkit.manual_seed(0)
    stack = nn.LSTM(I, H, num_layers=2, dropout=P, dtype=rnnkit.float64)
    first, second = nn.LSTM(I, H, dtype=rnnkit.float64), nn.LSTM(H, H, dtype=rnnkit.float64)
    state = stack.state_dict()
    first.load_state_dict({k.replace("_l0", "_l0"): v for k, v in state.items() if k.endswith("_l0")})
    second.load_state_dict({k.replace("_l1", "_l0"): v for k, v in state.items() if k.endswith("_l1")})
    x = rnnkit.tensor(np.random.default_rng(1).normal(size=(T, B, I)))
    rnnkit.manual_seed(3)
    out = stack(x)[0].data
    rnnkit.manual_seed(3)
    mask = nn.functional.dropout(rnnkit.ones(T, B, H, dtype=rnnkit.float64), P, training=True)
    expected = second(first(x)[0] * mask)[0].data
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert not np.allclose(out, second(first(x)[0])[0].data)  # the mask did something
