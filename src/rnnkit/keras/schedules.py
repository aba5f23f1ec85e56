"""Keras's learning-rate schedules (``keras.optimizers.schedules``): ``lr = schedule(step)``.

A schedule is passed as an optimizer's ``learning_rate``; the optimizer evaluates it at its
``iterations`` (the number of steps already taken) before each update, as Keras does. Each
schedule is a pure function of the step, computed in float32 as Keras computes it (its
``initial_learning_rate`` becomes a float32 tensor and everything is cast to that dtype), so
the values are Keras's to the last bit or two.

Legend: ``s`` the step (``iterations``), ``lr0`` the initial learning rate.

Example:
    >>> from rnnkit import keras
    >>> decay = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    >>> [round(decay(s), 4) for s in (0, 9, 10, 25)]
    [0.1, 0.1, 0.05, 0.025]
    >>> opt = keras.optimizers.Adam(learning_rate=decay)
    >>> opt.learning_rate
    0.10000000149011612
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from rnnkit.keras._registry import Configurable, class_config, from_class_config

__all__ = [
    "LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay", "InverseTimeDecay",
    "CosineDecay", "CosineDecayRestarts", "serialize", "deserialize",
]

_F32 = np.float32


def _number(owner: str, name: str, value: Any) -> float:
    """``value`` as a float; TypeError naming the argument for a non-number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: {name} must be a number, got {type(value).__name__} {value!r}")
    return value


def _positive(owner: str, name: str, value: Any) -> float:
    """``value`` if it is a number > 0 (Keras's check on the decay steps), else ValueError naming it."""
    value = _number(owner, name, value)
    if not value > 0:
        raise ValueError(f"{owner}: argument `{name}` must be > 0, got {name}={value}")
    return value


def _step(owner: str, step: Any) -> np.float32:
    """The step as float32 (an int, NumPy scalar or 0-d array)."""
    step = np.asarray(step)
    if step.ndim != 0 or not (np.issubdtype(step.dtype, np.integer) or np.issubdtype(step.dtype, np.floating)):
        raise TypeError(f"{owner}: step must be a scalar number, got {step!r}")
    return _F32(step)


