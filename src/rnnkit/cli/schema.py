"""Schemas of the files in a run directory, checked before anything they describe is built.

A schema is a tree of small spec objects (:class:`Int`, :class:`Float`, :class:`Str`,
:class:`Bool`, :class:`Obj`, :class:`Null`); :func:`check` walks a parsed JSON value along it
and raises :class:`SchemaError` naming the first field that is missing, of the wrong type or
out of range (``model.hidden: expected an int >= 1, got '16'``). :func:`read_json` parses a
JSON file with a size cap and no recursion blow-up. :func:`charlm_shapes` gives the shape of
every weight a character model's config implies, so a config can be compared with the
weights' header before a single array is allocated.

Example:
    >>> spec = Obj({"hidden": Int(1), "cell": Str(choices=("lstm", "gru"))})
    >>> check({"hidden": 16, "cell": "gru"}, spec)
    >>> try:
    ...     check({"hidden": "16", "cell": "gru"}, spec)
    ... except SchemaError as error:
    ...     print(error)
    hidden: expected an int >= 1, got '16'
    >>> charlm_shapes({"vocab_size": 5, "cell": "gru", "layers": 1, "hidden": 8, "embed": 4})["rnn.weight_hh_l0"]
    (24, 8)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import typing
from typing import Any

from rnnkit.cli.options import InputError

__all__ = ["SchemaError", "Int", "Float", "Str", "Bool", "Null", "Obj", "check", "read_capped", "read_json",
           "options_spec",
           "charlm_shapes", "forecast_shapes", "charlm_parameter_count", "GATES", "MAX_JSON_BYTES", "MAX_LAYERS"]

MAX_JSON_BYTES = 64 << 20  # a run's JSON files are small; anything larger is not one of ours
MAX_SIZE = 1 << 31  # bound on every size in a config (the weights' shapes then bound them for real)
MAX_LAYERS = 4096  # bound on a config's stacked layers (each has its own weights to check)
GATES = {"rnn": 1, "lstm": 4, "gru": 3}  # gate blocks stacked in weight_ih / weight_hh (torch's layout)


class SchemaError(ValueError):
    """A value that does not fit its schema; ``str()`` is ``"field.path: what was expected, what came"``."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(where: str, expected: str, value: Any) -> typing.NoReturn:
    raise SchemaError(f"{where or 'the file'}: expected {expected}, got {_show(value)}")


@dataclasses.dataclass(frozen=True)
class Int:
    """An int (not a bool) in ``[minimum, maximum]``."""

    minimum: int = 0  # smallest allowed value
    maximum: int = MAX_SIZE  # largest allowed value

    def check(self, value: Any, where: str) -> None:
        if type(value) is not int or not self.minimum <= value <= self.maximum:
            bound = f">= {self.minimum}" if self.maximum == MAX_SIZE else f"in [{self.minimum}, {self.maximum}]"
            _fail(where, f"an int {bound}", value)


@dataclasses.dataclass(frozen=True)
class Float:
    """A finite number in ``[minimum, maximum]`` (``below``: strictly less than it)."""

    minimum: float = -math.inf  # smallest allowed value
    maximum: float = math.inf  # largest allowed value
    below: float | None = None  # values must be < this, when set
    above: float | None = None  # values must be > this, when set

    def check(self, value: Any, where: str) -> None:
        ok = (type(value) in (int, float) and math.isfinite(value) and self.minimum <= value <= self.maximum
              and (self.below is None or value < self.below) and (self.above is None or value > self.above))
        if not ok:
            bounds = [f">= {self.minimum}" if self.minimum > -math.inf else "",
                      f"<= {self.maximum}" if self.maximum < math.inf else "",
                      f"< {self.below}" if self.below is not None else "",
                      f"> {self.above}" if self.above is not None else ""]
            _fail(where, " ".join(["a finite number", *filter(None, bounds)]), value)


@dataclasses.dataclass(frozen=True)
class Str:
    """A string, optionally one of ``choices`` or matching ``pattern`` (a full match)."""

    choices: tuple[str, ...] | None = None  # the allowed values
    pattern: str | None = None  # a regular expression the whole string must match

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, str):
            _fail(where, "a string", value)
        if self.choices is not None and value not in self.choices:
            _fail(where, "one of " + ", ".join(map(repr, self.choices)), value)
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            _fail(where, f"a string matching {self.pattern}", value)


@dataclasses.dataclass(frozen=True)
class Bool:
    """``true`` or ``false``."""

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, bool):
            _fail(where, "true or false", value)


@dataclasses.dataclass(frozen=True)
class Null:
    """``null`` or a value of ``spec``."""

    spec: Any  # the spec of a non-null value

    def check(self, value: Any, where: str) -> None:
        if value is not None:
            self.spec.check(value, where)


@dataclasses.dataclass(frozen=True)
class Obj:
    """A JSON object with the given keys (all required unless listed in ``optional``); other keys are allowed."""

    keys: dict[str, Any]  # key -> spec of its value
    optional: frozenset[str] = frozenset()  # keys that may be absent

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            _fail(where, "an object", value)
        for key, spec in self.keys.items():
            path = f"{where}.{key}" if where else key
            if key not in value:
                if key in self.optional:
                    continue
                raise SchemaError(f"{path}: missing")
            spec.check(value[key], path)


