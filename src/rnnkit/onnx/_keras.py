"""Export of ``rnnkit.keras`` models (``model.export(path, format="onnx")``, Keras 3's signature).

Models are read through their public surface: ``layers``, ``inputs``, ``get_config()`` (the
functional graph's ``inbound_nodes``), ``get_layer()``, ``get_weights()`` and each layer's
``get_config()``. Keras masks (``Embedding(mask_zero=True)``, ``Masking``) travel next to the
values as (B, T) bool tensors, as Keras propagates them. A ``stateful`` layer's carried states
become graph inputs ``{layer}_state_{i}`` and outputs ``{layer}_state_{i}_out`` (the caller
feeds them back between calls); the model is never called, so its states are left as they are.

Keras's recurrent weights map onto PyTorch's layout (:class:`RecurrentSpec`): ``w_ih = kernel^T``,
``w_hh = recurrent_kernel^T``; LSTM's gates i, f, c, o are PyTorch's order; GRU's z, r, h are
permuted to r, z, n, and its ``reset_after=True`` bias (2, 3H) is ``[b_ih; b_hh]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit.onnx._export import check_opset, declare_outputs
from rnnkit.onnx._graph import DEFAULT_OPSET, Graph, Sym, check_path, require_onnx, write
from rnnkit.onnx._recurrent import RecurrentSpec, activation, emit

__all__ = ["convert_model", "recurrent_spec"]


def _is(obj: Any, *names: str) -> bool:
    """Whether ``obj`` is an instance of one of the ``rnnkit.keras`` classes ``names``.

    Classes are recognised by name along the MRO, so this module imports nothing from
    ``rnnkit.keras`` (which imports it for ``Model.export``): the layers stay below the export.
    """
    return any(c.__name__ in names and c.__module__.startswith("rnnkit.keras") for c in type(obj).__mro__)


def _act(g: Graph, name: Any, x: Sym) -> Sym:
    if name in (None, "linear"):
        return x
    if name in ("softmax", "log_softmax"):
        return Sym(g.op("Softmax" if name == "softmax" else "LogSoftmax", [x.name], axis=-1), x.rank, x.dtype)
    if not isinstance(name, str):
        raise ValueError(f"activation: layer {g.scope!r} uses a custom activation {name!r}; rnnkit exports the "
                         "registered Keras activations by name")
    return Sym(activation(g, name, x.name), x.rank, x.dtype)


def _layer_normalization(g: Graph, layer: Any, config: dict, x: Sym) -> Sym:
    """Keras ``LayerNormalization`` over trailing axes: ONNX ``LayerNormalization`` (opset 17), or for
    ``rms_scaling`` (Keras's ``x / sqrt(var + eps) * gamma``) the same statistics written as elementary ops."""
    axes = sorted(a % x.rank for a in (config["axis"] if isinstance(config["axis"], list) else [config["axis"]]))
    if axes != list(range(axes[0], x.rank)):
        raise ValueError(f"layer {layer.name!r}: rnnkit.onnx exports LayerNormalization over trailing axes, got "
                         f"axis={config['axis']} for a rank-{x.rank} input")
    weights = list(layer.get_weights())  # gamma (scale) then beta (center), each only when enabled
    gamma = weights.pop(0) if config["scale"] else None
    beta = weights.pop(0) if config["center"] else None
    dtype = np.dtype(x.dtype)
    if not config.get("rms_scaling"):
        shape = gamma.shape if gamma is not None else beta.shape if beta is not None else None
        if shape is None:
            raise ValueError(f"layer {layer.name!r}: build the layer (call the model once) before exporting")
        inputs = [x.name, g.const((gamma if gamma is not None else np.ones(shape)).astype(dtype), "gamma")]
        if beta is not None:
            inputs.append(g.const(beta.astype(dtype), "beta"))
        return Sym(g.op("LayerNormalization", inputs, axis=axes[0], epsilon=float(config["epsilon"])),
                   x.rank, x.dtype)
    count = g.const(np.asarray(np.prod(gamma.shape), dtype), "count")
    mean = g.op("Div", [g.op("ReduceSum", [x.name, g.ints(axes)], keepdims=1), count])
    centred = g.op("Sub", [x.name, mean])
    var = g.op("Div", [g.op("ReduceSum", [g.op("Mul", [centred, centred]), g.ints(axes)], keepdims=1), count])
    inv = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [var, g.const(np.asarray(config["epsilon"], dtype))])])])
    return Sym(g.op("Mul", [g.op("Mul", [x.name, inv]), g.const(gamma.astype(dtype), "gamma")]), x.rank, x.dtype)


