"""What ``fit``/``evaluate``/``predict`` accept as data, turned into batches, as Keras 3's data adapters.

Three kinds of source, each giving ``(x, y, sample_weight)`` batches of NumPy arrays (``x`` an array, a
list of arrays or a dict of arrays by input name; ``y`` likewise by output):

* arrays (ndarrays, lists of them, dicts of them, rnnkit Tensors): cut into ``batch_size`` batches,
  shuffled every epoch when asked (:class:`ArrayAdapter`);
* a :class:`PyDataset` (``__len__`` batches, ``__getitem__(i)``, ``on_epoch_end()``), which is how
  rnnkit's own ``timeseries_dataset_from_array`` returns its data (:class:`PyDatasetAdapter`);
* any other iterable or generator of batches, each ``x``, ``(x,)``, ``(x, y)`` or
  ``(x, y, sample_weight)`` (:class:`IterableAdapter`). A generator runs once: without
  ``steps_per_epoch`` the second epoch finds it empty, which Keras reports as "ran out of data".

Epoch semantics follow Keras's ``EpochIterator``: with ``steps_per_epoch`` one iterator is kept across
epochs (restarted only when a source of known length is used up); without it, every epoch starts a
fresh pass.

Example:
    >>> import numpy as np
    >>> adapter = ArrayAdapter(np.arange(10.0)[:, None], np.arange(10), batch_size=4, shuffle=False)
    >>> [len(x) for x, y, w in adapter.epoch_batches()]
    [4, 4, 2]
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Iterator

import numpy as np

from rnnkit._random import generator
from rnnkit._tensor import Tensor, array_of

__all__ = ["PyDataset", "ArrayAdapter", "PyDatasetAdapter", "IterableAdapter", "get_adapter", "unpack_batch",
           "is_array_data", "num_samples", "take"]


class PyDataset:
    """Base class of Python datasets of batches, as ``keras.utils.PyDataset``.

    Subclasses define ``__len__`` (batches per epoch) and ``__getitem__(index)`` returning one batch
    ``x``, ``(x, y)`` or ``(x, y, sample_weight)``; ``fit`` calls ``on_epoch_end()`` after every epoch
    (shuffle there). ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are Keras's
    parallel-loading options: rnnkit loads in the calling thread, so only their defaults are accepted.

    Example:
        >>> import numpy as np
        >>> class Squares(PyDataset):
        ...     def __len__(self):
        ...         return 3
        ...     def __getitem__(self, i):
        ...         x = np.full((2, 1), float(i), np.float32)
        ...         return x, x ** 2
        >>> [float(y[0, 0]) for _, y in Squares()]
        [0.0, 1.0, 4.0]
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        if workers != 1 or use_multiprocessing:
            raise ValueError(
                f"PyDataset: rnnkit loads batches in the calling thread; got workers={workers!r}, "
                f"use_multiprocessing={use_multiprocessing!r} (pass workers=1, use_multiprocessing=False)"
            )
        self._workers, self._use_multiprocessing, self._max_queue_size = workers, use_multiprocessing, max_queue_size

    @property
    def workers(self) -> int:
        return getattr(self, "_workers", 1)

    @property
    def use_multiprocessing(self) -> bool:
        return getattr(self, "_use_multiprocessing", False)

    @property
    def max_queue_size(self) -> int:
        return getattr(self, "_max_queue_size", 10)

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.__len__")

    def __getitem__(self, index: int) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.__getitem__")

    @property
    def num_batches(self) -> int:
        return len(self)

    def on_epoch_begin(self) -> None:
        """Called before every epoch; does nothing unless overridden."""

    def on_epoch_end(self) -> None:
        """Called after every epoch; does nothing unless overridden."""

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]


# -- structures of arrays -------------------------------------------------------------------------
def _leaves(data: Any) -> list:
    if isinstance(data, dict):
        return [leaf for value in data.values() for leaf in _leaves(value)]
    if isinstance(data, (list, tuple)):
        return [leaf for value in data for leaf in _leaves(value)]
    return [] if data is None else [data]


def _is_array(value: Any) -> bool:
    return isinstance(value, (np.ndarray, Tensor, np.generic)) or (hasattr(value, "__array__") and hasattr(value, "shape"))


