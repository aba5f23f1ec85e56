"""A small ONNX graph builder: unique names, constants, opset checks, checking and atomic writing.

Only the ``onnx`` package is needed (no torch, no ONNX Runtime). Every op goes through
:meth:`Graph.op`, which refuses an op the chosen opset does not have in the form written
here, naming the layer being converted; :func:`write` runs ``onnx.checker`` (with shape
inference) before the file replaces ``path`` atomically.

Example:
    >>> import numpy as np
    >>> g = Graph(opset=17)
    >>> x = g.input("x", np.float32, ["batch", 3])
    >>> y = g.op("Tanh", [g.op("MatMul", [x, g.const(np.eye(3, dtype=np.float32))])])
    >>> g.output(y, "y", np.float32, ["batch", 3])
    >>> model = g.model()
    >>> [n.op_type for n in model.graph.node]
    ['MatMul', 'Tanh', 'Identity']
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

__all__ = ["MIN_OPSET", "DEFAULT_OPSET", "OP_SINCE", "Sym", "Graph", "require_onnx", "check_path", "write", "max_opset"]

DEFAULT_OPSET = 17  # torch.onnx.export's default in torch 2.x
MIN_OPSET = 7  # the oldest opset accepted at all (each op then checks its own, see OP_SINCE)

# First opset of each op in the form this package writes it (ops not listed: opset 1 forms).
OP_SINCE = {
    "Squeeze": 13, "Unsqueeze": 13, "ReduceSum": 13, "Split": 13, "Softmax": 13, "LogSoftmax": 13,
    "Scan": 11, "Range": 11, "Where": 9, "Erf": 9, "Selu": 6, "Shape": 1, "Slice": 10, "Expand": 8,
    "ConstantOfShape": 9, "LSTM": 7, "GRU": 7, "RNN": 7, "LayerNormalization": 17, "Gelu": 20, "LeakyRelu": 6,
    "Add": 7, "Sub": 7, "Mul": 7, "Div": 7, "Reshape": 5, "Cast": 6, "Less": 9, "Greater": 9, "Equal": 11, "If": 11, "Xor": 7, "And": 7,
    "Einsum": 12, "Trilu": 14, "CumSum": 11, "Clip": 11, "GatherElements": 11, "Mod": 10, "Round": 11, "Sign": 9,
}


def require_onnx() -> Any:
    """The ``onnx`` module, or an ImportError saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise ImportError("rnnkit.onnx needs the onnx package: pip install 'rnnkit[files]' (or pip install onnx)") \
            from None
    return onnx


def max_opset() -> int:
    """The newest opset the installed ``onnx`` package knows."""
    return int(require_onnx().defs.onnx_opset_version())


@dataclass(frozen=True)
class Sym:
    """A value of the graph being built: its name, rank and NumPy dtype (what converters need to know)."""

    name: str  # the ONNX value name
    rank: int  # number of axes
    dtype: Any = np.float32  # NumPy dtype of the elements


