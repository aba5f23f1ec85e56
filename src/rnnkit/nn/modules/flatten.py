"""``Flatten``: merge a range of dimensions, as ``torch.nn.Flatten``."""

from __future__ import annotations

from typing import Any

from rnnkit import _ops
from rnnkit._tensor import as_tensor
from rnnkit.nn.modules.module import Module

__all__ = ["Flatten"]


class Flatten(Module):
    """Flatten dimensions ``start_dim`` .. ``end_dim`` into one (by default all but the batch).

    Example:
        >>> import numpy as np
        >>> from rnnkit import nn
        >>> nn.Flatten()(np.zeros((2, 3, 4))).shape
        (2, 12)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Any):
        return _ops.flatten(as_tensor(input), self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
