"""``Model``: the base of every Keras model, and of subclassed models (define ``call``).

``keras.Model(inputs, outputs)`` gives a :class:`~rnnkit.keras.models.functional.Functional`
model (as in Keras 3, where ``Model.__new__`` hands over to ``Functional``); ``Sequential`` is
in :mod:`~rnnkit.keras.models.sequential`. Training (``compile``/``fit``/``evaluate``/``predict``,
``save``) comes from :class:`rnnkit.keras.trainer.Trainer`; the layers a model holds are its
sub-modules (``model.named_parameters()`` walks them).

Example:
    >>> import numpy as np
    >>> from rnnkit import keras
    >>> class TwoLayers(keras.Model):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = keras.layers.Dense(4, activation="tanh")
    ...         self.out = keras.layers.Dense(1)
    ...     def call(self, x, training=False):
    ...         return self.out(self.hidden(x))
    >>> model = TwoLayers()
    >>> model(np.zeros((2, 3), np.float32)).shape, [name for name, _ in model.named_parameters()]
    ((2, 1), ['hidden.kernel', 'hidden.bias', 'out.kernel', 'out.bias'])
"""

from __future__ import annotations

import json
from typing import Any, Callable

from rnnkit.keras._registry import LAYERS
from rnnkit.keras.layers.base import Layer, to_snake_case, unique_name
from rnnkit.keras.models.summary import summary_text
from rnnkit.keras.pickling import reduce_model
from rnnkit.keras.trainer import Trainer
from rnnkit.onnx._keras import export_model

__all__ = ["Model"]


@LAYERS.register()
class Model(Trainer, Layer):
    """A Keras model: ``Model(inputs, outputs)`` (functional), or subclass it and define ``call``.

    Args:
        inputs: a ``keras.Input`` tensor or a list of them (then a ``Functional`` model is made).
        outputs: tensors obtained by calling layers on ``inputs`` (one or a list).
        name: model name (the snake-cased class name with a counter by default).
        trainable: whether training updates the weights.
    """

    _float_inputs = False  # the layers inside cast their own inputs
    _autocast = False

    def __new__(cls, *args: Any, **kwargs: Any) -> "Model":
        if cls is Model and _functional_arguments(args, kwargs):
            cls = LAYERS.classes()["Functional"]  # Keras 3: Model(inputs, outputs) is a Functional model
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any):
        if _functional_arguments(args, kwargs):
            # A subclass that builds a graph and calls super().__init__(inputs, outputs): as Keras 3, its class
            # becomes a subclass of Functional, which then runs the graph.
            functional = LAYERS.classes()["Functional"]
            if not isinstance(self, functional):
                _graft_functional(type(self), functional)
            functional.__init__(self, *args, **kwargs)
            return
        if args or "inputs" in kwargs or "outputs" in kwargs:
            raise ValueError("Model: pass both inputs and outputs (functional API), or neither (subclassing)")
        name, trainable = kwargs.pop("name", None), kwargs.pop("trainable", True)
        Layer.__init__(self, name=name or unique_name(to_snake_case(type(self).__name__)), trainable=trainable,
                       **kwargs)
        self._is_graph_network = False

    @property
    def inputs(self) -> list | None:
        """The symbolic inputs (None for a subclassed model)."""
        return None

    @property
    def outputs(self) -> list | None:
        """The symbolic outputs (None for a subclassed model)."""
        return None

    @property
    def input(self) -> Any:
        return None

    @property
    def output(self) -> Any:
        return None

    @property
    def layers(self) -> list[Layer]:
        """The model's layers (for a subclassed model: the layers assigned as attributes, in order)."""
        return self._tracked_layers()

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
        """Nothing to create up front; a subclassed model builds its layers on the first call."""

    def call(self, inputs: Any, training: bool = False, mask: Any = None) -> Any:
        raise NotImplementedError(f"{type(self).__name__}: a subclassed Model must define call()")

    def export(self, filepath: Any, format: str = "tf_saved_model", verbose: Any = None,
               input_signature: Any = None, **kwargs: Any) -> None:
        """Export for inference, as Keras 3; rnnkit writes ``format="onnx"`` (see :mod:`rnnkit.onnx`).

        Args:
            filepath: the ``.onnx`` file.
            format: ``"onnx"`` (Keras's other formats need TensorFlow or OpenVINO).
            verbose: accepted for Keras compatibility; rnnkit prints nothing.
            input_signature: the inputs' shapes/dtypes when the model has none yet.
            **kwargs: ``opset_version`` (default 17).
        """
        if format != "onnx":
            raise ValueError(f"format: rnnkit exports format='onnx' only (Keras's {format!r} needs TensorFlow or "
                             f"OpenVINO), got {format!r}")
        opset = kwargs.pop("opset_version", None)
        if kwargs:
            raise TypeError(f"export: unexpected keyword arguments {sorted(kwargs)} (format='onnx' takes "
                            "opset_version)")
        export_model(self, filepath, input_signature=input_signature, opset=opset)

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
        print_fn(summary_text(self, line_length, positions, expand_nested, show_trainable, layer_range))

    # -- configuration --------------------------------------------------------------------------------
    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Model":
        if "layers" in config:  # a functional model's config
            return LAYERS.classes()["Functional"].from_config(config, custom_objects)
        return cls(**config)

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as JSON (``keras.models.model_from_json`` reads it back)."""
        return json.dumps(LAYERS.serialize(self), **kwargs)

    def __reduce__(self) -> tuple:
        """Pickle (and ``copy.deepcopy``) by value, as Keras 3: the ``.keras`` archive's bytes (see
        :mod:`rnnkit.keras.pickling`)."""
        return reduce_model(self)


def _functional_arguments(args: tuple, kwargs: dict) -> bool:
    """Keras's test for the functional constructor: ``(inputs, outputs)`` given positionally or by name."""
    return len(args) == 2 or (len(args) == 1 and "outputs" in kwargs) or ("inputs" in kwargs and "outputs" in kwargs)


def _graft_functional(cls: type, functional: type) -> None:
    """Put ``functional`` where ``Model`` stands in the bases of ``cls`` (and of its Model ancestors)."""
    bases = []
    for base in cls.__bases__:
        if base is Model:
            base = functional
        elif issubclass(base, Model) and not issubclass(base, functional):
            _graft_functional(base, functional)
        bases.append(base)
    cls.__bases__ = tuple(bases)
