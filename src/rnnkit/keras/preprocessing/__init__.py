"""Keras 2's ``keras.preprocessing`` paths, kept by Keras 3: ``preprocessing.sequence.pad_sequences`` and
``preprocessing.timeseries_dataset_from_array``, ``preprocessing.text_dataset_from_directory`` are the functions of :mod:`rnnkit.keras.utils`.

Example:
    >>> from rnnkit.keras.preprocessing.sequence import pad_sequences
    >>> pad_sequences([[1], [2, 3]], padding="post").tolist()
    [[1, 0], [2, 3]]
"""

from __future__ import annotations

from rnnkit.keras.preprocessing import sequence
from rnnkit.keras.utils import text_dataset_from_directory, timeseries_dataset_from_array

__all__ = ["sequence", "text_dataset_from_directory", "timeseries_dataset_from_array"]
