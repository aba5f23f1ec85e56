"""Checkpoints as atomic commits: a reader sees the old checkpoint or the new one, never a mix.

Layout of a run directory written by ``rnnkit train``::

    DIR/
      checkpoint-<step>/               the committed unit (the latest one is kept)
        config.json                    kind, architecture, vocabulary, options, RNG state, the
                                       step, and the sha256 of every other file of the unit
        model.safetensors              the weights alone, PyTorch's names (``sample``, ``torch``)
        training_state.safetensors     weights (``model/<name>``), optimizer state
                                       (``optimizer/state/<index>/<name>``, groups and scalars in
                                       the header) and the carried hidden state (``carry/h``, ``carry/c``)
        metrics.csv                    the metrics up to this step
      metrics.csv, loss.png            copies for people, rewritten after each commit
      .rnnkit.lock                     held by the one writer (:func:`rnnkit.cli.rundir.lock`)

The commit (:func:`commit`): every file is written into a new hidden directory
``.tmp-checkpoint-<step>-<token>`` and fsync'd, the directory is fsync'd, then ONE rename
publishes it as ``checkpoint-<step>``, and the run directory is fsync'd. Readers take the
highest published step (:func:`locate`). Superseded checkpoints are renamed to ``.trash-*``
and removed after the commit; whatever a killed writer left (``.tmp-*``, ``.trash-*``, an
older checkpoint) goes at the next writer's start (:func:`prune`).

The step is recorded once, in ``config.json``; the digests beside it bind the other files to
it, so a file from another checkpoint is named on loading (:func:`read_file`). Every file
operation of a commit goes through :class:`FileOps`, the seam where tests inject faults.
Nothing is ever unpickled.

Example:
    >>> import tempfile
    >>> run = tempfile.mkdtemp()
    >>> unit = commit(run, 3, {"config.json": b'{"step": 3}', "w.bin": b"123"})
    >>> os.path.basename(locate(run)), sorted(os.listdir(unit))
    ('checkpoint-3', ['config.json', 'w.bin'])
    >>> _ = commit(run, 5, {"config.json": b'{"step": 5}'})
    >>> sorted(os.listdir(run))
    ['checkpoint-5']
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import shutil
from typing import Any

import numpy as np

from rnnkit import get_rng_state, serialization
from rnnkit.cli.charlm import CharLM, state_arrays, state_from_arrays
from rnnkit.cli.options import InputError, RunError, TrainOptions
from rnnkit.cli.rundir import remove_leftovers
from rnnkit.cli.schema import (GATES, MAX_LAYERS, Float, Int, Null, Obj, SchemaError, Str, charlm_shapes, check,
                               forecast_shapes, options_spec, read_json)

__all__ = ["load_model", "TRAINING_STATE", "MODEL", "CONFIG", "METRICS", "PREFIX", "FileOps", "commit", "prune", "latest",
           "locate", "read_config", "read_file", "read_weights", "digest", "write_json", "json_bytes", "CHARLM",
           "open_charlm", "load_charlm", "save_charlm", "load_charlm_state", "FORECAST", "SCHEMAS", "load_forecast"]

TRAINING_STATE = "training_state.safetensors"
MODEL = "model.safetensors"
CONFIG = "config.json"
METRICS = "metrics.csv"
PREFIX = "checkpoint-"  # published units are PREFIX + step
_UNIT = re.compile(re.escape(PREFIX) + r"(0|[1-9][0-9]*)")


class FileOps:
    """The file operations of a commit, one method each (a test subclass fails or kills at the Nth)."""

    def mkdir(self, path: str) -> None:
        os.mkdir(path)

    def write(self, path: str, data: bytes) -> None:
        """Create ``path`` (it must not exist), write ``data`` and fsync it."""
        serialization.write_new(path, data)

    def fsync_dir(self, path: str) -> None:
        serialization.fsync_directory(path)

    def rename(self, source: str, target: str) -> None:
        os.rename(source, target)

    def remove_tree(self, path: str) -> None:
        shutil.rmtree(path)


def digest(data: bytes) -> str:
    """The sha256 of ``data`` in hex (what ``config.json`` records for each file of a unit)."""
    return hashlib.sha256(data).hexdigest()


def _first_non_finite(value: Any, where: str = "") -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where or 'the value'} is {value}"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _first_non_finite(item, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None


def json_bytes(obj: Any, name: str = "the file") -> bytes:
    """``obj`` as indented UTF-8 JSON; a non-finite number is an error (never ``Infinity`` in a file).

    Raises:
        RunError: naming ``name`` and the field holding the non-finite value.
    """
    problem = _first_non_finite(obj)
    if problem:
        raise RunError(f"{name}: {problem}; a non-finite result is an error, nothing was written")
    return (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode("utf-8")


def write_json(path: str, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically (a non-finite number raises RunError, nothing written)."""
    serialization.atomic_write_bytes(path, json_bytes(obj, path))


