"""LayerNorm, BatchNorm1d, GELU, LeakyReLU, channel dropout, legacy loss arguments, Adadelta, LBFGS and the
new schedulers against torch 2.13, step for step (float64), plus finite differences where torch has no twin."""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit
from rnnkit import nn, optim
from rnnkit.optim import lr_scheduler
from helpers import check_grad, close

RNG = np.random.default_rng(2)


def _copy_params(ours, theirs, torch):
    with torch.no_grad():
        for (name, p), (tname, q) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert name == tname
            q.copy_(torch.from_numpy(p.detach().numpy().copy()))


@pytest.mark.parametrize("make,shape", [
    (lambda m: m.nn.LayerNorm(4, dtype=m.float64), (3, 4)),
    (lambda m: m.nn.LayerNorm((2, 4), eps=1e-3, dtype=m.float64), (3, 2, 4)),
    (lambda m: m.nn.GELU(), (3, 4)),
    (lambda m: m.nn.GELU(approximate="tanh"), (3, 4)),
    (lambda m: m.nn.LeakyReLU(0.2), (3, 4)),
])
def test_layers_match_torch(torch, make, shape):
    ours, theirs = make(rnnkit), make(torch)
    if list(ours.parameters()):
        for p in ours.parameters():
            p.data.normal_()
        _copy_params(ours, theirs, torch)
    x = RNG.standard_normal(shape)
    xo, xt = rnnkit.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    close(yo, yt)
    w = RNG.standard_normal(shape)
    (yo * rnnkit.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    close(xo.grad, xt.grad)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        close(p.grad, q.grad)
    check_grad(lambda t: make(rnnkit)(t), x)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
def test_batchnorm1d_matches_torch_in_train_and_eval(torch, shape):
    ours, theirs = nn.BatchNorm1d(3, momentum=0.2, dtype=rnnkit.float64), torch.nn.BatchNorm1d(3, momentum=0.2).double()
    for step in range(3):
        x = RNG.standard_normal(shape) * (step + 1)
        xo, xt = rnnkit.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        yo, yt = ours(xo), theirs(xt)
        close(yo, yt)
        (yo * yo).sum().backward()
        (yt * yt).sum().backward()
        close(xo.grad, xt.grad)
        close(ours.weight.grad, theirs.weight.grad)
    close(ours.running_mean, theirs.running_mean)
    close(ours.running_var, theirs.running_var)
    assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 3
    ours.eval(), theirs.eval()
    x = RNG.standard_normal(shape)
    close(ours(rnnkit.tensor(x)), theirs(torch.tensor(x)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ours.train()(rnnkit.ones(1, 3, dtype=rnnkit.float64))


def test_channel_dropout_zeroes_whole_channels():
    rnnkit.manual_seed(0)
    y = nn.Dropout2d(0.5)(rnnkit.ones(64, 16, 2, 3)).detach().numpy()
    per_channel = y.reshape(64, 16, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert abs((per_channel[..., 0] == 0).mean() - 0.5) < 0.05
    assert (nn.Dropout1d(0.5).eval()(rnnkit.ones(2, 3, 4)) == 1).all()
    with pytest.raises(ValueError, match="3-D or 4-D"):
        nn.Dropout2d()(rnnkit.ones(2, 3))


@pytest.mark.parametrize("legacy", [dict(size_average=False), dict(reduce=False), dict(size_average=True)])
def test_legacy_loss_arguments_match_torch(torch, legacy):
    x, y = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    labels = np.array([0, 2, 1, 1])
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):  # both warn
        close(nn.MSELoss(**legacy)(rnnkit.tensor(x), rnnkit.tensor(y)),
              torch.nn.MSELoss(**legacy)(torch.tensor(x), torch.tensor(y)))
        close(nn.CrossEntropyLoss(**legacy)(rnnkit.tensor(x), rnnkit.tensor(labels)),
              torch.nn.CrossEntropyLoss(**legacy)(torch.tensor(x), torch.tensor(labels)))
        assert nn.MSELoss(False).reduction == torch.nn.MSELoss(False).reduction  # positional, as torch


def test_flatten_parameters_is_a_no_op():
    lstm = nn.LSTM(2, 3)
    before = {k: v.clone() for k, v in lstm.state_dict().items()}
    assert lstm.flatten_parameters() is None
    assert all((lstm.state_dict()[k] == v).all() for k, v in before.items())


@pytest.mark.parametrize("name,kwargs", [
    ("Adadelta", dict()), ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.1)),
    ("Adadelta", dict(maximize=True)),
])
def test_adadelta_matches_torch(torch, name, kwargs):
    arrays = [RNG.standard_normal(s) for s in [(3, 4), (5,)]]
    ours = [nn.Parameter(a) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt, topt = getattr(optim, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(5):
        for p, q in zip(ours, theirs):
            g = RNG.standard_normal(p.shape)
            p.grad, q.grad = rnnkit.tensor(g), torch.tensor(g)
        opt.step(), topt.step()
        for p, q in zip(ours, theirs):
            close(p, q)


@pytest.mark.parametrize("kwargs", [dict(lr=0.8), dict(lr=1.0, max_iter=5, history_size=3)])
def test_lbfgs_matches_torch_step_for_step(torch, kwargs):
    x, y = RNG.standard_normal((8, 3)), RNG.standard_normal((8, 2))
    ours = nn.Linear(3, 2, dtype=rnnkit.float64)
    theirs = torch.nn.Linear(3, 2).double()
    _copy_params(ours, theirs, torch)
    opt, topt = optim.LBFGS(ours.parameters(), **kwargs), torch.optim.LBFGS(theirs.parameters(), **kwargs)

    def closure_for(mod, model, o, xs, ys):
        def closure():
            o.zero_grad()
            loss = ((model(xs) - ys) ** 2).mean() + (model.weight**4).sum() * 0.1
            loss.backward()
            return loss
        return closure

    for _ in range(3):
        lo = opt.step(closure_for(rnnkit, ours, opt, rnnkit.tensor(x), rnnkit.tensor(y)))
        lt = topt.step(closure_for(torch, theirs, topt, torch.tensor(x), torch.tensor(y)))
        close(lo, lt)
        close(ours.weight, theirs.weight)
        close(ours.bias, theirs.bias)
    state, tstate = opt.state[ours.weight], topt.state[theirs.weight]
    assert state["n_iter"] == tstate["n_iter"] and state["func_evals"] == tstate["func_evals"]


@pytest.mark.parametrize("name,kwargs", [
    ("MultiStepLR", dict(milestones=[2, 5, 5], gamma=0.5)),
    ("LambdaLR", dict(lr_lambda=lambda epoch: 0.9**epoch)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.25, end_factor=0.5, total_iters=3)),
])
def test_new_schedulers_match_torch(torch, name, kwargs):
    p, q = nn.Parameter(np.zeros(1)), torch.zeros(1, requires_grad=True)
    opt = optim.SGD([p], lr=0.5)
    topt = torch.optim.SGD([q], lr=0.5)
    sched, tsched = getattr(lr_scheduler, name)(opt, **kwargs), getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    ours, theirs = [sched.get_last_lr()], [tsched.get_last_lr()]
    for _ in range(8):
        opt.step(), topt.step()
        sched.step(), tsched.step()
        ours.append(sched.get_last_lr()), theirs.append(tsched.get_last_lr())
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    state = sched.state_dict()
    assert "lr_lambdas" not in state
    sched.load_state_dict(state)


def _forward_backward_match(torch, ours, theirs, inputs, call):
    """Copy ours' weights into theirs, run ``call(module, *inputs)`` in both, compare outputs and all gradients."""
    _copy_params(ours, theirs, torch)
    xo = [rnnkit.tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a for a in inputs]
    xt = [torch.tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a for a in inputs]
    yo, yt = call(ours, rnnkit, *xo), call(theirs, torch, *xt)
    close(yo, yt)
    w = RNG.standard_normal(tuple(yt.shape))
    (yo * rnnkit.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    for a, b in zip(xo, xt):
        if isinstance(b, torch.Tensor) and b.requires_grad:
            close(a.grad, b.grad)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        close(p.grad, q.grad)


@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_matches_torch(torch, batch_first):
    E, H = 6, 2
    make = lambda m: m.nn.MultiheadAttention(E, H, batch_first=batch_first, dtype=m.float64)  # noqa: E731
    shape_q, shape_k = ((2, 4, E), (2, 5, E)) if batch_first else ((4, 2, E), (5, 2, E))
    causal = np.triu(np.ones((4, 5), bool), k=1)
    padding = np.array([[False] * 5, [False, False, False, True, True]])

    def call(mod, m, q, k, v):
        out, weights = mod(q, k, v, attn_mask=m.tensor(causal), key_padding_mask=m.tensor(padding))
        return out.sum() * 0 + out + 0 * weights.sum()

    _forward_backward_match(torch, make(rnnkit), make(torch),
                            [RNG.standard_normal(shape_q), RNG.standard_normal(shape_k), RNG.standard_normal(shape_k)],
                            call)
    ours, theirs = make(rnnkit), make(torch)
    _copy_params(ours, theirs, torch)
    q = RNG.standard_normal(shape_q)
    w_o = ours(rnnkit.tensor(q), rnnkit.tensor(q), rnnkit.tensor(q), average_attn_weights=False)[1]
    w_t = theirs(torch.tensor(q), torch.tensor(q), torch.tensor(q), average_attn_weights=False)[1]
    close(w_o, w_t)


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_matches_torch(torch, norm_first):
    def make(m):
        return m.nn.Transformer(d_model=6, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=8,
                                dropout=0.0, norm_first=norm_first, activation="gelu", dtype=m.float64)

    def call(mod, m, src, tgt):
        mask = m.nn.Transformer.generate_square_subsequent_mask(3, dtype=m.float64)
        return mod(src, tgt, tgt_mask=mask)

    _forward_backward_match(torch, make(rnnkit), make(torch),
                            [RNG.standard_normal((4, 2, 6)), RNG.standard_normal((3, 2, 6))], call)


def test_encoder_layers_are_independent_copies_and_word_lm_subclass_builds():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    encoder = nn.TransformerEncoder(layer, 2)
    assert encoder.layers[0].linear1.weight is not encoder.layers[1].linear1.weight
    assert len(list(encoder.parameters())) == 2 * len(list(layer.parameters()))

    class TransformerModel(nn.Transformer):  # as pytorch/examples' word_language_model subclasses it
        def __init__(self, ntoken, ninp, nhead, nhid, nlayers):
            super().__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid, num_encoder_layers=nlayers)
            self.input_emb = nn.Embedding(ntoken, ninp)
            self.decoder = nn.Linear(ninp, ntoken)

        def forward(self, src):
            mask = rnnkit.log(rnnkit.tril(rnnkit.ones(len(src), len(src))))
            return self.decoder(self.encoder(self.input_emb(src), mask=mask)).log_softmax(-1)

    model = TransformerModel(20, 8, 2, 16, 2)
    out = model(rnnkit.randint(0, 20, (5, 3)))
    assert out.shape == (5, 3, 20) and bool(rnnkit.isfinite(out).all())


@pytest.mark.parametrize("name,kwargs", [
    ("Adamax", dict()), ("Adamax", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("NAdam", dict()), ("NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict()), ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
])
def test_adam_variants_match_torch(torch, name, kwargs):
    arrays = [RNG.standard_normal(s) for s in [(3, 4), (5,)]]
    ours = [nn.Parameter(a) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt, topt = getattr(optim, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(8):  # RAdam switches to its rectified update after step 5
        for p, q in zip(ours, theirs):
            g = RNG.standard_normal(p.shape)
            p.grad, q.grad = rnnkit.tensor(g), torch.tensor(g)
        opt.step(), topt.step()
        for p, q in zip(ours, theirs):
            close(p, q, tol=1e-12)


def _lr_trace(mod, make, steps, optimizer="SGD", **opt_kwargs):
    p = mod.nn.Parameter(mod.zeros(1)) if mod is rnnkit else mod.zeros(1, requires_grad=True)
    opt = getattr(mod.optim, optimizer)([p], **opt_kwargs)
    sched = make(mod, opt)
    trace = [(sched.get_last_lr(), dict((k, v) for k, v in opt.param_groups[0].items() if k in ("momentum", "betas")))]
    for _ in range(steps):
        opt.step()
        sched.step()
        trace.append((sched.get_last_lr(), {k: v for k, v in opt.param_groups[0].items() if k in ("momentum", "betas")}))
    return trace


@pytest.mark.parametrize("make,steps,optimizer,opt_kwargs", [
    (lambda m, o: m.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=10), 10, "SGD", dict(lr=0.1, momentum=0.9)),
    (lambda m, o: m.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, epochs=2, steps_per_epoch=6, three_phase=True,
                                                  anneal_strategy="linear"), 12, "Adam", dict(lr=0.1)),
    (lambda m, o: m.optim.lr_scheduler.SequentialLR(o, [
        m.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=3),
        m.optim.lr_scheduler.ExponentialLR(o, gamma=0.8),
        m.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)], milestones=[3, 6]), 10, "SGD", dict(lr=0.3)),
])
def test_one_cycle_and_sequential_match_torch(torch, make, steps, optimizer, opt_kwargs):
    ours, theirs = _lr_trace(rnnkit, make, steps, optimizer, **opt_kwargs), _lr_trace(torch, make, steps, optimizer,
                                                                                       **opt_kwargs)
    for (lr_o, m_o), (lr_t, m_t) in zip(ours, theirs):
        np.testing.assert_allclose(lr_o, lr_t, rtol=1e-12)
        for key in m_t:
            np.testing.assert_allclose(np.ravel(m_o[key]), np.ravel(m_t[key]), rtol=1e-12)
