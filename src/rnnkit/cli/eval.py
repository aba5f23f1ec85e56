"""``rnnkit eval``: how well a trained character model predicts another text, in bits per character.

The text is read as :data:`rnnkit.cli.train.EVAL_STREAMS` parallel streams with the
recurrent state carried from window to window (:func:`rnnkit.cli.train.evaluate`, the
same scoring as the held-out split at the end of training)::

    bits/char = -(1/N) sum_t log2 p(x_{t+1} | x_{<=t})
"""

from __future__ import annotations

from rnnkit import nn
from rnnkit.cli.data import Vocab, read_text
from rnnkit.cli.options import EvalOptions, InputError
from rnnkit.cli.rundir import Reporter
from rnnkit.cli.checkpoint import load_model
from rnnkit.cli.train import eval_streams, evaluate, scored_chars

__all__ = ["run"]


def run(opts: EvalOptions) -> int:
    text = read_text(opts.text)
    model, config = load_model(opts.dir)
    vocab = Vocab(config["vocab"])
    missing = vocab.missing(text)
    if missing:
        raise InputError(f"--text {opts.text}: the characters {missing!r} are not in the model's vocabulary "
                         f"of {len(vocab)} characters, so their probability is undefined")
    if len(text) < 2:
        raise InputError(f"--text {opts.text}: needs at least 2 characters to predict one")
    seq_len = config["train"]["seq_len"]
    streams = eval_streams(vocab.encode(text), seq_len)  # (B, L)
    bpc = evaluate(model, nn.CrossEntropyLoss(), streams, seq_len)
    scored = scored_chars(streams)
    Reporter(json=opts.json).result(f"{opts.text}: {bpc:.4f} bits/char on {scored:,} characters "
                                    f"({opts.dir}, step {config['step']})", bits_per_char=bpc, chars=scored,
                                    text=opts.text, run=opts.dir, step=config["step"])
    return 0