def commit(run_dir: str, step: int, files: dict[str, bytes], ops: FileOps | None = None) -> str:
    """Publish ``files`` as the checkpoint of ``step`` in ``run_dir`` with one rename; its path.

    Args:
        run_dir: the run directory (it must exist; hold :func:`rnnkit.cli.rundir.lock` on it).
        step: the step the files belong to; the unit is named ``checkpoint-<step>``.
        files: file name -> content.
        ops: the file operations (default: :class:`FileOps`).

    Raises:
        FileExistsError: a checkpoint of ``step`` is already published.
        OSError: a write failed (a full disk, say): the previous checkpoint is untouched.
    """
    ops = ops or FileOps()
    name = f"{PREFIX}{int(step)}"
    final = os.path.join(run_dir, name)
    if os.path.exists(final):
        raise FileExistsError(f"{final}: a checkpoint of step {step} is already published")
    tmp = os.path.join(run_dir, f".tmp-{name}-{secrets.token_hex(4)}")
    try:
        ops.mkdir(tmp)
        for file_name, data in files.items():
            ops.write(os.path.join(tmp, file_name), data)
        ops.fsync_dir(tmp)
        ops.rename(tmp, final)  # the commit point
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    ops.fsync_dir(run_dir)
    prune(run_dir, ops, keep=final)
    return final


def prune(run_dir: str, ops: FileOps | None = None, keep: str | None = None) -> None:
    """Keep only one checkpoint of ``run_dir`` (``keep``, default the latest) and remove the leftovers of
    killed writers.

    Superseded checkpoints are renamed to ``.trash-*`` first (one atomic step), then removed.
    """
    ops = ops or FileOps()
    keep = keep or latest(run_dir)
    for entry in _units(run_dir):
        path = os.path.join(run_dir, entry[1])
        if path != keep:
            trash = os.path.join(run_dir, f".trash-{entry[1]}-{secrets.token_hex(4)}")
            try:
                ops.rename(path, trash)
            except PermissionError:  # Windows: a reader has a file of it open; the next prune removes it
                continue
            ops.remove_tree(trash)
    remove_leftovers(run_dir)


def _units(directory: str) -> list[tuple[int, str]]:
    return sorted((int(m.group(1)), name) for name in os.listdir(directory) if (m := _UNIT.fullmatch(name))
                  and os.path.isdir(os.path.join(directory, name)))


def latest(directory: str) -> str | None:
    """The path of the highest published checkpoint in ``directory`` (None when there is none)."""
    units = _units(directory) if os.path.isdir(directory) else []
    return os.path.join(directory, units[-1][1]) if units else None


