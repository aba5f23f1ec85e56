"""Which kernel runs the LSTM and GRU time loops, and the fused loops themselves.

Two kernels compute the same equations (:mod:`~rnnkit.cells.lstm`, :mod:`~rnnkit.cells.gru`):

* ``numpy``: the cells' own NumPy code, one ufunc per operation (always available; it
  also handles every option: any activation, recurrent dropout, projection, GRU
  ``reset_after=False``).
* ``numba``: :mod:`~rnnkit.cells._numba`, the whole time loop compiled for the common case
  (sigmoid/tanh, no recurrent dropout, no projection, PyTorch's GRU form, with or without a
  mask): per step, the recurrent product by a register-tiled kernel that reads W_hh packed
  once per call into panels (OpenBLAS called once per step re-packs W_hh every time: measured
  here at 41-85 GFLOP/s against the packed kernel's 105-115, one core), then one pass of gate
  math. Inference from FUSED_ROWS rows folds the input projection into each step's product.
  With ``threads`` > 1 (``RNNKIT_NUM_THREADS``) and enough work per step (``parallel_flops``),
  all steps run in one parallel region: a batch of four rows a thread or more is split by its
  rows (each thread its own sequences, the threads never meeting); a smaller one by its units
  (each thread a fixed slice of the weights' columns and of the units at every step, so that
  its slice stays in its own core's cache, the threads meeting at a barrier once a step). The
  large products around the loops run on the same threads (:func:`matmul`), and on one thread
  beside a one-thread BLAS on the same packed kernel. A loop left on one thread beside a
  multi-threaded BLAS (``blas_threads``) hands large steps' products to the BLAS.

Selection happens in one place, :func:`select`, which the driver (:mod:`~rnnkit.cells.scan`)
calls once per cell call and whose answer it hands down to the cell (``kernel=``):
``'numpy'``, ``'numba'``, or ``'numba-fused'`` (inference: one compiled call per layer that
does the input projection inside each step's product, with no xw array). Which kernels may
run is a per-thread (per context) setting: the environment variables ``RNNKIT_KERNEL`` =
``auto`` (default: numba when it imports, else numpy), ``numba`` or ``numpy`` and
``RNNKIT_NUM_THREADS`` (default: every core; see :func:`_threads_from_environment`), read once
at the first recurrent call, unless :func:`use` (a context manager, built on a
:class:`contextvars.ContextVar`) says otherwise for the block; reading them also sets glibc's
malloc to keep memory between steps (:mod:`rnnkit.cells._malloc`). The
buffers of the fused loops start on cache lines (legend: T time, B batch, H hidden, G gates)::

    G   (T, B, G*H)   xw on input; the gate activations after forward; dL/dz after backward
    hs  (T+1, B, H)   hs[0] = h0, hs[t+1] = h_t;  cs likewise (LSTM)
    hn  (T, B, H)     GRU: W_hn h_{t-1} + b_hn, then dL/dxw_n after backward

Example:
    >>> from rnnkit.cells import activations, kernels
    >>> tanh, sigmoid = activations.get("tanh"), activations.get("sigmoid")
    >>> with kernels.use("numpy"):
    ...     kernels.active(), kernels.select("LSTM", tanh, sigmoid)
    ('numpy', 'numpy')
    >>> with kernels.use("numba", threads=2):
    ...     kernels.select("LSTM", tanh, sigmoid), kernels.select("LSTM", tanh, sigmoid, inference_shape=(100, 16))
    ('numba', 'numba-fused')
"""

from __future__ import annotations

import contextlib
import functools
import os
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from rnnkit.cells import _malloc as _malloc_module

__all__ = ["ENV", "THREADS_ENV", "KERNELS", "TINY_ROWS", "FUSED_ROWS", "PARALLEL_FLOPS", "PRODUCT_FLOPS", "BLAS_ROWS",
           "PACK_STEPS", "VIEW_BYTES", "COPY_PARTS", "ONE_THREAD_FLOPS", "Kernel",
           "current", "active", "describe", "use", "set_threads", "select", "lstm_forward", "lstm_backward", "gru_forward",
           "gru_backward", "fused_forward", "matmul"]

