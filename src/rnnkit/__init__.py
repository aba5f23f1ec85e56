"""rnnkit: recurrent neural networks (RNN, LSTM, GRU) from their equations on NumPy.

The PyTorch dialect lives in :mod:`rnnkit.nn` and :mod:`rnnkit.optim`, the Keras dialect
in :mod:`rnnkit.keras`; the recurrent math is in :mod:`rnnkit.cells`.

Example:
    >>> import rnnkit
    >>> lstm = rnnkit.nn.LSTM(5, 8, num_layers=2, batch_first=True)
    >>> out, (h_n, c_n) = lstm(rnnkit.zeros(1, 10, 5))
    >>> out.shape, h_n.shape
    ((1, 10, 8), (2, 1, 8))
"""

from rnnkit._creation import arange, empty, from_numpy, full, ones, ones_like, rand, randn, zeros, zeros_like
from rnnkit._ops import (
    abs, argmax, cat, chunk, clamp, exp, flatten, log, log_softmax, logsumexp, matmul, max, mean, min, mm,
    permute, relu, reshape, sigmoid, softmax, split, sqrt, squeeze, stack, sum, tanh, transpose, unsqueeze, where,
)
from rnnkit._random import get_rng_state, manual_seed, set_rng_state
from rnnkit._tensor import Tensor, as_tensor, enable_grad, is_grad_enabled, no_grad, tensor
from rnnkit import nn, optim  # noqa: E402  (subpackages need the names above)
from rnnkit.serialization import load, save

float32 = __import__("numpy").float32
float64 = __import__("numpy").float64

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "as_tensor", "no_grad", "enable_grad", "is_grad_enabled", "manual_seed",
    "get_rng_state", "set_rng_state", "save", "load", "nn", "optim", "float32", "float64",
    "zeros", "ones", "full", "empty", "randn", "rand", "arange", "zeros_like", "ones_like", "from_numpy",
    "abs", "argmax", "cat", "chunk", "clamp", "exp", "flatten", "log", "log_softmax", "logsumexp", "matmul",
    "max", "mean", "min", "mm", "permute", "relu", "reshape", "sigmoid", "softmax", "split", "sqrt",
    "squeeze", "stack", "sum", "tanh", "transpose", "unsqueeze", "where",
]
