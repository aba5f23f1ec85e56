"""Safe checkpoint IO: safetensors files written atomically, and nothing ever unpickled.

- :func:`save` / :func:`load`: a state dict (``{name: array}``, PyTorch's names) to and from
  a ``.safetensors`` file that ``safetensors.torch.load_file`` and
  ``torch.nn.Module.load_state_dict`` accept as they are.
- :func:`flatten_optimizer_state` / :func:`unflatten_optimizer_state`: an optimizer's
  ``state_dict()`` as ``{str: ndarray}`` plus JSON-able metadata and back;
  :func:`save_optimizer_state` / :func:`load_optimizer_state` store it in one safetensors file.
- :func:`atomic_write_bytes` / :func:`atomic_write_text`: write a temporary file in the
  target's directory, fsync it, then ``os.replace`` it over the target, so a crash or an
  error mid-write leaves the old file intact.

Example:
    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> save({"weight_ih_l0": np.ones((4, 2), np.float32)}, path, metadata={"epoch": "3"})
    >>> load(path)["weight_ih_l0"].shape, load_metadata(path)
    ((4, 2), {'epoch': '3'})
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import secrets
import stat
from collections.abc import Mapping
from typing import Any

import numpy as np
import safetensors.numpy

__all__ = [
    "save", "load", "load_metadata", "read_header", "to_bytes", "read_safetensors", "atomic_write_bytes",
    "atomic_write_text", "write_new", "fsync_directory",
    "flatten_optimizer_state", "unflatten_optimizer_state", "save_optimizer_state", "load_optimizer_state",
    "safe_globals", "add_safe_globals", "get_safe_globals", "clear_safe_globals",
]

_OPTIMIZER_FORMAT = "rnnkit.optim.state_dict/1"  # the value of metadata["format"] for optimizer states
_OPTIMIZER_METADATA_KEY = "rnnkit.optimizer"  # safetensors metadata entry holding the optimizer JSON


# -- atomic writes -------------------------------------------------------------------------
def atomic_write_bytes(path: str | os.PathLike, data: bytes | bytearray | memoryview) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same directory, fsync, ``os.replace``.

    Either the whole new content is at ``path`` afterwards or (on any error, including
    KeyboardInterrupt) the previous file is untouched and the temp file is removed.

    Args:
        path: the destination file; its directory must exist.
        data: the bytes to write.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path!r}: directory {directory!r} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot write {path!r}: it is a directory")
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    try:
        write_new(tmp, data)
        os.replace(tmp, path)
    except OSError as error:  # e.g. "No space left on device" or a read-only directory: name the target
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _naming(error, path) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(directory)


def write_new(path: str, data: bytes | bytearray | memoryview) -> None:
    """Create ``path`` (it must not exist), write all of ``data`` and fsync it; an OSError names ``path``."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as error:
        raise _naming(error, path) from None
    try:
        view = memoryview(data).cast("B")
        while view:  # os.write may write fewer bytes than asked
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as error:  # an error from os.write carries no file name
        raise _naming(error, path) from None
    finally:
        os.close(fd)


def _naming(error: OSError, path: str) -> OSError:
    """``error`` naming ``path`` (an OS error such as ENOSPC from ``os.write`` carries no file name)."""
    if error.errno is None or error.filename == path:
        return error
    return OSError(error.errno, error.strerror, path)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    atomic_write_bytes(path, text.encode(encoding))


def fsync_directory(directory: str) -> None:
    """Persist a directory's entries, e.g. a rename (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- tensors -------------------------------------------------------------------------------
def _to_numpy(name: str, value: Any) -> np.ndarray:
    """An ndarray from an ndarray, an rnnkit Tensor/Parameter (``.data``) or a torch tensor (``.numpy()``)."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(getattr(value, "data", None), np.ndarray):
        return value.numpy()
    if hasattr(value, "numpy"):
        value = value.detach() if hasattr(value, "detach") else value
        return np.asarray(value.numpy())
    raise TypeError(f"state dict entry {name!r} must be an array or tensor, got {type(value).__name__}")


