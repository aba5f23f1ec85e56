"""Keras's normalization layers: ``LayerNormalization`` and ``BatchNormalization``.

Equations (eps = ``epsilon``; statistics over the axes named)::

    LayerNormalization:  y = (x - mean_a(x)) / sqrt(var_a(x) + eps) * gamma + beta     a = ``axis`` (per sample)
                         rms_scaling: y = x / sqrt(var_a(x) + eps) * gamma            (Keras's definition)
    BatchNormalization:  training:  mu, s2 = mean / biased variance of x over every axis but ``axis``
                                    (masked steps left out);  moving = moving * momentum + stat * (1 - momentum)
                         inference: mu, s2 = moving_mean, moving_variance
                         y = (x - mu) / sqrt(s2 + eps) * gamma + beta

Example:
    >>> import numpy as np
    >>> from rnnkit.keras import layers
    >>> y = layers.LayerNormalization()(np.array([[1.0, 2.0, 3.0]])).detach().numpy()
    >>> [round(float(v), 3) for v in y[0]]
    [-1.224, 0.0, 1.224]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit import _ops
from rnnkit._tensor import Tensor, array_of
from rnnkit._validation import check_bool
from rnnkit.keras import initializers
from rnnkit.keras._registry import LAYERS
from rnnkit.keras.layers.base import InputSpec, Layer

__all__ = ["LayerNormalization", "BatchNormalization"]


def _moments(x: Tensor, axes: tuple[int, ...], weights: np.ndarray | None = None) -> tuple[Tensor, Tensor]:
    """Mean and biased variance over ``axes`` (kept as size-1 axes); ``weights`` (0/1, broadcastable) leave
    entries out, with Keras's ``+ 1e-7`` in the denominators."""
    if weights is None:
        mean = _ops.mean(x, dim=axes, keepdim=True)
        return mean, _ops.mean((x - mean) * (x - mean), dim=axes, keepdim=True)
    full = np.broadcast_to(weights, tuple(x.shape)).astype(x.dtype)
    count = full.sum(axis=axes, keepdims=True) + 1e-7
    mean = _ops.sum(x * full, dim=axes, keepdim=True) / count
    diff = (x - mean) * full
    return mean, _ops.sum(diff * diff, dim=axes, keepdim=True) / count


def _axes_arg(axis: Any) -> tuple[int, ...]:
    axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    if not axes or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
        raise TypeError(f"axis: expected an int or a list of ints, got {axis!r}")
    return tuple(int(a) for a in axes)


