"""Keras's legacy HDF5 files, read and written: ``model.save("m.h5")`` and ``save_weights("w.h5")`` of
tf.keras 2 (and of Keras 3, which still writes that format for an ``.h5`` name).

The layout, as Keras's ``legacy_h5_format`` reads and writes it:

- attributes ``model_config`` (the model's JSON config), ``keras_version``, ``backend`` and,
  for a compiled model, ``training_config`` (the compile arguments, with ``optimizer_config``)
  at the root of a whole-model file;
- the group ``model_weights`` (a whole-model file) or the root (a weights file) with the
  attribute ``layer_names``; under each name a group whose attribute ``weight_names`` lists its
  datasets in the layer's legacy order, ``trainable_weights + non_trainable_weights``;
- ``optimizer_weights`` with ``weight_names``: ``<optimizer>/iteration``,
  ``<optimizer>/learning_rate``, then the slots in Keras's order.

:func:`save_model` writes that layout (Keras 3's ``save_model_to_hdf5``), so real
``keras.models.load_model`` opens the file.

Weights are matched as Keras matches them, by order: the model's layers that have weights
against the file's layers that list some. Keras 2's functional configs (``inbound_nodes`` as
``[[layer, node, tensor, kwargs], ...]``) are read as Keras 3 reads them. Nothing is executed
or unpickled; an optimizer state in another layout than Keras 3's is not loaded (with a
warning), as Keras 3 starts such an optimizer afresh.

Example:
    >>> import os, tempfile
    >>> import h5py, numpy as np
    >>> from rnnkit import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "w.h5")
    >>> with h5py.File(path, "w") as f:  # the layout tf.keras 2's save_weights wrote
    ...     f.attrs["layer_names"] = ["dense"]
    ...     group = f.create_group("dense")
    ...     group.attrs["weight_names"] = ["dense/kernel:0", "dense/bias:0"]
    ...     group["dense/kernel:0"] = np.ones((3, 2), np.float32)
    ...     group["dense/bias:0"] = np.zeros(2, np.float32)
    >>> model.load_weights(path)
    >>> model.predict(np.ones((1, 3), np.float32), verbose=0).tolist()
    [[3.0, 3.0]]
"""

from __future__ import annotations

import io
import json
import warnings
from typing import Any

import numpy as np

from rnnkit import serialization
from rnnkit.keras import keras_format
from rnnkit.keras._registry import LAYERS
from rnnkit.keras.layers.base import Layer

__all__ = ["is_legacy", "layout", "load_model", "load_weights", "save_model", "BACKEND"]

BACKEND = "numpy"  # the ``backend`` attribute written: rnnkit computes with NumPy (Keras only records it)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _names(group: Any, attribute: str) -> list[str]:
    return [_text(v) for v in np.asarray(group.attrs.get(attribute, [])).reshape(-1)]


def is_legacy(handle: Any) -> bool:
    """True for a legacy Keras HDF5 file (``layer_names`` at the root or under ``model_weights``)."""
    return "layer_names" in handle.attrs or ("model_weights" in handle and "layer_names" in
                                              handle["model_weights"].attrs)


def layout(filepath: str) -> str:
    """``"legacy"`` or ``"keras"`` (Keras 3's ``.weights.h5`` layout) for an HDF5 file.

    Raises:
        ValueError: an HDF5 file in neither layout.
    """
    with _open(filepath) as handle:
        if is_legacy(handle):
            return "legacy"
        if "vars" in handle or "layers" in handle:
            return "keras"
        raise ValueError(f"{filepath!r} is an HDF5 file but not a Keras one: it has neither Keras's legacy "
                         f"layout (layer_names) nor Keras 3's (vars, layers); its entries: {sorted(handle)[:10]}")


def _open(filepath: str):
    h5py = keras_format._h5py()
    with open(filepath, "rb") as handle:
        head = handle.read(8)
    if head != b"\x89HDF\r\n\x1a\n":
        raise ValueError(f"{filepath!r} is not an HDF5 file (it starts with {head!r})")
    try:
        return h5py.File(filepath, "r")
    except (OSError, ValueError) as error:
        raise ValueError(f"{filepath!r}: the HDF5 file is damaged or truncated ({error})") from None


