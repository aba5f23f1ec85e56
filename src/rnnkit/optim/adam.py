"""Adam and AdamW: bias-corrected moment estimates (``torch.optim.Adam``, ``torch.optim.AdamW``).

Both share :func:`adam`; AdamW is Adam with ``decoupled_weight_decay=True`` (as in PyTorch).

Shapes: every array has the parameter's shape, written ``(*P)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from rnnkit.cells import kernels
from rnnkit.optim.optimizer import Optimizer, _check_nonnegative, _check_range, _lerp_

__all__ = ["Adam", "AdamW", "adam"]


def adam(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    max_exp_avg_sq: np.ndarray | None,
    step: int,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> None:
    """One Adam / AdamW step on one parameter, in place; PyTorch's update rule.

    Equations (``t`` is ``step``, counted from 1; ``m`` = exp_avg, ``v`` = exp_avg_sq)::

        g      = -grad if maximize else grad
        param  = param * (1 - lr * weight_decay)      (decoupled, AdamW)
        g      = g + weight_decay * param             (coupled, Adam)
        m_t    = beta1 * m_{t-1} + (1 - beta1) * g
        v_t    = beta2 * v_{t-1} + (1 - beta2) * g * g
        vmax_t = max(vmax_{t-1}, v_t)                 (amsgrad; then used in place of v_t)
        d      = sqrt(v_t) / sqrt(1 - beta2**t) + eps
        param  = param - lr / (1 - beta1**t) * m_t / d

    Args:
        param: ``(*P)`` updated in place.
        grad: ``(*P)`` gradient (not modified).
        exp_avg, exp_avg_sq: ``(*P)`` moment estimates, updated in place.
        max_exp_avg_sq: ``(*P)`` running max of ``exp_avg_sq`` when amsgrad, else None.
        step: the number of this step, 1 for the first.
        lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay: as :class:`Adam`.

    Example:
        >>> import numpy as np
        >>> p, m, v = np.array([1.0]), np.zeros(1), np.zeros(1)
        >>> adam(p, np.array([2.0]), m, v, None, 1, lr=0.1, beta1=0.9, beta2=0.999, eps=0.0,
        ...      weight_decay=0.0, amsgrad=False, maximize=False, decoupled_weight_decay=False)
        >>> p.round(12)
        array([0.9])
    """
    g = -grad if maximize else grad  # (*P)
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay  # (*P)
        else:
            g = g + weight_decay * param  # (*P)
    bias_correction1 = 1 - beta1**step  # scalar
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5  # scalar
    compiled = None if amsgrad or abs(1 - beta1) >= 0.5 else _compiled(param, g, exp_avg, exp_avg_sq)
    if compiled is not None:  # the same operations in one compiled pass, to the last bit
        f = param.dtype.type  # the scalars in the arrays' dtype, as NumPy casts a Python float
        compiled.adam_moments_update(param.reshape(-1), g.reshape(-1), exp_avg.reshape(-1), exp_avg_sq.reshape(-1),
                                     f(1 - beta1), f(beta2), f(1 - beta2), f(lr / bias_correction1),
                                     f(bias_correction2_sqrt), f(eps))
        return
    _lerp_(exp_avg, g, 1 - beta1)  # (*P)
    exp_avg_sq *= beta2  # (*P)
    exp_avg_sq += (1 - beta2) * g * g  # (*P)
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)  # (*P)
        second = max_exp_avg_sq  # (*P)
    else:
        second = exp_avg_sq  # (*P)
    denom = np.sqrt(second) / bias_correction2_sqrt + eps  # (*P)
    param -= (lr / bias_correction1) * (exp_avg / denom)  # (*P)


def _compiled(*arrays: np.ndarray):
    """The compiled update (:mod:`rnnkit.optim._numba_adam`) where the numba kernel is in use
    (:func:`rnnkit.cells.kernels.current`) and the arrays are C-contiguous, of one float dtype; else None."""
    dtype = arrays[0].dtype
    if (kernels.current().name != "numba" or dtype not in (np.float32, np.float64)
            or not all([a.dtype == dtype and a.flags.c_contiguous for a in arrays])):
        return None
    from rnnkit.optim import _numba_adam

    return _numba_adam


class Adam(Optimizer):
    """Adam (``torch.optim.Adam``); the update is :func:`adam`.

    State per parameter: ``step`` (int), ``exp_avg`` and ``exp_avg_sq`` ``(*P)``, plus
    ``max_exp_avg_sq`` when ``amsgrad``.

    Args:
        params: parameters or parameter groups (see :class:`~rnnkit.optim.Optimizer`).
        lr: learning rate.
        betas: decay rates ``(beta1, beta2)`` of the first and second moment estimates.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty (added to the gradient unless decoupled).
        amsgrad: use the running maximum of the second moment (AMSGrad).
        maximize: maximize the objective instead of minimizing it.
        decoupled_weight_decay: shrink the parameter directly, as AdamW.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> p = SimpleNamespace(data=np.array([1.0, 2.0]), grad=np.array([3.0, -4.0]))
        >>> Adam([p], lr=0.1).step()
        >>> p.data.round(6)
        array([0.9, 2.1])
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize, decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _validate(self, group: Mapping[str, Any]) -> None:
        _check_nonnegative(group, "lr", "eps")
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        _check_range("betas[0]", "beta parameter at index 0", betas[0], 0.0, 1.0)
        _check_range("betas[1]", "beta parameter at index 1", betas[1], 0.0, 1.0)
        _check_nonnegative(group, "weight_decay")

    def _init_state(self, param: np.ndarray, group: Mapping[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(param)  # (*P)
        return state

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: Mapping[str, Any]) -> None:
        state["step"] += 1
        beta1, beta2 = group["betas"]
        adam(
            param, grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"), state["step"],
            lr=float(group["lr"]), beta1=float(beta1), beta2=float(beta2), eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]), amsgrad=bool(group["amsgrad"]),
            maximize=bool(group["maximize"]), decoupled_weight_decay=bool(group["decoupled_weight_decay"]),
        )


class AdamW(Adam):
    """AdamW (``torch.optim.AdamW``): Adam with decoupled weight decay, default 1e-2.

    Args:
        params, lr, betas, eps, amsgrad, maximize: as :class:`Adam`.
        weight_decay: decoupled decay; each step multiplies the parameter by ``1 - lr * weight_decay``.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> p = SimpleNamespace(data=np.array([1.0]), grad=np.array([0.0]))
        >>> AdamW([p], lr=0.1, weight_decay=0.5).step()
        >>> p.data
        array([0.95])
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, decoupled_weight_decay=True
        )

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """As :meth:`Optimizer.load_state_dict`; weight decay stays decoupled (as PyTorch's AdamW)."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
