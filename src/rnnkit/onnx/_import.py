"""``rnnkit.onnx.load``: an ONNX graph of recurrent nodes and common ops as an ``rnnkit.nn`` module.

The module runs the graph's nodes in order with rnnkit's differentiable ops, so it can be
fine-tuned: float initializers become Parameters, and every ``LSTM``/``GRU``/``RNN`` node
becomes an ``nn.LSTM``/``nn.GRU``/``nn.RNN`` child with the node's weights converted to
PyTorch's gate order (ONNX i,o,f,c -> i,f,g,o; z,r,h -> r,z,n). A ``direction="reverse"``
node runs the layer over each sequence's valid steps reversed, ``layout=1`` goes through
transposes. Shape arithmetic (Shape, Gather on shapes, ConstantOfShape...) runs on NumPy
arrays. Not imported: ``Scan``/``If`` (the subgraphs rnnkit writes for masks and projections),
node activations other than the defaults, ``clip``, coupled input/forget gates, peepholes.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from rnnkit import _ops, nn
from rnnkit._tensor import Function, Tensor, array_of
from rnnkit.nn import functional as F
from rnnkit.cells import activations as _activations
from rnnkit.onnx._graph import require_onnx
from rnnkit.onnx._recurrent import ONNX_ORDER, reorder_blocks

__all__ = ["load", "OnnxModule", "SUPPORTED_OPS"]



def _is_t(v: Any) -> bool:
    return isinstance(v, Tensor)


def _binary(np_fn, op):
    def run(a, b):
        if _is_t(a) or _is_t(b):
            return op(a if _is_t(a) else Tensor(np.asarray(a)), b if _is_t(b) else Tensor(np.asarray(b)))
        return np_fn(a, b)
    return run


def _unary(np_fn, op):
    return lambda a: op(a) if _is_t(a) else np_fn(a)


def _divide(a: Any, b: Any) -> np.ndarray:
    """ONNX Div: integer division truncates toward zero, as C."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        return (np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))).astype(np.result_type(a, b))
    return np.divide(a, b)


def _arr(v: Any) -> np.ndarray:
    return array_of(v) if _is_t(v) else np.asarray(v)


def _attr(node: Any, name: str, default: Any = None) -> Any:
    onnx = require_onnx()
    for a in node.attribute:
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _slice(x, starts, ends, axes=None, steps=None):
    rank = len(x.shape)
    starts, ends = _arr(starts).tolist(), _arr(ends).tolist()
    axes = list(range(len(starts))) if axes is None or (not _is_t(axes) and np.size(axes) == 0) else _arr(axes).tolist()
    steps = [1] * len(starts) if steps is None else _arr(steps).tolist()
    index = [slice(None)] * rank
    for s, e, a, st in zip(starts, ends, axes, steps):
        size = x.shape[a]
        e = max(min(e, size), -size - 1) if st < 0 else e
        index[a % rank] = slice(s, None if st < 0 and e < -size else e, st)
    return _ops.getitem(x, tuple(index)) if _is_t(x) else np.asarray(x)[tuple(index)]


def _reshape(x, shape):
    shape = [int(s) for s in _arr(shape)]
    shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return _ops.reshape(x, tuple(shape)) if _is_t(x) else np.reshape(x, shape)


def _gemm(node, a, b, c=None):
    if _attr(node, "transA", 0):
        a = _ops.transpose(a, 0, 1) if _is_t(a) else a.T
    if _attr(node, "transB", 0):
        b = _ops.transpose(b, 0, 1) if _is_t(b) else b.T
    y = _MATMUL(a, b)
    alpha, beta = _attr(node, "alpha", 1.0), _attr(node, "beta", 1.0)
    if alpha != 1.0:
        y = _MUL(y, np.asarray(alpha, _arr(y).dtype))
    if c is not None:
        y = _ADD(y, c if beta == 1.0 else _MUL(c, np.asarray(beta, _arr(c).dtype)))
    return y


_ADD = _binary(np.add, _ops.add)
_MUL = _binary(np.multiply, _ops.mul)
_MATMUL = _binary(np.matmul, _ops.matmul)
_DTYPES = {1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64}


def _cast(node, x):
    dtype = _DTYPES.get(_attr(node, "to"))
    if dtype is None:
        raise ValueError(f"Cast to ONNX type {_attr(node, 'to')} is not supported")
    if _is_t(x) and np.dtype(dtype).kind == "f":
        return x if x.dtype == dtype else Tensor(array_of(x).astype(dtype))
    return _arr(x).astype(dtype)


