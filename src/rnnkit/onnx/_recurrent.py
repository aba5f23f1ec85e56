r"""Recurrent layers as ONNX: native ``LSTM``/``GRU``/``RNN`` nodes, or a ``Scan`` of elementary ops.

Both dialects describe a layer stack as a :class:`RecurrentSpec` in PyTorch's weight layout
(``w_ih`` (G*H, K), ``w_hh`` (G*H, P), ``b_ih``, ``b_hh`` (G*H,), ``w_hr`` (P, H)); :func:`emit`
writes it on time-major values.

Native nodes (one per layer, ``direction="bidirectional"`` for two directions, ``layout=0``):
the gate blocks are permuted to ONNX's order and the biases concatenated::

    LSTM  PyTorch i, f, g, o  ->  ONNX i, o, f, c        W (D, 4H, K), R (D, 4H, H), B (D, 8H) = [b_ih, b_hh]
    GRU   PyTorch r, z, n     ->  ONNX z, r, h           linear_before_reset = 1 (reset_after) or 0
    RNN   one block                                      activations Tanh or Relu

Variable lengths go to ``sequence_lens`` (the reverse direction then starts at each
sequence's last valid step, outputs past a length are zero: PyTorch's packed semantics).

What a node cannot express (an LSTM projection, other activations, a per-step mask with
Keras's carried output) becomes one ``Scan`` per layer and direction with the cell's
equations; ``x W_ih^T + b`` is computed for all steps before the scan. A Keras mask on a
layer the node can run is checked at run time (``If``): padding at the end goes to the node
with ``sequence_lens`` (carried outputs restored with a ``Where``), any other mask to the scan::

    LSTM  [i f g o] = xw_t + h W_hh^T;  c = σ(f) c + σ(i) act(g);  h = σ(o) act(c)  (then h W_hr^T)
    GRU   r, z = σ(xw_{r,z} + h W_hh,{r,z}^T + b_hh,{r,z})
          n = act(xw_n + r (h W_hn^T + b_hn))  (reset_after)  or  act(xw_n + (r h) W_hn^T)  (b_hn in xw)
          h = (1 - z) n + z h
    RNN   h = act(xw_t + h W_hh^T)
    mask  a masked step keeps h and c; its output is zero or (``carry``) the previous output

Shapes: T time, B batch, K layer input, H hidden, P output (proj_size or H), D directions, L layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnkit.cells.scan import CELLS  # mode -> its cell, with its gate blocks G
from rnnkit.onnx._graph import Graph

__all__ = ["RecurrentSpec", "emit", "activation", "reorder_blocks", "ONNX_ORDER"]

ONNX_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}  # PyTorch block index for each ONNX block
_DEFAULT_ACTIVATIONS = {"RNN_TANH": ("tanh", "sigmoid"), "RNN_RELU": ("relu", "sigmoid"),
                        "LSTM": ("tanh", "sigmoid"), "GRU": ("tanh", "sigmoid")}


@dataclass
class RecurrentSpec:
    """A stack of recurrent layers in PyTorch's layout (from ``rnnkit.nn`` or a Keras layer)."""

    mode: str  # 'RNN_TANH' | 'RNN_RELU' | 'LSTM' | 'GRU'
    hidden_size: int  # H
    weights: list = field(default_factory=list)  # per (layer, direction): (w_ih, w_hh, b_ih|None, b_hh|None, w_hr|None)
    num_layers: int = 1  # L
    bidirectional: bool = False  # D = 2
    proj_size: int = 0  # P < H for an LSTM projection, 0 for none
    reset_after: bool = True  # GRU form (PyTorch's; Keras's reset_after=False is the other)
    activation: str = "tanh"  # Keras name of the candidate/output activation
    recurrent_activation: str = "sigmoid"  # Keras name of the gate activation
    dtype: type = np.float32  # element type of weights and activations

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def out_size(self) -> int:
        return self.proj_size or self.hidden_size

    def native(self) -> bool:
        """Whether ONNX's own node runs this layer exactly (without a per-step mask). float64 layers take the
        Scan: the node allows double, but ONNX Runtime's LSTM/GRU/RNN kernels are float32 only."""
        return (not self.proj_size and np.dtype(self.dtype) == np.float32
                and (self.activation, self.recurrent_activation) == _DEFAULT_ACTIVATIONS[self.mode])


