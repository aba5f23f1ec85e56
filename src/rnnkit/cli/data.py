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
import string
import sysconfig

import numpy as np

from rnnkit.cli.options import InputError
from rnnkit.cli.schema import read_capped

__all__ = ["stdlib_corpus", "prose", "read_text", "Vocab", "split", "batchify", "window", "num_windows", "sha256"]

TEXT_LIMIT = 256 << 20  # bytes of --text read at most (a pipe or device is never read past it)

# Parts of the standard library that are not documentation: tests, demos, vendored code.
_SKIP_DIRS = {"test", "tests", "idlesrc", "idlelib", "lib2to3", "turtledemo", "pydoc_data", "site-packages",
              "dist-packages", "__pycache__", "ensurepip", "venv"}
_MIN_WORDS = 6  # a kept paragraph has at least this many words (shorter ones are mostly labels)


def stdlib_corpus() -> tuple[str, str]:
    """The English prose of the local Python standard library's docstrings, in a fixed order.

    Every Python installation has these texts, so the main job runs with no download and
    no third-party text in the repository. Modules are read in sorted path order, nodes in
    ``ast.walk`` order (module, classes, functions); nothing is imported or executed. Only
    the paragraphs that :func:`prose` keeps are used (no code, doctests, argument tables or
    markup), each once, so that a few minutes of training give recognisable sentences.

    Returns:
        ``(text, source)``: the corpus (paragraphs joined by blank lines) and a description.
    """
    root = sysconfig.get_paths()["stdlib"]
    files = []
    for directory, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith(("test", "config-")))
        files += [os.path.join(directory, n) for n in names if n.endswith(".py") and not n.startswith("test")]
    paragraphs: dict[str, None] = {}  # insertion-ordered set: each paragraph once
    for path in sorted(files):
        try:
            with open(path, "rb") as file:
                tree = ast.parse(file.read())
        except (SyntaxError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    paragraphs.update(dict.fromkeys(prose(doc)))
    if not paragraphs:
        raise InputError(f"found no docstrings in the standard library at {root}; pass --text FILE")
    source = f"the prose of the Python {platform.python_version()} standard library's docstrings ({root})"
    return "\n\n".join(paragraphs) + "\n", source


_PROSE_CHARS = frozenset(string.ascii_letters + string.digits + " \n.,;:'!?-\"()")
_MARKUP = str.maketrans("", "", "*`")  # emphasis and literal marks: the words stay


def prose(doc: str) -> list[str]:
    """The paragraphs of a docstring that read as English prose.

    A paragraph (lines between blank lines) is kept when it has at least one sentence of
    words: no indented line (code, argument tables, doctest output), no bullet list, no ``>>>``, no reST
    directive or ``::``, no section header alone (``Args:``), only letters, digits, spaces
    and ordinary punctuation once ``*`` and backquotes are removed, and at least
    :data:`_MIN_WORDS` words with a full stop.

    Example:
        >>> prose("Return the sum.\\n\\n>>> add(1, 2)\\n3\\n\\nArgs:\\n    a: a number\\n\\nIt adds *a* and b, "
        ...       "then returns the total to the caller.")
        ['It adds a and b, then returns the total to the caller.']
    """
    kept = []
    for paragraph in doc.split("\n\n"):
        lines = [line.rstrip() for line in paragraph.strip("\n").splitlines()]
        text = "\n".join(lines).translate(_MARKUP).strip()
        if (not text or any(line[:1].isspace() or line.startswith(("* ", "- ")) for line in lines) or ">>>" in text or "::" in text
                or text.startswith("..") or not set(text) <= _PROSE_CHARS or "." not in text
                or len(text.split()) < _MIN_WORDS or "--" in text or "__" in paragraph):
            continue
        kept.append(text)
    return kept


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
