"""What every ``rnnkit`` command that writes a run directory shares: one refusal rule and one way to report.

The refusal rule: a command writes into ``--out DIR`` when ``DIR`` does not exist or is empty;
a directory that already holds files is refused unless ``--overwrite`` is given (then the
command's own files are replaced and anything else in the directory is left alone) or the
command continues what is there (``train --resume``).

:class:`Reporter` prints a command's progress and result as text for people, or with
``--json`` as one JSON object per line on stdout (``{"event": "progress", ...}`` while it
runs, ``{"event": "result", ...}`` at the end); ``--quiet`` keeps only the result. Notices
(a missing optional package, say) go to stderr, each one once.

Example:
    >>> report = Reporter(json=True)
    >>> report.result("done", steps=3)
    {"event": "result", "message": "done", "steps": 3}
"""

from __future__ import annotations

import json as _json
import math
import os
import sys
from typing import Any, TextIO

from rnnkit.cli.options import InputError

__all__ = ["claim_out", "Reporter"]


def claim_out(directory: str, *, overwrite: bool, flag: str = "--out") -> None:
    """Apply the refusal rule to ``directory`` and create it.

    Raises:
        InputError: ``directory`` is a file, or holds files and ``overwrite`` is false.
    """
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise InputError(f"{flag} {directory}: is a file, expected a directory")
    if os.path.isdir(directory) and os.listdir(directory) and not overwrite:
        raise InputError(f"{flag} {directory}: already holds files; pass --overwrite to replace them "
                         f"or choose another {flag}")
    os.makedirs(directory, exist_ok=True)


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays made JSON-ready; a non-finite float is an error."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"cannot report the non-finite value {value} as JSON")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Reporter:
    """Progress and result of one command, as text (default) or JSON lines (``json=True``).

    Args:
        json: print one JSON object per line on ``stream`` instead of text.
        quiet: print only the result (and errors).
        stream: where progress and the result go (default: stdout).
    """

    def __init__(self, json: bool = False, quiet: bool = False, stream: TextIO | None = None):
        self.json = json
        self.quiet = quiet
        self.stream = stream
        self._noticed: set[str] = set()

    def _emit(self, event: str, message: str, fields: dict[str, Any]) -> None:
        stream = self.stream or sys.stdout
        if self.json:
            line = _json.dumps({"event": event, "message": message, **_plain(fields)}, allow_nan=False)
            print(line, file=stream, flush=True)
        else:
            print(message, file=stream, flush=True)

    def progress(self, message: str, **fields: Any) -> None:
        """A line of progress (suppressed by ``quiet``)."""
        if not self.quiet:
            self._emit("progress", message, fields)

    def result(self, message: str, **fields: Any) -> None:
        """The command's result: always printed."""
        self._emit("result", message, fields)

    def notice(self, message: str) -> None:
        """A notice on stderr, printed the first time only (``quiet`` does not hide it)."""
        if message not in self._noticed:
            self._noticed.add(message)
            print(message, file=sys.stderr, flush=True)
