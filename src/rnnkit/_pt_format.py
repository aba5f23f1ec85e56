"""PyTorch's checkpoint format (``torch.save``'s zip with a pickle inside), read and written without
ever running code from a file.

Reading uses an unpickler whose only globals are the ones ``torch.load(weights_only=True)``
allows (``torch/_weights_only_unpickler.py``), each mapped to an rnnkit stand-in that rebuilds
tensors and containers; any other global is refused by name, unless the caller allows its
class with :func:`safe_globals` / :func:`add_safe_globals`, as in torch. Writing produces the
same layout (``archive/data.pkl``, ``archive/data/<key>``, ``byteorder``, ``version``), so
real ``torch.load(f, weights_only=True)`` reads rnnkit's files. NumPy arrays are written as
tensors (torch reads them as tensors) and listed in an extra record, ``rnnkit_ndarrays``, which
torch ignores, so that ``rnnkit.load`` gives them back as arrays: the structure that was saved.

A whole module is saved as ``{"rnnkit.module": qualified class name, "args", "kwargs",
"state_dict"}`` (its constructor arguments are recorded when it is built); loading rebuilds it
only when its class was allowed with :func:`safe_globals`.

Example:
    >>> import io, rnnkit
    >>> buffer = io.BytesIO()
    >>> rnnkit.save({"epoch": 3, "w": rnnkit.ones(2)}, buffer)
    >>> _ = buffer.seek(0)
    >>> rnnkit.load(buffer)
    {'epoch': 3, 'w': tensor([1., 1.])}
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from collections import Counter, OrderedDict
from typing import Any

import numpy as np

from rnnkit import _dtype
from rnnkit._safe_globals import allowed
from rnnkit._tensor import Tensor, array_of

__all__ = ["save", "load"]

# torch's legacy storage class per dtype (the storage type names the element type in the file)
_STORAGES = {
    "float32": "FloatStorage", "float64": "DoubleStorage", "float16": "HalfStorage", "int64": "LongStorage",
    "int32": "IntStorage", "int16": "ShortStorage", "int8": "CharStorage", "uint8": "ByteStorage",
    "bool": "BoolStorage",
}
_STORAGE_DTYPES = {name: np.dtype(dtype) for dtype, name in _STORAGES.items()}
_MODULE_KEY = "rnnkit.module"  # marks a whole saved module
_NDARRAYS = "rnnkit_ndarrays"  # the record listing the storage keys that were saved from NumPy arrays

# The names torch.load(weights_only=True) allows that rnnkit cannot rebuild (sparse, quantized, ...)
_ALLOWED_UNSUPPORTED = {
    "torch._utils._rebuild_qtensor", "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_nested_tensor",
    "torch._utils._rebuild_meta_tensor_no_storage", "torch._utils._rebuild_wrapper_subclass",
    "torch._utils._rebuild_device_tensor_from_numpy", "torch._utils._rebuild_device_tensor_from_cpu_tensor",
    "torch.serialization._get_layout", "torch.per_tensor_affine", "torch.per_tensor_symmetric",
    "torch.per_channel_affine", "torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams",
    "torch.BFloat16Storage", "torch.ComplexFloatStorage", "torch.ComplexDoubleStorage", "torch.QInt8Storage",
    "torch.QUInt8Storage", "torch.QInt32Storage", "torch.QUInt4x2Storage", "torch.QUInt2x4Storage",
    "torch.bfloat16", "torch.complex64", "torch.complex128",
}


class _StorageType:
    """What a storage class name (``torch.FloatStorage``) resolves to: its element dtype."""

    def __init__(self, name: str):
        self.name, self.dtype = name, _STORAGE_DTYPES[name]


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple, stride: tuple) -> Tensor:
    if not size:
        return Tensor._wrap(storage[offset : offset + 1].reshape(()).copy())
    if any(s < 0 for s in stride):
        raise pickle.UnpicklingError(f"_rebuild_tensor: negative stride {stride}")
    end = offset + 1 + sum((n - 1) * s for n, s in zip(size, stride) if n > 0)
    if 0 in size:
        return Tensor._wrap(np.zeros(size, storage.dtype))
    if offset < 0 or end > storage.size:
        raise pickle.UnpicklingError(f"_rebuild_tensor: a view of {end} elements of a storage of {storage.size}")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * storage.itemsize for s in stride), writeable=False
    )
    return Tensor._wrap(np.array(view))


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks, metadata=None) -> Tensor:
    out = _rebuild_tensor(storage, offset, size, stride)
    if requires_grad:
        out.requires_grad_(True)
    return out


def _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None):
    return _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks, metadata)


def _rebuild_parameter(data: Tensor, requires_grad: bool, backward_hooks: Any):
    from rnnkit.nn import Parameter

    return Parameter(data, requires_grad=requires_grad)


def _rebuild_parameter_with_state(data: Tensor, requires_grad: bool, backward_hooks: Any, state: Any):
    if state:
        raise pickle.UnpicklingError("a Parameter with extra Python attributes cannot be rebuilt by rnnkit")
    return _rebuild_parameter(data, requires_grad, backward_hooks)


def _rebuild_from_type_v2(func: Any, new_type: Any, args: tuple, state: Any):
    out = func(*args)
    if state:
        raise pickle.UnpicklingError("a tensor with extra Python attributes cannot be rebuilt by rnnkit")
    return out


def _encode(text: str, encoding: str = "latin1") -> bytes:  # _codecs.encode, as protocol 2 stores bytes
    if not isinstance(text, str):
        raise pickle.UnpicklingError("_codecs.encode: expected a str")
    return text.encode(encoding)


def _torch_globals() -> dict[str, Any]:
    """torch's weights-only allow-list, each name mapped to what rebuilds it in rnnkit."""
    from rnnkit.nn import Parameter

    table: dict[str, Any] = {
        "collections.OrderedDict": OrderedDict, "collections.Counter": Counter,
        "torch.nn.parameter.Parameter": Parameter, "torch.Size": tuple, "torch.Tensor": Tensor,
        "torch.device": _dtype.device, "_codecs.encode": _encode, "builtins.bytearray": bytearray,
        "builtins.set": set, "builtins.complex": complex,
        "torch._utils._rebuild_tensor": _rebuild_tensor, "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
        "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
        "torch._utils._rebuild_parameter": _rebuild_parameter,
        "torch._utils._rebuild_parameter_with_state": _rebuild_parameter_with_state,
        "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
    }
    table.update({f"torch.{name}": d for name, d in _dtype.DTYPES.items() if name == d.name})
    table.update({f"torch.{name}": _StorageType(name) for name in _STORAGE_DTYPES})
    return table


