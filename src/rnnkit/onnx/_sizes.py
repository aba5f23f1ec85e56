"""Dynamic axes, checked: which example axes may vary, and whether the traced graph follows them.

A traced forward keeps sizes read from tensors as graph expressions, but Python can still
fix one: a loop ``for t in range(x.size(1))``, a size passed through NumPy or ``int()``,
``squeeze()`` without a dim. :func:`export` therefore traces twice: on the example, and on
the example *grown* by one along every dynamic axis (values repeated cyclically, so token ids
and lengths stay valid). A graph that does not depend on the sizes is the same both times; the
first node (or constant) that differs names the module and op that fixed a size.

With the default dynamic axes (every axis but the features), axes are grouped by their size in
the example (axes that must agree, such as the batch axis of ``x`` and of ``h0``, have the same
size); a group is checked when the forward runs with it grown, else without one kind of axis
(``h0``'s and ``c0``'s layer axis when the batch has the layers' size), else left out of the
check: example sizes that differ get every dynamic axis checked.

Example:
    >>> import numpy as np
    >>> grown = grow([np.arange(3)], [[(0, "n")]])
    >>> grown[0].tolist()
    [0, 1, 2, 0]
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["grow", "replace_leaves", "checkable", "first_difference"]


def replace_leaves(value: Any, is_leaf: Callable[[Any], bool], new: Callable[[Any], Any]) -> Any:
    """``value`` (nested tuples, lists, dicts) with each leaf for which ``is_leaf`` holds replaced by ``new(leaf)``,
    in the order :func:`rnnkit.onnx._export.flatten` lists them."""
    if isinstance(value, dict):
        return {k: replace_leaves(v, is_leaf, new) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(replace_leaves(v, is_leaf, new) for v in value)
    return new(value) if is_leaf(value) else value


def _grown(array: np.ndarray, axes: list[int]) -> np.ndarray:
    """``array`` one longer along each of ``axes``, the new entries repeating the first ones."""
    for axis in axes:
        if array.shape[axis]:
            array = np.take(array, np.arange(array.shape[axis] + 1) % array.shape[axis], axis=axis)
    return array


def grow(arrays: list[np.ndarray], labelled: list[list[tuple[int, Any]]]) -> list[np.ndarray]:
    """Each array one longer along its labelled axes ``(axis, label)``."""
    return [_grown(a, [axis for axis, _ in axes]) for a, axes in zip(arrays, labelled)]


def checkable(arrays: list[np.ndarray], labelled: list[list[tuple[int, Any]]],
              runs: Callable[[list[np.ndarray]], bool]) -> list[list[tuple[int, Any]]]:
    """The labelled axes that may grow: per example size, its axes together if ``runs(grown arrays)``, else
    the largest part without one kind of axis (same rank and position: ``h0``'s and ``c0``'s layer axis)."""
    groups: dict[int, list[tuple[int, int, Any]]] = {}
    for k, (a, axes) in enumerate(zip(arrays, labelled)):
        for axis, label in axes:
            groups.setdefault(a.shape[axis], []).append((k, axis, label))
    chosen: set[tuple[int, int]] = set()
    for size, members in sorted(groups.items()):
        kinds = sorted({(arrays[k].ndim, axis) for k, axis, _ in members})
        candidates = [members] + [[m for m in members if (arrays[m[0]].ndim, m[1]) != kind]
                                  for kind in kinds if len(kinds) > 1]
        for candidate in candidates if size else []:
            trial = [[(axis, label) for axis, label in axes if (k, axis) in chosen or
                      any(m[0] == k and m[1] == axis for m in candidate)] for k, axes in enumerate(labelled)]
            if runs(grow(arrays, trial)):
                chosen.update((k, axis) for k, axis, _ in candidate)
                break
    return [[(axis, label) for axis, label in axes if (k, axis) in chosen] for k, axes in enumerate(labelled)]


def first_difference(first: Any, second: Any) -> str | None:
    """Where two graphs (ONNX GraphProtos, the second traced on grown inputs) differ, described; None if equal."""
    consumers: dict[str, str] = {}
    for node in first.node:
        for name in node.input:
            consumers.setdefault(name, node.name)
    for a, b in zip(first.node, second.node):
        if a.SerializeToString() != b.SerializeToString():
            return f"node {a.name!r} ({a.op_type}; at the other sizes: {b.name!r}, {b.op_type})"
    if len(first.node) != len(second.node):
        longer = first if len(first.node) > len(second.node) else second
        extra = longer.node[min(len(first.node), len(second.node))]
        return f"the number of nodes ({len(first.node)} vs {len(second.node)}, from node {extra.name!r})"
    values = {t.name: t.SerializeToString() for t in second.initializer}
    for t in first.initializer:
        if values.get(t.name) != t.SerializeToString():
            return f"the constant {t.name!r} used by node {consumers.get(t.name, '?')!r}"
    return None
