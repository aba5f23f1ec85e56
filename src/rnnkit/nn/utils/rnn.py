"""Variable-length batches as ``torch.nn.utils.rnn``: packing, padding and ``PackedSequence``.

A packed sequence stores the valid steps of B sequences time-major in one array: at each
step t come the sequences still running (lengths > t), longest first. With lengths
(3, 1, 2) and sorted order (0, 2, 1):

    data        = [x0[0], x2[0], x1[0],  x0[1], x2[1],  x0[2]]     # (P, *), P = sum(lengths)
    batch_sizes = [3, 2, 1]                                          # (T,)  sequences alive at t
    sorted_indices = [0, 2, 1],  unsorted_indices = [0, 2, 1]        # sorted -> original, inverse

Packing and unpacking are each one differentiable op (a gather and the matching scatter).

Shape legend: T time (longest length), B batch, P packed rows, ``*`` feature dimensions.

Example:
    >>> import numpy as np
    >>> from rnnkit.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    >>> x = np.arange(6, dtype=np.float32).reshape(3, 2, 1)        # (T, B, 1)
    >>> packed = pack_padded_sequence(x, [3, 2])
    >>> packed.data.numpy().ravel().tolist(), packed.batch_sizes.tolist()
    ([0.0, 1.0, 2.0, 3.0, 4.0], [2, 2, 1])
    >>> padded, lengths = pad_packed_sequence(packed)
    >>> padded.shape, lengths.tolist()
    ((3, 2, 1), [3, 2])
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from rnnkit._tensor import Function, Tensor, array_of, as_tensor

__all__ = [
    "PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence", "pack_sequence",
    "packed_to_padded", "padded_to_packed",
]


class PackedSequence(NamedTuple):
    """Sequences of different lengths packed time-major, as ``torch.nn.utils.rnn.PackedSequence``.

    Attributes:
        data: (P, *) Tensor, the valid steps (see the module docstring for the order).
        batch_sizes: (T,) int64 ndarray, how many sequences are alive at each step.
        sorted_indices: (B,) int64 ndarray mapping sorted position -> original batch index,
            or None when the batch was already sorted by decreasing length.
        unsorted_indices: (B,) int64 ndarray, the inverse permutation, or None.
    """

    data: Tensor
    batch_sizes: np.ndarray
    sorted_indices: np.ndarray | None = None
    unsorted_indices: np.ndarray | None = None


# -- the two differentiable ops ----------------------------------------------------
class _Gather(Function):
    """Padded (T, B, *) (or (B, T, *)) -> packed rows (P, *); backward scatters back."""

    def forward(self, padded, index):
        self.shape, self.index = padded.shape, index
        return padded[index]  # (P, *)

    def backward(self, g):
        grad = np.zeros(self.shape, g.dtype)  # (T, B, *)
        grad[self.index] = g  # each padded cell is hit at most once
        return grad


class _Scatter(Function):
    """Packed rows (P, *) -> padded (T, B, *) (or (B, T, *)) filled with ``padding_value``."""

    def forward(self, data, index, shape, padding_value):
        self.index = index
        out = np.full(shape + data.shape[1:], padding_value, data.dtype)  # (T, B, *)
        out[index] = data
        return out

    def backward(self, g):
        return g[self.index]  # (P, *)


def _packed_index(
    batch_sizes: np.ndarray, sorted_indices: np.ndarray | None, batch_first: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(time, batch) positions of each packed row, batch as the ORIGINAL index."""
    time = np.repeat(np.arange(batch_sizes.size), batch_sizes)  # (P,)
    starts = np.cumsum(batch_sizes) - batch_sizes  # (T,) first row of each step
    rank = np.arange(time.size) - starts[time]  # (P,) position in sorted order
    batch = rank if sorted_indices is None else sorted_indices[rank]  # (P,)
    return (batch, time) if batch_first else (time, batch)


