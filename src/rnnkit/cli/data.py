"""Text for the character model: the default corpus, the vocabulary and truncated-BPTT batches.

Batching follows the classic char-rnn / PyTorch ``word_language_model`` scheme. The
training ids are cut into B equal streams (``batchify``); window ``k`` is the columns
``[k*T, (k+1)*T)`` of every stream, with targets shifted by one character. Consecutive
windows continue each stream, so the hidden state at the end of window ``k`` is the right
start for window ``k+1`` (it is carried, detached). Step ``s`` reads window ``s mod K``;
the state is reset at window 0. The data position is therefore a function of the step,
which is what makes resuming exact.

Shapes: B batch (streams), T window length, L stream length, K windows per pass.

Example:
    >>> vocab = Vocab.from_text("hello world")
    >>> ids = vocab.encode("hello world")
    >>> streams = batchify(ids, 2)
    >>> x, y = window(streams, 1, 2)
    >>> vocab.decode(x[0]), vocab.decode(y[0])
    ('ll', 'lo')
"""

from __future__ import annotations

import ast
import hashlib
import os
import platform
import sysconfig

import numpy as np

from rnnkit.cli.options import InputError
from rnnkit.cli.schema import read_capped

__all__ = ["stdlib_corpus", "read_text", "Vocab", "split", "batchify", "window", "num_windows", "sha256"]

TEXT_LIMIT = 256 << 20  # bytes of --text read at most (a pipe or device is never read past it)

# Parts of the standard library that are not documentation: tests, demos, vendored code.
_SKIP_DIRS = {"test", "tests", "idlesrc", "idlelib", "lib2to3", "turtledemo", "pydoc_data", "site-packages",
              "dist-packages", "__pycache__", "ensurepip", "venv"}


def stdlib_corpus() -> tuple[str, str]:
    """The docstrings of the local Python standard library, in a fixed order.

    Modules are read in sorted path order, nodes in ``ast.walk`` order (module, classes,
    functions); docstrings that are not pure ASCII are left out to keep the alphabet small.
    Nothing is imported or executed.

    Returns:
        ``(text, source)``: the corpus (docstrings joined by blank lines) and a description.
    """
    root = sysconfig.get_paths()["stdlib"]
    files = []
    for directory, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith(("test", "config-")))
        files += [os.path.join(directory, n) for n in names if n.endswith(".py") and not n.startswith("test")]
    docs = []
    for path in sorted(files):
        try:
            with open(path, "rb") as file:
                tree = ast.parse(file.read())
        except (SyntaxError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and doc.isascii():
                    docs.append(doc)
    if not docs:
        raise InputError(f"found no docstrings in the standard library at {root}; pass --text FILE")
    source = f"docstrings of the Python {platform.python_version()} standard library ({root})"
    return "\n\n".join(docs) + "\n", source


def read_text(path: str, limit: int = TEXT_LIMIT) -> str:
    """Read a UTF-8 text file of at most ``limit`` bytes; :class:`InputError` if it is missing, unreadable,
    empty or larger.

    A pipe or a device (``--text <(zcat corpus.gz)``) is read up to the limit, never past it,
    so ``/dev/zero`` is refused instead of filling the memory.
    """
    if not os.path.exists(path):
        raise InputError(f"--text {path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"--text {path}: is a directory, expected a text file")
    try:
        raw = read_capped(path, limit)
    except OSError as error:
        raise InputError(f"--text {path}: cannot read it ({error.strerror})") from None
    if raw is None:
        raise InputError(f"--text {path}: larger than {limit >> 20} MiB, the most a character model is trained on "
                         "here; pass a shorter excerpt")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"--text {path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    if not text.strip():
        raise InputError(f"--text {path}: the file is empty")
    return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as text-mode open


def sha256(text: str) -> str:
    """Hex digest of the UTF-8 text (recorded in checkpoints to recognise the corpus)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Vocab:
    """The characters of a text, sorted, and their ids.

    Args:
        chars: the alphabet as a string of distinct characters.
    """

    def __init__(self, chars: str):
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def missing(self, text: str) -> str:
        """The characters of ``text`` that are not in the alphabet (sorted, distinct)."""
        return "".join(sorted(set(text) - set(self.chars)))

    def encode(self, text: str) -> np.ndarray:
        """``text`` -> ids (N,) int64; every character must be in the alphabet."""
        return np.fromiter((self.index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def split(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Chronological split: the last ``val_fraction`` of the ids is held out."""
    n_val = max(1, int(round(len(ids) * val_fraction)))
    return ids[: len(ids) - n_val], ids[len(ids) - n_val :]


def batchify(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """Cut ``ids`` (N,) into ``batch_size`` consecutive streams (B, L), L = N // B (the tail is dropped)."""
    length = len(ids) // batch_size
    return ids[: length * batch_size].reshape(batch_size, length)  # (B, L)


def num_windows(streams: np.ndarray, seq_len: int) -> int:
    """K: how many whole windows of ``seq_len`` (plus the shifted target) fit in each stream."""
    return (streams.shape[1] - 1) // seq_len


def window(streams: np.ndarray, k: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Window ``k``: inputs x (B, T) and next-character targets y (B, T)."""
    start = k * seq_len
    x = streams[:, start : start + seq_len]  # (B, T)
    y = streams[:, start + 1 : start + seq_len + 1]  # (B, T)
    return x, y
