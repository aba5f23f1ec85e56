"""Keras's core layers: ``Input``/``InputLayer``, ``Dense``, ``Activation``, ``Dropout``, ``Flatten``,
``Embedding`` and ``Masking``.

Equations (B batch, T time, I input features, U units, V vocabulary, E embedding size)::

    Dense:      y = activation(x @ kernel + bias)        x (..., I), kernel (I, U), bias (U,)
    Dropout:    y = x * m / (1 - rate), m ~ Bernoulli(1 - rate)   (training only; identity otherwise)
    Embedding:  y[b, t] = embeddings[ids[b, t]]          embeddings (V, E); mask = ids != 0 if mask_zero
    Masking:    mask[b, t] = any(x[b, t] != mask_value);  y = x where mask else 0

Example:
    >>> import numpy as np
    >>> from rnnkit.keras import layers
    >>> emb = layers.Embedding(10, 4, mask_zero=True)
    >>> y = emb(np.array([[3, 1, 0]]))
    >>> y.shape, y._keras_mask.tolist()
    ((1, 3, 4), [[True, True, False]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit import _ops
from rnnkit._random import dropout_mask, generator
from rnnkit._tensor import Tensor, array_of
from rnnkit._validation import check_bool, check_rate, check_seed, check_size
from rnnkit.keras import activations
from rnnkit.keras._registry import LAYERS
from rnnkit.keras.layers.base import InputSpec, KerasTensor, Layer, Node, _shape_arg
from rnnkit.nn import functional as F

__all__ = ["InputLayer", "Input", "Dense", "Activation", "Dropout", "Flatten", "Embedding", "Masking"]


def _rng_for(seed: Any) -> np.random.Generator | None:
    """A private generator for a layer given ``seed`` (a repeatable sequence, as Keras's SeedGenerator)."""
    seed = check_seed("seed", seed)
    return None if seed is None else np.random.default_rng(seed)


# -- inputs --------------------------------------------------------------------------
@LAYERS.register()
class InputLayer(Layer):
    """The source of a functional graph: holds the symbolic input ``output`` (a KerasTensor).

    Args:
        shape: input shape without the batch axis; ``batch_shape`` with it.
        batch_size: fixed batch size (None: any).
        dtype: the input's dtype (``'float32'`` default; ``'int32'``/``'int64'`` for token ids).
        name: layer name.
    """

    def __init__(self, shape: Any = None, batch_size: int | None = None, dtype: Any = None, sparse: Any = None,
                 batch_shape: Any = None, input_tensor: Any = None, optional: bool = False, name: str | None = None,
                 **kwargs: Any):
        input_shape = kwargs.pop("input_shape", None)  # Keras 2 spellings
        batch_input_shape = kwargs.pop("batch_input_shape", None)
        if shape is None:
            shape = input_shape
        if batch_shape is None:
            batch_shape = batch_input_shape
        super().__init__(name=name, **kwargs)
        if sparse:
            raise ValueError("sparse: rnnkit has no sparse tensors; pass sparse=False")
        if input_tensor is not None:
            raise ValueError("input_tensor: wrapping an existing tensor is not supported; pass shape=... instead")
        if optional:
            raise ValueError("optional: optional inputs are not supported")
        if batch_shape is not None:
            full = _shape_arg("batch_shape", batch_shape)
        elif shape is not None:
            full = (batch_size,) + _shape_arg("shape", shape)
        else:
            raise ValueError("Input: expected shape=(...) (without the batch axis) or batch_shape=(...)")
        try:
            self._input_dtype = np.dtype("float32" if dtype is None else dtype).name
        except TypeError:
            raise TypeError(f"dtype: expected a NumPy dtype name such as 'float32' or 'int32', got {dtype!r}") from None
        self._batch_input_shape = full
        self._build_input_shape = full
        self.built = True
        Node(self, (), {}, KerasTensor(full, self._input_dtype, name=self.name))  # self.output is its output

    @property
    def batch_shape(self) -> tuple:
        return self._batch_input_shape

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {"batch_shape": list(self._batch_input_shape), "dtype": self._input_dtype, "sparse": False,
                "name": self.name}


def Input(shape: Any = None, batch_size: int | None = None, dtype: Any = None, sparse: Any = None,
          batch_shape: Any = None, name: str | None = None, tensor: Any = None, optional: bool = False) -> KerasTensor:
    """A symbolic input for ``keras.Model(inputs, outputs)`` or the first entry of a ``Sequential``.

    Example:
        >>> from rnnkit import keras
        >>> keras.Input(shape=(49, 1)).shape
        (None, 49, 1)
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse, batch_shape=batch_shape,
                       input_tensor=tensor, optional=optional, name=name)
    return layer.output


# -- dense -----------------------------------------------------------------------------
@LAYERS.register()
class Dense(Layer):
    """``y = activation(x @ kernel + bias)`` on the last axis of inputs of any rank >= 2.

    Args:
        units: output size U.
        activation: name or callable (None: linear).
        use_bias: add ``bias`` (U,).
        kernel_initializer / bias_initializer, kernel_regularizer / bias_regularizer,
        kernel_constraint / bias_constraint: as Keras.
    """

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None, **kwargs: Any):
        if kwargs.pop("quantization_config", None) is not None:
            raise ValueError("quantization_config: quantized layers are not supported; pass None")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = check_size("units", units, 1)
        self.activation = activations.get(activation)
        self.use_bias = check_bool("use_bias", use_bias)
        self._set_weight_options(kernel=(kernel_initializer, kernel_regularizer, kernel_constraint),
                                 bias=(bias_initializer, bias_regularizer, bias_constraint))
        self.input_spec = InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"Dense '{self.name}': the last axis of the input must be known, got shape {input_shape}")
        self.kernel = self._add_option_weight("kernel", (input_dim, self.units))
        self.bias = self._add_option_weight("bias", (self.units,)) if self.use_bias else None
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})

    def call(self, inputs):
        y = F.linear(inputs, self.kernel.T, self.bias)  # (..., U): x K + b, K (I, U) is PyTorch's W^T
        return self.activation(y)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, **self._weight_options_config("kernel", "bias")}


@LAYERS.register()
class Activation(Layer):
    """Apply an activation function elementwise (``softmax`` on the last axis)."""

    def __init__(self, activation: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.supports_masking = True

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


@LAYERS.register()
class Dropout(Layer):
    """Zero a fraction ``rate`` of the inputs while training and scale the rest by ``1 / (1 - rate)``.

    Args:
        rate: fraction dropped, in [0, 1).
        noise_shape: shape of the mask, broadcast over the input (None entries take the input's size);
            e.g. ``(batch, 1, features)`` drops the same features at every time step.
        seed: seed of a private generator (rnnkit's global generator when None).
    """

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.rate = check_rate("rate", rate)
        self.noise_shape = None if noise_shape is None else _shape_arg("noise_shape", noise_shape)
        self.seed = seed
        self._rng = _rng_for(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        shape = tuple(inputs.shape)
        if self.noise_shape is not None:
            if len(self.noise_shape) != len(shape):
                raise ValueError(f"noise_shape: expected {len(shape)} entries for inputs of shape {shape}, "
                                 f"got {self.noise_shape}")
            shape = tuple(s if n is None else n for n, s in zip(self.noise_shape, shape))
        rng = self._rng if self._rng is not None else generator()
        keep = dropout_mask(rng, shape, self.rate, inputs.dtype)  # broadcastable to the input
        return inputs * Tensor(keep)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape), "seed": self.seed}


@LAYERS.register()
class Flatten(Layer):
    """Reshape (B, d1, d2, ...) to (B, d1 * d2 * ...). Drops any mask, as Keras."""

    def __init__(self, data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"data_format: only 'channels_last' is supported, got {data_format!r}")
        self.data_format = data_format

    def call(self, inputs):
        return _ops.reshape(inputs, (inputs.shape[0], -1))

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(s is None for s in rest) else int(np.prod(rest))
        return (input_shape[0], size)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


@LAYERS.register()
class Embedding(Layer):
    """Look up rows of ``embeddings`` (V, E) by integer id.

    Args:
        input_dim: vocabulary size V (ids in [0, V)).
        output_dim: embedding size E.
        embeddings_initializer: ``'uniform'`` (U(-0.05, 0.05)) by default, as Keras.
        embeddings_regularizer, embeddings_constraint: as Keras.
        mask_zero: id 0 is padding: the output carries the mask ``ids != 0`` for the next layers.
        weights: initial value of ``embeddings`` (an array, or a one-element list).
        input_length: Keras 2 argument: fixes the input shape to (batch, input_length).
    """

    _float_inputs = False

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: Any = "uniform",
                 embeddings_regularizer: Any = None, embeddings_constraint: Any = None, mask_zero: bool = False,
                 weights: Any = None, lora_rank: Any = None, input_length: int | None = None, **kwargs: Any):
        if lora_rank is not None:
            raise ValueError("lora_rank: LoRA adapters are not supported; pass lora_rank=None")
        if kwargs.pop("lora_alpha", None) is not None:
            raise ValueError("lora_alpha: LoRA adapters are not supported; pass lora_alpha=None")
        if isinstance(weights, np.ndarray):
            weights = [weights]
        if input_length is not None and "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (check_size("input_length", input_length, 1),)
        super().__init__(weights=weights, **kwargs)
        self.input_dim = check_size("input_dim", input_dim, 1)
        self.output_dim = check_size("output_dim", output_dim, 1)
        self._set_weight_options(embeddings=(embeddings_initializer, embeddings_regularizer, embeddings_constraint))
        self.mask_zero = check_bool("mask_zero", mask_zero)
        self.supports_masking = self.mask_zero

    def build(self, input_shape=None):
        self.embeddings = self._add_option_weight("embeddings", (self.input_dim, self.output_dim))

    def _ids(self, inputs: Tensor) -> np.ndarray:
        ids = array_of(inputs)
        if ids.dtype.kind == "f":  # Keras casts float ids to int32: fractions are truncated
            ids = ids.astype(np.int32)
        elif ids.dtype.kind not in "iub":
            raise TypeError(f"Embedding '{self.name}': argument inputs must hold integer ids, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            raise ValueError(
                f"Embedding '{self.name}': ids must lie in [0, input_dim={self.input_dim}), got values in "
                f"[{ids.min()}, {ids.max()}]"
            )
        return ids.astype(np.int64, copy=False)

    def call(self, inputs):
        return F.embedding(self._ids(inputs), self.embeddings)  # (..., E)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return array_of(inputs) != 0

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                **self._weight_options_config("embeddings"), "mask_zero": self.mask_zero}


@LAYERS.register()
class Masking(Layer):
    """Mask the time steps whose features all equal ``mask_value`` (and zero them), for the layers after it."""

    def __init__(self, mask_value: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self.supports_masking = True

    def _keep(self, inputs: Tensor) -> np.ndarray:
        return np.any(array_of(inputs) != self.mask_value, axis=-1)  # (B, T)

    def call(self, inputs):
        keep = self._keep(inputs)
        return _ops.where(keep[..., None], inputs, 0.0)  # (B, T, I)

    def compute_mask(self, inputs, mask=None):
        return self._keep(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
