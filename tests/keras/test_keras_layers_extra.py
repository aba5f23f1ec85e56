"""Everyday Keras layers (merging, reshaping, pooling, activations, Lambda, SpatialDropout1D) against Keras 3:
outputs, output masks and input gradients equal for the same inputs, and symbolic shapes as Keras's."""

from __future__ import annotations


import numpy as np
import pytest

from rnnkit import keras as rk
from helpers import to_numpy as _np
from rnnkit._tensor import Tensor


def _compare(K, ours, theirs, arrays, masks=None, kwargs=None):
    """Run both layers on the same inputs (and masks); compare outputs, output masks and d(sum(out * r))/dx."""
    import torch

    kwargs = dict(kwargs or {})
    several = isinstance(arrays, list)
    arrays = arrays if several else [arrays]
    mine_in = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    ref_in = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    from keras.src.backend import set_keras_mask

    for mine_x, ref_x, m in zip(mine_in, ref_in, masks or [None] * len(arrays)):  # masks ride on the inputs
        mine_x._keras_mask = m
        if m is not None:
            set_keras_mask(ref_x, torch.tensor(m))
    mine = ours(mine_in if several else mine_in[0], **kwargs)
    ref = theirs(ref_in if several else ref_in[0], **kwargs)
    np.testing.assert_allclose(mine.detach().numpy(), _np(ref), rtol=1e-5, atol=1e-6)
    ref_mask = getattr(ref, "_keras_mask", None)
    if ref_mask is None and masks is not None:
        ref_mask = theirs.compute_mask(ref_in if several else ref_in[0],
                                       [None if m is None else torch.tensor(m) for m in masks] if several
                                       else torch.tensor(masks[0]))
    mine_mask = mine._keras_mask
    assert (mine_mask is None) == (ref_mask is None)
    if ref_mask is not None:
        np.testing.assert_array_equal(mine_mask, _np(ref_mask))
    r = np.random.default_rng(9).normal(size=mine.shape).astype(np.float32)
    (mine * Tensor(r)).sum().backward()
    (ref * torch.tensor(r)).sum().backward()
    for a, b in zip(mine_in, ref_in):
        np.testing.assert_allclose(np.asarray(a.grad), _np(b.grad), rtol=1e-5, atol=1e-6)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


MASK_A = np.array([[True, True, False, False], [True, False, True, False]])
MASK_B = np.array([[True, False, True, False], [False, False, True, True]])


