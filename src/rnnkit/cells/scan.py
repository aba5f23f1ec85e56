"""The one time-loop driver: every cell, every layer, both directions, any mask.

For each layer l and direction d (PyTorch's order l0, l0_reverse, l1, ...)::

    xw = (x_l * m_in) W_ih^T + b            one matmul for all T steps (b: every foldable bias)
    hs = cell.forward(xw, h0, ...)          the time loop: only the recurrent product is in it
    out_l[..., d] = hs * keep               keep: see ``masked_output``
    x_{l+1} = dropout(concat_d out_l[..., d])   between layers, training only

and :func:`backward` runs the same in reverse: per (layer, direction) one cell backward, then
one matmul each for dW_ih and dx. The reverse direction is the forward scan on the time-flipped
sequence and mask, un-flipped afterwards; because masked steps carry the state unchanged, this
is exactly PyTorch's per-sequence reversal within each length (the padding is scanned first,
with the state still at h0).

Masks and Keras 3 semantics (``keras/src/backend/torch/rnn.py``, ``layers/rnn/*.py``):

* ``lengths`` (PyTorch, packed sequences) becomes the prefix mask ``t < lengths[b]``; ``mask``
  is any bool (T, B) (Keras). Where the mask is False the state (h, c) is carried unchanged
  and the step adds no gradient to the weights, so h_n/c_n are each sequence's state after
  its last valid step.
* ``masked_output='zero'``: the output at a masked step is 0 (PyTorch's pad_packed_sequence;
  Keras ``zero_output_for_mask=True``, which ``Bidirectional`` forces when returning
  sequences). ``'carry'``: the output of the most recent valid step, and 0 before the first
  one (Keras ``zero_output_for_mask=False``, its default: the previous *output*, which starts
  at zeros, not at the initial state). Keras's ``last_output`` is ``out[-1]`` in both cases.
* ``go_backwards`` (Keras): x and mask are flipped in time before everything else, and the
  outputs are returned in that processing order (reversed), as Keras returns them.
* Input dropout multiplies x by a per-sequence mask before the projection; recurrent dropout
  multiplies h_{t-1} in the recurrent product only (LSTM: not c; GRU: ``z * h_{t-1}`` uses the
  unmasked state; ``reset_after=False``: ``(r * h_{t-1} * m_n) W_hn^T``). Keras 3 draws one
  independent mask per gate for both when recurrent_dropout > 0 (``implementation=1``, 4 for
  LSTM, 3 for GRU; their gate order i,f,c,o / z,r,h) and one shared input mask otherwise; so
  each mask may be (B, K) shared or (G, B, K) per gate, in this module's (PyTorch's) gate order.

Modes: ``'RNN_TANH'``, ``'RNN_RELU'``, ``'LSTM'``, ``'GRU'`` (PyTorch's names), each an entry of
:data:`CELLS`: the cell module (which all follow one protocol: a state tuple in and out, a
``Params`` structure, a ``Cache`` dataclass), its gate count and its defaults. ``activation``
(Keras) replaces the RNN nonlinearity or the LSTM/GRU candidate activation;
``recurrent_activation`` the LSTM/GRU gate activation. Which loop runs each cell call
(NumPy, numba, or the fused inference path) is :func:`rnnkit.cells.kernels.select`'s decision,
made here once per call and handed down.

Shapes: T time, B batch, I input, H hidden, P = proj_size or H (output size), L layers,
D directions (2 if bidirectional), G gates (1, 4, 3).

Example:
    >>> import numpy as np
    >>> from rnnkit.cells import scan
    >>> rng = np.random.default_rng(0)
    >>> T, B, I, H = 6, 2, 3, 4
    >>> w = [tuple(rng.normal(size=s) for s in [(4 * H, I), (4 * H, H), (4 * H,), (4 * H,)])]
    >>> out, h_n, c_n, cache = scan.forward("LSTM", rng.normal(size=(T, B, I)), None, None, w,
    ...                                     scan.Options(lengths=np.array([6, 3])))
    >>> bool((out[3:, 1] == 0).all()), h_n.shape
    (True, (1, 2, 4))
    >>> dx, dh0, dc0, dw = scan.backward(np.ones_like(out), None, None, cache)
    >>> dx.shape, [g.shape for g in dw[0]]
    ((6, 2, 3), [(16, 3), (16, 4), (16,), (16,)])
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from rnnkit._random import dropout_mask
from rnnkit.cells import activations, gru, kernels, lstm, rnn
from rnnkit.cells.common import masked_matmul, masked_matmul_dinput, masked_matmul_dweight

__all__ = ["Cell", "CELLS", "Options", "Cache", "forward", "stream", "backward"]


@dataclass(frozen=True)
class Cell:
    """A registry entry: how the driver runs one mode."""

    name: str  # 'RNN', 'LSTM' or 'GRU': the cell, as kernels.select knows it
    module: ModuleType  # step, Params, Config, Cache, forward, backward, STATES
    gates: int  # G: blocks of W_ih / W_hh rows
    config: dict = field(default_factory=dict)  # this mode's defaults for the module's Config


CELLS = {
    "RNN_TANH": Cell("RNN", rnn, 1, {"activation": "tanh"}),
    "RNN_RELU": Cell("RNN", rnn, 1, {"activation": "relu"}),
    "LSTM": Cell("LSTM", lstm, 4),
    "GRU": Cell("GRU", gru, 3),
}


@dataclass(eq=False)
class Options:
    """Everything about a :func:`forward` call beyond its tensors (see the module docstring)."""

    num_layers: int = 1  # L stacked layers
    bidirectional: bool = False  # D = 2 directions when True
    proj_size: int = 0  # LSTM output projection P (0: none, P = H)
    reset_after: bool = True  # GRU: PyTorch's form (True) or the reset before the product (Keras option)
    lengths: Any = None  # optional (B,) ints in [0, T]: prefix masks (PyTorch packed sequences)
    mask: Any = None  # optional bool (T, B) (Keras); not together with lengths
    dropout: float = 0.0  # between layers (not after the last), only when training
    training: bool = False  # draw the between-layer dropout masks
    rng: np.random.Generator | None = None  # where those masks come from (required when they are drawn)
    activation: str | None = None  # Keras: the RNN nonlinearity / the LSTM, GRU candidate (None: the mode's)
    recurrent_activation: str | None = None  # Keras: the LSTM, GRU gate activation (None: sigmoid)
    input_dropout_masks: list | None = None  # L*D entries, each None, (B, K) or (G, B, K), multiplied into x
    rec_dropout_masks: list | None = None  # likewise, multiplied into h_{t-1} in the recurrent product
    go_backwards: bool = False  # Keras: flip x and mask in time first; outputs stay in processing order
    masked_output: str = "zero"  # output at masked steps: 'zero' or 'carry' (the last valid output)
    need_grad: bool = True  # False keeps no cache (inference); backward then refuses

    def __post_init__(self):
        if not isinstance(self.num_layers, int) or self.num_layers < 1:
            raise ValueError(f"num_layers: expected an int >= 1, got {self.num_layers!r}")
        if self.masked_output not in ("zero", "carry"):
            raise ValueError(f"masked_output: expected 'zero' or 'carry', got {self.masked_output!r}")
        if not 0.0 <= self.dropout <= 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1], got {self.dropout}")


@dataclass
class _Direction:
    """What one (layer, direction)'s backward needs."""

    inp: np.ndarray  # (T, B, I) the layer input in processing order
    in_mask: np.ndarray | None  # input dropout mask
    cell: Any  # the cell's Cache
    w_ih: np.ndarray  # (G*H, I)
    has_b: tuple[bool, bool]  # (b_ih given, b_hh given)
    n: int  # how many entries the weights tuple had (the gradients come back alike)
    compiled: bool  # the compiled kernel ran it: its large products run on the loops' threads too


