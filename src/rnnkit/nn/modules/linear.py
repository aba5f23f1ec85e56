"""``Linear``: an affine map ``y = x W^T + b``, as ``torch.nn.Linear``.

Shape legend: I in_features, O out_features, ``*`` any leading dimensions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rnnkit.nn import functional as F
from rnnkit.nn import init
from rnnkit._validation import check_dtype, check_size
from rnnkit.nn.modules.module import Module, Parameter

__all__ = ["Linear", "NonDynamicallyQuantizableLinear"]


class Linear(Module):
    """Affine map ``y = x W^T + b``.

    Equations:
        y = x @ weight.T + bias          # (*, O)

    Initialisation as PyTorch: weight ~ kaiming_uniform(a=sqrt(5)), i.e. U(-1/sqrt(I), 1/sqrt(I)),
    bias ~ U(-1/sqrt(I), 1/sqrt(I)).

    Args:
        in_features: I.
        out_features: O.
        bias: learn an additive bias.
        dtype: np.float32 (default) or np.float64.

    Attributes:
        weight: (O, I). bias: (O,) or None.

    Example:
        >>> import numpy as np
        >>> from rnnkit import nn
        >>> nn.Linear(4, 3)(np.zeros((2, 4))).shape
        (2, 3)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = np.float32):
        super().__init__()
        self.in_features = check_size("in_features", in_features)
        self.out_features = check_size("out_features", out_features)
        dtype = check_dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype))
        self.bias = Parameter(np.empty(self.out_features, dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw weight and bias again from PyTorch's default distributions."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Any):
        """(*, I) -> (*, O)."""
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class NonDynamicallyQuantizableLinear(Linear):
    """A :class:`Linear` under torch's name for attention's output projection (torch's quantizer skips it)."""
