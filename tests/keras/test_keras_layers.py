"""rnnkit.keras layers against Keras 3 (torch backend): outputs, states and every gradient after
``set_weights(keras_layer.get_weights())``; finite differences where Keras has no reference
(dropout with a fixed mask); dropout structure and statistics; stateful chunks; errors."""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit
from rnnkit.keras import constraints, initializers, regularizers
from rnnkit.keras import layers as L

TOL = 1e-5


def _as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _randomize(keras_layer, rng, scale=0.4):
    """Draw every weight (biases too) from ``rng``: reproducible, and no argument hides behind a zero."""
    keras_layer.set_weights([rng.normal(scale=scale, size=w.shape).astype(w.dtype) for w in keras_layer.get_weights()])


def _check_parity(keras, keras_layer, our_layer, x, rng, mask=None, initial_state=None, call_kwargs=None):
    """Copy the weights, then assert equal outputs and equal gradients of a random projection of the
    outputs w.r.t. the input, the initial states and every weight. Returns our outputs."""
    import torch

    call_kwargs = dict(call_kwargs or {})
    xt = torch.tensor(x, requires_grad=True)
    k_kwargs = dict(call_kwargs)
    if mask is not None:
        k_kwargs["mask"] = torch.tensor(mask)
    k_states = None
    if initial_state is not None:
        k_states = [torch.tensor(s, requires_grad=True) for s in initial_state]
        k_kwargs["initial_state"] = k_states
    keras_layer(xt, **k_kwargs)  # build
    _randomize(keras_layer, rng)
    k_out = _as_list(keras_layer(xt, **k_kwargs))

    our_layer(x, mask=mask, initial_state=initial_state, **call_kwargs) if initial_state is not None else \
        our_layer(x, mask=mask, **call_kwargs)
    our_layer.set_weights(keras_layer.get_weights())
    xo = rnnkit.tensor(x, requires_grad=True)
    o_states = None
    o_kwargs = dict(call_kwargs, mask=mask)
    if initial_state is not None:
        o_states = [rnnkit.tensor(s, requires_grad=True) for s in initial_state]
        o_kwargs["initial_state"] = o_states
    o_out = _as_list(our_layer(xo, **o_kwargs))

    assert len(o_out) == len(k_out)
    for i, (a, b) in enumerate(zip(k_out, o_out)):
        assert tuple(a.shape) == b.shape, f"output {i}"
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), atol=TOL, rtol=0, err_msg=f"output {i}")

    projections = [rng.normal(size=tuple(a.shape)).astype(np.float32) for a in k_out]
    sum(((a * torch.tensor(p)).sum() for a, p in zip(k_out, projections))).backward()
    sum(((b * rnnkit.tensor(p)).sum() for b, p in zip(o_out, projections))).backward()
    # float32 sums of O(1) terms: compare gradients to 1e-5 relative to their size
    np.testing.assert_allclose(xo.grad, xt.grad.detach().numpy(), atol=TOL, rtol=TOL, err_msg="d input")
    for i, (kw, ow) in enumerate(zip(keras_layer.trainable_weights, our_layer.trainable_weights)):
        np.testing.assert_allclose(ow.grad, kw.value.grad.detach().numpy(), atol=TOL, rtol=TOL, err_msg=f"d weight {i} {ow.name}")
    for i, (ks, os_) in enumerate(zip(k_states or [], o_states or [])):
        np.testing.assert_allclose(os_.grad, ks.grad.detach().numpy(), atol=TOL, rtol=TOL, err_msg=f"d initial_state[{i}]")
    return o_out


RECURRENT_CASES = [
    ("LSTM", {}),
    ("LSTM", dict(return_sequences=True, return_state=True)),
    ("LSTM", dict(go_backwards=True, return_sequences=True, return_state=True)),
    ("LSTM", dict(activation="relu", recurrent_activation="hard_sigmoid", return_sequences=True)),
    ("LSTM", dict(activation=None, recurrent_activation="tanh", return_state=True)),
    ("LSTM", dict(use_bias=False, return_state=True)),
    ("GRU", dict(return_sequences=True, return_state=True)),
    ("GRU", dict(reset_after=False, return_sequences=True, return_state=True)),
    ("GRU", dict(reset_after=False, use_bias=False, go_backwards=True, return_sequences=True)),
    ("GRU", dict(recurrent_activation="hard_sigmoid", activation="softsign", go_backwards=True)),
    ("SimpleRNN", dict(return_sequences=True, return_state=True)),
    ("SimpleRNN", dict(activation="relu", go_backwards=True, return_sequences=True)),
    ("SimpleRNN", dict(use_bias=False, activation="elu")),
]


