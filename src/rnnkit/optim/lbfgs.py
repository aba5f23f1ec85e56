"""L-BFGS (``torch.optim.LBFGS``) with PyTorch's iteration, stopping rules, state and strong-Wolfe line search.

Each ``step(closure)`` runs up to ``max_iter`` quasi-Newton iterations; the closure re-evaluates
the loss and its gradients. The search direction comes from the two-loop recursion over the
last ``history_size`` curvature pairs (s, y)::

    q = -g;  for i newest..oldest: a_i = rho_i s_i.q;  q -= a_i y_i
    r = H0 q (H0 = s.y / y.y of the newest pair)
    for i oldest..newest: b_i = rho_i y_i.r;  r += (a_i - b_i) s_i
    d = r;  params += t * d   (t = min(1, 1 / |g|_1) * lr on the first iteration, then lr)

With ``line_search_fn="strong_wolfe"`` the step length t starts there and is then chosen by a
bracketing and zoom line search (Nocedal & Wright, Algorithms 3.5/3.6, as minFunc and torch do)
until the strong Wolfe conditions hold::

    f(x + t d) <= f(x) + c1 t g.d        (sufficient decrease, c1 = 1e-4)
    |g(x + t d).d| <= -c2 g.d             (curvature, c2 = 0.9)

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

_LINE_SEARCHES = ("strong_wolfe",)


def _cubic_minimum(x1: Any, f1: Any, g1: Any, x2: Any, f2: Any, g2: Any, bounds: tuple | None = None) -> Any:
    """The minimiser of the cubic through (x1, f1, f1'=g1) and (x2, f2, f2'=g2), clipped to ``bounds``.

    With d1 = g1 + g2 - 3 (f1 - f2) / (x1 - x2) and d2 = sqrt(d1^2 - g1 g2), the minimum lies at
    x2 - (x2 - x1) (g2 + d2 - d1) / (g2 - g1 + 2 d2) (the formula written from the larger x);
    when d1^2 < g1 g2 the cubic has no minimum and the midpoint of the bounds is returned.

    Args:
        x1, f1, g1: one point, its value and its slope.
        x2, f2, g2: the other point.
        bounds: (low, high) to clip to; default the interval between x1 and x2.

    Returns:
        The step (a scalar).

    Example:
        >>> float(_cubic_minimum(0.0, 1.0, -2.0, 2.0, 1.0, 2.0))  # the parabola (x - 1)^2
        1.0
    """
    low, high = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if not d2_square >= 0:  # no real minimum (or NaN)
        return (low + high) / 2.0
    d2 = np.sqrt(d2_square)
    if x1 <= x2:
        at = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        at = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(at, low), high)


def _strong_wolfe(evaluate: Callable[[Any], tuple[float, np.ndarray]], t: Any, d: np.ndarray, f: float,
                  g: np.ndarray, gtd: Any, c1: float = 1e-4, c2: float = 0.9, tolerance_change: float = 1e-9,
                  max_ls: int = 25) -> tuple[float, np.ndarray, Any, int]:
    """Find a step t along d that meets the strong Wolfe conditions: bracket, then zoom.

    Args:
        evaluate: t -> (f(x + t d), g(x + t d) (N,)), leaving the parameters at x.
        t: the first trial step.
        d: (N,) the search direction.
        f, g, gtd: f(x), g(x) (N,) and g(x).d (negative: d descends).
        c1, c2: the sufficient-decrease and curvature constants.
        tolerance_change: stop zooming when the bracket is shorter than this (in units of max |d|).
        max_ls: the most evaluations.

    Returns:
        (f(x + t d), g(x + t d), t, number of evaluations).

    Example:
        >>> f = lambda t: ((t - 3.0) ** 2, np.array([2 * (t - 3.0)]))  # along d = [1] from x = 0
        >>> f_t, g_t, t, evals = _strong_wolfe(f, 10.0, np.array([1.0]), 9.0, np.array([-6.0]), -6.0)
        >>> float(t), evals  # t = 10 overshoots: the bracket [0, 10] is zoomed to the minimum
        (3.0, 2)
    """
    d_norm = np.abs(d).max()
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done, ls_iter = False, 0
    bracket: list = []
    while ls_iter < max_ls:  # bracketing: grow t until an interval holds a Wolfe point
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):  # too far: bracketed
            bracket = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, g_new, gtd_new]]
            break
        if abs(gtd_new) <= -c2 * gtd:  # both conditions hold
            bracket, done = [[t, f_new, g_new, gtd_new]], True
            break
        if gtd_new >= 0:  # the slope turned: bracketed
            bracket = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, g_new, gtd_new]]
            break
        t_next = _cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket = [[0, f, g, gtd], [t, f_new, g_new, None]]
    low, high = (0, 1) if bracket[0][1] <= bracket[-1][1] else (1, 0)
    insufficient = False
    while not done and ls_iter < max_ls:  # zoom: shrink the bracket around a Wolfe point
        (a, f_a, _, gtd_a), (b, f_b, _, gtd_b) = bracket
        if abs(b - a) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(a, f_a, gtd_a, b, f_b, gtd_b)
        eps = 0.1 * (max(a, b) - min(a, b))
        if min(max(a, b) - t, t - min(a, b)) < eps:  # too close to an end: move 10% inside after a second time
            if insufficient or t >= max(a, b) or t <= min(a, b):
                t = max(a, b) - eps if abs(t - max(a, b)) < abs(t - min(a, b)) else min(a, b) + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket[low][1]:
            bracket[high] = [t, f_new, g_new, gtd_new]
            low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high][0] - bracket[low][0]) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = [t, f_new, g_new, gtd_new]
    t, f_new, g_new, _ = bracket[low]
    return f_new, g_new, t, evals


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
        line_search_fn: None (a fixed step t) or ``"strong_wolfe"`` (t from a line search); any other value
            raises RuntimeError at ``step``, as torch.

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
        max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
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

    def _clone_values(self) -> list[np.ndarray]:
        """A copy of every parameter's values (the point x a line search starts from)."""
        return [_values(p).copy() for p in self._params_list]

    def _set_values(self, arrays: list[np.ndarray]) -> None:
        """Put the parameters back to ``arrays`` (from :meth:`_clone_values`)."""
        for p, array in zip(self._params_list, arrays):
            np.copyto(_values(p), array)
            if isinstance(p, Tensor):
                mark_modified(p)

    def _evaluate_at(self, closure: Callable[[], Any], x: list[np.ndarray], t: Any,
                     d: np.ndarray) -> tuple[float, np.ndarray]:
        """(f(x + t d), g(x + t d) (N,)): move the parameters, run the closure, move them back to x."""
        self._add(t, d)
        with enable_grad():
            loss = float(closure())
        flat_grad = self._flat_grad()
        self._set_values(x)
        return loss, flat_grad

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # noqa: C901 - torch's loop, kept whole
        """Run up to ``max_iter`` iterations; return the closure's first loss."""
        if closure is None:
            raise RuntimeError("LBFGS.step needs a closure that re-evaluates the model and returns the loss")
        group = self.param_groups[0]
        lr, max_iter, max_eval, line_search_fn = group["lr"], group["max_iter"], group["max_eval"], group["line_search_fn"]
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
            t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad.dot(d)  # the slope along d
            if gtd > -tolerance_change:  # not a descent direction
                break
            ls_func_evals = 0
            opt_cond = False
            if line_search_fn is not None:
                if line_search_fn not in _LINE_SEARCHES:
                    raise RuntimeError(f"LBFGS: line_search_fn={line_search_fn!r}: only 'strong_wolfe' is supported")
                x = self._clone_values()
                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    lambda step: self._evaluate_at(closure, x, step, d), t, d, loss, flat_grad, gtd,
                    max_ls=max_eval - current_evals)
                self._add(t, d)
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add(t, d)
                if n_iter != max_iter:  # a fixed step: evaluate again, except after the last iteration
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