ENV = "RNNKIT_KERNEL"  # environment variable: auto | numba | numpy
THREADS_ENV = "RNNKIT_NUM_THREADS"  # environment variable: threads of the compiled loops
KERNELS = ("numba", "numpy")
TINY_ROWS = 4  # T * B of an inference call at or below which it is one fused call (streaming)
FUSED_ROWS = 4  # or B from which an inference call fuses the input projection into each step's product
PARALLEL_FLOPS = 2**16  # recurrent-product flops per step from which a loop splits across threads (see _threads_for)
PRODUCT_FLOPS = 2_000_000  # flops of one product from which it is threaded (matmul; a step handed to the BLAS)
BLAS_ROWS = 32  # B from which a one-thread loop beside a multi-threaded BLAS hands it each step's product
ONE_THREAD_FLOPS = (50_000_000, 2_000_000_000)  # flops [lo, hi) of a product (a by rows) on the packed kernel on one thread (matmul)
VIEW_BYTES = 2**18  # matmul reads a right operand up to this size in place, larger ones copied into panels
COPY_PARTS = 4  # ... in at most this many parts of its terms (a part at least VIEW_BYTES)
PACK_STEPS = 8  # time steps from which the loops read packed weight panels (packing costs about one B = 1 step)


@dataclass(frozen=True)
class Kernel:
    """The kernel setting in force: which kernel, and how many threads its loops use."""

    name: str  # 'numba' or 'numpy'
    threads: int = 1  # threads of the compiled loops
    parallel_flops: int = PARALLEL_FLOPS  # flops per step (2 B G H^2) from which they use them
    blas_threads: int = 1  # NumPy's BLAS threads: above one, a one-thread loop's large products go to it
    blas_rows: int = BLAS_ROWS  # ... from this batch size on
    pack_steps: int = PACK_STEPS  # time steps from which the loops read packed weight panels
    product_flops: int = PRODUCT_FLOPS  # flops of a product (matmul, a step for the BLAS) from which it is threaded


_selected: ContextVar[Kernel | None] = ContextVar("rnnkit_kernel", default=None)  # None: from RNNKIT_KERNEL


@functools.cache
def _numba():
    """The rnnkit.cells._numba module (imports numba itself; ImportError without it)."""
    from rnnkit.cells import _numba as module

    return module


@functools.cache
def _resolve(request: str) -> str:
    """The kernel for a request (auto | numba | numpy)."""
    if request not in ("auto",) + KERNELS:
        raise ValueError(f"{ENV}: expected one of auto, numba, numpy, got {request!r}")
    if request == "numpy":
        return "numpy"
    try:
        _numba()
    except ImportError as error:
        if request == "numba":
            raise ImportError(f"{ENV}=numba: numba is not importable ({error}); install numba "
                              "or choose numpy") from None
        return "numpy"
    return "numba"


@functools.cache
def _parallel_layer() -> bool:
    """Does numba have a threading layer whose parallel regions cost microseconds (OpenMP or
    TBB)? Its fallback 'workqueue' costs about 50 us a region here: slower than one thread."""
    import importlib

    for layer in ("tbbpool", "omppool"):
        try:
            importlib.import_module(f"numba.np.ufunc.{layer}")
        except ImportError:
            continue
        return True
    return False


def _cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@functools.cache
def _blas_threads_from_environment() -> int:
    """NumPy's BLAS threads as its environment variables set them: 1 when ``OPENBLAS_NUM_THREADS``
    / ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` says 1, else every core this process may run on."""
    if "1" in [os.environ.get(name, "").strip() for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                             "MKL_NUM_THREADS")]:
        return 1
    return _cores()


@functools.cache
def _threads_from_environment() -> int:
    """``RNNKIT_NUM_THREADS``, read once: a positive integer; unset or empty, every core.

    The loops' threads take the large products of a compiled model too (:func:`matmul`: the
    layers' projections and gradients, linear layers, 2-D matmul), so NumPy's BLAS, whose
    workers spin for about 0.1 s after each call, stays idle beside them: measured here (2
    cores, the char model's training step) 69 ms with the loops on 2 threads beside a
    2-thread OpenBLAS, 72 ms beside a 1-thread one, 73 ms with the loops on one thread and
    the BLAS on two. Before the products moved, the loops on 2 threads beside the BLAS on 2
    took 94-134 ms. With ``RNNKIT_NUM_THREADS=1`` and a multi-threaded BLAS, the loops hand large
    per-step products to the BLAS instead (see :func:`_per_step_blas`)."""
    text = os.environ.get(THREADS_ENV, "")
    if not text.strip():
        return _cores()
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"{THREADS_ENV}: expected a positive integer, got {text!r}")
    return threads


_threads_set: list[int] = []  # set_threads's count for the whole process, as torch.set_num_threads's (empty: unset)


