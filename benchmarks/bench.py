"""rnnkit's recurrent layers against ``torch.nn`` on this CPU, in one run.

``python benchmarks/bench.py [--quick] [--json] [--quiet] [--save PATH]`` (also ``rnnkit bench`` from a source
checkout). Not part of the installed package: it needs torch, and the latest table, the machine
and the command are in ``benchmarks/README.md``.

What is timed (T = 100 steps, float32, for LSTM and GRU at (B, I, H) in
``SIZES`` (``--quick``: the first three), both frameworks through their public API)::

    inference   out, _ = layer(x)                       under no_grad
    training    out, _ = layer(x); (out * g).sum().backward()
                (x requires grad: the gradients of every weight and of the input)
    streaming   h, state = step(x_t, state)             B = 1, H = 256, one step, carried state;
                rnnkit: the faster of nn.LSTM (T = 1) and nn.LSTMCell; torch: likewise
    memory      peak resident memory of one training step, each framework alone in a child
                process (see :func:`memory_probe`)

Each time is the median of at least ``--reps`` repetitions after a warm-up, the two
frameworks taking turns in blocks (see :func:`_alternate`) so both see the same machine load.
The ratio is torch_time / rnnkit_time: above 1 means rnnkit is faster. Before timing,
each case checks that both frameworks compute the same numbers from the same weights.

GFLOP/s count the matrix products only (they dominate): a forward pass is
``2 T B G H (I + H)`` flops (G = 4 gates for LSTM, 3 for GRU), a training step three times
that (the backward has two products, dinput and dweight, per forward product). They are
shown beside this machine's single-precision GEMM peak, measured in the same run with a
large ``np.matmul``; ``floor`` is the time a step would take at that peak, so a target
faster than its floor is out of reach on this machine.

Example:
    >>> from bench import train_flops
    >>> round(train_flops("lstm", 1, 64, 128) / 1e6, 2)  # MFLOP per training step
    58.98
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

try:
    import rnnkit  # noqa: F401  (installed, or on PYTHONPATH)
except ImportError:  # run from a checkout without installing: use its src/
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

__all__ = ["main", "SIZES", "forward_flops", "train_flops", "gemm_peak", "memory_probe", "blas_info"]

T = 100  # time steps of every layer case
SIZES = [(1, 64, 128), (16, 128, 256), (64, 256, 512), (128, 512, 1024)]  # (B, I, H); --quick: first three
GATES = {"lstm": 4, "gru": 3}
STREAM = (1, 256, 256)  # (B, I, H) of the streaming case
TARGETS = {"train": 1.5, "infer": 1.0, "stream": 2.0}  # the minimum torch/rnnkit ratio aimed at
FLOOR_TRAIN = 1 / 1.5  # the core issue's floor: training within 1.5x of torch's time


def forward_flops(cell: str, B: int, I: int, H: int, T: int = T) -> float:
    """Matrix-product flops of one forward pass: ``2 T B G H (I + H)``."""
    return 2.0 * T * B * GATES[cell] * H * (I + H)


def train_flops(cell: str, B: int, I: int, H: int, T: int = T) -> float:
    """Forward plus backward (dinput and dweight per product): 3x :func:`forward_flops`."""
    return 3.0 * forward_flops(cell, B, I, H, T)


# -- machine -------------------------------------------------------------------------------
def gemm_peak(n: int = 4096, reps: int = 3) -> float:
    """Best GFLOP/s of ``np.matmul`` on two (n, n) float32 matrices (all BLAS threads)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    np.matmul(a, b, out=out)  # warm-up: threads, pages
    best = min(_clock(lambda: np.matmul(a, b, out=out)) for _ in range(reps))
    return 2.0 * n**3 / best / 1e9


