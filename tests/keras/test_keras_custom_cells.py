"""Custom cells written with keras.ops, RNN([cells]) / StackedRNNCells, Layer subclassing and custom_objects,
against Keras 3: the same classes written once per library, with Keras's initial weights copied over."""

from __future__ import annotations


import numpy as np
import pytest

from rnnkit import keras as rk
from helpers import to_numpy as _np
from rnnkit._tensor import Tensor


def cell_classes(lib):
    """keras-io / Keras docs style cells: a minimal RNN cell and a two-state (h, c) peephole-free LSTM cell."""
    ops = lib.ops

    class MinimalRNNCell(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform",
                                          name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="orthogonal",
                                                    name="recurrent_kernel")

        def call(self, inputs, states):
            prev_output = states[0]
            output = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(prev_output, self.recurrent_kernel))
            return output, [output]

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    class TinyLSTMCell(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = [units, units]
            self.output_size = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1] + self.units, 4 * self.units), name="w")
            self.b = self.add_weight(shape=(4 * self.units,), initializer="zeros", name="b")

        def call(self, inputs, states, training=False):
            h, c = states
            z = ops.matmul(ops.concatenate([inputs, h], axis=-1), self.w) + self.b
            i, f, g, o = ops.split(z, 4, axis=-1)
            c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
            h = ops.sigmoid(o) * ops.tanh(c)
            return h, [h, c]

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return MinimalRNNCell, TinyLSTMCell


MASK = np.array([[True] * 6, [True] * 4 + [False] * 2, [True] * 2 + [False] * 4, [True] * 6])


def _pair(K, make):
    K.utils.set_random_seed(0)
    theirs, ours = make(K), make(rk)
    ours.set_weights([_np(w) for w in theirs.get_weights()])
    return ours, theirs


@pytest.mark.parametrize("which", ["minimal", "lstm", "stacked", "stacked_builtin"])
@pytest.mark.parametrize("flags", [{}, {"return_sequences": True, "go_backwards": True},
                                   {"return_state": True, "return_sequences": True}])
def test_custom_and_stacked_cells_match_keras(K, which, flags):
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype(np.float32)

    def make(lib):
        minimal, tiny = cell_classes(lib)
        cell = {"minimal": lambda: minimal(5), "lstm": lambda: tiny(4),
                "stacked": lambda: [minimal(4), tiny(3)],
                "stacked_builtin": lambda: lib.layers.StackedRNNCells([lib.layers.LSTMCell(4),
                                                                       lib.layers.GRUCell(3)])}[which]()
        inp = lib.Input((6, 3))
        masked = lib.layers.Masking()(inp)
        out = lib.layers.RNN(cell, **flags)(masked)
        return lib.Model(inp, out)

    ours, theirs = _pair(K, make)
    xm = x.copy()
    xm[~MASK] = 0.0
    mine, ref = ours.predict(xm, verbose=0), theirs.predict(xm, verbose=0)

    def nesting(value):  # the structure of the outputs: Keras nests a stack's states per cell
        return [nesting(v) for v in value] if isinstance(value, (list, tuple)) else "array"

    def leaves(value):
        return [leaf for v in value for leaf in leaves(v)] if isinstance(value, (list, tuple)) else [value]

    assert nesting(mine) == nesting(ref)
    for a, b in zip(leaves(mine), leaves(ref)):
        np.testing.assert_allclose(a, _np(b), rtol=1e-5, atol=1e-6)