def recurrent_spec(layer: Any) -> RecurrentSpec:
    """A Keras ``SimpleRNN``/``LSTM``/``GRU`` (or ``RNN(cell)``) as one layer in PyTorch's layout."""

    cell = layer.cell
    config = cell.get_config()
    weights = cell.get_weights()
    kernel, recurrent_kernel = weights[0], weights[1]
    bias = weights[2] if len(weights) > 2 else None
    H = int(config["units"])
    b_ih = b_hh = None
    if _is(cell, "GRUCell"):
        mode, cols = "GRU", np.r_[H:2 * H, 0:H, 2 * H:3 * H]  # z, r, h -> r, z, n
        if bias is not None:
            b_ih, b_hh = (bias[0][cols], bias[1][cols]) if bias.ndim == 2 else (bias[cols], None)
    elif _is(cell, "LSTMCell", "SimpleRNNCell"):
        mode, cols = ("LSTM" if _is(cell, "LSTMCell") else "RNN_TANH"), slice(None)
        b_ih = bias
    else:
        raise ValueError(f"layer {layer.name!r}: rnnkit exports SimpleRNN, LSTM and GRU cells, got {type(cell).__name__}")
    act = config["activation"]
    if mode == "RNN_TANH" and act == "relu":
        mode = "RNN_RELU"
    return RecurrentSpec(
        mode=mode, hidden_size=H,
        weights=[(np.ascontiguousarray(kernel[:, cols].T), np.ascontiguousarray(recurrent_kernel[:, cols].T),
                  b_ih, b_hh, None)],
        reset_after=bool(config.get("reset_after", True)), activation=act,
        recurrent_activation=config.get("recurrent_activation", "sigmoid"), dtype=kernel.dtype.type,
    )


def _stateful_inputs(g: Graph, layer: Any, sizes: list[int], initial_state: list[Sym] | None) -> list[Sym] | None:
    """A stateful layer's carried states become graph inputs ``{layer}_state_{i}`` (B, H) (an ONNX graph keeps
    nothing between calls: the caller feeds back the ``{layer}_state_{i}_out`` outputs)."""
    if not layer.get_config().get("stateful") or initial_state:
        return initial_state
    names = [f"{layer.name}_state_{i}" for i in range(len(sizes))]
    return [Sym(g.input(name, np.float32, [f"{name}_dim0", size]), 2) for name, size in zip(names, sizes)]


def _stateful_outputs(g: Graph, layer: Any, finals: list[Sym], size: int) -> None:
    if layer.get_config().get("stateful"):
        g.root.extra_outputs += [(f, f"{layer.name}_state_{i}_out", size) for i, f in enumerate(finals)]


def _states_in(g: Graph, states: list[Sym] | None, count: int) -> list[str | None]:
    """Keras (B, H) initial states as (1, B, H) names, or Nones."""
    if not states:
        return [None] * count
    return [g.op("Unsqueeze", [s.name, g.ints([0])]) for s in states]


def _time_major(g: Graph, x: Sym, time_major: bool) -> str:
    return x.name if time_major else g.op("Transpose", [x.name], perm=[1, 0, 2])


def _sequence_out(g: Graph, y_tm: str, time_major: bool) -> str:
    return y_tm if time_major else g.op("Transpose", [y_tm], perm=[1, 0, 2])


def _last(g: Graph, y_tm: str) -> str:
    """y[-1] of a time-major (T, B, H) sequence: (B, H)."""
    return g.op("Squeeze", [g.op("Slice", [y_tm, g.ints([-1]), g.ints([np.iinfo(np.int64).max]), g.ints([0])]),
                            g.ints([0])])


