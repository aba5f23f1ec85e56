"""rnnkit.nn.RNN/LSTM/GRU and the cells against torch.nn, through the module API.

Weights go from torch to rnnkit through ``state_dict`` (the names must match); outputs,
final states and the gradients of the input, the initial state and every parameter must
agree within 1e-10 in float64.
"""

import itertools

import numpy as np
import pytest

import rnnkit
from rnnkit import nn

torch = pytest.importorskip("torch", reason="torch is the numeric reference for these tests")

ATOL = 1e-10


def _copy_into(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _close(a, b, what):
    np.testing.assert_allclose(np.asarray(a), b.detach().numpy(), rtol=0, atol=ATOL, err_msg=what)


def _run_both(kind, kwargs, x_np, h0_np=None, c0_np=None, seed=0):
    torch.manual_seed(seed)
    theirs = getattr(torch.nn, kind)(**kwargs).double()
    ours = getattr(nn, kind)(**kwargs, dtype=np.float64)
    _copy_into(ours, theirs)

    xt = torch.tensor(x_np, requires_grad=True)
    x = rnnkit.tensor(x_np, requires_grad=True)
    args_t, args_o = [xt], [x]
    states_t, states_o = [], []
    if h0_np is not None:
        states_t = [torch.tensor(s, requires_grad=True) for s in (h0_np, c0_np) if s is not None]
        states_o = [rnnkit.tensor(s, requires_grad=True) for s in (h0_np, c0_np) if s is not None]
        args_t.append(tuple(states_t) if kind == "LSTM" else states_t[0])
        args_o.append(tuple(states_o) if kind == "LSTM" else states_o[0])
    out_t, hid_t = theirs(*args_t)
    out_o, hid_o = ours(*args_o)
    hid_t = hid_t if isinstance(hid_t, tuple) else (hid_t,)
    hid_o = hid_o if isinstance(hid_o, tuple) else (hid_o,)

    rng = np.random.default_rng(seed + 1)
    grads = [rng.standard_normal(out_t.shape)] + [rng.standard_normal(h.shape) for h in hid_t]
    torch.autograd.backward([out_t, *hid_t], [torch.tensor(g) for g in grads])
    loss = (out_o * rnnkit.tensor(grads[0])).sum()
    for h, g in zip(hid_o, grads[1:]):
        loss = loss + (h * rnnkit.tensor(g)).sum()
    loss.backward()

    _close(out_o.detach().numpy(), out_t, "output")
    for a, b in zip(hid_o, hid_t):
        _close(a.detach().numpy(), b, "final state")
    _close(x.grad, xt.grad, "d input")
    for a, b in zip(states_o, states_t):
        _close(a.grad, b.grad, "d initial state")
    theirs_params = dict(theirs.named_parameters())
    ours_params = dict(ours.named_parameters())
    assert ours_params.keys() == theirs_params.keys()
    for name, p in ours_params.items():
        _close(p.grad, theirs_params[name].grad, f"d {name}")
    return ours, theirs


MATRIX = [
    (kind, extra, layers, bidir)
    for kind, extra in [("RNN", {"nonlinearity": "tanh"}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}),
                        ("LSTM", {"proj_size": 3}), ("GRU", {})]
    for layers, bidir in itertools.product((1, 2, 3), (False, True))
]


@pytest.mark.parametrize("kind,extra,layers,bidir", MATRIX)
def test_layer_matches_torch(kind, extra, layers, bidir):
    T, B, I, H = 5, 3, 4, 6
    rng = np.random.default_rng(layers * 10 + bidir)
    D = 2 if bidir else 1
    H_out = extra.get("proj_size", H)
    x = rng.standard_normal((T, B, I))
    h0 = rng.standard_normal((layers * D, B, H_out))
    c0 = rng.standard_normal((layers * D, B, H)) if kind == "LSTM" else None
    kwargs = dict(input_size=I, hidden_size=H, num_layers=layers, bidirectional=bidir, **extra)
    _run_both(kind, kwargs, x, h0, c0)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_batch_first_no_bias_no_initial_state(kind):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, 3))  # (B, T, I)
    _run_both(kind, dict(input_size=3, hidden_size=5, num_layers=2, bias=False, batch_first=True,
                         bidirectional=True), x)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_unbatched_input(kind):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((7, 3))  # (T, I)
    h0 = rng.standard_normal((2, 5))
    c0 = rng.standard_normal((2, 5)) if kind == "LSTM" else None
    ours, _ = _run_both(kind, dict(input_size=3, hidden_size=5, num_layers=2), x, h0, c0)
    out, _ = ours(x)
    assert out.shape == (7, 5)


