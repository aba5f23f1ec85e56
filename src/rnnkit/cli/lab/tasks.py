"""The long-time-lag tasks of Hochreiter & Schmidhuber (1997) and the copy-memory task.

Every task draws fresh batches from its generator and marks, in each sequence, the step
whose target needs the long-range memory (``Batch.memory``): the gradient picture and the
"memory" loss are read there. Every task's metric is a fraction of correct answers on those
targets (higher is better), so the chance level and the solved threshold read the same way
for every task.

- ``adding`` (paper, experiment 4): pairs (value in [-1, 1], marker in {-1, 0, 1}); one of
  the first ten pairs and one of the first T/2 - 1 are marked 1, the first and last pair -1.
  Target at the end: 0.5 + (X1 + X2) / 4. Correct: |error| < 0.04. Lengths T .. T + T/10.
- ``order`` (experiment 6a): symbols a, b, c, d with X or Y at t1 in [T/10, T/5] and t2 in
  [T/2, T/2 + T/10], between a start symbol E and a trigger B; class XX, XY, YX or YY at the end.
- ``lag`` (experiment 2a): the two sequences (y, a1, ..., a_{p-1}, y) and (x, a1, ..., a_{p-1}, x),
  predicting the next symbol; the last one repeats the first, p steps back. T = p.
- ``reber`` (experiment 1): the embedded Reber grammar B {T|P} <Reber string> {T|P} E as the
  paper generates it (every branch with probability 1/2); next-symbol prediction; the
  second-to-last symbol repeats the second, across the whole inner string.
- ``copy`` (Arjovsky, Shah & Bengio, 2016): S symbols from an alphabet of 8, then T blanks
  with a delimiter at the last one, then S blanks during which the symbols are repeated.

Shapes: B batch, T time, I input, O output.

Example:
    >>> import numpy as np
    >>> batch = TASKS["adding"].batch(np.random.default_rng(0), 4, 20)
    >>> batch.x.shape[0], batch.x.shape[2], batch.target.shape, batch.memory.shape
    (4, 2, (4, 1), (4,))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnkit import nn
from rnnkit.cli.options import InputError

__all__ = ["Batch", "Reference", "Task", "Adding", "Order", "Lag", "Reber", "Copy", "TASKS"]

IGNORE = -100  # class target that adds nothing to a cross-entropy


@dataclass
class Batch:
    """One batch of a task.

    Attributes:
        x: (B, T, I) inputs.
        target: (B, O) float targets (last-step regression), (B,) classes (last-step
            classification) or (B, T) next-symbol classes with ``IGNORE`` where there is none.
        memory: (B,) the step of each sequence whose target needs the long-range memory.
        allowed: (B, T, O) the symbols the grammar allows next (reber only), else None.
    """

    x: np.ndarray
    target: np.ndarray
    memory: np.ndarray
    allowed: np.ndarray | None = None


@dataclass
class Reference:
    """One row of the paper's results table for a task."""

    method: str  # the paper's method and architecture
    length: str  # the paper's T (or p)
    weights: int | None  # trainable weights
    success: str  # fraction of successful trials
    sequences: str  # training sequences until the stopping criterion
    test_wrong: str = "-"  # wrong test sequences (of 2560 where the paper tested that many)


