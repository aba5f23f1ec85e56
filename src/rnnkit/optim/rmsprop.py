"""RMSprop: divide by a running root-mean-square of the gradients (``torch.optim.RMSprop``).

Shapes: every array has the parameter's shape, written ``(*P)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from rnnkit.optim.optimizer import Optimizer, _check_nonnegative, _lerp_

__all__ = ["RMSprop", "rmsprop"]


def rmsprop(
    param: np.ndarray,
    grad: np.ndarray,
    square_avg: np.ndarray,
    grad_avg: np.ndarray | None,
    momentum_buffer: np.ndarray | None,
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    maximize: bool,
) -> None:
    """One RMSprop step on one parameter, in place; PyTorch's update rule.

    Equations (``v`` is ``square_avg``, ``m`` is ``grad_avg``, ``b`` the momentum buffer)::

        g     = -grad if maximize else grad
        g     = g + weight_decay * param                  (if weight_decay != 0)
        v_t   = alpha * v_{t-1} + (1 - alpha) * g * g
        m_t   = alpha * m_{t-1} + (1 - alpha) * g         (if centered)
        d     = sqrt(v_t - m_t * m_t) + eps  if centered  else  sqrt(v_t) + eps
        b_t   = momentum * b_{t-1} + g / d;  param = param - lr * b_t    (if momentum > 0)
        param = param - lr * g / d                                       (otherwise)

    Args:
        param: ``(*P)`` updated in place.
        grad: ``(*P)`` gradient (not modified).
        square_avg: ``(*P)`` running mean of ``g * g``, updated in place.
        grad_avg: ``(*P)`` running mean of ``g`` (used and updated when centered), else None.
        momentum_buffer: ``(*P)`` (used and updated when momentum > 0), else None.
        lr, alpha, eps, weight_decay, momentum, centered, maximize: as :class:`RMSprop`.

    Example:
        >>> import numpy as np
        >>> p, v = np.array([1.0]), np.zeros(1)
        >>> rmsprop(p, np.array([2.0]), v, None, None, lr=0.1, alpha=0.75, eps=0.0,
        ...         weight_decay=0.0, momentum=0.0, centered=False, maximize=False)
        >>> p, v
        (array([0.8]), array([1.]))
    """
    g = -grad if maximize else grad  # (*P)
    if weight_decay != 0:
        g = g + weight_decay * param  # (*P)
    square_avg *= alpha  # (*P)
    square_avg += (1 - alpha) * g * g  # (*P)
    if centered:
        _lerp_(grad_avg, g, 1 - alpha)  # (*P)
        avg = np.sqrt(square_avg - grad_avg * grad_avg)  # (*P)
    else:
        avg = np.sqrt(square_avg)  # (*P)
    avg += eps  # (*P)
    if momentum > 0:
        momentum_buffer *= momentum  # (*P)
        momentum_buffer += g / avg  # (*P)
        param -= lr * momentum_buffer  # (*P)
    else:
        param -= lr * (g / avg)  # (*P)


class RMSprop(Optimizer):
    """RMSprop (``torch.optim.RMSprop``); the update is :func:`rmsprop`.

    State per parameter: ``step`` (int), ``square_avg`` ``(*P)``, plus ``momentum_buffer``
    when ``momentum > 0`` and ``grad_avg`` when ``centered``.

    Args:
        params: parameters or parameter groups (see :class:`~rnnkit.optim.Optimizer`).
        lr: learning rate.
        alpha: smoothing constant of the running averages.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty added to the gradient.
        momentum: momentum factor.
        centered: normalize by an estimate of the gradient's variance instead of its second moment.
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> p = SimpleNamespace(data=np.array([1.0, 2.0]), grad=np.array([3.0, -4.0]))
        >>> RMSprop([p], lr=0.01, alpha=0.75, eps=0.0).step()
        >>> p.data
        array([0.98, 2.02])
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
            weight_decay=weight_decay, maximize=maximize,
        )
        super().__init__(params, defaults)

    def _validate(self, group: Mapping[str, Any]) -> None:
        _check_nonnegative(group, "lr", "eps", "momentum", "weight_decay", "alpha")

    def _init_state(self, param: np.ndarray, group: Mapping[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {"step": 0, "square_avg": np.zeros_like(param)}  # (*P)
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(param)  # (*P)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(param)  # (*P)
        return state

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: Mapping[str, Any]) -> None:
        state["step"] += 1
        rmsprop(
            param, grad, state["square_avg"], state.get("grad_avg"), state.get("momentum_buffer"),
            lr=float(group["lr"]), alpha=float(group["alpha"]), eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]), momentum=float(group["momentum"]),
            centered=bool(group["centered"]), maximize=bool(group["maximize"]),
        )