def locate(directory: str) -> str | None:
    """Where the model of ``directory`` is: its latest checkpoint, or ``directory`` itself when it holds
    a ``config.json`` (a checkpoint directory named directly, or a ``forecast`` run); None otherwise."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise InputError(f"{directory}: is a file, expected a directory")
    if os.path.isfile(os.path.join(directory, CONFIG)):
        return directory
    return latest(directory)


def read_config(directory: str, schemas: dict[str, Any] | None = None) -> dict | None:
    """The validated ``config.json`` of ``directory``'s model (see :func:`locate`); None when there is none.

    Args:
        directory: a run directory or a checkpoint directory.
        schemas: kind -> schema to check the config against (a kind not listed is only
            required to be a JSON object with a string ``kind``).

    Raises:
        InputError: the file is unreadable or breaks its schema; the message names the file
            and the first field at fault.
    """
    unit = locate(directory)
    if unit is None:
        return None
    path = os.path.join(unit, CONFIG)
    config = read_json(path)
    try:
        if not isinstance(config, dict):
            raise SchemaError(f"the file: expected a JSON object, got a {type(config).__name__}")
        if not isinstance(config.get("kind"), str):
            raise SchemaError(f"kind: expected a string, got {config.get('kind')!r}")
        spec = (schemas or {}).get(config["kind"])
        if spec is not None:
            check(config, spec)
        named = _UNIT.fullmatch(os.path.basename(os.path.normpath(unit)))
        if named and config.get("step") != int(named.group(1)):
            raise SchemaError(f"step: {config.get('step')!r}, but the directory is named for step {named.group(1)} "
                              "(renamed by hand?)")
    except SchemaError as error:
        raise InputError(f"{path}: {error}") from None
    config["_unit"] = unit  # where it was read: the other files of the unit are read from the same place
    return config


def read_file(config: dict, name: str) -> str:
    """The path of file ``name`` of the unit ``config`` was read from, after checking it belongs to it.

    When the config records digests (``files``), the file's sha256 must match.

    Raises:
        InputError: the file is missing, not a regular file, or from another checkpoint.
    """
    unit = config["_unit"]
    path = os.path.join(unit, name)
    if not os.path.isfile(path):
        raise InputError(f"{path}: missing or not a regular file; the checkpoint in {unit} is incomplete")
    expected = (config.get("files") or {}).get(name)
    if expected is not None:
        hasher = hashlib.sha256()
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                hasher.update(block)
        if hasher.hexdigest() != expected:
            raise InputError(f"{path}: does not belong to the checkpoint of step {config.get('step')} in {unit} "
                             f"(its sha256 differs from the one {CONFIG} records); it was changed or copied in "
                             "from another checkpoint")
    return path


def read_weights(config: dict, name: str, expected: dict[str, tuple[int, ...]] | None) -> dict[str, np.ndarray]:
    """The arrays of safetensors file ``name`` of ``config``'s unit, checked against ``expected`` shapes (None:
    any names and shapes).

    The header is compared with ``expected`` before any tensor data is read (so a config
    claiming a huge model fails before allocating); then every array must be a finite float.

    Raises:
        InputError: naming the file and the first tensor at fault.
    """
    path = read_file(config, name)
    try:
        header, _ = serialization.read_header(path)
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: {error}") from None
    for key, shape in (expected or {}).items():
        if key not in header:
            raise InputError(f"{path}: holds no tensor {key!r}, which {CONFIG} implies")
        if header[key][1] != shape:
            raise InputError(f"{path}: tensor {key!r} has shape {header[key][1]}, but {CONFIG} implies {shape} "
                             "(the config and the weights disagree)")
        if header[key][0] not in ("F16", "F32", "F64"):
            raise InputError(f"{path}: tensor {key!r} is {header[key][0]}, expected floating point weights")
    extra = sorted(set(header) - set(expected or header))
    if extra:
        raise InputError(f"{path}: holds tensors {CONFIG} does not describe: {', '.join(extra[:5])}")
    return _load_finite(path)


def _load_finite(path: str) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file, each required to be finite."""
    try:
        arrays = serialization.load(path)
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: {error}") from None
    for key, array in arrays.items():
        if array.dtype.kind not in "fiub" or not np.isfinite(array).all():
            raise InputError(f"{path}: tensor {key!r} holds non-finite or non-real values")
    return arrays


# -- the character model's checkpoint ---------------------------------------------------------
_META_KEY = "rnnkit.training_state"  # header entry of training_state.safetensors: the optimizer's JSON
_SHA256 = Str(pattern="[0-9a-f]{64}")


def _charlm_schema() -> Obj:
    """The schema of a character model's ``config.json``."""
    rng = get_rng_state()["bit_generator"]  # the generator rnnkit draws from
    return Obj({
        "kind": Str(choices=("charlm",)),
        "model": Obj({"vocab_size": Int(1, 0x110000), "cell": Str(choices=tuple(GATES)), "layers": Int(1, MAX_LAYERS),
                      "hidden": Int(1), "embed": Int(1), "dropout": Float(0.0, below=1.0)}),
        "vocab": Str(),
        "data": Obj({"source": Str(), "sha256": _SHA256, "chars": Int(), "train_chars": Int(),
                     "val_chars": Int()}),
        "train": options_spec(TrainOptions),
        "step": Int(),
        "elapsed_seconds": Float(0.0),
        "val_bpc": Null(Float(0.0)),
        "rng_state": Obj({"bit_generator": Str(choices=(rng,)), "state": Obj({}), "has_uint32": Int(0, 1),
                          "uinteger": Int(0, (1 << 64) - 1)}),
        "files": Obj({MODEL: _SHA256, TRAINING_STATE: _SHA256, METRICS: _SHA256}),
    }, optional=frozenset({"files"}))


