"""Gradient clipping by total norm or by value (``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``).

Both work on parameters in the optimizer contract: objects with ``.grad`` (a Tensor or an
ndarray, rescaled IN PLACE, or None to skip). ``clip_grad_norm_`` returns the total norm as a
0-d Tensor, as PyTorch does.

Shapes: N is the number of parameters with a gradient.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from rnnkit._tensor import Tensor, mark_modified

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm"]


def _grads(parameters: Any) -> list[np.ndarray]:
    """The ``.grad`` arrays of ``parameters`` (one parameter or an iterable), skipping None."""
    params = [parameters] if hasattr(parameters, "grad") else parameters
    if not isinstance(params, Iterable):
        raise TypeError(f"parameters must be a parameter or an iterable of them, got {type(parameters).__name__}")
    grads = []
    for i, param in enumerate(params):
        if not hasattr(param, "grad"):
            raise TypeError(f"parameters[{i}] has no .grad attribute (got {type(param).__name__})")
        if param.grad is None:
            continue
        if isinstance(param.grad, Tensor):
            mark_modified(param.grad)  # clipping changes it in place
        elif not isinstance(param.grad, np.ndarray):
            raise TypeError(f"parameters[{i}].grad must be a Tensor or an ndarray, got {type(param.grad).__name__}")
        grads.append(np.asarray(param.grad))
    return grads


def _nonnegative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    if not value >= 0:
        raise ValueError(f"Invalid {name}: {value} ({name} must be >= 0)")
    return float(value)


def _norm_type(norm_type: Any) -> float:
    try:
        p = float(norm_type)
    except (TypeError, ValueError):
        raise ValueError(f"norm_type must be a number or 'inf', got {norm_type!r}") from None
    if math.isnan(p):
        raise ValueError(f"norm_type must be a number or 'inf', got {norm_type!r}")
    return p


def _total_norm(grads: list[np.ndarray], p: float, error_if_nonfinite: bool) -> np.floating:
    """The total p-norm as a NumPy scalar in the gradients' (promoted) dtype; see :func:`get_total_norm`."""
    if not grads:
        return np.float64(0.0)
    norms = np.array(
        [np.linalg.norm(g.ravel(), p) if g.size else 0.0 for g in grads], dtype=np.result_type(*grads)
    )  # (N,)
    total = np.linalg.norm(norms, p)  # scalar
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {p} for gradients from `parameters` is non-finite ({float(total)}), "
            "so it cannot be clipped. To scale the gradients by the non-finite norm anyway, "
            "set error_if_nonfinite=False"
        )
    return total


def get_total_norm(tensors: Any, norm_type: float | str = 2.0, error_if_nonfinite: bool = False) -> float:
    """The ``norm_type``-norm of several arrays viewed as one vector (``torch.nn.utils.get_total_norm``).

    Equations (``g_i`` the i-th array, flattened; ``p`` = norm_type)::

        n_i   = ||g_i||_p                       (inf: max |g_i|, -inf: min |g_i|)
        total = ||(n_1, ..., n_N)||_p

    Args:
        tensors: an ndarray or an iterable of N ndarrays of any shapes (e.g. gradients).
        norm_type: ``p``; a float, ``inf`` or ``"inf"``.
        error_if_nonfinite: raise RuntimeError if the result is nan or inf.

    Returns:
        The total norm as a Python float (0.0 for no arrays).

    Example:
        >>> import numpy as np
        >>> get_total_norm([np.array([3.0]), np.array([[4.0]])])
        5.0
    """
    arrays = [tensors] if isinstance(tensors, np.ndarray) else [np.asarray(t) for t in tensors]
    return float(_total_norm(arrays, _norm_type(norm_type), error_if_nonfinite))


def clip_grad_norm_(
    parameters: Any, max_norm: float, norm_type: float | str = 2.0, error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Rescale gradients in place so that their total norm is at most ``max_norm``.

    Equations (see :func:`get_total_norm`)::

        total = ||(||g_1||_p, ..., ||g_N||_p)||_p
        g_i   = g_i * min(max_norm / (total + 1e-6), 1)

    Args:
        parameters: a parameter or an iterable of parameters; those with ``grad`` None are skipped.
        max_norm: the largest allowed total norm (>= 0).
        norm_type: ``p`` of the p-norm; ``inf`` (or ``"inf"``) for the largest absolute value.
        error_if_nonfinite: raise RuntimeError if the total norm is nan or inf (otherwise
            the gradients are scaled by the non-finite coefficient, as PyTorch does).
        foreach: accepted for PyTorch's signature (one NumPy loop either way).

    Returns:
        The total norm of the gradients before clipping, as a 0-d Tensor.

    Example:
        >>> import rnnkit
        >>> p = rnnkit.nn.Parameter(rnnkit.zeros(2))
        >>> p.grad = rnnkit.tensor([3.0, 4.0])
        >>> rnnkit.nn.utils.clip_grad_norm_([p], max_norm=1.0)
        tensor(5.)
        >>> p.grad
        tensor([0.6000, 0.8000])
    """
    max_norm = _nonnegative("max_norm", max_norm)
    p = _norm_type(norm_type)
    grads = _grads(parameters)
    if not grads:
        return Tensor(0.0)
    total = _total_norm(grads, p, error_if_nonfinite)  # scalar, in the gradients' dtype
    with np.errstate(divide="ignore", invalid="ignore"):  # a non-finite norm scales as in PyTorch, silently
        clip_coef = np.minimum(max_norm / (total + 1e-6), 1.0)  # scalar, in the gradients' dtype
        for grad in grads:
            grad *= clip_coef  # (*P)
    return Tensor._wrap(np.asarray(total))


def clip_grad_value_(parameters: Any, clip_value: float) -> None:
    """Clamp every gradient entry to ``[-clip_value, clip_value]`` in place.

    Args:
        parameters: a parameter or an iterable of parameters; those with ``grad`` None are skipped.
        clip_value: the largest allowed absolute value (>= 0).

    Example:
        >>> import rnnkit
        >>> p = rnnkit.nn.Parameter(rnnkit.zeros(3))
        >>> p.grad = rnnkit.tensor([-3.0, 0.5, 2.0])
        >>> clip_grad_value_([p], 1.0)
        >>> p.grad
        tensor([-1.0000,  0.5000,  1.0000])
    """
    clip_value = _nonnegative("clip_value", clip_value)
    for grad in _grads(parameters):
        np.clip(grad, -clip_value, clip_value, out=grad)  # (*P)
