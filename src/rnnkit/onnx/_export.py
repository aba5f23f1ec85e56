"""``rnnkit.onnx.export``: an ``rnnkit.nn`` module (yours included, traced) to an ONNX file (torch.onnx.export's signature)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from rnnkit import nn
from rnnkit._grad_mode import no_grad
from rnnkit._tensor import Tensor, array_of
from rnnkit.nn.utils.rnn import PackedSequence
from rnnkit.onnx._graph import DEFAULT_OPSET, MIN_OPSET, Graph, Sym, check_path, max_opset, require_onnx, write
from rnnkit.onnx._trace import TraceTensor, Tracer, trace

__all__ = ["export", "check_opset", "declare_outputs", "flatten"]


def check_opset(opset: Any) -> int:
    """``opset`` checked against what the installed onnx package knows."""
    newest = max_opset()
    if not isinstance(opset, (int, np.integer)) or isinstance(opset, bool):
        raise TypeError(f"opset: expected an int, got {type(opset).__name__} {opset!r}")
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset: expected a value in [{MIN_OPSET}, {newest}] (the installed onnx package's range), "
                         f"got {opset}")
    return int(opset)


def flatten(value: Any) -> list:
    """The leaves of nested tuples/lists, in order."""
    if isinstance(value, (tuple, list)):
        return [leaf for v in value for leaf in flatten(v)]
    return [value]


def _array(value: Any) -> np.ndarray | None:
    if isinstance(value, Tensor):
        return array_of(value)
    if isinstance(value, np.ndarray):
        return value
    return None


def _auto_shape(name: str, array: np.ndarray) -> list:
    """Default dynamic axes: every axis of an integer array, every axis but the last (features) of a float one."""
    dynamic = array.ndim if array.dtype.kind in "iub" else array.ndim - 1
    return [f"{name}_dim{i}" if i < dynamic else int(s) for i, s in enumerate(array.shape)]


def _declared_shape(name: str, array: np.ndarray, dynamic_axes: dict | None) -> list:
    if dynamic_axes is None:
        return _auto_shape(name, array)
    axes = dynamic_axes.get(name, {})
    if isinstance(axes, (list, tuple)):
        axes = {int(a): f"{name}_dim{int(a)}" for a in axes}
    shape: list = [int(s) for s in array.shape]
    for axis, label in axes.items():
        if not -array.ndim <= int(axis) < array.ndim:
            raise ValueError(f"dynamic_axes: {name!r} has {array.ndim} axes, got axis {axis}")
        shape[int(axis) % array.ndim] = str(label)
    return shape


def _names(given: Sequence[str] | None, defaults: list[str], what: str) -> list[str]:
    if given is None:
        return defaults
    given = list(given)
    if not all(isinstance(n, str) and n for n in given):
        raise TypeError(f"{what}: expected a list of non-empty strings, got {given!r}")
    if len(given) > len(defaults):
        raise ValueError(f"{what}: the model has {len(defaults)} of them, got {len(given)} names {given}")
    if len(set(given)) != len(given):
        raise ValueError(f"{what}: names must be unique, got {given}")
    return given + defaults[len(given):]


def declare_outputs(g: Graph, syms: list[Sym], arrays: list[np.ndarray], names: list[str],
                    dynamic_axes: dict | None) -> None:
    """Make ``syms`` the graph's outputs, named ``names``, typed and shaped like ``arrays``."""
    used: set[str] = set()
    for sym, array, name in zip(syms, arrays, names):
        if not isinstance(sym, Sym):
            raise ValueError(f"model: output {name!r} is a constant ({type(sym).__name__}), not computed from the "
                             "inputs; ONNX outputs must depend on the graph")
        value = sym.name
        if value in used:  # the same value returned twice: give the second its own node
            value = g.op("Identity", [value])
        used.add(value)
        g.output(value, name, array.dtype, _declared_shape(name, array, dynamic_axes))


