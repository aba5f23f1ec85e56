"""Keras losses: per-sample loss functions, ``Loss`` objects and Keras's reductions, as
``keras.losses`` of Keras 3.15.

The functions (``categorical_crossentropy``, ``mean_squared_error``, ...) map ``(y_true,
y_pred)`` to one loss per sample, differentiable in ``y_pred`` (an rnnkit ``Tensor``);
``y_true`` is a constant. ``Loss`` objects add Keras's reduction (:mod:`.base`). The submodules
group them: :mod:`.probabilistic` (crossentropies, focal and generalized crossentropies, KL,
Poisson), :mod:`.regression` (squared, absolute, percentage, log errors, Huber, log-cosh, cosine
similarity), :mod:`.hinge` and :mod:`.structured` (Dice, Tversky, Circle, CTC). :func:`get`
resolves the names ``keras.losses.get`` resolves.

Example:
    >>> import numpy as np
    >>> from rnnkit.keras import losses
    >>> y_true = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> y_pred = np.array([[0.4, 0.6], [0.9, 0.1]], np.float32)
    >>> round(float(losses.get("CategoricalCrossentropy")(y_true, y_pred).item()), 4)
    0.3081
"""

from __future__ import annotations

from typing import Any, Callable

from rnnkit.keras._registry import class_config, from_class_config
from rnnkit.keras.losses.base import EPSILON, REDUCTIONS, Loss, LossFunctionWrapper, reduce_weighted_values
from rnnkit.keras.losses.hinge import CategoricalHinge, Hinge, SquaredHinge, categorical_hinge, hinge, squared_hinge
from rnnkit.keras.losses.probabilistic import (BinaryCrossentropy, BinaryFocalCrossentropy, CategoricalCrossentropy,
                                               CategoricalFocalCrossentropy, CategoricalGeneralizedCrossEntropy,
                                               KLDivergence, Poisson, SparseCategoricalCrossentropy,
                                               binary_crossentropy, binary_focal_crossentropy,
                                               categorical_crossentropy, categorical_focal_crossentropy,
                                               categorical_generalized_cross_entropy, kl_divergence, poisson,
                                               sparse_categorical_crossentropy)
from rnnkit.keras.losses.regression import (CosineSimilarity, Huber, LogCosh, MeanAbsoluteError,
                                            MeanAbsolutePercentageError, MeanSquaredError,
                                            MeanSquaredLogarithmicError, cosine_similarity, huber, log_cosh,
                                            mean_absolute_error, mean_absolute_percentage_error, mean_squared_error,
                                            mean_squared_logarithmic_error)
from rnnkit.keras.losses.structured import CTC, Circle, Dice, Tversky, circle, ctc, dice, tversky

__all__ = [
    "EPSILON", "REDUCTIONS", "Loss", "LossFunctionWrapper", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "BinaryCrossentropy", "MeanSquaredError", "MeanAbsoluteError", "Huber", "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError", "KLDivergence", "Hinge", "SquaredHinge", "CategoricalHinge", "LogCosh", "Poisson",
    "CosineSimilarity", "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy", "Dice", "Tversky",
    "CategoricalGeneralizedCrossEntropy", "CTC", "Circle",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
    "mean_squared_error", "mean_absolute_error", "huber", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "kl_divergence", "hinge", "squared_hinge", "categorical_hinge", "log_cosh",
    "poisson", "cosine_similarity", "binary_focal_crossentropy", "categorical_focal_crossentropy", "dice", "tversky",
    "categorical_generalized_cross_entropy", "ctc", "circle", "mse", "mae", "MSE", "MAE", "mape", "MAPE", "msle",
    "MSLE", "kld", "KLD", "bce", "BCE",
    "reduce_weighted_values", "get", "serialize", "deserialize",
]

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence
bce = BCE = binary_crossentropy

# -- lookup ----------------------------------------------------------------------------------
_FUNCTIONS = {
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy, "bce": binary_crossentropy, "BCE": binary_crossentropy,
    "mean_absolute_percentage_error": mean_absolute_percentage_error, "mape": mean_absolute_percentage_error,
    "MAPE": mean_absolute_percentage_error,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error, "msle": mean_squared_logarithmic_error,
    "MSLE": mean_squared_logarithmic_error,
    "kl_divergence": kl_divergence, "kld": kl_divergence, "KLD": kl_divergence,
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error, "MSE": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error, "MAE": mean_absolute_error,
    "huber": huber, "hinge": hinge, "squared_hinge": squared_hinge, "categorical_hinge": categorical_hinge,
    "log_cosh": log_cosh, "poisson": poisson, "cosine_similarity": cosine_similarity,
    "binary_focal_crossentropy": binary_focal_crossentropy,
    "categorical_focal_crossentropy": categorical_focal_crossentropy, "dice": dice, "tversky": tversky, "ctc": ctc,
    "circle": circle,
}


_CLASSES = {
    cls.__name__: cls
    for cls in (CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy,
                MeanSquaredError, MeanAbsoluteError, Huber, MeanAbsolutePercentageError,
                MeanSquaredLogarithmicError, KLDivergence, Hinge, SquaredHinge, CategoricalHinge, LogCosh, Poisson,
                CosineSimilarity, BinaryFocalCrossentropy, CategoricalFocalCrossentropy, Dice, Tversky,
                CategoricalGeneralizedCrossEntropy, CTC, Circle)
}

# Keras 3.15 exports these classes but keras.losses.get does not know their names (configs still name them)
_CONFIG_ONLY = ("CategoricalGeneralizedCrossEntropy",)


def get(identifier: Any) -> Callable | Loss | None:
    """Resolve a loss given by name, config dict, ``Loss`` object or callable, as ``keras.losses.get``.

    Raises:
        ValueError: for an unknown name, naming it and the known ones.
        TypeError: for anything else.
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier in _FUNCTIONS:
            return _FUNCTIONS[identifier]
        if identifier in _CLASSES and identifier not in _CONFIG_ONLY:
            return _CLASSES[identifier]()
        raise ValueError(
            f"loss: unknown loss {identifier!r}; expected one of "
            f"{sorted(set(_FUNCTIONS) | set(_CLASSES) - set(_CONFIG_ONLY))}, "
            "a keras.losses.Loss object or a callable(y_true, y_pred)"
        )
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(
        f"loss: expected a name, a Loss object or a callable, got {type(identifier).__name__} {identifier!r}"
    )


def serialize(loss: Any) -> dict | str:
    """A JSON-able description of ``loss`` (a name for the built-in functions)."""
    if isinstance(loss, Loss):
        if type(loss).__name__ not in _CLASSES:
            if isinstance(loss, LossFunctionWrapper) and loss.fn in _FUNCTIONS.values():
                return {"class_name": "LossFunctionWrapper", "config": {**loss.get_config(), "fn": loss.fn.__name__}}
            raise ValueError(f"loss: cannot serialize a custom loss object {loss!r}")
        return class_config(loss)
    for name, fn in _FUNCTIONS.items():
        if loss is fn:
            return name
    raise ValueError(f"loss: cannot serialize the custom loss {loss!r}; pass it again to compile() after loading")


def deserialize(config: dict | str) -> Callable | Loss:
    """Inverse of :func:`serialize`."""
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"loss: expected a name or a {{'class_name', 'config'}} dict, got {config!r}")
    name, cfg = config["class_name"], dict(config.get("config") or {})
    if name == "LossFunctionWrapper":
        fn = get(cfg.pop("fn"))
        return LossFunctionWrapper(fn, **cfg)
    return from_class_config(_CLASSES, name, config, "loss", "loss")
