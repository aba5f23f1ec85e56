"""Tensor.numpy()/np.asarray on tensors that require grad, and the legacy tensor types (FloatTensor, ...),
against torch 2.13: the same answers, the same refusals."""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit

LEGACY = ["FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor", "ShortTensor", "CharTensor",
          "BoolTensor", "ByteTensor"]
DTYPES = ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "bool", "uint8"]


def _outcome(fn):
    try:
        value = fn()
    except Exception as error:  # noqa: BLE001 - the exception type is what is compared
        return type(error).__name__, str(error)
    return "ok", np.asarray(value).tolist()


@pytest.mark.parametrize("convert", [
    lambda t: t.numpy(), lambda t: np.asarray(t), lambda t: np.array(t), lambda t: t.__array__(),
    lambda t: np.add(t, 1), lambda t: t.numpy(force=True), lambda t: t.detach().numpy(), lambda t: (t * 2).numpy(),
    lambda t: np.asarray(t.data), lambda t: t.tolist(), lambda t: np.array([t[0], t[1]]),
    lambda t: np.asarray(t, dtype=np.float64), lambda t: np.array(t.detach(), copy=True),
])
@pytest.mark.parametrize("requires_grad", [True, False])
def test_numpy_bridge_matches_torch(torch, convert, requires_grad):
    ours = rnnkit.tensor([1.0, 2.0], requires_grad=requires_grad)
    theirs = torch.tensor([1.0, 2.0], requires_grad=requires_grad)
    assert _outcome(lambda: convert(ours)) == _outcome(lambda: convert(theirs))


def test_numpy_shares_memory_and_refusal_names_the_fix():
    t = rnnkit.zeros(3)
    t.numpy()[1] = 5.0
    assert t.tolist() == [0.0, 5.0, 0.0]
    p = rnnkit.nn.Parameter(rnnkit.zeros(2))
    with pytest.raises(RuntimeError, match=r"Use tensor\.detach\(\)\.numpy\(\) instead"):
        p.numpy()
    p.detach().numpy()[0] = 3.0  # detach shares memory, as torch
    assert p.tolist() == [3.0, 0.0]


def test_library_reads_values_of_tensors_that_require_grad():
    """rnnkit's own code (layers, losses, optimizers, state_dict, saving) never trips the user-facing refusal."""
    rnnkit.manual_seed(0)
    lstm, head = rnnkit.nn.LSTM(3, 4, batch_first=True), rnnkit.nn.Linear(4, 2)
    opt = rnnkit.optim.Adam([*lstm.parameters(), *head.parameters()], lr=0.01)
    x = rnnkit.randn(2, 5, 3, requires_grad=True)
    out, (h, c) = lstm(x)
    loss = rnnkit.nn.functional.cross_entropy(head(out[:, -1]), rnnkit.tensor([0, 1]))
    loss.backward()
    rnnkit.nn.utils.clip_grad_norm_(lstm.parameters(), 1.0)
    opt.step()
    state = lstm.state_dict()
    assert all(not v.requires_grad for v in state.values())
    lstm.load_state_dict(state)
    assert x.grad.shape == (2, 5, 3) and np.isfinite(float(loss))


@pytest.mark.parametrize("name,dtype", list(zip(LEGACY, DTYPES)))
def test_legacy_type_isinstance_and_type_match_torch(torch, name, dtype):
    ours_type, theirs_type = getattr(rnnkit, name), getattr(torch, name)
    for d in DTYPES:
        ours, theirs = rnnkit.zeros(2, dtype=getattr(rnnkit, d)), torch.zeros(2, dtype=getattr(torch, d))
        assert isinstance(ours, ours_type) == isinstance(theirs, theirs_type)
        assert ours.type() == theirs.type()
        converted, tconverted = ours.type(ours_type), theirs.type(theirs_type)
        assert str(converted.dtype).split(".")[1] == str(tconverted.dtype).split(".")[1] == dtype
        assert converted.type() == tconverted.type() == f"torch.{name}"
    assert ours_type.dtype == getattr(rnnkit, dtype) and ours_type.is_cuda is theirs_type.is_cuda is False
    assert not issubclass(ours_type, rnnkit.Tensor) and not issubclass(theirs_type, torch.Tensor)
    assert isinstance(rnnkit.nn.Parameter(rnnkit.zeros(1, dtype=getattr(rnnkit, dtype))) if dtype.startswith("float")
                      else rnnkit.zeros(1, dtype=getattr(rnnkit, dtype)), ours_type)
    assert not isinstance(3, ours_type) and not isinstance(np.zeros(2, dtype=dtype), ours_type)


