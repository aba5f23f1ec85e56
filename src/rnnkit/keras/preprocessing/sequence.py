"""``keras.preprocessing.sequence``: ``pad_sequences`` and ``timeseries_dataset_from_array`` (Keras's aliases)."""

from __future__ import annotations

from rnnkit.keras.utils import pad_sequences, timeseries_dataset_from_array

__all__ = ["pad_sequences", "timeseries_dataset_from_array"]