def _as_arrays(obj: Any) -> dict[str, np.ndarray]:
    """``{name: contiguous ndarray}`` from a state dict or from a module (``.state_dict()``)."""
    if not isinstance(obj, Mapping) and callable(getattr(obj, "state_dict", None)):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise TypeError(f"obj must be a state dict (mapping str -> array) or a module, got {type(obj).__name__}")
    arrays = {}
    for name, value in obj.items():
        if not isinstance(name, str):
            raise TypeError(f"state dict keys must be str, got {type(name).__name__} {name!r}")
        arrays[name] = np.ascontiguousarray(_to_numpy(name, value))
    return arrays


def _check_metadata(metadata: Any) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise TypeError(f"metadata must be a dict of str -> str (JSON-encode other values), got {metadata!r}")
    return dict(metadata)


def to_bytes(obj: Any, metadata: Mapping[str, str] | None = None) -> bytes:
    """A state dict (or a module's) as the bytes of a safetensors file (see :func:`save`).

    Example:
        >>> import numpy as np, safetensors.numpy
        >>> safetensors.numpy.load(to_bytes({"w": np.arange(2.0)}))
        {'w': array([0., 1.])}
    """
    arrays = _as_arrays(obj)
    meta = _check_metadata(metadata)
    try:
        return safetensors.numpy.save(arrays, metadata=meta)
    except Exception as error:  # e.g. an unsupported dtype; safetensors names it
        raise TypeError(f"cannot save the arrays as safetensors: {error}") from None


def save(obj: Any, path: str | os.PathLike, metadata: Mapping[str, str] | None = None) -> None:
    """Save a state dict (or a module's) as a safetensors file, atomically.

    Args:
        obj: ``{name: array}`` (ndarrays, rnnkit Tensors/Parameters or torch tensors) or an
            object with ``.state_dict()`` such as an ``rnnkit.nn.Module``.
        path: destination file (conventionally ``*.safetensors``).
        metadata: optional ``{str: str}`` stored in the file's header.

    Example:
        >>> import numpy as np, os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> save({"w": np.arange(3.0)}, path)
        >>> load(path)
        {'w': array([0., 1., 2.])}
    """
    atomic_write_bytes(path, to_bytes(obj, metadata))


_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "I64": 8, "U64": 8, "I32": 4, "U32": 4, "I16": 2, "U16": 2, "I8": 1,
             "U8": 1, "BOOL": 1, "C64": 8}  # the safetensors dtypes NumPy can hold, and their sizes in bytes
_NO_NUMPY_DTYPE = {"BF16": "bfloat16", "F8_E4M3": "float8 e4m3", "F8_E5M2": "float8 e5m2",
                   "F8_E8M0": "float8 e8m0", "F4": "float4", "F6_E2M3": "float6", "F6_E3M2": "float6"}
MAX_HEADER_BYTES = 100_000_000  # the largest header safetensors itself accepts


def _diagnose(prefix: bytes, size: int) -> str:
    """Why a file starting with ``prefix`` (of ``size`` bytes in all) is not safetensors ("" if not obvious)."""
    if size == 0:
        return "the file is empty (0 bytes)"
    if prefix[:1] == b"\x80" and len(prefix) > 1 and prefix[1] <= 5:
        return "it looks like a Python pickle (e.g. a legacy torch.save file); rnnkit never unpickles files"
    if prefix.startswith(b"PK\x03\x04"):
        return "it looks like a zip archive (e.g. a torch.save file); rnnkit never unpickles files"
    if size < 8:
        return f"it is too short ({size} bytes) to hold a safetensors header; it may be truncated"
    header_len = int.from_bytes(prefix[:8], "little")
    if header_len > size - 8:
        if prefix[8:9] in (b"{", b"") and header_len < MAX_HEADER_BYTES:
            return f"it is truncated: the header declares {header_len} bytes but only {size - 8} follow"
        return "it does not start with a safetensors header"
    return ""


