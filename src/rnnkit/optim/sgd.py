"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (``torch.optim.SGD``).

Shapes: every array has the parameter's shape, written ``(*P)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from rnnkit.optim.optimizer import Optimizer, _check_nonnegative, _check_real

__all__ = ["SGD", "sgd"]


def sgd(
    param: np.ndarray,
    grad: np.ndarray,
    momentum_buffer: np.ndarray | None,
    *,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
) -> np.ndarray | None:
    """One SGD step on one parameter, in place; PyTorch's update rule.

    Equations (``b`` is the momentum buffer, ``t`` the step)::

        g   = -grad if maximize else grad
        g   = g + weight_decay * param                      (if weight_decay != 0)
        b_t = g                               if t == 1     (if momentum != 0)
        b_t = momentum * b_{t-1} + (1 - dampening) * g
        g   = g + momentum * b_t if nesterov else b_t
        param = param - lr * g

    Args:
        param: ``(*P)`` updated in place.
        grad: ``(*P)`` gradient (not modified).
        momentum_buffer: ``(*P)`` buffer from the previous step, or None before the first.
        lr, momentum, dampening, weight_decay, nesterov, maximize: as :class:`SGD`.

    Returns:
        The momentum buffer ``(*P)`` to keep for the next step (None when momentum == 0).

    Example:
        >>> import numpy as np
        >>> p = np.array([1.0, 2.0])
        >>> b = sgd(p, np.array([1.0, 1.0]), None, lr=0.5, momentum=0.9, dampening=0.0,
        ...         weight_decay=0.0, nesterov=False, maximize=False)
        >>> p, b
        (array([0.5, 1.5]), array([1., 1.]))
    """
    g = -grad if maximize else grad  # (*P)
    if weight_decay != 0:
        g = g + weight_decay * param  # (*P)
    if momentum != 0:
        if momentum_buffer is None:
            momentum_buffer = g.copy()  # (*P)
        else:
            momentum_buffer *= momentum  # (*P)
            momentum_buffer += (1 - dampening) * g  # (*P)
        g = g + momentum * momentum_buffer if nesterov else momentum_buffer  # (*P)
    param -= lr * g  # (*P)
    return momentum_buffer


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (``torch.optim.SGD``).

    The update is :func:`sgd`. State per parameter: ``momentum_buffer`` (only when
    ``momentum != 0``).

    Args:
        params: parameters or parameter groups (see :class:`~rnnkit.optim.Optimizer`).
        lr: learning rate (PyTorch's default, 1e-3).
        momentum: momentum factor.
        dampening: dampening of the momentum.
        weight_decay: L2 penalty added to the gradient.
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening == 0).
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> p = SimpleNamespace(data=np.array([1.0, 2.0]), grad=np.array([0.5, -0.5]))
        >>> opt = SGD([p], lr=0.1, momentum=0.9)
        >>> opt.step(); opt.step()
        >>> p.data
        array([0.855, 2.145])
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov, maximize=maximize,
        )
        super().__init__(params, defaults)

    def _validate(self, group: Mapping[str, Any]) -> None:
        _check_nonnegative(group, "lr", "momentum", "weight_decay")
        _check_real("dampening", group["dampening"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "Nesterov momentum requires a momentum and zero dampening "
                f"(nesterov=True, momentum={group['momentum']}, dampening={group['dampening']})"
            )

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: Mapping[str, Any]) -> None:
        buffer = sgd(
            param, grad, state.get("momentum_buffer"),
            lr=float(group["lr"]), momentum=float(group["momentum"]), dampening=float(group["dampening"]),
            weight_decay=float(group["weight_decay"]), nesterov=bool(group["nesterov"]),
            maximize=bool(group["maximize"]),
        )
        if buffer is not None:
            state["momentum_buffer"] = buffer
