"""Keras's merge layers: ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum``,
``Concatenate``, each called on a list of tensors, with Keras 3's mask rules.

Equations (inputs x_1..x_n of one shape, masks m_i of shape (B, T) or None)::

    Add:       y = x_1 + ... + x_n            mask = m_1 or ... or m_n   (None if any m_i is None)
    Subtract:  y = x_1 - x_2                  (same mask rule)
    Average:   y = (x_1 + ... + x_n) / n      (same mask rule)
    Multiply:  y = prod_i (x_i where m_i else 1), then 0 where no m_i holds   (all masks given)
    Maximum:   y = max_i over the unmasked x_i (x_i where no other holds)     (mask = or)
    Concatenate(axis): y = concat(x_i, axis);  mask = any(concat(broadcast m_i), last axis)

Example:
    >>> import numpy as np
    >>> from rnnkit.keras import layers
    >>> layers.Add()([np.ones((2, 3)), np.full((2, 3), 2.0)]).numpy()[0].tolist()
    [3.0, 3.0, 3.0]
    >>> layers.Concatenate()([np.ones((2, 3)), np.zeros((2, 1))]).shape
    (2, 4)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit import _ops
from rnnkit._tensor import Tensor
from rnnkit.keras._registry import LAYERS
from rnnkit.keras.layers.base import Layer

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "add", "subtract",
           "multiply", "average", "maximum", "minimum", "concatenate"]


def _broadcast_mask(mask: Any, x: Tensor) -> np.ndarray:
    """A (B, T) mask broadcast to ``x``'s shape."""
    mask = np.asarray(mask, bool)
    while mask.ndim < x.ndim:
        mask = mask[..., None]
    return np.broadcast_to(mask, tuple(x.shape))


class _Merge(Layer):
    """Base: checks the list of inputs and their shapes; the default mask is the OR of all given masks."""

    min_inputs = 2

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.supports_masking = True

    def _check(self, inputs: Any) -> list:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < self.min_inputs:
            raise ValueError(f"{type(self).__name__} layer '{self.name}': expected a list of at least "
                             f"{self.min_inputs} inputs, got {type(inputs).__name__}"
                             + (f" of length {len(inputs)}" if isinstance(inputs, (list, tuple)) else ""))
        return list(inputs)

    def build(self, input_shape):
        shapes = self._check(input_shape)
        self._check_shapes([tuple(s) for s in shapes])

    def _check_shapes(self, shapes: list[tuple]) -> None:
        ranks = {len(s) for s in shapes}
        if len(ranks) == 1:
            for axis_sizes in zip(*(s[1:] for s in shapes)):
                known = {d for d in axis_sizes if d is not None and d != 1}
                if len(known) > 1:
                    raise ValueError(f"{type(self).__name__} layer '{self.name}': inputs must have matching shapes, "
                                     f"got {shapes}")

    def call(self, inputs, mask=None):
        return self._merge(self._check(inputs), mask if isinstance(mask, (list, tuple)) else [None] * len(inputs))

    def compute_mask(self, inputs, mask=None):
        if not isinstance(mask, (list, tuple)) or any(m is None for m in mask):
            return None
        return np.logical_or.reduce([np.asarray(m, bool) for m in mask])

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in self._check(input_shape)]
        batch = shapes[0][0]
        rest = [max((s[i] for s in shapes if s[i] is not None), default=None) for i in range(1, len(shapes[0]))]
        return (batch, *rest)


@LAYERS.register()
class Add(_Merge):
    """Elementwise sum of the inputs."""

    def _merge(self, xs, masks):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


@LAYERS.register()
class Subtract(_Merge):
    """``x_1 - x_2`` (exactly two inputs)."""

    def _check(self, inputs):
        inputs = super()._check(inputs)
        if len(inputs) != 2:
            raise ValueError(f"Subtract layer '{self.name}': expected exactly 2 inputs, got {len(inputs)}")
        return inputs

    def _merge(self, xs, masks):
        return xs[0] - xs[1]


