"""Keras's probabilistic and hinge metrics: running means of the matching losses of
:mod:`rnnkit.keras.losses` (crossentropies, KL divergence, Poisson, the hinges), evaluated without
recording gradients.

Example:
    >>> import numpy as np
    >>> m = Hinge()
    >>> m.update_state(np.array([[0, 1], [0, 0]]), np.array([[0.6, 0.4], [0.4, 0.6]]))
    >>> round(m.result(), 4)
    1.3
"""

from __future__ import annotations

from rnnkit.keras import losses as losses_module
from rnnkit.keras.metrics.base import MeanMetricWrapper

__all__ = [
    "KLDivergence", "Poisson", "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "Hinge", "SquaredHinge", "CategoricalHinge",
]


class KLDivergence(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.kl_divergence`."""

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(losses_module.kl_divergence, name=name, dtype=dtype)


class Poisson(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.poisson`."""

    def __init__(self, name="poisson", dtype=None):
        super().__init__(losses_module.poisson, name=name, dtype=dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.binary_crossentropy` (``from_logits``, ``label_smoothing``)."""

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0):
        super().__init__(losses_module.binary_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)


class CategoricalCrossentropy(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.categorical_crossentropy`."""

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0, axis=-1):
        super().__init__(losses_module.categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.sparse_categorical_crossentropy`; entries labelled
    ``ignore_class`` count as 0 (and, with sample weights, weigh nothing), as in Keras."""

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, ignore_class=None,
                 axis=-1):
        super().__init__(losses_module.sparse_categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, ignore_class=ignore_class, axis=axis)


class Hinge(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.hinge`."""

    def __init__(self, name="hinge", dtype=None):
        super().__init__(losses_module.hinge, name=name, dtype=dtype)


class SquaredHinge(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.squared_hinge`."""

    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__(losses_module.squared_hinge, name=name, dtype=dtype)


class CategoricalHinge(MeanMetricWrapper):
    """Running mean of :func:`rnnkit.keras.losses.categorical_hinge`."""

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(losses_module.categorical_hinge, name=name, dtype=dtype)
