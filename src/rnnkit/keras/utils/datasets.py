"""In-memory datasets of Keras's dataset helpers: ``timeseries_dataset_from_array`` and ``split_dataset``.

Keras returns ``tf.data`` datasets; rnnkit returns a :class:`Dataset`, a ``keras.utils.PyDataset`` over
arrays held in memory that ``fit``/``evaluate``/``predict`` take directly and that offers the
``tf.data`` methods tutorials use on these results (``batch``, ``unbatch``, ``take``, ``skip``,
``as_numpy_iterator``, ``cardinality``, iteration). Its numeric elements are rnnkit Tensors (``batch.numpy()``,
``batch.shape`` and NumPy conversion work, as on ``tf`` tensors), texts are object ndarrays;
``as_numpy_iterator`` gives ndarrays.

Windows (``timeseries_dataset_from_array``; s = start_index, r = sampling_rate, L = sequence_length)::

    sequence_i = data[s + p_i + (0, r, 2r, ..., (L - 1) r)]      p_i = i * sequence_stride
    target_i   = targets[s + p_i]

Example:
    >>> import numpy as np
    >>> ds = timeseries_dataset_from_array(np.arange(10), np.arange(10) * 10, sequence_length=3, batch_size=4)
    >>> x, y = ds[0]
    >>> x.numpy().tolist(), y.numpy().tolist(), len(ds)
    ([[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]], [0, 10, 20, 30], 2)
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from rnnkit._tensor import Tensor
from rnnkit._validation import check_size
from rnnkit.keras.data_adapters import PyDataset, num_samples, take, to_numpy
from rnnkit.keras.layers.base import map_structure

__all__ = ["Dataset", "MappedDataset", "timeseries_dataset_from_array", "split_dataset"]


def _served_array(array: Any) -> Any:
    """Numbers as a Tensor; texts (object arrays of bytes or str) stay ndarrays, as there are no string Tensors."""
    array = np.asarray(array)
    return Tensor(array) if array.dtype.kind in "biuf" else array


class Dataset(PyDataset):
    """Samples held in arrays (``x`` or a tuple ``(x, y[, sample_weight])``), served in batches or one by one.

    Args:
        elements: an array, or a tuple/list/dict of arrays with one first dimension N.
        batch_size: samples per batch; None serves single samples (an "unbatched" dataset).
        drop_remainder: drop a last, smaller batch.
    """

    shuffle_in_fit = False  # a tf.data stand-in: fit(shuffle=True) keeps its order, as Keras with tf.data

    def __init__(self, elements: Any, batch_size: int | None = None, drop_remainder: bool = False):
        super().__init__()
        self.elements = to_numpy(elements)
        self.n = num_samples("elements", self.elements)
        self.batch_size = None if batch_size is None else check_size("batch_size", batch_size, 1)
        self.drop_remainder = bool(drop_remainder)

    def __len__(self) -> int:
        if self.batch_size is None:
            return self.n
        return self.n // self.batch_size if self.drop_remainder else math.ceil(self.n / self.batch_size)

    def _element(self, index: int) -> Any:
        """Element ``index`` as ndarrays."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"Dataset index {index} out of range for {len(self)} elements")
        index %= len(self)
        if self.batch_size is None:
            return take(self.elements, index)
        return take(self.elements, slice(index * self.batch_size, (index + 1) * self.batch_size))

    def __getitem__(self, index: int) -> Any:
        return map_structure(_served_array, self._element(index))

    def cardinality(self) -> int:
        """Number of elements (batches when batched)."""
        return len(self)

    def batch(self, batch_size: int, drop_remainder: bool = False) -> "Dataset":
        """Batches of ``batch_size`` samples (of an unbatched dataset)."""
        if self.batch_size is not None:
            raise ValueError("batch: this dataset is already batched; call unbatch() first")
        return Dataset(self.elements, batch_size, drop_remainder)

    def unbatch(self) -> "Dataset":
        """Single samples."""
        return Dataset(self._served(), None)

    def _served(self) -> Any:
        """The samples this dataset serves (a dropped remainder excluded)."""
        n = self.n if self.batch_size is None else len(self) * self.batch_size
        return take(self.elements, slice(0, min(n, self.n)))

    def take(self, count: int) -> "Dataset":
        """The first ``count`` elements (all when ``count`` is -1)."""
        count = len(self) if count == -1 else check_size("count", count, 0)
        size = count if self.batch_size is None else count * self.batch_size
        return Dataset(take(self._served(), slice(0, size)), self.batch_size, self.drop_remainder)

    def skip(self, count: int) -> "Dataset":
        """All but the first ``count`` elements."""
        count = check_size("count", count, 0)
        size = count if self.batch_size is None else count * self.batch_size
        return Dataset(take(self._served(), slice(size, None)), self.batch_size, self.drop_remainder)

    def as_numpy_iterator(self) -> Iterator[Any]:
        """The elements as ndarrays."""
        return (self._element(i) for i in range(len(self)))

    def map(self, function: Any) -> "MappedDataset":
        """``function`` applied to each element (a tuple element is passed unpacked, as ``tf.data`` does),
        lazily, e.g. ``ds.map(lambda texts, labels: (vectorize(texts), labels))``."""
        return MappedDataset(self, function)


