"""Keras 3's native files, read and written: the ``.keras`` archive and ``.weights.h5``.

A ``.keras`` file is a zip archive of three entries, as Keras 3.15's ``saving_lib`` writes them:

- ``metadata.json``: ``{"keras_version", "date_saved"}``;
- ``config.json``: the model in Keras's serialization format: every object is
  ``{"module", "class_name", "config", "registered_name"}`` (layers add ``build_config``, the
  model adds ``compile_config``); dtypes are ``DTypePolicy`` objects;
- ``model.weights.h5``: the variables of every object at the path Keras's ``_walk_saveable``
  gives it. A model's layers come first, under ``layers/<snake_case(class name)>`` (``_1``,
  ``_2``... for repeats), then the layers an object holds as attributes, by attribute name
  (private names last): ``layers/bidirectional/forward_layer/cell``. Each object's own
  variables are ``<path>/vars/0``, ``1``... (own trainable, then own non-trainable, in creation
  order) and the group ``<path>/vars`` carries the object's ``name`` attribute. A compiled
  model adds ``optimizer/vars``: ``iterations``, the learning rate (unless it is a schedule),
  then the optimizer's slots, interleaved per variable as its ``build`` creates them.

``.weights.h5`` holds the same HDF5 tree as ``model.weights.h5``. Reading builds only classes
that rnnkit registers or that ``custom_objects`` names, never imports a module a file names,
never unpickles and never runs code: a ``Lambda`` holding serialized Python code is refused
(with Keras's ``safe_mode`` wording), and a truncated archive, a file that is not what its
extension says or an unknown class name raises ``ValueError`` before anything is built.

Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> from rnnkit import keras
    >>> model = keras.Sequential([keras.Input((4, 2)), keras.layers.LSTM(3), keras.layers.Dense(1)])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
    >>> model.save(path)
    >>> restored = keras.models.load_model(path)
    >>> x = np.ones((1, 4, 2), np.float32)
    >>> bool(np.array_equal(model.predict(x, verbose=0), restored.predict(x, verbose=0)))
    True
"""

from __future__ import annotations

import datetime
import io
import json
import math
import warnings
import zipfile
from typing import Any

import numpy as np

from rnnkit import serialization
from rnnkit.keras._registry import LAYERS, to_snake_case
from rnnkit.keras.layers.base import Layer

__all__ = ["KERAS_VERSION", "save_model", "load_model", "save_weights", "load_weights", "to_keras_config",
           "from_keras_config", "is_keras_archive", "check_sizes", "MAX_BUILD_ELEMENTS", "optimizer_targets",
           "set_optimizer_state", "read_dataset", "keras_compile_config", "optimizer_arrays",
           "check_built"]

KERAS_VERSION = "3.15.1"  # the Keras release whose format this module writes (metadata.json's keras_version)
MAX_MEMBER_BYTES = 1 << 32  # largest archive entry read into memory (Keras's own zip-bomb floor, 4 GiB)

_CONFIG, _METADATA, _WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
_OPTION_MODULES = {"_initializer": "keras.initializers", "_regularizer": "keras.regularizers",
                   "_constraint": "keras.constraints"}
# keys of Keras layer configs that rnnkit has no argument for, with the only value rnnkit can honour
_KERAS_ONLY_DEFAULTS = {"quantization_config": None, "activity_regularizer": None, "optional": False,
                        "ragged": False, "input_axes": None, "output_axes": None, "shared_object_id": None,
                        "attention_axes": None, "use_gate": False, "sliding_window": None}
_WITH_ACTIVITY_REGULARIZER = ("SimpleRNN", "LSTM", "GRU", "RNN", "Conv1D")
# keys Keras writes at these values where rnnkit's config leaves them out (written so the configs match Keras's)
_KERAS_WRITTEN_DEFAULTS = {"InputLayer": {"ragged": False, "optional": False},
                           "Dense": {"quantization_config": None},
                           "Embedding": {"activity_regularizer": None, "quantization_config": None},
                           **{name: {"activity_regularizer": None} for name in _WITH_ACTIVITY_REGULARIZER},
                           "MultiHeadAttention": {"activity_regularizer": None, "attention_axes": None,
                                                  "use_gate": False, "sliding_window": None}}