def activation(g: Graph, name: str, x: str) -> str:
    """Keras activation ``name`` (the cells' registry) applied to ``x`` with ONNX ops."""
    simple = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu", "exponential": "Exp", "elu": "Elu",
              "selu": "Selu", "softplus": "Softplus", "softsign": "Softsign"}
    if name in simple:
        return g.op(simple[name], [x])
    if name == "linear":
        return x
    if name == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6
        return g.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
    if name in ("silu", "swish"):  # x σ(x)
        return g.op("Mul", [x, g.op("Sigmoid", [x])])
    if name == "gelu":  # exact: x Φ(x) = x (1 + erf(x / √2)) / 2
        half = g.const(np.asarray(0.5, np.float32))
        erf = g.op("Erf", [g.op("Mul", [x, g.const(np.asarray(1 / np.sqrt(2), np.float32))])])
        return g.op("Mul", [g.op("Mul", [x, half]), g.op("Add", [erf, g.const(np.asarray(1.0, np.float32))])])
    raise ValueError(f"activation: layer {g.scope!r} uses {name!r}, which rnnkit cannot write as ONNX ops")


def reorder_blocks(a: np.ndarray, order: list[int], gates: int) -> np.ndarray:
    """The ``gates`` blocks of ``a`` along axis 0 in the given order (block ``order[i]`` goes to place i)."""
    return np.concatenate([np.split(a, gates, axis=0)[i] for i in order], axis=0)


def _dim(g: Graph, x: str, axis: int) -> str:
    """Size of ``x`` along ``axis`` as a 1-D int64 tensor of one element."""
    return g.op("Gather", [g.op("Shape", [x]), g.ints([axis])], axis=0)


def _zeros_state(g: Graph, x_tm: str, size: int, dtype) -> str:
    """(B, size) zeros, B read from x (T, B, K)."""
    from onnx import numpy_helper

    shape = g.op("Concat", [_dim(g, x_tm, 1), g.ints([size])], axis=0)
    return g.op("ConstantOfShape", [shape], value=numpy_helper.from_array(np.zeros(1, dtype)))


def _state_slice(g: Graph, state: str | None, start: int, stop: int) -> str | None:
    """state[start:stop] along axis 0, or None."""
    if state is None:
        return None
    return g.op("Slice", [state, g.ints([start]), g.ints([stop]), g.ints([0])])


def emit(g: Graph, spec: RecurrentSpec, x_tm: str, h0: str | None = None, c0: str | None = None,
         lengths: str | None = None, mask: str | None = None, masked_output: str = "zero",
         go_backwards: bool = False) -> tuple[str, str, str | None]:
    """Write the layer stack on ``x_tm`` (T, B, K).

    Args:
        g: the graph.
        spec: the layers.
        x_tm: time-major input.
        h0: (L*D, B, P) initial hidden states or None (zeros); c0: (L*D, B, H) (LSTM) or None.
        lengths: (B,) int64 valid lengths (PyTorch semantics) or None.
        mask: (T, B) bool per-step mask (Keras semantics) or None; not with ``lengths``.
        masked_output: ``'zero'`` or ``'carry'`` (Keras's previous output) at masked steps.
        go_backwards: Keras's: one direction, run from the last step; outputs in processing order.

    Returns:
        ``(y, h_n, c_n)``: y (T, B, D*P), h_n (L*D, B, P), c_n (L*D, B, H) for LSTM else None.
    """
    if mask is None and spec.native():
        return _native(g, spec, x_tm, h0, c0, lengths, go_backwards)
    if lengths is not None:  # a prefix mask: step t is valid while t < length
        return _scanned(g, spec, x_tm, h0, c0, _prefix_mask(g, x_tm, lengths), masked_output, go_backwards)
    if spec.native() and spec.num_layers == 1:
        return _masked_native_or_scan(g, spec, x_tm, h0, c0, mask, masked_output, go_backwards)
    return _scanned(g, spec, x_tm, h0, c0, mask, masked_output, go_backwards)


