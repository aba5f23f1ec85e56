"""Tensor factories with PyTorch's names, keywords (``dtype=``, ``device=``, ``requires_grad=``,
``generator=``) and default dtypes (the default float dtype for floats, int64 for integers).

``empty`` returns zeros: rnnkit never hands out uninitialised memory.

Example:
    >>> import rnnkit
    >>> rnnkit.zeros(2, 3).dtype, rnnkit.arange(3).dtype, rnnkit.randint(0, 5, (2,)).dtype
    (rnnkit.float32, rnnkit.int64, rnnkit.int64)
    >>> x = rnnkit.ones(2, dtype=rnnkit.long)
    >>> x.new_zeros(3)
    tensor([0, 0, 0])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit._dtype import float_dtype, to_device, to_dtype
from rnnkit._generator import numpy_generator
from rnnkit._tensor import Size, Tensor, _shape_args, _to_array

__all__ = [
    "zeros", "ones", "full", "empty", "randn", "rand", "randint", "randperm", "arange", "linspace", "eye",
    "zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like", "randint_like",
    "from_numpy", "new_zeros", "new_ones", "new_full", "new_empty", "new_tensor", "FloatTensor",
    "DoubleTensor", "LongTensor", "IntTensor", "ShortTensor", "CharTensor", "BoolTensor", "ByteTensor", "HalfTensor",
]


def _make(array: np.ndarray, requires_grad: bool, device: Any, shape: tuple = ()) -> Tensor:
    """``array`` as a Tensor; when ``shape`` holds a size read from a traced tensor (rnnkit.onnx's export),
    its tracer makes the tensor, so the size stays an expression of the graph's inputs."""
    to_device(device)
    for n in shape:
        if getattr(n, "_traced_by", None) is not None:
            return n._traced_by.fill(array, shape)
    return Tensor._wrap(array, requires_grad=requires_grad)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, out: Any = None) -> Tensor:
    _no_out(out)
    shape = _shape_args(size, allow_infer=False)
    return _make(np.zeros(shape, float_dtype(dtype)), requires_grad, device, shape)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, out: Any = None) -> Tensor:
    _no_out(out)
    shape = _shape_args(size, allow_infer=False)
    return _make(np.ones(shape, float_dtype(dtype)), requires_grad, device, shape)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, out: Any = None) -> Tensor:
    """Zeros (rnnkit never hands out uninitialised memory)."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad, out=out)


def _fill_dtype(fill_value: Any) -> np.dtype:
    """torch.full's dtype inference: bool, int64 or the default float dtype."""
    kind = np.asarray(_to_array(fill_value) if isinstance(fill_value, Tensor) else fill_value).dtype.kind
    return np.dtype(bool) if kind == "b" else np.dtype(np.int64) if kind in "iu" else float_dtype()


