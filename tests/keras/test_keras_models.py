"""rnnkit.keras models against Keras 3 (torch backend): Sequential and functional forward passes and
gradients after ``model.set_weights(keras_model.get_weights())``, seed 004's parameter count and
summary table, an encoder-decoder graph, configs, statefulness and errors."""

from __future__ import annotations

import json
import numpy as np
import pytest

import rnnkit
from rnnkit import keras as rk

TOL = 1e-5


def _summary(model, **kwargs):
    lines = []
    model.summary(print_fn=lambda text, **_: lines.append(text), **kwargs)
    return "".join(lines)


def _perturb(model, rng, scale=0.4):
    """Draw every weight from ``rng`` (reproducible; no bias left at zero)."""
    model.set_weights([rng.normal(scale=scale, size=w.shape).astype(w.dtype) for w in model.get_weights()])


def _stacked_lstm(K):
    """Seed 004's stacked LSTM classifier."""
    model = K.Sequential()
    model.add(K.layers.LSTM(50, input_shape=(49, 1), return_sequences=True))
    model.add(K.layers.LSTM(50, return_sequences=False))
    model.add(K.layers.Dense(46))
    model.add(K.layers.Activation("softmax"))
    return model


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_seed_004_stacked_lstm_params_and_summary(keras):
    keras.utils.clear_session()
    rk.utils.clear_session()
    theirs, ours = _stacked_lstm(keras), _stacked_lstm(rk)
    assert ours.count_params() == theirs.count_params() == 32946
    assert [l.count_params() for l in ours.layers] == [l.count_params() for l in theirs.layers]
    assert _summary(ours) == _summary(theirs)
    assert _summary(ours, line_length=60) == _summary(theirs, line_length=60)
    assert _summary(ours, line_length=70, show_trainable=True) == _summary(theirs, line_length=70, show_trainable=True)
    single = rk.Sequential([rk.layers.LSTM(50, input_shape=(49, 1)), rk.layers.Dense(46),
                            rk.layers.Activation("softmax")])
    assert single.count_params() == 4 * 50 * (1 + 50 + 1) + 50 * 46 + 46


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_sequential_forward_matches_keras_predict(keras):
    import torch

    rng = np.random.default_rng(0)

    def build(K):
        return K.Sequential([
            K.Input(shape=(7, 3)),
            K.layers.LSTM(6, return_sequences=True, recurrent_activation="hard_sigmoid"),
            K.layers.GRU(5, return_sequences=True, reset_after=False),
            K.layers.SimpleRNN(4, go_backwards=True),
            K.layers.Dense(3, activation="softmax"),
        ])

    theirs, ours = build(keras), build(rk)
    _perturb(theirs, rng)
    ours.set_weights(theirs.get_weights())
    x = rng.normal(size=(5, 7, 3)).astype(np.float32)
    expected = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(ours(x).detach().numpy(), expected, atol=TOL, rtol=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, atol=TOL, rtol=0)
    # every gradient of the stack
    projection = rng.normal(size=expected.shape).astype(np.float32)
    (theirs(torch.tensor(x)) * torch.tensor(projection)).sum().backward()
    (ours(x) * rnnkit.tensor(projection)).sum().backward()
    for kw, ow in zip(theirs.trainable_weights, ours.trainable_weights):
        np.testing.assert_allclose(ow.grad, kw.value.grad.detach().numpy(), atol=TOL, rtol=TOL, err_msg=ow.path)


def test_sequential_embedding_mask_bidirectional_matches_keras(keras):
    rng = np.random.default_rng(1)

    def build(K):
        return K.Sequential([
            K.Input(shape=(6,), dtype="int32"),
            K.layers.Embedding(10, 4, mask_zero=True),
            K.layers.Bidirectional(K.layers.LSTM(5, return_sequences=True), merge_mode="sum"),
            K.layers.Bidirectional(K.layers.GRU(3)),
            K.layers.Dense(2),
        ])

    theirs, ours = build(keras), build(rk)
    _perturb(theirs, rng)
    ours.set_weights(theirs.get_weights())
    ids = np.array([[1, 2, 0, 4, 0, 0], [0, 0, 5, 6, 7, 8], [9, 1, 2, 3, 4, 5]])
    np.testing.assert_allclose(ours(ids).detach().numpy(), theirs.predict(ids, verbose=0), atol=TOL, rtol=0)


