"""A small reverse-mode autograd: ``Tensor``, ``Function`` and the engine.

The design follows micrograd and tinygrad's 2023 ``mlops.py``: every operation is a
``Function`` subclass whose ``forward`` works on ndarrays and saves exactly what its
``backward`` needs; the engine is a topological sort of the functions that made a
tensor, then one loop in reverse order. A whole recurrent layer is a single
``Function`` with a hand-written backward (see :mod:`rnnkit._recurrent`), so no
per-step graph is ever built.

As in PyTorch, ``t.data`` and ``t.grad`` are Tensors sharing memory with ``t``'s values
and gradient; every tensor carries a version counter (shared with its views) that
in-place operations bump, and ``backward`` refuses to use a saved tensor whose version
changed since it was saved.

Example:
    >>> import rnnkit
    >>> x = rnnkit.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    tensor([[2., 4.],
            [6., 8.]])
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from rnnkit._dtype import device as _device_type
from rnnkit._dtype import dtype_from_type_name, float_dtype, to_device, to_dtype, type_name
from rnnkit._generator import numpy_generator
from rnnkit._grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled

__all__ = [
    "Tensor", "Function", "Size", "tensor", "as_tensor", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
]

_CPU = _device_type("cpu")


def _ragged(data: Any) -> str | None:
    """Where nested sequences have unequal lengths, in torch's words (None when they do not)."""
    level, dim = [data], 0
    while level and all(isinstance(item, (list, tuple)) for item in level):
        lengths = [len(item) for item in level]
        bad = next((n for n in lengths if n != lengths[0]), None)
        if bad is not None:
            return f"expected sequence of length {lengths[0]} at dim {dim} (got {bad})"
        level, dim = [child for item in level for child in item], dim + 1
    if any(isinstance(item, (list, tuple)) for item in level):
        return f"expected sequences or numbers throughout dim {dim}, got a mix of both"
    return None


def array_of(x: Any) -> np.ndarray:
    """The ndarray behind a Tensor (shared memory, whether or not it requires grad), else ``np.asarray(x)``.

    rnnkit's own code reads values through this accessor: ``Tensor.numpy()`` refuses a tensor
    that requires grad, as torch's does, which is a rule for users, not for the library.

    Example:
        >>> t = tensor([1.0, 2.0], requires_grad=True)
        >>> array_of(t).tolist(), array_of([3, 4]).tolist()
        ([1.0, 2.0], [3, 4])
    """
    return x._array if isinstance(x, Tensor) else np.asarray(x)


def as_ndarray(data: Any, name: str) -> np.ndarray:
    """``np.asarray(data)``, with a clear ValueError naming ``name`` for ragged nested lists."""
    try:
        return np.asarray(data)
    except ValueError:
        where = _ragged(data)
        if where is None:
            raise
        raise ValueError(f"{name}: {where}") from None


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert ``data`` to an ndarray with PyTorch's default dtypes (the default float dtype for Python floats)."""
    if isinstance(data, Tensor):
        data = data._array
    if dtype is not None:
        dtype = to_dtype(dtype).dtype
    if isinstance(data, np.ndarray):
        array = data if dtype is None else data.astype(dtype, copy=False)
    else:
        array = as_ndarray(data, "tensor(data)")
        if dtype is not None:
            array = array.astype(dtype, copy=False)
        elif array.dtype == np.float64 and not isinstance(data, np.generic):
            array = array.astype(float_dtype())
    if array.dtype.kind not in "fiub":
        raise TypeError(f"tensor(data): expected numbers, got an array of dtype {array.dtype}")
    to_dtype(array.dtype, "tensor(data)")  # a dtype rnnkit names (not float128, uint32, ...)
    return array


class Size(tuple):
    """A tensor's shape, as ``torch.Size``: a tuple of ints that also knows its element count."""

    def numel(self) -> int:
        count = 1
        for n in self:
            count *= n
        return count

    # repr stays a plain tuple's, (2, 3): messages and printed shapes read as before