@dataclass
class Cache:
    """What :func:`backward` needs from :func:`forward`."""

    cell: Cell
    directions: list[_Direction]  # L*D, PyTorch's order
    drops: list[np.ndarray | None]  # per layer: the between-layer dropout mask applied to its output
    keeps: list[np.ndarray | None]  # per direction: the (T, B, 1) output factor (masks) or None
    L: int
    D: int
    P: int
    H: int
    go_backwards: bool


def _normalize_weights(weights, n, dtype, proj_size):
    """Each entry as (w_ih, w_hh, b_ih, b_hh, w_hr) plus its original length."""
    if not isinstance(weights, (list, tuple)) or len(weights) != n:
        raise ValueError(f"weights: expected a list of {n} per-(layer, direction) tuples, got "
                         f"{len(weights) if isinstance(weights, (list, tuple)) else type(weights).__name__}")
    out = []
    for k, w in enumerate(weights):
        w = tuple(w)
        if len(w) == 2:
            full = w + (None, None, None)
        elif len(w) == 3:
            full = (w[0], w[1], None, None, w[2])  # PyTorch's bias=False order with a projection
        elif len(w) in (4, 5):
            full = w + (None,) * (5 - len(w))
        else:
            raise ValueError(f"weights[{k}]: expected (w_ih, w_hh, [b_ih, b_hh], [w_hr]), got {len(w)} entries")
        for name, a in zip(("w_ih", "w_hh", "b_ih", "b_hh", "w_hr"), full):
            if a is not None and (not isinstance(a, np.ndarray) or (a.dtype is not dtype and a.dtype != dtype)):
                raise TypeError(f"weights[{k}] {name}: expected an ndarray of dtype {dtype}, got "
                                f"{getattr(a, 'dtype', type(a).__name__)}")
        if full[0] is None or full[1] is None:
            raise ValueError(f"weights[{k}]: w_ih and w_hh are required")
        if (full[4] is not None) != (proj_size > 0):
            raise ValueError(f"weights[{k}] w_hr: expected {'a' if proj_size else 'no'} projection weight "
                             f"with proj_size={proj_size}")
        out.append((full, len(w)))
    return out


