"""Map-style and iterable datasets, as ``torch.utils.data.dataset``.

Example:
    >>> import rnnkit
    >>> from rnnkit.utils.data import TensorDataset, random_split
    >>> ds = TensorDataset(rnnkit.arange(6))
    >>> train, test = random_split(ds, [0.5, 0.5], generator=rnnkit.Generator().manual_seed(0))
    >>> len(train), len(test), sorted(int(train[i][0]) for i in range(3)) != []
    (3, 3, True)
"""

from __future__ import annotations

import bisect
import math
from typing import Any, Iterable, Sequence

import numpy as np

from rnnkit._generator import Generator, numpy_generator
from rnnkit._tensor import Tensor

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(index)`` and usually ``__len__``."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream: subclasses define ``__iter__``."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other: Dataset):
        raise TypeError("IterableDataset does not support +; chain the iterables instead")


class TensorDataset(Dataset):
    """Row ``i`` of every tensor: ``dataset[i] == (t1[i], t2[i], ...)``.

    Args:
        *tensors: tensors with the same first dimension.
    """

    def __init__(self, *tensors: Tensor):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        sizes = {int(t.shape[0]) if t.ndim else -1 for t in tensors}
        if len(sizes) != 1 or -1 in sizes:
            raise ValueError(f"Size mismatch between tensors: first dimensions {[tuple(t.shape) for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index: Any) -> tuple:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return int(self.tensors[0].shape[0])


class Subset(Dataset):
    """The items of ``dataset`` at ``indices`` (in that order)."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = list(indices)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, list):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several map-style datasets one after the other."""

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            if -index > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        offset = index - (self.cumulative_sizes[which - 1] if which else 0)
        return self.datasets[which][offset]


def random_split(dataset: Dataset, lengths: Sequence[float], generator: Generator | None = None) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping subsets of the given lengths or fractions.

    Fractions summing to 1 become lengths as torch computes them: floors, then the remainder
    one by one to the first subsets.

    Args:
        dataset: a map-style dataset.
        lengths: ints summing to ``len(dataset)``, or fractions summing to 1.
        generator: an :class:`rnnkit.Generator` (the global one when None).
    """
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    order = numpy_generator(generator).permutation(n).tolist()
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, order[start : start + length]))
        start += length
    return out