class MappedDataset(PyDataset):
    """``dataset.map(function)``: ``function(*element)`` (or ``function(element)``) for each element served.

    Args:
        dataset: the source (any ``PyDataset``, e.g. a :class:`Dataset`).
        function: the callable applied to each element.
    """

    def __init__(self, dataset: PyDataset, function: Any):
        if not callable(function):
            raise TypeError(f"function: expected a callable, got {type(function).__name__}")
        super().__init__()
        self.dataset = dataset
        self.function = function
        self.shuffle_in_fit = getattr(dataset, "shuffle_in_fit", True)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        element = self.dataset[index]
        return self.function(*element) if isinstance(element, tuple) else self.function(element)

    def on_epoch_end(self) -> None:
        self.dataset.on_epoch_end()

    def map(self, function: Any) -> "MappedDataset":
        """Another function applied after this one."""
        return MappedDataset(self, function)


def timeseries_dataset_from_array(data: Any, targets: Any, sequence_length: int, sequence_stride: int = 1,
                                  sampling_rate: int = 1, batch_size: int | None = 128, shuffle: bool = False,
                                  seed: int | None = None, start_index: int | None = None,
                                  end_index: int | None = None) -> Dataset:
    """Sliding windows over a series, as ``keras.utils.timeseries_dataset_from_array``.

    Args:
        data: ``(T, ...)`` array of time steps.
        targets: ``(T, ...)`` targets; window ``i`` (starting at step ``p``) gets ``targets[start_index + p]``.
            None for inputs only.
        sequence_length: steps per window L.
        sequence_stride: steps between the starts of consecutive windows.
        sampling_rate: keep every ``sampling_rate``-th step inside a window.
        batch_size: windows per batch (None: single windows).
        shuffle: shuffle the windows once, with ``np.random.RandomState(seed)`` (Keras's grain order;
            its tf.data path shuffles in a buffer instead).
        seed: shuffling seed (None: a random one).
        start_index, end_index: use ``data[start_index:end_index]`` only.

    Returns:
        a :class:`Dataset` of ``(x, y)`` batches (``x`` alone without targets); ``x`` is
        ``(batch, L, ...)``.

    Raises:
        ValueError: indices, rates or strides out of range (as Keras's messages).
    """
    data = np.asarray(to_numpy(data))
    n = len(data)
    start_index = 0 if start_index is None else int(start_index)
    if start_index < 0 or (start_index and start_index >= n):
        raise ValueError(f"start_index must be in [0, len(data)={n}), got {start_index}")
    if end_index is not None:
        end_index = int(end_index)
        if end_index <= 0 or end_index >= n or (start_index and end_index <= start_index):
            raise ValueError(f"end_index must be in ({start_index}, len(data)={n}) and above 0, got {end_index}")
    end_index = n if end_index is None else end_index
    sequence_length = check_size("sequence_length", sequence_length, 1)
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if check_size(name, value, 1) >= n:
            raise ValueError(f"{name} must be lower than the length of the data ({n}), got {value}")
    num_seqs = end_index - start_index - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(to_numpy(targets))
        num_seqs = min(num_seqs, len(targets))
    starts = np.arange(0, max(num_seqs, 0), sequence_stride)  # (S,)
    if shuffle:
        rng = np.random.RandomState(np.random.randint(1e6) if seed is None else seed)
        rng.shuffle(starts)
    steps = np.arange(0, sequence_length * sampling_rate, sampling_rate)  # (L,)
    window = data[start_index:end_index][starts[:, None] + steps]  # (S, L, ...)
    elements: Any = window if targets is None else (window, targets[start_index:][starts])
    return Dataset(elements, batch_size)


def split_dataset(dataset: Any, left_size: float | int | None = None, right_size: float | int | None = None,
                  shuffle: bool = False, seed: int | None = None) -> tuple[Dataset, Dataset]:
    """Split arrays (or a tuple of arrays, or an unbatched :class:`Dataset`) in two, as ``keras.utils.split_dataset``.

    Args:
        dataset: an array, a tuple/list of arrays with one first dimension, or a Dataset.
        left_size, right_size: a fraction in (0, 1) or a number of samples; the other side gets the rest
            (half each when both are None).
        shuffle: shuffle the samples first (``np.random.RandomState(seed)``).
        seed: shuffling seed.

    Returns:
        two unbatched :class:`Dataset` objects.
    """
    if isinstance(dataset, Dataset):
        elements = dataset._served()
    elif isinstance(dataset, list):
        elements = tuple(np.asarray(a) for a in dataset)
    else:
        elements = to_numpy(dataset)
    n = num_samples("dataset", elements)

    def size(name: str, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, float):
            if not 0 < value < 1:
                raise ValueError(f"{name}: a fraction must lie in (0, 1), got {value}")
            return int(round(value * n))  # Python's round, as Keras
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 < value <= n:
            return int(value)
        raise ValueError(f"{name}: expected a fraction in (0, 1) or a count in [1, {n}], got {value!r}")

    left, right = size("left_size", left_size), size("right_size", right_size)
    if left is None and right is None:
        left = round(0.5 * n)
    if left is None:
        left = n - right
    if right is None:
        right = n - left
    if left + right > n:
        raise ValueError(f"left_size + right_size = {left + right} samples exceed the {n} available")
    order = np.arange(n)
    if shuffle:
        np.random.RandomState(np.random.randint(1e6) if seed is None else seed).shuffle(order)
    return Dataset(take(elements, order[:left])), Dataset(take(elements, order[left:left + right]))
