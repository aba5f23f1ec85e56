"""Keras 3.15's optimizers, each :class:`~rnnkit.keras.optimizers.base.Optimizer` with its update rule
from :mod:`rnnkit.keras.optimizer_rules`, Keras's defaults and argument checks, and the order of its
variables in Keras's files (``keras_variable_groups``).

Example:
    >>> import numpy as np
    >>> from rnnkit import nn
    >>> w = nn.Parameter(np.array([1.0, 2.0], np.float32))
    >>> SGD(learning_rate=0.1, momentum=0.9).apply([np.array([1.0, -1.0], np.float32)], [w])
    >>> w.detach().numpy().round(4)
    array([0.9, 2.1], dtype=float32)
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from rnnkit._validation import check_nonnegative
from rnnkit.keras.optimizer_rules import (keras_adadelta, keras_adafactor, keras_adagrad, keras_adam, keras_adamax,
                                          keras_ftrl, keras_lamb, keras_lion, keras_muon, keras_nadam, keras_rmsprop,
                                          keras_schedule_free_adamw, keras_sgd_momentum)
from rnnkit.keras.optimizers.base import Optimizer, _in_range
from rnnkit.optim.sgd import sgd as _torch_sgd

__all__ = [
    "SGD", "RMSprop", "Adagrad", "Adam", "AdamW", "Adadelta", "Adamax", "Nadam", "Lion", "Ftrl", "Adafactor", "Lamb",
    "ScheduleFreeAdamW", "Muon", "KERAS_OPTIMIZERS",
]


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


# class name -> class, for configs
KERAS_OPTIMIZERS = {cls.__name__: cls for cls in (SGD, RMSprop, Adagrad, Adam, AdamW, Adadelta, Adamax, Nadam, Lion,
                                                  Ftrl, Adafactor, Lamb, ScheduleFreeAdamW, Muon)}
