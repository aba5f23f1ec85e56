"""Keras optimizers with Keras 3's update rules and defaults, acting in place on ``.data``.

Keras and PyTorch write the same algorithms differently (Keras puts epsilon inside the
square root for RMSprop and Adagrad, uses the "epsilon hat" form of Adam, starts Adagrad's
accumulator at 0.1, keeps SGD momentum as a velocity scaled by the learning rate...), so
each Keras rule is implemented once, as a pure function on arrays in
:mod:`rnnkit.keras.optimizer_rules` (re-exported here). Plain SGD (no momentum) is the same
rule in both dialects and reuses :func:`rnnkit.optim.sgd.sgd`.

One step (``Optimizer.apply``), in Keras's order::

    g   = clip(grads)                      (clipnorm | global_clipnorm | clipvalue; at most one; nn.utils.clip_grad)
    w   = w * (1 - weight_decay * lr)      (if weight_decay; decoupled, as Keras)
    w   = update_rule(w, g, state, lr, t)  (t = iterations + 1)
    iterations += 1

A *variable* is a parameter of :mod:`rnnkit.optim`'s contract (``.data`` updated in place,
``.grad``), such as ``rnnkit.nn.Parameter``; the bookkeeping (parameter groups, per-variable
state, ``state_dict``) is :class:`rnnkit.optim.Optimizer`'s and the clipping is
:mod:`rnnkit.nn.utils.clip_grad`'s. Shapes: every array has its variable's shape, written ``(*P)``.

Example:
    >>> import numpy as np
    >>> from rnnkit import nn
    >>> w = nn.Parameter(np.array([1.0, 2.0], np.float32))
    >>> opt = Adam(learning_rate=0.1)
    >>> opt.apply([np.array([0.5, -0.5], np.float32)], [w])
    >>> w.detach().numpy().round(4)
    array([0.9, 2.1], dtype=float32)
"""

from __future__ import annotations

import inspect
import re
import sys
import warnings
from collections.abc import Mapping, MutableMapping
from typing import Any, Callable, Sequence

import numpy as np

from rnnkit import optim
from rnnkit._tensor import Tensor, array_of
from rnnkit._validation import check_nonnegative
from rnnkit.keras import schedules
from rnnkit.keras._registry import Configurable, class_config
from rnnkit.keras._registry import snake_per_capital as _snake
from rnnkit.keras.optimizer_rules import (keras_adadelta, keras_adafactor, keras_adagrad, keras_adam, keras_adamax,
                                          keras_ftrl, keras_lamb, keras_lion, keras_muon, keras_nadam, keras_rmsprop,
                                          keras_schedule_free_adamw, keras_sgd_momentum, newton_schulz5)
from rnnkit.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_
from rnnkit.optim.sgd import sgd as _torch_sgd

__all__ = [
    "Optimizer", "SGD", "RMSprop", "Adagrad", "Adam", "AdamW", "Adadelta", "Adamax", "Nadam", "Lion", "Ftrl",
    "Adafactor", "Lamb", "ScheduleFreeAdamW", "Muon", "LossScaleOptimizer", "MultiOptimizer", "OptimizerMap",
    "keras_sgd_momentum", "keras_rmsprop", "keras_adagrad", "keras_adam", "keras_adadelta", "keras_adamax",
    "keras_nadam", "keras_lion", "keras_ftrl", "keras_adafactor", "keras_lamb",
    "keras_schedule_free_adamw", "keras_muon", "newton_schulz5",
    "get", "serialize", "deserialize", "schedules",
]

# ``from keras.optimizers.schedules import ExponentialDecay`` works as in Keras.
sys.modules.setdefault(__name__ + ".schedules", schedules)


def _in_range(owner: str, name: str, value: Any, low: float, high: float, *, open_high: bool = False) -> float:
    """``value`` as a float after checking ``low <= value <= high`` (``< high`` when ``open_high``)."""
    ok = (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
          and np.isfinite(value) and low <= value and (value < high if open_high else value <= high))
    if not ok:
        interval = f"[{low}, {high})" if open_high else f"[{low}, {high}]" if np.isfinite(high) else f">= {low}"
        raise ValueError(f"{owner}: {name} must be a float {'in ' if '[' in interval else ''}{interval}, "
                         f"got {value!r}")
    return float(value)


# -- base class ------------------------------------------------------------------------------------
def _grad_array(grad: Any) -> np.ndarray | None:
    if grad is None:
        return None
    return array_of(grad)


class _Gradient:
    """A gradient in the parameter contract of :mod:`rnnkit.nn.utils.clip_grad` (an object with ``.grad``)."""

    def __init__(self, grad: np.ndarray):
        self.grad = grad