@pytest.mark.parametrize("kind,extra", [("RNN", {}), ("LSTM", {}), ("LSTM", {"proj_size": 2}), ("GRU", {})])
@pytest.mark.parametrize("batch_first", [False, True])
def test_packed_sequence_matches_torch(kind, extra, batch_first):
    from torch.nn.utils.rnn import pack_padded_sequence as t_pack, pad_packed_sequence as t_pad

    from rnnkit.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    T, B, I, H = 6, 4, 3, 5
    lengths = [4, 6, 1, 3]  # unsorted: enforce_sorted=False
    rng = np.random.default_rng(5)
    shape = (B, T, I) if batch_first else (T, B, I)
    x_np = rng.standard_normal(shape)
    torch.manual_seed(0)
    kwargs = dict(input_size=I, hidden_size=H, num_layers=2, bidirectional=True, batch_first=batch_first, **extra)
    theirs = getattr(torch.nn, kind)(**kwargs).double()
    ours = getattr(nn, kind)(**kwargs, dtype=np.float64)
    _copy_into(ours, theirs)

    xt = torch.tensor(x_np, requires_grad=True)
    x = rnnkit.tensor(x_np, requires_grad=True)
    out_t, hid_t = theirs(t_pack(xt, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False))
    out_o, hid_o = ours(pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False))
    pad_t, len_t = t_pad(out_t, batch_first=batch_first)
    pad_o, len_o = pad_packed_sequence(out_o, batch_first=batch_first)
    np.testing.assert_array_equal(np.asarray(len_o), len_t.detach().numpy())
    _close(pad_o.detach().numpy(), pad_t, "padded output")
    hid_t = hid_t if isinstance(hid_t, tuple) else (hid_t,)
    hid_o = hid_o if isinstance(hid_o, tuple) else (hid_o,)
    for a, b in zip(hid_o, hid_t):
        _close(a.detach().numpy(), b, "final state")

    g = rng.standard_normal(pad_t.shape)
    gh = [rng.standard_normal(h.shape) for h in hid_t]
    torch.autograd.backward([pad_t, *hid_t], [torch.tensor(g), *[torch.tensor(v) for v in gh]])
    loss = (pad_o * rnnkit.tensor(g)).sum()
    for h, v in zip(hid_o, gh):
        loss = loss + (h * rnnkit.tensor(v)).sum()
    loss.backward()
    _close(x.grad, xt.grad, "d input")
    for name, p in ours.named_parameters():
        _close(p.grad, dict(theirs.named_parameters())[name].grad, f"d {name}")


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_lengths_argument_equals_packed_torch(kind):
    from torch.nn.utils.rnn import pack_padded_sequence as t_pack, pad_packed_sequence as t_pad

    T, B, I, H = 5, 3, 2, 4
    lengths = np.array([5, 2, 3])
    rng = np.random.default_rng(6)
    x_np = rng.standard_normal((T, B, I))
    torch.manual_seed(1)
    theirs = getattr(torch.nn, kind)(I, H, bidirectional=True).double()
    ours = getattr(nn, kind)(I, H, bidirectional=True, dtype=np.float64)
    _copy_into(ours, theirs)
    out_t, hid_t = theirs(t_pack(torch.tensor(x_np), torch.tensor(lengths), enforce_sorted=False))
    pad_t, _ = t_pad(out_t, total_length=T)
    out_o, hid_o = ours(x_np, lengths=lengths)
    _close(out_o.detach().numpy(), pad_t, "output with lengths")
    assert np.all(out_o.detach().numpy()[3:, 1] == 0)  # past each length the output is zero
    hid_t = hid_t if isinstance(hid_t, tuple) else (hid_t,)
    hid_o = hid_o if isinstance(hid_o, tuple) else (hid_o,)
    for a, b in zip(hid_o, hid_t):
        _close(a.detach().numpy(), b, "final state with lengths")


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(kind, batched):
    torch.manual_seed(2)
    theirs = getattr(torch.nn, kind)(4, 6).double()
    ours = getattr(nn, kind)(4, 6, dtype=np.float64)
    _copy_into(ours, theirs)
    rng = np.random.default_rng(7)
    lead = (3,) if batched else ()
    x_np = rng.standard_normal(lead + (4,))
    states_np = [rng.standard_normal(lead + (6,)) for _ in range(2 if kind == "LSTMCell" else 1)]
    xt, x = torch.tensor(x_np, requires_grad=True), rnnkit.tensor(x_np, requires_grad=True)
    st = [torch.tensor(s, requires_grad=True) for s in states_np]
    so = [rnnkit.tensor(s, requires_grad=True) for s in states_np]
    out_t = theirs(xt, tuple(st) if kind == "LSTMCell" else st[0])
    out_o = ours(x, tuple(so) if kind == "LSTMCell" else so[0])
    out_t = out_t if isinstance(out_t, tuple) else (out_t,)
    out_o = out_o if isinstance(out_o, tuple) else (out_o,)
    gs = [rng.standard_normal(o.shape) for o in out_t]
    torch.autograd.backward(list(out_t), [torch.tensor(g) for g in gs])
    loss = sum(((o * rnnkit.tensor(g)).sum() for o, g in zip(out_o, gs)), rnnkit.tensor(0.0, dtype=np.float64))
    loss.backward()
    for a, b in zip(out_o, out_t):
        _close(a.detach().numpy(), b, "cell output")
    _close(x.grad, xt.grad, "d input")
    for a, b in zip(so, st):
        _close(a.grad, b.grad, "d state")
    for name, p in ours.named_parameters():
        _close(p.grad, dict(theirs.named_parameters())[name].grad, f"d {name}")


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_cells_without_a_graph_match_torch(kind, batched, with_state):
    """Under no_grad a cell step takes the array path (no graph ops): same numbers as torch."""
    torch.manual_seed(3)
    theirs = getattr(torch.nn, kind)(4, 6).double()
    ours = getattr(nn, kind)(4, 6, dtype=np.float64)
    _copy_into(ours, theirs)
    rng = np.random.default_rng(8)
    lead = (3,) if batched else ()
    x_np = rng.standard_normal(lead + (4,))
    states_np = [rng.standard_normal(lead + (6,)) for _ in range(2 if kind == "LSTMCell" else 1)]
    pack = (lambda s: tuple(s) if kind == "LSTMCell" else s[0]) if with_state else (lambda s: None)
    with torch.no_grad():
        out_t = theirs(torch.tensor(x_np), pack([torch.tensor(s) for s in states_np]))
    with rnnkit.no_grad():
        out_o = ours(rnnkit.tensor(x_np), pack([rnnkit.tensor(s) for s in states_np]))
    out_t = out_t if isinstance(out_t, tuple) else (out_t,)
    out_o = out_o if isinstance(out_o, tuple) else (out_o,)
    for a, b in zip(out_o, out_t):
        assert a.shape == tuple(b.shape) and not a.requires_grad
        _close(a.detach().numpy(), b, "cell output without a graph")


