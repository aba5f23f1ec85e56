"""``rnnkit lab``: the long-time-lag experiments of Hochreiter & Schmidhuber (1997), cells side by side.

Tasks (:mod:`rnnkit.cli.lab.tasks`): ``adding``, ``reber``, ``copy``, ``order`` and ``lag``.
Every cell gets the hidden size that brings its parameter count (recurrent layer and output
layer) closest to the task's ``--params``, sees the same batches and is judged on the same
held-out test sequences; its metric is the fraction of long-range targets it answers
correctly (higher is better), next to the chance level and the solved threshold.
The LSTM is today's (forget gate, tanh) on every task but ``lag``, whose LSTM is Keras's
``LSTM(activation=None)``: h_t = o_t c_t, the 1997 paper's task-2a cell output
(``--lstm-activation``; :data:`~rnnkit.cli.lab.model.LSTM_ACTIVATIONS`).

Three modes:

- one ``--seq-len`` (or the task's default): train each cell until the test set meets the
  task's criterion or ``--steps`` runs out; table, ``curves.png``, ``gradients.png``,
  ``report.md`` and ``results.json`` in ``--out``.
- a list, ``--seq-len 10,25,50,100,200``: the same at every length; ``sweep.png`` draws each
  cell's metric against T (a filled marker where it solved the task).
- ``--paper``: the paper's protocol: its lengths (or the ``--seq-len`` list), ``--seeds``
  seeds per cell, training until the paper's stopping criterion (every prediction of the
  sequence correct, on all but a few of the test sequences) or the paper budget of
  sequences; the table shows, beside the paper's numbers, the success rate over seeds,
  the median training sequences until solved and the wrong test sequences.

The gradient picture: ||dL/dh_t|| for the loss L of the long-range target alone, against
the distance between t and that target, before and after training (:mod:`rnnkit.cli.lab.model`).

Example:
    >>> parse_lengths(TASKS["adding"], "10,25,50"), parse_cells("rnn, LSTM")
    ([10, 25, 50], ['rnn', 'lstm'])
"""

from __future__ import annotations

import os
import statistics

from rnnkit.cli import checkpoint, plots, rundir
from rnnkit.cli.lab.model import LSTM_ACTIVATIONS, LSTM_INITS
from rnnkit.cli.lab.report import paper_table, run_table, sweep_table, write_report
from rnnkit.cli.lab.tasks import TASKS, Task
from rnnkit.cli.lab.training import Setup, held_out, train_cell
from rnnkit.cli.options import CELLS, SEED_MAX, InputError, LabOptions
from rnnkit.cli.rundir import Reporter, claim_out

__all__ = ["run", "parse_lengths", "parse_cells", "eval_every"]


def parse_lengths(task: Task, text: str | None) -> list[int]:
    """The ``--seq-len`` list (``"10,25,50"``), each checked against the task; the default when None."""
    if text is None:
        return [task.default_len]
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise InputError(f"--seq-len {text!r}: expected a positive integer or a comma-separated list of them")
    lengths = [int(p) for p in parts]
    if len(set(lengths)) != len(lengths):
        raise InputError(f"--seq-len {text!r}: a length appears twice")
    for T in lengths:
        task.check_len(T)
    return lengths


def parse_cells(text: str) -> list[str]:
    """The ``--cells`` list: distinct names among :data:`~rnnkit.cli.options.CELLS`."""
    cells = [c.strip().lower() for c in text.split(",") if c.strip()]
    if not cells or any(c not in CELLS for c in cells) or len(set(cells)) != len(cells):
        raise InputError(f"--cells {text!r}: expected distinct names among {', '.join(CELLS)}, separated by commas")
    return cells


