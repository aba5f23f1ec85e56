"""The figures of the ``rnnkit`` commands (matplotlib, imported lazily, non-interactive Agg backend).

Every function returns True when it wrote the file and False when matplotlib is not
installed (the ``cli`` extra: ``pip install 'rnnkit[cli]'``); the caller says so once.
Figures are rendered to memory and written atomically.
"""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np

from rnnkit.serialization import atomic_write_bytes

__all__ = ["available", "loss_curves", "forecast", "backtest_steps", "backtest_forecasts", "learning_curves",
           "gradient_norms", "success_by_length", "MISSING"]

MISSING = "matplotlib is not installed, so no plots were drawn (pip install 'rnnkit[cli]')"


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def available() -> bool:
    """True when matplotlib can be imported."""
    return _pyplot() is not None


def _save(plt, fig, path: str) -> None:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def loss_curves(path: str, train: tuple[Sequence, Sequence], val: tuple[Sequence, Sequence], title: str) -> bool:
    """Training and validation curves in bits per character against the step."""
    plt = _pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(*train, label="train", color="tab:blue", alpha=0.8)
    ax.plot(*val, "o-", label="validation", color="tab:orange")
    ax.set(xlabel="step", ylabel="bits per character", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(plt, fig, path)
    return True


def forecast(path: str, panel, predicted, title: str, series: int = 4, history: int = 120) -> bool:
    """History (its last ``history`` steps), forecast and interval of the first ``series`` series, on a date axis.

    Args:
        panel: the :class:`rnnkit.forecast.Panel` forecast from.
        predicted: the forecast table of :meth:`rnnkit.forecast.Forecaster.predict`.
    """
    plt = _pyplot()
    if plt is None:
        return False
    shown = panel.series[:series]
    fig, axes = plt.subplots(len(shown), 1, figsize=(9, 3.2 * len(shown)), squeeze=False)
    time = panel.time or "step"
    for ax, s in zip(axes[:, 0], shown):
        rows = predicted if panel.id is None else predicted[predicted[panel.id] == s.id]
        for c, name in enumerate(panel.targets):
            ax.plot(s.times[-history:], s.values[-history:, c], color=f"C{c}", linewidth=1.2, label=f"{name}")
            ax.plot(rows[time], rows[name], color=f"C{c}", linestyle="--", marker=".", label=f"{name} forecast")
            ax.fill_between(rows[time], rows[f"{name}_lower"], rows[f"{name}_upper"], color=f"C{c}", alpha=0.2,
                            label=f"{predicted.attrs.get('level', 0.9):.0%} interval")
        ax.set(title=f"{title}" + (f": {s.id}" if panel.id else ""), xlabel=panel.time or "step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.autofmt_xdate()
    _save(plt, fig, path)
    return True


def backtest_steps(path: str, per_step, title: str) -> bool:
    """MASE against the step ahead, one line per method (one panel per target) from a backtest's per-step table."""
    plt = _pyplot()
    if plt is None:
        return False
    targets = list(dict.fromkeys(per_step["target"]))
    fig, axes = plt.subplots(len(targets), 1, figsize=(8, 3.6 * len(targets)), squeeze=False)
    for ax, target in zip(axes[:, 0], targets):
        part = per_step[per_step["target"] == target]
        for i, (method, rows) in enumerate(part.groupby("method", sort=False)):
            ax.plot(rows["step"], rows["mase"], marker="o", color=f"C{i}", label=method,
                    linewidth=2.2 if i == 0 else 1.2)
        ax.set(xlabel="step ahead", ylabel="MASE", title=f"{title}: {target}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save(plt, fig, path)
    return True


def backtest_forecasts(path: str, forecasts, methods: list[str], title: str, steps: int = 12) -> bool:
    """One panel per step ahead h: the actual values and each method's h-step forecasts over the backtest
    origins, for the first series and target of a backtest's forecast table."""
    plt = _pyplot()
    if plt is None:
        return False
    first = forecasts[(forecasts["series"] == forecasts["series"].iloc[0])
                      & (forecasts["target"] == forecasts["target"].iloc[0])]
    shown = sorted(set(first["step"]))[:steps]
    cols = min(4, len(shown))
    rows = -(-len(shown) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False, sharey=True)
    for ax, h in zip(axes.ravel(), shown):
        part = first[first["step"] == h]
        ax.plot(part["time"], part["actual"], "o-", color="black", linewidth=1.2, label="actual")
        for i, method in enumerate(methods):
            ax.plot(part["time"], part[method], ".--", color=f"C{i}", label=method)
        ax.set_title(f"{h} step{'s' if h > 1 else ''} ahead", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(shown):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(title)
    fig.autofmt_xdate()
    _save(plt, fig, path)
    return True


def learning_curves(path: str, curves: dict[str, tuple[Sequence, Sequence]], chance: float, solved: float,
                    ylabel: str, title: str) -> bool:
    """One evaluation curve per cell against training sequences seen, with the chance level and the
    solved threshold as labelled horizontal lines."""
    plt = _pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    for cell, (seen, values) in curves.items():
        ax.plot(seen, values, label=cell.upper())
    ax.axhline(chance, color="black", linestyle="--", linewidth=1, label=f"chance ({chance:.3g})")
    ax.axhline(solved, color="tab:green", linestyle=":", linewidth=1.5, label=f"solved threshold ({solved:.4g})")
    ax.set(xlabel="training sequences seen", ylabel=ylabel, title=title, ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(plt, fig, path)
    return True


def gradient_norms(path: str, norms: dict[str, dict[str, Sequence]], title: str) -> bool:
    """||dLoss/dh_t|| against the distance from the loss, log scale: one colour per cell, dashed at
    initialisation, solid after training."""
    plt = _pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (cell, by_stage) in enumerate(norms.items()):
        colour = f"C{i}"
        for stage, style in (("initial", "--"), ("trained", "-")):
            if stage in by_stage:
                values = np.maximum(np.asarray(by_stage[stage], dtype=float), 1e-30)
                ax.semilogy(np.arange(len(values)), values, style, color=colour, label=f"{cell.upper()} ({stage})")
    ax.set(xlabel="distance from the loss (steps back from the long-range target)",
           ylabel="||dLoss / dh_t||", title=title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    _save(plt, fig, path)
    return True


def success_by_length(path: str, results: dict[str, tuple[Sequence, Sequence, Sequence]], chance: float,
                      solved: float, ylabel: str, title: str) -> bool:
    """Each cell's final metric against the sequence length T: a filled marker where it solved the task."""
    plt = _pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (cell, (lengths, values, done)) in enumerate(results.items()):
        style = ("-", "--", ":")[i % 3]  # lines and markers of different sizes, so that equal values stay visible
        ax.plot(lengths, values, style, color=f"C{i}", label=cell.upper())
        for T, value, ok in zip(lengths, values, done):
            ax.plot([T], [value], "o", color=f"C{i}", fillstyle="full" if ok else "none", markersize=11 - 3 * (i % 3))
    ax.axhline(chance, color="black", linestyle="--", linewidth=1, label=f"chance ({chance:.3g})")
    ax.axhline(solved, color="tab:green", linestyle=":", linewidth=1.5, label=f"solved threshold ({solved:.4g})")
    ax.set(xscale="log", xlabel="sequence length T (filled marker: solved)", ylabel=ylabel, title=title,
           ylim=(-0.02, 1.02))
    ax.set_xticks(list(next(iter(results.values()))[0]))
    ax.get_xaxis().set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(plt, fig, path)
    return True
