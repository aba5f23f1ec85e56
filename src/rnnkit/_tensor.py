"""A small reverse-mode autograd: ``Tensor``, ``Function`` and the engine.

The design follows micrograd and tinygrad's 2023 ``mlops.py``: every operation is a
``Function`` subclass whose ``forward`` works on ndarrays and saves exactly what its
``backward`` needs; the engine is a topological sort of the functions that made a
tensor, then one loop in reverse order. A whole recurrent layer is a single
``Function`` with a hand-written backward (see :mod:`rnnkit._recurrent`), so no
per-step graph is ever built.

Example:
    >>> import rnnkit
    >>> x = rnnkit.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    array([[2., 4.],
           [6., 8.]], dtype=float32)
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, Sequence

import numpy as np

__all__ = ["Tensor", "Function", "tensor", "as_tensor", "no_grad", "enable_grad", "is_grad_enabled"]

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless inside :func:`no_grad`."""
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def _set_grad_enabled(mode: bool) -> Iterator[None]:
    previous = is_grad_enabled()
    _state.grad_enabled = mode
    try:
        yield
    finally:
        _state.grad_enabled = previous


def no_grad():
    """Context manager (and decorator) under which no graph is recorded, as ``torch.no_grad``."""
    return _set_grad_enabled(False)