def _build_mask(lengths, mask, T, B):
    """(T, B) bool from lengths or mask, or None when every step is valid."""
    if lengths is not None and mask is not None:
        raise ValueError("lengths, mask: expected at most one of them, got both")
    if lengths is not None:
        lengths = np.asarray(lengths)
        if lengths.shape != (B,) or lengths.dtype.kind not in "iu":
            raise ValueError(f"lengths: expected ({B},) integers, got shape {lengths.shape} dtype {lengths.dtype}")
        if lengths.size and (lengths.min() < 0 or lengths.max() > T):
            raise ValueError(f"lengths: expected values in [0, {T}], got [{lengths.min()}, {lengths.max()}]")
        mask = np.arange(T)[:, None] < lengths[None, :]  # (T, B)
    elif mask is not None:
        mask = np.asarray(mask)
        if mask.shape != (T, B) or mask.dtype != np.bool_:
            raise ValueError(f"mask: expected a bool (T, B) = {(T, B)} array, got {mask.shape} {mask.dtype}")
    if mask is not None and mask.all():
        return None
    return mask


def _per_layer(masks, n, name):
    if masks is None:
        return [None] * n
    if not isinstance(masks, (list, tuple)) or len(masks) != n:
        raise ValueError(f"{name}: expected a list of {n} masks (one per layer and direction, None allowed)")
    return list(masks)


def _state(a, shape, dtype, name):
    if a is None:
        return np.zeros(shape, dtype)
    if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != dtype:
        raise ValueError(f"{name}: expected an ndarray of shape {shape} and dtype {dtype}, got "
                         f"{getattr(a, 'shape', type(a).__name__)} {getattr(a, 'dtype', '')}")
    return a


