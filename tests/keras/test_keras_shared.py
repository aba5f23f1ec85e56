"""The Keras dialect on the shared parts: layers are nn.Modules, optimizers are rnnkit.optim optimizers
clipping with nn.utils.clip_grad, one plateau count, one orthogonal initialiser, from-logits losses
from nn.functional; and the package's structure (no import circle, no locals()/__getattr__ forwarding)."""

from __future__ import annotations

import ast
import pathlib

import numpy as np
import pytest

import rnnkit
from rnnkit import keras as rk
from rnnkit import manual_seed, nn, optim

KERAS_SRC = pathlib.Path(rk.__file__).parent


def _lstm_model(seed=0):
    manual_seed(seed)
    return rk.Sequential([rk.Input((5, 3)), rk.layers.LSTM(4, name="lstm"), rk.layers.Dense(2, name="head")])


# -- layers are nn.Modules ---------------------------------------------------------------------------
def test_keras_weights_are_the_module_parameters():
    model = _lstm_model()
    assert isinstance(model, nn.Module) and isinstance(model.get_layer("lstm").cell, nn.Module)
    names = [name for name, _ in model.named_parameters()]
    assert names == ["lstm.cell.kernel", "lstm.cell.recurrent_kernel", "lstm.cell.bias", "head.kernel", "head.bias"]
    assert [p for _, p in model.named_parameters()] == model.weights  # the same objects, Keras's order
    state = model.state_dict()
    assert list(state) == names
    for key, weight in zip(state, model.get_weights()):
        np.testing.assert_array_equal(np.asarray(state[key]), weight)
    assert model.get_layer("lstm") in list(model.modules())
    assert {"kernel", "bias", "get_weights", "named_parameters"} <= set(dir(model.get_layer("head")))
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(model.forward(x).detach().numpy(), model(x).detach().numpy())


def test_state_dict_moves_weights_between_keras_models():
    source, target = _lstm_model(seed=1), _lstm_model(seed=2)
    x = np.random.default_rng(1).normal(size=(3, 5, 3)).astype(np.float32)
    assert not np.allclose(source(x).detach().numpy(), target(x).detach().numpy())
    target.load_state_dict(source.state_dict())
    np.testing.assert_array_equal(source(x).detach().numpy(), target(x).detach().numpy())
    assert [w.tolist() for w in source.get_weights()] == [w.tolist() for w in target.get_weights()]


def test_rnnkit_optim_trains_a_keras_model_through_parameters():
    model = _lstm_model()
    model.get_layer("lstm").trainable = False  # frozen weights: listed, with requires_grad False
    before = model.get_weights()
    opt = optim.SGD(model.parameters(), lr=0.5)
    x = np.random.default_rng(2).normal(size=(4, 5, 3)).astype(np.float32)
    loss = rnnkit.nn.functional.mse_loss(model(x), np.ones((4, 2), np.float32))
    loss.backward()
    opt.step()
    after = model.get_weights()
    assert [p.requires_grad for p in model.parameters()] == [False, False, False, True, True]
    for old, new in zip(before[:3], after[:3]):
        np.testing.assert_array_equal(old, new)
    for old, new in zip(before[3:], after[3:]):
        assert np.abs(old - new).max() > 1e-4


def test_subclassed_model_registers_attribute_layers():
    class Net(rk.Model):
        def __init__(self):
            super().__init__()
            self.encoder = rk.layers.GRU(3)
            self.head = rk.layers.Dense(1)

        def call(self, x, training=False):
            return self.head(self.encoder(x))

    net = Net()
    net(np.zeros((2, 4, 2), np.float32))
    assert [n for n, _ in net.named_parameters()] == [
        "encoder.cell.kernel", "encoder.cell.recurrent_kernel", "encoder.cell.bias", "head.kernel", "head.bias"]
    assert net.layers == [net.encoder, net.head]
    assert len(net.get_weights()) == 5


def test_model_call_forms_give_the_keras_classes():
    x = rk.Input((4, 2))
    y = rk.layers.Dense(3)(x)
    assert type(rk.Model(x, y)).__name__ == type(rk.Model(inputs=x, outputs=y)).__name__ == "Functional"

    class Encoder(rk.Model):  # Keras 3: building the graph in a subclass makes it a Functional model
        def __init__(self):
            inputs = rk.Input((4, 2))
            super().__init__(inputs, rk.layers.LSTM(3)(inputs), name="encoder")

    encoder = Encoder()
    assert isinstance(encoder, rk.models.Functional) and encoder.name == "encoder"
    assert encoder(np.zeros((5, 4, 2), np.float32)).shape == (5, 3)
    assert len(list(encoder.parameters())) == 3
    with pytest.raises(ValueError, match="both inputs and outputs"):
        rk.Model(inputs=x)


