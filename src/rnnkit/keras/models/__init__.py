"""Keras models: ``Model`` (subclass it), the functional ``Model(inputs, outputs)`` (a ``Functional``),
``Sequential``, and the module functions ``load_model``, ``model_from_config``, ``model_from_json``,
``clone_model``.

One module per kind, as Keras 3's ``keras/src/models``: :mod:`.model` (the base and subclassed
models), :mod:`.functional`, :mod:`.sequential`, and :mod:`.summary` (the ``summary()`` table).

Example:
    >>> from rnnkit import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> keras.models.clone_model(model).count_params()
    8
"""

from __future__ import annotations

import json

from rnnkit.keras._registry import LAYERS
from rnnkit.keras.layers.base import Layer
from rnnkit.keras.layers.core import Input
from rnnkit.keras.models.functional import Functional
from rnnkit.keras.models.model import Model
from rnnkit.keras.models.sequential import Sequential
from rnnkit.keras.saving import load_model

__all__ = ["Model", "Functional", "Sequential", "Input", "load_model", "model_from_config", "model_from_json",
           "clone_model"]


def model_from_config(config: dict, custom_objects: dict | None = None) -> Layer:
    """A model (or layer) from ``{"class_name": ..., "config": ...}``."""
    return LAYERS.deserialize(config, custom_objects)


def model_from_json(json_string: str, custom_objects: dict | None = None) -> Layer:
    """A model from :meth:`Model.to_json`'s output."""
    return LAYERS.deserialize(json.loads(json_string), custom_objects)


def clone_model(model: Model) -> Model:
    """A new model with the same architecture and freshly initialised weights."""
    return LAYERS.deserialize(LAYERS.serialize(model))