class _Version:
    """The version counter that a tensor shares with its views; in-place operations bump it."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class Function:
    """One differentiable operation.

    Subclasses implement ``forward(self, *arrays, **kwargs)`` returning an ndarray (or a
    tuple of ndarrays for several outputs) and ``backward(self, *grad_outputs)`` returning
    one gradient per tensor input (``None`` where an input needs none). Tensors passed to
    :meth:`apply` become inputs; keyword arguments are constants. Inputs or outputs that
    ``forward`` saves are checked at backward: if an in-place operation changed them since,
    backward raises, as PyTorch's version counter does.
    """

    arithmetic = True  # forward computes values (inf and nan come out as values, unwarned); False: views only

    def __init__(self, *parents: Tensor):
        self.needs_input_grad = tuple(p.requires_grad for p in parents)
        # where each input's gradient goes, fixed now: a later in-place op gives the tensor a new history
        self.edges = tuple((p._ctx, p._index) for p in parents)
        # what backward checks each input's gradient against; the inputs themselves are not kept (as
        # torch's graph keeps none), so an intermediate nobody saved is freed as soon as it is unused
        self.input_meta = tuple((p._array.shape, p._array.dtype) for p in parents)
        # the leaves that take a gradient (torch's AccumulateGrad nodes hold their variable likewise)
        self.leaves = {i: p for i, p in enumerate(parents) if p._ctx is None and p.requires_grad}
        self.saved: tuple | None = ()
        # set by the engine just before backward: will ``saved`` be kept after it (retain_graph)?
        # When False, a backward may reuse the saved buffers for its gradients.
        self.retain_saved = True
        self._outputs: list[tuple[tuple[int, ...], np.dtype]] = []
        self._versions: list[tuple[_Version, int, tuple]] = []  # saved tensors' counters, versions, (dtype, shape)
        self._retained: dict[int, Tensor] = {}  # outputs whose .grad backward keeps (retain_grad)

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved = arrays

    def forward(self, *arrays: np.ndarray, **kwargs: Any):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, *grad_outputs: np.ndarray):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **kwargs: Any):
        for x in inputs:  # a tensor being traced (rnnkit.onnx) has the op recorded instead
            if isinstance(x, Tensor) and x._traced_by is not None:
                return x._traced_by.record(cls, inputs, kwargs)
        parents = tuple([x if isinstance(x, Tensor) else Tensor._wrap(_to_array(x)) for x in inputs])
        if is_grad_enabled() and any([p.requires_grad for p in parents]):
            ctx = cls(*parents)
        else:  # nothing to record: only what forward may read (the graph's bookkeeping costs microseconds)
            ctx = cls.__new__(cls)
            ctx.needs_input_grad, ctx.saved = (False,) * len(parents), ()
        if cls.arithmetic:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # inf and nan as values, as torch
                result = ctx.forward(*(p._array for p in parents), **kwargs)
        else:
            result = ctx.forward(*(p._array for p in parents), **kwargs)
        track = any(ctx.needs_input_grad)  # (all False unless grad mode is on)
        outputs = result if isinstance(result, tuple) else (result,)
        tensors = []
        for index, array in enumerate(outputs):
            out = Tensor._wrap(np.asarray(array), requires_grad=track)
            for parent in parents:  # a view shares its base's memory and version counter
                if out._array.base is not None and np.may_share_memory(out._array, parent._array):
                    out._view_of(parent)
                    break
            if track:
                out._ctx, out._index = ctx, index
            tensors.append(out)
        if track:
            ctx._outputs = [(t._array.shape, t._array.dtype) for t in tensors]
            saved_ids = {id(a) for a in ctx.saved if isinstance(a, np.ndarray)}
            ctx._versions = [
                (t._version, t._version.value, (t._array.dtype, t._array.shape))  # described only on error
                for t in (*parents, *tensors)
                if id(t._array) in saved_ids
            ]
        else:
            ctx.saved = ()
        return tuple(tensors) if isinstance(result, tuple) else tensors[0]


def _method(name: str, doc: str | None = None):
    """A Tensor method that calls the functional op of the same name (``x.sum(1)`` is ``rnnkit.sum(x, 1)``)."""

    def method(self, *args: Any, **kwargs: Any):
        return getattr(_ops(), name)(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = doc or f"See :func:`rnnkit.{name}`."
    return method


def _inplace(name: str):
    """The in-place form ``x.name_(...)`` of the op ``name``: computed out of place, then written into ``x``."""

    def method(self, *args: Any, **kwargs: Any):
        return self._assign(lambda old: getattr(_ops(), name)(old, *args, **kwargs), f"{name}_")

    method.__name__ = method.__qualname__ = f"{name}_"
    method.__doc__ = f"In-place :func:`rnnkit.{name}`; returns ``self``."
    return method


class Tensor:
    """An ndarray that records the operations applied to it, as ``torch.Tensor``.

    Args:
        data: array-like; Python numbers become the default float dtype (float32), as
            ``torch.Tensor``. An ndarray keeps its dtype (as ``torch.from_numpy``). Several
            integers instead (``Tensor(1, 10, 5)``, as ``torch.Tensor(1, 10, 5)``) make a
            tensor of that shape, filled with zeros rather than left uninitialised.
        requires_grad: record operations so that :meth:`backward` fills ``.grad``.
        dtype: optional dtype (``rnnkit.float64``, ``np.float64``, ...).
        device: ``"cpu"`` or None; anything else raises.
    """

    __array_priority__ = 1000  # so ndarray <op> Tensor dispatches to Tensor
    _traced_by: Any = None  # the tracer recording the ops on this tensor (rnnkit.onnx's export), None for others
    # a new tensor's graph links, read here until set on it (each tensor made pays only for what it sets)
    _grad: Tensor | None = None  # the accumulated gradient
    _ctx: Function | None = None  # the op that made it (None: a leaf)
    _index = 0  # which of that op's outputs it is
    _base: Tensor | None = None  # the root tensor of a view (None: not a view)

    def __init__(self, *data: Any, requires_grad: bool = False, dtype: Any = None, device: Any = None):
        to_device(device)
        if len(data) == 1 and not isinstance(data[0], (int, np.integer)):
            source = data[0]
            if dtype is None and not isinstance(source, (np.ndarray, Tensor, np.generic)):
                array = _to_array(source, float_dtype())  # torch.Tensor(data) is always the default float dtype
            else:
                array = _to_array(source, dtype)
        elif data and all(isinstance(n, (int, np.integer)) and n >= 0 for n in data):
            array = np.zeros(data, dtype=float_dtype(dtype))
        elif not data:
            array = np.zeros(0, dtype=float_dtype(dtype))
        else:
            raise TypeError(f"Tensor(): expected array-like data or a shape of non-negative ints, got {data!r}")
        self._init(array, requires_grad)

    def _init(self, array: np.ndarray, requires_grad: bool) -> None:
        if requires_grad and array.dtype.kind != "f":
            raise RuntimeError(
                f"requires_grad: only floating-point tensors can require gradients, got dtype {array.dtype}"
            )
        self._array: np.ndarray = array
        self.requires_grad = bool(requires_grad)
        self._version = _Version()

    def _view_of(self, base: Tensor) -> None:
        """Make this tensor a view of ``base``: one version counter, and the same root tensor."""
        self._version, self._base = base._version, base._base if base._base is not None else base

    @classmethod
    def _wrap(cls, array: np.ndarray, requires_grad: bool = False) -> Tensor:
        """A Tensor around ``array`` itself (no copy, no dtype change)."""
        out = Tensor.__new__(Tensor)
        out._init(array, requires_grad)
        return out

    # -- values, gradient and version ----------------------------------------
    @property
    def data(self) -> Tensor:
        """A Tensor sharing this tensor's memory, outside the graph (changes to it are not tracked)."""
        return Tensor._wrap(self._array)

    @data.setter
    def data(self, value: Any) -> None:
        self._array = value._array if isinstance(value, Tensor) else _to_array(value)

    @property
    def grad(self) -> Tensor | None:
        """The gradient that :meth:`backward` accumulated (a Tensor of this shape), or None."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"grad: expected a Tensor or None, got {type(value).__name__}")
            if value.shape != self.shape:
                raise RuntimeError(f"grad: assigned grad has shape {value.shape}, expected {self.shape}")
            if value._array.dtype != self._array.dtype:
                raise RuntimeError(f"grad: assigned grad has dtype {value.dtype}, expected {self.dtype}")
        self._grad = value

    @property
    def _version_value(self) -> int:
        return self._version.value

    # -- basic properties -------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._array.shape)

    @property
    def dtype(self):
        return to_dtype(self._array.dtype)

    @property
    def device(self) -> _device_type:
        return _CPU

    is_cuda = False
    is_sparse = False
    is_quantized = False

    @property
    def ndim(self) -> int:
        return self._array.ndim

    def dim(self) -> int:
        return self._array.ndim

    ndimension = dim

    def size(self, dim: int | None = None):
        if dim is None:
            return Size(self._array.shape)
        if not -max(self.ndim, 1) <= dim < max(self.ndim, 1):
            raise IndexError(f"size(dim): expected a dimension in [{-self.ndim}, {self.ndim - 1}], got {dim}")
        return self._array.shape[dim]

    def numel(self) -> int:
        return int(self._array.size)

    nelement = numel

    def element_size(self) -> int:
        return self._array.itemsize

    def stride(self, dim: int | None = None):
        strides = tuple(s // self._array.itemsize for s in self._array.strides)
        return strides if dim is None else strides[dim]

    def is_contiguous(self) -> bool:
        return bool(self._array.flags.c_contiguous)

    def is_floating_point(self) -> bool:
        return self._array.dtype.kind == "f"

    def data_ptr(self) -> int:
        return self._array.__array_interface__["data"][0]

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self) -> Function | None:
        return self._ctx

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The ndarray behind this tensor (shared memory), as ``torch.Tensor.numpy``.

        Args:
            force: also for a tensor that requires grad (as ``t.detach().numpy()``).

        Raises:
            RuntimeError: the tensor requires grad and ``force`` is False, as torch.
        """
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self._array

    def item(self):
        if self._array.size != 1:
            raise RuntimeError(f"item: a Tensor with {self._array.size} elements cannot be converted to Scalar")
        return self._array.item()

    def tolist(self):
        return self._array.tolist()

    def detach(self) -> Tensor:
        """A Tensor sharing memory and version counter with this one, outside the graph."""
        out = Tensor._wrap(self._array)
        out._version = self._version
        return out

    def detach_(self) -> Tensor:
        self._ctx, self.requires_grad = None, False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self._array.dtype.kind != "f":
            raise RuntimeError(f"requires_grad_: only floating-point tensors can require gradients, got {self.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_: you can only change requires_grad flags of leaf variables")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: can't retain_grad on Tensor that has requires_grad=False")
        if self._ctx is not None:
            self._ctx._retained[self._index] = self

    # -- dtypes and devices --------------------------------------------------
    def astype(self, dtype: Any) -> Tensor:
        return _ops().Cast.apply(self, dtype=to_dtype(dtype).dtype) if self._array.dtype != to_dtype(dtype) else self

    def type(self, dtype: Any = None, non_blocking: bool = False):
        """Without an argument the legacy type string (``"torch.FloatTensor"``); with one, a cast.

        Args:
            dtype: a dtype, a legacy type (``rnnkit.LongTensor``) or its name (``"torch.LongTensor"``).
            non_blocking: accepted for torch's signature (a CPU cast never blocks).
        """
        if dtype is None:
            return type_name(self._array.dtype)
        if isinstance(dtype, type) and hasattr(dtype, "is_cuda") and hasattr(dtype, "dtype"):  # a legacy type
            dtype = dtype.dtype
        elif isinstance(dtype, str):
            dtype = dtype_from_type_name(dtype)
        return self.astype(dtype)

    def type_as(self, other: Tensor) -> Tensor:
        return self.astype(other.dtype)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def half(self) -> Tensor:
        return self.astype(np.float16)

    def long(self) -> Tensor:
        return self.astype(np.int64)

    def int(self) -> Tensor:
        return self.astype(np.int32)

    def short(self) -> Tensor:
        return self.astype(np.int16)

    def char(self) -> Tensor:
        return self.astype(np.int8)

    def byte(self) -> Tensor:
        return self.astype(np.uint8)

    def bool(self) -> Tensor:
        return self.astype(np.bool_)

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other)``, as ``torch.Tensor.to``.

        ``non_blocking`` and ``copy`` are accepted; the device must be the CPU.
        """
        allowed = {"device", "dtype", "non_blocking", "copy", "memory_format"}
        unknown = set(kwargs) - allowed
        if unknown:
            raise TypeError(f"to: unexpected keyword argument(s) {sorted(unknown)}")
        dtype, device = kwargs.get("dtype"), kwargs.get("device")
        for arg in args:
            if isinstance(arg, Tensor):
                dtype = arg.dtype
            elif isinstance(arg, (str, _device_type)) and not (isinstance(arg, str) and arg.startswith("torch.")):
                device = arg
            elif isinstance(arg, bool):
                continue  # non_blocking given by position
            else:
                dtype = arg
        to_device(device, "to(device)")
        out = self if dtype is None else self.astype(dtype)
        return out.clone() if kwargs.get("copy") and out is self else out

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Tensor:
        to_device("cuda", "cuda()")
        return self  # pragma: no cover - to_device always raises for cuda

    def pin_memory(self) -> Tensor:
        return self

    def share_memory_(self) -> Tensor:
        return self

    # -- Python protocols, as torch ------------------------------------------
    def __len__(self) -> int:
        if self._array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._array)

    def __iter__(self):
        if self._array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(_ops().unbind(self, 0))

    def __contains__(self, element: Any) -> bool:
        if not isinstance(element, (Tensor, int, float, bool, np.number, np.bool_)):
            raise RuntimeError(
                f"Tensor.__contains__ only supports Tensor or scalar, but you passed in a {type(element)}."
            )
        other = element._array if isinstance(element, Tensor) else element
        return bool(np.any(self._array == other))

    def __bool__(self) -> bool:
        if self._array.size == 0:
            raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
        if self._array.size > 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._array.reshape(()))

    def _scalar(self):
        if self._array.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return self._array.reshape(()).item()

    def __int__(self) -> int:
        return int(self._scalar())

    def __float__(self) -> float:
        return float(self._scalar())

    def __complex__(self) -> complex:
        return complex(self._scalar())

    def __index__(self) -> int:
        if self._array.dtype.kind not in "iub" or self._array.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._array.reshape(()))

    def __format__(self, spec: str) -> str:
        if self._array.ndim == 0:
            return format(self._array.item(), spec)
        if spec:
            raise TypeError("unsupported format string passed to Tensor.__format__")
        return str(self)

    __hash__ = object.__hash__  # identity, as torch (== is element-wise)

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)``: as :meth:`numpy` (refused while ``t`` requires grad, as torch); a copy when asked."""
        array = self.numpy()
        if dtype is not None:
            return array.astype(dtype, copy=bool(copy))
        return array.copy() if copy else array

    def __deepcopy__(self, memo: dict) -> Tensor:
        """A copy with its own memory, of the same class (a Parameter stays a Parameter), as torch."""
        if self._ctx is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol")
        out = type(self).__new__(type(self))
        out._init(self._array.copy(), self.requires_grad)
        out._grad = None if self._grad is None else self._grad.__deepcopy__(memo)
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, protocol: int):
        """Python pickling (copy, multiprocessing, dask): the class, the values and requires_grad."""
        return (_rebuild, (type(self), self._array.copy(), self.requires_grad))

    def __repr__(self) -> str:
        values = self._array
        whole = values.dtype.kind != "f" or not np.all(np.isfinite(values)) or np.all(values == np.round(values))
        body = np.array2string(  # torch's style: four decimals unless every value is whole
            values, separator=", ", prefix="tensor(", precision=4, floatmode="maxprec" if whole else "fixed"
        )
        extras = []
        if self._array.dtype not in (float_dtype(), np.int64, np.bool_):
            extras.append(f"dtype={self.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{type(self._ctx).__name__}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"tensor({body}{''.join(', ' + e for e in extras)})"

    # -- the engine -------------------------------------------------------
    def backward(
        self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False, inputs: Any = None
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        Args:
            gradient: upstream gradient with this tensor's shape; may be omitted for a scalar.
            retain_graph: keep what the functions saved, to call backward through them again.
            create_graph: must be False (rnnkit's backward functions work on ndarrays: no
                graph of the gradient, so no second derivatives).
            inputs: optional tensors to accumulate into instead of every leaf.
        """
        if create_graph:
            raise NotImplementedError("backward(create_graph=True): rnnkit does not differentiate gradients twice")
        targets = None if inputs is None else ([inputs] if isinstance(inputs, Tensor) else list(inputs))
        grads = run_backward([self], [gradient], bool(retain_graph), targets)
        if targets is not None:
            for t, g in zip(targets, grads):
                if g is not None:
                    _accumulate(t, g)

    # -- in-place operations -------------------------------------------------
    def _check_inplace(self, what: str) -> None:
        if not is_grad_enabled():
            return
        if self._ctx is None and self.requires_grad:
            raise RuntimeError(f"{what}: a leaf Variable that requires grad is being used in an in-place operation.")
        base = self._base
        if base is not None and base._ctx is None and base.requires_grad:
            raise RuntimeError(
                f"{what}: a view of a leaf Variable that requires grad is being used in an in-place operation."
            )

    def _assign(self, compute, what: str) -> Tensor:
        """Write ``compute(old)`` into this tensor's memory and take over its place in the graph.

        ``old`` stands for this tensor's value before the write (a copy when the graph is
        recorded, so that what backward saved of it stays intact).
        """
        self._check_inplace(what)
        result = compute(self.detach() if self._ctx is None and not self.requires_grad else self)
        if isinstance(result, Tensor) and result.requires_grad:  # recorded: compute again on a copy
            old = Tensor._wrap(self._array.copy(), requires_grad=self.requires_grad)
            old._ctx, old._index = self._ctx, self._index
            result = compute(old)
        if not isinstance(result, Tensor):
            result = Tensor(result)
        array = result._array
        if array.dtype != self._array.dtype and not np.can_cast(array.dtype, self._array.dtype, "same_kind"):
            raise RuntimeError(f"{what}: result type {result.dtype} can't be cast to the desired output type {self.dtype}")
        if array.shape != self._array.shape:
            raise RuntimeError(f"{what}: output with shape {self.shape} doesn't match the broadcast shape {array.shape}")
        base = self._base if result.requires_grad else None
        if base is not None:  # a view written in the graph: the base's history gets the write too (torch's CopySlices)
            positions = _positions_in(base._array, self._array)
            if positions is None:
                raise RuntimeError(f"{what}: in-place change of a view of a non-contiguous tensor recorded in the graph")
            base_old = Tensor._wrap(base._array.copy(), requires_grad=base.requires_grad)
            base_old._ctx, base_old._index = base._ctx, base._index
        self._array[...] = array
        self._version.value += 1
        if base is not None:
            node = _ViewWrite(base_old, result)
            node.positions, node._outputs = positions, [(base._array.shape, base._array.dtype)]
            base._ctx, base._index, base.requires_grad = node, 0, True
        if result.requires_grad:
            ctx = result._ctx
            self._ctx, self._index, self.requires_grad = ctx, result._index, True
            if ctx is not None:  # what backward saved as the result is now this tensor's memory
                ctx._versions = [
                    (self._version, self._version.value, d) if v is result._version else (v, n, d)
                    for v, n, d in ctx._versions
                ]
                ctx.saved = tuple(self._array if a is array else a for a in ctx.saved)
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        self._assign(lambda old: _ops().index_put(old, index, value), "setitem")

    add_ = _inplace("add")
    sub_ = _inplace("sub")
    mul_ = _inplace("mul")
    div_ = _inplace("div")
    pow_ = _inplace("pow")
    neg_ = _inplace("neg")
    exp_ = _inplace("exp")
    log_ = _inplace("log")
    sqrt_ = _inplace("sqrt")
    abs_ = _inplace("abs")
    tanh_ = _inplace("tanh")
    sigmoid_ = _inplace("sigmoid")
    relu_ = _inplace("relu")
    clamp_ = _inplace("clamp")
    clamp_min_ = _inplace("clamp_min")
    clamp_max_ = _inplace("clamp_max")
    masked_fill_ = _inplace("masked_fill")
    addcmul_ = _inplace("addcmul")
    addcdiv_ = _inplace("addcdiv")
    lerp_ = _inplace("lerp")
    floor_ = _inplace("floor")
    round_ = _inplace("round")
    sign_ = _inplace("sign")
    subtract_ = sub_
    multiply_ = mul_
    divide_ = div_
    clip_ = clamp_

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def copy_(self, src: Any, non_blocking: bool = False) -> Tensor:
        """Copy ``src`` (broadcast to this shape, cast to this dtype) into this tensor."""
        return self._assign(lambda old: _ops().index_put(old, Ellipsis, src), "copy_")

    def fill_(self, value: Any) -> Tensor:
        return self.copy_(value)

    def zero_(self) -> Tensor:
        return self.copy_(0)

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
        """Fill with draws from U(a, b)."""

        return self.copy_(numpy_generator(generator).uniform(a, b, self.shape).astype(self._array.dtype))

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
        """Fill with draws from N(mean, std²)."""

        return self.copy_(numpy_generator(generator).normal(mean, std, self.shape).astype(self._array.dtype))

    def bernoulli_(self, p: float = 0.5, generator: Any = None) -> Tensor:
        """Fill with 1 with probability ``p``, else 0."""

        return self.copy_((numpy_generator(generator).random(self.shape) < p).astype(self._array.dtype))

    def random_(self, low: int = 0, high: int | None = None, generator: Any = None) -> Tensor:
        """Fill with integers drawn uniformly from [low, high)."""

        if high is None:
            low, high = 0, low
        return self.copy_(numpy_generator(generator).integers(low, high, self.shape).astype(self._array.dtype))

    def _view_inplace(self, view, what: str) -> Tensor:
        """Become ``view(self)`` (a view op: same memory, new shape) and take its place in the graph."""
        self._check_inplace(what)
        old = self.detach()
        old.requires_grad, old._ctx, old._index = self.requires_grad, self._ctx, self._index
        result = view(old)
        self._array, self._ctx, self._index = result._array, result._ctx, result._index
        return self

    def unsqueeze_(self, dim: int) -> Tensor:
        return self._view_inplace(lambda old: _ops().unsqueeze(old, dim), "unsqueeze_")

    def squeeze_(self, dim: Any = None) -> Tensor:
        return self._view_inplace(lambda old: _ops().squeeze(old, dim), "squeeze_")

    def t_(self) -> Tensor:
        return self._view_inplace(_ops().t, "t_")

    # -- operators (implemented in _ops) ---------------------------------
    def __add__(self, other):
        return _ops().add(self, other)

    def __radd__(self, other):
        return _ops().add(other, self)

    def __sub__(self, other):
        return _ops().sub(self, other)

    def __rsub__(self, other):
        return _ops().sub(other, self)

    def __mul__(self, other):
        return _ops().mul(self, other)

    def __rmul__(self, other):
        return _ops().mul(other, self)

    def __truediv__(self, other):
        return _ops().div(self, other)

    def __rtruediv__(self, other):
        return _ops().div(other, self)

    def __floordiv__(self, other):
        return _ops().floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _ops().floor_divide(other, self)

    def __mod__(self, other):
        return _ops().remainder(self, other)

    def __neg__(self):
        return _ops().neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops().abs(self)

    def __pow__(self, exponent):
        return _ops().pow(self, exponent)

    def __rpow__(self, base):
        return _ops().pow(base, self)

    def __matmul__(self, other):
        return _ops().matmul(self, other)

    def __rmatmul__(self, other):
        return _ops().matmul(other, self)

    def __getitem__(self, index):
        if type(index) is int and not self.requires_grad and self._traced_by is None and self._array.ndim:
            # x[t] outside any graph (a loop over steps): the view itself, sharing x's version counter
            view = Tensor._wrap(self._array[index, ...])
            view._view_of(self)
            return view
        return _ops().getitem(self, index)

    def __invert__(self):
        return _ops().logical_not(self) if self._array.dtype == np.bool_ else _ops().bitwise_not(self)

    def __and__(self, other):
        return _ops().logical_and(self, other) if self._array.dtype == np.bool_ else _ops().bitwise_and(self, other)

    def __or__(self, other):
        return _ops().logical_or(self, other) if self._array.dtype == np.bool_ else _ops().bitwise_or(self, other)

    def __xor__(self, other):
        return _ops().logical_xor(self, other) if self._array.dtype == np.bool_ else _ops().bitwise_xor(self, other)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __eq__(self, other):  # type: ignore[override]
        return _ops().eq(self, other)

    def __ne__(self, other):  # type: ignore[override]
        return _ops().ne(self, other)

    def __lt__(self, other):
        return _ops().lt(self, other)

    def __le__(self, other):
        return _ops().le(self, other)

    def __gt__(self, other):
        return _ops().gt(self, other)

    def __ge__(self, other):
        return _ops().ge(self, other)

    @property
    def T(self) -> Tensor:
        return _ops().permute(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> Tensor:
        return _ops().transpose(self, -2, -1)

    # -- method forms of the functional ops (see rnnkit._ops) --------------
    add = _method("add")
    sub = _method("sub")
    subtract = sub
    mul = _method("mul")
    multiply = mul
    div = _method("div")
    divide = div
    true_divide = div
    floor_divide = _method("floor_divide")
    remainder = _method("remainder")
    fmod = _method("fmod")
    pow = _method("pow")
    neg = _method("neg")
    negative = neg
    matmul = _method("matmul")
    mm = _method("mm")
    bmm = _method("bmm")
    baddbmm = _method("baddbmm")
    addmm = _method("addmm")
    dot = _method("dot")
    mv = _method("mv")
    outer = _method("outer")
    exp = _method("exp")
    log = _method("log")
    log1p = _method("log1p")
    expm1 = _method("expm1")
    tanh = _method("tanh")
    sigmoid = _method("sigmoid")
    relu = _method("relu")
    abs = _method("abs")
    sqrt = _method("sqrt")
    rsqrt = _method("rsqrt")
    square = _method("square")
    sin = _method("sin")
    cos = _method("cos")
    reciprocal = _method("reciprocal")
    sign = _method("sign")
    floor = _method("floor")
    ceil = _method("ceil")
    round = _method("round")
    clamp = _method("clamp")
    clip = clamp
    clamp_min = _method("clamp_min")
    clamp_max = _method("clamp_max")
    lerp = _method("lerp")
    addcmul = _method("addcmul")
    addcdiv = _method("addcdiv")
    sum = _method("sum")
    mean = _method("mean")
    prod = _method("prod")
    var = _method("var")
    std = _method("std")
    norm = _method("norm")
    max = _method("max")
    min = _method("min")
    amax = _method("amax")
    amin = _method("amin")
    maximum = _method("maximum")
    minimum = _method("minimum")
    argmax = _method("argmax")
    argmin = _method("argmin")
    topk = _method("topk")
    sort = _method("sort")
    argsort = _method("argsort")
    cumsum = _method("cumsum")
    tril = _method("tril")
    triu = _method("triu")
    all = _method("all")
    any = _method("any")
    softmax = _method("softmax")
    log_softmax = _method("log_softmax")
    logsumexp = _method("logsumexp")
    reshape = _method("reshape")
    view = _method("view")
    view_as = _method("view_as")
    reshape_as = _method("reshape_as")
    flatten = _method("flatten")
    unflatten = _method("unflatten")
    transpose = _method("transpose")
    swapaxes = transpose
    permute = _method("permute")
    t = _method("t")
    squeeze = _method("squeeze")
    unsqueeze = _method("unsqueeze")
    expand = _method("expand")
    expand_as = _method("expand_as")
    repeat = _method("repeat")
    flip = _method("flip")
    narrow = _method("narrow")
    select = _method("select")
    unbind = _method("unbind")
    chunk = _method("chunk")
    split = _method("split")
    gather = _method("gather")
    scatter = _method("scatter")
    index_select = _method("index_select")
    masked_fill = _method("masked_fill")
    masked_select = _method("masked_select")
    where = _method("where")
    nonzero = _method("nonzero")
    contiguous = _method("contiguous")
    clone = _method("clone")
    eq = _method("eq")
    ne = _method("ne")
    lt = _method("lt")
    le = _method("le")
    gt = _method("gt")
    ge = _method("ge")
    equal = _method("equal")
    allclose = _method("allclose")
    isnan = _method("isnan")
    isinf = _method("isinf")
    isfinite = _method("isfinite")
    logical_not = _method("logical_not")
    logical_and = _method("logical_and")
    logical_or = _method("logical_or")
    multinomial = _method("multinomial")
    new_zeros = _method("new_zeros")
    new_ones = _method("new_ones")
    new_full = _method("new_full")
    new_empty = _method("new_empty")
    new_tensor = _method("new_tensor")


class _OpTable:
    """The functional ops that Tensor methods call, by name.

    The ops are built on Tensor, so this module cannot import them: :mod:`rnnkit._api`, once it
    has gathered every op, hands itself over with :func:`bind_ops` (it is imported by the package's
    ``__init__``, so the table is filled before any Tensor method runs).
    """

    namespace: Any = None


def bind_ops(namespace: Any) -> None:
    """Give Tensor methods the module of functional ops (called once, by :mod:`rnnkit._api`)."""
    _OpTable.namespace = namespace


def _ops():
    """Every functional op by name (:mod:`rnnkit._api`)."""
    return _OpTable.namespace


class _ViewWrite(Function):
    """The base of a view after an in-place write through the view: ``base.flat[positions] = value``."""

    def backward(self, g: np.ndarray):
        g_base = g.copy()
        g_base.reshape(-1)[self.positions.reshape(-1)] = 0
        return g_base, g.reshape(-1)[self.positions]


def _positions_in(base: np.ndarray, view: np.ndarray) -> np.ndarray | None:
    """The flat index in ``base`` of every element of ``view`` (which shares its memory), or None."""
    if not base.flags.c_contiguous:
        return None
    item = base.itemsize
    start = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    if start % item or any(s % item for s in view.strides) or not 0 <= start // item < max(base.size, 1):
        return None
    ids = np.arange(base.size)
    strides = tuple(s // item * ids.itemsize for s in view.strides)
    return np.array(np.lib.stride_tricks.as_strided(ids[start // item :], shape=view.shape, strides=strides))


def _rebuild(cls: type, array: np.ndarray, requires_grad: bool) -> Tensor:
    """The inverse of ``Tensor.__reduce_ex__``: a tensor (or Parameter) of ``cls`` around ``array``."""
    out = cls.__new__(cls)
    out._init(array, requires_grad)
    return out


def mark_modified(t: Tensor) -> None:
    """Record that ``t``'s memory was changed in place outside Tensor methods (an optimizer step)."""
    t._version.value += 1


def _accumulate(t: Tensor, g: np.ndarray) -> None:
    """Add ``g`` into ``t.grad`` (in place when a gradient is already there, as torch's AccumulateGrad)."""
    if t._grad is None:
        t._grad = Tensor._wrap(np.array(g, dtype=t._array.dtype, copy=True))
    else:
        t._grad._array += g
        t._grad._version.value += 1


def _graph_order(roots: Iterable[Tensor]) -> list[Function]:
    """Every function behind ``roots``, each after all the functions that consume its outputs (reversed)."""
    order: list[Function] = []
    seen: set[int] = set()
    stack: list[tuple[Function, bool]] = [(r._ctx, False) for r in roots if r._ctx is not None]
    while stack:  # iterative post-order DFS: deep graphs must not hit the recursion limit
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        stack.append((fn, True))
        stack.extend((ctx, False) for ctx, _ in fn.edges if ctx is not None and id(ctx) not in seen)
    return order[::-1]


def _check_versions(fn: Function) -> None:
    for counter, expected, (dtype, shape) in fn._versions:
        if counter.value != expected:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: [{type_name(dtype)} {list(shape)}], saved by {type(fn).__name__}Backward, "
                f"is at version {counter.value}; expected version {expected} instead."
            )