def _prefix_mask(g: Graph, x_tm: str, lengths: str) -> str:
    """(T, B) bool: t < lengths[b]."""
    T = g.op("Squeeze", [_dim(g, x_tm, 0), g.ints([0])])
    steps = g.op("Range", [g.const(np.asarray(0, np.int64)), T, g.const(np.asarray(1, np.int64))])  # (T,)
    return g.op("Less", [g.op("Unsqueeze", [steps, g.ints([1])]), g.op("Unsqueeze", [lengths, g.ints([0])])])


def _count(g: Graph, flags: str) -> str:
    """Number of true entries of a bool tensor, a scalar int64."""
    return g.op("ReduceSum", [g.op("Cast", [flags], to=7)], keepdims=0)


def _masked_native_or_scan(g, spec, x_tm, h0, c0, mask, masked_output, go_backwards):
    """A Keras mask: ONNX's node with ``sequence_lens`` when every row of the mask is a prefix of
    valid steps (padding at the end, at least one valid step), else the Scan; chosen at run time
    by an ``If``, so both give Keras's numbers for any mask."""
    lengths = g.op("ReduceSum", [g.op("Cast", [mask], to=7), g.ints([0])], keepdims=0)  # (B,)
    holes = _count(g, g.op("Xor", [mask, _prefix_mask(g, x_tm, lengths)]))
    empty = _count(g, g.op("Less", [lengths, g.const(np.asarray(1, np.int64))]))
    zero = g.const(np.asarray(0, np.int64))
    prefix = g.op("And", [g.op("Equal", [holes, zero]), g.op("Equal", [empty, zero])])

    native = g.subgraph()
    y, h_n, c_n = _native(native, spec, x_tm, h0, c0, lengths, go_backwards)
    if masked_output == "carry" and not go_backwards:
        # Keras repeats the last valid output over the padding; ONNX writes zeros there. The
        # reverse direction meets the padding before any valid step, where Keras's output is zero too.
        last = native.op("Gather", [h_n, native.const(np.asarray(0, np.int64))], axis=0)  # (B, P) forward
        if spec.directions == 2:
            last = native.op("Concat", [last, native.op("Mul", [last, native.const(np.asarray(0, spec.dtype))])],
                             axis=-1)  # (B, 2P): the backward half stays zero
        valid = native.op("Unsqueeze", [mask, native.ints([2])])  # (T, B, 1)
        y = native.op("Where", [valid, y, last])
    scan = g.subgraph()
    outputs = [_scanned(scan, spec, x_tm, h0, c0, mask, masked_output, go_backwards), (y, h_n, c_n)]
    for branch, values in zip((scan, native), outputs):
        for value in values:
            if value is not None:
                branch.body_output(value, spec.dtype)
    count = 3 if spec.mode == "LSTM" else 2
    results = g.op("If", [prefix], count, then_branch=native.graph_proto(g.fresh(f"{g.scope}/lengths")),
                   else_branch=scan.graph_proto(g.fresh(f"{g.scope}/scan")))
    return results[0], results[1], results[2] if count == 3 else None