def set_threads(threads: int, *, name: str = "threads") -> None:
    """Set the threads of the compiled loops and of the products on their pool for the whole
    process from now on, in place of ``RNNKIT_NUM_THREADS`` (``torch.set_num_threads``'s
    meaning: one process-wide count). A :func:`use` block with its own ``threads`` still runs
    with those; NumPy's own BLAS keeps its threads. More than numba's pool has
    (``NUMBA_NUM_THREADS``, fixed when numba starts) runs on the pool's.

    Raises:
        TypeError: threads is not an int; ValueError: it is below 1 (messages begin with ``name``).
    """
    if not isinstance(threads, int) or isinstance(threads, bool):
        raise TypeError(f"{name}: expected an int >= 1, got {type(threads).__name__} {threads!r}")
    if threads < 1:
        raise ValueError(f"{name}: expected an int >= 1, got {threads}")
    _threads_set[:] = [threads]
    _from_environment.cache_clear()


def _default_threads() -> int:
    """:func:`set_threads`'s count where it was called, else ``RNNKIT_NUM_THREADS``'s."""
    return _threads_set[0] if _threads_set else _threads_from_environment()


@functools.cache
def _from_environment() -> Kernel:
    """``RNNKIT_KERNEL``'s and ``RNNKIT_NUM_THREADS``' setting, read once, at the first recurrent
    call (as a process setting), which also sets the process's malloc for recurring steps
    (:func:`_malloc`)."""
    _malloc()
    name = _resolve(os.environ.get(ENV, "auto").strip().lower() or "auto")
    return Kernel(name, _default_threads(), PARALLEL_FLOPS, _blas_threads_from_environment())


@functools.cache
def _malloc() -> str:
    """glibc's malloc set for recurring steps, once per process (:func:`rnnkit.cells._malloc.tune`);
    what was done."""
    return _malloc_module.tune()


def current() -> Kernel:
    """The kernel setting of this thread/context: :func:`use`'s, else ``RNNKIT_KERNEL``'s."""
    kernel = _selected.get()
    return _from_environment() if kernel is None else kernel


def active() -> str:
    """The kernel in use: ``'numba'`` or ``'numpy'``."""
    return current().name


def describe() -> str:
    """One line for reports: the kernel and why."""
    request = os.environ.get(ENV, "auto")
    kernel = current()
    if kernel.name == "numba":
        import numba

        layer = "OpenMP/TBB" if _parallel_layer() else "no OpenMP/TBB layer: one thread"
        blas = (f"; large steps' products by the BLAS on {kernel.blas_threads} threads"
                if kernel.threads == 1 and kernel.blas_threads > 1 else "")
        return (f"numba {numba.__version__} compiled loops (LSTM, GRU; tiled recurrent product, "
                f"{kernel.threads} thread(s), {layer}{blas}) [{ENV}={request}]; malloc: {_malloc()}")
    return f"numpy (pure-NumPy cells) [{ENV}={request}]; malloc: {_malloc()}"


