"""The character-level language model and its streaming sampler.

Equations (per window, the recurrent layers carry ``state`` across windows)::

    e_t            = Dropout(Embedding(x_t))                    (B, E)
    h_t, state     = RNN/LSTM/GRU(e_t, state)                   (B, H)
    logits_t       = Linear(Dropout(h_t))                       (B, V)
    p(x_{t+1} | x_{<=t}) = softmax(logits_t / temperature)

Shapes: B batch, T time, E embedding, H hidden, V vocabulary, L layers.

Example:
    >>> import numpy as np, rnnkit
    >>> _ = rnnkit.manual_seed(0)
    >>> model = CharLM(vocab_size=5, cell="gru", layers=1, hidden=8, embed=4)
    >>> logits, state = model(np.zeros((2, 3), np.int64))
    >>> logits.shape, state.shape
    ((2, 3, 5), (1, 2, 8))
    >>> text = "".join(generate(model, "abcde", "ab", 4, rng=np.random.default_rng(0)))
    >>> len(text)
    4
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterator

import numpy as np

from rnnkit import nn, no_grad
from rnnkit._tensor import Tensor, array_of
from rnnkit.onnx import Graph, Sym, convert, register

__all__ = ["ModelConfig", "CharLM", "LAYERS", "detach", "state_arrays", "state_from_arrays", "generate", "pick"]

LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@dataclass(frozen=True)
class ModelConfig:
    """The architecture, as stored in ``config.json``."""

    vocab_size: int  # V, characters in the alphabet
    cell: str = "lstm"  # rnn | lstm | gru
    layers: int = 2  # stacked recurrent layers
    hidden: int = 192  # H, units per layer
    embed: int = 48  # E, embedding size
    dropout: float = 0.0  # on embeddings, between layers and before the output

    def to_json(self) -> dict:
        return asdict(self)


class CharLM(nn.Module):
    """Embedding -> stacked recurrent layers -> Linear over the alphabet.

    Args:
        vocab_size, cell, layers, hidden, embed, dropout: see :class:`ModelConfig`.
    """

    def __init__(self, vocab_size: int, cell: str = "lstm", layers: int = 2, hidden: int = 192, embed: int = 48,
                 dropout: float = 0.0):
        super().__init__()
        self.config = ModelConfig(vocab_size, cell, layers, hidden, embed, dropout)
        self.embedding = nn.Embedding(vocab_size, embed)
        self.drop = nn.Dropout(dropout)
        self.rnn = LAYERS[cell](embed, hidden, num_layers=layers, dropout=dropout if layers > 1 else 0.0,
                                batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    @classmethod
    def from_config(cls, config: dict) -> CharLM:
        return cls(**ModelConfig(**config).to_json())

    def forward(self, ids: np.ndarray, state: Any = None) -> tuple[Tensor, Any]:
        """ids (B, T) int -> logits (B, T, V) and the final state ((L, B, H), a pair for LSTM)."""
        e = self.drop(self.embedding(ids))  # (B, T, E)
        h, state = self.rnn(e, state)  # (B, T, H)
        return self.head(self.drop(h)), state  # (B, T, V)


def detach(state: Any) -> Any:
    """Cut the graph behind a carried state (a tensor, a pair, or None)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def state_arrays(state: Any) -> dict[str, np.ndarray]:
    """A carried state as named arrays, ``{"h": ..., "c": ...}`` (empty for None)."""
    if state is None:
        return {}
    if isinstance(state, tuple):
        return {"h": array_of(state[0]).copy(), "c": array_of(state[1]).copy()}
    return {"h": array_of(state).copy()}


def state_from_arrays(arrays: dict[str, np.ndarray]) -> Any:
    """Inverse of :func:`state_arrays`."""
    if not arrays:
        return None
    if "c" in arrays:
        return Tensor(arrays["h"]), Tensor(arrays["c"])
    return Tensor(arrays["h"])


def pick(logits: np.ndarray, temperature: float, top_k: int, rng: np.random.Generator, top_p: float = 1.0) -> int:
    """Draw one id from ``softmax(logits / temperature)``, restricted to the most likely ids.

    Args:
        logits: (V,) unnormalised log-probabilities.
        temperature: > 0 divides the logits; 0 means greedy (the most likely id, no draw).
        top_k: keep the ``top_k`` largest logits only (0: all).
        top_p: keep the smallest set of most likely ids whose probabilities add up to at
            least ``top_p`` (nucleus sampling; 1: all).
        rng: the generator to draw from.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> pick(np.array([0.0, 3.0, 1.0]), 0.0, 0, rng), pick(np.array([0.0, 3.0, 1.0]), 1.0, 0, rng, top_p=0.5)
        (1, 1)
    """
    if temperature == 0:
        return int(np.argmax(logits))
    with np.errstate(over="ignore"):  # a tiny temperature sends all but the largest to -inf: the greedy limit
        z = (logits.astype(np.float64) - logits.max()) / temperature  # (V,) <= 0
    if 0 < top_k < len(z):
        z = np.where(z >= np.partition(z, -top_k)[-top_k], z, -np.inf)
    p = np.exp(z - z.max())  # (V,)
    p /= p.sum()
    if top_p < 1.0:
        order = np.argsort(-p, kind="stable")  # most likely first
        cumulative = np.cumsum(p[order])  # (V,)
        keep = order[: int(np.searchsorted(cumulative, top_p)) + 1]  # the nucleus, at least one id
        nucleus = np.zeros_like(p)
        nucleus[keep] = p[keep]
        p = nucleus / nucleus.sum()
    return int(rng.choice(len(p), p=p))


def generate(model: CharLM, chars: str, prompt: str, length: int, temperature: float = 1.0, top_k: int = 0,
             rng: np.random.Generator | None = None, top_p: float = 1.0) -> Iterator[str]:
    """Yield ``length`` characters, one at a time, continuing ``prompt``.

    The prompt is fed once; after that only the newest character goes in, with the
    recurrent state carried from the previous step (the prefix is never re-run).

    Args:
        model: a trained :class:`CharLM` (switched to eval mode here).
        chars: its alphabet (id -> character).
        prompt: starting text, all of its characters in ``chars``; when empty, generation
            starts after a newline (or the first character of the alphabet).
        length: number of characters to yield.
        temperature, top_k, top_p: see :func:`pick` (temperature 0: greedy).
        rng: the generator to draw from (default: a fresh unpredictable one).
    """
    rng = np.random.default_rng() if rng is None else rng
    index = {c: i for i, c in enumerate(chars)}
    start = prompt or ("\n" if "\n" in index else chars[0])
    model.eval()
    with no_grad():
        logits, state = model(np.array([[index[c] for c in start]], np.int64))  # (1, len(start), V)
        for n in range(length):
            i = pick(array_of(logits)[0, -1], temperature, top_k, rng, top_p)
            yield chars[i]
            if n + 1 < length:
                logits, state = model(np.array([[i]], np.int64), state)  # (1, 1, V): only the new character


# -- ONNX: `rnnkit onnx` and rnnkit.onnx.export write the model with this converter --------------
@register(CharLM)
def _charlm(g: Graph, m: CharLM, ids: Sym, state=None):
    e = convert(g, m.embedding, ids, scope="embedding")  # (B, T, E); dropout: identity in eval mode
    h, state = convert(g, m.rnn, e, state, scope="rnn")  # (B, T, H)
    return convert(g, m.head, h, scope="head"), state  # (B, T, V)
