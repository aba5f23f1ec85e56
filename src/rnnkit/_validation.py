"""Argument checks shared by both dialects (``rnnkit.nn`` and ``rnnkit.keras``): one message style, one place.

Each check returns the value in its canonical type or raises TypeError (wrong kind) /
ValueError (out of range), naming the argument, what was expected and what came.

Example:
    >>> check_size("units", 4, minimum=1), check_rate("dropout", 0.25), check_bool("use_bias", True)
    (4, 0.25, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit._tensor import Tensor, as_ndarray

__all__ = ["check_dtype", "check_size", "check_bool", "check_rate", "check_nonnegative", "check_seed", "float_input"]


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


def check_bool(name: str, value: Any) -> bool:
    """A bool (NumPy's included); TypeError for anything else (no truthiness of strings or ints)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _check_real(name: str, value: Any, expected: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected {expected}, got {type(value).__name__} {value!r}")
    return float(value)


def check_rate(name: str, value: Any) -> float:
    """A dropout rate: a float in [0, 1) (the fraction of units dropped)."""
    rate = _check_real(name, value, "a float in [0, 1)")
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{name}: expected a float in [0, 1) (the fraction of units to drop), got {value}")
    return rate


def check_nonnegative(name: str, value: Any) -> float:
    """A real number >= 0 (NaN refused)."""
    number = _check_real(name, value, "a non-negative float")
    if not number >= 0:
        raise ValueError(f"{name}: expected a non-negative float, got {value!r}")
    return number


def check_seed(name: str, value: Any) -> int | None:
    """An int seed, or None for the global generator."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int or None, got {type(value).__name__} {value!r}")
    return int(value)


def float_input(name: str, x: Any, dtype: Any = None) -> Tensor:
    """A floating-point Tensor.

    A Tensor must be floating (and of ``dtype`` when given: no silent casts of tracked
    values); an ndarray or list must hold floats and is converted to ``dtype``.
    """
    if isinstance(x, Tensor):
        kind = x._array.dtype  # the array's own dtype: this check runs on every call of a layer
        if kind.kind != "f":
            raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
        if dtype is not None and kind != dtype:
            raise TypeError(
                f"{name}: expected dtype {np.dtype(dtype)} (the module's parameters), got {x.dtype}; "
                "convert the input or call .double()/.float() on the module"
            )
        return x
    array = as_ndarray(x, name)
    if array.dtype.kind != "f":
        raise TypeError(f"{name}: expected floating-point data, got dtype {array.dtype}")
    return Tensor(array if dtype is None else array.astype(dtype, copy=False))