def _final(g: Graph, state: str, index: int) -> Sym:
    """state[index] of (L*D, B, H): (B, H)."""
    return Sym(g.op("Gather", [state, g.const(np.asarray(index, np.int64))], axis=0), 2)


def _mask_tm(g: Graph, mask: Sym | None, time_major: bool) -> str | None:
    if mask is None:
        return None
    return mask.name if time_major else g.op("Transpose", [mask.name], perm=[1, 0])


def _rnn_layer(g: Graph, layer: Any, x: Sym, mask: Sym | None, initial_state: list[Sym] | None) -> tuple:
    config = layer.get_config()
    spec = recurrent_spec(layer)
    tm = bool(config.get("time_major", False))
    n_states = 2 if spec.mode == "LSTM" else 1
    initial_state = _stateful_inputs(g, layer, [spec.hidden_size] * n_states, initial_state)
    h0, *c0 = _states_in(g, initial_state, n_states)
    y, h_n, c_n = emit(g, spec, _time_major(g, x, tm), h0, c0[0] if c0 else None, mask=_mask_tm(g, mask, tm),
                       masked_output="zero" if config.get("zero_output_for_mask") else "carry",
                       go_backwards=bool(config.get("go_backwards")))
    out = Sym(_sequence_out(g, y, tm), 3) if config["return_sequences"] else Sym(_last(g, y), 2)
    out_mask = mask if config["return_sequences"] else None
    states = [_final(g, h_n, 0)] + ([_final(g, c_n, 0)] if c_n is not None else [])
    _stateful_outputs(g, layer, states, spec.hidden_size)
    if config["return_state"]:
        return (out, *states), [out_mask] + [None] * len(states)
    return out, out_mask


def _bidirectional(g: Graph, layer: Any, x: Sym, mask: Sym | None, initial_state: list[Sym] | None) -> tuple:
    fw, bw = layer.forward_layer, layer.backward_layer
    config, bw_config = fw.get_config(), bw.get_config()
    spec_f, spec_b = recurrent_spec(fw), recurrent_spec(bw)
    same = lambda s: (s.mode, s.hidden_size, s.activation, s.recurrent_activation, s.reset_after)  # noqa: E731
    if same(spec_f) != same(spec_b) or not bw_config.get("go_backwards") or config.get("go_backwards"):
        raise ValueError(f"layer {layer.name!r}: rnnkit exports a Bidirectional whose two layers share cell, units "
                         f"and activations, the backward one going backwards; got {same(spec_f)} and {same(spec_b)}")
    spec = RecurrentSpec(**{**spec_f.__dict__, "weights": spec_f.weights + spec_b.weights, "bidirectional": True})
    tm = bool(config.get("time_major", False))
    n_states = 2 if spec.mode == "LSTM" else 1
    if config.get("stateful") and not initial_state:  # forward states, then backward ones
        initial_state = (_stateful_inputs(g, fw, [spec.hidden_size] * n_states, None)
                         + _stateful_inputs(g, bw, [spec.hidden_size] * n_states, None))
    h0 = c0 = None
    if initial_state:
        fw_states, bw_states = initial_state[:n_states], initial_state[n_states:]
        h0 = g.op("Concat", _states_in(g, [fw_states[0], bw_states[0]], 2), axis=0)  # (2, B, H)
        if n_states == 2:
            c0 = g.op("Concat", _states_in(g, [fw_states[1], bw_states[1]], 2), axis=0)
    # Keras's backward copy runs in reverse and is flipped back: ONNX's reverse direction, in time order.
    masked = "zero" if config.get("zero_output_for_mask") or layer.return_sequences else "carry"
    y, h_n, c_n = emit(g, spec, _time_major(g, x, tm), h0, c0, mask=_mask_tm(g, mask, tm), masked_output=masked)
    y_f, y_b = g.op("Split", [y, g.ints([spec.hidden_size] * 2)], 2, axis=-1)  # (T, B, H) each, time order
    if layer.return_sequences:
        y_f, y_b = _sequence_out(g, y_f, tm), _sequence_out(g, y_b, tm)
        rank = 3
    else:  # each copy's last output in its own processing order
        y_f = _last(g, y_f)
        y_b = g.op("Squeeze", [g.op("Slice", [y_b, g.ints([0]), g.ints([1]), g.ints([0])]), g.ints([0])])
        rank = 2
    merge = layer.merge_mode
    if merge == "concat":
        outputs: Any = Sym(g.op("Concat", [y_f, y_b], axis=-1), rank)
    elif merge == "sum":
        outputs = Sym(g.op("Add", [y_f, y_b]), rank)
    elif merge == "mul":
        outputs = Sym(g.op("Mul", [y_f, y_b]), rank)
    elif merge == "ave":
        outputs = Sym(g.op("Mul", [g.op("Add", [y_f, y_b]), g.const(np.asarray(0.5, np.float32))]), rank)
    else:
        outputs = (Sym(y_f, rank), Sym(y_b, rank))
    out_mask = mask if layer.return_sequences else None
    masks: Any = [out_mask, out_mask] if merge is None else out_mask
    fw_states = [_final(g, h_n, 0)] + ([_final(g, c_n, 0)] if c_n is not None else [])
    bw_states = [_final(g, h_n, 1)] + ([_final(g, c_n, 1)] if c_n is not None else [])
    _stateful_outputs(g, fw, fw_states, spec.hidden_size)
    _stateful_outputs(g, bw, bw_states, spec.hidden_size)
    if layer.return_state:
        states = fw_states + bw_states
        head = tuple(outputs) if merge is None else (outputs,)
        return head + tuple(states), (masks if merge is None else [masks]) + [None] * len(states)
    return outputs, masks