def export(model: Any, example_input: Any, path: Any, *, input_names: Sequence[str] | None = None,
           output_names: Sequence[str] | None = None, dynamic_axes: dict | None = None,
           opset: int = DEFAULT_OPSET, metadata: dict[str, str] | None = None) -> None:
    """Write ``model`` (an ``rnnkit.nn`` module, in eval mode) as an ONNX file, as ``torch.onnx.export``.

    ``model``'s forward runs once on ``example_input``, traced (:mod:`rnnkit.onnx._trace`):
    modules with a converter are written by it (recurrent layers become ONNX ``LSTM``/``GRU``/``RNN``
    nodes, one per layer; see :mod:`rnnkit.onnx._recurrent` for the gate reordering and the
    ``Scan`` used for what the nodes cannot express), and the tensor ops of any other forward
    (your own ``nn.Module``) become their ONNX forms, sizes read from tensors staying dynamic.
    The initial states and lengths passed in ``example_input`` become graph inputs, and every
    returned tensor (outputs, final states) a graph output.

    Args:
        model: the module: ``nn.LSTM``, ``nn.Sequential``... or your own ``nn.Module`` subclass.
        example_input: the arguments of one call: a tensor/array, or a tuple of positional
            arguments optionally ending with a dict of keyword arguments (torch's ``args``);
            e.g. ``(x, (h0, c0))`` or ``(x, None, {"lengths": lengths})``. Arrays and tensors become
            graph inputs; other values (None, numbers) are fixed in the graph.
        path: the file to write (atomically; the directory must exist).
        input_names, output_names: names of the graph inputs/outputs in order (default:
            ``input``, ``input_1``... and ``output``, ``output_1``...; fewer names: the rest default).
        dynamic_axes: ``{name: {axis: label}}`` or ``{name: [axes]}``: the axes of variable size,
            every other one fixed to the example's size (torch's meaning). Default (None): every
            axis but the feature (last) axis of float values, and every axis of integer ones.
        opset: the ONNX opset (default 17).
        metadata: extra ``metadata_props`` (string keys and values) stored in the file.

    Raises:
        ValueError, TypeError: an op without an ONNX form or one that reads a traced tensor's values
            into Python (naming the op and the module), a bad argument, an opset too old for an op
            (naming the layer and op), a path that cannot be written.

    Example:
        >>> import numpy as np, os, tempfile, rnnkit.onnx
        >>> model = rnnkit.nn.LSTM(3, 4, batch_first=True)
        >>> path = os.path.join(tempfile.mkdtemp(), "lstm.onnx")
        >>> rnnkit.onnx.export(model, np.zeros((2, 5, 3), np.float32), path, output_names=["y", "h_n", "c_n"])
        >>> import onnx
        >>> [n.op_type for n in onnx.load(path).graph.node if n.op_type == "LSTM"]
        ['LSTM']
    """
    require_onnx()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an rnnkit.nn.Module (use model.export(path, format='onnx') for a keras "
                        f"model), got {type(model).__name__}")
    if example_input is None:
        raise ValueError(f"example_input: rnnkit.onnx.export needs an example call of {type(model).__name__} (its "
                         "inputs' ranks and dtypes are not stored in the module): pass e.g. an array of shape "
                         "(batch, time, features), or a tuple of forward's arguments")
    opset = check_opset(opset)
    path = check_path(path)
    if dynamic_axes is not None and not isinstance(dynamic_axes, dict):
        raise TypeError(f"dynamic_axes: expected a dict {{name: {{axis: label}}}} or None, got "
                        f"{type(dynamic_axes).__name__}")
    single = not isinstance(example_input, tuple) or isinstance(example_input, PackedSequence)
    args = [example_input] if single else list(example_input)
    kwargs = args.pop() if args and isinstance(args[-1], dict) else {}

    was_training = model.training
    model.eval()
    try:
        g = Graph(opset)
        leaves = [a for a in flatten([args, list(kwargs.values())]) if _array(a) is not None]
        default_in = ["input"] + [f"input_{i}" for i in range(1, len(leaves))]
        in_names = iter(_names(input_names, default_in, "input_names"))

        def example(tracer: Tracer, value: Any) -> Any:
            """An example argument as the forward's traced argument (arrays and tensors become graph inputs)."""
            if isinstance(value, PackedSequence):
                raise TypeError("example_input: a PackedSequence cannot be an ONNX input; pass the padded batch and "
                                "its lengths instead, as in (x, None, {'lengths': lengths}): they become the "
                                "graph's input and sequence_lens")
            if isinstance(value, (tuple, list)):
                return type(value)(example(tracer, v) for v in value)
            array = _array(value)
            if array is None:
                return value
            name = next(in_names)
            g.input(name, array.dtype, _declared_shape(name, array, dynamic_axes))
            return TraceTensor.make(tracer, array, Sym(name, array.ndim, array.dtype.type))

        with no_grad():
            outputs, _ = trace(g, model, args, kwargs, example)
    finally:
        model.train(was_training)
    leaves = flatten(outputs)
    out_syms = [leaf.sym if isinstance(leaf, TraceTensor) else leaf for leaf in leaves]
    out_arrays = [leaf.values if isinstance(leaf, TraceTensor) else _array(leaf) for leaf in leaves]
    default_out = ["output"] + [f"output_{i}" for i in range(1, len(out_syms))]
    names = _names(output_names, default_out, "output_names")
    declare_outputs(g, out_syms, out_arrays, names, dynamic_axes)
    write(g.model(type(model).__name__, metadata), path)