def _lengths_array(lengths: Any, batch: int, steps: int) -> np.ndarray:
    """Validated (B,) int64 lengths, each in [1, steps]."""
    array = array_of(lengths)
    if array.ndim != 1 or array.size != batch:
        raise ValueError(f"lengths: expected a 1-D sequence of {batch} lengths (one per batch entry), got shape {array.shape}")
    if array.dtype.kind == "f" and np.any(array != np.round(array)):
        raise ValueError(f"lengths: expected integers, got {array.tolist()}")
    if array.dtype.kind not in "iuf":
        raise TypeError(f"lengths: expected integers, got dtype {array.dtype}")
    array = array.astype(np.int64)
    if np.any(array <= 0):
        raise ValueError(f"lengths: every length must be greater than 0, got {array.tolist()}")
    if np.any(array > steps):
        raise ValueError(f"lengths: every length must be at most the {steps} time steps of the input, got {array.tolist()}")
    return array


def pack_padded_sequence(
    input: Any, lengths: Any, batch_first: bool = False, enforce_sorted: bool = True
) -> PackedSequence:
    """Pack a padded batch, as ``torch.nn.utils.rnn.pack_padded_sequence``.

    Args:
        input: (T, B, *) padded sequences, or (B, T, *) when ``batch_first``.
        lengths: (B,) valid lengths, each in [1, T].
        batch_first: layout of ``input``.
        enforce_sorted: require lengths in decreasing order (then ``sorted_indices`` is None);
            when False the batch is sorted here (stably) and the permutation is recorded.

    Returns:
        A :class:`PackedSequence` with data (sum(lengths), *).
    """
    x = as_tensor(input)
    if x.ndim < 2:
        raise ValueError(f"input: expected a padded batch with at least 2 dimensions (T, B, *), got shape {x.shape}")
    steps, batch = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    lengths = _lengths_array(lengths, batch, steps)
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(
                "lengths: expected decreasing lengths when enforce_sorted=True (pass enforce_sorted=False "
                f"to sort them), got {lengths.tolist()}"
            )
        sorted_indices = unsorted_indices = None
        sorted_lengths = lengths
    else:
        sorted_indices = np.argsort(-lengths, kind="stable")  # (B,) sorted -> original
        unsorted_indices = np.argsort(sorted_indices)  # (B,) original -> sorted
        sorted_lengths = lengths[sorted_indices]
    batch_sizes = (sorted_lengths[None, :] > np.arange(sorted_lengths[0])[:, None]).sum(axis=1)  # (T,)
    index = _packed_index(batch_sizes, sorted_indices, batch_first)
    return PackedSequence(_Gather.apply(x, index=index), batch_sizes, sorted_indices, unsorted_indices)


def _check_packed(sequence: Any) -> PackedSequence:
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"sequence: expected a PackedSequence, got {type(sequence).__name__}")
    return sequence


def _sorted_lengths(batch_sizes: np.ndarray) -> np.ndarray:
    """(B,) lengths in sorted order: how many steps have at least j + 1 sequences alive."""
    return (batch_sizes[None, :] > np.arange(batch_sizes[0])[:, None]).sum(axis=1)


def _original_lengths(packed: PackedSequence) -> np.ndarray:
    lengths = _sorted_lengths(packed.batch_sizes)  # (B,) sorted order
    return lengths if packed.unsorted_indices is None else lengths[packed.unsorted_indices]


def pad_packed_sequence(
    sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0, total_length: int | None = None
) -> tuple[Tensor, Tensor]:
    """Unpack to a padded batch in the original batch order, as ``torch.nn.utils.rnn.pad_packed_sequence``.

    Args:
        sequence: a :class:`PackedSequence`.
        batch_first: return (B, T, *) instead of (T, B, *).
        padding_value: value of the steps past each length.
        total_length: pad to this many steps (at least the longest length).

    Returns:
        ``(padded, lengths)``: padded (T, B, *) or (B, T, *); lengths (B,) int64 Tensor.
    """
    packed = _check_packed(sequence)
    steps = packed.batch_sizes.size
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                f"total_length: expected at least the longest sequence length {steps}, got {total_length}"
            )
        steps = total_length
    batch = int(packed.batch_sizes[0])
    index = _packed_index(packed.batch_sizes, packed.sorted_indices, batch_first)
    shape = (batch, steps) if batch_first else (steps, batch)
    padded = _Scatter.apply(packed.data, index=index, shape=shape, padding_value=padding_value)
    return padded, Tensor(_original_lengths(packed))


