"""Planning a training run for a budget: the learning-rate schedule and the model's size.

**The schedule.** The run's progress ``p`` goes from 0 to 1: ``step / steps`` for a run of
``--steps``, the fraction of the wall-clock budget spent for a run of ``--minutes``. The
learning rate is a pure function of ``p``::

    warm(p)  = min(1, p / warmup)                                   (linear warm-up)
    decay(p) = r + (1 - r) * (1 + cos(pi * q)) / 2,  q = (p - warmup) / (1 - warmup)
    lr(p)    = lr_peak * warm(p) * decay(p)       (r = FINAL_RATIO; decay = 1 if constant)

so the decay reaches ``lr_peak * r`` exactly when the budget ends, whatever the speed of
the machine: a minutes run does not guess its number of steps, it reads the clock.

**The size.** A budget of ``S`` seconds on a machine that trains at ``R`` FLOP/s (measured
at the start on a reference model) processes about ``N = R * S / (6 * P)`` characters
with a model of ``P`` matrix parameters (6 FLOPs per parameter per character: forward and
backward). Compute-optimal training wants ``N`` of about ``TOKENS_PER_PARAM * P``; but a
text of ``U`` characters runs out first when the budget is large (tiny Shakespeare is 1M
characters), and past about :data:`PASSES_ENOUGH` passes a bigger model with dropout learns
more than more repeats of the same text (repeated data loses its value after a few passes:
Muennighoff et al. 2023, "Scaling Data-Constrained Language Models"). So the plan takes the
largest model of :data:`LADDER` with ``R * S / (6 * P) >= min(TOKENS_PER_PARAM * P, PASSES_ENOUGH * U)``.
The batch is the largest power of two (16 to 128) that still leaves ``MIN_UPDATES``
optimizer steps. Dropout and weight decay follow the planned number of passes over the
training text: none while every character is new, more as characters repeat.

Example:
    >>> s = Schedule(lr=1e-3, warmup=0.1)
    >>> [round(s.lr_at(p), 6) for p in (0.0, 0.05, 0.1, 1.0)]
    [0.0, 0.0005, 0.001, 0.0001]
    >>> plan = size_for_budget(seconds=600, flops_per_second=2e10, train_chars=1_000_000, vocab_size=65)
    >>> (plan.layers, plan.hidden, plan.batch_size, plan.dropout)
    (1, 192, 64, 0.2)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

__all__ = ["FINAL_RATIO", "TOKENS_PER_PARAM", "PASSES_ENOUGH", "MIN_UPDATES", "LADDER", "Schedule", "Budget", "Plan",
           "GATES", "matrix_params", "size_for_budget"]

FINAL_RATIO = 0.1  # the learning rate at the end of a decayed run, as a fraction of the peak
TOKENS_PER_PARAM = 20  # characters a compute-optimal run sees per matrix parameter (the Chinchilla ratio)
PASSES_ENOUGH = 10  # passes over the text after which a bigger model beats more repeats
MIN_UPDATES = 1500  # optimizer steps a planned run keeps at least (the batch shrinks for them)
# (layers, hidden, embed) of the models a plan chooses from, smallest first
LADDER = ((1, 128, 32), (1, 192, 48), (2, 192, 48), (2, 256, 64), (2, 384, 64), (2, 512, 64), (3, 512, 96),
          (3, 768, 128))


@dataclass(frozen=True)
class Schedule:
    """The learning rate as a function of the run's progress (see the module's equations).

    Args:
        lr: the peak learning rate.
        warmup: fraction of the run spent warming up (0: none).
        decay: "cosine" (to ``lr * final_ratio`` at the end) or "constant".
        final_ratio: the end of the cosine, as a fraction of ``lr``.
    """

    lr: float  # peak learning rate
    warmup: float = 0.02  # fraction of the run for the linear warm-up
    decay: str = "cosine"  # cosine | constant
    final_ratio: float = FINAL_RATIO  # lr at the end / lr at the peak

    def lr_at(self, progress: float) -> float:
        """The learning rate at ``progress`` in [0, 1] (clipped into it)."""
        p = min(max(progress, 0.0), 1.0)
        warm = min(1.0, p / self.warmup) if self.warmup > 0 else 1.0
        if self.decay == "constant":
            return self.lr * warm
        q = max(0.0, (p - self.warmup) / (1.0 - self.warmup))
        return self.lr * warm * (self.final_ratio + (1 - self.final_ratio) * 0.5 * (1 + math.cos(math.pi * q)))


class Budget:
    """How far a run is: by steps (``steps``) or by the wall clock (``seconds``).

    The wall clock counts from the creation of the budget minus the seconds already spent
    by earlier sessions (``spent``); a wall-clock budget keeps ``reserve`` seconds at its
    end for the final evaluation (the trainer sets it once it has timed an evaluation).

    Args:
        steps: the total number of steps, or None.
        seconds: the total wall-clock budget, or None.
        clock: a monotonic clock in seconds (``time.monotonic``; tests pass a fake one).
        spent: seconds spent before this session (a resumed run).
    """

    def __init__(self, steps: int | None = None, seconds: float | None = None, clock=time.monotonic,
                 spent: float = 0.0):
        if (steps is None) == (seconds is None):
            raise ValueError(f"Budget: expected exactly one of steps and seconds, got {steps} and {seconds}")
        self.steps, self.seconds, self.clock = steps, seconds, clock
        self.start = clock() - spent
        self.reserve = 0.0

    def elapsed(self) -> float:
        """Wall-clock seconds spent on the run so far (all sessions)."""
        return self.clock() - self.start

    def progress(self, step: int) -> float:
        """The fraction of the budget used: of the steps, or of the seconds left for training."""
        if self.steps is not None:
            return step / self.steps
        return self.elapsed() / max(self.seconds - self.reserve, 1e-9)

    def done(self, step: int) -> bool:
        """True when the training part of the budget is used up."""
        return self.progress(step) >= 1.0


@dataclass(frozen=True)
class Plan:
    """What :func:`size_for_budget` chose."""

    layers: int  # stacked recurrent layers
    hidden: int  # units per layer
    embed: int  # embedding size
    batch_size: int  # parallel streams
    dropout: float  # on embeddings, between layers and before the output
    weight_decay: float  # AdamW's decoupled decay (one group: every parameter)
    params: int  # P, the matrix parameters of the model
    chars: float  # N, the characters the budget should train on
    passes: float  # N / training characters


GATES = {"lstm": 4, "gru": 3, "rnn": 1}  # weight blocks per recurrent layer of each cell


def matrix_params(layers: int, hidden: int, embed: int, vocab_size: int, cell: str = "lstm") -> int:
    """P: the parameters of a recurrent language model's matrix products (embedding lookups excluded)."""
    gates = GATES[cell]
    recurrent = sum(gates * hidden * ((embed if layer == 0 else hidden) + hidden) for layer in range(layers))
    return recurrent + hidden * vocab_size