def test_recurrent_layer_attributes_are_visible():
    lstm = rk.layers.LSTM(3, dropout=0.25, unit_forget_bias=False)
    names = dir(lstm)
    for attribute in ("units", "dropout", "unit_forget_bias", "recurrent_activation", "kernel_initializer"):
        assert attribute in names
    assert (lstm.units, lstm.dropout, lstm.unit_forget_bias) == (3, 0.25, False)
    assert "reset_after" in dir(rk.layers.GRU(2)) and "reset_after" not in dir(lstm)
    with pytest.raises(AttributeError):
        rk.layers.SimpleRNN(2).recurrent_activation  # noqa: B018 - SimpleRNN has none, as in Keras


# -- optimizers ------------------------------------------------------------------------------------------
def test_keras_optimizer_is_an_rnnkit_optimizer():
    rng = np.random.default_rng(3)
    start = [rng.normal(size=s).astype(np.float32) for s in [(3, 2), (2,)]]
    grads = [[rng.normal(size=w.shape).astype(np.float32) for w in start] for _ in range(4)]
    weights = [nn.Parameter(w) for w in start]
    opt = rk.optimizers.Adam(learning_rate=0.05)
    assert isinstance(opt, optim.Optimizer)
    for step in grads[:2]:
        opt.apply(step, weights)
    assert opt.param_groups[0]["params"] == weights and sorted(opt.state[weights[0]]) == ["momentum", "velocity",
                                                                                          "velocity_hat"]
    saved = opt.state_dict()
    # A fresh optimizer built on copies of the weights continues identically from the state dict ...
    copies = [nn.Parameter(w.detach().numpy().copy()) for w in weights]
    resumed = rk.optimizers.Adam(learning_rate=0.05)
    resumed.build(copies)
    resumed.load_state_dict(saved)
    assert resumed.iterations == 2
    # ... and step() (PyTorch's loop, reading .grad) is apply() of the gradients.
    for step in grads[2:]:
        opt.apply(step, weights)
        for w, g in zip(copies, step):
            w.grad = rnnkit.Tensor(g)  # .grad is a Tensor, as torch
        resumed.step()
    for a, b in zip(weights, copies):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    with pytest.raises(ValueError, match="iterations"):
        resumed.load_state_dict({"state": {}, "param_groups": saved["param_groups"]})


@pytest.mark.parametrize("option", [{"clipnorm": 0.7}, {"global_clipnorm": 1.5}, {"clipvalue": 0.3}])
def test_clipping_matches_keras(keras, option):
    import torch

    rng = np.random.default_rng(5)
    start = [rng.normal(size=s).astype(np.float32) for s in [(4, 3), (3,)]]
    # gradients whose norms lie below, near and well above the clipping thresholds
    scales = [0.05, 0.5, 1.0, 4.0]
    steps = [[s * rng.normal(size=w.shape).astype(np.float32) for w in start] for s in scales]
    ours = [nn.Parameter(w.copy()) for w in start]
    theirs = [keras.Variable(w.copy()) for w in start]
    opt = rk.optimizers.SGD(learning_rate=0.1, **option)
    ref = keras.optimizers.SGD(learning_rate=0.1, **option)
    grads = [g.copy() for g in steps[0]]
    for step in steps:
        opt.apply(step, ours)
        ref.apply([torch.tensor(g) for g in step], theirs)
        for mine, other in zip(ours, theirs):
            np.testing.assert_allclose(mine.detach().numpy(), keras.ops.convert_to_numpy(other), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(grads[0], steps[0][0])  # the caller's gradients are not clipped in place


# -- one plateau count -------------------------------------------------------------------------------------
def test_reduce_lr_on_plateau_matches_keras(keras):
    from types import SimpleNamespace

    rng = np.random.default_rng(6)
    for trial in range(40):
        patience, cooldown = int(rng.integers(0, 4)), int(rng.integers(0, 4))
        min_lr = float(rng.choice([0.0, 0.02]))
        values = rng.choice([1.0, 0.9, 0.8, 1.2], size=int(rng.integers(5, 25)))
        ours = rk.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=patience, cooldown=cooldown,
                                              min_lr=min_lr, min_delta=0.05)
        theirs = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=patience,
                                                   cooldown=cooldown, min_lr=min_lr, min_delta=0.05)
        ours.set_model(SimpleNamespace(optimizer=rk.optimizers.SGD(learning_rate=0.1), metrics=[]))
        theirs.set_model(SimpleNamespace(optimizer=keras.optimizers.SGD(learning_rate=0.1), metrics=[]))
        ours.on_train_begin()
        theirs.on_train_begin()
        for epoch, value in enumerate(values):
            ours.on_epoch_end(epoch, {"loss": float(value)})
            theirs.on_epoch_end(epoch, {"loss": float(value)})
            expected = float(keras.ops.convert_to_numpy(theirs.model.optimizer.learning_rate))
            assert ours.model.optimizer.learning_rate == pytest.approx(expected, rel=1e-6), (trial, epoch)