def _axes_arg(node, axes):
    return tuple(int(a) for a in (_arr(axes) if axes is not None else _attr(node, "axes", [])))


def _squeeze(node, x, axes=None):
    axes = _axes_arg(node, axes)
    if _is_t(x):
        for a in sorted((a % len(x.shape) for a in axes), reverse=True):
            x = _ops.squeeze(x, a)
        return x
    return np.squeeze(x, axes if axes else None)


def _unsqueeze(node, x, axes=None):
    axes = _axes_arg(node, axes)
    rank = len(x.shape) + len(axes)
    for a in sorted(a % rank for a in axes):
        x = _ops.unsqueeze(x, a) if _is_t(x) else np.expand_dims(x, a)
    return x


def _concat(node, *xs):
    axis = _attr(node, "axis")
    if any(_is_t(x) for x in xs):
        return _ops.cat([x if _is_t(x) else Tensor(np.asarray(x)) for x in xs], axis)
    return np.concatenate([np.asarray(x) for x in xs], axis)


def _softmax(op):
    def run(node, x):
        axis = _attr(node, "axis", -1)
        return op(x, axis)
    return run


def _reduce_sum(node, x, axes=None):
    axes = _axes_arg(node, axes) or None
    keep = bool(_attr(node, "keepdims", 1))
    return _ops.sum(x, axes, keep) if _is_t(x) else np.sum(x, axes, keepdims=keep)


def _constant_of_shape(node, shape):
    value = _attr(node, "value")
    fill = require_onnx().numpy_helper.to_array(value) if value is not None else np.zeros(1, np.float32)
    return np.full(tuple(int(s) for s in _arr(shape)), fill.reshape(-1)[0], fill.dtype)


def _flatten(node, x):
    axis = _attr(node, "axis", 1) % max(len(x.shape), 1)
    shape = (int(np.prod(x.shape[:axis])), -1)
    return _ops.reshape(x, shape) if _is_t(x) else np.reshape(x, shape)


def _expand(node, x, shape):
    target = np.broadcast_shapes(tuple(x.shape), tuple(int(s) for s in _arr(shape)))
    if _is_t(x):
        return _ops.expand(_ops.reshape(x, (1,) * (len(target) - len(x.shape)) + tuple(x.shape)), *target)
    return np.broadcast_to(x, target).copy()


