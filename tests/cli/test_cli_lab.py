"""`rnnkit lab`: the adding problem shows gated cells learning and the plain RNN's gradient vanishing."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import rnnkit
from rnnkit.cli import main
from rnnkit.cli.lab import TASKS, LabNet, hidden_for, hidden_gradients, parameter_count


def test_adding_problem_lstm_and_gru_learn_while_rnn_gradients_vanish(tmp_path, capsys):
    out = str(tmp_path / "lab")
    assert main(["lab", "adding", "--seq-len", "20", "--steps", "400", "--lr", "0.02", "--seed", "0",
                 "--out", out]) == 0
    table = capsys.readouterr().out
    results = json.load(open(os.path.join(out, "results.json")))
    cells = results["cells"]
    assert results["baseline"]["chance"] == pytest.approx(1 / 6)
    for name in ("lstm", "gru"):
        assert cells[name]["final_loss"] < 0.03  # well under the 0.167 variance baseline
        assert cells[name]["solved_at"] is not None
    assert cells["rnn"]["final_loss"] > 0.1 and cells["rnn"]["solved_at"] is None
    rnn, lstm = (np.array(cells[c]["grad_norm"]["trained"]) for c in ("rnn", "lstm"))
    assert len(rnn) == len(lstm) == 20
    # early steps: more than an order of magnitude apart (the exact gap depends on the CPU's BLAS kernel)
    assert rnn[:5].max() < 1e-1 * lstm[:5].min()
    assert rnn[0] < 1e-3 * rnn[-1]  # and within the RNN: vanished from the last step back to the first
    counts = [cells[c]["parameters"] for c in ("rnn", "lstm", "gru")]
    assert max(counts) - min(counts) < 0.1 * results["target_parameters"]
    for name in ("curves.png", "gradients.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    assert "RNN" in table and "LSTM" in table and "GRU" in table and "chance MSE 0.167" in table


def test_hidden_sizes_match_parameter_counts():
    for task in TASKS.values():
        for cell in ("rnn", "lstm", "gru"):
            hidden = hidden_for(cell, 2000, task.inputs, task.outputs)
            count = parameter_count(cell, hidden, task.inputs, task.outputs)
            assert abs(count - 2000) <= abs(parameter_count(cell, hidden + 1, task.inputs, task.outputs) - 2000)
            assert abs(count - 2000) <= abs(parameter_count(cell, hidden - 1, task.inputs, task.outputs) - 2000)
            model = LabNet(cell, task.inputs, hidden, task.outputs, task.per_step)
            assert sum(p.numel() for p in model.parameters()) == count


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_gradient_probe_matches_the_layers_own_bptt(cell):
    """z_t.grad from the unrolled cells equals the gradient the layer's BPTT gives its initial state h_0
    when the sequence is restarted at t from the state h_t."""
    rnnkit.manual_seed(1)
    task = TASKS["adding"]
    model = LabNet(cell, 2, 6, 1, per_step=False).double()
    x, target = task.batch(np.random.default_rng(0), 3, 7)
    x, target = x.astype(np.float64), target.astype(np.float64)
    norms = hidden_gradients(model, task, x, target)
    assert norms.shape == (7,) and np.all(norms > 0)
    for t in (0, 3, 5):
        _, state = model.rnn(x[:, : t + 1])  # the state after step t, (1, B, H)
        h_t = (state[0] if cell == "lstm" else state).detach().requires_grad_()
        hx = (h_t, state[1].detach()) if cell == "lstm" else h_t
        out, _ = model.rnn(x[:, t + 1 :], hx)
        task.loss(model.head(out[:, -1]), target).backward()
        assert norms[t] == pytest.approx(np.linalg.norm(h_t.grad), rel=1e-9)


@pytest.mark.parametrize("task", ["copy", "reber"])
def test_other_tasks_run_and_report_against_chance(task, tmp_path):
    out = str(tmp_path / task)
    assert main(["lab", task, "--seq-len", "8", "--steps", "6", "--cells", "gru", "--out", out]) == 0
    results = json.load(open(os.path.join(out, "results.json")))
    assert 0 <= results["cells"]["gru"]["final_metric"] <= 1
    assert results["baseline"]["chance"] == {"copy": 1 / 8, "reber": 1 / 2}[task]


def test_reber_strings_follow_the_embedded_grammar():
    reber = TASKS["reber"]
    rng = np.random.default_rng(0)
    for _ in range(200):
        s = reber.string(rng, 15)
        assert len(s) >= 15 and s[0] == "B" and s[-1] == "E" and s[1] == s[-2] and s[1] in "TP"
        inner, state = s[2:-2], 0
        assert inner[0] == "B" and inner[-1] == "E"
        for symbol in inner[1:]:
            moves = dict(reber.graph[state])
            assert symbol in moves, s
            state = moves[symbol]
        assert state is None