class _Unpickler(pickle.Unpickler):
    """Resolves only allowed globals; storages come from the zip's ``data/`` records."""

    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str, map_location: Any, swap: bool,
                 ndarray_keys: frozenset[str] = frozenset()):
        super().__init__(file, encoding="utf-8")
        self.archive, self.prefix, self.map_location, self.swap = archive, prefix, map_location, swap
        self.table = _torch_globals()
        self.table["torch._utils._rebuild_tensor_v2"] = self._rebuild_tensor_v2
        self.storages: dict[str, np.ndarray] = {}
        self.ndarray_keys = ndarray_keys
        self.ndarray_storages: set[int] = set()  # ids of the storages that were saved from ndarrays

    def _rebuild_tensor_v2(self, storage, offset, size, stride, requires_grad, backward_hooks, metadata=None):
        """torch's rebuild; an ndarray again where rnnkit saved one."""
        out = _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks, metadata)
        return array_of(out) if id(storage) in self.ndarray_storages else out

    def find_class(self, module: str, name: str) -> Any:
        full = f"{'builtins' if module == '__builtin__' else module}.{name}"  # protocol 2's Python 2 name
        if full in self.table:
            return self.table[full]
        if allowed(full) is not None:
            return allowed(full)
        if full in _ALLOWED_UNSUPPORTED:
            raise pickle.UnpicklingError(
                f"rnnkit.load: the file needs {full}, which torch allows but rnnkit cannot rebuild "
                "(sparse, quantized, bfloat16 or complex tensors)"
            )
        raise pickle.UnpicklingError(
            f"rnnkit.load(weights_only=True) refused the global {full!r}: only tensors and containers are "
            "rebuilt, nothing in a file is run. If you trust this file and the class is yours, allow it with "
            f"rnnkit.serialization.safe_globals([{name}])"
        )

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"rnnkit.load: unknown persistent id {pid!r}")
        _, storage_type, key, location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"rnnkit.load: unsupported storage type {storage_type!r}")
        if str(location).startswith(("cuda", "mps", "xpu")) and self.map_location is None:
            raise RuntimeError(
                f"rnnkit.load: the file's tensors were saved on {location!r}; rnnkit runs on the CPU only: "
                "pass map_location='cpu' (as torch asks on a machine without that device)"
            )
        key = str(key)
        if key not in self.storages:
            raw = _read_record(self.archive, f"{self.prefix}/data/{key}")
            if not isinstance(numel, int) or len(raw) < numel * storage_type.dtype.itemsize:
                raise pickle.UnpicklingError(f"rnnkit.load: storage {key} holds fewer than the {numel} elements declared")
            array = np.frombuffer(raw, dtype=storage_type.dtype.newbyteorder(">" if self.swap else "<"))
            self.storages[key] = array.astype(storage_type.dtype)
            if key in self.ndarray_keys:
                self.ndarray_storages.add(id(self.storages[key]))
        return self.storages[key]


