"""Keras's layer wrappers: ``Wrapper`` (the base class of layers that wrap one layer),
``Bidirectional`` and ``TimeDistributed``.

As in Keras 3.15, ``TimeDistributed`` is a ``Wrapper`` and ``Bidirectional`` is a plain ``Layer``
(it holds two copies of the layer, ``forward_layer`` and ``backward_layer``, not ``layer``).

``Bidirectional(layer)`` runs a copy of ``layer`` forwards and another with ``go_backwards=True``;
with ``return_sequences`` the backward outputs are flipped back into time order before merging::

    y_fwd = forward_layer(x), y_bwd = flip_t(backward_layer(x))
    concat: [y_fwd, y_bwd] (last axis)   sum: y_fwd + y_bwd   mul: y_fwd * y_bwd
    ave: (y_fwd + y_bwd) / 2             None: the list [y_fwd, y_bwd]

As in Keras, both copies output zeros at masked steps when they return sequences
(``zero_output_for_mask``), and ``initial_state`` lists the forward states then the backward ones.

``TimeDistributed(layer)`` applies ``layer`` to every time slice ``x[:, t]`` (done as one call on
the (B*T, ...) reshaped input, which is the same computation).

Example:
    >>> import numpy as np
    >>> from rnnkit.keras import layers
    >>> bi = layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode="concat")
    >>> bi(np.zeros((2, 5, 4), np.float32)).shape
    (2, 5, 6)
"""

from __future__ import annotations

from typing import Any

from rnnkit import _ops
from rnnkit._tensor import Tensor
from rnnkit.keras._registry import LAYERS
from rnnkit.keras.layers.base import Layer, is_shape

__all__ = ["Wrapper", "Bidirectional", "TimeDistributed"]

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _deserialize(config: Any, classes: dict | None = None) -> Layer:
    """A layer, given as itself or as its serialized config (``classes``: extra classes it may name)."""
    return config if isinstance(config, Layer) else LAYERS.deserialize(config, classes)


def _own_classes(layer: Any) -> dict[str, type]:
    """The classes of a live layer, its sub-layers and its cells: a copy made from its config may name them
    even when they are not registered (a custom cell), since they are already in memory."""
    found: dict[str, type] = {}
    stack = [layer]
    while stack:
        item = stack.pop()
        if type(item).__name__ in found:
            continue
        found[type(item).__name__] = type(item)
        stack.extend(getattr(item, "cells", None) or [])
        if getattr(item, "cell", None) is not None:
            stack.append(item.cell)
        if isinstance(item, Layer):
            stack.extend(item._tracked_layers())
    return found


