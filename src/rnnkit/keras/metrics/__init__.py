"""Keras metrics: stateful running means of per-sample values (accuracy, mae, the hinges,
correlations, ...) and metrics built on accumulated counts (AUC, Precision/Recall, the "X at Y"
metrics, the F scores, IoU, R2), as ``keras.metrics`` of Keras 3.15.

Every metric has ``update_state(y_true, y_pred, sample_weight=None)``, ``result()`` and
``reset_state()``; they work on ndarrays (an rnnkit ``Tensor`` is read through ``.data``) and
keep their state as float64. The submodules group them as Keras does: :mod:`.base` (``Metric``,
``Mean``, ``Sum``, ``MeanMetricWrapper``), :mod:`.accuracy`, :mod:`.regression`,
:mod:`.probabilistic` (crossentropies, KL, Poisson, hinges), :mod:`.confusion` and :mod:`.iou`.
A metric that is the mean of a loss evaluates :mod:`rnnkit.keras.losses`' function.

Names resolve as ``keras.metrics.get`` resolves them: a class name, its snake-case form
(``"log_cosh_error"``, ``"binary_io_u"``) or one of Keras's short aliases (``"mse"``, ``"bce"``, ...);
"accuracy"/"acc" in ``compile`` pick the binary, sparse or categorical variant from the data
(see :func:`resolve`).

Example:
    >>> import numpy as np
    >>> from rnnkit.keras import metrics
    >>> m = metrics.get("categorical_accuracy")
    >>> m.update_state(np.array([[0, 0, 1], [0, 1, 0]]), np.array([[0.1, 0.9, 0.8], [0.05, 0.95, 0]]))
    >>> m.result()
    0.5
"""

from __future__ import annotations

from typing import Any

from rnnkit.keras._registry import class_config, to_snake_case
from rnnkit.keras.losses import (binary_crossentropy, categorical_crossentropy, categorical_hinge, hinge, huber,
                                 kl_divergence, log_cosh, mean_absolute_error, mean_absolute_percentage_error,
                                 mean_squared_error, mean_squared_logarithmic_error, poisson,
                                 sparse_categorical_crossentropy, squared_hinge)