def test_custom_cell_training_and_gradients_match_keras(K):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 5, 3)).astype(np.float32), rng.normal(size=(8, 1)).astype(np.float32)

    def make(lib):
        minimal, tiny = cell_classes(lib)
        return lib.Sequential([lib.Input((5, 3)), lib.layers.RNN(tiny(4), return_sequences=True),
                               lib.layers.RNN([minimal(3), minimal(2)]), lib.layers.Dense(1)])

    ours, theirs = _pair(K, make)
    for model, lib in ((ours, rk), (theirs, K)):
        model.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse")
    mine = ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    ref = theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(mine.history["loss"], ref.history["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _np(b), rtol=1e-4, atol=1e-6)


def test_custom_cell_models_reload_with_custom_objects(tmp_path):
    minimal, tiny = cell_classes(rk)
    inp = rk.Input((5, 3))
    model = rk.Model(inp, rk.layers.Dense(2)(rk.layers.RNN([minimal(3), tiny(2)])(inp)))
    x = np.random.default_rng(2).normal(size=(2, 5, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="MinimalRNNCell"):
        rk.models.model_from_json(model.to_json())
    clone = rk.models.model_from_json(model.to_json(), custom_objects={"MinimalRNNCell": minimal,
                                                                      "TinyLSTMCell": tiny})
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    path = tmp_path / "m.safetensors"
    model.save(path)
    loaded = rk.models.load_model(path, custom_objects={"MinimalRNNCell": minimal, "TinyLSTMCell": tiny})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_bad_cells_fail_clearly():
    with pytest.raises(ValueError, match="call"):
        rk.layers.RNN(object())

    class NoSize:
        def call(self, inputs, states):
            return inputs, states

    with pytest.raises(ValueError, match="state_size"):
        rk.layers.RNN(NoSize())
    with pytest.raises(ValueError, match="dropout"):
        rk.layers.StackedRNNCells([rk.layers.LSTMCell(2, dropout=0.5)])


@pytest.mark.parametrize("name,args", [
    ("matmul", 2), ("add", 2), ("multiply", 2), ("maximum", 2), ("tanh", 1), ("sigmoid", 1), ("softplus", 1),
    ("square", 1), ("exp", 1), ("softmax", 1), ("mean", 1), ("sum", 1), ("var", 1), ("std", 1), ("max", 1),
    ("cumsum", 1), ("transpose", 1), ("expand_dims", 1), ("tile", 1), ("repeat", 1), ("log_softmax", 1),
])
def test_keras_ops_match_keras_values_and_gradients(K, name, args):
    import torch

    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 4)).astype(np.float32)
    b = rng.normal(size=(4, 4) if name == "matmul" else (3, 4)).astype(np.float32)
    extra = {"expand_dims": (1,), "tile": ((2, 1),), "repeat": (2,), "cumsum": (1,)}.get(name, ())
    kwargs = {"mean": {"axis": 1}, "sum": {"axis": 0, "keepdims": True}, "var": {"axis": -1}, "std": {"axis": 0},
              "max": {"axis": 1}}.get(name, {})
    mine_in = [Tensor(v.copy(), requires_grad=True) for v in (a, b)[:args]]
    ref_in = [torch.tensor(v.copy(), requires_grad=True) for v in (a, b)[:args]]
    mine = getattr(rk.ops, name)(*mine_in, *extra, **kwargs)
    ref = getattr(K.ops, name)(*ref_in, *extra, **kwargs)
    np.testing.assert_allclose(mine.detach().numpy(), _np(ref), rtol=1e-5, atol=1e-6)
    r = rng.normal(size=mine.shape).astype(np.float32)
    (mine * Tensor(r)).sum().backward()
    (ref * torch.tensor(r)).sum().backward()
    for x, y in zip(mine_in, ref_in):
        np.testing.assert_allclose(np.asarray(x.grad), _np(y.grad), rtol=1e-5, atol=1e-6)


def test_keras_ops_einsum_split_where_take():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 3, 4)).astype(np.float32), rng.normal(size=(4, 5)).astype(np.float32)
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    out = rk.ops.einsum("bij,jk->bik", ta, tb)
    np.testing.assert_allclose(out.detach().numpy(), np.einsum("bij,jk->bik", a, b), rtol=1e-5)
    out.sum().backward()
    np.testing.assert_allclose(np.asarray(tb.grad), np.einsum("bij,bik->jk", a, np.ones((2, 3, 5))), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(ta.grad), np.broadcast_to(b.sum(1), (2, 3, 4)), rtol=1e-5)
    parts = rk.ops.split(Tensor(a), [1, 3], axis=-1)
    assert [p.shape for p in parts] == [(2, 3, 1), (2, 3, 2), (2, 3, 1)]
    np.testing.assert_array_equal(rk.ops.where(a > 0, a, 0.0).detach().numpy(), np.where(a > 0, a, 0.0))
    np.testing.assert_array_equal(rk.ops.take(Tensor(b), [0, 2], axis=1).detach().numpy(), b[:, [0, 2]])
    with pytest.raises(ValueError, match="repeated"):
        rk.ops.einsum("ii->i", Tensor(b[:4, :4]))