@LAYERS.register()
class Bidirectional(Layer):
    """Run a recurrent layer in both directions and merge the results.

    Args:
        layer: a recurrent layer (``LSTM``, ``GRU``, ``SimpleRNN``...); it is copied (from its config,
            with fresh weights), as Keras does.
        merge_mode: ``'concat'`` (default), ``'sum'``, ``'mul'``, ``'ave'`` or None (return both).
        weights: optional initial weights (forward layer's then backward layer's).
        backward_layer: optional layer for the backward direction, used as given; it must have
            the opposite ``go_backwards`` and the same ``return_sequences``/``return_state``/``stateful``.
    """

    def __init__(self, layer: Layer, merge_mode: str | None = "concat", weights: Any = None,
                 backward_layer: Any = None, **kwargs: Any):
        layer = _deserialize(layer)
        if not isinstance(layer, Layer):
            raise TypeError(f"layer: expected a keras layer instance, got {type(layer).__name__}")
        for attribute in ("go_backwards", "return_sequences", "return_state", "stateful"):
            if not hasattr(layer, attribute):
                raise TypeError(f"layer: Bidirectional needs a recurrent layer (with `{attribute}`), "
                                f"got {type(layer).__name__}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"merge_mode: expected one of {_MERGE_MODES}, got {merge_mode!r}")
        super().__init__(**kwargs)
        classes = _own_classes(layer)
        config = LAYERS.serialize(layer)
        config["config"]["name"] = "forward_" + layer.name.removeprefix("forward_")
        self.forward_layer = _deserialize(config, classes)
        if backward_layer is None:
            config = LAYERS.serialize(layer)
            config["config"]["go_backwards"] = True
            config["config"]["name"] = "backward_" + layer.name.removeprefix("backward_")
            self.backward_layer = _deserialize(config, classes)
        else:
            self.backward_layer = _deserialize(backward_layer)
        if hasattr(layer, "use_cudnn") and backward_layer is None:  # not in the config: copied as Keras does
            self.forward_layer.use_cudnn = self.backward_layer.use_cudnn = layer.use_cudnn
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError(
                "backward_layer: the forward and backward layers need different go_backwards values, got "
                f"{self.forward_layer.go_backwards} for both"
            )
        for attribute in ("stateful", "return_sequences", "return_state"):
            fwd, bwd = getattr(self.forward_layer, attribute), getattr(self.backward_layer, attribute)
            if fwd != bwd:
                raise ValueError(f"backward_layer: {attribute} is {bwd} but the forward layer has {fwd}")
        for inner in (self.forward_layer, self.backward_layer):
            inner.zero_output_for_mask = inner.return_sequences
        self.merge_mode = merge_mode
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.time_major = getattr(layer, "time_major", False)
        self.supports_masking = True
        self.input_spec = layer.input_spec
        if weights is not None:
            half = len(weights) // 2
            self.forward_layer._initial_weights = list(weights[:half])
            self.backward_layer._initial_weights = list(weights[half:])

    def build(self, input_shape):
        self.forward_layer._build_once(input_shape)
        self.backward_layer._build_once(input_shape)

    def call(self, inputs, initial_state=None, mask=None, training=False):
        forward_state = backward_state = None
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(states) % 2:
                raise ValueError(f"initial_state: expected the forward states then the backward states (an even "
                                 f"count), got {len(states)} tensors")
            half = len(states) // 2
            forward_state, backward_state = states[:half], states[half:]
        y = self.forward_layer(inputs, initial_state=forward_state, mask=mask, training=training)
        y_rev = self.backward_layer(inputs, initial_state=backward_state, mask=mask, training=training)
        states: tuple = ()
        if self.return_state:
            states = tuple(y[1:]) + tuple(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            time_axis = 0 if self.time_major else 1
            index = (slice(None),) * time_axis + (slice(None, None, -1),)
            y_rev = _ops.getitem(y_rev, index)  # (B, T, H) back in time order
        if self.merge_mode == "concat":
            output: Any = _ops.cat([y, y_rev], dim=-1)  # (..., 2H)
        elif self.merge_mode == "sum":
            output = y + y_rev  # (..., H)
        elif self.merge_mode == "ave":
            output = (y + y_rev) * 0.5  # (..., H)
        elif self.merge_mode == "mul":
            output = y * y_rev  # (..., H)
        else:
            output = (y, y_rev)
        if self.return_state:
            return (output,) + states if self.merge_mode is not None else output + states
        return output

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        states: tuple = ()
        if self.return_state:
            shape, states = shape[0], tuple(shape[1:])
        if self.merge_mode == "concat":
            shape = tuple(shape[:-1]) + (None if shape[-1] is None else 2 * shape[-1],)
            output: Any = shape
        elif self.merge_mode is None:
            output = (tuple(shape), tuple(shape))
        else:
            output = tuple(shape)
        if self.return_state:
            return ((output,) if is_shape(output) else output) + states + states
        return output

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, list):
            mask = mask[0]
        output_mask: Any = mask if self.return_sequences else None
        if self.merge_mode is None:
            output_mask = [output_mask, output_mask]
        if self.return_state:
            n_states = 2 * len(self.forward_layer.state_size_list)
            return (output_mask if isinstance(output_mask, list) else [output_mask]) + [None] * n_states
        return output_mask

    def reset_states(self, states: Any = None) -> None:
        """Zero (or set, forward states then backward ones) the states of both stateful copies."""
        if not self.stateful:
            raise AttributeError(f"Bidirectional '{self.name}': reset_states needs a stateful layer")
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
        else:
            half = len(states) // 2
            self.forward_layer.reset_states(states[:half])
            self.backward_layer.reset_states(states[half:])

    reset_state = reset_states

    def get_config(self):
        return {**super().get_config(), "merge_mode": self.merge_mode, "layer": LAYERS.serialize(self.forward_layer),
                "backward_layer": LAYERS.serialize(self.backward_layer)}


class Wrapper(Layer):
    """Base class of layers that wrap one layer (``keras.layers.Wrapper``): it holds ``layer``, builds it
    when built, and serializes it inside its own config (``config["layer"]``). Subclasses define ``call``.

    Args:
        layer: the wrapped layer (or its serialized config, as ``from_config`` passes it).

    Example:
        >>> import numpy as np
        >>> from rnnkit.keras import layers
        >>> class Twice(layers.Wrapper):
        ...     def call(self, inputs):
        ...         return self.layer(inputs) * 2
        >>> twice = Twice(layers.Dense(2, kernel_initializer="ones"))
        >>> twice(np.ones((1, 3), np.float32)).detach().numpy().tolist(), twice.get_config()["layer"]["class_name"]
        ([[6.0, 6.0]], 'Dense')
    """

    def __init__(self, layer: Layer, **kwargs: Any):
        layer = _deserialize(layer) if isinstance(layer, dict) else layer
        if not isinstance(layer, Layer):
            raise TypeError(f"layer: expected a keras layer instance, got {type(layer).__name__}")
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape=None):
        self.layer._build_once(input_shape)

    def get_config(self):
        return {**super().get_config(), "layer": LAYERS.serialize(self.layer)}