@pytest.mark.parametrize("kind,kwargs", RECURRENT_CASES, ids=lambda v: str(v))
def test_recurrent_parity_with_keras(keras, kind, kwargs):
    rng = np.random.default_rng(len(str(kwargs)) + len(kind))
    x = rng.normal(size=(3, 6, 4)).astype(np.float32)
    outs = _check_parity(keras, getattr(keras.layers, kind)(5, **kwargs), getattr(L, kind)(5, **kwargs), x, rng)
    assert outs[0].detach().numpy().std() > 1e-2  # a non-trivial output


@pytest.mark.parametrize("kind,argument,value", [
    ("LSTM", "recurrent_activation", "hard_sigmoid"), ("LSTM", "activation", "relu"),
    ("LSTM", "go_backwards", True), ("GRU", "recurrent_activation", "hard_sigmoid"),
    ("GRU", "go_backwards", True), ("SimpleRNN", "activation", "relu"),
])
def test_each_argument_changes_the_output(kind, argument, value):
    """The parity cases above would also pass if an argument were ignored by both; it is not."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    base, other = getattr(L, kind)(4), getattr(L, kind)(4, **{argument: value})
    base(x)
    other(x)
    weights = [w + rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in base.get_weights()]
    base.set_weights(weights)
    other.set_weights(weights)
    assert np.abs(base(x).detach().numpy() - other(x).detach().numpy()).max() > 1e-3


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_initial_state_parity(keras, kind):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    n = 2 if kind == "LSTM" else 1
    states = [rng.normal(size=(2, 4)).astype(np.float32) for _ in range(n)]
    kwargs = dict(return_sequences=True, return_state=True)
    _check_parity(keras, getattr(keras.layers, kind)(4, **kwargs), getattr(L, kind)(4, **kwargs), x, rng,
                  initial_state=states)


@pytest.mark.parametrize("unit_forget_bias,bias_initializer", [
    (True, "zeros"), (False, "zeros"), (True, "ones"), (False, "ones"),
])
def test_lstm_initial_bias_matches_keras(keras, unit_forget_bias, bias_initializer):
    ours = L.LSTM(3, unit_forget_bias=unit_forget_bias, bias_initializer=bias_initializer)
    theirs = keras.layers.LSTM(3, unit_forget_bias=unit_forget_bias, bias_initializer=bias_initializer)
    x = np.zeros((1, 2, 2), np.float32)
    ours(x)
    theirs(x)
    np.testing.assert_array_equal(ours.get_weights()[2], theirs.get_weights()[2])
    if unit_forget_bias and bias_initializer == "zeros":
        np.testing.assert_array_equal(ours.get_weights()[2], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("kind,kwargs,shapes", [
    ("LSTM", {}, [(4, 12), (3, 12), (12,)]),
    ("LSTM", dict(use_bias=False), [(4, 12), (3, 12)]),
    ("GRU", {}, [(4, 9), (3, 9), (2, 9)]),
    ("GRU", dict(reset_after=False), [(4, 9), (3, 9), (9,)]),
    ("SimpleRNN", {}, [(4, 3), (3, 3), (3,)]),
])
def test_weight_layout_matches_keras(keras, kind, kwargs, shapes):
    ours, theirs = getattr(L, kind)(3, **kwargs), getattr(keras.layers, kind)(3, **kwargs)
    x = np.zeros((2, 5, 4), np.float32)
    ours(x)
    theirs(x)
    assert [w.shape for w in ours.get_weights()] == shapes == [tuple(w.shape) for w in theirs.get_weights()]
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]


def test_set_weights_wrong_shape_names_both_shapes():
    layer = L.LSTM(3, name="enc")
    layer(np.zeros((1, 2, 4), np.float32))
    weights = layer.get_weights()
    weights[1] = np.zeros((4, 12), np.float32)
    with pytest.raises(ValueError, match=r"enc.*weight 1 \('recurrent_kernel'\) expects shape \(3, 12\), "
                                         r"received shape \(4, 12\)"):
        layer.set_weights(weights)
    with pytest.raises(ValueError, match=r"expected 3 arrays.*received 2"):
        layer.set_weights(weights[:2])


# -- masks ---------------------------------------------------------------------------------------
IDS = np.array([[4, 0, 7, 2, 0, 0],   # a hole and a padded tail
                [0, 0, 3, 5, 6, 1],   # leading padding
                [2, 3, 1, 4, 5, 6],   # full
                [0, 0, 0, 0, 0, 0]])  # fully masked


@pytest.mark.parametrize("kind,kwargs", [
    ("LSTM", dict(return_sequences=True, return_state=True)),
    ("LSTM", dict(return_state=True, go_backwards=True)),
    ("GRU", dict(return_sequences=True, go_backwards=True)),
    ("GRU", dict(reset_after=False, return_state=True)),
    ("SimpleRNN", dict(return_sequences=True, return_state=True)),
])
def test_embedding_mask_zero_through_recurrent_layer(keras, kind, kwargs):
    import torch

    rng = np.random.default_rng(3)
    k_emb, k_rnn = keras.layers.Embedding(8, 4, mask_zero=True), getattr(keras.layers, kind)(5, **kwargs)
    o_emb, o_rnn = L.Embedding(8, 4, mask_zero=True), getattr(L, kind)(5, **kwargs)
    ids_t = torch.tensor(IDS)
    k_rnn(k_emb(ids_t))
    _randomize(k_emb, rng, 1.0)
    _randomize(k_rnn, rng)
    k_out = _as_list(k_rnn(k_emb(ids_t)))
    o_emb(IDS)
    o_emb.set_weights(k_emb.get_weights())
    embedded = o_emb(IDS)
    np.testing.assert_array_equal(embedded._keras_mask, IDS != 0)
    o_rnn(embedded)
    o_rnn.set_weights(k_rnn.get_weights())
    o_out = _as_list(o_rnn(embedded))
    for a, b in zip(k_out, o_out):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), atol=TOL, rtol=0)
    if kwargs.get("return_sequences"):
        np.testing.assert_array_equal(o_out[0]._keras_mask, IDS != 0)  # the mask flows on
    else:
        assert getattr(o_out[0], "_keras_mask", None) is None
    # the gradient reaches only the embeddings of unmasked ids
    projections = [rng.normal(size=b.shape).astype(np.float32) for b in o_out]
    o_emb.zero_grad()
    sum(((b * rnnkit.tensor(p)).sum() for b, p in zip(o_out, projections))).backward()
    sum(((a * torch.tensor(p)).sum() for a, p in zip(k_out, projections))).backward()
    np.testing.assert_allclose(o_emb.embeddings.grad, k_emb.embeddings.value.grad.detach().numpy(), atol=TOL, rtol=0)
    np.testing.assert_array_equal(o_emb.embeddings.grad[0], 0)


def test_masking_layer_with_holes_and_padded_tail(keras):
    import torch

    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 7, 3)).astype(np.float32)
    x[0, 2] = 0.0
    x[0, 5:] = 0.0
    x[1, :3] = 0.0
    x[2, 1, 0] = 0.0  # one zero feature does not mask the step
    k_mask, k_gru = keras.layers.Masking(0.0), keras.layers.GRU(4, return_sequences=True)
    k_gru(k_mask(torch.tensor(x)))
    _randomize(k_gru, rng)
    expected = k_gru(k_mask(torch.tensor(x))).detach().numpy()
    o_mask, o_gru = L.Masking(0.0), L.GRU(4, return_sequences=True)
    masked = o_mask(x)
    np.testing.assert_array_equal(masked._keras_mask, np.any(x != 0, axis=-1))
    o_gru(masked)
    o_gru.set_weights(k_gru.get_weights())
    out = o_gru(masked)
    np.testing.assert_allclose(out.detach().numpy(), expected, atol=TOL, rtol=0)
    np.testing.assert_array_equal(out.detach().numpy()[0, 2], out.detach().numpy()[0, 1])  # a hole repeats the previous output
    np.testing.assert_array_equal(out.detach().numpy()[1, :3], 0)  # zeros before the first valid step


def test_mask_propagation_rules():
    x = np.array([[1, 2, 0]])
    emb = L.Embedding(5, 3, mask_zero=True)(x)
    dense = L.Dense(2)(emb)
    np.testing.assert_array_equal(dense._keras_mask, x != 0)  # Dense passes it on
    assert getattr(L.Flatten()(emb), "_keras_mask", None) is None  # Flatten drops it
    assert getattr(L.Embedding(5, 3)(x), "_keras_mask", None) is None


# -- wrappers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_merge_modes_parity(keras, merge_mode):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    make = lambda mod: mod.Bidirectional(mod.LSTM(4, return_sequences=True), merge_mode=merge_mode)  # noqa: E731
    outs = _check_parity(keras, make(keras.layers), make(L), x, rng)
    assert len(outs) == (2 if merge_mode is None else 1)


def test_bidirectional_return_state_backward_layer_and_mask(keras):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 6, 3)).astype(np.float32)
    mask = IDS[:3] != 0

    def make(mod):
        return mod.Bidirectional(mod.GRU(4, return_sequences=True, return_state=True),
                                 backward_layer=mod.GRU(4, activation="relu", return_sequences=True,
                                                        return_state=True, go_backwards=True))

    outs = _check_parity(keras, make(keras.layers), make(L), x, rng, mask=mask)
    assert [o.shape for o in outs] == [(3, 6, 8), (3, 4), (3, 4)]
    np.testing.assert_array_equal(outs[0].detach().numpy()[~mask], 0)  # Bidirectional zeroes masked outputs


def test_time_distributed_dense_and_embedding_parity(keras):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 4, 3)).astype(np.float32)
    _check_parity(keras, keras.layers.TimeDistributed(keras.layers.Dense(5, activation="tanh")),
                  L.TimeDistributed(L.Dense(5, activation="tanh")), x, rng)
    _check_parity(keras, keras.layers.Dense(5, activation="softmax"), L.Dense(5, activation="softmax"), x, rng)


# -- dropout -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,kwargs,dropped", [
    ("LSTM", {}, 0.5), ("GRU", {}, 0.5), ("SimpleRNN", {}, 0.5), ("GRU", dict(reset_after=False), 0.5),
])
def test_input_dropout_is_one_mask_per_sequence(kind, kwargs, dropped):
    rnnkit.manual_seed(0)
    layer = getattr(L, kind)(6, dropout=0.5, return_sequences=True, **kwargs)
    x = rnnkit.tensor(np.random.default_rng(0).normal(size=(64, 5, 10)), requires_grad=True)
    layer(x, training=True).sum().backward()
    zero = x.grad.detach().numpy() == 0  # (B, T, I): the dropped input features
    np.testing.assert_array_equal(zero, np.broadcast_to(zero[:, :1], zero.shape))  # same at every step
    assert abs(zero[:, 0].mean() - dropped) < 0.06


def test_recurrent_dropout_is_one_mask_per_sequence():
    """Linear SimpleRNN with K = 0, U = I: h_T = h_0 * m^T, which is 0 or 2^T only if m is the same each step."""
    rnnkit.manual_seed(1)
    layer = L.SimpleRNN(50, activation="linear", recurrent_dropout=0.5, kernel_initializer="zeros",
                        recurrent_initializer="identity", use_bias=False)
    h0 = np.ones((40, 50), np.float32)
    h_T = layer(np.zeros((40, 4, 2), np.float32), initial_state=[h0], training=True).detach().numpy()
    assert set(np.unique(h_T)) <= {0.0, 16.0}
    assert abs((h_T == 0).mean() - 0.5) < 0.05


def test_lstm_recurrent_dropout_masks_per_gate_and_scaled():
    layer = L.LSTM(8, dropout=0.25, recurrent_dropout=0.5, seed=3)
    layer(np.zeros((2, 3, 5), np.float32))
    assert layer.implementation == 1  # Keras switches to implementation 1 with recurrent dropout
    in_mask, rec_mask = layer.cell.dropout_masks(1000, 5, np.dtype(np.float32), training=True)
    assert in_mask.shape == (4, 1000, 5) and rec_mask.shape == (4, 1000, 8)
    assert set(np.unique(in_mask)) == {0.0, np.float32(1 / 0.75)} and set(np.unique(rec_mask)) == {0.0, 2.0}
    assert abs(in_mask.mean() - 1) < 0.03 and abs(rec_mask.mean() - 1) < 0.03
    assert not np.array_equal(rec_mask[0], rec_mask[1])  # independent gates
    assert layer.cell.dropout_masks(4, 5, np.dtype(np.float32), training=False) == (None, None)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_dropout_is_identity_at_inference_and_fresh_in_training(kind):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 5, 3)).astype(np.float32)
    plain, dropping = getattr(L, kind)(6), getattr(L, kind)(6, dropout=0.5, recurrent_dropout=0.3)
    plain(x)
    dropping(x)
    dropping.set_weights(plain.get_weights())
    np.testing.assert_array_equal(dropping(x).detach().numpy(), plain(x).detach().numpy())
    np.testing.assert_array_equal(dropping(x, training=False).detach().numpy(), plain(x).detach().numpy())
    first, second = dropping(x, training=True).detach().numpy(), dropping(x, training=True).detach().numpy()
    assert not np.allclose(first, plain(x).detach().numpy()) and not np.allclose(first, second)


def test_dropout_layer_statistics_and_noise_shape():
    rnnkit.manual_seed(0)
    x = np.ones((200, 6, 50), np.float32)
    layer = L.Dropout(0.3)
    np.testing.assert_array_equal(layer(x).detach().numpy(), x)
    y = layer(x, training=True).detach().numpy()
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.7)} and abs((y == 0).mean() - 0.3) < 0.01
    y = L.Dropout(0.5, noise_shape=(None, 1, 50))(x, training=True).detach().numpy()
    np.testing.assert_array_equal(y, np.broadcast_to(y[:, :1], y.shape))


def _finite_difference_check(layer, x, loss_of, params, eps=1e-6):
    """Autograd gradients of ``loss_of(layer(x))`` against central differences, in float64."""
    xt = rnnkit.tensor(x, requires_grad=True)
    layer.zero_grad()
    loss_of(layer(xt, training=True)).backward()
    for target, grad in [(x, xt.grad)] + [(p.detach().numpy(), p.grad) for p in params]:
        numeric = np.zeros_like(target)
        for i in np.ndindex(target.shape):
            old = target[i]
            target[i] = old + eps
            up = loss_of(layer(rnnkit.tensor(x), training=True)).item()
            target[i] = old - eps
            down = loss_of(layer(rnnkit.tensor(x), training=True)).item()
            target[i] = old
            numeric[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("kind,kwargs", [
    ("LSTM", dict(dropout=0.3, recurrent_dropout=0.4, return_sequences=True, return_state=True,
                  go_backwards=True)),
    ("GRU", dict(dropout=0.3, recurrent_dropout=0.4, reset_after=False, return_sequences=True)),
    ("GRU", dict(dropout=0.3, return_state=True)),
    ("SimpleRNN", dict(dropout=0.3, recurrent_dropout=0.4, return_sequences=True)),
])
def test_dropout_gradients_by_finite_differences(kind, kwargs):
    """Keras has no reference for a given dropout mask: hold the masks fixed and difference in float64."""
    rng = np.random.default_rng(9)
    B, T, I, H = 2, 4, 3, 3
    layer = getattr(L, kind)(H, dtype="float64", **kwargs)
    x = rng.normal(size=(B, T, I))
    layer(x)
    layer.set_weights([w + rng.normal(scale=0.3, size=w.shape) for w in layer.get_weights()])
    masks = layer.cell.dropout_masks(B, I, np.dtype(np.float64), training=True)
    layer.cell.dropout_masks = lambda *args, **kw: masks  # the same masks for every evaluation
    wrapped = _Masked(layer, np.array([[True, False, True, True], [True, True, True, False]]))
    projections = [rng.normal(size=o.shape) for o in _as_list(wrapped(x, training=True))]

    def loss_of(outs):
        return sum(((o * rnnkit.tensor(p)).sum() for o, p in zip(_as_list(outs), projections)))

    _finite_difference_check(wrapped, x, loss_of, layer.trainable_weights)


class _Masked:
    """Call a layer with a fixed mask (for the finite-difference helper)."""

    def __init__(self, layer, mask):
        self.layer, self.mask = layer, mask

    def __call__(self, x, training):
        return self.layer(x, mask=self.mask, training=training)

    def zero_grad(self):
        self.layer.zero_grad()


# -- statefulness, time_major, unroll, implementation ----------------------------------------------------
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_stateful_chunks_equal_one_pass_and_reset_restarts(kind):
    rng = np.random.default_rng(10)
    x = rng.normal(size=(3, 8, 2)).astype(np.float32)
    whole = getattr(L, kind)(4, return_sequences=True, return_state=True)
    stateful = getattr(L, kind)(4, return_sequences=True, return_state=True, stateful=True)
    full = _as_list(whole(x))
    stateful(x[:, :3])
    stateful.set_weights(whole.get_weights())
    stateful.reset_states()
    chunks = [_as_list(stateful(x[:, a:b])) for a, b in [(0, 3), (3, 5), (5, 8)]]
    np.testing.assert_allclose(np.concatenate([c[0].detach().numpy() for c in chunks], axis=1), full[0].detach().numpy(), atol=1e-6)
    for got, want in zip(chunks[-1][1:], full[1:]):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), atol=1e-6)
    stateful.reset_states()
    np.testing.assert_allclose(_as_list(stateful(x[:, :3]))[0].detach().numpy(), full[0].detach().numpy()[:, :3], atol=1e-6)
    with pytest.raises(ValueError, match="batch size 3.*got 2"):
        stateful(x[:2])
    with pytest.raises(AttributeError, match="stateful"):
        whole.reset_states()


@pytest.mark.parametrize("kind, kwargs", [("LSTM", {}), ("GRU", {}), ("GRU", dict(reset_after=False)),
                                           ("LSTM", dict(use_bias=False)), ("SimpleRNN", {})])
def test_stateful_steps_without_a_graph_equal_the_graph_and_take_the_shortcut(kind, kwargs):
    """A stateful layer stepped under no_grad (online inference) passes its arrays to the op
    without the views' ops; every step, output and carried state, equals the same layer's
    steps with the graph built, and the LSTM and GRU (PyTorch's form) steps reach the compiled
    shortcut."""
    rng = np.random.default_rng(12)
    x = rng.normal(size=(2, 6, 3)).astype(np.float32)
    layers = [getattr(L, kind)(5, return_state=True, stateful=True, **kwargs) for _ in range(2)]
    layers[0](x[:, :1])
    layers[1](x[:, :1])
    layers[1].set_weights(layers[0].get_weights())
    for layer in layers:
        layer.reset_states()
    for t in range(x.shape[1]):
        with rnnkit.no_grad():
            fast = _as_list(layers[0](x[:, t:t + 1]))
        graph = _as_list(layers[1](x[:, t:t + 1]))
        assert graph[0].requires_grad and not fast[0].requires_grad
        for a, b in zip(fast, graph):
            np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-7, err_msg=f"step {t}")
    compiled = kind != "SimpleRNN" and kwargs.get("reset_after", True)  # the fused loops' cells
    assert (layers[0].cell._stream._plan is not None) == (compiled and rnnkit.cells.kernels.active() == "numba")


def test_time_major_unroll_and_implementation_match_default():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    base = L.LSTM(4, return_sequences=True)
    expected = base(x).detach().numpy()
    for kwargs in (dict(time_major=True), dict(unroll=True), dict(implementation=1)):
        layer = L.LSTM(4, return_sequences=True, **kwargs)
        time_major = kwargs.get("time_major", False)
        inputs = x.transpose(1, 0, 2) if time_major else x
        layer(inputs)
        layer.set_weights(base.get_weights())
        out = layer(inputs).detach().numpy()
        np.testing.assert_allclose(out.transpose(1, 0, 2) if time_major else out, expected, atol=1e-6)


def test_seed_001_hello_lstm_return_state():
    h, e, l, o = [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]
    x_data = np.array([[h, e, l, l, o], [e, o, l, l, l], [l, l, e, e, l]], dtype=np.float32)
    rnn = L.LSTM(units=2, return_sequences=False, return_state=True)
    outputs, h_states, c_states = rnn(x_data)
    assert x_data.shape == (3, 5, 4)
    assert outputs.shape == h_states.shape == c_states.shape == (3, 2)
    np.testing.assert_array_equal(outputs.detach().numpy(), h_states.detach().numpy())
    assert not np.allclose(c_states.detach().numpy(), h_states.detach().numpy())


# -- initializers, regularizers, constraints ------------------------------------------------------------
@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
                                  "lecun_normal", "orthogonal", "random_normal", "random_uniform",
                                  "truncated_normal", "zeros", "ones", "identity"])
def test_initializer_distributions_match_keras(keras, name):
    shape = (300, 200)
    rnnkit.manual_seed(0)
    keras.utils.set_random_seed(0)  # Keras's torch truncated normal can (rarely) leave a value past 2 stddev
    ours = initializers.get(name)(shape)
    theirs = np.asarray(keras.initializers.get(name)(shape))
    assert ours.dtype == np.float32 and ours.shape == shape
    scale = float(theirs.std()) + 1e-3
    assert abs(ours.mean() - theirs.mean()) < 0.02 * scale and abs(ours.std() - theirs.std()) < 0.02 * scale
    if "uniform" in name or name.endswith("normal") and name != "random_normal":  # bounded: compare the range
        assert abs(ours.min() - theirs.min()) < 0.05 * scale and abs(ours.max() - theirs.max()) < 0.05 * scale


def test_orthogonal_constant_and_objects():
    rnnkit.manual_seed(0)
    for shape in [(6, 4), (4, 6)]:
        w = initializers.Orthogonal(gain=2.0)(shape)
        gram = w.T @ w if shape[0] > shape[1] else w @ w.T
        np.testing.assert_allclose(gram, 4 * np.eye(min(shape)), atol=1e-5)
    layer = L.LSTM(3, kernel_initializer=initializers.Constant(0.2), recurrent_initializer="identity",
                   bias_initializer=initializers.RandomNormal(stddev=0.0), unit_forget_bias=False)
    layer(np.zeros((1, 2, 2), np.float32))
    kernel, recurrent, bias = layer.get_weights()
    np.testing.assert_array_equal(kernel, 0.2 * np.ones((2, 12), np.float32))
    np.testing.assert_array_equal(recurrent, np.eye(3, 12, dtype=np.float32))
    np.testing.assert_array_equal(bias, 0)


def test_initialisation_draws_from_rnnkit_generator():
    def weights():
        layer = L.GRU(4)
        layer(np.zeros((1, 2, 3), np.float32))
        return layer.get_weights()

    rnnkit.manual_seed(42)
    first = weights()
    rnnkit.manual_seed(42)
    again = weights()
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(weights()[0], first[0])


def test_regularization_losses_match_keras(keras):
    import torch

    rng = np.random.default_rng(12)
    x = rng.normal(size=(4, 5, 3)).astype(np.float32)
    kwargs = dict(kernel_regularizer="l1", recurrent_regularizer=keras.regularizers.L2(0.02),
                  bias_regularizer=keras.regularizers.L1L2(0.01, 0.03), activity_regularizer="l2")
    ours_kwargs = dict(kernel_regularizer="l1", recurrent_regularizer=regularizers.L2(0.02),
                       bias_regularizer=regularizers.L1L2(0.01, 0.03), activity_regularizer="l2")
    theirs, ours = keras.layers.LSTM(4, **kwargs), L.LSTM(4, **ours_kwargs)
    theirs(torch.tensor(x))
    _randomize(theirs, rng)
    theirs(torch.tensor(x))
    ours(x)
    ours.set_weights(theirs.get_weights())
    ours(x)
    k_total, o_total = sum(theirs.losses), sum(ours.losses)
    assert len(ours.losses) == len(theirs.losses) == 4
    np.testing.assert_allclose(o_total.item(), float(k_total), rtol=1e-5)
    k_total.backward()
    o_total.backward()
    for kw, ow in zip(theirs.trainable_weights, ours.trainable_weights):
        np.testing.assert_allclose(ow.grad, kw.value.grad.detach().numpy(), atol=1e-5)
    assert ours.cell.kernel.regularizer is ours.cell.kernel_regularizer
    np.testing.assert_allclose(regularizers.get("l1_l2")(np.ones(3, np.float32)).item(), 0.06, rtol=1e-6)


@pytest.mark.parametrize("name,args", [("max_norm", dict(max_value=1.5)), ("non_neg", {}), ("unit_norm", {}),
                                       ("min_max_norm", dict(min_value=0.5, max_value=1.0, rate=0.7)),
                                       ("max_norm", dict(max_value=1.0, axis=1))])
def test_constraints_match_keras(keras, name, args):
    w = np.random.default_rng(13).normal(size=(5, 4)).astype(np.float32)
    ours = {"max_norm": constraints.MaxNorm, "non_neg": constraints.NonNeg, "unit_norm": constraints.UnitNorm,
            "min_max_norm": constraints.MinMaxNorm}[name](**args)
    theirs = {"max_norm": keras.constraints.MaxNorm, "non_neg": keras.constraints.NonNeg,
              "unit_norm": keras.constraints.UnitNorm, "min_max_norm": keras.constraints.MinMaxNorm}[name](**args)
    np.testing.assert_allclose(ours(w), np.asarray(theirs(w)), atol=1e-6)
    layer = L.GRU(3, kernel_constraint=name, recurrent_constraint=ours)
    layer(np.zeros((1, 2, 5), np.float32))
    assert isinstance(layer.cell.kernel.constraint, type(ours)) and layer.cell.recurrent_kernel.constraint is ours


# -- bad input --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make,error,pattern", [
    (lambda: L.LSTM(-3), ValueError, r"units.*>= 1.*-3"),
    (lambda: L.LSTM(2.5), TypeError, r"units.*2\.5"),
    (lambda: L.GRU(4, activation="tanhh"), ValueError, r"activation.*'tanhh'"),
    (lambda: L.LSTM(4, recurrent_activation="softmax"), ValueError, r"recurrent_activation.*'softmax'"),
    (lambda: L.SimpleRNN(4, kernel_initializer="glorot"), ValueError, r"kernel_initializer.*'glorot'"),
    (lambda: L.LSTM(4, recurrent_regularizer="l3"), ValueError, r"recurrent_regularizer.*'l3'"),
    (lambda: L.LSTM(4, dropout=1.5), ValueError, r"dropout.*1\.5"),
    (lambda: L.LSTM(4, implementation=3), ValueError, r"implementation.*3"),
    (lambda: L.LSTM(4, use_cudnn="yes"), ValueError, r"use_cudnn.*'yes'"),
    (lambda: L.LSTM(4, return_sequence=True), TypeError, r"return_sequence"),
    (lambda: L.Bidirectional(L.LSTM(2), merge_mode="max"), ValueError, r"merge_mode.*'max'"),
    (lambda: L.Dense(0), ValueError, r"units.*0"),
    (lambda: L.Embedding(10, 4, lora_rank=2), ValueError, r"lora_rank"),
])
def test_bad_arguments_raise_clear_errors(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_bad_inputs_raise_clear_errors():
    layer = L.LSTM(3, name="enc")
    with pytest.raises(ValueError, match=r"enc.*3-D input.*shape \(5, 4\)"):
        layer(np.zeros((5, 4), np.float32))
    layer(np.zeros((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match=r"inputs\.shape\[-1\] == 4.*\(2, 5, 7\)"):
        layer(np.zeros((2, 5, 7), np.float32))
    with pytest.raises(ValueError, match=r"initial_state.*expects 2"):
        layer(np.zeros((2, 5, 4), np.float32), initial_state=[np.zeros((2, 3), np.float32)])
    with pytest.raises(ValueError, match=r"initial_state\[1\].*\(2, 3\).*\(2, 4\)"):
        layer(np.zeros((2, 5, 4), np.float32), initial_state=[np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match=r"mask.*\(2, 5\).*\(2, 4\)"):
        layer(np.zeros((2, 5, 4), np.float32), mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, input_dim=5\).*\[0, 9\]"):
        L.Embedding(5, 2)(np.array([[0, 9]]))
    with pytest.raises(ValueError, match=r"count_params.*not built"):
        L.GRU(2).count_params()


def test_activations_registry():
    from rnnkit.keras import activations

    z = np.array([-4.0, -1.0, 0.0, 2.0], np.float32)
    np.testing.assert_allclose(activations.get("hard_sigmoid")(z).detach().numpy(), np.clip(z / 6 + 0.5, 0, 1))
    np.testing.assert_allclose(activations.get("softmax")(z).detach().numpy().sum(), 1.0, rtol=1e-6)
    assert activations.get(None)(z).detach().numpy() is not None and activations.serialize(activations.get("swish")) == "silu"
    with pytest.raises(ValueError, match="'nope'"):
        activations.get("nope")