@dataclass
class Task:
    """A task: sizes, a batch generator, the loss, the per-target correctness and the paper's numbers."""

    name: str = ""
    inputs: int = 0
    outputs: int = 0
    per_step: bool = False  # a prediction at every step (else at the last step only)
    default_len: int = 0  # T of a default run
    min_len: int = 2  # the shortest T the task can use
    len_word: str = "T"  # what --seq-len means for this task
    metric_name: str = ""  # what the metric counts
    chance: float = 0.0  # the metric of the best input-blind answer
    solved: float = 1.0  # the metric that counts as solved
    solved_words: str = ""  # the solved criterion, as the paper says it
    params: int = 2000  # parameter count every cell is matched to
    steps: int = 1000  # optimizer steps of a default run
    lr: float = 1e-2  # Adam learning rate
    lstm_activation: str = "tanh"  # the LSTM's activation (Keras's LSTM ``activation``), unless --lstm-activation
    eval_size: int = 2560  # test sequences
    paper_lengths: tuple = ()  # the paper's T values
    paper_max_sequences: int = 0  # training sequences before --paper gives a run up
    references: list = field(default_factory=list)  # the paper's table rows
    source: str = ""  # where the task and the numbers come from
    about: str = ""  # the task in a paragraph, for the report

    def check_len(self, T: int) -> None:
        """Raise :class:`InputError` when the task cannot use sequences of length ``T``."""
        if T < self.min_len:
            raise InputError(f"--seq-len {T}: the {self.name} task needs {self.len_word} >= {self.min_len}")

    def sizes(self, T: int) -> tuple[int, int]:
        """Input and output sizes at length ``T``."""
        return self.inputs, self.outputs

    def batch(self, rng: np.random.Generator, size: int, T: int) -> Batch:
        """``size`` fresh sequences of length ``T`` (or ``T`` .. ``T`` + T/10 where the paper varies it)."""
        raise NotImplementedError

    def loss(self, out, batch: Batch, memory_only: bool = False):
        """The training loss (``memory_only``: the loss of the long-range targets alone)."""
        if not self.per_step:
            return self._last_loss(out, batch)
        target = batch.target
        if memory_only:
            rows = np.arange(len(target))
            target = np.full_like(target, IGNORE)
            target[rows, batch.memory] = batch.target[rows, batch.memory]
        return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), target.reshape(-1),
                                           ignore_index=IGNORE)

    def _last_loss(self, out, batch: Batch):
        return nn.functional.cross_entropy(out, batch.target)

    def correct(self, out: np.ndarray, batch: Batch) -> np.ndarray:
        """(B,) or (B, k): whether each long-range target was answered correctly."""
        if not self.per_step:
            return out.argmax(-1) == batch.target
        rows = np.arange(len(batch.target))
        return out[rows, batch.memory].argmax(-1) == batch.target[rows, batch.memory]

    def all_correct(self, out: np.ndarray, batch: Batch) -> np.ndarray:
        """(B,): whether every prediction of the sequence is correct (the paper's criterion where it has one)."""
        correct = self.correct(out, batch)
        return correct.all(axis=-1) if correct.ndim > 1 else correct