def _encoder_decoder(K, embed=True):
    if embed:
        enc_in = K.Input((None,), dtype="int32", name="enc_in")
        enc = K.layers.Embedding(12, 6, mask_zero=True, name="enc_emb")(enc_in)
    else:
        enc_in = K.Input((None, 6), name="enc_in")
        enc = enc_in
    _, h, c = K.layers.LSTM(5, return_state=True, name="enc_lstm")(enc)
    dec_in = K.Input((None, 7), name="dec_in")
    dec = K.layers.LSTM(5, return_sequences=True, name="dec_lstm")(dec_in, initial_state=[h, c])
    out = K.layers.TimeDistributed(K.layers.Dense(7, activation="softmax", name="proj"), name="td")(dec)
    return K.Model([enc_in, dec_in], out, name="seq2seq")


def test_encoder_decoder_functional_matches_keras(keras):
    import torch

    rng = np.random.default_rng(2)
    theirs, ours = _encoder_decoder(keras), _encoder_decoder(rk)
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    assert [type(l).__name__ for l in ours.layers] == [type(l).__name__ for l in theirs.layers]
    _perturb(theirs, rng)
    ours.set_weights(theirs.get_weights())
    ids = np.array([[3, 0, 5, 2, 0, 0], [1, 2, 3, 4, 5, 6], [0, 0, 0, 7, 8, 9]])
    dec = rng.normal(size=(3, 4, 7)).astype(np.float32)
    k_out = theirs([torch.tensor(ids), torch.tensor(dec)])
    o_out = ours([ids, dec])
    np.testing.assert_allclose(o_out.detach().numpy(), k_out.detach().numpy(), atol=TOL, rtol=0)
    projection = rng.normal(size=o_out.shape).astype(np.float32)
    (k_out * torch.tensor(projection)).sum().backward()
    (o_out * rnnkit.tensor(projection)).sum().backward()
    for kw, ow in zip(theirs.trainable_weights, ours.trainable_weights):
        np.testing.assert_allclose(ow.grad, kw.value.grad.detach().numpy(), atol=TOL, rtol=TOL, err_msg=ow.path)


def test_functional_summary_matches_keras(keras):
    theirs, ours = _encoder_decoder(keras, embed=False), _encoder_decoder(rk, embed=False)
    assert ours.count_params() == theirs.count_params()
    assert _summary(ours) == _summary(theirs)
    assert _summary(ours, line_length=64) == _summary(theirs, line_length=64)


def test_config_round_trip_keeps_architecture_and_outputs():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    seq = rk.Sequential([rk.layers.Masking(0.0, input_shape=(5, 3)),
                         rk.layers.Bidirectional(rk.layers.GRU(4, return_sequences=True, reset_after=False),
                                                 merge_mode="ave"),
                         rk.layers.LSTM(3, kernel_regularizer=rk.regularizers.L2(0.1), dropout=0.2,
                                        recurrent_constraint="unit_norm"),
                         rk.layers.Dense(2, activation="tanh")])
    functional = _encoder_decoder(rk)
    ids, dec = np.array([[1, 2, 0], [3, 0, 0]]), rng.normal(size=(2, 4, 7)).astype(np.float32)
    for model, inputs in [(seq, x), (functional, [ids, dec])]:
        config = rk.layers.serialize(model)
        restored = rk.layers.deserialize(json.loads(json.dumps(config)))
        assert type(restored) is type(model)
        assert [l.name for l in restored.layers] == [l.name for l in model.layers]
        assert [l.get_config() for l in restored.layers] == [l.get_config() for l in model.layers]
        restored.set_weights(model.get_weights())
        np.testing.assert_array_equal(restored(inputs).detach().numpy(), model(inputs).detach().numpy())
    restored = rk.models.model_from_json(seq.to_json())
    assert isinstance(restored.layers[2].cell.recurrent_kernel.constraint, rk.constraints.UnitNorm)


def test_trainable_flag_and_losses(keras):
    def build(K):
        model = K.Sequential([K.Input(shape=(4, 3)), K.layers.LSTM(5, name="frozen"),
                              K.layers.Dense(2, kernel_regularizer=K.regularizers.L2(0.5), name="head")])
        model.get_layer("frozen").trainable = False
        return model

    theirs, ours = build(keras), build(rk)
    assert len(ours.trainable_weights) == len(theirs.trainable_weights) == 2
    assert len(ours.non_trainable_weights) == len(theirs.non_trainable_weights) == 3
    assert _summary(ours).splitlines()[-3:] == _summary(theirs).splitlines()[-3:]
    ours(np.zeros((1, 4, 3), np.float32))
    (penalty,) = ours.losses
    np.testing.assert_allclose(penalty.item(), 0.5 * (ours.get_layer("head").kernel.data ** 2).sum(), rtol=1e-6)
    # As Keras's torch backend: parameters() lists every weight, the frozen ones with requires_grad=False.
    assert len(list(ours.parameters())) == len(ours.weights) == 5
    assert [p for p in ours.parameters() if p.requires_grad] == ours.trainable_weights


