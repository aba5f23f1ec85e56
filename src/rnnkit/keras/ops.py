"""``keras.ops``: NumPy-like operations on rnnkit Tensors, differentiable through rnnkit's autograd.

Custom layers and cells are written with them (``ops.matmul(x, self.kernel)``, ``ops.tanh(h)``...), as
with Keras 3; NumPy arrays and Python numbers are accepted wherever a tensor is (as constants).
Reductions take ``axis``/``keepdims`` (NumPy's names); ``max``/``min`` return values only.

Example:
    >>> import numpy as np
    >>> from rnnkit import keras
    >>> from rnnkit.keras import ops
    >>> y = ops.sum(ops.square(ops.convert_to_tensor([[1.0, -2.0]])), axis=-1)
    >>> ops.convert_to_numpy(y).tolist()
    [5.0]
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from rnnkit import _ops
from rnnkit._tensor import Function, Tensor, array_of

__all__ = [
    "convert_to_tensor", "convert_to_numpy", "cast", "shape", "zeros", "ones", "zeros_like", "ones_like", "full",
    "eye", "arange", "add", "subtract", "multiply", "divide", "true_divide", "negative", "power", "square", "sqrt",
    "exp", "log", "abs", "absolute", "tanh", "sigmoid", "relu", "softmax", "log_softmax", "softplus", "maximum",
    "minimum", "clip", "matmul", "dot", "sum", "mean", "max", "min", "prod", "var", "std", "argmax", "reshape",
    "transpose", "swapaxes", "expand_dims", "squeeze", "concatenate", "stack", "split", "where", "take",
    "broadcast_to", "tile", "repeat", "logical_and", "logical_or", "logical_not", "equal", "not_equal", "greater",
    "greater_equal", "less", "less_equal", "sign", "round", "floor", "cumsum", "einsum", "stop_gradient",
]


def _t(x: Any) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if hasattr(x, "detach") and hasattr(x, "numpy"):
        return Tensor(x.detach().cpu().numpy())
    array = np.asarray(x)
    return Tensor(array.astype(np.float32) if array.dtype == np.float64 and not isinstance(x, np.ndarray) else array)


def _axis(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


def _data(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


# -- conversion and creation ------------------------------------------------------------------------
def convert_to_tensor(x: Any, dtype: Any = None, sparse: Any = None) -> Tensor:
    """A Tensor of ``x`` (Python floats become float32, as Keras)."""
    if sparse:
        raise ValueError("sparse: rnnkit has no sparse tensors")
    tensor = _t(x)
    return tensor if dtype is None else cast(tensor, dtype)


def convert_to_numpy(x: Any) -> np.ndarray:
    """An ndarray of ``x``."""
    return array_of(x)


def cast(x: Any, dtype: Any) -> Tensor:
    """``x`` as ``dtype`` (differentiable between float dtypes)."""
    x, dtype = _t(x), np.dtype(dtype)
    if x.dtype == dtype:
        return x
    return x.astype(dtype) if x.dtype.kind == "f" and dtype.kind == "f" else Tensor(array_of(x).astype(dtype))


def shape(x: Any) -> tuple:
    return tuple(_t(x).shape)


def zeros(shape: Sequence[int], dtype: Any = "float32") -> Tensor:
    return Tensor(np.zeros(tuple(shape), dtype))


def ones(shape: Sequence[int], dtype: Any = "float32") -> Tensor:
    return Tensor(np.ones(tuple(shape), dtype))


def full(shape: Sequence[int], fill_value: float, dtype: Any = "float32") -> Tensor:
    return Tensor(np.full(tuple(shape), fill_value, dtype))


def zeros_like(x: Any, dtype: Any = None) -> Tensor:
    return Tensor(np.zeros(shape(x), dtype or _t(x).dtype))


def ones_like(x: Any, dtype: Any = None) -> Tensor:
    return Tensor(np.ones(shape(x), dtype or _t(x).dtype))


def eye(n: int, m: int | None = None, dtype: Any = "float32") -> Tensor:
    return Tensor(np.eye(n, m, dtype=dtype))


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None) -> Tensor:
    return Tensor(np.arange(start, stop, step, dtype=dtype))


# -- elementwise --------------------------------------------------------------------------------------
def add(x1, x2):
    return _ops.add(_t(x1), _t(x2))


def subtract(x1, x2):
    return _ops.sub(_t(x1), _t(x2))


def multiply(x1, x2):
    return _ops.mul(_t(x1), _t(x2))


def divide(x1, x2):
    return _ops.div(_t(x1), _t(x2))


true_divide = divide


def negative(x):
    return _ops.neg(_t(x))


def power(x1, x2):
    return _ops.pow(_t(x1), x2 if isinstance(x2, (int, float)) else _t(x2))


def square(x):
    x = _t(x)
    return x * x


def sqrt(x):
    return _ops.sqrt(_t(x))


def exp(x):
    return _ops.exp(_t(x))


def log(x):
    return _ops.log(_t(x))


def abs(x):  # noqa: A001 - NumPy's name
    return _ops.abs(_t(x))


absolute = abs


def sign(x):
    return Tensor(np.sign(_data(x)))


def round(x, decimals: int = 0):  # noqa: A001 - NumPy's name
    return Tensor(np.round(_data(x), decimals))


def floor(x):
    return Tensor(np.floor(_data(x)))


def tanh(x):
    return _ops.tanh(_t(x))


def sigmoid(x):
    return _ops.sigmoid(_t(x))


def relu(x):
    return _ops.relu(_t(x))


def softplus(x):
    """``log(1 + exp(x))``, computed stably as ``relu(x) + log(1 + exp(-|x|))``."""
    x = _t(x)
    return _ops.relu(x) + _ops.log(1.0 + _ops.exp(-_ops.abs(x)))


def softmax(x, axis: int = -1):
    return _ops.softmax(_t(x), dim=axis)


def log_softmax(x, axis: int = -1):
    return _ops.log_softmax(_t(x), dim=axis)


def maximum(x1, x2):
    x1, x2 = _t(x1), _t(x2)
    return _ops.where(np.broadcast_to(x1.data >= x2.data, np.broadcast_shapes(x1.shape, x2.shape)), x1, x2)


def minimum(x1, x2):
    x1, x2 = _t(x1), _t(x2)
    return _ops.where(np.broadcast_to(x1.data <= x2.data, np.broadcast_shapes(x1.shape, x2.shape)), x1, x2)


def clip(x, x_min, x_max):
    return _ops.clamp(_t(x), x_min, x_max)


def stop_gradient(x):
    """A constant copy of ``x``: no gradient flows back through it."""
    return Tensor(array_of(_t(x)).copy())


# -- comparisons (constants) -------------------------------------------------------------------------
def logical_and(x1, x2):
    return Tensor(np.logical_and(_data(x1), _data(x2)))


def logical_or(x1, x2):
    return Tensor(np.logical_or(_data(x1), _data(x2)))


def logical_not(x):
    return Tensor(np.logical_not(_data(x)))


def equal(x1, x2):
    return Tensor(np.equal(_data(x1), _data(x2)))


def not_equal(x1, x2):
    return Tensor(np.not_equal(_data(x1), _data(x2)))


def greater(x1, x2):
    return Tensor(np.greater(_data(x1), _data(x2)))


def greater_equal(x1, x2):
    return Tensor(np.greater_equal(_data(x1), _data(x2)))


def less(x1, x2):
    return Tensor(np.less(_data(x1), _data(x2)))


def less_equal(x1, x2):
    return Tensor(np.less_equal(_data(x1), _data(x2)))


# -- linear algebra and reductions -------------------------------------------------------------------
def matmul(x1, x2):
    return _ops.matmul(_t(x1), _t(x2))


def dot(x1, x2):
    """NumPy's ``dot`` for vectors and matrices (and N-D @ 1-D / 2-D on the last axis)."""
    x1, x2 = _t(x1), _t(x2)
    if x1.ndim == 0 or x2.ndim == 0:
        return x1 * x2
    return _ops.matmul(x1, x2)