def enable_grad():
    """Context manager that re-enables graph recording inside :func:`no_grad`."""
    return _set_grad_enabled(True)


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
    """Convert ``data`` to an ndarray with PyTorch's default dtypes (float32 for Python floats)."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray):
        return data if dtype is None else data.astype(dtype, copy=False)
    array = as_ndarray(data, "tensor(data)")
    if dtype is not None:
        return array.astype(dtype, copy=False)
    if array.dtype == np.float64 and not isinstance(data, np.generic):
        return array.astype(np.float32)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"tensor(data): expected numbers, got an array of dtype {array.dtype}")
    return array


class Function:
    """One differentiable operation.

    Subclasses implement ``forward(self, *arrays, **kwargs)`` returning an ndarray (or a
    tuple of ndarrays for several outputs) and ``backward(self, *grad_outputs)`` returning
    one gradient per tensor input (``None`` where an input needs none). Tensors passed to
    :meth:`apply` become inputs; keyword arguments are constants.
    """

    def __init__(self, *parents: Tensor):
        self.parents = parents
        self.needs_input_grad = tuple(p.requires_grad for p in parents)
        self.saved: tuple = ()
        # set by the engine just before backward: will ``saved`` be kept after it (retain_graph)?
        # When False, a backward may reuse the saved buffers for its gradients.
        self.retain_saved = True
        self._outputs: list[tuple[tuple[int, ...], np.dtype]] = []

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved = arrays

    def forward(self, *arrays: np.ndarray, **kwargs: Any):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, *grad_outputs: np.ndarray):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **kwargs: Any):
        parents = tuple(x if isinstance(x, Tensor) else Tensor(x) for x in inputs)
        ctx = cls(*parents)
        result = ctx.forward(*(p.data for p in parents), **kwargs)
        track = is_grad_enabled() and any(ctx.needs_input_grad)
        outputs = result if isinstance(result, tuple) else (result,)
        tensors = []
        for index, array in enumerate(outputs):
            out = Tensor(array, requires_grad=track)
            if track:
                out._ctx, out._index = ctx, index
            tensors.append(out)
        if track:
            ctx._outputs = [(t.data.shape, t.data.dtype) for t in tensors]
        else:
            ctx.saved = ()
        return tuple(tensors) if isinstance(result, tuple) else tensors[0]


class Tensor:
    """An ndarray that records the operations applied to it, as ``torch.Tensor``.

    Args:
        data: array-like; Python floats become float32, as in PyTorch. Several integers
            instead (``Tensor(1, 10, 5)``, as ``torch.Tensor(1, 10, 5)``) make a float32
            tensor of that shape, filled with zeros rather than left uninitialised.
        requires_grad: record operations so that :meth:`backward` fills ``.grad``.
        dtype: optional NumPy dtype.
    """

    __array_priority__ = 1000  # so ndarray <op> Tensor dispatches to Tensor

    def __init__(self, *data: Any, requires_grad: bool = False, dtype: Any = None):
        if len(data) == 1 and not isinstance(data[0], (int, np.integer)):
            array = _to_array(data[0], dtype)
        elif data and all(isinstance(n, (int, np.integer)) and n >= 0 for n in data):
            array = np.zeros(data, dtype=np.float32 if dtype is None else dtype)
        else:
            raise TypeError(f"Tensor(): expected array-like data or a shape of non-negative ints, got {data!r}")
        self.data: np.ndarray = array
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"requires_grad: only floating-point tensors can require gradients, got dtype {self.data.dtype}"
            )
        self.requires_grad = bool(requires_grad)
        self.grad: np.ndarray | None = None
        self._ctx: Function | None = None
        self._index = 0

    # -- basic properties -------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def detach(self) -> Tensor:
        return Tensor(self.data)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    def astype(self, dtype: Any) -> Tensor:
        from rnnkit import _ops

        return _ops.Cast.apply(self, dtype=np.dtype(dtype))

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def __len__(self) -> int:
        return len(self.data)

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        if self._ctx is not None:
            grad = f", grad_fn=<{type(self._ctx).__name__}Backward>"
        else:
            grad = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({body}{grad})"

    # -- the engine -------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        Args:
            gradient: upstream gradient with this tensor's shape; may be omitted for a scalar.
            retain_graph: keep what the functions saved, to call backward through them again.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no graph")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: gradient can be implicit only for a scalar output, got shape {self.shape}"
                )
            gradient = np.ones_like(self.data)
        gradient = _to_array(gradient, self.dtype)
        if gradient.shape != self.shape:
            raise ValueError(f"backward: gradient has shape {gradient.shape}, expected {self.shape}")
        if self._ctx is None:
            self.grad = gradient.copy() if self.grad is None else self.grad + gradient
            return

        order: list[Function] = []
        seen: set[int] = set()
        stack: list[tuple[Function, bool]] = [(self._ctx, False)]
        while stack:  # iterative post-order DFS: deep graphs must not hit the recursion limit
            fn, expanded = stack.pop()
            if expanded:
                order.append(fn)
                continue
            if id(fn) in seen:
                continue
            seen.add(id(fn))
            stack.append((fn, True))
            stack.extend((p._ctx, False) for p in fn.parents if p._ctx is not None and id(p._ctx) not in seen)

        grads: dict[tuple[int, int], np.ndarray] = {(id(self._ctx), self._index): gradient}
        for fn in reversed(order):
            if fn.saved is None:
                raise RuntimeError(
                    "backward: trying to backward through the graph a second time; pass retain_graph=True the first time"
                )
            outs = []
            for index, (shape, dtype) in enumerate(fn._outputs):
                g = grads.pop((id(fn), index), None)
                outs.append(np.zeros(shape, dtype) if g is None else g)
            fn.retain_saved = retain_graph
            result = fn.backward(*outs)
            if not isinstance(result, tuple):
                result = (result,)
            for parent, needs, g in zip(fn.parents, fn.needs_input_grad, result):
                if not needs or g is None:
                    continue
                if g.shape != parent.shape:
                    raise RuntimeError(
                        f"{type(fn).__name__}.backward returned a gradient of shape {g.shape} for an input of shape {parent.shape}"
                    )
                if g.dtype != parent.dtype:
                    g = g.astype(parent.dtype)
                if parent._ctx is None:
                    parent.grad = g.copy() if parent.grad is None else parent.grad + g
                else:
                    key = (id(parent._ctx), parent._index)
                    grads[key] = g if key not in grads else grads[key] + g
            if not retain_graph:
                fn.saved = None

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

    def __neg__(self):
        return _ops().Neg.apply(self)

    def __pow__(self, exponent):
        return _ops().pow(self, exponent)

    def __matmul__(self, other):
        return _ops().matmul(self, other)

    def __rmatmul__(self, other):
        return _ops().matmul(other, self)

    def __getitem__(self, index):
        return _ops().getitem(self, index)

    def _compare(self, other, op) -> Tensor:
        other = other.data if isinstance(other, Tensor) else other
        return Tensor(op(self.data, other))

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    def eq(self, other):
        return self._compare(other, np.equal)

    __hash__ = object.__hash__

    @property
    def T(self) -> Tensor:
        return _ops().permute(self, tuple(reversed(range(self.ndim))))

    def __getattr__(self, name: str):
        # Method forms of the functional ops: x.sum(), x.reshape(...), x.chunk(4, 1), ...
        ops = _ops()
        if name.startswith("_") or name not in ops.TENSOR_METHODS:
            raise AttributeError(f"'Tensor' object has no attribute '{name}'")
        fn = getattr(ops, name)
        return lambda *args, **kwargs: fn(self, *args, **kwargs)


def _ops():
    from rnnkit import _ops as ops

    return ops


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Create a :class:`Tensor` holding a copy of ``data``, as ``torch.tensor``."""
    array = np.array(_to_array(data, dtype), copy=True)
    return Tensor(array, requires_grad=requires_grad)


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """Return ``data`` itself if it is a Tensor (of ``dtype``), else wrap it without copying."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)):
        return data
    return Tensor(data, dtype=dtype)


def _shape_args(shape: Sequence[Any]) -> tuple[int, ...]:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` as PyTorch does."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)