class _Normalization(Layer):
    def __init__(self, axis: Any, epsilon: float, center: bool, scale: bool, beta_initializer: Any,
                 gamma_initializer: Any, beta_regularizer: Any, gamma_regularizer: Any, beta_constraint: Any,
                 gamma_constraint: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.axis = _axes_arg(axis)
        if not isinstance(epsilon, (int, float)) or epsilon < 0:
            raise ValueError(f"epsilon: expected a non-negative number, got {epsilon!r}")
        self.epsilon = float(epsilon)
        self.center, self.scale = check_bool("center", center), check_bool("scale", scale)
        self._set_weight_options(gamma=(gamma_initializer, gamma_regularizer, gamma_constraint),
                                 beta=(beta_initializer, beta_regularizer, beta_constraint))
        self.supports_masking = True

    def _resolve_axes(self, input_shape: tuple) -> tuple[int, ...]:
        rank = len(input_shape)
        for a in self.axis:
            if not -rank <= a < rank:
                raise ValueError(f"{type(self).__name__} '{self.name}': axis {a} is out of bounds for inputs of "
                                 f"shape {tuple(input_shape)}")
        return tuple(sorted(a % rank for a in self.axis))

    def _param_shape(self, input_shape: tuple) -> tuple:
        axes = self._resolve_axes(input_shape)
        shape = tuple(input_shape[a] for a in axes)
        if any(s is None for s in shape):
            raise ValueError(f"{type(self).__name__} '{self.name}': the normalized axes must have known sizes, got "
                             f"input shape {tuple(input_shape)}")
        return shape

    def _build_affine(self, input_shape: tuple) -> None:
        shape = self._param_shape(input_shape)
        self.gamma = self._add_option_weight("gamma", shape) if self.scale else None
        self.beta = self._add_option_weight("beta", shape) if self.center else None

    def _broadcast(self, value: Any, rank: int, axes: tuple[int, ...]) -> Any:
        """A parameter of the normalized axes' shape reshaped to broadcast against rank-``rank`` inputs."""
        sizes = list(value.shape)
        full = [sizes.pop(0) if a in axes else 1 for a in range(rank)]
        return _ops.reshape(value, tuple(full)) if isinstance(value, Tensor) else np.reshape(value, full)

    def compute_output_shape(self, input_shape):
        self._resolve_axes(input_shape)
        return input_shape

    def _affine_config(self) -> dict:
        return {"axis": list(self.axis) if len(self.axis) > 1 else self.axis[0], "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, **self._weight_options_config("beta", "gamma")}


@LAYERS.register()
class LayerNormalization(_Normalization):
    """Normalize each sample over ``axis`` (default the last), then scale by ``gamma`` and shift by ``beta``.

    Args:
        axis: int or list of ints.
        epsilon: added to the variance (Keras's 1e-3).
        center / scale: learn ``beta`` / ``gamma``.
        rms_scaling: Keras's variant ``x / sqrt(var + eps) * gamma`` (no centering, no beta).
    """

    def __init__(self, axis: Any = -1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 rms_scaling: bool = False, beta_initializer: Any = "zeros", gamma_initializer: Any = "ones",
                 beta_regularizer: Any = None, gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, **kwargs: Any):
        self.rms_scaling = check_bool("rms_scaling", rms_scaling)
        if self.rms_scaling:
            center, scale = False, True
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)

    def build(self, input_shape):
        self._build_affine(tuple(input_shape))

    def call(self, inputs):
        axes = self._resolve_axes(tuple(inputs.shape))
        mean, variance = _moments(inputs, axes)  # (..., 1)
        inv = _ops.pow(variance + self.epsilon, -0.5)
        y = inputs * inv if self.rms_scaling else (inputs - mean) * inv
        if self.gamma is not None:
            y = y * self._broadcast(self.gamma, inputs.ndim, axes)
        if self.beta is not None:
            y = y + self._broadcast(self.beta, inputs.ndim, axes)
        return y

    def get_config(self):
        return {**super().get_config(), **self._affine_config(), "rms_scaling": self.rms_scaling}


@LAYERS.register()
class BatchNormalization(_Normalization):
    """Normalize over the batch (and time) with batch statistics while training and moving averages otherwise.

    Args:
        axis: the feature axis (kept); statistics run over every other axis.
        momentum: of the moving averages.
        epsilon: added to the variance.
        center / scale: learn ``beta`` / ``gamma``.
        moving_mean_initializer / moving_variance_initializer: initial moving statistics.
        renorm, synchronized: Keras options rnnkit does not implement (only False is accepted).

    A layer with ``trainable = False`` normalizes with its moving statistics even while training, as Keras 3.
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer: Any = "zeros", gamma_initializer: Any = "ones",
                 moving_mean_initializer: Any = "zeros", moving_variance_initializer: Any = "ones",
                 beta_regularizer: Any = None, gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, renorm: bool = False, renorm_clipping: Any = None,
                 renorm_momentum: float = 0.99, synchronized: bool = False, **kwargs: Any):
        if renorm or renorm_clipping is not None:
            raise ValueError("renorm: batch renormalization is not supported; pass renorm=False")
        if synchronized:
            raise ValueError("synchronized: rnnkit trains on one device; pass synchronized=False")
        if isinstance(axis, (list, tuple)):
            raise TypeError(f"axis: expected one int, got {axis!r}")
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        self.momentum = float(momentum)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer, "moving_mean_initializer")
        self.moving_variance_initializer = initializers.get(moving_variance_initializer, "moving_variance_initializer")

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self._build_affine(input_shape)
        shape = self._param_shape(input_shape)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, self.moving_variance_initializer,
                                               trainable=False)
        axis = self._resolve_axes(input_shape)[0]
        self.input_spec = InputSpec(ndim=len(input_shape), axes={axis: input_shape[axis]})

    def call(self, inputs, training=False, mask=None):
        axis = self._resolve_axes(tuple(inputs.shape))
        reduce = tuple(a for a in range(inputs.ndim) if a not in axis)
        if training and self.trainable:
            weights = None
            if mask is not None:
                mask = np.asarray(mask, bool)
                if mask.ndim != inputs.ndim - 1:
                    raise ValueError(f"BatchNormalization '{self.name}': the mask must have one axis less than the "
                                     f"inputs, got mask {mask.shape} for inputs {tuple(inputs.shape)}")
                weights = mask[..., None]
            mean, variance = _moments(inputs, reduce, weights)  # kept axes of size 1
            m = self.momentum
            flat = tuple(self.moving_mean.shape)
            self.moving_mean.data[...] = self.moving_mean.data * m + array_of(mean).reshape(flat) * (1.0 - m)
            self.moving_variance.data[...] = self.moving_variance.data * m + array_of(variance).reshape(flat) * (1.0 - m)
        else:
            mean = self._broadcast(self.moving_mean.data, inputs.ndim, axis)
            variance = self._broadcast(self.moving_variance.data, inputs.ndim, axis)
        scale = _ops.pow(variance + self.epsilon, -0.5) if isinstance(variance, Tensor) \
            else Tensor((variance + self.epsilon) ** -0.5)
        if self.gamma is not None:
            scale = scale * self._broadcast(self.gamma, inputs.ndim, axis)
        y = (inputs - mean) * scale
        return y + self._broadcast(self.beta, inputs.ndim, axis) if self.beta is not None else y

    def get_config(self):
        config = {**super().get_config(), **self._affine_config(), "momentum": self.momentum,
                  "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                  "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
                  "renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99, "synchronized": False}
        config["axis"] = self.axis[0]
        return config
