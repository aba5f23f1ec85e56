"""rnnkit.cells: parity with torch.nn.RNN/LSTM/GRU, the fast path against each cell's step()
(with torch autograd for the steps' gradients), finite differences, dtypes and errors."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import close_scaled, random_case, scan_forward
from rnnkit.cells import activations, common, gru, lstm, rnn, scan

GATES = {mode: cell.gates for mode, cell in scan.CELLS.items()}
pytestmark = pytest.mark.usefixtures("torch_single_thread")


# ----------------------------------------------------------------------------- torch parity

PARITY_CONFIGS = [
    # (num_layers, bidirectional, bias, lengths, initial state)
    (1, False, True, False, True),
    (2, True, True, True, True),
    (3, False, False, True, False),
    (1, True, False, False, False),
    (2, False, True, True, True),
    (3, True, True, True, False),
]
PARITY_MODES = [("RNN_TANH", 0), ("RNN_RELU", 0), ("LSTM", 0), ("LSTM", 3), ("GRU", 0)]


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("mode,proj", PARITY_MODES, ids=[f"{m}-proj{p}" for m, p in PARITY_MODES])
@pytest.mark.parametrize("L,bidir,bias,use_lengths,init", PARITY_CONFIGS,
                         ids=[f"L{c[0]}-{'bi' if c[1] else 'uni'}-{'bias' if c[2] else 'nobias'}-"
                              f"{'len' if c[3] else 'full'}-{'h0' if c[4] else 'noh0'}" for c in PARITY_CONFIGS])
def test_parity_with_torch(mode, proj, L, bidir, bias, use_lengths, init):
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    T, B, I, H = 7, 4, 5, 6
    D = 2 if bidir else 1
    P = proj or H
    torch.manual_seed(hash((mode, proj, L, bidir, bias, use_lengths, init)) % 2**31)
    kw = dict(num_layers=L, bidirectional=bidir, bias=bias, dtype=torch.float64)
    if mode.startswith("RNN"):
        m = torch.nn.RNN(I, H, nonlinearity=mode[4:].lower(), **kw)
    elif mode == "LSTM":
        m = torch.nn.LSTM(I, H, proj_size=proj, **kw)
    else:
        m = torch.nn.GRU(I, H, **kw)
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(L * D, B, P, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(L * D, B, H, dtype=torch.float64, requires_grad=True)
    lengths = np.array([7, 3, 1, 5])[:B] if use_lengths else None
    hx = None
    if init:
        hx = (h0, c0) if mode == "LSTM" else h0
    if lengths is not None:
        packed = pack_padded_sequence(x, torch.as_tensor(lengths), enforce_sorted=False)
        out_p, hn = m(packed, hx)
        out_t, _ = pad_packed_sequence(out_p, total_length=T)
    else:
        out_t, hn = m(x, hx)
    h_t, c_t = hn if mode == "LSTM" else (hn, None)
    g_out = torch.randn_like(out_t)
    g_h = torch.randn_like(h_t)
    g_c = None if c_t is None else torch.randn_like(c_t)
    loss = (out_t * g_out).sum() + (h_t * g_h).sum() + (0 if c_t is None else (c_t * g_c).sum())
    loss.backward()

    names = m._flat_weights_names
    per = len(names) // (L * D)
    flat = [w.detach().numpy() for w in m._flat_weights]
    weights = [tuple(flat[k * per:(k + 1) * per]) for k in range(L * D)]
    out, h_n, c_n, cache = scan_forward(
        mode, x.detach().numpy(), h0.detach().numpy() if init else None,
        c0.detach().numpy() if (init and mode == "LSTM") else None, weights,
        num_layers=L, bidirectional=bidir, proj_size=proj, lengths=lengths)
    close_scaled(out, out_t.detach().numpy(), "out")
    close_scaled(h_n, h_t.detach().numpy(), "h_n")
    if mode == "LSTM":
        close_scaled(c_n, c_t.detach().numpy(), "c_n")
    else:
        assert c_n is None
    dx, dh0, dc0, dweights = scan.backward(g_out.numpy(), g_h.numpy(), None if g_c is None else g_c.numpy(), cache)
    close_scaled(dx, x.grad.numpy(), "dx")
    if init:
        close_scaled(dh0, h0.grad.numpy(), "dh0")
        if mode == "LSTM":
            close_scaled(dc0, c0.grad.numpy(), "dc0")
    for k in range(L * D):
        assert len(dweights[k]) == per
        for j in range(per):
            close_scaled(dweights[k][j], m._flat_weights[k * per + j].grad.numpy(), f"d{names[k * per + j]}")


# ------------------------------------------------------------- fast path vs reference (torch autograd)

def _torch_act(name):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    # torch's hardsigmoid backward multiplies by a float32 1/6 even in float64: use its definition
    hard_sigmoid = lambda v: torch.clamp(v + 3, 0, 6) / 6  # noqa: E731
    return {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": F.relu, "hard_sigmoid": hard_sigmoid,
            "linear": lambda v: v, "exponential": torch.exp, "elu": F.elu, "selu": F.selu,
            "softplus": F.softplus, "softsign": F.softsign, "silu": F.silu, "swish": F.silu,
            "gelu": F.gelu}[name]


def _dropout_mask(rng, shape, p=0.3):
    return (rng.random(shape) >= p) / (1 - p)


def _reference_scan(mode, x, h0, c0, w, *, mask=None, in_mask=None, rec_mask=None, activation=None,
                    recurrent_activation=None, reset_after=True, go_backwards=False, masked_output="zero"):
    """One layer, one direction, in torch, from the cells' step() and Keras's masking rules literally."""
    torch = pytest.importorskip("torch")
    t = lambda a: None if a is None else torch.as_tensor(a)  # noqa: E731
    x, h0, c0, in_mask, rec_mask = map(t, (x, h0, c0, in_mask, rec_mask))
    w = [t(a) for a in w]
    m = None if mask is None else torch.as_tensor(mask, dtype=x.dtype)
    if go_backwards:
        x = torch.flip(x, [0])
        m = None if m is None else torch.flip(m, [0])
    W_ih, W_hh, b_ih, b_hh, W_hr = w
    kw = dict(W_ih=W_ih, W_hh=W_hh, b_ih=b_ih, b_hh=b_hh, m_x=in_mask, m_h=rec_mask)
    if mode == "LSTM":
        step, state = lstm.step, (h0[0], c0[0])
        kw.update(act=_torch_act(activation or "tanh"), rec_act=_torch_act(recurrent_activation or "sigmoid"),
                      W_hr=W_hr)
    elif mode == "GRU":
        step, state = gru.step, (h0[0],)
        kw.update(act=_torch_act(activation or "tanh"), rec_act=_torch_act(recurrent_activation or "sigmoid"),
                      reset_after=reset_after)
    else:
        step, state = rnn.step, (h0[0],)
        kw.update(act=_torch_act(activation or ("relu" if mode == "RNN_RELU" else "tanh")))
    states = common.run(step, x, state, m, **kw)
    outs, prev = [], torch.zeros_like(states[0][0])
    for k, s in enumerate(states):
        if m is None:
            o = s[0]
        else:
            keep = m[k][:, None]
            o = keep * s[0] + (1 - keep) * (0 * prev if masked_output == "zero" else prev)
        outs.append(o)
        prev = o
    out = torch.stack(outs)
    final = states[-1]
    return out, final[0][None], (final[1][None] if mode == "LSTM" else None), (x, h0, c0, w)


def _compare_with_reference(mode, rng, *, proj=0, bias=True, scale=0.5, **options):
    torch = pytest.importorskip("torch")
    x, h0, c0, w = random_case(mode, rng, proj=proj, bias=bias, scale=scale)
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0, requires_grad=True)
    c0t = None if c0 is None else torch.tensor(c0, requires_grad=True)
    wt = [None if a is None else torch.tensor(a, requires_grad=True) for a in w]
    out_r, h_r, c_r, _ = _reference_scan(mode, xt, h0t, c0t, wt, **options)
    g_out, g_h = rng.normal(size=tuple(out_r.shape)), rng.normal(size=tuple(h_r.shape))
    g_c = None if c_r is None else rng.normal(size=tuple(c_r.shape))
    loss = (out_r * torch.tensor(g_out)).sum() + (h_r * torch.tensor(g_h)).sum()
    if c_r is not None:
        loss = loss + (c_r * torch.tensor(g_c)).sum()
    loss.backward()

    in_mask, rec_mask = options.pop("in_mask", None), options.pop("rec_mask", None)
    out, h_n, c_n, cache = scan_forward(mode, x, h0, c0, [w], proj_size=proj, input_dropout_masks=[in_mask],
                                        rec_dropout_masks=[rec_mask], **options)
    close_scaled(out, out_r.detach().numpy(), "out")
    close_scaled(h_n, h_r.detach().numpy(), "h_n")
    if c_r is not None:
        close_scaled(c_n, c_r.detach().numpy(), "c_n")
    dx, dh0, dc0, (dw,) = scan.backward(g_out, g_h, g_c, cache)
    close_scaled(dx, xt.grad.numpy(), "dx")
    close_scaled(dh0, h0t.grad.numpy(), "dh0")
    if c_r is not None:
        close_scaled(dc0, c0t.grad.numpy(), "dc0")
    for name, g, a in zip(("W_ih", "W_hh", "b_ih", "b_hh", "W_hr"), dw, wt):
        if a is None:
            assert g is None, name
        else:
            close_scaled(g, a.grad.numpy(), "d" + name)


def _holey_mask(rng, T=6, B=3):
    mask = rng.random((T, B)) < 0.6
    mask[:, 0] = True  # one full sequence
    mask[:2, 1] = False  # one starting with masked steps
    mask[-1, -1] = False  # one ending with a masked step
    return mask


REF_CASES = {
    "rnn-tanh-holes": ("RNN_TANH", {}, dict(mask=True)),
    "rnn-relu-recmask-inmask": ("RNN_RELU", {}, dict(in_mask=(None,), rec_mask=(None,))),
    "rnn-softsign-carry-back": ("RNN_TANH", {}, dict(mask=True, activation="softsign", masked_output="carry",
                                                    go_backwards=True)),
    "lstm-holes-carry": ("LSTM", {}, dict(mask=True, masked_output="carry")),
    "lstm-recmask-shared": ("LSTM", {}, dict(rec_mask=(None,), in_mask=(None,), mask=True)),
    "lstm-recmask-pergate": ("LSTM", {}, dict(rec_mask=(4,), in_mask=(4,), mask=True, go_backwards=True)),
    "lstm-hardsig-relu": ("LSTM", {}, dict(activation="relu", recurrent_activation="hard_sigmoid", mask=True)),
    "lstm-swish-elu-proj": ("LSTM", dict(proj=3), dict(activation="elu", recurrent_activation="swish",
                                                       rec_mask=(None,), mask=True)),
    "lstm-proj-nobias": ("LSTM", dict(proj=2, bias=False), dict(mask=True, go_backwards=True)),
    "gru-holes": ("GRU", {}, dict(mask=True)),
    "gru-reset-before": ("GRU", {}, dict(reset_after=False, mask=True, masked_output="carry")),
    "gru-reset-before-pergate": ("GRU", {}, dict(reset_after=False, rec_mask=(3,), in_mask=(3,), mask=True)),
    "gru-reset-after-pergate": ("GRU", {}, dict(rec_mask=(3,), in_mask=(3,), mask=True, go_backwards=True)),
    "gru-selu-hardsig-nobias": ("GRU", dict(bias=False), dict(activation="selu", recurrent_activation="hard_sigmoid",
                                                              rec_mask=(None,))),
    "lstm-softplus-silu": ("LSTM", dict(scale=0.2), dict(activation="softplus", recurrent_activation="silu")),
    "gru-gelu-exp": ("GRU", {}, dict(activation="gelu", recurrent_activation="sigmoid", mask=True)),
    "rnn-exponential": ("RNN_TANH", dict(scale=0.2), dict(activation="exponential", mask=True)),
    "gru-linear-softsign": ("GRU", dict(scale=0.2), dict(activation="linear", recurrent_activation="softsign")),
    "lstm-linear-softsign": ("LSTM", dict(scale=0.2), dict(activation="linear", recurrent_activation="softsign")),
}


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("case", sorted(REF_CASES))
def test_fast_path_matches_the_steps(case):
    mode, shape_opts, opts = REF_CASES[case]
    rng = np.random.default_rng(sorted(REF_CASES).index(case))
    T, B, I, H = 6, 3, 4, 5
    P = shape_opts.get("proj") or H
    opts = dict(opts)
    if opts.get("mask"):
        opts["mask"] = _holey_mask(rng, T, B)
    if "in_mask" in opts:
        g = opts["in_mask"][0]
        opts["in_mask"] = _dropout_mask(rng, (B, I) if g is None else (g, B, I))
    if "rec_mask" in opts:
        g = opts["rec_mask"][0]
        opts["rec_mask"] = _dropout_mask(rng, (B, P) if g is None else (g, B, P))
    _compare_with_reference(mode, rng, **shape_opts, **opts)


def test_cells_match_their_steps_directly():
    """The cell functions themselves (xw in, no driver) against their step() run over time, in NumPy."""
    rng = np.random.default_rng(7)
    T, B, I, H = 5, 3, 4, 3
    mask = _holey_mask(rng, T, B)
    x = rng.normal(size=(T, B, I))
    for mode, G in (("RNN_TANH", 1), ("LSTM", 4), ("GRU", 3)):
        _, h0, c0, (W_ih, W_hh, b_ih, b_hh, _) = random_case(mode, rng, T=T, B=B, I=I, H=H)
        rec_mask = _dropout_mask(rng, (G, B, H))
        xw = x @ W_ih.T + b_ih
        act = activations.get("tanh").forward
        sig = activations.get("sigmoid").forward
        if mode == "LSTM":
            hs, (h_T, c_T), _ = lstm.forward(xw + b_hh, (h0[0], c0[0]), lstm.Params(W_hh), mask=mask, rec_mask=rec_mask)
            ref = common.run(lstm.step, x, (h0[0], c0[0]), mask, W_ih=W_ih, W_hh=W_hh, b_ih=b_ih,
                                b_hh=b_hh, act=act, rec_act=sig, m_h=rec_mask)
            close_scaled(c_T, ref[-1][1], "c_T")
        elif mode == "GRU":
            b_fold = np.concatenate([b_hh[:2 * H], np.zeros(H)])
            hs, (h_T,), _ = gru.forward(xw + b_fold, (h0[0],), gru.Params(W_hh, b_hh[2 * H:]), mask=mask,
                                        rec_mask=rec_mask)
            ref = common.run(gru.step, x, (h0[0],), mask, W_ih=W_ih, W_hh=W_hh, b_ih=b_ih, b_hh=b_hh,
                                act=act, rec_act=sig, m_h=rec_mask)
        else:
            hs, (h_T,), _ = rnn.forward(xw + b_hh, (h0[0],), rnn.Params(W_hh), mask=mask, rec_mask=rec_mask)
            ref = common.run(rnn.step, x, (h0[0],), mask, W_ih=W_ih, W_hh=W_hh, b_ih=b_ih, b_hh=b_hh,
                                act=act, m_h=rec_mask)
        close_scaled(hs, np.stack([s[0] for s in ref]), f"{mode} hs")
        close_scaled(h_T, ref[-1][0], f"{mode} h_T")


# ----------------------------------------------------------------------------- finite differences

def _fd_check(mode, rng, n_checks=12, proj=0, scale=0.5, **options):
    """Central differences of L = <out, g> + <h_n, gh> (+ <c_n, gc>) for x, h0, c0 and every weight."""
    x, h0, c0, w = random_case(mode, rng, T=5, B=2, I=3, H=3, proj=proj, scale=scale)
    in_mask, rec_mask = options.pop("in_mask", None), options.pop("rec_mask", None)
    opts = dict(options, proj_size=proj, input_dropout_masks=[in_mask], rec_dropout_masks=[rec_mask])
    out, h_n, c_n, cache = scan_forward(mode, x, h0, c0, [w], **opts)
    g, gh = rng.normal(size=out.shape), rng.normal(size=h_n.shape)
    gc = None if c_n is None else rng.normal(size=c_n.shape)

    def loss():
        o, hn, cn, _ = scan_forward(mode, x, h0, c0, [w], need_grad=False, **opts)
        return np.sum(o * g) + np.sum(hn * gh) + (0.0 if cn is None else np.sum(cn * gc))

    dx, dh0, dc0, (dw,) = scan.backward(g, gh, gc, cache)
    arrays = [("x", x, dx), ("h0", h0, dh0)] + ([("c0", c0, dc0)] if c0 is not None else [])
    arrays += [(n, a, d) for n, a, d in zip(("W_ih", "W_hh", "b_ih", "b_hh", "W_hr"), w, dw) if a is not None]
    eps = 1e-6
    for name, a, d in arrays:
        for idx in rng.choice(a.size, size=min(n_checks, a.size), replace=False):
            i = np.unravel_index(idx, a.shape)
            old = a[i]
            a[i] = old + eps
            up = loss()
            a[i] = old - eps
            down = loss()
            a[i] = old
            num = (up - down) / (2 * eps)
            assert abs(num - d[i]) <= 1e-6 * max(1.0, abs(num)), f"{mode} d{name}{i}: fd {num} vs bptt {d[i]}"


def test_fd_gru_reset_before():
    _fd_check("GRU", np.random.default_rng(1), reset_after=False)


def test_fd_gru_reset_before_masks_and_dropout():
    rng = np.random.default_rng(2)
    _fd_check("GRU", rng, reset_after=False, mask=_holey_mask(rng, 5, 2), rec_mask=_dropout_mask(rng, (3, 2, 3)),
              in_mask=_dropout_mask(rng, (2, 3)))


@pytest.mark.parametrize("mode", ["RNN_TANH", "LSTM", "GRU"])
def test_fd_rec_mask_and_arbitrary_mask(mode):
    rng = np.random.default_rng(3)
    G = GATES[mode]
    _fd_check(mode, rng, mask=_holey_mask(rng, 5, 2), rec_mask=_dropout_mask(rng, (2, 3)),
              masked_output="carry")
    _fd_check(mode, rng, mask=_holey_mask(rng, 5, 2), rec_mask=_dropout_mask(rng, (G, 2, 3)), go_backwards=True)


def test_fd_lstm_projection_with_mask():
    rng = np.random.default_rng(4)
    _fd_check("LSTM", rng, proj=2, mask=_holey_mask(rng, 5, 2), rec_mask=_dropout_mask(rng, (2, 2)))


@pytest.mark.parametrize("name", sorted(set(activations.ACTIVATIONS) - {"swish"}))
def test_fd_each_activation(name):
    rng = np.random.default_rng(5)
    # every role; small weights keep the unbounded ones (linear, exponential...) from exploding
    _fd_check("LSTM", rng, n_checks=6, scale=0.05, activation=name)
    _fd_check("LSTM", rng, n_checks=6, scale=0.2, recurrent_activation=name)
    _fd_check("GRU", rng, n_checks=6, scale=0.2, activation=name)
    _fd_check("RNN_TANH", rng, n_checks=6, scale=0.2, activation=name)


# ----------------------------------------------------------------------------- activations

@pytest.mark.parametrize("name", sorted(activations.ACTIVATIONS))
def test_activation_matches_torch_and_keeps_dtype(name):
    torch = pytest.importorskip("torch")
    act = activations.get(name)
    z = np.concatenate([np.linspace(-6, 6, 96), [-3.5, -2.9, 2.9, 3.5]])  # hits no kink (0, +-3)
    zt = torch.tensor(z, requires_grad=True)
    yt = _torch_act(name)(zt)
    yt.sum().backward()
    y = act.forward(z)
    close_scaled(y, yt.detach().numpy(), f"{name} forward", tol=1e-12)
    close_scaled(act.derivative(y if act.saves == "output" else z), zt.grad.numpy(), f"{name} derivative", tol=1e-12)
    z32 = z.astype(np.float32)
    y32 = act.forward(z32)
    assert y32.dtype == np.float32
    assert act.derivative(y32 if act.saves == "output" else z32).dtype == np.float32
    out = np.empty_like(z32)
    assert act.forward(z32, out=out) is out


def test_hard_sigmoid_is_keras3_relu6():
    """Keras 3: hard_sigmoid(x) = relu6(x + 3) / 6 (not Keras 2's 0.2 x + 0.5)."""
    z = np.array([-3.0, -1.0, 0.0, 1.5, 3.0, 4.0])
    expected = np.clip(z + 3.0, 0.0, 6.0) / 6.0
    close_scaled(activations.get("hard_sigmoid").forward(z), expected, "hard_sigmoid", tol=0)
    assert activations.get(None).name == "linear"
    assert activations.get("swish") is activations.get("silu")


def test_activation_errors_name_the_argument():
    with pytest.raises(ValueError, match="recurrent_activation"):
        activations.get("nope", "recurrent_activation")
    with pytest.raises(TypeError, match="activation"):
        activations.get(3)


# ----------------------------------------------------------------------------- dtype, options, errors

@pytest.mark.parametrize("mode", sorted(GATES))
def test_float32_stays_float32(mode):
    rng = np.random.default_rng(6)
    T, B, I, H, L, D = 5, 3, 4, 6, 2, 2
    G = GATES[mode]
    ws = []
    for layer in range(L):
        for _ in range(D):
            ws.append(tuple(rng.normal(0, 0.4, s) for s in [(G * H, I if layer == 0 else D * H), (G * H, H),
                                                             (G * H,), (G * H,)]))
    x = rng.normal(size=(T, B, I))
    opts = dict(num_layers=L, bidirectional=True, lengths=np.array([5, 2, 4]))
    res64 = scan_forward(mode, x, None, None, ws, **opts)
    ws32 = [tuple(a.astype(np.float32) for a in w) for w in ws]
    out, h_n, c_n, cache = scan_forward(mode, x.astype(np.float32), None, None, ws32, **opts)
    for a in (out, h_n) + ((c_n,) if c_n is not None else ()):
        assert a.dtype == np.float32
    g = rng.normal(size=out.shape).astype(np.float32)
    grads = scan.backward(g, None, None, cache)
    grads64 = scan.backward(g.astype(np.float64), None, None, res64[3])
    assert grads[0].dtype == np.float32 and grads[1].dtype == np.float32
    for dw, dw64 in zip(grads[3], grads64[3]):
        for a, b in zip(dw, dw64):
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(out, res64[0], rtol=1e-4, atol=1e-5)


def test_dropout_between_layers_is_saved_for_backward():
    rng = np.random.default_rng(8)
    T, B, I, H = 4, 2, 3, 5
    ws = [tuple(rng.normal(0, 0.5, s) for s in [(4 * H, I), (4 * H, H)]),
          tuple(rng.normal(0, 0.5, s) for s in [(4 * H, H), (4 * H, H)])]
    x = rng.normal(size=(T, B, I))
    opts = dict(num_layers=2, dropout=0.5, training=True)
    out, _, _, cache = scan_forward("LSTM", x, None, None, ws, rng=np.random.default_rng(0), **opts)
    again, _, _, _ = scan_forward("LSTM", x, None, None, ws, rng=np.random.default_rng(0), **opts)
    plain, _, _, _ = scan_forward("LSTM", x, None, None, ws, num_layers=2)
    np.testing.assert_array_equal(out, again)
    assert not np.allclose(out, plain)
    drop = cache.drops[0]
    assert set(np.unique(drop)) <= {0.0, 2.0} and cache.drops[1] is None
    # gradient of x with the same masks by finite differences on one entry
    g = rng.normal(size=out.shape)
    dx = scan.backward(g, None, None, cache)[0]
    eps = 1e-6
    x2 = x.copy()
    x2[1, 0, 2] += eps
    up = np.sum(scan_forward("LSTM", x2, None, None, ws, rng=np.random.default_rng(0), **opts)[0] * g)
    x2[1, 0, 2] -= 2 * eps
    down = np.sum(scan_forward("LSTM", x2, None, None, ws, rng=np.random.default_rng(0), **opts)[0] * g)
    assert abs((up - down) / (2 * eps) - dx[1, 0, 2]) < 1e-6


def test_carry_output_and_go_backwards_semantics():
    """Keras: carry repeats the last valid output (zeros before the first); go_backwards returns
    outputs in processing order; h_n is the state after each sequence's last valid step."""
    rng = np.random.default_rng(9)
    x, h0, _, w = random_case("GRU", rng, T=5, B=2, I=3, H=4)
    mask = np.array([[False, True], [True, True], [False, True], [True, False], [False, False]])
    out, h_n, _, _ = scan_forward("GRU", x, h0, None, [w], mask=mask, masked_output="carry")
    np.testing.assert_array_equal(out[0, 0], 0)
    np.testing.assert_array_equal(out[2, 0], out[1, 0])
    np.testing.assert_array_equal(out[4, 0], out[3, 0])
    np.testing.assert_array_equal(h_n[0, 1], out[2, 1])
    zero, _, _, _ = scan_forward("GRU", x, h0, None, [w], mask=mask)
    np.testing.assert_array_equal(zero[~mask], 0)
    back, hb, _, _ = scan_forward("GRU", x, h0, None, [w], mask=mask, go_backwards=True)
    flipped, hf, _, _ = scan_forward("GRU", x[::-1].copy(), h0, None, [w], mask=mask[::-1].copy())
    np.testing.assert_array_equal(back, flipped)
    np.testing.assert_array_equal(hb, hf)


def _keras():
    """keras 3 on the torch backend, or skip."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"needs KERAS_BACKEND=torch, got {keras.backend.backend()}")
    return keras


def _keras_weights(kind, layer, H, reset_after=True):
    """Keras (kernel, recurrent_kernel, bias) as our (w_ih, w_hh, b_ih, b_hh); GRU z,r,h -> r,z,n."""
    kernel, rkernel, bias = (v.numpy() for v in layer.weights)
    perm = np.r_[H:2 * H, 0:H, 2 * H:3 * H] if kind == "GRU" else np.arange(kernel.shape[1])
    b_ih, b_hh = (bias[0][perm], bias[1][perm]) if bias.ndim == 2 else (bias[perm], None)
    return (kernel[:, perm].T.copy(), rkernel[:, perm].T.copy(), b_ih, b_hh)


KERAS_MASK = np.array([[False, True, True, False, True], [True, True, True, True, True],
                       [True, False, False, True, False]])  # (B, T): holes, a leading masked step


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # keras's own __array__ use under NumPy 2
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_masking_matches_keras(go_backwards, zero_output_for_mask):
    """masked_output 'carry' / 'zero' = Keras zero_output_for_mask False / True; go_backwards order.
    (Keras's torch backend leaks float32 rounding even for float64 layers: hence 1e-6.)"""
    keras = _keras()
    rng = np.random.default_rng(12)
    B, T, I, H = 3, 5, 4, 3
    x = rng.normal(size=(B, T, I))
    layer = keras.layers.GRU(H, return_sequences=True, return_state=True, go_backwards=go_backwards,
                             zero_output_for_mask=zero_output_for_mask, dtype="float64")
    out_k, h_k = (keras.ops.convert_to_numpy(a) for a in layer(x, mask=KERAS_MASK))
    out, h_n, _, _ = scan_forward("GRU", x.transpose(1, 0, 2).copy(), None, None,
                                  [_keras_weights("GRU", layer, H)], mask=KERAS_MASK.T.copy(),
                                  go_backwards=go_backwards, masked_output="zero" if zero_output_for_mask else "carry")
    close_scaled(out.transpose(1, 0, 2), out_k, "out", tol=1e-6)
    close_scaled(h_n[0], h_k, "h_n", tol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # keras's own __array__ use under NumPy 2
@pytest.mark.parametrize("kind,reset_after", [("LSTM", True), ("GRU", True), ("GRU", False), ("RNN_TANH", True)])
def test_dropout_placement_matches_keras(kind, reset_after):
    """Keras 3 with dropout and recurrent_dropout (implementation 1: one mask per gate) run with
    masks we give its cell: the same masks in input_dropout_masks / rec_dropout_masks reproduce it."""
    keras = _keras()
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(13)
    B, T, I, H = 3, 5, 4, 3
    G = GATES[kind]
    x = rng.normal(size=(B, T, I))
    kw = dict(return_sequences=True, return_state=True, dropout=0.3, recurrent_dropout=0.4, dtype="float64")
    if kind == "LSTM":
        layer = keras.layers.LSTM(H, **kw)
    elif kind == "GRU":
        layer = keras.layers.GRU(H, reset_after=reset_after, **kw)
    else:
        layer = keras.layers.SimpleRNN(H, **kw)
    layer.build((B, T, I))
    m_in = rng.random((G, B, I) if G > 1 else (B, I)) * 2
    m_h = rng.random((G, B, H) if G > 1 else (B, H)) * 2
    cell = layer.cell  # Keras reuses masks already set on the cell for the whole call
    cell._dropout_mask = [torch.tensor(m) for m in m_in] if G > 1 else torch.tensor(m_in)
    cell._recurrent_dropout_mask = [torch.tensor(m) for m in m_h] if G > 1 else torch.tensor(m_h)
    res = [keras.ops.convert_to_numpy(a) for a in layer(x, mask=KERAS_MASK, training=True)]
    if kind == "GRU":  # Keras's gate order z, r, h
        m_in, m_h = m_in[[1, 0, 2]], m_h[[1, 0, 2]]
    out, h_n, c_n, _ = scan_forward(kind, x.transpose(1, 0, 2).copy(), None, None,
                                    [_keras_weights(kind, layer, H, reset_after)], mask=KERAS_MASK.T.copy(),
                                    masked_output="carry", reset_after=reset_after, input_dropout_masks=[m_in],
                                    rec_dropout_masks=[m_h])
    close_scaled(out.transpose(1, 0, 2), res[0], "out", tol=1e-6)
    close_scaled(h_n[0], res[1], "h_n", tol=1e-6)
    if kind == "LSTM":
        close_scaled(c_n[0], res[2], "c_n", tol=1e-6)


def test_no_state_and_no_gradients_given():
    rng = np.random.default_rng(10)
    x, _, _, w = random_case("LSTM", rng)
    _, _, _, cache = scan_forward("LSTM", x, None, None, [w])
    dx, dh0, dc0, dw = scan.backward(None, None, None, cache)
    assert not dx.any() and not dh0.any() and not dc0.any() and not any(g.any() for g in dw[0] if g is not None)
    _, _, _, none_cache = scan_forward("LSTM", x, None, None, [w], need_grad=False)
    assert none_cache is None
    with pytest.raises(ValueError, match="cache"):
        scan.backward(None, None, None, none_cache)
    with pytest.raises(ValueError, match="dh_n"):
        scan.backward(None, np.zeros((2, 3, 5)), None, cache)


def test_bad_input_messages_name_the_argument():
    rng = np.random.default_rng(11)
    x, h0, _, w = random_case("LSTM", rng)
    with pytest.raises(ValueError, match="mode"):
        scan_forward("LSTMX", x, None, None, [w])
    with pytest.raises(TypeError, match="x"):
        scan_forward("LSTM", x.astype(int), None, None, [w])
    with pytest.raises(TypeError, match="w_hh"):
        scan_forward("LSTM", x, None, None, [(w[0], w[1].astype(np.float32))])
    with pytest.raises(ValueError, match="h0"):
        scan_forward("LSTM", x, h0[:, :1], None, [w])
    with pytest.raises(ValueError, match="lengths"):
        scan_forward("LSTM", x, None, None, [w], lengths=np.array([1, 2]))
    with pytest.raises(ValueError, match="lengths, mask"):
        scan_forward("LSTM", x, None, None, [w], lengths=np.array([1, 2, 3]), mask=np.ones((6, 3), bool))
    with pytest.raises(ValueError, match="weights"):
        scan_forward("LSTM", x, None, None, [w, w])
    with pytest.raises(ValueError, match="masked_output"):
        scan_forward("LSTM", x, None, None, [w], masked_output="keep")
    with pytest.raises(TypeError, match="rng"):
        scan_forward("LSTM", x, None, None, [w, w], num_layers=2, dropout=0.5, training=True)
    with pytest.raises(ValueError, match="rec_dropout_masks"):
        scan_forward("LSTM", x, None, None, [w], rec_dropout_masks=[np.ones((2, 2))])
    with pytest.raises(ValueError, match="input_dropout_masks"):
        scan_forward("LSTM", x, None, None, [w], input_dropout_masks=[np.ones((3, 3, 4))])
    with pytest.raises(ValueError, match="activation"):
        scan_forward("LSTM", x, None, None, [w], activation="nope")


def test_zero_length_sequence_keeps_initial_state():
    rng = np.random.default_rng(14)
    x, h0, c0, w = random_case("LSTM", rng)
    out, h_n, c_n, cache = scan_forward("LSTM", x, h0, c0, [w], lengths=np.array([0, 6, 2]))
    np.testing.assert_array_equal(out[:, 0], 0)
    np.testing.assert_array_equal(h_n[0, 0], h0[0, 0])
    np.testing.assert_array_equal(c_n[0, 0], c0[0, 0])
    dx, dh0, _, _ = scan.backward(rng.normal(size=out.shape), np.ones_like(h_n), None, cache)
    np.testing.assert_array_equal(dx[:, 0], 0)
    np.testing.assert_array_equal(dh0[0, 0], 1)


def test_an_option_the_cell_lacks_is_refused():
    rng = np.random.default_rng(15)
    x, _, _, w = random_case("RNN_TANH", rng)
    with pytest.raises(ValueError, match="recurrent_activation: the RNN_TANH cell has no such option"):
        scan_forward("RNN_TANH", x, None, None, [w], recurrent_activation="sigmoid")
    with pytest.raises(ValueError, match="reset_after: the RNN_TANH cell has no such option"):
        scan_forward("RNN_TANH", x, None, None, [w], reset_after=False)
    x, _, _, w = random_case("LSTM", rng)
    with pytest.raises(ValueError, match="reset_after: the LSTM cell"):
        scan_forward("LSTM", x, None, None, [w], reset_after=False)
    assert scan_forward("LSTM", x, None, None, [w], reset_after=True)[0].shape == (6, 3, 5)  # the default is fine
