"""``keras.utils.text_dataset_from_directory``: the ``.txt`` files of a directory tree as a dataset.

The files and labels are found as Keras's ``index_directory`` finds them: with ``labels="inferred"``
every visible sub-directory of ``directory`` is a class (sorted by name, or in ``class_names``' order),
and its ``.txt`` files (any case of the extension, sub-folders included, each folder's files by name)
are its samples, class after class; ``shuffle`` then permutes the paths and labels once with
``np.random.RandomState(seed)``; ``validation_split`` keeps the last ``int(split * N)`` samples for
validation. Labels (``label_mode``)::

    int:          y_i = class index                         int32   (N,)
    binary:       y_i = [float(class index)]                float32 (N, 1)   (exactly 2 classes)
    categorical:  y_i = one_hot(class index, num_classes)   float32 (N, C)

Texts are read into memory: ``format="tf"`` (the default) gives the raw bytes of each file, as
``tf.io.read_file`` does, ``max_length`` counting bytes; ``format="grain"`` gives ``str`` read in text
mode, ``max_length`` counting characters. Batches of texts are NumPy arrays of objects (bytes or str).

Where rnnkit differs from Keras, said here rather than silently: the result is an in-memory
:class:`~rnnkit.keras.utils.Dataset`, not a ``tf.data`` pipeline, so with ``shuffle=True`` the files are
shuffled once (Keras's ``index_directory`` order), without tf.data's additional buffer reshuffle each
epoch.

Example:
    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> for label, text in (("neg", "bad"), ("pos", "good"), ("pos", "great")):
    ...     os.makedirs(os.path.join(root, label), exist_ok=True)
    ...     with open(os.path.join(root, label, text + ".txt"), "w") as f:
    ...         _ = f.write(text)
    >>> ds = text_dataset_from_directory(root, batch_size=2, shuffle=False, verbose=False)
    >>> texts, labels = ds[0]
    >>> ds.class_names, texts.tolist(), labels.numpy().tolist(), len(ds)
    (['neg', 'pos'], [b'bad', b'good'], [0, 1], 2)
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from rnnkit._validation import check_size
from rnnkit.keras.utils.datasets import Dataset

__all__ = ["text_dataset_from_directory"]

_LABEL_MODES = ("int", "categorical", "binary", None)
_SUBSETS = ("training", "validation", "both", None)


def _check_split(validation_split: Any, subset: Any, shuffle: bool, seed: Any) -> None:
    """Keras's ``check_validation_split_arg``."""
    if validation_split is not None and (isinstance(validation_split, bool)
                                         or not isinstance(validation_split, (int, float))):
        raise TypeError(f"validation_split: expected a float in (0, 1), got {type(validation_split).__name__}")
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"validation_split: expected a float in (0, 1), got {validation_split}")
    if subset not in _SUBSETS:
        raise ValueError(f"subset: expected one of {_SUBSETS}, got {subset!r}")
    if bool(validation_split) != bool(subset):
        raise ValueError(f"subset and validation_split: set both or neither, got subset={subset!r}, "
                         f"validation_split={validation_split!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError("seed: validation_split with shuffle=True needs a seed, so that the training and "
                         "validation subsets do not overlap")


def _class_dirs(directory: str, class_names: Any) -> list[str]:
    subdirs = [name for name in sorted(os.listdir(directory))
               if os.path.isdir(os.path.join(directory, name)) and not name.startswith(".")]
    if class_names is None:
        return subdirs
    if not isinstance(class_names, (list, tuple)) or not all(isinstance(c, str) for c in class_names):
        raise TypeError(f"class_names: expected a list of sub-directory names, got {class_names!r}")
    if not set(class_names) <= set(subdirs):
        raise ValueError(f"class_names: expected names of sub-directories of {directory!r} (some of {subdirs}), "
                         f"got {list(class_names)}")
    return list(class_names)


def _text_files(folder: str, follow_links: bool) -> list[str]:
    """The ``.txt`` files under ``folder``: folders in sorted path order, each one's files by name."""
    found = []
    for root, _, files in sorted(os.walk(folder, followlinks=follow_links), key=lambda item: item[0]):
        found.extend(os.path.join(root, name) for name in sorted(files) if name.lower().endswith(".txt"))
    return found


def _index(directory: str, labels: Any, class_names: Any, follow_links: bool) -> tuple[list[str], Any, Any]:
    """File paths (unshuffled), their labels (int32 or None) and the class names."""
    if labels == "inferred":
        names = _class_dirs(directory, class_names)
        paths, indices = [], []
        for index, name in enumerate(names):
            files = _text_files(os.path.join(directory, name), follow_links)
            paths.extend(files)
            indices.extend([index] * len(files))
        return paths, np.asarray(indices, np.int32), names
    if class_names is not None:
        raise ValueError("class_names: only valid with labels='inferred' (the class names of explicit labels "
                         f"are their sorted values), got {class_names!r}")
    paths = _text_files(directory, follow_links)
    if labels is None:
        return paths, None, None
    if len(labels) != len(paths):
        raise ValueError(f"labels: expected one label per text file ({len(paths)} in {directory!r}), "
                         f"got {len(labels)}")
    values = np.asarray(labels)
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise TypeError(f"labels: expected a list of integer labels, got {values.dtype} values of shape "
                        f"{values.shape}")
    return paths, values.astype(np.int32), [str(v) for v in sorted(set(values.tolist()))]


