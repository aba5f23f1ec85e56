"""Keras's 1-D convolution and pooling: ``Conv1D``, ``MaxPooling1D``, ``AveragePooling1D``, with Keras 3's
(torch backend's) padding rules.

Windows (stride s, dilation d, kernel K; x (B, T, C) channels last)::

    window[b, t, k] = x_pad[b, t s + k d]                      t < T_out
    Conv1D:  y[b, t, g, :] = sum_{k, c} window[b, t, k, g, c] kernel[k, c, g, :] + bias   (groups g)
    Max:     y[b, t] = max_k window[b, t, k];  Average: y[b, t] = mean of the window's real steps

Padding: ``valid`` none; ``same`` total ``max((T_out - 1) s + d (K - 1) + 1 - T, 0)`` (``K - 1`` at stride
1), half before (rounded down), zeros for Conv1D; ``causal`` (Conv1D) ``d (K - 1)`` zeros before.
Pooling with ``same`` padding follows Keras's torch backend: an even split is left out of the averages,
an uneven one repeats the edge steps (which then count in the average).

Example:
    >>> import numpy as np
    >>> from rnnkit.keras import layers
    >>> layers.Conv1D(4, 3, padding="causal")(np.ones((2, 10, 3))).shape
    (2, 10, 4)
    >>> layers.MaxPooling1D(2)(np.arange(8.0).reshape(1, 4, 2)).numpy()[0].tolist()
    [[2.0, 3.0], [6.0, 7.0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit import _ops
from rnnkit._tensor import Tensor
from rnnkit._validation import check_bool, check_size
from rnnkit.keras import activations
from rnnkit.keras._registry import LAYERS
from rnnkit.keras.layers.base import InputSpec, Layer

__all__ = ["Conv1D", "MaxPooling1D", "AveragePooling1D", "conv_output_length", "same_padding"]


def _one_int(name: str, value: Any) -> int:
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{name}: expected an int or a 1-tuple, got {value!r}")
        value = value[0]
    return check_size(name, value, 1)


def _data_format(value: Any) -> str:
    if value not in (None, "channels_last", "channels_first"):
        raise ValueError(f"data_format: expected 'channels_last' or 'channels_first', got {value!r}")
    return value or "channels_last"


def same_padding(length: int, size: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Keras's (torch backend's) ``same`` padding ``(before, after)`` along one axis."""
    span = (size - 1) * dilation + 1
    out = (length + stride - 1) // stride
    total = span - 1 if stride == 1 else max(0, (out - 1) * stride + span - length)
    return total // 2, total - total // 2