def packed_to_padded(packed: PackedSequence) -> tuple[Tensor, np.ndarray]:
    """For recurrent layers: a PackedSequence as zero-padded time-major (T, B, *) and (B,) lengths,
    both in the ORIGINAL batch order; undone by :func:`padded_to_packed`."""
    packed = _check_packed(packed)
    padded, lengths = pad_packed_sequence(packed)
    return padded, lengths.data


def padded_to_packed(padded: Any, lengths: Any, like: PackedSequence) -> PackedSequence:
    """For recurrent layers: pack time-major (T, B, *) (original batch order) with the batch sizes
    and sorted/unsorted indices of ``like``; ``lengths`` (B,) must be ``like``'s lengths."""
    like = _check_packed(like)
    x = as_tensor(padded)
    expected = _original_lengths(like)
    if x.ndim < 2 or x.shape[1] != expected.size or x.shape[0] < like.batch_sizes.size:
        raise ValueError(
            f"padded: expected (T >= {like.batch_sizes.size}, {expected.size}, *) time-major, got shape {x.shape}"
        )
    given = array_of(lengths)
    if given.shape != expected.shape or np.any(given != expected):
        raise ValueError(f"lengths: expected the packed sequence's lengths {expected.tolist()}, got {given.tolist()}")
    index = _packed_index(like.batch_sizes, like.sorted_indices, batch_first=False)
    return PackedSequence(_Gather.apply(x, index=index), like.batch_sizes, like.sorted_indices, like.unsorted_indices)


class _PadSequence(Function):
    """List of (L_i, *) -> padded (T, B, *) or (B, T, *); backward slices each gradient back."""

    def forward(self, *sequences, batch_first, padding_value, left):
        steps = max(s.shape[0] for s in sequences)
        dtype = np.result_type(*sequences)
        out = np.full((steps, len(sequences)) + sequences[0].shape[1:], padding_value, dtype)  # (T, B, *)
        self.spans = [slice(steps - len(s), steps) if left else slice(0, len(s)) for s in sequences]
        for i, (s, span) in enumerate(zip(sequences, self.spans)):
            out[span, i] = s
        self.batch_first = batch_first
        return np.ascontiguousarray(out.swapaxes(0, 1)) if batch_first else out

    def backward(self, g):
        g = g.swapaxes(0, 1) if self.batch_first else g  # (T, B, *)
        return tuple(g[span, i] for i, span in enumerate(self.spans))


def pad_sequence(
    sequences: Sequence[Any], batch_first: bool = False, padding_value: float = 0.0, padding_side: str = "right"
) -> Tensor:
    """Stack (L_i, *) sequences into one padded batch, as ``torch.nn.utils.rnn.pad_sequence``.

    Args:
        sequences: B tensors (L_i, *) with equal trailing dimensions.
        batch_first: return (B, T, *) instead of (T, B, *), T = max L_i.
        padding_value: value of the padded steps.
        padding_side: 'right' (default) or 'left'.
    """
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side: expected 'right' or 'left', got {padding_side!r}")
    tensors = [as_tensor(s) for s in sequences]
    if not tensors:
        raise ValueError("sequences: expected at least one sequence, got none")
    trailing = {t.shape[1:] for t in tensors if t.ndim >= 1}
    if any(t.ndim == 0 for t in tensors) or len(trailing) != 1:
        raise ValueError(
            f"sequences: expected tensors (L_i, *) with equal trailing dimensions, got shapes {[t.shape for t in tensors]}"
        )
    return _PadSequence.apply(
        *tensors, batch_first=batch_first, padding_value=padding_value, left=padding_side == "left"
    )


def pack_sequence(sequences: Sequence[Any], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of (L_i, *) sequences, as ``torch.nn.utils.rnn.pack_sequence``."""
    tensors = [as_tensor(s) for s in sequences]
    lengths = [t.shape[0] if t.ndim else 0 for t in tensors]
    return pack_padded_sequence(pad_sequence(tensors), lengths, enforce_sorted=enforce_sorted)
