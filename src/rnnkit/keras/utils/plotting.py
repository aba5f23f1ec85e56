"""``keras.utils.plot_model`` / ``model_to_dot``: the graph of a model's layers, drawn with pydot and graphviz.

pydot builds the graph (``pip install pydot``, the ``plot`` extra); graphviz's ``dot`` program draws it
(an image); a ``.dot`` file needs pydot only. Without them, a clear ImportError says what to install.

Example:
    >>> from rnnkit import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="out")])
    >>> model_to_dot(model).get_node("layer_0")[0].get("label")
    '{out (Dense)}'
"""

from __future__ import annotations

import os
import shutil
from typing import Any

__all__ = ["model_to_dot", "plot_model"]


def _pydot():
    try:
        import pydot
    except ImportError:
        raise ImportError(
            "plot_model needs pydot (`pip install pydot`, or `pip install rnnkit[plot]`) and, to draw images, "
            "graphviz's `dot` program (https://graphviz.gitlab.io/download/)"
        ) from None
    return pydot


def _shape_text(shape: Any) -> str:
    return str(shape).replace("None", "?") if shape is not None else "?"


def model_to_dot(model: Any, show_shapes: bool = False, show_dtype: bool = False, show_layer_names: bool = True,
                 rankdir: str = "TB", expand_nested: bool = False, dpi: int = 200,
                 show_layer_activations: bool = False, show_trainable: bool = False, **kwargs: Any):
    """A ``pydot.Dot`` with one node per layer and one edge per connection.

    Raises:
        ImportError: pydot is not installed.
        ValueError: a bad ``rankdir``; ``expand_nested`` (not supported).
    """
    if kwargs:
        raise TypeError(f"model_to_dot: unexpected keyword argument(s) {sorted(kwargs)}")
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"rankdir: expected 'TB' or 'LR', got {rankdir!r}")
    if expand_nested:
        raise ValueError("expand_nested: drawing nested models expanded is not supported; pass False")
    pydot = _pydot()
    dot = pydot.Dot(graph_type="digraph", rankdir=rankdir, dpi=str(dpi))
    dot.set_node_defaults(shape="record")
    layers = list(model.layers)
    ids = {id(layer): f"layer_{i}" for i, layer in enumerate(layers)}
    for layer in layers:
        parts = [f"{layer.name} ({type(layer).__name__})" if show_layer_names else type(layer).__name__]
        if show_layer_activations and hasattr(layer, "activation"):
            parts.append(f"activation: {getattr(layer.activation, '__name__', layer.activation)}")
        if show_dtype:
            parts.append(f"dtype: {layer.dtype}")
        if show_shapes:
            node = layer._inbound_nodes[0] if layer._inbound_nodes else None
            inputs = [t.shape for t in node.input_tensors] if node is not None else []
            outputs = [t.shape for t in node.output_tensors] if node is not None else []
            parts.append(f"in: {_shape_text(inputs[0] if len(inputs) == 1 else inputs or None)}")
            parts.append(f"out: {_shape_text(outputs[0] if len(outputs) == 1 else outputs or None)}")
        if show_trainable:
            parts.append(f"trainable: {layer.trainable}")
        dot.add_node(pydot.Node(ids[id(layer)], label="{" + "|".join(p.replace("{", "(").replace("}", ")")
                                                                   for p in parts) + "}"))
    if not getattr(model, "_is_graph_network", False):  # a Sequential: a chain
        for a, b in zip(layers, layers[1:]):
            dot.add_edge(pydot.Edge(ids[id(a)], ids[id(b)]))
        return dot
    for layer in layers:
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                parent = tensor._keras_history.operation
                if id(parent) in ids:
                    dot.add_edge(pydot.Edge(ids[id(parent)], ids[id(layer)]))
    return dot


def plot_model(model: Any, to_file: str = "model.png", show_shapes: bool = False, show_dtype: bool = False,
               show_layer_names: bool = True, rankdir: str = "TB", expand_nested: bool = False, dpi: int = 200,
               show_layer_activations: bool = False, show_trainable: bool = False) -> None:
    """Draw the model's layer graph into ``to_file`` (format from its extension: png, svg, pdf, dot...).

    Raises:
        ImportError: pydot missing, or graphviz's ``dot`` program missing for a non-``.dot`` file.
    """
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                       rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    extension = os.path.splitext(str(to_file))[1].lstrip(".").lower() or "png"
    if extension == "dot":
        dot.write(str(to_file), format="raw")
        return
    if shutil.which("dot") is None:
        raise ImportError(
            f"plot_model: drawing a .{extension} file needs graphviz's `dot` program, which is not installed "
            "(https://graphviz.gitlab.io/download/); save to a .dot file to skip it"
        )
    dot.write(str(to_file), format=extension)
