"""Score a nanoGPT character-model checkpoint on the whole held-out split, as ``rnnkit train`` reports.

``python benchmarks/nanogpt_val.py NANOGPT_CHECKOUT [--out-dir out-shakespeare-char]
[--data shakespeare_char]`` loads ``ckpt.pt`` of a run of nanoGPT's ``train.py``
(github.com/karpathy/nanoGPT) and its ``val.bin``, and prints the mean cross-entropy over
the whole split in nats and in bits per character. nanoGPT's own ``estimate_loss`` averages
``eval_iters`` random windows; this reads the split once, in consecutive windows of the
model's ``block_size``, each character predicted from the characters before it in its window
(nanoGPT's training objective). It needs torch and the checkout (its ``model.py``); it is not
part of rnnkit's tests.

Example (the README's table, after nanoGPT's CPU recipe ran with ``--always_save_checkpoint=True``)::

    python benchmarks/nanogpt_val.py ~/nanoGPT
    iter 2000: 111539 characters, 1.8983 nats = 2.739 bits/char
"""

from __future__ import annotations

import argparse
import math
import os
import sys

__all__ = ["main"]



def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="nanogpt_val.py", description=__doc__.split("\n\n")[0])
    p.add_argument("checkout", help="nanoGPT's checkout (holds model.py, data/ and the run's out dir)")
    p.add_argument("--out-dir", default="out-shakespeare-char", help="the run's out_dir (holds ckpt.pt)")
    p.add_argument("--data", default="shakespeare_char", help="the data set under data/ (holds val.bin)")
    args = p.parse_args(argv)
    ckpt_path = os.path.join(args.checkout, args.out_dir, "ckpt.pt")
    val_path = os.path.join(args.checkout, "data", args.data, "val.bin")
    for path in (ckpt_path, val_path):
        if not os.path.isfile(path):
            print(f"nanogpt_val.py: error: {path} does not exist", file=sys.stderr)
            return 2
    import numpy as np
    import torch

    sys.path.insert(0, args.checkout)
    from model import GPT, GPTConfig  # nanoGPT's own model, from its checkout

    ckpt = torch.load(ckpt_path, map_location="cpu")
    model = GPT(GPTConfig(**ckpt["model_args"]))
    model.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in ckpt["model"].items()})
    model.eval()
    ids = np.fromfile(val_path, dtype=np.uint16).astype(np.int64)  # (N,)
    T = ckpt["model_args"]["block_size"]
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(ids) - 1, T):
            n = min(T, len(ids) - 1 - start)
            x = torch.from_numpy(ids[start : start + n])[None]  # (1, n)
            y = torch.from_numpy(ids[start + 1 : start + n + 1])[None]  # (1, n)
            _, loss = model(x, y)
            total += loss.item() * n
            count += n
    nats = total / count
    print(f"iter {ckpt['iter_num']}: {count} characters, {nats:.4f} nats = {nats / math.log(2):.3f} bits/char")
    return 0


if __name__ == "__main__":
    sys.exit(main())