def blas_info() -> dict[str, Any]:
    """The BLAS NumPy runs on: library, version and (with threadpoolctl) the runtime kernel and threads."""
    info: dict[str, Any] = {}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info.update(name=blas.get("name"), version=blas.get("version"), config=blas.get("openblas configuration"))
    except Exception:  # older NumPy: no dict mode
        pass
    try:
        import threadpoolctl
    except ImportError:
        info["runtime"] = "threadpoolctl not installed: runtime kernel unknown"
        return info
    for pool in threadpoolctl.threadpool_info():
        if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", ""):
            info.update(internal_api=pool.get("internal_api"), kernel=pool.get("architecture"),
                        threads=pool.get("num_threads"), threading_layer=pool.get("threading_layer"))
    return info


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def kernel_path() -> str:
    """Which recurrent kernel rnnkit selected (``rnnkit.cells.kernels``), or pure NumPy."""
    try:
        from rnnkit.cells import kernels
    except ImportError:
        return "numpy (pure-NumPy cells)"
    return kernels.describe()


# -- timing ----------------------------------------------------------------------------------
def _clock(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _alternate(fns: dict[str, Callable[[], Any]], reps: int, budget: float, rounds: int = 3) -> dict[str, list[float]]:
    """Time each function ``reps`` times or more (up to 50 while within ``budget`` s), in blocks.

    The frameworks take turns in ``rounds`` blocks, so both see the same machine load over
    the run; inside a block one framework runs alone. Calls are not interleaved one by one:
    both keep worker threads spinning for a while after each parallel call (OpenMP in torch,
    OpenBLAS in NumPy), which on 2 cores would slow the other framework's next call several
    fold. Before each block: a short pause (the other's spinning threads go idle) and, for
    short calls, one untimed call (caches and thread pools of this framework warm again).
    """
    first = {k: _clock(f) for k, f in fns.items()}  # warm-up: compilation, caches, thread pools
    total = max(reps, min(50, int(budget / max(sum(first.values()), 1e-9))))
    rounds = min(rounds, total)
    per_block = -(-total // rounds)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            time.sleep(0.05)
            if first[k] < 0.2:
                f()
            times[k].extend(_clock(f) for _ in range(per_block))
    return times


@dataclass
class Case:
    """One timed (cell, size, mode) case; times in seconds, medians."""

    cell: str  # 'lstm' or 'gru'
    size: tuple[int, int, int]  # (B, I, H)
    mode: str  # 'infer' or 'train'
    torch_s: float  # median torch time
    rnnkit_s: float  # median rnnkit time
    reps: int  # repetitions behind each median
    flops: float  # matrix-product flops of one call
    max_diff: float  # largest |rnnkit - torch| over the compared outputs/gradients (relative to their scale)
    torch_all: list[float] = field(default_factory=list)  # every torch repetition
    rnnkit_all: list[float] = field(default_factory=list)  # every rnnkit repetition

    @property
    def ratio(self) -> float:
        return self.torch_s / self.rnnkit_s


def _models(cell: str, I: int, H: int):
    """An rnnkit layer and a torch layer with the same float32 weights."""
    import torch

    import rnnkit

    rk = (rnnkit.nn.LSTM if cell == "lstm" else rnnkit.nn.GRU)(I, H)
    tt = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(I, H)
    with torch.no_grad():
        for name, p in tt.named_parameters():
            p.copy_(torch.from_numpy(getattr(rk, name).numpy()))
    return rk, tt


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(1e-30, float(np.max(np.abs(b)))))


def time_layer(cell: str, size: tuple[int, int, int], reps: int, budget: float) -> list[Case]:
    """Inference and training cases of one (cell, size)."""
    import torch

    import rnnkit

    B, I, H = size
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I), dtype=np.float32)
    g = rng.standard_normal((T, B, H), dtype=np.float32)
    rk, tt = _models(cell, I, H)
    x_t, g_t = torch.from_numpy(x), torch.from_numpy(g)
    g_r = rnnkit.tensor(g)

    def rk_infer():
        with rnnkit.no_grad():
            return rk(x)[0].numpy()

    def tt_infer():
        with torch.no_grad():
            return tt(x_t)[0].numpy()

    def rk_train():
        rk.zero_grad()
        xr = rnnkit.Tensor(x, requires_grad=True)  # no copy, like torch's detach().requires_grad_()
        out, _ = rk(xr)
        (out * g_r).sum().backward()
        return [xr.grad] + [p.grad for _, p in rk.named_parameters()]

    def tt_train():
        tt.zero_grad(set_to_none=True)
        xt = x_t.detach().requires_grad_(True)
        out, _ = tt(xt)
        (out * g_t).sum().backward()
        return [xt.grad.numpy()] + [p.grad.numpy() for _, p in tt.named_parameters()]

    cases = []
    for mode, fr, ft, flops in (("infer", rk_infer, tt_infer, forward_flops(cell, B, I, H)),
                                ("train", rk_train, tt_train, train_flops(cell, B, I, H))):
        a, b = fr(), ft()  # same numbers? (also the first warm-up)
        a, b = (a, b) if isinstance(a, list) else ([a], [b])
        diff = max(_rel_diff(u, v) for u, v in zip(a, b))
        del a, b
        gc.collect()
        times = _alternate({"torch": ft, "rnnkit": fr}, reps, budget)
        cases.append(Case(cell, size, mode, statistics.median(times["torch"]), statistics.median(times["rnnkit"]),
                          len(times["torch"]), flops, diff, times["torch"], times["rnnkit"]))
    return cases


