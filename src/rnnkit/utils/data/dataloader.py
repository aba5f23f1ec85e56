"""``DataLoader``: batches from a dataset, with torch's default collation.

Loading runs in the calling process: ``num_workers`` is accepted (PyTorch programs pass it)
and gives the same batches in the same order as with workers, only without parallelism.

Example:
    >>> import rnnkit
    >>> from rnnkit.utils.data import DataLoader, default_collate
    >>> default_collate([(1, 0.5), (2, 1.5)])
    [tensor([1, 2]), tensor([0.5000, 1.5000], dtype=rnnkit.float64)]
    >>> loader = DataLoader(list(range(5)), batch_size=2, shuffle=True, drop_last=True,
    ...                     generator=rnnkit.Generator().manual_seed(0))
    >>> len(loader), [len(b) for b in loader]
    (2, [2, 2])
"""

from __future__ import annotations

import collections.abc
from typing import Any, Callable, Iterator

import numpy as np

from rnnkit._generator import Generator
from rnnkit._tensor import Tensor
from rnnkit.utils.data.dataset import IterableDataset
from rnnkit.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "default_collate", "default_convert"]


def default_convert(data: Any) -> Any:
    """ndarrays (of numbers) become Tensors, inside lists, tuples and dicts too; the rest is unchanged."""
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        return Tensor(data)
    if isinstance(data, np.generic) and data.dtype.kind in "biuf":
        return Tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return type(data)({k: default_convert(v) for k, v in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(default_convert(d) for d in data)
    return data


def default_collate(batch: list) -> Any:
    """Stack a list of samples into a batch, as ``torch.utils.data.default_collate``.

    Tensors and ndarrays are stacked along a new first dimension; Python floats become a
    float64 tensor, ints int64, bools bool; strings stay a list; dicts, named tuples and
    sequences are collated field by field (sequences must have equal lengths).
    """
    from rnnkit._ops import stack

    first = batch[0]
    if isinstance(first, Tensor):
        return stack(batch, 0)
    if isinstance(first, np.ndarray):
        if first.dtype.kind not in "biuf":
            raise TypeError(f"default_collate: batch must contain tensors, numbers, dicts or lists; found {first.dtype}")
        return stack([Tensor(b) for b in batch], 0)
    if isinstance(first, np.generic):
        return Tensor(np.asarray(batch))
    if isinstance(first, bool):
        return Tensor(np.asarray(batch, dtype=bool))
    if isinstance(first, float):
        return Tensor(np.asarray(batch, dtype=np.float64))
    if isinstance(first, int):
        return Tensor(np.asarray(batch, dtype=np.int64))
    if isinstance(first, (str, bytes)):
        return batch
    if isinstance(first, collections.abc.Mapping):
        return type(first)({key: default_collate([d[key] for d in batch]) for key in first})
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(first, collections.abc.Sequence):
        if len({len(b) for b in batch}) != 1:
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(samples)) for samples in zip(*batch)]  # a list, as torch
    raise TypeError(
        f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {type(first)}"
    )


class DataLoader:
    """Iterate over a dataset in batches, as ``torch.utils.data.DataLoader``.

    Args:
        dataset: a map-style dataset (``__getitem__``/``__len__``) or an IterableDataset.
        batch_size: samples per batch; None yields samples one by one, uncollated.
        shuffle: visit the samples in a new random order every epoch (uses ``generator``).
        sampler: the indices to visit (instead of ``shuffle``).
        batch_sampler: lists of indices, one per batch (instead of batch_size/shuffle/sampler/drop_last).
        num_workers: accepted for compatibility; loading always runs in this process.
        collate_fn: turns a list of samples into a batch (default: :func:`default_collate`).
        pin_memory: accepted; there is no device memory to pin.
        drop_last: drop the last, incomplete batch.
        generator: an :class:`rnnkit.Generator` for shuffling.
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | None = None, batch_sampler: Any = None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False, drop_last: bool = False,
                 timeout: float = 0, worker_init_fn: Callable | None = None, generator: Generator | None = None,
                 prefetch_factor: int | None = None, persistent_workers: bool = False):
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers option should be non-negative; got num_workers={num_workers}")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        iterable = isinstance(dataset, IterableDataset)
        if iterable and (shuffle or sampler is not None or batch_sampler is not None):
            raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle, sampler and batch_sampler")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last")
        if batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        self.dataset, self.num_workers, self.pin_memory, self.timeout = dataset, num_workers, pin_memory, timeout
        self.worker_init_fn, self.generator, self.drop_last = worker_init_fn, generator, drop_last
        self._iterable = iterable
        if batch_sampler is not None:
            batch_size, drop_last = None, False
        if not iterable and sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size, self.sampler, self.batch_sampler = batch_size, sampler, batch_sampler
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if batch_sampler is not None or (iterable and batch_size is not None) else default_convert
        )

    def __iter__(self) -> Iterator[Any]:
        if self.worker_init_fn is not None:
            self.worker_init_fn(0)  # the one (main-process) worker
        if self._iterable:
            yield from self._iterate_stream()
        elif self.batch_sampler is not None:
            for indices in self.batch_sampler:
                yield self.collate_fn([self.dataset[i] for i in indices])
        else:
            for index in self.sampler:
                yield self.collate_fn(self.dataset[index])

    def _iterate_stream(self) -> Iterator[Any]:
        if self.batch_size is None:
            yield from (self.collate_fn(sample) for sample in self.dataset)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler) if self.batch_sampler is not None else len(self.sampler)

