"""``Layer``, ``InputSpec`` and the symbolic tensors of the functional API.

A :class:`Layer` IS an :class:`rnnkit.nn.Module` (as Keras 3's torch backend builds its layers
on ``torch.nn.Module``): its weights are ``rnnkit.nn.Parameter`` objects created by
:meth:`Layer.add_weight` and registered in the module's parameter registry (so ``parameters()``,
``named_parameters()``, ``state_dict()`` and the ``rnnkit.optim`` optimizers see them), and the
layers it holds are its sub-modules. On top of that it keeps Keras's API: ``weights`` in Keras's
``get_weights()`` order, ``trainable``, ``build`` from the first input shape it sees, and ``call``
on rnnkit Tensors. Calling a layer on a
:class:`KerasTensor` (from ``keras.Input``) records a :class:`Node` instead: that graph is
what ``keras.Model(inputs, outputs)`` replays.

Masks follow Keras: a layer's output Tensor carries ``_keras_mask`` (a (B, T) bool ndarray
or None); the next layer receives it as its ``mask`` argument. A layer with
``supports_masking`` passes on ``compute_mask(inputs, mask)`` (the input mask unless
overridden); any other layer drops it.

Example:
    >>> import numpy as np
    >>> from rnnkit.keras import layers
    >>> dense = layers.Dense(3)
    >>> dense(np.ones((2, 4), np.float32)).shape
    (2, 3)
    >>> [w.shape for w in dense.get_weights()]
    [(4, 3), (3,)]
"""

from __future__ import annotations

import collections
import inspect
import threading
from typing import Any, Callable, Iterator

import numpy as np

from rnnkit._tensor import Tensor, array_of, no_grad
from rnnkit.keras import initializers, regularizers, constraints
from rnnkit.keras._registry import to_snake_case
from rnnkit._validation import check_bool, check_dtype
from rnnkit.keras.variables import Variable
from rnnkit.nn import Module, Parameter

__all__ = ["Layer", "InputSpec", "KerasTensor", "Node", "reset_names", "to_snake_case"]

# -- names ----------------------------------------------------------------------
_NAME_COUNTS: collections.Counter = collections.Counter()


def unique_name(base: str) -> str:
    """``base`` the first time, then ``base_1``, ``base_2``... (reset by :func:`reset_names`)."""
    count = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if count == 0 else f"{base}_{count}"


def reset_names() -> None:
    """Forget the automatic names handed out so far (``keras.utils.clear_session``)."""
    _NAME_COUNTS.clear()


