"""Checkpoints that survive a kill at any moment and resume bit for bit.

A checkpoint directory holds:

- ``training_state.safetensors``: everything ``--resume`` needs in ONE file, so one atomic
  rename makes it consistent: the weights (``model/<name>``), the optimizer state
  (``optimizer/state/<index>/<name>``, via :func:`rnnkit.serialization.flatten_optimizer_state`),
  the carried hidden state (``carry/h``, ``carry/c``) and, in the header, the JSON of the
  config below plus the optimizer's groups and scalars.
- ``model.safetensors``: the weights alone, PyTorch's names (for ``sample``, ``inspect``,
  ``rnnkit.load`` or ``torch``).
- ``config.json``: kind, architecture, vocabulary, training arguments, step, RNG state.

Every file is written to a temporary file and renamed over the old one
(:func:`rnnkit.serialization.atomic_write_bytes`); the training state goes first, so a kill
between the files leaves a resumable directory whose ``model.safetensors`` is at most one
checkpoint behind. Nothing is ever unpickled.

Example:
    >>> import os, tempfile, numpy as np, rnnkit
    >>> model = rnnkit.nn.Linear(2, 1)
    >>> opt = rnnkit.optim.Adam(model.parameters())
    >>> d = tempfile.mkdtemp()
    >>> save(d, model, opt, None, {"kind": "demo", "step": 3})
    >>> carry, config = restore(d, model, opt)
    >>> carry, config["step"], read_config(d)["kind"]
    (None, 3, 'demo')
"""

from __future__ import annotations

import json
import os
from typing import Any

from rnnkit import serialization
from rnnkit.cli.charlm import state_arrays, state_from_arrays
from rnnkit.cli.options import InputError

__all__ = ["TRAINING_STATE", "MODEL", "CONFIG", "save", "restore", "read_config", "write_json"]

TRAINING_STATE = "training_state.safetensors"
MODEL = "model.safetensors"
CONFIG = "config.json"
_META_KEY = "rnnkit.training_state"


def write_json(path: str, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    serialization.atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def read_config(directory: str) -> dict | None:
    """The ``config.json`` of ``directory``, or None when there is none (or no directory yet)."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise InputError(f"--out {directory}: is a file, expected a directory")
    path = os.path.join(directory, CONFIG)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as file:
            config = json.load(file)
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: not a readable rnnkit config ({error})") from None
    if not isinstance(config, dict):
        raise InputError(f"{path}: not an rnnkit config (expected a JSON object)")
    return config


def save(directory: str, model: Any, optimizer: Any, carry: Any, config: dict) -> None:
    """Write the training state, the weights and ``config.json`` (each atomically, in that order).

    Args:
        directory: the checkpoint directory (created if missing).
        model: an ``rnnkit.nn.Module``.
        optimizer: an ``rnnkit.optim.Optimizer``.
        carry: the recurrent state carried into the next window (tensor, pair or None).
        config: JSON-able description (kind, architecture, step, RNG state, ...).
    """
    os.makedirs(directory, exist_ok=True)
    weights = {name: array for name, array in model.state_dict().items()}
    optim_arrays, optim_meta = serialization.flatten_optimizer_state(optimizer.state_dict())
    arrays = {f"model/{k}": v for k, v in weights.items()}
    arrays.update({f"optimizer/{k}": v for k, v in optim_arrays.items()})
    arrays.update({f"carry/{k}": v for k, v in state_arrays(carry).items()})
    meta = {_META_KEY: json.dumps({"config": config, "optimizer": optim_meta})}
    serialization.save(arrays, os.path.join(directory, TRAINING_STATE), metadata=meta)
    serialization.save(weights, os.path.join(directory, MODEL))
    write_json(os.path.join(directory, CONFIG), config)


def restore(directory: str, model: Any, optimizer: Any) -> tuple[Any, dict]:
    """Load the training state of ``directory`` into ``model`` and ``optimizer``.

    Returns:
        ``(carry, config)``: the carried recurrent state and the config saved with it.

    Raises:
        InputError: no checkpoint, a damaged one, or one of another architecture.
    """
    path = os.path.join(directory, TRAINING_STATE)
    if not os.path.exists(path):
        raise InputError(f"--resume: {directory} holds no checkpoint ({TRAINING_STATE} is missing)")
    try:
        arrays = serialization.load(path)
        saved = json.loads(serialization.load_metadata(path)[_META_KEY])
    except (OSError, ValueError, KeyError) as error:  # a damaged file: report it
        raise InputError(f"--resume: {path} is not a readable rnnkit training state ({error})") from None
    parts: dict[str, dict] = {"model": {}, "optimizer": {}, "carry": {}}
    for key, array in arrays.items():
        part, _, name = key.partition("/")
        parts.setdefault(part, {})[name] = array
    try:
        model.load_state_dict(parts["model"])
    except ValueError as error:
        raise InputError(f"--resume: the checkpoint in {directory} is of another architecture ({error})") from None
    optimizer.load_state_dict(serialization.unflatten_optimizer_state(parts["optimizer"], saved["optimizer"]))
    return state_from_arrays(parts["carry"]), saved["config"]
