"""Keras's layers on rnnkit: ``from rnnkit.keras import layers``; ``layers.LSTM(50, return_sequences=True)``.

``serialize(layer)`` gives ``{"class_name": ..., "config": {...}}`` (JSON-able) and
``deserialize(config)`` rebuilds a layer (or a ``Sequential`` / functional model) by class name.

Example:
    >>> from rnnkit.keras import layers
    >>> config = layers.serialize(layers.GRU(4, reset_after=False))
    >>> config["class_name"], layers.deserialize(config).reset_after
    ('GRU', False)
"""

from __future__ import annotations

from typing import Any

from rnnkit.keras.layers.base import InputSpec, KerasTensor, Layer
from rnnkit.keras.layers.core import Activation, Dense, Dropout, Embedding, Flatten, Input, InputLayer, Masking
from rnnkit.keras.layers.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell
from rnnkit.keras.layers.wrappers import Bidirectional, TimeDistributed

__all__ = [
    "Layer", "InputSpec", "KerasTensor", "Input", "InputLayer", "Dense", "Activation", "Dropout", "Flatten",
    "Embedding", "Masking", "RNN", "SimpleRNN", "LSTM", "GRU", "SimpleRNNCell", "LSTMCell", "GRUCell",
    "Bidirectional", "TimeDistributed", "serialize", "deserialize",
]

_LAYER_CLASSES = {
    cls.__name__: cls
    for cls in (InputLayer, Dense, Activation, Dropout, Flatten, Embedding, Masking, RNN, SimpleRNN, LSTM, GRU,
                SimpleRNNCell, LSTMCell, GRUCell, Bidirectional, TimeDistributed)
}


def serialize(layer: Layer) -> dict:
    """``{"class_name": ..., "config": layer.get_config()}``; functional models are ``"Functional"``."""
    if not isinstance(layer, Layer):
        raise TypeError(f"layer: expected a keras layer, got {type(layer).__name__}")
    name = type(layer).__name__
    if name == "Model" and getattr(layer, "_is_graph_network", False):
        name = "Functional"
    return {"class_name": name, "config": layer.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None) -> Any:
    """Rebuild a layer or model from :func:`serialize`'s output.

    Args:
        config: ``{"class_name": ..., "config": {...}}``.
        custom_objects: extra ``{class_name: class}`` for user-defined layers.

    Raises:
        ValueError: an unknown class name (listing the known ones).
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise TypeError(f"config: expected a dict with 'class_name' and 'config', got {config!r}")
    from rnnkit.keras import models

    classes = dict(_LAYER_CLASSES, Sequential=models.Sequential, Functional=models.Model, Model=models.Model)
    classes.update(custom_objects or {})
    name = config["class_name"]
    if name not in classes:
        raise ValueError(f"config: unknown layer class {name!r}; expected one of {sorted(classes)} "
                         "(pass custom_objects={name: cls} for your own layers)")
    return classes[name].from_config(dict(config.get("config") or {}))