class Graph:
    """The nodes, constants, inputs and outputs of one ONNX graph (or a Scan body, with ``parent``).

    Args:
        opset: the ONNX opset (domain "") the graph is written for.
        parent: the enclosing graph of a subgraph; constants and names are shared with it.
    """

    def __init__(self, opset: int, parent: Graph | None = None):
        self.opset = opset
        self.parent = parent
        self.root: Graph = parent.root if parent is not None else self
        self.nodes: list = []
        self.inputs: list = []
        self.outputs: list = []
        self.initializers: list = []
        self.scope = parent.scope if parent is not None else "model"  # the layer being converted (for errors)
        if parent is None:
            self.extra_outputs: list = []  # (Sym, name, size) outputs a converter adds (a stateful layer's states)
            self._names: set[str] = set()
            self._node_names: set[str] = set()
            self._consts: dict[tuple, str] = {}

    # -- names and scope -------------------------------------------------------------------
    def fresh(self, hint: str, node: bool = False) -> str:
        """A value (or, with ``node``, a node) name not used anywhere in the model, built from ``hint``."""
        names = self.root._node_names if node else self.root._names
        base = "".join(c if c.isalnum() or c in "_./" else "_" for c in hint) or "v"
        name, i = base, 1
        while name in names:
            name, i = f"{base}_{i}", i + 1
        names.add(name)
        return name

    @contextlib.contextmanager
    def layer(self, name: str) -> Iterator[None]:
        """Name the layer being converted (errors mention it; node names start with it)."""
        previous, self.scope = self.scope, name
        try:
            yield
        finally:
            self.scope = previous

    # -- values -----------------------------------------------------------------------------
    def const(self, array: Any, hint: str = "const") -> str:
        """An initializer of the root graph holding ``array`` (identical small constants are shared)."""
        onnx = require_onnx()
        array = np.asarray(array)
        root = self.root
        key = (array.dtype.str, array.shape, array.tobytes()) if array.size <= 16 else None
        if key is not None and key in root._consts:
            return root._consts[key]
        name = self.fresh(f"{self.scope}/{hint}")
        root.initializers.append(onnx.numpy_helper.from_array(np.array(array, order="C"), name))  # 0-d stays 0-d
        if key is not None:
            root._consts[key] = name
        return name

    def ints(self, values: Sequence[int]) -> str:
        """A 1-D int64 constant (axes, shapes, starts...)."""
        return self.const(np.asarray(values, np.int64), "ints")

    def input(self, name: str, dtype: Any, shape: Sequence[int | str | None] | None) -> str:
        """Declare a graph input (``shape`` entries: int sizes, str symbolic sizes, None unknown)."""
        onnx = require_onnx()
        if name in self.root._names:
            raise ValueError(f"input_names: the name {name!r} is used twice")
        self.root._names.add(name)
        elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        self.inputs.append(onnx.helper.make_tensor_value_info(name, elem, None if shape is None else list(shape)))
        return name

    def output(self, value: str, name: str | None, dtype: Any, shape: Sequence[int | str | None] | None) -> None:
        """Declare ``value`` a graph output, renamed to ``name`` through an Identity when given."""
        onnx = require_onnx()
        if name is not None and name != value:
            if name in self.root._names:
                raise ValueError(f"output_names: the name {name!r} is already used in the graph")
            self.root._names.add(name)
            self.nodes.append(onnx.helper.make_node("Identity", [value], [name], name=self.fresh("output", node=True)))
            value = name
        elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        self.outputs.append(onnx.helper.make_tensor_value_info(value, elem, None if shape is None else list(shape)))

    # -- nodes ------------------------------------------------------------------------------
    def op(self, op_type: str, inputs: Sequence[str], outputs: int = 1, **attrs: Any) -> Any:
        """Append a node; returns its output name (or a list of ``outputs`` names).

        Raises:
            ValueError: the graph's opset is older than the op's form written here.
        """
        onnx = require_onnx()
        since = OP_SINCE.get(op_type, 1)
        if self.opset < since:
            raise ValueError(f"opset: {self.opset} is too old for the ONNX op {op_type} that layer {self.scope!r} "
                             f"needs (rnnkit writes it in its opset-{since} form); pass opset={since} or later")
        names = [self.fresh(f"{self.scope}/{op_type}") for _ in range(outputs)]
        node_name = self.fresh(f"{self.scope}/{op_type}", node=True)
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(onnx.helper.make_node(op_type, list(inputs), names, name=node_name, **attrs))
        return names[0] if outputs == 1 else names

    def subgraph(self) -> Graph:
        """A child graph (a Scan body) sharing this graph's names and constants."""
        return Graph(self.opset, parent=self)

    def body_input(self, hint: str, dtype: Any = np.float32) -> str:
        """Declare an input of a subgraph (shape left to inference)."""
        onnx = require_onnx()
        name = self.fresh(f"{self.scope}/{hint}")
        elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        self.inputs.append(onnx.helper.make_tensor_value_info(name, elem, None))
        return name

    def body_output(self, value: str, dtype: Any = np.float32) -> None:
        """Declare an output of a subgraph (each output gets its own Identity, so names never repeat)."""
        onnx = require_onnx()
        name = self.op("Identity", [value])
        elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        self.outputs.append(onnx.helper.make_tensor_value_info(name, elem, None))

    def graph_proto(self, name: str) -> Any:
        onnx = require_onnx()
        return onnx.helper.make_graph(self.nodes, name, self.inputs, self.outputs, self.initializers)

    def model(self, name: str = "rnnkit", metadata: dict[str, str] | None = None) -> Any:
        """The ``ModelProto`` (IR version: the lowest that holds the opset, for older runtimes)."""
        onnx = require_onnx()
        from rnnkit import __version__

        opsets = [onnx.helper.make_opsetid("", self.opset)]
        model = onnx.helper.make_model(self.graph_proto(name), opset_imports=opsets, producer_name="rnnkit",
                                       producer_version=__version__)
        model.ir_version = onnx.helper.find_min_ir_version_for(opsets)
        for key, value in (metadata or {}).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = str(key), str(value)
        return model


def check_path(path: Any) -> str:
    """``path`` as a str, checked to be a writable file location; ValueError/TypeError otherwise."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a file path (str or os.PathLike), got {type(path).__name__}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"path: {path!r} is a directory; give a file name such as {os.path.join(path, 'model.onnx')!r}")
    if not os.path.isdir(folder):
        raise ValueError(f"path: cannot write {path!r}: the directory {folder!r} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"path: cannot write {path!r}: the directory {folder!r} is not writable; "
                         "choose a writable location")
    return path


def write(model: Any, path: str) -> None:
    """Check ``model`` with ``onnx.checker`` (full check: shape inference too) and write it atomically."""
    from rnnkit.serialization import atomic_write_bytes

    onnx = require_onnx()
    onnx.checker.check_model(model, full_check=True)
    atomic_write_bytes(path, model.SerializeToString())
