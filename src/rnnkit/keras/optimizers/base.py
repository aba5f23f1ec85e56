"""The base of Keras's optimizers (:class:`Optimizer`): Keras 3's update contract, acting in place on ``.data``.

Keras and PyTorch write the same algorithms differently (Keras puts epsilon inside the
square root for RMSprop and Adagrad, uses the "epsilon hat" form of Adam, starts Adagrad's
accumulator at 0.1, keeps SGD momentum as a velocity scaled by the learning rate...), so
each Keras rule is implemented once, as a pure function on arrays in
:mod:`rnnkit.keras.optimizer_rules` (re-exported by :mod:`rnnkit.keras.optimizers`). Plain SGD (no momentum) is the same
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
    >>> from rnnkit.keras.optimizers import Adam
    >>> w = nn.Parameter(np.array([1.0, 2.0], np.float32))
    >>> opt = Adam(learning_rate=0.1)
    >>> opt.apply([np.array([0.5, -0.5], np.float32)], [w])
    >>> w.detach().numpy().round(4)
    array([0.9, 2.1], dtype=float32)
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from typing import Any, Callable, Sequence

import numpy as np

from rnnkit import optim
from rnnkit._tensor import Tensor, array_of
from rnnkit._validation import check_nonnegative
from rnnkit.keras import schedules
from rnnkit.keras._registry import Configurable
from rnnkit.keras._registry import snake_per_capital as _snake
from rnnkit.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_

__all__ = ["Optimizer"]


def _in_range(owner: str, name: str, value: Any, low: float, high: float, *, open_high: bool = False) -> float:
    """``value`` as a float after checking ``low <= value <= high`` (``< high`` when ``open_high``)."""
    ok = (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
          and np.isfinite(value) and low <= value and (value < high if open_high else value <= high))
    if not ok:
        interval = f"[{low}, {high})" if open_high else f"[{low}, {high}]" if np.isfinite(high) else f">= {low}"
        raise ValueError(f"{owner}: {name} must be a float {'in ' if '[' in interval else ''}{interval}, "
                         f"got {value!r}")
    return float(value)


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
        if learning_rate is not None and not (isinstance(learning_rate, float) or callable(learning_rate)):
            raise ValueError(  # Keras's constructor takes a Python float (later assignments any number)
                f"{type(self).__name__}: argument `learning_rate` should be float, or an instance of "
                f"LearningRateSchedule, or a callable, as in Keras 3; received learning_rate={learning_rate!r}")
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
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or np.isnan(value):
            raise ValueError(f"{type(self).__name__}: learning_rate must be a number or a schedule, got {value!r}")
        self._learning_rate = float(value)  # negative too, as Keras (a step up the gradient)

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
