"""Export of any ``rnnkit.nn`` module by tracing its forward, as ``torch.onnx.export``'s tracer.

:func:`trace` calls the model's real ``forward`` on the example, with every input a
:class:`TraceTensor`: a Tensor that holds the example's values and the name of the ONNX
value it stands for. What runs on it is written into the graph at the two places where
work is dispatched:

* **module calls**: :meth:`Tracer.call_module` is the one place that decides. A module
  whose class has a registered converter (``rnnkit.onnx.register``: LSTM, GRU, RNN, Linear,
  Embedding, ...) is written by it, so an ``nn.LSTM`` stays one ONNX ``LSTM`` node; any other
  module (your own ``nn.Module`` subclass, ``nn.Sequential``) runs its forward, traced.
* **tensor ops**: every op is a :class:`~rnnkit._tensor.Function`; ``Function.apply`` hands
  an op on a traced tensor to :meth:`Tracer.record`, which computes it on the values and
  writes its ONNX form (:mod:`rnnkit.onnx._ops`).

Sizes stay dynamic: ``x.size(0)`` and ``x.shape`` of a traced tensor are :class:`SymInt`
values (ints that remember ``Gather(Shape(x), 0)``, and arithmetic on them), so
``x.view(x.size(0) * x.size(1), -1)`` or ``torch.zeros(2, x.size(0), 8)`` become graph
expressions rather than the example's numbers. What cannot be traced raises a ValueError
naming the op and the module: an op without an ONNX form, reading a traced tensor's values
into Python or NumPy (``.item()``, ``.numpy()``, ``if x.sum() > 0:``), writing into one.
As with torch's tracer, Python control flow runs once on the example: a loop such as
``for t in range(x.size(1))`` is unrolled for the example's length (``export`` then finds that
the graph changes with the sizes, see :mod:`rnnkit.onnx._sizes`, and refuses it).

Example:
    >>> import numpy as np, os, tempfile, rnnkit, rnnkit.onnx
    >>> import rnnkit.nn.functional as F
    >>> class Classifier(rnnkit.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.rnn = rnnkit.nn.GRU(3, 8, batch_first=True)
    ...         self.out = rnnkit.nn.Linear(8, 2)
    ...     def forward(self, x):
    ...         y, _ = self.rnn(x)
    ...         return F.log_softmax(self.out(y[:, -1]), dim=-1)
    >>> model = Classifier().eval()
    >>> path = os.path.join(tempfile.mkdtemp(), "classifier.onnx")
    >>> rnnkit.onnx.export(model, np.zeros((4, 5, 3), np.float32), path)
    >>> import onnx
    >>> sorted({n.op_type for n in onnx.load(path).graph.node} & {"GRU", "Gather", "LogSoftmax"})
    ['GRU', 'Gather', 'LogSoftmax']
"""

from __future__ import annotations

import contextlib
import functools
import operator
import os
import sys
from typing import Any, Callable, Iterator

import numpy as np

from rnnkit import nn
from rnnkit._tensor import Size, Tensor, _to_array
from rnnkit.onnx._graph import Graph, Sym
from rnnkit.onnx._nn import convert, find_converter
from rnnkit.onnx._ops import OPS

__all__ = ["SymInt", "TraceTensor", "Tracer", "trace"]

_HINTS = {  # what to write instead, for the ops that read values most often in RNN programs
    "pack_padded_sequence": "pass the lengths to the recurrent layer instead, rnn(x, hx, lengths=lengths) "
                            "(exported as the node's sequence_lens)",
    "embedding": "use an nn.Embedding module (it has a converter)",
    "leaky_relu": "use an nn.LeakyReLU module (it has a converter)",
    "Dropout": "dropout in training mode is random (F.dropout's default is training=True): pass "
               "training=self.training, or use an nn.Dropout module",
}
_CONTAINERS = (nn.Sequential,)  # converted containers are traced instead, so each child gets its own decision
_ARITH = {"Add": operator.add, "Sub": operator.sub, "Mul": operator.mul, "Div": operator.floordiv, "Mod": operator.mod}
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../rnnkit
_HERE = os.path.dirname(os.path.abspath(__file__))  # .../rnnkit/onnx
_NUMPY = os.path.dirname(os.path.abspath(np.__file__))  # NumPy's own frames between an op and the guard


