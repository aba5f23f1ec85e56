"""The Tensor as torch's: Python protocols, dtypes, devices, .data/.grad, in-place ops and their
version-counter checks, and every new op (values and gradients) against torch 2.13 and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit
from rnnkit import nn
from helpers import check_grad, close

RNG = np.random.default_rng(1)


def _outcome(fn, mod):
    """What ``fn(mod)`` gives: a comparable value, or the exception type it raised."""
    try:
        value = fn(mod)
    except Exception as error:  # noqa: BLE001 - the type is the outcome being compared
        return type(error)
    if hasattr(value, "detach") or isinstance(value, rnnkit.Tensor):
        value = value.detach().numpy()
        return value.dtype.kind, value.tolist()
    return value


PROTOCOLS = [
    lambda m: m.tensor(3) == 3,
    lambda m: m.tensor([1, 2, 3]) != 2,
    lambda m: (m.tensor([1, 2, 3]) == m.tensor([1, 0, 3])).sum().item(),
    lambda m: bool(m.tensor([0.0])),
    lambda m: bool(m.tensor(2.5) > 0),
    lambda m: bool(m.ones(2)),
    lambda m: bool(m.ones(0)),
    lambda m: int(m.tensor([7.9])),
    lambda m: int(m.ones(2)),
    lambda m: float(m.tensor(1.5)),
    lambda m: "abc"[m.tensor(1)],
    lambda m: "abc"[m.tensor(1.0)],
    lambda m: f"{m.tensor(1.23456):.3f}",
    lambda m: f"{m.ones(1):.3f}",
    lambda m: len(m.ones(4, 2)),
    lambda m: len(m.tensor(1.0)),
    lambda m: [t.tolist() for t in m.tensor([[1, 2], [3, 4]])],
    lambda m: iter(m.tensor(1.0)),
    lambda m: 2 in m.tensor([1, 2]),
    lambda m: 5 in m.tensor([1, 2]),
    lambda m: "x" in m.tensor([1, 2]),
    lambda m: len({m.ones(1), m.ones(1)}),
    lambda m: m.ones(2, 3).type(),
    lambda m: m.tensor([1.5, 2.5]).long(),
    lambda m: m.tensor([0, 2]).bool(),
    lambda m: m.tensor([1, 2]).float().type(),
    lambda m: m.tensor([1, 2]).type(m.float64).type(),
    lambda m: m.tensor([1, 2]).type("torch.DoubleTensor").type(),
    lambda m: m.LongTensor([1, 2]).type(),
    lambda m: m.FloatTensor(2, 3).shape == (2, 3),
    lambda m: m.BoolTensor([True, False]).type(),
    lambda m: m.tensor([1, 2]) / m.tensor([2, 4]),
    lambda m: m.arange(5).dtype == m.long,
    lambda m: m.arange(0, 1, 0.25).dtype == m.float32,
    lambda m: m.full((2,), 3).dtype == m.int64,
    lambda m: m.tensor([True, False]) + 1,
    lambda m: m.tensor([1, 2]) * 0.5,
    lambda m: m.tensor([1.0, 2.0]).mean(),
    lambda m: m.tensor([1, 2]).mean(),
    lambda m: m.tensor([True, True]).sum(),
    lambda m: m.float == m.float32 and m.double == m.float64 and m.long == m.int64 and m.int == m.int32,
    lambda m: str(m.device("cpu")),
    lambda m: m.device("cuda:1").index,
    lambda m: m.ones(2).to("cpu").device.type,
    lambda m: m.ones(2).to("cpu", m.float64).type(),
    lambda m: m.ones(2).to(m.ones(1, dtype=m.float64)).type(),
    lambda m: m.ones(2).cpu().is_cuda,
    lambda m: m.cuda.is_available(),
    lambda m: m.zeros(2, device="cpu").tolist(),
    lambda m: m.ones(2, 3).new_zeros(4).tolist(),
    lambda m: m.ones(2, dtype=m.long).new_ones((1, 2)).type(),
    lambda m: m.tensor([3.0, 1.0, 2.0]).max(dim=0).indices.item(),
    lambda m: m.tensor([[3.0, 1.0, 2.0]]).topk(2).values.tolist(),
    lambda m: m.tensor([3.0, 1.0, 2.0]).sort(descending=True).indices.tolist(),
    lambda m: m.ones(2, 3).t().contiguous().is_contiguous(),
    lambda m: m.ones(2, 3).size(1),
    lambda m: m.ones(2, 3).size(),
    lambda m: (m.ones(2, 3).shape.numel(), m.ones(2, 3).shape == (2, 3), m.Size([2, 3])[1]),
    lambda m: m.tensor([[1, 2], [3, 4]]).nonzero().tolist(),
    lambda m: m.where(m.tensor([0, 1, 1]))[0].tolist(),
    lambda m: m.tensor(1.0).item(),
    lambda m: m.ones(2).item(),
]


@pytest.mark.parametrize("fn", PROTOCOLS, ids=range(len(PROTOCOLS)))
def test_protocols_dtypes_and_devices_match_torch(torch, fn):
    ours, theirs = _outcome(fn, rnnkit), _outcome(fn, torch)
    if isinstance(theirs, type):  # an exception: ours raises the same kind
        assert isinstance(ours, type) and issubclass(ours, theirs.__mro__[0]) or ours is theirs, (ours, theirs)
    elif isinstance(theirs, str):
        assert ours == theirs
    else:
        assert ours == theirs or np.array_equal(np.asarray(ours, dtype=object), np.asarray(theirs, dtype=object))


def test_cuda_requests_fail_saying_rnnkit_runs_on_the_cpu():
    for call in (
        lambda: rnnkit.ones(2).to("cuda"), lambda: rnnkit.ones(2).cuda(), lambda: rnnkit.zeros(2, device="cuda:0"),
        lambda: nn.Linear(2, 2).to("cuda"), lambda: rnnkit.set_default_device("cuda"),
        lambda: rnnkit.tensor([1.0], device=rnnkit.device("mps")),
    ):
        with pytest.raises(RuntimeError, match="rnnkit runs on the CPU only"):
            call()
    rnnkit.set_default_device("cpu")
    assert rnnkit.get_default_device() == "cpu"


def test_default_dtype_and_module_to(torch):
    assert rnnkit.get_default_dtype() == rnnkit.float32
    rnnkit.set_default_dtype(rnnkit.float64)
    try:
        assert rnnkit.tensor(1.5).dtype == rnnkit.float64 and rnnkit.zeros(2).dtype == rnnkit.float64
        assert rnnkit.tensor([1, 2]).dtype == rnnkit.int64
    finally:
        rnnkit.set_default_dtype(rnnkit.float32)
    with pytest.raises(TypeError, match="set_default_dtype"):
        rnnkit.set_default_dtype(rnnkit.int64)
    lstm = nn.LSTM(2, 3).to("cpu")
    assert lstm.weight_ih_l0.dtype == rnnkit.float32
    lstm.to(rnnkit.double)
    assert all(p.dtype == rnnkit.float64 for p in lstm.parameters())
    lstm.type(rnnkit.float32)
    assert lstm.weight_hh_l0.type() == "torch.FloatTensor" and lstm.cpu() is lstm
    with pytest.raises(TypeError, match="float32 or float64"):
        nn.Linear(2, 2).to(rnnkit.long)


def test_data_and_grad_are_tensors_sharing_memory(torch):
    p = nn.Parameter(rnnkit.ones(3))
    (p * rnnkit.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert isinstance(p.grad, rnnkit.Tensor) and isinstance(p.data, rnnkit.Tensor)
    grad = p.grad
    p.data.add_(p.grad, alpha=-0.5)  # the classic manual SGD step
    close(p, [0.5, 0.0, -0.5])
    p.data.uniform_(-0.1, 0.1)
    assert float(p.abs().max()) <= 0.1
    (p * 2).sum().backward()  # accumulates in place, as torch's AccumulateGrad
    assert p.grad is grad
    close(p.grad, [3.0, 4.0, 5.0])
    sd = nn.Linear(2, 2).state_dict()
    copy = sd["weight"].clone()
    sd["weight"].zero_()
    assert not (copy == 0).all() and isinstance(copy, rnnkit.Tensor)
    with pytest.raises(TypeError, match="grad: expected a Tensor or None"):
        p.grad = np.zeros(3)


def _both(torch, fn, *arrays):
    """Run ``fn(module, *tensors)`` in rnnkit and torch on float64 leaves; compare outputs and gradients."""
    ours = [rnnkit.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out_o, out_t = fn(rnnkit, *ours), fn(torch, *theirs)
    close(out_o, out_t)
    weight = RNG.standard_normal(tuple(out_t.shape))
    (out_o * rnnkit.tensor(weight)).sum().backward()
    (out_t * torch.tensor(weight)).sum().backward()
    for a, b in zip(ours, theirs):
        if b.grad is None:
            assert a.grad is None
        else:
            close(a.grad, b.grad)


def test_in_place_ops_and_item_assignment_match_torch(torch):
    def rnn_like(m, x, w):  # seq2seq's encoder_outputs[ei] = ... and friends
        outs = m.zeros(3, 2, dtype=m.float64)
        h = m.zeros(2, dtype=m.float64)
        for t in range(3):
            h = m.tanh(x[t] * w + h)
            outs[t] = h
        return outs

    _both(torch, rnn_like, RNG.standard_normal((3, 2)), RNG.standard_normal(2))

    def chain(m, x, w):
        y = x * 2
        y.add_(w, alpha=0.5).mul_(w).clamp_(-1.0, 1.0)
        y[0] = w[1]
        y.unsqueeze_(0)
        return y.sigmoid()

    _both(torch, chain, RNG.standard_normal(2), RNG.standard_normal(2))
    _both(torch, lambda m, x: (x + 0).masked_fill_(x > 0, 0.0).exp_(), RNG.standard_normal(5))

    def through_views(m, x, w):  # writes through views rewrite the base's history (torch's CopySlices)
        h = x * 1
        h[0][1] = w[0] * 2
        h[1].mul_(w[1])
        h[:, 2].add_(w[2])
        z = h.exp()  # saved its output before the next in-place op: still valid
        h.mul_(3)
        return h * h + z

    _both(torch, through_views, RNG.standard_normal((3, 4)), RNG.standard_normal(3))


VERSION_ERRORS = [
    lambda m, x: x.add_(1),  # a leaf that requires grad
    lambda m, x: x[0].mul_(2),  # a view of such a leaf
]


@pytest.mark.parametrize("fn", VERSION_ERRORS)
def test_in_place_on_a_leaf_requiring_grad_raises_as_torch(torch, fn):
    for mod in (rnnkit, torch):
        x = mod.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            fn(mod, x)
        with mod.no_grad():
            fn(mod, x)  # allowed under no_grad


SAVED_CHANGED = [
    lambda m, x: ((y := x * 1).sigmoid(), y.add_(1))[0],  # sigmoid saves only its output: fine
    lambda m, x: ((y := x.sigmoid()), y.mul_(2))[0],  # the saved output changed: raises
    lambda m, x: ((y := x * 1), y * y, y.add_(1))[1],  # mul saved its inputs: raises
    lambda m, x: ((y := x * 1), y + 1, y.add_(1))[1],  # add saves nothing: fine
]


@pytest.mark.parametrize("index", range(len(SAVED_CHANGED)))
def test_changing_a_saved_tensor_raises_at_backward_as_torch(torch, index):
    outcomes = []
    for mod in (rnnkit, torch):
        x = mod.ones(3, requires_grad=True)
        out = SAVED_CHANGED[index](mod, x)
        try:
            out.sum().backward()
            outcomes.append("ok")
        except RuntimeError as error:
            assert "modified by an inplace operation" in str(error)
            outcomes.append("raised")
    assert outcomes[0] == outcomes[1], outcomes


def _rand(*shape):
    return RNG.standard_normal(shape)


OPS = {  # name: (fn(module, *tensors), input arrays); each checked against torch and finite differences
    "gather": (lambda m, x: x.gather(1, m.tensor([[2, 0], [1, 1]])), [_rand(2, 3)]),
    "index_select": (lambda m, x: x.index_select(0, m.tensor([1, 1, 0])), [_rand(2, 3)]),
    "masked_fill": (lambda m, x: x.masked_fill(m.tensor([True, False, True]), -1.0), [_rand(2, 3)]),
    "where": (lambda m, a, b: m.where(a > 0, a, b), [_rand(2, 3), _rand(2, 3)]),
    "clamp": (lambda m, x: x.clamp(-0.5, 0.5), [_rand(2, 3) * 3 + 0.1]),
    "narrow": (lambda m, x: x.narrow(1, 1, 2), [_rand(2, 3)]),
    "t": (lambda m, x: x.t().contiguous(), [_rand(2, 3)]),
    "view_as": (lambda m, x: x.view_as(m.ones(3, 2, dtype=m.float64)), [_rand(2, 3)]),
    "expand": (lambda m, x: x.expand(4, 2, 3), [_rand(1, 3)]),
    "repeat": (lambda m, x: x.repeat(2, 1, 3), [_rand(2, 3)]),
    "flip": (lambda m, x: x.flip(0, 1), [_rand(2, 3)]),
    "cumsum": (lambda m, x: x.cumsum(1), [_rand(2, 3)]),
    "bmm": (lambda m, a, b: m.bmm(a, b), [_rand(2, 3, 4), _rand(2, 4, 2)]),
    "baddbmm": (lambda m, c, a, b: m.baddbmm(c, a, b, beta=0.5, alpha=2.0), [_rand(2, 3, 2), _rand(2, 3, 4), _rand(2, 4, 2)]),
    "einsum": (lambda m, a, b: m.einsum("bij,bkj->bik", a, b), [_rand(2, 3, 4), _rand(2, 5, 4)]),
    "einsum_sum": (lambda m, a: m.einsum("ij->j", a), [_rand(3, 4)]),
    "norm": (lambda m, x: x.norm(dim=1), [_rand(2, 3)]),
    "norm_all": (lambda m, x: x.norm(), [_rand(2, 3)]),
    "norm_p1": (lambda m, x: x.norm(p=1, dim=0) + 0 * x.sum(), [_rand(2, 3) + 0.01]),
    "topk": (lambda m, x: x.topk(2, dim=1).values, [_rand(2, 4)]),
    "sort": (lambda m, x: x.sort(dim=0, descending=True).values, [_rand(3, 2)]),
    "max_dim": (lambda m, x: x.max(dim=1).values, [_rand(2, 4)]),
    "min_dim": (lambda m, x: m.min(x, 0, keepdim=True)[0], [_rand(3, 4)]),
    "unbind_stack": (lambda m, x: m.stack(list(x.unbind(1)), 0), [_rand(2, 3)]),
    "prod": (lambda m, x: x.prod(1), [_rand(2, 3)]),
    "var": (lambda m, x: x.var(1), [_rand(2, 3)]),
    "std": (lambda m, x: x.std(), [_rand(2, 3)]),
    "maximum": (lambda m, a, b: m.maximum(a, b), [_rand(2, 3), _rand(2, 3)]),
    "addcmul": (lambda m, x, a, b: m.addcmul(x, a, b, value=0.3), [_rand(3), _rand(3), _rand(3)]),
    "lerp": (lambda m, a, b: m.lerp(a, b, 0.3), [_rand(3), _rand(3)]),
    "log1p_expm1": (lambda m, x: x.exp().log1p() + x.expm1(), [_rand(3)]),
    "rsqrt": (lambda m, x: x.rsqrt(), [np.abs(_rand(3)) + 0.5]),
    "sin_cos": (lambda m, x: x.sin() * x.cos(), [_rand(3)]),
    "scatter": (lambda m, x, s: x.scatter(1, m.tensor([[0, 2]]), s), [_rand(1, 3), _rand(1, 2)]),
    "logsumexp": (lambda m, x: x.logsumexp(1), [_rand(2, 3)]),
    "div_rsub": (lambda m, a, b: 1 / a - b / 2, [np.abs(_rand(3)) + 0.5, _rand(3)]),
    "amax_amin": (lambda m, x: x.amax(1) + x.amin(0).sum(), [_rand(2, 3)]),
    "masked_select": (lambda m, x: x.masked_select(m.tensor([[True, False, True]])), [_rand(2, 3)]),
    "select": (lambda m, x: x.select(1, 2), [_rand(2, 3)]),
    "tril_triu": (lambda m, x: x.tril() - x.triu(1) * 2, [_rand(3, 3)]),
    "addcdiv": (lambda m, x, a, b: m.addcdiv(x, a, b, value=0.5), [_rand(3), _rand(3), np.abs(_rand(3)) + 1]),
    "minimum": (lambda m, a, b: m.minimum(a, b), [_rand(2, 3), _rand(2, 3)]),
    "outer_dot_mv": (lambda m, a, b, w: m.outer(a, b).sum(0) + m.dot(a, a) + m.mv(w, b), [_rand(3), _rand(3), _rand(3, 3)]),
    "addmm": (lambda m, c, a, b: m.addmm(c, a, b, beta=0.5, alpha=2.0), [_rand(2, 2), _rand(2, 3), _rand(3, 2)]),
    "expand_as_unflatten": (lambda m, x: x.expand_as(m.ones(2, 6, dtype=m.float64)).unflatten(1, (2, 3)), [_rand(1, 6)]),
    "reciprocal_square": (lambda m, x: x.reciprocal() + x.square(), [np.abs(_rand(3)) + 0.5]),
    "swapaxes_mT": (lambda m, x: x.swapaxes(0, 2).mT, [_rand(2, 3, 4)]),
    "pow_tensor": (lambda m, a, b: a ** b + 2 ** b, [np.abs(_rand(3)) + 0.5, _rand(3)]),
}

VALUES = [  # ops without a gradient: values and dtypes as torch's
    lambda m: m.tensor([-1.5, -0.5, 0.5, 2.5]).round(),
    lambda m: m.tensor([-1.5, 0.2]).floor() + m.tensor([-1.5, 0.2]).ceil() + m.tensor([-2.0, 0.0, 3.0]).sign().sum(),
    lambda m: m.remainder(m.tensor([-7, 7]), 3),
    lambda m: m.fmod(m.tensor([-7.0, 7.0]), 3),
    lambda m: m.tensor([-7, 7]) // 2,
    lambda m: m.tensor([3.0, 1.0, 2.0]).argsort(descending=True),
    lambda m: m.tensor([[3.0, 1.0], [0.0, 5.0]]).argmin(dim=1),
    lambda m: m.tensor([[True, False], [True, True]]).all(dim=1),
    lambda m: m.tensor([[True, False], [False, False]]).any(),
    lambda m: m.isnan(m.tensor([1.0, float("nan")])) | m.isinf(m.tensor([float("inf"), 0.0])),
    lambda m: ~m.tensor([True, False]),
    lambda m: m.tensor([5, 3]) & m.tensor([1, 1]),
    lambda m: m.tensor([1, 2, 3]).cumsum(0),
    lambda m: m.tensor([1.0, 2.0]).div(m.tensor([4.0, 3.0]), rounding_mode="floor"),
    lambda m: m.tensor([[1, 2], [3, 4]]).prod(),
    lambda m: m.tensor([1.0, 2.0]).equal(m.tensor([1.0, 2.0])),
    lambda m: m.linspace(0, 1, 5),
    lambda m: m.eye(2, 3),
    lambda m: m.full_like(m.ones(2), 7),
    lambda m: m.zeros_like(m.ones(2, dtype=m.long)),
    lambda m: m.tensor([[1, 2], [3, 4]]).flatten(),
    lambda m: m.where(m.tensor([True, False]), m.tensor([1.0, 2.0]), 0.0),
]


@pytest.mark.parametrize("index", range(len(VALUES)))
def test_values_match_torch(torch, index):
    assert _outcome(VALUES[index], rnnkit) == _outcome(VALUES[index], torch)


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_matches_torch_and_finite_differences(torch, name):
    fn, arrays = OPS[name]
    _both(torch, fn, *arrays)
    check_grad(lambda *ts: fn(rnnkit, *ts), *arrays)


def test_multinomial_randint_randperm_with_generators():
    g1, g2 = rnnkit.Generator().manual_seed(5), rnnkit.Generator().manual_seed(5)
    probs = rnnkit.tensor([[0.0, 0.2, 0.8], [1.0, 0.0, 0.0]])
    a = rnnkit.multinomial(probs, 4, replacement=True, generator=g1)
    b = probs.multinomial(4, replacement=True, generator=g2)
    assert (a == b).all() and a.dtype == rnnkit.long and (a[1] == 0).all() and not (a[0] == 0).any()
    assert sorted(rnnkit.randperm(6, generator=g1).tolist()) == list(range(6))
    r = rnnkit.randint(3, 7, (100,), generator=g1)
    assert r.min() >= 3 and r.max() <= 6 and r.dtype == rnnkit.int64
    counts = np.bincount(rnnkit.multinomial(rnnkit.tensor([1.0, 3.0]), 4000, True).detach().numpy(), minlength=2)
    assert abs(counts[1] / 4000 - 0.75) < 0.03  # proportional to the weights
    with pytest.raises(RuntimeError, match="without replacement"):
        rnnkit.multinomial(rnnkit.ones(2), 3)
    with pytest.raises(RuntimeError, match="element < 0"):
        rnnkit.multinomial(rnnkit.tensor([-1.0, 2.0]), 1)


def test_bad_arguments_raise_as_torch(torch):
    cases = [
        lambda m: m.ones(2, 3).gather(1, m.ones(2, 3)),  # float index
        lambda m: m.ones(3).masked_fill(m.tensor([1, 0, 1]), 0.0),  # integer mask
        lambda m: m.ones(2, 3).topk(4),
        lambda m: m.ones(2, 3).narrow(1, 2, 2),
        lambda m: m.ones(2, 2, 2).t(),
        lambda m: m.bmm(m.ones(2, 3), m.ones(2, 3)),
        lambda m: m.ones(2, 3).repeat(2),
        lambda m: m.tensor([1, 2], requires_grad=True),
        lambda m: m.ones(2, dtype=m.long).add_(1.5),
    ]
    for case in cases:
        with pytest.raises(RuntimeError):
            case(torch)
        with pytest.raises(RuntimeError):
            case(rnnkit)


def test_methods_are_defined_on_the_class():
    names = {"topk", "gather", "add_", "masked_fill", "view_as", "long", "to", "new_zeros", "einsum"} - {"einsum"}
    assert names <= set(dir(rnnkit.Tensor)) and "__getattr__" not in vars(rnnkit.Tensor)


def test_python_pickling_and_deepcopy_keep_class_values_and_flags():
    import copy
    import pickle

    p = nn.Parameter(rnnkit.arange(3.0))
    for back in (pickle.loads(pickle.dumps(p)), copy.deepcopy(p)):
        assert type(back) is nn.Parameter and back.requires_grad and (back == p).all()
        assert back.detach().numpy() is not p.detach().numpy()
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(p * 2)


def test_an_int_index_outside_any_graph_is_a_view_as_torch(torch):
    """x[t] on a tensor that needs no gradient (the fast path of step loops): a view sharing memory
    and version counter, so writes through it show in x and count as x's in-place changes; on
    one that needs a gradient it stays in the graph; out of range and 0-d raise as torch."""
    for mod in (rnnkit, torch):
        x = mod.zeros(4, 3)
        x[2].add_(1.0)
        assert x.sum().item() == 3.0 and x[2].tolist() == [1.0, 1.0, 1.0]
        w = mod.ones(4, 3, requires_grad=True)
        (w[1] * 2).sum().backward()
        assert w.grad.tolist() == [[0.0] * 3, [2.0] * 3, [0.0] * 3, [0.0] * 3]
        with pytest.raises(IndexError):
            x[4]
        with pytest.raises(IndexError):
            mod.tensor(1.0)[0]
    x = rnnkit.zeros(4, 3)
    version = x._version.value
    x[1].add_(1.0)
    assert x._version.value == version + 1  # an in-place change through the view is x's