class Optimizer(optim.Optimizer, Configurable):
    """Keras 3's optimizer contract on rnnkit.optim's machinery: ``apply(grads, variables)`` updates
    ``variable.data`` in place with Keras's rule.

    It IS an :class:`rnnkit.optim.Optimizer`: the variables join its ``param_groups`` when first
    seen (one group per :meth:`build`), their buffers are its ``state`` (created by
    ``_init_state``), and ``zero_grad``/``state_dict``/``load_state_dict`` are PyTorch's; ``step()``
    applies the variables' ``.grad`` as one Keras step, so a PyTorch-style loop works too. Gradients
    are clipped by :mod:`rnnkit.nn.utils.clip_grad` (``clipnorm``: each gradient on its own,
    ``global_clipnorm``: all together, ``clipvalue``: elementwise). PyTorch's norm clip scales by
    ``min(c / (norm + 1e-6), 1)`` where Keras uses ``c / max(norm, c)``: the two agree to 1e-6 / norm.

    Args:
        learning_rate: a float, a :class:`schedules.LearningRateSchedule` (serialized with the optimizer;
            called with ``iterations``, the steps already taken) or, as in Keras 3, any other callable
            ``fn() -> float``, called with no arguments at every step (not serializable).
        weight_decay: decoupled weight decay ``w *= 1 - weight_decay * lr`` before each update.
        loss_scale_factor: the trainer differentiates ``loss * loss_scale_factor`` (:meth:`scale_loss`) and
            the gradients are divided by it before clipping, as Keras's (None: no scaling).
        clipnorm: clip each gradient to this L2 norm.
        clipvalue: clip each gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: clip all gradients jointly to this global L2 norm.
        name: the optimizer's name.
        decay: legacy argument, ignored with a warning (as Keras 3).

    Raises:
        ValueError: for more than one clipping option, a negative option, or an unknown or
            unsupported argument (``use_ema``, ``loss_scale_factor``,
            ``gradient_accumulation_steps`` are rejected, not silently ignored). Keras 2's ``lr`` is
            read as ``learning_rate`` with a warning, where Keras 3 raises: the tutorials this
            library is built for (``../shared/seeds``) still write ``Adam(lr=0.001)``.
    """

    _DEFAULT_LR = 0.001
    _builds_lazily = True

    def __init__(self, learning_rate: Any = None, weight_decay: float | None = None, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None, name: str | None = None,
                 **kwargs: Any):
        legacy_lr = kwargs.pop("lr", None)
        if legacy_lr is not None:  # the seed tutorials' Keras 2 name: read, with a warning (Keras 3 raises)
            warnings.warn(f"{type(self).__name__}: `lr` is Keras 2's name, which Keras 3 rejects; rnnkit reads it as "
                          "learning_rate. Pass learning_rate=... instead.", UserWarning, stacklevel=3)
            if learning_rate is not None:
                raise ValueError(
                    f"{type(self).__name__}: pass either learning_rate or its legacy alias lr, not both "
                    f"(got learning_rate={learning_rate}, lr={legacy_lr})"
                )
            learning_rate = legacy_lr
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.", stacklevel=2)
        loss_scale_factor = kwargs.pop("loss_scale_factor", None)
        unsupported = {k: kwargs.pop(k) for k in ("use_ema", "gradient_accumulation_steps") if k in kwargs}
        unsupported = {k: v for k, v in unsupported.items() if v not in (None, False)}
        if unsupported:
            raise ValueError(f"{type(self).__name__}: argument(s) not supported by rnnkit: {unsupported}")
        for key in ("ema_momentum", "ema_overwrite_frequency"):
            kwargs.pop(key, None)
        if kwargs:
            raise ValueError(f"{type(self).__name__}: argument(s) not recognized: {kwargs}")
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        given = {k: v for k, v in clips.items() if v is not None}
        if len(given) > 1:
            raise ValueError(
                f"{type(self).__name__}: only one of clipnorm, clipvalue and global_clipnorm can be set, got {given}"
            )
        for key, value in {**given, "weight_decay": weight_decay}.items():
            if value is not None:
                check_nonnegative(f"{type(self).__name__}: {key}", value)
        if loss_scale_factor is not None and not (isinstance(loss_scale_factor, (int, float, np.integer, np.floating))
                                                  and not isinstance(loss_scale_factor, bool)
                                                  and 0 < loss_scale_factor < np.inf):
            raise ValueError(f"{type(self).__name__}: loss_scale_factor must be a positive float or None, "
                             f"got loss_scale_factor={loss_scale_factor!r}")
        self.loss_scale_factor = loss_scale_factor
        optim.Optimizer.__init__(self, [], {})  # the variables join param_groups when first seen
        self.name = name or _snake(type(self).__name__)
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.iterations = 0  # number of apply() calls so far
        self._learning_rate: float | Callable = self._DEFAULT_LR
        self.learning_rate = self._DEFAULT_LR if learning_rate is None else learning_rate

    # -- learning rate -------------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The current learning rate, as Keras's ``_get_current_learning_rate``: a schedule is evaluated
        at ``iterations``, any other callable is called with no arguments; settable."""
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            return float(lr(self.iterations))
        return float(lr()) if callable(lr) else lr

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if isinstance(value, schedules.LearningRateSchedule):
            self._learning_rate = value
            return
        if callable(value):
            try:
                inspect.signature(value).bind()
            except TypeError:
                raise TypeError(
                    f"{type(self).__name__}: a callable learning_rate is called with no arguments, as in Keras 3, "
                    f"but {value!r} needs some; for a rate that depends on the step, pass a "
                    "keras.optimizers.schedules.LearningRateSchedule (its __call__ gets the step)"
                ) from None
            except ValueError:  # a callable without an inspectable signature: Keras calls it as it is
                pass
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError(
                f"{type(self).__name__}: this optimizer was created with a LearningRateSchedule as its "
                f"learning_rate, so its learning rate is not settable (got learning_rate={value!r}); create it "
                "with a float learning_rate instead, as in Keras"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not value >= 0:
            raise ValueError(
                f"{type(self).__name__}: learning_rate must be a non-negative float or a schedule, got {value!r}"
            )
        self._learning_rate = float(value)

    lr = learning_rate  # Keras 2 attribute alias

    # -- state ---------------------------------------------------------------------------------
    def build(self, variables: Sequence[Any]) -> None:
        """Add the variables not seen yet as a parameter group and create their buffers (also done by :meth:`apply`)."""
        known = {id(v) for v in self._variables}
        new = []
        for variable in variables:
            if id(variable) not in known:
                known.add(id(variable))
                new.append(variable)
        if new:
            self.add_param_group({"params": new})
            for variable in new:
                self._state_for(variable, self.param_groups[-1])

    def keras_extra_variables(self) -> list[np.ndarray]:
        """Variables Keras's optimizer stores after its slots (none for most; see Nadam)."""
        return []

    @property
    def _variables(self) -> list[Any]:
        """Every variable seen so far, in the order they were first seen."""
        return [variable for group in self.param_groups for variable in group["params"]]

    def _weight_decay_of(self, variable: Any) -> float | None:
        """The decoupled weight decay of ``variable`` (``weight_decay`` for every variable; see Muon)."""
        return self.weight_decay

    def _rule(self, w: np.ndarray, g: np.ndarray, state: dict, lr: float, step: int) -> None:  # pragma: no cover
        """Keras's update of one variable ``w`` (in place) with its buffers ``state``; ``step`` counts from 1."""
        raise NotImplementedError

    @property
    def variables(self) -> list[np.ndarray]:
        """The optimizer's buffers as arrays, in a stable order (variables in build order, then slot names)."""
        out = []
        for variable in self._variables:
            out.extend(a for _, a in sorted(self.state[variable].items()) if a is not None)
        return out

    def get_state(self, variables: Sequence[Any] | None = None) -> dict[str, np.ndarray]:
        """``{"iterations": ..., "<index>/<slot>": array}`` for checkpoints.

        Args:
            variables: the variables whose buffers to export, numbered in this order
                (default: the order in which they were first updated).
        """
        variables = self._variables if variables is None else list(variables)
        state = {"iterations": np.asarray([self.iterations], np.int64)}
        for index, variable in enumerate(variables):
            if variable not in self.state:
                continue
            for slot, array in self.state[variable].items():
                if array is not None:
                    state[f"{index}/{slot}"] = array
        return state

    def set_state(self, state: dict[str, np.ndarray], variables: Sequence[Any]) -> None:
        """Restore :meth:`get_state` for ``variables`` (numbered as when saved).

        Raises:
            ValueError: naming the entry whose variable index or shape does not match.
        """
        variables = list(variables)
        self.build(variables)
        self.iterations = int(np.asarray(state.get("iterations", 0)).reshape(-1)[0])
        for key, array in state.items():
            if key == "iterations":
                continue
            index, _, slot = key.partition("/")
            if not index.isdigit() or int(index) >= len(variables):
                raise ValueError(f"optimizer state {key!r} does not match the {len(variables)} variables")
            target = self.state[variables[int(index)]].get(slot)
            if target is None or target.shape != array.shape:
                raise ValueError(
                    f"optimizer state {key!r}: expected shape {None if target is None else target.shape}, "
                    f"got {array.shape}"
                )
            target[...] = array

    def state_dict(self) -> dict[str, Any]:
        """PyTorch's ``{"state", "param_groups"}`` snapshot plus Keras's ``"iterations"``."""
        return {**super().state_dict(), "iterations": self.iterations}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Inverse of :meth:`state_dict` (the optimizer must have been built on the same variables)."""
        if isinstance(state_dict, Mapping) and "iterations" not in state_dict:
            raise ValueError("state_dict is missing 'iterations' (a Keras optimizer's step count)")
        super().load_state_dict(state_dict)
        self.iterations = int(state_dict["iterations"])

    # -- the step ------------------------------------------------------------------------------
    def _clip(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        """The gradients clipped as the optimizer's one clipping option asks (new arrays)."""
        if not (self.clipnorm or self.global_clipnorm or self.clipvalue):
            return grads
        holders = [_Gradient(g.copy()) for g in grads]
        if self.clipnorm:
            for holder in holders:  # Keras clips each gradient to the norm on its own
                clip_grad_norm_(holder, self.clipnorm)
        elif self.global_clipnorm:
            clip_grad_norm_(holders, self.global_clipnorm)
        else:
            clip_grad_value_(holders, self.clipvalue)
        return [np.asarray(holder.grad) for holder in holders]

    def apply(self, grads: Sequence[Any], variables: Sequence[Any] | None = None) -> None:
        """Apply one step: clip, decay, update each variable with a gradient; then ``iterations += 1``.

        Args:
            grads: one gradient (ndarray, Tensor or None) per variable.
            variables: parameters (objects with ``.data`` and ``.grad``, e.g. ``rnnkit.nn.Parameter``);
                defaults to every variable seen so far.
        """
        variables = self._variables if variables is None else list(variables)
        grads = list(grads)
        if len(grads) != len(variables):
            raise ValueError(f"{type(self).__name__}.apply: got {len(grads)} gradients for {len(variables)} variables")
        pairs = [(_grad_array(g), v) for g, v in zip(grads, variables) if g is not None]
        if not pairs:
            warnings.warn(f"{type(self).__name__}: no gradients provided for any variable", stacklevel=2)
            return
        for g, v in pairs:
            if g.shape != np.asarray(v.data).shape:
                raise ValueError(
                    f"{type(self).__name__}.apply: gradient of shape {g.shape} for a variable of shape "
                    f"{np.asarray(v.data).shape}"
                )
        self.build([v for _, v in pairs])
        grads = [g.astype(np.asarray(v.data).dtype, copy=False) for g, v in pairs]
        if self.loss_scale_factor is not None:  # undo scale_loss, before clipping (Keras's order)
            grads = [g / np.asarray(self.loss_scale_factor, g.dtype) for g in grads]
        clipped = self._clip(grads)
        lr = self.learning_rate
        step = self.iterations + 1
        for g, v in zip(clipped, (v for _, v in pairs)):
            w = np.asarray(v.data)
            decay = self._weight_decay_of(v)
            if decay:
                w *= 1 - np.asarray(decay, w.dtype) * np.asarray(lr, w.dtype)  # (*P)
            self._rule(w, g, self.state[v], lr, step)
        self.iterations += 1

    def scale_loss(self, loss: Any) -> Any:
        """``loss * loss_scale_factor`` (the loss itself when None): what the trainer differentiates; :meth:`apply`
        divides the gradients back."""
        return loss if self.loss_scale_factor is None else loss * self.loss_scale_factor

    def apply_gradients(self, grads_and_vars) -> int:
        """Keras 2/3 form: ``apply_gradients(zip(grads, variables))``; returns ``iterations``."""
        grads, variables = zip(*list(grads_and_vars)) if grads_and_vars else ((), ())
        self.apply(list(grads), list(variables))
        return self.iterations

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """PyTorch's loop (``loss.backward(); optimizer.step()``): one :meth:`apply` of the ``.grad`` of every
        variable seen so far (those with ``grad`` None are skipped); returns ``closure()`` (or None)."""
        loss = closure() if closure is not None else None
        variables = self._variables
        self.apply([v.grad for v in variables], variables)
        return loss

    # -- config --------------------------------------------------------------------------------
    def get_config(self) -> dict:
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        elif callable(lr):
            raise ValueError(f"{type(self).__name__}: a learning-rate function cannot be serialized; "
                             "use a keras.optimizers.schedules.LearningRateSchedule")
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "loss_scale_factor": self.loss_scale_factor}

    @classmethod
    def from_config(cls, config: dict) -> Optimizer:
        """Inverse of :meth:`get_config` (a serialized schedule as ``learning_rate`` is rebuilt)."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(learning_rate={self.learning_rate})"


class SGD(Optimizer):
    """Keras's SGD: ``w -= lr * g``, or with momentum the velocity rule :func:`keras_sgd_momentum`.

    Args:
        learning_rate: step size (Keras default 0.01).
        momentum: float in ``[0, 1]``.
        nesterov: Nesterov momentum.
        **kwargs: see :class:`Optimizer`.
    """

    # the slots in the order of Keras's variables: each group interleaved per model variable
    keras_variable_groups = (("momentum",),)

    _DEFAULT_LR = 0.01

    def __init__(self, learning_rate=None, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"SGD: momentum must be a float in [0, 1], got {momentum!r}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _init_state(self, w, group):
        return {"momentum": np.zeros_like(w) if self.momentum else None}  # (*P)

    def _rule(self, w, g, slots, lr, step):
        if self.momentum:
            keras_sgd_momentum(w, g, slots["momentum"], lr=lr, momentum=self.momentum, nesterov=self.nesterov)
        else:  # the same rule as PyTorch's plain SGD
            _torch_sgd(w, g, None, lr=lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """Keras's RMSprop (:func:`keras_rmsprop`); defaults rho=0.9, epsilon=1e-7, learning_rate=0.001."""

    # the slots in the order of Keras's variables: each group interleaved per model variable
    keras_variable_groups = (("velocity",), ("momentum",), ("average_gradient",))

    def __init__(self, learning_rate=None, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum = _in_range("RMSprop", "rho", rho, 0, 1), _in_range("RMSprop", "momentum", momentum, 0, 1)
        self.epsilon, self.centered = _in_range("RMSprop", "epsilon", epsilon, 0, np.inf), bool(centered)

    def _init_state(self, w, group):
        return {
            "velocity": np.zeros_like(w),  # (*P) mean square
            "momentum": np.zeros_like(w) if self.momentum > 0 else None,  # (*P)
            "average_gradient": np.zeros_like(w) if self.centered else None,  # (*P)
        }

    def _rule(self, w, g, slots, lr, step):
        keras_rmsprop(w, g, slots["velocity"], slots["momentum"], slots["average_gradient"],
                      lr=lr, rho=self.rho, momentum=self.momentum, epsilon=self.epsilon)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """Keras's Adagrad (:func:`keras_adagrad`); defaults initial_accumulator_value=0.1, epsilon=1e-7."""

    # the slots in the order of Keras's variables: each group interleaved per model variable
    keras_variable_groups = (("accumulator",),)

    def __init__(self, learning_rate=None, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _in_range("Adagrad", "initial_accumulator_value", initial_accumulator_value,
                                                   0, np.inf)
        self.epsilon = _in_range("Adagrad", "epsilon", epsilon, 0, np.inf)

    def _init_state(self, w, group):
        return {"accumulator": np.full_like(w, self.initial_accumulator_value)}  # (*P)

    def _rule(self, w, g, slots, lr, step):
        keras_adagrad(w, g, slots["accumulator"], lr=lr, epsilon=self.epsilon)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adam(Optimizer):
    """Keras's Adam (:func:`keras_adam`); defaults beta_1=0.9, beta_2=0.999, epsilon=1e-7."""

    # the slots in the order of Keras's variables: each group interleaved per model variable
    keras_variable_groups = (("momentum", "velocity"), ("velocity_hat",))

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        owner = type(self).__name__
        self.beta_1 = _in_range(owner, "beta_1", beta_1, 0, 1, open_high=True)
        self.beta_2 = _in_range(owner, "beta_2", beta_2, 0, 1, open_high=True)
        self.epsilon, self.amsgrad = _in_range(owner, "epsilon", epsilon, 0, np.inf), bool(amsgrad)

    def _init_state(self, w, group):
        return {
            "momentum": np.zeros_like(w),  # (*P)
            "velocity": np.zeros_like(w),  # (*P)
            "velocity_hat": np.zeros_like(w) if self.amsgrad else None,  # (*P)
        }

    def _rule(self, w, g, slots, lr, step):
        keras_adam(w, g, slots["momentum"], slots["velocity"], slots["velocity_hat"], lr=lr,
                   beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon, step=step)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Keras's AdamW: :class:`Adam` with decoupled weight decay (default 0.004, required)."""

    def __init__(self, learning_rate=None, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a float, got None")
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad,
                         weight_decay=weight_decay, **kwargs)


class Adadelta(Optimizer):
    """Keras's Adadelta (:func:`keras_adadelta`); defaults learning_rate=0.001, rho=0.95, epsilon=1e-7."""

    # the slots in the order of Keras's variables: each group interleaved per model variable
    keras_variable_groups = (("accumulated_grad", "accumulated_delta_var"),)

    def __init__(self, learning_rate=None, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.epsilon = rho, epsilon

    def _init_state(self, w, group):
        return {"accumulated_grad": np.zeros_like(w), "accumulated_delta_var": np.zeros_like(w)}

    def _rule(self, w, g, slots, lr, step):
        keras_adadelta(w, g, slots["accumulated_grad"], slots["accumulated_delta_var"], lr=lr, rho=self.rho,
                       epsilon=self.epsilon)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Keras's Adamax (:func:`keras_adamax`); defaults beta_1=0.9, beta_2=0.999, epsilon=1e-7."""

    # the slots in the order of Keras's variables: each group interleaved per model variable
    keras_variable_groups = (("m", "u"),)

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def _init_state(self, w, group):
        return {"m": np.zeros_like(w), "u": np.zeros_like(w)}

    def _rule(self, w, g, slots, lr, step):
        keras_adamax(w, g, slots["m"], slots["u"], lr=lr, beta_1=self.beta_1, beta_2=self.beta_2,
                     epsilon=self.epsilon, step=step)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Keras's Nadam (:func:`keras_nadam`); defaults beta_1=0.9, beta_2=0.999, epsilon=1e-7."""

    # the slots in the order of Keras's variables: each group interleaved per model variable
    keras_variable_groups = (("momentum", "velocity"),)

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self._u_products = [np.float32(1.0)]  # u_product after 0, 1, 2... iterations (float32, as Keras)

    def _u_product(self, step: int) -> np.float32:
        while len(self._u_products) <= step:
            s = np.float32(len(self._u_products))
            u = np.float32(self.beta_1) * (np.float32(1.0) - np.float32(0.5) * np.float32(0.96) ** s)
            self._u_products.append(np.float32(self._u_products[-1] * u))
        return self._u_products[step]

    def _init_state(self, w, group):
        return {"momentum": np.zeros_like(w), "velocity": np.zeros_like(w)}

    def keras_extra_variables(self) -> list[np.ndarray]:
        """Keras's last Nadam variable, ``u_product`` after ``iterations`` steps (rnnkit derives it from them)."""
        return [np.asarray(self._u_product(self.iterations), np.float32)]

    def _rule(self, w, g, slots, lr, step):
        keras_nadam(w, g, slots["momentum"], slots["velocity"], lr=lr, beta_1=self.beta_1, beta_2=self.beta_2,
                    epsilon=self.epsilon, step=step, u_product=self._u_product(step))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Lion(Optimizer):
    """Keras's Lion (:func:`keras_lion`); defaults beta_1=0.9, beta_2=0.99."""

    # the slots in the order of Keras's variables: each group interleaved per model variable
    keras_variable_groups = (("momentum",),)

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.99, **kwargs):
        if not 0 < beta_1 <= 1:
            raise ValueError(f"Lion: beta_1 must be in (0, 1], got {beta_1}")
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2 = beta_1, beta_2

    def _init_state(self, w, group):
        return {"momentum": np.zeros_like(w)}

    def _rule(self, w, g, slots, lr, step):
        keras_lion(w, g, slots["momentum"], lr=lr, beta_1=self.beta_1, beta_2=self.beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Ftrl(Optimizer):
    """Keras's FTRL-proximal (:func:`keras_ftrl`), with Keras's defaults and argument checks."""

    # the slots in the order of Keras's variables: each group interleaved per model variable
    keras_variable_groups = (("accumulator", "linear"),)

    def __init__(self, learning_rate=None, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **kwargs):
        for name, value in (("initial_accumulator_value", initial_accumulator_value),
                            ("l1_regularization_strength", l1_regularization_strength),
                            ("l2_regularization_strength", l2_regularization_strength),
                            ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength)):
            check_nonnegative(f"Ftrl: {name}", value)
        if learning_rate_power > 0:
            raise ValueError(f"Ftrl: learning_rate_power must be <= 0, got {learning_rate_power}")
        super().__init__(learning_rate, **kwargs)
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def _init_state(self, w, group):
        return {"accumulator": np.full_like(w, self.initial_accumulator_value), "linear": np.zeros_like(w)}

    def _rule(self, w, g, slots, lr, step):
        keras_ftrl(w, g, slots["accumulator"], slots["linear"], lr=lr, lr_power=self.learning_rate_power,
                   l1=self.l1_regularization_strength, l2=self.l2_regularization_strength,
                   l2_shrinkage=self.l2_shrinkage_regularization_strength, beta=self.beta)

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}


class Adafactor(Optimizer):
    """Keras's Adafactor (:func:`keras_adafactor`); defaults learning_rate=0.001, beta_2_decay=-0.8,
    epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0. ``relative_step`` is kept for Keras's config:
    Keras 3.15's update caps the step size by ``1 / sqrt(t)`` either way."""

    # the slots in the order of Keras's variables: each group interleaved per model variable
    keras_variable_groups = (("r", "c", "v"),)

    def __init__(self, learning_rate=None, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                 relative_step=True, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_2_decay, self.epsilon_1, self.epsilon_2 = beta_2_decay, epsilon_1, epsilon_2
        self.clip_threshold, self.relative_step = clip_threshold, relative_step

    def _init_state(self, w, group):
        if w.ndim < 2:  # Keras keeps two scalar zeros in place of the factored statistics
            return {"r": np.zeros((), w.dtype), "c": np.zeros((), w.dtype), "v": np.zeros_like(w)}
        return {"r": np.zeros(w.shape[:-1], w.dtype), "c": np.zeros(w.shape[:-2] + w.shape[-1:], w.dtype),
                "v": np.zeros_like(w)}

    def _rule(self, w, g, slots, lr, step):
        keras_adafactor(w, g, slots["r"], slots["c"], slots["v"], lr=lr, step=step, beta_2_decay=self.beta_2_decay,
                        epsilon_1=self.epsilon_1, epsilon_2=self.epsilon_2, clip_threshold=self.clip_threshold)

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                "relative_step": self.relative_step}


class Lamb(Optimizer):
    """Keras's Lamb (:func:`keras_lamb`); defaults learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7."""

    # the slots in the order of Keras's variables: each group interleaved per model variable
    keras_variable_groups = (("momentum", "velocity"),)

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def _init_state(self, w, group):
        return {"momentum": np.zeros_like(w), "velocity": np.zeros_like(w)}

    def _rule(self, w, g, slots, lr, step):
        keras_lamb(w, g, slots["momentum"], slots["velocity"], lr=lr, beta_1=self.beta_1, beta_2=self.beta_2,
                   epsilon=self.epsilon, step=step)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class ScheduleFreeAdamW(Optimizer):
    """Keras's schedule-free AdamW (:func:`keras_schedule_free_adamw`); defaults learning_rate=0.0025,
    beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0. Its "momentum" starts as a copy of the variable."""

    _DEFAULT_LR = 0.0025
    # the slots in the order of Keras's variables: each group interleaved per model variable
    keras_variable_groups = (("momentum", "velocity"),)

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.warmup_steps = beta_1, beta_2, epsilon, warmup_steps

    def _init_state(self, w, group):
        return {"momentum": w.copy(), "velocity": np.zeros_like(w)}

    def _rule(self, w, g, slots, lr, step):
        keras_schedule_free_adamw(w, g, slots["momentum"], slots["velocity"], lr=lr, beta_1=self.beta_1,
                                  beta_2=self.beta_2, epsilon=self.epsilon, step=step, warmup_steps=self.warmup_steps)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "warmup_steps": self.warmup_steps}