def _open_archive(f: Any) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(f)
    except zipfile.BadZipFile:
        raise ValueError(
            "rnnkit.load: not a zip checkpoint (torch.save's format since PyTorch 1.6); the legacy "
            "format is a bare pickle and is never loaded"
        ) from None


def _read_record(archive: zipfile.ZipFile, name: str) -> bytes:
    """One stored (uncompressed, as torch writes) record; a compressed one could expand without bound."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ValueError(f"rnnkit.load: the checkpoint has no record {name!r}") from None
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"rnnkit.load: record {name!r} is compressed; torch's checkpoints store records uncompressed")
    return archive.read(info)


def _load_zip(f: Any, map_location: Any) -> Any:
    if map_location is not None and not callable(map_location) and not isinstance(map_location, dict):
        _dtype.to_device(map_location, "map_location")
    with _open_archive(f) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"rnnkit.load: expected one <archive>/data.pkl in the zip, found {pickles}")
        prefix = pickles[0].split("/")[0]
        names = set(archive.namelist())
        order = _read_record(archive, f"{prefix}/byteorder").decode().strip() if f"{prefix}/byteorder" in names else "little"
        if order not in ("little", "big"):
            raise ValueError(f"rnnkit.load: unknown byteorder {order!r}")
        ndarray_keys = frozenset()
        if f"{prefix}/{_NDARRAYS}" in names:
            listed = json.loads(_read_record(archive, f"{prefix}/{_NDARRAYS}"))
            if not isinstance(listed, list) or not all(isinstance(k, str) for k in listed):
                raise ValueError(f"rnnkit.load: record {_NDARRAYS!r} must be a JSON list of storage keys")
            ndarray_keys = frozenset(listed)
        data = io.BytesIO(_read_record(archive, pickles[0]))
        return _Unpickler(data, archive, prefix, map_location, swap=order == "big", ndarray_keys=ndarray_keys).load()


class _StandIn:
    """A function pickled by name as a torch global (written without importing torch)."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args: Any) -> Any:  # pickle asks reduce functions to be callable; never called
        raise TypeError(f"{self.module}.{self.name} is only written into files")


_REBUILD = _StandIn("torch._utils", "_rebuild_tensor_v2")
_REBUILD_PARAMETER = _StandIn("torch._utils", "_rebuild_parameter")
_ORDERED_DICT = _StandIn("collections", "OrderedDict")