def run_backward(
    roots: Sequence[Tensor], gradients: Sequence[Any], retain_graph: bool, inputs: Sequence[Tensor] | None = None
) -> list[np.ndarray | None]:
    """Propagate ``gradients`` from ``roots`` back through the graph.

    Without ``inputs`` every leaf's ``.grad`` accumulates its gradient (and every tensor
    that called :meth:`Tensor.retain_grad` gets its own). With ``inputs``, nothing is
    accumulated: the gradient of each input (an ndarray, or None when it does not depend
    on the roots) is returned instead, as ``torch.autograd.grad``.
    """
    grads: dict[tuple[int, int], np.ndarray] = {}  # by (function, output index); leaves by (tensor, -1)
    leaves: dict[int, Tensor] = {}
    for root, gradient in zip(roots, gradients):
        if not root.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if gradient is None:
            if root._array.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs, got shape {root.shape}")
            gradient = np.ones_like(root._array)
        gradient = _to_array(gradient, root._array.dtype)
        if gradient.shape != root.shape:
            raise RuntimeError(f"backward: gradient has shape {gradient.shape}, expected {root.shape}")
        key = _key(root)
        grads[key] = grads[key] + gradient if key in grads else gradient
        if root._ctx is None:
            leaves[id(root)] = root
    watched = {_key(t): t for t in inputs} if inputs is not None else {}
    captured: dict[tuple[int, int], np.ndarray] = {}
    for fn in _graph_order(roots):
        if fn.saved is None:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved tensors after they "
                "have already been freed). Specify retain_graph=True if you need to backward a second time."
            )
        _check_versions(fn)
        outs = []
        for index, (shape, dtype) in enumerate(fn._outputs):
            g = grads.pop((id(fn), index), None)
            outs.append(np.zeros(shape, dtype) if g is None else g)
            if (id(fn), index) in watched:
                captured[(id(fn), index)] = outs[-1]
            elif inputs is None and index in fn._retained:
                _accumulate(fn._retained[index], outs[-1])
        fn.retain_saved = retain_graph
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            result = fn.backward(*outs)
        if not isinstance(result, tuple):
            result = (result,)
        for i, ((edge, edge_index), needs, g) in enumerate(zip(fn.edges, fn.needs_input_grad, result)):
            if not needs or g is None:
                continue
            shape, dtype = fn.input_meta[i]
            if g.shape != shape:
                raise RuntimeError(
                    f"{type(fn).__name__}.backward returned a gradient of shape {g.shape} for an input of shape {shape}"
                )
            if g.dtype != dtype:
                g = g.astype(dtype)
            if edge is None:  # a leaf: its gradient is accumulated into .grad at the end
                leaf = fn.leaves[i]
                key = (id(leaf), -1)
                leaves[id(leaf)] = leaf
            else:
                key = (id(edge), edge_index)
            grads[key] = g if key not in grads else grads[key] + g
        if not retain_graph:
            fn.saved = None
    if inputs is not None:
        return [grads.get(_key(t)) if t._ctx is None else captured.get(_key(t)) for t in inputs]
    for key, leaf in leaves.items():
        if (key, -1) in grads:
            _accumulate(leaf, grads.pop((key, -1)))  # each engine copy freed once accumulated
    return []