def einsum(subscripts: str, *operands):
    """``np.einsum`` on two operands or one, differentiable (through its transposed products)."""
    tensors = [_t(o) for o in operands]
    inputs = subscripts.replace(" ", "").split("->")[0].split(",")
    if any(len(set(s)) != len(s) for s in inputs):
        raise ValueError(f"einsum: an index repeated inside one operand (a trace or diagonal) is not "
                         f"differentiable here, got {subscripts!r}")
    values = np.einsum(subscripts, *[t.data for t in tensors])
    return _Einsum.apply(*tensors, subscripts=subscripts) if any(t.requires_grad for t in tensors) \
        else Tensor(values)


def sum(x, axis=None, keepdims: bool = False):  # noqa: A001 - NumPy's name
    return _ops.sum(_t(x), dim=_axis(axis), keepdim=keepdims)


def mean(x, axis=None, keepdims: bool = False):
    return _ops.mean(_t(x), dim=_axis(axis), keepdim=keepdims)


def var(x, axis=None, keepdims: bool = False):
    x = _t(x)
    centered = x - _ops.mean(x, dim=_axis(axis), keepdim=True)
    return _ops.mean(centered * centered, dim=_axis(axis), keepdim=keepdims)


def std(x, axis=None, keepdims: bool = False):
    return _ops.sqrt(var(x, axis, keepdims))


def max(x, axis=None, keepdims: bool = False):  # noqa: A001 - NumPy's name
    out = _ops.max(_t(x), dim=_axis(axis), keepdim=keepdims)
    return out[0] if isinstance(out, tuple) else out


def min(x, axis=None, keepdims: bool = False):  # noqa: A001 - NumPy's name
    out = _ops.min(_t(x), dim=_axis(axis), keepdim=keepdims)
    return out[0] if isinstance(out, tuple) else out


