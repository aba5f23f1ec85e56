"""The ``rnnkit`` command: ``train``, ``sample``, ``forecast``, ``lab``, ``inspect`` and ``bench``.

Each sub-command's options are a dataclass in :mod:`rnnkit.cli.options` (the ``--help``
text and the validation come from it) and its work is a ``run(opts, ...)`` function in the
module of the same name. Bad input (:class:`~rnnkit.cli.options.InputError`) is reported as
one line on stderr with exit status 2, never a traceback.

Example:
    >>> from rnnkit.cli import main
    >>> main(["inspect", "/no/such/dir"])
    2
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

from rnnkit.cli.options import InputError, build_parser, parse

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run ``rnnkit`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit status.

    Status: 0 done, 1 the run failed (a non-finite loss, an unwritable file), 2 bad input,
    130 interrupted by Ctrl-C.
    """
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    if argv[:1] == ["bench"]:
        return _bench(argv[1:])
    try:
        command, opts, given = parse(build_parser(), argv)
    except SystemExit as stop:  # argparse: --help (0) or a usage error (2), already printed
        return int(stop.code or 0)
    except InputError as error:
        return _fail(argv[0] if argv else "", error, 2)
    try:
        module = importlib.import_module(f"rnnkit.cli.{command}")
        return module.run(opts, given) if command == "train" else module.run(opts)
    except InputError as error:
        return _fail(command, error, 2)
    except KeyboardInterrupt:
        print(f"rnnkit {command}: interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # e.g. a full disk or a read-only --out
        return _fail(command, f"{error.strerror or error}: {error.filename or ''}".rstrip(": "), 1)


def _fail(command: str, message: object, status: int) -> int:
    print(f"rnnkit {command}: error: {message}", file=sys.stderr)
    return status


def _bench(argv: list[str]) -> int:
    """Hand over to :func:`rnnkit.bench.main` (written separately; absent in some installations)."""
    if importlib.util.find_spec("rnnkit.bench") is None:
        print("rnnkit bench: error: the benchmark module rnnkit.bench is not available in this installation",
              file=sys.stderr)
        return 2
    try:
        status = importlib.import_module("rnnkit.bench").main(argv)
    except SystemExit as stop:  # its argparse: --help or a usage error
        status = stop.code
    return int(status or 0)
