"""``Functional``: a model built from the graph recorded when layers were called on ``keras.Input``
tensors (``keras.Model(inputs, outputs)`` returns one). A layer's returned states can feed another
layer's ``initial_state`` (encoder-decoder); ``get_config``/``from_config`` round-trip the graph.

Example:
    >>> import numpy as np
    >>> from rnnkit import keras
    >>> x = keras.Input((5, 2))
    >>> out, h, c = keras.layers.LSTM(3, return_state=True)(x)
    >>> model = keras.Model(x, keras.layers.Dense(1)(h))
    >>> type(model).__name__, model(np.zeros((4, 5, 2), np.float32)).shape
    ('Functional', (4, 1))
"""

from __future__ import annotations

import collections
from typing import Any

import numpy as np

from rnnkit._tensor import Tensor, array_of
from rnnkit.keras._registry import LAYERS
from rnnkit.keras.layers.base import KerasTensor, Layer, Node, flatten, is_shape, map_structure, unique_name
from rnnkit.keras.layers.core import InputLayer
from rnnkit.keras.layers.operations import Operation
from rnnkit.keras.models.model import Model

__all__ = ["Functional"]


@LAYERS.register()
class Functional(Model):
    """The graph of layer calls from ``inputs`` to ``outputs``, replayed on data.

    Args:
        inputs: a ``keras.Input`` tensor or a list of them.
        outputs: tensors obtained by calling layers on ``inputs`` (one or a list).
        name: model name (``functional``, ``functional_1``... by default).
        trainable: whether training updates the weights.
    """

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None, trainable: bool = True, **kwargs: Any):
        Model.__init__(self, name=name or unique_name("functional"), trainable=trainable, **kwargs)
        self._init_graph(inputs, outputs)

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
        for layer in self._operations:  # the layers are the model's sub-modules, in graph order
            self._modules[layer.name] = layer
        self._is_graph_network = True
        self.built = True
        shapes = [t.shape for t in flat_in]
        self._build_input_shape = shapes[0] if isinstance(inputs, KerasTensor) else shapes

    @property
    def inputs(self) -> list[KerasTensor] | None:
        return list(self._inputs)

    @property
    def outputs(self) -> list[KerasTensor] | None:
        return list(self._outputs)

    @property
    def input(self) -> Any:
        return self._inputs_struct

    @property
    def output(self) -> Any:
        return self._outputs_struct

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
        """The model's layers in graph order, ``InputLayer``s included (the op nodes Keras records, such as
        Masking's ``NotEqual``/``Any``, are not layers, as in Keras)."""
        return [layer for layer in self._operations if not isinstance(layer, Operation)]

    def compute_output_shape(self, input_shape: Any) -> Any:
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
        values: dict[int, Any] = {}
        xs = self._graph_inputs(inputs)
        masks = mask if isinstance(mask, (list, tuple)) else [mask] * len(xs) if mask is not None else [None] * len(xs)
        for kt, x, m in zip(self._inputs, xs, masks):
            if m is not None:
                x._keras_mask = np.asarray(array_of(m), bool)
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

    def get_config(self) -> dict:
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
            entry = LAYERS.serialize(layer)
            layers.append({"name": layer.name, "class_name": entry["class_name"], "config": entry["config"],
                           "inbound_nodes": nodes})
        refs = lambda struct: ref(struct) if isinstance(struct, KerasTensor) else [ref(t) for t in struct]  # noqa
        return {"name": self.name, "trainable": self.trainable, "layers": layers,
                "input_layers": refs(self._inputs_struct), "output_layers": refs(self._outputs_struct)}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Functional":
        layers: dict[str, Layer] = {}
        outputs: dict[tuple[str, int], list] = {}
        queues: dict[str, list] = {}
        for entry in config["layers"]:
            layer = LAYERS.deserialize({"class_name": entry["class_name"], "config": entry["config"]}, custom_objects)
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
