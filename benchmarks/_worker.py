"""One framework's side of the benchmark, in a process of its own.

``python benchmarks/_worker.py FRAMEWORK`` (``torch`` or ``rnnkit``) reads one JSON request
per line on stdin and answers one JSON line on stdout. The parent (``bench.py``) starts one
worker per framework and asks them in turn, so only one framework runs at any moment and
neither one's worker threads (OpenMP in torch, OpenBLAS in NumPy) spin beside the other's
calls. The thread count comes from the environment the parent sets before the import.

Requests::

    {"setup": {"kind": "layer", "cell": "lstm", "size": [B, I, H], "mode": "train"}, "dump": PATH}
    {"setup": {"kind": "stream", "path": "nn.LSTMCell"}, "dump": PATH}
    {"setup": {"kind": "charlm"}, "dump": PATH}
    {"time": n}      ->  {"times": [seconds, ...]}   (n timed calls of the case set up last)
    {"peak": n}      ->  {"gflops": G, "loop_threads": N}   (np.matmul of two (n, n) float32 matrices,
                         best of 3, with this worker's BLAS threads; rnnkit's compiled loops' threads)
    {"quit": true}

``setup`` builds the case with weights drawn from NumPy (the same in both frameworks, see
:func:`fill`), runs it once and writes what it computed to ``dump`` (``.npz``) for the
parent to compare; it answers the time of that first call (compilation included).

The cases (T = 100 steps, float32)::

    layer infer    out, _ = layer(x)                      under no_grad
    layer train    out, _ = layer(x); (out * g).sum().backward()     (x requires grad)
    stream         200 steps of one LSTM step with the state carried (B = 1, I = H = 256),
                   through nn.LSTM with T = 1 or through nn.LSTMCell, under no_grad
    charlm         one training step of the CLI's character model: embedding 96 -> 2-layer
                   LSTM 192 -> linear 96, B = 32, T = 64, cross-entropy, clip_grad_norm_(1),
                   Adam; the same class for both frameworks (:func:`char_model`)
"""

from __future__ import annotations

import json
import sys
import time
import zlib
from typing import Any, Callable

import numpy as np

__all__ = ["fill", "char_model", "build", "serve"]

T = 100  # time steps of the layer cases
STREAM = (1, 256, 256)  # (B, I, H) of the streaming case
STREAM_STEPS = 200  # carried-state steps per streaming call
CHARLM = dict(vocab=96, embed=64, hidden=192, layers=2, batch=32, seq_len=64)  # the main job's model and batch


def fill(fw: Any, module: Any) -> None:
    """Give every parameter of ``module`` values drawn from NumPy, seeded by the parameter's name,
    so a torch module and an rnnkit module with the same names hold the same weights."""
    with fw.no_grad():
        for name, p in module.named_parameters():
            rng = np.random.default_rng(zlib.crc32(name.encode()))
            scale = 1.0 / np.sqrt(p.shape[-1])
            p.copy_(fw.from_numpy(rng.uniform(-scale, scale, tuple(p.shape)).astype(np.float32)))


def char_model(fw: Any) -> Any:
    """The character model of ``rnnkit train`` written once against the torch API: ``fw`` is
    ``torch`` or ``rnnkit``."""

    class CharModel(fw.nn.Module):
        def __init__(self, vocab: int, embed: int, hidden: int, layers: int):
            super().__init__()
            self.embed = fw.nn.Embedding(vocab, embed)
            self.rnn = fw.nn.LSTM(embed, hidden, layers, batch_first=True)
            self.head = fw.nn.Linear(hidden, vocab)

        def forward(self, ids):
            out, _ = self.rnn(self.embed(ids))  # (B, T, H)
            return self.head(out)  # (B, T, V)

    c = CHARLM
    return CharModel(c["vocab"], c["embed"], c["hidden"], c["layers"])


def _grads(module: Any) -> dict[str, np.ndarray]:
    return {name: p.grad.detach().numpy().copy() for name, p in module.named_parameters()}


