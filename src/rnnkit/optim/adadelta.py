"""Adadelta (``torch.optim.Adadelta``).

Shapes: every array has the parameter's shape, written ``(*P)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from rnnkit.optim.optimizer import Optimizer, _check_nonnegative, _check_range

__all__ = ["Adadelta", "adadelta"]


def adadelta(param: np.ndarray, grad: np.ndarray, square_avg: np.ndarray, acc_delta: np.ndarray, *, lr: float,
             rho: float, eps: float, weight_decay: float, maximize: bool) -> None:
    """One Adadelta step on one parameter, in place; PyTorch's update rule and rounding order.

    Equations (``v`` the running mean of g², ``u`` that of the updates²)::

        g     = -grad if maximize else grad;  g = g + weight_decay * param   (if weight_decay != 0)
        v     = rho * v + (1 - rho) * g * g
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u     = rho * u + (1 - rho) * delta * delta
        param = param - lr * delta

    Example:
        >>> import numpy as np
        >>> p, v, u = np.array([1.0]), np.zeros(1), np.zeros(1)
        >>> adadelta(p, np.array([2.0]), v, u, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False)
        >>> p.round(6)
        array([0.996838])
    """
    g = -grad if maximize else grad  # (*P)
    if weight_decay != 0:
        g = g + weight_decay * param  # (*P)
    square_avg *= rho  # (*P)
    square_avg += (1 - rho) * g * g  # (*P)
    std = np.sqrt(square_avg + eps)  # (*P)
    delta = np.sqrt(acc_delta + eps) / std * g  # (*P)
    acc_delta *= rho  # (*P)
    acc_delta += (1 - rho) * delta * delta  # (*P)
    param -= lr * delta  # (*P)


class Adadelta(Optimizer):
    """Adadelta, as ``torch.optim.Adadelta``; the update is :func:`adadelta`.

    Args:
        params: parameters or parameter groups.
        lr: scale of the update (PyTorch's default, 1.0).
        rho: decay of both running averages.
        eps: added inside both square roots.
        weight_decay: L2 penalty added to the gradient.
        maximize: maximize the objective instead.

    Example:
        >>> import rnnkit
        >>> p = rnnkit.nn.Parameter(rnnkit.ones(2))
        >>> p.grad = rnnkit.ones(2)
        >>> Adadelta([p]).step()
        >>> p.data.round(decimals=4)
        tensor([0.9968, 0.9968])
    """

    def __init__(self, params: Iterable[Any], lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _validate(self, group: Mapping[str, Any]) -> None:
        _check_nonnegative(group, "lr", "eps", "weight_decay")
        _check_range("rho", "rho value", group["rho"], 0.0, 1.0 + 1e-12)

    def _init_state(self, param: np.ndarray, group: Mapping[str, Any]) -> dict[str, Any]:
        return {"step": 0, "square_avg": np.zeros_like(param), "acc_delta": np.zeros_like(param)}  # (*P)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: Mapping[str, Any]) -> None:
        state["step"] += 1
        adadelta(param, grad, state["square_avg"], state["acc_delta"], lr=float(group["lr"]),
                 rho=float(group["rho"]), eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                 maximize=bool(group["maximize"]))