class Muon(Optimizer):
    """Keras's Muon: :func:`keras_muon` for matrices, Keras's AdamW rule for the rest.

    A variable takes the AdamW rule (learning rate ``learning_rate * adam_lr_ratio``, decay
    ``adam_weight_decay``) when it is not 2-D, when ``exclude_embeddings`` and its path contains
    "embedding", or when one of the ``exclude_layers`` regular expressions matches its path
    (rnnkit's paths are ``layer/weight``, e.g. ``lstm/kernel``; Keras's also name the model and the
    cell, ``sequential/lstm/lstm_cell/kernel``); the others take the Muon rule with decay ``weight_decay``.
    Defaults as Keras's: learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004,
    epsilon=1e-7, weight_decay=0.004, momentum=0.95, ns_steps=5, nesterov=True, rms_rate=0.2,
    muon_a=3.4445, muon_b=-4.775, muon_c=2.0315, adam_lr_ratio=1.
    """

    # the slots in the order of Keras's variables: each group interleaved per model variable
    keras_variable_groups = (("momentum", "velocity"),)

    def __init__(self, learning_rate=None, adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004,
                 epsilon=1e-7, weight_decay=0.004, exclude_layers=None, exclude_embeddings=True, muon_a=3.4445,
                 muon_b=-4.775, muon_c=2.0315, adam_lr_ratio=1, momentum=0.95, ns_steps=5, nesterov=True,
                 rms_rate=0.2, **kwargs):
        if isinstance(ns_steps, bool) or not isinstance(ns_steps, (int, np.integer)) or ns_steps < 0:
            raise ValueError(f"Muon: ns_steps must be a non-negative int, got ns_steps={ns_steps!r}")
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
        self.adam_beta_1, self.adam_beta_2, self.epsilon = adam_beta_1, adam_beta_2, epsilon
        self.muon_a, self.muon_b, self.muon_c = muon_a, muon_b, muon_c
        self.adam_lr_ratio, self.momentum, self.ns_steps, self.nesterov = adam_lr_ratio, momentum, ns_steps, nesterov
        self.exclude_embeddings, self.exclude_layers = exclude_embeddings, list(exclude_layers or [])
        self.adam_weight_decay, self.rms_rate = adam_weight_decay, rms_rate

    def _uses_adamw(self, variable: Any) -> bool:
        """Keras's ``_should_use_adamw``: not a matrix, an embedding, or a path an ``exclude_layers`` pattern finds."""
        path = str(getattr(variable, "path", getattr(variable, "name", "")) or "")
        if np.ndim(variable.data) != 2:
            return True
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(pattern, path) for pattern in self.exclude_layers)

    def _state_for(self, variable, group):
        state = self.state[variable]
        if not state:
            w = np.asarray(variable.data)
            state.update({"momentum": np.zeros_like(w),
                          "velocity": np.zeros_like(w) if self._uses_adamw(variable) else None})
        return state

    def _weight_decay_of(self, variable):
        return self.adam_weight_decay if self.state[variable]["velocity"] is not None else self.weight_decay

    def _rule(self, w, g, slots, lr, step):
        if slots["velocity"] is not None:
            keras_adam(w, g, slots["momentum"], slots["velocity"], None, lr=lr * self.adam_lr_ratio,
                       beta_1=self.adam_beta_1, beta_2=self.adam_beta_2, epsilon=self.epsilon, step=step)
        else:
            keras_muon(w, g, slots["momentum"], lr=lr, momentum=self.momentum, nesterov=self.nesterov,
                       ns_steps=self.ns_steps, a=self.muon_a, b=self.muon_b, c=self.muon_c, rms_rate=self.rms_rate)

    def get_config(self):
        return {**super().get_config(), "adam_beta_1": self.adam_beta_1, "adam_beta_2": self.adam_beta_2,
                "epsilon": self.epsilon, "exclude_layers": self.exclude_layers, "muon_a": self.muon_a,
                "muon_b": self.muon_b, "muon_c": self.muon_c, "adam_lr_ratio": self.adam_lr_ratio,
                "momentum": self.momentum, "ns_steps": self.ns_steps, "nesterov": self.nesterov,
                "exclude_embeddings": self.exclude_embeddings, "adam_weight_decay": self.adam_weight_decay,
                "rms_rate": self.rms_rate}


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
        config["inner_optimizer"] = deserialize(config["inner_optimizer"])
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
        return cls(deserialize(config["default_optimizer"]),
                   {k: deserialize(v) for k, v in (config.get("optimizer_map") or {}).items()})


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


