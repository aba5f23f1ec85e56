"""L-BFGS (``torch.optim.LBFGS``) with PyTorch's iteration, stopping rules and state, without line search.

Each ``step(closure)`` runs up to ``max_iter`` quasi-Newton iterations; the closure re-evaluates
the loss and its gradients. The search direction comes from the two-loop recursion over the
last ``history_size`` curvature pairs (s, y)::

    q = -g;  for i newest..oldest: a_i = rho_i s_i.q;  q -= a_i y_i
    r = H0 q (H0 = s.y / y.y of the newest pair)
    for i oldest..newest: b_i = rho_i y_i.r;  r += (a_i - b_i) s_i
    d = r;  params += t * d   (t = min(1, 1 / |g|_1) * lr on the first iteration, then lr)

Shapes: N is the total number of parameter elements (all parameters flattened into one vector).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from rnnkit._grad_mode import enable_grad
from rnnkit._tensor import Tensor, mark_modified
from rnnkit.optim.optimizer import Optimizer, _check_nonnegative, _values

__all__ = ["LBFGS"]


class LBFGS(Optimizer):
    """Limited-memory BFGS over all parameters as one vector.

    Args:
        params: parameters (one group only, as torch).
        lr: step length.
        max_iter: iterations per ``step``.
        max_eval: closure evaluations per ``step`` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when max |gradient| is at most this.
        tolerance_change: stop when the step or the loss changes less than this.
        history_size: curvature pairs kept.
        line_search_fn: None (a fixed step); ``"strong_wolfe"`` is not available in rnnkit.

    Example:
        >>> import rnnkit
        >>> x = rnnkit.nn.Parameter(rnnkit.tensor([1.5, -0.5], dtype=rnnkit.float64))
        >>> opt = LBFGS([x], lr=1.0)
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = ((x - 3.0) ** 2).sum()
        ...     loss.backward()
        ...     return loss
        >>> _ = opt.step(closure)
        >>> x.data.round(decimals=6)
        tensor([3., 3.], dtype=rnnkit.float64)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1.0, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        if line_search_fn is not None:
            raise ValueError(f"LBFGS(line_search_fn={line_search_fn!r}): rnnkit's LBFGS takes fixed steps (None) only")
        max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=None)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params_list = self.param_groups[0]["params"]

    def _validate(self, group: dict) -> None:
        _check_nonnegative(group, "lr", "tolerance_grad", "tolerance_change")
        for name in ("max_iter", "max_eval", "history_size"):
            if isinstance(group[name], bool) or not isinstance(group[name], int) or group[name] < 1:
                raise ValueError(f"Invalid {name} value: {group[name]} ({name} must be an int >= 1)")

    def _flat_grad(self) -> np.ndarray:
        """(N,) every gradient (zeros where None), concatenated."""
        parts = [np.zeros(_values(p).size, _values(p).dtype) if p.grad is None else np.asarray(p.grad).ravel()
                 for p in self._params_list]
        return np.concatenate(parts)

    def _add(self, t: float, d: np.ndarray) -> None:
        """params += t * d, slice by slice."""
        offset = 0
        for p in self._params_list:
            values = _values(p)
            values += t * d[offset : offset + values.size].reshape(values.shape)
            offset += values.size
            if isinstance(p, Tensor):
                mark_modified(p)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # noqa: C901 - torch's loop, kept whole
        """Run up to ``max_iter`` iterations; return the closure's first loss."""
        if closure is None:
            raise RuntimeError("LBFGS.step needs a closure that re-evaluates the model and returns the loss")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change, history_size = (
            group["tolerance_grad"], group["tolerance_change"], group["history_size"])
        state = self.state[self._params_list[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()  # (N,)
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss
        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag, prev_flat_grad, prev_loss = state.get("H_diag"), state.get("prev_flat_grad"), state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad  # (N,)
                old_dirs, old_stps, ro, H_diag = [], [], [], 1
            else:
                y = flat_grad - prev_flat_grad  # (N,)
                s = d * t  # (N,)
                ys = y.dot(s)
                if ys > 1e-10:
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                    old_dirs.append(y), old_stps.append(s), ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)
                al = [0.0] * len(old_dirs)
                q = -flat_grad  # (N,)
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q = q - al[i] * old_dirs[i]
                d = r = q * H_diag  # (N,)
                for i in range(len(old_dirs)):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            t = min(1.0, 1.0 / float(np.abs(flat_grad).sum())) * lr if state["n_iter"] == 1 else lr
            if flat_grad.dot(d) > -tolerance_change:  # not a descent direction
                break
            ls_func_evals = 0
            self._add(t, d)
            opt_cond = False
            if n_iter != max_iter:
                with enable_grad():
                    loss = float(closure())
                flat_grad = self._flat_grad()
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break
        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss
