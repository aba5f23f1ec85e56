"""Non-recurrent layers, containers, initialisers and the Module contract, against torch in float64."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest

import rnnkit
from rnnkit import nn
from rnnkit.nn import functional as F
from helpers import close

torch = pytest.importorskip("torch", reason="parity tests compare against torch")

RNG = np.random.default_rng(1)


def randn(*shape):
    return RNG.standard_normal(shape)


def run_both(ours, ref, x, int_input=False):
    """Forward both modules on ``x``, backward a random upstream gradient, compare everything."""
    if int_input:
        x_ours, x_ref = x, torch.tensor(x)
    else:
        x_ours, x_ref = rnnkit.tensor(x, requires_grad=True, dtype=np.float64), torch.tensor(x, requires_grad=True)
    y_ours, y_ref = ours(x_ours), ref(x_ref)
    close(y_ours, y_ref)
    g = randn(*y_ref.shape)
    y_ours.backward(g)
    y_ref.backward(torch.tensor(g))
    if not int_input:
        close(x_ours.grad, x_ref.grad)
    ours_params = dict(ours.named_parameters())
    ref_params = dict(ref.named_parameters())
    assert list(ours_params) == list(ref_params)
    for name, p in ref_params.items():
        close(ours_params[name].grad, p.grad)
    return y_ours


# -- Linear --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(shape, bias):
    ref = torch.nn.Linear(4, 3, bias=bias, dtype=torch.float64)
    ours = nn.Linear(4, 3, bias=bias, dtype=np.float64)
    ours.load_state_dict(ref.state_dict())
    run_both(ours, ref, randn(*shape))
    assert list(ours.state_dict()) == list(ref.state_dict())


def test_functional_linear_matches_torch():
    x, w, b = randn(2, 5), randn(3, 5), randn(3)
    close(F.linear(x, rnnkit.tensor(w), rnnkit.tensor(b)), torch.nn.functional.linear(*map(torch.tensor, (x, w, b))))
    close(F.linear(x, rnnkit.tensor(w)), torch.nn.functional.linear(torch.tensor(x), torch.tensor(w)))


def test_linear_init_follows_torch_distribution():
    rnnkit.manual_seed(0)
    layer = nn.Linear(256, 300)
    bound = 1 / math.sqrt(256)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    assert np.abs(layer.weight.data).max() <= bound
    assert np.abs(layer.bias.data).max() <= bound
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert layer.weight.data.mean() == pytest.approx(0.0, abs=0.002)


def test_linear_init_is_reproducible_with_manual_seed():
    rnnkit.manual_seed(7)
    a = nn.Linear(3, 2)
    rnnkit.manual_seed(7)
    b = nn.Linear(3, 2)
    c = nn.Linear(3, 2)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(b.weight.data, c.weight.data)


def test_linear_accepts_ndarrays_and_checks_input():
    layer = nn.Linear(4, 2)
    out = layer(np.ones((3, 4)))  # float64 ndarray -> module dtype
    assert out.dtype == np.float32 and out.shape == (3, 2)
    assert layer([1.0, 2.0, 3.0, 4.0]).shape == (2,)
    with pytest.raises(TypeError, match="input: expected floating-point data, got dtype int64"):
        layer(np.ones((3, 4), np.int64))
    with pytest.raises(ValueError, match=r"input: expected last dimension 4 \(in_features\), got shape \(3, 5\)"):
        layer(np.ones((3, 5)))
    with pytest.raises(TypeError, match=r"input: expected dtype float32 \(the module.s parameters\), got rnnkit.float64"):
        layer(rnnkit.tensor(np.ones((3, 4)), dtype=np.float64))


def test_linear_validates_arguments():
    with pytest.raises(TypeError, match="dtype: expected np.float32 or np.float64, got int32"):
        nn.Linear(2, 2, dtype=np.int32)
    with pytest.raises(TypeError, match="dtype"):
        nn.Linear(2, 2, dtype="not a dtype")
    with pytest.raises(ValueError, match="in_features: expected an int >= 0, got -1"):
        nn.Linear(-1, 2)
    with pytest.raises(TypeError, match="out_features: expected an int, got float"):
        nn.Linear(2, 2.5)
    assert "in_features=2, out_features=3, bias=False" in repr(nn.Linear(2, 3, bias=False))


# -- Embedding -------------------------------------------------------------------------
@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
def test_embedding_matches_torch(padding_idx):
    ref = torch.nn.Embedding(10, 4, padding_idx=padding_idx, dtype=torch.float64)
    ours = nn.Embedding(10, 4, padding_idx=padding_idx, dtype=np.float64)
    assert ours.padding_idx == ref.padding_idx
    ours.load_state_dict(ref.state_dict())
    indices = np.array([[0, 3, 3, 9, 1], [9, 9, 0, 3, 2], [5, 5, 5, 0, 3]])  # repeats and padding rows
    run_both(ours, ref, indices, int_input=True)
    if padding_idx is not None:
        assert not ours.weight.grad[ours.padding_idx].any()


def test_embedding_gradient_is_a_scatter_add():
    emb = nn.Embedding(4, 2, dtype=np.float64)
    out = emb([1, 1, 3, 1])
    out.backward(np.ones((4, 2)))
    np.testing.assert_array_equal(emb.weight.grad, [[0, 0], [3, 3], [0, 0], [1, 1]])


def test_embedding_init_and_padding_row():
    rnnkit.manual_seed(0)
    emb = nn.Embedding(500, 64, padding_idx=2)
    assert emb.weight.dtype == np.float32
    assert not emb.weight.data[2].any()
    assert emb.weight.data.std() == pytest.approx(1.0, rel=0.02)


def test_embedding_scalar_and_from_pretrained():
    table = randn(5, 3)
    emb = nn.Embedding.from_pretrained(table)
    assert emb.weight.dtype == np.float64 and not emb.weight.requires_grad
    np.testing.assert_array_equal(emb(np.array(2)).data, table[2])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad


def test_embedding_validates_input():
    emb = nn.Embedding(5, 3)
    with pytest.raises(ValueError, match=r"input: expected indices in \[0, 5\) \(num_embeddings\), got 5"):
        emb([0, 5])
    with pytest.raises(ValueError, match="got -1"):
        emb([-1])
    with pytest.raises(TypeError, match="input: expected integer class indices, got dtype float64"):
        emb(np.array([1.0]))
    with pytest.raises(ValueError, match=r"padding_idx: expected a value in \[-5, 5\), got 5"):
        nn.Embedding(5, 3, padding_idx=5)


# -- Dropout ---------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_training_statistics_and_scaling(p):
    rnnkit.manual_seed(0)
    n = 200_000
    drop = nn.Dropout(p)
    x = rnnkit.tensor(np.ones(n), requires_grad=True, dtype=np.float64)
    out = drop(x)
    y = out.detach().numpy()
    dropped = y == 0
    np.testing.assert_allclose(y[~dropped], 1 / (1 - p))  # survivors are scaled by 1 / (1 - p)
    sigma = math.sqrt(p * (1 - p) / n)
    assert abs(dropped.mean() - p) < 5 * sigma
    assert abs(y.mean() - 1.0) < 5 * sigma / (1 - p)  # the expectation is preserved
    g = randn(n)
    out.backward(g)
    np.testing.assert_allclose(x.grad, g * y)  # the same mask scales the gradient


def test_dropout_eval_and_edge_probabilities():
    x = rnnkit.tensor(randn(4, 5), requires_grad=True)
    drop = nn.Dropout(0.5).eval()
    assert not drop.training
    np.testing.assert_array_equal(drop(x).data, x.data)
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).data, x.data)
    y = nn.Dropout(1.0)(x)
    assert not y.data.any()
    y.sum().backward()
    assert not x.grad.any()
    np.testing.assert_array_equal(F.dropout(x, 0.9, training=False).data, x.data)


def test_dropout_is_reproducible_and_keeps_dtype():
    x = np.ones((8, 8), np.float32)
    rnnkit.manual_seed(3)
    a = nn.Dropout(0.5)(x)
    rnnkit.manual_seed(3)
    b = nn.Dropout(0.5)(x)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.dtype == np.float32


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_validates_p(p):
    with pytest.raises(ValueError, match=f"p: dropout probability has to be between 0 and 1, but got {p}"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout(np.ones(2), p)


@pytest.mark.parametrize("p", ["0.5", True, None])
def test_dropout_rejects_non_numbers(p):
    with pytest.raises(TypeError, match="p: expected a dropout probability"):
        nn.Dropout(p)


# -- activations and Flatten ------------------------------------------------------------
@pytest.mark.parametrize(
    "ours,ref",
    [
        (nn.Tanh(), torch.nn.Tanh()),
        (nn.ReLU(), torch.nn.ReLU()),
        (nn.Sigmoid(), torch.nn.Sigmoid()),
        (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
        (nn.Softmax(dim=-1), torch.nn.Softmax(dim=-1)),
        (nn.LogSoftmax(dim=0), torch.nn.LogSoftmax(dim=0)),
        (nn.LogSoftmax(dim=2), torch.nn.LogSoftmax(dim=2)),
        (nn.Flatten(), torch.nn.Flatten()),
        (nn.Flatten(0, 1), torch.nn.Flatten(0, 1)),
        (nn.Flatten(-2), torch.nn.Flatten(-2)),
        (nn.Identity(), torch.nn.Identity()),
    ],
    ids=lambda m: repr(m),
)
def test_activations_and_flatten_match_torch(ours, ref):
    run_both(ours, ref, 2 * randn(3, 4, 5))


def test_activations_accept_ndarrays_and_softmax_legacy_dim():
    assert nn.ReLU()(np.array([-1.0, 2.0])).tolist() == [0.0, 2.0]
    x = randn(3, 4)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        out = nn.Softmax()(x)
    with pytest.warns(UserWarning):
        expected = torch.nn.Softmax()(torch.tensor(x))
    close(out, expected)


# -- containers -------------------------------------------------------------------------
def test_sequential_matches_torch():
    ref = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3), torch.nn.LogSoftmax(dim=-1)
    ).double()
    ours = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3), nn.LogSoftmax(dim=-1)).double()
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    run_both(ours, ref, randn(5, 4))


def test_sequential_from_ordered_dict_and_list_behaviour():
    seq = nn.Sequential(OrderedDict([("encoder", nn.Linear(2, 3)), ("act", nn.ReLU()), ("decoder", nn.Linear(3, 1))]))
    ref = torch.nn.Sequential(
        OrderedDict([("encoder", torch.nn.Linear(2, 3)), ("act", torch.nn.ReLU()), ("decoder", torch.nn.Linear(3, 1))])
    )
    assert list(seq.state_dict()) == list(ref.state_dict())
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and seq[-1] is seq.decoder
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is seq.encoder
    assert list(head.state_dict()) == ["encoder.weight", "encoder.bias"]
    assert [type(m) for m in seq] == [nn.Linear, nn.ReLU, nn.Linear]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and seq(np.zeros((1, 2))).shape == (1, 1)
    seq[1] = nn.Tanh()  # replacing keeps the position
    assert list(seq._modules) == ["encoder", "act", "decoder", "3"] and isinstance(seq.act, nn.Tanh)
    del seq[-1]
    assert len(seq) == 3
    with pytest.raises(IndexError, match="index"):
        seq[3]
    with pytest.raises(TypeError, match="expected a Module, got int"):
        nn.Sequential(nn.ReLU(), 3)


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ref_layers = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)])
    assert list(layers.state_dict()) == list(ref_layers.state_dict())
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.Linear(2, 1))
    layers.insert(0, nn.Identity())
    assert [type(m).__name__ for m in layers] == ["Identity", "Linear", "Linear", "Linear", "Linear"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    del layers[0]
    assert list(layers._modules) == ["0", "1", "2", "3"]

    heads = nn.ModuleDict({"a": nn.Linear(2, 1), "b": nn.Linear(2, 3)})
    ref_heads = torch.nn.ModuleDict({"a": torch.nn.Linear(2, 1), "b": torch.nn.Linear(2, 3)})
    assert list(heads.state_dict()) == list(ref_heads.state_dict())
    assert list(heads) == ["a", "b"] and "a" in heads and len(heads) == 2
    heads["c"] = nn.ReLU()
    assert list(heads.keys()) == ["a", "b", "c"]
    assert isinstance(heads.pop("c"), nn.ReLU) and "c" not in heads
    with pytest.raises(KeyError, match="no module named 'z'"):
        heads["z"]


def test_nested_model_state_dict_names_match_torch():
    class Ours(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(5, 3)
            self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(3, 3), nn.Tanh()) for _ in range(2)])
            self.heads = nn.ModuleDict({"out": nn.Linear(3, 5)})

    class Ref(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(5, 3)
            self.blocks = torch.nn.ModuleList([torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Tanh()) for _ in range(2)])
            self.heads = torch.nn.ModuleDict({"out": torch.nn.Linear(3, 5)})

    ours, ref = Ours(), Ref()
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    ours.load_state_dict(ref.state_dict())
    for key, value in ref.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key], value.detach().numpy())


# -- the Module contract --------------------------------------------------------------------
def make_model(seed):
    rnnkit.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Dropout(0.5), nn.Linear(4, 2))


def test_state_dict_round_trip_loads_in_place():
    a, b = make_model(0), make_model(1)
    x = randn(5, 3)
    a.eval(), b.eval()
    assert not np.allclose(a(x).data, b(x).data)
    before = b[0].weight.detach().numpy()
    missing, unexpected = b.load_state_dict(a.state_dict())
    assert missing == [] and unexpected == []
    assert b[0].weight.detach().numpy() is before  # copied into the existing arrays (optimizers keep working)
    np.testing.assert_array_equal(a(x).data, b(x).data)
    state = a.state_dict()
    assert list(state) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert np.shares_memory(state["0.weight"], a[0].weight.data)


def test_load_state_dict_strict_errors_name_every_key():
    model = make_model(0)
    state = dict(model.state_dict())
    state.pop("3.bias")
    state["extra.weight"] = np.zeros(2)
    state["0.weight"] = np.zeros((5, 3))
    with pytest.raises(ValueError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert "missing keys: 3.bias" in message
    assert "unexpected keys: extra.weight" in message
    assert "0.weight: expected shape (4, 3), got (5, 3)" in message


def test_load_state_dict_non_strict():
    model = make_model(0)
    target = make_model(1)
    state = dict(model.state_dict())
    state.pop("3.bias")
    state["extra"] = np.zeros(1)
    missing, unexpected = target.load_state_dict(state, strict=False)
    assert missing == ["3.bias"] and unexpected == ["extra"]
    np.testing.assert_array_equal(target[0].weight.data, model[0].weight.data)
    with pytest.raises(ValueError, match=r"mis-shaped keys: 0.bias: expected shape \(4,\), got \(3,\)"):
        target.load_state_dict({"0.bias": np.zeros(3)}, strict=False)


def test_load_state_dict_from_torch_into_float32_model():
    ref = torch.nn.Linear(3, 2)
    ours = nn.Linear(3, 2)
    ours.load_state_dict(ref.state_dict())
    x = randn(4, 3).astype(np.float32)
    np.testing.assert_allclose(ours(x).data, ref(torch.tensor(x)).detach().numpy(), rtol=1e-6, atol=1e-6)


def test_train_eval_zero_grad_and_dtype_conversion():
    model = make_model(0)
    assert all(m.training for m in model.modules())
    model.eval()
    assert not any(m.training for m in model.modules())
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(model(x).data, model(x).data)  # no dropout in eval
    model.train()
    assert model[2].training
    out = model(x).sum()
    out.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model.eval()(np.ones((2, 3))).dtype == np.float64
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_module_registration_rules():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = nn.Linear(2, 2)
            self.second = nn.Linear(2, 2)
            self.scale = nn.Parameter(np.ones(1, np.float32))
            self.register_buffer("running", np.zeros(2, np.float32))

    net = Net()
    assert list(net.state_dict()) == [  # own parameters, own buffers, then children: torch's order
        "scale", "running", "first.weight", "first.bias", "second.weight", "second.bias"
    ]
    net.first = nn.Linear(2, 2)  # re-assigning keeps the position
    assert list(net._modules) == ["first", "second"]
    net.running = np.ones(2, np.float32)  # assigning to a buffer updates it
    np.testing.assert_array_equal(net.state_dict()["running"], [1, 1])
    net.scale = None
    assert "scale" not in net.state_dict() and net.scale is None
    net.scale = nn.Parameter(np.full(1, 2.0, np.float32))  # a Parameter again: registered, not shadowed
    assert net.scale.data[0] == 2.0 and "scale" in net.state_dict()
    shared = nn.Linear(2, 2)
    tied = nn.Sequential(shared, shared)
    assert len(list(tied.parameters())) == 2  # shared parameters are listed once
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        net.missing


def test_loss_weights_are_buffers_like_torch():
    w = np.array([1.0, 2.0, 3.0])
    assert list(nn.CrossEntropyLoss(weight=w).state_dict()) == list(
        torch.nn.CrossEntropyLoss(weight=torch.tensor(w)).state_dict()
    )
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    assert list(nn.BCEWithLogitsLoss(weight=w, pos_weight=w).state_dict()) == list(
        torch.nn.BCEWithLogitsLoss(weight=torch.tensor(w), pos_weight=torch.tensor(w)).state_dict()
    )


# -- init --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,param",
    [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
     ("leaky_relu", 0.2), ("selu", None), ("conv1d", None)],
)
def test_calculate_gain_matches_torch(name, param):
    assert nn.init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param), rel=1e-12)


def test_calculate_gain_rejects_unknown():
    with pytest.raises(ValueError, match="nonlinearity: expected one of"):
        nn.init.calculate_gain("swish")


def test_uniform_initialisers_respect_their_bounds():
    w = nn.Parameter(np.zeros((200, 300), np.float32))
    array = w.detach().numpy()
    nn.init.xavier_uniform_(w, gain=2.0)
    assert w.detach().numpy() is array  # in place
    bound = 2.0 * math.sqrt(6 / 500)
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.95 * bound
    nn.init.kaiming_uniform_(w, a=math.sqrt(5))
    assert np.abs(w.data).max() <= 1 / math.sqrt(300) + 1e-7
    nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    assert np.abs(w.data).max() <= math.sqrt(2) * math.sqrt(3 / 200) + 1e-7
    nn.init.uniform_(w, -0.1, 0.3)
    assert w.data.min() >= -0.1 and w.data.max() <= 0.3


def test_normal_initialisers_have_their_std():
    w = np.zeros((300, 200))
    nn.init.xavier_normal_(w)
    assert w.std() == pytest.approx(math.sqrt(2 / 500), rel=0.02)
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert w.std() == pytest.approx(math.sqrt(2 / 200), rel=0.02)
    nn.init.normal_(w, mean=1.0, std=0.5)
    assert w.mean() == pytest.approx(1.0, abs=0.01) and w.std() == pytest.approx(0.5, rel=0.02)


def test_constant_initialisers():
    t = rnnkit.zeros(2, 3)
    nn.init.ones_(t)
    assert (t.data == 1).all()
    nn.init.constant_(t, 0.25)
    assert (t.data == 0.25).all()
    nn.init.zeros_(t)
    assert not t.data.any()


@pytest.mark.parametrize("shape", [(4, 6), (6, 4), (5, 5), (3, 2, 2)])
def test_orthogonal(shape):
    w = np.zeros(shape)
    nn.init.orthogonal_(w, gain=1.5)
    flat = w.reshape(shape[0], -1) / 1.5
    small = min(flat.shape)
    gram = flat @ flat.T if flat.shape[0] == small else flat.T @ flat
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)


def test_initialisers_are_reproducible_and_validate():
    a, b = np.zeros((3, 4)), np.zeros((3, 4))
    rnnkit.manual_seed(11)
    nn.init.xavier_uniform_(a)
    rnnkit.manual_seed(11)
    nn.init.xavier_uniform_(b)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(np.zeros(3))
    with pytest.raises(TypeError, match="floating-point"):
        nn.init.normal_(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="mode: expected 'fan_in' or 'fan_out'"):
        nn.init.kaiming_uniform_(np.zeros((2, 2)), mode="fan")


# -- one_hot ---------------------------------------------------------------------------------
def test_one_hot_matches_torch():
    t = np.array([[0, 2], [3, 1]])
    np.testing.assert_array_equal(F.one_hot(t).data, torch.nn.functional.one_hot(torch.tensor(t)).detach().numpy())
    np.testing.assert_array_equal(F.one_hot(t, 6).data, torch.nn.functional.one_hot(torch.tensor(t), 6).detach().numpy())
    assert F.one_hot(t).dtype == np.int64
    with pytest.raises(ValueError, match="num_classes"):
        F.one_hot(t, 3)


def test_functional_all_is_complete():
    for name in F.__all__:
        assert callable(getattr(F, name))
    for name in nn.__all__:
        assert hasattr(nn, name)


@pytest.mark.parametrize("build", [
    lambda d: nn.LayerNorm(4, device=d), lambda d: nn.BatchNorm1d(4, device=d),
    lambda d: nn.MultiheadAttention(4, 2, device=d), lambda d: nn.TransformerEncoderLayer(4, 2, device=d),
    lambda d: nn.TransformerDecoderLayer(4, 2, device=d), lambda d: nn.Transformer(4, 2, 1, 1, 8, device=d),
    lambda d: nn.Transformer.generate_square_subsequent_mask(3, device=d),
])
def test_device_arguments_take_the_cpu_and_refuse_cuda(build):
    build("cpu")
    with pytest.raises(RuntimeError, match="rnnkit runs on the CPU only, got device 'cuda"):
        build("cuda")

