"""The functional API in full, against Keras 3: layer.input / layer.output, sub-models built from them
(keras-io's lstm_seq2seq inference models), get_layer, nested models, shared layers."""

from __future__ import annotations


import numpy as np
import pytest

from rnnkit import keras as rk
from helpers import to_numpy as _np


def _seq2seq(lib, enc_tokens=7, dec_tokens=6, latent=8):
    encoder_inputs = lib.Input(shape=(None, enc_tokens))
    encoder = lib.layers.LSTM(latent, return_state=True)
    _, state_h, state_c = encoder(encoder_inputs)
    decoder_inputs = lib.Input(shape=(None, dec_tokens))
    decoder_lstm = lib.layers.LSTM(latent, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    decoder_outputs = lib.layers.Dense(dec_tokens, activation="softmax")(decoder_outputs)
    return lib.Model([encoder_inputs, decoder_inputs], decoder_outputs)


def _inference_models(lib, model, latent=8):
    """keras-io lstm_seq2seq's restore step: encoder and decoder models from the trained model's tensors."""
    encoder_inputs = model.input[0]
    _, state_h_enc, state_c_enc = model.layers[2].output
    encoder_model = lib.Model(encoder_inputs, [state_h_enc, state_c_enc])
    decoder_inputs = model.input[1]
    states_inputs = [lib.Input(shape=(latent,)), lib.Input(shape=(latent,))]
    decoder_lstm = model.layers[3]
    decoder_outputs, state_h_dec, state_c_dec = decoder_lstm(decoder_inputs, initial_state=states_inputs)
    decoder_outputs = model.layers[4](decoder_outputs)
    decoder_model = lib.Model([decoder_inputs] + states_inputs, [decoder_outputs, state_h_dec, state_c_dec])
    return encoder_model, decoder_model


def test_character_seq2seq_training_and_inference_models_match_keras(K):
    rng = np.random.default_rng(0)
    enc = np.eye(7, dtype=np.float32)[rng.integers(0, 7, (16, 5))]
    dec = np.eye(6, dtype=np.float32)[rng.integers(0, 6, (16, 4))]
    target = np.roll(dec, -1, axis=1)
    K.utils.set_random_seed(0)
    theirs, ours = _seq2seq(K), _seq2seq(rk)
    assert [type(l).__name__ for l in ours.layers] == [type(l).__name__ for l in theirs.layers]
    ours.set_weights([_np(w) for w in theirs.get_weights()])
    for model in (ours, theirs):
        model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    mine = ours.fit([enc, dec], target, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ref = theirs.fit([enc, dec], target, batch_size=8, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(mine.history["loss"], ref.history["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _np(b), rtol=1e-4, atol=1e-6)
    ours_enc, ours_dec = _inference_models(rk, ours)
    ref_enc, ref_dec = _inference_models(K, theirs)
    states = ours_enc.predict(enc[:3], verbose=0)
    ref_states = ref_enc.predict(enc[:3], verbose=0)
    for a, b in zip(states, ref_states):
        np.testing.assert_allclose(a, _np(b), rtol=1e-5, atol=1e-6)
    step = dec[:3, :1]
    for _ in range(3):  # greedy decoding, one step at a time, feeding the states back
        out, h, c = ours_dec.predict([step] + list(states), verbose=0)
        ref_out, ref_h, ref_c = ref_dec.predict([step] + [_np(s) for s in ref_states], verbose=0)
        np.testing.assert_allclose(out, _np(ref_out), rtol=1e-5, atol=1e-6)
        states, ref_states = [h, c], [ref_h, ref_c]
        step = np.eye(6, dtype=np.float32)[out[:, -1].argmax(-1)][:, None]
    assert ours_dec.count_params() == ref_dec.count_params()


def test_layer_input_output_shapes_and_errors(K):
    for lib in (rk, K):
        inp = lib.Input((5, 3))
        lstm = lib.layers.LSTM(4, return_sequences=True)
        out = lstm(inp)
        assert lstm.input is inp and lstm.output is out
        assert tuple(lstm.output.shape) == (None, 5, 4)
    ours = rk.layers.Dense(2)
    assert not hasattr(ours, "output") and not hasattr(ours, "input_shape")  # AttributeError, as Keras
    dense = rk.layers.Dense(2)
    dense(rk.Input((3,)))
    assert dense.input_shape == (None, 3) and dense.output_shape == (None, 2)


def test_feature_extractor_nested_models_shared_layers_and_get_layer_match_keras(K):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 4, 3)).astype(np.float32), rng.normal(size=(6, 4, 3)).astype(np.float32)

    def build(lib):
        inner_in = lib.Input((4, 3))
        inner = lib.Model(inner_in, lib.layers.GRU(5, name="gru")(inner_in), name="inner")
        shared = lib.layers.Dense(3, name="shared")
        left, right = lib.Input((4, 3)), lib.Input((4, 3))
        merged = lib.layers.Concatenate()([shared(inner(left)), shared(inner(right))])
        return lib.Model([left, right], lib.layers.Dense(1, name="head")(merged))

    K.utils.set_random_seed(1)
    theirs, ours = build(K), build(rk)
    assert len(ours.get_weights()) == len(theirs.get_weights())
    ours.set_weights([_np(w) for w in theirs.get_weights()])
    np.testing.assert_allclose(ours.predict([a, b], verbose=0), _np(theirs.predict([a, b], verbose=0)), rtol=1e-5,
                               atol=1e-6)
    for model, lib in ((ours, rk), (theirs, K)):
        inner = model.get_layer("inner")
        extractor = lib.Model(inner.input, inner.get_layer("gru").output)
        model._extracted = _np(extractor.predict(a, verbose=0))
        assert model.get_layer("shared").output.shape[-1] == 3
    np.testing.assert_allclose(ours._extracted, theirs._extracted, rtol=1e-5, atol=1e-6)
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="mse")
    y = rng.normal(size=(6, 1)).astype(np.float32)
    ours.fit([a, b], y, batch_size=3, shuffle=False, verbose=0)
    theirs.fit([a, b], y, batch_size=3, shuffle=False, verbose=0)
    for w1, w2 in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(w1, _np(w2), rtol=1e-4, atol=1e-6)
    clone = rk.models.model_from_json(ours.to_json())
    clone.set_weights(ours.get_weights())
    np.testing.assert_allclose(clone.predict([a, b], verbose=0), ours.predict([a, b], verbose=0), rtol=1e-6)


def test_bidirectional_sentiment_classifier_on_rank_one_labels_matches_keras(K):
    """keras-io's bidirectional_lstm_imdb: padded ids, Embedding, two Bidirectional LSTMs, Dense(1, sigmoid),
    binary_crossentropy on (N,) labels, validation_data as a tuple."""
    rng = np.random.default_rng(2)
    reviews = [rng.integers(1, 50, rng.integers(3, 12)).tolist() for _ in range(24)]
    x = rk.preprocessing.sequence.pad_sequences(reviews, maxlen=10)
    y = rng.integers(0, 2, 24)

    def build(lib):
        inputs = lib.Input(shape=(None,), dtype="int32")
        h = lib.layers.Embedding(50, 8)(inputs)
        h = lib.layers.Bidirectional(lib.layers.LSTM(6, return_sequences=True))(h)
        h = lib.layers.Bidirectional(lib.layers.LSTM(6))(h)
        return lib.Model(inputs, lib.layers.Dense(1, activation="sigmoid")(h))

    K.utils.set_random_seed(3)
    theirs, ours = build(K), build(rk)
    ours.set_weights([_np(w) for w in theirs.get_weights()])
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    mine = ours.fit(x[:16], y[:16], batch_size=8, epochs=1, shuffle=False, verbose=0, validation_data=(x[16:], y[16:]))
    ref = theirs.fit(x[:16], y[:16], batch_size=8, epochs=1, shuffle=False, verbose=0,
                     validation_data=(x[16:], y[16:]))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(mine.history[key], ref.history[key], rtol=1e-5, atol=1e-6)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _np(b), rtol=1e-4, atol=1e-6)


def test_keras_file_formats_are_named_not_misread(K, tmp_path):
    """Keras's .keras archives open (tests/keras/test_keras_files.py); legacy .h5 files are refused with a message
    naming them, and a whole model saved under an .h5 name is Keras's legacy HDF5 file
    (tests/keras/test_keras_h5_and_text.py opens it in Keras)."""
    model = K.Sequential([K.Input((3, 2)), K.layers.LSTM(2)])
    model.save(tmp_path / "real.keras")
    x = np.ones((1, 3, 2), np.float32)
    np.testing.assert_allclose(rk.models.load_model(tmp_path / "real.keras").predict(x, verbose=0),
                               _np(model.predict(x, verbose=0)), rtol=1e-6)
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "legacy.h5", "w") as handle:
        handle.create_dataset("w", data=np.zeros(2))
    with pytest.raises(ValueError, match="HDF5"):
        rk.models.load_model(tmp_path / "legacy.h5")
    ours = rk.Sequential([rk.Input((3, 2)), rk.layers.LSTM(2)])
    ours.save(tmp_path / "mine.h5")
    with h5py.File(tmp_path / "mine.h5", "r") as handle:
        assert "model_config" in handle.attrs and "model_weights" in handle
    np.testing.assert_allclose(rk.models.load_model(tmp_path / "mine.h5").predict(x, verbose=0),
                               ours.predict(x, verbose=0))
