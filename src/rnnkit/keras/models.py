"""Keras models: ``Sequential``, the functional ``Model(inputs, outputs)`` and subclassed models.

A functional model replays the graph recorded when layers were called on ``keras.Input``
tensors; a layer's returned states can feed another layer's ``initial_state`` (encoder-decoder).
Training (``compile``/``fit``/``evaluate``/``predict``) comes from
:class:`rnnkit.keras.trainer.Trainer`; ``model(x, training=False)`` is the forward pass.

``summary()`` prints Keras 3's table (column widths, wrapping and parameter counts as Keras
computes them); ``get_config()``/``from_config()`` round-trip the architecture as JSON-able dicts.

Example:
    >>> import numpy as np
    >>> from rnnkit import keras
    >>> model = keras.Sequential([keras.layers.LSTM(50, input_shape=(49, 1), return_sequences=True),
    ...                           keras.layers.LSTM(50), keras.layers.Dense(46),
    ...                           keras.layers.Activation("softmax")])
    >>> model.count_params()
    32946
    >>> model(np.zeros((2, 49, 1), np.float32)).shape
    (2, 46)
"""

from __future__ import annotations

import collections
import json
import math
import re
import shutil
from typing import Any, Callable

import numpy as np

from rnnkit._tensor import Tensor
from rnnkit.keras.layers import deserialize, serialize
from rnnkit.keras.layers.base import KerasTensor, Layer, Node, flatten, is_shape, map_structure, to_snake_case, unique_name
from rnnkit.keras.layers.core import Input, InputLayer
from rnnkit.keras.trainer import Trainer

__all__ = ["Model", "Sequential", "Input", "load_model", "model_from_config", "model_from_json", "clone_model"]


