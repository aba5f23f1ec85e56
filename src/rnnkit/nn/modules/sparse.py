"""``Embedding``: a lookup table of learned vectors, as ``torch.nn.Embedding``.

Shape legend: V num_embeddings, E embedding_dim, ``*`` any index shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit._tensor import Tensor, array_of
from rnnkit.nn import functional as F
from rnnkit.nn import init
from rnnkit._validation import check_dtype, check_size
from rnnkit.nn.modules.module import Module, Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """Rows of ``weight`` picked by integer indices.

    Equations:
        out[...] = weight[input[...]]                           # (*, E)
        dweight[v] = sum of the output gradients where input == v (0 for padding_idx)

    Args:
        num_embeddings: V.
        embedding_dim: E.
        padding_idx: optional row initialised to zeros that never receives a gradient
            (negative values count from the end).
        dtype: np.float32 (default) or np.float64.

    Attributes:
        weight: (V, E), initialised N(0, 1).

    Example:
        >>> from rnnkit import nn
        >>> nn.Embedding(10, 3, padding_idx=0)([[0, 2], [4, 9]]).shape
        (2, 2, 3)
    """

    def __init__(
        self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, dtype: Any = np.float32
    ):
        super().__init__()
        self.num_embeddings = check_size("num_embeddings", num_embeddings)
        self.embedding_dim = check_size("embedding_dim", embedding_dim)
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
                raise TypeError(f"padding_idx: expected an int or None, got {type(padding_idx).__name__}")
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"padding_idx: expected a value in [{-self.num_embeddings}, {self.num_embeddings}), "
                    f"got {padding_idx}"
                )
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), check_dtype(dtype)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw weight from N(0, 1) again and zero the padding row."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None) -> Embedding:
        """An Embedding holding a copy of ``embeddings`` (V, E); frozen (no gradient) by default."""
        array = array_of(embeddings)
        if array.ndim != 2:
            raise ValueError(f"embeddings: expected a 2-D (V, E) array, got shape {array.shape}")
        module = cls(array.shape[0], array.shape[1], padding_idx=padding_idx, dtype=array.dtype)
        module.weight.data[...] = array
        module.weight.requires_grad = not freeze
        return module

    def forward(self, input: Any):
        """(*) integer indices -> (*, E)."""
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