def _read(path: str, max_length: int | None, text_format: str) -> Any:
    if text_format == "tf":
        with open(path, "rb") as handle:
            data: Any = handle.read()
    else:
        with open(path, "r", encoding="utf-8") as handle:
            data = handle.read()
    return data if max_length is None else data[:max_length]


def _encode(labels: np.ndarray, label_mode: str, num_classes: int) -> np.ndarray:
    if label_mode == "binary":
        return labels.astype(np.float32)[:, None]  # (N, 1)
    if label_mode == "categorical":
        return np.eye(num_classes, dtype=np.float32)[labels]  # (N, C)
    return labels  # (N,) int32


def _dataset(paths: list[str], labels: Any, label_mode: Any, class_names: Any, batch_size: Any,
             max_length: Any, text_format: str, directory: str) -> Dataset:
    if not paths:
        raise ValueError(f"directory: no text files found in {directory!r} (allowed format: .txt)")
    texts = np.empty(len(paths), dtype=object)  # (N,) bytes or str
    texts[:] = [_read(path, max_length, text_format) for path in paths]
    elements: Any = texts if label_mode is None else (texts, _encode(labels, label_mode, len(class_names)))
    dataset = Dataset(elements, batch_size)
    dataset.class_names = class_names
    dataset.file_paths = list(paths)
    return dataset


def text_dataset_from_directory(directory: str | os.PathLike, labels: Any = "inferred", label_mode: str | None = "int",
                                class_names: list[str] | None = None, batch_size: int | None = 32,
                                max_length: int | None = None, shuffle: bool = True, seed: int | None = None,
                                validation_split: float | None = None, subset: str | None = None,
                                follow_links: bool = False, format: str = "tf",
                                verbose: bool = True) -> Dataset | list[Dataset]:
    """Text files in class sub-directories as a dataset of ``(texts, labels)`` batches, as Keras's.

    Args:
        directory: the folder; with ``labels="inferred"`` one sub-folder per class.
        labels: ``"inferred"`` (from the sub-folders), None (texts only) or a list of integer labels, one
            per ``.txt`` file in sorted path order.
        label_mode: ``"int"``, ``"categorical"``, ``"binary"`` or None (texts only).
        class_names: the classes to use and their order (with ``labels="inferred"`` only).
        batch_size: samples per batch; None serves single samples.
        max_length: keep at most this many bytes (``format="tf"``) or characters (``"grain"``) per text.
        shuffle: shuffle the files (with ``np.random.RandomState(seed)``); False keeps the sorted order.
        seed: shuffling seed (required with ``validation_split`` and ``shuffle``).
        validation_split: fraction in (0, 1) of the samples kept for validation (the last ones).
        subset: ``"training"``, ``"validation"`` or ``"both"`` (then a list ``[train, validation]``).
        follow_links: walk into linked sub-folders.
        format: ``"tf"`` (texts as bytes) or ``"grain"`` (texts as str).
        verbose: print how many files and classes were found, as Keras does.

    Returns:
        a :class:`~rnnkit.keras.utils.Dataset` (with ``class_names`` and ``file_paths``) that ``fit``
        takes, or two of them for ``subset="both"``.

    Raises:
        ValueError, TypeError: a bad argument (named), or no text files found.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(f"directory: expected an existing folder, got {directory!r}")
    if not (labels in ("inferred", None) or isinstance(labels, (list, tuple, np.ndarray))):
        raise TypeError(f"labels: expected 'inferred', None or a list of integer labels, got {labels!r}")
    if label_mode not in _LABEL_MODES:
        raise ValueError(f"label_mode: expected one of {_LABEL_MODES}, got {label_mode!r}")
    if format not in ("tf", "grain"):
        raise ValueError(f"format: expected 'tf' or 'grain', got {format!r}")
    if batch_size is not None:
        batch_size = check_size("batch_size", batch_size, 1)
    if max_length is not None:
        max_length = check_size("max_length", max_length, 1)
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    _check_split(validation_split, subset, shuffle, seed)
    paths, label_values, names = _index(directory, labels, class_names, follow_links)
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f"label_mode: 'binary' needs exactly 2 classes, got class_names={names}")
    if verbose:
        print(f"Found {len(paths)} files." if label_values is None
              else f"Found {len(paths)} files belonging to {len(names)} classes.")
    if shuffle:
        seed = np.random.randint(1e6) if seed is None else seed
        order = np.arange(len(paths))
        np.random.RandomState(seed).shuffle(order)  # the permutation Keras applies to paths and labels
        paths = [paths[i] for i in order]
        label_values = None if label_values is None else label_values[order]
    n_val = int(validation_split * len(paths)) if validation_split else 0
    if validation_split and n_val == 0:
        raise ValueError(f"validation_split: {validation_split} of {len(paths)} files keeps no file for validation "
                         "(Keras would then find no training files either)")
    parts = {"training": slice(0, len(paths) - n_val), "validation": slice(len(paths) - n_val, len(paths))}
    chosen = ["training", "validation"] if subset == "both" else [subset] if subset else [None]
    out = []
    for part in chosen:
        where = parts[part] if part else slice(None)
        if verbose and part:
            print(f"Using {len(paths[where])} files for {part}.")
        out.append(_dataset(paths[where], None if label_values is None else label_values[where], label_mode,
                            names, batch_size, max_length, format, directory))
    return out if subset == "both" else out[0]