# -- native nodes ----------------------------------------------------------------------------
def _native(g, spec, x_tm, h0, c0, lengths, go_backwards):
    mode, H, D, G = spec.mode, spec.hidden_size, spec.directions, CELLS[spec.mode].gates
    op = {"LSTM": "LSTM", "GRU": "GRU"}.get(mode, "RNN")
    order = ONNX_ORDER.get(mode, [0])
    seq_lens = "" if lengths is None else g.op("Cast", [lengths], to=6)  # int32
    direction = "bidirectional" if D == 2 else "reverse" if go_backwards else "forward"
    x, hs, cs = x_tm, [], []
    for layer in range(spec.num_layers):
        group = spec.weights[layer * D:(layer + 1) * D]
        W = np.stack([reorder_blocks(w[0], order, G) for w in group])  # (D, G*H, K)
        R = np.stack([reorder_blocks(w[1], order, G) for w in group])  # (D, G*H, H)
        has_bias = any(w[2] is not None or w[3] is not None for w in group)
        inputs = [x, g.const(W.astype(spec.dtype), "W"), g.const(R.astype(spec.dtype), "R")]
        if has_bias:
            zeros = np.zeros(G * H, spec.dtype)
            B = np.stack([np.concatenate([reorder_blocks(zeros if w[2] is None else w[2], order, G),
                                          reorder_blocks(zeros if w[3] is None else w[3], order, G)]) for w in group])
            inputs.append(g.const(B.astype(spec.dtype), "B"))  # (D, 2*G*H)
        else:
            inputs.append("")
        inputs += [seq_lens, _state_slice(g, h0, layer * D, (layer + 1) * D) or ""]
        if mode == "LSTM":
            inputs.append(_state_slice(g, c0, layer * D, (layer + 1) * D) or "")
        while inputs and inputs[-1] == "":
            inputs.pop()
        attrs = {"hidden_size": H, "direction": direction, "layout": 0 if g.opset >= 14 else None}
        if mode == "GRU":
            attrs["linear_before_reset"] = int(spec.reset_after)
        if op == "RNN":
            attrs["activations"] = ["Relu" if mode == "RNN_RELU" else "Tanh"] * D
        outs = g.op(op, inputs, 3 if mode == "LSTM" else 2, **attrs)
        Y = g.op("Transpose", [outs[0]], perm=[0, 2, 1, 3])  # (T, B, D, H)
        x = g.op("Reshape", [Y, g.ints([0, 0, -1])])  # (T, B, D*H)
        hs.append(outs[1])
        if mode == "LSTM":
            cs.append(outs[2])
    if go_backwards:  # Keras returns the sequence in processing order
        x = g.op("Slice", [x, g.ints([-1]), g.ints([np.iinfo(np.int64).min]), g.ints([0]), g.ints([-1])])
    h_n = hs[0] if len(hs) == 1 else g.op("Concat", hs, axis=0)
    c_n = None if not cs else cs[0] if len(cs) == 1 else g.op("Concat", cs, axis=0)
    return x, h_n, c_n


# -- Scan of elementary ops ----------------------------------------------------------------------
def _scanned(g, spec, x_tm, h0, c0, mask, masked_output, go_backwards):
    mode, D = spec.mode, spec.directions
    mask3 = None if mask is None else g.op("Unsqueeze", [mask, g.ints([2])])  # (T, B, 1)
    x, hs, cs = x_tm, [], []
    for layer in range(spec.num_layers):
        ys = []
        for direction in range(D):
            index = layer * D + direction
            reverse = direction == 1 or go_backwards
            h, c, y = _scan_one(g, spec, spec.weights[index], x, _state_slice(g, h0, index, index + 1),
                                _state_slice(g, c0, index, index + 1) if mode == "LSTM" else None,
                                mask3, masked_output, reverse, keep_order=not go_backwards)
            ys.append(y)
            hs.append(h)
            if c is not None:
                cs.append(c)
        x = ys[0] if D == 1 else g.op("Concat", ys, axis=-1)  # (T, B, D*P)
    h_n = hs[0] if len(hs) == 1 else g.op("Concat", hs, axis=0)
    c_n = None if not cs else cs[0] if len(cs) == 1 else g.op("Concat", cs, axis=0)
    return x, h_n, c_n


