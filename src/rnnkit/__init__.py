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

from rnnkit import _api, _dtype
from rnnkit._api import *  # noqa: F401,F403  (the tensor functions: zeros, cat, topk, einsum, ...)
from rnnkit._dtype import (
    bool_ as bool, device, dtype, float16, float32, float64, get_default_device, get_default_dtype, int8, int16,
    int32, int64, set_default_device, set_default_dtype, uint8,
)
from rnnkit._generator import Generator
from rnnkit._grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from rnnkit._random import get_rng_state, manual_seed, set_rng_state
from rnnkit._tensor import Size, Tensor, as_tensor, tensor
from rnnkit._threads import get_num_threads, set_num_threads
from rnnkit import accelerator, backends, cuda, return_types  # noqa: E402
from rnnkit import autograd, nn, optim, utils  # noqa: E402  (subpackages need the names above)
from rnnkit import serialization  # noqa: E402
from rnnkit._pt_format import load, save  # noqa: E402

float, double, half = float32, float64, float16
long, int, short = int64, int32, int16
sigmoid, tanh, relu = _api.sigmoid, _api.tanh, _api.relu

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Size", "tensor", "as_tensor", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
    "inference_mode", "manual_seed", "get_rng_state", "set_rng_state", "set_num_threads", "get_num_threads",
    "save", "load", "nn", "optim", "cuda",
    "backends", "accelerator", "return_types", "autograd", "utils", "Generator", "device", "dtype", "get_default_dtype", "set_default_dtype",
    "get_default_device", "set_default_device", "float16", "half", "float32", "float", "float64", "double",
    "int8", "int16", "short", "int32", "int", "int64", "long", "uint8", "bool", *_api.__all__,
]


def __getattr__(name: str):
    """``rnnkit.onnx`` (``torch.onnx.export``'s place) loads on first use, as torch loads ``torch.onnx``."""
    if name == "onnx":
        import importlib

        return importlib.import_module("rnnkit.onnx")
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
