"""``pickle``/``copy``/``joblib`` for Keras models, by value through the ``.keras`` archive.

``pickle.dumps(model)`` stores what ``model.save("m.keras")`` would write (Keras 3's archive:
config, weights and optimizer state, see :mod:`rnnkit.keras.keras_format`), as Keras 3's own
``Model.__reduce__`` does; ``pickle.loads`` rebuilds the model with
:func:`rnnkit.keras.keras_format.load_model` from those bytes. No layer, closure or optimizer
object is pickled: only the archive's bytes, plus references (module and name, as pickle always
stores classes) to the classes of the model that rnnkit does not define itself, so that the
process reading the pickle imports them and can build the model; nothing else is resolved, and
the archive's config never names code (a ``Lambda`` holding a Python function is refused, as by
``load_model``). A model that is not built yet has no weights: it is stored as its config (and
compile config), and rebuilt unbuilt.

``copy.deepcopy(model)``, ``joblib.dump`` and the worker processes of
``GridSearchCV(n_jobs=-1)`` (loky) or of a Dask cluster go through the same two functions.
The archive holds HDF5 weights: h5py (the ``files`` or ``scale`` extra) is needed.

Example:
    >>> import pickle
    >>> import numpy as np
    >>> from rnnkit import keras
    >>> model = keras.Sequential([keras.Input((5, 2)), keras.layers.GRU(3), keras.layers.Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> twin = pickle.loads(pickle.dumps(model))
    >>> x = np.ones((2, 5, 2), np.float32)
    >>> bool(np.array_equal(model.predict(x, verbose=0), twin.predict(x, verbose=0)))
    True
"""

from __future__ import annotations

import json
from typing import Any, Callable

from rnnkit.keras import keras_format
from rnnkit.keras._registry import LAYERS

__all__ = ["reduce_model", "model_from_archive", "model_from_config"]


def _own_classes(model: Any) -> dict[str, type]:
    """``{class name: class}`` of the model and its layers (nested ones too) defined outside rnnkit."""
    found: dict[str, type] = {}
    pending = [model]
    while pending:
        obj = pending.pop()
        cls = type(obj)
        if not cls.__module__.startswith("rnnkit."):
            found[cls.__name__] = cls
        for child in getattr(obj, "_modules", {}).values():
            if child is not None:
                pending.append(child)
    return found


def reduce_model(model: Any) -> tuple[Callable, tuple]:
    """``Model.__reduce__``: ``(model_from_archive, (archive bytes, custom classes))`` for a built model,
    ``(model_from_config, (config JSON, compile config JSON or None, custom classes))`` otherwise."""
    classes = _own_classes(model)
    if model.built and model.weights:
        try:
            archive = keras_format.archive_bytes(model, include_optimizer=True)
        except TypeError as error:
            raise TypeError(f"cannot pickle {type(model).__name__} '{model.name}' by value: {error}") from None
        return model_from_archive, (archive, classes)
    compile_config = model.get_compile_config() if getattr(model, "compiled", False) else None
    return model_from_config, (json.dumps(LAYERS.serialize(model)),
                               None if compile_config is None else json.dumps(compile_config), classes)


def model_from_archive(data: bytes, custom_objects: dict[str, type] | None = None) -> Any:
    """The model in a ``.keras`` archive's bytes, compiled with its optimizer state (the inverse of
    :func:`reduce_model` for a built model)."""
    if not isinstance(data, bytes):
        raise TypeError(f"data: expected the bytes of a .keras archive, got {type(data).__name__}")
    return keras_format.load_model(data, custom_objects=custom_objects, compile=True, safe_mode=True)


def model_from_config(config: str, compile_config: str | None, custom_objects: dict[str, type] | None = None) -> Any:
    """An unbuilt model from its JSON config (compiled from ``compile_config`` when given)."""
    model = LAYERS.deserialize(json.loads(config), custom_objects)
    if compile_config is not None:
        model.compile_from_config(json.loads(compile_config))
    return model
