"""The options of every ``rnnkit`` command, one dataclass per command.

Each field is declared with :func:`option`, whose ``help`` is the one comment on that
default: :func:`build_parser` turns the fields into argparse options (``--seq-len`` for
``seq_len``), the ``--help`` text is derived from them (with the default), and
:func:`make` validates the values against the bounds and choices declared here.

Example:
    >>> parser = build_parser()
    >>> command, opts, given = parse(parser, ["train", "--cell", "gru", "--steps", "50"])
    >>> command, opts.cell, opts.steps, opts.layers, sorted(given)
    ('train', 'gru', 50, 2, ['cell', 'steps'])
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from rnnkit import __version__

__all__ = [
    "InputError", "RunError", "option", "TrainOptions", "SampleOptions", "ForecastOptions", "LabOptions",
    "InspectOptions", "BenchOptions", "OnnxOptions", "EvalOptions", "COMMANDS", "build_parser", "parse", "make",
]

CELLS = ("lstm", "gru", "rnn")
SEED_MAX = 2**64 - 1  # seeds are 0 .. 2**64 - 1, as torch.manual_seed


class InputError(Exception):
    """Bad input from the user: ``rnnkit`` prints the message as one line and exits with status 2."""


class RunError(Exception):
    """A run that failed on good input (a non-finite result, say): one line, exit status 1."""


def option(default: Any, help: str, *, flag: str | None = None, choices: tuple | None = None,
           positional: bool = False, minimum: float | None = None, above: float | None = None,
           maximum: float | None = None, below: float | None = None, group: str | None = None,
           metavar: str | None = None) -> Any:
    """A dataclass field carrying its command-line description.

    Args:
        default: the default value (None: not set).
        help: the one comment on this option, shown by ``--help`` with the default.
        flag: the option string, ``--field-name`` by default.
        choices: the allowed values.
        positional: an argument without a flag (``rnnkit sample DIR``).
        minimum, above, maximum, below: bounds checked by :func:`make` (>=, >, <=, <).
        group: options sharing a group name are mutually exclusive (``--steps | --minutes``).
        metavar: the name shown in usage.
    """
    meta = dict(help=help, flag=flag, choices=choices, positional=positional, minimum=minimum, above=above,
                maximum=maximum, below=below, group=group, metavar=metavar)
    return field(default=default, metadata=meta)


@dataclass
class TrainOptions:
    """``rnnkit train``: a character-level language model with truncated BPTT."""

    text: str | None = option(
        None, "training text (UTF-8); default: the prose of this Python's standard-library docstrings",
        metavar="FILE")
    cell: str = option("lstm", "recurrent cell", choices=CELLS)
    layers: int = option(2, "stacked recurrent layers (with --minutes: planned for the budget when not given)",
                         minimum=1)
    hidden: int = option(192, "hidden units per layer (with --minutes: planned when not given)", minimum=1)
    embed: int = option(48, "character embedding size (with --minutes: planned when not given)", minimum=1)
    seq_len: int = option(
        64, "characters per truncated-BPTT window (the hidden state carries across windows)", minimum=1)
    batch_size: int = option(
        32, "parallel streams through the text (with --minutes: planned when not given)", minimum=1)
    lr: float = option(3e-3, "peak learning rate of AdamW", above=0)
    warmup: float = option(
        0.02, "fraction of the run (steps or minutes) over which the learning rate rises linearly to --lr",
        minimum=0, below=1)
    decay: str = option(
        "cosine", "after warm-up: cosine decay to --lr/10 exactly when the run ends, or constant",
        choices=("cosine", "constant"))
    dropout: float = option(
        0.0, "dropout on embeddings, between layers and before the output (with --minutes: planned when not "
        "given)", minimum=0, below=1)
    weight_decay: float = option(
        0.0, "AdamW's decoupled weight decay (with --minutes: planned when not given)",
        minimum=0)
    clip: float = option(1.0, "clip the gradient's total norm to this (0: no clipping)", minimum=0)
    steps: int | None = option(
        600, "total optimizer steps (with --resume: the total, not the extra)", minimum=1, group="duration")
    minutes: float | None = option(
        None, "wall-clock budget in minutes, final evaluation included: the model, batch and schedule are "
        "planned for it (with --resume: the total, not the extra)", above=0, group="duration")
    val_fraction: float = option(
        0.05, "fraction of the text, at its end, held out for validation", above=0, below=0.5)
    eval_every: int | None = option(
        None, "steps between validation (bits per character), a sample and a checkpoint (default: 100, or a "
        "tenth of the --minutes budget)", minimum=1)
    seed: int = option(1337, "random seed (initialisation, dropout, sampling)", minimum=0, maximum=SEED_MAX)
    out: str = option(
        "runs/charlm", "output directory for the checkpoint, metrics.csv and loss.png", metavar="DIR")
    resume: bool = option(
        False, "continue the checkpoint in --out (the options not given default to the checkpoint's)")
    overwrite: bool = option(False, "replace what --out holds (refused otherwise when it holds files)")
    json: bool = option(False, "print progress and the result as JSON lines on stdout")
    quiet: bool = option(False, "print only the result")


@dataclass
class SampleOptions:
    """``rnnkit sample``: stream text from a trained model, one character at a time."""

    dir: str = option(None, "directory written by `rnnkit train`", positional=True, metavar="DIR")
    prompt: str = option("", "text to start from (fed once, then generation continues from its state)")
    length: int = option(500, "characters to generate after the prompt", minimum=0)
    temperature: float = option(
        0.8, "softmax temperature (lower: more conservative; 0: always the most likely character)", minimum=0)
    top_k: int = option(0, "sample among the k most likely characters only (0: all)", minimum=0)
    top_p: float = option(
        1.0, "sample among the most likely characters whose probabilities add up to p (1: all)", above=0,
        maximum=1)
    seed: int | None = option(None, "random seed for sampling (default: unpredictable)", minimum=0, maximum=SEED_MAX)
    onnx: str | None = option(
        None, "run this ONNX export of the model (from `rnnkit onnx DIR FILE`) in ONNX Runtime instead of rnnkit",
        metavar="FILE")


@dataclass
class EvalOptions:
    """``rnnkit eval``: bits per character of a trained character model on a text."""

    dir: str = option(None, "directory written by `rnnkit train`", positional=True, metavar="DIR")
    text: str = option(None, "the text to score (UTF-8; required)", metavar="FILE")
    json: bool = option(False, "print the result as a JSON line on stdout")


@dataclass
class ForecastOptions:
    """``rnnkit forecast``: forecast CSV series with a recurrent network; backtest it against baselines."""

    csv: str = option(None, "CSV file with a header row (long format with --id)", positional=True, metavar="CSV")
    column: str | None = option(
        None, "column(s) to forecast, comma-separated (default: the only numeric column)", metavar="NAMES")
    time: str | None = option(
        None, "time column (default: the column that parses as dates; without one, the row order)", metavar="NAME")
    id: str | None = option(
        None, "series-id column of a long-format CSV: one global model for every series", metavar="NAME")
    covariates: str | None = option(
        None, "past covariates: comma-separated columns the model reads but does not forecast", metavar="NAMES")
    known: str | None = option(
        None, "known future covariates: comma-separated columns; rows after the targets end give their future",
        metavar="NAMES")
    no_calendar: bool = option(False, "no calendar features of the dates as known future covariates")
    fill: str = option(
        "interpolate", "missing values and gaps: interpolate, ffill, drop (the rows) or error",
        choices=("interpolate", "ffill", "drop", "error"))
    horizon: int = option(12, "steps ahead forecast at once", minimum=1)
    window: int = option(0, "past steps the model reads (0: max(2 x season, horizon, 8))", minimum=0)
    season: int = option(0, "seasonal period (0: detect it from the autocorrelation)", minimum=0)
    normalize: str = option(
        "auto", "window normalisation: scale (per window), season (seasonal differences), profile (deviations "
        "from a fitted trend plus seasonal means) or auto (the best on the validation tail)",
        choices=("auto", "scale", "season", "profile"))
    cell: str = option("gru", "recurrent cell", choices=CELLS)
    hidden: int = option(32, "hidden units", minimum=1)
    epochs: int = option(100, "most epochs (early stopping on the validation tail usually ends sooner)", minimum=1)
    patience: int = option(10, "epochs without a better validation score before stopping", minimum=1)
    batch_size: int = option(32, "windows per optimizer step", minimum=1)
    lr: float = option(3e-3, "Adam learning rate", above=0)
    ensemble: int = option(1, "networks per mode (seeds seed, seed+1, ...); their forecasts are averaged", minimum=1)
    level: float = option(0.9, "coverage of the prediction interval", above=0, below=1)
    backtest: int = option(0, "rolling-origin backtest over K origins before forecasting (0: none)", minimum=0)
    step: int = option(0, "steps between backtest origins (0: the horizon)", minimum=0)
    references: str = option(
        "auto", "statistical references of the backtest: auto (AutoETS and AutoARIMA when installed), none, or "
        "a comma-separated list")
    load: str | None = option(
        None, "forecast CSV with the model saved in this run directory, without training", metavar="RUN")
    dask: str | None = option(
        None, "Dask scheduler address that runs the fits ('local': a local cluster of --jobs workers)",
        metavar="SCHEDULER")
    jobs: int = option(1, "worker processes of a local Dask cluster (more than 1 starts one)", minimum=1)
    seed: int = option(0, "random seed", minimum=0, maximum=SEED_MAX)
    out: str | None = option(
        None, "output directory (default: runs/forecast; with --load: RUN/forecast)", metavar="DIR")
    overwrite: bool = option(False, "replace the files of a non-empty --out")
    json: bool = option(False, "print JSON lines on stdout")
    quiet: bool = option(False, "print only the result")


@dataclass
class LabOptions:
    """``rnnkit lab``: the long-time-lag experiments of Hochreiter & Schmidhuber (1997), cells side by side."""

    task: str = option(
        None, "adding (sum of two marked numbers), reber (embedded Reber grammar), copy (recall symbols after "
        "a gap), order (temporal order of two symbols), lag (noise-free long time lag)", positional=True,
        metavar="TASK")
    seq_len: str | None = option(
        None, "sequence length T, or a comma-separated list for a sweep (default: adding 100, reber 14, copy a "
        "gap of 10, order 40, lag p=15; with --paper: the paper's)", metavar="T[,T...]")
    cells: str = option(
        "rnn,lstm,gru", "comma-separated cells to compare (hidden sizes chosen to match parameter counts)")
    params: int | None = option(
        None, "target parameter count of every model, recurrent layer and output (default: the task's: 2000, "
        "copy 6000, lag 10000)", minimum=50)
    steps: int | None = option(
        None, "most optimizer steps per run; a run stops early once solved (default: the task's; with --paper "
        "the paper's budget of sequences)", minimum=1)
    batch_size: int = option(32, "sequences per step", minimum=1)
    lr: float | None = option(None, "Adam learning rate (default: the task's, 0.01)", above=0)
    lstm_init: str = option(
        "chrono", "the LSTM's gate biases: chrono (forget bias log U(1, T-1), input bias its negative; Tallec & "
        "Ollivier 2018) or forget1 (forget bias +1)", choices=("chrono", "forget1"))
    lstm_activation: str | None = option(
        None, "the LSTM's activation, Keras's LSTM `activation` argument: g_t = act(z_g), h_t = o_t act(c_t); "
        "linear (Keras's activation=None) is the cell output h(s) = s of the 1997 paper's task 2a (default: the "
        "task's: tanh, lag linear)", choices=("tanh", "linear"))
    seed: int = option(0, "random seed (the same data for every cell)", minimum=0, maximum=SEED_MAX)
    paper: bool = option(
        False, "run the paper's protocol: its lengths, its stopping criterion, --seeds seeds, and print its numbers "
        "beside the measured ones")
    seeds: int = option(3, "seeds per cell and length with --paper", minimum=1)
    out: str | None = option(None, "output directory (default: runs/lab-TASK)", metavar="DIR")
    overwrite: bool = option(False, "replace the files of a previous run in --out")
    json: bool = option(False, "print progress and the result as JSON lines")
    quiet: bool = option(False, "print only the result")


@dataclass
class InspectOptions:
    """``rnnkit inspect``: a saved model's architecture, parameters and training metadata."""

    dir: str = option(
        None, "directory written by `rnnkit train` or `rnnkit forecast`", positional=True, metavar="DIR")
    sample: int = option(200, "characters of a sample from a character model (0: none)", minimum=0)
    seed: int = option(0, "random seed of that sample", minimum=0, maximum=SEED_MAX)


