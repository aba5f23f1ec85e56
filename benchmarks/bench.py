"""rnnkit's recurrent layers against ``torch.nn`` on this CPU, in one run.

``python benchmarks/bench.py [--quick] [--json] [--quiet] [--save PATH]`` (also ``rnnkit bench`` from a source
checkout). Not part of the installed package: it needs torch, and the latest table, the machine
and the command are in ``benchmarks/README.md``.

What is timed (T = 100 steps, float32, LSTM and GRU at (B, I, H) in ``SIZES`` (``--quick``:
the first three; ``--size``: your own), both frameworks through their public API; the cases
are written once in ``_worker.py``)::

    inference   out, _ = layer(x)                       under no_grad
    training    out, _ = layer(x); (out * g).sum().backward()
                (x requires grad: the gradients of every weight and of the input)
    charlm      one training step of the main job's character model (embedding, 2-layer
                LSTM 192, linear head, cross-entropy, clipping, Adam; B = 32, T = 64)
    streaming   h, state = step(x_t, state)             B = 1, H = 256, one step, carried state;
                rnnkit: the faster of nn.LSTM (T = 1) and nn.LSTMCell; torch: likewise
    memory      peak resident memory of one training step, each framework alone in a child
                process (see :func:`memory_probe`)

Each framework runs in its own worker process with ``--threads`` threads (:class:`Workers`),
and the two take turns in blocks, so both see the same machine load and neither one's
spinning worker threads slow the other's calls. Each time is the median of at least
``--reps`` repetitions after a warm-up. The ratio is torch_time / rnnkit_time: above 1
means rnnkit is faster; the targets (:func:`target`) are 1.0 at every size, 1.5 where a
step is not bound by the GEMM peak (B <= 16) and for the char-model step, 2.0 for
streaming, and 0.67 for the pure-NumPy path (``RNNKIT_KERNEL=numpy``). Before timing, each
case checks that both frameworks compute the same numbers from the same weights.

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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _worker.py beside this file
import _worker  # noqa: E402

try:
    import rnnkit  # noqa: F401  (installed, or on PYTHONPATH)
except ImportError:  # run from a checkout without installing: use its src/
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

__all__ = ["main", "SIZES", "forward_flops", "train_flops", "gemm_peak", "memory_probe", "blas_info"]

T = _worker.T  # time steps of every layer case
SIZES = [(1, 64, 128), (16, 128, 256), (64, 256, 512), (128, 512, 1024)]  # (B, I, H); --quick: first three
GATES = {"lstm": 4, "gru": 3}
STREAM = _worker.STREAM  # (B, I, H) of the streaming case
FLOOR_NUMPY = 1 / 1.5  # the pure-NumPy path's target: within 1.5x of torch's time


def forward_flops(cell: str, B: int, I: int, H: int, T: int = T) -> float:
    """Matrix-product flops of one forward pass: ``2 T B G H (I + H)``."""
    return 2.0 * T * B * GATES[cell] * H * (I + H)


def train_flops(cell: str, B: int, I: int, H: int, T: int = T) -> float:
    """Forward plus backward (dinput and dweight per product): 3x :func:`forward_flops`."""
    return 3.0 * forward_flops(cell, B, I, H, T)


# -- machine -------------------------------------------------------------------------------
gemm_peak = _worker.gemm_peak  # the machine's single-precision GEMM peak at a thread count (in a worker)
PEAK_N = 4096  # the size of the matrices of that probe


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


# -- timing: one worker process per framework, taking turns ----------------------------------
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_worker.py")


def target(kind: str, size: tuple[int, int, int], kernel: str) -> float:
    """The torch/rnnkit ratio aimed at: 1.0 at every size, 1.5 where a step is not bound by the
    GEMM peak (B <= 16) and for the char-model step, 2.0 streaming; the pure-NumPy path 0.67."""
    if kernel.startswith("numpy"):
        return FLOOR_NUMPY
    if kind == "stream":
        return 2.0
    return 1.5 if kind == "charlm" or size[0] <= 16 else 1.0


class Workers:
    """A torch worker and an rnnkit worker (``_worker.py``), each in its own process with
    ``threads`` threads, asked in turn so that only one framework runs at a time."""

    FRAMEWORKS = ("torch", "rnnkit")

    def __init__(self, threads: int, scratch: str):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads))
        if threads == 1:  # above one, rnnkit's compiled loops take RNNKIT_NUM_THREADS's default (every core
            env.setdefault("RNNKIT_NUM_THREADS", "1")  # only when the BLAS runs one thread) unless it is set
        import rnnkit  # the worker imports the same rnnkit as this process (installed or this checkout's src/)

        src = os.path.dirname(os.path.dirname(os.path.abspath(rnnkit.__file__)))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        self.threads, self.scratch = threads, scratch
        self.procs = {fw: subprocess.Popen([sys.executable, WORKER, fw], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, text=True, env=env) for fw in self.FRAMEWORKS}

    def ask(self, fw: str, request: dict) -> dict:
        proc = self.procs[fw]
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {fw} worker stopped (exit status {proc.wait()}) on {request}")
        return json.loads(line)

    def time(self, spec: dict, reps: int, budget: float, rounds: int = 3) -> tuple[dict[str, list[float]], float]:
        """Every framework's times of the case ``spec`` and the largest relative difference of what
        they computed. At least ``reps`` calls each (up to 50 while within ``budget`` seconds at
        the speed of a warm call), in ``rounds`` blocks per framework, the frameworks taking turns
        block by block after a short pause (the other's spinning threads go idle).

        The number of calls comes from a second, warm call, not from the first (which compiles
        and allocates): measured from the first, a small case got 9 calls, and the first call
        of each block (slower after the pause, in both frameworks) was a third of them."""
        warm, computed = {}, {}
        for fw in self.FRAMEWORKS:
            dump = os.path.join(self.scratch, f"{fw}.npz")
            self.ask(fw, {"setup": spec, "dump": dump})
            warm[fw] = self.ask(fw, {"time": 1})["times"][0]
            with np.load(dump) as z:
                computed[fw] = {k: z[k] for k in z.files}
        diff = max(_rel_diff(computed["rnnkit"][k], computed["torch"][k]) for k in computed["torch"])
        total = max(reps, min(50, int(budget / max(sum(warm.values()), 1e-9))))
        rounds = min(rounds, total)
        times: dict[str, list[float]] = {fw: [] for fw in self.FRAMEWORKS}
        for _ in range(rounds):
            for fw in self.FRAMEWORKS:
                time.sleep(0.05)
                times[fw] += self.ask(fw, {"time": -(-total // rounds)})["times"]
        return times, diff

    def close(self) -> None:
        for fw, proc in self.procs.items():
            if proc.poll() is None:
                proc.stdin.write(json.dumps({"quit": True}) + "\n")
                proc.stdin.close()
                proc.wait()


@dataclass
class Case:
    """One timed case; times in seconds, medians."""

    cell: str  # 'lstm', 'gru', or 'charlm' (the main job's training step)
    size: tuple[int, int, int]  # (B, I, H); charlm: (B, T, H)
    mode: str  # 'infer' or 'train'
    threads: int  # threads of each framework
    torch_s: float  # median torch time
    rnnkit_s: float  # median rnnkit time
    reps: int  # repetitions behind each median
    flops: float  # matrix-product flops of one call
    max_diff: float  # largest |rnnkit - torch| over the compared outputs/gradients (relative to their scale)
    target: float  # the ratio aimed at
    torch_all: list[float] = field(default_factory=list)  # every torch repetition
    rnnkit_all: list[float] = field(default_factory=list)  # every rnnkit repetition

    @property
    def ratio(self) -> float:
        return self.torch_s / self.rnnkit_s


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(1e-30, float(np.max(np.abs(b)))))


def _case(workers: Workers, cell: str, size: tuple[int, int, int], mode: str, spec: dict, flops: float,
          reps: int, budget: float, kernel: str) -> Case:
    times, diff = workers.time(spec, reps, budget)
    return Case(cell, size, mode, workers.threads, statistics.median(times["torch"]),
                statistics.median(times["rnnkit"]), len(times["torch"]), flops, diff,
                target("charlm" if cell == "charlm" else "layer", size, kernel), times["torch"], times["rnnkit"])


def time_layer(workers: Workers, cell: str, size: tuple[int, int, int], reps: int, budget: float,
               kernel: str) -> list[Case]:
    """Inference and training cases of one (cell, size)."""
    B, I, H = size
    return [_case(workers, cell, size, mode, dict(kind="layer", cell=cell, size=list(size), mode=mode),
                  flops(cell, B, I, H), reps, budget, kernel)
            for mode, flops in (("infer", forward_flops), ("train", train_flops))]


def charlm_flops() -> float:
    """Matrix-product flops of one training step of the char model (3x its forward)."""
    c = _worker.CHARLM
    E, H, V, n = c["embed"], c["hidden"], c["vocab"], c["batch"] * c["seq_len"]
    forward = 2 * n * (4 * H * (E + H) + (c["layers"] - 1) * 4 * H * 2 * H + H * V)
    return 3.0 * forward


def time_charlm(workers: Workers, reps: int, budget: float, kernel: str) -> Case:
    """One training step of the CLI's character model (see ``_worker.py``)."""
    c = _worker.CHARLM
    return _case(workers, "charlm", (c["batch"], c["seq_len"], c["hidden"]), "train", dict(kind="charlm"),
                 charlm_flops(), reps, budget, kernel)


@dataclass
class Stream:
    """Per-step latency (seconds, median) of one carried-state step at B = 1."""

    size: tuple[int, int, int]  # (B, I, H)
    threads: int  # threads of each framework
    rnnkit: dict[str, float]  # path -> seconds per step
    torch: dict[str, float]  # path -> seconds per step
    max_diff: float  # |rnnkit - torch| of h after the timed steps (relative)
    target: float  # the ratio aimed at

    @property
    def best(self) -> tuple[str, float, str, float]:
        rk = min(self.rnnkit, key=self.rnnkit.get)
        tt = min(self.torch, key=self.torch.get)
        return rk, self.rnnkit[rk], tt, self.torch[tt]

    @property
    def ratio(self) -> float:
        _, r, _, t = self.best
        return t / r


def time_stream(workers: Workers, reps: int, kernel: str) -> Stream:
    """LSTM one step at a time with the state carried: nn.LSTM (T = 1) and nn.LSTMCell, both frameworks."""
    per: dict[str, dict[str, float]] = {"torch": {}, "rnnkit": {}}
    diff = 0.0
    for path in ("nn.LSTM", "nn.LSTMCell"):
        times, d = workers.time(dict(kind="stream", path=path), reps, budget=2.0)
        diff = max(diff, d)
        for fw in per:
            per[fw][path] = statistics.median(times[fw]) / _worker.STREAM_STEPS
    return Stream(STREAM, workers.threads, per["rnnkit"], per["torch"], diff, target("stream", STREAM, kernel))


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


HEADER = (f"{'cell':6} {'B,I,H':>12} {'mode':5} {'thr':>3} {'torch ms':>9} {'rnnkit ms':>9} {'ratio':>6} {'target':>6} "
          f"{'met':>3} {'GF/s rk':>7} {'GF/s tt':>7} {'%peak':>5} {'floor ms':>9} {'reach':>5} {'diff':>7}")


def format_row(c: Case, peak: float) -> str:
    """One table row; ``peak`` in GFLOP/s."""
    target = c.target
    floor = c.flops / (peak * 1e9)  # seconds at the measured GEMM peak
    reach = c.torch_s / target >= floor  # is the target time above the hardware floor?
    rk_gf, tt_gf = c.flops / c.rnnkit_s / 1e9, c.flops / c.torch_s / 1e9
    return (f"{c.cell:6} {','.join(map(str, c.size)):>12} {c.mode:5} {c.threads:3d} {_ms(c.torch_s)} {_ms(c.rnnkit_s)} "
            f"{c.ratio:6.2f} {target:6.2f} {'yes' if c.ratio >= target else 'NO':>3} {rk_gf:7.1f} "
            f"{tt_gf:7.1f} {100 * rk_gf / peak:5.0f} {_ms(floor)} {'yes' if reach else 'NO':>5} {c.max_diff:7.1e}")


def format_stream(s: Stream) -> str:
    """The streaming case: each path of each framework, and best against best."""
    rk_path, rk_s, tt_path, tt_s = s.best
    lines = [f"streaming, LSTM one step, (B,I,H)={s.size}, carried state, {s.threads} thread(s), per step:"]
    for who, paths in (("rnnkit", s.rnnkit), ("torch", s.torch)):
        lines.append("  " + who + ": " + ", ".join(f"{k} {v * 1e6:.1f} us" for k, v in paths.items()))
    lines.append(f"  best: rnnkit {rk_path} {rk_s * 1e6:.1f} us vs torch {tt_path} {tt_s * 1e6:.1f} us: ratio "
                 f"{s.ratio:.2f} (target {s.target:.2f}: {'met' if s.ratio >= s.target else 'NOT met'}); "
                 f"diff {s.max_diff:.1e}")
    return "\n".join(lines)


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


def _threads(text: str) -> list[int]:
    """``--threads 1,2``: positive integers."""
    try:
        counts = [int(v) for v in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers N[,N...], got {text!r}")
    return counts


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
    p.add_argument("--no-charlm", action="store_true", help="skip the character model's training step")
    p.add_argument("--threads", type=_threads, default=None, metavar="N[,N...]",
                   help="threads of each framework, one table per count (default: all cores)")
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
    peaks: dict[int, float] = {}  # threads -> sgemm GFLOP/s, measured in the rnnkit worker
    report.progress(
        f"machine: {machine['cpu']}, {machine['cores']} cores; Python {machine['python']}, NumPy {np.__version__}, "
        f"torch {torch.__version__} ({machine['torch_threads']} threads)\n"
        f"NumPy BLAS: {blas.get('name')} {blas.get('version')}, kernel {blas.get('kernel', '?')}, "
        f"{blas.get('threads', '?')} threads ({blas.get('threading_layer', '?')})\n"
        f"rnnkit kernel: {machine['kernel']}\n"
        f"T={T}, float32; ratio = torch / rnnkit (>1: rnnkit faster); medians of >= {reps} reps after warm-up\n\n"
        + HEADER + "\n" + "-" * len(HEADER), machine=machine)

    cases: list[Case] = []
    streams: list[Stream] = []
    with tempfile.TemporaryDirectory(prefix="rnnkit-bench-") as scratch:
        for threads in args.threads or [os.cpu_count() or 1]:
            workers = Workers(threads, scratch)
            try:
                measured = workers.ask("rnnkit", {"peak": PEAK_N})
                peak = peaks[threads] = measured["gflops"]
                report.progress(f"{threads} thread(s): sgemm peak (np.matmul {PEAK_N}x{PEAK_N} float32, best of 3) "
                                f"{peak:.1f} GFLOP/s; rnnkit's compiled loops on {measured['loop_threads']} "
                                "thread(s)", threads=threads, gemm_peak_gflops=peak,
                                loop_threads=measured["loop_threads"])
                for cell in cells:
                    for size in sizes:
                        for case in time_layer(workers, cell, size, reps, budget, machine["kernel"]):
                            cases.append(case)
                            report.progress(format_row(case, peak), case=dict(asdict(case), ratio=case.ratio))
                if not args.no_charlm:
                    case = time_charlm(workers, reps, budget, machine["kernel"])
                    cases.append(case)
                    report.progress(format_row(case, peak), case=dict(asdict(case), ratio=case.ratio))
                if not args.no_stream:
                    stream = time_stream(workers, reps, machine["kernel"])
                    streams.append(stream)
                    report.progress(format_stream(stream), stream=dict(asdict(stream), ratio=stream.ratio))
            finally:
                workers.close()
    report.progress("floor: the time at the GEMM peak measured with that many threads; reach: the target time "
                    "(torch / target) is above it. diff: max relative |rnnkit - torch| of the outputs (infer) or the "
                    "gradients (train).")

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

    met = [c for c in cases if c.ratio >= c.target] + [s for s in streams if s.ratio >= s.target]
    report.result(f"{len(met)} of {len(cases) + len(streams)} cases meet their target (ratio = torch time / rnnkit "
                  f"time; kernel {machine['kernel']})", cases_met=len(met), cases=len(cases) + len(streams),
                  lowest_ratio=min([c.ratio for c in cases] + [s.ratio for s in streams], default=None))
    if args.save:
        _write_json(args.save, dict(
            command="python benchmarks/bench.py " + " ".join(argv if argv is not None else sys.argv[1:]), T=T, machine=machine,
            gemm_peak_gflops={str(k): v for k, v in peaks.items()}, cases=[dict(asdict(c), ratio=c.ratio) for c in cases],
            streams=[dict(asdict(s), ratio=s.ratio) for s in streams], memory=memory))
        report.progress(f"wrote {args.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