from rnnkit.keras.metrics.accuracy import (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                                           SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy, accuracy,
                                           binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
                                           sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from rnnkit.keras.metrics.base import Mean, MeanMetricWrapper, Metric, Sum
from rnnkit.keras.metrics.confusion import (AUC, F1Score, FalseNegatives, FalsePositives, FBetaScore, Precision,
                                            PrecisionAtRecall, Recall, RecallAtPrecision, SensitivityAtSpecificity,
                                            SpecificityAtSensitivity, TrueNegatives, TruePositives, confusion_counts)
from rnnkit.keras.metrics.iou import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from rnnkit.keras.metrics.probabilistic import (BinaryCrossentropy, CategoricalCrossentropy, CategoricalHinge, Hinge,
                                                KLDivergence, Poisson, SparseCategoricalCrossentropy, SquaredHinge)
from rnnkit.keras.metrics.regression import (ConcordanceCorrelation, CosineSimilarity, LogCoshError,
                                             MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredError,
                                             MeanSquaredLogarithmicError, PearsonCorrelation, R2Score,
                                             RootMeanSquaredError, concordance_correlation, pearson_correlation)

__all__ = [
    "Metric", "Mean", "Sum", "MeanMetricWrapper",
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
    "RootMeanSquaredError", "LogCoshError", "CosineSimilarity", "PearsonCorrelation", "ConcordanceCorrelation",
    "R2Score",
    "KLDivergence", "Poisson", "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "Hinge", "SquaredHinge", "CategoricalHinge",
    "AUC", "Precision", "Recall", "TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives",
    "PrecisionAtRecall", "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity",
    "FBetaScore", "F1Score", "IoU", "BinaryIoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU", "confusion_counts",
    "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "categorical_hinge", "hinge", "squared_hinge",
    "huber", "kl_divergence", "log_cosh", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_error", "mean_squared_logarithmic_error", "poisson", "pearson_correlation",
    "concordance_correlation",
    "get", "resolve", "serialize", "deserialize",
]

# -- lookup ----------------------------------------------------------------------------------------
_CLASSES = {
    cls.__name__: cls
    for cls in (Mean, Sum, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError,
                MeanAbsolutePercentageError, MeanSquaredLogarithmicError, RootMeanSquaredError, LogCoshError,
                CosineSimilarity, PearsonCorrelation, ConcordanceCorrelation, R2Score, KLDivergence, Poisson,
                BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, Hinge, SquaredHinge,
                CategoricalHinge, AUC, Precision, Recall, TruePositives, FalsePositives, TrueNegatives,
                FalseNegatives, PrecisionAtRecall, RecallAtPrecision, SensitivityAtSpecificity,
                SpecificityAtSensitivity, FBetaScore, F1Score, IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU)
}
_NAMES = {  # what keras.metrics.get resolves: class names, their snake-case forms and Keras's short aliases
    **_CLASSES, **{to_snake_case(name): cls for name, cls in _CLASSES.items()},
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError, "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
}
ACCURACY_NAMES = ("accuracy", "acc")  # resolved from the shapes by resolve()


def get(identifier: Any) -> Metric:
    """A fresh :class:`Metric` from a name, class, config dict, Metric object or function, as
    ``keras.metrics.get`` (a name builds its class with default arguments: ``"mse"`` is
    ``MeanSquaredError()``; a function becomes a :class:`MeanMetricWrapper`).

    Raises:
        ValueError: for an unknown name, naming it and the known ones.
        TypeError: for anything else (and for a class that needs arguments, such as ``"IoU"``).
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier not in _NAMES:
            raise ValueError(f"metrics: unknown metric {identifier!r}; expected one of "
                             f"{sorted(set(_NAMES) | {'acc'})}, a Metric or a callable")
        return _NAMES[identifier]()
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise TypeError(f"metrics: expected a name, a Metric or a callable, got {type(identifier).__name__} {identifier!r}")


def resolve(identifier: Any, y_true_shape: tuple[int, ...], y_pred_shape: tuple[int, ...]) -> Metric:
    """Keras's ``get_metric``: "accuracy"/"acc" become the binary, sparse or categorical variant.

    Args:
        identifier: anything :func:`get` accepts, or "accuracy"/"acc".
        y_true_shape: shape of the targets.
        y_pred_shape: shape of the model's output.

    Returns:
        A :class:`Metric` named as the identifier when it is a string (so ``"acc"`` logs as ``acc``).
    """
    if isinstance(identifier, str) and identifier.lower() in ACCURACY_NAMES:
        is_binary = y_pred_shape[-1] == 1
        is_sparse = len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1)
        cls = BinaryAccuracy if is_binary else SparseCategoricalAccuracy if is_sparse else CategoricalAccuracy
        return cls(name=identifier)
    metric = get(identifier)
    if isinstance(identifier, str):
        metric.name = identifier
    return metric


def serialize(metric: Any) -> Any:
    """A JSON-able description (names stay names)."""
    if isinstance(metric, str):
        return metric
    if isinstance(metric, Metric) and type(metric).__name__ in _CLASSES:
        return class_config(metric)
    raise ValueError(f"metrics: cannot serialize the custom metric {metric!r}")


def deserialize(config: Any) -> Any:
    """Inverse of :func:`serialize`."""
    if isinstance(config, str):
        return config
    if not isinstance(config, dict) or config.get("class_name") not in _CLASSES:
        raise ValueError(f"metrics: expected a name or a {{'class_name', 'config'}} dict, got {config!r}")
    return _CLASSES[config["class_name"]].from_config(dict(config.get("config") or {}))