def _open_regular(path: str) -> tuple[int, int]:
    """Open ``path`` for reading without blocking: ``(fd, size)``; only a regular file is accepted."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory, expected a .safetensors file")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)  # a FIFO must not block
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path!r}") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ValueError(f"{path!r}: cannot open it: a loop of symbolic links") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else
                "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else
                "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file")
        raise ValueError(f"{path!r} is {kind}, expected a regular .safetensors file")
    return fd, info.st_size


def _read_exactly(fd: int, count: int, path: str) -> bytes:
    """``count`` bytes from ``fd`` (a file that shrinks meanwhile is reported, not waited for)."""
    chunks, left = [], count
    while left:
        chunk = os.read(fd, min(left, 1 << 24))
        if not chunk:
            raise ValueError(f"{path!r}: the file shrank while it was being read")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _reject_constant(name: str) -> float:
    raise ValueError(f"the header holds {name}, which JSON does not allow")


def _check_header(header: Any, available: int) -> tuple[dict[str, tuple[str, tuple[int, ...]]], dict[str, str]]:
    """Validate a parsed safetensors header against the ``available`` bytes of tensor data.

    Returns ``({name: (dtype, shape)}, metadata)``; raises ValueError naming the first problem.
    """
    if not isinstance(header, dict):
        raise ValueError(f"the header is a JSON {type(header).__name__}, expected an object")
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        raise ValueError("the header's __metadata__ is not a mapping of str to str")
    entries, spans = {}, []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            raise ValueError(f"tensor {name!r}: expected dtype, shape and data_offsets in the header")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype in _NO_NUMPY_DTYPE:
            raise ValueError(f"tensor {name!r} is stored as {dtype} ({_NO_NUMPY_DTYPE[dtype]}), which NumPy cannot "
                             "hold; convert the file to F32 first (in torch: {k: v.float() for k, v in "
                             "safetensors.torch.load_file(path).items()})")
        if dtype not in _ITEMSIZE:
            raise ValueError(f"tensor {name!r} has the unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise ValueError(f"tensor {name!r}: shape {shape!r} is not a list of non-negative ints")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(n) is int for n in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise ValueError(f"tensor {name!r}: data_offsets {offsets!r} is not [begin, end] with begin <= end")
        claimed = math.prod(shape) * _ITEMSIZE[dtype]
        if offsets[1] - offsets[0] != claimed:
            raise ValueError(f"tensor {name!r}: {dtype} of shape {tuple(shape)} needs {claimed} bytes, its "
                             f"data_offsets span {offsets[1] - offsets[0]}")
        if offsets[1] > available:
            raise ValueError(f"it is truncated: the header describes {offsets[1]} bytes of data but only "
                             f"{available} follow")
        entries[name] = (dtype, tuple(shape))
        spans.append((offsets[0], offsets[1], name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise ValueError(f"tensor {name!r}: its data starts at byte {begin}, expected {position} "
                             "(overlapping or with a gap)")
        position = end
    if position != available:
        raise ValueError(f"the header describes {position} bytes of data but {available} follow")
    return entries, dict(metadata)


def _read_checked(path: str, *, data: bool) -> tuple[dict, dict[str, str], bytes | None]:
    """Open, check and parse the header of a safetensors file; read its tensor data when ``data``.

    The file type (regular), the header's length, JSON and every entry's dtype, shape and
    offsets are checked against the file's size before any tensor data is read, so nothing
    is allocated beyond what the file holds and nothing waits on a FIFO or a device.
    """
    fd, size = _open_regular(path)
    try:
        prefix = _read_exactly(fd, min(size, 9), path)
        reason = _diagnose(prefix, size)
        header_len = int.from_bytes(prefix[:8], "little") if size >= 8 else 0
        if not reason and header_len > MAX_HEADER_BYTES:
            reason = f"its header claims {header_len} bytes, more than safetensors allows ({MAX_HEADER_BYTES})"
        if not reason:
            os.lseek(fd, 8, os.SEEK_SET)
            raw = _read_exactly(fd, header_len, path)
            try:
                header = json.loads(raw, parse_constant=_reject_constant)
                entries, metadata = _check_header(header, size - 8 - header_len)
            except RecursionError:
                reason = "its header is nested too deeply"
            except (ValueError, UnicodeDecodeError) as error:
                reason = str(error) if not isinstance(error, json.JSONDecodeError) else f"its header is not JSON ({error})"
        if reason:
            raise ValueError(f"{path!r} is not a valid safetensors file ({size} bytes): {reason}")
        body = None
        if data:
            os.lseek(fd, 0, os.SEEK_SET)
            body = _read_exactly(fd, size, path)
        return entries, metadata, body
    finally:
        os.close(fd)


def read_header(path: str | os.PathLike) -> tuple[dict[str, tuple[str, tuple[int, ...]]], dict[str, str]]:
    """The tensors a safetensors file declares, ``{name: (dtype, shape)}``, and its metadata, without reading data.

    The header is validated as by :func:`load`; use this to check shapes before allocating.

    Example:
        >>> import numpy as np, os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> save({"w": np.zeros((2, 3), np.float32)}, path)
        >>> read_header(path)
        ({'w': ('F32', (2, 3))}, {})
    """
    entries, metadata, _ = _read_checked(os.fspath(path), data=False)
    return entries, metadata


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read and validate a safetensors file: ``(arrays, metadata)``; clear errors otherwise.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a directory.
        ValueError: not a regular file (a FIFO, a device), a loop of symbolic links, or not a
            valid safetensors file (empty, truncated, a pickle, a header whose claims the file
            cannot back, a dtype NumPy cannot hold such as BF16); the message names the path.
    """
    path = os.fspath(path)
    _, metadata, data = _read_checked(path, data=True)
    try:
        arrays = safetensors.numpy.load(data)
    except Exception as error:  # SafetensorError: anything the checks above did not anticipate
        raise ValueError(f"{path!r} is not a valid safetensors file ({len(data)} bytes): "
                         f"safetensors says: {error}") from None
    return arrays, metadata


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load a safetensors file as ``{name: ndarray}`` (nothing in the file is executed).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is empty, truncated, a pickle / torch.save archive or otherwise not
            safetensors; the message names the path and the problem.
    """
    return read_safetensors(path)[0]


def load_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``{str: str}`` metadata stored by :func:`save` (``{}`` if none); validates the file as :func:`load`."""
    return read_safetensors(path)[1]