def full(size: Any, fill_value: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    resolved = to_dtype(dtype).dtype if dtype is not None else _fill_dtype(fill_value)
    shape = _shape_args((size,), allow_infer=False)
    return _make(np.full(shape, fill_value, resolved), requires_grad, device, shape)


def rand(*size: Any, generator: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform draws from [0, 1)."""
    shape = _shape_args(size, allow_infer=False)
    array = numpy_generator(generator).random(shape).astype(float_dtype(dtype))
    return _make(array, requires_grad, device, shape)


def randn(*size: Any, generator: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal draws."""
    shape = _shape_args(size, allow_infer=False)
    array = numpy_generator(generator).standard_normal(shape).astype(float_dtype(dtype))
    return _make(array, requires_grad, device, shape)


def randint(*args: Any, generator: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Integers drawn uniformly from [low, high): ``randint(high, size)`` or ``randint(low, high, size)``."""
    if len(args) == 2:
        low, (high, size) = 0, args
    elif len(args) == 3:
        low, high, size = args
    else:
        raise TypeError(f"randint: expected (high, size) or (low, high, size), got {len(args)} arguments")
    if high <= low:
        raise RuntimeError(f"randint: expected low < high, got low={low}, high={high}")
    resolved = np.dtype(np.int64) if dtype is None else to_dtype(dtype).dtype
    array = numpy_generator(generator).integers(int(low), int(high), _shape_args((size,), allow_infer=False)).astype(resolved)
    return _make(array, requires_grad, device)


def randperm(n: int, generator: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A random permutation of 0..n-1."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise RuntimeError(f"randperm(n): expected a non-negative int, got {n!r}")
    resolved = np.dtype(np.int64) if dtype is None else to_dtype(dtype).dtype
    return _make(numpy_generator(generator).permutation(int(n)).astype(resolved), requires_grad, device)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """``start, start+step, ...`` below ``end``; int64 when every bound is an int, else the default float dtype."""
    if end is None:
        start, end = 0, start
    bounds = [float(x) if isinstance(x, Tensor) else x for x in (start, end, step)]
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if dtype is None:
        integral = all(isinstance(x, (int, np.integer)) for x in bounds)
        resolved = np.dtype(np.int64) if integral else float_dtype()
    else:
        resolved = to_dtype(dtype).dtype
    return _make(np.arange(*bounds, dtype=np.float64 if resolved.kind == "f" else None).astype(resolved), requires_grad, device)


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    return _make(np.linspace(start, end, int(steps)).astype(float_dtype(dtype)), requires_grad, device)


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.eye(n, m, dtype=float_dtype(dtype)), requires_grad, device)


def _like(t: Any, dtype: Any) -> tuple[tuple[int, ...], np.dtype]:
    array = t._array if isinstance(t, Tensor) else np.asarray(t)
    return array.shape, array.dtype if dtype is None else to_dtype(dtype).dtype


def zeros_like(t: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    shape, resolved = _like(t, dtype)
    return _make(np.zeros(shape, resolved), requires_grad, device)


def ones_like(t: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    shape, resolved = _like(t, dtype)
    return _make(np.ones(shape, resolved), requires_grad, device)


def empty_like(t: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return zeros_like(t, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(t: Any, fill_value: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    shape, resolved = _like(t, dtype)
    return _make(np.full(shape, fill_value, resolved), requires_grad, device)


def rand_like(t: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, generator: Any = None) -> Tensor:
    shape, resolved = _like(t, dtype)
    return _make(numpy_generator(generator).random(shape).astype(resolved), requires_grad, device)


def randn_like(t: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, generator: Any = None) -> Tensor:
    shape, resolved = _like(t, dtype)
    return _make(numpy_generator(generator).standard_normal(shape).astype(resolved), requires_grad, device)


def randint_like(t: Any, low: int, high: int | None = None, dtype: Any = None, device: Any = None,
                 generator: Any = None) -> Tensor:
    if high is None:
        low, high = 0, low
    shape, resolved = _like(t, dtype)
    return _make(numpy_generator(generator).integers(low, high, shape).astype(resolved), False, device)


def new_zeros(t: Tensor, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with ``t``'s dtype (unless given), as ``Tensor.new_zeros``."""
    return zeros(*size, dtype=t.dtype if dtype is None else dtype, device=device, requires_grad=requires_grad)


def new_ones(t: Tensor, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return ones(*size, dtype=t.dtype if dtype is None else dtype, device=device, requires_grad=requires_grad)


def new_empty(t: Tensor, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return new_zeros(t, *size, dtype=dtype, device=device, requires_grad=requires_grad)


def new_full(t: Tensor, size: Any, fill_value: Any, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    return full(size, fill_value, dtype=t.dtype if dtype is None else dtype, device=device, requires_grad=requires_grad)


def new_tensor(t: Tensor, data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A copy of ``data`` with ``t``'s dtype (unless given)."""
    to_device(device)
    array = np.array(_to_array(data, t.dtype if dtype is None else dtype), copy=True)
    return Tensor._wrap(array, requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """Wrap an ndarray without copying, keeping its dtype."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy(array): expected np.ndarray, got {type(array).__name__}")
    return Tensor._wrap(_to_array(array))


def _no_out(out: Any) -> None:
    if out is not None:
        raise TypeError("out=: rnnkit's factories return new tensors; assign the result instead of passing out=")


class _TensorType(type):
    """The class of the legacy tensor types (``torch.tensortype``): ``FloatTensor`` and the rest.

    ``isinstance(t, FloatTensor)`` is true for a tensor of that dtype (rnnkit's tensors are all on
    the CPU), and calling the type builds a tensor from data (``LongTensor([1, 2])``) or zeros of
    a shape (``FloatTensor(2, 3)``), as torch.

    Example:
        >>> import rnnkit
        >>> t = rnnkit.LongTensor([1, 2])
        >>> isinstance(t, rnnkit.LongTensor), isinstance(t, rnnkit.FloatTensor), t.type()
        (True, False, 'torch.LongTensor')
        >>> rnnkit.FloatTensor(2, 3).shape, t.type(rnnkit.FloatTensor).dtype
        ((2, 3), rnnkit.float32)
    """

    dtype: Any
    is_cuda = False

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype

    def __call__(cls, *data: Any, device: Any = None) -> Tensor:
        to_device(device)
        if len(data) == 1 and not isinstance(data[0], (int, np.integer, Size)):  # data, not a shape
            source = data[0]
            if isinstance(source, Tensor) and source.dtype != cls.dtype:
                raise TypeError(f"{cls.__name__}(data): expected a tensor of dtype {cls.dtype}, got {source.dtype} "
                                f"(use data.to({cls.dtype}))")
            if not isinstance(source, (Tensor, np.ndarray, list, tuple)):
                raise TypeError(f"{cls.__name__}(data): data must be a sequence (got {type(source).__name__})")
            array = _to_array(source, cls.dtype)
            if array.dtype.kind not in "biuf":
                raise TypeError(f"{cls.__name__}(data): invalid data type {array.dtype}")
            return Tensor._wrap(np.array(array, copy=True))
        shape = _shape_args(data, allow_infer=False) if data else (0,)  # FloatTensor() is empty, as torch
        return Tensor._wrap(np.zeros(shape, cls.dtype.dtype))

    def __repr__(cls) -> str:
        return f"<class 'rnnkit.{cls.__name__}'>"


def _tensor_type(dtype: Any, name: str) -> _TensorType:
    doc = f"Legacy ``torch.{name}``: the type of CPU tensors of dtype {to_dtype(dtype)}, and their constructor."
    return _TensorType(name, (), {"dtype": to_dtype(dtype), "__doc__": doc, "__module__": __name__})


FloatTensor = _tensor_type("float32", "FloatTensor")
DoubleTensor = _tensor_type("float64", "DoubleTensor")
HalfTensor = _tensor_type("float16", "HalfTensor")
LongTensor = _tensor_type("int64", "LongTensor")
IntTensor = _tensor_type("int32", "IntTensor")
ShortTensor = _tensor_type("int16", "ShortTensor")
CharTensor = _tensor_type("int8", "CharTensor")
BoolTensor = _tensor_type("bool", "BoolTensor")
ByteTensor = _tensor_type("uint8", "ByteTensor")
