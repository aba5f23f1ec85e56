"""Keras's weight initializers, drawing from rnnkit's global generator.

An initializer is called as ``init(shape, dtype="float32")`` and returns an ndarray. Without a
``seed`` the numbers come from :func:`rnnkit._random.generator` (reseeded by
``rnnkit.manual_seed``); with an integer ``seed`` every call draws the same numbers, as in Keras.

Definitions (Keras 3), with fan_in/fan_out from :func:`compute_fans` (a 2-D kernel (I, U) has
fan_in = I, fan_out = U)::

    VarianceScaling(scale, mode, distribution): n = fan_in | fan_out | (fan_in + fan_out) / 2
        uniform:           U(-sqrt(3 scale / n), +sqrt(3 scale / n))
        truncated_normal:  N(0, sqrt(scale / n) / .87962566103423978) cut at 2 std
        untruncated_normal N(0, sqrt(scale / n))
    glorot_* = VarianceScaling(1, fan_avg), he_* = (2, fan_in), lecun_* = (1, fan_in)
    orthogonal: Q of the QR of a normal matrix, signs fixed by diag(R), times gain
    identity: gain * eye; constant / zeros / ones; random_normal N(0, .05);
    random_uniform U(-.05, .05); truncated_normal N(0, .05) cut at 2 std

Example:
    >>> import rnnkit
    >>> from rnnkit.keras import initializers
    >>> _ = rnnkit.manual_seed(0)
    >>> w = initializers.get("orthogonal")((4, 4))
    >>> bool(abs(w @ w.T - __import__("numpy").eye(4)).max() < 1e-5)
    True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rnnkit._orthogonal import orthogonal as orthogonal_matrix
from rnnkit._random import generator
from rnnkit._validation import check_seed
from rnnkit.keras._registry import Configurable, Registry, to_snake_case

__all__ = [
    "Initializer", "Zeros", "Ones", "Constant", "Identity", "RandomNormal", "RandomUniform", "TruncatedNormal",
    "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal",
    "Orthogonal", "compute_fans", "get", "serialize", "deserialize",
]


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) as Keras: a vector counts as both; conv kernels multiply the receptive field."""
    shape = tuple(shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def _dtype(dtype: Any) -> np.dtype:
    return np.dtype("float32" if dtype is None else dtype)


class Initializer(Configurable):
    """Base class: ``__call__(shape, dtype=None) -> ndarray`` and ``get_config()``."""

    def __call__(self, shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class _Random(Initializer):
    def __init__(self, seed: int | None = None):
        self.seed = check_seed("seed", seed)

    def _rng(self) -> np.random.Generator:
        return generator() if self.seed is None else np.random.default_rng(int(self.seed))

    def get_config(self) -> dict:
        return {"seed": self.seed}


def _truncated_normal(rng: np.random.Generator, shape, mean: float, stddev: float) -> np.ndarray:
    """Normal samples, redrawing those further than 2 standard deviations from the mean."""
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return mean + stddev * out


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype=None):
        return np.zeros(shape, _dtype(dtype))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype=None):
        return np.ones(shape, _dtype(dtype))


class Constant(Initializer):
    """Every entry equal to ``value``."""

    def __init__(self, value: float = 0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, _dtype(dtype))

    def get_config(self):
        return {"value": self.value}


class Identity(Initializer):
    """``gain * eye(rows, cols)``; 2-D shapes only."""

    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(f"Identity initializer: expected a 2-D shape, got shape {tuple(shape)}")
        return (self.gain * np.eye(*shape)).astype(_dtype(dtype))

    def get_config(self):
        return {"gain": self.gain}


