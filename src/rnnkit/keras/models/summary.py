"""``model.summary()``: Keras 3's table (column widths, wrapping and parameter counts as Keras computes
them, rendered as the ``rich`` library renders it), as plain text.

Example:
    >>> from rnnkit import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="tiny")
    >>> print(summary_text(model, line_length=60).splitlines()[0])
    Model: "tiny"
"""

from __future__ import annotations

import math
import re
import shutil
from typing import Any

from rnnkit._tensor import array_of
from rnnkit.keras.layers.base import Layer, is_shape

__all__ = ["summary_text"]


def _is_model(layer: Layer) -> bool:
    """A nested model (its rows expand under ``expand_nested``): a layer that lists ``layers``."""
    return isinstance(getattr(type(layer), "layers", None), property)


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


def summary_text(model: Layer, line_length: int | None = None, positions: list | None = None,
                 expand_nested: bool = False, show_trainable: bool = False, layer_range: Any = None) -> str:
    """The text of ``model.summary(...)`` (see :meth:`rnnkit.keras.Model.summary` for the arguments)."""
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
        if expand_nested and _is_model(layer):
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
    count = lambda ws: int(sum(array_of(w).size for w in ws))  # noqa: E731
    size = lambda ws: float(sum(array_of(w).size * array_of(w).dtype.itemsize for w in ws))  # noqa: E731
    lines = [f'Model: "{model.name}"'] + _render_table(header, rows, widths, align)
    lines.append(f" Total params: {count(trainable) + count(non_trainable):,} "
                 f"({_readable_size(size(trainable) + size(non_trainable))})")
    lines.append(f" Trainable params: {count(trainable):,} ({_readable_size(size(trainable))})")
    lines.append(f" Non-trainable params: {count(non_trainable):,} ({_readable_size(size(non_trainable))})")
    return "\n".join(lines) + "\n"