def test_bidirectional_and_time_distributed_around_custom_cells_match_keras(K):
    x = np.random.default_rng(5).normal(size=(3, 5, 4)).astype(np.float32)

    def make(lib):
        minimal, _ = cell_classes(lib)
        inp = lib.Input((5, 4))
        h = lib.layers.Bidirectional(lib.layers.RNN(minimal(3), return_sequences=True))(inp)
        h = lib.layers.TimeDistributed(lib.layers.Dense(2))(h)
        return lib.Model(inp, h)

    with K.saving.custom_object_scope({"MinimalRNNCell": cell_classes(K)[0]}):  # Keras copies it from its config
        ours, theirs = _pair(K, make)
    np.testing.assert_allclose(ours.predict(x, verbose=0), _np(theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-6)


def test_variables_assign_in_place_as_keras(K):
    ours, theirs = rk.layers.Dense(2), K.layers.Dense(2)
    x = np.ones((1, 3), np.float32)
    ours(x)
    theirs(x)
    for layer in (ours, theirs):
        layer.kernel.assign(np.full((3, 2), 0.5, np.float32))
        layer.bias.assign_add(np.array([1.0, 2.0], np.float32))
        layer.bias.assign_sub(np.array([0.5, 0.5], np.float32))
    np.testing.assert_allclose(ours(x).detach().numpy(), _np(theirs(x)), rtol=1e-6)
    assert ours.get_weights()[1].tolist() == [0.5, 1.5]
    with pytest.raises(ValueError, match="shape"):
        ours.kernel.assign(np.zeros((2, 2)))
    v = rk.Variable("ones", shape=(2,), name="v")
    assert v.detach().numpy().tolist() == [1.0, 1.0] and v.name == "v"


def test_registered_and_scoped_custom_cells_load_by_name():
    minimal, _ = cell_classes(rk)
    layer = rk.layers.RNN(minimal(2))
    config = rk.layers.serialize(layer)
    with pytest.raises(ValueError, match="MinimalRNNCell"):
        rk.layers.deserialize(config)
    with rk.saving.custom_object_scope({"MinimalRNNCell": minimal}):
        assert isinstance(rk.layers.deserialize(config).cell, minimal)
    with pytest.raises(ValueError, match="MinimalRNNCell"):  # the scope is gone
        rk.layers.deserialize(config)
    registered = rk.saving.register_keras_serializable(package="tests")(minimal)
    try:
        assert isinstance(rk.layers.deserialize(config).cell, registered)
        assert rk.saving.get_custom_objects()["tests>MinimalRNNCell"] is registered
    finally:
        from rnnkit.keras._registry import LAYERS
        LAYERS.remove("MinimalRNNCell")
        LAYERS.remove("tests>MinimalRNNCell")


def test_subclassed_layer_in_sequential_and_functional_models_trains_as_keras(K):
    """A Layer subclass with build / add_weight / call / get_config, as keras-io's custom layers."""

    def layer_class(lib):
        class ScaledResidual(lib.layers.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.units = units

            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform",
                                         name="w")
                self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

            def call(self, inputs):
                return lib.ops.relu(lib.ops.matmul(inputs, self.w)) * self.scale

            def get_config(self):
                return {**super().get_config(), "units": self.units}

        return ScaledResidual

    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(12, 4, 3)).astype(np.float32), rng.normal(size=(12, 1)).astype(np.float32)

    def make(lib):
        custom = layer_class(lib)
        inner = lib.Sequential([lib.Input((4, 3)), custom(5), lib.layers.GRU(3)])
        inp = lib.Input((4, 3))
        return lib.Model(inp, lib.layers.Dense(1)(custom(2)(inner(inp))))

    ours, theirs = _pair(K, make)
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss="mse")
    ours.fit(x, y, batch_size=4, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=4, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _np(b), rtol=1e-4, atol=1e-6)
    custom = layer_class(rk)
    clone = rk.models.model_from_json(ours.to_json(), custom_objects={"ScaledResidual": custom})
    clone.set_weights(ours.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-6)