class LearningRateSchedule(Configurable):
    """Base class: ``__call__(step) -> float`` and ``get_config()``; subclass it for a custom schedule
    (it then works as any optimizer's ``learning_rate``)."""

    def __call__(self, step: Any) -> float:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must override __call__(self, step)")

    def get_config(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must override get_config()")


class _RateDecay(LearningRateSchedule):
    """What ExponentialDecay and InverseTimeDecay share (Keras's two classes take the same
    arguments): the checked arguments, the progress ``s / decay_steps`` and the config."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        owner = type(self).__name__
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive(owner, "decay_steps", decay_steps)
        self.decay_rate = _number(owner, "decay_rate", decay_rate)
        self.staircase, self.name = bool(staircase), name

    def _progress(self, step) -> np.float32:
        """``s / decay_steps``, floored when ``staircase``."""
        p = _step(type(self).__name__, step) / _F32(self.decay_steps)
        return np.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_RateDecay):
    """``lr = lr0 * decay_rate ** (s / decay_steps)`` (the exponent floored when ``staircase``).

    Args:
        initial_learning_rate: ``lr0``.
        decay_steps: steps per factor of ``decay_rate`` (> 0).
        decay_rate: the factor.
        staircase: decay in whole intervals (``floor(s / decay_steps)``).
        name: the schedule's name.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        p = self._progress(step)
        return float(_F32(self.initial_learning_rate) * np.power(_F32(self.decay_rate), p))


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``s <= boundaries[0]``, ``values[i]`` for ``boundaries[i-1] < s <= boundaries[i]``,
    ``values[-1]`` after ``boundaries[-1]``.

    Args:
        boundaries: increasing step boundaries.
        values: one more value than boundaries.
        name: the schedule's name.
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        owner = type(self).__name__
        if not isinstance(boundaries, Sequence) or not isinstance(values, Sequence):
            raise TypeError(f"{owner}: boundaries and values must be lists, got {boundaries!r} and {values!r}")
        if len(boundaries) != len(values) - 1 or not boundaries:
            raise ValueError(
                f"{owner}: the length of boundaries should be 1 less than the length of values (and at least 1), "
                f"got boundaries={list(boundaries)} of length {len(boundaries)} and values={list(values)} "
                f"of length {len(values)}"
            )
        self.boundaries = [_number(owner, "boundaries", b) for b in boundaries]
        self.values = [_number(owner, "values", v) for v in values]
        self.name = name

    def __call__(self, step):
        s = _step(type(self).__name__, step)
        index = int(np.searchsorted(np.asarray(self.boundaries, np.float32), s, side="left"))  # first b >= s
        return float(_F32(self.values[index]))

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``lr = (lr0 - end) * (1 - s / decay_steps) ** power + end``, with ``s`` capped at ``decay_steps``;
    with ``cycle`` the horizon grows instead: ``decay_steps * ceil(s / decay_steps)`` (1 at ``s = 0``).

    Args:
        initial_learning_rate: ``lr0``.
        decay_steps: the horizon (> 0).
        end_learning_rate: ``end``.
        power: the polynomial's power.
        cycle: restart the decay after each horizon.
        name: the schedule's name.
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        owner = type(self).__name__
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive(owner, "decay_steps", decay_steps)
        self.end_learning_rate = _number(owner, "end_learning_rate", end_learning_rate)
        self.power = _number(owner, "power", power)
        self.cycle, self.name = bool(cycle), name

    def __call__(self, step):
        s, horizon = _step(type(self).__name__, step), _F32(self.decay_steps)
        if self.cycle:
            horizon = horizon * (_F32(1.0) if s == 0 else np.ceil(s / _F32(self.decay_steps)))
        else:
            s = min(s, horizon)
        p = s / horizon
        lr0, end = _F32(self.initial_learning_rate), _F32(self.end_learning_rate)
        return float((lr0 - end) * np.power(_F32(1) - p, _F32(self.power)) + end)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class InverseTimeDecay(_RateDecay):
    """``lr = lr0 / (1 + decay_rate * s / decay_steps)`` (the ratio floored when ``staircase``).

    Args:
        initial_learning_rate: ``lr0``.
        decay_steps: steps per unit of decay (> 0).
        decay_rate: the rate.
        staircase: decay in whole intervals.
        name: the schedule's name.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        p = self._progress(step)
        return float(_F32(self.initial_learning_rate) / (_F32(1) + _F32(self.decay_rate) * p))


def _cosine(fraction: np.float32, alpha: float, scale: np.float32 = _F32(1)) -> np.float32:
    """``(1 - alpha) * scale * (1 + cos(pi * fraction)) / 2 + alpha``: the cosine factor of both cosine schedules."""
    cosine = _F32(0.5) * scale * (_F32(1) + np.cos(_F32(math.pi) * fraction))
    return _F32(1 - alpha) * cosine + _F32(alpha)


class CosineDecay(LearningRateSchedule):
    """Optional linear warmup, then cosine decay (SGDR without restarts)::

        s < warmup_steps:  lr = lr0 + (warmup_target - lr0) * s / warmup_steps
        otherwise:         lr = peak * ((1 - alpha) * (1 + cos(pi * d / decay_steps)) / 2 + alpha)

    with ``peak = warmup_target`` (``lr0`` without warmup) and ``d = min(s - warmup_steps, decay_steps)``.

    Args:
        initial_learning_rate: ``lr0``.
        decay_steps: length of the decay (> 0).
        alpha: the final learning rate as a fraction of ``peak``.
        name: the schedule's name.
        warmup_target: the learning rate reached after the warmup; None: no warmup.
        warmup_steps: length of the warmup.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        owner = type(self).__name__
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive(owner, "decay_steps", decay_steps)
        self.alpha = _number(owner, "alpha", alpha)
        self.warmup_target = None if warmup_target is None else _number(owner, "warmup_target", warmup_target)
        self.warmup_steps = _number(owner, "warmup_steps", warmup_steps)
        if self.warmup_steps < 0:
            raise ValueError(f"{owner}: warmup_steps must be >= 0, got {warmup_steps}")
        self.name = name

    def __call__(self, step):
        s, lr0, horizon = _step(type(self).__name__, step), _F32(self.initial_learning_rate), _F32(self.decay_steps)
        if self.warmup_target is None:
            return float(lr0 * _cosine(min(s, horizon) / horizon, self.alpha))
        target, warmup = _F32(self.warmup_target), _F32(self.warmup_steps)
        s = min(s, horizon + warmup)
        if s < warmup:
            return float((target - lr0) * (s / warmup) + lr0)
        return float(target * _cosine((s - warmup) / horizon, self.alpha))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): period ``i`` lasts ``first_decay_steps * t_mul ** i`` steps and
    starts from ``lr0 * m_mul ** i``::

        f = s / first_decay_steps
        i = floor(f), r = f - i                                               (t_mul == 1)
        i = floor(log(1 - f (1 - t_mul)) / log(t_mul)),
        r = (f - (1 - t_mul ** i) / (1 - t_mul)) / t_mul ** i                 (otherwise)
        lr = lr0 * ((1 - alpha) * m_mul ** i * (1 + cos(pi r)) / 2 + alpha)

    Args:
        initial_learning_rate: ``lr0``.
        first_decay_steps: length of the first period (> 0).
        t_mul: growth of each period's length.
        m_mul: factor of each period's starting learning rate.
        alpha: the minimum learning rate as a fraction of ``lr0``.
        name: the schedule's name.
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"):
        owner = type(self).__name__
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate)
        self.first_decay_steps = _positive(owner, "first_decay_steps", first_decay_steps)
        self.t_mul = _positive(owner, "t_mul", t_mul)
        self.m_mul = _number(owner, "m_mul", m_mul)
        self.alpha = _number(owner, "alpha", alpha)
        self.name = name

    def __call__(self, step):
        fraction = _step(type(self).__name__, step) / _F32(self.first_decay_steps)
        t_mul = _F32(self.t_mul)
        if t_mul == 1:
            restart = np.floor(fraction)
            fraction = fraction - restart
        else:
            restart = np.floor(np.log(_F32(1) - fraction * (_F32(1) - t_mul)) / np.log(t_mul))
            done = (_F32(1) - np.power(t_mul, restart)) / (_F32(1) - t_mul)
            fraction = (fraction - done) / np.power(t_mul, restart)
        scale = np.power(_F32(self.m_mul), restart)
        return float(_F32(self.initial_learning_rate) * _cosine(fraction, self.alpha, scale))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self.t_mul, "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


_CLASSES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay,
                                          InverseTimeDecay, CosineDecay, CosineDecayRestarts)}


def serialize(schedule: LearningRateSchedule) -> dict:
    """Keras's ``{"module": "keras.optimizers.schedules", "class_name": ..., "config": ..., "registered_name": None}``
    of a built-in schedule (the form real Keras reads inside an optimizer's config).

    Raises:
        ValueError: for a schedule that is not one of this module's (a custom class or a plain function).
    """
    if type(schedule).__name__ not in _CLASSES or not isinstance(schedule, LearningRateSchedule):
        raise ValueError(f"schedules: cannot serialize {schedule!r}; expected one of {sorted(_CLASSES)}")
    return {"module": "keras.optimizers.schedules", **class_config(schedule), "registered_name": None}


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """Inverse of :func:`serialize`; ``custom_objects`` maps extra class names to schedule classes."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"schedules: expected a {{'class_name', 'config'}} dict, got {config!r}")
    return from_class_config({**_CLASSES, **(custom_objects or {})}, config["class_name"], config,
                             "schedules", "learning-rate schedule")