def _legacy_weights(layer: Layer) -> list[Any]:
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _plan(model: Layer, group: Any, where: str, skip_mismatch: bool) -> list[tuple[Any, Any]]:
    """(weight, dataset) pairs, every count and shape checked before anything is read."""
    layers = [layer for layer in model.layers if _legacy_weights(layer)]
    saved = []
    for name in _names(group, "layer_names"):
        if name not in group:
            raise ValueError(f"{where}: layer_names lists {name!r}, which the file does not hold")
        if _names(group[name], "weight_names"):
            saved.append(name)
    if len(saved) != len(layers):
        raise ValueError(f"{where}: the file holds weights for {len(saved)} layers ({saved}), the model has "
                         f"{len(layers)} layers with weights ({[l.name for l in layers]})")
    plan = []
    for layer, name in zip(layers, saved):
        weights, names = _legacy_weights(layer), _names(group[name], "weight_names")
        datasets = []
        for weight_name in names:
            item = group[name].get(weight_name)
            if item is None or not hasattr(item, "dtype") or item.dtype.kind not in "biuf":
                raise ValueError(f"{where}: {name}/{weight_name} is missing or not an array of real numbers")
            datasets.append(item)
        problem = keras_format.mismatch(
            weights, datasets,
            lambda: (f"{where}: layer '{layer.name}' expects {len(weights)} weights, the file's '{name}' holds "
                     f"{len(datasets)}"),
            lambda i, weight, item: (f"{where}: weight {name}/{names[i]} has shape {item.shape}, layer "
                                     f"'{layer.name}' expects {tuple(weight.shape)}"))
        if keras_format.skipped(problem, skip_mismatch):
            continue
        plan.extend(zip(weights, datasets))
    return plan


def _apply(plan: list[tuple[Any, Any]], where: str) -> None:
    values = [keras_format.read_dataset(item, where) for _, item in plan]  # all read before any is set
    for (weight, _), value in zip(plan, values):
        weight.data[...] = value.astype(weight.data.dtype, copy=False)


def load_weights(model: Layer, filepath: str, skip_mismatch: bool = False) -> None:
    """Load a legacy Keras HDF5 weights (or whole-model) file into a built ``model``, by layer order."""
    with _open(filepath) as handle:
        group = handle["model_weights"] if "model_weights" in handle else handle
        _apply(_plan(model, group, repr(filepath), skip_mismatch), repr(filepath))


def _node(node: Any) -> Any:
    """Keras 2's ``[[layer, node, tensor, kwargs], ...]`` call as Keras 3's ``{"args", "kwargs"}``."""
    if not isinstance(node, list):
        return node
    tensors = [{"class_name": "__keras_tensor__", "config": {"keras_history": list(item[:3])}} for item in node]
    kwargs = node[-1][3] if node and len(node[-1]) > 3 else {}
    return {"args": [tensors[0] if len(tensors) == 1 else tensors], "kwargs": kwargs}


def _keras3_graph(config: Any) -> Any:
    """A Keras 2 model config with its functional nodes (and InputLayer shapes) in Keras 3's form."""
    if isinstance(config, list):
        return [_keras3_graph(c) for c in config]
    if not isinstance(config, dict):
        return config
    out = {key: _keras3_graph(value) for key, value in config.items()}
    if isinstance(out.get("inbound_nodes"), list):
        out["inbound_nodes"] = [_node(node) for node in out["inbound_nodes"]]
    if out.get("class_name") == "InputLayer" and isinstance(out.get("config"), dict) \
            and "batch_input_shape" in out["config"]:
        inner = dict(out["config"])
        inner["batch_shape"] = inner.pop("batch_input_shape")
        out["config"] = inner
    return out


def _load_optimizer(model: Layer, handle: Any, where: str) -> None:
    optimizer = model.optimizer
    group = handle["optimizer_weights"]
    names = _names(group, "weight_names")
    stored = [group.get(n) for n in names]
    expected = keras_format.optimizer_targets(model)
    keras3 = len(names) >= 2 and names[0].endswith("iteration") and names[1].endswith("learning_rate")
    if expected is None or not keras3 or len(stored) != len(expected) or any(
            s is None or tuple(s.shape) != tuple(np.shape(t)) for s, t in zip(stored[2:], expected[2:])):
        warnings.warn(f"{where}: the optimizer state is not in Keras 3's layout for {type(optimizer).__name__} "
                      "on this model; it starts afresh (as in Keras 3)", UserWarning, stacklevel=3)
        return
    keras_format.set_optimizer_state(model, stored, where)


def load_model(filepath: str, custom_objects: dict | None = None, compile: bool = True, safe_mode: bool = True):
    """Open a legacy Keras HDF5 model file (``model_config``, ``model_weights``, ``training_config``)."""
    where = repr(filepath)
    with _open(filepath) as handle:
        if "model_config" not in handle.attrs:
            raise ValueError(f"{where} holds no model_config: it is a weights file; build the model, then "
                             "model.load_weights()")
        try:
            config = json.loads(_text(handle.attrs["model_config"]))
            rnnkit_config = keras_format.from_keras_config(_keras3_graph(config), safe_mode, custom_objects,
                                                            "model_config")
        except (json.JSONDecodeError, RecursionError, UnicodeDecodeError) as error:
            raise ValueError(f"{where}: model_config is not valid JSON ({error})") from None
        group = handle["model_weights"] if "model_weights" in handle else handle
        datasets: list[Any] = []
        group.visititems(lambda _, item: datasets.append(item) if hasattr(item, "dtype") else None)
        keras_format.check_sizes(filepath, rnnkit_config, None, datasets)
        try:
            model = LAYERS.deserialize(rnnkit_config, custom_objects)
        except (KeyError, IndexError) as error:
            raise ValueError(f"{where}: model_config does not describe a model: {type(error).__name__} "
                             f"{error}") from None
        _apply(_plan(model, group, where, skip_mismatch=False), where)
        training = handle.attrs.get("training_config")
        if compile and training is not None:
            training = keras_format.from_keras_config(json.loads(_text(training)), safe_mode, custom_objects,
                                                      "training_config")
            model.compile_from_config({"optimizer": training.get("optimizer_config"), "loss": training.get("loss"),
                                       "loss_weights": training.get("loss_weights"),
                                       "metrics": training.get("metrics"),
                                       "weighted_metrics": training.get("weighted_metrics")})
            if "optimizer_weights" in handle:
                _load_optimizer(model, handle, where)
    return model