_MODEL_MODULES = {"Functional": ("keras.src.models.functional", "Functional"), "Sequential": ("keras", None)}


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("Keras's .keras and .weights.h5 files are HDF5 inside: install h5py "
                          "(pip install 'rnnkit[files]' or pip install h5py)") from None
    return h5py


def is_keras_archive(filepath: str) -> bool:
    """True when ``filepath`` names a Keras 3 archive (by its ``.keras`` extension)."""
    return str(filepath).lower().endswith(".keras")


# -- config.json: rnnkit config -> Keras ---------------------------------------------------------
def _registered_name(cls: type) -> str | None:
    """``"package>Name"`` for a class registered with ``register_keras_serializable``, else None."""
    for key, value in LAYERS.classes().items():
        if value is cls and ">" in key:
            return key
    return None


def _keras_object(class_name: str, config: dict, module: str, registered_name: str | None = None) -> dict:
    return {"module": module, "class_name": class_name, "config": config, "registered_name": registered_name}


def _keras_value(key: str, value: Any) -> Any:
    """One entry of an rnnkit config in Keras's form (dtypes, initializers, nested layers...)."""
    if key == "dtype" and isinstance(value, str):
        return _keras_object("DTypePolicy", {"name": value}, "keras")
    if isinstance(value, dict) and set(value) == {"class_name", "config"}:
        module = next((m for suffix, m in _OPTION_MODULES.items() if key.endswith(suffix)), None)
        if module is not None:
            return _keras_object(value["class_name"], dict(value["config"] or {}), module)
        cls = LAYERS.classes().get(value["class_name"])
        return _keras_layer_entry(cls, value["config"], None)
    if isinstance(value, list) and value and all(isinstance(v, dict) and set(v) == {"class_name", "config"}
                                                 for v in value):
        return [_keras_value(key, v) for v in value]
    return value


def _keras_layer_config(config: dict) -> dict:
    out = {}
    for key, value in config.items():
        if key == "time_major":
            if value:
                raise ValueError("cannot save time_major=True in Keras's format: Keras 3 has no time_major "
                                 "argument (transpose the inputs to batch-major instead)")
            continue
        if key == "implementation":  # Keras 3 has no such argument; every implementation computes the same numbers
            continue
        if key == "batch_input_shape":  # a saved model always starts with its InputLayer, which holds the shape
            continue
        out[key] = _keras_value(key, value)
    return out


def _keras_layer_entry(cls: type | None, config: dict, layer: Layer | None) -> dict:
    name = cls.__name__ if cls is not None else None
    if name in _MODEL_MODULES and layer is not None:
        return to_keras_config(layer)
    registered = _registered_name(cls) if cls is not None else None
    module = getattr(cls, "keras_module", "keras.layers") if registered is None else cls.__module__
    if registered is None and module != "keras.layers":
        registered = name  # Keras names its op classes (keras.src.ops) by registered_name too
    keras_config = _keras_layer_config(config)
    for key, value in _KERAS_WRITTEN_DEFAULTS.get(name, {}).items():
        keras_config.setdefault(key, value)
    entry = _keras_object(name, keras_config, module, registered)
    shape = getattr(layer, "_build_input_shape", None) if layer is not None else None
    if layer is not None and layer.built and hasattr(layer, "keras_build_config"):
        entry["build_config"] = layer.keras_build_config()
    elif layer is not None and layer.built and shape is not None and module == "keras.layers" \
            and type(layer).build is not Layer.build:  # Keras records the shapes of layers with their own build
        entry["build_config"] = {"input_shape": _json_shape(shape)}
    return entry


def _json_shape(shape: Any) -> Any:
    if isinstance(shape, (list, tuple)) and all(s is None or isinstance(s, (int, np.integer)) for s in shape):
        return [None if s is None else int(s) for s in shape]
    return [_json_shape(s) for s in shape]


