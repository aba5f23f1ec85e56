"""Differentiable operations on :class:`~rnnkit.Tensor`.

Each op is a :class:`~rnnkit._tensor.Function` that saves exactly what its backward
needs; the lower-case functions below are the public forms (also reachable as
methods, ``x.sum(1)``, and from :mod:`rnnkit` and :mod:`rnnkit.nn.functional`).
Broadcasting follows NumPy; gradients are summed back to each input's shape.
"""

from __future__ import annotations

import builtins as _builtins
from typing import Any, Sequence

import numpy as np

from rnnkit._tensor import Function, Tensor, _shape_args

__all__ = [
    "add", "sub", "mul", "div", "pow", "matmul", "neg", "exp", "log", "tanh", "sigmoid", "relu",
    "abs", "sqrt", "clamp", "sum", "mean", "max", "min", "softmax", "log_softmax", "logsumexp",
    "reshape", "view", "flatten", "transpose", "permute", "squeeze", "unsqueeze", "expand",
    "getitem", "cat", "stack", "chunk", "split", "where", "argmax", "mm",
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
    """``other`` as a Tensor: a scalar takes ``t``'s dtype, but a float scalar with an integer
    ``t`` makes both float32, as torch (``arange(4) * 0.5``)."""
    if np.ndim(other) != 0:
        return t, Tensor(other)
    if t.dtype.kind in "iub" and np.asarray(other).dtype.kind == "f":
        t = Tensor(t.data.astype(np.float32))  # integer tensors never require grad
    return t, Tensor(np.asarray(other, dtype=t.dtype))


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Make both operands Tensors; a Python or NumPy scalar takes the other operand's dtype."""
    if not isinstance(a, Tensor):
        b, a = _with_scalar(b, a)
    elif not isinstance(b, Tensor):
        a, b = _with_scalar(a, b)
    return a, b


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
        return a @ b

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
    def forward(self, a, shape):
        self.shape = a.shape
        return a.reshape(shape)

    def backward(self, g):
        return g.reshape(self.shape)


class Permute(Function):
    def forward(self, a, order):
        self.order = order
        return np.transpose(a, order)

    def backward(self, g):
        return np.transpose(g, np.argsort(self.order))


class Expand(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        return np.broadcast_to(a, shape)

    def backward(self, g):
        return _unbroadcast(g, self.shape)


class GetItem(Function):
    def forward(self, a, index):
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        return np.asarray(a[index])

    def backward(self, g):
        grad = np.zeros(self.shape, self.dtype)
        if _is_basic_index(self.index):
            grad[self.index] = g  # basic indexing selects each element at most once
        else:
            np.add.at(grad, self.index, g)  # integer arrays may repeat: accumulate
        return grad


def _is_basic_index(index: Any) -> bool:
    """True for ints, slices, None and Ellipsis (or tuples of them): no element is selected twice."""
    items = index if isinstance(index, tuple) else (index,)
    return all(
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


def add(a, b):
    return Add.apply(*_pair(a, b))


def sub(a, b):
    return Sub.apply(*_pair(a, b))


def mul(a, b):
    return Mul.apply(*_pair(a, b))


def div(a, b):
    return Div.apply(*_pair(a, b))


def pow(a, exponent):
    if isinstance(exponent, Tensor):
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
    return Clamp.apply(a, lo=min, hi=max)


def sum(a, dim=None, keepdim=False):
    a = a if isinstance(a, Tensor) else Tensor(a)
    return Sum.apply(a, axes=_axes(dim, a.ndim), keepdim=keepdim)


def mean(a, dim=None, keepdim=False):
    a = a if isinstance(a, Tensor) else Tensor(a)
    return Mean.apply(a, axes=_axes(dim, a.ndim), keepdim=keepdim)


def _extreme(a, dim, keepdim, largest):
    a = a if isinstance(a, Tensor) else Tensor(a)
    values = Extreme.apply(a, axes=_axes(dim, a.ndim), keepdim=keepdim, largest=largest)
    if dim is None:
        return values
    pick = np.argmax if largest else np.argmin
    indices = pick(a.data, axis=dim)
    if keepdim:
        indices = np.expand_dims(indices, dim)
    return values, Tensor(indices)


def max(a, dim=None, keepdim=False):
    """Largest value; with ``dim`` returns ``(values, indices)`` as ``torch.max``."""
    return _extreme(a, dim, keepdim, True)


def min(a, dim=None, keepdim=False):
    """Smallest value; with ``dim`` returns ``(values, indices)`` as ``torch.min``."""
    return _extreme(a, dim, keepdim, False)


def argmax(a, dim=None, keepdim=False):
    data = a.data if isinstance(a, Tensor) else np.asarray(a)
    out = np.argmax(data, axis=dim, keepdims=keepdim) if dim is not None else np.asarray(np.argmax(data))
    return Tensor(out)


def softmax(a, dim=-1):
    return Softmax.apply(a, dim=_axes(dim, a.ndim)[0])


def log_softmax(a, dim=-1):
    return LogSoftmax.apply(a, dim=_axes(dim, a.ndim)[0])


def logsumexp(a, dim, keepdim=False):
    m = Tensor(a.data.max(axis=dim, keepdims=True))
    out = log(sum(exp(a - m), dim=dim, keepdim=True)) + m
    return out if keepdim else squeeze(out, dim)


def reshape(a, *shape):
    shape = _shape_args(shape)
    try:
        a.data.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: shape {shape} is invalid for input of size {a.data.size}") from None
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


def unsqueeze(a, dim):
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
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
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


def where(condition, a, b):
    condition = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    a, b = _pair(a, b)
    return Where.apply(a, b, condition=condition.astype(bool))


builtins_sum = _builtins.sum  # the public `sum` above shadows the builtin here

# Functions that are also available as Tensor methods (x.sum(), x.view(-1, 4), ...).
TENSOR_METHODS = frozenset(
    {
        "exp", "log", "tanh", "sigmoid", "relu", "abs", "sqrt", "clamp", "sum", "mean", "max", "min",
        "softmax", "log_softmax", "logsumexp", "reshape", "view", "flatten", "transpose", "permute",
        "squeeze", "unsqueeze", "expand", "chunk", "split", "argmax", "matmul", "pow",
    }
)
