"""LBFGS with line_search_fn="strong_wolfe" against torch 2.13, step for step in float64 (an LSTMCell model,
and a model whose line search has to bracket and zoom), plus torch's error for any other line search.

L-BFGS on a recurrent model amplifies rounding: a 1e-16 difference in one gradient grows by about
10x per iteration on these problems (also between torch and torch with a different summation order),
so the model-to-model tests run a few short steps (max_iter 4-5) and a test with torch's own gradients
as the oracle runs a whole default step (max_iter=20, 25 evaluations)."""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit
from rnnkit import nn, optim

TOL = 1e-12
# The line search's step t comes from a cubic fitted to two (loss, slope) pairs, which amplifies
# the last bits of the gradients (the frameworks sum in different orders): on an Intel Emerald
# Rapids core t differed by 1.2e-12 (4e-12 relative) while every parameter still agreed to TOL.
T_TOL = 1e-10


class _CellModel:
    """Two LSTMCells and a Linear read-out over a short sequence, built in either framework."""

    def __init__(self, m):
        self.m = m
        self.cell1, self.cell2 = m.nn.LSTMCell(1, 5).double(), m.nn.LSTMCell(5, 5).double()
        self.linear = m.nn.Linear(5, 1).double()
        self.modules = [self.cell1, self.cell2, self.linear]

    def parameters(self):
        return [p for mod in self.modules for p in mod.parameters()]

    def __call__(self, x):
        m = self.m
        h1 = c1 = h2 = c2 = m.zeros(x.shape[0], 5, dtype=m.float64)
        outputs = []
        for x_t in x.split(1, dim=1):
            h1, c1 = self.cell1(x_t, (h1, c1))
            h2, c2 = self.cell2(h1, (h2, c2))
            outputs.append(self.linear(h2))
        return m.cat(outputs, dim=1)


def _same_start(ours, theirs, torch):
    with torch.no_grad():
        for p, q in zip(ours.parameters(), theirs.parameters()):
            q.copy_(torch.from_numpy(p.detach().numpy().copy()))


def _closure(opt, model, loss_fn, x, y):
    def closure():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss
    return closure


def _assert_same(ours, theirs):
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=TOL, atol=TOL)


def _sine_data():
    t = np.arange(12)[None, :] + np.random.default_rng(7).integers(0, 20, (3, 1))
    data = np.sin(t / 3.0)
    return data[:, :-1], data[:, 1:]


@pytest.mark.parametrize("kwargs", [
    dict(line_search_fn="strong_wolfe", max_iter=5),
    dict(line_search_fn="strong_wolfe", lr=0.8, max_iter=4, history_size=2),
    dict(line_search_fn="strong_wolfe", max_iter=4, max_eval=5),  # the line search runs out of evaluations
])
def test_strong_wolfe_lstmcell_matches_torch_step_for_step(torch, kwargs):
    x, y = _sine_data()
    rnnkit.manual_seed(0)
    ours, theirs = _CellModel(rnnkit), _CellModel(torch)
    _same_start(ours, theirs, torch)
    opt, topt = optim.LBFGS(ours.parameters(), **kwargs), torch.optim.LBFGS(theirs.parameters(), **kwargs)
    for _ in range(3):
        lo = opt.step(_closure(opt, ours, nn.MSELoss(), rnnkit.tensor(x), rnnkit.tensor(y)))
        lt = topt.step(_closure(topt, theirs, torch.nn.MSELoss(), torch.tensor(x), torch.tensor(y)))
        assert abs(lo.item() - lt.item()) <= TOL
        _assert_same(ours.parameters(), theirs.parameters())
    state, tstate = opt.state[ours.parameters()[0]], topt.state[theirs.parameters()[0]]
    assert (state["n_iter"], state["func_evals"]) == (tstate["n_iter"], tstate["func_evals"])
    assert abs(float(state["t"]) - float(tstate["t"])) <= T_TOL


def test_strong_wolfe_default_step_with_torch_gradients_matches_torch(torch):
    """One whole default step (20 iterations) where both optimizers see torch's loss and gradients."""
    x, y = (torch.tensor(a) for a in _sine_data())
    torch.manual_seed(0)
    theirs, oracle = _CellModel(torch), _CellModel(torch)
    ours = [nn.Parameter(q.detach().numpy().copy()) for q in theirs.parameters()]
    opt = optim.LBFGS(ours, line_search_fn="strong_wolfe")
    topt = torch.optim.LBFGS(theirs.parameters(), line_search_fn="strong_wolfe")

    def closure():  # the loss and gradients at rnnkit's parameters, computed by torch
        with torch.no_grad():
            for p, q in zip(ours, oracle.parameters()):
                q.copy_(torch.from_numpy(p.detach().numpy()))
                q.grad = None
        loss = torch.nn.functional.mse_loss(oracle(x), y)
        loss.backward()
        for p, q in zip(ours, oracle.parameters()):
            p.grad = rnnkit.tensor(q.grad.numpy().copy())
        return rnnkit.tensor(loss.item(), dtype=rnnkit.float64)

    lo, lt = opt.step(closure), topt.step(_closure(topt, theirs, torch.nn.MSELoss(), x, y))
    assert lo.item() == lt.item()
    _assert_same(ours, theirs.parameters())
    state, tstate = opt.state[ours[0]], topt.state[theirs.parameters()[0]]
    assert (state["n_iter"], state["func_evals"]) == (tstate["n_iter"], tstate["func_evals"])
    assert state["n_iter"] > 10 and state["func_evals"] == 25  # stopped by max_eval (25) after many iterations


def test_strong_wolfe_zoom_matches_torch(torch):
    """A steep quartic: the first trial step overshoots, so the search brackets and zooms."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    ours = nn.Linear(3, 2, dtype=rnnkit.float64)
    theirs = torch.nn.Linear(3, 2).double()
    _same_start(ours, theirs, torch)
    kwargs = dict(lr=5.0, max_iter=8, history_size=4, line_search_fn="strong_wolfe")
    opt, topt = optim.LBFGS(ours.parameters(), **kwargs), torch.optim.LBFGS(theirs.parameters(), **kwargs)

    def loss_fn(out, target, m):
        return ((out - target) ** 2).mean() + (m.weight**4).sum() * 3.0

    for _ in range(3):
        lo = opt.step(_closure(opt, ours, lambda o, t: loss_fn(o, t, ours), rnnkit.tensor(x), rnnkit.tensor(y)))
        lt = topt.step(_closure(topt, theirs, lambda o, t: loss_fn(o, t, theirs), torch.tensor(x), torch.tensor(y)))
        assert abs(lo.item() - lt.item()) <= TOL
        _assert_same(ours.parameters(), theirs.parameters())
    state, tstate = opt.state[ours.weight], topt.state[theirs.weight]
    assert state["func_evals"] == tstate["func_evals"] > state["n_iter"] == tstate["n_iter"]  # searches ran


@pytest.mark.parametrize("value", ["backtracking", "Strong_Wolfe", 1])
def test_other_line_searches_raise_at_step_as_torch(torch, value):
    p, q = nn.Parameter(np.array([1.0, 2.0])), torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    opt, topt = optim.LBFGS([p], line_search_fn=value), torch.optim.LBFGS([q], line_search_fn=value)

    def closure_for(o, v):
        def closure():
            o.zero_grad()
            loss = (v**2).sum()
            loss.backward()
            return loss
        return closure

    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported") as theirs:
        topt.step(closure_for(topt, q))
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported") as ours:
        opt.step(closure_for(opt, p))
    assert "line_search_fn" in str(ours.value) and "only 'strong_wolfe' is supported" in str(theirs.value)
