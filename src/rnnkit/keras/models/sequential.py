"""``Sequential``: a linear stack of layers, as ``keras.Sequential``.

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

from typing import Any

from rnnkit.keras._registry import LAYERS
from rnnkit.keras.layers.base import KerasTensor, Layer, flatten
from rnnkit.keras.layers.core import InputLayer
from rnnkit.keras.models.model import Model

__all__ = ["Sequential"]


@LAYERS.register()
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
        self._modules[layer.name] = layer  # a sub-module, keyed by its (unique) name
        if self._input_layer is None and len(self._layers) == 1 and layer._batch_input_shape is not None:
            self._input_layer = InputLayer(batch_shape=layer._batch_input_shape)
        self._extend_graph()

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._layers:
            raise TypeError("Sequential.pop: there are no layers in the model")
        layer = self._layers.pop()
        del self._modules[layer.name]
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
            layers.append(LAYERS.serialize(self._input_layer))
        layers.extend(LAYERS.serialize(layer) for layer in self._layers)
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable, "layers": layers}
        if self._input_layer is not None:
            config["build_input_shape"] = list(self._input_layer.batch_shape)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Sequential":
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for entry in config.get("layers", []):
            model.add(LAYERS.deserialize(entry, custom_objects))
        if model._input_layer is None and config.get("build_input_shape") is not None:
            model.build(tuple(config["build_input_shape"]))
        return model