def _split(node, x, split=None):
    axis = _attr(node, "axis", 0) % len(x.shape)
    n = x.shape[axis]
    if split is not None or _attr(node, "split") is not None:  # explicit sizes (input from opset 13)
        sizes = [int(v) for v in (_arr(split) if split is not None else _attr(node, "split"))]
    else:  # equal parts, one per output (the last smaller when opset 18's num_outputs does not divide)
        parts = len(node.output)
        size = -(-n // parts)
        sizes = [size] * (parts - 1) + [n - size * (parts - 1)]
    if _is_t(x):
        return tuple(_ops.split(x, sizes, axis))
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


class _Erf(Function):
    """erf(x), with d erf / dx = 2 / sqrt(pi) exp(-x^2) (ONNX ``Erf``, as GELU exports write it)."""

    def forward(self, a):
        self.save_for_backward(a)
        return np.vectorize(math.erf, otypes=[a.dtype])(a)

    def backward(self, g):
        (a,) = self.saved
        return g * (2 / math.sqrt(math.pi)) * np.exp(-a * a)


def _layer_normalization(node, x, scale, bias=None):
    axis = _attr(node, "axis", -1) % len(x.shape)
    shape = tuple(x.shape[axis:])
    as_t = (lambda v: v if _is_t(v) else Tensor(np.asarray(v)))
    return F.layer_norm(as_t(x), shape, as_t(scale), None if bias is None else as_t(bias),
                        eps=_attr(node, "epsilon", 1e-5))


# op name -> fn(node, *inputs) (inputs: Tensors for float data, NumPy arrays for constants and shapes)
SUPPORTED_OPS = {
    "Identity": lambda n, x: x,
    "Dropout": lambda n, x, *rest: x,  # inference
    "Add": lambda n, a, b: _ADD(a, b),
    "Sub": lambda n, a, b: _binary(np.subtract, _ops.sub)(a, b),
    "Mul": lambda n, a, b: _MUL(a, b),
    "Div": lambda n, a, b: _binary(_divide, _ops.div)(a, b),
    "MatMul": lambda n, a, b: _MATMUL(a, b),
    "Gemm": _gemm,
    "Tanh": lambda n, x: _unary(_activations.get("tanh").forward, _ops.tanh)(x),
    "Sigmoid": lambda n, x: _unary(_activations.get("sigmoid").forward, _ops.sigmoid)(x),
    "Relu": lambda n, x: _unary(_activations.get("relu").forward, _ops.relu)(x),
    "Exp": lambda n, x: _unary(np.exp, _ops.exp)(x),
    "Neg": lambda n, x: _unary(np.negative, _ops.neg)(x),
    "Softmax": _softmax(_ops.softmax),
    "LogSoftmax": _softmax(_ops.log_softmax),
    "Transpose": lambda n, x: (_ops.permute(x, *_attr(n, "perm")) if _is_t(x)
                               else np.transpose(x, _attr(n, "perm"))),
    "Reshape": lambda n, x, shape: _reshape(x, shape),
    "Flatten": _flatten,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Concat": _concat,
    "Slice": lambda n, x, *rest: _slice(x, *rest),
    "Shape": lambda n, x: np.asarray(x.shape, np.int64)[_attr(n, "start", 0):_attr(n, "end", None)],
    "Gather": lambda n, x, i: (_ops.getitem(x, (slice(None),) * (_attr(n, "axis", 0) % len(x.shape)) + (_arr(i),))
                               if _is_t(x) else np.take(x, _arr(i), axis=_attr(n, "axis", 0))),
    "ConstantOfShape": _constant_of_shape,
    "Expand": _expand,
    "Split": _split,
    "Greater": lambda n, a, b: np.greater(_arr(a), _arr(b)),
    "Cast": _cast,
    "ReduceSum": _reduce_sum,
    "Equal": lambda n, a, b: np.equal(_arr(a), _arr(b)),
    "Not": lambda n, a: np.logical_not(_arr(a)),
    "Less": lambda n, a, b: np.less(_arr(a), _arr(b)),
    "Range": lambda n, a, b, c: np.arange(_arr(a), _arr(b), _arr(c)),
    "LayerNormalization": _layer_normalization,
    "LeakyRelu": lambda n, x: F.leaky_relu(x, _attr(n, "alpha", 0.01)),
    "Erf": lambda n, x: _Erf.apply(x) if _is_t(x) else np.vectorize(math.erf)(np.asarray(x)),
    "Sqrt": lambda n, x: _unary(np.sqrt, _ops.sqrt)(x),
    "Reciprocal": lambda n, x: _unary(np.reciprocal, _ops.reciprocal)(x),
}
_RECURRENT = ("LSTM", "GRU", "RNN")


class OnnxModule(nn.Module):
    """An ONNX graph run node by node with rnnkit ops (built by :func:`load`).

    ``forward(*inputs)`` takes the graph inputs in order (arrays or tensors) and returns the
    one output, or a tuple of the outputs in graph order.
    """

    def __init__(self, model: Any):
        super().__init__()
        onnx = require_onnx()
        graph = model.graph
        unsupported = sorted({n.op_type for n in graph.node} - set(SUPPORTED_OPS) - set(_RECURRENT) - {"Constant"})
        if unsupported:
            where = {op: next(n.name or n.output[0] for n in graph.node if n.op_type == op) for op in unsupported}
            raise ValueError(f"path: rnnkit.onnx.load cannot import the ONNX ops {unsupported} (first at nodes "
                             f"{where}); it imports LSTM, GRU, RNN and {sorted(SUPPORTED_OPS) + ['Constant']}")
        for entry in model.opset_import:
            if entry.domain not in ("", "ai.onnx"):
                raise ValueError(f"path: the graph uses the custom op domain {entry.domain!r}, which rnnkit cannot "
                                 "import")
        self._constants: dict[str, np.ndarray] = {}
        for init in graph.initializer:
            self._constants[init.name] = onnx.numpy_helper.to_array(init)
        for node in graph.node:
            if node.op_type == "Constant":
                value = _attr(node, "value")
                if value is None:
                    raise ValueError(f"Constant node {node.name!r}: only the 'value' form is supported")
                self._constants[node.output[0]] = onnx.numpy_helper.to_array(value)
        recurrent_weights = {name for n in graph.node if n.op_type in _RECURRENT for name in n.input[1:4]}
        self._params: dict[str, str] = {}  # value name -> parameter attribute
        used = {name for n in graph.node for name in n.input}
        for name, array in self._constants.items():
            if array.dtype.kind == "f" and name in used and name not in recurrent_weights and array.ndim > 0 \
                    and name in {i.name for i in graph.initializer}:
                attr = self._attribute_name(name)
                setattr(self, attr, nn.Parameter(array.copy()))
                self._params[name] = attr
        self._nodes = [n for n in graph.node if n.op_type != "Constant"]
        self._layers: dict[str, str] = {}
        for i, node in enumerate(self._nodes):
            if node.op_type in _RECURRENT:
                attr = self._attribute_name(node.name or f"{node.op_type.lower()}_{i}")
                setattr(self, attr, self._recurrent_module(node))
                self._layers[node.output[0]] = attr
        initializer_names = {i.name for i in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in initializer_names]
        self.output_names = [o.name for o in graph.output]

    def _attribute_name(self, name: str) -> str:
        base = "".join(c if c.isalnum() else "_" for c in name).strip("_") or "p"
        base = base if not base[0].isdigit() else f"p_{base}"
        attr, i = base, 1
        while attr in self.__dict__ or attr in self._parameters or attr in self._modules or hasattr(type(self), attr):
            attr, i = f"{base}_{i}", i + 1
        return attr

    def _recurrent_module(self, node: Any) -> nn.Module:
        op = node.op_type
        where = f"{op} node {node.name!r}"
        for name, ok in (("clip", lambda v: v is None), ("input_forget", lambda v: not v)):
            if not ok(_attr(node, name)):
                raise ValueError(f"{where}: the attribute {name}={_attr(node, name)!r} is not supported by rnnkit "
                                 "(it imports nodes without clip or coupled input/forget gates)")
        acts = _attr(node, "activations")
        defaults = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}[op]
        nonlinearity = "tanh"
        if acts is not None:
            acts = [a.decode() if isinstance(a, bytes) else a for a in acts]
            per_dir = len(defaults)
            if op == "RNN" and set(acts) == {"Relu"}:
                nonlinearity = "relu"
            elif any(acts[i:i + per_dir] != defaults for i in range(0, len(acts), per_dir)):
                raise ValueError(f"{where}: the activations {acts} are not supported (rnnkit imports {defaults})")
        if op == "LSTM" and len(node.input) > 7 and node.input[7]:
            raise ValueError(f"{where}: peephole weights (input P) are not supported")
        for slot in node.input[1:4]:
            if slot and slot not in self._constants:
                raise ValueError(f"{where}: its weights {slot!r} are computed in the graph; rnnkit imports weights "
                                 "that are initializers or constants")
        W, R = self._constants[node.input[1]], self._constants[node.input[2]]
        B = self._constants.get(node.input[3]) if len(node.input) > 3 and node.input[3] else None
        D, GH, I = W.shape
        H = int(_attr(node, "hidden_size") or R.shape[-1])
        gates = GH // H
        kwargs = dict(bidirectional=D == 2, bias=True, dtype=W.dtype.type)
        if op == "LSTM":
            module = nn.LSTM(I, H, **kwargs)
        elif op == "GRU":
            module = nn.GRU(I, H, reset_after=bool(_attr(node, "linear_before_reset", 0)), **kwargs)
        else:
            module = nn.RNN(I, H, nonlinearity=nonlinearity, **kwargs)
        order = list(np.argsort(ONNX_ORDER[op]))  # ONNX block index for each PyTorch block

        zeros = np.zeros((D, 2 * GH), W.dtype)
        B = zeros if B is None else B
        for d in range(D):
            suffix = "_l0" + ("_reverse" if d else "")
            for name, value in (("weight_ih", W[d]), ("weight_hh", R[d]), ("bias_ih", B[d, :GH]),
                                ("bias_hh", B[d, GH:])):
                getattr(module, name + suffix).data[...] = reorder_blocks(value, order, gates)
        return module

    def forward(self, *inputs: Any) -> Any:
        if len(inputs) != len(self.input_names):
            raise ValueError(f"inputs: the graph takes {len(self.input_names)} inputs {self.input_names}, got "
                             f"{len(inputs)}")
        values: dict[str, Any] = {"": None}
        values.update(self._constants)
        values.update({name: getattr(self, attr) for name, attr in self._params.items()})
        for name, x in zip(self.input_names, inputs):
            array = array_of(x) if _is_t(x) else np.asarray(x)
            values[name] = x if _is_t(x) else Tensor(array) if array.dtype.kind == "f" else array
        for node in self._nodes:
            args = [values[name] for name in node.input]
            while args and args[-1] is None:
                args.pop()
            if node.op_type in _RECURRENT:
                outs = self._run_recurrent(node, args)
            else:
                outs = SUPPORTED_OPS[node.op_type](node, *args)
            outs = outs if isinstance(outs, tuple) else (outs,)
            for name, value in zip(node.output, outs):
                if name:
                    values[name] = value
        outputs = tuple(values[name] for name in self.output_names)
        return outputs[0] if len(outputs) == 1 else outputs

    def _run_recurrent(self, node: Any, args: list) -> tuple:
        """The node on rnnkit's layer: ``layout=1`` by transposes, ``direction="reverse"`` by running the layer
        forward over each sequence's valid steps reversed (ONNX's ReverseSequence semantics)."""
        module = getattr(self, self._layers[node.output[0]])
        batch_major = bool(_attr(node, "layout", 0))
        x = args[0] if _is_t(args[0]) else Tensor(np.asarray(args[0]))
        lengths = args[4] if len(args) > 4 and args[4] is not None else None
        h0 = args[5] if len(args) > 5 else None
        c0 = args[6] if len(args) > 6 else None
        if batch_major:  # X (B, T, I), states (B, D, H)
            x = _ops.transpose(x, 0, 1)
            h0, c0 = (None if s is None else _ops.transpose(s if _is_t(s) else Tensor(np.asarray(s)), 0, 1)
                      for s in (h0, c0))
        T, B = x.shape[0], x.shape[1]
        D = 2 if module.bidirectional else 1
        H = module.hidden_size
        if node.op_type == "LSTM" and (h0 is not None or c0 is not None):
            zeros = np.zeros((D, B, H), x.dtype)
            hx = (h0 if h0 is not None else zeros, c0 if c0 is not None else zeros)
        else:
            hx = h0
        lengths = None if lengths is None else _arr(lengths).astype(np.int64)
        index = None
        if _attr(node, "direction") == "reverse":
            valid = np.full(B, T) if lengths is None else lengths
            t = np.arange(T)[:, None]
            index = (np.where(t < valid[None, :], valid[None, :] - 1 - t, t), np.arange(B)[None, :])  # (T, B)
            x = _ops.getitem(x, index)  # each sequence's valid steps reversed; padding stays in place
        out, state = module(x, hx, lengths)
        if index is not None:
            out = _ops.getitem(out, index)  # back to time order
        Y = _ops.permute(_ops.reshape(out, (T, B, D, H)), 0, 2, 1, 3)  # (T, D, B, H)
        if batch_major:  # Y (B, T, D, H), Y_h (B, D, H)
            Y = _ops.permute(Y, 2, 0, 1, 3)
            state = tuple(_ops.transpose(s, 0, 1) for s in state) if isinstance(state, tuple) \
                else _ops.transpose(state, 0, 1)
        return (Y, *state) if node.op_type == "LSTM" else (Y, state)