@dataclass
class Stream:
    """Per-step latency (seconds, median) of one carried-state step at B = 1."""

    size: tuple[int, int, int]  # (B, I, H)
    rnnkit: dict[str, float]  # path -> seconds per step
    torch: dict[str, float]  # path -> seconds per step
    max_diff: float  # |rnnkit - torch| of h after the timed steps (relative)

    @property
    def best(self) -> tuple[str, float, str, float]:
        rk = min(self.rnnkit, key=self.rnnkit.get)
        tt = min(self.torch, key=self.torch.get)
        return rk, self.rnnkit[rk], tt, self.torch[tt]

    @property
    def ratio(self) -> float:
        _, r, _, t = self.best
        return t / r


def time_stream(reps: int, steps: int = 200) -> Stream:
    """LSTM one step at a time with the state carried: nn.LSTM (T = 1) and nn.LSTMCell, both frameworks."""
    import torch

    import rnnkit

    B, I, H = STREAM
    rk, tt = _models("lstm", I, H)
    rk_cell, tt_cell = rnnkit.nn.LSTMCell(I, H), torch.nn.LSTMCell(I, H)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(rk_cell, name).data[...] = getattr(rk, name + "_l0").data
            getattr(tt_cell, name).copy_(torch.from_numpy(getattr(rk, name + "_l0").numpy()))
    rk.eval(), rk_cell.eval(), tt.eval(), tt_cell.eval()
    xs = np.random.default_rng(2).standard_normal((steps, B, I), dtype=np.float32)
    xs_layer, xs_t = xs[:, None], torch.from_numpy(xs)
    xs_t_layer = xs_t[:, None]
    final: dict[str, np.ndarray] = {}

    def run(name, step, inputs, grad_off):
        def go():
            with grad_off():
                state = None
                for t in range(steps):
                    state = step(inputs[t], state)
            final[name] = np.asarray(state[0] if isinstance(state, tuple) else state).reshape(B, H)
        return go

    def rk_layer(x, s):
        return rk(x, s)[1]

    def tt_layer(x, s):
        return tt(x, s)[1]

    fns = {
        "rnnkit nn.LSTM": run("rnnkit nn.LSTM", rk_layer, xs_layer, rnnkit.no_grad),
        "rnnkit nn.LSTMCell": run("rnnkit nn.LSTMCell", rk_cell, xs, rnnkit.no_grad),
        "torch nn.LSTM": run("torch nn.LSTM", tt_layer, xs_t_layer, torch.no_grad),
        "torch nn.LSTMCell": run("torch nn.LSTMCell", tt_cell, xs_t, torch.no_grad),
    }
    times = _alternate(fns, reps, budget=2.0)
    per = {k: statistics.median(v) / steps for k, v in times.items()}
    ref = final["torch nn.LSTMCell"]
    diff = max(_rel_diff(final[k], ref) for k in final)
    return Stream(STREAM, {k.split(" ", 1)[1]: v for k, v in per.items() if k.startswith("rnnkit")},
                  {k.split(" ", 1)[1]: v for k, v in per.items() if k.startswith("torch")}, diff)