# -- optimizer state -----------------------------------------------------------------------
def _jsonable(value: Any, where: str) -> Any:
    """A JSON-able copy of a group option or state scalar (tuples become lists)."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, where) for v in value]
    raise TypeError(f"{where} must be a number, string, bool, None or a list of them, got {type(value).__name__}")


def flatten_optimizer_state(state_dict: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split an optimizer ``state_dict()`` into safetensors arrays and JSON-able metadata.

    Arrays become ``tensors["state/<index>/<name>"]``; everything else (``param_groups``
    and scalar state such as ``step``) goes into ``metadata``. Inverse:
    :func:`unflatten_optimizer_state`.

    Args:
        state_dict: ``{"state": {index: {name: value}}, "param_groups": [...]}``.

    Returns:
        ``(tensors, metadata)``: ``{str: ndarray}`` and a dict that ``json.dumps`` accepts.

    Example:
        >>> import numpy as np
        >>> sd = {"state": {0: {"step": 3, "exp_avg": np.zeros(2)}},
        ...       "param_groups": [{"lr": 0.1, "betas": (0.9, 0.99), "params": [0]}]}
        >>> tensors, meta = flatten_optimizer_state(sd)
        >>> sorted(tensors), meta["scalars"]
        (['state/0/exp_avg'], {'0': {'step': 3}})
        >>> unflatten_optimizer_state(tensors, meta)["param_groups"][0]["betas"]
        (0.9, 0.99)
    """
    missing = [k for k in ("state", "param_groups") if k not in state_dict]
    if missing:
        raise ValueError(f"state_dict is missing {missing}; expected an optimizer state_dict()")
    tensors: dict[str, np.ndarray] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, pstate in state_dict["state"].items():
        scalars[str(int(index))] = {}
        for name, value in pstate.items():
            where = f"state_dict['state'][{index}][{name!r}]"
            if isinstance(value, np.ndarray) or hasattr(value, "numpy"):
                tensors[f"state/{int(index)}/{name}"] = np.ascontiguousarray(_to_numpy(where, value))
            else:
                scalars[str(int(index))][name] = _jsonable(value, where)
    groups = [
        {key: _jsonable(value, f"param_groups[{i}][{key!r}]") for key, value in group.items()}
        for i, group in enumerate(state_dict["param_groups"])
    ]
    return tensors, {"format": _OPTIMIZER_FORMAT, "param_groups": groups, "scalars": scalars}