def _layer(g: Graph, layer: Any, x: Any, mask: Any, initial_state: list[Sym] | None = None) -> tuple:
    """Write one Keras layer call; returns (outputs, output masks)."""

    if _is(layer, "Model"):
        return convert_model(g, layer, x if isinstance(x, (list, tuple)) else [x],
                             mask if isinstance(mask, (list, tuple)) else [mask])
    if _is(layer, "Bidirectional"):
        return _bidirectional(g, layer, x, mask, initial_state)
    if _is(layer, "RNN"):
        return _rnn_layer(g, layer, x, mask, initial_state)
    if initial_state:
        raise ValueError(f"layer {layer.name!r}: only recurrent layers take initial_state")
    config = layer.get_config()
    if _is(layer, "Dense"):
        weights = layer.get_weights()
        y = g.op("MatMul", [x.name, g.const(weights[0], "kernel")])
        if len(weights) > 1:
            y = g.op("Add", [y, g.const(weights[1], "bias")])
        return _act(g, config["activation"], Sym(y, x.rank, x.dtype)), mask
    if _is(layer, "Activation"):
        return _act(g, config["activation"], x), mask
    if _is(layer, "Dropout", "InputLayer"):
        return x, mask
    if _is(layer, "Flatten"):
        return Sym(g.op("Flatten", [x.name], axis=1), 2, x.dtype), None
    if _is(layer, "Embedding"):
        ids = g.op("Cast", [x.name], to=7)  # int64
        y = Sym(g.op("Gather", [g.const(layer.get_weights()[0], "embeddings"), ids], axis=0), x.rank + 1)
        out_mask = Sym(g.op("Not", [g.op("Equal", [ids, g.ints([0])])]), x.rank, np.bool_) \
            if config.get("mask_zero") else None
        return y, out_mask
    if _is(layer, "Masking"):
        value = g.const(np.asarray(config["mask_value"], np.float32))
        differs = g.op("Cast", [g.op("Not", [g.op("Equal", [x.name, value])])], to=1)  # (B, T, I) float
        keep = g.op("Greater", [g.op("ReduceSum", [differs, g.ints([-1])], keepdims=0),
                                g.const(np.asarray(0, np.float32))])  # (B, T)
        y = g.op("Mul", [x.name, g.op("Cast", [g.op("Unsqueeze", [keep, g.ints([-1])])], to=1)])
        return Sym(y, x.rank, x.dtype), Sym(keep, 2, np.bool_)
    if _is(layer, "LayerNormalization"):
        return _layer_normalization(g, layer, config, x), mask
    if _is(layer, "TimeDistributed"):
        shape = g.op("Shape", [x.name])
        flat = g.op("Reshape", [x.name, g.op("Concat", [g.ints([-1]), g.op("Slice", [shape, g.ints([2]),
                                                                                     g.ints([x.rank])])], axis=0)])
        with g.layer(f"{g.scope}/{layer.layer.name}"):
            inner, _ = _layer(g, layer.layer, Sym(flat, x.rank - 1, x.dtype), None)
        if not isinstance(inner, Sym):
            raise ValueError(f"layer {layer.name!r}: the wrapped layer must return one tensor")
        inner_shape = g.op("Shape", [inner.name])
        target = g.op("Concat", [g.op("Slice", [shape, g.ints([0]), g.ints([2])]),
                                 g.op("Slice", [inner_shape, g.ints([1]), g.ints([inner.rank])])], axis=0)
        return Sym(g.op("Reshape", [inner.name, target]), inner.rank + 1, inner.dtype), mask
    raise ValueError(f"layer {layer.name!r}: rnnkit.onnx has no converter for {type(layer).__name__}; it exports "
                     "Dense, Activation, Dropout, Flatten, Embedding, Masking, LayerNormalization, SimpleRNN, LSTM, GRU, RNN, "
                     "Bidirectional, TimeDistributed and nested models")


