"""The ONNX form of each tensor op, for :mod:`rnnkit.onnx._trace`.

``OPS`` maps an op's :class:`~rnnkit._tensor.Function` class to ``emit(t, xs, outs, **kwargs)``:
``t`` the :class:`~rnnkit.onnx._trace.Tracer`, ``xs`` the inputs as :class:`Sym` values,
``outs`` the op's outputs computed on the example (for ranks and dtypes), ``kwargs`` the
op's own arguments (sizes in them may be :class:`~rnnkit.onnx._trace.SymInt`, see
``t.is_size``). It returns the ONNX value name of each output. The semantics are NumPy's on
both sides (broadcasting, ``matmul``, basic indexing), so most ops map to one node::

    Add Sub Mul Div Pow MatMul Neg Exp Log Tanh Sigmoid Relu Abs Sqrt ...   same-named node
    Reshape (view, flatten, squeeze, unsqueeze)   Reshape; -1 stays -1, x.size(i) -> Gather(Shape(x), i)
    Permute (permute, transpose, t)                Transpose
    GetItem x[i, a:b, None, ...]                   Gather (ints, int arrays), Slice, Unsqueeze
    linear                                         MatMul with W^T, Add b
    log1p, expm1, rsqrt                            Log(1 + x), Exp(x) - 1, 1 / Sqrt(x)

Example:
    >>> from rnnkit._ops import Tanh
    >>> Tanh in OPS
    True
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from rnnkit import _indexing, _linalg, _ops
from rnnkit.nn import functional as F
from rnnkit.onnx._graph import Sym
from rnnkit.onnx._nn import gelu, linear

__all__ = ["OPS"]

OPS: dict[type, Callable] = {}
_INT64_MAX, _INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


def _same(op: str) -> Callable:
    """An op whose ONNX node of the same semantics takes the same inputs."""
    return lambda t, xs, outs, **kw: t.g.op(op, [x.name for x in xs])


for _cls, _op in {_ops.Add: "Add", _ops.Sub: "Sub", _ops.Mul: "Mul", _ops.Div: "Div", _ops.MatMul: "MatMul",
                  _ops.Neg: "Neg", _ops.Exp: "Exp", _ops.Log: "Log", _ops.Tanh: "Tanh", _ops.Sigmoid: "Sigmoid",
                  _ops.Relu: "Relu", _ops.Abs: "Abs", _ops.Sqrt: "Sqrt", _ops.Sin: "Sin", _ops.Cos: "Cos",
                  _ops.Reciprocal: "Reciprocal", _ops.Sign: "Sign", _ops.Floor: "Floor", _ops.Ceil: "Ceil",
                  _ops.Round: "Round", _ops.Clone: "Identity"}.items():
    OPS[_cls] = _same(_op)


def _scalar(t: Any, value: Any, like: np.ndarray) -> str:
    return t.g.const(np.asarray(value, like.dtype))


def _emits(cls: type) -> Callable[[Callable], Callable]:
    def decorate(fn: Callable) -> Callable:
        OPS[cls] = fn
        return fn
    return decorate


@_emits(_ops.Log1p)
def _log1p(t, xs, outs):
    return t.g.op("Log", [t.g.op("Add", [xs[0].name, _scalar(t, 1, outs[0])])])


@_emits(_ops.Expm1)
def _expm1(t, xs, outs):
    return t.g.op("Sub", [t.g.op("Exp", [xs[0].name]), _scalar(t, 1, outs[0])])


@_emits(_ops.Rsqrt)
def _rsqrt(t, xs, outs):
    return t.g.op("Reciprocal", [t.g.op("Sqrt", [xs[0].name])])


@_emits(_ops.Pow)
def _pow(t, xs, outs, exponent):
    return t.g.op("Pow", [xs[0].name, _scalar(t, exponent, outs[0])])


@_emits(_ops.Clamp)
def _clamp(t, xs, outs, lo=None, hi=None):
    bounds = ["" if b is None else _scalar(t, b, outs[0]) for b in (lo, hi)]
    while bounds and bounds[-1] == "":
        bounds.pop()
    return t.g.op("Clip", [xs[0].name, *bounds])


@_emits(_ops.Cast)
def _cast(t, xs, outs, dtype):
    from onnx import helper

    return t.g.op("Cast", [xs[0].name], to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


def _reduce(t, op: str, x: Sym, axes, keepdim: bool) -> str:
    """ReduceSum/Mean/Max/Min/Prod/L2 over ``axes`` (None: all); the axes are an input from opset 18 (13 for Sum)."""
    axes = list(range(x.rank)) if axes is None else list(axes)
    if t.g.opset >= (13 if op == "ReduceSum" else 18):
        return t.g.op(op, [x.name, t.g.ints(axes)], keepdims=int(keepdim))
    return t.g.op(op, [x.name], axes=axes, keepdims=int(keepdim))


@_emits(_ops.Sum)
def _sum(t, xs, outs, axes=None, keepdim=False):
    return _reduce(t, "ReduceSum", xs[0], axes, keepdim)


@_emits(_ops.Mean)
def _mean(t, xs, outs, axes=None, keepdim=False):
    return _reduce(t, "ReduceMean", xs[0], axes, keepdim)


@_emits(_ops.Prod)
def _prod(t, xs, outs, axes=None, keepdim=False):
    return _reduce(t, "ReduceProd", xs[0], axes, keepdim)


@_emits(_ops.Extreme)
def _extreme(t, xs, outs, axes=None, keepdim=False, largest=True):
    return _reduce(t, "ReduceMax" if largest else "ReduceMin", xs[0], axes, keepdim)


@_emits(_linalg.Norm2)
def _norm(t, xs, outs, axes=None, keepdim=False):
    return _reduce(t, "ReduceL2", xs[0], axes, keepdim)


@_emits(_linalg.Einsum)
def _einsum(t, xs, outs, inputs, output):
    return t.g.op("Einsum", [x.name for x in xs], equation=f"{','.join(inputs)}->{output}")


@_emits(_ops.Softmax)
def _softmax(t, xs, outs, dim):
    return t.g.op("Softmax", [xs[0].name], axis=int(dim))


@_emits(_ops.LogSoftmax)
def _log_softmax(t, xs, outs, dim):
    return t.g.op("LogSoftmax", [xs[0].name], axis=int(dim))


@_emits(_ops.Cumsum)
def _cumsum(t, xs, outs, dim):
    return t.g.op("CumSum", [xs[0].name, t.g.const(np.asarray(dim, np.int64))])


@_emits(_ops.Triangle)
def _triangle(t, xs, outs, diagonal, lower):
    return t.g.op("Trilu", [xs[0].name, t.g.const(np.asarray(diagonal, np.int64))], upper=int(not lower))


@_emits(_ops.Reshape)
def _reshape(t, xs, outs, shape):
    """``view``/``reshape``/``squeeze``/``unsqueeze``/``flatten``: sizes read from tensors stay expressions."""
    return t.g.op("Reshape", [xs[0].name, t.shape(shape)])


@_emits(_ops.Expand)
def _expand(t, xs, outs, shape):
    return t.g.op("Expand", [xs[0].name, t.shape(shape)])


@_emits(_ops.Permute)
def _permute(t, xs, outs, order):
    return t.g.op("Transpose", [xs[0].name], perm=[int(o) for o in order])


@_emits(_ops.Concat)
def _concat(t, xs, outs, dim=0):
    return t.g.op("Concat", [x.name for x in xs], axis=int(dim))


@_emits(_ops.Where)
def _where(t, xs, outs, condition):
    return t.g.op("Where", [t.const(np.asarray(condition, bool)), xs[0].name, xs[1].name])


@_emits(_indexing.Tile)
def _tile(t, xs, outs, reps):
    x, reps = xs[0].name, [int(r) for r in reps]
    if len(reps) > xs[0].rank:  # torch's repeat adds leading axes
        x = t.g.op("Unsqueeze", [x, t.g.ints(list(range(len(reps) - xs[0].rank)))])
    return t.g.op("Tile", [x, t.g.ints(reps)])


@_emits(_indexing.Gather)
def _gather(t, xs, outs, index, dim):
    return t.g.op("GatherElements", [xs[0].name, t.const(np.asarray(index, np.int64))], axis=int(dim))


@_emits(F._Linear)
def _linear(t, xs, outs):
    """x W^T + b: a constant W is stored transposed."""
    weight, bias = t.constant_of(xs[1]), t.constant_of(xs[2]) if len(xs) > 2 else None
    if weight is not None and (len(xs) < 3 or bias is not None):
        return linear(t.g, xs[0], weight, bias).name
    y = t.g.op("MatMul", [xs[0].name, t.g.op("Transpose", [xs[1].name], perm=[1, 0])])
    return y if len(xs) < 3 else t.g.op("Add", [y, xs[2].name])


@_emits(F._Embedding)
def _embedding(t, xs, outs, indices, padding_idx=None):
    return t.g.op("Gather", [xs[0].name, t.const(np.asarray(indices, np.int64))], axis=0)


@_emits(F._GELU)
def _gelu(t, xs, outs, approximate):
    return gelu(t.g, xs[0], approximate).name


@_emits(_ops.GetItem)
def _getitem(t, xs, outs, index):
    """Basic indexing (ints, slices, None, Ellipsis) and one integer-array index, as NumPy."""
    items = [np.asarray(i) if isinstance(i, list) else i for i in (index if isinstance(index, tuple) else [index])]
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    if any(i is Ellipsis for i in items):
        at = next(k for k, i in enumerate(items) if i is Ellipsis)
        items[at:at + 1] = [slice(None)] * (xs[0].rank - consumed)
    arrays = [i for i in items if isinstance(i, np.ndarray) and i.ndim > 0]
    if len(arrays) > 1 or any(a.dtype.kind == "b" for a in arrays):
        raise ValueError(f"rnnkit.onnx.export: indexing with {len(arrays)} index arrays or a boolean mask, in "
                         f"{t.where()}, has no ONNX form in rnnkit; index one axis at a time (index_select)")
    g, value, axis = t.g, xs[0].name, 0
    for item in items:
        if item is None:
            value = g.op("Unsqueeze", [value, g.ints([axis])])
            axis += 1
        elif isinstance(item, slice):
            if item != slice(None):
                step = 1 if item.step is None else item.step
                start = item.start if item.start is not None else 0 if step > 0 else _INT64_MAX
                stop = item.stop if item.stop is not None else _INT64_MAX if step > 0 else _INT64_MIN
                value = g.op("Slice", [value, t.dim(start), t.dim(stop), g.ints([axis]), g.ints([int(step)])])
            axis += 1
        elif isinstance(item, np.ndarray) and item.ndim > 0:
            value = g.op("Gather", [value, t.const(item.astype(np.int64))], axis=axis)
            axis += item.ndim
        elif t.is_size(item):  # a size read from a tensor: the axis goes
            value = g.op("Squeeze", [g.op("Gather", [value, t.dim(item)], axis=axis), g.ints([axis])])
        else:  # an int (or a 0-d array): the axis goes
            value = g.op("Gather", [value, g.const(np.asarray(int(item), np.int64))], axis=axis)
    return value if value != xs[0].name else g.op("Identity", [value])