CHARLM = _charlm_schema()
FORECAST = Obj({
    "kind": Str(choices=("forecast",)),
    "model": Obj({"cell": Str(choices=tuple(GATES)), "inputs": Int(1), "hidden": Int(1),
                  "window": Int(1), "targets": Int(1), "horizon": Int(1),
                  "future": Int(0), "members": Int(1, MAX_LAYERS)}),
    "columns": Obj({}), "forecaster": Obj({}), "fitted": Obj({}), "data": Obj({}),
}, optional=frozenset({"data"}))  # the config of ``rnnkit forecast`` (rnnkit.forecast.Forecaster.save)
SCHEMAS = {"charlm": CHARLM, "forecast": FORECAST}  # every kind of model a run directory may hold


def load_forecast(config: dict) -> dict[str, np.ndarray]:
    """The checked weights of a forecaster's config (from :func:`read_config` with :data:`SCHEMAS`)."""
    return read_weights(config, MODEL, forecast_shapes(config["model"]))


def open_charlm(directory: str) -> dict | None:
    """The validated config of the character model in ``directory`` (None when it holds no model).

    Raises:
        InputError: a config that breaks the schema, of another kind, or whose vocabulary
            does not match its ``vocab_size``.
    """
    config = read_config(directory, {"charlm": CHARLM})
    if config is None:
        return None
    path = os.path.join(config["_unit"], CONFIG)
    if config["kind"] != "charlm":
        raise InputError(f"{directory} holds a {config['kind']} model, not a character model")
    vocab = config["vocab"]
    if len(vocab) != config["model"]["vocab_size"] or len(set(vocab)) != len(vocab):
        raise InputError(f"{path}: vocab: expected {config['model']['vocab_size']} distinct characters "
                         f"(model.vocab_size), got {len(vocab)} ({len(set(vocab))} distinct)")
    return config


def load_charlm(directory: str, attempts: int = 3) -> tuple[dict, dict[str, np.ndarray]] | None:
    """The validated config and checked weights of the character model in ``directory`` (None: no model).

    A reader does not take the writer's lock: when a writer publishes a newer checkpoint and
    removes the one being read, the read starts again on the newer one.
    """
    for _ in range(attempts - 1):
        unit = locate(directory)
        try:
            return _read_charlm(directory)
        except InputError:
            if locate(directory) == unit:  # no newer checkpoint was published meanwhile: a real problem
                raise
    return _read_charlm(directory)


def _read_charlm(directory: str) -> tuple[dict, dict[str, np.ndarray]] | None:
    config = open_charlm(directory)
    if config is None:
        return None
    return config, read_weights(config, MODEL, charlm_shapes(config["model"]))


def save_charlm(run_dir: str, model: Any, optimizer: Any, carry: Any, config: dict, metrics: str,
                ops: FileOps | None = None) -> str:
    """Commit a character model's checkpoint (weights, training state, metrics, config); its path.

    Args:
        run_dir: the run directory (locked by the caller).
        model: the ``CharLM``.
        optimizer: its optimizer.
        carry: the recurrent state carried into the next window (tensor, pair or None).
        config: the JSON-able config; its ``step`` names the checkpoint.
        metrics: the text of ``metrics.csv`` up to this step.
        ops: the file operations (tests inject faults here).
    """
    weights = model.state_dict()
    optim_arrays, optim_meta = serialization.flatten_optimizer_state(optimizer.state_dict())
    arrays = {f"model/{k}": v for k, v in weights.items()}
    arrays.update({f"optimizer/{k}": v for k, v in optim_arrays.items()})
    arrays.update({f"carry/{k}": v for k, v in state_arrays(carry).items()})
    files = {
        MODEL: serialization.to_bytes(weights),
        TRAINING_STATE: serialization.to_bytes(arrays, {_META_KEY: json.dumps({"optimizer": optim_meta})}),
        METRICS: metrics.encode("utf-8"),
    }
    config = {**config, "files": {name: digest(data) for name, data in files.items()}}
    files[CONFIG] = json_bytes(config, CONFIG)
    return commit(run_dir, config["step"], files, ops)