# -- memory ----------------------------------------------------------------------------------
def _rss_now() -> int:
    """Current resident set size in bytes (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _rss_peak() -> int:
    """Peak resident set size (VmHWM) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0: ``5 > /proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_probe(framework: str, cell: str, size: tuple[int, int, int]) -> dict[str, Any]:
    """Peak resident memory of one training step, in this process (call it in a fresh one).

    Method: build the layer and its input, run one training step (warm-up: lazy
    initialisation, thread pools), drop the gradients, ``gc.collect()``; then read the RSS,
    reset the kernel's peak-RSS mark (``/proc/self/clear_refs``), run one training step with
    the gradients still alive at its end, and read the peak (``VmHWM``). The parent starts
    the child with glibc's mmap threshold fixed at 64 KiB, so freed arrays leave the RSS
    and neither framework's step is hidden in heap kept from the warm-up. ``step_bytes`` =
    peak - RSS before: the memory the step itself needed (activations saved for the
    backward, workspaces, gradients). ``peak_bytes`` is the absolute peak of the process
    (it includes the framework's own import). Without ``clear_refs`` the peak falls back to
    ``ru_maxrss`` since process start.
    """
    B, I, H = size
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I), dtype=np.float32)
    g = rng.standard_normal((T, B, H), dtype=np.float32)
    if framework == "torch":
        import torch

        layer = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(I, H)
        x_t, g_t = torch.from_numpy(x), torch.from_numpy(g)

        def step():
            layer.zero_grad(set_to_none=True)
            xt = x_t.detach().requires_grad_(True)
            out, _ = layer(xt)
            (out * g_t).sum().backward()
            return xt.grad
    else:
        import rnnkit

        layer = (rnnkit.nn.LSTM if cell == "lstm" else rnnkit.nn.GRU)(I, H)
        g_r = rnnkit.tensor(g)

        def step():
            layer.zero_grad()
            xr = rnnkit.Tensor(x, requires_grad=True)  # no copy, like torch's detach().requires_grad_()
            out, _ = layer(xr)
            (out * g_r).sum().backward()
            return xr.grad

    step()
    layer.zero_grad()
    gc.collect()
    before = _rss_now()
    method = "VmHWM after clear_refs"
    if not _reset_peak():
        method = "ru_maxrss since process start"
    kept = step()  # noqa: F841  (keep the input gradient alive, like the weight gradients)
    if method.startswith("VmHWM"):
        peak = _rss_peak()
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return dict(framework=framework, cell=cell, size=list(size), rss_before=before, peak_bytes=peak,
                step_bytes=peak - before, method=method)


def _memory_child(framework: str, cell: str, size: tuple[int, int, int]) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-probe", framework, cell, ",".join(map(str, size))]
    # glibc: serve every block >= 64 KiB by mmap and give it back on free (no adaptive threshold,
    # no heap kept from the warm-up step), so the RSS follows the live arrays of both frameworks.
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="131072")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"memory probe {framework} {cell} {size} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- report ------------------------------------------------------------------------------------
def _ms(s: float) -> str:
    return f"{s * 1e3:9.2f}" if s < 10 else f"{s:8.2f}s"


HEADER = (f"{'cell':4} {'B,I,H':>12} {'mode':5} {'torch ms':>9} {'rnnkit ms':>9} {'ratio':>6} {'target':>6} "
          f"{'met':>3} {'GF/s rk':>7} {'GF/s tt':>7} {'%peak':>5} {'floor ms':>9} {'reach':>5} {'diff':>7}")