@LAYERS.register()
class TimeDistributed(Wrapper):
    """Apply ``layer`` to every time step: ``y[:, t] = layer(x[:, t])``.

    Args:
        layer: any layer taking (B, ...) inputs, e.g. ``Dense``.
    """

    def __init__(self, layer: Layer, **kwargs: Any):
        super().__init__(layer, **kwargs)
        self.supports_masking = True

    @staticmethod
    def _child_shape(input_shape):
        if not is_shape(input_shape) or len(input_shape) < 3:
            raise ValueError(f"TimeDistributed: argument inputs needs at least 3 dimensions (batch, time, ...), "
                             f"got shape {input_shape}")
        return (input_shape[0],) + tuple(input_shape[2:])

    def build(self, input_shape):
        self.layer._build_once(self._child_shape(input_shape))

    def call(self, inputs, training=False, mask=None):
        shape = tuple(inputs.shape)
        self._child_shape(shape)
        if mask is not None and tuple(mask.shape[:2]) != shape[:2]:
            raise ValueError(f"mask: expected shape {shape[:2]} (batch, time) for inputs of shape {shape}, "
                             f"got {tuple(mask.shape)}")
        B, T = shape[:2]
        flat = _ops.reshape(inputs, (B * T,) + shape[2:])  # (B*T, ...)
        kwargs = {"training": training}
        if mask is not None and self.layer._call_accepts("mask"):
            kwargs["mask"] = mask.reshape(B * T)
        out = self.layer(flat, **kwargs)
        if not isinstance(out, Tensor):
            raise ValueError("TimeDistributed: the wrapped layer must return one tensor")
        return _ops.reshape(out, (B, T) + tuple(out.shape[1:]))  # (B, T, ...)

    def compute_output_shape(self, input_shape):
        child = self.layer.compute_output_shape(self._child_shape(input_shape))
        return (child[0], input_shape[1]) + tuple(child[1:])
