"""``rnnkit lab``: the long-term-dependency experiments of the LSTM literature.

Tasks (T the sequence length; every batch is drawn fresh from the task's generator):

- ``adding`` (Hochreiter & Schmidhuber, 1997): inputs (T, 2), a random number in [0, 1)
  and a marker; two steps are marked, one in each half. Target: the sum of the two marked
  numbers, read from the last hidden state. Chance baseline: always answering 1, whose
  MSE is Var(u1 + u2) = 1/6 = 0.167. Solved: MSE below 0.01.
- ``copy`` (Arjovsky et al., 2016, with 5 symbols instead of 10): 5 symbols from an
  alphabet of 8, then T blanks with a delimiter at the last one, then 5 blanks during which
  the symbols must be repeated. Loss: cross-entropy at every step. Metric: accuracy on the
  recalled symbols, chance 1/8. Solved: accuracy 0.99. The hardest of the three: expect
  thousands of steps.
- ``reber``: the embedded Reber grammar, B {T|P} <Reber string> {T|P} E, predicting the
  next symbol; the second-to-last symbol repeats the second, across the whole inner string.
  Metric: accuracy on that symbol, chance 1/2 (every other step is grammar, learnt fast).
  T is the minimum length (short inner strings are lengthened along their first loop).
  Solved: accuracy 0.99.

Every cell gets the hidden size that brings its parameter count (recurrent layer and
output layer) closest to ``--params``, and sees the same batches. ``gradients.png`` shows
||dLoss/dh_t|| against t before and after training: the model is unrolled with the cell
module of the same weights (``nn.RNNCell``/``LSTMCell``/``GRUCell``) and a zero leaf z_t
requiring grad is added to each h_t, so ``z_t.grad`` is dLoss/dh_t.

Shapes: B batch, T time, I input, H hidden, O output.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from rnnkit import manual_seed, nn, no_grad, optim, stack, zeros
from rnnkit.cli import checkpoint, plots, rundir
from rnnkit.cli.charlm import LAYERS
from rnnkit.cli.options import CELLS, InputError, LabOptions

__all__ = ["run", "train_cell", "TASKS", "Task", "LabNet", "hidden_for", "parameter_count", "hidden_gradients"]

GATES = {"rnn": 1, "gru": 3, "lstm": 4}
CELL_MODULES = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
EVAL_BATCH = 256  # sequences in the fixed evaluation set
PROBE_BATCH = 32  # sequences of the gradient picture
CURVE_POINTS = 30  # evaluations per run
CLIP = 1.0  # max gradient norm
FORGET_BIAS = 1.0  # added to the LSTM's initial forget-gate bias


class Task:
    """A task: input/output sizes, a batch generator, the loss and its metric, the chance baseline."""

    name = ""
    inputs = outputs = 0
    default_len = 0
    metric_name = ""  # what metric() measures
    higher_is_better = True
    chance = 0.0  # the metric of the chance baseline
    solved = 0.0  # the metric that counts as solved

    def batch(self, rng: np.random.Generator, size: int, T: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def loss(self, out, target):
        raise NotImplementedError

    def metric(self, out: np.ndarray, target: np.ndarray) -> float:
        raise NotImplementedError


class Adding(Task):
    name, inputs, outputs, default_len = "adding", 2, 1, 50
    metric_name, higher_is_better, chance, solved = "MSE", False, 1 / 6, 0.01
    per_step = False

    def batch(self, rng, size, T):
        x = np.zeros((size, T, 2), np.float32)  # (B, T, 2)
        x[:, :, 0] = rng.random((size, T))
        half = T // 2
        first, second = rng.integers(0, half, size), rng.integers(half, T, size)
        rows = np.arange(size)
        x[rows, first, 1] = x[rows, second, 1] = 1.0
        target = (x[rows, first, 0] + x[rows, second, 0])[:, None]  # (B, 1)
        return x, target

    def loss(self, out, target):
        return nn.functional.mse_loss(out, target)

    def metric(self, out, target):
        return float(np.mean((out - target) ** 2))


class Copy(Task):
    name, inputs, outputs, default_len = "copy", 10, 9, 10
    metric_name, higher_is_better, chance, solved = "recall accuracy", True, 1 / 8, 0.99
    per_step, symbols = True, 5  # symbols to remember

    def batch(self, rng, size, T):
        S = self.symbols
        seq = rng.integers(1, 9, (size, S))  # (B, S) symbols 1..8
        ids = np.zeros((size, S + T + S), np.int64)  # 0 blank, 9 delimiter
        ids[:, :S] = seq
        ids[:, S + T - 1] = 9
        target = np.zeros_like(ids)
        target[:, -S:] = seq
        return np.eye(self.inputs, dtype=np.float32)[ids], target  # (B, T', 10), (B, T')

    def loss(self, out, target):
        return nn.functional.cross_entropy(out.reshape(-1, self.outputs), target.reshape(-1))

    def metric(self, out, target):
        S = self.symbols
        return float(np.mean(out[:, -S:].argmax(-1) == target[:, -S:]))


class Reber(Task):
    name, inputs, outputs, default_len = "reber", 7, 7, 12
    metric_name, higher_is_better, chance, solved = "penultimate accuracy", True, 0.5, 0.99
    per_step, alphabet = True, "BTPSXVE"
    # the inner Reber grammar: state -> [(symbol, next state)], None ends the string
    graph = {0: [("T", 1), ("P", 2)], 1: [("S", 1), ("X", 3)], 2: [("T", 2), ("V", 4)],
             3: [("X", 2), ("S", 5)], 4: [("P", 3), ("V", 5)], 5: [("E", None)]}

    def string(self, rng: np.random.Generator, T: int) -> str:
        """An embedded Reber string of at least T symbols."""
        state, inner = 0, "B"
        while state is not None:
            symbol, state = self.graph[state][rng.integers(len(self.graph[state]))]
            inner += symbol
        short = max(0, T - 4 - len(inner))  # lengthen along the first loop (S after BT, T after BP)
        inner = inner[:2] + ("S" if inner[1] == "T" else "T") * short + inner[2:]
        outer = "TP"[rng.integers(2)]
        return "B" + outer + inner + outer + "E"

    def batch(self, rng, size, T):
        strings = [self.string(rng, T) for _ in range(size)]
        length = max(map(len, strings)) - 1
        ids = np.zeros((size, length + 1), np.int64)
        valid = np.zeros((size, length), bool)
        for row, s in enumerate(strings):
            ids[row, : len(s)] = [self.alphabet.index(c) for c in s]
            valid[row, : len(s) - 1] = True
        target = np.where(valid, ids[:, 1:], -100)  # -100: padding, ignored
        penultimate = np.array([len(s) - 3 for s in strings])  # position whose target is the repeated symbol
        target = np.concatenate([target, penultimate[:, None]], axis=1)  # the last column carries the position
        return np.eye(self.inputs, dtype=np.float32)[ids[:, :-1]], target

    def loss(self, out, target):
        return nn.functional.cross_entropy(out.reshape(-1, self.outputs), target[:, :-1].reshape(-1),
                                           ignore_index=-100)

    def metric(self, out, target):
        rows, pos = np.arange(len(target)), target[:, -1]
        return float(np.mean(out[rows, pos].argmax(-1) == target[rows, pos]))


TASKS = {task.name: task for task in (Adding(), Copy(), Reber())}


def parameter_count(cell: str, hidden: int, inputs: int, outputs: int) -> int:
    """Parameters of a one-layer cell with PyTorch's two biases, plus the output layer."""
    G = GATES[cell]
    return G * (hidden * inputs + hidden * hidden + 2 * hidden) + hidden * outputs + outputs