def is_array_data(data: Any) -> bool:
    """True for an array, a (nested) list/tuple/dict of arrays, or a nested list of numbers."""
    if data is None or _is_array(data):
        return True
    if isinstance(data, dict):
        return all(is_array_data(v) for v in data.values())
    if isinstance(data, (list, tuple)):
        return all(is_array_data(v) or isinstance(v, (int, float, bool, list)) for v in data)
    return False


def to_numpy(data: Any) -> Any:
    """Tensors (and torch tensors) inside a structure as ndarrays."""
    if isinstance(data, dict):
        return {k: to_numpy(v) for k, v in data.items()}
    if isinstance(data, Tensor):
        return array_of(data)
    if hasattr(data, "detach") and hasattr(data, "numpy"):
        return data.detach().cpu().numpy()
    return data


def num_samples(name: str, data: Any) -> int:
    """The common first dimension of every array in ``data``."""
    sizes = {len(a) for a in _leaves(data)}
    if len(sizes) != 1:
        raise ValueError(f"{name}: all arrays must have the same number of samples, got {sorted(sizes)}")
    return sizes.pop()


def take(data: Any, index: Any) -> Any:
    """``data[index]`` on every array of a structure."""
    if data is None:
        return None
    if isinstance(data, dict):
        return {k: take(v, index) for k, v in data.items()}
    if isinstance(data, list):
        return [take(a, index) for a in data]
    if isinstance(data, tuple):
        return tuple(take(a, index) for a in data)
    return data[index]


def unpack_batch(item: Any) -> tuple[Any, Any, Any]:
    """Keras's ``unpack_x_y_sample_weight``: a tuple of 1 to 3 is ``(x[, y[, sample_weight]])``; anything
    else (an array, a list, a dict) is ``x`` alone.

    Raises:
        ValueError: a tuple of more than three entries.
    """
    if isinstance(item, list):
        item = tuple(item) if 1 <= len(item) <= 3 and not _is_array_like_list(item) else item
    if not isinstance(item, tuple):
        return item, None, None
    if not 1 <= len(item) <= 3:
        raise ValueError(
            f"Data is expected to be x, (x,), (x, y) or (x, y, sample_weight); got a tuple of {len(item)} entries"
        )
    return (*item, None, None)[:3]


def _is_array_like_list(item: list) -> bool:
    """A list of numbers (one array written as a list) rather than a list of (x, y) parts."""
    return all(isinstance(v, (int, float)) for v in _leaves(item))


# -- adapters -----------------------------------------------------------------------------------------
class ArrayAdapter:
    """Batches cut from arrays held in memory (shuffled per epoch with rnnkit's global generator).

    Args:
        x, y, sample_weight: structures of arrays with one first dimension N.
        batch_size: samples per batch.
        shuffle: True (samples), ``"batch"`` (whole batches) or False.
        steps: batches per epoch (default: all, ``ceil(N / batch_size)``).
    """

    def __init__(self, x: Any, y: Any = None, sample_weight: Any = None, batch_size: int = 32, shuffle: Any = False,
                 steps: int | None = None):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.n = num_samples("x", x)
        self.batch_size, self.shuffle = batch_size, shuffle
        self.exhausted = False  # arrays never run out
        total = math.ceil(self.n / batch_size)
        self.num_batches = min(total, steps) if steps else total

    def epoch_batches(self) -> Iterator[tuple[Any, Any, Any]]:
        order = np.arange(self.n)
        if self.shuffle is True:
            order = generator().permutation(self.n)
        batches = [order[i: i + self.batch_size] for i in range(0, self.n, self.batch_size)]
        if self.shuffle == "batch":
            batches = [batches[i] for i in generator().permutation(len(batches))]
        for index in batches[: self.num_batches]:
            yield take(self.x, index), take(self.y, index), take(self.sample_weight, index)

    def on_epoch_end(self) -> None:
        """Nothing to do for arrays."""


