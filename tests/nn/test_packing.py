"""Sequence packing against torch.nn.utils.rnn: layout, indices, padding and gradients through both."""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit
from rnnkit.nn.utils import rnn as U

torch = pytest.importorskip("torch", reason="parity tests compare against torch")
TU = torch.nn.utils.rnn

RNG = np.random.default_rng(3)


def randn(*shape):
    return RNG.standard_normal(shape)


def same(ours, ref):
    ours = ours.data if isinstance(ours, rnnkit.Tensor) else ours
    if ref is None:
        assert ours is None
        return
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    np.testing.assert_array_equal(ours, ref)


def same_packed(ours, ref):
    assert isinstance(ours, U.PackedSequence)
    same(ours.data, ref.data)
    same(ours.batch_sizes, ref.batch_sizes)
    same(ours.sorted_indices, ref.sorted_indices)
    same(ours.unsorted_indices, ref.unsorted_indices)


CASES = [  # (lengths, enforce_sorted): sorted, unsorted with ties, single sequence, all full
    ([5, 3, 3, 1], True),
    ([3, 5, 1, 5, 3, 2], False),
    ([2, 4, 4, 1], False),
    ([4], True),
    ([4, 4, 4], False),
]


@pytest.mark.parametrize("lengths,enforce_sorted", CASES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("features", [(2,), (), (2, 3)])
def test_pack_pad_round_trip_matches_torch(lengths, enforce_sorted, batch_first, features):
    T, B = 6, len(lengths)  # T larger than the longest length: the extra padding is dropped
    shape = ((B, T) if batch_first else (T, B)) + features
    x = randn(*shape)
    xo = rnnkit.tensor(x, requires_grad=True, dtype=np.float64)
    xr = torch.tensor(x, requires_grad=True)

    po = U.pack_padded_sequence(xo, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    pr = TU.pack_padded_sequence(xr, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=enforce_sorted)
    same_packed(po, pr)

    yo, lo = U.pad_packed_sequence(po, batch_first=batch_first, padding_value=-1.5)
    yr, lr = TU.pad_packed_sequence(pr, batch_first=batch_first, padding_value=-1.5)
    same(yo, yr)
    same(lo, lr)
    assert lo.dtype == np.int64

    g = randn(*yr.shape)
    (yo * rnnkit.tensor(g)).sum().backward()
    (yr * torch.tensor(g)).sum().backward()
    same(xo.grad, xr.grad)


@pytest.mark.parametrize("batch_first", [False, True])
def test_pad_packed_total_length(batch_first):
    x = randn(4, 3, 2)
    lengths = [3, 4, 2]
    po = U.pack_padded_sequence(x, lengths, enforce_sorted=False)
    pr = TU.pack_padded_sequence(torch.tensor(x), lengths, enforce_sorted=False)
    yo, lo = U.pad_packed_sequence(po, batch_first=batch_first, total_length=7)
    yr, lr = TU.pad_packed_sequence(pr, batch_first=batch_first, total_length=7)
    same(yo, yr)
    same(lo, lr)
    with pytest.raises(ValueError, match="total_length: expected at least the longest sequence length 4, got 3"):
        U.pad_packed_sequence(po, total_length=3)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_matches_torch(batch_first, padding_side):
    arrays = [randn(3, 2), randn(5, 2), randn(1, 2)]
    ours = [rnnkit.tensor(a, requires_grad=True, dtype=np.float64) for a in arrays]
    ref = [torch.tensor(a, requires_grad=True) for a in arrays]
    yo = U.pad_sequence(ours, batch_first=batch_first, padding_value=9.0, padding_side=padding_side)
    yr = TU.pad_sequence(ref, batch_first=batch_first, padding_value=9.0, padding_side=padding_side)
    same(yo, yr)
    g = randn(*yr.shape)
    yo.backward(g)
    yr.backward(torch.tensor(g))
    for o, r in zip(ours, ref):
        same(o.grad, r.grad)


@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_sequence_matches_torch(enforce_sorted):
    arrays = [randn(5, 3), randn(4, 3), randn(2, 3)] if enforce_sorted else [randn(2, 3), randn(5, 3), randn(4, 3)]
    ours = [rnnkit.tensor(a, requires_grad=True, dtype=np.float64) for a in arrays]
    ref = [torch.tensor(a, requires_grad=True) for a in arrays]
    po = U.pack_sequence(ours, enforce_sorted=enforce_sorted)
    pr = TU.pack_sequence(ref, enforce_sorted=enforce_sorted)
    same_packed(po, pr)
    g = randn(*pr.data.shape)
    po.data.backward(g)
    pr.data.backward(torch.tensor(g))
    for o, r in zip(ours, ref):
        same(o.grad, r.grad)


@pytest.mark.parametrize("lengths,enforce_sorted", CASES)
def test_recurrent_helpers_round_trip(lengths, enforce_sorted):
    B = len(lengths)
    x = randn(max(lengths) + 1, B, 3)
    packed = U.pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
    data = rnnkit.tensor(packed.data.data, requires_grad=True, dtype=np.float64)
    packed = U.PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)

    padded, lens = U.packed_to_padded(packed)
    assert isinstance(lens, rnnkit.Tensor) and lens.dtype == rnnkit.int64  # as torch
    np.testing.assert_array_equal(lens, lengths)  # original batch order
    assert padded.shape == (max(lengths), B, 3)
    for b, n in enumerate(lengths):
        np.testing.assert_array_equal(padded.data[:n, b], x[:n, b])
        assert not padded.data[n:, b].any()

    again = U.padded_to_packed(padded * 2.0, lens, like=packed)
    np.testing.assert_array_equal(again.data.data, 2 * packed.data.data)
    assert again.batch_sizes is packed.batch_sizes
    assert again.sorted_indices is packed.sorted_indices and again.unsorted_indices is packed.unsorted_indices
    g = randn(*again.data.shape)
    again.data.backward(g)
    np.testing.assert_array_equal(data.grad, 2 * g)


def test_padded_to_packed_validates():
    packed = U.pack_padded_sequence(randn(3, 2, 1), [3, 2])
    padded, lens = U.packed_to_padded(packed)
    with pytest.raises(ValueError, match=r"lengths: expected the packed sequence's lengths \[3, 2\], got \[3, 1\]"):
        U.padded_to_packed(padded, [3, 1], like=packed)
    with pytest.raises(ValueError, match="padded: expected"):
        U.padded_to_packed(randn(2, 2, 1), lens, like=packed)
    with pytest.raises(TypeError, match="expected a PackedSequence, got tuple"):
        U.packed_to_padded((1, 2))


@pytest.mark.parametrize(
    "lengths,message",
    [
        ([3, 0], r"lengths: every length must be greater than 0, got \[3, 0\]"),
        ([3, -1], "greater than 0"),
        ([5, 2], r"lengths: every length must be at most the 4 time steps of the input, got \[5, 2\]"),
        ([2, 3], "lengths: expected decreasing lengths when enforce_sorted=True"),
        ([3, 2, 1], r"lengths: expected a 1-D sequence of 2 lengths \(one per batch entry\), got shape \(3,\)"),
        ([2.5, 1], "lengths: expected integers"),
    ],
)
def test_pack_padded_sequence_validates_lengths(lengths, message):
    with pytest.raises(ValueError, match=message):
        U.pack_padded_sequence(randn(4, 2, 3), lengths)


def test_pack_accepts_tensor_lengths_and_ndarray_input():
    x = randn(3, 2, 1).astype(np.float32)
    packed = U.pack_padded_sequence(x, rnnkit.tensor(np.array([3, 1])))
    assert packed.data.dtype == np.float32 and packed.batch_sizes.tolist() == [2, 1, 1]
    with pytest.raises(ValueError, match="input: expected a padded batch"):
        U.pack_padded_sequence(randn(3), [3])
    with pytest.raises(ValueError, match="padding_side"):
        U.pad_sequence([randn(2)], padding_side="middle")
    with pytest.raises(ValueError, match="equal trailing dimensions"):
        U.pad_sequence([randn(2, 3), randn(2, 4)])
