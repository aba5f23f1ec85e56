"""rnnkit.utils.data and rnnkit.autograd against torch.utils.data and torch.autograd."""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit
from rnnkit.utils import data
from helpers import check_grad, close


def _plain(batch):
    """A batch as nested Python values (tensors as (dtype kind, list)) to compare the two frameworks."""
    if hasattr(batch, "detach"):
        array = batch.detach().numpy()
        return array.dtype.kind, array.tolist()
    if isinstance(batch, dict):
        return {k: _plain(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return [_plain(b) for b in batch]
    return batch


SAMPLES = [
    [1.5, 2.5],
    [1, 2],
    [True, False],
    ["a", "b"],
    [(1, "x", 0.5), (2, "y", 1.5)],
    [{"ids": [1, 2], "w": 1.0}, {"ids": [3, 4], "w": 2.0}],
    [np.ones(2, np.float32), np.zeros(2, np.float32)],
    [np.float32(1.0), np.float32(2.0)],
]


@pytest.mark.parametrize("index", range(len(SAMPLES)))
def test_default_collate_matches_torch(torch, index):
    from torch.utils.data import default_collate

    samples = SAMPLES[index]
    assert _plain(data.default_collate(samples)) == _plain(default_collate(samples))


def test_default_collate_tensors_and_unequal_lists(torch):
    from torch.utils.data import default_collate

    ours = data.default_collate([(rnnkit.ones(2), 1), (rnnkit.zeros(2), 0)])
    theirs = default_collate([(torch.ones(2), 1), (torch.zeros(2), 0)])
    assert _plain(ours) == _plain(theirs)
    for collate in (data.default_collate, default_collate):
        with pytest.raises(RuntimeError, match="equal size"):
            collate([[1, 2], [3]])


@pytest.mark.parametrize("batch_size,drop_last", [(1, False), (3, False), (3, True), (None, False)])
def test_dataloader_batches_match_torch(torch, batch_size, drop_last):
    from torch.utils.data import DataLoader, TensorDataset

    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    ours = data.DataLoader(data.TensorDataset(rnnkit.tensor(x), rnnkit.tensor(y)), batch_size=batch_size,
                           drop_last=drop_last)
    theirs = DataLoader(TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    assert [_plain(b) for b in ours] == [_plain(b) for b in theirs]


def test_shuffle_with_a_generator_is_reproducible_and_new_each_epoch():
    loader = data.DataLoader(list(range(50)), batch_size=10, shuffle=True,
                             generator=rnnkit.Generator().manual_seed(3))
    first, second = [sum((b.tolist() for b in loader), []) for _ in range(2)]
    assert sorted(first) == sorted(second) == list(range(50)) and first != second
    again = data.DataLoader(list(range(50)), batch_size=10, shuffle=True, generator=rnnkit.Generator().manual_seed(3))
    assert sum((b.tolist() for b in again), []) == first


def test_samplers_collate_fn_and_iterable_datasets(torch):
    from torch.utils import data as tdata

    class Stream(data.IterableDataset):
        def __iter__(self):
            return iter(range(7))

    class TStream(tdata.IterableDataset):
        def __iter__(self):
            return iter(range(7))

    assert [_plain(b) for b in data.DataLoader(Stream(), batch_size=3)] == [
        _plain(b) for b in tdata.DataLoader(TStream(), batch_size=3)
    ]
    batches = list(data.DataLoader(list(range(6)), batch_sampler=data.BatchSampler(
        data.SequentialSampler(range(6)), 4, drop_last=False), collate_fn=lambda b: b[::-1]))
    assert batches == [[3, 2, 1, 0], [5, 4]]
    weighted = list(data.WeightedRandomSampler([0.0, 1.0, 0.0], 5, generator=rnnkit.Generator().manual_seed(0)))
    assert weighted == [1] * 5
    subset = list(data.SubsetRandomSampler([4, 7, 9], generator=rnnkit.Generator().manual_seed(0)))
    assert sorted(subset) == [4, 7, 9]
    with pytest.raises(ValueError, match="mutually exclusive"):
        data.DataLoader(list(range(3)), sampler=data.SequentialSampler(range(3)), shuffle=True)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        data.BatchSampler(range(3), 0, False)


def test_datasets_split_subset_concat_match_torch(torch):
    from torch.utils import data as tdata

    for lengths in ([0.7, 0.3], [0.34, 0.33, 0.33], [4, 6]):
        ours = data.random_split(list(range(10)), lengths)
        theirs = tdata.random_split(list(range(10)), lengths)
        assert [len(s) for s in ours] == [len(s) for s in theirs]
        assert sorted(i for s in ours for i in s.indices) == list(range(10))
    with pytest.raises(ValueError, match="Sum of input lengths"):
        data.random_split(list(range(10)), [3, 3])
    a, b = data.TensorDataset(rnnkit.arange(3)), data.TensorDataset(rnnkit.arange(10, 14))
    ta, tb = tdata.TensorDataset(torch.arange(3)), tdata.TensorDataset(torch.arange(10, 14))
    both, tboth = a + b, ta + tb
    assert len(both) == len(tboth) == 7
    assert [int(both[i][0]) for i in range(-7, 7)] == [int(tboth[i][0]) for i in range(-7, 7)]
    assert int(data.Subset(both, [5, 0])[0][0]) == 12
    with pytest.raises(ValueError, match="Size mismatch"):
        data.TensorDataset(rnnkit.ones(3), rnnkit.ones(4))


def test_autograd_grad_matches_torch(torch):
    x = np.random.default_rng(0).standard_normal(3)
    ours, theirs = rnnkit.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    w_o, w_t = rnnkit.tensor(x * 2, requires_grad=True), torch.tensor(x * 2, requires_grad=True)
    h_o, h_t = (ours * w_o).tanh(), (theirs * w_t).tanh()
    g_o = rnnkit.autograd.grad(h_o.sum(), [ours, h_o], retain_graph=True)
    g_t = torch.autograd.grad(h_t.sum(), [theirs, h_t], retain_graph=True)
    for a, b in zip(g_o, g_t):
        close(a, b)
    assert ours.grad is None and w_o.grad is None
    unused = rnnkit.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        rnnkit.autograd.grad(h_o.sum(), [unused], retain_graph=True)
    assert rnnkit.autograd.grad(h_o.sum(), [unused], allow_unused=True, retain_graph=True) == (None,)
    h_o.retain_grad()
    (h_o * 3).sum().backward()
    close(h_o.grad, [3.0, 3.0, 3.0])


class _Clip(rnnkit.autograd.Function):
    """A custom op: y = x * scale clipped to [-1, 1], with the straight-through gradient where unclipped."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        y = x * scale
        ctx.save_for_backward(y)
        return y.clamp(-1.0, 1.0)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * ctx.scale * (y.abs() < 1).double(), None


def test_custom_function_gradients_and_saved_tensor_checks(torch):
    x = np.array([0.1, -0.3, 0.9, 0.02])
    check_grad(lambda t: _Clip.apply(t, 2.0), x)
    y = rnnkit.tensor(x, requires_grad=True)
    out = _Clip.apply(y, 2.0)
    assert out.requires_grad and out.grad_fn is not None
    with rnnkit.no_grad():
        assert not _Clip.apply(y, 2.0).requires_grad


def test_variable_and_grad_modes(torch):
    from torch.autograd import Variable as TVariable

    t = rnnkit.ones(2)
    v = rnnkit.autograd.Variable(t, requires_grad=True)
    tv = TVariable(torch.ones(2), requires_grad=True)
    assert v.requires_grad == tv.requires_grad and v is not t and isinstance(t, rnnkit.autograd.Variable)
    v.data[0] = 5.0
    assert float(t[0]) == 5.0  # shares memory, as torch
    with rnnkit.set_grad_enabled(False):
        assert not (v * 2).requires_grad
    assert (v * 2).requires_grad
    rnnkit.set_grad_enabled(False)
    assert not rnnkit.is_grad_enabled()
    rnnkit.set_grad_enabled(True)
    with rnnkit.inference_mode():
        assert not (v * 2).requires_grad
    with rnnkit.inference_mode(False):
        assert (v * 2).requires_grad

    @rnnkit.no_grad
    def bare(x):
        return x * 2

    assert not bare(v).requires_grad
