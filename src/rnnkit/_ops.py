"""Differentiable operations on :class:`~rnnkit.Tensor`.

Each op is a :class:`~rnnkit._tensor.Function` that saves exactly what its backward
needs; the lower-case functions below are the public forms (also reachable as
methods, ``x.sum(1)``, and from :mod:`rnnkit` and :mod:`rnnkit.nn.functional`).
Broadcasting follows NumPy; gradients are summed back to each input's shape.
"""

from __future__ import annotations

import builtins as _builtins
import numbers
import warnings
from typing import Any, Sequence

import numpy as np

from rnnkit import return_types
from rnnkit._dtype import float_dtype
from rnnkit._tensor import Function, Tensor, _shape_args, array_of
from rnnkit.cells import kernels

__all__ = [
    "add", "sub", "mul", "div", "pow", "matmul", "neg", "exp", "log", "tanh", "sigmoid", "relu",
    "abs", "sqrt", "clamp", "sum", "mean", "max", "min", "softmax", "log_softmax", "logsumexp",
    "reshape", "view", "flatten", "transpose", "permute", "squeeze", "unsqueeze", "expand",
    "getitem", "cat", "concat", "concatenate", "stack", "chunk", "split", "where", "argmax", "mm",
    "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal", "not_equal",
    "logical_not", "logical_and", "logical_or", "logical_xor", "bitwise_not", "bitwise_and", "bitwise_or",
    "bitwise_xor", "equal", "allclose", "isnan", "isinf", "isfinite", "log1p", "expm1", "rsqrt", "square",
    "sin", "cos", "reciprocal", "sign", "floor", "ceil", "round", "clamp_min", "clamp_max", "clip",
    "maximum", "minimum", "floor_divide", "remainder", "fmod", "addcmul", "addcdiv", "lerp", "prod", "var",
    "std", "amax", "amin", "argmin", "all", "any", "cumsum", "clone", "contiguous", "t", "view_as",
    "reshape_as", "expand_as", "unflatten", "unbind", "swapaxes", "tril", "triu",
]


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def _with_scalar(t: Tensor, other: Any) -> tuple[Tensor, Tensor]:
    """``other`` as a Tensor, with torch's promotion for a Python scalar: it takes ``t``'s dtype,
    except that a float scalar with an integer or bool ``t`` makes both the default float dtype
    (``arange(4) * 0.5``) and an int scalar with a bool ``t`` makes both int64."""
    if isinstance(other, Tensor):
        return t, other
    if np.ndim(other) != 0:
        return t, Tensor(other)
    kind = np.asarray(other).dtype.kind
    if t.dtype.kind in "iub" and kind == "f":
        t = Tensor._wrap(t._array.astype(float_dtype()))  # integer tensors never require grad
    elif t.dtype.kind == "b" and kind in "iu":
        t = Tensor._wrap(t._array.astype(np.int64))
    return t, Tensor._wrap(np.asarray(other, dtype=t._array.dtype))


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Make both operands Tensors; a Python or NumPy scalar takes the other operand's dtype."""
    if not isinstance(a, Tensor):
        b, a = _with_scalar(b, a)
    elif not isinstance(b, Tensor):
        a, b = _with_scalar(a, b)
    return a, b


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


# -- elementwise, two operands ---------------------------------------------
class Add(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, g):
        return _unbroadcast(g, self.shapes[0]), _unbroadcast(g, self.shapes[1])


class Sub(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, g):
        return _unbroadcast(g, self.shapes[0]), _unbroadcast(-g, self.shapes[1])


class Mul(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, g):
        a, b = self.saved
        da = _unbroadcast(g * b, a.shape) if self.needs_input_grad[0] else None
        db = _unbroadcast(g * a, b.shape) if self.needs_input_grad[1] else None
        return da, db


