"""Keras's activation functions on rnnkit Tensors, looked up by name as ``keras.activations.get``.

Every function maps a Tensor to a Tensor of the same shape, differentiably. The elementwise ones
are :mod:`rnnkit.cells.activations` (the same forward and derivative the recurrent cells use)
wrapped in one autograd op; softmax, the parametrised ReLUs and the rest of Keras 3.15's list
(celu, glu, the shrinks, hard_silu, mish, the sparse ones, squareplus, threshold) are composed from
rnnkit ops; sparsemax is one op with Keras's formula.
Keras 3 definitions are used; in particular ``hard_sigmoid(x) = relu6(x + 3) / 6``, i.e.
``clip(x / 6 + 1/2, 0, 1)`` (Keras 2 used ``clip(0.2 x + 1/2, 0, 1)``: a model trained with
Keras 2 and loaded by Keras 3 computes the Keras 3 form, and so does rnnkit).

Example:
    >>> from rnnkit.keras import activations
    >>> import numpy as np
    >>> activations.get("hard_sigmoid")(np.array([-4.0, 0.0, 1.5], np.float32)).numpy()
    array([0.  , 0.5 , 0.75], dtype=float32)
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from rnnkit import _ops
from rnnkit._tensor import Function, Tensor
from rnnkit.cells import activations as _cells_activations

__all__ = [
    "linear", "tanh", "sigmoid", "hard_sigmoid", "relu", "relu6", "leaky_relu", "elu", "selu", "softplus",
    "softsign", "silu", "swish", "gelu", "exponential", "softmax", "log_softmax", "hard_tanh", "celu", "glu",
    "hard_shrink", "soft_shrink", "tanh_shrink", "hard_silu", "hard_swish", "log_sigmoid", "mish", "sparse_plus",
    "sparse_sigmoid", "squareplus", "threshold", "sparsemax", "get", "serialize", "deserialize",
]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32) if np.ndim(x) == 0 else x)


class _Elementwise(Function):
    """``y = act(z)`` with ``act`` from :mod:`rnnkit.cells.activations` (its hand-written derivative)."""

    def forward(self, z, act):
        with np.errstate(over="ignore"):
            y = act.forward(z)  # (...)
        self.act, self.s = act, (y if act.saves == "output" else z)
        return y

    def backward(self, g):
        with np.errstate(over="ignore"):
            return self.act.backward(g, self.s)  # (...)


def _cell_activation(name: str, doc: str) -> Callable:
    act = _cells_activations.ACTIVATIONS[name]

    def fn(x):
        return _Elementwise.apply(_t(x), act=act)

    fn.__name__, fn.__qualname__, fn.__doc__ = name, name, doc
    return fn


def linear(x):
    """Identity: ``f(x) = x`` (what ``activation=None`` means)."""
    return _t(x)


tanh = _cell_activation("tanh", "``f(x) = tanh(x)``.")
sigmoid = _cell_activation("sigmoid", "``f(x) = 1 / (1 + exp(-x))``.")
hard_sigmoid = _cell_activation("hard_sigmoid", "Keras 3: ``f(x) = relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1)``.")
exponential = _cell_activation("exponential", "``f(x) = exp(x)``.")
selu = _cell_activation("selu", "``f(x) = scale * (x if x > 0 else alpha * (exp(x) - 1))``, Klambauer et al.")
softplus = _cell_activation("softplus", "``f(x) = log(1 + exp(x))``.")
softsign = _cell_activation("softsign", "``f(x) = x / (1 + |x|)``.")
silu = _cell_activation("silu", "``f(x) = x * sigmoid(x)`` (alias ``swish``).")
swish = silu
_elu = _cell_activation("elu", "")
_gelu = _cell_activation("gelu", "")


def relu(x, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0):
    """``f(x) = max(x, 0)``; Keras's extra arguments: slope below ``threshold``, cap at ``max_value``."""
    x = _t(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return _ops.relu(x)
    out = _ops.where(x.data >= threshold, x, (x - threshold) * negative_slope if negative_slope else x * 0.0)
    return out if max_value is None else _ops.clamp(out, max=max_value)


def relu6(x):
    """``f(x) = min(max(x, 0), 6)``."""
    return _ops.clamp(_t(x), 0.0, 6.0)


def leaky_relu(x, negative_slope: float = 0.2):
    """``f(x) = x`` for x >= 0 else ``negative_slope * x``."""
    x = _t(x)
    return _ops.where(x.data >= 0, x, x * negative_slope)


def elu(x, alpha: float = 1.0):
    """``f(x) = x`` for x > 0 else ``alpha * (exp(x) - 1)``."""
    if alpha == 1.0:
        return _elu(x)
    x = _t(x)
    return _ops.where(x.data > 0, x, (_ops.exp(_ops.clamp(x, max=0.0)) - 1.0) * alpha)


def gelu(x, approximate: bool = False):
    """``f(x) = x * Phi(x)`` (exact, with erf; ``approximate=True`` is not supported)."""
    if approximate:
        raise ValueError("approximate: only the exact gelu (approximate=False) is supported")
    return _gelu(x)


def hard_tanh(x):
    """``f(x) = clip(x, -1, 1)``."""
    return _ops.clamp(_t(x), -1.0, 1.0)


def softmax(x, axis: int = -1):
    """``f(x)_i = exp(x_i) / sum_j exp(x_j)`` along ``axis``."""
    return _ops.softmax(_t(x), dim=axis)


def log_softmax(x, axis: int = -1):
    """``f(x)_i = x_i - log sum_j exp(x_j)`` along ``axis``."""
    return _ops.log_softmax(_t(x), dim=axis)


def celu(x, alpha: float = 1.0):
    """``f(x) = x`` for x > 0 else ``alpha * (exp(x / alpha) - 1)`` (Barron, 2017)."""
    x = _t(x)
    return _ops.where(x.data > 0, x, (_ops.exp(_ops.clamp(x, max=0.0) / alpha) - 1.0) * alpha)


def glu(x, axis: int = -1):
    """Gated linear unit: ``a * sigmoid(b)`` with ``a, b`` the two halves of ``x`` along ``axis``."""
    x = _t(x)
    if x.shape[axis] % 2:
        raise ValueError(f"glu: axis {axis} must have an even size, got x.shape={x.shape}")
    a, b = _ops.chunk(x, 2, dim=axis)
    return a * sigmoid(b)


def hard_shrink(x, threshold: float = 0.5):
    """``f(x) = x`` where ``|x| > threshold``, else 0."""
    x = _t(x)
    return _ops.where(np.abs(x.data) > threshold, x, x * 0.0)


def soft_shrink(x, threshold: float = 0.5):
    """``f(x) = x - threshold`` above ``threshold``, ``x + threshold`` below ``-threshold``, else 0."""
    x = _t(x)
    return _ops.where(x.data > threshold, x - threshold, _ops.where(x.data < -threshold, x + threshold, x * 0.0))


def tanh_shrink(x):
    """``f(x) = x - tanh(x)``."""
    x = _t(x)
    return x - tanh(x)


def hard_silu(x):
    """``f(x) = x * relu6(x + 3) / 6`` (alias ``hard_swish``; Howard et al., 2019)."""
    x = _t(x)
    return _ops.where(x.data <= -3, x * 0.0, _ops.where(x.data >= 3, x, x * (x + 3.0) / 6.0))  # torch's kinks


hard_swish = hard_silu


def log_sigmoid(x):
    """``f(x) = log(sigmoid(x)) = -softplus(-x)``."""
    return -softplus(-_t(x))


def mish(x):
    """``f(x) = x * tanh(softplus(x))`` (Misra, 2019)."""
    x = _t(x)
    return x * tanh(softplus(x))


def sparse_plus(x):
    """``f(x) = 0`` for x <= -1, ``(x + 1)**2 / 4`` for -1 < x < 1, ``x`` for x >= 1."""
    x = _t(x)
    return _ops.where(x.data <= -1, x * 0.0, _ops.where(x.data < 1, (x + 1.0) ** 2 * 0.25, x))


def sparse_sigmoid(x):
    """``f(x) = 0`` for x <= -1, ``(x + 1) / 2`` for -1 < x < 1, 1 for x >= 1."""
    x = _t(x)
    return _ops.where(x.data <= -1, x * 0.0, _ops.where(x.data >= 1, x * 0.0 + 1.0, (x + 1.0) * 0.5))


def squareplus(x, b: float = 4):
    """``f(x) = (x + sqrt(x**2 + b)) / 2`` (Barron, 2021)."""
    x = _t(x)
    return (x + _ops.sqrt(x * x + float(b))) / 2.0


def threshold(x, threshold, default_value):
    """``f(x) = x`` where ``x > threshold``, else ``default_value``."""
    x = _t(x)
    return _ops.where(x.data > threshold, x, x * 0.0 + default_value)


class _KerasSparsemax(Function):
    """Keras 3.15's sparsemax along ``axis``, forward and gradient.

    Equations (``s`` = x sorted in descending order, ``c = cumsum(s)``, ``r = 1..n``)::

        support_j = s_j - (c_j - 1) / r_j > 0,      k = |support|  (a prefix of the sorted order)
        tau       = (sum_{j in support} c_j - 1) / k
        f(x)      = max(x - tau, 0)

    This is Keras's formula: its ``tau`` sums the support's cumulative sums where Martins &
    Astudillo (2016) take the last one, so the outputs need not sum to 1 when ``k > 1``. rnnkit
    follows Keras so that Keras models compute the same numbers. ``d tau / d s_i = (k - i) / k``
    for the i-th largest entry inside the support (0 outside).
    """

    def forward(self, x, axis):
        x_last = np.moveaxis(x, axis, -1)  # (..., n)
        order = np.argsort(-x_last, axis=-1, kind="stable")  # (..., n)
        s = np.take_along_axis(x_last, order, -1)  # (..., n)
        c = np.cumsum(s, axis=-1)  # (..., n)
        r = np.arange(1, s.shape[-1] + 1, dtype=x.dtype)  # (n,)
        support = s - (c - 1) / r > 0  # (..., n)
        k = support.sum(-1, keepdims=True).astype(x.dtype)  # (..., 1)
        tau = (np.where(support, c, 0).sum(-1, keepdims=True) - 1) / k  # (..., 1)
        out = np.maximum(x_last - tau, 0)  # (..., n)
        dtau_sorted = np.where(support, (k - (r - 1)) / k, 0).astype(x.dtype)  # (..., n)
        dtau = np.empty_like(dtau_sorted)
        np.put_along_axis(dtau, order, dtau_sorted, -1)  # (..., n) in x's order
        self.axis, self.inside, self.dtau = axis, x_last - tau >= 0, dtau
        return np.moveaxis(out, -1, axis)

    def backward(self, g):
        g = np.moveaxis(g, self.axis, -1) * self.inside  # (..., n)
        dx = g - g.sum(-1, keepdims=True) * self.dtau  # (..., n)
        return np.moveaxis(dx, -1, self.axis)


def sparsemax(x, axis: int = -1):
    """Sparsemax along ``axis`` in Keras 3.15's form (see :class:`_KerasSparsemax`)."""
    return _KerasSparsemax.apply(_t(x), axis=axis)


_REGISTRY: dict[str, Callable] = {
    fn.__name__: fn
    for fn in (linear, tanh, sigmoid, hard_sigmoid, relu, relu6, leaky_relu, elu, selu, softplus, softsign, silu,
               gelu, exponential, hard_tanh, softmax, log_softmax, celu, glu, hard_shrink, soft_shrink, tanh_shrink,
               hard_silu, log_sigmoid, mish, sparse_plus, sparse_sigmoid, squareplus, threshold, sparsemax)
}
_REGISTRY["swish"] = silu
_REGISTRY["hard_swish"] = hard_silu


def get(identifier: Any, argument: str = "activation") -> Callable:
    """An activation function from a name, a ``{"class_name": name}`` dict, a callable or None (linear).

    ``argument`` names the argument in error messages (``recurrent_activation``, say).

    Raises:
        ValueError: an unknown name (the message lists the known ones).
        TypeError: anything else.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, dict) and "class_name" in identifier:
        identifier = identifier["config"] if isinstance(identifier.get("config"), str) else identifier["class_name"]
    if isinstance(identifier, str):
        if identifier not in _REGISTRY:
            raise ValueError(
                f"{argument}: unknown activation {identifier!r}; expected one of {sorted(_REGISTRY)} or a callable"
            )
        return _REGISTRY[identifier]
    if callable(identifier):
        return identifier
    raise TypeError(
        f"{argument}: expected a name, a callable or None, got {type(identifier).__name__} {identifier!r}"
    )


def serialize(activation: Callable) -> str:
    """The registered name of ``activation`` (the function's ``__name__`` for other callables)."""
    name = _registered_name(activation)
    return name if name is not None else getattr(activation, "__name__", repr(activation))


def deserialize(config: Any) -> Callable:
    """Inverse of :func:`serialize`."""
    return get(config)


def _registered_name(activation: Callable) -> str | None:
    """The registered name of ``activation``, or None for a callable rnnkit does not know."""
    for name, fn in _REGISTRY.items():
        if fn is activation:
            return name
    return None