class _Pickler(pickle._Pickler):  # the pure-Python pickler: globals are written by name, never imported
    def __init__(self, file: Any, storages: dict[str, np.ndarray]):
        super().__init__(file, protocol=2)
        self.storages = storages
        self.ndarray_keys: list[str] = []  # the storages written from NumPy arrays

    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        if isinstance(obj, _dtype.dtype):
            obj = _StandIn("torch", obj.name)  # torch.float32, ... by name, as torch pickles dtypes
        if isinstance(obj, _StandIn):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
            return
        super().save(obj, save_persistent_id)

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, _Storage):
            return ("storage", _StandIn("torch", _STORAGES[obj.array.dtype.name]), obj.key, "cpu", obj.array.size)
        return None

    def reducer_override(self, obj: Any) -> Any:
        from rnnkit.nn import Module, Parameter

        if isinstance(obj, Parameter):
            return (_REBUILD_PARAMETER, (_plain_tensor(obj), obj.requires_grad, _ordered()))
        if isinstance(obj, np.ndarray):
            reduced = self._tensor(obj)
            self.ndarray_keys.append(reduced[1][0].key)
            return reduced
        if isinstance(obj, Tensor):
            return self._tensor(obj)
        if isinstance(obj, _dtype.device):
            return (_StandIn("torch", "device"), (str(obj),))
        if isinstance(obj, Module):
            raise TypeError("save: a module inside a structure; save model.state_dict() (or the module alone)")
        return NotImplemented

    def _tensor(self, obj: Any):
        array = array_of(obj)
        if array.dtype.name not in _STORAGES:
            raise TypeError(f"save: arrays of dtype {array.dtype} have no torch storage type")
        array = np.asarray(array, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
        key = str(len(self.storages))
        self.storages[key] = array
        requires_grad = bool(getattr(obj, "requires_grad", False))
        size = tuple(int(n) for n in array.shape)
        stride = tuple(int(np.prod(size[i + 1 :], dtype=np.int64)) for i in range(len(size)))
        return (_REBUILD, (_Storage(key, array), 0, size, stride, requires_grad, _ordered()))


def _ordered():
    return _OrderedDictValue()


class _OrderedDictValue:
    """An empty ``collections.OrderedDict()`` as torch writes backward hooks (pickled by name)."""

    def __reduce__(self):
        return (_ORDERED_DICT, ())


def _plain_tensor(p: Tensor) -> Tensor:
    return Tensor._wrap(array_of(p))


class _Storage:
    def __init__(self, key: str, array: np.ndarray):
        self.key, self.array = key, array


def _plain(obj: Any) -> Any:
    """NumPy scalars and dtypes inside containers as Python numbers and rnnkit dtypes (what torch can read)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.dtype) or isinstance(obj, type) and issubclass(obj, np.generic):
        return _dtype.to_dtype(obj)
    if isinstance(obj, dict):
        return type(obj)((k, _plain(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set)) and not hasattr(obj, "_fields"):
        return type(obj)(_plain(v) for v in obj)
    return obj


def _module_record(module: Any) -> dict:
    record = getattr(module, "_constructor", None)
    cls = type(module)
    if record is None:
        raise TypeError(f"save: {cls.__name__} did not record its constructor arguments; save its state_dict()")
    args, kwargs = record
    return {_MODULE_KEY: f"{cls.__module__}.{cls.__qualname__}", "args": list(args), "kwargs": dict(kwargs),
            "state_dict": OrderedDict(module.state_dict())}


def _build_module(record: dict) -> Any:
    name = record[_MODULE_KEY]
    cls = allowed(name)
    if cls is None:
        raise pickle.UnpicklingError(
            f"rnnkit.load: the file holds a whole {name} module; rnnkit builds it only from a class you allow: "
            f"with rnnkit.serialization.safe_globals([{name.rsplit('.', 1)[-1]}]): model = rnnkit.load(f)"
        )
    module = cls(*record["args"], **record["kwargs"])
    module.load_state_dict(record["state_dict"])
    return module


def _safetensors_path(f: Any) -> bool:
    return isinstance(f, (str, os.PathLike)) and os.fspath(f).endswith(".safetensors")


def save(obj: Any, f: Any, pickle_module: Any = None, pickle_protocol: int = 2,
         _use_new_zipfile_serialization: bool = True) -> None:
    """Save ``obj`` as ``torch.save`` does: to a path or a binary file object, in torch's zip format.

    ``obj`` may nest dicts, lists, tuples, sets, strings, numbers, Tensors, Parameters and
    ndarrays (written as tensors, so ``torch.load(f, weights_only=True)`` reads the file, and
    listed so that :func:`load` gives them back as ndarrays); a
    whole module is written with its constructor arguments and state_dict. A path is written
    atomically. A path ending in ``.safetensors`` gets a safetensors file of the state dict instead
    (see :func:`rnnkit.serialization.save`).

    Args:
        obj: what to save.
        f: a path or a file object opened for binary writing.
        pickle_module, pickle_protocol, _use_new_zipfile_serialization: torch's; only the
            defaults are accepted (rnnkit writes protocol 2 in the zip format, as torch does).
    """
    from rnnkit import serialization
    from rnnkit.nn import Module

    if pickle_module is not None or pickle_protocol != 2 or not _use_new_zipfile_serialization:
        raise ValueError("save: rnnkit writes torch's zip format with pickle protocol 2 only; drop these arguments")
    if _safetensors_path(f):
        serialization.save(obj, f)
        return
    if isinstance(obj, Module):
        obj = _module_record(obj)
    obj = _plain(obj)
    storages: dict[str, np.ndarray] = {}
    body = io.BytesIO()
    pickler = _Pickler(body, storages)
    pickler.dump(obj)
    stem = os.path.splitext(os.path.basename(os.fspath(f)))[0] if isinstance(f, (str, os.PathLike)) else "archive"
    prefix = stem if stem.isidentifier() else "archive"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{prefix}/data.pkl", body.getvalue())
        archive.writestr(f"{prefix}/byteorder", "little")
        for key, array in storages.items():
            archive.writestr(f"{prefix}/data/{key}", array.astype(array.dtype.newbyteorder("<")).tobytes())
        archive.writestr(f"{prefix}/version", "3\n")
        if pickler.ndarray_keys:
            archive.writestr(f"{prefix}/{_NDARRAYS}", json.dumps(pickler.ndarray_keys))
    if isinstance(f, (str, os.PathLike)):
        serialization.atomic_write_bytes(f, out.getvalue())
    elif hasattr(f, "write"):
        f.write(out.getvalue())
    else:
        raise TypeError(f"save(f): expected a path or a binary file object, got {type(f).__name__}")


def load(f: Any, map_location: Any = None, pickle_module: Any = None, *, weights_only: bool = True,
         mmap: bool | None = None, **pickle_load_args: Any) -> Any:
    """Load what :func:`save` or ``torch.save`` wrote, as ``torch.load(f, weights_only=True)`` does.

    Only tensors, parameters, containers, numbers and strings are rebuilt (torch's weights-only
    allow-list), plus classes allowed with :func:`rnnkit.serialization.safe_globals`; any other
    global in the file is refused by name and nothing in the file is run. A path ending in
    ``.safetensors`` gives its state dict as Tensors.

    Args:
        f: a path or a binary file object.
        map_location: None or the CPU (``"cpu"``, a device, a dict or a function, as torch);
            tensors saved on a GPU need it, as in torch on a machine without that GPU.
        weights_only: must be True: rnnkit never unpickles arbitrary objects.
        pickle_module, mmap: torch's; only their defaults are accepted.
    """
    from rnnkit import serialization

    if not weights_only:
        raise ValueError(
            "load(weights_only=False): rnnkit never runs code from a file; load with weights_only=True and allow "
            "your own classes with rnnkit.serialization.safe_globals([...])"
        )
    if pickle_module is not None or mmap or pickle_load_args:
        raise ValueError("load: pickle_module, mmap and pickle load arguments are not supported (no custom unpickling)")
    if _safetensors_path(f):
        return {k: Tensor._wrap(v) for k, v in serialization.load(f).items()}
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        fd, size = serialization._open_regular(path)  # never blocks on a FIFO or reads a device forever
        try:
            raw = serialization._read_exactly(fd, size, path)
        finally:
            os.close(fd)
        result = _load_zip(io.BytesIO(raw), map_location)
    elif hasattr(f, "read"):
        result = _load_zip(f if hasattr(f, "seek") else io.BytesIO(f.read()), map_location)
    else:
        raise TypeError(f"load(f): expected a path or a binary file object, got {type(f).__name__}")
    if isinstance(result, dict) and _MODULE_KEY in result:
        return _build_module(result)
    return result
