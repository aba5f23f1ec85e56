"""``Dropout`` (each element) and ``Dropout1d``/``Dropout2d`` (whole channels): inverted dropout, as ``torch.nn``."""

from __future__ import annotations

from typing import Any

from rnnkit._random import generator
from rnnkit._tensor import Tensor, array_of, as_tensor
from rnnkit.nn import functional as F
from rnnkit.nn.modules.module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d"]


class Dropout(Module):
    """In training mode zero each element with probability ``p`` and scale the rest by 1 / (1 - p).

    Equations:
        mask ~ Bernoulli(1 - p)                   # (*) drawn from rnnkit's generator
        y = x * mask / (1 - p)  (training),  y = x  (eval)

    Args:
        p: drop probability in [0, 1].

    Example:
        >>> import numpy as np
        >>> from rnnkit import nn
        >>> nn.Dropout(0.5).eval()(np.ones(3, np.float32)).numpy()
        array([1., 1., 1.], dtype=float32)
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = F._check_p(p)

    def forward(self, input: Any):
        """(*) -> (*)."""
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _ChannelDropout(Module):
    """Zero whole channels: one Bernoulli(1 - p) draw per (sample, channel), scaled by 1 / (1 - p)."""

    spatial = 1  # trailing dimensions that share one draw

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p = F._check_p(p)
        if inplace:
            raise ValueError(f"{type(self).__name__}(inplace=True): rnnkit's dropout returns a new tensor")

    def forward(self, input: Any):
        """(N, C, *spatial) or (C, *spatial) -> the same shape."""
        x = as_tensor(input)
        if x.ndim not in (self.spatial + 1, self.spatial + 2):
            raise ValueError(
                f"{type(self).__name__}: expected a {self.spatial + 1}-D or {self.spatial + 2}-D input, got shape {x.shape}"
            )
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x * 0.0
        shape = x.shape[: x.ndim - self.spatial] + (1,) * self.spatial
        keep = (generator().random(shape) >= self.p).astype(array_of(x).dtype) / (1 - self.p)  # (N, C, 1...)
        return x * Tensor(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout1d(_ChannelDropout):
    """Zero whole channels of (N, C, L) inputs, as ``torch.nn.Dropout1d``.

    Example:
        >>> import rnnkit
        >>> y = rnnkit.nn.Dropout1d(0.5)(rnnkit.ones(4, 8, 3))
        >>> bool(((y == 0).all(-1) | (y == 2).all(-1)).all())
        True
    """


class Dropout2d(_ChannelDropout):
    """Zero whole channels of (N, C, H, W) inputs, as ``torch.nn.Dropout2d``.

    Example:
        >>> import rnnkit
        >>> rnnkit.nn.Dropout2d(0.3).eval()(rnnkit.ones(1, 2, 2, 2)).sum().item()
        8.0
    """

    spatial = 2