def format_row(c: Case, peak: float) -> str:
    """One table row; ``peak`` in GFLOP/s."""
    target = TARGETS[c.mode]
    floor = c.flops / (peak * 1e9)  # seconds at the measured GEMM peak
    reach = c.torch_s / target >= floor  # is the target time above the hardware floor?
    rk_gf, tt_gf = c.flops / c.rnnkit_s / 1e9, c.flops / c.torch_s / 1e9
    return (f"{c.cell:4} {','.join(map(str, c.size)):>12} {c.mode:5} {_ms(c.torch_s)} {_ms(c.rnnkit_s)} "
            f"{c.ratio:6.2f} {target:6.2f} {'yes' if c.ratio >= target else 'NO':>3} {rk_gf:7.1f} "
            f"{tt_gf:7.1f} {100 * rk_gf / peak:5.0f} {_ms(floor)} {'yes' if reach else 'NO':>5} {c.max_diff:7.1e}")


def format_table(cases: list[Case], peak: float) -> str:
    return "\n".join([HEADER, "-" * len(HEADER)] + [format_row(c, peak) for c in cases])


def _size(text: str) -> tuple[int, int, int]:
    """``--size B,I,H``: three positive integers."""
    try:
        size = tuple(int(v) for v in text.split(","))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected three positive integers B,I,H, got {text!r}")
    return size


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="only the first three sizes and fewer repetitions")
    p.add_argument("--reps", type=int, default=None, help="minimum repetitions per case (default 7; --quick 5)")
    p.add_argument("--size", action="append", type=_size, metavar="B,I,H",
                   help="time this (batch, input, hidden) instead of the standard sizes (repeatable)")
    p.add_argument("--cell", choices=["lstm", "gru", "both"], default="both", help="which layers (default both)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes (child processes)")
    p.add_argument("--no-stream", action="store_true", help="skip the streaming (one step) case")
    p.add_argument("--json", action="store_true",
                   help="progress and the result as JSON lines on stdout (one object per table row)")
    p.add_argument("--quiet", action="store_true", help="print only the result (the summary of the targets)")
    p.add_argument("--save", metavar="PATH", help="also write every number as one JSON file to PATH")
    p.add_argument("--memory-probe", nargs=3, metavar=("FRAMEWORK", "CELL", "B,I,H"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.reps is not None and args.reps < 5:
        p.error(f"--reps: expected at least 5 (medians of >= 5 repetitions), got {args.reps}")
    return args


def _write_json(path: str, payload: dict) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".bench-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=1)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (``python benchmarks/bench.py --help``); returns the exit status."""
    args = _args(argv)
    if args.memory_probe:
        framework, cell, size = args.memory_probe
        print(json.dumps(memory_probe(framework, cell, tuple(int(v) for v in size.split(",")))))
        return 0
    try:
        import torch
    except ImportError:
        print("bench.py: error: torch is needed as the reference (pip install 'rnnkit[test]')", file=sys.stderr)
        return 2
    import rnnkit

    cells = ["lstm", "gru"] if args.cell == "both" else [args.cell]
    sizes = args.size or (SIZES[:3] if args.quick else SIZES)
    reps = args.reps or (5 if args.quick else 7)
    budget = 0.5 if args.quick else 1.5  # seconds per case within which small cases repeat more

    from rnnkit.cli.rundir import Reporter

    report = Reporter(json=args.json, quiet=args.quiet)
    blas = blas_info()
    machine = dict(cpu=cpu_name(), cores=os.cpu_count(), python=platform.python_version(), numpy=np.__version__,
                   torch=torch.__version__, torch_threads=torch.get_num_threads(), rnnkit=rnnkit.__version__,
                   kernel=kernel_path(), blas=blas)
    peak = gemm_peak()
    report.progress(
        f"machine: {machine['cpu']}, {machine['cores']} cores; Python {machine['python']}, NumPy {np.__version__}, "
        f"torch {torch.__version__} ({machine['torch_threads']} threads)\n"
        f"NumPy BLAS: {blas.get('name')} {blas.get('version')}, kernel {blas.get('kernel', '?')}, "
        f"{blas.get('threads', '?')} threads ({blas.get('threading_layer', '?')})\n"
        f"rnnkit kernel: {machine['kernel']}\n"
        f"sgemm peak (np.matmul 4096x4096 float32, best of 3): {peak:.1f} GFLOP/s\n"
        f"T={T}, float32; ratio = torch / rnnkit (>1: rnnkit faster); medians of >= {reps} reps after warm-up\n\n"
        + HEADER + "\n" + "-" * len(HEADER), machine=machine, gemm_peak_gflops=peak)

    cases: list[Case] = []
    for cell in cells:
        for size in sizes:
            for case in time_layer(cell, size, reps, budget):
                cases.append(case)
                report.progress(format_row(case, peak), case=dict(asdict(case), ratio=case.ratio))
    floor_ok = all(c.ratio >= FLOOR_TRAIN for c in cases if c.mode == "train")
    report.progress("floor: the time at the measured GEMM peak; reach: the target time (torch / target) is above "
                    "it. diff: max relative |rnnkit - torch| of the outputs (infer) or the gradients (train).")

    stream = None
    if not args.no_stream:
        stream = time_stream(reps)
        rk_path, rk_s, tt_path, tt_s = stream.best
        lines = [f"\nstreaming, LSTM one step, (B,I,H)={STREAM}, carried state, per step:"]
        for who, paths in (("rnnkit", stream.rnnkit), ("torch", stream.torch)):
            lines.append("  " + who + ": " + ", ".join(f"{k} {v * 1e6:.1f} us" for k, v in paths.items()))
        lines.append(f"  best: rnnkit {rk_path} {rk_s * 1e6:.1f} us vs torch {tt_path} {tt_s * 1e6:.1f} us: "
                     f"ratio {stream.ratio:.2f} (target {TARGETS['stream']:.1f}: "
                     f"{'met' if stream.ratio >= TARGETS['stream'] else 'NOT met'}); diff {stream.max_diff:.1e}")
        report.progress("\n".join(lines), stream=dict(asdict(stream), ratio=stream.ratio))

    memory = []
    if not args.no_memory:
        report.progress("\npeak memory of one training step (each framework alone in a child process; MiB):\n"
                        f"{'cell':4} {'B,I,H':>12} {'torch step':>10} {'rnnkit step':>11} {'met':>3} "
                        f"{'torch peak':>10} {'rnnkit peak':>11}")
        mib = 1 / 2**20
        for cell in cells:
            for size in sizes:
                t = _memory_child("torch", cell, size)
                r = _memory_child("rnnkit", cell, size)
                memory.append(dict(cell=cell, size=list(size), torch=t, rnnkit=r))
                report.progress(f"{cell:4} {','.join(map(str, size)):>12} {t['step_bytes'] * mib:10.1f} "
                                f"{r['step_bytes'] * mib:11.1f} "
                                f"{'yes' if r['step_bytes'] <= t['step_bytes'] else 'NO':>3} "
                                f"{t['peak_bytes'] * mib:10.1f} {r['peak_bytes'] * mib:11.1f}", memory=memory[-1])
        report.progress(f"step = peak RSS during the step - RSS before it ({memory[0]['rnnkit']['method']}); "
                        "peak = the process's absolute peak, framework import included.")

    met = [c for c in cases if c.ratio >= TARGETS[c.mode]]
    report.result(f"{len(met)} of {len(cases)} layer cases meet their target; core floor (training within 1.5x "
                  f"of torch): {'met' if floor_ok else 'NOT met'}"
                  + ("" if stream is None else f"; streaming ratio {stream.ratio:.2f}"),
                  cases_met=len(met), cases=len(cases), floor_met=floor_ok,
                  stream_ratio=None if stream is None else stream.ratio)
    if args.save:
        _write_json(args.save, dict(
            command="python benchmarks/bench.py " + " ".join(argv if argv is not None else sys.argv[1:]), T=T, machine=machine,
            gemm_peak_gflops=peak, cases=[dict(asdict(c), ratio=c.ratio) for c in cases],
            stream=None if stream is None else dict(asdict(stream), ratio=stream.ratio), memory=memory))
        report.progress(f"wrote {args.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