def _lengths(rng: np.random.Generator, T: int) -> int:
    """A sequence length between T and T + T/10, as the paper draws them (one per batch here)."""
    return int(rng.integers(T, T + T // 10 + 1))


class Adding(Task):
    def __init__(self):
        super().__init__(
            name="adding", inputs=2, outputs=1, default_len=100, min_len=6,
            metric_name="sequences with |error| < 0.04",
            chance=float(1 - 0.92**2),  # always answering 0.5: P(|X1 + X2| < 0.16)
            solved=1 - 3 / 2560, solved_words="|error| < 0.04 on all but 3 of 2560 test sequences",
            params=2000, steps=3000, lr=1e-2, paper_lengths=(100, 500, 1000), paper_max_sequences=1_000_000,
            references=[Reference("LSTM, 2 blocks of 2 cells", "100", 93, "-", "74,000", "1"),
                        Reference("LSTM, 2 blocks of 2 cells", "500", 93, "-", "209,000", "0"),
                        Reference("LSTM, 2 blocks of 2 cells", "1000", 93, "-", "853,000", "1")],
            about=("Each step feeds a pair: a value drawn uniformly from [-1, 1] and a marker. One of the first ten "
                   "pairs and one of the first T/2 - 1 pairs are marked 1 (their values are X1 and X2), the first and "
                   "last pairs -1, the rest 0; sequences are T to T + T/10 long. At the last step the network must "
                   "answer 0.5 + (X1 + X2)/4: it has to hold two real numbers over at least T/2 steps. An answer "
                   "counts as correct when its absolute error is below 0.04; always answering 0.5 is right "
                   "15.4% of the time."),
            source="Hochreiter & Schmidhuber (1997), experiment 4, table 7")

    def batch(self, rng, size, T):
        L = _lengths(rng, T)
        x = np.zeros((size, L, 2), np.float32)  # (B, L, 2)
        x[:, :, 0] = rng.uniform(-1, 1, (size, L))
        rows = np.arange(size)
        first = rng.integers(0, min(10, T // 2 - 1), size)  # one of the first ten pairs
        second = rng.integers(0, T // 2 - 2, size)  # one of the first T/2 - 1 pairs but `first`
        second = second + (second >= first)
        x[:, 0, 1] = x[:, -1, 1] = -1.0
        x[rows, first, 1] = x[rows, second, 1] = 1.0
        x[(first == 0) | (second == 0), 0, 0] = 0.0  # the first pair's value is zero when it is marked
        target = 0.5 + (x[rows, first, 0] + x[rows, second, 0]) / 4.0
        return Batch(x, target[:, None].astype(np.float32), np.full(size, L - 1))

    def _last_loss(self, out, batch):
        return nn.functional.mse_loss(out, batch.target)

    def correct(self, out, batch):
        return np.abs(out[:, 0] - batch.target[:, 0]) < 0.04


class Order(Task):
    symbols = "abcdXYEB"

    def __init__(self):
        super().__init__(
            name="order", inputs=8, outputs=4, default_len=40, min_len=10,
            metric_name="sequences classified correctly", chance=0.25,
            solved=1 - 3 / 2560, solved_words="all but 3 of 2560 test sequences classified correctly",
            params=2000, steps=2000, lr=1e-2, paper_lengths=(100,), paper_max_sequences=500_000,
            references=[Reference("LSTM, 2 blocks of 2 cells", "100-110", 156, "-", "31,390", "1")],
            about=("Sequences of T to T + T/10 symbols from a, b, c, d start with E and end with the trigger B; two "
                   "positions, t1 in [T/10, T/5] and t2 in [T/2, T/2 + T/10], hold X or Y instead. At the trigger the "
                   "network must name the order: XX, XY, YX or YY (chance 1/4). It has to remember the first "
                   "symbol for more than T/2 steps of distractors and then combine it with the second."),
            source="Hochreiter & Schmidhuber (1997), experiment 6a, table 8")

    def batch(self, rng, size, T):
        L = _lengths(rng, T)
        ids = rng.integers(0, 4, (size, L))  # a, b, c, d
        ids[:, 0], ids[:, -1] = 6, 7  # E starts, B triggers the answer
        rows = np.arange(size)
        t1 = rng.integers(T // 10, T // 5 + 1, size)
        t2 = rng.integers(T // 2, T // 2 + T // 10 + 1, size)
        first, second = rng.integers(0, 2, size), rng.integers(0, 2, size)  # 0: X, 1: Y
        ids[rows, t1], ids[rows, t2] = 4 + first, 4 + second
        x = np.eye(self.inputs, dtype=np.float32)[ids]  # (B, L, 8)
        return Batch(x, (2 * first + second).astype(np.int64), np.full(size, L - 1))


class Lag(Task):
    def __init__(self):
        super().__init__(
            name="lag", inputs=16, outputs=16, per_step=True, default_len=15, min_len=2, len_word="p",
            metric_name="last symbols predicted correctly", chance=0.5,
            solved=1.0, solved_words="every symbol of both sequences predicted correctly",
            params=10_000, steps=3000, lr=1e-2, lstm_activation="linear", eval_size=64, paper_lengths=(100,), paper_max_sequences=100_000,
            references=[Reference("RTRL, 1 hidden unit", "100", 10404, "0%", "> 5,000,000"),
                        Reference("BPTT, 1 hidden unit", "100", 10404, "0%", "> 5,000,000"),
                        Reference("chunker (CH)", "100", 10506, "33%", "32,400"),
                        Reference("LSTM, 1 cell, h(s) = s, lr 1.0", "100", 10504, "100%", "5,040")],
            about=("Only two sequences exist: (y, a1, ..., a_{p-1}, y) and (x, a1, ..., a_{p-1}, x), one symbol per "
                   "step in a one-hot code of p + 1 symbols; the network predicts the next symbol. Every prediction "
                   "is easy except the last, which must repeat the first, p steps back (chance 1/2). Noise-free, "
                   "so only the time lag makes it hard. The paper's LSTM (one cell, no output gate) puts out the "
                   "cell state itself, h(s) = s; here the LSTM runs with Keras's activation=None (linear: "
                   "g_t = z_g, h_t = o_t c_t), today's LSTM with its forget gate otherwise. With tanh "
                   "(--lstm-activation tanh) its cell states drift at p = 100 far into tanh's flat tails, where "
                   "the last target's gradient no longer reaches the first symbol (docs/lab.md)."),
            source="Hochreiter & Schmidhuber (1997), experiment 2a, table 2")

    def sizes(self, p: int) -> tuple[int, int]:
        """Inputs and outputs for delay ``p``: the symbols a1 .. a_{p-1}, x and y."""
        return p + 1, p + 1

    def batch(self, rng, size, T):
        p = T
        first = rng.integers(p - 1, p + 1, size)  # x = a_p (index p-1), y = a_{p+1} (index p)
        ids = np.empty((size, p + 1), np.int64)
        ids[:, 0] = ids[:, -1] = first
        ids[:, 1:-1] = np.arange(p - 1)  # a1 .. a_{p-1}
        x = np.eye(p + 1, dtype=np.float32)[ids[:, :-1]]  # (B, p, p+1)
        target = ids[:, 1:].copy()  # (B, p) next symbols
        return Batch(x, target, np.full(size, p - 1))

    def all_correct(self, out, batch):
        return (out.argmax(-1) == batch.target).all(axis=1)


class Reber(Task):
    alphabet = "BTPSXVE"
    # the inner Reber grammar: state -> [(symbol, next state)]; state 5 ends with E
    graph = {0: [("T", 1), ("P", 2)], 1: [("S", 1), ("X", 3)], 2: [("T", 2), ("V", 4)],
             3: [("X", 2), ("S", 5)], 4: [("P", 3), ("V", 5)], 5: [("E", None)]}

    def __init__(self):
        super().__init__(
            name="reber", inputs=7, outputs=7, per_step=True, default_len=14, min_len=9, len_word="T",
            metric_name="second-to-last symbols predicted correctly", chance=0.5,
            solved=1.0, solved_words="the second-to-last symbol of all 256 test strings predicted correctly",
            params=2000, steps=3000, lr=1e-2, eval_size=256, paper_lengths=(9,), paper_max_sequences=200_000,
            references=[Reference("RTRL, 3 units", "-", 170, "some", "173,000"),
                        Reference("RTRL, 12 units", "-", 494, "some", "25,000"),
                        Reference("Elman net, 15 units", "-", 435, "0%", "> 200,000"),
                        Reference("recurrent cascade-correlation", "-", 198, "50%", "182,000"),
                        Reference("LSTM, 4 blocks of 1 cell, lr 0.1", "-", 264, "100%", "39,740"),
                        Reference("LSTM, 3 blocks of 2 cells, lr 0.1", "-", 276, "100%", "21,730"),
                        Reference("LSTM, 3 blocks of 2 cells, lr 0.2", "-", 276, "97%", "14,060"),
                        Reference("LSTM, 4 blocks of 1 cell, lr 0.5", "-", 264, "97%", "9,500"),
                        Reference("LSTM, 3 blocks of 2 cells, lr 0.5", "-", 276, "100%", "8,440")],
            about=("Strings of the embedded Reber grammar, B {T|P} <Reber string> {T|P} E, every branch taken with "
                   "probability 1/2, one symbol per step (one-hot over BTPSXVE); the network predicts the next "
                   "symbol. The inner Reber string is learnt quickly; the second-to-last symbol repeats the second, "
                   "across the whole inner string (chance 1/2), and that is what the metric counts. T is the "
                   "shortest string drawn (9: the paper's grammar; longer: the paper's grammar conditioned on that "
                   "length)."),
            source="Hochreiter & Schmidhuber (1997), experiment 1, table 1")

    def _reach(self, k: int) -> dict:
        """reach[state][n]: the probability that the inner grammar, from ``state``, still emits at
        least n symbols (n = 0 .. k); state None is the end."""
        reach = {state: np.r_[1.0, np.zeros(k)] for state in [None, *self.graph]}
        for n in range(1, k + 1):  # dynamic programming over n (the loops make it a recursion in n)
            for state, options in self.graph.items():
                reach[state][n] = sum(reach[nxt][n - 1] for _, nxt in options) / len(options)
        return reach

    def string(self, rng: np.random.Generator, T: int, reach: dict | None = None) -> tuple[str, list[str]]:
        """An embedded Reber string of at least ``T`` symbols and, per symbol, the symbols allowed next.

        Every branch is taken with probability 1/2 as in the paper; with ``T`` above 9 (the
        shortest string) the string is drawn from the paper's grammar conditioned on being at
        least ``T`` long, branch by branch, weighting each branch by the probability that
        the rest can still reach that length (``reach``, from :meth:`_reach`).
        """
        need = max(T - 5, 0)  # inner symbols after the inner B: the outer B, T|P, B and T|P, E frame it
        reach = reach if reach is not None else self._reach(need)
        outer = "TP"[rng.integers(2)]
        s, allowed, state = "B" + outer + "B", ["TP", "B", "TP"], 0
        while state is not None:
            options = self.graph[state]
            weights = [reach[nxt][max(need - 1, 0)] for _, nxt in options]  # one or two branches
            pick = int(len(options) == 2 and rng.random() * (weights[0] + weights[1]) >= weights[0])
            symbol, state = options[pick]
            need = max(need - 1, 0)
            s += symbol
            allowed.append("".join(sym for sym, _ in self.graph[state]) if state is not None else outer)
        return s + outer + "E", allowed + ["E", ""]

    def batch(self, rng, size, T):
        reach = self._reach(max(T - 5, 0))
        drawn = [self.string(rng, T, reach) for _ in range(size)]
        L = max(len(s) for s, _ in drawn) - 1
        ids = np.zeros((size, L), np.int64)
        target = np.full((size, L), IGNORE, np.int64)
        allowed = np.zeros((size, L, self.outputs), bool)
        code = {c: i for i, c in enumerate(self.alphabet)}
        masks = {}  # allowed-symbol string -> its (O,) mask
        for row, (s, nxt) in enumerate(drawn):
            n = len(s) - 1
            symbols = [code[c] for c in s]
            ids[row, :n], target[row, :n] = symbols[:-1], symbols[1:]
            for t in range(n):
                if nxt[t] not in masks:
                    masks[nxt[t]] = np.isin(np.arange(self.outputs), [code[c] for c in nxt[t]])
                allowed[row, t] = masks[nxt[t]]
        memory = np.array([len(s) - 3 for s, _ in drawn])  # input: the inner E; target: the repeated symbol
        return Batch(np.eye(self.inputs, dtype=np.float32)[ids], target, memory, allowed)

    def all_correct(self, out, batch):
        """The paper's criterion: at every step the allowed next symbols are the most active outputs."""
        k = batch.allowed.sum(-1, keepdims=True)  # (B, T, 1) how many symbols may follow
        rank = np.argsort(np.argsort(-out, axis=-1), axis=-1)  # 0: most active
        top = rank < k
        good = (top == batch.allowed).all(-1) | (k[..., 0] == 0)  # padding steps count as correct
        return good.all(axis=1)


class Copy(Task):
    symbols = 5  # symbols to remember

    def __init__(self):
        super().__init__(
            name="copy", inputs=10, outputs=9, per_step=True, default_len=10, min_len=2, len_word="T (the gap)",
            metric_name="recalled symbols correct", chance=1 / 8,
            solved=0.99, solved_words="99% of the recalled symbols of 2560 test sequences correct",
            params=6000, steps=10_000, lr=1e-2, paper_lengths=(100, 200, 300, 500), paper_max_sequences=500_000,
            references=[Reference("LSTM, 40 units (RMSprop)", "100-500", None, "baseline only", "-"),
                        Reference("uRNN, 128 units", "100-500", None, "solved", "< 640,000")],
            about=("Five symbols from an alphabet of eight, then T blanks with a delimiter at the last, then five "
                   "blanks during which the network must repeat the five symbols in order; every step is a "
                   "prediction. The metric counts the recalled symbols (chance 1/8). Arjovsky et al. used ten "
                   "symbols; five keep it runnable on a laptop."),
            source="Arjovsky, Shah & Bengio (2016), section 4.1, figure 1 (10 symbols there, 5 here)")

    def batch(self, rng, size, T):
        S = self.symbols
        seq = rng.integers(1, 9, (size, S))  # (B, S) symbols 1..8
        ids = np.zeros((size, S + T + S), np.int64)  # 0 blank, 9 delimiter
        ids[:, :S] = seq
        ids[:, S + T - 1] = 9
        target = np.zeros_like(ids)
        target[:, -S:] = seq
        return Batch(np.eye(self.inputs, dtype=np.float32)[ids], target, np.full(size, S + T))  # first recall

    def correct(self, out, batch):
        S = self.symbols
        return out[:, -S:].argmax(-1) == batch.target[:, -S:]  # (B, S)


TASKS: dict[str, Task] = {task.name: task for task in (Adding(), Reber(), Copy(), Order(), Lag())}
