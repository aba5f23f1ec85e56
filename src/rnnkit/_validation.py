"""Argument checks shared by every ``rnnkit.nn`` module: one message style, one place."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit._tensor import Tensor

__all__ = ["check_dtype", "check_size", "float_input"]


def check_dtype(dtype: Any) -> np.dtype:
    """np.float32 or np.float64 as a ``np.dtype``; TypeError for anything else."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected np.float32 or np.float64, got {dtype!r}") from None
    if resolved not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected np.float32 or np.float64, got {resolved}")
    return resolved


def check_size(name: str, value: Any, minimum: int = 0) -> int:
    """An int size of at least ``minimum``; TypeError for a non-int, ValueError below it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return int(value)


def float_input(name: str, x: Any, dtype: Any = None) -> Tensor:
    """A floating-point Tensor.

    A Tensor must be floating (and of ``dtype`` when given: no silent casts of tracked
    values); an ndarray or list must hold floats and is converted to ``dtype``.
    """
    if isinstance(x, Tensor):
        if x.dtype.kind != "f":
            raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
        if dtype is not None and x.dtype != dtype:
            raise TypeError(
                f"{name}: expected dtype {np.dtype(dtype)} (the module's parameters), got {x.dtype}; "
                "convert the input or call .double()/.float() on the module"
            )
        return x
    array = np.asarray(x)
    if array.dtype.kind != "f":
        raise TypeError(f"{name}: expected floating-point data, got dtype {array.dtype}")
    return Tensor(array if dtype is None else array.astype(dtype, copy=False))