def _check(mode, x, c0, o: Options) -> Cell:
    """The checks of :func:`forward` that need no weights; returns the registry entry."""
    if mode not in CELLS:
        raise ValueError(f"mode: expected one of {sorted(CELLS)}, got {mode!r}")
    if not isinstance(x, np.ndarray) or x.ndim != 3 or x.dtype not in (np.float32, np.float64):
        raise TypeError(f"x: expected a float32/float64 (T, B, I) ndarray, got "
                        f"{getattr(x, 'shape', type(x).__name__)} {getattr(x, 'dtype', '')}")
    if x.shape[0] < 1:
        raise ValueError("x: expected at least one time step, got T=0")
    if o.proj_size and mode != "LSTM":
        raise ValueError(f"proj_size: only LSTM has a projection, got proj_size={o.proj_size} with mode {mode}")
    if c0 is not None and mode != "LSTM":
        raise ValueError(f"c0: only LSTM has a cell state, got c0 with mode {mode}")
    if o.training and o.dropout > 0 and o.num_layers > 1 and not isinstance(o.rng, np.random.Generator):
        raise TypeError(f"rng: expected an np.random.Generator when dropout > 0 in training, got {type(o.rng).__name__}")
    return CELLS[mode]


@functools.lru_cache(maxsize=256)
def _setup(mode: str, activation, recurrent_activation, reset_after: bool):
    """The cell's Config for these options (the mode's defaults, then what the caller set; an
    option the cell does not have is refused, not ignored), with what kernels.select reads
    from it: ``(config, act, ract or None, reset_after)``. Cached: streaming calls repeat it."""
    cell = CELLS[mode]
    names = {f.name for f in dataclasses.fields(cell.module.Config)}
    given = {name: value for name, value in (("activation", activation), ("recurrent_activation", recurrent_activation),
                                             ("reset_after", None if reset_after else False)) if value is not None}
    for name in given.keys() - names:
        raise ValueError(f"{name}: the {mode} cell has no such option, got {name}={given[name]!r}")
    config = cell.module.Config(**{**cell.config, **given})
    options = vars(config)
    ract = options.get("recurrent_activation")
    return (config, activations.get(options["activation"]),
            None if ract is None else activations.get(ract, "recurrent_activation"), options.get("reset_after", True))


def forward(mode, x, h0, c0, weights, options: Options = Options()):
    """Run a stack of recurrent layers over a time-major sequence.

    Args:
        mode: ``'RNN_TANH'``, ``'RNN_RELU'``, ``'LSTM'`` or ``'GRU'`` (a key of :data:`CELLS`).
        x: (T, B, I) float32 or float64; everything keeps its dtype.
        h0: (L*D, B, P) or None (zeros); c0: (L*D, B, H) or None (zeros), LSTM only.
        weights: L*D tuples in PyTorch's order (l0, l0_reverse, l1, ...), each
            ``(w_ih, w_hh)``, ``(w_ih, w_hh, w_hr)``, ``(w_ih, w_hh, b_ih, b_hh)`` or
            ``(w_ih, w_hh, b_ih, b_hh, w_hr)``, PyTorch's shapes, None for an absent bias.
        options: :class:`Options`.

    Returns:
        ``(out, h_n, c_n, cache)``: out (T, B, D*P), h_n (L*D, B, P), c_n (L*D, B, H) for LSTM
        else None, cache for :func:`backward` (None when ``options.need_grad`` is False).
    """
    o = options
    cell = _check(mode, x, c0, o)
    T, B, _ = x.shape
    G, D, L, dtype = cell.gates, 2 if o.bidirectional else 1, o.num_layers, x.dtype
    ws = _normalize_weights(weights, L * D, dtype, o.proj_size)
    H = ws[0][0][1].shape[0] // G
    P = o.proj_size or H
    states = [_state(h0, (L * D, B, P), dtype, "h0")]  # per state entry: (L*D, B, K)
    if len(cell.module.STATES) == 2:
        states.append(_state(c0, (L * D, B, H), dtype, "c0"))
    in_masks = _per_layer(o.input_dropout_masks, L * D, "input_dropout_masks")
    rec_masks = _per_layer(o.rec_dropout_masks, L * D, "rec_dropout_masks")
    mask = _build_mask(o.lengths, o.mask, T, B)
    if o.go_backwards:
        x = x[::-1]
        mask = None if mask is None else mask[::-1]
    masks_d = [mask, None if mask is None else mask[::-1]][:D]  # per direction, processing order
    keeps = [_keep(m, o.masked_output, dtype) for m in masks_d]  # (T, B, 1) output factor or None
    finals = [np.empty((L * D,) + s.shape[1:], dtype) for s in states]  # h_n, c_n
    config, act, ract, reset_after = _setup(mode, o.activation, o.recurrent_activation, bool(o.reset_after))
    run = _Run(cell, config, act, ract, reset_after, o, H, P, masks_d, keeps, in_masks, rec_masks, states, finals)
    layer_in, directions, drops = x, [], []
    for layer in range(L):
        layer_in = run.layer(layer, layer_in, ws, directions, D)
        drops.append(run.drop(layer, layer_in))
    cache = Cache(cell, directions, drops, keeps, L, D, P, H, o.go_backwards) if o.need_grad else None
    return layer_in, finals[0], finals[1] if len(finals) == 2 else None, cache