def conv_output_length(length: int | None, size: int, padding: str, stride: int, dilation: int = 1) -> int | None:
    """Output steps of a window of ``size`` taps (dilated) sliding with ``stride`` over ``length`` steps."""
    if length is None:
        return None
    if padding == "same":
        return (length + stride - 1) // stride
    span = (size - 1) * dilation + 1
    padded = length + (span - 1 if padding == "causal" else 0)
    return max((padded - span) // stride + 1, 0)


def _windows(x: Tensor, size: int, stride: int, dilation: int) -> Tensor:
    """(B, T, C) -> (B, T_out, K, C): the taps of every output step (a differentiable gather)."""
    span = (size - 1) * dilation + 1
    steps = (x.shape[1] - span) // stride + 1
    if steps <= 0:
        raise ValueError(f"the input has {x.shape[1]} steps (after padding), fewer than the window's {span}")
    index = np.arange(steps)[:, None] * stride + np.arange(size)[None, :] * dilation  # (T_out, K)
    return x[:, index, :]


def _pad_steps(x: Tensor, before: int, after: int, mode: str = "zeros") -> Tensor:
    """Pad the time axis of (B, T, C) with zeros or copies of the edge steps."""
    parts = []
    if before:
        parts.append(Tensor(np.zeros((x.shape[0], before, x.shape[2]), x.dtype)) if mode == "zeros"
                     else _ops.expand(x[:, :1, :], (x.shape[0], before, x.shape[2])))
    parts.append(x)
    if after:
        parts.append(Tensor(np.zeros((x.shape[0], after, x.shape[2]), x.dtype)) if mode == "zeros"
                     else _ops.expand(x[:, -1:, :], (x.shape[0], after, x.shape[2])))
    return _ops.cat(parts, dim=1) if len(parts) > 1 else x


class _Steps1D(Layer):
    """Shared: data_format handling (the math runs channels last)."""

    def _to_last(self, x: Tensor) -> Tensor:
        return _ops.permute(x, (0, 2, 1)) if self.data_format == "channels_first" else x

    def _steps_axis(self) -> int:
        return 2 if self.data_format == "channels_first" else 1


@LAYERS.register()
class Conv1D(_Steps1D):
    """1-D convolution (cross-correlation, as Keras) over the time axis.

    Args:
        filters: output channels F.
        kernel_size: taps K.
        strides: step between windows.
        padding: ``'valid'``, ``'same'`` or ``'causal'`` (output t sees inputs <= t).
        data_format: ``'channels_last'`` (B, T, C) or ``'channels_first'`` (B, C, T).
        dilation_rate: spacing of the taps (strides must be 1 when it exceeds 1, as Keras).
        groups: channel groups (C and F divisible by it).
        activation, use_bias, kernel_/bias_ initializer / regularizer / constraint: as Keras.
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 data_format: str | None = None, dilation_rate: Any = 1, groups: int = 1, activation: Any = None,
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None, **kwargs: Any):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.filters = check_size("filters", filters, 1)
        self.kernel_size = _one_int("kernel_size", kernel_size)
        self.strides = _one_int("strides", strides)
        self.dilation_rate = _one_int("dilation_rate", dilation_rate)
        self.groups = check_size("groups", groups, 1)
        if padding not in ("valid", "same", "causal"):
            raise ValueError(f"padding: expected 'valid', 'same' or 'causal', got {padding!r}")
        self.padding = padding
        self.data_format = _data_format(data_format)
        if self.strides > 1 and self.dilation_rate > 1:
            raise ValueError(f"strides > 1 with dilation_rate > 1 is not supported (as Keras), got strides="
                             f"{self.strides}, dilation_rate={self.dilation_rate}")
        if self.filters % self.groups:
            raise ValueError(f"filters ({self.filters}) must be divisible by groups ({self.groups})")
        self.activation = activations.get(activation)
        self.use_bias = check_bool("use_bias", use_bias)
        self._set_weight_options(kernel=(kernel_initializer, kernel_regularizer, kernel_constraint),
                                 bias=(bias_initializer, bias_regularizer, bias_constraint))
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape):
        channels = input_shape[1 if self.data_format == "channels_first" else -1]
        if channels is None or channels % self.groups:
            raise ValueError(f"Conv1D '{self.name}': input channels ({channels}) must be known and divisible by "
                             f"groups ({self.groups})")
        self.kernel = self._add_option_weight("kernel", (self.kernel_size, channels // self.groups, self.filters))
        self.bias = self._add_option_weight("bias", (self.filters,)) if self.use_bias else None
        self.input_spec = InputSpec(ndim=3, axes={1 if self.data_format == "channels_first" else -1: channels})

    def call(self, inputs):
        x = self._to_last(inputs)  # (B, T, C)
        K, d, s, G = self.kernel_size, self.dilation_rate, self.strides, self.groups
        if self.padding == "causal":
            x = _pad_steps(x, d * (K - 1), 0)
        elif self.padding == "same":
            x = _pad_steps(x, *same_padding(x.shape[1], K, s, d))
        win = _windows(x, K, s, d)  # (B, T_out, K, C)
        B, T_out, _, C = win.shape
        cg, fg = C // G, self.filters // G
        win = _ops.permute(_ops.reshape(win, (B, T_out, K, G, cg)), (0, 1, 3, 2, 4))  # (B, T_out, G, K, C/G)
        win = _ops.reshape(win, (B, T_out, G, 1, K * cg))
        kernel = _ops.reshape(self.kernel, (K, cg, G, fg))
        kernel = _ops.reshape(_ops.permute(kernel, (2, 0, 1, 3)), (G, K * cg, fg))  # (G, K*C/G, F/G)
        y = _ops.reshape(_ops.matmul(win, kernel), (B, T_out, self.filters))  # (B, T_out, F)
        if self.bias is not None:
            y = y + self.bias
        y = self.activation(y)
        return _ops.permute(y, (0, 2, 1)) if self.data_format == "channels_first" else y

    def compute_output_shape(self, input_shape):
        steps = conv_output_length(input_shape[self._steps_axis()], self.kernel_size, self.padding, self.strides,
                                   self.dilation_rate)
        if self.data_format == "channels_first":
            return (input_shape[0], self.filters, steps)
        return (input_shape[0], steps, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": [self.kernel_size],
                "strides": [self.strides], "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": [self.dilation_rate], "groups": self.groups,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                **self._weight_options_config("kernel", "bias")}


class _Pooling1D(_Steps1D):
    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid", data_format: str | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.pool_size = _one_int("pool_size", pool_size)
        self.strides = self.pool_size if strides is None else _one_int("strides", strides)
        if padding not in ("valid", "same"):
            raise ValueError(f"padding: expected 'valid' or 'same', got {padding!r}")
        self.padding = padding
        self.data_format = _data_format(data_format)
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        x = self._to_last(inputs)  # (B, T, C)
        before, after = same_padding(x.shape[1], self.pool_size, self.strides) if self.padding == "same" else (0, 0)
        y = self._pool(x, before, after)  # (B, T_out, C)
        return _ops.permute(y, (0, 2, 1)) if self.data_format == "channels_first" else y

    def compute_output_shape(self, input_shape):
        steps = conv_output_length(input_shape[self._steps_axis()], self.pool_size, self.padding, self.strides)
        shape = list(input_shape)
        shape[self._steps_axis()] = steps
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "pool_size": [self.pool_size], "strides": [self.strides],
                "padding": self.padding, "data_format": self.data_format}


@LAYERS.register()
class MaxPooling1D(_Pooling1D):
    """Maximum over windows of ``pool_size`` steps (``strides`` defaults to ``pool_size``)."""

    def _pool(self, x, before, after):
        x = _pad_steps(x, before, after, mode="edge")  # an edge copy never changes a window's maximum
        values, _ = _ops.max(_windows(x, self.pool_size, self.strides, 1), dim=2)
        return values


@LAYERS.register()
class AveragePooling1D(_Pooling1D):
    """Mean over windows of ``pool_size`` steps (padding per the module docstring); ``pool_size`` is required,
    as Keras."""

    def __init__(self, pool_size: Any, strides: Any = None, padding: str = "valid", data_format: str | None = None,
                 **kwargs: Any):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)

    def _pool(self, x, before, after):
        if before != after:  # Keras's torch backend repeats the edge steps, which then count
            return _ops.mean(_windows(_pad_steps(x, before, after, mode="edge"), self.pool_size, self.strides, 1),
                             dim=2)
        total = _ops.sum(_windows(_pad_steps(x, before, after), self.pool_size, self.strides, 1), dim=2)
        real = np.ones((1, x.shape[1], 1), x.dtype)
        padded = np.pad(real, ((0, 0), (before, after), (0, 0)))
        counts = padded[:, np.arange(total.shape[1])[:, None] * self.strides + np.arange(self.pool_size)].sum(2)
        return total / counts.astype(x.dtype)  # (B, T_out, C) / (1, T_out, 1)


MaxPool1D, AvgPool1D = MaxPooling1D, AveragePooling1D  # Keras's aliases
