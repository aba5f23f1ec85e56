"""Adamax, NAdam and RAdam (``torch.optim``): Adam's moments with an infinity norm, Nesterov
momentum, or a rectified variance. PyTorch's update rules and rounding order.

Shapes: every array has the parameter's shape, written ``(*P)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from rnnkit.optim.optimizer import Optimizer, _check_nonnegative, _check_range, _lerp_

__all__ = ["Adamax", "NAdam", "RAdam"]


class _AdamFamily(Optimizer):
    """Shared options and checks: ``lr``, ``betas``, ``eps``, ``weight_decay``, ``maximize``."""

    def _validate(self, group: Mapping[str, Any]) -> None:
        _check_nonnegative(group, "lr", "eps", "weight_decay")
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair of floats, got {betas!r}")
        for i, beta in enumerate(betas):
            _check_range(f"betas[{i}]", f"beta parameter at index {i}", beta, 0.0, 1.0)

    def _gradient(self, param: np.ndarray, grad: np.ndarray, group: Mapping[str, Any]) -> np.ndarray:
        g = -grad if group["maximize"] else grad  # (*P)
        if group["weight_decay"] != 0 and not group.get("decoupled_weight_decay", False):
            g = g + group["weight_decay"] * param  # (*P)
        return g


class Adamax(_AdamFamily):
    """Adam with the infinity norm, as ``torch.optim.Adamax``.

    Equations::

        m = lerp(m, g, 1 - beta1);  u = max(beta2 * u, |g| + eps)
        param = param - lr / (1 - beta1^t) * m / u

    Example:
        >>> import rnnkit
        >>> p = rnnkit.nn.Parameter(rnnkit.ones(2))
        >>> p.grad = rnnkit.ones(2)
        >>> Adamax([p], lr=0.1).step()
        >>> p.data.round(decimals=4)
        tensor([0.9000, 0.9000])
    """

    def __init__(self, params: Iterable[Any], lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _init_state(self, param: np.ndarray, group: Mapping[str, Any]) -> dict[str, Any]:
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_inf": np.zeros_like(param)}  # (*P)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: Mapping[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        state["step"] += 1
        g = self._gradient(param, grad, group)  # (*P)
        _lerp_(state["exp_avg"], g, 1 - beta1)
        exp_inf = state["exp_inf"]
        exp_inf *= beta2  # (*P)
        np.maximum(exp_inf, np.abs(g) + group["eps"], out=exp_inf)  # (*P)
        clr = group["lr"] / (1 - beta1 ** state["step"])
        param -= clr * (state["exp_avg"] / exp_inf)  # (*P)


class NAdam(_AdamFamily):
    """Adam with Nesterov momentum and a momentum schedule, as ``torch.optim.NAdam``.

    Equations (``mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay))``, ``P_t`` their product)::

        m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g²;  d = sqrt(v / (1 - beta2^t)) + eps
        param -= lr (1 - mu_t) / (1 - P_t) * g / d + lr mu_{t+1} / (1 - P_t mu_{t+1}) * m / d

    ``mu_product`` is kept in float32 (float64 under a float64 default dtype), as torch keeps it.

    Example:
        >>> import rnnkit
        >>> p = rnnkit.nn.Parameter(rnnkit.ones(2))
        >>> p.grad = rnnkit.ones(2)
        >>> NAdam([p], lr=0.1).step()
        >>> p.data.round(decimals=4)
        tensor([0.8944, 0.8944])
    """

    def __init__(self, params: Iterable[Any], lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3, *,
                 decoupled_weight_decay: bool = False, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _validate(self, group: Mapping[str, Any]) -> None:
        super()._validate(group)
        _check_nonnegative(group, "momentum_decay")

    def _init_state(self, param: np.ndarray, group: Mapping[str, Any]) -> dict[str, Any]:
        from rnnkit._dtype import get_default_dtype

        return {"step": 0, "mu_product": np.ones((), get_default_dtype().dtype),
                "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}  # (*P)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: Mapping[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        lr, eps, decay = group["lr"], group["eps"], group["momentum_decay"]
        state["step"] += 1
        step = state["step"]
        if group["weight_decay"] != 0 and group["decoupled_weight_decay"]:
            param *= 1 - lr * group["weight_decay"]  # (*P)
        g = self._gradient(param, grad, group)  # (*P)
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * decay)))
        state["mu_product"] = (state["mu_product"] * mu).astype(state["mu_product"].dtype)
        product = float(state["mu_product"])
        _lerp_(state["exp_avg"], g, 1 - beta1)
        state["exp_avg_sq"] *= beta2  # (*P)
        state["exp_avg_sq"] += (1 - beta2) * g * g  # (*P)
        denom = np.sqrt(state["exp_avg_sq"] / (1 - beta2**step)) + eps  # (*P)
        param += (-lr * (1.0 - mu) / (1.0 - product)) * (g / denom)  # (*P)
        param += ((-lr * mu_next) / (1.0 - product * mu_next)) * (state["exp_avg"] / denom)  # (*P)


class RAdam(_AdamFamily):
    """Adam with a rectified adaptive learning rate, as ``torch.optim.RAdam``.

    Equations (``rho_inf = 2 / (1 - beta2) - 1``, ``rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)``)::

        m̂ = m / (1 - beta1^t)
        if rho_t > 5:  param -= lr m̂ sqrt(1 - beta2^t) / (sqrt(v) + eps) * r_t,
                       r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        else:          param -= lr m̂

    Example:
        >>> import rnnkit
        >>> p = rnnkit.nn.Parameter(rnnkit.ones(2))
        >>> p.grad = rnnkit.ones(2)
        >>> RAdam([p], lr=0.1).step()
        >>> p.data.round(decimals=4)
        tensor([0.9000, 0.9000])
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *, decoupled_weight_decay: bool = False,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

    def _init_state(self, param: np.ndarray, group: Mapping[str, Any]) -> dict[str, Any]:
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}  # (*P)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: Mapping[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        lr = group["lr"]
        state["step"] += 1
        step = state["step"]
        if group["weight_decay"] != 0 and group["decoupled_weight_decay"]:
            param *= 1 - lr * group["weight_decay"]  # (*P)
        g = self._gradient(param, grad, group)  # (*P)
        _lerp_(state["exp_avg"], g, 1 - beta1)
        state["exp_avg_sq"] *= beta2  # (*P)
        state["exp_avg_sq"] += (1 - beta2) * g * g  # (*P)
        bias_correction1, bias_correction2 = 1 - beta1**step, 1 - beta2**step
        corrected = state["exp_avg"] / bias_correction1  # (*P)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            adaptive = (bias_correction2**0.5) / (np.sqrt(state["exp_avg_sq"]) + group["eps"])  # (*P)
            param -= corrected * lr * adaptive * rect  # (*P)
        else:
            param -= corrected * lr  # (*P)
