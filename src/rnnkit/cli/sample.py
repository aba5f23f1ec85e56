"""``rnnkit sample``: stream text from a trained character model, one character at a time.

The prompt is fed once; then each new character is drawn from
``softmax(logits / temperature)`` (optionally among the ``top_k`` most likely, or the
nucleus of probability ``top_p``; temperature 0 takes the most likely character), printed
at once, and fed back alone with the carried recurrent state (see
:func:`rnnkit.cli.charlm.generate`), so each character costs one step of the network.
"""

from __future__ import annotations

import sys

import numpy as np

from rnnkit.cli.charlm import generate
from rnnkit.cli.checkpoint import load_model
from rnnkit.cli.onnx import OnnxCharLM
from rnnkit.cli.options import InputError, SampleOptions

__all__ = ["run"]


def run(opts: SampleOptions) -> int:
    model, config = load_model(opts.dir)
    chars = config["vocab"]
    if opts.onnx is not None:  # the same sampling loop on the exported graph, run by ONNX Runtime
        model = OnnxCharLM(opts.onnx, config)
    missing = "".join(sorted(set(opts.prompt) - set(chars)))
    if missing:
        raise InputError(f"--prompt: the characters {missing!r} are not in the model's vocabulary")
    rng = np.random.default_rng(opts.seed)
    out = sys.stdout
    out.write(opts.prompt)
    for char in generate(model, chars, opts.prompt, opts.length, opts.temperature, opts.top_k, rng,
                         opts.top_p):
        out.write(char)
        out.flush()
    out.write("\n")
    out.flush()
    return 0
