"""Any Keras cell run step by step through autograd, and ``StackedRNNCells``.

``keras.layers.RNN(cell)`` takes, besides the built-in cells (one fused op with hand-derived
gradients), any cell object with ``state_size`` (an int or a list of ints), an optional ``output_size``
and ``call(inputs, states) -> (output, new_states)`` written with ``keras.ops``; such a cell runs here,
one time step at a time, with Keras's ``backend.rnn`` semantics::

    for t in (T-1 .. 0 if go_backwards else 0 .. T-1):
        y_t, s_t = cell(x_t, s_{t-1})
        s_t = s_t where mask[t] else s_{t-1}              (masked steps keep the states)
        y_t = y_t where mask[t] else (0 if zero_output_for_mask else y_{t-1})

Example:
    >>> import numpy as np
    >>> from rnnkit.keras import layers
    >>> cells = layers.StackedRNNCells([layers.SimpleRNNCell(3), layers.GRUCell(2)])
    >>> layers.RNN(cells, return_state=True)(np.ones((4, 5, 6), np.float32))[0].shape
    (4, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit import _ops
from rnnkit._tensor import Tensor
from rnnkit.keras._registry import LAYERS
from rnnkit.keras.layers.base import Layer, flatten

__all__ = ["StackedRNNCells", "state_sizes", "pack_states", "cell_output_size", "check_cell", "run_cell"]


def state_sizes(state_size: Any) -> list[int]:
    """The flat list of state sizes (one per state tensor) of an int or a (nested) list."""
    return [int(s) for s in flatten(state_size)] if isinstance(state_size, (list, tuple)) else [int(state_size)]


def pack_states(state_size: Any, flat: list) -> list:
    """The flat states in the nesting of ``state_size`` (a stack returns one entry per cell, as Keras)."""
    items = iter(flat)

    def pack(size: Any) -> Any:
        return [pack(s) for s in size] if isinstance(size, (list, tuple)) else next(items)

    return pack(state_size) if isinstance(state_size, (list, tuple)) else [next(items)]


def cell_output_size(cell: Any) -> int:
    """``output_size`` when the cell has one, else the first state's size (as Keras)."""
    size = getattr(cell, "output_size", None)
    return int(size) if size is not None else state_sizes(cell.state_size)[0]


def check_cell(cell: Any) -> None:
    """Keras's requirements on a cell: a ``call`` method and an int / list-of-ints ``state_size``."""
    if not callable(getattr(cell, "call", None)):
        raise ValueError(f"cell: expected an object with a `call(inputs, states)` method, got {type(cell).__name__}")
    size = getattr(cell, "state_size", None)
    if size is None or not all(isinstance(s, (int, np.integer)) and s > 0 for s in flatten(size)):
        raise ValueError(f"cell: `state_size` must be a positive int or a list of them (one per state), got {size!r}")


def _call_cell(cell: Any, x: Tensor, states: list, training: bool) -> tuple[Tensor, list]:
    if isinstance(cell, Layer):
        output, new_states = cell(x, states, training=training) if cell._call_accepts("training") \
            else cell(x, states)
    else:
        output, new_states = (cell if callable(cell) else cell.call)(x, states)
    new_states = flatten(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
    return output, new_states


def run_cell(cell: Any, x_tm: Tensor, states: list[Tensor], mask_tm: np.ndarray | None, training: bool,
             go_backwards: bool, zero_output_for_mask: bool) -> tuple[Tensor, Tensor, list[Tensor]]:
    """Run ``cell`` over a time-major sequence.

    Args:
        x_tm: (T, B, I) inputs.
        states: the initial states, flat (B, s) tensors.
        mask_tm: (T, B) bool, or None.

    Returns:
        (outputs (T, B, O) in processing order, last output (B, O), final flat states).
    """
    steps = range(x_tm.shape[0] - 1, -1, -1) if go_backwards else range(x_tm.shape[0])
    outputs: list[Tensor] = []
    previous: Tensor | None = None
    for t in steps:
        output, new_states = _call_cell(cell, x_tm[t], states, training)
        if len(new_states) != len(states):
            raise ValueError(f"cell {type(cell).__name__}: returned {len(new_states)} states, its state_size "
                             f"declares {len(states)}")
        if mask_tm is not None:
            keep = mask_tm[t][:, None]  # (B, 1)
            new_states = [_ops.where(keep, new, old) for new, old in zip(new_states, states)]
            fallback = previous if previous is not None and not zero_output_for_mask else output * 0.0
            output = _ops.where(keep, output, fallback)
        outputs.append(output)
        states, previous = new_states, output
    return _ops.stack(outputs, dim=0), previous, states


@LAYERS.register()
class StackedRNNCells(Layer):
    """Cells applied one above the other at every time step: the output of one is the input of the next.

    ``state_size`` is the list of the cells' state sizes; states are passed flat (or nested per cell)
    and returned nested per cell, as Keras.

    Args:
        cells: the cells, bottom first.
    """

    def __init__(self, cells: Any, **kwargs: Any):
        super().__init__(**kwargs)
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(f"cells: expected a non-empty list of cells, got {cells!r}")
        cells = [LAYERS.deserialize(c) if isinstance(c, dict) else c for c in cells]
        for cell in cells:
            check_cell(cell)
            if getattr(cell, "dropout", 0) or getattr(cell, "recurrent_dropout", 0):
                raise ValueError(
                    f"cells: {type(cell).__name__} with dropout would draw new masks at every step here (Keras "
                    "keeps one per sequence); stack recurrent layers with return_sequences=True instead"
                )
        self.cells = list(cells)
        for i, cell in enumerate(self.cells):
            if isinstance(cell, Layer):
                self._modules[f"cell_{i}"] = cell

    @property
    def state_size(self) -> list:
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self) -> int:
        return cell_output_size(self.cells[-1])

    def build(self, input_shape):
        batch = input_shape[0]
        for cell in self.cells:
            if isinstance(cell, Layer):
                cell._build_once(tuple(input_shape))
            input_shape = (batch, cell_output_size(cell))

    def get_initial_state(self, batch_size: int) -> list:
        states = []
        for cell in self.cells:
            make = getattr(cell, "get_initial_state", None)
            if make is not None:
                states.append(make(batch_size=batch_size))
            else:
                zeros = [Tensor(np.zeros((batch_size, s), self._np_dtype)) for s in state_sizes(cell.state_size)]
                states.append(zeros if isinstance(cell.state_size, (list, tuple)) else zeros[0])
        return states

    def call(self, inputs, states, training=False):
        flat = flatten(states) if isinstance(states, (list, tuple)) else [states]
        counts = [len(state_sizes(cell.state_size)) for cell in self.cells]
        if len(flat) != sum(counts):
            raise ValueError(f"StackedRNNCells '{self.name}': expected {sum(counts)} state tensors, got {len(flat)}")
        new_states, start = [], 0
        for cell, count in zip(self.cells, counts):
            inputs, cell_states = _call_cell(cell, inputs, flat[start: start + count], training)
            start += count
            new_states.append(cell_states if isinstance(cell.state_size, (list, tuple)) else cell_states[0])
        return inputs, new_states

    def get_config(self):
        return {**super().get_config(), "cells": [LAYERS.serialize(cell) for cell in self.cells]}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "StackedRNNCells":
        config = dict(config)
        cells = [LAYERS.deserialize(c, custom_objects) for c in config.pop("cells")]
        return cls(cells, **config)
