"""Keras's utilities: ``to_categorical``, ``pad_sequences``, ``normalize``, seeds and sessions, the
datasets (``PyDataset``, ``timeseries_dataset_from_array``, ``text_dataset_from_directory``,
``split_dataset``), ``Progbar`` and ``plot_model``.

Example:
    >>> from rnnkit.keras.utils import to_categorical, pad_sequences
    >>> to_categorical([0, 2], num_classes=3)
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
    >>> pad_sequences([[1, 2], [3]], maxlen=3)
    array([[0, 1, 2],
           [0, 0, 3]], dtype=int32)
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from rnnkit._random import manual_seed
from rnnkit._validation import check_size
from rnnkit.keras.data_adapters import PyDataset
from rnnkit.keras.layers.base import reset_names
from rnnkit.keras.utils.datasets import Dataset, split_dataset, timeseries_dataset_from_array
from rnnkit.keras.utils.text_datasets import text_dataset_from_directory
from rnnkit.keras.utils.plotting import model_to_dot, plot_model
from rnnkit.keras.utils.progbar import Progbar

__all__ = ["to_categorical", "pad_sequences", "normalize", "set_random_seed", "clear_session", "PyDataset",
           "Sequence", "Dataset", "timeseries_dataset_from_array", "split_dataset", "text_dataset_from_directory",
           "Progbar", "plot_model",
           "model_to_dot"]

Sequence = PyDataset  # Keras 2's name, kept by Keras 3 as an alias


def to_categorical(y: Any, num_classes: int | None = None) -> np.ndarray:
    """One-hot encode integer class labels, as ``keras.utils.to_categorical``.

    Args:
        y: integer labels of any shape; a trailing axis of size 1 is dropped, as in Keras.
        num_classes: number of classes; ``max(y) + 1`` when omitted.

    Returns:
        float32 array of shape ``y.shape + (num_classes,)`` (Keras 3 returns float64 for NumPy input;
        rnnkit keeps Keras's float32 default).

    Raises:
        ValueError: negative labels, or labels >= ``num_classes``.
    """
    labels = np.asarray(y)
    if labels.dtype.kind == "f":
        if not np.all(labels == np.round(labels)):
            raise ValueError("y: expected integer class labels, got non-integer floats")
    elif labels.dtype.kind not in "iub":
        raise TypeError(f"y: expected integer class labels, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = labels.reshape(-1)
    if flat.size and flat.min() < 0:
        raise ValueError(f"y: expected non-negative class labels, got {flat.min()}")
    if num_classes is None:
        num_classes = int(flat.max()) + 1 if flat.size else 0
    else:
        num_classes = check_size("num_classes", num_classes, 1)
    if flat.size and flat.max() >= num_classes:
        raise ValueError(f"y: label {flat.max()} is out of range for num_classes={num_classes}")
    out = np.zeros((flat.size, int(num_classes)), np.float32)
    out[np.arange(flat.size), flat] = 1.0
    return out.reshape(shape + (int(num_classes),))


def pad_sequences(sequences: Sequence[Sequence[Any]], maxlen: int | None = None, dtype: Any = "int32",
                  padding: str = "pre", truncating: str = "pre", value: float = 0.0) -> np.ndarray:
    """Pad (or cut) variable-length sequences to one length, as ``keras.utils.pad_sequences``.

    Args:
        sequences: list of sequences (lists or arrays whose items may themselves be vectors).
        maxlen: output length; the longest sequence's length when omitted.
        dtype: output dtype.
        padding: ``'pre'`` or ``'post'``: where the padding goes.
        truncating: ``'pre'`` or ``'post'``: which end of a too-long sequence is dropped.
        value: the padding value.

    Returns:
        array (N, maxlen, *item_shape).
    """
    if padding not in ("pre", "post"):
        raise ValueError(f"padding: expected 'pre' or 'post', got {padding!r}")
    if truncating not in ("pre", "post"):
        raise ValueError(f"truncating: expected 'pre' or 'post', got {truncating!r}")
    if not hasattr(sequences, "__len__"):
        raise TypeError(f"sequences: expected a list of sequences, got {type(sequences).__name__}")
    arrays = [np.asarray(s) for s in sequences]
    lengths = [len(a) for a in arrays]
    if maxlen is None:
        maxlen = max(lengths, default=0)
    else:
        maxlen = check_size("maxlen", maxlen, 0)
    item_shape = next((a.shape[1:] for a in arrays if len(a)), ())
    out = np.full((len(arrays), maxlen) + item_shape, value, dtype=dtype)
    for i, a in enumerate(arrays):
        if not len(a) or not maxlen:
            continue
        if a.shape[1:] != item_shape:
            raise ValueError(f"sequences: item shape {a.shape[1:]} of sequence {i} differs from {item_shape}")
        kept = a[-maxlen:] if truncating == "pre" else a[:maxlen]
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, maxlen - len(kept):] = kept
    return out


def normalize(x: Any, axis: int = -1, order: int = 2) -> np.ndarray:
    """``x / ||x||_order`` along ``axis`` (zero vectors stay zero)."""
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def set_random_seed(seed: int) -> None:
    """Seed rnnkit's global generator (initialisers, dropout, shuffling), as ``keras.utils.set_random_seed``."""
    manual_seed(seed)


def clear_session() -> None:
    """Reset the automatic layer and model names (``lstm``, ``lstm_1``... start again), as Keras."""
    reset_names()
