"""Whole-model and weights files for the Keras dialect, never unpickled.

A ``.keras`` name (``model.save``, ``load_model``, ``load_weights``) and a ``.weights.h5`` name
(``save_weights``, ``load_weights``) mean Keras 3's own formats: see :mod:`rnnkit.keras.keras_format`;
``model.save`` to an ``.h5``/``.hdf5`` name writes Keras's legacy HDF5 file, and ``load_model`` and
``load_weights`` read those files (:mod:`rnnkit.keras.keras_legacy_h5`).
Any other name means rnnkit's safetensors format: ``model.save(path)`` writes ONE file holding:

- tensors ``weights/<i>``: ``model.get_weights()[i]`` (Keras's weight order);
- tensors ``optimizer/iterations`` and ``optimizer/<i>/<slot>``: the optimizer's state for
  ``model.trainable_weights[i]`` (when compiled and ``include_optimizer``);
- metadata (JSON strings): ``format``, ``model_config`` (``{"class_name", "config"}`` from
  ``model.get_config()``), ``compile_config`` (``model.get_compile_config()``, if any),
  ``build_input_shape``, ``weight_names``.

:func:`load_model` rebuilds the architecture from the JSON config, sets the weights and, when
present, compiles the model and restores the optimizer state. Nothing in a file is ever
executed or unpickled; a damaged or foreign file raises ``ValueError`` saying what is wrong.
Writes are atomic (temp file + ``os.replace``, via :mod:`rnnkit.serialization`).

Example:
    >>> import numpy as np, os, tempfile
    >>> from rnnkit import keras
    >>> model = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> model.save(path)
    >>> restored = keras.models.load_model(path)
    >>> x = np.ones((1, 3), np.float32)
    >>> bool(np.allclose(model.predict(x, verbose=0), restored.predict(x, verbose=0)))
    True
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
import zipfile
from typing import Any

import numpy as np

from rnnkit import serialization
from rnnkit.keras import keras_format, keras_legacy_h5
from rnnkit.keras._registry import LAYERS

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "MODEL_FORMAT", "WEIGHTS_FORMAT",
           "register_keras_serializable", "get_custom_objects", "custom_object_scope"]

MODEL_FORMAT = "rnnkit.keras.model/1"  # metadata["format"] of model.save files
WEIGHTS_FORMAT = "rnnkit.keras.weights/1"  # metadata["format"] of model.save_weights files


def _weight_names(model) -> list[str]:
    names = []
    for i, weight in enumerate(getattr(model, "weights", None) or []):
        names.append(str(getattr(weight, "path", None) or getattr(weight, "name", None) or f"weight_{i}"))
    return names


def _check_overwrite(filepath: str, overwrite: bool) -> None:
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath!r} exists and overwrite=False")


def _weights_arrays(model) -> dict[str, np.ndarray]:
    weights = model.get_weights()
    if not weights:
        raise ValueError(
            f"cannot save {type(model).__name__}: it has no weights yet; build it first "
            "(give the first layer an input_shape, or call it / fit it on data)"
        )
    return {f"weights/{i}": np.ascontiguousarray(w) for i, w in enumerate(weights)}


def _json(name: str, value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"cannot save the {name}: it is not JSON-serializable ({error})") from None


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Save architecture, weights, compile config and optimizer state to one file.

    Args:
        model: a built ``rnnkit.keras.Model``.
        filepath: the file to write: a ``.keras`` name gets Keras 3's archive (see
            :mod:`rnnkit.keras.keras_format`), an ``.h5``/``.hdf5`` name Keras's legacy HDF5 file
            (see :mod:`rnnkit.keras.keras_legacy_h5`), any other name rnnkit's safetensors file.
        overwrite: replace an existing file (else FileExistsError).
        include_optimizer: also store the optimizer state (to resume training exactly).

    Raises:
        ValueError: the model is not built.
        TypeError: its config is not JSON-serializable.
    """
    filepath = os.fspath(filepath)
    _check_overwrite(filepath, overwrite)
    if keras_format.is_keras_archive(filepath):
        keras_format.save_model(model, filepath, include_optimizer=include_optimizer)
        return
    if filepath.lower().endswith(_KERAS_EXTENSIONS):
        keras_legacy_h5.save_model(model, filepath, include_optimizer=include_optimizer)
        return
    arrays = _weights_arrays(model)
    metadata = {
        "format": MODEL_FORMAT,
        "model_config": _json("model config", {"class_name": type(model).__name__, "config": model.get_config()}),
        "weight_names": _json("weight names", _weight_names(model)),
    }
    shape = getattr(model, "_build_input_shape", None) or getattr(model, "_trainer_input_shape", None)
    if shape is not None:
        metadata["build_input_shape"] = _json("input shape", shape)
    if getattr(model, "compiled", False):
        try:
            metadata["compile_config"] = _json("compile config", model.get_compile_config())
        except (TypeError, ValueError) as error:
            warnings.warn(f"saving without the compile config (compile the loaded model again): {error}",
                          stacklevel=3)
        else:
            optimizer = getattr(model, "optimizer", None)
            if include_optimizer and optimizer is not None and optimizer.iterations:
                state = optimizer.get_state(model.trainable_weights)
                arrays.update({f"optimizer/{k}": np.ascontiguousarray(v) for k, v in state.items()})
    serialization.save(arrays, filepath, metadata=metadata)


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_KERAS_EXTENSIONS = (".h5", ".hdf5")


