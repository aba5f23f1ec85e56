"""Learning-rate schedulers (``torch.optim.lr_scheduler``): StepLR, MultiStepLR, ExponentialLR,
LambdaLR, LinearLR, CosineAnnealingLR and ReduceLROnPlateau.

A scheduler rewrites ``group["lr"]`` of its optimizer's parameter groups each time its
``step()`` is called (once per epoch, after ``optimizer.step()``). The values match
PyTorch's step for step, including CosineAnnealingLR's recursive form. Every scheduler's
``state_dict()`` holds only numbers, strings and lists, so it can be stored as JSON
(LambdaLR leaves its functions out, as torch does).

Unlike PyTorch, the constructors take no ``last_epoch`` and ``step()`` takes no ``epoch``
(both deprecated there); resume with :meth:`LRScheduler.load_state_dict`.
"""

from __future__ import annotations

import bisect
import copy
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, SupportsFloat

from rnnkit._plateau import plateau_step
from rnnkit.optim.optimizer import Optimizer, _check_range

__all__ = [
    "LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "LambdaLR", "LinearLR", "CosineAnnealingLR",
    "OneCycleLR", "SequentialLR", "ReduceLROnPlateau", "cosine_annealing_lr",
]


def _check_int(name: str, value: Any, low: int) -> None:
    """Raise TypeError/ValueError naming ``name`` unless ``value`` is an int >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"Invalid {name}: {value} ({name} must be >= {low})")


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an rnnkit.optim.Optimizer, got {type(optimizer).__name__}")


def cosine_annealing_lr(lr: float, base_lr: float, epoch: int, T_max: int, eta_min: float) -> float:
    """The learning rate of epoch ``epoch`` from that of epoch ``epoch - 1`` (PyTorch's recursion).

    Equations (``t`` = epoch >= 1; the closed form is ``eta_min + (base_lr - eta_min) *
    (1 + cos(pi * t / T_max)) / 2``)::

        lr_t = lr_{t-1} + (base_lr - eta_min) * (1 - cos(pi / T_max)) / 2
                                                  if (t - 1 - T_max) % (2 T_max) == 0
        lr_t = eta_min + (lr_{t-1} - eta_min) * (1 + cos(pi t / T_max)) / (1 + cos(pi (t - 1) / T_max))
                                                  otherwise

    Example:
        >>> [round(cosine_annealing_lr(lr, 1.0, t, 2, 0.0), 12) for lr, t in [(1.0, 1), (0.5, 2), (0.0, 3)]]
        [0.5, 0.0, 0.5]
    """
    if (epoch - 1 - T_max) % (2 * T_max) == 0:
        return lr + (base_lr - eta_min) * (1 - math.cos(math.pi / T_max)) / 2
    return (
        (1 + math.cos(math.pi * epoch / T_max))
        / (1 + math.cos(math.pi * (epoch - 1) / T_max))
        * (lr - eta_min)
        + eta_min
    )


class LRScheduler:
    """Base class: keeps ``last_epoch`` and writes ``get_lr()`` into the groups on ``step()``.

    At construction each group gets ``initial_lr`` (if absent) and ``base_lrs`` lists them;
    ``last_epoch`` starts at 0 and the learning rates are left unchanged (as PyTorch's
    initial step).

    Args:
        optimizer: the :class:`~rnnkit.optim.Optimizer` whose ``group["lr"]`` are scheduled.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._last_lr: list[float] = self._lrs()

    def _lrs(self) -> list[float]:
        """The current ``lr`` of each parameter group."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def get_lr(self) -> list[float]:
        """The learning rate of each group for epoch ``last_epoch`` (already incremented)."""
        raise NotImplementedError

    def _start_lrs(self) -> list[float]:
        """The learning rates at epoch 0 (the base rates unless the schedule starts elsewhere)."""
        return list(self.base_lrs)

    def _restart(self) -> None:
        """Go back to epoch 0 and set its learning rates (what SequentialLR does at a milestone)."""
        self.last_epoch = 0
        for group, lr in zip(self.optimizer.param_groups, self._start_lrs()):
            group["lr"] = lr
        self._last_lr = self._lrs()

    def step(self) -> None:
        """Advance one epoch and set every group's ``lr``."""
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = self._lrs()

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last :meth:`step` (one per group)."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer (numbers, strings and lists only)."""
        return {key: copy.deepcopy(value) for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the attributes saved by :meth:`state_dict` (unknown keys, e.g. PyTorch's
        ``_step_count``, are ignored)."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        expected = self.__dict__.keys() - {"optimizer"}
        missing = sorted(expected - set(state_dict))
        if missing:
            raise ValueError(f"state_dict for {type(self).__name__} is missing keys {missing}")
        for key in expected:
            setattr(self, key, copy.deepcopy(state_dict[key]))


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs (``torch.optim.lr_scheduler.StepLR``).

    Equations (``t`` = last_epoch)::

        lr_t = lr_{t-1} * gamma   if t > 0 and t % step_size == 0   else   lr_{t-1}

    Args:
        optimizer: the scheduled optimizer.
        step_size: period of the decay, in epochs.
        gamma: multiplicative factor.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> from rnnkit.optim import SGD
        >>> opt = SGD([SimpleNamespace(data=np.zeros(1), grad=None)], lr=1.0)
        >>> sched = StepLR(opt, step_size=2, gamma=0.5)
        >>> [(sched.step(), sched.get_last_lr()[0])[1] for _ in range(4)]
        [1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        _check_int("step_size", step_size, 1)
        _check_range("gamma", "gamma", gamma, 0.0)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        lrs = self._lrs()
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lrs
        return [lr * self.gamma for lr in lrs]


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch (``torch.optim.lr_scheduler.ExponentialLR``).

    Equations::

        lr_t = lr_{t-1} * gamma

    Args:
        optimizer: the scheduled optimizer.
        gamma: multiplicative factor.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> from rnnkit.optim import SGD
        >>> opt = SGD([SimpleNamespace(data=np.zeros(1), grad=None)], lr=1.0)
        >>> sched = ExponentialLR(opt, gamma=0.5)
        >>> sched.step(); sched.step(); sched.get_last_lr()
        [0.25]
    """

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        _check_range("gamma", "gamma", gamma, 0.0)
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the initial lr to ``eta_min`` over ``T_max`` epochs
    (``torch.optim.lr_scheduler.CosineAnnealingLR``, its recursive form; see
    :func:`cosine_annealing_lr`). Past ``T_max`` the lr rises again (period ``2 T_max``).

    Args:
        optimizer: the scheduled optimizer.
        T_max: number of epochs from the initial lr to ``eta_min``.
        eta_min: the minimum learning rate.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> from rnnkit.optim import SGD
        >>> opt = SGD([SimpleNamespace(data=np.zeros(1), grad=None)], lr=1.0)
        >>> sched = CosineAnnealingLR(opt, T_max=2)
        >>> sched.step(); round(sched.get_last_lr()[0], 12)
        0.5
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        _check_int("T_max", T_max, 1)
        _check_range("eta_min", "eta_min", eta_min, 0.0)
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [
            cosine_annealing_lr(group["lr"], base_lr, self.last_epoch, self.T_max, self.eta_min)
            for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs)
        ]


def _is_better(current: float, best: float, mode: str, threshold_mode: str, threshold: float) -> bool:
    """True if ``current`` improves on ``best`` by more than the threshold (ReduceLROnPlateau's test).

    Equations::

        min, rel: current < best * (1 - threshold)      max, rel: current > best * (1 + threshold)
        min, abs: current < best - threshold            max, abs: current > best + threshold
    """
    if mode == "min":
        return current < (best * (1.0 - threshold) if threshold_mode == "rel" else best - threshold)
    return current > (best * (threshold + 1.0) if threshold_mode == "rel" else best + threshold)


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` when a metric stops improving
    (``torch.optim.lr_scheduler.ReduceLROnPlateau``).

    Each ``step(metric)``: an improvement (see ``threshold``) resets the count of bad epochs;
    after more than ``patience`` bad epochs every group's lr becomes
    ``max(lr * factor, min_lr)`` (skipped if that changes it by no more than ``eps``) and
    ``cooldown`` epochs follow in which bad epochs are not counted.

    Args:
        optimizer: the scheduled optimizer.
        mode: ``"min"`` (the metric should decrease) or ``"max"``.
        factor: multiplicative factor, in [0, 1).
        patience: number of bad epochs tolerated before reducing.
        threshold: minimal change that counts as an improvement.
        threshold_mode: ``"rel"`` (relative to the best value) or ``"abs"``.
        cooldown: epochs to wait after a reduction before counting bad epochs again.
        min_lr: a lower bound on the lr, one for all groups or a list with one per group.
        eps: minimal change of the lr; smaller reductions are ignored.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> from rnnkit.optim import SGD
        >>> opt = SGD([SimpleNamespace(data=np.zeros(1), grad=None)], lr=1.0)
        >>> sched = ReduceLROnPlateau(opt, factor=0.5, patience=1)
        >>> [(sched.step(loss), sched.get_last_lr()[0])[1] for loss in [3.0, 2.0, 2.0, 2.0, 2.0]]
        [1.0, 1.0, 1.0, 0.5, 0.5]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0.0,
        eps: float = 1e-8,
    ) -> None:
        _check_optimizer(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        _check_range("factor", "factor", factor, 0.0, 1.0)
        _check_int("patience", patience, 0)
        _check_range("threshold", "threshold", threshold, 0.0)
        _check_int("cooldown", cooldown, 0)
        _check_range("eps", "eps", eps, 0.0)
        n_groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n_groups:
                raise ValueError(f"min_lr must have one value per parameter group ({n_groups}), got {len(min_lr)}")
            for i, value in enumerate(min_lr):
                _check_range(f"min_lr[{i}]", "min_lr", value, 0.0)
            self.default_min_lr: float | None = None
            self.min_lrs = list(min_lr)
        else:
            _check_range("min_lr", "min_lr", min_lr, 0.0)
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * n_groups
        self.optimizer = optimizer
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf  # the worst value for the mode
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = self._lrs()

    def step(self, metrics: SupportsFloat) -> None:  # type: ignore[override]
        """Record this epoch's metric and reduce the lr if it has plateaued.

        Args:
            metrics: the monitored value (a float, a 0-d array or a one-element tensor).
        """
        try:
            current = float(metrics)
        except (TypeError, ValueError) as error:
            raise TypeError(f"metrics must be a number, got {type(metrics).__name__}: {error}") from None
        self.last_epoch += 1
        improved = _is_better(current, self.best, self.mode, self.threshold_mode, self.threshold)
        if improved:
            self.best = current
        self.num_bad_epochs, self.cooldown_counter, reduce = plateau_step(
            self.num_bad_epochs, self.cooldown_counter, improved, self.patience)
        if reduce:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise ValueError(
                    f"the optimizer has {len(groups)} parameter groups but min_lr lists {len(self.min_lrs)}; "
                    "update min_lrs after adding a parameter group"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    @property
    def in_cooldown(self) -> bool:
        """True while the cooldown after a reduction lasts."""
        return self.cooldown_counter > 0


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each milestone epoch (``torch.optim.lr_scheduler.MultiStepLR``).

    Equations: ``lr_t = lr_{t-1} * gamma ** (number of milestones equal to t)``.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> from rnnkit.optim import SGD
        >>> opt = SGD([SimpleNamespace(data=np.zeros(1), grad=None)], lr=1.0)
        >>> sched = MultiStepLR(opt, milestones=[1, 3], gamma=0.5)
        >>> [(sched.step(), sched.get_last_lr()[0])[1] for _ in range(4)]
        [0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1) -> None:
        for m in milestones:
            _check_int("milestones", m, 0)
        _check_range("gamma", "gamma", gamma, 0.0)
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        hits = self.milestones.count(self.last_epoch)
        return [lr * self.gamma**hits for lr in self._lrs()]


class LambdaLR(LRScheduler):
    """``lr_t = initial_lr * lr_lambda(t)`` (``torch.optim.lr_scheduler.LambdaLR``), set from epoch 0.

    Args:
        optimizer: the scheduled optimizer.
        lr_lambda: a function of the epoch, or one per parameter group.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> from rnnkit.optim import SGD
        >>> opt = SGD([SimpleNamespace(data=np.zeros(1), grad=None)], lr=1.0)
        >>> sched = LambdaLR(opt, lambda epoch: 0.5 ** epoch)
        >>> [sched.get_last_lr()[0]] + [(sched.step(), sched.get_last_lr()[0])[1] for _ in range(2)]
        [1.0, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Any) -> None:
        _check_optimizer(optimizer)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * len(optimizer.param_groups)
        if len(lambdas) != len(optimizer.param_groups) or not all(callable(f) for f in lambdas):
            raise ValueError(f"lr_lambda: expected a function or {len(optimizer.param_groups)} functions")
        self.lr_lambdas = lambdas
        super().__init__(optimizer)
        self._restart()

    def get_lr(self) -> list[float]:
        return [base * f(self.last_epoch) for base, f in zip(self.base_lrs, self.lr_lambdas)]

    def _start_lrs(self) -> list[float]:
        return [base * f(0) for base, f in zip(self.base_lrs, self.lr_lambdas)]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in super().state_dict().items() if k != "lr_lambdas"}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        lambdas = self.lr_lambdas
        super().load_state_dict({**state_dict, "lr_lambdas": lambdas})


class LinearLR(LRScheduler):
    """Scale the learning rate linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` epochs.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> from rnnkit.optim import SGD
        >>> opt = SGD([SimpleNamespace(data=np.zeros(1), grad=None)], lr=1.0)
        >>> sched = LinearLR(opt, start_factor=0.5, total_iters=2)
        >>> [sched.get_last_lr()[0]] + [(sched.step(), sched.get_last_lr()[0])[1] for _ in range(3)]
        [0.5, 0.75, 1.0, 1.0]
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5) -> None:
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError("Starting multiplicative factor expected to be greater than 0 and less or equal to 1.")
        _check_int("total_iters", total_iters, 1)
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer)
        for group in optimizer.param_groups:
            group["lr"] = group["lr"] * start_factor
        self._last_lr = self._lrs()

    def _start_lrs(self) -> list[float]:
        return [base * self.start_factor for base in self.base_lrs]

    def get_lr(self) -> list[float]:
        if self.last_epoch > self.total_iters:
            return self._lrs()
        change = self.end_factor - self.start_factor
        factor = 1.0 + change / (self.total_iters * self.start_factor + (self.last_epoch - 1) * change)
        return [lr * factor for lr in self._lrs()]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (``torch.optim.lr_scheduler.OneCycleLR``): warm up to ``max_lr``, then anneal far below.

    The learning rate goes from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start``
    of ``total_steps``, then down to ``initial_lr / final_div_factor`` (cosine or linear; three
    phases if ``three_phase``); with ``cycle_momentum`` the momentum (or beta1) moves the other way.
    Call ``step()`` after every batch.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> from rnnkit.optim import SGD
        >>> opt = SGD([SimpleNamespace(data=np.zeros(1), grad=None)], lr=0.1, momentum=0.9)
        >>> sched = OneCycleLR(opt, max_lr=1.0, total_steps=4, anneal_strategy="linear")
        >>> [round(sched.get_last_lr()[0], 4)] + [round((sched.step(), sched.get_last_lr()[0])[1], 4) for _ in range(3)]
        [0.04, 0.7143, 0.3571, 0.0]
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True, base_momentum: float = 0.85,
                 max_momentum: float = 0.95, div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False) -> None:
        _check_optimizer(optimizer)
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
            _check_int("epochs", epochs, 1)
            _check_int("steps_per_epoch", steps_per_epoch, 1)
            total_steps = epochs * steps_per_epoch
        _check_int("total_steps", total_steps, 1)
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self.total_steps, self.anneal_strategy, self.cycle_momentum = total_steps, anneal_strategy, cycle_momentum
        up = float(pct_start * total_steps) - 1
        if three_phase:
            self.phases = [[up, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                           [float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr", "base_momentum",
                            "max_momentum"],
                           [total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"]]
        else:
            self.phases = [[up, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                           [total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"]]
        groups = optimizer.param_groups
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
        for group, top in zip(groups, max_lrs):
            group["initial_lr"], group["max_lr"] = top / div_factor, top
            group["min_lr"] = group["initial_lr"] / final_div_factor
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
            self.use_beta1 = "betas" in optimizer.defaults
            for group in groups:
                if self.use_beta1:
                    group["betas"] = (max_momentum, *group["betas"][1:])
                else:
                    group["momentum"] = max_momentum
                group["max_momentum"], group["base_momentum"] = max_momentum, base_momentum
        super().__init__(optimizer)
        self._restart()

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"Tried to step {step} times. The specified number of total steps is {self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, (end_step, lr0, lr1, m0, m1) in enumerate(self.phases):
                if step <= end_step or i == len(self.phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[lr0], group[lr1], pct))
                    if self.cycle_momentum:
                        momentum = self._anneal(group[m0], group[m1], pct)
                        if self.use_beta1:
                            group["betas"] = (momentum, *group["betas"][1:])
                        else:
                            group["momentum"] = momentum
                    break
                start_step = end_step
        return lrs

    def _start_lrs(self) -> list[float]:
        return self.get_lr()


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another, switching at the ``milestones`` (``torch.optim.lr_scheduler.SequentialLR``).

    At each milestone the next scheduler starts from its epoch 0.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> from rnnkit.optim import SGD
        >>> opt = SGD([SimpleNamespace(data=np.zeros(1), grad=None)], lr=1.0)
        >>> warm = LinearLR(opt, start_factor=0.5, total_iters=2)
        >>> decay = ExponentialLR(opt, gamma=0.5)
        >>> sched = SequentialLR(opt, [warm, decay], milestones=[2])
        >>> [sched.get_last_lr()[0]] + [(sched.step(), sched.get_last_lr()[0])[1] for _ in range(4)]
        [0.5, 0.75, 1.0, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int]) -> None:
        _check_optimizer(optimizer)
        if len(schedulers) < 1 or len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more than the number of "
                f"milestone points, but got number of schedulers {len(schedulers)} and the number of milestones "
                f"to be equal to {len(milestones)}"
            )
        for i, scheduler in enumerate(schedulers):
            if scheduler.optimizer is not optimizer:
                raise ValueError(f"Sequential Schedulers expects all schedulers to belong to the same optimizer, "
                                 f"but got scheduler at index {i} to be different")
        self.optimizer, self._schedulers, self._milestones = optimizer, list(schedulers), list(milestones)
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self._schedulers[0]._restart()
        self._last_lr = self._schedulers[0].get_last_lr()

    def step(self) -> None:
        self.last_epoch += 1
        index = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._restart()
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch, "_milestones": list(self._milestones), "_last_lr": list(self._last_lr),
                "base_lrs": list(self.base_lrs), "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        for scheduler, state in zip(self._schedulers, state_dict["_schedulers"]):
            scheduler.load_state_dict(state)
        self.last_epoch, self._last_lr = state_dict["last_epoch"], list(state_dict["_last_lr"])
