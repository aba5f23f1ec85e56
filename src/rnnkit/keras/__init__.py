"""The Keras dialect of rnnkit: ``from rnnkit import keras`` and write Keras code.

Layers (``keras.layers.LSTM``...), models (``keras.Sequential``, ``keras.Model``, ``keras.Input``),
initializers, activations, regularizers, constraints, utils, the training side (``optimizers``,
``losses``, ``metrics``, ``callbacks``, ``saving``) and the scikit-learn ``wrappers`` (scikit-learn
itself is needed only when a wrapper is fitted). Import paths of Keras 2 tutorials work too
(``rnnkit.keras.wrappers.scikit_learn``).

Example:
    >>> import numpy as np
    >>> from rnnkit import keras
    >>> x = np.eye(4, dtype=np.float32)[[[0, 1, 2, 2, 3], [1, 3, 2, 2, 2], [2, 2, 1, 1, 2]]]
    >>> outputs, h, c = keras.layers.LSTM(units=2, return_state=True)(x)
    >>> outputs.shape, bool((keras.ops.convert_to_numpy(outputs) == keras.ops.convert_to_numpy(h)).all())
    ((3, 2), True)
"""

from __future__ import annotations

from rnnkit.keras import activations, constraints, initializers, layers, regularizers, utils
from rnnkit.keras import callbacks, losses, metrics, optimizers, saving
from rnnkit.keras import models, ops, preprocessing, wrappers
from rnnkit.keras.layers import Input, Layer
from rnnkit.keras.models import Model, Sequential
from rnnkit.keras.variables import Variable

__all__ = [
    "layers", "models", "Model", "Sequential", "Input", "Layer", "activations", "initializers", "regularizers",
    "constraints", "utils", "optimizers", "losses", "metrics", "callbacks", "saving", "wrappers", "preprocessing", "ops", "Variable",
]