def _scan_one(g, spec, weights, x, h0, c0, mask3, masked_output, reverse, keep_order):
    """One layer, one direction: returns (h_n (1, B, P), c_n (1, B, H) | None, y (T, B, P))."""
    mode, H, P, G, dt = spec.mode, spec.hidden_size, spec.out_size, CELLS[spec.mode].gates, spec.dtype
    w_ih, w_hh, b_ih, b_hh, w_hr = weights
    folded = np.zeros(G * H, dt) if b_ih is None else b_ih.astype(dt)
    inner_bias = None  # the part of b_hh added inside the step
    if b_hh is not None:
        if mode == "GRU" and spec.reset_after:
            folded = folded + np.concatenate([b_hh[:2 * H], np.zeros(H, dt)])
            inner_bias = np.concatenate([np.zeros(2 * H, dt), b_hh[2 * H:]]).astype(dt)
        else:
            folded = folded + b_hh
    xw = g.op("Add", [g.op("MatMul", [x, g.const(w_ih.T.astype(dt), "w_ih_T")]), g.const(folded.astype(dt), "b")])

    body = g.subgraph()
    h_in = body.body_input("h_prev", dt)
    c_in = body.body_input("c_prev", dt) if mode == "LSTM" else None
    o_in = body.body_input("out_prev", dt) if mask3 is not None and masked_output == "carry" else None
    xw_t = body.body_input("xw_t", dt)
    m_t = body.body_input("mask_t", np.bool_) if mask3 is not None else None

    act = lambda v: activation(body, spec.activation, v)  # noqa: E731
    gate = lambda v: activation(body, spec.recurrent_activation, v)  # noqa: E731
    split = lambda v, n: body.op("Split", [v, body.ints([H] * n)], n, axis=-1)  # noqa: E731
    c_new = None
    if mode == "LSTM":
        gates = body.op("Add", [xw_t, body.op("MatMul", [h_in, g.const(w_hh.T.astype(dt), "w_hh_T")])])  # (B, 4H)
        i, f, gg, o = split(gates, 4)
        c_new = body.op("Add", [body.op("Mul", [gate(f), c_in]), body.op("Mul", [gate(i), act(gg)])])  # (B, H)
        h_new = body.op("Mul", [gate(o), act(c_new)])  # (B, H)
        if w_hr is not None:
            h_new = body.op("MatMul", [h_new, g.const(w_hr.T.astype(dt), "w_hr_T")])  # (B, P)
    elif mode == "GRU":
        xr, xz, xn = split(xw_t, 3)
        if spec.reset_after:
            rec = body.op("MatMul", [h_in, g.const(w_hh.T.astype(dt), "w_hh_T")])  # (B, 3H)
            if inner_bias is not None:
                rec = body.op("Add", [rec, g.const(inner_bias, "b_hn")])
            hr, hz, hn = split(rec, 3)
            r, z = gate(body.op("Add", [xr, hr])), gate(body.op("Add", [xz, hz]))
            n = act(body.op("Add", [xn, body.op("Mul", [r, hn])]))
        else:
            rec = body.op("MatMul", [h_in, g.const(w_hh[:2 * H].T.astype(dt), "w_hrz_T")])  # (B, 2H)
            hr, hz = body.op("Split", [rec, body.ints([H, H])], 2, axis=-1)
            r, z = gate(body.op("Add", [xr, hr])), gate(body.op("Add", [xz, hz]))
            n = act(body.op("Add", [xn, body.op("MatMul", [body.op("Mul", [r, h_in]),
                                                             g.const(w_hh[2 * H:].T.astype(dt), "w_hn_T")])]))
        one_minus_z = body.op("Sub", [g.const(np.asarray(1, dt)), z])
        h_new = body.op("Add", [body.op("Mul", [one_minus_z, n]), body.op("Mul", [z, h_in])])  # (B, H)
    else:
        h_new = act(body.op("Add", [xw_t, body.op("MatMul", [h_in, g.const(w_hh.T.astype(dt), "w_hh_T")])]))

    y_t = h_new
    if m_t is not None:
        h_out = body.op("Where", [m_t, h_new, h_in])
        c_out = None if c_new is None else body.op("Where", [m_t, c_new, c_in])
        y_t = body.op("Where", [m_t, h_new, o_in if o_in is not None else g.const(np.asarray(0, dt))])
    else:
        h_out, c_out = h_new, c_new
    body.body_output(h_out, dt)
    if c_out is not None:
        body.body_output(c_out, dt)
    if o_in is not None:
        body.body_output(y_t, dt)
    body.body_output(y_t, dt)

    h_start = _squeeze0(g, h0) if h0 is not None else _zeros_state(g, x, P, dt)
    init = [h_start]
    if mode == "LSTM":
        init.append(_squeeze0(g, c0) if c0 is not None else _zeros_state(g, x, H, dt))
    if o_in is not None:
        init.append(_zeros_state(g, x, P, dt))
    scans = [xw] + ([mask3] if mask3 is not None else [])
    n_state = len(init)
    direction = int(reverse)
    outs = g.op("Scan", init + scans, n_state + 1, body=body.graph_proto(g.fresh(f"{g.scope}/step")),
                num_scan_inputs=len(scans), scan_input_directions=[direction] * len(scans),
                scan_output_directions=[direction if keep_order else 0])
    h_n = g.op("Unsqueeze", [outs[0], g.ints([0])])  # (1, B, P)
    c_n = g.op("Unsqueeze", [outs[1], g.ints([0])]) if mode == "LSTM" else None
    return h_n, c_n, outs[-1]


def _squeeze0(g: Graph, state: str) -> str:
    return g.op("Squeeze", [state, g.ints([0])])