def build(fw: Any, spec: dict) -> tuple[Callable[[], Any], Callable[[], dict[str, np.ndarray]]]:
    """The timed call of the case ``spec`` and a function returning what it computed (for the parity check)."""
    kind = spec["kind"]
    if kind == "layer":
        B, I, H = spec["size"]
        rng = np.random.default_rng(1)
        x = fw.from_numpy(rng.standard_normal((T, B, I), dtype=np.float32))  # (T, B, I)
        g = fw.from_numpy(rng.standard_normal((T, B, H), dtype=np.float32))  # (T, B, H)
        layer = (fw.nn.LSTM if spec["cell"] == "lstm" else fw.nn.GRU)(I, H)
        fill(fw, layer)
        seen: dict[str, Any] = {}
        if spec["mode"] == "infer":
            def call():
                with fw.no_grad():
                    seen["out"] = layer(x)[0]
            return call, lambda: {"out": seen["out"].numpy()}

        def call():
            layer.zero_grad(set_to_none=True)
            xr = x.detach().requires_grad_(True)
            out, _ = layer(xr)
            (out * g).sum().backward()
            seen["dx"] = xr.grad
        return call, lambda: {"dx": seen["dx"].numpy(), **_grads(layer)}
    if kind == "stream":
        B, I, H = STREAM
        xs = fw.from_numpy(np.random.default_rng(2).standard_normal((STREAM_STEPS, B, I), dtype=np.float32))
        seen = {}
        if spec["path"] == "nn.LSTM":
            module = fw.nn.LSTM(I, H)
            xs = xs[:, None]  # (steps, 1, B, I): one time step per call

            def step(x, state):
                return module(x, state)[1]
        else:
            module = fw.nn.LSTMCell(I, H)
            step = module
        module.eval()
        fill(fw, module)

        def call():
            with fw.no_grad():
                state = None
                for t in range(STREAM_STEPS):
                    state = step(xs[t], state)
            seen["h"] = state[0]
        return call, lambda: {"h": seen["h"].numpy().reshape(B, H)}
    if kind == "charlm":
        c = CHARLM
        model = char_model(fw)
        fill(fw, model)
        rng = np.random.default_rng(3)
        ids = rng.integers(0, c["vocab"], (c["batch"], c["seq_len"] + 1))  # (B, T + 1)
        x, y = fw.from_numpy(ids[:, :-1].copy()), fw.from_numpy(ids[:, 1:].copy())  # (B, T)
        optimizer = fw.optim.Adam(model.parameters(), lr=1e-3)
        criterion = fw.nn.CrossEntropyLoss()
        seen = {}

        def call():
            logits = model(x)  # (B, T, V)
            loss = criterion(logits.reshape(-1, c["vocab"]), y.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            fw.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            seen["loss"] = loss.item()
            seen["grads"] = _grads(model)
            optimizer.step()
        return call, lambda: {"loss": np.array(seen["loss"]), **seen["grads"]}
    raise ValueError(f"setup: expected kind layer, stream or charlm, got {kind!r}")


def _clock(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def gemm_peak(n: int = 4096, reps: int = 3) -> float:
    """Best GFLOP/s of ``np.matmul`` on two (n, n) float32 matrices (this process's BLAS threads)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    np.matmul(a, b, out=out)  # warm-up: threads, pages
    best = min(_clock(lambda: np.matmul(a, b, out=out)) for _ in range(reps))
    return 2.0 * n**3 / best / 1e9


def serve(framework: str, requests=sys.stdin, answers=sys.stdout) -> None:
    """Answer the parent's requests (see the module docstring) until ``quit`` or end of input."""
    if framework == "torch":
        import torch as fw
    elif framework == "rnnkit":
        import rnnkit as fw
    else:
        raise ValueError(f"framework: expected torch or rnnkit, got {framework!r}")
    call: Callable[[], Any] | None = None
    first = 0.0
    for line in requests:
        request = json.loads(line)
        if request.get("quit"):
            break
        if "peak" in request:
            loops = fw.cells.kernels.current().threads if framework == "rnnkit" else fw.get_num_threads()
            print(json.dumps({"gflops": gemm_peak(request["peak"]), "loop_threads": loops}), file=answers, flush=True)
            continue
        if "setup" in request:
            call, computed = build(fw, request["setup"])
            first = _clock(call)
            np.savez(request["dump"], **computed())
            answer: dict[str, Any] = {"first_s": first}
        else:
            if first < 0.2:  # a short call: once untimed, so this framework's caches and threads are warm again
                call()
            answer = {"times": [_clock(call) for _ in range(request["time"])]}
        print(json.dumps(answer), file=answers, flush=True)


if __name__ == "__main__":
    serve(sys.argv[1])