class Model(Trainer, Layer):
    """A Keras model: ``Model(inputs, outputs)`` (functional), or subclass it and define ``call``.

    Args:
        inputs: a ``keras.Input`` tensor or a list of them.
        outputs: tensors obtained by calling layers on ``inputs`` (one or a list).
        name: model name (``functional``, ``functional_1``... by default).
        trainable: whether training updates the weights.
    """

    _float_inputs = False  # the layers inside cast their own inputs
    _autocast = False

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None, trainable: bool = True,
                 **kwargs: Any):
        if (inputs is None) != (outputs is None):
            raise ValueError("Model: pass both inputs and outputs (functional API), or neither (subclassing)")
        if name is None:
            name = unique_name("functional" if inputs is not None else to_snake_case(type(self).__name__))
        Layer.__init__(self, name=name, trainable=trainable, **kwargs)
        self._is_graph_network = False
        if inputs is not None:
            self._init_graph(inputs, outputs)

    # -- the functional graph ---------------------------------------------------------------
    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        flat_in, flat_out = flatten(inputs), flatten(outputs)
        for what, tensors in (("inputs", flat_in), ("outputs", flat_out)):
            if not tensors:
                raise ValueError(f"{what}: expected at least one tensor")
            for t in tensors:
                if not isinstance(t, KerasTensor):
                    raise TypeError(f"{what}: expected symbolic tensors from keras.Input and layer calls, got "
                                    f"{type(t).__name__}")
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self._inputs = flat_in
        self._outputs = flat_out
        nodes, indices = _build_map(flat_in, flat_out)
        node_depths: dict[Node, int] = {}
        layer_depths: dict[Layer, int] = {}
        in_graph = set(nodes)
        for node in reversed(nodes):
            depth = node_depths.setdefault(node, 0)
            depth = max(depth, layer_depths.get(node.layer, 0))
            layer_depths[node.layer] = depth
            node_depths[node] = depth
            for parent in node.parent_nodes:
                if parent in in_graph:
                    node_depths[parent] = max(depth + 1, node_depths.get(parent, 0))
        for t in flat_in:  # inputs not connected to any output
            layer = t._keras_history.operation
            if layer not in layer_depths:
                layer_depths[layer] = 0
                indices[layer] = -1
                node_depths[layer._inbound_nodes[t._keras_history.node_index]] = 0
        by_depth: dict[int, list[Node]] = collections.defaultdict(list)
        for node, depth in node_depths.items():
            by_depth[depth].append(node)
        layers_by_depth: dict[int, list[Layer]] = collections.defaultdict(list)
        for layer, depth in layer_depths.items():
            layers_by_depth[depth].append(layer)
        self._operations = [layer for depth in sorted(layers_by_depth, reverse=True)
                            for layer in sorted(layers_by_depth[depth], key=lambda l: indices[l])]
        self._nodes_by_depth = dict(by_depth)
        self._execution_order = [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]
        self._node_set = set(node_depths)
        computable = set(flat_in)
        done: list[str] = []
        for node in self._execution_order:
            if isinstance(node.layer, InputLayer) and node.output_tensors[0] not in computable:
                raise ValueError(
                    f"Graph disconnected: the outputs depend on input '{node.layer.name}', which is not among the "
                    f"model's inputs {[t.name for t in flat_in]}"
                )
            for t in node.input_tensors:
                if t not in computable:
                    raise ValueError(
                        f"Graph disconnected: cannot compute tensor {t} needed by layer '{node.layer.name}' from the "
                        f"given inputs. Layers reached without issue: {done}"
                    )
            done.append(node.layer.name)
            computable.update(node.output_tensors)
        names = [layer.name for layer in self._operations]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Model: layer names must be unique, got duplicates {duplicates}")
        self._is_graph_network = True
        self.built = True
        shapes = [t.shape for t in flat_in]
        self._build_input_shape = shapes[0] if isinstance(inputs, KerasTensor) else shapes

    @property
    def inputs(self) -> list[KerasTensor] | None:
        return list(self._inputs) if self._is_graph_network else None

    @property
    def outputs(self) -> list[KerasTensor] | None:
        return list(self._outputs) if self._is_graph_network else None

    @property
    def input(self) -> Any:
        return self._inputs_struct if self._is_graph_network else None

    @property
    def output(self) -> Any:
        return self._outputs_struct if self._is_graph_network else None

    @property
    def input_shape(self) -> Any:
        shapes = [t.shape for t in self.inputs or []]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        shapes = [t.shape for t in self.outputs or []]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def layers(self) -> list[Layer]:
        """The model's layers: in graph order (with the ``InputLayer``s) for a functional model."""
        if self._is_graph_network:
            return list(self._operations)
        return list(self._sublayers)

    def _tracked_layers(self) -> list[Layer]:
        out: list[Layer] = []
        for layer in self.layers + list(self._sublayers):
            if all(layer is not o for o in out):
                out.append(layer)
        return out

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by index in :attr:`layers`."""
        if index is not None:
            if name is not None:
                raise ValueError("get_layer: pass name or index, not both")
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"index: the model has {len(self.layers)} layers, got index {index}")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"name: no layer named {name!r}; layers are {[l.name for l in self.layers]}")

    # -- calling ---------------------------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        """Nothing to create for functional models; subclassed models build their layers on the first call."""

    def compute_output_shape(self, input_shape: Any) -> Any:
        if not self._is_graph_network:
            return super().compute_output_shape(input_shape)
        batch = input_shape[0] if is_shape(input_shape) else flatten(input_shape)[0]
        return map_structure(lambda t: (batch,) + tuple(t.shape[1:]), self._outputs_struct)

    def _graph_inputs(self, inputs: Any) -> list[Tensor]:
        if isinstance(inputs, dict):
            by_name = {t.name: t for t in self._inputs}
            unknown = sorted(set(inputs) - set(by_name))
            if unknown:
                raise ValueError(f"inputs: unknown input names {unknown}; expected {sorted(by_name)}")
            inputs = [inputs[t.name] for t in self._inputs]
        if len(self._inputs) == 1 and isinstance(inputs, (list, tuple)) and len(inputs) == 1 \
                and isinstance(inputs[0], (np.ndarray, Tensor)):
            inputs = inputs[0]  # [x] for a one-input model, as Keras accepts
        values = [inputs] if len(self._inputs) == 1 else inputs
        if len(self._inputs) > 1 and (not isinstance(values, (list, tuple)) or len(values) != len(self._inputs)):
            raise ValueError(f"Model '{self.name}': expected a list of {len(self._inputs)} inputs, got "
                             f"{type(inputs).__name__}" + (f" of length {len(inputs)}" if hasattr(inputs, '__len__') else ""))
        out = []
        for i, (kt, value) in enumerate(zip(self._inputs, values)):
            x = value if isinstance(value, Tensor) else Tensor(np.asarray(value))
            shape = tuple(x.shape)
            if len(shape) != len(kt.shape) or any(k is not None and k != s for k, s in zip(kt.shape[1:], shape[1:])):
                raise ValueError(f"Model '{self.name}': input {i} ('{kt.name}') expected shape {kt.shape}, got an "
                                 f"array of shape {shape}")
            out.append(x)
        return out

    def call(self, inputs: Any, training: bool = False, mask: Any = None) -> Any:
        if not self._is_graph_network:
            raise NotImplementedError(f"{type(self).__name__}: a subclassed Model must define call()")
        values: dict[int, Any] = {}
        xs = self._graph_inputs(inputs)
        masks = mask if isinstance(mask, (list, tuple)) else [mask] * len(xs) if mask is not None else [None] * len(xs)
        for kt, x, m in zip(self._inputs, xs, masks):
            if m is not None:
                x._keras_mask = np.asarray(m.data if isinstance(m, Tensor) else m, bool)
            values[id(kt)] = x
        lookup = lambda v: values[id(v)] if isinstance(v, KerasTensor) else v  # noqa: E731
        for node in self._execution_order:
            if isinstance(node.layer, InputLayer):
                continue
            args = map_structure(lookup, node.call_args)
            kwargs = map_structure(lookup, node.call_kwargs)
            kwargs.setdefault("training", training)
            outputs = node.layer(*args, **kwargs)
            for kt, value in zip(node.output_tensors, flatten(outputs)):
                values[id(kt)] = value
        return map_structure(lookup, self._outputs_struct)

    def reset_states(self) -> None:
        """Zero the states of every stateful layer."""
        for layer in self._flatten_layers():
            if layer is not self and getattr(layer, "stateful", False) and hasattr(layer, "reset_states"):
                layer.reset_states()

    reset_state = reset_states

    # -- summary ----------------------------------------------------------------------------------
    def summary(self, line_length: int | None = None, positions: list | None = None,
                print_fn: Callable | None = None, expand_nested: bool = False, show_trainable: bool = False,
                layer_range: Any = None) -> None:
        """Print Keras 3's summary table: layer (type), output shape, parameter count (and connections
        for non-sequential graphs), then the total / trainable / non-trainable parameter counts.

        Args:
            line_length: table width (Keras's default: 88, or 108 with connections, capped by the
                terminal width - 4).
            positions: relative right edges of the columns.
            print_fn: called once with the whole text (default: ``print``).
            expand_nested: also list the layers of nested models.
            show_trainable: add a column telling whether each layer is trainable.
            layer_range: ``(first_name, last_name)`` patterns to print a slice of the layers.
        """
        print_fn = print_fn or (lambda text: print(text, end=""))
        print_fn(_summary_text(self, line_length, positions, expand_nested, show_trainable, layer_range))

    # -- configuration --------------------------------------------------------------------------------
    def get_config(self) -> dict:
        if not self._is_graph_network:
            return {"name": self.name, "trainable": self.trainable}
        layer_nodes = {layer: [n for n in layer._inbound_nodes if n in self._node_set] for layer in self._operations}

        def ref(t: KerasTensor) -> list:
            layer, node_index, tensor_index = t._keras_history
            node = layer._inbound_nodes[node_index]
            return [layer.name, layer_nodes[layer].index(node), tensor_index]

        def encode(value: Any) -> Any:
            if isinstance(value, KerasTensor):
                return {"class_name": "__keras_tensor__",
                        "config": {"shape": list(value.shape), "dtype": value.dtype, "keras_history": ref(value)}}
            if isinstance(value, (list, tuple)):
                return [encode(v) for v in value]
            if isinstance(value, dict):
                return {k: encode(v) for k, v in value.items()}
            if value is None or isinstance(value, (bool, int, float, str)):
                return value
            raise TypeError(f"get_config: cannot serialize the call argument {value!r} of a functional model")

        layers = []
        for layer in self._operations:
            nodes = [] if isinstance(layer, InputLayer) else [
                {"args": encode(list(n.call_args)), "kwargs": encode(n.call_kwargs)} for n in layer_nodes[layer]]
            entry = serialize(layer)
            layers.append({"name": layer.name, "class_name": entry["class_name"], "config": entry["config"],
                           "inbound_nodes": nodes})
        refs = lambda struct: ref(struct) if isinstance(struct, KerasTensor) else [ref(t) for t in struct]  # noqa
        return {"name": self.name, "trainable": self.trainable, "layers": layers,
                "input_layers": refs(self._inputs_struct), "output_layers": refs(self._outputs_struct)}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Model":
        if "layers" not in config:
            return cls(**config)
        layers: dict[str, Layer] = {}
        outputs: dict[tuple[str, int], list] = {}
        queues: dict[str, list] = {}
        for entry in config["layers"]:
            layer = deserialize({"class_name": entry["class_name"], "config": entry["config"]}, custom_objects)
            layers[entry["name"]] = layer
            if isinstance(layer, InputLayer):
                outputs[(entry["name"], 0)] = [layer.output]
            queues[entry["name"]] = list(entry.get("inbound_nodes") or [])
        done = {name: 0 for name in layers}

        def ready(value: Any) -> bool:
            if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
                name, node_index, _ = value["config"]["keras_history"]
                return (name, node_index) in outputs
            if isinstance(value, list):
                return all(ready(v) for v in value)
            if isinstance(value, dict):
                return all(ready(v) for v in value.values())
            return True

        def decode(value: Any) -> Any:
            if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
                name, node_index, tensor_index = value["config"]["keras_history"]
                return outputs[(name, node_index)][tensor_index]
            if isinstance(value, list):
                return [decode(v) for v in value]
            if isinstance(value, dict):
                return {k: decode(v) for k, v in value.items()}
            return value

        while any(queues.values()):
            progress = False
            for name, queue in queues.items():
                while queue and ready(queue[0]["args"]) and ready(queue[0]["kwargs"]):
                    node = queue.pop(0)
                    args = decode(node["args"])
                    result = layers[name](*args, **decode(node["kwargs"]))
                    outputs[(name, done[name])] = flatten(result)
                    done[name] += 1
                    progress = True
            if not progress:
                raise ValueError(f"from_config: the graph cannot be rebuilt; pending layers "
                                 f"{[n for n, q in queues.items() if q]}")

        def pick(refs: Any) -> Any:
            if refs and isinstance(refs[0], str):
                return outputs[(refs[0], refs[1])][refs[2]]
            return [pick(r) for r in refs]

        return cls(inputs=pick(config["input_layers"]), outputs=pick(config["output_layers"]),
                   name=config.get("name"), trainable=config.get("trainable", True))

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as JSON (``keras.models.model_from_json`` reads it back)."""
        return json.dumps(serialize(self), **kwargs)


