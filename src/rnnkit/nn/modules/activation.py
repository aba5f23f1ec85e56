"""Activation modules: thin wrappers over the functional forms, as ``torch.nn``."""

from __future__ import annotations

import warnings
from typing import Any

from rnnkit._tensor import as_tensor
from rnnkit.nn import functional as F
from rnnkit.nn.modules.module import Module
from rnnkit.nn.modules.transformer import MultiheadAttention  # where torch defines it

__all__ = ["Tanh", "ReLU", "Sigmoid", "Softmax", "LogSoftmax", "GELU", "LeakyReLU", "MultiheadAttention"]


class Tanh(Module):
    """y = tanh(x), elementwise.

    Example:
        >>> from rnnkit import nn
        >>> float(nn.Tanh()([0.0]).numpy()[0])
        0.0
    """

    def forward(self, input: Any):
        return F.tanh(as_tensor(input))


class ReLU(Module):
    """y = max(x, 0), elementwise.

    Example:
        >>> from rnnkit import nn
        >>> nn.ReLU()([-1.0, 2.0]).tolist()
        [0.0, 2.0]
    """

    def forward(self, input: Any):
        return F.relu(as_tensor(input))


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x)), elementwise.

    Example:
        >>> from rnnkit import nn
        >>> nn.Sigmoid()([0.0]).tolist()
        [0.5]
    """

    def forward(self, input: Any):
        return F.sigmoid(as_tensor(input))


def _softmax_dim(dim: int | None, ndim: int, name: str) -> int:
    """PyTorch's legacy rule when no dim is given: 0 for 0-, 1- and 3-D input, else 1 (with a warning)."""
    if dim is not None:
        return dim
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an argument.",
        UserWarning,
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """y_i = exp(x_i) / sum_j exp(x_j) along ``dim``.

    Example:
        >>> from rnnkit import nn
        >>> nn.Softmax(dim=-1)([0.0, 0.0]).tolist()
        [0.5, 0.5]
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Any):
        x = as_tensor(input)
        return F.softmax(x, _softmax_dim(self.dim, x.ndim, "softmax"))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """y_i = x_i - log sum_j exp(x_j) along ``dim``.

    Example:
        >>> from rnnkit import nn
        >>> round(nn.LogSoftmax(dim=-1)([0.0, 0.0]).tolist()[0], 4)
        -0.6931
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Any):
        x = as_tensor(input)
        return F.log_softmax(x, _softmax_dim(self.dim, x.ndim, "log_softmax"))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class GELU(Module):
    """y = x * Phi(x) (or its tanh approximation), elementwise.

    Example:
        >>> from rnnkit import nn
        >>> [round(v, 4) for v in nn.GELU()([-1.0, 1.0]).tolist()]
        [-0.1587, 0.8413]
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Any):
        return F.gelu(input, self.approximate)


class LeakyReLU(Module):
    """y = x if x > 0 else negative_slope * x.

    Example:
        >>> from rnnkit import nn
        >>> nn.LeakyReLU(0.25)([-1.0, 2.0]).tolist()
        [-0.25, 2.0]
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        if inplace:
            raise ValueError("LeakyReLU(inplace=True): rnnkit's activations return a new tensor")
        self.negative_slope = negative_slope

    def forward(self, input: Any):
        return F.leaky_relu(input, self.negative_slope)
