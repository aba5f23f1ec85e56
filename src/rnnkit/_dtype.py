"""dtypes and devices with PyTorch's names: ``rnnkit.float32``, ``rnnkit.long``, ``rnnkit.device``.

A :class:`dtype` wraps a NumPy dtype (``np.dtype(rnnkit.float32)`` is ``float32``, so it
can be handed to NumPy anywhere) and compares equal to it. The legacy type strings
(``"torch.FloatTensor"``) are the ones ``Tensor.type()`` returns in PyTorch, so programs
that compare them keep working. rnnkit computes on the CPU only: a :class:`device` may
name ``cuda`` (PyTorch programs build one before asking ``cuda.is_available()``), but
placing a tensor or module there raises :class:`RuntimeError` saying so.

Example:
    >>> import rnnkit
    >>> rnnkit.long, rnnkit.float == rnnkit.float32, rnnkit.tensor([1, 2]).dtype
    (rnnkit.int64, True, rnnkit.int64)
    >>> rnnkit.device("cpu")
    device(type='cpu')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "dtype", "device", "get_default_dtype", "set_default_dtype", "to_dtype", "to_device", "type_name",
    "dtype_from_type_name", "DTYPES", "set_default_device", "get_default_device", "float_dtype",
]


class dtype:
    """A tensor element type (``rnnkit.float32``, ``rnnkit.int64``, ...), as ``torch.dtype``.

    Args:
        name: the NumPy name (``"float32"``).
    """

    __slots__ = ("_numpy", "_legacy")

    def __init__(self, name: str, legacy: str):
        self._numpy = np.dtype(name)
        self._legacy = legacy

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype (this attribute is what lets NumPy accept a ``dtype`` anywhere)."""
        return self._numpy

    @property
    def is_floating_point(self) -> bool:
        return self._numpy.kind == "f"

    @property
    def is_complex(self) -> bool:
        return False

    @property
    def is_signed(self) -> bool:
        return self._numpy.kind in "fi"

    @property
    def itemsize(self) -> int:
        return self._numpy.itemsize

    @property
    def kind(self) -> str:
        """NumPy's kind letter ("f", "i", "u", "b")."""
        return self._numpy.kind

    @property
    def name(self) -> str:
        return self._numpy.name

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, dtype):
            return self._numpy == other._numpy
        try:
            return self._numpy == np.dtype(other)
        except TypeError:
            return NotImplemented

    def __hash__(self) -> int:
        return hash(self._numpy)

    def __repr__(self) -> str:
        return f"rnnkit.{self._numpy.name}"

    def __reduce__(self):
        return (to_dtype, (self._numpy.name,))


float16 = dtype("float16", "HalfTensor")
float32 = dtype("float32", "FloatTensor")
float64 = dtype("float64", "DoubleTensor")
int8 = dtype("int8", "CharTensor")
int16 = dtype("int16", "ShortTensor")
int32 = dtype("int32", "IntTensor")
int64 = dtype("int64", "LongTensor")
uint8 = dtype("uint8", "ByteTensor")
bool_ = dtype("bool", "BoolTensor")

# Every dtype by each name PyTorch gives it (rnnkit.float is rnnkit.float32, ...).
DTYPES: dict[str, dtype] = {
    "float16": float16, "half": float16, "float32": float32, "float": float32,
    "float64": float64, "double": float64, "int8": int8, "int16": int16, "short": int16,
    "int32": int32, "int": int32, "int64": int64, "long": int64, "uint8": uint8, "bool": bool_,
}
_BY_NUMPY = {d.dtype: d for d in DTYPES.values()}
_BY_LEGACY = {d._legacy: d for d in DTYPES.values()}