@dataclass
class _Run:
    """One :func:`forward` call's settings, shared by its layers and directions."""

    cell: Cell
    config: Any  # the cell's Config
    act: activations.Activation  # the activations and GRU form kernels.select reads
    ract: activations.Activation | None
    reset_after: bool
    o: Options
    H: int  # hidden size
    P: int  # output size (proj_size or H)
    masks_d: list  # per direction: the (T, B) mask in processing order, or None
    keeps: list  # per direction: (T, B, 1) output factor or None
    in_masks: list  # L*D input dropout masks (None allowed)
    rec_masks: list  # L*D recurrent dropout masks
    states: list  # (L*D, B, K) initial state entries (h0, [c0])
    finals: list  # (L*D, B, K) final state entries (h_n, [c_n]), filled in

    def layer(self, layer, layer_in, ws, directions, D):
        """Both directions of one layer: its output (T, B, D*P)."""
        T, B, _ = layer_in.shape
        P = self.P
        single = len(ws) == 1 and self.keeps[0] is None  # one layer, one direction, no mask: the cell's hs
        out = None if single else np.empty((T, B, D * P), layer_in.dtype)  # (T, B, D*P)
        for d in range(D):
            k = layer * D + d
            hs, cache = self.direction(k, layer_in if d == 0 else layer_in[::-1], ws[k], d)
            if cache is not None:
                directions.append(cache)
            if single:
                out = hs  # (T, B, P) no copy; read-only when the backward reads it (as h_{t-1}),
                if self.o.need_grad:  # so that an in-place edit fails instead of corrupting the gradients
                    out.flags.writeable = False
                continue
            dst = out[:, :, d * P:(d + 1) * P]  # (T, B, P)
            dst = dst if d == 0 else dst[::-1]  # processing order
            if self.keeps[d] is None:
                np.copyto(dst, hs)  # (T, B, P)
            else:
                np.multiply(hs, self.keeps[d], out=dst)  # (T, B, P) zero / carry at masked steps
        return out

    def direction(self, k, inp, w, d):
        """One (layer, direction) k on its input in processing order: (hs, its cache or None)."""
        (w_ih, w_hh, b_ih, b_hh, w_hr), n = w
        T, B, I = inp.shape
        cell, G, H, P = self.cell, self.cell.gates, self.H, self.P
        if w_ih.shape != (G * H, I) or w_hh.shape != (G * H, P):
            raise ValueError(f"weights[{k}]: expected w_ih {(G * H, I)} and w_hh {(G * H, P)}, got "
                             f"{w_ih.shape} and {w_hh.shape}")
        in_mask, rec_mask = self.in_masks[k], self.rec_masks[k]
        if in_mask is not None:
            in_mask = _dropout_mask(in_mask, (B, I), G, inp.dtype, f"input_dropout_masks[{k}]")
        if rec_mask is not None:
            rec_mask = _dropout_mask(rec_mask, (B, P), G, inp.dtype, f"rec_dropout_masks[{k}]")
        params, b_hh_folded = cell.module.Params.from_weights(w_hh, b_hh, w_hr, self.config)
        b = b_hh_folded if b_ih is None else (b_ih if b_hh_folded is None else b_ih + b_hh_folded)  # (G*H,)
        state = tuple([s[k] for s in self.states])  # (h0,) or (h0, c0) of this layer and direction
        inference = None if self.o.need_grad or in_mask is not None or self.masks_d[d] is not None else (T, B)
        kernel = kernels.select(cell.name, self.act, self.ract, rec_mask=rec_mask, W_hr=w_hr,
                                reset_after=self.reset_after, inference_shape=inference)
        if kernel == "numba-fused":
            hs, state_T = kernels.fused_forward(cell.name, inp, w_ih, b, params, state)
            cell_cache = None
        else:
            if kernel == "numba" and in_mask is None:  # on the loops' threads, bias included
                xw = kernels.matmul(inp.reshape(T * B, I), w_ih.T, b).reshape(T, B, G * H)  # (T, B, G*H)
            else:
                xw = masked_matmul(inp, in_mask, w_ih.T)  # (T, B, G*H) x W_ih^T
                if b is not None:
                    xw += b  # (T, B, G*H)
            hs, state_T, cell_cache = cell.module.forward(xw, state, params, self.config, mask=self.masks_d[d],
                                                          rec_mask=rec_mask, overwrite_xw=True, kernel=kernel)
        for final, s in zip(self.finals, state_T):
            final[k] = s
        if not self.o.need_grad:
            return hs, None
        return hs, _Direction(inp, in_mask, cell_cache, w_ih, (b_ih is not None, b_hh is not None), n, kernel == "numba")

    def drop(self, layer, out):
        """Between-layer dropout of a layer's output, in place (training only, not after the last)."""
        o = self.o
        if not (o.training and o.dropout > 0 and layer < o.num_layers - 1):
            return None
        drop_mask = dropout_mask(o.rng, out.shape, o.dropout, out.dtype)  # (T, B, D*P)
        out *= drop_mask  # (T, B, D*P)
        return drop_mask