def load(path: Any) -> OnnxModule:
    """Read an ONNX file into an ``rnnkit.nn`` module with the same numbers.

    Args:
        path: an ``.onnx`` file whose graph uses ``LSTM``/``GRU``/``RNN`` nodes and the ops in
            :data:`SUPPORTED_OPS` (as written by :func:`rnnkit.onnx.export`, ``torch.onnx.export``
            or tf2onnx for such models).

    Returns:
        An :class:`OnnxModule`: call it with the graph inputs in order.

    Raises:
        ValueError: a missing file, or ops/attributes rnnkit cannot import (named in the message).

    Example:
        >>> import numpy as np, os, tempfile, rnnkit.onnx
        >>> gru = rnnkit.nn.GRU(3, 4)
        >>> path = os.path.join(tempfile.mkdtemp(), "gru.onnx")
        >>> rnnkit.onnx.export(gru, np.zeros((5, 2, 3), np.float32), path)
        >>> y, h = rnnkit.onnx.load(path)(np.ones((5, 2, 3), np.float32))
        >>> bool(np.allclose(y.detach().numpy(), gru(np.ones((5, 2, 3), np.float32))[0].detach().numpy(), atol=1e-6))
        True
    """
    onnx = require_onnx()
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a file path, got {type(path).__name__}")
    if not os.path.isfile(path):
        raise ValueError(f"path: {os.fspath(path)!r} is not a file")
    try:
        model = onnx.load(os.fspath(path))
    except Exception as error:  # onnx raises DecodeError and others for a damaged file
        raise ValueError(f"path: {os.fspath(path)!r} is not a readable ONNX file ({error})") from None
    return OnnxModule(model)
