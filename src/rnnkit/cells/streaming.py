"""The streaming shortcut: one small inference call of one layer, straight to the compiled loop.

A model that runs online (a step per sample, ``nn.LSTM(x_t, state)`` or ``nn.LSTMCell``) calls
one layer with T * B <= :data:`~rnnkit.cells.kernels.TINY_ROWS` and no gradient. There the
whole call is one compiled loop (:func:`~rnnkit.cells.kernels.fused_forward`, the same one
:func:`~rnnkit.cells.scan.forward` runs there), and the driver's bookkeeping would cost more
than the step itself. :func:`stream` is that call with every check; :class:`Stream` keeps what
those checks decided between the calls of one layer, so that a step pays for little more than
the kernel (the Python before a step's kernel runs with the caches cold: the step has just
streamed all the weights through them).

Shapes: T time, B batch, I input, H hidden, G gates (4 LSTM, 3 GRU).

Example:
    >>> import numpy as np
    >>> from rnnkit.cells import streaming
    >>> rng = np.random.default_rng(0)
    >>> w = [tuple(rng.normal(size=s).astype(np.float32) for s in [(16, 3), (16, 4), (16,), (16,)])]
    >>> step, state = streaming.Stream(), (None, None)
    >>> for t in range(3):
    ...     done = step("LSTM", rng.normal(size=(1, 1, 3)).astype(np.float32), *state, w, {})
    ...     if done is None:  # the NumPy kernel: the caller runs scan.forward
    ...         break
    ...     out, *state = done
    >>> done is None or (out.shape, state[0].shape, state[1].shape) == ((1, 1, 4), (1, 1, 4), (1, 1, 4))
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnkit.cells import kernels
from rnnkit.cells.scan import CELLS, _setup, _state

__all__ = ["Stream", "stream"]

_NEUTRAL = dict(num_layers=1, bidirectional=False, proj_size=0, lengths=None, mask=None, input_dropout_masks=None,
                rec_dropout_masks=None, go_backwards=False)  # options a streaming call may carry at these values only
_FREE = frozenset({"reset_after", "activation", "recurrent_activation", "dropout", "training",
                   "masked_output"})  # options it may carry at any value (select decides, or no effect here)
_NAMES = ("w_ih", "w_hh", "b_ih", "b_hh")


def stream(mode: str, x, h0, c0, weights, options: dict):
    """:func:`~rnnkit.cells.scan.forward` without a cache for one streaming-sized call, or None
    where it does not apply.

    The case: one LSTM or GRU layer, one direction, no projection, mask or dropout, the numba
    kernel, and T * B <= :data:`~rnnkit.cells.kernels.TINY_ROWS`.

    Args:
        mode, x, h0, c0, weights: as :func:`~rnnkit.cells.scan.forward`, with ``weights`` one
            tuple ``(w_ih, w_hh, b_ih, b_hh)`` or ``(w_ih, w_hh, b_ih, b_hh, None)`` (biases may
            be None).
        options: the keyword options of :class:`~rnnkit.cells.scan.Options` the caller would pass.

    Returns:
        ``(out, h_n, c_n)`` as :func:`~rnnkit.cells.scan.forward` (c_n None for GRU), or None.
    """
    return Stream()(mode, x, h0, c0, weights, options)


class Stream:
    """:func:`stream` for the calls of one layer, its checks and decisions kept between calls.

    A module keeps one and calls it where it would call :func:`stream` (a cell: :meth:`step`,
    on its own (B, I) and (B, H) arrays). A call whose weights
    would pass the same checks (the same arrays, or arrays of the same shapes and dtype), with
    the same input shape and dtype, the same options and the same kernel setting
    (:func:`~rnnkit.cells.kernels.current`, which :func:`~rnnkit.cells.kernels.use` and
    ``set_num_threads`` replace) reuses them: the kernel choice, the weights' checks and the
    threads. The states are checked and the biases folded on every call, and the weights are
    read as they are then (updated in place or replaced). It holds the weight arrays it
    checked until a call needs other checks.
    """

    __slots__ = ("_plan",)

    def __init__(self) -> None:
        self._plan: _Plan | None = None

    def __call__(self, mode: str, x, h0, c0, weights, options: dict):
        """As :func:`stream`."""
        plan = self._plan_for(mode, x, weights, options)
        if plan is None:
            return None
        _, B, _ = plan.shape
        shape = (1, B, plan.weights[1].shape[1])  # (1, B, H)
        h0 = None if h0 is None else _state(h0, shape, plan.dtype, "h0")[0]  # (B, H)
        c0 = None if c0 is None or mode != "LSTM" else _state(c0, shape, plan.dtype, "c0")[0]
        hs, h_T, c_T = plan.run(x, h0, c0, weights[0])
        return hs, h_T[None], None if c_T is None else c_T[None]

    def step(self, mode: str, x: np.ndarray, h0, c0, weights, options: dict):
        """One time step of a cell (``nn.LSTMCell``): :meth:`__call__` at T = 1 with x (B, I)
        and the states (B, H) (or None: zeros), as a cell holds them.

        Returns:
            ``(h_t, c_t)``, each (B, H) (c_t None for GRU), or None where the shortcut does not
            apply (then the caller runs the layer's op).
        """
        x = x[None]  # (1, B, I)
        plan = self._plan_for(mode, x, weights, options)
        if plan is None:
            return None
        shape = (x.shape[1], plan.weights[1].shape[1])  # (B, H)
        h0 = None if h0 is None else _state(h0, shape, plan.dtype, "h0")
        c0 = None if c0 is None else _state(c0, shape, plan.dtype, "c0")
        return plan.run(x, h0, c0, weights[0])[1:]

    def _plan_for(self, mode: str, x, weights, options: dict) -> _Plan | None:
        """The kept plan where the call fits it, else a new one (kept), or None (no shortcut)."""
        plan = self._plan
        if plan is None or not plan.fits(mode, x, weights, options):
            plan = self._plan = _Plan.make(mode, x, weights, options)
        return plan


def _like(a, kept) -> bool:
    """Would a weight that is not the kept one pass the checks the kept one passed? An ndarray
    of its shape and dtype (a Keras layer's weights are new transposed views at every call).
    (:meth:`_Plan.fits` tests identity first, inline: the common case, without a call.)"""
    return type(a) is np.ndarray and kept is not None and a.shape == kept.shape and a.dtype == kept.dtype


def _same_options(options: dict, kept: dict) -> bool:
    """Are a call's options the kept ones (whose values are scalars, strings or None)? A dict
    comparison; an array in the call (a mask where the plan had None) compares False or, when
    it has several values, raises: another call either way."""
    try:
        return options == kept
    except ValueError:
        return False


def _same(value, kept) -> bool:
    """Is an option's value the kept one? (Identity or equal scalars; never an array compared
    element by element: a mask given where the plan had None is another call.)"""
    return value is kept or (type(value) is type(kept) and not isinstance(value, np.ndarray) and value == kept)


@dataclass(frozen=True, eq=False)
class _Plan:
    """What :func:`stream`'s checks decided for one layer's calls."""

    mode: str  # 'LSTM' or 'GRU'
    kernel: kernels.Kernel  # the setting in force when it was made
    options: dict  # the caller's options (a copy)
    shape: tuple[int, int, int]  # x's (T, B, I)
    dtype: np.dtype  # x's and every array's
    weights: tuple  # (w_ih, w_hh, b_ih, b_hh[, None]) as checked (a call's are compared by _like)
    config: Any  # the cell's Config
    threads: int  # the compiled loop's threads (kernels._threads_for)

    @classmethod
    def make(cls, mode: str, x, weights, options: dict) -> _Plan | None:
        """Every check of :func:`stream`: a plan, or None where the shortcut does not apply."""
        if (mode not in ("LSTM", "GRU") or x.shape[0] * x.shape[1] > kernels.TINY_ROWS or len(weights) != 1
                or not all([key in _FREE or (key in _NEUTRAL and _same(value, _NEUTRAL[key]))
                            for key, value in options.items()])
                or (options.get("training") and options.get("dropout")) or len(weights[0]) not in (4, 5)
                or (len(weights[0]) == 5 and weights[0][4] is not None)):
            return None
        config, act, ract, reset_after = _setup(mode, options.get("activation"), options.get("recurrent_activation"),
                                                bool(options.get("reset_after", True)))
        if kernels.select(mode, act, ract, reset_after=reset_after, inference_shape=x.shape[:2]) != "numba-fused":
            return None
        if not isinstance(x, np.ndarray) or x.ndim != 3 or x.dtype not in (np.float32, np.float64):
            return None  # scan.forward says what is wrong
        T, B, I = x.shape
        G, dtype = CELLS[mode].gates, x.dtype
        w_hh = weights[0][1]
        H = getattr(w_hh, "shape", (0,))[0] // G
        for name, a, shape in zip(_NAMES, weights[0], [(G * H, I), (G * H, H), (G * H,), (G * H,)]):
            if a is not None and (not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != dtype):
                raise ValueError(f"weights[0] {name}: expected an ndarray of shape {shape} and dtype {dtype}, got "
                                 f"{getattr(a, 'shape', type(a).__name__)} {getattr(a, 'dtype', '')}")
        threads = kernels._threads_for(B, w_hh, weights[0][0])
        return cls(mode, kernels.current(), dict(options), (T, B, I), dtype, tuple(weights[0]), config, threads)

    def fits(self, mode: str, x, weights, options: dict) -> bool:
        """Does a call have what this plan was made for?"""
        if len(weights) != 1:
            return False
        w, s = weights[0], self.weights
        return (kernels.current() is self.kernel and type(x) is np.ndarray and x.shape == self.shape
                and x.dtype == self.dtype and len(w) == len(s) and (len(w) == 4 or w[4] is None)
                and (w[0] is s[0] or _like(w[0], s[0])) and (w[1] is s[1] or _like(w[1], s[1]))
                and (w[2] is s[2] or _like(w[2], s[2])) and (w[3] is s[3] or _like(w[3], s[3]))
                and mode == self.mode and _same_options(options, self.options))

    def run(self, x, h0, c0, w):
        """The call: x (T, B, I), h0 and c0 (B, H) checked, or None (zeros) ->
        (hs (T, B, H), h_T (B, H), c_T (B, H) or None)."""
        w_ih, w_hh, b_ih, b_hh = w[:4]
        _, B, _ = self.shape
        H, dtype = w_hh.shape[1], self.dtype
        h0 = np.zeros((B, H), dtype) if h0 is None else h0
        if self.mode == "LSTM":
            c0 = np.zeros((B, H), dtype) if c0 is None else c0
        params, b_hh_folded = CELLS[self.mode].module.Params.from_weights(w_hh, b_hh, None, self.config)
        b = b_hh_folded if b_ih is None else (b_ih if b_hh_folded is None else b_ih + b_hh_folded)  # (G*H,)
        state = (h0,) if self.mode == "GRU" else (h0, c0)
        hs, state_T = kernels.fused_forward(self.mode, x, w_ih, b, params, state, self.threads)  # (T, B, H)
        return hs, state_T[0], state_T[1] if self.mode == "LSTM" else None
