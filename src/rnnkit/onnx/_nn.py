"""Export of ``rnnkit.nn`` modules: one converter per module class, found through :func:`register`.

A converter is ``fn(g, module, *args, **kwargs) -> outputs``: ``args`` are :class:`Sym`
values (or tuples of them, or plain Python values as given to ``forward``), and the outputs
mirror what ``module.forward`` returns (a Sym, or a tuple/nested tuple of Syms). Containers
call :func:`convert` on their children.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from rnnkit import nn
from rnnkit.nn.modules.rnn import RNNBase, RNNCellBase
from rnnkit.onnx._graph import Graph, Sym
from rnnkit.onnx._recurrent import RecurrentSpec, emit

__all__ = ["register", "convert", "converter_for", "find_converter", "gelu", "rnn_spec", "linear", "recurrent_layer"]

_CONVERTERS: dict[type, Callable] = {}


def register(module_class: type) -> Callable[[Callable], Callable]:
    """Register ``fn(g, module, *args, **kwargs)`` as the ONNX converter of ``module_class`` (and subclasses).

    Example:
        >>> import rnnkit
        >>> from rnnkit.onnx import register, convert
        >>> class Twice(rnnkit.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = rnnkit.nn.Linear(3, 3)
        ...     def forward(self, x):
        ...         return self.fc(self.fc(x))
        >>> @register(Twice)
        ... def _twice(g, module, x):
        ...     return convert(g, module.fc, convert(g, module.fc, x))
    """
    if not isinstance(module_class, type) or not issubclass(module_class, nn.Module):
        raise TypeError(f"module_class: expected a subclass of rnnkit.nn.Module, got {module_class!r}")

    def decorate(fn: Callable) -> Callable:
        _CONVERTERS[module_class] = fn
        return fn

    return decorate


def find_converter(module: Any) -> Callable | None:
    """The converter of ``module``'s class (the nearest registered base class), or None."""
    for cls in type(module).__mro__:
        if cls in _CONVERTERS:
            return _CONVERTERS[cls]
    return None


def converter_for(module: Any) -> Callable:
    """The converter of ``module``'s class (the nearest registered base class); ValueError when none."""
    fn = find_converter(module)
    if fn is not None:
        return fn
    known = sorted(c.__name__ for c in _CONVERTERS)
    raise ValueError(f"model: rnnkit.onnx has no converter for {type(module).__name__} (converters exist for "
                     f"{known}); a converter can only convert modules that have one: register one with "
                     "@rnnkit.onnx.register(YourModule), or leave the module to rnnkit.onnx.export, which traces "
                     "the forward of modules without a converter")


def convert(g: Graph, module: Any, *args: Any, scope: str | None = None, **kwargs: Any) -> Any:
    """Write ``module(*args, **kwargs)`` into ``g`` and return its outputs as Syms (``scope``: the layer's name)."""
    fn = converter_for(module)
    with g.layer(scope or type(module).__name__.lower()):
        return fn(g, module, *args, **kwargs)


def _np(p: Any) -> np.ndarray | None:
    return None if p is None else np.asarray(p.data)


def linear(g: Graph, x: Sym, weight: np.ndarray, bias: np.ndarray | None) -> Sym:
    """x (..., I) -> x W^T + b (..., O), W (O, I)."""
    y = g.op("MatMul", [x.name, g.const(np.ascontiguousarray(weight.T), "weight_T")])
    if bias is not None:
        y = g.op("Add", [y, g.const(bias, "bias")])
    return Sym(y, x.rank, x.dtype)


@register(nn.Linear)
def _linear(g: Graph, m: nn.Linear, x: Sym) -> Sym:
    return linear(g, x, _np(m.weight), _np(m.bias))


@register(nn.Embedding)
def _embedding(g: Graph, m: nn.Embedding, ids: Sym) -> Sym:
    if np.dtype(ids.dtype).kind not in "iu":
        raise TypeError(f"example_input: Embedding expects integer indices, got dtype {np.dtype(ids.dtype)}")
    return Sym(g.op("Gather", [g.const(_np(m.weight), "weight"), ids.name], axis=0), ids.rank + 1, _np(m.weight).dtype)


@register(nn.Dropout)
@register(nn.Identity)
def _identity(g: Graph, m: Any, x: Any) -> Any:
    return x  # dropout is the identity in eval mode, the mode models are exported in


_ELEMENTWISE = {nn.Tanh: "Tanh", nn.ReLU: "Relu", nn.Sigmoid: "Sigmoid"}
for _cls, _op in _ELEMENTWISE.items():
    register(_cls)(lambda g, m, x, _op=_op: Sym(g.op(_op, [x.name]), x.rank, x.dtype))


@register(nn.LeakyReLU)
def _leaky_relu(g: Graph, m: nn.LeakyReLU, x: Sym) -> Sym:
    return Sym(g.op("LeakyRelu", [x.name], alpha=float(m.negative_slope)), x.rank, x.dtype)


@register(nn.GELU)
def _gelu(g: Graph, m: nn.GELU, x: Sym) -> Sym:
    return gelu(g, x, m.approximate)


def gelu(g: Graph, x: Sym, approximate: str) -> Sym:
    """GELU written with elementary ops (ONNX's own ``Gelu`` needs opset 20)::

        none:  0.5 x (1 + erf(x / sqrt(2)))
        tanh:  0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
    """
    dtype = np.dtype(x.dtype)
    half, one = g.const(np.asarray(0.5, dtype), "half"), g.const(np.asarray(1.0, dtype), "one")
    if approximate == "tanh":
        cube = g.op("Mul", [x.name, g.op("Mul", [x.name, x.name])])  # x^3
        inner = g.op("Add", [x.name, g.op("Mul", [cube, g.const(np.asarray(0.044715, dtype), "c")])])
        core = g.op("Tanh", [g.op("Mul", [inner, g.const(np.asarray(np.sqrt(2 / np.pi), dtype), "k")])])
    else:
        core = g.op("Erf", [g.op("Div", [x.name, g.const(np.asarray(np.sqrt(2.0), dtype), "sqrt2")])])
    return Sym(g.op("Mul", [g.op("Mul", [x.name, half]), g.op("Add", [one, core])]), x.rank, x.dtype)


@register(nn.LayerNorm)
def _layer_norm(g: Graph, m: nn.LayerNorm, x: Sym) -> Sym:
    """ONNX ``LayerNormalization`` over the last ``len(normalized_shape)`` axes (opset 17)."""
    dtype = np.dtype(x.dtype)
    scale = _np(m.weight) if m.weight is not None else np.ones(m.normalized_shape, dtype)
    inputs = [x.name, g.const(scale.astype(dtype), "weight")]
    if m.bias is not None:
        inputs.append(g.const(_np(m.bias).astype(dtype), "bias"))
    return Sym(g.op("LayerNormalization", inputs, axis=-len(m.normalized_shape), epsilon=float(m.eps)),
               x.rank, x.dtype)


@register(nn.Softmax)
@register(nn.LogSoftmax)
def _softmax(g: Graph, m: Any, x: Sym) -> Sym:
    dim = m.dim if m.dim is not None else (0 if x.rank in (0, 1, 3) else 1)  # PyTorch's legacy implicit dim
    op = "Softmax" if isinstance(m, nn.Softmax) else "LogSoftmax"
    return Sym(g.op(op, [x.name], axis=dim), x.rank, x.dtype)


@register(nn.Flatten)
def _flatten(g: Graph, m: nn.Flatten, x: Sym) -> Sym:
    start, end = m.start_dim % x.rank, m.end_dim % x.rank
    shape = g.op("Shape", [x.name])
    parts = []
    if start > 0:
        parts.append(g.op("Slice", [shape, g.ints([0]), g.ints([start])]))
    parts.append(g.ints([-1]))
    if end < x.rank - 1:
        parts.append(g.op("Slice", [shape, g.ints([end + 1]), g.ints([x.rank])]))
    target = parts[0] if len(parts) == 1 else g.op("Concat", parts, axis=0)
    return Sym(g.op("Reshape", [x.name, target]), x.rank - (end - start), x.dtype)


@register(nn.Sequential)
def _sequential(g: Graph, m: nn.Sequential, x: Any) -> Any:
    for name, child in m._modules.items():
        x = convert(g, child, x, scope=f"{type(child).__name__.lower()}_{name}" if name.isdigit() else name)
    return x


def rnn_spec(m: RNNBase) -> RecurrentSpec:
    """The layer stack of ``nn.RNN``/``nn.LSTM``/``nn.GRU`` in PyTorch's layout."""
    weights = [tuple(_np(p) for p in group) for group in m._weights()]
    return RecurrentSpec(
        mode=m.mode, hidden_size=m.hidden_size, weights=weights, num_layers=m.num_layers,
        bidirectional=m.bidirectional, proj_size=m.proj_size, reset_after=m.reset_after,
        activation="relu" if m.mode == "RNN_RELU" else "tanh", recurrent_activation="sigmoid",
        dtype=np.dtype(m.dtype).type,
    )


def recurrent_layer(g: Graph, m: RNNBase, x: Sym, hx: Any = None, lengths: Any = None) -> tuple:
    """``m(x, hx, lengths)`` as ONNX: returns ``(output, h_n)`` or ``(output, (h_n, c_n))`` in m's layout."""
    if isinstance(lengths, Sym) and np.dtype(lengths.dtype).kind not in "iu":
        raise TypeError(f"lengths: expected integers, got dtype {np.dtype(lengths.dtype)}")
    if x.rank not in (2, 3):
        raise ValueError(f"example_input: {type(m).__name__} expects a 2-D or 3-D input, got rank {x.rank}")
    batched = x.rank == 3
    h0 = c0 = None
    if hx is not None:
        h0, c0 = (hx if m.mode == "LSTM" else (hx, None))
    if lengths is not None and not isinstance(lengths, Sym):  # a constant given in example_input
        lengths = Sym(g.const(np.asarray(getattr(lengths, "data", lengths), np.int64), "lengths"), 1, np.int64)
    if batched:
        x_tm = g.op("Transpose", [x.name], perm=[1, 0, 2]) if m.batch_first else x.name  # (T, B, I)
    else:
        x_tm = g.op("Unsqueeze", [x.name, g.ints([1])])  # (T, 1, I)
        h0 = None if h0 is None else Sym(g.op("Unsqueeze", [h0.name, g.ints([1])]), 3, h0.dtype)
        c0 = None if c0 is None else Sym(g.op("Unsqueeze", [c0.name, g.ints([1])]), 3, c0.dtype)
    y, h_n, c_n = emit(g, rnn_spec(m), x_tm, h0=None if h0 is None else h0.name, c0=None if c0 is None else c0.name,
                       lengths=None if lengths is None else lengths.name)
    if not batched:
        y, h_n = g.op("Squeeze", [y, g.ints([1])]), g.op("Squeeze", [h_n, g.ints([1])])
        c_n = None if c_n is None else g.op("Squeeze", [c_n, g.ints([1])])
    elif m.batch_first:
        y = g.op("Transpose", [y], perm=[1, 0, 2])  # (B, T, D*P)
    rank = 3 if batched else 2
    out, h = Sym(y, rank, x.dtype), Sym(h_n, rank, x.dtype)
    return (out, (h, Sym(c_n, rank, x.dtype))) if m.mode == "LSTM" else (out, h)


register(RNNBase)(recurrent_layer)


@register(RNNCellBase)
def _cell(g: Graph, m: RNNCellBase, x: Sym, hx: Any = None) -> Any:
    """One step of ``nn.RNNCell``/``LSTMCell``/``GRUCell``: the layer's node over a sequence of length 1."""
    if x.rank not in (1, 2):
        raise ValueError(f"example_input: {type(m).__name__} expects a 1-D or 2-D input, got rank {x.rank}")
    lead = [0, 1] if x.rank == 1 else [0]  # (I,) -> (1, 1, I); (B, I) -> (1, B, I)
    states = (hx if m.mode == "LSTM" else (hx,)) if hx is not None else (None, None)
    h0, c0 = (g.op("Unsqueeze", [s.name, g.ints(lead)]) if s is not None else None for s in (*states, None)[:2])
    spec = RecurrentSpec(mode=m.mode, hidden_size=m.hidden_size, reset_after=m.reset_after,
                         weights=[(_np(m.weight_ih), _np(m.weight_hh), _np(m.bias_ih), _np(m.bias_hh), None)],
                         activation="relu" if m.mode == "RNN_RELU" else "tanh", dtype=np.dtype(m.dtype).type)
    _, h_n, c_n = emit(g, spec, g.op("Unsqueeze", [x.name, g.ints(lead)]), h0, c0)
    h1 = Sym(g.op("Squeeze", [h_n, g.ints(lead)]), x.rank, x.dtype)  # (B, H) or (H,)
    return (h1, Sym(g.op("Squeeze", [c_n, g.ints(lead)]), x.rank, x.dtype)) if m.mode == "LSTM" else h1