@dataclass
class BenchOptions:
    """``rnnkit bench``: the engine-vs-torch benchmark (its own options: `rnnkit bench --help`)."""


@dataclass
class OnnxOptions:
    """``rnnkit onnx``: export a trained model (character model or forecaster) to an ONNX file."""

    dir: str = option(None, "directory written by `rnnkit train` or `rnnkit forecast`", positional=True, metavar="DIR")
    out: str = option(None, "the ONNX file to write", positional=True, metavar="OUT")
    opset: int = option(17, "ONNX opset to write", minimum=7)
    overwrite: bool = option(False, "replace OUT if it exists")
    json: bool = option(False, "print the result as a JSON line")
    quiet: bool = option(False, "print only the result")


COMMANDS: dict[str, type] = {
    "train": TrainOptions, "sample": SampleOptions, "forecast": ForecastOptions, "lab": LabOptions,
    "inspect": InspectOptions, "bench": BenchOptions, "onnx": OnnxOptions, "eval": EvalOptions,
}


def _value_type(cls: type, f: dataclasses.Field) -> type:
    """The scalar type of a field (``int`` for ``int | None``)."""
    hint = typing.get_type_hints(cls)[f.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def _help(f: dataclasses.Field) -> str:
    """The option's comment, with its default when it has one worth showing."""
    if f.default is None or isinstance(f.default, bool) or f.metadata["positional"]:
        return f.metadata["help"]
    return f"{f.metadata['help']} (default: {f.default})"


_METAVARS = {int: "N", float: "X", str: "TEXT"}


def _add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    groups: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        meta, kind = f.metadata, _value_type(cls, f)
        target = parser
        if meta["group"]:
            if meta["group"] not in groups:
                groups[meta["group"]] = parser.add_mutually_exclusive_group()
            target = groups[meta["group"]]
        if meta["positional"]:
            target.add_argument(f.name, help=_help(f), metavar=meta["metavar"], choices=meta["choices"])
            continue
        flag = meta["flag"] or "--" + f.name.replace("_", "-")
        if kind is bool:
            target.add_argument(flag, dest=f.name, action="store_true", help=_help(f))
        else:
            extra = {"action": _Once} if meta["metavar"] == "NAMES" else {}
            target.add_argument(flag, dest=f.name, type=kind, choices=meta["choices"], help=_help(f),
                                metavar=meta["metavar"] or (None if meta["choices"] else _METAVARS.get(kind)),
                                **extra)


class _Once(argparse.Action):
    """A comma-separated list option given twice is refused (argparse would keep only the last)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if self.dest in namespace:
            parser.error(f"argument {option_string}: given twice; list several names in one, separated by "
                         f"commas ({option_string} a,b)")
        setattr(namespace, self.dest, values)


def build_parser() -> argparse.ArgumentParser:
    """The ``rnnkit`` parser: one sub-command per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="rnnkit", description="Train, sample and study recurrent networks (RNN, LSTM, GRU) on NumPy.",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an internal error (accepted anywhere on the command line)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, cls in COMMANDS.items():
        summary = (cls.__doc__ or "").split(": ", 1)[-1].strip()
        command = sub.add_parser(name, help=summary, description=summary, argument_default=argparse.SUPPRESS,
                                 add_help=name != "bench")
        _add_arguments(command, cls)
    return parser


_REQUIRED = {(EvalOptions, "text")}  # flagged options that must be given


def make(cls: type, values: dict[str, Any]) -> Any:
    """Build and validate ``cls(**values)``; raise :class:`InputError` naming the bad option."""
    opts = cls(**values)
    for f in dataclasses.fields(cls):
        value, meta = getattr(opts, f.name), f.metadata
        name = f.name if meta["positional"] else "--" + f.name.replace("_", "-")
        if value is None:
            if meta["positional"] or (cls, f.name) in _REQUIRED:
                raise InputError(f"{name} is required")
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{name}: expected a finite number, got {value}")
        for bound, test, words in (("minimum", lambda v, b: v >= b, ">="), ("above", lambda v, b: v > b, ">"),
                                   ("maximum", lambda v, b: v <= b, "<="), ("below", lambda v, b: v < b, "<")):
            if meta[bound] is not None and not test(value, meta[bound]):
                raise InputError(f"{name}: expected a value {words} {meta[bound]}, got {value}")
    return opts


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[str, Any, set[str]]:
    """Parse ``argv`` into ``(command, options, given)``; ``given`` names the options set explicitly."""
    namespace = vars(parser.parse_args(argv))
    command = namespace.pop("command")
    cls = COMMANDS[command]
    given = set(namespace)
    if "minutes" in given and "steps" not in given:
        namespace["steps"] = None  # --minutes replaces the default step count
    return command, make(cls, namespace), given
