"""Keras optimizers with Keras 3's update rules and defaults, acting in place on ``.data``, as
``keras.optimizers`` of Keras 3.15: the base :class:`Optimizer` (:mod:`.base`), the optimizers
(:mod:`.classic`, their rules in :mod:`rnnkit.keras.optimizer_rules`), the wrappers
(:mod:`.wrappers`), the learning-rate ``schedules`` and :func:`get` by Keras's names.

Example:
    >>> from rnnkit.keras import optimizers
    >>> type(optimizers.get("adamw")).__name__, optimizers.get("adamw").learning_rate
    ('AdamW', 0.001)
"""

from __future__ import annotations

import sys
from typing import Any

from rnnkit.keras import schedules
from rnnkit.keras._registry import class_config
from rnnkit.keras.optimizer_rules import (keras_adadelta, keras_adafactor, keras_adagrad, keras_adam, keras_adamax,
                                          keras_ftrl, keras_lamb, keras_lion, keras_muon, keras_nadam, keras_rmsprop,
                                          keras_schedule_free_adamw, keras_sgd_momentum, newton_schulz5)
from rnnkit.keras.optimizers.base import Optimizer
from rnnkit.keras.optimizers.classic import (KERAS_OPTIMIZERS, SGD, Adadelta, Adafactor, Adagrad, Adam, Adamax, AdamW,
                                             Ftrl, Lamb, Lion, Muon, Nadam, RMSprop, ScheduleFreeAdamW)
from rnnkit.keras.optimizers.wrappers import LossScaleOptimizer, MultiOptimizer, OptimizerMap

__all__ = [
    "Optimizer", "SGD", "RMSprop", "Adagrad", "Adam", "AdamW", "Adadelta", "Adamax", "Nadam", "Lion", "Ftrl",
    "Adafactor", "Lamb", "ScheduleFreeAdamW", "Muon", "LossScaleOptimizer", "MultiOptimizer", "OptimizerMap",
    "keras_sgd_momentum", "keras_rmsprop", "keras_adagrad", "keras_adam", "keras_adadelta", "keras_adamax",
    "keras_nadam", "keras_lion", "keras_ftrl", "keras_adafactor", "keras_lamb",
    "keras_schedule_free_adamw", "keras_muon", "newton_schulz5",
    "get", "serialize", "deserialize", "schedules",
]

# ``from keras.optimizers.schedules import ExponentialDecay`` works as in Keras.
sys.modules.setdefault(__name__ + ".schedules", schedules)

# -- lookup ----------------------------------------------------------------------------------------
_CLASSES = {name.lower(): cls for name, cls in {**KERAS_OPTIMIZERS, "LossScaleOptimizer": LossScaleOptimizer,
                                                "MultiOptimizer": MultiOptimizer}.items()}
_CONFIG_ONLY = ("lamb",)  # Keras 3.15 exports Lamb, but keras.optimizers.get does not know its name


def get(identifier: Any) -> Optimizer:
    """An :class:`Optimizer` from a name ("adam", case-insensitive), a config dict or an instance.

    Raises:
        ValueError: for an unknown name, naming it and the known ones.
        TypeError: for other objects (e.g. an ``rnnkit.optim`` optimizer, which follows PyTorch's rules).
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = None if identifier.lower() in _CONFIG_ONLY else _CLASSES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"optimizer: unknown optimizer {identifier!r}; expected one of "
                             f"{sorted(set(_CLASSES) - set(_CONFIG_ONLY))}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise TypeError(
        "optimizer: expected a name or a keras.optimizers.Optimizer, got "
        f"{type(identifier).__name__} {identifier!r}"
    )


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": ..., "config": ...}`` (JSON-able)."""
    return class_config(optimizer)


def deserialize(config: dict) -> Optimizer:
    """Inverse of :func:`serialize`."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"optimizer: expected a {{'class_name', 'config'}} dict, got {config!r}")
    cls = _CLASSES.get(str(config["class_name"]).lower())
    if cls is None:
        raise ValueError(
            f"optimizer: unknown optimizer class {config['class_name']!r}; expected one of {sorted(_CLASSES)}"
        )
    return cls.from_config(dict(config.get("config") or {}))