def hidden_for(cell: str, target: int, inputs: int, outputs: int) -> int:
    """The hidden size whose :func:`parameter_count` is closest to ``target``."""
    G = GATES[cell]
    a, b, c = G, G * (inputs + 2) + outputs, outputs - target  # a H^2 + b H + c = 0
    root = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    candidates = [max(1, math.floor(root)), max(1, math.ceil(root))]
    return min(candidates, key=lambda h: abs(parameter_count(cell, h, inputs, outputs) - target))


class LabNet(nn.Module):
    """One recurrent layer and a linear read-out: at the last step (adding) or at every step.

    PyTorch's initialisation, except that an LSTM's forget-gate bias starts 1 higher (Gers
    et al., 2000; Jozefowicz et al., 2015; Keras's ``unit_forget_bias``): f_t starts near
    sigmoid(1) = 0.73 rather than 0.5, the usual setting for long dependencies.
    """

    def __init__(self, cell: str, inputs: int, hidden: int, outputs: int, per_step: bool):
        super().__init__()
        self.cell, self.per_step = cell, per_step
        self.rnn = LAYERS[cell](inputs, hidden, batch_first=True)
        self.head = nn.Linear(hidden, outputs)
        if cell == "lstm":
            self.rnn.bias_ih_l0.data[hidden : 2 * hidden] += FORGET_BIAS  # gate order i, f, g, o

    def forward(self, x: np.ndarray):
        """x (B, T, I) -> (B, T, O) or (B, O)."""
        h, _ = self.rnn(x)  # (B, T, H)
        return self.head(h if self.per_step else h[:, -1])

    def read_out(self, hs: list):
        """The output from the list of h_t (B, H), as :meth:`forward` would give it."""
        return self.head(stack(hs, dim=1)) if self.per_step else self.head(hs[-1])