def backward(dout, dh_n, dc_n, cache: Cache | None, consume=False):
    """Gradients of :func:`forward`'s outputs back to its inputs.

    Args:
        dout: (T, B, D*P) or None; dh_n: (L*D, B, P) or None; dc_n: (L*D, B, H) or None.
        cache: from :func:`forward` (with ``need_grad=True``).
        consume: let the cells reuse the cache's buffers for the gradients (less memory);
            the cache cannot be differentiated again after (the autograd op drops it anyway).

    Returns:
        ``(dx, dh0, dc0, dweights)``: dx (T, B, I), dh0 (L*D, B, P), dc0 (L*D, B, H) or None
        (not LSTM), dweights with the structure of ``weights`` (None where a weight was None).
    """
    if cache is None:
        raise ValueError("cache: forward ran with need_grad=False, so there is nothing to differentiate")
    L, D, P, H = cache.L, cache.D, cache.P, cache.H
    first = cache.directions[0]
    T, B, dtype = first.inp.shape[0], first.inp.shape[1], first.inp.dtype
    lstm_like = len(cache.cell.module.STATES) == 2
    for name, g, shape in (("dout", dout, (T, B, D * P)), ("dh_n", dh_n, (L * D, B, P)), ("dc_n", dc_n, (L * D, B, H))):
        if g is not None and np.shape(g) != shape:
            raise ValueError(f"{name}: expected shape {shape}, got {np.shape(g)}")
    dstates = [np.zeros((L * D, B, P), dtype)] + ([np.zeros((L * D, B, H), dtype)] if lstm_like else [])
    finals = [dh_n] + ([dc_n] if lstm_like else [])
    dweights = [None] * (L * D)
    d_out = dout
    for layer in range(L - 1, -1, -1):
        if d_out is not None and cache.drops[layer] is not None:
            d_out = d_out * cache.drops[layer]  # (T, B, D*P)
        d_in = None
        for d in range(D):
            k = layer * D + d
            dinp, dweights[k] = _direction_backward(cache, k, d, d_out, finals, dstates, consume)
            dinp = dinp if d == 0 else dinp[::-1]  # (T, B, I) back to time order
            d_in = dinp if d_in is None else np.add(d_in, dinp, out=d_in)  # (T, B, I)
        d_out = d_in
    dx = d_out[::-1] if cache.go_backwards else d_out
    return np.ascontiguousarray(dx), dstates[0], dstates[1] if lstm_like else None, dweights