def _legacy_config(value: Any) -> Any:
    """A ``config.json`` object as Keras's legacy writer gives it: layers without ``module``,
    ``registered_name`` and ``build_config`` (nested dtypes and initializers keep them, as in Keras)."""
    if isinstance(value, list):
        return [_legacy_config(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {key: _legacy_config(v) for key, v in value.items()}
    if isinstance(out.get("config"), dict) and isinstance(out["config"].get("layers"), list):
        for layer in out["config"]["layers"]:
            for key in ("module", "registered_name", "build_config"):
                layer.pop(key, None)
    return out


def _write_group(group: Any, attribute: str, names: list[str], arrays: list[np.ndarray], where: str) -> None:
    if len(set(names)) != len(names):
        raise ValueError(f"cannot save {where}: two of its weights share a name ({names})")
    group.attrs[attribute] = [name.encode("utf8") for name in names]
    for name, array in zip(names, arrays):
        group[name] = np.asarray(array)


def _training_config(model: Layer) -> dict:
    compile_config = keras_format.keras_compile_config(model.get_compile_config())
    optimizer = compile_config.pop("optimizer")
    return {**compile_config, "optimizer_config": {"class_name": optimizer["class_name"],
                                                   "config": optimizer["config"]}}


def _optimizer_names(model: Layer, arrays: list[np.ndarray]) -> list[str]:
    """Keras's names of the optimizer variables: ``<name>/iteration``, ``<name>/learning_rate``, then
    one per slot (Keras reads them by order)."""
    name = model.optimizer.name
    head = ["iteration"] + ([] if callable(model.optimizer._learning_rate) else ["learning_rate"])
    return [f"{name}/{item}" for item in head] + [f"{name}/variable_{i}" for i in range(len(arrays) - len(head))]


def _weight_paths(model: Layer) -> dict[int, str]:
    """``{id(weight): name}``: the model's name, the weight's path in Keras's walk of the model (as in
    ``.weights.h5`` files, without the leading ``layers/``) and its own name; unique, as HDF5 needs
    (Keras reads the weights by their order, not by these names)."""
    paths: dict[int, str] = {}
    for path, _, weights in keras_format.weight_tree(model):
        for weight in weights:
            paths.setdefault(id(weight), "/".join([model.name, path.removeprefix("layers/"), weight.name]))
    return paths


def save_model(model: Layer, filepath: str, include_optimizer: bool = True) -> None:
    """Write ``model`` (Sequential or functional, built) as Keras's legacy HDF5 file, atomically.

    Args:
        model: the model.
        filepath: the ``.h5``/``.hdf5`` file to write.
        include_optimizer: also write ``training_config`` and the optimizer's variables (when compiled).

    Raises:
        ValueError: the model is not built.
        TypeError: the model is not Sequential or functional.
    """
    keras_format.check_built(model, "save")
    h5py = keras_format._h5py()
    config = _legacy_config(keras_format.to_keras_config(model))
    config.pop("build_config", None)
    config.pop("module", None)
    config.pop("registered_name", None)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        handle.attrs["keras_version"] = keras_format.KERAS_VERSION
        handle.attrs["backend"] = BACKEND
        handle.attrs["model_config"] = json.dumps(config).encode("utf8")
        compiled = getattr(model, "compiled", False) and getattr(model, "optimizer", None) is not None
        if include_optimizer and compiled:
            handle.attrs["training_config"] = json.dumps(_training_config(model)).encode("utf8")
        group = handle.create_group("model_weights")
        group.attrs["layer_names"] = [layer.name.encode("utf8") for layer in model.layers]
        group.attrs["backend"] = BACKEND.encode("utf8")
        group.attrs["keras_version"] = keras_format.KERAS_VERSION.encode("utf8")
        paths = _weight_paths(model)
        for layer in sorted(model.layers, key=lambda item: item.name):
            weights = _legacy_weights(layer)
            names = [paths[id(w)] for w in weights]
            _write_group(group.create_group(layer.name), "weight_names", names, [w.numpy() for w in weights],
                         f"layer '{layer.name}'")
        _write_group(group.create_group("top_level_model_weights"), "weight_names", [], [], "the model")
        state = keras_format.optimizer_arrays(model) if include_optimizer and compiled else None
        if state is not None:
            arrays = state[1]
            _write_group(handle.create_group("optimizer_weights"), "weight_names", _optimizer_names(model, arrays),
                         arrays, "the optimizer")
    serialization.atomic_write_bytes(filepath, buffer.getvalue())