def _flat(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _flat(v)]
    return [value]


def convert_model(g: Graph, model: Any, inputs: list[Sym], masks: list[Sym | None] | None = None) -> tuple:
    """Write a Sequential or functional Keras ``model`` on ``inputs``; returns (outputs, masks)."""

    masks = masks or [None] * len(inputs)
    if _is(model, "Sequential"):
        x, mask = inputs[0], masks[0]
        for layer in model.layers:
            with g.layer(layer.name):
                x, mask = _layer(g, layer, x, mask)
        return x, mask
    config = model.get_config()
    if "layers" not in config:
        raise ValueError(f"model {model.name!r}: a subclassed Model (its own call()) cannot be exported; build it "
                         "with the functional API or Sequential")
    values: dict[tuple, tuple] = {}
    for ref, x, m in zip(_refs(config["input_layers"]), inputs, masks):
        values[tuple(ref)] = (x, m)

    def lookup(arg: Any) -> Any:
        if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
            return values[tuple(arg["config"]["keras_history"])]
        if isinstance(arg, (list, tuple)):
            return [lookup(a) for a in arg]
        if isinstance(arg, dict):
            return {k: lookup(v) for k, v in arg.items()}
        return arg

    for entry in config["layers"]:
        if entry["class_name"] == "InputLayer":
            continue
        layer = model.get_layer(entry["name"])
        for index, node in enumerate(entry["inbound_nodes"]):
            args, kwargs = lookup(node["args"]), lookup(node["kwargs"])
            unknown = set(kwargs) - {"initial_state", "training", "mask"}
            if unknown or len(args) != 1:
                raise ValueError(f"layer {layer.name!r}: rnnkit exports calls of one input (and initial_state), got "
                                 f"arguments {sorted(unknown) or len(args)}")
            first = args[0]
            if isinstance(first, list) and first and isinstance(first[0], tuple):
                if not _is(layer, "Model"):
                    x, mask = first[0]  # Keras 2 form layer([x, h0, c0])
                    kwargs["initial_state"] = first[1:]
                else:
                    x, mask = [v[0] for v in first], [v[1] for v in first]
            else:
                x, mask = first
            states = kwargs.get("initial_state")
            states = None if states is None else [s[0] for s in (states if isinstance(states, list) else [states])]
            if isinstance(kwargs.get("mask"), tuple):
                mask = kwargs["mask"][0]
            with g.layer(layer.name):
                out, out_mask = _layer(g, layer, x, mask, states)
            outs, out_masks = _flat(out), _flat(out_mask) if isinstance(out_mask, list) else [out_mask] * len(_flat(out))
            for i, (o, om) in enumerate(zip(outs, out_masks)):
                values[(layer.name, index, i)] = (o, om)
    results = [values[tuple(ref)] for ref in _refs(config["output_layers"])]
    return [r[0] for r in results], [r[1] for r in results]


