"""Weight initialisers, as ``torch.nn.init``: each fills a Parameter (or Tensor, or ndarray) IN PLACE.

Values are drawn in float64 from rnnkit's global generator (so :func:`rnnkit.manual_seed`
makes them reproducible) and stored in the tensor's own dtype.

Equations (fan_in = size(1) * receptive field, fan_out = size(0) * receptive field):

    xavier_uniform_:  U(-a, a),     a   = gain * sqrt(6 / (fan_in + fan_out))
    xavier_normal_:   N(0, std^2),  std = gain * sqrt(2 / (fan_in + fan_out))
    kaiming_uniform_: U(-b, b),     b   = gain * sqrt(3 / fan)
    kaiming_normal_:  N(0, std^2),  std = gain / sqrt(fan)
    orthogonal_:      Q of the QR decomposition of a standard normal matrix, signs fixed by diag(R)

Example:
    >>> import numpy as np
    >>> from rnnkit import nn
    >>> w = nn.Parameter(np.zeros((3, 4), np.float32))
    >>> _ = nn.init.orthogonal_(w)
    >>> bool(np.allclose(w.data @ w.data.T, np.eye(3), atol=1e-6))
    True
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np

from rnnkit._orthogonal import orthogonal
from rnnkit._random import generator
from rnnkit._tensor import Tensor, array_of

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "xavier_uniform_",
    "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
]

T = TypeVar("T", Tensor, np.ndarray)


def _array(tensor: Any) -> np.ndarray:
    """The ndarray to fill: a Tensor's ``.data`` or the ndarray itself."""
    array = array_of(tensor)
    if not isinstance(array, np.ndarray):
        raise TypeError(f"tensor: expected a Tensor, Parameter or np.ndarray, got {type(tensor).__name__}")
    if array.dtype.kind != "f":
        raise TypeError(f"tensor: expected a floating-point array, got dtype {array.dtype}")
    return array


def _fill(tensor: T, values: Any) -> T:
    array = _array(tensor)
    array[...] = values
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity: linear/conv/sigmoid 1, tanh 5/3, relu sqrt(2),
    leaky_relu sqrt(2 / (1 + slope^2)) (slope ``param``, default 0.01), selu 3/4."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"param: expected a number (negative slope) for leaky_relu, got {param!r}")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        "nonlinearity: expected one of linear, conv*, sigmoid, tanh, relu, leaky_relu, selu, "
        f"got {nonlinearity!r}"
    )


def _fans(array: np.ndarray) -> tuple[int, int]:
    if array.ndim < 2:
        raise ValueError(
            f"tensor: fan in and fan out can not be computed for a tensor with fewer than 2 dimensions, "
            f"got shape {array.shape}"
        )
    receptive = int(np.prod(array.shape[2:])) if array.ndim > 2 else 1
    return array.shape[1] * receptive, array.shape[0] * receptive


def _fan(array: np.ndarray, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode: expected 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(array)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: T, a: float = 0.0, b: float = 1.0) -> T:
    """Fill with U(a, b)."""
    return _fill(tensor, generator().uniform(a, b, _array(tensor).shape))


def normal_(tensor: T, mean: float = 0.0, std: float = 1.0) -> T:
    """Fill with N(mean, std^2)."""
    return _fill(tensor, generator().normal(mean, std, _array(tensor).shape))


def constant_(tensor: T, val: float) -> T:
    """Fill with ``val``."""
    return _fill(tensor, val)


def zeros_(tensor: T) -> T:
    """Fill with 0."""
    return _fill(tensor, 0.0)


def ones_(tensor: T) -> T:
    """Fill with 1."""
    return _fill(tensor, 1.0)


def xavier_uniform_(tensor: T, gain: float = 1.0) -> T:
    """Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(_array(tensor))
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor: T, gain: float = 1.0) -> T:
    """Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(_array(tensor))
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor: T, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> T:
    """He uniform: U(-b, b), b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a)."""
    fan = _fan(_array(tensor), mode)
    if fan == 0:  # as torch: nothing to initialise
        return tensor
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: T, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> T:
    """He normal: N(0, std^2), std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a)."""
    fan = _fan(_array(tensor), mode)
    if fan == 0:
        return tensor
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


def orthogonal_(tensor: T, gain: float = 1.0) -> T:
    """A (semi-)orthogonal matrix times ``gain``; dimensions past the first are flattened."""
    array = _array(tensor)
    if array.ndim < 2:
        raise ValueError(f"tensor: only tensors with 2 or more dimensions are supported, got shape {array.shape}")
    if array.size == 0:
        return tensor
    rows = array.shape[0]
    cols = array.size // rows
    flat = generator().standard_normal((rows, cols))  # (rows, cols)
    q = orthogonal(flat.T if rows < cols else flat, wide=rows < cols, gain=gain)  # (rows, cols)
    return _fill(tensor, q.reshape(array.shape))
