"""Training one cell on one task until it is solved or its budget of sequences is spent.

Every ``eval_every`` steps the model answers the first chunk of the fixed test set (the
curve); when that chunk has no more wrong answers than the whole set may have, the whole
test set is asked, and the run stops at the first evaluation where the whole set meets the
task's criterion. So "solved after N sequences" has the resolution ``eval_every * batch_size``,
and N counts training sequences as the paper does.

Example:
    >>> from rnnkit.cli.lab.tasks import TASKS
    >>> setup = Setup(T=10, steps=2, batch_size=4, lr=0.01, params=300, seed=0, eval_every=1)
    >>> result = train_cell(TASKS["order"], "gru", setup, held_out(TASKS["order"], 10, 0))
    >>> result["sequences"], len(result["curve"]["metric"]), len(result["gradient"]["trained"])
    (8, 2, 11)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rnnkit import manual_seed, nn, no_grad, optim
from rnnkit._tensor import array_of
from rnnkit.cli.lab.model import LabNet, gradient_by_distance, hidden_for, parameter_count
from rnnkit.cli.lab.tasks import Batch, Task

__all__ = ["Setup", "train_cell", "held_out", "evaluate"]

EVAL_CHUNK = 256  # test sequences per forward pass
PROBE_BATCH = 32  # sequences of the gradient picture
CLIP = 1.0  # max global gradient norm


@dataclass
class Setup:
    """What one training run uses."""

    T: int  # sequence length (p for lag)
    steps: int  # the most optimizer steps
    batch_size: int  # sequences per step
    lr: float  # Adam learning rate
    params: int  # parameter count the hidden size is matched to
    seed: int  # initialisation and data
    eval_every: int  # steps between evaluations on the test set
    strict: bool = False  # judge "solved" by every prediction of a sequence (the paper's criterion)
    lstm_init: str = "chrono"  # the LSTM's gate biases: chrono or forget1 (see model.LSTM_INITS)
    lstm_activation: str = "tanh"  # the LSTM's activation: tanh or linear (see model.LSTM_ACTIVATIONS)


def held_out(task: Task, T: int, seed: int) -> list[Batch]:
    """The task's fixed test sequences, in chunks of :data:`EVAL_CHUNK` (their own seed)."""
    rng = np.random.default_rng([seed, 1])
    sizes = [min(EVAL_CHUNK, task.eval_size - start) for start in range(0, task.eval_size, EVAL_CHUNK)]
    return [task.batch(rng, size, T) for size in sizes]


def evaluate(model: LabNet, task: Task, batches: list[Batch]) -> tuple[float, float, float]:
    """(loss, metric, strict) on ``batches``: the mean loss, the fraction of long-range targets
    answered correctly and the fraction of sequences with every prediction correct."""
    losses, correct, strict = [], [], []
    with no_grad():
        for batch in batches:
            out = model(batch.x)
            losses.append(task.loss(out, batch).item() * len(batch.x))
            correct.append(task.correct(array_of(out), batch).reshape(-1))
            strict.append(task.all_correct(array_of(out), batch))
    n = sum(len(b.x) for b in batches)
    return sum(losses) / n, float(np.mean(np.concatenate(correct))), float(np.mean(np.concatenate(strict)))


def _meets(task: Task, setup: Setup, result: tuple[float, float, float], share: float = 1.0) -> bool:
    """Whether an :func:`evaluate` result on ``share`` of the test set leaves room for the task's criterion:
    no more wrong answers than the whole set may have (so a subset passes whenever the whole set would)."""
    value = result[2] if setup.strict else result[1]
    return (1 - value) * share <= (1 - task.solved) + 1e-12


def train_cell(task: Task, cell: str, setup: Setup, tests: list[Batch], progress=None) -> dict:
    """Train ``cell`` on ``task``; its curve, whether and when it solved the task, and the gradient picture.

    Args:
        task: the task.
        cell: "rnn", "lstm" or "gru".
        setup: the run's sizes and budget.
        tests: the fixed test set (:func:`held_out`).
        progress: called as ``progress(sequences, metric)`` after every evaluation.

    Returns:
        A dict: hidden, parameters, sequences (seen), solved_after (sequences, or None),
        final metric/strict/loss, seconds, the curve and ``gradient`` (initial and trained, by distance).
    """
    inputs, outputs = task.sizes(setup.T)
    hidden = hidden_for(cell, setup.params, inputs, outputs)
    probe = task.batch(np.random.default_rng([setup.seed, 2]), PROBE_BATCH, setup.T)
    manual_seed(setup.seed)
    model = LabNet(cell, inputs, hidden, outputs, task.per_step, setup.lstm_init, T_max=probe.x.shape[1],
                   lstm_activation=setup.lstm_activation)
    optimizer = optim.Adam(model.parameters(), lr=setup.lr)
    data_rng = np.random.default_rng([setup.seed, 0])  # the same batches for every cell
    gradient = {"initial": gradient_by_distance(model, task, probe).tolist()}
    curve = {"sequences": [], "loss": [], "metric": [], "strict": []}
    solved_after, tic, step = None, time.perf_counter(), 0
    while step < setup.steps and solved_after is None:
        step += 1
        batch = task.batch(data_rng, setup.batch_size, setup.T)
        loss = task.loss(model(batch.x), batch)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        if step % setup.eval_every == 0 or step == setup.steps:
            # the curve reads the first chunk of the test set; the whole set decides "solved" and the end
            result = evaluate(model, task, tests[:1])
            if _meets(task, setup, result, len(tests[0].x) / task.eval_size) or step == setup.steps:
                result = evaluate(model, task, tests)
                if _meets(task, setup, result):
                    solved_after = step * setup.batch_size
            seen = step * setup.batch_size
            for key, value in zip(("sequences", "loss", "metric", "strict"), (seen, *result)):
                curve[key].append(value)
            if progress is not None:
                progress(seen, result[1])
    seconds = time.perf_counter() - tic
    gradient["trained"] = gradient_by_distance(model, task, probe).tolist()
    return {
        "hidden": hidden, "parameters": parameter_count(cell, hidden, inputs, outputs),
        "sequences": step * setup.batch_size, "solved_after": solved_after,
        "final_metric": curve["metric"][-1], "final_strict": curve["strict"][-1], "final_loss": curve["loss"][-1],
        "wrong": int(round((1 - curve["strict"][-1]) * task.eval_size)),
        "seconds": seconds, "curve": curve, "gradient": gradient,
    }
