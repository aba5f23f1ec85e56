"""`rnnkit lab`: each task separates the LSTM from the plain RNN; the gradient picture; the paper table; bad input.

Every run here is seeded and short (small T, few steps). The assertions are margins that
hold with room, not exact values, so that another CPU's floating-point details cannot flip them.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import rnnkit
from rnnkit.cells import activations, lstm
from rnnkit.cli import main
from rnnkit.cli.lab.model import LabNet, gradient_by_distance, hidden_for, hidden_gradients, parameter_count
from rnnkit.cli.lab.tasks import TASKS

# task: (T, steps, margin by which the LSTM's metric beats the RNN's)
SHORT_RUNS = {
    "adding": ("10", "400", 0.3),
    "reber": ("14", "1500", 0.3),
    "copy": ("10", "700", 0.04),
    "order": ("30", "200", 0.3),  # at T = 20 a plain RNN can learn it on some CPUs (0.92 seen on AMD Zen 3)
    "lag": ("10", "400", 0.3),
}


def _run(tmp_path, argv: list[str]) -> dict:
    out = str(tmp_path / "run")
    assert main(["lab", *argv, "--out", out, "--quiet"]) == 0
    with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize("task", list(SHORT_RUNS))
def test_lstm_beats_the_rnn_on_each_task(task, tmp_path):
    T, steps, margin = SHORT_RUNS[task]
    results = _run(tmp_path, [task, "--seq-len", T, "--steps", steps, "--cells", "rnn,lstm", "--seed", "0"])
    metric = {r["cell"]: r["final_metric"] for r in results["runs"]}
    assert metric["lstm"] > metric["rnn"] + margin, metric
    assert results["lstm_activation"] == ("linear" if task == "lag" else "tanh")  # the task's default
    counts = [r["parameters"] for r in results["runs"]]
    assert max(counts) - min(counts) < 0.1 * results["target_parameters"]


def test_the_rnns_gradient_falls_with_distance(tmp_path):
    results = _run(tmp_path, ["adding", "--seq-len", "60", "--steps", "2", "--cells", "rnn"])
    for stage in ("initial", "trained"):
        rnn = np.array(results["runs"][0]["gradient"][stage])
        assert len(rnn) >= 60  # one value per distance, 0 .. the sequence length - 1
        quarters = np.log10(rnn[: len(rnn) // 4 * 4]).reshape(4, -1).mean(1)
        assert np.all(np.diff(quarters) < -0.3)  # every quarter of the distance: at least 2x smaller
        assert rnn[-1] < 1e-3 * rnn[0]  # over the whole distance: three orders of magnitude and more


@pytest.mark.parametrize("cell, activation", [("rnn", "tanh"), ("lstm", "tanh"), ("lstm", "linear"), ("gru", "tanh")])
def test_gradient_probe_matches_the_layers_own_bptt(cell, activation):
    """Row b of the probe's dL/dh_t equals the gradient the layer's BPTT gives the state h_t of sequence b
    when the sequence is restarted at t from that state."""
    rnnkit.manual_seed(1)
    task = TASKS["order"]
    model = LabNet(cell, 8, 6, 4, per_step=False, lstm_activation=activation).double()
    batch = task.batch(np.random.default_rng(0), 3, 10)
    batch.x = batch.x.astype(np.float64)
    norms = hidden_gradients(model, task, batch)
    T = batch.x.shape[1]
    assert norms.shape == (3, T) and np.all(norms > 0)
    for t in (0, 3, T - 2):
        _, state = model.recur(batch.x[:, : t + 1])  # the state after step t, (B, H)
        h_t = (state[0] if cell == "lstm" else state).detach().requires_grad_()
        hx = (h_t, state[1].detach()) if cell == "lstm" else h_t
        out, _ = model.recur(batch.x[:, t + 1 :], hx)
        task.loss(model.head(out[:, -1]), batch).backward()
        np.testing.assert_allclose(norms[:, t], np.linalg.norm(np.asarray(h_t.grad), axis=1), rtol=1e-9)


def _unrolled_lstm(model: LabNet, x, act, rec_act, xp=np, leaf=np.asarray):
    """The LSTM layer by hand: ``lstm.step`` over time with the model's weights (each made an array by ``leaf``);
    the list of h_t (B, H)."""
    weights = [leaf(np.asarray(getattr(model.rnn, name + "_l0").data))
               for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    H = model.rnn.hidden_size
    state = (xp.zeros((x.shape[0], H), dtype=xp.float64), xp.zeros((x.shape[0], H), dtype=xp.float64))
    hs = []
    for t in range(x.shape[1]):
        state = lstm.step(x[:, t], state, *weights, act, rec_act)
        hs.append(state[0])
    return hs


@pytest.mark.parametrize("activation", ["tanh", "linear"])
def test_lstm_activation_reaches_the_cell(activation):
    """The model's output is the read-out of ``lstm.step`` unrolled with Keras's activation of that name (g_t =
    act(z_g), h_t = o_t act(c_t)); the other activation gives another output."""
    rnnkit.manual_seed(2)
    model = LabNet("lstm", 5, 4, 3, per_step=True, lstm_activation=activation).double()
    x = np.random.default_rng(0).normal(size=(2, 9, 5)) * 2  # (B, T, I), large enough for tanh to bend
    sigmoid = activations.get("sigmoid").forward
    W, b = np.asarray(model.head.weight.data), np.asarray(model.head.bias.data)
    outputs = {}
    for name in ("tanh", "linear"):
        hs = _unrolled_lstm(model, x, activations.get(name).forward, sigmoid)
        outputs[name] = np.stack(hs, axis=1) @ W.T + b  # (B, T, O)
    got = np.asarray(model(x).detach())
    other = "linear" if activation == "tanh" else "tanh"
    np.testing.assert_allclose(got, outputs[activation], rtol=1e-10, atol=1e-12)
    assert np.abs(got - outputs[other]).max() > 1e-2


def test_gradient_picture_uses_the_lstm_activation(torch):
    """hidden_gradients of a linear-activation LSTM equals dL/dh_t of ``lstm.step`` unrolled on torch tensors with
    the identity for act (the loss: the long-range target's alone); with tanh the numbers differ."""
    rnnkit.manual_seed(3)
    task = TASKS["lag"]
    model = LabNet("lstm", 9, 5, 9, per_step=True, lstm_activation="linear").double()
    batch = task.batch(np.random.default_rng(1), 4, 8)
    batch.x = batch.x.astype(np.float64)
    norms = hidden_gradients(model, task, batch)  # (B, T)
    hs = _unrolled_lstm(model, torch.from_numpy(batch.x), lambda z: z, torch.sigmoid, xp=torch,
                        leaf=lambda a: torch.tensor(a, requires_grad=True))
    for h in hs:
        h.retain_grad()
    rows = np.arange(4)
    h_m = torch.stack(hs, dim=1)[rows, batch.memory]  # (B, H) h at each sequence's long-range target
    W, b = (torch.from_numpy(np.asarray(p.data)) for p in (model.head.weight, model.head.bias))
    torch.nn.functional.cross_entropy(h_m @ W.T + b, torch.from_numpy(batch.target[rows, batch.memory])).backward()
    expected = np.stack([h.grad.norm(dim=1).numpy() for h in hs], axis=1)  # (B, T)
    np.testing.assert_allclose(norms, expected, rtol=1e-9, atol=1e-15)
    tanh = LabNet("lstm", 9, 5, 9, per_step=True).double()
    tanh.load_state_dict(model.state_dict())
    assert np.abs(hidden_gradients(tanh, task, batch) - norms).max() > 1e-3 * norms.max()


def test_gradient_by_distance_reads_from_each_sequences_own_target():
    rnnkit.manual_seed(0)
    task = TASKS["reber"]
    model = LabNet("rnn", 7, 5, 7, per_step=True).double()
    batch = task.batch(np.random.default_rng(3), 6, 9)
    batch.x = batch.x.astype(np.float64)
    assert len(set(batch.memory.tolist())) > 1  # strings of different lengths
    norms = hidden_gradients(model, task, batch)
    by_distance = gradient_by_distance(model, task, batch)
    assert len(by_distance) == batch.memory.min() + 1
    rows = np.arange(6)
    np.testing.assert_allclose(by_distance[2], np.sqrt(np.mean(norms[rows, batch.memory - 2] ** 2)))
    # nothing after a sequence's own target reaches back: the loss is that target's alone
    for b, m in enumerate(batch.memory):
        assert np.all(norms[b, m + 1 :] == 0)


def test_paper_prints_the_papers_numbers_beside_the_measured_ones(tmp_path, capsys):
    out = str(tmp_path / "paper")
    assert main(["lab", "lag", "--paper", "--seq-len", "5", "--seeds", "2", "--steps", "40", "--cells", "lstm",
                 "--out", out, "--quiet"]) == 0
    text = capsys.readouterr().out
    measured = [line for line in text.splitlines() if line.startswith("measured")]
    paper = [line for line in text.splitlines() if line.startswith("paper")]
    assert len(measured) == 1 and "LSTM (linear), Adam" in measured[0] and "/2" in measured[0]  # over 2 seeds
    assert any("5,040" in line and "100%" in line for line in paper)  # the paper's LSTM on task 2a
    assert any("BPTT" in line and "> 5,000,000" in line for line in paper)
    results = json.load(open(os.path.join(out, "results.json"), encoding="utf-8"))
    assert results["paper"] and results["seeds"] == [0, 1] and len(results["runs"]) == 2
    report = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    assert "5,040" in report and "![curves.png](curves.png)" in report and "c_t = f_t" in report
    assert r"h_t = o_t \odot c_t" in report and "activation linear (Keras's LSTM(activation=None)" in report
    assert results["lstm_activation"] == "linear"


def test_sweep_draws_each_cell_against_the_length(tmp_path, capsys):
    out = str(tmp_path / "sweep")
    assert main(["lab", "order", "--seq-len", "10,20", "--steps", "5", "--cells", "rnn,gru", "--out", out]) == 0
    text = capsys.readouterr().out
    assert "metric against T" in text
    results = json.load(open(os.path.join(out, "results.json"), encoding="utf-8"))
    assert sorted((r["T"], r["cell"]) for r in results["runs"]) == [(10, "gru"), (10, "rnn"), (20, "gru"), (20, "rnn")]
    for name in ("sweep.png", "curves.png", "gradients.png", "report.md"):
        assert os.path.getsize(os.path.join(out, name)) > 0


def test_run_directory_is_claimed_and_json_lines_report(tmp_path, capsys):
    out = str(tmp_path / "lab")
    argv = ["lab", "order", "--seq-len", "10", "--steps", "2", "--cells", "gru", "--out", out]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(argv) == 2
    assert "already holds files; pass --overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-1]["event"] == "result" and events[-1]["summary"]["gru@10"]["runs"] == 1
    assert all(e["event"] == "progress" for e in events[:-1])


@pytest.mark.parametrize("argv, message", [
    (["adding", "--seq-len", "5"], "--seq-len 5: the adding task needs T >= 6"),
    (["reber", "--seq-len", "8"], "--seq-len 8: the reber task needs T >= 9"),
    (["order", "--seq-len", "20,9"], "--seq-len 9: the order task needs T >= 10"),
    (["lag", "--seq-len", "1"], "--seq-len 1: the lag task needs p >= 2"),
    (["adding", "--seq-len", "ten"], "--seq-len 'ten': expected a positive integer"),
    (["adding", "--cells", ","], "--cells ',': expected distinct names"),
    (["adding", "--cells", ""], "--cells '': expected distinct names"),
    (["sorting"], "task 'sorting': expected one of adding, reber, copy, order, lag"),
    (["order", "--seeds", "2"], "--seeds 2: several seeds are run with --paper only"),
])
def test_bad_input_is_one_line_and_status_2(argv, message, tmp_path, capsys):
    assert main(["lab", *argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "x")  # nothing written


def test_unknown_lstm_activation_is_argparses_usage_error(tmp_path, capsys):
    """As for every option with choices: argparse's usage, then its one error line, status 2, nothing written."""
    assert main(["lab", "lag", "--lstm-activation", "relu", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert errors == ["rnnkit lab: error: argument --lstm-activation: invalid choice: 'relu' (choose from 'tanh', "
                      "'linear')"]
    assert err.splitlines()[-1] == errors[0] and "Traceback" not in err
    assert not os.path.exists(tmp_path / "x")
    with pytest.raises(ValueError, match="lstm_activation: expected one of tanh, linear, got 'relu'"):
        LabNet("lstm", 2, 4, 1, per_step=False, lstm_activation="relu")


def test_hidden_sizes_match_parameter_counts():
    for task in TASKS.values():
        inputs, outputs = task.sizes(task.default_len)
        for cell in ("rnn", "lstm", "gru"):
            hidden = hidden_for(cell, task.params, inputs, outputs)
            count = parameter_count(cell, hidden, inputs, outputs)
            for other in (hidden - 1, hidden + 1):
                assert abs(count - task.params) <= abs(parameter_count(cell, other, inputs, outputs) - task.params)
            model = LabNet(cell, inputs, hidden, outputs, task.per_step)
            assert sum(p.numel() for p in model.parameters()) == count


def test_lstm_forget1_starts_with_forget_bias_one():
    rnnkit.manual_seed(0)
    model = LabNet("lstm", 2, 8, 1, per_step=False, lstm_init="forget1")
    f_bias = (model.rnn.bias_ih_l0.data + model.rnn.bias_hh_l0.data).numpy()[8:16]  # gate order i, f, g, o
    assert np.all(f_bias > 1 - 2 / np.sqrt(8)) and np.all(f_bias < 1 + 2 / np.sqrt(8))


def test_lstm_chrono_spreads_the_memory_spans_over_the_sequence():
    """b_f = log u, u ~ U(1, T_max - 1), b_i = -b_f: initial spans 1 / (1 - f) = 1 + u cover 2 .. T_max."""
    rnnkit.manual_seed(0)
    H, T_max = 400, 100
    model = LabNet("lstm", 2, H, 1, per_step=False, lstm_init="chrono", T_max=T_max)
    b = (model.rnn.bias_ih_l0.data + model.rnn.bias_hh_l0.data).numpy()  # (4H,), gate order i, f, g, o
    b_i, b_f = b[:H], b[H : 2 * H]
    np.testing.assert_array_equal(b_i, -b_f)
    u = np.exp(b_f)  # the draws
    assert u.min() >= 1 and u.max() <= T_max - 1
    assert abs(np.mean(u) - T_max / 2) < 5  # uniform: mean (1 + 99) / 2
    spans = 1 / (1 - 1 / (1 + np.exp(-b_f)))
    np.testing.assert_allclose(spans, 1 + u, rtol=1e-5)
    with pytest.raises(ValueError, match="lstm_init: expected one of chrono, forget1, got 'zeros'"):
        LabNet("lstm", 2, 4, 1, per_step=False, lstm_init="zeros")


def test_adding_sequences_follow_the_paper():
    task = TASKS["adding"]
    rng = np.random.default_rng(0)
    for T in (6, 20, 100):
        for _ in range(20):
            batch = task.batch(rng, 64, T)
            L = batch.x.shape[1]
            assert T <= L <= T + T // 10
            values, markers = batch.x[..., 0], batch.x[..., 1]
            assert np.all(np.abs(values) <= 1) and np.all(markers[:, -1] == -1)
            marked = markers == 1
            assert np.all(marked.sum(1) == 2)
            assert np.all(marked[:, : min(10, T // 2 - 1)].any(1)) and np.all(~marked[:, T // 2 - 1 :].any(1))
            X = np.where(marked, values, 0).sum(1)
            np.testing.assert_allclose(batch.target[:, 0], 0.5 + X / 4, rtol=1e-6)
    assert task.chance == pytest.approx(0.1536)  # answering 0.5: P(|X1 + X2| < 0.16) for a triangular sum


def test_order_and_lag_sequences_follow_the_paper():
    order, lag = TASKS["order"], TASKS["lag"]
    batch = order.batch(np.random.default_rng(0), 256, 100)
    ids = batch.x.argmax(-1)
    assert np.all(ids[:, 0] == 6) and np.all(ids[:, -1] == 7)
    xy = np.argwhere((ids == 4) | (ids == 5))
    assert len(xy) == 2 * 256
    t1, t2 = xy[0::2, 1], xy[1::2, 1]
    assert t1.min() >= 10 and t1.max() <= 20 and t2.min() >= 50 and t2.max() <= 60
    np.testing.assert_array_equal(batch.target, 2 * (ids[np.arange(256), t1] - 4) + ids[np.arange(256), t2] - 4)
    batch = lag.batch(np.random.default_rng(0), 8, 12)
    ids = batch.x.argmax(-1)
    assert batch.x.shape == (8, 12, 13) and set(ids[:, 0]) == {11, 12}
    np.testing.assert_array_equal(ids[:, 1:], np.tile(np.arange(11), (8, 1)))
    np.testing.assert_array_equal(batch.target[:, -1], ids[:, 0])


def test_reber_strings_follow_the_embedded_grammar():
    reber = TASKS["reber"]
    rng = np.random.default_rng(0)
    for T in (9, 20):
        lengths = []
        for _ in range(300):
            s, allowed = reber.string(rng, T)
            lengths.append(len(s))
            assert len(s) >= T and s[0] == "B" and s[-1] == "E" and s[1] == s[-2] and s[1] in "TP"
            inner, state = s[2:-2], 0
            assert inner[0] == "B" and inner[-1] == "E"
            for i, symbol in enumerate(inner[1:]):
                moves = dict(reber.graph[state])
                assert symbol in moves, s
                assert set(allowed[i + 2]) == set(moves)  # what may follow the symbol before
                state = moves[symbol]
            assert state is None and allowed[-3] == s[1]
        if T == 9:
            assert min(lengths) == 9 and 11 < np.mean(lengths) < 13  # the paper's grammar: mean length 12
    batch = reber.batch(rng, 16, 9)
    rows = np.arange(16)
    assert np.all(batch.allowed[rows, batch.memory].sum(-1) == 1)  # the repeated symbol is determined