class Sequential(Model):
    """A linear stack of layers, as ``keras.Sequential``.

    Args:
        layers: optional list of layers; a ``keras.Input(...)`` may come first.
        name: model name (``sequential``, ``sequential_1``... by default).
        trainable: whether training updates the weights.

    The model is built (weights created, ``summary()`` complete) as soon as the input shape is
    known: from a first ``keras.Input``, from ``input_shape=`` on the first layer, or at the first call.
    """

    def __init__(self, layers: Any = None, trainable: bool = True, name: str | None = None, **kwargs: Any):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._layers: list[Layer] = []
        self._input_layer: InputLayer | None = None
        self._graph: list[Any] = []  # symbolic output after each layer
        if layers is not None:
            if not isinstance(layers, (list, tuple)):
                raise TypeError(f"layers: expected a list of layers, got {type(layers).__name__}")
            for layer in layers:
                self.add(layer)

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    @property
    def inputs(self) -> list[KerasTensor] | None:
        return None if self._input_layer is None else [self._input_layer.output]

    @property
    def outputs(self) -> list[KerasTensor] | None:
        if self._input_layer is None:
            return None
        return flatten(self._graph[-1] if self._graph else self._input_layer.output)

    @property
    def input(self) -> Any:
        return None if self._input_layer is None else self._input_layer.output

    @property
    def output(self) -> Any:
        outs = self.outputs
        return None if outs is None else (outs[0] if len(outs) == 1 else outs)

    def add(self, layer: Any) -> None:
        """Append a layer (or, first, a ``keras.Input`` / ``InputLayer``); builds it if the input shape is known."""
        if isinstance(layer, KerasTensor):
            origin = layer._keras_history.operation if layer._keras_history else None
            if not isinstance(origin, InputLayer):
                raise ValueError("Sequential.add: a symbolic tensor must come from keras.Input(...)")
            layer = origin
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("Sequential.add: an Input must be the first entry of the model")
            self._input_layer = layer
            self._extend_graph()
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a keras layer, got {type(layer).__name__} {layer!r}")
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"Sequential.add: a layer named '{layer.name}' is already in the model; names must "
                             "be unique")
        self._layers.append(layer)
        if self._input_layer is None and len(self._layers) == 1 and layer._batch_input_shape is not None:
            self._input_layer = InputLayer(batch_shape=layer._batch_input_shape)
        self._extend_graph()

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._layers:
            raise TypeError("Sequential.pop: there are no layers in the model")
        layer = self._layers.pop()
        self._graph = self._graph[: len(self._layers)]
        return layer

    def _extend_graph(self) -> None:
        if self._input_layer is None:
            return
        x = self._graph[-1] if self._graph else self._input_layer.output
        for layer in self._layers[len(self._graph):]:
            if not isinstance(x, KerasTensor):
                previous = self._layers[len(self._graph) - 1].name
                raise ValueError(f"Sequential: layer '{previous}' returns {len(flatten(x))} tensors; every layer but "
                                 "the last of a Sequential model must return one (use the functional API)")
            x = layer(x)
            self._graph.append(x)
        self.built = True
        self._build_input_shape = self._input_layer.batch_shape

    def build(self, input_shape: Any = None) -> None:
        """Build the layers for inputs of ``input_shape`` (batch axis included, may be None)."""
        if self._input_layer is None:
            if input_shape is None:
                raise ValueError("Sequential.build: input_shape is unknown; pass it (batch axis included)")
            shape = tuple(input_shape)
            self._input_layer = InputLayer(batch_shape=(None,) + shape[1:])
        self._extend_graph()

    def call(self, inputs: Any, training: bool = False, mask: Any = None) -> Any:
        if self._input_layer is None:
            dtype = inputs.dtype if inputs.dtype.kind in "iu" else None
            self._input_layer = InputLayer(batch_shape=(None,) + tuple(inputs.shape[1:]), dtype=dtype)
            self._extend_graph()
        expected = self._input_layer.batch_shape
        shape = tuple(inputs.shape)
        if len(shape) != len(expected) or any(e is not None and e != s for e, s in zip(expected[1:], shape[1:])):
            raise ValueError(f"Sequential '{self.name}': argument inputs expected shape {expected}, got an array of "
                             f"shape {shape}")
        x = inputs
        for i, layer in enumerate(self._layers):
            kwargs: dict[str, Any] = {"training": training}
            if i == 0 and mask is not None:
                kwargs["mask"] = mask
            x = layer(x, **kwargs)
        return x

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = input_shape
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def get_config(self) -> dict:
        layers = []
        if self._input_layer is not None:
            layers.append(serialize(self._input_layer))
        layers.extend(serialize(layer) for layer in self._layers)
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable, "layers": layers}
        if self._input_layer is not None:
            config["build_input_shape"] = list(self._input_layer.batch_shape)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Sequential":
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for entry in config.get("layers", []):
            model.add(deserialize(entry, custom_objects))
        if model._input_layer is None and config.get("build_input_shape") is not None:
            model.build(tuple(config["build_input_shape"]))
        return model


