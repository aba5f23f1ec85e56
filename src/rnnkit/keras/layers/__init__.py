"""Keras's layers on rnnkit: ``from rnnkit.keras import layers``; ``layers.LSTM(50, return_sequences=True)``.

``serialize(layer)`` gives ``{"class_name": ..., "config": {...}}`` (JSON-able) and
``deserialize(config, custom_objects=None)`` rebuilds a layer (or a ``Sequential`` / functional
model) by class name, from the registry every layer class enters where it is defined
(:data:`rnnkit.keras._registry.LAYERS`).

Example:
    >>> from rnnkit.keras import layers
    >>> config = layers.serialize(layers.GRU(4, reset_after=False))
    >>> config["class_name"], layers.deserialize(config).reset_after
    ('GRU', False)
"""

from __future__ import annotations

from rnnkit.keras._registry import LAYERS
from rnnkit.keras.layers.base import InputSpec, KerasTensor, Layer
from rnnkit.keras.layers.core import Activation, Dense, Dropout, Embedding, Flatten, Input, InputLayer, Masking
from rnnkit.keras.layers.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell
from rnnkit.keras.layers.cell_loop import StackedRNNCells
from rnnkit.keras.layers.attention import AdditiveAttention, Attention, Dot, MultiHeadAttention, dot
from rnnkit.keras.layers.convolutional import AveragePooling1D, AvgPool1D, Conv1D, MaxPool1D, MaxPooling1D
from rnnkit.keras.layers.merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add,
                                         average, concatenate, maximum, minimum, multiply, subtract)
from rnnkit.keras.layers.normalization import BatchNormalization, LayerNormalization
from rnnkit.keras.layers.reshaping import (GlobalAveragePooling1D, GlobalMaxPooling1D, Lambda, LeakyReLU, Permute,
                                           ReLU, RepeatVector, Reshape, SpatialDropout1D)
from rnnkit.keras.layers.wrappers import Bidirectional, TimeDistributed, Wrapper
from rnnkit.keras.layers import operations  # noqa: F401  (registers Keras's graph ops NotEqual, Any for loading)

__all__ = [
    "Layer", "InputSpec", "KerasTensor", "Input", "InputLayer", "Dense", "Activation", "Dropout", "Flatten",
    "Embedding", "Masking", "RNN", "SimpleRNN", "LSTM", "GRU", "SimpleRNNCell", "LSTMCell", "GRUCell",
    "Bidirectional", "TimeDistributed", "Wrapper", "serialize", "deserialize", "Add", "Subtract", "Multiply", "Average",
    "Maximum", "Minimum", "Concatenate", "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate",
    "RepeatVector", "Reshape", "Permute", "Lambda", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
    "SpatialDropout1D", "ReLU", "LeakyReLU", "Conv1D", "MaxPooling1D", "AveragePooling1D", "MaxPool1D", "AvgPool1D",
    "GlobalAvgPool1D", "GlobalMaxPool1D", "LayerNormalization", "BatchNormalization",
    "Attention", "AdditiveAttention", "MultiHeadAttention", "Dot", "dot", "StackedRNNCells",
]
GlobalAvgPool1D, GlobalMaxPool1D = GlobalAveragePooling1D, GlobalMaxPooling1D  # Keras's aliases



def serialize(layer: Layer) -> dict:
    """``{"class_name": ..., "config": layer.get_config()}``; functional models are ``"Functional"``."""
    if not isinstance(layer, Layer):
        raise TypeError(f"layer: expected a keras layer, got {type(layer).__name__}")
    return LAYERS.serialize(layer)


def deserialize(config: dict, custom_objects: dict | None = None) -> Layer:
    """Rebuild a layer or model from :func:`serialize`'s output.

    Args:
        config: ``{"class_name": ..., "config": {...}}``.
        custom_objects: extra ``{class_name: class}`` for user-defined layers.

    Raises:
        ValueError: an unknown class name (listing the known ones).
    """
    return LAYERS.deserialize(config, custom_objects)