def _is_int(n: Any) -> bool:
    return isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_))


class SymInt(int):
    """A size read from a traced tensor: the example's value, and how the graph computes it.

    ``recipe`` is ``("dim", value_name, axis)`` for ``x.shape[axis]``, or ``(op, a, b)`` with
    ``op`` in Add/Sub/Mul/Div/Mod (Python's ``//`` and ``%``) for arithmetic on sizes.
    """

    def __new__(cls, value: int, recipe: tuple, tracer: Tracer) -> SymInt:
        out = super().__new__(cls, value)
        out.recipe, out._traced_by = recipe, tracer
        return out

    def _arith(self, op: str, a: Any, b: Any) -> Any:
        if not (_is_int(a) and _is_int(b)):
            return NotImplemented
        return SymInt(_ARITH[op](int(a), int(b)), (op, a, b), self._traced_by)

    def __add__(self, other): return self._arith("Add", self, other)  # noqa: E704
    def __radd__(self, other): return self._arith("Add", other, self)  # noqa: E704
    def __sub__(self, other): return self._arith("Sub", self, other)  # noqa: E704
    def __rsub__(self, other): return self._arith("Sub", other, self)  # noqa: E704
    def __mul__(self, other): return self._arith("Mul", self, other)  # noqa: E704
    def __rmul__(self, other): return self._arith("Mul", other, self)  # noqa: E704
    def __floordiv__(self, other): return self._arith("Div", self, other)  # noqa: E704
    def __rfloordiv__(self, other): return self._arith("Div", other, self)  # noqa: E704
    def __mod__(self, other): return self._arith("Mod", self, other)  # noqa: E704
    def __rmod__(self, other): return self._arith("Mod", other, self)  # noqa: E704
    def __neg__(self): return self._arith("Sub", 0, self)  # noqa: E704

    __hash__ = int.__hash__


class TracedArray(np.ndarray):
    """The values of a traced tensor: NumPy computations on them outside a recorded op raise."""

    _traced_by: Any = None

    def __array_finalize__(self, obj: Any) -> None:
        self._traced_by = getattr(obj, "_traced_by", None)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        raise self._traced_by.value_error(f"numpy.{ufunc.__name__}")

    def __array_function__(self, func, types, args, kwargs):
        raise self._traced_by.value_error(f"numpy.{func.__name__}")


class TraceTensor(Tensor):
    """A Tensor being traced: the example's values (a :class:`TracedArray`) and its ONNX value ``sym``."""

    @classmethod
    def make(cls, tracer: Tracer, array: np.ndarray, sym: Sym) -> TraceTensor:
        out = cls.__new__(cls)
        values = np.asarray(array).view(TracedArray)
        values._traced_by = tracer
        out._init(values, False)
        out._traced_by, out.sym = tracer, sym
        return out

    @property
    def values(self) -> np.ndarray:
        """The example's values as a plain ndarray (for the tracer's own use)."""
        return self._array.view(np.ndarray)

    @property
    def shape(self) -> Size:
        return Size(SymInt(n, ("dim", self.sym.name, i), self._traced_by) for i, n in enumerate(self._array.shape))

    def size(self, dim: int | None = None):
        if dim is None:
            return self.shape
        Tensor.size(self, dim)  # checks dim
        return self.shape[dim]

    # reading values into Python: the graph cannot follow them
    def numpy(self, *, force=False): raise self._traced_by.value_error("Tensor.numpy()")  # noqa: E704
    def item(self): raise self._traced_by.value_error("Tensor.item()")  # noqa: E704
    def tolist(self): raise self._traced_by.value_error("Tensor.tolist()")  # noqa: E704
    def __bool__(self): raise self._traced_by.value_error("bool(tensor) (an if or while on a tensor)")  # noqa: E704
    def __int__(self): raise self._traced_by.value_error("int(tensor)")  # noqa: E704
    def __float__(self): raise self._traced_by.value_error("float(tensor)")  # noqa: E704
    def __index__(self): raise self._traced_by.value_error("a tensor used as a Python index")  # noqa: E704
    def __array__(self, dtype=None, copy=None): raise self._traced_by.value_error("numpy.asarray(tensor)")  # noqa: E704

    def __setitem__(self, index: Any, value: Any) -> None:
        raise self._traced_by.value_error("x[index] = value (writing into a traced tensor)")

    def _assign(self, compute: Callable, what: str) -> Tensor:
        """In-place ops (``x.add_(y)``, ``x += y``) rebind this tensor to the traced result."""
        result = compute(self)
        if not isinstance(result, TraceTensor) or result._array.shape != self._array.shape:
            raise self._traced_by.value_error(f"{what} (an in-place op)")
        self._array, self.sym = result._array, result.sym
        return self

    def __repr__(self) -> str:
        return f"TraceTensor(shape={tuple(self._array.shape)}, dtype={self._array.dtype}, onnx={self.sym.name!r})"


