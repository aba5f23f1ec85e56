"""The ``rnnkit`` command: ``train``, ``sample``, ``forecast``, ``lab``, ``inspect`` and ``bench``.

Each sub-command's options are a dataclass in :mod:`rnnkit.cli.options` (the ``--help``
text and the validation come from it) and its work is a ``run(opts, ...)`` function in the
module of the same name. Bad input (:class:`~rnnkit.cli.options.InputError`, raised for bad
arguments and for run-directory files that break their schema) is reported as one line on
stderr with exit status 2. Nothing else shows a traceback either: a failed write (a full disk,
a read-only directory) is one line naming the file, exit 1; an unexpected internal error is one
line with a hint to report it, exit 1, and ``--debug`` (anywhere on the command line) shows its
traceback.

Example:
    >>> from rnnkit.cli import main
    >>> main(["inspect", "/no/such/dir"])
    2
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from pathlib import Path

from rnnkit.cli.options import InputError, RunError, build_parser, parse

__all__ = ["main"]

BENCH_SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "bench.py"  # src/rnnkit/cli -> checkout


def main(argv: list[str] | None = None) -> int:
    """Run ``rnnkit`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit status.

    Status: 0 done, 1 the run failed (a non-finite loss, an unwritable file), 2 bad input,
    130 interrupted by Ctrl-C.
    """
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
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
    except RunError as error:
        return _fail(command, error, 1)
    except KeyboardInterrupt:
        print(f"rnnkit {command}: interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # e.g. a full disk or a read-only --out
        return _fail(command, f"{error.strerror or error}: {error.filename or ''}".rstrip(": "), 1)
    except MemoryError:
        return _fail(command, "out of memory; try a smaller model or batch", 1)
    except Exception as error:  # a bug: one line and a way to report it, the traceback under --debug
        if debug:
            traceback.print_exc()
        hint = "" if debug else "; rerun with --debug for the traceback"
        return _fail(command, f"internal error: {type(error).__name__}: {error} (this is a bug in rnnkit: please "
                              f"report it on the rnnkit issue tracker with the command line{hint})", 1)


def _fail(command: str, message: object, status: int) -> int:
    print(f"rnnkit {command}: error: {message}", file=sys.stderr)
    return status


def _bench(argv: list[str], script: Path | None = None) -> int:
    """Hand over to ``benchmarks/bench.py`` of the source checkout this rnnkit runs from (the
    benchmark needs torch and is not part of the installed package); say so where it is absent."""
    script = script or BENCH_SCRIPT
    if not script.is_file():
        print(f"rnnkit bench: error: the benchmark is not part of the installed package; run "
              f"python benchmarks/bench.py from a source checkout (looked for {script})", file=sys.stderr)
        return 2
    spec = importlib.util.spec_from_file_location("rnnkit_benchmark", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    try:
        status = module.main(argv)
    except SystemExit as stop:  # its argparse: --help or a usage error
        status = stop.code
    return int(status or 0)