def _key(t: Tensor) -> tuple[int, int]:
    """Where the engine keeps ``t``'s gradient: by the function that made it, or by the leaf itself."""
    return (id(t._ctx), t._index) if t._ctx is not None else (id(t), -1)


def _shape_args(shape: tuple[Any, ...], name: str = "size", allow_infer: bool = True) -> tuple[int, ...]:
    """Accept ``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])`` as PyTorch does (-1 only where ``allow_infer``)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) and not (
            isinstance(n, Tensor) and n.numel() == 1 and n.dtype.kind in "iu"
        ):
            raise TypeError(f"{name}: expected a sequence of ints, got {shape!r}")
        if int(n) < 0 and not (allow_infer and int(n) == -1):
            raise RuntimeError(f"{name}: negative dimension {int(n)} in {tuple(int(m) for m in shape)}")
    return tuple(n if isinstance(n, int) else int(n) for n in shape)  # int subclasses (traced sizes) stay


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A :class:`Tensor` holding a copy of ``data``, as ``torch.tensor`` (floats get the default dtype)."""
    to_device(device)
    if isinstance(data, Tensor):
        data = data._array
    array = np.array(_to_array(data, dtype), copy=True)
    return Tensor._wrap(array, requires_grad=requires_grad)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` itself if it is a Tensor (of ``dtype``), else a Tensor sharing its memory where possible."""
    to_device(device)
    if isinstance(data, Tensor) and (dtype is None or data._array.dtype == to_dtype(dtype)):
        return data
    return Tensor._wrap(_to_array(data, dtype))
