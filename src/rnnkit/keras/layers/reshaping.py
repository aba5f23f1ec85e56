"""Keras's shape and small elementwise layers: ``RepeatVector``, ``Reshape``, ``Permute``, ``Lambda``,
``GlobalAveragePooling1D``, ``GlobalMaxPooling1D``, ``SpatialDropout1D``, ``ReLU``, ``LeakyReLU``.

Equations (x (B, T, C))::

    RepeatVector(n):        y[b, t] = x[b]                  (B, C) -> (B, n, C)
    GlobalAveragePooling1D: y[b] = sum_t m[b, t] x[b, t] / sum_t m[b, t]   (m = mask, ones without one)
    GlobalMaxPooling1D:     y[b] = max_t x[b, t]            (masks ignored, as Keras)
    SpatialDropout1D(rate): y[b, t, c] = x[b, t, c] k[b, c] / (1 - rate),  k ~ Bernoulli(1 - rate)
    ReLU:                   y = min(max_value, x) for x >= threshold, negative_slope (x - threshold) below
    LeakyReLU:              y = x for x >= 0, negative_slope x below

Example:
    >>> import numpy as np
    >>> from rnnkit.keras import layers
    >>> layers.RepeatVector(3)(np.ones((2, 4))).shape
    (2, 3, 4)
    >>> layers.Reshape((2, 2))(np.arange(8.0).reshape(2, 4)).shape
    (2, 2, 2)
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from rnnkit import _ops
from rnnkit._validation import check_size
from rnnkit.keras import activations
from rnnkit.keras._registry import LAYERS
from rnnkit.keras.layers.base import InputSpec, Layer, _shape_arg
from rnnkit.keras.layers.core import Dropout

__all__ = ["RepeatVector", "Reshape", "Permute", "Lambda", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
           "SpatialDropout1D", "ReLU", "LeakyReLU"]


@LAYERS.register()
class RepeatVector(Layer):
    """Repeat a (B, C) input ``n`` times: (B, n, C).

    Args:
        n: repetitions.
    """

    def __init__(self, n: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.n = check_size("n", n, 1)
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        return _ops.expand(_ops.unsqueeze(inputs, 1), (inputs.shape[0], self.n, inputs.shape[1]))  # (B, n, C)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}


@LAYERS.register()
class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape: Any, **kwargs: Any):
        super().__init__(**kwargs)
        target = tuple(target_shape) if isinstance(target_shape, (tuple, list)) else None
        if target is None or not all(isinstance(s, (int, np.integer)) and (s > 0 or s == -1) for s in target) \
                or sum(s == -1 for s in target) > 1:
            raise ValueError(f"target_shape: expected a tuple of positive ints with at most one -1, got {target_shape!r}")
        self.target_shape = tuple(int(s) for s in target)

    def _resolved(self, input_shape: tuple) -> tuple:
        size = None if any(s is None for s in input_shape[1:]) else int(np.prod(input_shape[1:]))
        known = int(np.prod([s for s in self.target_shape if s != -1]))
        if -1 not in self.target_shape:
            if size is not None and size != known:
                raise ValueError(f"Reshape layer '{self.name}': cannot reshape {input_shape[1:]} ({size} values) to "
                                 f"{self.target_shape}")
            return self.target_shape
        if size is None:
            return tuple(None if s == -1 else s for s in self.target_shape)
        if size % known:
            raise ValueError(f"Reshape layer '{self.name}': {size} values do not fill {self.target_shape}")
        return tuple(size // known if s == -1 else s for s in self.target_shape)

    def call(self, inputs):
        return _ops.reshape(inputs, (inputs.shape[0],) + self._resolved(tuple(inputs.shape)))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolved(tuple(input_shape))

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


@LAYERS.register()
class Permute(Layer):
    """Permute the non-batch axes: ``dims`` is a permutation of 1..rank-1 (e.g. ``(2, 1)``)."""

    def __init__(self, dims: Any, **kwargs: Any):
        super().__init__(**kwargs)
        dims = tuple(dims) if isinstance(dims, (tuple, list)) else None
        if dims is None or sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"dims: expected a permutation of 1..{len(dims or ()) or 'rank-1'}, got {dims!r}")
        self.dims = tuple(int(d) for d in dims)
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)
        self.supports_masking = True

    def call(self, inputs):
        return _ops.permute(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


@LAYERS.register()
class Lambda(Layer):
    """Wrap a function ``y = function(x, **arguments)`` of rnnkit Tensors as a layer.

    Args:
        function: the function (written with ``keras.ops`` / rnnkit ops).
        output_shape: the output shape without the batch axis, or a function of the input shape
            (found by running ``function`` on zeros when omitted).
        mask: an output mask, or a function ``(inputs, mask) -> mask``.
        arguments: extra keyword arguments of ``function``.
    """

    def __init__(self, function: Callable, output_shape: Any = None, mask: Any = None, arguments: dict | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"function: expected a callable, got {type(function).__name__}")
        self.function, self._output_shape, self.mask, self.arguments = function, output_shape, mask, dict(arguments or {})
        self.supports_masking = mask is not None

    def call(self, inputs, mask=None, training=None):
        return self.function(inputs, **self.arguments)

    def compute_mask(self, inputs, mask=None):
        return self.mask(inputs, mask) if callable(self.mask) else self.mask

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        batch = input_shape[0] if isinstance(input_shape, tuple) and input_shape and not isinstance(
            input_shape[0], tuple) else None
        return (batch,) + _shape_arg("output_shape", self._output_shape)

    def get_config(self):
        raise ValueError(
            f"Lambda layer '{self.name}' holds Python code, which rnnkit does not serialize; subclass keras.layers.Layer "
            "and register it to save the model"
        )


class _GlobalPooling1D(Layer):
    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"data_format: expected 'channels_last' or 'channels_first', got {data_format!r}")
        self.data_format = data_format or "channels_last"
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=3)
        self.supports_masking = True

    @property
    def _steps_axis(self) -> int:
        return 1 if self.data_format == "channels_last" else 2

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        if self.keepdims:
            shape[self._steps_axis] = 1
        else:
            del shape[self._steps_axis]
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


@LAYERS.register()
class GlobalAveragePooling1D(_GlobalPooling1D):
    """Mean over the time axis, counting only unmasked steps when a mask comes in."""

    def call(self, inputs, mask=None):
        axis = self._steps_axis
        if mask is None:
            return _ops.mean(inputs, dim=axis, keepdim=self.keepdims)
        weights = np.expand_dims(np.asarray(mask, bool), 2 if axis == 1 else 1).astype(inputs.dtype)  # (B, T, 1)
        total = _ops.sum(inputs * weights, dim=axis, keepdim=self.keepdims)
        return total / weights.sum(axis=axis, keepdims=self.keepdims)


@LAYERS.register()
class GlobalMaxPooling1D(_GlobalPooling1D):
    """Maximum over the time axis (masks are ignored, as Keras)."""

    def call(self, inputs):
        values, _ = _ops.max(inputs, dim=self._steps_axis, keepdim=self.keepdims)
        return values


@LAYERS.register()
class SpatialDropout1D(Dropout):
    """Drop whole feature channels of (B, T, C) inputs: one Bernoulli draw per (sample, channel)."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any):
        super().__init__(rate, seed=seed, **kwargs)
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs, training=False):
        self.noise_shape = (inputs.shape[0], 1, inputs.shape[2])
        try:
            return super().call(inputs, training=training)
        finally:
            self.noise_shape = None

    def get_config(self):
        config = super().get_config()
        del config["noise_shape"]
        return config


@LAYERS.register()
class ReLU(Layer):
    """``keras.layers.ReLU(max_value, negative_slope, threshold)``."""

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"max_value: expected a value >= 0, got {max_value}")
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"negative_slope: expected a value >= 0, got {negative_slope}")
        if threshold is None or threshold < 0:
            raise ValueError(f"threshold: expected a value >= 0, got {threshold}")
        self.max_value, self.negative_slope, self.threshold = max_value, float(negative_slope), float(threshold)
        self.supports_masking = True

    def call(self, inputs):
        return activations.relu(inputs, negative_slope=self.negative_slope, max_value=self.max_value,
                                threshold=self.threshold)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


@LAYERS.register()
class LeakyReLU(Layer):
    """``y = x`` for x >= 0, ``negative_slope * x`` below (Keras 3's default slope 0.3)."""

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any):
        if "alpha" in kwargs:  # Keras 2's name, still accepted by Keras 3 with the same warning
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.", stacklevel=2)
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"negative_slope: expected a value >= 0, got {negative_slope}")
        self.negative_slope = float(negative_slope)
        self.supports_masking = True

    def call(self, inputs):
        return activations.leaky_relu(inputs, negative_slope=self.negative_slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}