def test_dropout_between_layers_only_in_training():
    rnnkit.manual_seed(0)
    lstm = nn.LSTM(3, 8, num_layers=3, dropout=0.5)
    x = rnnkit.randn(6, 2, 3)
    lstm.eval()
    a, _ = lstm(x)
    b, _ = lstm(x)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())  # deterministic in eval
    lstm.train()
    c, _ = lstm(x)
    d, _ = lstm(x)
    assert not np.allclose(c.detach().numpy(), d.detach().numpy())  # fresh masks each call in training
    single = nn.LSTM(3, 8, num_layers=1, dropout=0.0).train()
    e, _ = single(x)
    f, _ = single(x)
    np.testing.assert_array_equal(e.detach().numpy(), f.detach().numpy())  # no dropout after the last layer


def test_state_dict_round_trip_into_torch_and_names():
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    names = list(lstm.state_dict())
    ref = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    assert names == list(ref.state_dict())
    ref.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy()) for k, v in lstm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    out_o, _ = lstm(x)
    out_t, _ = ref(torch.from_numpy(x))
    np.testing.assert_allclose(out_o.detach().numpy(), out_t.detach().numpy(), atol=1e-6)


def test_default_init_matches_torch_distribution():
    lstm = nn.LSTM(10, 25)
    bound = 1 / np.sqrt(25)
    for p in lstm.parameters():
        assert p.dtype == np.float32
        assert np.abs(p.data).max() <= bound
        assert np.abs(p.data).max() > 0.9 * bound  # uniform over the whole range