def test_parameters_work_with_rnnkit_optim():
    rng = np.random.default_rng(4)
    model = rk.Sequential([rk.layers.GRU(4, input_shape=(5, 2)), rk.layers.Dense(1)])
    optimizer = rnnkit.optim.SGD(model.parameters(), lr=0.1)
    x, y = rng.normal(size=(8, 5, 2)).astype(np.float32), rng.normal(size=(8, 1)).astype(np.float32)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = ((model(x, training=True) - rnnkit.tensor(y)) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_stateful_model_chunks_and_reset_states():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 6, 3)).astype(np.float32)
    full = rk.Sequential([rk.layers.LSTM(4, return_sequences=True, input_shape=(None, 3))])
    stateful = rk.Sequential([rk.layers.LSTM(4, return_sequences=True, stateful=True, batch_input_shape=(2, None, 3))])
    stateful.set_weights(full.get_weights())
    expected = full(x).detach().numpy()
    chunks = np.concatenate([stateful(x[:, :2]).detach().numpy(), stateful(x[:, 2:]).detach().numpy()], axis=1)
    np.testing.assert_allclose(chunks, expected, atol=1e-6)
    stateful.reset_states()
    np.testing.assert_allclose(stateful(x[:, :2]).detach().numpy(), expected[:, :2], atol=1e-6)


def test_sequential_builds_on_first_call():
    model = rk.Sequential([rk.layers.SimpleRNN(3), rk.layers.Dense(2)])
    assert not model.built and "0 (unbuilt)" in _summary(model) and "?" in _summary(model)
    with pytest.raises(ValueError, match="not built"):
        model.count_params()
    model(np.zeros((1, 4, 5), np.float32))
    assert model.built and model.count_params() == (5 * 3 + 3 * 3 + 3) + (3 * 2 + 2)
    assert "(None, 3)" in _summary(model)


def test_model_errors():
    model = _stacked_lstm(rk)
    with pytest.raises(ValueError, match=r"expected shape \(None, 49, 1\).*\(2, 49, 2\)"):
        model(np.zeros((2, 49, 2), np.float32))
    with pytest.raises(ValueError, match=r"expected shape \(None, 49, 1\).*\(49, 1\)"):
        model(np.zeros((49, 1), np.float32))
    seq2seq = _encoder_decoder(rk)
    with pytest.raises(ValueError, match=r"expected a list of 2 inputs"):
        seq2seq(np.zeros((1, 3), np.int64))
    with pytest.raises(ValueError, match=r"input 1 \('dec_in'\) expected shape \(None, None, 7\).*\(1, 4, 6\)"):
        seq2seq([np.ones((1, 3), np.int64), np.zeros((1, 4, 6), np.float32)])
    a, b = rk.Input((3,)), rk.Input((3,))
    with pytest.raises(ValueError, match="Graph disconnected"):
        rk.Model(a, rk.layers.Dense(2)(b))
    with pytest.raises(TypeError, match="expected a keras layer"):
        rk.Sequential().add("lstm")
    with pytest.raises(ValueError, match="already in the model"):
        rk.Sequential([rk.layers.Dense(2, name="d"), rk.layers.Dense(2, name="d")])
    with pytest.raises(ValueError, match="returns 3 tensors"):
        rk.Sequential([rk.Input((4, 2)), rk.layers.LSTM(3, return_state=True), rk.layers.Dense(1)])
    i = rk.Input((None, 2))
    _, h, _c = rk.layers.LSTM(3, return_state=True)(i)
    with pytest.raises(ValueError, match=r"initial_state: LSTM 'dec' expects 2"):
        rk.layers.LSTM(3, name="dec")(i, initial_state=[h])
    with pytest.raises(ValueError, match=r"initial_state\[0\]: expected shape \(batch, 4\), got \(None, 3\)"):
        rk.layers.GRU(4)(i, initial_state=h)
    model = rk.Model(i, rk.layers.LSTM(3)(i, initial_state=[h, _c]))
    assert model([np.zeros((1, 2, 2), np.float32)]).shape == (1, 3)
