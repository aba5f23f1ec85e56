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

__all__ = ["available", "loss_curves", "forecast", "learning_curves", "gradient_norms", "MISSING"]

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


def forecast(path: str, actual: np.ndarray, predicted: np.ndarray, naive: np.ndarray, title: str) -> bool:
    """Actual values of the test span against the model's and the naive one-step forecasts."""
    plt = _pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(9, 4))
    t = np.arange(len(actual))
    ax.plot(t, actual, label="actual", color="black", linewidth=1.5)
    ax.plot(t, predicted, label="model", color="tab:red")
    ax.plot(t, naive, label="naive (last value)", color="tab:gray", linestyle="--", alpha=0.7)
    ax.set(xlabel="test step", ylabel="value", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(plt, fig, path)
    return True


def learning_curves(path: str, curves: dict[str, tuple[Sequence, Sequence]], baseline: float, ylabel: str,
                    title: str) -> bool:
    """One evaluation curve per cell, with the chance baseline as a dashed line."""
    plt = _pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    for cell, (steps, values) in curves.items():
        ax.plot(steps, values, label=cell.upper())
    ax.axhline(baseline, color="black", linestyle="--", linewidth=1, label="chance baseline")
    ax.set(xlabel="step", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(plt, fig, path)
    return True


def gradient_norms(path: str, norms: dict[str, dict[str, Sequence]], title: str) -> bool:
    """||dLoss/dh_t|| against t, log scale: one colour per cell, dashed at initialisation, solid after training."""
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
    ax.set(xlabel="time step t", ylabel="||dLoss / dh_t||", title=title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    _save(plt, fig, path)
    return True
