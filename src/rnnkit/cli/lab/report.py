"""The lab's tables (plain text, also embedded in the report) and ``report.md``.

"vs chance" is always the metric minus the chance level in percentage points: every task's
metric is a fraction of correct answers, so a positive number means better than chance.
"""

from __future__ import annotations

import statistics

from rnnkit.cli.lab.model import LSTM_ACTIVATIONS, LSTM_INITS, equations
from rnnkit.cli.lab.tasks import Task
from rnnkit.serialization import atomic_write_text

__all__ = ["run_table", "sweep_table", "method", "paper_table", "write_report"]


def _solved(r: dict) -> str:
    return f"yes, after {r['solved_after']:,}" if r["solved_after"] else "no"


def _header(task: Task, strict: bool = False) -> str:
    allowed = round((1 - task.solved) * task.eval_size)
    which = f"all but {allowed} of the {task.eval_size}" if allowed else f"all {task.eval_size}"
    solved = f"every prediction of a sequence correct, on {which} test sequences" if strict else task.solved_words
    return (f"metric: {task.metric_name} on {task.eval_size} test sequences (higher is better); "
            f"chance {task.chance:.3f}; solved: {solved}\n"
            "vs chance: metric minus chance, in percentage points (+ better than chance)")


def run_table(task: Task, runs: list[dict]) -> str:
    """One row per cell: size, sequences seen, solved and when, metric, vs chance, gradient reach."""
    T = runs[0]["T"]
    lines = [f"{task.name}, {task.len_word.split()[0]}={T}", _header(task),
             f"{'cell':<6}{'hidden':>7}{'params':>8}{'seen':>10}  {'solved (after sequences)':<26}{'metric':>8}"
             f"{'vs chance':>11}{'|dL/dh| d=0':>13}{'d=' + str(len(runs[0]['gradient']['trained']) - 1):>11}"]
    for r in runs:
        g = r["gradient"]["trained"]
        lines.append(f"{r['cell'].upper():<6}{r['hidden']:>7}{r['parameters']:>8}{r['sequences']:>10,}  "
                     f"{_solved(r):<26}{r['final_metric']:>8.4f}{100 * (r['final_metric'] - task.chance):>+10.1f}p"
                     f"{g[0]:>13.2e}{g[-1]:>11.2e}")
    lines.append("|dL/dh| d: norm of the gradient of the long-range loss reaching h_t, d steps before its "
                 "target, after training (gradients.png)")
    return "\n".join(lines)


def sweep_table(task: Task, runs: list[dict], cells: list[str], lengths: list[int]) -> str:
    """One row per T: each cell's metric, with * where it solved the task."""
    lines = [f"{task.name}: metric against T (* solved)", _header(task),
             f"{'T':>6}" + "".join(f"{c.upper():>16}" for c in cells)]
    for T in lengths:
        row = f"{T:>6}"
        for cell in cells:
            r = next(r for r in runs if r["T"] == T and r["cell"] == cell)
            mark = "*" if r["solved_after"] else " "
            row += f"{r['final_metric']:>15.4f}{mark}"
        lines.append(row)
    return "\n".join(lines)


def method(cell: str, lstm_activation: str) -> str:
    """The paper table's method column for a measured cell (the LSTM's with its activation)."""
    return f"LSTM ({lstm_activation}), Adam" if cell == "lstm" else f"{cell.upper()}, Adam"


def paper_table(task: Task, runs: list[dict], cells: list[str], lengths: list[int], seeds: list[int],
                lstm_activation: str = "tanh") -> str:
    """Measured success rate over seeds, training sequences until solved and test errors, beside the paper
    (the LSTM named with its activation, ``LSTM (linear)``)."""
    lines = [f"{task.name}: the paper's protocol ({task.source})", _header(task, strict=True),
             "training stops at the first evaluation that meets it; runs that never do stop at the budget",
             f"{'':<9}{'T':>6}  {'method':<34}{'weights':>8}{'success':>10}{'sequences until solved':>26}"
             f"{'wrong test seqs':>17}"]
    for T in lengths:
        for cell in cells:
            mine = [r for r in runs if r["T"] == T and r["cell"] == cell]
            solved = [r["solved_after"] for r in mine if r["solved_after"]]
            if solved:
                median = f"{statistics.median(solved):,.0f}"
                spread = f" ({min(solved):,}-{max(solved):,})" if len(solved) > 1 else ""
                until = median + spread
            else:
                until = f"> {max(r['sequences'] for r in mine):,}"
            wrong = "/".join(str(r["wrong"]) for r in mine)
            lines.append(f"{'measured':<9}{T:>6}  {method(cell, lstm_activation):<34}{mine[0]['parameters']:>8}"
                         f"{f'{len(solved)}/{len(mine)}':>10}{until:>26}{wrong:>17}")
    for ref in task.references:
        lines.append(f"{'paper':<9}{ref.length:>6}  {ref.method:<34}{ref.weights or '-':>8}"
                     f"{ref.success:>10}{ref.sequences:>26}{ref.test_wrong:>17}")
    lines.append(f"seeds {seeds[0]}..{seeds[-1]}; wrong test seqs: per seed, of {task.eval_size}; "
                 "sequences until solved: median (range) over the seeds that solved it")
    return "\n".join(lines)


def write_report(path: str, task: Task, config: dict, table: str, figures: list[str]) -> None:
    """``report.md``: the experiment, each cell's equations, the results table and the figures."""
    parts = [f"# rnnkit lab: the {task.name} task", "",
             "## The experiment", "", task.about, "",
             f"Source: {task.source}. Metric: {task.metric_name} (chance {task.chance:.3f}); solved: "
             f"{task.solved_words}.", "",
             f"Each cell is one recurrent layer and a linear read-out, sized to about {config['target_parameters']} "
             f"parameters, trained with Adam (learning rate {config['lr']:g}, batches of {config['batch_size']}, "
             "gradient norm clipped at 1) on freshly drawn sequences; initialisation is PyTorch's "
             "(uniform in +-1/sqrt(H)) except the LSTM's gate biases: "
             f"{LSTM_INITS[config['lstm_init']]} (the 1997 LSTM had no forget gate: f = 1). The LSTM's "
             f"{LSTM_ACTIVATIONS[config['lstm_activation']]}.", "",
             "## The cells", ""]
    for cell in config["cells"]:
        parts += [f"**{cell.upper()}**", "", "$$", *[eq + r" \\" for eq in equations(cell, config["lstm_activation"])], "$$", ""]
    parts += ["## Results", "", "```", table, "```", ""]
    captions = {
        "curves.png": "The metric on the test set against training sequences seen, with the chance level and "
                      "the solved threshold.",
        "gradients.png": "The gradient of the long-range target's loss reaching h_t, against the distance from "
                         "that target (log scale; dashed: at initialisation, solid: after training). A plain "
                         "RNN's collapses exponentially with the distance: it cannot learn what lies further back.",
        "sweep.png": "Each cell's metric against the sequence length T: where it stops learning.",
    }
    for name in figures:
        parts += [f"![{name}]({name})", "", captions[name], ""]
    atomic_write_text(path, "\n".join(parts))