def to_keras_config(model: Layer) -> dict:
    """The ``config.json`` object of a Sequential or functional ``model`` (without ``compile_config``).

    Raises:
        TypeError: ``model`` is not a Sequential or functional model.
        ValueError: a layer has an option Keras 3 cannot express (``time_major=True``).
    """
    kind = next((k for k in _MODEL_MODULES if isinstance(model, LAYERS.classes()[k])), None)
    if kind is None:
        raise TypeError(f"cannot save {type(model).__name__} in Keras's format: only Sequential and functional "
                        "models have a config that rebuilds them (save a subclassed model's weights instead)")
    config = model.get_config()
    layers = []
    for entry in config["layers"]:
        name = entry.get("name", entry["config"].get("name"))
        layer = next((l for l in getattr(model, "_operations", None) or _model_layers(model, with_input=True)
                      if l.name == name), None)
        keras_entry = _keras_layer_entry(type(layer), entry["config"], layer)
        if kind == "Functional":
            keras_entry.update(name=entry["name"], inbound_nodes=entry["inbound_nodes"])
        layers.append(keras_entry)
    inner = {key: _keras_value(key, value) for key, value in config.items() if key != "layers"}
    inner["layers"] = layers
    if kind == "Sequential":
        inner.setdefault("dtype", _keras_value("dtype", model.dtype))
    module, registered = _MODEL_MODULES[kind]
    out = _keras_object(kind, inner, module, registered)
    shape = config.get("build_input_shape") if kind == "Sequential" else None
    out["build_config"] = {"input_shape": shape}
    return out


def _model_layers(model: Layer, with_input: bool = False) -> list[Layer]:
    layers = list(model.layers)
    if with_input and getattr(model, "_input_layer", None) is not None:
        layers.insert(0, model._input_layer)
    return layers


# -- config.json: Keras -> rnnkit config ---------------------------------------------------------
def _refuse_code(where: str, safe_mode: bool) -> None:
    if safe_mode:
        raise ValueError(
            f"{where}: the file asks to deserialize a Python lambda (code), which could run anything; refused "
            "with safe_mode=True, as Keras does. rnnkit never runs code from a file: rebuild the Lambda layer in "
            "code, or pass the function by name through custom_objects")
    raise ValueError(
        f"{where}: the file holds a Python lambda (serialized code); rnnkit never runs code from a file, "
        "even with safe_mode=False: rebuild the Lambda layer in code and load the weights only")