class Tracer:
    """Writes into ``g`` what runs on :class:`TraceTensor` values (see the module docstring).

    Args:
        g: the graph being built.
        model: the module being exported (its class names the root of module paths).
    """

    def __init__(self, g: Graph, model: nn.Module):
        self.g = g
        self.root = type(model).__name__.lower()  # module paths read "rnnmodel.decoder"
        self.path: list[str] = [self.root]  # the module whose forward is running (for errors)
        self._consts: dict[int, tuple[np.ndarray, str]] = {}  # id(array) -> (array, initializer): each weight once
        self._dims: dict[Any, tuple[SymInt, str]] = {}  # recipe or id(SymInt) -> (SymInt, its 1-D int64 value)
        self._const_values: dict[str, np.ndarray] = {}  # initializer -> array, for ops that use a constant's values

    # -- errors ------------------------------------------------------------------------------
    def where(self) -> str:
        return f"module {self.path[-1]!r}"

    def value_error(self, what: str) -> ValueError:
        op = _calling_op()
        described = f"the op {op} ({what})" if op else what
        hint = _HINTS.get(op, "write it with tensor ops (or register a converter for the module with "
                               "@rnnkit.onnx.register)")
        return ValueError(f"rnnkit.onnx.export: {described}, in {self.where()}, reads the values of a traced tensor; "
                          f"the ONNX graph cannot follow values into Python or NumPy: {hint}")

    # -- values -------------------------------------------------------------------------------
    def const(self, array: np.ndarray) -> str:
        """An initializer for a constant array (a weight used twice is stored once)."""
        hit = self._consts.get(id(array))
        if hit is not None and hit[0] is array:
            return hit[1]
        name = self.g.const(array, "const")
        self._consts[id(array)] = (array, name)
        self._const_values[name] = array
        return name

    def constant_of(self, sym: Sym) -> np.ndarray | None:
        """The values of ``sym`` when it is a constant of :meth:`const`, else None."""
        return self._const_values.get(sym.name)

    def sym(self, value: Any) -> Sym:
        """A traced tensor's Sym, or a constant's (a Tensor or array not computed from the inputs)."""
        if isinstance(value, TraceTensor):
            return value.sym
        array = value._array if isinstance(value, Tensor) else np.asarray(value)
        return Sym(self.const(array), array.ndim, array.dtype.type)

    @staticmethod
    def is_size(n: Any) -> bool:
        """Whether ``n`` is a size read from a traced tensor (a :class:`SymInt`)."""
        return isinstance(n, SymInt)

    def dim(self, n: Any) -> str:
        """A size (int or SymInt) as a 1-D int64 value of one element."""
        if not isinstance(n, SymInt):
            return self.g.ints([int(n)])
        kind = n.recipe[0]
        key = n.recipe if kind == "dim" else id(n)  # x.size(0) read twice is one Shape/Gather
        hit = self._dims.get(key)
        if hit is not None:
            return hit[1]
        if kind == "dim":
            _, value, axis = n.recipe
            name = self.g.op("Gather", [self.g.op("Shape", [value]), self.g.ints([axis])], axis=0)
        else:
            _, a, b = n.recipe
            a, b = self.dim(a), self.dim(b)
            if kind == "Mod":  # Python's sign (of the divisor): ONNX Mod with fmod=0
                name = self.g.op("Mod", [a, b], fmod=0)
            elif kind == "Div":  # Python's floor division: (a - a mod b) / b is exact
                name = self.g.op("Div", [self.g.op("Sub", [a, self.g.op("Mod", [a, b], fmod=0)]), b])
            else:
                name = self.g.op(kind, [a, b])
        self._dims[key] = (n, name)
        return name

    def shape(self, sizes: Any) -> str:
        """A shape (ints and SymInts) as a 1-D int64 value: a constant when no size is symbolic."""
        sizes = list(sizes)
        if not any(isinstance(n, SymInt) for n in sizes):
            return self.g.ints([int(n) for n in sizes])
        return self.g.op("Concat", [self.dim(n) for n in sizes], axis=0)

    def wrap(self, array: np.ndarray, name: str) -> TraceTensor:
        array = np.asarray(array)
        return TraceTensor.make(self, array, Sym(name, array.ndim, array.dtype.type))

    def fill(self, array: np.ndarray, shape: tuple) -> TraceTensor:
        """A tensor made by zeros/ones/full with sizes read from traced tensors: ``ConstantOfShape``."""
        from onnx import numpy_helper

        flat = array.reshape(-1)
        if flat.size and not np.all(flat == flat[0]):
            raise ValueError(f"rnnkit.onnx.export: a random tensor (rand/randn) whose size is read from a traced "
                             f"tensor, in {self.where()}, has no ONNX form; only zeros/ones/full/empty can take "
                             "such sizes")
        value = flat[:1] if flat.size else np.zeros(1, array.dtype)
        return self.wrap(array, self.g.op("ConstantOfShape", [self.shape(shape)],
                                          value=numpy_helper.from_array(np.asarray(value, array.dtype))))

    # -- the two dispatch points ---------------------------------------------------------------
    def record(self, fn: type, inputs: tuple, kwargs: dict) -> Any:
        """``fn.apply(*inputs, **kwargs)`` on the values, written into the graph by its ONNX form."""
        for key, value in kwargs.items():
            if isinstance(value, TracedArray) or isinstance(value, tuple) and any(
                    isinstance(v, TracedArray) for v in value):
                raise self.value_error(f"the {key!r} argument of the op {_op_name(fn)}")
        emit = OPS.get(fn)
        if emit is None:
            hint = _HINTS.get(_op_name(fn), f"rnnkit exports {', '.join(sorted(_op_name(c) for c in OPS))}; write "
                              "the forward with those ops or register a converter for the module with "
                              "@rnnkit.onnx.register")
            raise ValueError(f"rnnkit.onnx.export: the op {_op_name(fn)}, in {self.where()}, has no ONNX form: {hint}")
        inputs = tuple(x if isinstance(x, Tensor) else Tensor._wrap(_to_array(x)) for x in inputs)  # as apply does
        result = fn.apply(*(Tensor._wrap(x.values) if isinstance(x, TraceTensor) else x for x in inputs), **kwargs)
        outs = result if isinstance(result, tuple) else (result,)
        operands = [self.sym(x) for x in inputs]
        with self.g.layer(self.path[-1]):
            names = emit(self, operands, [o._array for o in outs], **kwargs)
        names = names if isinstance(names, (list, tuple)) else [names]
        traced = tuple(self.wrap(o._array, n) for o, n in zip(outs, names))
        return traced if isinstance(result, tuple) else traced[0]

    def call_module(self, module: nn.Module, path: str, forward: Callable, *args: Any, **kwargs: Any) -> Any:
        """The one place that decides how a module call is exported: its converter, or its forward traced."""
        if not _holds_traced((args, kwargs)):
            return forward(*args, **kwargs)  # nothing traced flows in: a constant
        converter = None if isinstance(module, _CONTAINERS) else find_converter(module)
        self.path.append(path)
        try:
            if converter is None:
                return forward(*args, **kwargs)
            real = forward(*_values(args), **_values(kwargs))
            syms = convert(self.g, module, *self._syms(args), scope=path, **self._syms(kwargs))
            return self._like(real, syms, module)
        finally:
            self.path.pop()

    def _syms(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._syms(v) for k, v in value.items()}
        if isinstance(value, (tuple, list)) and not hasattr(value, "_fields"):
            return type(value)(self._syms(v) for v in value)
        return self.sym(value) if isinstance(value, (Tensor, np.ndarray)) else value

    def _like(self, real: Any, syms: Any, module: nn.Module) -> Any:
        """The converter's Syms shaped as the forward's real outputs, as traced tensors."""
        if isinstance(real, Tensor):
            if not isinstance(syms, Sym):
                raise ValueError(f"rnnkit.onnx.export: the converter of {type(module).__name__} ({self.where()}) "
                                 f"returned {type(syms).__name__} where forward returned a tensor")
            return self.wrap(real._array, syms.name)
        if isinstance(real, (tuple, list)):
            if not isinstance(syms, (tuple, list)) or len(syms) != len(real):
                raise ValueError(f"rnnkit.onnx.export: the converter of {type(module).__name__} ({self.where()}) "
                                 f"returned {syms!r}, not the structure forward returned ({len(real)} items)")
            items = [self._like(r, s, module) for r, s in zip(real, syms)]
            return type(real)(*items) if hasattr(real, "_fields") else type(real)(items)
        return real

    @contextlib.contextmanager
    def intercept(self, model: nn.Module) -> Iterator[None]:
        """Route every call of ``model`` and its submodules through :meth:`call_module` (undone on exit)."""
        patched = []
        try:
            for path, module in model.named_modules():
                name = f"{self.root}.{path}" if path else self.root
                previous = module.__dict__.get("forward")
                hook = functools.partial(self.call_module, module, name, module.forward)
                object.__setattr__(module, "forward", hook)
                patched.append((module, previous))
            yield
        finally:
            for module, previous in patched:
                if previous is None:
                    del module.__dict__["forward"]
                else:
                    object.__setattr__(module, "forward", previous)