# -- lookup ----------------------------------------------------------------------------------------
_CLASSES = {cls.__name__.lower(): cls for cls in (SGD, RMSprop, Adagrad, Adam, AdamW, Adadelta, Adamax, Nadam,
                                                  Lion, Ftrl, Adafactor, ScheduleFreeAdamW, Lamb, Muon,
                                                  LossScaleOptimizer, MultiOptimizer)}
_CONFIG_ONLY = ("lamb",)  # Keras 3.15 exports Lamb, but keras.optimizers.get does not know its name


def get(identifier: Any) -> Optimizer:
    """An :class:`Optimizer` from a name ("adam", case-insensitive), a config dict or an instance.

    Raises:
        ValueError: for an unknown name, naming it and the known ones.
        TypeError: for other objects (e.g. an ``rnnkit.optim`` optimizer, which follows PyTorch's rules).
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = None if identifier.lower() in _CONFIG_ONLY else _CLASSES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"optimizer: unknown optimizer {identifier!r}; expected one of "
                             f"{sorted(set(_CLASSES) - set(_CONFIG_ONLY))}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise TypeError(
        "optimizer: expected a name or a keras.optimizers.Optimizer, got "
        f"{type(identifier).__name__} {identifier!r}"
    )


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": ..., "config": ...}`` (JSON-able)."""
    return class_config(optimizer)


def deserialize(config: dict) -> Optimizer:
    """Inverse of :func:`serialize`."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"optimizer: expected a {{'class_name', 'config'}} dict, got {config!r}")
    cls = _CLASSES.get(str(config["class_name"]).lower())
    if cls is None:
        raise ValueError(
            f"optimizer: unknown optimizer class {config['class_name']!r}; expected one of {sorted(_CLASSES)}"
        )
    return cls.from_config(dict(config.get("config") or {}))