class _StreamAdapter:
    """Shared epoch logic of the iterable sources (Keras's ``EpochIterator``)."""

    num_batches: int | None

    def __init__(self, steps: int | None):
        self.steps = steps
        self._iterator: Iterator | None = None
        self._seen = 0
        self.exhausted = False

    def _fresh(self) -> Iterator:  # pragma: no cover - abstract
        raise NotImplementedError

    def epoch_batches(self) -> Iterator[tuple[Any, Any, Any]]:
        limit = self.steps or self.num_batches
        if self._iterator is None or self.steps is None:
            self._iterator, self._seen = self._fresh(), 0
        step = 0
        while limit is None or step < limit:
            if self.num_batches is not None and self._seen >= self.num_batches:
                if self.steps is not None:  # a finite source used up before the epoch's steps: restart it
                    self._iterator, self._seen = self._fresh(), 0
                else:
                    break
            try:
                item = next(self._iterator)
            except StopIteration:
                if limit is not None or step == 0:
                    warnings.warn(
                        "Your input ran out of data; interrupting training. Make sure that your dataset or generator "
                        "can generate at least `steps_per_epoch * epochs` batches.", UserWarning, stacklevel=4)
                    self.exhausted = True
                self._iterator = None
                return
            self._seen += 1
            step += 1
            yield unpack_batch(to_numpy(item))

    def on_epoch_end(self) -> None:
        """Nothing by default."""


class PyDatasetAdapter(_StreamAdapter):
    """Batches ``dataset[0] .. dataset[len - 1]``, in a new random order every pass when ``shuffle`` (as Keras,
    drawn from rnnkit's global generator) unless the dataset sets ``shuffle_in_fit = False`` (rnnkit's
    stand-ins for ``tf.data`` datasets, which Keras never shuffles); ``on_epoch_end`` is the dataset's."""

    def __init__(self, dataset: PyDataset, steps: int | None = None, shuffle: bool = False):
        super().__init__(steps)
        self.dataset = dataset
        self.num_batches = len(dataset)
        self.shuffle = bool(shuffle) and getattr(dataset, "shuffle_in_fit", True)

    def _fresh(self) -> Iterator:
        order = generator().permutation(len(self.dataset)) if self.shuffle else range(len(self.dataset))
        return (self.dataset[int(i)] for i in order)

    def epoch_batches(self) -> Iterator[tuple[Any, Any, Any]]:
        begin = getattr(self.dataset, "on_epoch_begin", None)
        if begin is not None:
            begin()
        yield from super().epoch_batches()

    def on_epoch_end(self) -> None:
        self.dataset.on_epoch_end()


class IterableAdapter(_StreamAdapter):
    """Batches from an iterable (``iter()`` per pass) or a generator (one pass only)."""

    def __init__(self, source: Any, steps: int | None = None):
        super().__init__(steps)
        self.source = source
        try:
            self.num_batches = len(source)
        except TypeError:
            self.num_batches = None

    def _fresh(self) -> Iterator:
        return iter(self.source)


def get_adapter(x: Any, y: Any = None, sample_weight: Any = None, batch_size: int | None = None,
                shuffle: Any = False, steps: int | None = None, where: str = "fit", class_weight: Any = None):
    """The adapter for ``x`` (see the module docstring).

    Raises:
        ValueError: ``y`` or ``sample_weight`` given with a dataset or generator (they come from it);
            ``class_weight`` with a generator or iterable (as Keras).
        TypeError: a source of no known kind.
    """
    if is_array_data(x):
        return ArrayAdapter(x, y, sample_weight, 32 if batch_size is None else batch_size, shuffle, steps)
    kind = "PyDataset" if isinstance(x, PyDataset) else type(x).__name__
    if y is not None or sample_weight is not None:
        raise ValueError(
            f"{where}: when x is a {kind} (yielding (x, y[, sample_weight]) batches), y and sample_weight must not "
            "be given separately"
        )
    if isinstance(x, PyDataset) or (hasattr(x, "__getitem__") and hasattr(x, "__len__")
                                    and hasattr(x, "on_epoch_end")):
        return PyDatasetAdapter(x, steps, shuffle)
    if class_weight is not None:
        raise ValueError(
            f"{where}: class_weight is not supported for generator or iterable inputs (as Keras); yield "
            "(x, y, sample_weight) batches instead"
        )
    if hasattr(x, "__iter__") or hasattr(x, "__next__"):
        return IterableAdapter(x, steps)
    raise TypeError(
        f"{where}: x must be arrays (or a list/dict of them), a keras.utils.PyDataset, or an iterable/generator "
        f"of (x, y[, sample_weight]) batches, got {type(x).__name__}"
    )