def load_charlm_state(config: dict) -> tuple[dict[str, np.ndarray], dict, Any]:
    """The training state of ``config``'s checkpoint: ``(weights, optimizer state_dict, carried state)``.

    Every file of the checkpoint must be the one its ``config.json`` records (so all are of
    its step); the tensors' names and shapes are checked against the config in the header,
    before any data is read, then every array must be finite. Nothing is built or changed.

    Raises:
        InputError: naming the file and what is wrong.
    """
    if "files" not in config:
        raise InputError(f"{config['_unit']}: written by an older rnnkit without checkpoint digests; "
                         "it can be sampled but not resumed")
    for name in config["files"]:
        read_file(config, name)  # every file belongs to this checkpoint (same step)
    m, train = config["model"], config["train"]
    shapes = charlm_shapes(m)
    params = list(shapes.values())  # the parameters in the optimizer's order
    carry = {"h": (m["layers"], train.get("batch_size"), m["hidden"])}
    if m["cell"] == "lstm":
        carry["c"] = carry["h"]
    path = os.path.join(config["_unit"], TRAINING_STATE)
    header, meta = _header(path)
    for key, (dtype, shape) in header.items():
        part, _, rest = key.partition("/")
        index, _, name = rest.removeprefix("state/").partition("/")
        want = (shapes.get(rest) if part == "model" else carry.get(rest) if part == "carry" else
                params[int(index)] if part == "optimizer" and index.isdigit() and int(index) < len(params)
                and name else None)
        if want is None:
            raise InputError(f"{path}: unexpected tensor {key!r}")
        if shape != tuple(want):
            raise InputError(f"{path}: tensor {key!r} has shape {shape}, expected {tuple(want)}")
    missing = sorted(f"model/{k}" for k in shapes if f"model/{k}" not in header)
    if missing:
        raise InputError(f"{path}: missing tensor {missing[0]!r}")
    if _META_KEY not in meta:
        raise InputError(f"{path}: holds no optimizer state (no {_META_KEY!r} entry in its header)")
    try:
        saved = json.loads(meta[_META_KEY])
        check(saved, Obj({"optimizer": Obj({"format": Str(), "param_groups": _List(), "scalars": Obj({})})}))
        for index, scalars in saved["optimizer"]["scalars"].items():
            check(scalars, Obj({"step": Int()}), f"optimizer.scalars.{index}")
    except (ValueError, RecursionError) as error:
        raise InputError(f"{path}: header entry {_META_KEY}: {error}") from None
    parts: dict[str, dict] = {"model": {}, "optimizer": {}, "carry": {}}
    for key, array in _load_finite(path).items():
        part, _, name = key.partition("/")
        parts[part][name] = array
    try:
        optimizer = serialization.unflatten_optimizer_state(parts["optimizer"], saved["optimizer"])
    except (ValueError, TypeError, KeyError) as error:
        raise InputError(f"{path}: not a readable optimizer state ({error})") from None
    return parts["model"], optimizer, state_from_arrays(parts["carry"])


def _header(path: str) -> tuple[dict, dict]:
    try:
        return serialization.read_header(path)
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: {error}") from None


class _List:
    """A JSON array (its items are checked by the optimizer that loads them)."""

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, list):
            raise SchemaError(f"{where}: expected a list, got {type(value).__name__}")


def load_model(directory: str) -> tuple[CharLM, dict]:
    """The character model saved in ``directory`` and its config; :class:`InputError` if there is none.

    The config is checked against its schema and the weights' header before the model is built.
    """
    if not os.path.isdir(directory):
        raise InputError(f"{directory}: no such directory")
    loaded = load_charlm(directory)
    if loaded is None:
        raise InputError(f"{directory} holds no model (no {PREFIX}<step> directory or "
                         f"{CONFIG}); train one with rnnkit train --out {directory}")
    config, weights = loaded
    model = CharLM.from_config(config["model"])
    model.load_state_dict(weights)
    return model.eval(), config
