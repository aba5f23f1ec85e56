"""Keras 3.15's optimizer wrappers: :class:`LossScaleOptimizer` (dynamic loss scaling around one
optimizer) and :class:`MultiOptimizer` (several optimizers, picked per variable by an
:class:`OptimizerMap`).

Example:
    >>> from rnnkit.keras.optimizers import SGD, Adam
    >>> choose = OptimizerMap(SGD(0.1), {".*dense/kernel": Adam(0.01)})
    >>> [type(o).__name__ for o in MultiOptimizer(choose).optimizers]
    ['Adam', 'SGD']
"""

from __future__ import annotations

import re
import warnings
from collections.abc import MutableMapping
from typing import Any, Sequence

import numpy as np

from rnnkit._validation import check_nonnegative
from rnnkit.keras._registry import class_config, from_class_config
from rnnkit.keras.optimizers.base import Optimizer, _grad_array
from rnnkit.keras.optimizers.classic import KERAS_OPTIMIZERS

__all__ = ["LossScaleOptimizer", "OptimizerMap", "MultiOptimizer"]


def _inner_from_config(config: dict, argument: str) -> Optimizer:
    """An inner optimizer from its config (rnnkit's ``{"class_name", "config"}`` or Keras's, with ``module``)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"{argument}: expected an optimizer config dict, got {config!r}")
    return from_class_config(KERAS_OPTIMIZERS, config["class_name"], config, argument, "optimizer")


class LossScaleOptimizer(Optimizer):
    """Keras's dynamic loss scaling around ``inner_optimizer``: the trainer differentiates
    ``loss * dynamic_scale``; a step with finite gradients divides them by the scale and applies
    ``inner_optimizer``, and doubles the scale after ``dynamic_growth_steps`` such steps in a row; a step
    with a non-finite gradient is skipped and halves the scale. (Its use is float16 training; on rnnkit's
    float32 and float64 it reproduces Keras's numbers, scale and skipped steps included.)

    Its own state (``step_counter``, ``dynamic_scale``) is not written into ``.keras`` files: a loaded
    model starts the scaling afresh (with a warning), the inner optimizer's state too.

    Args:
        inner_optimizer: the optimizer that applies the unscaled gradients.
        initial_scale: the first scale (Keras's default ``2**15``).
        dynamic_growth_steps: finite steps between doublings.
        name: the optimizer's name.
    """

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000, name=None, **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ValueError("LossScaleOptimizer: dynamic=False is no longer supported (as in Keras 3); set "
                             "loss_scale_factor on the inner optimizer instead")
        for key in list(kwargs):
            if kwargs[key] in (None, False) or (key == "ema_momentum" and kwargs[key] == 0.99):
                kwargs.pop(key)
        if kwargs:
            raise ValueError(f"LossScaleOptimizer: argument(s) not supported: {sorted(kwargs)}; set them on the "
                             "inner_optimizer")
        if not isinstance(inner_optimizer, Optimizer) or isinstance(inner_optimizer, LossScaleOptimizer):
            raise TypeError(f"LossScaleOptimizer: inner_optimizer must be a keras.optimizers.Optimizer, got "
                            f"{type(inner_optimizer).__name__}")
        check_nonnegative("LossScaleOptimizer: initial_scale", initial_scale)
        if isinstance(dynamic_growth_steps, bool) or not isinstance(dynamic_growth_steps, (int, np.integer)) \
                or dynamic_growth_steps < 1:
            raise ValueError(f"LossScaleOptimizer: dynamic_growth_steps must be a positive int, got "
                             f"dynamic_growth_steps={dynamic_growth_steps!r}")
        super().__init__(0.0, name=name)
        self.inner_optimizer, self.initial_scale = inner_optimizer, float(initial_scale)
        self.dynamic_growth_steps = int(dynamic_growth_steps)
        self.inner_optimizer.loss_scale_factor = None
        self.dynamic_scale = np.float32(initial_scale)  # the current scale (float32, as Keras's variable)
        self.step_counter = 0  # finite steps since the scale last changed

    @property
    def iterations(self) -> int:
        """The inner optimizer's step count (skipped steps do not count), as Keras's."""
        return self.inner_optimizer.iterations if hasattr(self, "inner_optimizer") else 0

    @iterations.setter
    def iterations(self, value: int) -> None:
        if hasattr(self, "inner_optimizer"):
            self.inner_optimizer.iterations = value

    @property
    def learning_rate(self) -> float:
        """The inner optimizer's learning rate (settable)."""
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if hasattr(self, "inner_optimizer"):
            self.inner_optimizer.learning_rate = value

    def scale_loss(self, loss: Any) -> Any:
        return loss * float(self.dynamic_scale)

    def apply(self, grads: Sequence[Any], variables: Sequence[Any] | None = None) -> None:
        """Unscale and apply finite gradients (growing the scale on schedule), or skip a step with a
        non-finite one and halve the scale."""
        variables = self.inner_optimizer._variables if variables is None else list(variables)
        arrays = [_grad_array(g) for g in grads]
        if all(a is None or np.isfinite(a).all() for a in arrays):
            scale = self.dynamic_scale
            self.inner_optimizer.apply([None if a is None else a / scale.astype(a.dtype) for a in arrays], variables)
            if self.step_counter == self.dynamic_growth_steps - 1:
                self.step_counter, self.dynamic_scale = 0, np.float32(self.dynamic_scale * 2)
            else:
                self.step_counter += 1
        else:
            self.step_counter, self.dynamic_scale = 0, np.float32(self.dynamic_scale * 0.5)

    def build(self, variables: Sequence[Any]) -> None:
        self.inner_optimizer.build(variables)

    def get_config(self) -> dict:
        inner = class_config(self.inner_optimizer)
        return {"name": self.name, "inner_optimizer": {"module": "keras.optimizers", **inner,
                                                       "registered_name": inner["class_name"]},
                "initial_scale": self.initial_scale, "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config: dict) -> LossScaleOptimizer:
        config = dict(config)
        config["inner_optimizer"] = _inner_from_config(config["inner_optimizer"], "inner_optimizer")
        return cls(**config)


def _keras_serialized(optimizer: Optimizer) -> dict:
    """An optimizer's config in Keras's nested form (with ``module``), as Keras writes inner optimizers."""
    inner = class_config(optimizer)
    return {"module": "keras.optimizers", **inner, "registered_name": inner["class_name"]}


class OptimizerMap(MutableMapping):
    """Variable path pattern -> optimizer, with a default (``keras.optimizers.OptimizerMap``).

    ``optimizer_map[path]`` is the optimizer stored under ``path``, else the one whose pattern
    ``re.fullmatch`` es it (ValueError when several do), else ``default_optimizer``; calling the map on a
    variable looks its ``path`` up. rnnkit's paths are ``layer/weight`` (``dense/kernel``) where Keras's
    also name the model and the cell (``sequential/dense/kernel``): a pattern such as ``".*dense/.*"``
    selects the same variables in both, and :class:`MultiOptimizer` warns about a pattern that selects none.

    Example:
        >>> from rnnkit.keras.optimizers import SGD, Adam
        >>> choose = OptimizerMap(SGD(0.1), {".*dense/kernel": Adam(0.01)})
        >>> type(choose["dense/kernel"]).__name__, type(choose["dense/bias"]).__name__
        ('Adam', 'SGD')
    """

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(f"OptimizerMap: default_optimizer must be a keras.optimizers.Optimizer, got "
                            f"{type(default_optimizer).__name__}")
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"OptimizerMap: optimizer_map must be a dict, got {type(optimizer_map).__name__}")
        self._default_optimizer, self._optimizer_map = default_optimizer, {}
        for key, optimizer in (optimizer_map or {}).items():
            self[key] = optimizer

    @property
    def default_optimizer(self) -> Optimizer:
        return self._default_optimizer

    def __getitem__(self, key: str) -> Optimizer:
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matching = [pattern for pattern in self._optimizer_map if re.fullmatch(pattern, key)]
        if len(matching) > 1:
            raise ValueError(f"OptimizerMap: several optimizers are assigned to variable {key!r} (patterns "
                             f"{matching})")
        return self._optimizer_map[matching[0]] if matching else self._default_optimizer

    def __setitem__(self, key: str, optimizer: Optimizer) -> None:
        if key in self._optimizer_map:
            raise ValueError(f"OptimizerMap: {key!r} already maps to {self._optimizer_map[key]!r}; keys must not "
                             "repeat")
        if not isinstance(key, str):
            raise ValueError(f"OptimizerMap: a key must be a string, got {key!r}")
        if not isinstance(optimizer, Optimizer) or isinstance(optimizer, (LossScaleOptimizer, MultiOptimizer)):
            raise ValueError(f"OptimizerMap: {key!r} must map to an optimizer other than LossScaleOptimizer and "
                             f"MultiOptimizer, got {optimizer!r}")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key: str) -> None:
        del self._optimizer_map[key]

    def __len__(self) -> int:
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable: Any) -> Optimizer:
        return self[str(getattr(variable, "path", getattr(variable, "name", "")))]

    def get_config(self) -> dict:
        return {"default_optimizer": _keras_serialized(self._default_optimizer),
                "optimizer_map": {k: _keras_serialized(v) for k, v in self._optimizer_map.items()}}

    @classmethod
    def from_config(cls, config: dict) -> OptimizerMap:
        return cls(_inner_from_config(config["default_optimizer"], "default_optimizer"),
                   {k: _inner_from_config(v, f"optimizer_map[{k!r}]") for k, v in
                    (config.get("optimizer_map") or {}).items()})