@LAYERS.register()
class Average(_Merge):
    """Elementwise mean of the inputs."""

    def _merge(self, xs, masks):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out / float(len(xs))


@LAYERS.register()
class Multiply(_Merge):
    """Elementwise product; masked entries count as 1, and entries masked in every input are 0 (Keras 3)."""

    def _merge(self, xs, masks):
        every = all(m is not None for m in masks)
        out, union = None, None
        for x, m in zip(xs, masks):
            if m is not None:
                full = _broadcast_mask(m, x)
                x = _ops.where(full, x, 1.0)
                if every:
                    union = full if union is None else np.logical_or(union, full)
            out = x if out is None else out * x
        return out if union is None else _ops.where(union, out, 0.0)


class _Extremum(_Merge):
    """Elementwise max / min; a masked entry of one input takes the other side's value (Keras 3's or-merge)."""

    largest = True

    def _pick(self, a: Tensor, b: Tensor) -> Tensor:
        wins = (a.data >= b.data) if self.largest else (a.data <= b.data)
        return _ops.where(wins, a, b)

    def _merge(self, xs, masks):
        out, out_mask = xs[0], None if masks[0] is None else _broadcast_mask(masks[0], xs[0])
        for x, m in zip(xs[1:], masks[1:]):
            full = None if m is None else _broadcast_mask(m, x)
            if full is not None:
                x = _ops.where(full, x, out)
            if out_mask is not None:
                out = _ops.where(out_mask, out, x)
            out_mask = None if full is None or out_mask is None else np.logical_or(out_mask, full)
            out = self._pick(out, x)
        return out


@LAYERS.register()
class Maximum(_Extremum):
    """Elementwise maximum of the inputs."""


@LAYERS.register()
class Minimum(_Extremum):
    """Elementwise minimum of the inputs."""

    largest = False


@LAYERS.register()
class Concatenate(_Merge):
    """Concatenate the inputs along ``axis`` (the other sizes must match).

    Args:
        axis: the joining axis (default -1).
    """

    def __init__(self, axis: int = -1, **kwargs: Any):
        super().__init__(**kwargs)
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise TypeError(f"axis: expected an int, got {axis!r}")
        self.axis = int(axis)

    def _check_shapes(self, shapes):
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes) or not -rank <= self.axis < rank:
            raise ValueError(f"Concatenate layer '{self.name}': inputs of one rank with axis {self.axis} in range "
                             f"expected, got shapes {shapes}")
        axis = self.axis % rank
        for i in range(1, rank):
            known = {s[i] for s in shapes if s[i] is not None}
            if i != axis and len(known) > 1:
                raise ValueError(f"Concatenate layer '{self.name}': inputs must match except on axis {self.axis}, "
                                 f"got shapes {shapes}")

    def _merge(self, xs, masks):
        return _ops.cat(list(xs), dim=self.axis)

    def compute_mask(self, inputs, mask=None):
        if not isinstance(mask, (list, tuple)) or all(m is None for m in mask):
            return None
        full = [np.ones(tuple(x.shape), bool) if m is None else _broadcast_mask(m, x) for x, m in zip(inputs, mask)]
        return np.concatenate(full, axis=self.axis).any(axis=-1)

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in self._check(input_shape)]
        axis = self.axis % len(shapes[0])
        out = list(shapes[0])
        sizes = [s[axis] for s in shapes]
        out[axis] = None if None in sizes else sum(sizes)
        for i in range(1, len(out)):
            if i != axis and out[i] is None:
                out[i] = next((s[i] for s in shapes if s[i] is not None), None)
        return tuple(out)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _functional(cls):
    def merge(inputs, **kwargs):
        return cls(**kwargs)(inputs)
    merge.__name__ = cls.__name__.lower()
    merge.__doc__ = f"``keras.layers.{merge.__name__}(inputs)``: ``{cls.__name__}()(inputs)``."
    return merge


add, subtract, multiply, average = _functional(Add), _functional(Subtract), _functional(Multiply), _functional(Average)
maximum, minimum, concatenate = _functional(Maximum), _functional(Minimum), _functional(Concatenate)
