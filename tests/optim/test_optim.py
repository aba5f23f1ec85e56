"""rnnkit.optim (optimizers, lr schedulers) and rnnkit.nn.utils.clip_grad against torch, step for step."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from rnnkit.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_, get_total_norm
from rnnkit.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from rnnkit.optim import lr_scheduler

from rnnkit import Tensor
from rnnkit.nn import Parameter


SHAPES = [(3, 4), (5,), (2, 2, 3)]


def _params(arrays):
    return [Parameter(a) for a in arrays]


def _torch_params(torch, arrays):
    return [torch.tensor(a, requires_grad=True) for a in arrays]


def _run_parity(torch, ours, theirs, params, tparams, rng, steps, dtype, rtol, atol):
    """Feed the same random grads to both optimizers; after each step params must agree."""
    for t in range(steps):
        for i, (p, q) in enumerate(zip(params, tparams)):
            if i == 1 and t % 3 == 2:  # parameters without a gradient are skipped by both
                p.grad, q.grad = None, None
                continue
            g = rng.standard_normal(p.data.shape).astype(dtype)
            p.grad = Tensor(g.copy())
            q.grad = torch.from_numpy(g.copy())
        ours.step()
        theirs.step()
        for p, q in zip(params, tparams):
            assert p.data.dtype == dtype
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=rtol, atol=atol)


OPTIMIZER_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2, eps=1e-6)),
    ("Adagrad", dict(lr=0.1, maximize=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.5, centered=True, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.9), eps=1e-6, amsgrad=True, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
]
OURS = {"SGD": SGD, "Adagrad": Adagrad, "RMSprop": RMSprop, "Adam": Adam, "AdamW": AdamW}


@pytest.mark.parametrize("name,kwargs", OPTIMIZER_CASES, ids=[f"{n}-{k}" for n, k in OPTIMIZER_CASES])
def test_optimizer_matches_torch_float64(torch, name, kwargs):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in SHAPES]
    params, tparams = _params(arrays), _torch_params(torch, arrays)
    ours, theirs = OURS[name](params, **kwargs), getattr(torch.optim, name)(tparams, **kwargs)
    _run_parity(torch, ours, theirs, params, tparams, rng, steps=20, dtype=np.float64, rtol=1e-12, atol=1e-14)
    # the state has PyTorch's structure and values
    mine, ref = ours.state_dict(), theirs.state_dict()
    assert mine["state"].keys() == ref["state"].keys()
    for index, pstate in ref["state"].items():
        assert set(mine["state"][index]) == set(pstate)
        for key, value in pstate.items():
            if key == "step":
                assert mine["state"][index]["step"] == int(value.item())
            else:
                np.testing.assert_allclose(mine["state"][index][key], value.detach().numpy(), rtol=1e-12, atol=1e-14)
    for group, tgroup in zip(mine["param_groups"], ref["param_groups"]):
        assert group["params"] == tgroup["params"]
        for key, value in group.items():
            assert tgroup[key] == value, key


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_float32_stays_float32_and_tracks_torch(torch, name):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    params, tparams = _params(arrays), _torch_params(torch, arrays)
    kwargs = dict(lr=0.01, weight_decay=0.01) | ({"momentum": 0.9} if name in ("SGD", "RMSprop") else {})
    ours, theirs = OURS[name](params, **kwargs), getattr(torch.optim, name)(tparams, **kwargs)
    _run_parity(torch, ours, theirs, params, tparams, rng, steps=10, dtype=np.float32, rtol=1e-5, atol=1e-6)
    for pstate in ours.state.values():
        for key, value in pstate.items():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32, key


def test_param_groups_match_torch(torch):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s) for s in SHAPES]
    params, tparams = _params(arrays), _torch_params(torch, arrays)

    def groups(ps):
        return [{"params": ps[:2], "lr": 0.05, "amsgrad": True}, {"params": [ps[2]], "weight_decay": 0.2}]

    ours, theirs = Adam(groups(params), lr=0.01), torch.optim.Adam(groups(tparams), lr=0.01)
    assert [g["lr"] for g in ours.param_groups] == [0.05, 0.01]
    assert [g["amsgrad"] for g in ours.param_groups] == [True, False]
    _run_parity(torch, ours, theirs, params, tparams, rng, steps=15, dtype=np.float64, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1)),
    ("RMSprop", dict(momentum=0.5, centered=True)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
])
def test_state_dict_round_trip_continues_identically(name, kwargs):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in SHAPES]
    params = _params(arrays)
    opt = OURS[name](params, **kwargs)
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(20)]

    def step(o, ps, gs):
        for p, g in zip(ps, gs):
            p.grad = Tensor(g.copy())
        o.step()

    for gs in grads[:10]:
        step(opt, params, gs)
    saved = opt.state_dict()
    clones = _params([p.detach().numpy() for p in params])
    fresh = OURS[name](clones, lr=123.0)  # options come back from the state dict
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for gs in grads[10:]:
        step(opt, params, gs)
        step(fresh, clones, gs)
    for p, q in zip(params, clones):
        np.testing.assert_array_equal(p.data, q.data)
    # the snapshot did not move with the optimizer, and loading copied the arrays
    if name != "SGD":
        assert saved["state"][0]["step"] == 10
    for pstate in fresh.state.values():
        for value in pstate.values():
            if isinstance(value, np.ndarray):
                assert not any(value is v for s in opt.state.values() for v in s.values())


def test_loading_torch_state_dict_continues_like_torch(torch):
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal(s) for s in SHAPES]
    tparams = _torch_params(torch, arrays)
    theirs = torch.optim.Adam(tparams, lr=0.01, amsgrad=True)
    for _ in range(7):
        for q in tparams:
            q.grad = torch.from_numpy(rng.standard_normal(tuple(q.shape)))
        theirs.step()
    params = _params([q.detach().numpy() for q in tparams])
    ours = Adam(params, lr=0.5)
    ours.load_state_dict(theirs.state_dict())
    assert ours.param_groups[0]["lr"] == 0.01 and ours.state[params[0]]["step"] == 7
    _run_parity(torch, ours, theirs, params, tparams, rng, steps=5, dtype=np.float64, rtol=1e-12, atol=1e-14)


def test_zero_grad_and_closure():
    p, q = Parameter(np.ones(3)), Parameter(np.ones(2))
    opt = SGD([p, q], lr=0.5)
    p.grad = Tensor(np.full(3, 2.0))
    grad_array = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad_array and not p.grad.any() and q.grad is None
    opt.zero_grad()
    assert p.grad is None
    calls = []

    def closure():
        calls.append(1)
        p.grad = Tensor(np.ones(3))
        return 42.0

    assert opt.step(closure) == 42.0 and calls == [1]
    np.testing.assert_array_equal(p.data, np.full(3, 0.5))
    np.testing.assert_array_equal(q.data, np.ones(2))  # no grad, untouched
    assert isinstance(opt, Optimizer) and "lr: 0.5" in repr(opt)


@pytest.mark.parametrize("make,match", [
    (lambda ps: SGD(ps, lr=-1), r"Invalid learning rate: -1 \(lr must be >= 0"),
    (lambda ps: SGD(ps, lr=float("nan")), r"Invalid learning rate: nan"),
    (lambda ps: SGD(ps, momentum=-0.5), r"Invalid momentum value: -0.5 \(momentum"),
    (lambda ps: SGD(ps, weight_decay=-1), r"Invalid weight_decay value: -1 \(weight_decay"),
    (lambda ps: SGD(ps, nesterov=True), r"Nesterov momentum requires a momentum.*momentum=0"),
    (lambda ps: SGD(ps, momentum=0.9, dampening=0.1, nesterov=True), r"zero dampening.*dampening=0.1"),
    (lambda ps: Adagrad(ps, lr_decay=-1), r"Invalid lr_decay value: -1 \(lr_decay"),
    (lambda ps: Adagrad(ps, initial_accumulator_value=-1), r"initial_accumulator_value must be >= 0"),
    (lambda ps: Adagrad(ps, eps=-1), r"Invalid epsilon value: -1 \(eps"),
    (lambda ps: RMSprop(ps, alpha=-1), r"Invalid alpha value: -1 \(alpha"),
    (lambda ps: RMSprop(ps, momentum=-1), r"Invalid momentum value: -1"),
    (lambda ps: Adam(ps, betas=(1.0, 0.999)),
     r"Invalid beta parameter at index 0: 1.0 \(betas\[0\] must be in \[0.0, 1.0\)"),
    (lambda ps: Adam(ps, betas=(0.9, -0.1)), r"Invalid beta parameter at index 1: -0.1"),
    (lambda ps: AdamW(ps, weight_decay=-0.1), r"Invalid weight_decay value: -0.1"),
    (lambda ps: Adam([{"params": ps, "lr": -2}]), r"Invalid learning rate: -2"),
    (lambda ps: Adam(ps, eps=-1e-8), r"Invalid epsilon value"),
    (lambda ps: Adam([]), r"empty parameter list"),
    (lambda ps: Adam([{"params": ps}, {"params": ps[:1]}]), r"more than one parameter group"),
    (lambda ps: Adam([ps[0], ps[0]]), r"same parameter more than once"),
])
def test_bad_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make([Parameter(np.zeros(2)), Parameter(np.zeros(3))])


@pytest.mark.parametrize("make,match", [
    (lambda ps: SGD(ps, lr="0.1"), r"lr must be a real number, got str"),
    (lambda ps: Adam(ps, betas=0.9), r"betas must be a pair"),
    (lambda ps: SGD(ps[0]), r"single Parameter|single P|wrap it in a list"),
    (lambda ps: SGD([np.zeros(2)]), r"params\[0\] is ndarray"),
    (lambda ps: SGD(set(ps)), r"ordered collection"),
    (lambda ps: SGD([SimpleNamespace(data=np.zeros(2, dtype=np.int64), grad=None)]), r"floating-point dtype"),
    (lambda ps: SGD(ps, lr=None), r"lr must be a real number, got NoneType"),
])
def test_bad_argument_types_raise_type_error(make, match):
    with pytest.raises(TypeError, match=match):
        make([Parameter(np.zeros(2)), Parameter(np.zeros(3))])


def test_bad_grad_shape_and_bad_state_dict_raise():
    p = Parameter(np.zeros(3))
    opt = Adam([p])
    with pytest.raises(RuntimeError, match=r"grad: assigned grad has shape \(4,\), expected \(3,\)"):  # as torch
        p.grad = Tensor(np.zeros(4))
    p.grad = Tensor(np.ones(3))
    opt.step()
    other = Adam([Parameter(np.zeros(3)), Parameter(np.zeros(1))])
    with pytest.raises(ValueError, match="has 1 parameters, the optimizer's has 2"):
        other.load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="parameter groups"):
        Adam([{"params": [Parameter(np.zeros(3))]}, {"params": [Parameter(np.zeros(3))]}]).load_state_dict(
            opt.state_dict()
        )
    with pytest.raises(ValueError, match=r"\['state'\]"):
        opt.load_state_dict({"param_groups": []})
    with pytest.raises(ValueError, match=r"'exp_avg'\] has shape \(3,\), expected the parameter's \(5,\)"):
        Adam([Parameter(np.zeros(5))]).load_state_dict(opt.state_dict())


# -- learning-rate schedulers ---------------------------------------------------------------
def _scheduler_pair(torch, lrs):
    ours = SGD([{"params": [Parameter(np.zeros(1))], "lr": lr} for lr in lrs])
    theirs = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs])
    return ours, theirs


SCHEDULER_CASES = [
    ("StepLR", dict(step_size=3)),
    ("StepLR", dict(step_size=2, gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7)),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=0.01)),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULER_CASES, ids=[f"{n}-{k}" for n, k in SCHEDULER_CASES])
def test_scheduler_lrs_match_torch(torch, name, kwargs):
    opt, topt = _scheduler_pair(torch, [0.1, 0.03])
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    assert sched.get_last_lr() == tsched.get_last_lr()
    for epoch in range(25):  # past T_max: the cosine goes back up
        opt.step(), topt.step()
        sched.step(), tsched.step()
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-14, atol=1e-16)
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()
        if epoch == 11:  # resume from a JSON copy of both state dicts
            saved_opt = opt.state_dict()
            saved_sched = json.loads(json.dumps(sched.state_dict()))
            opt = SGD([{"params": [Parameter(np.zeros(1))], "lr": 9.0} for _ in range(2)])
            sched = getattr(lr_scheduler, name)(opt, **kwargs)
            opt.load_state_dict(saved_opt)
            sched.load_state_dict(saved_sched)


PLATEAU_METRICS = [10, 9, 9, 9.5, 9, 8.9995, 8, 8, 8, 8.5, 8, 8, 7, 7.2, 7.1, 7, 7, 7, 7, 6.999, 7, 7, 7, 7, 8]
PLATEAU_CASES = [
    dict(),
    dict(patience=2, factor=0.5),
    dict(patience=1, factor=0.5, cooldown=2, threshold=0.01),
    dict(mode="max", patience=0, factor=0.3, threshold_mode="abs", threshold=0.1),
    dict(patience=0, factor=0.5, min_lr=[0.02, 0.01]),
    dict(patience=0, factor=0.5, min_lr=0.01, threshold_mode="abs", threshold=0.5),
    dict(patience=0, factor=0.9, eps=0.005),
]


@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=[str(k) for k in PLATEAU_CASES])
def test_reduce_lr_on_plateau_matches_torch(torch, kwargs):
    opt, topt = _scheduler_pair(torch, [0.1, 0.05])
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    history = []
    for epoch, metric in enumerate(PLATEAU_METRICS):
        sched.step(metric)
        tsched.step(metric)
        assert sched.get_last_lr() == tsched.get_last_lr(), epoch
        assert (sched.num_bad_epochs, sched.cooldown_counter, sched.best) == (
            tsched.num_bad_epochs, tsched.cooldown_counter, tsched.best
        )
        history.append(sched.get_last_lr()[0])
        if epoch == 12:
            restored = lr_scheduler.ReduceLROnPlateau(opt)
            restored.load_state_dict(json.loads(json.dumps(sched.state_dict())))
            sched = restored
    if "patience" in kwargs:
        assert history[-1] < history[0]  # the sequence exercises at least one reduction


@pytest.mark.parametrize("make,error,match", [
    (lambda o: lr_scheduler.StepLR(o, step_size=0), ValueError, r"Invalid step_size: 0 \(step_size must be >= 1\)"),
    (lambda o: lr_scheduler.StepLR(o, step_size=2.5), TypeError, r"step_size must be an int, got float"),
    (lambda o: lr_scheduler.ExponentialLR(o, gamma=-0.1), ValueError, r"Invalid gamma: -0.1"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), ValueError, r"Invalid T_max: 0"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=3, eta_min=-1), ValueError, r"Invalid eta_min: -1"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), ValueError, r"Invalid factor: 1.0"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="down"), ValueError, r"mode must be 'min' or 'max', got 'down'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="x"), ValueError, r"threshold_mode must be"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=-1), ValueError, r"Invalid patience: -1"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1, 0.2]), ValueError, r"min_lr must have one value per"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o).step("low"), TypeError, r"metrics must be a number, got str"),
    (lambda o: lr_scheduler.StepLR(object(), step_size=1), TypeError, r"optimizer must be an rnnkit.optim.Optimizer"),
])
def test_scheduler_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make(SGD([Parameter(np.zeros(1))], lr=0.1))


# -- gradient clipping ----------------------------------------------------------------------
def _grad_pair(torch, rng, dtype, scale=1.0):
    params, tparams = [], []
    for i, shape in enumerate(SHAPES + [(4,)]):
        p, q = Parameter(np.zeros(shape, dtype)), torch.zeros(shape, dtype=getattr(torch, np.dtype(dtype).name))
        if i != 3:  # the last one has no gradient
            g = (scale * rng.standard_normal(shape)).astype(dtype)
            p.grad, q.grad = Tensor(g.copy()), torch.from_numpy(g.copy())
        params.append(p), tparams.append(q)
    return params, tparams


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, 0.5, math.inf, "inf", -math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e4])
def test_clip_grad_norm_matches_torch(torch, norm_type, max_norm):
    rng = np.random.default_rng(5)
    params, tparams = _grad_pair(torch, rng, np.float64)
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type)
    assert isinstance(total, Tensor) and total.ndim == 0  # a 0-d tensor, as torch
    np.testing.assert_allclose(total, float(ttotal), rtol=1e-12)
    for p, q in zip(params, tparams):
        if q.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad, q.grad.detach().numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_get_total_norm_matches_torch(torch, norm_type):
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal(s) for s in SHAPES]
    expected = torch.nn.utils.get_total_norm([torch.from_numpy(a) for a in arrays], norm_type)
    np.testing.assert_allclose(get_total_norm(arrays, norm_type), float(expected), rtol=1e-12)
    assert get_total_norm(arrays[0], norm_type) == pytest.approx(float(np.linalg.norm(arrays[0].ravel(), norm_type)))
    with pytest.raises(RuntimeError, match="non-finite"):
        get_total_norm([np.array([np.nan])], norm_type, error_if_nonfinite=True)


def test_clip_grad_norm_float32_generator_and_single_param(torch):
    rng = np.random.default_rng(6)
    params, tparams = _grad_pair(torch, rng, np.float32, scale=3.0)
    total = clip_grad_norm_((p for p in params), 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, 1.0)
    np.testing.assert_allclose(total, float(ttotal), rtol=1e-6)
    for p, q in zip(params[:3], tparams[:3]):
        assert p.grad.dtype == np.float32
        np.testing.assert_allclose(p.grad, q.grad.detach().numpy(), rtol=1e-6)
    single = Parameter(np.zeros(2))
    single.grad = Tensor(np.array([3.0, 4.0]))
    assert clip_grad_norm_(single, 1.0) == 5.0
    assert clip_grad_norm_([Parameter(np.zeros(2))], 1.0) == 0.0  # no gradients at all


def test_clip_grad_norm_nonfinite(torch):
    p, q = Parameter(np.zeros(3)), torch.zeros(3, dtype=torch.float64)
    p.grad, q.grad = Tensor(np.array([1.0, np.inf, 2.0])), torch.tensor([1.0, np.inf, 2.0], dtype=torch.float64)
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad, [1.0, np.inf, 2.0])  # untouched when raising
    total = clip_grad_norm_([p], 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_([q], 1.0)
    assert total == float(ttotal) == math.inf
    np.testing.assert_array_equal(p.grad, q.grad.detach().numpy())


def test_clip_grad_value_matches_torch(torch):
    rng = np.random.default_rng(7)
    params, tparams = _grad_pair(torch, rng, np.float64)
    assert clip_grad_value_(params, 0.7) is None
    torch.nn.utils.clip_grad_value_(tparams, 0.7)
    for p, q in zip(params[:3], tparams[:3]):
        np.testing.assert_array_equal(p.grad, q.grad.detach().numpy())
        assert np.abs(p.grad).max() <= 0.7
    assert max(np.abs(p.grad).max() for p in params[:3]) == 0.7  # some entries were clipped


@pytest.mark.parametrize("call,error,match", [
    (lambda ps: clip_grad_norm_(ps, -1.0), ValueError, r"Invalid max_norm: -1.0 \(max_norm must be >= 0\)"),
    (lambda ps: clip_grad_norm_(ps, 1.0, norm_type="l2"), ValueError, r"norm_type must be a number or 'inf', got 'l2'"),
    (lambda ps: clip_grad_norm_(ps, "1"), TypeError, r"max_norm must be a real number"),
    (lambda ps: clip_grad_value_(ps, -0.1), ValueError, r"Invalid clip_value: -0.1"),
    (lambda ps: clip_grad_value_([np.zeros(2)], 0.1), TypeError, r"parameters\[0\] has no .grad"),
    (lambda ps: clip_grad_norm_(3, 1.0), TypeError, r"parameters must be a parameter or an iterable"),
])
def test_clip_bad_arguments(call, error, match):
    p = Parameter(np.zeros(2))
    p.grad = Tensor(np.ones(2))
    with pytest.raises(error, match=match):
        call([p])