@pytest.mark.parametrize("name", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"])
@pytest.mark.parametrize("masks", [None, [MASK_A, MASK_B], [MASK_A, None]])
def test_merge_layers_match_keras(K, name, masks):
    arrays = [_x(2, 4, 3, seed=1), _x(2, 4, 3, seed=2)]
    if masks is not None and masks[1] is None and name in ("Maximum", "Minimum"):
        masks = [MASK_A, MASK_B]  # Keras's or-merge reads masks from its inputs; both given keeps it equal
    _compare(K, getattr(rk.layers, name)(), getattr(K.layers, name)(), arrays, masks)


def test_concatenate_other_axes_and_symbolic_shapes(K):
    _compare(K, rk.layers.Concatenate(axis=1), K.layers.Concatenate(axis=1), [_x(2, 3, 4), _x(2, 5, 4)],
             [MASK_A[:, :3], None])
    for lib in (rk, K):
        a, b = lib.Input((3, 4)), lib.Input((5, 4))
        assert tuple(lib.layers.Concatenate(axis=1)([a, b]).shape) == (None, 8, 4)
        assert tuple(lib.layers.add([a, a]).shape) == (None, 3, 4)
    with pytest.raises(ValueError, match="except on axis"):
        rk.layers.Concatenate()([rk.Input((3, 4)), rk.Input((5, 4))])
    with pytest.raises(ValueError, match="at least 2 inputs"):
        rk.layers.Add()([np.ones((2, 3))])


@pytest.mark.parametrize("make", [
    lambda L: L.RepeatVector(3), lambda L: L.Reshape((2, 6)), lambda L: L.Reshape((-1, 3)),
    lambda L: L.Permute((2, 1)), lambda L: L.ReLU(), lambda L: L.ReLU(max_value=0.5, negative_slope=0.1,
                                                                      threshold=0.2),
    lambda L: L.LeakyReLU(), lambda L: L.LeakyReLU(negative_slope=0.05), lambda L: L.GlobalAveragePooling1D(),
    lambda L: L.GlobalMaxPooling1D(), lambda L: L.GlobalAveragePooling1D(keepdims=True),
    lambda L: L.GlobalMaxPooling1D(data_format="channels_first"),
])
def test_shape_and_activation_layers_match_keras(K, make):
    ours, theirs = make(rk.layers), make(K.layers)
    x = _x(2, 12) if isinstance(ours, rk.layers.RepeatVector) else _x(2, 4, 3)
    _compare(K, ours, theirs, x)
    shape = (None,) + x.shape[1:]
    assert tuple(ours.compute_output_shape(shape)) == tuple(theirs.compute_output_shape(shape))
    assert type(ours).from_config(ours.get_config()).get_config() == ours.get_config()


def test_masked_average_pooling_matches_keras(K):
    _compare(K, rk.layers.GlobalAveragePooling1D(), K.layers.GlobalAveragePooling1D(), _x(2, 4, 3), [MASK_A])


def test_lambda_and_spatial_dropout(K):
    ours = rk.layers.Lambda(lambda t, scale: t * scale, arguments={"scale": 3.0})
    theirs = K.layers.Lambda(lambda t, scale: t * scale, arguments={"scale": 3.0})
    _compare(K, ours, theirs, _x(2, 4, 3))
    with pytest.raises(ValueError, match="holds Python code"):
        ours.get_config()
    drop = rk.layers.SpatialDropout1D(0.5, seed=3)
    y = drop(np.ones((4, 6, 5), np.float32), training=True).detach().numpy()
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert (y == y[:, :1, :]).all()  # one draw per (sample, channel), shared by every step
    assert (drop(np.ones((4, 6, 5), np.float32)).detach().numpy() == 1.0).all()


def test_addition_seq2seq_with_repeat_vector_trains_as_keras(K):
    """keras-io's addition_rnn shape: LSTM encoder, RepeatVector, LSTM decoder, TimeDistributed softmax."""
    rng = np.random.default_rng(0)
    chars, maxlen, digits = 12, 7, 4
    x = np.eye(chars, dtype=np.float32)[rng.integers(0, chars, (32, maxlen))]
    y = np.eye(chars, dtype=np.float32)[rng.integers(0, chars, (32, digits))]

    def build(lib):
        return lib.Sequential([lib.Input((maxlen, chars)), lib.layers.LSTM(16), lib.layers.RepeatVector(digits),
                               lib.layers.LSTM(16, return_sequences=True),
                               lib.layers.Dense(chars, activation="softmax")])

    K.utils.set_random_seed(0)
    theirs, ours = build(K), build(rk)
    ours.set_weights([_np(w) for w in theirs.get_weights()])
    for model in (ours, theirs):
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    np.testing.assert_allclose(ours.predict(x, verbose=0), _np(theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-6)
    mine = ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ref = theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _np(b), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mine.history["loss"], ref.history["loss"], rtol=1e-5)


def _copy_weights(ours, theirs, x):
    theirs(x)
    ours(x)
    ours.set_weights([_np(w) for w in theirs.get_weights()])


@pytest.mark.parametrize("kwargs", [
    {}, {"padding": "same"}, {"padding": "causal", "dilation_rate": 2}, {"strides": 2}, {"strides": 3, "padding": "same"},
    {"groups": 2, "activation": "relu"}, {"data_format": "channels_first", "padding": "same"}, {"use_bias": False},
])
def test_conv1d_matches_keras(K, kwargs):
    x = _x(2, 9, 4)
    ours, theirs = rk.layers.Conv1D(6, 3, **kwargs), K.layers.Conv1D(6, 3, **kwargs)
    _copy_weights(ours, theirs, x)
    _compare(K, ours, theirs, x)
    assert tuple(ours.compute_output_shape((None, 9, 4))) == tuple(theirs.compute_output_shape((None, 9, 4)))
    w = [a.shape for a in ours.get_weights()]
    assert w == [tuple(a.shape) for a in theirs.get_weights()]


@pytest.mark.parametrize("name", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("kwargs", [{}, {"pool_size": 3}, {"pool_size": 3, "strides": 1, "padding": "same"},
                                    {"pool_size": 2, "strides": 1, "padding": "same"},
                                    {"pool_size": 4, "strides": 3, "padding": "same"},
                                    {"data_format": "channels_first"}])
def test_pooling1d_matches_keras(K, name, kwargs):
    x = _x(2, 7, 3)
    kwargs = {"pool_size": 2, **kwargs}  # AveragePooling1D has no default pool size
    ours, theirs = getattr(rk.layers, name)(**kwargs), getattr(K.layers, name)(**kwargs)
    _compare(K, ours, theirs, x)
    assert tuple(ours.compute_output_shape((None, 7, 3))) == tuple(theirs.compute_output_shape((None, 7, 3)))


def test_lstm_classifier_with_conv1d_beside_it_trains_as_keras(K):
    """keras-io's lstm_vs_cnn comparison: an LSTM branch and a Conv1D branch on one sequence, concatenated."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(24, 12, 3)).astype(np.float32), rng.integers(0, 3, 24)

    def build(lib):
        inp = lib.Input((12, 3))
        conv = lib.layers.GlobalAveragePooling1D()(lib.layers.MaxPooling1D(2)(
            lib.layers.Conv1D(8, 3, padding="same", activation="relu")(inp)))
        merged = lib.layers.Concatenate()([lib.layers.LSTM(6)(inp), conv])
        return lib.Model(inp, lib.layers.Dense(3, activation="softmax")(merged))

    K.utils.set_random_seed(2)
    theirs, ours = build(K), build(rk)
    ours.set_weights([_np(w) for w in theirs.get_weights()])
    for model in (ours, theirs):
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    mine = ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ref = theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _np(b), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mine.history["loss"], ref.history["loss"], rtol=1e-5)


@pytest.mark.parametrize("kwargs", [{}, {"axis": [1, 2]}, {"center": False, "epsilon": 1e-5},
                                    {"rms_scaling": True}])
def test_layer_normalization_matches_keras(K, kwargs):
    """(axis=1 alone is left out: Keras 3.15 on torch fails on it.)"""
    x = _x(3, 4, 5)
    ours, theirs = rk.layers.LayerNormalization(**kwargs), K.layers.LayerNormalization(**kwargs)
    theirs(x)
    ours(x)
    rng = np.random.default_rng(5)
    values = [rng.normal(size=tuple(w.shape)).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(values)
    ours.set_weights(values)
    _compare(K, ours, theirs, x)


@pytest.mark.parametrize("kwargs", [{}, {"axis": 1, "momentum": 0.5}, {"center": False, "scale": False}])
def test_batch_normalization_training_inference_and_moving_statistics_match_keras(K, kwargs):
    x = _x(4, 5, 3) * 2 + 1
    ours, theirs = rk.layers.BatchNormalization(**kwargs), K.layers.BatchNormalization(**kwargs)
    theirs(x)
    ours(x)
    rng = np.random.default_rng(6)
    values = [rng.uniform(0.5, 1.5, size=tuple(w.shape)).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(values)
    ours.set_weights(values)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    _compare(K, ours, theirs, x, kwargs={"training": True})  # batch statistics, and the moving averages move
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _np(b), rtol=1e-5, atol=1e-6)
    _compare(K, ours, theirs, x, kwargs={"training": False})  # the moving statistics
    _compare(K, ours, theirs, x, masks=[np.arange(5)[None, :] < np.array([[5], [3], [1], [4]])],
             kwargs={"training": True})
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _np(b), rtol=1e-5, atol=1e-6)


def test_batch_normalization_in_a_model_trains_as_keras(K):
    x, y = _x(16, 6, 3), np.random.default_rng(3).integers(0, 2, 16)

    def build(lib):
        return lib.Sequential([lib.Input((6, 3)), lib.layers.Conv1D(4, 2), lib.layers.BatchNormalization(),
                               lib.layers.GRU(3), lib.layers.LayerNormalization(),
                               lib.layers.Dense(1, activation="sigmoid")])

    K.utils.set_random_seed(5)
    theirs, ours = build(K), build(rk)
    ours.set_weights([_np(w) for w in theirs.get_weights()])
    for model in (ours, theirs):
        model.compile(loss="binary_crossentropy", optimizer="rmsprop")
    ours.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _np(b), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.predict(x, verbose=0), _np(theirs.predict(x, verbose=0)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,kwargs", [("Attention", {}), ("Attention", {"use_scale": True}),
                                         ("Attention", {"score_mode": "concat", "use_scale": True}),
                                         ("AdditiveAttention", {}), ("AdditiveAttention", {"use_scale": False})])
@pytest.mark.parametrize("masks,causal", [(None, False), ([MASK_A, MASK_B], False), ([None, MASK_B], True)])
def test_dense_attention_layers_match_keras(K, name, kwargs, masks, causal):
    q, v = _x(2, 4, 3, seed=3), _x(2, 4, 3, seed=4)
    ours, theirs = getattr(rk.layers, name)(**kwargs), getattr(K.layers, name)(**kwargs)
    theirs([q, v])
    ours([q, v])
    values = [np.random.default_rng(1).uniform(0.5, 1.5, size=tuple(w.shape)).astype(np.float32)
              for w in theirs.get_weights()]
    theirs.set_weights(values)
    ours.set_weights(values)
    _compare(K, ours, theirs, [q, v], masks, kwargs={"use_causal_mask": causal})
    _compare(K, ours, theirs, [q, v, _x(2, 4, 3, seed=5)], None if masks is None else masks + [None])
    mine_out, mine_scores = ours([q, v], return_attention_scores=True)
    ref_out, ref_scores = theirs([q, v], return_attention_scores=True)
    np.testing.assert_allclose(mine_scores.detach().numpy(), _np(ref_scores), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"value_dim": 3, "output_shape": 5}, {"use_bias": False}])
@pytest.mark.parametrize("masked,causal", [(False, False), (True, False), (True, True)])
def test_multi_head_attention_matches_keras(K, kwargs, masked, causal):
    import torch
    from keras.src.backend import set_keras_mask

    q, v = _x(2, 4, 6, seed=6), _x(2, 4, 6, seed=7)
    ours, theirs = rk.layers.MultiHeadAttention(2, 4, **kwargs), K.layers.MultiHeadAttention(2, 4, **kwargs)
    theirs(q, v)
    ours(q, v)
    assert [tuple(w.shape) for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    ours.set_weights([_np(w) for w in theirs.get_weights()])
    mq, mv = [Tensor(q.copy(), requires_grad=True), Tensor(v.copy(), requires_grad=True)]
    tq, tv = [torch.tensor(q.copy(), requires_grad=True), torch.tensor(v.copy(), requires_grad=True)]
    attention_mask = np.random.default_rng(0).random((2, 4, 4)) > 0.3
    attention_mask[:, :, 0] = True
    call = {"use_causal_mask": causal}
    if masked:
        mq._keras_mask, mv._keras_mask = MASK_A, MASK_B | np.eye(2, 4, dtype=bool)
        set_keras_mask(tq, torch.tensor(MASK_A))
        set_keras_mask(tv, torch.tensor(mv._keras_mask))
    mine, mine_scores = ours(mq, mv, attention_mask=attention_mask, return_attention_scores=True, **call)
    ref, ref_scores = theirs(tq, tv, attention_mask=torch.tensor(attention_mask), return_attention_scores=True,
                             **call)
    np.testing.assert_allclose(mine.detach().numpy(), _np(ref), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mine_scores.detach().numpy(), _np(ref_scores), rtol=1e-5, atol=1e-6)
    r = np.random.default_rng(2).normal(size=mine.shape).astype(np.float32)
    (mine * Tensor(r)).sum().backward()
    (ref * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(np.asarray(mq.grad), _np(tq.grad), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(mv.grad), _np(tv.grad), rtol=1e-4, atol=1e-6)
    for p, w in zip(ours.weights, theirs.weights):
        np.testing.assert_allclose(np.asarray(p.grad), _np(w.value.grad), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("axes,shapes", [(1, [(2, 3), (2, 3)]), (2, [(2, 4, 3), (2, 5, 3)]),
                                         ((1, 1), [(2, 4, 3), (2, 4, 5)]), (-1, [(2, 4, 3), (2, 4, 3)])])
@pytest.mark.parametrize("normalize", [False, True])
def test_dot_matches_keras(K, axes, shapes, normalize):
    arrays = [_x(*shapes[0], seed=1), _x(*shapes[1], seed=2)]
    _compare(K, rk.layers.Dot(axes, normalize=normalize), K.layers.Dot(axes, normalize=normalize), arrays)


def test_attention_layers_in_a_functional_model_train_as_keras(K):
    x, y = np.random.default_rng(4).integers(1, 9, (16, 6)), np.random.default_rng(5).integers(0, 2, 16)
    x[:4, 4:] = 0

    def build(lib):
        inp = lib.Input((6,), dtype="int32")
        emb = lib.layers.Embedding(9, 6, mask_zero=True)(inp)
        seq = lib.layers.LSTM(6, return_sequences=True)(emb)
        att = lib.layers.MultiHeadAttention(2, 3)(seq, seq)
        luong = lib.layers.Attention()([seq, att])
        pooled = lib.layers.GlobalAveragePooling1D()(lib.layers.Add()([luong, att]))
        return lib.Model(inp, lib.layers.Dense(1, activation="sigmoid")(pooled))

    K.utils.set_random_seed(6)
    theirs, ours = build(K), build(rk)
    ours.set_weights([_np(w) for w in theirs.get_weights()])
    for model in (ours, theirs):
        model.compile(loss="binary_crossentropy", optimizer="adam")
    np.testing.assert_allclose(ours.predict(x, verbose=0), _np(theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-6)
    ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _np(b), rtol=1e-4, atol=1e-5)


def test_legacy_arguments_as_keras(K):
    """Float ids are truncated by Embedding, implementation=0 runs as Keras 3 runs it, use_cudnn is an attribute."""
    ids = np.array([[1.7, 2.2, 0.9]], np.float32)
    ours, theirs = rk.layers.Embedding(5, 3), K.layers.Embedding(5, 3)
    theirs(np.array([[1, 2]]))
    ours(np.array([[1, 2]]))
    ours.set_weights([_np(w) for w in theirs.get_weights()])
    np.testing.assert_allclose(ours(ids).detach().numpy(), _np(theirs(ids)), rtol=1e-6)
    x = _x(2, 4, 3)
    for lib in (rk, K):
        lib.utils.set_random_seed(0)
    layer_ours, layer_theirs = rk.layers.LSTM(2, implementation=0), K.layers.LSTM(2, implementation=0)
    layer_theirs(x)
    layer_ours(x)
    layer_ours.set_weights([_np(w) for w in layer_theirs.get_weights()])
    np.testing.assert_allclose(layer_ours(x).detach().numpy(), _np(layer_theirs(x)), rtol=1e-5, atol=1e-6)
    assert layer_ours.use_cudnn == layer_theirs.use_cudnn == "auto"
    assert rk.layers.GRU(2, use_cudnn=False).use_cudnn is False
    for lib in (rk, K):  # LSTM and GRU only, kept by Bidirectional's copies
        bidi = lib.layers.Bidirectional(lib.layers.LSTM(1, use_cudnn=True))
        assert bidi.forward_layer.use_cudnn is True and bidi.backward_layer.use_cudnn is True
        assert not hasattr(lib.layers.SimpleRNN(1), "use_cudnn")
        with pytest.raises((TypeError, ValueError)):
            lib.layers.SimpleRNN(1, use_cudnn=True)