def eval_every(T: int) -> int:
    """Steps between test evaluations: 25 up to T = 50, then fewer as the test set gets dearer."""
    return max(25, T // 2)


def run(opts: LabOptions) -> int:
    if opts.task not in TASKS:
        raise InputError(f"task {opts.task!r}: expected one of {', '.join(TASKS)}")
    task = TASKS[opts.task]
    if opts.seeds != LabOptions.seeds and not opts.paper:
        raise InputError(f"--seeds {opts.seeds}: several seeds are run with --paper only")
    cells = parse_cells(opts.cells)
    lengths = [*task.paper_lengths] if opts.paper and opts.seq_len is None else parse_lengths(task, opts.seq_len)
    for T in lengths:
        task.check_len(T)
    if opts.paper and opts.seed + opts.seeds - 1 > SEED_MAX:
        raise InputError(f"--seed {opts.seed}: with --seeds {opts.seeds} the last seed passes {SEED_MAX}")
    out_dir = opts.out or os.path.join("runs", f"lab-{task.name}")
    with rundir.lock(out_dir):  # one writer per run directory
        saved = checkpoint.read_config(out_dir)
        if saved is not None:
            raise InputError(f"--out {out_dir} holds a {saved.get('kind')} model; choose another --out")
        claim_out(out_dir, overwrite=opts.overwrite)
        return _lab(opts, task, cells, lengths, out_dir)


def _lab(opts: LabOptions, task: Task, cells: list[str], lengths: list[int], out_dir: str) -> int:
    """Train, tabulate and draw, in ``out_dir`` (claimed and locked by :func:`run`)."""
    report = Reporter(json=opts.json, quiet=opts.quiet)
    if not plots.available():
        report.notice(plots.MISSING)
    params = opts.params or task.params
    lr = opts.lr or task.lr
    if opts.paper:
        steps = opts.steps or -(-task.paper_max_sequences // opts.batch_size)
        seeds = list(range(opts.seed, opts.seed + opts.seeds))
    else:
        steps, seeds = opts.steps or task.steps, [opts.seed]
    activation = opts.lstm_activation or task.lstm_activation
    report.progress(f"{task.name}: {task.metric_name} (chance {task.chance:.3f}, solved at {task.solved:.4g}); "
                    f"{', '.join(c.upper() for c in cells)} matched to {params} parameters, Adam lr {lr:g}, "
                    f"batches of {opts.batch_size}, at most {steps * opts.batch_size:,} sequences per run; "
                    f"LSTM: {LSTM_INITS[opts.lstm_init]}; {LSTM_ACTIVATIONS[activation]}", task=task.name, lengths=lengths, cells=cells)

    runs = []  # one dict per (T, cell, seed)
    for T in lengths:
        for seed in seeds:
            tests = held_out(task, T, seed)
            setup = Setup(T=T, steps=steps, batch_size=opts.batch_size, lr=lr, params=params, seed=seed,
                          eval_every=eval_every(T), strict=opts.paper, lstm_init=opts.lstm_init,
                          lstm_activation=activation)
            for cell in cells:
                result = train_cell(task, cell, setup, tests)
                result.update(T=T, cell=cell, seed=seed)
                runs.append(result)
                solved = f"solved after {result['solved_after']:,} sequences" if result["solved_after"] else \
                    f"not solved in {result['sequences']:,} sequences"
                length = f"{task.len_word.split()[0]}={T}"
                report.progress(f"  {length} seed {seed} {cell.upper()}: {task.metric_name} "
                                f"{result['final_metric']:.4f}, {solved} ({result['seconds']:.1f}s)",
                                T=T, cell=cell, seed=seed, metric=result["final_metric"],
                                solved_after=result["solved_after"], sequences=result["sequences"])

    if opts.paper:
        table = paper_table(task, runs, cells, lengths, seeds, activation)
    elif len(lengths) > 1:
        table = sweep_table(task, runs, cells, lengths)
    else:
        table = run_table(task, runs)
    config = {"task": task.name, "lengths": lengths, "cells": cells, "paper": opts.paper, "seeds": seeds,
              "steps": steps, "batch_size": opts.batch_size, "lr": lr, "target_parameters": params,
              "lstm_init": opts.lstm_init, "lstm_activation": activation,
              "baseline": {"metric": task.metric_name, "chance": task.chance, "solved": task.solved,
                           "solved_words": task.solved_words}}
    checkpoint.write_json(os.path.join(out_dir, "results.json"), {**config, "runs": runs})
    figures = _figures(out_dir, task, runs, cells, lengths, seeds[0])
    write_report(os.path.join(out_dir, "report.md"), task, config, table, figures)
    wrote = ", ".join(["results.json", "report.md", *figures])
    summary = _summary(runs, cells, lengths)
    report.result(f"{table}\nwrote {out_dir}/: {wrote}", out=out_dir, summary=summary)
    return 0


def _summary(runs: list[dict], cells: list[str], lengths: list[int]) -> dict:
    """Per T and cell: the runs, those solved, the median sequences until solved."""
    summary = {}
    for T in lengths:
        for cell in cells:
            mine = [r for r in runs if r["T"] == T and r["cell"] == cell]
            solved = [r["solved_after"] for r in mine if r["solved_after"]]
            summary[f"{cell}@{T}"] = {"runs": len(mine), "solved": len(solved),
                                      "median_sequences": statistics.median(solved) if solved else None,
                                      "metric": statistics.median(r["final_metric"] for r in mine)}
    return summary


def _figures(out_dir: str, task: Task, runs: list[dict], cells: list[str], lengths: list[int], seed: int) -> list[str]:
    """curves.png and gradients.png for the first seed at the longest T (and sweep.png for several T)."""
    T = max(lengths)
    shown = {r["cell"]: r for r in runs if r["T"] == T and r["seed"] == seed}
    title = f"{task.name} task, T={T}"
    figures = []
    if plots.learning_curves(os.path.join(out_dir, "curves.png"),
                             {c: (r["curve"]["sequences"], r["curve"]["metric"]) for c, r in shown.items()},
                             task.chance, task.solved, task.metric_name, title):
        figures.append("curves.png")
    if plots.gradient_norms(os.path.join(out_dir, "gradients.png"), {c: r["gradient"] for c, r in shown.items()},
                            f"{title}: gradient of the long-range loss reaching h_t"):
        figures.append("gradients.png")
    if len(lengths) > 1:
        by_cell = {}
        for cell in cells:
            mine = [[r for r in runs if r["T"] == L and r["cell"] == cell] for L in lengths]
            by_cell[cell] = (lengths, [statistics.median(r["final_metric"] for r in m) for m in mine],
                             [any(r["solved_after"] for r in m) for m in mine])
        if plots.success_by_length(os.path.join(out_dir, "sweep.png"), by_cell, task.chance, task.solved,
                                   task.metric_name, f"{task.name} task: where each cell stops learning"):
            figures.append("sweep.png")
    return figures