class Div(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, g):
        a, b = self.saved
        da = _unbroadcast(g / b, a.shape) if self.needs_input_grad[0] else None
        db = _unbroadcast(-g * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return da, db


class Pow(Function):
    def forward(self, a, exponent):
        self.save_for_backward(a)
        self.exponent = exponent
        return a**exponent

    def backward(self, g):
        (a,) = self.saved
        if self.exponent == 0:  # d/da a**0 = 0, also at a = 0
            return np.zeros_like(g)
        return g * self.exponent * a ** (self.exponent - 1)


class MatMul(Function):
    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least one dimension, got shapes {a.shape} and {b.shape}")
        self.save_for_backward(a, b)
        return kernels.matmul(a, b) if a.ndim == 2 and b.ndim == 2 else a @ b  # 2-D: on the loops' pool

    def backward(self, g):
        a, b = self.saved
        if a.ndim == 1 and b.ndim == 1:  # dot product: g is 0-d
            return g * b, g * a
        a2 = a[None, :] if a.ndim == 1 else a  # promote vectors as matmul does
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        da = db = None
        if a2.ndim == 2 and b2.ndim == 2:  # on the loops' pool, as forward
            da = kernels.matmul(g2, b2.T).reshape(a.shape) if self.needs_input_grad[0] else None
            db = kernels.matmul(a2.T, g2).reshape(b.shape) if self.needs_input_grad[1] else None
            return da, db
        if self.needs_input_grad[0]:
            da = _unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            db = _unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return da, db


# -- elementwise, one operand ----------------------------------------------
class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Exp(Function):
    def forward(self, a):
        out = np.exp(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return g * out


class Log(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return np.log(a)

    def backward(self, g):
        return g / self.saved[0]


class Tanh(Function):
    def forward(self, a):
        out = np.tanh(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return g * (1 - out * out)


class Sigmoid(Function):
    def forward(self, a):
        out = _sigmoid(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return g * out * (1 - out)


class Relu(Function):
    def forward(self, a):
        positive = a > 0
        self.save_for_backward(positive)
        return np.where(positive, a, 0).astype(a.dtype)

    def backward(self, g):
        (positive,) = self.saved
        return g * positive


class Abs(Function):
    def forward(self, a):
        self.save_for_backward(np.sign(a))
        return np.abs(a)

    def backward(self, g):
        (sign,) = self.saved
        return g * sign


class Sqrt(Function):
    def forward(self, a):
        out = np.sqrt(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return g / (2 * out)


class Clamp(Function):
    def forward(self, a, lo=None, hi=None):
        inside = np.ones(a.shape, bool)
        if lo is not None:
            inside &= a >= lo
        if hi is not None:
            inside &= a <= hi
        self.save_for_backward(inside)
        return np.clip(a, lo, hi).astype(a.dtype)

    def backward(self, g):
        (inside,) = self.saved
        return g * inside


class Cast(Function):
    def forward(self, a, dtype):
        self.source = a.dtype
        return a.astype(dtype)

    def backward(self, g):
        return g.astype(self.source)


# -- reductions --------------------------------------------------------------
def _axes(dim: int | Sequence[int] | None, ndim: int) -> tuple[int, ...] | None:
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    for d in dims:
        if not -ndim <= d < _builtins.max(ndim, 1):
            raise IndexError(f"dim: expected a dimension in [{-ndim}, {ndim - 1}], got {d}")
    return tuple(d % _builtins.max(ndim, 1) for d in dims)


def _expand_back(g: np.ndarray, shape: tuple[int, ...], axes, keepdim: bool) -> np.ndarray:
    if axes is not None and not keepdim:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


class Sum(Function):
    def forward(self, a, axes=None, keepdim=False):
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        return np.asarray(a.sum(axis=axes, keepdims=keepdim))

    def backward(self, g):
        return np.array(_expand_back(g, self.shape, self.axes, self.keepdim))


class Mean(Function):
    def forward(self, a, axes=None, keepdim=False):
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        self.count = a.size if axes is None else int(np.prod([a.shape[i] for i in axes]))
        return np.asarray(a.mean(axis=axes, keepdims=keepdim))

    def backward(self, g):
        return np.array(_expand_back(g, self.shape, self.axes, self.keepdim)) / np.asarray(self.count, g.dtype)


class Extreme(Function):
    """max or min over ``axes``; the gradient is split evenly among tied extremes."""

    def forward(self, a, axes=None, keepdim=False, largest=True):
        reduce = np.max if largest else np.min
        out = reduce(a, axis=axes, keepdims=True)
        hits = a == out
        self.save_for_backward((hits / hits.sum(axis=axes, keepdims=True)).astype(a.dtype))
        self.axes, self.keepdim = axes, keepdim
        return out if keepdim else np.asarray(np.squeeze(out, axis=axes) if axes is not None else out.reshape(()))

    def backward(self, g):
        (weights,) = self.saved
        return _expand_back(g, weights.shape, self.axes, self.keepdim) * weights


class LogSoftmax(Function):
    def forward(self, a, dim):
        shifted = a - a.max(axis=dim, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
        self.save_for_backward(out)
        self.dim = dim
        return out

    def backward(self, g):
        (out,) = self.saved
        return g - np.exp(out) * g.sum(axis=self.dim, keepdims=True)


class Softmax(Function):
    def forward(self, a, dim):
        e = np.exp(a - a.max(axis=dim, keepdims=True))
        out = e / e.sum(axis=dim, keepdims=True)
        self.save_for_backward(out)
        self.dim = dim
        return out

    def backward(self, g):
        (out,) = self.saved
        return out * (g - (g * out).sum(axis=self.dim, keepdims=True))


# -- shape -----------------------------------------------------------------
class Reshape(Function):
    arithmetic = False

    def forward(self, a, shape):
        self.shape = a.shape
        return a.reshape(shape)

    def backward(self, g):
        return g.reshape(self.shape)


class Permute(Function):
    arithmetic = False

    def forward(self, a, order):
        self.order = order
        return np.transpose(a, order)

    def backward(self, g):
        return np.transpose(g, np.argsort(self.order))


class Expand(Function):
    arithmetic = False

    def forward(self, a, shape):
        self.shape = a.shape
        return np.broadcast_to(a, shape)

    def backward(self, g):
        return _unbroadcast(g, self.shape)


class GetItem(Function):
    arithmetic = False

    def forward(self, a, index):
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        if type(index) is int:  # the common case (x[t]): a view
            return a[index, ...]
        if _is_basic_index(index) and not _has_ellipsis(index):
            return a[(*index, Ellipsis) if isinstance(index, tuple) else (index, Ellipsis)]  # a view, even 0-d
        return np.asarray(a[index])

    def backward(self, g):
        grad = np.zeros(self.shape, self.dtype)
        if type(self.index) is int or _is_basic_index(self.index):
            grad[self.index] = g  # basic indexing selects each element at most once
        else:
            np.add.at(grad, self.index, g)  # integer arrays may repeat: accumulate
        return grad


def _has_ellipsis(index: Any) -> bool:
    return _builtins.any(i is Ellipsis for i in (index if isinstance(index, tuple) else (index,)))


def _is_basic_index(index: Any) -> bool:
    """True for ints, slices, None and Ellipsis (or tuples of them): no element is selected twice."""
    items = index if isinstance(index, tuple) else (index,)
    return _builtins.all(
        i is None or i is Ellipsis or isinstance(i, slice)
        or (isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)))
        for i in items
    )


class Concat(Function):
    def forward(self, *arrays, dim=0):
        self.dim = dim
        self.bounds = np.cumsum([a.shape[dim] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=dim)

    def backward(self, g):
        return tuple(np.split(g, self.bounds, axis=self.dim))


class Where(Function):
    def forward(self, a, b, condition):
        self.condition, self.shapes = condition, (a.shape, b.shape)
        return np.where(condition, a, b)

    def backward(self, g):
        zero = np.zeros((), g.dtype)
        return (
            _unbroadcast(np.where(self.condition, g, zero), self.shapes[0]),
            _unbroadcast(np.where(self.condition, zero, g), self.shapes[1]),
        )


# -- public functional forms -------------------------------------------------
def _sigmoid(a: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function that keeps the dtype."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


def _other_and_alpha(name: str, b: Any, rest: tuple, alpha: Any) -> tuple[Any, Any]:
    """``(other, alpha)`` of ``add``/``sub``: ``(input, other, *, alpha=1)``, or torch's deprecated
    ``(input, alpha, other)`` overload (a number first), which torch still accepts with a warning."""
    if not rest:
        return b, alpha
    scalar = isinstance(b, numbers.Number) or isinstance(b, Tensor) and b.ndim == 0
    if len(rest) != 1 or not scalar or alpha != 1:
        raise TypeError(f"{name}(): takes (other, *, alpha=1) or the deprecated (alpha, other) with alpha a number; "
                        f"got {1 + len(rest)} positional arguments, the first a {type(b).__name__}"
                        f"{', and alpha=' if alpha != 1 else ''}")
    warnings.warn(f"This overload of {name} is deprecated: {name}(Number alpha, Tensor other); use "
                  f"{name}(Tensor other, *, Number alpha=1) instead", UserWarning, stacklevel=3)
    return rest[0], b.item() if isinstance(b, Tensor) else b


def add(a, b, *rest, alpha=1):
    """``a + alpha * b`` (also torch's deprecated ``add(a, alpha, b)``).

    Example:
        >>> import rnnkit
        >>> rnnkit.add(rnnkit.tensor([1.0, 2.0]), rnnkit.tensor([1.0, 1.0]), alpha=-0.5)
        tensor([0.5000, 1.5000])
    """
    b, alpha = _other_and_alpha("add", b, rest, alpha)
    return Add.apply(*_pair(a, b if alpha == 1 else mul(b, alpha)))


def sub(a, b, *rest, alpha=1):
    """``a - alpha * b`` (also torch's deprecated ``sub(a, alpha, b)``)."""
    b, alpha = _other_and_alpha("sub", b, rest, alpha)
    return Sub.apply(*_pair(a, b if alpha == 1 else mul(b, alpha)))


def mul(a, b):
    return Mul.apply(*_pair(a, b))


def div(a, b, rounding_mode=None):
    """``a / b``; integer operands divide as floats (true division), as torch."""
    a, b = _pair(a, b)
    if rounding_mode is not None:
        if rounding_mode not in ("floor", "trunc"):
            raise ValueError(f"div(rounding_mode): expected None, 'floor' or 'trunc', got {rounding_mode!r}")
        q = np.floor_divide(a._array, b._array) if rounding_mode == "floor" else np.trunc(a._array / b._array)
        return Tensor._wrap(np.asarray(q).astype(np.result_type(a._array, b._array)))
    if a.dtype.kind != "f" and b.dtype.kind != "f":
        a, b = (Tensor._wrap(x._array.astype(float_dtype())) for x in (a, b))
    return Div.apply(a, b)


def pow(a, exponent):
    if isinstance(exponent, Tensor):
        if not isinstance(a, Tensor):  # a scalar base takes the exponent's dtype
            a = Tensor._wrap(np.asarray(a, dtype=exponent._array.dtype if exponent.dtype.kind == "f" else float_dtype()))
        return exp(mul(exponent, log(a)))
    return Pow.apply(a, exponent=exponent)


def matmul(a, b):
    return MatMul.apply(*_pair(a, b))


mm = matmul


def neg(a):
    return Neg.apply(a)


def exp(a):
    return Exp.apply(a)


def log(a):
    return Log.apply(a)


def tanh(a):
    return Tanh.apply(a)


def sigmoid(a):
    return Sigmoid.apply(a)


def relu(a):
    return Relu.apply(a)


def abs(a):
    return Abs.apply(a)


def sqrt(a):
    return Sqrt.apply(a)


def clamp(a, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    lo, hi = (float(x) if isinstance(x, Tensor) else x for x in (min, max))
    return Clamp.apply(a, lo=lo, hi=hi)


clip = clamp


def sum(a, dim=None, keepdim=False, dtype=None):
    a = _tensor(a) if dtype is None else _tensor(a).astype(dtype)
    if a.dtype.kind in "ub" or a.dtype.kind == "i" and a._array.dtype != np.int64:
        a = Tensor._wrap(a._array.astype(np.int64))  # integers and bools sum as int64, as torch
    return Sum.apply(a, axes=_axes(dim, a.ndim), keepdim=keepdim)


def mean(a, dim=None, keepdim=False, dtype=None):
    a = _tensor(a) if dtype is None else _tensor(a).astype(dtype)
    _float_reduction("mean", a)
    return Mean.apply(a, axes=_axes(dim, a.ndim), keepdim=keepdim)


def _extreme(a, dim, keepdim, largest):
    a = a if isinstance(a, Tensor) else Tensor(a)
    values = Extreme.apply(a, axes=_axes(dim, a.ndim), keepdim=keepdim, largest=largest)
    if dim is None:
        return values
    pick = np.argmax if largest else np.argmin
    indices = pick(a._array, axis=dim)
    if keepdim:
        indices = np.expand_dims(indices, dim)
    named = return_types.max if largest else return_types.min
    return named(values, Tensor._wrap(np.asarray(indices, dtype=np.int64)))


def max(a, dim=None, keepdim=False):
    """Largest value; with ``dim`` returns ``(values, indices)`` as ``torch.max``; with a tensor, ``maximum``."""
    if isinstance(dim, Tensor):
        return maximum(a, dim)
    return _extreme(a, dim, keepdim, True)


def min(a, dim=None, keepdim=False):
    """Smallest value; with ``dim`` returns ``(values, indices)`` as ``torch.min``; with a tensor, ``minimum``."""
    if isinstance(dim, Tensor):
        return minimum(a, dim)
    return _extreme(a, dim, keepdim, False)


def argmax(a, dim=None, keepdim=False):
    data = a._array if isinstance(a, Tensor) else np.asarray(a)
    out = np.argmax(data, axis=dim, keepdims=keepdim) if dim is not None else np.asarray(np.argmax(data))
    return Tensor._wrap(np.asarray(out, dtype=np.int64))


def softmax(a, dim=-1):
    return Softmax.apply(a, dim=_axes(dim, a.ndim)[0])


def log_softmax(a, dim=-1):
    return LogSoftmax.apply(a, dim=_axes(dim, a.ndim)[0])


def logsumexp(a, dim, keepdim=False):
    m = Tensor(a._array.max(axis=dim, keepdims=True))
    out = log(sum(exp(a - m), dim=dim, keepdim=True)) + m
    return out if keepdim else squeeze(out, dim)


def reshape(a, *shape):
    shape = _shape_args(shape)
    try:
        a._array.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: shape {shape} is invalid for input of size {a._array.size}") from None
    return Reshape.apply(a, shape=shape)


view = reshape


def flatten(a, start_dim=0, end_dim=-1):
    end = end_dim % a.ndim if a.ndim else 0
    shape = a.shape[:start_dim] + (-1,) + a.shape[end + 1 :]
    return reshape(a, shape)


def permute(a, *order):
    order = _shape_args(order)
    if sorted(o % a.ndim for o in order) != list(range(a.ndim)):
        raise ValueError(f"permute: dims must be a permutation of 0..{a.ndim - 1}, got {order}")
    return Permute.apply(a, order=tuple(o % a.ndim for o in order))


def transpose(a, dim0, dim1):
    dim0, dim1 = (_axes(d, a.ndim)[0] for d in (dim0, dim1)) if a.ndim else (0, 0)
    order = list(range(a.ndim))
    order[dim0], order[dim1] = order[dim1], order[dim0]
    return Permute.apply(a, order=tuple(order))


def squeeze(a, dim=None):
    if dim is None:
        shape = tuple(n for n in a.shape if n != 1)
    else:
        dims = {d % a.ndim for d in ((dim,) if isinstance(dim, int) else dim)}
        shape = tuple(n for i, n in enumerate(a.shape) if not (i in dims and n == 1))
    return Reshape.apply(a, shape=shape)


swapaxes = transpose


def unsqueeze(a, dim):
    if not -a.ndim - 1 <= dim <= a.ndim:
        raise IndexError(f"unsqueeze(dim): expected a dimension in [{-a.ndim - 1}, {a.ndim}], got {dim}")
    dim = dim % (a.ndim + 1)
    return Reshape.apply(a, shape=a.shape[:dim] + (1,) + a.shape[dim:])


def expand(a, *shape):
    shape = _shape_args(shape)
    lead = len(shape) - a.ndim
    shape = tuple(a.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
    return Expand.apply(a, shape=shape)


def _index(index):
    """Tensors inside an index become ndarrays."""
    if isinstance(index, Tensor):
        return index._array
    if isinstance(index, tuple):
        return tuple(i._array if isinstance(i, Tensor) else i for i in index)
    return index


def getitem(a, index):
    return GetItem.apply(a, index=_index(index))


def cat(tensors, dim=0):
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    return Concat.apply(*tensors, dim=dim % tensors[0].ndim)


def stack(tensors, dim=0):
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    if len({t.shape for t in tensors}) != 1:
        raise ValueError(f"stack: expects each tensor to be equal size, got {[t.shape for t in tensors]}")
    dim = dim % (tensors[0].ndim + 1)
    return cat([unsqueeze(t, dim) for t in tensors], dim=dim)


def split(a, split_size_or_sections, dim=0):
    """Split into pieces of ``split_size`` (an int) or of the listed sizes, as ``torch.split``."""
    n = a.shape[dim]
    if isinstance(split_size_or_sections, int):
        sizes = [split_size_or_sections] * (n // split_size_or_sections)
        if n % split_size_or_sections:
            sizes.append(n % split_size_or_sections)
    else:
        sizes = list(split_size_or_sections)
        if builtins_sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} do not add up to dimension {dim} of size {n}")
    out, start = [], 0
    for size in sizes:
        index = [slice(None)] * a.ndim
        index[dim] = slice(start, start + size)
        out.append(getitem(a, tuple(index)))
        start += size
    return tuple(out)


def chunk(a, chunks, dim=0):
    """Split into ``chunks`` pieces along ``dim``, as ``torch.chunk``."""
    size = -(-a.shape[dim] // chunks)
    return split(a, size, dim)


def where(condition, a=None, b=None):
    """``a`` where ``condition``, else ``b`` (broadcast); with only a condition, ``nonzero(as_tuple=True)``."""
    condition = condition._array if isinstance(condition, Tensor) else np.asarray(condition)
    if a is None and b is None:
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in np.nonzero(condition))
    a, b = _pair(a, b)
    return Where.apply(a, b, condition=condition.astype(bool))


builtins_sum = _builtins.sum  # the public `sum` above shadows the builtin here
concat = concatenate = cat


# -- comparisons and logic (no gradient; bool results, as torch) --------------
def _compare(op, a: Any, b: Any) -> Tensor:
    return Tensor._wrap(np.asarray(op(array_of(a), array_of(b))))


def eq(a, b):
    """Element-wise ``a == b`` as a bool tensor."""
    return _compare(np.equal, a, b)


def ne(a, b):
    return _compare(np.not_equal, a, b)


def lt(a, b):
    return _compare(np.less, a, b)


def le(a, b):
    return _compare(np.less_equal, a, b)


def gt(a, b):
    return _compare(np.greater, a, b)


def ge(a, b):
    return _compare(np.greater_equal, a, b)


greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def logical_not(a):
    return Tensor._wrap(np.logical_not(array_of(a)))


def logical_and(a, b):
    return _compare(np.logical_and, a, b)


def logical_or(a, b):
    return _compare(np.logical_or, a, b)


def logical_xor(a, b):
    return _compare(np.logical_xor, a, b)


def _integer_op(name: str, op, a: Any, b: Any = None) -> Tensor:
    arrays = [array_of(x) for x in ((a,) if b is None else (a, b))]
    if _builtins.any(x.dtype.kind == "f" for x in arrays):
        raise TypeError(f"{name}: expected integer or bool tensors, got {[str(x.dtype) for x in arrays]}")
    return Tensor._wrap(np.asarray(op(*arrays)))


def bitwise_not(a):
    return _integer_op("bitwise_not", np.invert, a)


def bitwise_and(a, b):
    return _integer_op("bitwise_and", np.bitwise_and, a, b)


def bitwise_or(a, b):
    return _integer_op("bitwise_or", np.bitwise_or, a, b)


def bitwise_xor(a, b):
    return _integer_op("bitwise_xor", np.bitwise_xor, a, b)


def equal(a, b) -> bool:
    """True when both have the same shape and elements."""
    return array_of(a).shape == array_of(b).shape and bool(np.all(array_of(a) == array_of(b)))


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return bool(np.allclose(array_of(a), array_of(b), rtol=rtol, atol=atol, equal_nan=equal_nan))


def isnan(a):
    return Tensor._wrap(np.isnan(array_of(a)))


def isinf(a):
    return Tensor._wrap(np.isinf(array_of(a)))


def isfinite(a):
    return Tensor._wrap(np.isfinite(array_of(a)))


# -- more element-wise ops --------------------------------------------------
class Unary(Function):
    """An element-wise ``out = f(a)`` whose derivative is ``df(a, out)``; subclasses set both."""

    uses_input = True  # whether df needs a (saved for backward), else only out

    @staticmethod
    def f(a):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def df(a, out):  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, a):
        out = np.asarray(self.f(a)).astype(a.dtype, copy=False)
        self.save_for_backward(a if self.uses_input else None, out)
        return out

    def backward(self, g):
        a, out = self.saved
        return (g * self.df(a, out)).astype(g.dtype, copy=False)


class Log1p(Unary):
    f = staticmethod(np.log1p)
    df = staticmethod(lambda a, out: 1 / (1 + a))


class Expm1(Unary):
    uses_input = False
    f = staticmethod(np.expm1)
    df = staticmethod(lambda a, out: out + 1)


class Rsqrt(Unary):
    uses_input = False
    f = staticmethod(lambda a: 1 / np.sqrt(a))
    df = staticmethod(lambda a, out: -0.5 * out**3)


class Sin(Unary):
    f = staticmethod(np.sin)
    df = staticmethod(lambda a, out: np.cos(a))


class Cos(Unary):
    f = staticmethod(np.cos)
    df = staticmethod(lambda a, out: -np.sin(a))


class Reciprocal(Unary):
    uses_input = False
    f = staticmethod(lambda a: 1 / a)
    df = staticmethod(lambda a, out: -out * out)


class Piecewise(Unary):
    """sign/floor/ceil/round: piecewise constant, so the gradient is zero."""

    uses_input = False
    df = staticmethod(lambda a, out: np.zeros_like(out))


class Sign(Piecewise):
    f = staticmethod(np.sign)


class Floor(Piecewise):
    f = staticmethod(np.floor)


class Ceil(Piecewise):
    f = staticmethod(np.ceil)


class Round(Piecewise):
    f = staticmethod(np.round)  # half to even, as torch


def _unary(cls, a):
    a = _tensor(a)
    if a.dtype.kind != "f" and cls.__bases__[0] is not Piecewise:
        a = Tensor._wrap(a._array.astype(float_dtype()))
    if a.dtype.kind != "f":
        return Tensor._wrap(np.asarray(cls.f(a._array)).astype(a._array.dtype))
    return cls.apply(a)


def log1p(a):
    return _unary(Log1p, a)


def expm1(a):
    return _unary(Expm1, a)


def rsqrt(a):
    return _unary(Rsqrt, a)


def square(a):
    return mul(a, a)


def sin(a):
    return _unary(Sin, a)


def cos(a):
    return _unary(Cos, a)


def reciprocal(a):
    return _unary(Reciprocal, a)


def sign(a):
    return _unary(Sign, a)


def floor(a):
    return _unary(Floor, a)


def ceil(a):
    return _unary(Ceil, a)


def round(a, decimals=0):
    if decimals:
        return div(_unary(Round, mul(a, 10.0**decimals)), 10.0**decimals)
    return _unary(Round, a)


def clamp_min(a, min):
    return clamp(a, min=min)


def clamp_max(a, max):
    return clamp(a, max=max)


def maximum(a, b):
    """Element-wise larger value; where they tie the gradient is split evenly, as torch."""
    a, b = _pair(a, b)
    return _select_max(a, b, True)


def minimum(a, b):
    a, b = _pair(a, b)
    return _select_max(a, b, False)


def _select_max(a: Tensor, b: Tensor, larger: bool) -> Tensor:
    pick_a = (a._array > b._array) if larger else (a._array < b._array)
    tie = a._array == b._array
    half = mul(add(a, b), 0.5) if a.dtype.kind == "f" else a
    return where(tie, half, where(pick_a, a, b))


def floor_divide(a, b):
    a, b = _pair(a, b)
    return Tensor._wrap(np.asarray(np.floor_divide(a._array, b._array)))


def remainder(a, b):
    """Python's modulo (the sign of ``b``), as ``torch.remainder``; no gradient."""
    a, b = _pair(a, b)
    return Tensor._wrap(np.asarray(np.mod(a._array, b._array)))


def fmod(a, b):
    """C's modulo (the sign of ``a``), as ``torch.fmod``; no gradient."""
    a, b = _pair(a, b)
    return Tensor._wrap(np.asarray(np.fmod(a._array, b._array)))


def addcmul(a, t1, t2, value=1):
    """``a + value * t1 * t2``."""
    return add(a, mul(mul(t1, t2), value))


def addcdiv(a, t1, t2, value=1):
    """``a + value * t1 / t2``."""
    return add(a, mul(div(t1, t2), value))


def lerp(a, end, weight):
    """``a + weight * (end - a)``."""
    return add(a, mul(sub(end, a), weight))


# -- more reductions ---------------------------------------------------------
def _float_reduction(name: str, a: Any) -> Tensor:
    a = _tensor(a)
    if a.dtype.kind != "f":
        raise RuntimeError(
            f"{name}(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. "
            f"Got: {a.dtype}"
        )
    return a


def prod(a, dim=None, keepdim=False):
    """Product of elements; the gradient is the product of the others (``out / a`` where ``a != 0``)."""
    a = _tensor(a)
    if a.dtype.kind != "f":
        out = np.prod(a._array, axis=dim, keepdims=keepdim)
        return Tensor._wrap(np.asarray(out, dtype=np.int64))
    return Prod.apply(a, axes=_axes(dim, a.ndim), keepdim=keepdim)


class Prod(Function):
    def forward(self, a, axes=None, keepdim=False):
        self.save_for_backward(a)
        self.axes, self.keepdim = axes, keepdim
        return np.asarray(np.prod(a, axis=axes, keepdims=keepdim))

    def backward(self, g):
        (a,) = self.saved
        axes = self.axes if self.axes is not None else tuple(range(a.ndim))
        moved = np.moveaxis(a, axes, tuple(range(-len(axes), 0)))
        flat = moved.reshape(moved.shape[: a.ndim - len(axes)] + (-1,))
        n = flat.shape[-1]  # product of all the others: exclusive prefix times exclusive suffix products
        left = np.concatenate([np.ones_like(flat[..., :1]), np.cumprod(flat, -1)[..., :-1]], -1)
        right = np.concatenate([np.cumprod(flat[..., ::-1], -1)[..., -2::-1], np.ones_like(flat[..., :1])], -1)
        others = (left * right)[..., :n].reshape(moved.shape)
        others = np.moveaxis(others, tuple(range(-len(axes), 0)), axes)
        return _expand_back(g, a.shape, self.axes, self.keepdim) * others


def var(a, dim=None, unbiased=None, keepdim=False, correction=None):
    """Variance with Bessel's correction by default (``correction=1``), as ``torch.var``."""
    a = _float_reduction("var", a)
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    centred = sub(a, mean(a, dim=dim, keepdim=True))
    n = a._array.size if dim is None else int(np.prod([a.shape[d] for d in _axes(dim, a.ndim)]))
    return div(sum(mul(centred, centred), dim=dim, keepdim=keepdim), _builtins.max(n - correction, 0))


def std(a, dim=None, unbiased=None, keepdim=False, correction=None):
    return sqrt(var(a, dim=dim, unbiased=unbiased, keepdim=keepdim, correction=correction))


def amax(a, dim=(), keepdim=False):
    a = _tensor(a)
    return Extreme.apply(a, axes=_axes(dim, a.ndim) if dim != () else None, keepdim=keepdim, largest=True)


def amin(a, dim=(), keepdim=False):
    a = _tensor(a)
    return Extreme.apply(a, axes=_axes(dim, a.ndim) if dim != () else None, keepdim=keepdim, largest=False)


def argmin(a, dim=None, keepdim=False):
    data = array_of(a)
    out = np.argmin(data, axis=dim, keepdims=keepdim) if dim is not None else np.asarray(np.argmin(data))
    return Tensor._wrap(np.asarray(out, dtype=np.int64))


def all(a, dim=None, keepdim=False):
    return Tensor._wrap(np.asarray(np.all(array_of(a), axis=dim, keepdims=keepdim)))


def any(a, dim=None, keepdim=False):
    return Tensor._wrap(np.asarray(np.any(array_of(a), axis=dim, keepdims=keepdim)))


class Cumsum(Function):
    def forward(self, a, dim):
        self.dim = dim
        return np.cumsum(a, axis=dim)

    def backward(self, g):
        return np.flip(np.cumsum(np.flip(g, self.dim), axis=self.dim), self.dim).copy()


def cumsum(a, dim, dtype=None):
    """Running sum along ``dim`` (integers and bools sum as int64, as torch)."""
    a = _tensor(a)
    if dtype is not None:
        a = a.astype(dtype)
    elif a.dtype.kind in "iub":
        a = Tensor._wrap(a._array.astype(np.int64))
    return Cumsum.apply(a, dim=_axes(dim, a.ndim)[0])


# -- views and copies -----------------------------------------------------------
class Clone(Function):
    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return g


def clone(a, memory_format=None):
    """A copy in new memory that stays in the graph."""
    return Clone.apply(a)


def contiguous(a, memory_format=None):
    """``a`` itself when its memory is C-contiguous, else a contiguous copy, as torch."""
    return a if a._array.flags.c_contiguous else clone(a)


def t(a):
    """Transpose of a matrix (a vector or scalar is returned as it is), as ``torch.t``."""
    if a.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {a.ndim}D")
    return transpose(a, 0, 1) if a.ndim == 2 else a


def view_as(a, other):
    return reshape(a, other.shape)


def reshape_as(a, other):
    return reshape(a, other.shape)


def expand_as(a, other):
    return expand(a, other.shape)


def unflatten(a, dim, sizes):
    dim = _axes(dim, a.ndim)[0]
    return reshape(a, a.shape[:dim] + tuple(sizes) + a.shape[dim + 1 :])


def unbind(a, dim=0):
    """The slices along ``dim`` as a tuple of tensors (each without that dimension)."""
    dim = _axes(dim, a.ndim)[0]
    index = [slice(None)] * a.ndim
    out = []
    for i in range(a.shape[dim]):
        index[dim] = i
        out.append(getitem(a, tuple(index)))
    return tuple(out)


class Triangle(Function):
    """The lower (tril) or upper (triu) triangle of the last two dimensions; the gradient keeps the same triangle."""

    def forward(self, a, diagonal, lower):
        self.diagonal, self.lower = diagonal, lower
        return np.tril(a, diagonal) if lower else np.triu(a, diagonal)

    def backward(self, g):
        return np.tril(g, self.diagonal) if self.lower else np.triu(g, self.diagonal)


def tril(a, diagonal=0):
    """Zero the elements above the ``diagonal``-th diagonal, as ``torch.tril``."""
    a = _tensor(a)
    if a.ndim < 2:
        raise RuntimeError(f"tril: input tensor must have at least 2 dimensions, got {a.ndim}")
    return Triangle.apply(a, diagonal=int(diagonal), lower=True)


def triu(a, diagonal=0):
    """Zero the elements below the ``diagonal``-th diagonal, as ``torch.triu``."""
    a = _tensor(a)
    if a.ndim < 2:
        raise RuntimeError(f"triu: input tensor must have at least 2 dimensions, got {a.ndim}")
    return Triangle.apply(a, diagonal=int(diagonal), lower=False)
