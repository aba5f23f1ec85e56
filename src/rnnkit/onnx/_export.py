"""``rnnkit.onnx.export``: an ``rnnkit.nn`` module, yours included (traced), to an ONNX file, as torch.onnx.export."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import numpy as np

from rnnkit import nn
from rnnkit._grad_mode import no_grad
from rnnkit._tensor import Tensor, array_of
from rnnkit.nn.utils.rnn import PackedSequence
from rnnkit.onnx._graph import DEFAULT_OPSET, MIN_OPSET, Graph, Sym, check_path, max_opset, require_onnx, write
from rnnkit.onnx._sizes import checkable, first_difference, grow, replace_leaves
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
                    dynamic_axes: dict | None, varying: list[set[int]] | None = None) -> None:
    """Make ``syms`` the graph's outputs, named ``names``, typed and shaped like ``arrays``.

    ``varying``: per output, the axes whose size followed the inputs' dynamic axes (measured by
    tracing twice); they are declared dynamic too, besides those of ``dynamic_axes`` or the
    default rule.
    """
    used: set[str] = set()
    for k, (sym, array, name) in enumerate(zip(syms, arrays, names)):
        if not isinstance(sym, Sym):
            raise ValueError(f"model: output {name!r} is a constant ({type(sym).__name__}), not computed from the "
                             "inputs; ONNX outputs must depend on the graph")
        value = sym.name
        if value in used:  # the same value returned twice: give the second its own node
            value = g.op("Identity", [value])
        used.add(value)
        shape = _declared_shape(name, array, dynamic_axes)
        if varying is not None:
            shape = [f"{name}_dim{i}" if i in varying[k] and not isinstance(n, str) else n for i, n in enumerate(shape)]
        g.output(value, name, array.dtype, shape)


def _refuse_packed(value: Any) -> None:
    if isinstance(value, PackedSequence):
        raise TypeError("example_input: a PackedSequence cannot be an ONNX input; pass the padded batch and its "
                        "lengths instead, as in (x, None, {'lengths': lengths}): they become the graph's input and "
                        "sequence_lens")
    for v in value.values() if isinstance(value, dict) else value if isinstance(value, (tuple, list)) else ():
        _refuse_packed(v)


def _leaf_array(leaf: Any) -> np.ndarray | None:
    return leaf.values if isinstance(leaf, TraceTensor) else _array(leaf)


def _described(names: list[str], labelled: list[list[tuple[int, Any]]]) -> str:
    return ", ".join(f"{name} axis {i}" for name, axes in zip(names, labelled) for i, _ in axes)


@contextlib.contextmanager
def _unchanged(model: nn.Module) -> Iterator[None]:
    """Undo on exit what calls of ``model`` rebound on its modules (a forward that keeps ``self.hidden``
    would otherwise keep a traced tensor, or the state of an extra run)."""
    saved = [(m, dict(m.__dict__), dict(m._buffers)) for m in model.modules()]
    try:
        yield
    finally:
        for module, attributes, buffers in saved:
            module.__dict__.clear()
            module.__dict__.update(attributes)
            module._buffers.clear()
            module._buffers.update(buffers)


def _traced(model: nn.Module, args: list, kwargs: dict, inputs: list[tuple[str, list]], opset: int) -> tuple:
    """A graph of ``model(*args, **kwargs)`` traced; each array becomes the next of ``inputs`` (name, shape)."""
    g = Graph(opset)
    names = iter(inputs)

    def example(tracer: Tracer, value: Any) -> Any:
        if isinstance(value, (tuple, list)):
            return type(value)(example(tracer, v) for v in value)
        array = _array(value)
        if array is None:
            return value
        name, shape = next(names)
        g.input(name, array.dtype, shape)
        return TraceTensor.make(tracer, array, Sym(name, array.ndim, array.dtype.type))

    with no_grad():
        outputs, _ = trace(g, model, args, kwargs, example)
    return g, outputs


def export(model: Any, example_input: Any, path: Any, *, input_names: Sequence[str] | None = None,
           output_names: Sequence[str] | None = None, dynamic_axes: dict | None = None,
           opset: int = DEFAULT_OPSET, metadata: dict[str, str] | None = None, opset_version: int | None = None,
           export_params: bool = True, do_constant_folding: bool = True, verbose: bool = False) -> None:
    """Write ``model`` (an ``rnnkit.nn`` module, in eval mode) as an ONNX file, as ``torch.onnx.export``.

    ``model``'s forward runs once on ``example_input``, traced (:mod:`rnnkit.onnx._trace`):
    modules with a converter are written by it (recurrent layers become ONNX ``LSTM``/``GRU``/``RNN``
    nodes, one per layer; see :mod:`rnnkit.onnx._recurrent` for the gate reordering and the
    ``Scan`` used for what the nodes cannot express), and the tensor ops of any other forward
    (your own ``nn.Module``) become their ONNX forms, sizes read from tensors staying dynamic.
    The initial states and lengths passed in ``example_input`` become graph inputs, and every
    returned tensor (outputs, final states) a graph output. A second trace with every dynamic
    axis one longer must give the same graph (:mod:`rnnkit.onnx._sizes`): a forward that fixes
    a size in Python (a loop over ``x.size(1)``) is refused rather than exported wrong.

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
            every other one fixed to the example's size (torch's meaning); ``{}`` fixes every size.
            Default (None): every axis but the feature (last) axis of float values, and every axis
            of integer ones. Output axes that follow the inputs' sizes are declared dynamic too.
        opset: the ONNX opset (default 17).
        metadata: extra ``metadata_props`` (string keys and values) stored in the file.
        opset_version: torch's name for ``opset`` (give one of the two).
        export_params: torch's flag; rnnkit always stores the weights in the file (True).
        do_constant_folding: torch's flag; rnnkit writes weights already transposed and reordered
            for the nodes that read them, folded (True).
        verbose: print the graph once written (torch's flag).

    Raises:
        ValueError, TypeError: an op without an ONNX form or one that reads a traced tensor's values
            into Python (naming the op and the module), a graph that changes with the dynamic sizes
            (naming the node), a bad argument, an opset too old for an op (naming the layer and op),
            a path that cannot be written.

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
    if opset_version is not None:
        if opset != DEFAULT_OPSET and opset != opset_version:
            raise ValueError(f"opset_version: torch's name for opset; got opset={opset} and opset_version="
                             f"{opset_version}, give one of them")
        opset = opset_version
    opset = check_opset(opset)
    for flag, value in (("export_params", export_params), ("do_constant_folding", do_constant_folding)):
        if value is not True:
            raise ValueError(f"{flag}: rnnkit always writes the weights into the file, folded into the layout the "
                             f"nodes read (True); got {value!r}")
    path = check_path(path)
    if dynamic_axes is not None and not isinstance(dynamic_axes, dict):
        raise TypeError(f"dynamic_axes: expected a dict {{name: {{axis: label}}}} or None, got "
                        f"{type(dynamic_axes).__name__}")
    single = not isinstance(example_input, tuple) or isinstance(example_input, PackedSequence)
    args = [example_input] if single else list(example_input)
    kwargs = args.pop() if args and isinstance(args[-1], dict) else {}
    _refuse_packed([args, kwargs])
    arrays = [_array(a) for a in flatten([args, list(kwargs.values())]) if _array(a) is not None]
    default_in = ["input"] + [f"input_{i}" for i in range(1, len(arrays))]
    in_names = _names(input_names, default_in, "input_names")
    shapes = [_declared_shape(name, array, dynamic_axes) for name, array in zip(in_names, arrays)]
    labelled = [[(i, n) for i, n in enumerate(shape) if isinstance(n, str)] for shape in shapes]

    def grown(new: list[np.ndarray]) -> tuple[list, dict]:
        """args and kwargs with the example arrays replaced by tensors of ``new`` (in order)."""
        it = iter(new)
        return replace_leaves((args, kwargs), lambda v: _array(v) is not None, lambda v: Tensor._wrap(next(it)))

    def runs(new: list[np.ndarray]) -> bool:
        try:
            new_args, new_kwargs = grown(new)
            with no_grad(), _unchanged(model):
                model(*new_args, **new_kwargs)
        except Exception:  # noqa: BLE001  (a probe: any failure means these sizes cannot vary)
            return False
        return True

    was_training = model.training
    model.eval()
    try:
        checked = labelled
        if dynamic_axes is None and any(labelled):  # default axes: check the sizes the forward can take grown
            checked = checkable(arrays, labelled, runs)
        with _unchanged(model):
            g, outputs = _traced(model, args, kwargs, list(zip(in_names, shapes)), opset)
        out_arrays = [_leaf_array(leaf) for leaf in flatten(outputs)]
        varying = None
        if any(checked):
            new_args, new_kwargs = grown(grow(arrays, checked))
            try:
                with _unchanged(model):
                    g2, outputs2 = _traced(model, new_args, new_kwargs, list(zip(in_names, shapes)), opset)
            except Exception as error:
                raise ValueError(f"dynamic_axes: forward fails with the dynamic axes one longer than in the example "
                                 f"({_described(in_names, checked)}): {error}; declare only the axes that vary in "
                                 "dynamic_axes") from error
            where = first_difference(g.graph_proto("first"), g2.graph_proto("second"))
            if where is not None:
                raise ValueError(f"model: the graph traced with the dynamic axes one longer "
                                 f"({_described(in_names, checked)}) differs at {where}: the forward uses a size of "
                                 "a dynamic axis as a fixed number there (a Python loop over x.size(i), a size passed "
                                 "through NumPy or int(), squeeze() without a dim...) or draws random numbers, so "
                                 "the exported graph would be wrong at other sizes. Keep sizes as tensor expressions, or export fixed sizes "
                                 "with dynamic_axes={}")
            varying = [set() if a is None or _leaf_array(b) is None else
                       {i for i, (m, n) in enumerate(zip(a.shape, _leaf_array(b).shape)) if m != n}
                       for a, b in zip(out_arrays, flatten(outputs2))]
    finally:
        model.train(was_training)
    out_syms = [leaf.sym if isinstance(leaf, TraceTensor) else leaf for leaf in flatten(outputs)]
    default_out = ["output"] + [f"output_{i}" for i in range(1, len(out_syms))]
    names = _names(output_names, default_out, "output_names")
    declare_outputs(g, out_syms, out_arrays, names, dynamic_axes, varying)
    proto = g.model(type(model).__name__, metadata)
    write(proto, path)
    if verbose:
        print(require_onnx().printer.to_text(proto.graph))