def unflatten_optimizer_state(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuild an optimizer ``state_dict()`` from :func:`flatten_optimizer_state`'s output.

    Group options that were tuples (e.g. ``betas``) come back as tuples; ``params`` stays a list.
    """
    if not isinstance(metadata, Mapping) or metadata.get("format") != _OPTIMIZER_FORMAT:
        raise ValueError(f"metadata is not an rnnkit optimizer state (expected format {_OPTIMIZER_FORMAT!r})")
    state: dict[int, dict[str, Any]] = {int(i): dict(values) for i, values in metadata["scalars"].items()}
    for key, array in tensors.items():
        prefix, sep, rest = key.partition("/")
        index, sep2, name = rest.partition("/")
        if prefix != "state" or not sep or not sep2 or not index.isdigit():
            raise ValueError(f"unexpected optimizer tensor name {key!r}; expected 'state/<index>/<name>'")
        state.setdefault(int(index), {})[name] = array
    groups = [
        {key: (tuple(value) if isinstance(value, list) and key != "params" else value) for key, value in group.items()}
        for group in metadata["param_groups"]
    ]
    return {"state": dict(sorted(state.items())), "param_groups": groups}


def save_optimizer_state(
    optimizer_or_state_dict: Any, path: str | os.PathLike, metadata: Mapping[str, str] | None = None
) -> None:
    """Save an optimizer (or its ``state_dict()``) as one safetensors file, atomically, without pickle.

    Args:
        optimizer_or_state_dict: an :class:`rnnkit.optim.Optimizer` or its ``state_dict()``.
        path: destination file.
        metadata: extra ``{str: str}`` entries for the header (e.g. a scheduler's
            ``json.dumps(scheduler.state_dict())``).

    Example:
        >>> import numpy as np, os, tempfile
        >>> from types import SimpleNamespace
        >>> from rnnkit.optim import Adam
        >>> p = SimpleNamespace(data=np.ones(2), grad=np.ones(2))
        >>> opt = Adam([p]); opt.step()
        >>> path = os.path.join(tempfile.mkdtemp(), "optim.safetensors")
        >>> save_optimizer_state(opt, path)
        >>> load_optimizer_state(path)["state"][0]["step"]
        1
    """
    state_dict = optimizer_or_state_dict
    if callable(getattr(state_dict, "state_dict", None)):
        state_dict = state_dict.state_dict()
    tensors, meta = flatten_optimizer_state(state_dict)
    header = _check_metadata(metadata) or {}
    if _OPTIMIZER_METADATA_KEY in header:
        raise ValueError(f"metadata must not use the reserved key {_OPTIMIZER_METADATA_KEY!r}")
    header[_OPTIMIZER_METADATA_KEY] = json.dumps(meta)
    save(tensors, path, metadata=header)


def load_optimizer_state(path: str | os.PathLike) -> dict[str, Any]:
    """Load a file written by :func:`save_optimizer_state` as an optimizer ``state_dict()``."""
    tensors, header = read_safetensors(path)
    if _OPTIMIZER_METADATA_KEY not in header:
        raise ValueError(f"{os.fspath(path)!r} holds no optimizer state (no {_OPTIMIZER_METADATA_KEY!r} metadata)")
    try:
        meta = json.loads(header[_OPTIMIZER_METADATA_KEY])
    except json.JSONDecodeError as error:
        raise ValueError(f"{os.fspath(path)!r} has corrupt optimizer metadata: {error}") from None
    return unflatten_optimizer_state(tensors, meta)


# torch.serialization's allow-list API for rnnkit.load (kept in its own module)
from rnnkit._safe_globals import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals  # noqa: E402