def _refs(refs: Any) -> list:
    return [refs] if refs and isinstance(refs[0], str) else list(refs)


def export_model(model: Any, filepath: Any, input_signature: Any = None, opset: int | None = None) -> None:
    """Write a Keras ``model`` as ONNX (what ``model.export(filepath, format="onnx")`` calls).

    Args:
        model: a built ``Sequential`` or functional model.
        filepath: the ``.onnx`` file (written atomically).
        input_signature: needed when the model has no known inputs (never called, no ``Input``):
            a list with one entry per input, each a ``keras.Input``/KerasTensor, an
            ``InputSpec``-like object with ``shape``/``dtype``, or an example array.
        opset: the ONNX opset (Keras's ``opset_version``; default 17).
    """

    require_onnx()
    opset = check_opset(DEFAULT_OPSET if opset is None else opset)
    path = check_path(filepath)
    specs = _signature(model, input_signature)
    if not getattr(model, "inputs", None):  # a Sequential never called: build it, keeping unknown sizes unknown
        model.build(specs[0][1])
    g = Graph(opset)
    syms = []
    for name, shape, dtype in specs:
        g.input(name, dtype, [f"{name}_dim{a}" if s is None else int(s) for a, s in enumerate(shape)])
        syms.append(Sym(name, len(shape), np.dtype(dtype).type))
    outputs, _ = convert_model(g, model, syms)
    out_syms = _flat(outputs) + [sym for sym, _, _ in g.extra_outputs]
    # types and sizes from the model's symbolic outputs (calling it would move a stateful layer's states)
    examples = [np.zeros([1 if s is None else s for s in t.shape], t.dtype) for t in model.outputs]
    examples += [np.zeros((1, size), np.float32) for _, _, size in g.extra_outputs]
    names = [f"output_{i}" for i in range(len(out_syms) - len(g.extra_outputs))]
    names += [name for _, name, _ in g.extra_outputs]
    declare_outputs(g, out_syms, examples, names, None)
    write(g.model(model.name), path)


def _signature(model: Any, input_signature: Any) -> list[tuple]:
    """(name, shape with None for unknown sizes, dtype) of each model input."""
    if input_signature is None:
        inputs = getattr(model, "inputs", None)
        if not inputs:
            raise ValueError(f"model {model.name!r} has never been called and has no Input, so its input shape is "
                             "unknown: call it once on data, start it with keras.Input(shape=...), or pass "
                             "input_signature=[keras.Input(shape=..., dtype=...)]")
        return [(t.name or f"input_{i}", tuple(t.shape), np.dtype(t.dtype)) for i, t in enumerate(inputs)]
    if not isinstance(input_signature, (list, tuple)):
        input_signature = [input_signature]
    specs = []
    for i, spec in enumerate(input_signature):
        if isinstance(spec, np.ndarray):
            shape, dtype = (None,) + spec.shape[1:], spec.dtype
        elif hasattr(spec, "shape"):
            shape, dtype = tuple(spec.shape), np.dtype(getattr(spec, "dtype", None) or "float32")
        else:
            raise TypeError(f"input_signature[{i}]: expected a keras.Input, an InputSpec-like object with shape and "
                            f"dtype, or an example array, got {type(spec).__name__}")
        if shape is None or any(s is not None and (not isinstance(s, (int, np.integer)) or s < 1) for s in shape):
            raise ValueError(f"input_signature[{i}]: expected a shape of positive sizes or None, got {shape}")
        specs.append((getattr(spec, "name", None) or f"input_{i}", shape, dtype))
    return specs