@contextlib.contextmanager
def use(name: str, *, threads: int | None = None, parallel_flops: int = PARALLEL_FLOPS,
        blas_threads: int | None = None, blas_rows: int = BLAS_ROWS,
        pack_steps: int = PACK_STEPS, product_flops: int = PRODUCT_FLOPS) -> Iterator[str]:
    """Run the block (in this thread/context only) with kernel ``name`` (``'numba'``, ``'numpy'``, ``'auto'``).

    Args:
        name: the kernel; ``'auto'`` is numba when it imports.
        threads: threads of the compiled loops (None: :func:`set_threads`'s, else
            ``RNNKIT_NUM_THREADS``'s, default every core).
        parallel_flops: recurrent-product flops per step from which the loops use them (0: always;
            the tests run the threaded loops on small sizes this way).
        blas_threads: NumPy's BLAS threads as rnnkit assumes them (None: from the environment).
        blas_rows: the batch size from which a one-thread loop hands products to that BLAS.
        pack_steps: the number of time steps from which the loops pack their weights into panels
            (1: always; the tests run the packed kernel on short sequences this way).
        product_flops: the flops of one product from which :func:`matmul` splits it across the
            threads, and from which a one-thread loop hands each step's product to a
            multi-threaded BLAS (0: always).
    """
    for option, value in (("threads", threads), ("blas_threads", blas_threads)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{option}: expected an int >= 1 or None, got {value!r}")
    for option, value in (("parallel_flops", parallel_flops), ("blas_rows", blas_rows), ("pack_steps", pack_steps),
                          ("product_flops", product_flops)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{option}: expected an int >= 0, got {value!r}")
    kernel = Kernel(_resolve(name), _default_threads() if threads is None else threads, parallel_flops,
                    _blas_threads_from_environment() if blas_threads is None else blas_threads, blas_rows, pack_steps,
                    product_flops)
    token = _selected.set(kernel)
    try:
        yield kernel.name
    finally:
        _selected.reset(token)


def select(cell: str, act, ract=None, *, rec_mask=None, W_hr=None, reset_after=True,
           inference_shape: tuple[int, int] | None = None) -> str:
    """The one decision of which loop runs a cell call.

    Args:
        cell: ``'RNN'``, ``'LSTM'`` or ``'GRU'``.
        act, ract: the cell's :class:`~rnnkit.cells.activations.Activation` objects.
        rec_mask: the recurrent dropout mask or None; W_hr: the LSTM projection or None;
        reset_after: the GRU form.
        inference_shape: (T, B) when the call needs no gradient and has no mask and no dropout
            (a candidate for the fused path), else None.

    Returns:
        ``'numba-fused'`` (whole layer, input projection included, one compiled call: streaming
        calls, T * B <= TINY_ROWS, and B >= FUSED_ROWS, where the fused product beats one large
        xw GEMM plus the loop, unless the loops run one thread beside a multi-threaded BLAS,
        whose xw GEMM then wins; at B = 1 the large GEMM wins),
        ``'numba'`` (fused gate math) or ``'numpy'`` (the cells' own NumPy code).
    """
    kernel = current()
    if (kernel.name != "numba" or cell == "RNN" or W_hr is not None or rec_mask is not None or not reset_after
            or act.name != "tanh" or getattr(ract, "name", None) != "sigmoid"):
        return "numpy"
    if inference_shape is not None:
        T, B = inference_shape
        pooled = (kernel.threads > 1 and _parallel_layer()) or kernel.blas_threads == 1  # else the BLAS's xw wins
        if T * B <= TINY_ROWS or (B >= FUSED_ROWS and pooled):
            return "numba-fused"
    return "numba"


# -- shared ------------------------------------------------------------------------------------
def _keep(mask: np.ndarray | None, T: int, B: int) -> tuple[np.ndarray, bool]:
    """(T, B) bool rows for the kernels and whether any is False."""
    if mask is None:
        return np.ones((T, B), np.bool_), False
    return np.ascontiguousarray(mask, np.bool_), True


def _dhs(dhs: np.ndarray | None, shape: tuple[int, ...], dtype) -> tuple[np.ndarray, bool]:
    """The per-step output gradients as a C-contiguous (T, B, H) array, or one zero row."""
    if dhs is None:
        return np.zeros((1,) + shape[1:], dtype), False
    return np.ascontiguousarray(dhs, dtype), True


def _lines(shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
    """An uninitialised C-contiguous array of like's dtype on a cache line (:func:`rnnkit.cells._numba.lines`)."""
    return _numba().lines(shape, like.dtype)


def _initial(d: np.ndarray | None, shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
    """A loop's private, writable copy of an incoming state gradient d, or zeros, on cache lines
    (:func:`_lines`)."""
    out = _lines(shape, like)  # shape
    out[...] = 0 if d is None else d
    return out


def _threads_for(B: int, *weights: np.ndarray) -> int:
    """Threads for a loop over products with these weights: the setting's, where a step has
    enough work (``parallel_flops``). The threads meet once a step, at a barrier of about a
    microsecond, and each streams only its slice of the weights from its own cache: measured
    here (2 cores, LSTM forward, T = 100, in one process), B = 1, H = 96 ran 0.19 ms on two
    threads against 0.23 on one, H = 128 0.22 against 0.31, B = 4, H = 64 0.16 against 0.22,
    and B = 1, H = 64 (32,768 flops a step) 0.11 against 0.12."""
    kernel = current()
    if kernel.threads < 2 or not _parallel_layer():
        return 1
    # A hidden size that is not whole panels (float32: H % 64 with AVX-512, else H % 32) cuts a
    # gate block inside a panel: such a loop forks the pool twice a step instead of meeting at
    # one barrier, so it takes the products' threshold (the lab's cells, H = 17-40 at B = 32:
    # `lab adding --paper --cells lstm` took 234 s with them on two threads, 163 s on one).
    W = weights[0]
    whole_panels = W.shape[1] * W.itemsize % _numba().PANEL_BYTES == 0
    threshold = kernel.parallel_flops if whole_panels else kernel.product_flops
    enough = 2 * B * sum([w.size for w in weights]) >= threshold
    return min(kernel.threads, _numba_pool()) if enough else 1


@functools.cache
def _numba_pool() -> int:
    """The threads of numba's pool (NUMBA_NUM_THREADS, fixed when numba starts): a threaded
    loop's threads work as one team, so it asks for no more than the pool has. (A pool cut
    below that later, by numba.set_num_threads, still runs it: alone, after a short wait.)"""
    import numba

    return numba.config.NUMBA_NUM_THREADS


def _per_step_blas(B: int, W_hh: np.ndarray) -> bool:
    """Does a one-thread loop hand each step's recurrent product to NumPy's BLAS (several threads)?
    Where a step has enough rows and work: measured here on 2 cores (2 BLAS threads), LSTM B = 64,
    I = 256, H = 512 training took 392 ms a step this way against 563 ms with the one-thread tiled
    kernel, the char model's step (B = 32) 57 ms against 59; at B = 16 the tiled kernel wins (GRU
    16, 128, 256 inference 9.6 ms against 16.2)."""
    kernel = current()
    return (kernel.threads == 1 and kernel.blas_threads > 1 and B >= kernel.blas_rows
            and 2 * B * W_hh.size >= kernel.product_flops)


def _layout(W: np.ndarray, T: int, B: int = 1) -> np.ndarray:
    """W (N, K) as a compiled loop of T steps over B rows reads it, without a copy where a copy
    would cost more than it saves.

    Packed panels (P, K, C) (:func:`rnnkit.cells._numba.pack`, one pass) from the setting's
    ``pack_steps`` (:data:`PACK_STEPS`) on. Below that its rows (N, K) where they are contiguous.
    A transposed view (W's columns contiguous, as Keras's kernels, which are W^T) read once (one
    step of at most one row tile) is read by its columns in place; otherwise it is packed: a
    copy of its rows would walk it across its rows, measured here 0.75 ms for 1 MiB against
    0.05 to pack it. (One LSTM step, H = 256, 2 MiB of weights, on one / two threads: by its
    columns 36 / 39 us; packed panels 31 / 21 plus the packing; its panels in place, read at a
    row stride of 4 KiB, 182 / 96.)
    """
    contiguous, packed = W.flags.c_contiguous, T >= current().pack_steps
    if contiguous and not packed:  # (first: a streaming step's weights)
        return W
    K = _numba()
    columns = W.strides[0] == W.itemsize and not contiguous  # a transposed view
    if columns and T == 1 and B <= K.TILE_ROWS and W.flags.f_contiguous:
        return W  # read column by column (rnnkit.cells._numba._matmul_columns)
    if columns or packed:
        return K.pack(W)
    return np.ascontiguousarray(W)


def _panels_in_place(V: np.ndarray) -> np.ndarray:
    """The panels (P, K, C) of W = V^T as a read-only view of V (K, N), whose rows are contiguous
    and N whole panels: panel p is V's C columns from p C, read at V's row stride (the packed
    kernel takes panels of any strides but a contiguous last axis)."""
    C = _numba().panel_width(V.dtype)
    return np.lib.stride_tricks.as_strided(V, (V.shape[1] // C, V.shape[0], C), (C * V.itemsize, V.strides[0], V.itemsize),
                                           writeable=False)


def _no_projection(G: np.ndarray, W: np.ndarray) -> tuple:
    """The loops' (x, W_ih, bias) stand-ins when G already holds xw (training): no columns,
    x (T, B, 0), W_ih laid out as W (rows or panels) with no terms, bias (1, 0)."""
    T, B, N = G.shape
    W_ih = np.empty((N, 0), G.dtype) if W.ndim == 2 else np.empty((W.shape[0], 0, W.shape[2]), G.dtype)
    return np.empty((T, B, 0), G.dtype), W_ih, np.empty((1, 0), G.dtype)


# -- the large products around the loops --------------------------------------------------------
def matmul(a: np.ndarray, b: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``a @ b + bias`` on the thread pool of the recurrent loops.

    With the loops threaded (numba, ``threads`` > 1) the product runs there too, by the packed
    kernel: the input projection, input and weight gradients of a compiled layer, and the
    linear layers and 2-D products around it. Two thread pools on the same cores slow each
    other (an OpenBLAS worker spins for about 0.1 s after each call), so a model whose heavy
    products all run on one pool scales with its cores. On one thread beside a one-thread BLAS,
    a product of ONE_THREAD_FLOPS whose left operand has its rows contiguous (the input
    projection, the input gradient) runs on the packed kernel too, where it measured faster than
    OpenBLAS on one core (LSTM 16, 128, 256 training 42.6 -> 41.0 ms, the char model's step
    74.8 -> 71.7 on Intel Emerald Rapids; OpenBLAS was faster below, at 1, 64, 128 by 3 %, and
    above, at 128, 512, 1024 by 6 %). The weight gradients (dz^T x: a left operand read by
    columns) stay with OpenBLAS there: on one AMD Zen 3 core its dW_hh of LSTM 16, 128, 256 ran
    at 55-66 GFLOP/s against 31-58 for the packed kernel, and the training step took 86.7-88.6
    ms with them packed, 75.5-78.5 with OpenBLAS. Otherwise it is NumPy's ``matmul`` (its BLAS,
    on the BLAS's own threads).

    Args:
        a: (M, K), any strides (the transposed views of the gradients' operands included).
        b: (K, N), any strides: read in place where that pays, else copied into panels, a part
            of its rows at a time (see :func:`_right_operands`).
        bias: (N,) or None.

    Returns:
        (M, N).

    Example:
        >>> import numpy as np
        >>> a, b = np.ones((3, 2), np.float32), np.arange(8, dtype=np.float32).reshape(2, 4)
        >>> with use("numpy"):
        ...     matmul(a, b, np.ones(4, np.float32)).tolist()[0]
        [5.0, 7.0, 9.0, 11.0]
    """
    kernel = current()
    flops = 2 * a.shape[0] * b.shape[1] * b.shape[0]
    big = flops >= kernel.product_flops
    one_thread = (kernel.blas_threads == 1 and ONE_THREAD_FLOPS[0] <= flops < ONE_THREAD_FLOPS[1]
                  and a.strides[0] >= a.strides[1])  # a's rows contiguous (not dz^T of a weight gradient)
    compiled = kernel.name == "numba" and (_parallel_layer() if kernel.threads > 1 else one_thread)
    if not compiled or a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        out = np.matmul(a, b)  # (M, N)
        if bias is not None:
            out += bias
        return out
    K = _numba()
    (M, _), N = a.shape, b.shape[1]
    bias = np.empty((0, N), a.dtype) if bias is None else np.ascontiguousarray(bias, a.dtype).reshape(1, N)
    out = _lines((M, N), a)  # (M, N), on cache lines: the threads write neighbouring rows
    threaded = kernel.threads > 1 and big and M >= 2 * K.TILE_ROWS
    few = M <= 2 * K.TILE_ROWS and not threaded  # a few rows (a streaming step's): read b once or twice
    for k0, k1, W in _right_operands(b, few, kernel.threads if threaded else 1):
        base = bias if k0 == 0 else out
        if threaded:
            K.matmul_mt(a[:, k0:k1], W, base, out, kernel.threads)
        else:
            K.matmul(a[:, k0:k1], W, base, out)
    return out


def _right_operands(b: np.ndarray, few: bool, threads: int = 1):
    """b (K, N) as :func:`matmul`'s kernel reads it, one part of its terms at a time:
    ``(k0, k1, W)`` with W the panels (P, k1 - k0, C) of b[k0:k1]^T, or W's rows (N, K);
    ``threads`` pack them (those of the product that reads them).

    A view whose rows hold whole panels is read in place where it is small (VIEW_BYTES) or read
    by a few rows; a larger one is copied into contiguous panels (faster to read), a part of the
    terms at a time so that the copy never holds all of b (at most COPY_PARTS passes over out).
    For a few rows, b = W^T with W's rows contiguous is read as W's rows in place (a copy of
    W_ih took 0.13 ms at 1 MiB, more than the product). Anything else is packed whole.
    """
    K = _numba()
    terms, N = b.shape
    view = b.strides[1] == b.itemsize and N % K.panel_width(b.dtype) == 0  # b's rows hold whole panels
    if view and (b.nbytes <= VIEW_BYTES or few):
        yield 0, terms, _panels_in_place(b)
    elif few and b.T.flags.c_contiguous:
        yield 0, terms, b.T
    elif view:
        step = max(VIEW_BYTES // (N * b.itemsize), -(-terms // COPY_PARTS))
        for k0 in range(0, terms, step):
            yield k0, min(k0 + step, terms), K.pack(b[k0:k0 + step].T, threads)  # (P, step, C)
    else:
        yield 0, terms, K.pack(b.T, threads)  # (P, K, C)


# -- LSTM --------------------------------------------------------------------------------------
def lstm_forward(G, h0, c0, W_hh, mask):
    """Forward over all steps. G (T, B, 4H): xw in, activations (i, f, g, o) out (inference
    without xw: :func:`fused_forward`).

    Returns ``(hs, cs)``, each (T+1, B, H) with the initial state in row 0.
    """
    K = _numba()
    T, B, H4 = G.shape
    H = H4 // 4
    hs = _lines((T + 1, B, H), G)  # (T+1, B, H)
    cs = _lines((T + 1, B, H), G)  # (T+1, B, H)
    hs[0], cs[0] = h0, c0
    keep, has_mask = _keep(mask, T, B)
    Z = _lines((B, H4), G)  # (B, 4H) h_{t-1} W_hh^T
    if _per_step_blas(B, W_hh):
        for t in range(T):
            np.add(np.dot(hs[t], W_hh.T, Z), G[t], Z)  # (B, 4H) xw_t + h_{t-1} W_hh^T
            K.lstm_fwd_step(Z, G, hs, cs, keep, t, has_mask, 0, H, 0, B)
        return hs, cs
    threads = _threads_for(B, W_hh)
    W = _layout(W_hh, T, B)  # (4H, H) rows, columns or panels (W_hh any strides: a Keras layer's is W^T)
    if threads > 1:
        K.lstm_fwd_loop_mt(G, W, hs, cs, keep, has_mask, Z, *_no_projection(G, W), False, threads)
    else:
        K.lstm_fwd_loop(G, W, hs, cs, keep, has_mask, Z, *_no_projection(G, W), False, 0, B)
    return hs, cs


def lstm_backward(G, hs, cs, W_hh, mask, dhs, dh_T, dc_T):
    """BPTT over all steps; G (activations) becomes dL/dxw in place.

    Returns ``(G, dh0, dc0)``.
    """
    K = _numba()
    T, B, H4 = G.shape
    H, dtype = H4 // 4, G.dtype
    keep, has_mask = _keep(mask, T, B)
    dhs, has_dhs = _dhs(dhs, (T, B, H), dtype)
    dh_rec = _initial(dh_T, (B, H), G)  # (B, H) dz_{t+1} W_hh (dh_T to begin)
    dc = _initial(dc_T, (B, H), G)  # (B, H) dL/dc_t
    carry = _initial(None, (B, H), G)  # (B, H) dh passed around the product (masked rows)
    if _per_step_blas(B, W_hh):
        for t in range(T - 1, -1, -1):
            K.lstm_bwd_step(G, cs, dhs, dh_rec, carry, dc, keep, t, has_dhs, has_mask, 0, H, 0, B)
            np.dot(G[t], W_hh, dh_rec)  # (B, H) dz_t W_hh
        dh_rec += carry  # (B, H) dL/dh0
        return G, dh_rec, dc
    threads = _threads_for(B, W_hh)
    W_T = _layout(W_hh.T, T, B)  # (H, 4H) rows, columns or panels: the backward's product reads W_hh's columns
    if threads > 1:
        K.lstm_bwd_loop_mt(G, W_T, cs, dhs, has_dhs, dh_rec, carry, dc, keep, has_mask, threads)
    else:
        K.lstm_bwd_loop(G, W_T, cs, dhs, has_dhs, dh_rec, carry, dc, keep, has_mask, 0, B)
    dh_rec += carry  # (B, H) dL/dh0
    return G, dh_rec, dc


# -- GRU ---------------------------------------------------------------------------------------
def gru_forward(G, h0, W_hh, b_hn, mask):
    """Forward over all steps. G (T, B, 3H): xw (with b_ih and b_hh's r, z parts) in, (r, z, n) out.

    Returns ``(hs, hn)``: hs (T+1, B, H), hn (T, B, H) = W_hn h_{t-1} + b_hn.
    """
    K = _numba()
    T, B, H3 = G.shape
    H, dtype = H3 // 3, G.dtype
    hs = _lines((T + 1, B, H), G)  # (T+1, B, H)
    hs[0] = h0
    hn = _lines((T, B, H), G)  # (T, B, H)
    b = np.zeros(H, dtype) if b_hn is None else np.ascontiguousarray(b_hn)  # (H,)
    keep, has_mask = _keep(mask, T, B)
    Z = _lines((B, H3), G)  # (B, 3H) h_{t-1} W_hh^T
    if _per_step_blas(B, W_hh):
        for t in range(T):
            np.dot(hs[t], W_hh.T, Z)  # (B, 3H) h_{t-1} W_hh^T
            K.gru_fwd_step(Z, G, b, hs, hn, keep, t, has_mask, 0, H, 0, B)
        return hs, hn
    threads = _threads_for(B, W_hh)
    W = _layout(W_hh, T, B)  # (3H, H) rows, columns or panels (W_hh any strides: a Keras layer's is W^T)
    if threads > 1:
        K.gru_fwd_loop_mt(G, W, b, hs, hn, keep, has_mask, Z, *_no_projection(G, W), False, threads)
    else:
        K.gru_fwd_loop(G, W, b, hs, hn, keep, has_mask, Z, *_no_projection(G, W), False, 0, B)
    return hs, hn


def gru_backward(G, hs, hn, W_hh, mask, dhs, dh_T):
    """BPTT over all steps. G becomes (dzr, dzz, dhn) (the recurrent product's gradient rows),
    hn becomes dzn = dL/dxw_n.

    Returns ``(G, hn, dh0)``.
    """
    K = _numba()
    T, B, H3 = G.shape
    H, dtype = H3 // 3, G.dtype
    keep, has_mask = _keep(mask, T, B)
    dhs, has_dhs = _dhs(dhs, (T, B, H), dtype)
    dh_rec = _initial(dh_T, (B, H), G)  # (B, H) dG_{t+1} W_hh (dh_T to begin)
    carry = _initial(None, (B, H), G)  # (B, H) dh z_{t+1}: the direct path
    if _per_step_blas(B, W_hh):
        for t in range(T - 1, -1, -1):
            K.gru_bwd_step(G, hs, hn, dhs, dh_rec, carry, keep, t, has_dhs, has_mask, 0, H, 0, B)
            np.dot(G[t], W_hh, dh_rec)  # (B, H) dG_t W_hh
        dh_rec += carry  # (B, H) dL/dh0
        return G, hn, dh_rec
    threads = _threads_for(B, W_hh)
    W_T = _layout(W_hh.T, T, B)  # (H, 3H) rows, columns or panels
    if threads > 1:
        K.gru_bwd_loop_mt(G, W_T, hs, hn, dhs, has_dhs, dh_rec, carry, keep, has_mask, threads)
    else:
        K.gru_bwd_loop(G, W_T, hs, hn, dhs, has_dhs, dh_rec, carry, keep, has_mask, 0, B)
    dh_rec += carry  # (B, H) dL/dh0
    return G, hn, dh_rec


# -- the fused inference path ------------------------------------------------------------------
def fused_forward(cell: str, x, W_ih, b, params, state, threads: int | None = None):
    """One layer and direction of an LSTM or GRU, input projection included, in one compiled call.

    Args:
        cell: ``'LSTM'`` or ``'GRU'``; x: (T, B, I); W_ih: (G*H, I); b: (G*H,) folded bias or None;
        params: the cell's ``Params`` (W_hh (G*H, H); GRU: b_hn (H,) or None);
        state: ``(h0,)`` or ``(h0, c0)``, each (B, H);
        threads: the loop's threads as :func:`_threads_for` gives them (None: ask it).

    Returns:
        ``(hs, state_T)``: hs (T, B, H) and the final state tuple. No cache: inference only.
    """
    K = _numba()
    T, B, _ = x.shape
    W_hh = params.W_hh
    N, dtype = W_hh.shape[0], x.dtype
    threads = _threads_for(B, W_hh, W_ih) if threads is None else threads
    W, W_ih = _layout(W_hh, T, B), _layout(W_ih, T, B)
    if W.ndim != W_ih.ndim or W.flags.c_contiguous != W_ih.flags.c_contiguous:  # rows beside columns: panels
        W, W_ih = (w if w.ndim == 3 else K.pack(w) for w in (W, W_ih))
    bias = np.zeros((1, N), dtype) if b is None else np.ascontiguousarray(b).reshape(1, N)  # (1, G*H)
    x = np.ascontiguousarray(x)
    if cell == "LSTM":
        hs, c_T = K.lstm_infer(x, W_ih, W, bias, *state, threads)  # (T+1, B, H), (B, H)
        return hs[1:], (hs[T], c_T)
    b_hn = np.zeros(N // 3, dtype) if params.b_hn is None else np.ascontiguousarray(params.b_hn)  # (H,)
    hs = K.gru_infer(x, W_ih, W, bias, b_hn, state[0], threads)  # (T+1, B, H)
    return hs[1:], (hs[T],)