def test_float64_end_to_end_and_float32_default():
    x32 = np.zeros((3, 2, 4), np.float32)
    out, (h, c) = nn.LSTM(4, 5)(x32)
    assert out.dtype == h.dtype == c.dtype == np.float32
    lstm64 = nn.LSTM(4, 5).double()
    out, (h, c) = lstm64(x32.astype(np.float64))
    assert out.dtype == h.dtype == c.dtype == np.float64
    assert all(p.dtype == np.float64 for p in lstm64.parameters())


@pytest.mark.parametrize(
    "make,call,exc,words",
    [
        (lambda: nn.LSTM(4, 5), lambda m: m(np.zeros((2, 3, 4, 1), np.float32)), ValueError, ["input", "4-D"]),
        (lambda: nn.LSTM(4, 5), lambda m: m(np.zeros((2, 3, 7), np.float32)), ValueError, ["input_size=4", "7"]),
        (lambda: nn.LSTM(4, 5), lambda m: m(np.zeros((2, 3, 4), np.int64)), TypeError, ["input", "int64"]),
        (lambda: nn.GRU(4, 5), lambda m: m(np.zeros((2, 3, 4), np.float32), np.zeros((2, 3, 5), np.float32)),
         ValueError, ["hx", "(1, 3, 5)", "(2, 3, 5)"]),
        (lambda: nn.LSTM(4, 5), lambda m: m(np.zeros((2, 3, 4), np.float32), np.zeros((1, 3, 5), np.float32)),
         TypeError, ["hx", "tuple"]),
        (lambda: nn.LSTM(4, 5), lambda m: m(np.zeros((2, 3, 4), np.float32), lengths=[1, 0, 2]), ValueError,
         ["lengths", "[1, 2]"]),
        (lambda: nn.LSTM(4, 5), lambda m: m(np.zeros((2, 3, 4), np.float32), lengths=[1, 3, 2]), ValueError,
         ["lengths", "max 3"]),
    ],
)
def test_bad_input_names_the_argument(make, call, exc, words):
    module = make()
    with pytest.raises(exc) as info:
        call(module)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    "build,exc,words",
    [
        (lambda: nn.RNN(4, 5, nonlinearity="sigmoid"), ValueError, ["nonlinearity", "sigmoid"]),
        (lambda: nn.LSTM(4, 0), ValueError, ["hidden_size", "0"]),
        (lambda: nn.LSTM(4, 5.5), TypeError, ["hidden_size", "5.5"]),
        (lambda: nn.LSTM(4, 5, dropout=1.5), ValueError, ["dropout", "1.5"]),
        (lambda: nn.LSTM(4, 5, proj_size=5), ValueError, ["proj_size", "5"]),
        (lambda: nn.GRU(4, 5, proj_size=2), TypeError, ["proj_size"]),
        (lambda: nn.LSTM(4, 5, dtype=np.int32), TypeError, ["dtype", "int32"]),
    ],
)
def test_bad_options_name_the_argument(build, exc, words):
    with pytest.raises(exc) as info:
        build()
    for word in words:
        assert word in str(info.value)