def hidden_gradients(model: LabNet, task: Task, x: np.ndarray, target: np.ndarray) -> np.ndarray:
    """||dLoss/dh_t|| for t = 0..T-1 (Frobenius norm over the batch), by unrolling the cell.

    The layer's weights are copied into the matching cell module; each h_t gets a zero leaf
    z_t added (``h_t + z_t`` has the value h_t), so after ``backward`` ``z_t.grad`` is dLoss/dh_t.
    """
    layer = model.rnn
    cell = CELL_MODULES[model.cell](layer.input_size, layer.hidden_size, dtype=layer.dtype)
    cell.load_state_dict({name: getattr(layer, name + "_l0").numpy() for name in cell.state_dict()})
    B, T, H = x.shape[0], x.shape[1], layer.hidden_size
    h = zeros(B, H, dtype=layer.dtype)
    c = zeros(B, H, dtype=layer.dtype)
    hs, leaves = [], []
    for t in range(T):
        if model.cell == "lstm":
            h, c = cell(x[:, t], (h, c))  # (B, H), (B, H)
        else:
            h = cell(x[:, t], h)  # (B, H)
        z = zeros(B, H, dtype=layer.dtype, requires_grad=True)
        h = h + z  # same value; z.grad = dLoss/dh_t
        hs.append(h)
        leaves.append(z)
    task.loss(model.read_out(hs), target).backward()
    return np.array([float(np.linalg.norm(z.grad)) for z in leaves])


def run(opts: LabOptions) -> int:
    task = TASKS[opts.task]
    T = opts.seq_len or task.default_len
    cells = [c.strip().lower() for c in opts.cells.split(",") if c.strip()]
    unknown = [c for c in cells if c not in CELLS]
    if unknown or not cells or len(set(cells)) != len(cells):
        raise InputError(f"--cells {opts.cells!r}: expected distinct names among {', '.join(CELLS)}, "
                         "separated by commas")
    out_dir = opts.out or os.path.join("runs", f"lab-{task.name}")
    with rundir.lock(out_dir):  # one writer per run directory
        return _lab(opts, task, T, cells, out_dir)


