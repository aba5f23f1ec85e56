"""What every ``rnnkit`` command that writes a run directory shares: one writer, one refusal rule, one way to report.

One writer: :func:`lock` holds an exclusive OS lock on ``DIR/.rnnkit.lock`` (``fcntl.flock``
on POSIX, ``msvcrt.locking`` on Windows; the OS releases it when the process ends, however it
ends) for as long as a command writes ``DIR``. A second writer is refused with the PID of the
holder. Taking the lock also removes what a killed writer left behind: hidden temporary
files and directories (``.tmp-*``, ``.trash-*``, ``.*.tmp``).

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

import contextlib
import errno
import json as _json
import math
import os
import re
import shutil
import sys
from typing import Any, Iterator, TextIO

from rnnkit.cli.options import InputError

__all__ = ["claim_out", "lock", "remove_leftovers", "Reporter", "LOCK_FILE"]

LOCK_FILE = ".rnnkit.lock"  # in every run directory being written; never counts as content
_LEFTOVER = re.compile(r"\.(tmp|trash)-.*|\..*\.tmp")  # temporary names of atomic writes and commits


def claim_out(directory: str, *, overwrite: bool, flag: str = "--out") -> None:
    """Apply the refusal rule to ``directory`` and create it.

    Raises:
        InputError: ``directory`` is a file, or holds files and ``overwrite`` is false.
    """
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise InputError(f"{flag} {directory}: is a file, expected a directory")
    if os.path.isdir(directory) and set(os.listdir(directory)) - {LOCK_FILE} and not overwrite:
        raise InputError(f"{flag} {directory}: already holds files; pass --overwrite to replace them "
                         f"or choose another {flag}")
    os.makedirs(directory, exist_ok=True)


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on the open file ``fd`` without waiting; False if another process holds it."""
    try:
        if os.name == "nt":
            import msvcrt

            os.lseek(fd, 1 << 20, os.SEEK_SET)  # lock a byte past the PID, which must stay readable
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
            return False
        raise
    return True


def _unlock(fd: int) -> None:
    if os.name == "nt":
        import msvcrt

        os.lseek(fd, 1 << 20, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


def remove_leftovers(directory: str) -> list[str]:
    """Remove the hidden temporary files and directories of killed writers from ``directory``; their names.

    Call only while holding :func:`lock` on ``directory`` (then no live writer owns them).
    """
    removed = []
    for name in sorted(os.listdir(directory)):
        if _LEFTOVER.fullmatch(name):
            path = os.path.join(directory, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            removed.append(name)
    return removed


@contextlib.contextmanager
def lock(directory: str, *, flag: str = "--out") -> Iterator[None]:
    """Hold the one-writer lock of run directory ``directory`` (created if missing) while the block runs.

    On entry the leftovers of killed writers are removed (:func:`remove_leftovers`). A
    directory this call created and that holds nothing afterwards is removed again, so a
    command that fails before writing leaves nothing behind.

    Raises:
        InputError: ``directory`` is a file, or another process holds the lock (its PID is named).

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> with lock(d):
        ...     with lock(d):
        ...         pass
        Traceback (most recent call last):
        rnnkit.cli.options.InputError: --out ...: another rnnkit process (PID ...) is writing to it; ...
    """
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise InputError(f"{flag} {directory}: is a file, expected a directory")
    created = not os.path.isdir(directory)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
    try:
        if not _try_lock(fd):
            os.lseek(fd, 0, os.SEEK_SET)
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            raise InputError(f"{flag} {directory}: another rnnkit process (PID {holder}) is writing to it; "
                             f"wait for it to finish or choose another {flag}")
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            remove_leftovers(directory)
            yield
        finally:
            if created and os.listdir(directory) == [LOCK_FILE]:
                with contextlib.suppress(OSError):
                    os.unlink(path)
                    os.rmdir(directory)
            _unlock(fd)
    finally:
        os.close(fd)


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