# -- graph traversal (Keras's _build_map) ------------------------------------------------------------
def _build_map(inputs: list, outputs: list) -> tuple[list[Node], dict]:
    """Nodes from inputs to outputs (depth-first), and each layer's first traversal index."""
    finished: set = set()
    in_progress: set = set()
    ordered: list[Node] = []
    indices: dict = {}
    input_set = set(inputs)

    def visit(tensor: KerasTensor) -> None:
        if tensor._keras_history is None:
            raise ValueError(f"{tensor} was not produced by keras.Input or a layer call")
        layer, node_index, _ = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        if node in finished:
            return
        is_input = isinstance(layer, InputLayer)
        if not is_input and tensor in input_set:
            finished.add(node)
            return
        if node in in_progress:
            raise ValueError(f"{tensor} from layer '{layer.name}' is part of a cycle")
        indices.setdefault(layer, len(indices))
        in_progress.add(node)
        if not is_input:
            for t in node.input_tensors:
                visit(t)
        finished.add(node)
        in_progress.discard(node)
        ordered.append(node)

    for t in outputs:
        visit(t)
    return ordered, indices


# -- summary (Keras 3's table, rendered as rich renders it) --------------------------------------------
def _format_shape(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _layer_shape(layer: Layer) -> str:
    if layer._inbound_nodes:
        outs = layer._inbound_nodes[-1].output_tensors
        shapes = [_format_shape(t.shape) for t in outs]
        return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"
    if not layer.built or layer._build_input_shape is None:
        return "?"
    try:
        shape = layer.compute_output_shape(layer._build_input_shape)
    except Exception:  # a custom layer without compute_output_shape
        return "?"
    if is_shape(shape):
        return _format_shape((None,) + tuple(shape[1:]))
    return "[" + ", ".join(_format_shape((None,) + tuple(s[1:])) for s in _flatten_shapes(shape)) + "]"


def _flatten_shapes(structure: Any) -> list:
    if is_shape(structure):
        return [tuple(structure)]
    return [s for item in structure for s in _flatten_shapes(item)]


def _readable_size(size: float) -> str:
    for unit in ["B", "KB", "MB", "GB", "TB", "PB"]:
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _ratio_reduce(total: int, ratios: list[int], maximums: list[int], values: list[int]) -> list[int]:
    ratios = [r if m else 0 for r, m in zip(ratios, maximums)]
    total_ratio = sum(ratios)
    if not total_ratio:
        return list(values)
    remaining, out = total, []
    for ratio, maximum, value in zip(ratios, maximums, values):
        if ratio and total_ratio > 0:
            distributed = min(maximum, round(ratio * remaining / total_ratio))
            out.append(value - distributed)
            remaining -= distributed
            total_ratio -= ratio
        else:
            out.append(value)
    return out


def _ratio_distribute(total: int, ratios: list[int]) -> list[int]:
    total_ratio, remaining, out = sum(ratios), total, []
    for ratio in ratios:
        distributed = math.ceil(ratio * remaining / total_ratio) if total_ratio > 0 else remaining
        out.append(distributed)
        total_ratio -= ratio
        remaining -= distributed
    return out


def _wrap(text: str, width: int) -> list[str]:
    """Word-wrap as rich does in a table cell: words longer than the width are cut with an ellipsis."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        breaks, offset = [], 0
        for match in re.finditer(r"\s*\S+\s*", paragraph):
            start, word = match.start(), match.group(0)
            length = len(word.rstrip())
            if width - offset >= length:
                offset += len(word)
            elif length > width:
                if start:
                    breaks.append(start)
                offset = len(word)
            elif offset and start:
                breaks.append(start)
                offset = len(word)
        bounds = [0] + breaks + [len(paragraph)]
        for a, b in zip(bounds, bounds[1:]):
            piece = paragraph[a:b].rstrip()
            lines.append(piece if len(piece) <= width else piece[: width - 1] + "…")
    return lines or [""]


def _render_table(header: list[str], rows: list[list[str]], widths: list[int], align: list[str]) -> list[str]:
    def cells(row: list[str]) -> list[str]:
        wrapped = [_wrap(text, w - 2) for text, w in zip(row, widths)]
        height = max(len(c) for c in wrapped)
        lines = []
        for i in range(height):
            parts = []
            for c, w, a in zip(wrapped, widths, align):
                text = c[i] if i < len(c) else ""
                parts.append(" " + (text.rjust(w - 2) if a == "right" else text.center(w - 2) if a == "center"
                                    else text.ljust(w - 2)) + " ")
            lines.append(parts)
        return lines

    out = ["┏" + "┳".join("━" * w for w in widths) + "┓"]
    out += ["┃" + "┃".join(p) + "┃" for p in cells(header)]
    out.append("┡" + "╇".join("━" * w for w in widths) + "┩")
    for i, row in enumerate(rows):
        if i:
            out.append("├" + "┼".join("─" * w for w in widths) + "┤")
        out += ["│" + "│".join(p) + "│" for p in cells(row)]
    out.append("└" + "┴".join("─" * w for w in widths) + "┘")
    return out


def _summary_text(model: Model, line_length, positions, expand_nested, show_trainable, layer_range) -> str:
    if model._is_graph_network:
        layers = model.layers
        relevant = model._node_set
        sequential_like = all(len(nodes) == 1 and len(nodes[0].input_tensors) <= 1
                              for nodes in model._nodes_by_depth.values())
        if sequential_like:
            sequential_like = all(sum(n in relevant for n in layer._inbound_nodes) <= 1 for layer in layers)
    else:
        layers, relevant, sequential_like = model.layers, None, True
    if sequential_like:
        default_length, positions = 88, positions or [0.45, 0.80, 1.0]
        header, align = ["Layer (type)", "Output Shape", "Param #"], ["left", "left", "right"]
    else:
        default_length, positions = 108, positions or [0.3, 0.56, 0.74, 1.0]
        header, align = ["Layer (type)", "Output Shape", "Param #", "Connected to"], ["left", "left", "right", "left"]
    if show_trainable:
        default_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header, align = header + ["Trainable"], align + ["center"]
    default_length = min(default_length, shutil.get_terminal_size().columns - 4)
    line_length = line_length or default_length
    column_widths, current = [], 0
    for pos in positions:
        width = int(pos * line_length) - current
        if width < 4:
            raise ValueError("line_length: too narrow to print the summary")
        column_widths.append(width)
        current += width
    widths = [w + 2 for w in column_widths]
    max_width = line_length - (len(widths) + 1)
    if sum(widths) > max_width:
        widths = _ratio_reduce(sum(widths) - max_width, [1] * len(widths), widths, widths)
    elif sum(widths) < max_width:
        widths = [w + p for w, p in zip(widths, _ratio_distribute(max_width - sum(widths), widths))]

    def connections(layer: Layer) -> str:
        parts = []
        for node in layer._inbound_nodes:
            if relevant is not None and node not in relevant:
                continue
            for t in node.input_tensors:
                source, node_index, tensor_index = t._keras_history
                parts.append(f"{source.name}[{node_index}][{tensor_index}]")
        return ", ".join(parts) or "-"

    def fields(layer: Layer, prefix: str = "") -> list[str]:
        if not layer.built:
            params = "0 (unbuilt)"
        else:
            params = f"{layer.count_params():,}"
        row = [f"{prefix}{layer.name} ({type(layer).__name__})", _layer_shape(layer), params]
        if not sequential_like:
            row.append(connections(layer))
        if show_trainable:
            row.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        return row

    def layer_rows(layer: Layer, level: int = 0) -> list[list[str]]:
        rows = [fields(layer, "   " * level + "└ " if level else "")]
        if expand_nested and isinstance(layer, Model):
            for inner in layer.layers:
                rows.extend(layer_rows(inner, level + 1))
        return rows

    start, stop = 0, len(layers)
    if layer_range is not None:
        if len(layer_range) != 2 or not all(isinstance(p, str) for p in layer_range):
            raise ValueError(f"layer_range: expected two layer-name patterns, got {layer_range!r}")
        lower = [i for i, l in enumerate(layers) if re.match(layer_range[0], l.name)]
        upper = [i for i, l in enumerate(layers) if re.match(layer_range[1], l.name)]
        if not lower or not upper:
            raise ValueError(f"layer_range: no layer matches {layer_range!r}")
        start, stop = (min(upper), max(lower) + 1) if min(lower) > max(upper) else (min(lower), max(upper) + 1)
    rows = [row for layer in layers[start:stop] for row in layer_rows(layer)]

    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    count = lambda ws: int(sum(w.data.size for w in ws))  # noqa: E731
    size = lambda ws: float(sum(w.data.size * w.data.dtype.itemsize for w in ws))  # noqa: E731
    lines = [f'Model: "{model.name}"'] + _render_table(header, rows, widths, align)
    lines.append(f" Total params: {count(trainable) + count(non_trainable):,} "
                 f"({_readable_size(size(trainable) + size(non_trainable))})")
    lines.append(f" Trainable params: {count(trainable):,} ({_readable_size(size(trainable))})")
    lines.append(f" Non-trainable params: {count(non_trainable):,} ({_readable_size(size(non_trainable))})")
    return "\n".join(lines) + "\n"


# -- module functions -------------------------------------------------------------------------------------
def model_from_config(config: dict, custom_objects: dict | None = None) -> Layer:
    """A model (or layer) from ``{"class_name": ..., "config": ...}``."""
    return deserialize(config, custom_objects)


def model_from_json(json_string: str, custom_objects: dict | None = None) -> Layer:
    """A model from :meth:`Model.to_json`'s output."""
    return deserialize(json.loads(json_string), custom_objects)


def clone_model(model: Model) -> Model:
    """A new model with the same architecture and freshly initialised weights."""
    return deserialize(serialize(model))


def load_model(filepath: Any, custom_objects: dict | None = None, compile: bool = True, safe_mode: bool = True):
    """Load a model written by ``model.save`` (see :mod:`rnnkit.keras.saving`)."""
    from rnnkit.keras.saving import load_model as _load_model

    return _load_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