def to_dtype(value: Any, name: str = "dtype") -> dtype:
    """``value`` (an rnnkit dtype, a NumPy dtype or type, or a name) as an rnnkit :class:`dtype`."""
    if isinstance(value, dtype):
        return value
    if isinstance(value, str) and value in DTYPES:
        return DTYPES[value]
    try:
        resolved = np.dtype(value)
    except TypeError:
        resolved = None
    if value is None or resolved not in _BY_NUMPY:
        choices = ", ".join(sorted({repr(d) for d in DTYPES.values()}))
        raise TypeError(f"{name}: expected one of {choices}, got {value!r}")
    return _BY_NUMPY[resolved]


def type_name(d: Any) -> str:
    """PyTorch's legacy type string for a dtype: ``"torch.FloatTensor"`` for float32."""
    return "torch." + to_dtype(d)._legacy


def dtype_from_type_name(name: str) -> dtype:
    """The dtype of a legacy type string (``"torch.LongTensor"``, ``"rnnkit.LongTensor"`` or ``"LongTensor"``)."""
    if "cuda." in name:
        to_device("cuda", f"type({name!r})")
    short = name.rsplit(".", 1)[-1]
    if short not in _BY_LEGACY:
        raise TypeError(f"type: expected a tensor type name such as 'torch.FloatTensor', got {name!r}")
    return _BY_LEGACY[short]


@dataclass
class _Defaults:
    """PyTorch's process-wide defaults, held in one place (as torch holds them)."""

    dtype: dtype = float32  # what Python floats and the float factories make


_DEFAULTS = _Defaults()


def get_default_dtype() -> dtype:
    """The floating dtype that ``tensor(1.5)``, ``zeros(...)`` and new layers use (float32 at start)."""
    return _DEFAULTS.dtype


def set_default_dtype(d: Any) -> None:
    """Set the default floating dtype to float32 or float64, as ``torch.set_default_dtype``."""
    resolved = to_dtype(d, "set_default_dtype(d)")
    if resolved not in (float32, float64):
        raise TypeError(f"set_default_dtype(d): only float32 and float64 are supported, got {resolved}")
    _DEFAULTS.dtype = resolved


def float_dtype(d: Any = None) -> np.dtype:
    """The NumPy dtype for ``d``, or the default floating dtype when ``d`` is None."""
    return (get_default_dtype() if d is None else to_dtype(d)).dtype


class device:
    """Where a tensor lives, as ``torch.device``; rnnkit computes only on ``cpu``.

    Args:
        type: ``"cpu"``, ``"cpu:0"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ... (or a device).
        index: optional device index.
    """

    __slots__ = ("type", "index")

    _KNOWN = ("cpu", "cuda", "mps", "xpu", "meta", "hip", "xla")

    def __init__(self, type: Any, index: int | None = None):
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        elif isinstance(type, (int, np.integer)) and not isinstance(type, bool):
            type, index = "cuda", int(type)  # torch.device(0) is cuda:0
        if not isinstance(type, str):
            raise TypeError(f"device(type): expected a string such as 'cpu', got {type!r}")
        kind, _, number = type.partition(":")
        if kind not in self._KNOWN:
            raise RuntimeError(f"device: expected one of {', '.join(self._KNOWN)} device type, got {type!r}")
        if number:
            if not number.isdigit() or index is not None:
                raise RuntimeError(f"device: invalid device string {type!r}")
            index = int(number)
        self.type = kind
        self.index = index

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


_CPU = device("cpu")


def to_device(value: Any, name: str = "device") -> device:
    """Check that ``value`` names the CPU; any other device raises, saying rnnkit runs on the CPU."""
    if value is None:
        return _CPU
    d = device(value) if not isinstance(value, device) else value
    if d.type != "cpu":
        raise RuntimeError(
            f"{name}: rnnkit runs on the CPU only, got device {str(d)!r}; "
            "use 'cpu' (rnnkit.cuda.is_available() is False)"
        )
    return _CPU


def set_default_device(d: Any) -> None:
    """Accept ``"cpu"`` (the only device), as ``torch.set_default_device``; anything else raises."""
    to_device(d, "set_default_device(device)")


def get_default_device() -> device:
    """Always ``device(type='cpu')``."""
    return _CPU