def _warn_keras_extension(filepath: str) -> None:
    """``save_weights`` under Keras's legacy extensions writes rnnkit's safetensors format (Keras 3 refuses
    those names for weights): say so, never differ silently."""
    if filepath.lower().endswith(_KERAS_EXTENSIONS):
        warnings.warn(
            f"{filepath!r}: rnnkit writes its own safetensors format (architecture, weights and optimizer state) "
            "under this name; Keras itself cannot open it. Use the .safetensors extension to make that plain.",
            UserWarning, stacklevel=4,
        )


def _hdf5_layout(filepath: str) -> str | None:
    """``"legacy"`` or ``"keras"`` for an HDF5 file (Keras's legacy .h5 layout, or Keras 3's weights layout),
    None for anything else (it reads 8 bytes, then the file's attributes)."""
    try:
        with open(filepath, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return None  # the reader that follows reports a missing or unreadable file
    if head != _HDF5_SIGNATURE:
        return None
    return keras_legacy_h5.layout(filepath)


def _refuse_keras_archive(filepath: str) -> None:
    """Name a Keras 3 archive saved under another extension instead of a generic parse error; the check only
    lists the archive's entries, it runs nothing."""
    try:
        with open(filepath, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return
    if head == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(filepath) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError):
            return
        if "config.json" in names:
            raise ValueError(f"{filepath!r} is a Keras 3 .keras archive ({', '.join(sorted(names))}) under another "
                             "extension; name it .keras to open it (as Keras requires)")


def _read(filepath) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Arrays and metadata of a safetensors file; ValueError naming the problem otherwise."""
    filepath = os.fspath(filepath)
    _refuse_keras_archive(filepath)
    arrays, metadata = serialization.read_safetensors(filepath)
    if metadata.get("format") not in (MODEL_FORMAT, WEIGHTS_FORMAT):
        raise ValueError(
            f"{filepath!r} is a safetensors file but not an rnnkit Keras model or weights file "
            f"(metadata format={metadata.get('format')!r}, expected {MODEL_FORMAT!r} or {WEIGHTS_FORMAT!r})"
        )
    return arrays, metadata


def _loads(filepath: str, metadata: dict[str, str], key: str) -> Any:
    try:
        return json.loads(metadata[key])
    except (KeyError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{filepath!r}: metadata entry {key!r} is missing or not valid JSON ({error})") from None


def _stored_weights(filepath: str, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    keys = [k for k in arrays if k.startswith("weights/")]
    indices = sorted(int(k.split("/", 1)[1]) for k in keys if k.split("/", 1)[1].isdigit())
    if len(indices) != len(keys) or indices != list(range(len(indices))):
        raise ValueError(f"{filepath!r}: the weight tensors are not numbered weights/0 .. weights/{len(keys) - 1}")
    return [arrays[f"weights/{i}"] for i in indices]


def _deserialize_model(filepath: str, config: Any, custom_objects: dict | None):
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ValueError(f"{filepath!r}: model_config must be {{'class_name': ..., 'config': ...}}")
    return LAYERS.deserialize(config, custom_objects)


def _ensure_built(model, shape: Any) -> None:
    """Create the weights of a model restored from its config (call it once on zeros)."""
    if model.get_weights() or shape is None:
        return
    if hasattr(model, "build"):
        try:
            model.build(tuple(shape) if not (shape and isinstance(shape[0], list)) else [tuple(s) for s in shape])
            if model.get_weights():
                return
        except Exception:  # fall back to a forward pass
            pass
    shapes = shape if shape and isinstance(shape[0], list) else [shape]
    dummies = [np.zeros((1,) + tuple(d or 1 for d in s[1:]), np.float32) for s in shapes]
    model.predict(dummies if len(dummies) > 1 else dummies[0], verbose=0)


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True, safe_mode: bool = True):
    """Rebuild a model saved by :func:`save_model` (architecture, weights, compile config, optimizer).

    Args:
        filepath: the file written by ``model.save``.
        custom_objects: ``{class name: class}`` for custom model classes.
        compile: compile the model with the stored compile config (if there is one).
        safe_mode: as Keras: a ``.keras`` file asking for serialized Python code is refused, naming
            safe_mode (rnnkit refuses it with safe_mode=False too: loading never executes code).

    Returns:
        The model.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is damaged, not safetensors, or not an rnnkit Keras model file.
    """
    filepath = os.fspath(filepath)
    if keras_format.is_keras_archive(filepath):
        return keras_format.load_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
    layout = _hdf5_layout(filepath)
    if layout == "legacy":
        return keras_legacy_h5.load_model(filepath, custom_objects=custom_objects, compile=compile,
                                          safe_mode=safe_mode)
    if layout == "keras" or _is_keras_weights(filepath):
        raise ValueError(f"{filepath!r} holds weights only (Keras's .weights.h5 layout); build the model, then "
                         "model.load_weights()")
    arrays, metadata = _read(filepath)
    if metadata["format"] != MODEL_FORMAT:
        raise ValueError(f"{filepath!r} holds weights only (written by save_weights); use model.load_weights()")
    config = _loads(filepath, metadata, "model_config")
    shape = _loads(filepath, metadata, "build_input_shape") if "build_input_shape" in metadata else None
    keras_format.check_sizes(filepath, config, shape, _stored_weights(filepath, arrays))
    model = _deserialize_model(filepath, config, custom_objects)
    _ensure_built(model, shape)
    _set_weights(model, _stored_weights(filepath, arrays), filepath, skip_mismatch=False)
    if shape is not None:
        model._trainer_input_shape = tuple(shape) if not (shape and isinstance(shape[0], list)) else shape
    if compile and "compile_config" in metadata:
        model.compile_from_config(_loads(filepath, metadata, "compile_config"))
        state = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("optimizer/")}
        if state:
            model.optimizer.set_state(state, model.trainable_weights)
    return model


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Save the weights atomically: Keras 3's HDF5 layout for a ``.weights.h5`` name (see
    :mod:`rnnkit.keras.keras_format`), else ``model.get_weights()`` as tensors ``weights/<i>`` of a
    safetensors file."""
    filepath = os.fspath(filepath)
    _check_overwrite(filepath, overwrite)
    if _is_keras_weights(filepath):
        keras_format.save_weights(model, filepath)
        return
    _warn_keras_extension(filepath)
    metadata = {"format": WEIGHTS_FORMAT, "weight_names": _json("weight names", _weight_names(model))}
    serialization.save(_weights_arrays(model), filepath, metadata=metadata)


def _set_weights(model, stored: list[np.ndarray], filepath: str, skip_mismatch: bool) -> None:
    current = model.get_weights()
    names = _weight_names(model)
    if len(stored) != len(current):
        raise ValueError(
            f"{filepath!r} holds {len(stored)} weights but {type(model).__name__} has {len(current)}"
            + ("" if current else " (the model is not built yet)")
        )
    new = []
    for i, (have, got) in enumerate(zip(current, stored)):
        if got.dtype.kind not in "biuf":  # complex: the imaginary part would be dropped
            name = names[i] if i < len(names) else f"weight {i}"
            raise ValueError(f"{filepath!r}: weight {i} ({name}) has dtype {got.dtype}, expected real numbers")
        if have.shape != got.shape:
            name = names[i] if i < len(names) else f"weight {i}"
            message = f"{filepath!r}: weight {i} ({name}) has shape {got.shape}, the model expects {have.shape}"
            if not skip_mismatch:
                raise ValueError(message)
            warnings.warn("skipping " + message, stacklevel=3)
            got = have
        new.append(got.astype(have.dtype, copy=False))
    model.set_weights(new)


def _is_keras_weights(filepath: str) -> bool:
    return filepath.lower().endswith(".weights.h5")


def load_weights(model, filepath, skip_mismatch: bool = False) -> None:
    """Load weights from a :func:`save_weights` or :func:`save_model` file into a built ``model``
    (Keras's ``.weights.h5`` and ``.keras`` files too, written by Keras or rnnkit).

    Raises:
        ValueError: a damaged file, or a number or shape of weights that does not match (naming
            the weight), unless ``skip_mismatch`` (then mismatched weights are left as they are).
    """
    filepath = os.fspath(filepath)
    layout = _hdf5_layout(filepath)
    if layout == "legacy":
        keras_legacy_h5.load_weights(model, filepath, skip_mismatch=skip_mismatch)
        return
    if layout == "keras" or _is_keras_weights(filepath) or keras_format.is_keras_archive(filepath):
        keras_format.load_weights(model, filepath, skip_mismatch=skip_mismatch)
        return
    arrays, _ = _read(filepath)
    _set_weights(model, _stored_weights(filepath, arrays), filepath, skip_mismatch)


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """A class decorator registering a custom layer (or cell) for loading by name, as Keras's.

    The class is found under its own name and under Keras's ``"package>name"``; configs that name it then
    load without ``custom_objects``. Registration is explicit: loading never imports modules a file names.

    Example:
        >>> from rnnkit import keras
        >>> @keras.saving.register_keras_serializable(package="demo")
        ... class Twice(keras.layers.Layer):
        ...     def call(self, x):
        ...         return x * 2
        >>> "demo>Twice" in keras.saving.get_custom_objects()
        True
    """
    if not isinstance(package, str) or (name is not None and not isinstance(name, str)):
        raise TypeError(f"register_keras_serializable: package and name must be strings, got {package!r}, {name!r}")

    def decorate(cls: type) -> type:
        if not hasattr(cls, "get_config"):
            raise TypeError(f"register_keras_serializable: {cls.__name__} has no get_config()")
        return LAYERS.register(f"{package}>{name or cls.__name__}")(cls)

    return decorate


def get_custom_objects() -> dict[str, type]:
    """Every class loading can build by name (registered layers, cells and models)."""
    return LAYERS.classes()


@contextlib.contextmanager
def custom_object_scope(custom_objects: dict):
    """Within the block, the classes of ``custom_objects`` (``{name: class}``) load by name, as Keras's scope."""
    if not isinstance(custom_objects, dict):
        raise TypeError(f"custom_objects: expected a dict {{name: class}}, got {type(custom_objects).__name__}")
    added = {k: v for k, v in custom_objects.items() if k not in LAYERS.classes()}
    for key, cls in added.items():
        LAYERS.add(key, cls)
    try:
        yield
    finally:
        for key in added:
            LAYERS.remove(key)