class MultiOptimizer(Optimizer):
    """Several optimizers on one model (``keras.optimizers.MultiOptimizer``): ``optimizer_map`` (an
    :class:`OptimizerMap`, or any callable from a variable to an optimizer) picks each variable's optimizer
    when first built; each step applies every optimizer to its own variables. ``loss_scale_factor`` is
    handed to the inner optimizers. Its learning rate is theirs, not its own (AttributeError, as Keras).
    The inner optimizers' state is not written into ``.keras`` files (a loaded model starts them afresh,
    with a warning).
    """

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        self._constructed = False
        super().__init__(0.0, loss_scale_factor=loss_scale_factor, name=name)
        if not callable(optimizer_map):
            raise TypeError(f"MultiOptimizer: optimizer_map must be an OptimizerMap or a callable(variable) -> "
                            f"optimizer, got {type(optimizer_map).__name__}")
        self._optimizer_map, self._inner_optimizers, self._assigned = optimizer_map, [], {}
        for optimizer in [*getattr(optimizer_map, "values", list)(),
                          getattr(optimizer_map, "default_optimizer", None)]:
            if optimizer is not None and optimizer not in self._inner_optimizers:
                self._inner_optimizers.append(optimizer)
        self._constructed = True
        self.loss_scale_factor = loss_scale_factor

    @property
    def loss_scale_factor(self):
        return getattr(self, "_loss_scale_factor", None)

    @loss_scale_factor.setter
    def loss_scale_factor(self, value):
        self._loss_scale_factor = value
        for optimizer in getattr(self, "_inner_optimizers", ()):
            optimizer.loss_scale_factor = value

    @property
    def optimizers(self) -> list[Optimizer]:
        """The inner optimizers, in the order they were met."""
        return list(self._inner_optimizers)

    @property
    def learning_rate(self):
        raise AttributeError("MultiOptimizer has no learning rate of its own; use those of its optimizers "
                             "(multi_optimizer.optimizers)")

    @learning_rate.setter
    def learning_rate(self, value):
        if getattr(self, "_constructed", False):
            raise AttributeError("MultiOptimizer has no learning rate of its own; set those of its optimizers "
                                 "(multi_optimizer.optimizers)")
        self._learning_rate = value

    def build(self, variables: Sequence[Any]) -> None:
        unseen = [v for v in variables if id(v) not in self._assigned]
        for variable in unseen:
            optimizer = self._optimizer_map(variable)
            if not isinstance(optimizer, Optimizer) or isinstance(optimizer, (LossScaleOptimizer, MultiOptimizer)):
                raise ValueError(f"MultiOptimizer: the optimizer for variable {getattr(variable, 'path', '?')!r} "
                                 f"must be an optimizer other than LossScaleOptimizer and MultiOptimizer, got "
                                 f"{optimizer!r}")
            if optimizer not in self._inner_optimizers:
                optimizer.loss_scale_factor = self.loss_scale_factor
                self._inner_optimizers.append(optimizer)
            self._assigned[id(variable)] = optimizer
        for optimizer in self._inner_optimizers:
            mine = [v for v in unseen if self._assigned[id(v)] is optimizer]
            if mine:
                optimizer.build(mine)
        if unseen and isinstance(self._optimizer_map, OptimizerMap):
            paths = [str(getattr(v, "path", "")) for v in unseen]
            for pattern in self._optimizer_map:
                if not any(pattern == p or re.fullmatch(pattern, p) for p in paths):
                    warnings.warn(f"MultiOptimizer: the OptimizerMap key {pattern!r} selects none of the variables "
                                  f"(rnnkit's paths are 'layer/weight', e.g. {paths[0]!r}; Keras's also name the "
                                  "model)", UserWarning, stacklevel=3)

    def apply(self, grads: Sequence[Any], variables: Sequence[Any] | None = None) -> None:
        """Hand each inner optimizer the gradients of its variables; then ``iterations += 1``."""
        variables = list(self._assigned_variables if variables is None else variables)
        grads = list(grads)
        if len(grads) != len(variables):
            raise ValueError(f"MultiOptimizer.apply: got {len(grads)} gradients for {len(variables)} variables")
        self.build(variables)
        for optimizer in self._inner_optimizers:
            pairs = [(g, v) for g, v in zip(grads, variables) if self._assigned[id(v)] is optimizer]
            if pairs:
                optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
        self.iterations += 1

    @property
    def _assigned_variables(self) -> list[Any]:
        return [v for optimizer in self._inner_optimizers for v in optimizer._variables]

    def get_config(self) -> dict:
        if not isinstance(self._optimizer_map, OptimizerMap):
            raise ValueError("MultiOptimizer: only an OptimizerMap can be serialized, not a function")
        return {"optimizer_map": {"module": "keras.optimizers", **class_config(self._optimizer_map),
                                  "registered_name": None},
                "loss_scale_factor": self.loss_scale_factor, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> MultiOptimizer:
        config = dict(config)
        mapping = config["optimizer_map"]
        if isinstance(mapping, dict) and mapping.get("class_name") == "OptimizerMap":
            config["optimizer_map"] = OptimizerMap.from_config(dict(mapping.get("config") or {}))
        return cls(**config)
