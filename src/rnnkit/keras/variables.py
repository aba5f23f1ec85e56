"""``keras.Variable``: a layer weight (an :class:`rnnkit.nn.Parameter`) with Keras's ``assign`` methods.

``assign``/``assign_add``/``assign_sub`` write in place (shape-checked, cast to the variable's dtype), so
optimizers, ``get_weights`` and every alias of the weight see the new value, as with Keras variables.

Example:
    >>> import numpy as np
    >>> v = Variable(np.zeros((2,), np.float32), name="bias")
    >>> _ = v.assign_add([1.0, 2.0])
    >>> v.numpy().tolist(), v.name, v.trainable
    ([1.0, 2.0], 'bias', True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit._tensor import Tensor, array_of
from rnnkit.keras import initializers
from rnnkit.nn import Parameter

__all__ = ["Variable"]


class Variable(Parameter):
    """A weight with Keras's variable API.

    Args:
        initializer: the initial value (an array), or an initializer (name or object) with ``shape``.
        shape: the shape, when ``initializer`` is an initializer.
        dtype: the dtype (default float32, or the value's float dtype).
        trainable: whether training updates it (and whether it requires grad).
        name: the weight's name.
    """

    def __init__(self, initializer: Any, shape: Any = None, dtype: Any = None, trainable: bool = True,
                 name: str | None = None, **kwargs: Any):
        for key in ("autocast", "aggregation", "synchronization"):
            kwargs.pop(key, None)
        if kwargs:
            raise TypeError(f"Variable: unexpected keyword argument(s) {sorted(kwargs)}")
        if isinstance(initializer, (str, dict)) or callable(initializer) and not isinstance(initializer, Tensor):
            if shape is None:
                raise ValueError("Variable: an initializer needs shape=(...)")
            init = initializers.get(initializer, "initializer")
            value = np.asarray(init(tuple(shape), dtype=np.dtype(dtype or "float32")))
        else:
            value = array_of(initializer)
            if shape is not None and tuple(shape) != value.shape:
                raise ValueError(f"Variable: the value has shape {value.shape}, shape={tuple(shape)} was given")
        dtype = np.dtype(dtype) if dtype is not None else (value.dtype if value.dtype.kind == "f"
                                                            else np.dtype(np.float32))
        super().__init__(np.array(value, dtype=dtype, order="C"), requires_grad=bool(trainable))
        self.name = name or "variable"
        self.path = self.name
        self.trainable = bool(trainable)
        self.regularizer = None
        self.constraint = None

    def numpy(self) -> np.ndarray:
        """The value (sharing memory with the variable), trainable or not, as Keras's ``Variable.numpy()``."""
        return array_of(self)

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(v)``: the value, as Keras (a trainable variable too)."""
        array = array_of(self)
        return array.astype(dtype, copy=bool(copy)) if dtype is not None else array.copy() if copy else array

    def _check(self, value: Any) -> np.ndarray:
        array = array_of(value)
        if array.shape != self.shape and np.broadcast_shapes(array.shape, self.shape) != self.shape:
            raise ValueError(f"Variable '{self.name}': cannot assign a value of shape {array.shape} to a variable "
                             f"of shape {self.shape}")
        return array.astype(self.dtype, copy=False)

    def assign(self, value: Any) -> "Variable":
        """Set the value in place."""
        self.data[...] = self._check(value)
        return self

    def assign_add(self, value: Any) -> "Variable":
        """Add to the value in place."""
        self.data[...] += self._check(value)
        return self

    def assign_sub(self, value: Any) -> "Variable":
        """Subtract from the value in place."""
        self.data[...] -= self._check(value)
        return self

    @property
    def value(self) -> Tensor:
        """The variable itself, as a Tensor (Keras's ``variable.value``)."""
        return self

    def __repr__(self) -> str:
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype.name}>"
