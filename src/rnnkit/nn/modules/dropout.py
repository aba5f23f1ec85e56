"""``Dropout``: inverted dropout, as ``torch.nn.Dropout``."""

from __future__ import annotations

from typing import Any

from rnnkit.nn import functional as F
from rnnkit.nn.modules.module import Module

__all__ = ["Dropout"]


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