def test_load_state_dict_errors_name_every_key():
    lstm = nn.LSTM(3, 4)
    state = dict(lstm.state_dict())
    state.pop("bias_hh_l0")
    state["weight_ih_l0"] = np.zeros((5, 3), np.float32)
    state["extra"] = np.zeros(1)
    with pytest.raises(ValueError) as info:
        lstm.load_state_dict(state)
    message = str(info.value)
    for word in ["bias_hh_l0", "extra", "weight_ih_l0", "(16, 3)", "(5, 3)"]:
        assert word in message


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_steps_without_a_graph_match_torch_and_take_the_shortcut(kind, batched, bias):
    """A cell's step under no_grad goes from the module straight to the compiled step (LSTM and
    GRU, where the kernel is numba's) for batched and unbatched inputs, with and without a state
    and biases; every step matches torch's, and a graph step on the same cell still does."""
    torch.manual_seed(7)
    theirs = getattr(torch.nn, kind)(3, 5, bias=bias).double()
    ours = getattr(nn, kind)(3, 5, bias=bias, dtype=np.float64)
    _copy_into(ours, theirs)
    rng = np.random.default_rng(8)
    state_t = state_o = None
    for t in range(4):
        x_np = rng.standard_normal((2, 3) if batched else (3,))
        with torch.no_grad():
            state_t = theirs(torch.tensor(x_np), state_t)
        with rnnkit.no_grad():
            state_o = ours(rnnkit.tensor(x_np), state_o)
        pairs = zip(state_o, state_t) if kind == "LSTMCell" else [(state_o, state_t)]
        for a, b in pairs:
            assert a.shape == tuple(b.shape) and not a.requires_grad
            _close(a.numpy(), b, f"state after step {t}")
    shortcut = kind != "RNNCell" and rnnkit.cells.kernels.active() == "numba"
    assert (ours._stream._plan is not None) == shortcut
    x_np = rng.standard_normal((2, 3) if batched else (3,))
    got = ours(rnnkit.tensor(x_np), state_o)  # with the graph: the op, differentiable
    want = theirs(torch.tensor(x_np), state_t)
    for a, b in (zip(got, want) if kind == "LSTMCell" else [(got, want)]):
        assert a.requires_grad
        _close(a.detach().numpy(), b, "a graph step after the shortcut's")


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "LSTMCell", "GRUCell"])
def test_streaming_steps_between_training_steps_match_torch(kind):
    """Online use: a step at a time under no_grad (the streaming shortcut, which keeps its checks
    between calls), with an optimizer step, a state_dict load and a replaced parameter between
    the steps. Every step matches torch's for the weights as they are then."""
    torch.manual_seed(5)
    theirs = getattr(torch.nn, kind)(4, 6).double()
    ours = getattr(nn, kind)(4, 6, dtype=np.float64)
    _copy_into(ours, theirs)
    opt_t = torch.optim.Adam(theirs.parameters(), lr=0.1)
    opt_o = rnnkit.optim.Adam(ours.parameters(), lr=0.1)
    rng = np.random.default_rng(6)
    cell = kind.endswith("Cell")
    state_t = state_o = None
    for t in range(8):
        x_np = rng.standard_normal((2, 4) if cell else (1, 2, 4))
        with torch.no_grad():
            got_t = theirs(torch.tensor(x_np), state_t)
        with rnnkit.no_grad():
            got_o = ours(rnnkit.tensor(x_np), state_o)
        state_t, state_o = (got_t, got_o) if cell else (got_t[1], got_o[1])
        flat_t = [state_t] if torch.is_tensor(state_t) else list(state_t)
        flat_o = [state_o] if isinstance(state_o, rnnkit.Tensor) else list(state_o)
        for a, b in zip(flat_o, flat_t):
            _close(a.numpy(), b, f"state after step {t}")
        if t == 2:  # a training step: the optimizer updates every parameter in place
            for model, opt, lib in ((theirs, opt_t, torch), (ours, opt_o, rnnkit)):
                out = model(lib.tensor(x_np))
                out = out[0] if isinstance(out, tuple) else out
                opt.zero_grad()
                (out * out).sum().backward()
                opt.step()
        if t == 4:  # new weights loaded
            theirs.load_state_dict({k: v * 0.9 for k, v in theirs.state_dict().items()})
            _copy_into(ours, theirs)
        if t == 6:  # a parameter replaced by a new one
            name = "weight_hh" if cell else "weight_hh_l0"
            value = rng.standard_normal(tuple(getattr(theirs, name).shape)) * 0.3
            setattr(theirs, name, torch.nn.Parameter(torch.tensor(value)))
            setattr(ours, name, nn.Parameter(rnnkit.tensor(value)))