def size_for_budget(seconds: float, flops_per_second: float, train_chars: int, vocab_size: int,
                    seq_len: int = 64, cell: str = "lstm") -> Plan:
    """The model, batch and regularisation for ``seconds`` of training at ``flops_per_second``.

    Args:
        seconds: the wall-clock time left for training.
        flops_per_second: the measured training speed (6 FLOPs per matrix parameter per character).
        train_chars: the size of the training split.
        vocab_size: V.
        seq_len: T, characters per window (for the batch rule).
        cell: lstm, gru or rnn (the ladder's sizes, with this cell's parameter count).

    Returns:
        The :class:`Plan` (see the module's rule).
    """
    budget_flops = flops_per_second * max(seconds, 0.0)
    chosen = LADDER[0]
    for layers, hidden, embed in LADDER:
        p = matrix_params(layers, hidden, embed, vocab_size, cell)
        if budget_flops / (6 * p) >= min(TOKENS_PER_PARAM * p, PASSES_ENOUGH * train_chars):
            chosen = (layers, hidden, embed)
    p = matrix_params(*chosen, vocab_size, cell)
    chars = budget_flops / (6 * p)
    batch = 16
    while batch < 128 and chars / (2 * batch * seq_len) >= MIN_UPDATES:
        batch *= 2
    passes = chars / max(train_chars, 1)
    dropout = 0.0 if passes <= 1 else 0.1 if passes <= 4 else 0.2
    weight_decay = 0.0 if passes <= 1 else 0.1
    return Plan(*chosen, batch_size=batch, dropout=dropout, weight_decay=weight_decay, params=p, chars=chars,
                passes=passes)