# -- structures -------------------------------------------------------------------
def flatten(structure: Any) -> list:
    """The leaves of nested lists, tuples and dicts, in order."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in structure for leaf in flatten(structure[key])]
    return [structure]


def map_structure(fn: Callable, structure: Any) -> Any:
    """Apply ``fn`` to every leaf, keeping lists, tuples and dicts."""
    if isinstance(structure, list):
        return [map_structure(fn, item) for item in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, item) for item in structure)
    if isinstance(structure, dict):
        return {key: map_structure(fn, value) for key, value in structure.items()}
    return fn(structure)


def is_shape(value: Any) -> bool:
    """True for one shape (a tuple/list of ints and None), False for a structure of shapes."""
    return isinstance(value, (tuple, list)) and all(v is None or isinstance(v, (int, np.integer)) for v in value)


# -- symbolic tensors -------------------------------------------------------------
KerasHistory = collections.namedtuple("KerasHistory", ["operation", "node_index", "tensor_index"])


class KerasTensor:
    """A symbolic tensor: a shape (None for unknown sizes, batch first), a dtype and the layer call that made it."""

    def __init__(self, shape: tuple, dtype: str = "float32", name: str | None = None):
        self.shape = tuple(None if s is None else int(s) for s in shape)
        self.dtype = str(np.dtype(dtype))
        self.name = name
        self._keras_history: KerasHistory | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(
            "A KerasTensor is symbolic: it has no values. Build a keras.Model(inputs, outputs) and call it on data."
        )


class Node:
    """One call of a layer on symbolic inputs: the arguments (with KerasTensors inside) and the outputs."""

    def __init__(self, layer: "Layer", call_args: tuple, call_kwargs: dict, outputs: Any):
        self.layer = layer
        self.call_args = call_args
        self.call_kwargs = call_kwargs
        self.input_tensors = [t for t in flatten((call_args, call_kwargs)) if isinstance(t, KerasTensor)]
        self.outputs = outputs
        self.output_tensors = flatten(outputs)
        layer._inbound_nodes.append(self)
        index = len(layer._inbound_nodes) - 1
        for i, tensor in enumerate(self.output_tensors):
            tensor._keras_history = KerasHistory(layer, index, i)
            if tensor.name is None:
                tensor.name = layer.name if len(self.output_tensors) == 1 else f"{layer.name}_{i}"

    @property
    def parent_nodes(self) -> list["Node"]:
        out = []
        for t in self.input_tensors:
            layer, index, _ = t._keras_history
            out.append(layer._inbound_nodes[index])
        return out


def _has_symbolic(structure: Any) -> bool:
    return any(isinstance(leaf, KerasTensor) for leaf in flatten(structure))


# -- input specifications -----------------------------------------------------------
class InputSpec:
    """What a layer accepts: ``ndim`` / ``min_ndim`` / ``max_ndim`` and fixed sizes ``axes={axis: size}``."""

    def __init__(self, dtype: Any = None, shape: tuple | None = None, ndim: int | None = None,
                 max_ndim: int | None = None, min_ndim: int | None = None, axes: dict | None = None,
                 allow_last_axis_squeeze: bool = False, name: str | None = None, optional: bool = False):
        self.dtype = dtype
        self.shape = None if shape is None else tuple(shape)
        self.ndim = len(self.shape) if self.shape is not None else ndim
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.axes = dict(axes or {})
        self.allow_last_axis_squeeze, self.name, self.optional = allow_last_axis_squeeze, name, optional

    def __repr__(self) -> str:
        parts = [f"{k}={v}" for k, v in (("ndim", self.ndim), ("min_ndim", self.min_ndim),
                                          ("max_ndim", self.max_ndim), ("axes", self.axes or None)) if v is not None]
        return f"InputSpec({', '.join(parts)})"


# The options every weight ``w`` of a layer has: ``w_initializer``, ``w_regularizer``, ``w_constraint``.
_WEIGHT_OPTIONS = (("initializer", initializers), ("regularizer", regularizers), ("constraint", constraints))

_NDIM_MEANING = {2: "(batch, features)", 3: "(batch, timesteps, features)"}


# -- call context ---------------------------------------------------------------------
_context = threading.local()


def _ctx():
    if not hasattr(_context, "depth"):
        _context.depth, _context.training = 0, None
    return _context


def _parse_dtype(dtype: Any) -> np.dtype:
    if dtype is None:
        return np.dtype(np.float32)
    if isinstance(dtype, dict):  # a Keras 3 DTypePolicy config
        dtype = (dtype.get("config") or {}).get("name", dtype.get("name"))
    return check_dtype(dtype)


def _shape_arg(name: str, value: Any) -> tuple:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not all(v is None or isinstance(v, (int, np.integer)) for v in value):
        raise TypeError(f"{name}: expected a tuple of ints (None for unknown sizes), got {value!r}")
    if any(v is not None and v < 0 for v in value):
        raise ValueError(f"{name}: sizes must be non-negative, got {tuple(value)}")
    return tuple(None if v is None else int(v) for v in value)


class Layer(Module):
    """Base class of every Keras layer (and of ``Model``): an :class:`rnnkit.nn.Module` with Keras's API.

    Args:
        name: unique name; the snake-cased class name with a counter when omitted.
        trainable: whether the weights are updated by training.
        dtype: ``'float32'`` (default) or ``'float64'``: the weights' and outputs' dtype.
        input_shape / batch_input_shape / input_dim / batch_size: the expected input (without /
            with the batch axis), used by ``Sequential`` to build the model before any data.
        activity_regularizer: penalty on the layer's outputs, divided by the batch size.
        weights: initial weight values (a list, as ``set_weights``), set when the layer is built.

    Example:
        >>> import numpy as np
        >>> from rnnkit.keras import layers
        >>> dense = layers.Dense(2)
        >>> _ = dense(np.ones((1, 3), np.float32))
        >>> [(name, tuple(p.shape)) for name, p in dense.named_parameters()]
        [('kernel', (3, 2)), ('bias', (2,))]
    """

    _float_inputs = True  # cast integer inputs to the layer's float dtype (Embedding keeps them)
    _autocast = True  # cast float inputs to the layer's dtype (models leave it to their layers)

    def __init__(self, name: str | None = None, trainable: bool = True, dtype: Any = None,
                 input_shape: Any = None, batch_input_shape: Any = None, input_dim: int | None = None,
                 batch_size: int | None = None, activity_regularizer: Any = None, weights: Any = None,
                 **kwargs: Any):
        Module.__init__(self)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(f"name: expected a non-empty string without '/', got {name!r}")
        self.name = name if name is not None else unique_name(to_snake_case(type(self).__name__))
        self._trainable = check_bool("trainable", trainable)
        self._np_dtype = _parse_dtype(dtype)
        self.built = False
        self.input_spec: InputSpec | list | None = None
        self.supports_masking = False
        self.activity_regularizer = regularizers.get(activity_regularizer, "activity_regularizer")
        self._activity_losses: list[Tensor] = []
        self._inbound_nodes: list[Node] = []
        self._build_input_shape: Any = None
        self._initial_weights = weights
        shape = None
        if batch_input_shape is not None:
            shape = _shape_arg("batch_input_shape", batch_input_shape)
        elif input_shape is not None:
            shape = (batch_size,) + _shape_arg("input_shape", input_shape)
        elif input_dim is not None:
            shape = (batch_size,) + _shape_arg("input_dim", input_dim)
        self._batch_input_shape = shape

    # -- the module registry -----------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter) and params is not None and params.get(name) is not value \
                and any(value is p for p in params.values()):
            object.__setattr__(self, name, value)  # another name for one of this layer's weights, not a new one
            return
        Module.__setattr__(self, name, value)

    def __dir__(self) -> list[str]:
        """Attributes, methods, and the registered weights and sub-layers (``dense.kernel``), as torch's modules."""
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._modules))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """``nn.Module``'s entry point: the Keras call (building, masks, ``training``), as Keras's torch layers."""
        return self(*args, **kwargs)

    def _tracked_layers(self) -> list["Layer"]:
        """The layers whose weights this layer owns: its sub-modules that are Keras layers."""
        return [m for m in self._modules.values() if isinstance(m, Layer)]

    def _flatten_layers(self) -> Iterator["Layer"]:
        seen: set[int] = set()
        stack = [self]
        while stack:
            layer = stack.pop(0)
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            yield layer
            stack.extend(layer._tracked_layers())

    def to(self, *args: Any, **kwargs: Any) -> "Layer":
        """``nn.Module.to``: cast the weights of this layer and its sub-layers; their compute dtype follows."""
        Module.to(self, *args, **kwargs)
        dtypes = {np.dtype(p.dtype) for p in self.parameters()}
        if len(dtypes) == 1:  # the weights' new dtype (unchanged by a device-only move)
            dtype = dtypes.pop()
            for layer in self._flatten_layers():
                layer._np_dtype = dtype
        return self

    def double(self) -> "Layer":
        return self.to(np.float64)

    def float(self) -> "Layer":
        return self.to(np.float32)

    # -- dtype and trainability --------------------------------------------------------
    @property
    def dtype(self) -> str:
        """The weights' dtype name, ``'float32'`` unless asked otherwise."""
        return self._np_dtype.name

    compute_dtype = dtype

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        value = bool(value)
        for layer in self._flatten_layers():
            layer._trainable = value
            for w in layer._parameters.values():
                w.requires_grad = value and w.trainable

    # -- weights ---------------------------------------------------------------------
    def add_weight(self, name: Any = None, shape: Any = None, initializer: Any = None, regularizer: Any = None,
                   constraint: Any = None, trainable: bool = True, dtype: Any = None) -> Parameter:
        """Create, initialise and register a weight.

        Args:
            name: the weight's name (``kernel``...). A shape in first position is accepted too.
            shape: tuple of ints.
            initializer: name, instance or callable; ``glorot_uniform`` when omitted.
            regularizer, constraint: as ``keras.regularizers`` / ``keras.constraints`` accept.
            trainable: False for weights that training must not update.
            dtype: defaults to the layer's dtype.

        Returns:
            the :class:`rnnkit.nn.Parameter`, with attributes ``name``, ``trainable``,
            ``regularizer`` and ``constraint``.
        """
        if isinstance(name, (tuple, list)) and shape is None:  # Keras 3 order: add_weight(shape, initializer...)
            name, shape = None, name
        shape = _shape_arg("shape", () if shape is None else shape)
        if any(s is None for s in shape):
            raise ValueError(f"shape: a weight needs every size known, got {shape}")
        dtype = self._np_dtype if dtype is None else _parse_dtype(dtype)
        init = initializers.get("glorot_uniform" if initializer is None else initializer, "initializer")
        value = np.asarray(init(shape, dtype=dtype))
        if value.shape != shape:
            raise ValueError(f"initializer: produced shape {value.shape} for weight {name!r}, expected {shape}")
        weight = Variable(np.array(value, dtype=dtype, order="C"), trainable=bool(trainable),
                          name=name or f"variable_{len(self._parameters)}")
        weight.requires_grad = bool(trainable) and self._trainable
        weight.path = f"{self.name}/{weight.name}"
        weight.trainable = bool(trainable)
        weight.regularizer = regularizers.get(regularizer, "regularizer")
        weight.constraint = constraints.get(constraint, "constraint")
        key, n = weight.name, 0
        while key in self._parameters:  # Keras allows two weights of one name; the registry needs two keys
            n += 1
            key = f"{weight.name}_{n}"
        self._parameters[key] = weight  # registered without touching attributes: ``self.kernel = ...`` aliases it
        return weight

    def _set_weight_options(self, **options: tuple[Any, Any, Any]) -> None:
        """Resolve and set ``<w>_initializer``, ``<w>_regularizer`` and ``<w>_constraint`` for each
        ``w=(initializer, regularizer, constraint)`` (Keras arguments: names, configs, objects...)."""
        for i, (option, module) in enumerate(_WEIGHT_OPTIONS):
            for weight, values in options.items():
                setattr(self, f"{weight}_{option}", module.get(values[i], f"{weight}_{option}"))

    def _weight_options_config(self, *weights: str) -> dict:
        """The serialized ``<w>_initializer``/``_regularizer``/``_constraint`` of each weight ``w``."""
        return {f"{weight}_{option}": module.serialize(getattr(self, f"{weight}_{option}"))
                for option, module in _WEIGHT_OPTIONS for weight in weights}

    def _add_option_weight(self, name: str, shape: tuple, options: str | None = None,
                           initializer: Any = None) -> Parameter:
        """:meth:`add_weight` with the layer's ``<options>_initializer`` (unless ``initializer`` is given),
        ``<options>_regularizer`` and ``<options>_constraint`` (``options`` defaults to ``name``)."""
        options = name if options is None else options
        initializer = getattr(self, f"{options}_initializer") if initializer is None else initializer
        return self.add_weight(name, shape, initializer, getattr(self, f"{options}_regularizer"),
                               getattr(self, f"{options}_constraint"))

    @property
    def weights(self) -> list[Parameter]:
        """Own trainable, own non-trainable, then sublayers' weights (Keras's ``get_weights`` order)."""
        out: list[Parameter] = []
        seen: set[int] = set()
        own = [w for w in self._parameters.values() if w.trainable] + \
            [w for w in self._parameters.values() if not w.trainable]
        for w in own + [w for layer in self._tracked_layers() for w in layer.weights]:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        return out

    @property
    def trainable_weights(self) -> list[Parameter]:
        if not self._trainable:
            return []
        out = [w for w in self._parameters.values() if w.trainable]
        for layer in self._tracked_layers():
            out.extend(w for w in layer.trainable_weights if all(w is not o for o in out))
        return out

    @property
    def non_trainable_weights(self) -> list[Parameter]:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights' values, in :attr:`weights` order."""
        return [array_of(w).copy() for w in self.weights]

    def set_weights(self, weights: Any) -> None:
        """Copy values into the weights in place.

        Raises:
            ValueError: the count or a shape differs (naming the layer, the index, the expected and
                the received shapes).
        """
        params = self.weights
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(
                f"set_weights on layer '{self.name}': expected {len(params)} arrays "
                f"({[tuple(p.shape) for p in params]}), received {len(weights)}"
                + ("" if self.built else " (the layer is not built yet: call it on data or build it first)")
            )
        arrays = []
        for i, (param, value) in enumerate(zip(params, weights)):
            value = array_of(value)
            if value.shape != param.shape:
                raise ValueError(
                    f"set_weights on layer '{self.name}': weight {i} ('{param.name}') expects shape "
                    f"{tuple(param.shape)}, received shape {value.shape}"
                )
            arrays.append(value)
        for param, value in zip(params, arrays):
            param.data[...] = value.astype(param.dtype, copy=False)

    def count_params(self) -> int:
        """Total number of scalars in the weights."""
        if not self.built:
            raise ValueError(
                f"count_params: layer '{self.name}' is not built yet, so its weights do not exist; "
                "call it on data or give it an input shape"
            )
        return int(sum(array_of(w).size for w in self.weights))

    # -- losses -----------------------------------------------------------------------
    @property
    def losses(self) -> list[Tensor]:
        """Regularization penalties (differentiable scalar Tensors): weight regularizers of the trainable
        weights and activity regularizers of the last call, of this layer and its sublayers."""
        out = list(self._activity_losses)
        if self._trainable:
            for w in self._parameters.values():
                if w.trainable and w.regularizer is not None:
                    out.append(w.regularizer(w))
        for layer in self._tracked_layers():
            out.extend(layer.losses)
        return out

    # -- building ---------------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        """Create the weights for inputs of ``input_shape``; the default creates none."""
        self.built = True

    def _build_once(self, input_shape: Any) -> None:
        if self.built:
            return
        self.build(input_shape)
        self.built = True
        if self._build_input_shape is None:
            self._build_input_shape = input_shape
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape for ``input_shape`` (None for unknown sizes). The default runs the layer on zeros."""
        if not is_shape(input_shape):
            raise NotImplementedError(
                f"{type(self).__name__}: implement compute_output_shape to use the layer on several symbolic inputs"
            )
        concrete = tuple(1 if s is None else s for s in input_shape)
        with no_grad():
            out = self.call(Tensor(np.zeros(concrete, self._np_dtype)), **self._default_call_kwargs())
        return map_structure(lambda t: (input_shape[0],) + tuple(t.shape[1:]), out)

    def _default_call_kwargs(self) -> dict:
        return {"training": False} if self._call_accepts("training") else {}

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The mask of the outputs: the input mask for layers that support masking, else None."""
        return mask if self.supports_masking else None

    # -- calling ----------------------------------------------------------------------
    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no call()")

    def _call_accepts(self, argument: str) -> bool:
        cache = type(self).__dict__.get("_call_params_cache")
        if cache is None:
            cache = frozenset(inspect.signature(self.call).parameters)
            type.__setattr__(type(self), "_call_params_cache", cache)
        return argument in cache

    def _convert(self, value: Any) -> Any:
        """ndarray / list / Tensor -> Tensor of the layer's dtype (integers kept for Embedding)."""
        if isinstance(value, Tensor):
            tensor = value
        elif hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
            tensor = Tensor(value.detach().cpu().numpy())
        elif isinstance(value, (np.ndarray, list, tuple, float, int, np.generic)):
            tensor = Tensor(np.asarray(value))
        else:
            raise TypeError(
                f"{type(self).__name__} '{self.name}': expected an array or Tensor input, got {type(value).__name__}"
            )
        kind = tensor.dtype.kind
        if not self._autocast:
            return tensor
        if (kind == "f" or (kind in "iub" and self._float_inputs)) and tensor.dtype != self._np_dtype:
            mask = getattr(tensor, "_keras_mask", None)
            tensor = tensor.astype(self._np_dtype) if kind == "f" else Tensor(array_of(tensor).astype(self._np_dtype))
            tensor._keras_mask = mask
        return tensor

    def _convert_inputs(self, inputs: Any) -> Any:
        if isinstance(inputs, dict):  # inputs by name (functional models)
            return {name: self._convert(x) for name, x in inputs.items()}
        if isinstance(inputs, (list, tuple)) and not _is_nested_numbers(inputs):
            return type(inputs)(self._convert(x) for x in inputs)
        return self._convert(inputs)

    def _check_input_spec(self, inputs: Any) -> None:
        specs = self.input_spec
        if specs is None:
            return
        specs = specs if isinstance(specs, (list, tuple)) else [specs]
        values = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        for spec, x in zip(specs, values):
            shape = tuple(x.shape)
            where = f"{type(self).__name__} layer '{self.name}'"
            if spec.ndim is not None and len(shape) != spec.ndim:
                meaning = _NDIM_MEANING.get(spec.ndim, "")
                raise ValueError(
                    f"{where}: argument inputs expected a {spec.ndim}-D input {meaning}, got a {len(shape)}-D "
                    f"input of shape {shape}"
                )
            if spec.min_ndim is not None and len(shape) < spec.min_ndim:
                raise ValueError(
                    f"{where}: argument inputs expected at least {spec.min_ndim} dimensions, got shape {shape}"
                )
            if spec.max_ndim is not None and len(shape) > spec.max_ndim:
                raise ValueError(
                    f"{where}: argument inputs expected at most {spec.max_ndim} dimensions, got shape {shape}"
                )
            for axis, size in spec.axes.items():
                if size is not None and -len(shape) <= axis < len(shape) and shape[axis] not in (None, size):
                    raise ValueError(
                        f"{where}: argument inputs expected inputs.shape[{axis}] == {size} (the size the layer "
                        f"was built for), got inputs.shape={shape}"
                    )

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if _has_symbolic((inputs, args, kwargs)):
            return self._symbolic_call(inputs, *args, **kwargs)
        training = kwargs.pop("training", None)
        mask = kwargs.pop("mask", None)
        inputs = self._convert_inputs(inputs)
        if mask is None:
            if isinstance(inputs, (list, tuple)):
                masks = [getattr(x, "_keras_mask", None) for x in inputs]
                mask = None if all(m is None for m in masks) else masks
            else:
                mask = getattr(inputs, "_keras_mask", None)
        elif isinstance(mask, Tensor):
            mask = array_of(mask)
        ctx = _ctx()
        if training is None:
            training = bool(ctx.training) if ctx.training is not None else False
        if ctx.depth == 0:
            for layer in self._flatten_layers():
                layer._activity_losses = []
        previous, ctx.training = ctx.training, bool(training)
        ctx.depth += 1
        try:
            self._check_input_spec(inputs)
            if not self.built:
                self._build_once(map_structure(lambda t: tuple(t.shape), inputs)
                                 if isinstance(inputs, (list, tuple)) else tuple(inputs.shape))
            if self._call_accepts("training"):
                kwargs["training"] = bool(training)
            if self._call_accepts("mask"):
                kwargs["mask"] = mask
            outputs = self.call(inputs, *args, **kwargs)
            self._attach_masks(inputs, outputs, mask)
            if self.activity_regularizer is not None:
                for out in flatten(outputs):
                    if isinstance(out, Tensor):
                        loss = self.activity_regularizer(out)
                        self._activity_losses.append(loss / float(out.shape[0]) if out.ndim else loss)
        finally:
            ctx.depth -= 1
            ctx.training = previous
        return outputs

    def _attach_masks(self, inputs: Any, outputs: Any, mask: Any) -> None:
        out_masks = self.compute_mask(inputs, mask) if self.supports_masking else None
        flat_out = flatten(outputs)
        flat_masks = flatten(out_masks) if isinstance(out_masks, (list, tuple)) else [out_masks] * len(flat_out)
        if isinstance(out_masks, (list, tuple)) and len(flat_masks) != len(flat_out):
            flat_masks = [flat_masks[0]] + [None] * (len(flat_out) - 1)
        for out, m in zip(flat_out, flat_masks):
            if isinstance(out, Tensor) and getattr(out, "_keras_mask", None) is None:
                out._keras_mask = None if m is None else np.asarray(array_of(m), bool)

    def _symbolic_call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        shapes = map_structure(lambda t: t.shape if isinstance(t, KerasTensor) else tuple(np.shape(t)), inputs)
        if isinstance(inputs, KerasTensor) or is_shape(shapes):
            self._check_input_spec(inputs)
        if not self.built:
            self._build_once(shapes)
        out_shapes = self.compute_output_shape(shapes)
        dtype = self._output_dtype()
        if is_shape(out_shapes):
            outputs: Any = KerasTensor(out_shapes, dtype)
        else:
            outputs = _shape_structure(out_shapes, lambda s: KerasTensor(s, dtype))
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        Node(self, (inputs,) + args, kwargs, outputs)
        return outputs

    def _output_dtype(self) -> str:
        return self.dtype

    # -- the symbolic tensors of the first call (Keras's ``layer.input`` / ``layer.output``) ----------------
    def _node_attribute(self, attribute: str, what: str) -> Any:
        """The first node's ``attribute``. An uncalled layer raises AttributeError, as Keras (so ``hasattr`` is
        False; nn.Module's attribute lookup then reports the attribute as missing)."""
        if not self._inbound_nodes:
            raise AttributeError(f"The layer {self.name} has never been called on symbolic tensors (keras.Input) "
                                 f"and thus has no defined {what}.")
        values = getattr(self._inbound_nodes[0], attribute)
        return values[0] if isinstance(values, list) and len(values) == 1 else values

    @property
    def input(self) -> Any:
        """The symbolic input(s) of the layer's first call (a KerasTensor, or a list)."""
        return self._node_attribute("input_tensors", "input")

    @property
    def output(self) -> Any:
        """The symbolic output(s) of the layer's first call: ``Model(inputs=..., outputs=layer.output)``
        builds sub-models (encoders, feature extractors)."""
        return self._node_attribute("output_tensors", "output")

    @property
    def input_shape(self) -> Any:
        """Keras 2's ``layer.input_shape``: the shape(s) of :attr:`input`."""
        value = self.input
        return [t.shape for t in value] if isinstance(value, list) else value.shape

    @property
    def output_shape(self) -> Any:
        """Keras 2's ``layer.output_shape``: the shape(s) of :attr:`output`."""
        value = self.output
        return [t.shape for t in value] if isinstance(value, list) else value.shape

    # -- configuration ------------------------------------------------------------------
    def get_config(self) -> dict:
        """JSON-able constructor arguments; ``type(layer).from_config(config)`` rebuilds the layer."""
        config: dict[str, Any] = {"name": self.name, "trainable": self._trainable, "dtype": self.dtype}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _shape_structure(structure: Any, fn: Callable) -> Any:
    """Map ``fn`` over the shapes of a structure of shapes."""
    if is_shape(structure):
        return fn(tuple(structure))
    if isinstance(structure, list):
        return [_shape_structure(s, fn) for s in structure]
    if isinstance(structure, tuple):
        return tuple(_shape_structure(s, fn) for s in structure)
    raise TypeError(f"compute_output_shape: expected a shape or a list of shapes, got {structure!r}")


def _is_nested_numbers(value: Any) -> bool:
    """True for a (nested) list of numbers: one array written as a list, not several inputs."""
    leaves = flatten(value)
    return bool(leaves) and all(isinstance(v, (int, float, np.generic)) and not isinstance(v, bool) for v in leaves)
