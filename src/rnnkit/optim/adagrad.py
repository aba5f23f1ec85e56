"""Adagrad: per-coordinate learning rates from the sum of squared gradients (``torch.optim.Adagrad``).

Shapes: every array has the parameter's shape, written ``(*P)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from rnnkit.optim.optimizer import Optimizer, _check_nonnegative

__all__ = ["Adagrad", "adagrad"]


def adagrad(
    param: np.ndarray,
    grad: np.ndarray,
    state_sum: np.ndarray,
    step: int,
    *,
    lr: float,
    lr_decay: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    """One Adagrad step on one parameter, in place; PyTorch's update rule.

    Equations (``t`` is ``step``, counted from 1; ``s`` is ``state_sum``)::

        g     = -grad if maximize else grad
        g     = g + weight_decay * param                  (if weight_decay != 0)
        lr_t  = lr / (1 + (t - 1) * lr_decay)
        s_t   = s_{t-1} + g * g
        param = param - lr_t * g / (sqrt(s_t) + eps)

    Args:
        param: ``(*P)`` updated in place.
        grad: ``(*P)`` gradient (not modified).
        state_sum: ``(*P)`` running sum of squared gradients, updated in place.
        step: the number of this step, 1 for the first.
        lr, lr_decay, weight_decay, eps, maximize: as :class:`Adagrad`.

    Example:
        >>> import numpy as np
        >>> p, s = np.array([1.0]), np.zeros(1)
        >>> adagrad(p, np.array([2.0]), s, 1, lr=0.5, lr_decay=0.0, weight_decay=0.0, eps=0.0, maximize=False)
        >>> p, s
        (array([0.5]), array([4.]))
    """
    g = -grad if maximize else grad  # (*P)
    if weight_decay != 0:
        g = g + weight_decay * param  # (*P)
    clr = lr / (1 + (step - 1) * lr_decay)  # scalar
    state_sum += g * g  # (*P)
    std = np.sqrt(state_sum) + eps  # (*P)
    param -= clr * (g / std)  # (*P)


class Adagrad(Optimizer):
    """Adagrad (``torch.optim.Adagrad``); the update is :func:`adagrad`.

    State per parameter (created at construction, as PyTorch): ``step`` (int) and ``sum``
    ``(*P)`` filled with ``initial_accumulator_value``.

    Args:
        params: parameters or parameter groups (see :class:`~rnnkit.optim.Optimizer`).
        lr: learning rate.
        lr_decay: learning-rate decay per step.
        weight_decay: L2 penalty added to the gradient.
        initial_accumulator_value: starting value of the squared-gradient sum.
        eps: added to the denominator for numerical stability.
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> p = SimpleNamespace(data=np.array([1.0, 2.0]), grad=np.array([3.0, -4.0]))
        >>> Adagrad([p], lr=0.1).step()
        >>> p.data.round(6)
        array([0.9, 2.1])
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, maximize=maximize,
        )
        super().__init__(params, defaults)
        for group, _, param in self._params():  # eager, as PyTorch: the state exists before the first step
            self._state_for(param, group)

    def _validate(self, group: Mapping[str, Any]) -> None:
        _check_nonnegative(group, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def _init_state(self, param: np.ndarray, group: Mapping[str, Any]) -> dict[str, Any]:
        return {"step": 0, "sum": np.full_like(param, group["initial_accumulator_value"])}  # (*P)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: Mapping[str, Any]) -> None:
        state["step"] += 1
        adagrad(
            param, grad, state["sum"], state["step"],
            lr=float(group["lr"]), lr_decay=float(group["lr_decay"]), weight_decay=float(group["weight_decay"]),
            eps=float(group["eps"]), maximize=bool(group["maximize"]),
        )
