"""Tensor factories with PyTorch's names and float32 default."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit._random import generator
from rnnkit._tensor import Tensor, _shape_args

__all__ = ["zeros", "ones", "full", "empty", "randn", "rand", "arange", "zeros_like", "ones_like", "from_numpy"]


def _make(array: np.ndarray, requires_grad: bool) -> Tensor:
    return Tensor(array, requires_grad=requires_grad)


def zeros(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    return _make(np.zeros(_shape_args(shape), dtype), requires_grad)


def ones(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    return _make(np.ones(_shape_args(shape), dtype), requires_grad)


def full(shape: Any, fill_value: float, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    return _make(np.full(_shape_args((shape,)), fill_value, dtype), requires_grad)


def empty(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Zeros (rnnkit never hands out uninitialised memory)."""
    return zeros(*shape, dtype=dtype, requires_grad=requires_grad)


def randn(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    return _make(generator().standard_normal(_shape_args(shape)).astype(dtype), requires_grad)


def rand(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    return _make(generator().random(_shape_args(shape)).astype(dtype), requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None) -> Tensor:
    return Tensor(np.arange(start, end, step, dtype=dtype) if end is not None else np.arange(start, dtype=dtype))


def zeros_like(t: Tensor, dtype: Any = None) -> Tensor:
    return Tensor(np.zeros_like(np.asarray(t), dtype=dtype))


def ones_like(t: Tensor, dtype: Any = None) -> Tensor:
    return Tensor(np.ones_like(np.asarray(t), dtype=dtype))


def from_numpy(array: np.ndarray) -> Tensor:
    """Wrap an ndarray without copying, keeping its dtype."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy(array): expected np.ndarray, got {type(array).__name__}")
    return Tensor(array)