def prod(x, axis=None, keepdims: bool = False):
    """Product of the entries, as ``exp(sum(log|x|))`` with the sign restored (entries must be non-zero)."""
    x = _t(x)
    if np.any(x.data == 0):
        raise ValueError("prod: rnnkit's differentiable product needs non-zero entries")
    signs = np.prod(np.sign(x.data), axis=_axis(axis), keepdims=keepdims)
    return _ops.exp(_ops.sum(_ops.log(_ops.abs(x)), dim=_axis(axis), keepdim=keepdims)) * signs


def argmax(x, axis=None, keepdims: bool = False):
    return Tensor(np.argmax(_data(x), axis=axis, keepdims=keepdims))


def cumsum(x, axis=None):
    """Running sum along ``axis`` (flattened when None), as a product with a triangular matrix."""
    x = _t(x)
    if axis is None:
        x, axis = _ops.reshape(x, (-1,)), 0
    moved = _ops.transpose(x, axis, -1) if x.ndim > 1 else x
    n = moved.shape[-1]
    out = _ops.matmul(moved, Tensor(np.triu(np.ones((n, n), x.dtype))))
    return _ops.transpose(out, axis, -1) if x.ndim > 1 else out


# -- shapes -----------------------------------------------------------------------------------------------
def reshape(x, newshape):
    return _ops.reshape(_t(x), tuple(newshape))


def transpose(x, axes=None):
    x = _t(x)
    return _ops.permute(x, tuple(reversed(range(x.ndim))) if axes is None else tuple(axes))


def swapaxes(x, axis1, axis2):
    return _ops.transpose(_t(x), axis1, axis2)


def expand_dims(x, axis):
    return _ops.unsqueeze(_t(x), axis)


def squeeze(x, axis=None):
    return _ops.squeeze(_t(x), axis)


def concatenate(xs, axis: int = 0):
    return _ops.cat([_t(x) for x in xs], dim=axis)


def stack(xs, axis: int = 0):
    return _ops.stack([_t(x) for x in xs], dim=axis)


def split(x, indices_or_sections, axis: int = 0):
    """NumPy's split: a number of equal sections, or the indices to cut at."""
    x = _t(x)
    n = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if n % indices_or_sections:
            raise ValueError(f"split: {n} entries do not divide into {indices_or_sections} equal sections")
        return list(_ops.split(x, n // indices_or_sections, dim=axis))
    bounds = [0, *indices_or_sections, n]
    return list(_ops.split(x, [b - a for a, b in zip(bounds, bounds[1:])], dim=axis))


def where(condition, x1, x2):
    return _ops.where(_data(condition), _t(x1), _t(x2))


def take(x, indices, axis=None):
    x, indices = _t(x), np.asarray(_data(indices)).astype(np.int64)
    if axis is None:
        return _ops.reshape(x, (-1,))[indices]
    index = [slice(None)] * x.ndim
    index[axis] = indices
    return x[tuple(index)]


def broadcast_to(x, shape):
    return _ops.expand(_t(x), tuple(shape))


def tile(x, repeats):
    x = _t(x)
    reps = (repeats,) if isinstance(repeats, int) else tuple(repeats)
    if len(reps) > x.ndim:
        x = _ops.reshape(x, (1,) * (len(reps) - x.ndim) + tuple(x.shape))
    reps = (1,) * (x.ndim - len(reps)) + reps
    for axis, r in enumerate(reps):
        if r != 1:
            index = [slice(None)] * x.ndim
            index[axis] = np.tile(np.arange(x.shape[axis]), r)
            x = x[tuple(index)]
    return x


def repeat(x, repeats: int, axis=None):
    x = _t(x)
    if axis is None:
        x, axis = _ops.reshape(x, (-1,)), 0
    index = [slice(None)] * x.ndim
    index[axis] = np.repeat(np.arange(x.shape[axis]), repeats)
    return x[tuple(index)]


class _Einsum(Function):
    """``np.einsum``; the gradient of each operand is the einsum of the output gradient with the other
    operands, broadcast over the indices only that operand carried."""

    def forward(self, *arrays, subscripts):
        spec = subscripts.replace(" ", "")
        inputs, output = spec.split("->") if "->" in spec else (spec, None)
        letters = inputs.replace(",", "")
        self.inputs = inputs.split(",")
        self.output = output if output is not None else "".join(sorted(c for c in set(letters)
                                                                       if letters.count(c) == 1))
        self.arrays = arrays
        return np.einsum(f"{inputs}->{self.output}", *arrays)

    def backward(self, g):
        grads = []
        for i, (spec, array) in enumerate(zip(self.inputs, self.arrays)):
            others = [(s, a) for j, (s, a) in enumerate(zip(self.inputs, self.arrays)) if j != i]
            present = self.output + "".join(s for s, _ in others)
            kept = "".join(dict.fromkeys(c for c in spec if c in present))
            grad = np.einsum(",".join([self.output] + [s for s, _ in others]) + "->" + kept, g,
                             *[a for _, a in others])
            for axis, c in enumerate(spec):  # indices only this operand carried: the gradient is constant there
                if c not in present:
                    grad = np.expand_dims(grad, axis)
            grads.append(np.broadcast_to(grad, array.shape).astype(array.dtype))
        return tuple(grads) if len(grads) > 1 else grads[0]