def _direction_backward(cache: Cache, k, d, d_out, finals, dstates, consume):
    """One (layer, direction)'s backward: (d its input in processing order, its weight gradients)."""
    c, P, G = cache.directions[k], cache.P, cache.cell.gates
    dhs = None
    if d_out is not None:
        dhs = d_out[:, :, d * P:(d + 1) * P]  # (T, B, P)
        dhs = dhs if d == 0 else dhs[::-1]  # processing order
        if cache.keeps[d] is not None:
            dhs = dhs * cache.keeps[d]  # (T, B, P)
    dstate_T = tuple(None if f is None else f[k] for f in finals)
    dxw, dstate0, dparams = cache.cell.module.backward(dhs, dstate_T, c.cell, consume)
    for dst, g in zip(dstates, dstate0):
        dst[k] = g
    db = dxw.reshape(-1, dxw.shape[-1]).sum(axis=0)  # (G*H,)
    if c.compiled and c.in_mask is None:  # on the loops' threads
        T, B, I = c.inp.shape
        dxw_rows = dxw.reshape(T * B, -1)  # (T*B, G*H)
        dW_ih = kernels.matmul(dxw_rows.T, c.inp.reshape(T * B, I))  # (G*H, I)
        dinp = kernels.matmul(dxw_rows, c.w_ih).reshape(T, B, I)  # (T, B, I) processing order
    else:
        dW_ih = masked_matmul_dweight(dxw, c.inp, c.in_mask)  # (G*H, I)
        dinp = masked_matmul_dinput(dxw, c.w_ih, c.in_mask)  # (T, B, I) processing order
    dW_hh, db_hh, dW_hr = dparams.weight_grads(db)
    has_b_ih, has_b_hh = c.has_b
    grads = (dW_ih, dW_hh, db if has_b_ih else None, db_hh if has_b_hh else None, dW_hr)
    return dinp, {2: grads[:2], 3: (dW_ih, dW_hh, dW_hr), 4: grads[:4], 5: grads}[c.n]


def _keep(mask, masked_output, dtype):
    """(T, B, 1) factor applied to hs: 1 at valid steps; at masked ones 0 ('zero') or, for
    'carry', 1 once a valid step has been seen (hs then holds the last valid output)."""
    if mask is None:
        return None
    seen = mask if masked_output == "zero" else np.logical_or.accumulate(mask, axis=0)  # (T, B)
    return seen[:, :, None].astype(dtype)


def _dropout_mask(m, shape, G, dtype, name):
    """A dropout mask as ``dtype``, checked to be (B, K) or (G, B, K)."""
    m = np.asarray(m)
    if m.shape not in (shape, (G,) + shape):
        raise ValueError(f"{name}: expected shape {shape} or {(G,) + shape}, got {m.shape}")
    return m.astype(dtype, copy=False)