def _holds_traced(value: Any) -> bool:
    if isinstance(value, TraceTensor):
        return True
    if isinstance(value, dict):
        return any(_holds_traced(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return any(_holds_traced(v) for v in value)
    return False


def _values(value: Any) -> Any:
    """Traced tensors replaced by plain tensors of their values (what the real forward runs on)."""
    if isinstance(value, TraceTensor):
        return Tensor._wrap(value.values)
    if isinstance(value, dict):
        return {k: _values(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        items = [_values(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    return value


def _op_name(fn: type) -> str:
    return fn.__name__.lstrip("_")


def _calling_op() -> str | None:
    """The public rnnkit function the user called that ended in reading traced values (``gt``, ``argmax``...)."""
    frame = sys._getframe(2)
    names = []
    while frame is not None:
        file = os.path.abspath(frame.f_code.co_filename)
        if file.startswith(_HERE):
            frame = frame.f_back
            continue
        if not file.startswith(_PACKAGE) or file.startswith(_NUMPY):
            if names or not file.startswith(_NUMPY):
                break  # the user's code called it
            frame = frame.f_back
            continue
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    public = [n for n in names if not n.startswith("_") and n != "method"]
    return public[-1] if public else names[-1] if names else None


def trace(g: Graph, model: nn.Module, args: list, kwargs: dict, example: Callable[[Any], Any]) -> tuple[Any, Tracer]:
    """Run ``model(*args, **kwargs)`` traced; ``example(tracer, value)`` turns an example input into a traced one.

    Returns:
        ``(outputs, tracer)``: the forward's outputs (traced tensors where computed from the inputs).
    """
    tracer = Tracer(g, model)
    traced_args = [example(tracer, a) for a in args]
    traced_kwargs = {k: example(tracer, v) for k, v in kwargs.items()}
    with tracer.intercept(model):
        return model(*traced_args, **traced_kwargs), tracer