@pytest.mark.parametrize("name", ["FloatTensor", "LongTensor", "DoubleTensor", "BoolTensor", "ByteTensor"])
@pytest.mark.parametrize("args,is_data", [
    (([1, 2],), True), (([[1.5, 2.0], [0.0, 3.0]],), True), ((np.array([0.5, 1.0]),), True),
    (((2, 3),), True), ((2, 3), False), ((), False), ((0,), False), (("Size",), False),
])
def test_legacy_constructors_match_torch(torch, name, args, is_data):
    """Data gives the same values; a shape gives the same shape (torch leaves memory uninitialised, rnnkit zeros)."""
    as_size = bool(args) and isinstance(args[0], str)
    ours_args, theirs_args = ((rnnkit.Size([2, 3]),), (torch.Size([2, 3]),)) if as_size else (args, args)
    ours, theirs = getattr(rnnkit, name)(*ours_args), getattr(torch, name)(*theirs_args)
    assert ours.type() == theirs.type() and tuple(ours.shape) == tuple(theirs.shape)
    assert ours.tolist() == theirs.tolist() if is_data else not ours.any()


@pytest.mark.parametrize("make", [
    lambda m: m.FloatTensor(3.5), lambda m: m.LongTensor("ab"), lambda m: m.FloatTensor(-1),
    lambda m: m.FloatTensor(m.zeros(2, dtype=m.long)), lambda m: m.FloatTensor([1.0], device="cuda"),
    lambda m: m.zeros(2).type("torch.cuda.FloatTensor"), lambda m: m.zeros(2).type("torch.NoSuchTensor"),
])
def test_legacy_bad_input_raises_where_torch_raises(torch, make):
    with pytest.raises(Exception) as theirs:
        make(torch)
    expected = {"TypeError": TypeError, "RuntimeError": RuntimeError, "ValueError": (ValueError, TypeError)}
    with pytest.raises(expected.get(type(theirs.value).__name__, RuntimeError)):
        make(rnnkit)


@pytest.mark.parametrize("call", [
    lambda m, p, g: p.add(-0.5, g), lambda m, p, g: p.sub(2, g), lambda m, p, g: m.add(p, 3, g),
    lambda m, p, g: m.sub(p, m.tensor(2.0), g), lambda m, p, g: p.clone().add_(-0.25, g),
])
def test_deprecated_alpha_first_overload_matches_torch(torch, call):
    """``p.data.add_(-lr, p.grad.data)`` (the char-RNN generation tutorial): torch 2.13 still accepts it, warning."""
    p, g = np.array([1.0, 2.0]), np.array([4.0, -2.0])
    with pytest.warns(UserWarning, match="deprecated"):
        ours = call(rnnkit, rnnkit.tensor(p), rnnkit.tensor(g))
    theirs = call(torch, torch.tensor(p), torch.tensor(g))
    assert ours.tolist() == theirs.tolist()


@pytest.mark.parametrize("call", [
    lambda m, p, g: p.add(g, 2), lambda m, p, g: p.sub(g, g), lambda m, p, g: p.add_(-0.5, g, alpha=2),
    lambda m, p, g: p.add(1, g, g),
])
def test_bad_positional_alpha_raises_as_torch(torch, call):
    p, g = np.array([1.0, 2.0]), np.array([4.0, -2.0])
    with pytest.raises(TypeError):
        call(torch, torch.tensor(p), torch.tensor(g))
    with pytest.raises(TypeError, match="alpha"):
        call(rnnkit, rnnkit.tensor(p), rnnkit.tensor(g))