def check(value: Any, spec: Any, where: str = "") -> None:
    """Raise :class:`SchemaError` for the first part of ``value`` that does not fit ``spec``."""
    spec.check(value, where)


def read_capped(path: str, limit: int) -> bytes | None:
    """The bytes of ``path``, or None when it holds more than ``limit`` bytes.

    A regular file's size is checked first; a pipe or a device is read in blocks and never
    past ``limit`` (so ``/dev/zero`` ends, and nothing larger than what is read is allocated).
    """
    with open(path, "rb") as file:
        info = os.fstat(file.fileno())
        if os.path.isfile(path) and info.st_size > limit:
            return None
        chunks, total = [], 0
        while total <= limit:
            block = file.read(min(1 << 20, limit + 1 - total))
            if not block:
                break
            chunks.append(block)
            total += len(block)
    return None if total > limit else b"".join(chunks)


def read_json(path: str) -> Any:
    """Parse the JSON file ``path``; :class:`InputError` naming it when it is unreadable, too large or too deep.

    ``NaN`` and ``Infinity`` parse as floats (the schema then names the field holding them).
    """
    try:
        if not os.path.isfile(path):
            raise InputError(f"{path}: not a regular file")
        raw = read_capped(path, MAX_JSON_BYTES)
    except OSError as error:
        raise InputError(f"{path}: cannot read it ({error.strerror})") from None
    if raw is None:
        raise InputError(f"{path}: larger than {MAX_JSON_BYTES >> 20} MiB; not a file rnnkit wrote")
    try:
        return json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise InputError(f"{path}: not a readable rnnkit file (its JSON is nested too deeply)") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise InputError(f"{path}: not a readable rnnkit file ({error})") from None


def options_spec(cls: type) -> Obj:
    """The schema of a command's options as saved in a config (``dataclasses.asdict`` of ``cls``).

    Types, bounds and choices come from the dataclass fields; every key is optional, so a
    config saved before an option existed still reads (its default applies).
    """
    hints = typing.get_type_hints(cls)
    keys = {}
    for f in dataclasses.fields(cls):
        args = typing.get_args(hints[f.name])
        kind = next((a for a in args if a is not type(None)), hints[f.name])
        meta = f.metadata
        if kind is bool:
            spec: Any = Bool()
        elif kind is int:
            spec = Int(int(meta["minimum"]) if meta["minimum"] is not None else -(1 << 63),
                       int(meta["maximum"]) if meta["maximum"] is not None else (1 << 64) - 1)
        elif kind is float:
            spec = Float(meta["minimum"] if meta["minimum"] is not None else -math.inf,
                         meta["maximum"] if meta["maximum"] is not None else math.inf, meta["below"], meta["above"])
        else:
            spec = Str(choices=meta["choices"])
        keys[f.name] = Null(spec) if type(None) in args or f.default is None else spec
    return Obj(keys, optional=frozenset(keys))


def charlm_shapes(model: dict) -> dict[str, tuple[int, ...]]:
    """Every weight's shape implied by a character model's config, in ``state_dict`` order (no allocation).

    Args:
        model: the ``model`` entry of the config (vocab_size, cell, layers, hidden, embed).
    """
    V, cell, L, H, E = (model[k] for k in ("vocab_size", "cell", "layers", "hidden", "embed"))
    G = GATES[cell]
    shapes = {"embedding.weight": (V, E)}
    for layer in range(L):
        shapes[f"rnn.weight_ih_l{layer}"] = (G * H, E if layer == 0 else H)
        shapes[f"rnn.weight_hh_l{layer}"] = (G * H, H)
        shapes[f"rnn.bias_ih_l{layer}"] = (G * H,)
        shapes[f"rnn.bias_hh_l{layer}"] = (G * H,)
    shapes["head.weight"], shapes["head.bias"] = (V, H), (V,)
    return shapes


def forecast_shapes(model: dict) -> dict[str, tuple[int, ...]]:
    """Every weight's shape implied by a forecaster's config, in order: ``members`` networks of ``cell``
    with D ``inputs``, ``hidden`` K, ``window`` W, ``targets`` C, ``horizon`` H and ``future`` F
    (:class:`rnnkit.forecast.network.ForecastEnsemble`)."""
    G, K = GATES[model["cell"]], model["hidden"]
    D, W, C, H, F = (model[k] for k in ("inputs", "window", "targets", "horizon", "future"))
    shapes = {}
    for e in range(model["members"]):
        p = f"members.{e}."
        shapes.update({p + "rnn.weight_ih_l0": (G * K, D), p + "rnn.weight_hh_l0": (G * K, K),
                       p + "rnn.bias_ih_l0": (G * K,), p + "rnn.bias_hh_l0": (G * K,),
                       p + "head.weight": (H * C, K), p + "head.bias": (H * C,),
                       p + "skip.weight": (H * C, W * C + H * F), p + "skip.bias": (H * C,)})
    return shapes


def charlm_parameter_count(model: dict) -> int:
    """The number of weights of :func:`charlm_shapes`, by formula (no per-layer work, so any size is cheap)."""
    V, cell, L, H, E = (model[k] for k in ("vocab_size", "cell", "layers", "hidden", "embed"))
    G = GATES[cell]
    first = G * H * (E + H + 2)  # weight_ih (G*H, E), weight_hh (G*H, H), two biases (G*H,)
    return V * E + first + (L - 1) * G * H * (2 * H + 2) + V * H + V