# -- one orthogonal initialiser -------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 4), (5, 5), (3, 8)])
def test_orthogonal_initialisers_share_one_construction(shape):
    manual_seed(11)
    torch_style = nn.init.orthogonal_(np.zeros(shape), gain=1.5)
    manual_seed(11)
    keras_style = rk.initializers.Orthogonal(gain=1.5)(shape, dtype="float64")
    rows, cols = shape
    if rows >= cols:  # a tall matrix is drawn the same way by both frameworks: the same weights
        np.testing.assert_allclose(torch_style, keras_style, rtol=1e-12, atol=1e-12)
    small = min(rows, cols)
    for w in (torch_style, keras_style):
        gram = w @ w.T if rows < cols else w.T @ w
        np.testing.assert_allclose(gram, 2.25 * np.eye(small), atol=1e-10)


# -- from-logits losses through nn.functional ------------------------------------------------------------------
@pytest.mark.parametrize("axis", [-1, 1])
def test_logits_crossentropy_on_any_axis_matches_keras(keras, axis):
    import torch

    rng = np.random.default_rng(7)
    logits = rng.normal(size=(2, 4, 3)).astype(np.float32)
    rest = tuple(np.delete(logits.shape, axis))  # the shape without the class axis
    target = np.moveaxis(rng.dirichlet(np.ones(logits.shape[axis]), size=rest), -1, axis).astype(np.float32)
    z = nn.Parameter(logits)
    ours = rk.losses.categorical_crossentropy(target, z, from_logits=True, axis=axis)  # (2, 3)
    rk.losses.reduce_weighted_values(ours, reduction="sum").backward()
    tz = torch.tensor(logits, requires_grad=True)
    theirs = keras.losses.categorical_crossentropy(torch.tensor(target), tz, from_logits=True, axis=axis)
    theirs.sum().backward()
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(z.grad), tz.grad.detach().numpy(), rtol=1e-5, atol=1e-6)


# -- structure -------------------------------------------------------------------------------------------------
def _keras_modules() -> dict[str, ast.Module]:
    modules = {}
    for path in sorted(KERAS_SRC.rglob("*.py")):
        parts = path.relative_to(KERAS_SRC.parent.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = ast.parse(path.read_text())
    return modules


def _imported(name: str, node: ast.AST, modules: dict) -> set[str]:
    """The rnnkit.keras modules a module-level import statement loads."""
    out = set()
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rnnkit.keras"):
        submodules = {f"{node.module}.{a.name}" for a in node.names} & modules.keys()
        # ``from package import submodule`` needs the submodule, not the rest of the package's body
        out.update(submodules if len(submodules) == len(node.names) else submodules | {node.module})
    elif isinstance(node, ast.Import):
        out.update(a.name for a in node.names if a.name.startswith("rnnkit.keras"))
    return {m for m in out if m in modules and m != name}


def test_keras_has_no_import_circle_and_no_function_level_imports():
    modules = _keras_modules()
    graph = {}
    for name, tree in modules.items():
        graph[name] = set()
        for node in tree.body:
            graph[name] |= _imported(name, node, modules)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        module = inner.module if isinstance(inner, ast.ImportFrom) else inner.names[0].name
                        assert not (module or "").startswith("rnnkit"), f"{name}.{node.name} imports {module}"
    # A module's package is imported before it: count that edge too (parent -> child imports form cycles).
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                raise AssertionError("import circle: " + " -> ".join(path + [target]))
            if target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_keras_forwards_nothing_through_locals_or_getattr():
    for name, tree in _keras_modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                assert node.name != "__getattr__", f"{name} defines __getattr__"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "locals", f"{name} calls locals()"