def from_keras_config(value: Any, safe_mode: bool = True, custom_objects: dict | None = None,
                      where: str = "config") -> Any:
    """Keras's serialized form (``config.json``) turned into rnnkit's ``{"class_name", "config"}`` dicts.

    Module names are dropped (classes are found in rnnkit's registry or ``custom_objects``, never
    imported), ``DTypePolicy`` objects become dtype names, and Keras's keys that rnnkit has no
    argument for are dropped only at the value rnnkit honours (otherwise the layer's constructor
    rejects them by name).

    Raises:
        ValueError: serialized Python code (``__lambda__``), or a Python function not given by
            ``custom_objects`` (a function found there is put in its place).
    """
    if isinstance(value, list):
        return [from_keras_config(v, safe_mode, custom_objects, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    class_name = value.get("class_name")
    if class_name == "__keras_tensor__":
        return value
    if class_name == "__lambda__":
        _refuse_code(where, safe_mode)
    if class_name == "function":
        inner = value.get("config")
        name = inner if isinstance(inner, str) else value.get("registered_name")
        if isinstance(name, str) and name in (custom_objects or {}):
            return custom_objects[name]
        raise ValueError(f"{where}: the file names the Python function {name!r} (module {value.get('module')!r}); "
                         f"rnnkit never imports modules a file names: pass custom_objects={{{name!r}: fn}}")
    if class_name in ("DTypePolicy", "FloatDTypePolicy") and isinstance(value.get("config"), dict):
        return value["config"].get("name")
    out = {}
    for key, item in value.items():
        if key in ("module", "registered_name", "build_config", "shared_object_id", "compile_config"):
            continue
        if key in _KERAS_ONLY_DEFAULTS and item == _KERAS_ONLY_DEFAULTS[key]:
            continue
        out[key] = from_keras_config(item, safe_mode, custom_objects, f"{where}.{key}")
    registered = value.get("registered_name")
    if isinstance(registered, str) and ">" in registered and "class_name" in out:
        out["class_name"] = registered
    return out


_SIZE_KEYS = ("units", "input_dim", "output_dim", "filters")  # layer sizes that are a dimension of a weight
MAX_BUILD_ELEMENTS = 1 << 26  # elements of the zeros a restored model is built on


def check_sizes(filepath: str, config: Any, shape: Any, stored: list[Any]) -> None:
    """Refuse a config whose sizes the stored weights cannot back, before anything is built.

    Every layer size (``units``, ``input_dim``, ...) is a dimension of one of its weights, so
    none can exceed the largest stored dimension (``stored``: arrays, or HDF5 datasets not read
    yet); the input shape the model is built on is bounded by :data:`MAX_BUILD_ELEMENTS`.
    """
    largest = max((max(w.shape, default=1) for w in stored), default=0)
    pending = [("model_config", config)]
    while pending:
        where, node = pending.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if key in _SIZE_KEYS and isinstance(value, int) and value > largest:
                raise ValueError(f"{filepath!r}: {where}.{key} is {value}, larger than any dimension of the stored "
                                 f"weights (at most {largest}); the config and the weights disagree")
            pending.append((f"{where}.{key}", value))
    if shape is not None and not isinstance(shape, list):
        raise ValueError(f"{filepath!r}: build_input_shape {shape!r} is not a list of sizes")
    dims = [d for s in (shape if shape and isinstance(shape[0], list) else [shape]) if s for d in s[1:]]
    if shape is not None and not all(d is None or (type(d) is int and d >= 0) for d in dims):
        raise ValueError(f"{filepath!r}: build_input_shape {shape!r} is not a list of sizes")
    if math.prod(d or 1 for d in dims) > MAX_BUILD_ELEMENTS:
        raise ValueError(f"{filepath!r}: build_input_shape {shape!r} is larger than {MAX_BUILD_ELEMENTS} elements "
                         "per sample")


# -- the weights tree ------------------------------------------------------------------------------
def _name_key(name: str) -> str:
    return f"~{name}" if name.startswith("_") else name  # private attributes last, as Keras


def _is_model(obj: Any) -> bool:
    return any(isinstance(obj, LAYERS.classes()[k]) for k in _MODEL_MODULES)


def _children(obj: Layer) -> list[tuple[str, Any]]:
    """Keras's ``_walk_saveable`` on an rnnkit object: (attribute, layer or list of layers), in Keras's order."""
    if _is_model(obj):
        return [("layers", _model_layers(obj))]
    containers = {key: value for key, value in vars(obj).items()
                  if isinstance(value, (list, tuple)) and value and all(isinstance(v, Layer) for v in value)}
    in_containers = {id(v) for value in containers.values() for v in value}
    items: dict[str, Any] = dict(containers)
    items.update((key, m) for key, m in obj._modules.items() if isinstance(m, Layer) and id(m) not in in_containers)
    return sorted(items.items(), key=lambda item: _name_key(item[0]))


def _own_weights(layer: Layer) -> list[Any]:
    params = list(layer._parameters.values())
    return [w for w in params if w.trainable] + [w for w in params if not w.trainable]


def weight_tree(model: Layer) -> list[tuple[str, str, list[Any]]]:
    """``(path, name, own weights)`` of every object under ``model``, in Keras's walk order (first path wins).

    A layer whose Keras twin keeps its weights in sub-layers (``MultiHeadAttention``) lists them with
    ``keras_weight_groups()``: ``(attribute, name, weights)`` of each such sub-object."""
    out: list[tuple[str, str, list[Any]]] = []
    visited: set[int] = set()

    def visit(obj: Layer, path: str) -> None:
        if id(obj) in visited:
            return
        visited.add(id(obj))
        groups = obj.keras_weight_groups() if hasattr(obj, "keras_weight_groups") else None
        out.append((path, obj.name, [] if groups is not None else _own_weights(obj)))
        for attribute, name, weights in groups or []:  # sub-objects Keras has where rnnkit holds the weights
            out.append((f"{path}/{attribute}" if path else attribute, name, weights))
        for attribute, child in _children(obj):
            child_path = f"{path}/{attribute}" if path else attribute
            if isinstance(child, Layer):
                visit(child, child_path)
                continue
            used: dict[str, int] = {}
            for item in child:
                base = to_snake_case(type(item).__name__)
                used[base] = used.get(base, -1) + 1
                visit(item, f"{child_path}/{base}" + (f"_{used[base]}" if used[base] else ""))

    visit(model, "")
    return out


def optimizer_targets(model: Layer) -> list[np.ndarray] | None:
    """What Keras stores for ``model.optimizer``, in Keras's order: ``iterations``, the learning rate (unless
    a schedule), the slots (the optimizer's live buffers, built if need be), then any extra variables.
    None when rnnkit does not know the optimizer's layout in Keras's files."""
    optimizer = model.optimizer
    groups = getattr(optimizer, "keras_variable_groups", None)
    if groups is None:
        return None
    variables = list(model.trainable_weights)
    optimizer.build(variables)
    head = [np.asarray(optimizer.iterations, np.int64)]
    if not callable(optimizer._learning_rate):
        head.append(np.asarray(optimizer.learning_rate, np.float32))
    slots = [optimizer.state[v][s] for group in groups for v in variables for s in group
             if optimizer.state[v].get(s) is not None]
    return head + slots + optimizer.keras_extra_variables()


def set_optimizer_state(model: Layer, stored: list[Any], where: str) -> None:
    """Set ``model.optimizer``'s state from Keras's variables ``stored`` (arrays or HDF5 datasets, in
    :func:`optimizer_targets` order); the extra variables are derived from ``iterations``, not read.

    Raises:
        ValueError: a count or a shape differs (nothing is set then).
    """
    optimizer = model.optimizer
    targets = optimizer_targets(model)
    head = 1 if callable(optimizer._learning_rate) else 2
    extra = len(optimizer.keras_extra_variables())
    if len(stored) != len(targets):
        raise ValueError(f"{where}: the optimizer holds {len(stored)} variables, {type(optimizer).__name__} "
                         f"on this model has {len(targets)}")
    for i, (target, item) in enumerate(zip(targets, stored)):
        if (i < head and item.size != 1) or (i >= head and tuple(target.shape) != tuple(item.shape)):
            raise ValueError(f"{where}: optimizer variable {i} has shape {item.shape}, expected "
                             f"{'a scalar' if i < head else target.shape}")
    values = [read_dataset(item, where) if hasattr(item, "name") else np.asarray(item) for item in stored]
    optimizer.iterations = int(values[0].reshape(-1)[0])
    rate = np.float32(values[1].reshape(-1)[0]) if head == 2 else None
    if rate is not None and np.float32(optimizer.learning_rate) != rate:
        optimizer.learning_rate = float(rate)  # changed since compile (a callback); else keep the config's
    for target, value in zip(targets[head:len(targets) - extra], values[head:len(values) - extra]):
        target[...] = value


def optimizer_arrays(model: Layer) -> tuple[str, list[np.ndarray]] | None:
    """Keras's optimizer variables of a compiled model, or None (with a warning when the layout is unknown)."""
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        return None
    arrays = optimizer_targets(model)
    if arrays is None:
        warnings.warn(f"saving without the state of {type(model.optimizer).__name__}: rnnkit does not know the "
                      "order of its variables in Keras's files; Keras starts it afresh", UserWarning, stacklevel=4)
        return None
    return model.optimizer.name, [np.asarray(a) for a in arrays]


def _write_h5(model: Layer, include_optimizer: bool) -> bytes:
    h5py = _h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        for path, name, weights in weight_tree(model):
            group = handle.create_group(f"{path}/vars" if path else "vars")
            group.attrs["name"] = name
            for i, weight in enumerate(weights):
                group[str(i)] = weight.numpy()
        state = optimizer_arrays(model) if include_optimizer else None
        if state is not None:
            group = handle.create_group("optimizer/vars")
            group.attrs["name"] = state[0]
            for i, array in enumerate(state[1]):
                group[str(i)] = array
    return buffer.getvalue()


def _open_h5(data: bytes, where: str):
    h5py = _h5py()
    if not data.startswith(b"\x89HDF\r\n\x1a\n"):
        raise ValueError(f"{where} is not an HDF5 file (it starts with {data[:8]!r}); expected Keras's weights file")
    try:
        return h5py.File(io.BytesIO(data), "r")
    except (OSError, ValueError) as error:
        raise ValueError(f"{where}: the HDF5 file is damaged or truncated ({error})") from None


def _stored(handle: Any, path: str, where: str) -> list[Any]:
    """The datasets ``<path>/vars/0``, ``1``... of one object ([] when the file has none for it), not read yet."""
    name = f"{path}/vars" if path else "vars"
    group = handle.get(name)
    if group is None:
        return []
    keys = list(group.keys())
    if sorted(keys, key=lambda k: (len(k), k)) != [str(i) for i in range(len(keys))]:
        raise ValueError(f"{where}: {name} holds {sorted(keys)}, expected variables numbered 0..{len(keys) - 1}")
    datasets = [group[str(i)] for i in range(len(keys))]
    for i, item in enumerate(datasets):
        if not hasattr(item, "dtype") or item.dtype.kind not in "biuf":
            raise ValueError(f"{where}: {name}/{i} is not an array of real numbers")
    return datasets


def read_dataset(item: Any, where: str) -> np.ndarray:
    """The values of an HDF5 dataset; ValueError naming it when the file is damaged there."""
    try:
        return np.asarray(item[()])
    except (OSError, ValueError) as error:
        raise ValueError(f"{where}: {item.name} cannot be read, the file is damaged or truncated ({error})") from None


def _all_datasets(handle: Any) -> list[Any]:
    found: list[Any] = []
    handle.visititems(lambda _, item: found.append(item) if hasattr(item, "dtype") else None)
    return found


def mismatch(weights: list, arrays: list, count_problem, shape_problem) -> str | None:
    """Why ``arrays`` (stored datasets) cannot fill ``weights``, or None: ``count_problem()`` when
    their numbers differ, ``shape_problem(i, weight, array)`` for the first shape that differs."""
    if len(arrays) != len(weights):
        return count_problem()
    for i, (weight, array) in enumerate(zip(weights, arrays)):
        if tuple(weight.shape) != array.shape:
            return shape_problem(i, weight, array)
    return None


def skipped(problem: str | None, skip_mismatch: bool) -> bool:
    """True when a layer with ``problem`` is skipped (with a warning, as Keras's ``skip_mismatch``);
    raises ValueError(problem) without ``skip_mismatch``."""
    if problem is None:
        return False
    if not skip_mismatch:
        raise ValueError(problem)
    warnings.warn("skipping " + problem, UserWarning, stacklevel=5)
    return True


def _assign_plan(model: Layer, handle: Any, where: str, skip_mismatch: bool) -> list[tuple[Any, np.ndarray]]:
    plan = []
    for path, name, weights in weight_tree(model):
        stored = _stored(handle, path, where)
        problem = mismatch(
            weights, stored,
            lambda: (f"{where}: layer '{name}' (at {path or '/'}) expects {len(weights)} variables, the file "
                     f"holds {len(stored)}"),
            lambda i, weight, array: (f"{where}: variable {path}/vars/{i} ({weight.name} of layer '{name}') has "
                                      f"shape {array.shape}, the model expects {tuple(weight.shape)}"))
        if skipped(problem, skip_mismatch):
            continue
        plan.extend((weight, read_dataset(item, where)) for weight, item in zip(weights, stored))
    return plan


def _load_optimizer(model: Layer, handle: Any, where: str) -> None:
    stored = _stored(handle, "optimizer", where)
    if getattr(model, "optimizer", None) is None or not stored:
        return
    if optimizer_targets(model) is None:
        warnings.warn(f"{where}: not loading the state of {type(model.optimizer).__name__} (rnnkit does not know "
                      "the order of its variables in Keras's files); it starts afresh", UserWarning, stacklevel=4)
        return
    set_optimizer_state(model, stored, where)


def _apply(plan: list[tuple[Any, np.ndarray]]) -> None:
    for weight, array in plan:
        weight.data[...] = array.astype(weight.data.dtype, copy=False)


# -- the archive -----------------------------------------------------------------------------------
def check_built(model: Layer, what: str) -> None:
    if not model.built or not model.weights:
        raise ValueError(f"cannot {what} {type(model).__name__} '{model.name}': it is not built yet; give it an "
                         "Input, build it or call it on data first")


def save_model(model: Layer, filepath: str, include_optimizer: bool = True) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` archive (atomically)."""
    serialization.atomic_write_bytes(filepath, archive_bytes(model, include_optimizer))


def archive_bytes(model: Layer, include_optimizer: bool = True) -> bytes:
    """The bytes of ``model``'s Keras 3 ``.keras`` archive (what :func:`save_model` writes)."""
    check_built(model, "save")
    config = to_keras_config(model)
    compile_config = model.get_compile_config() if getattr(model, "compiled", False) else None
    if compile_config is not None:
        config["compile_config"] = keras_compile_config(compile_config)
    metadata = {"keras_version": KERAS_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"), "saved_by": "rnnkit"}
    weights = _write_h5(model, include_optimizer and compile_config is not None)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_METADATA, json.dumps(metadata))
        archive.writestr(_CONFIG, json.dumps(config))
        archive.writestr(_WEIGHTS, weights)
    return buffer.getvalue()


def keras_compile_config(config: dict) -> dict:
    out = dict(config)
    optimizer = config.get("optimizer")
    if isinstance(optimizer, dict) and set(optimizer) >= {"class_name", "config"}:
        out["optimizer"] = _keras_object(optimizer["class_name"], optimizer["config"], "keras.optimizers",
                                         optimizer["class_name"])
    for key, module in (("loss", "keras.losses"), ("metrics", "keras.metrics"), ("weighted_metrics", "keras.metrics")):
        out[key] = _with_module(config.get(key), module)
    out.update(run_eagerly=False, steps_per_execution=1, jit_compile=False)
    return out


def _with_module(value: Any, module: str) -> Any:
    """Losses and metrics of a compile config (names, objects, lists or dicts of them) in Keras's form."""
    if isinstance(value, dict) and set(value) == {"class_name", "config"}:
        return _keras_object(value["class_name"], value["config"], module)
    if isinstance(value, dict):
        return {k: _with_module(v, module) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_module(v, module) for v in value]
    return value


def _source_name(source: str | bytes) -> str:
    return "the archive bytes" if isinstance(source, bytes) else repr(source)


def _read_archive(filepath: str | bytes) -> tuple[dict, bytes | None]:
    """``config.json`` (parsed) and ``model.weights.h5`` (bytes) of a .keras archive (a path or its bytes)."""
    source = _source_name(filepath)
    try:
        archive = zipfile.ZipFile(io.BytesIO(filepath) if isinstance(filepath, bytes) else filepath)
    except zipfile.BadZipFile:
        if isinstance(filepath, bytes):
            head = filepath[:8]
        else:
            with open(filepath, "rb") as handle:
                head = handle.read(8)
        what = "a truncated or damaged zip archive" if head.startswith(b"PK") else f"not a zip archive ({head!r})"
        raise ValueError(f"{source} is {what}; a .keras file is Keras 3's zip archive of config.json, "
                         "metadata.json and model.weights.h5") from None
    with archive:
        names = set(archive.namelist())
        if _CONFIG not in names:
            raise ValueError(f"{source}: the zip archive has no config.json (entries: {sorted(names)}); it is "
                             "not a Keras 3 .keras file")
        members = {}
        for name in (_CONFIG, _WEIGHTS):
            if name not in names:
                continue
            info = archive.getinfo(name)
            if info.file_size > MAX_MEMBER_BYTES:
                raise ValueError(f"{source}: {name} declares {info.file_size} bytes, more than "
                                 f"{MAX_MEMBER_BYTES}; refused")
            try:
                members[name] = archive.read(name)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
                raise ValueError(f"{source}: {name} cannot be read, the archive is damaged or truncated "
                                 f"({error})") from None
    try:
        config = json.loads(members[_CONFIG])
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{source}: config.json is not valid JSON ({error})") from None
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ValueError(f"{source}: config.json must be an object with 'class_name' and 'config'")
    return config, members.get(_WEIGHTS)


def load_model(filepath: str | bytes, custom_objects: dict | None = None, compile: bool = True,
               safe_mode: bool = True):
    """Open a Keras 3 ``.keras`` archive (written by Keras or by :func:`save_model`; a path or the archive's
    bytes) as an rnnkit model."""
    config, weights = _read_archive(filepath)
    where = _source_name(filepath)
    if weights is None:
        raise ValueError(f"{where}: the archive has no model.weights.h5 (only Keras's h5 weights are read)")
    try:
        rnnkit_config = from_keras_config({k: v for k, v in config.items() if k != "compile_config"}, safe_mode,
                                          custom_objects, "config.json")
    except RecursionError:
        raise ValueError(f"{where}: config.json is nested too deeply to be a model") from None
    shape = (config.get("build_config") or {}).get("input_shape")
    with _open_h5(weights, f"{where}/{_WEIGHTS}") as handle:
        check_sizes("<archive bytes>" if isinstance(filepath, bytes) else filepath, rnnkit_config, shape,
                    _all_datasets(handle))
        try:
            model = LAYERS.deserialize(rnnkit_config, custom_objects)
            if (not model.built or not model.weights) and shape is not None:
                model.build(tuple(shape))
        except (KeyError, IndexError) as error:
            raise ValueError(f"{where}: config.json does not describe a model: {type(error).__name__} "
                             f"{error}") from None
        plan = _assign_plan(model, handle, where, skip_mismatch=False)
        _apply(plan)
        compile_config = config.get("compile_config")
        if compile and compile_config:
            model.compile_from_config(from_keras_config(compile_config, safe_mode, custom_objects,
                                                        "compile_config"))
            _load_optimizer(model, handle, where)
    return model


def save_weights(model: Layer, filepath: str) -> None:
    """Write Keras 3's ``.weights.h5`` file of ``model`` (atomically)."""
    check_built(model, "save the weights of")
    serialization.atomic_write_bytes(filepath, _write_h5(model, include_optimizer=True))


def load_weights(model: Layer, filepath: str, skip_mismatch: bool = False) -> None:
    """Load a Keras 3 ``.weights.h5`` file, or the weights of a ``.keras`` archive, into a built ``model``.

    Every variable is checked before any is set: a mismatch leaves the model unchanged (unless
    ``skip_mismatch``: then the mismatched objects are skipped with a warning, as Keras).
    """
    check_built(model, "load weights into")
    if is_keras_archive(filepath):
        _, data = _read_archive(filepath)
        if data is None:
            raise ValueError(f"{filepath!r}: the archive has no model.weights.h5")
        where = f"{filepath!r}/{_WEIGHTS}"
    else:
        with open(filepath, "rb") as handle:
            data = handle.read()
        where = repr(filepath)
    with _open_h5(data, where) as handle:
        _apply(_assign_plan(model, handle, where, skip_mismatch))
        if getattr(model, "compiled", False):
            _load_optimizer(model, handle, where)