def _lab(opts: LabOptions, task: Task, T: int, cells: list[str], out_dir: str) -> int:
    saved = checkpoint.read_config(out_dir)
    if saved is not None:
        raise InputError(f"--out {out_dir} holds a {saved.get('kind')} model; choose another --out")
    eval_x, eval_target = task.batch(np.random.default_rng([opts.seed, 1]), EVAL_BATCH, T)
    print(f"{task.name} task, T={T}, {opts.steps} steps of {opts.batch_size}; chance baseline: "
          f"{task.metric_name} {task.chance:.3f}", flush=True)

    results = {}
    for cell in cells:
        results[cell] = train_cell(task, cell, T, opts, eval_x, eval_target)
        r = results[cell]
        print(f"  {cell.upper()}: {task.metric_name} {r['final_metric']:.4f} after {opts.steps} steps "
              f"({r['seconds']:.1f}s)", flush=True)

    _print_table(task, T, opts, results)
    os.makedirs(out_dir, exist_ok=True)
    checkpoint.write_json(os.path.join(out_dir, "results.json"), {
        "task": task.name, "seq_len": T, "steps": opts.steps, "batch_size": opts.batch_size, "lr": opts.lr,
        "seed": opts.seed, "target_parameters": opts.params,
        "baseline": {"metric": task.metric_name, "chance": task.chance, "solved": task.solved},
        "cells": results,
    })
    title = f"{task.name} task, T={T}"
    drew = plots.learning_curves(os.path.join(out_dir, "curves.png"),
                                 {c: (r["curve"]["step"], r["curve"]["metric"]) for c, r in results.items()},
                                 task.chance, task.metric_name, title)
    drew = drew and plots.gradient_norms(os.path.join(out_dir, "gradients.png"),
                                         {c: r["grad_norm"] for c, r in results.items()},
                                         f"{title}: gradient reaching h_t from the loss")
    print(f"wrote {out_dir}/results.json" + (", curves.png and gradients.png" if drew else f"; {plots.MISSING}"))
    return 0


def train_cell(task: Task, cell: str, T: int, opts: LabOptions, eval_x: np.ndarray, eval_target: np.ndarray) -> dict:
    """Train one cell on ``task``; its curve, result and gradient norms before and after, as a dict."""
    hidden = hidden_for(cell, opts.params, task.inputs, task.outputs)
    manual_seed(opts.seed)
    model = LabNet(cell, task.inputs, hidden, task.outputs, task.per_step)
    optimizer = optim.Adam(model.parameters(), lr=opts.lr)
    data_rng = np.random.default_rng([opts.seed, 0])  # the same batches for every cell
    probe_x, probe_target = task.batch(np.random.default_rng([opts.seed, 2]), PROBE_BATCH, T)
    grads = {"initial": hidden_gradients(model, task, probe_x, probe_target).tolist()}
    curve = {"step": [], "loss": [], "metric": []}
    every = max(1, opts.steps // CURVE_POINTS)
    solved_at, tic = None, time.perf_counter()
    for step in range(1, opts.steps + 1):
        x, target = task.batch(data_rng, opts.batch_size, T)
        loss = task.loss(model(x), target)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        if step % every == 0 or step == opts.steps:
            with no_grad():
                out = model(eval_x)
                eval_loss = task.loss(out, eval_target).item()
            metric = task.metric(out.numpy(), eval_target)
            curve["step"].append(step)
            curve["loss"].append(eval_loss)
            curve["metric"].append(metric)
            good = metric >= task.solved if task.higher_is_better else metric <= task.solved
            if good and solved_at is None:
                solved_at = step
    seconds = time.perf_counter() - tic
    grads["trained"] = hidden_gradients(model, task, probe_x, probe_target).tolist()
    return {
        "hidden": hidden, "parameters": parameter_count(cell, hidden, task.inputs, task.outputs),
        "final_loss": curve["loss"][-1], "final_metric": curve["metric"][-1], "solved_at": solved_at,
        "seconds": seconds, "curve": curve, "grad_norm": grads,
    }


def _print_table(task: Task, T: int, opts: LabOptions, results: dict) -> None:
    name = task.metric_name
    print(f"\n{task.name}, T={T}, {opts.steps} steps; chance {name} {task.chance:.3f}, solved at "
          f"{'>=' if task.higher_is_better else '<='} {task.solved}")
    head = f"  {'cell':<6}{'hidden':>7}{'params':>8}{name:>22}{'vs chance':>11}{'solved at':>11}" \
           f"{'|dL/dh_0|':>12}{'|dL/dh_T|':>12}"
    print(head)
    for cell, r in results.items():
        ratio = r["final_metric"] / task.chance
        solved = str(r["solved_at"]) if r["solved_at"] else "-"
        g = r["grad_norm"]["trained"]
        print(f"  {cell.upper():<6}{r['hidden']:>7}{r['parameters']:>8}{r['final_metric']:>22.4f}"
              f"{ratio:>10.3g}x{solved:>11}{g[0]:>12.2e}{g[-1]:>12.2e}")
    print("  |dL/dh_t|: norm of the loss gradient reaching the hidden state at step t, after training "
          "(see gradients.png)")
