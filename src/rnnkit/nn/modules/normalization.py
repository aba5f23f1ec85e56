"""``LayerNorm`` and ``BatchNorm1d``, as ``torch.nn``, built from differentiable tensor ops.

Equations (LayerNorm over the last ``len(normalized_shape)`` dimensions; BatchNorm1d over the
batch, per channel; both with the biased variance)::

    y = (x - mean) / sqrt(var + eps) * weight + bias

BatchNorm1d keeps ``running_mean``/``running_var`` (the unbiased batch variance) with
``running = (1 - momentum) * running + momentum * batch`` and uses them in eval mode.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit import _ops
from rnnkit._dtype import float_dtype, to_device
from rnnkit._tensor import Tensor, as_tensor
from rnnkit.nn.functional import layer_norm
from rnnkit.nn.modules.module import Module, Parameter

__all__ = ["LayerNorm", "BatchNorm1d"]


class LayerNorm(Module):
    """Layer normalisation with a learnable per-element affine map.

    Args:
        normalized_shape: the trailing shape to normalise over (an int or a tuple).
        eps: added to the variance.
        elementwise_affine: learn ``weight`` (ones) and ``bias`` (zeros).
        bias: learn the bias too.
        dtype: the parameters' dtype (default: the default float dtype).

    Example:
        >>> import rnnkit
        >>> y = rnnkit.nn.LayerNorm(4)(rnnkit.arange(8.0).view(2, 4))
        >>> [round(v, 4) for v in y[0].tolist()]
        [-1.3416, -0.4472, 0.4472, 1.3416]
    """

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device: Any = None, dtype: Any = None):
        super().__init__()
        to_device(device)  # the CPU is the only device: anything else raises, never ignored
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        resolved = float_dtype(dtype)
        self.weight = Parameter(np.ones(self.normalized_shape, resolved)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, resolved)) if elementwise_affine and bias else None

    def forward(self, input: Any) -> Tensor:
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class BatchNorm1d(Module):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per channel.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: weight of the new batch in the running statistics (None: cumulative average).
        affine: learn ``weight`` and ``bias``.
        track_running_stats: keep running statistics and use them in eval mode.

    Example:
        >>> import rnnkit
        >>> bn = rnnkit.nn.BatchNorm1d(2)
        >>> y = bn(rnnkit.tensor([[1.0, 2.0], [3.0, 6.0]]))
        >>> y.round(decimals=3).tolist(), [round(m, 3) for m in bn.running_mean.tolist()]
        ([[-1.0, -1.0], [1.0, 1.0]], [0.2, 0.4])
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: Any = None, dtype: Any = None):
        super().__init__()
        to_device(device)  # the CPU is the only device: anything else raises, never ignored
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        resolved = float_dtype(dtype)
        self.weight = Parameter(np.ones(num_features, resolved)) if affine else None
        self.bias = Parameter(np.zeros(num_features, resolved)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, resolved))
            self.register_buffer("running_var", np.ones(num_features, resolved))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))

    def forward(self, input: Any) -> Tensor:
        x = as_tensor(input)
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm1d: expected (N, {self.num_features}) or (N, {self.num_features}, L), got {x.shape}")
        dims = (0,) if x.ndim == 2 else (0, 2)
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1)
        if self.training or not self.track_running_stats:
            count = x.shape[0] * (1 if x.ndim == 2 else x.shape[2])
            if self.training and count <= 1:
                raise ValueError(f"Expected more than 1 value per channel when training, got input size {x.shape}")
            mean = _ops.mean(x, dims, keepdim=True)
            centred = x - mean
            var = _ops.mean(centred * centred, dims, keepdim=True)
            if self.training and self.track_running_stats:
                self._update_running(mean.detach().numpy().reshape(-1), var.detach().numpy().reshape(-1), count)
        else:
            mean = Tensor(self.running_mean.reshape(shape))
            var = Tensor(self.running_var.reshape(shape))
            centred = x - mean
        y = centred * _ops.rsqrt(var + self.eps)
        if self.affine:
            y = y * self.weight.view(*shape) + self.bias.view(*shape)
        return y

    def _update_running(self, mean: np.ndarray, var: np.ndarray, count: int) -> None:
        self.num_batches_tracked += 1
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = var * count / (count - 1)
        self.running_mean[...] = (1 - factor) * self.running_mean + factor * mean
        self.running_var[...] = (1 - factor) * self.running_var + factor * unbiased

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"