class RandomNormal(_Random):
    """N(mean, stddev)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None):
        return (self.mean + self.stddev * self._rng().standard_normal(shape)).astype(_dtype(dtype))

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class RandomUniform(_Random):
    """U(minval, maxval)."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=None):
        return self._rng().uniform(self.minval, self.maxval, size=shape).astype(_dtype(dtype))

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class TruncatedNormal(_Random):
    """N(mean, stddev) with values beyond 2 stddev redrawn."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None):
        return _truncated_normal(self._rng(), shape, self.mean, self.stddev).astype(_dtype(dtype))

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class VarianceScaling(_Random):
    """Scale-aware uniform or (truncated) normal; see the module docstring."""

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("uniform", "truncated_normal", "untruncated_normal")

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: int | None = None):
        super().__init__(seed)
        if not isinstance(scale, (int, float)) or scale <= 0:
            raise ValueError(f"scale: expected a positive float, got {scale!r}")
        if mode not in self._MODES:
            raise ValueError(f"mode: expected one of {self._MODES}, got {mode!r}")
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"distribution: expected one of {self._DISTRIBUTIONS}, got {distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * scale)
            out = rng.uniform(-limit, limit, size=shape)
        elif self.distribution == "truncated_normal":
            out = _truncated_normal(rng, shape, 0.0, math.sqrt(scale) / 0.87962566103423978)
        else:
            out = math.sqrt(scale) * rng.standard_normal(shape)
        return out.astype(_dtype(dtype))

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, **super().get_config()}


def _preset(name: str, scale: float, mode: str, distribution: str, doc: str) -> type:
    def __init__(self, seed: int | None = None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc})


GlorotUniform = _preset("GlorotUniform", 1.0, "fan_avg", "uniform", "U(-l, l), l = sqrt(6 / (fan_in + fan_out)).")
GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal", "Truncated N, var 2 / (fan_in + fan_out).")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform", "U(-l, l), l = sqrt(6 / fan_in).")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal", "Truncated N, var 2 / fan_in.")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform", "U(-l, l), l = sqrt(3 / fan_in).")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal", "Truncated N, var 1 / fan_in.")


class Orthogonal(_Random):
    """An orthogonal matrix (rows or columns orthonormal) times ``gain``; shapes of rank >= 2 are flattened to 2-D."""

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializer: expected a shape of rank >= 2, got shape {tuple(shape)}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = self._rng().standard_normal((max(rows, cols), min(rows, cols)))  # (max, min), Keras's draw
        q = orthogonal_matrix(a, wide=rows < cols, gain=self.gain)  # (rows, cols)
        return np.ascontiguousarray(q.reshape(shape), dtype=_dtype(dtype))

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


_CLASSES = [Zeros, Ones, Constant, Identity, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
            GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal]
_NAMES: dict[str, type] = {cls.__name__: cls for cls in _CLASSES}
_NAMES.update({to_snake_case(cls.__name__): cls for cls in _CLASSES})
_NAMES.update({"normal": RandomNormal, "uniform": RandomUniform, "one": Ones, "zero": Zeros,
               "IdentityInitializer": Identity, "OrthogonalInitializer": Orthogonal})

# Keras's lower-case function aliases: initializers.glorot_uniform(seed=1) etc.
zeros, ones, constant, identity = Zeros, Ones, Constant, Identity
random_normal, random_uniform, truncated_normal, variance_scaling = (
    RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling)
glorot_uniform, glorot_normal, he_uniform, he_normal = GlorotUniform, GlorotNormal, HeUniform, HeNormal
lecun_uniform, lecun_normal, orthogonal = LecunUniform, LecunNormal, Orthogonal


class _FromArray(Initializer):
    """Keras accepts an array as an initializer: it must have the requested shape."""

    def __init__(self, value: np.ndarray):
        self.value = np.asarray(value)

    def __call__(self, shape, dtype=None):
        if tuple(shape) != self.value.shape:
            raise ValueError(f"initializer: the array given has shape {self.value.shape}, the weight needs {tuple(shape)}")
        return self.value.astype(_dtype(dtype))


_REGISTRY = Registry("initializer", Initializer, names=_NAMES, classes=_NAMES,  # configs may use any name
                     refuse=(_FromArray,))


def get(identifier: Any, argument: str = "initializer"):
    """An initializer from a name, a config dict, a class, an instance, a callable or an array.

    Raises:
        ValueError: an unknown name (named after ``argument``, listing the known names).
        TypeError: anything else.
    """
    if isinstance(identifier, (np.ndarray, list)):
        return _FromArray(np.asarray(identifier))
    return _REGISTRY.get(identifier, argument)


# serialize(initializer) -> {"class_name": ..., "config": {...}}; deserialize(config, argument="initializer").
serialize, deserialize = _REGISTRY.serialize, _REGISTRY.deserialize
