"""The ``keras.ops`` calls that Keras 3 records as nodes of a functional model, as layers.

Keras 3 records an op applied to symbolic tensors as a node of the functional graph; its
``config.json`` then names the op's class (module ``keras.src.ops.numpy``). ``Masking`` in a
functional model is the common case: Keras computes its mask with ``NotEqual`` then ``Any`` and
passes it on as the ``mask`` argument of the next layers. These layers rebuild such nodes when
rnnkit opens a ``.keras`` file (and write them back under Keras's names):

    NotEqual:  y = x1 != x2                      (bool, broadcast)
    Any:       y = any(x, axis, keepdims)         (bool)

They hold no weights and are not part of a model's Keras weights file.

Example:
    >>> import numpy as np
    >>> from rnnkit.keras.layers.operations import Any, NotEqual
    >>> x = np.array([[[0.0, 0.0], [1.0, 0.0]]], np.float32)
    >>> Any(axis=-1)(NotEqual()(x, 0.0)).numpy().tolist()
    [[False, True]]
"""

from __future__ import annotations

from typing import Any as AnyType

import numpy as np

from rnnkit._tensor import Tensor
from rnnkit.keras._registry import LAYERS
from rnnkit.keras.layers.base import Layer

__all__ = ["Operation", "NotEqual", "Any"]


def _values(x: AnyType) -> np.ndarray:
    return x.numpy() if isinstance(x, Tensor) else np.asarray(x)


class Operation(Layer):
    """A weightless op node of Keras's functional graphs (its class lives in ``keras.src.ops``)."""

    keras_module = "keras.src.ops.numpy"  # the module Keras's config.json names for the class
    _float_inputs = False  # compare the inputs as they come (ids stay integers)
    _autocast = False

    def _output_dtype(self) -> str:
        return "bool"

    def get_config(self) -> dict:
        return {"name": self.name}


@LAYERS.register()
class NotEqual(Operation):
    """``x1 != x2`` elementwise (``keras.ops.not_equal``), broadcasting ``x2``."""

    def call(self, x1, x2):
        return Tensor(np.not_equal(_values(x1), _values(x2)))

    def compute_output_shape(self, input_shape):
        return input_shape


@LAYERS.register()
class Any(Operation):
    """``any(x, axis, keepdims)`` (``keras.ops.any``).

    Args:
        axis: an int, a tuple of ints, or None (all axes).
        keepdims: keep the reduced axes with size 1.
    """

    def __init__(self, axis: AnyType = None, keepdims: bool = False, **kwargs: AnyType):
        super().__init__(**kwargs)
        if not (axis is None or isinstance(axis, int) or
                (isinstance(axis, (list, tuple)) and all(isinstance(a, int) for a in axis))):
            raise TypeError(f"Any: axis expected None, an int or a tuple of ints, got {axis!r}")
        self.axis = tuple(axis) if isinstance(axis, list) else axis
        self.keepdims = bool(keepdims)

    def call(self, x):
        return Tensor(np.any(_values(x), axis=self.axis, keepdims=self.keepdims))

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        axes = range(len(shape)) if self.axis is None else \
            [a % len(shape) for a in (self.axis if isinstance(self.axis, tuple) else (self.axis,))]
        if self.keepdims:
            return tuple(1 if i in axes else s for i, s in enumerate(shape))
        return tuple(s for i, s in enumerate(shape) if i not in axes)

    def get_config(self):
        return {**super().get_config(), "axis": list(self.axis) if isinstance(self.axis, tuple) else self.axis,
                "keepdims": self.keepdims}
