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

Modes: ``'RNN_TANH'``, ``'RNN_RELU'``, ``'LSTM'``, ``'GRU'`` (PyTorch's names). ``activation``
(Keras) replaces the RNN nonlinearity or the LSTM/GRU candidate activation;
``recurrent_activation`` the LSTM/GRU gate activation.

Shapes: T time, B batch, I input, H hidden, P = proj_size or H (output size), L layers,
D directions (2 if bidirectional), G gates (1, 4, 3).

Example:
    >>> import numpy as np
    >>> from rnnkit.cells import scan
    >>> rng = np.random.default_rng(0)
    >>> T, B, I, H = 6, 2, 3, 4
    >>> w = [tuple(rng.normal(size=s) for s in [(4 * H, I), (4 * H, H), (4 * H,), (4 * H,)])]
    >>> out, h_n, c_n, cache = scan.forward("LSTM", rng.normal(size=(T, B, I)), None, None, w,
    ...                                     num_layers=1, bidirectional=False, lengths=np.array([6, 3]))
    >>> bool((out[3:, 1] == 0).all()), h_n.shape
    (True, (1, 2, 4))
    >>> dx, dh0, dc0, dw = scan.backward(np.ones_like(out), None, None, cache)
    >>> dx.shape, [g.shape for g in dw[0]]
    ((6, 2, 3), [(16, 3), (16, 4), (16,), (16,)])
"""

from __future__ import annotations

import numpy as np

from rnnkit.cells import _kernels, activations, gru, lstm, rnn
from rnnkit.cells.rnn import masked_matmul, masked_matmul_dinput, masked_matmul_dweight

__all__ = ["forward", "backward", "MODES"]

MODES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}  # mode -> gates G


def _normalize_weights(weights, n, mode, dtype, proj_size):
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
            if a is not None and (not isinstance(a, np.ndarray) or a.dtype != dtype):
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


def forward(mode, x, h0, c0, weights, *, num_layers=1, bidirectional=False, proj_size=0, reset_after=True,
            lengths=None, mask=None, dropout=0.0, training=False, rng=None, activation=None,
            recurrent_activation=None, input_dropout_masks=None, rec_dropout_masks=None, go_backwards=False,
            masked_output="zero", need_grad=True):
    """Run a stack of recurrent layers over a time-major sequence.

    Args:
        mode: ``'RNN_TANH'``, ``'RNN_RELU'``, ``'LSTM'`` or ``'GRU'``.
        x: (T, B, I) float32 or float64; everything keeps its dtype.
        h0: (L*D, B, P) or None (zeros); c0: (L*D, B, H) or None (zeros), LSTM only.
        weights: L*D tuples in PyTorch's order (l0, l0_reverse, l1, ...), each
            ``(w_ih, w_hh)``, ``(w_ih, w_hh, w_hr)``, ``(w_ih, w_hh, b_ih, b_hh)`` or
            ``(w_ih, w_hh, b_ih, b_hh, w_hr)``, PyTorch's shapes, None for an absent bias.
        num_layers, bidirectional, proj_size (LSTM only), reset_after (GRU): as in PyTorch/Keras.
        lengths: optional (B,) ints in [0, T]: prefix masks. mask: optional bool (T, B). Not both.
        dropout: between layers (not after the last), only when ``training``; masks drawn from
            ``rng`` (an ``np.random.Generator``, required then), scaled by 1/(1-p).
        activation, recurrent_activation: Keras activation names (see the module docstring).
        input_dropout_masks, rec_dropout_masks: None or a list of L*D entries, each None,
            (B, K) or (G, B, K) (K = layer input size or P), multiplied into x or h_{t-1}.
        go_backwards: Keras's: flip x and mask in time first; outputs stay in processing order.
        masked_output: ``'zero'`` or ``'carry'`` output at masked steps (module docstring).
        need_grad: False keeps no cache (inference); :func:`backward` then refuses.

    Returns:
        ``(out, h_n, c_n, cache)``: out (T, B, D*P), h_n (L*D, B, P), c_n (L*D, B, H) for LSTM
        else None, cache for :func:`backward` (None when ``need_grad`` is False).
    """
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {sorted(MODES)}, got {mode!r}")
    if not isinstance(x, np.ndarray) or x.ndim != 3 or x.dtype not in (np.float32, np.float64):
        raise TypeError(f"x: expected a float32/float64 (T, B, I) ndarray, got "
                        f"{getattr(x, 'shape', type(x).__name__)} {getattr(x, 'dtype', '')}")
    T, B, _ = x.shape
    if T < 1:
        raise ValueError("x: expected at least one time step, got T=0")
    if not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"num_layers: expected an int >= 1, got {num_layers!r}")
    if proj_size and mode != "LSTM":
        raise ValueError(f"proj_size: only LSTM has a projection, got proj_size={proj_size} with mode {mode}")
    if masked_output not in ("zero", "carry"):
        raise ValueError(f"masked_output: expected 'zero' or 'carry', got {masked_output!r}")
    if not 0.0 <= dropout <= 1.0:
        raise ValueError(f"dropout: expected a probability in [0, 1], got {dropout}")
    if c0 is not None and mode != "LSTM":
        raise ValueError(f"c0: only LSTM has a cell state, got c0 with mode {mode}")
    drop = training and dropout > 0 and num_layers > 1
    if drop and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected an np.random.Generator when dropout > 0 in training, got {type(rng).__name__}")
    G, D, L, dtype = MODES[mode], 2 if bidirectional else 1, num_layers, x.dtype
    ws = _normalize_weights(weights, L * D, mode, dtype, proj_size)
    H = ws[0][0][1].shape[0] // G
    P = proj_size or H
    h0 = _state(h0, (L * D, B, P), dtype, "h0")
    c0 = _state(c0, (L * D, B, H), dtype, "c0") if mode == "LSTM" else None
    in_masks = _per_layer(input_dropout_masks, L * D, "input_dropout_masks")
    rec_masks = _per_layer(rec_dropout_masks, L * D, "rec_dropout_masks")
    mask = _build_mask(lengths, mask, T, B)
    if go_backwards:
        x = x[::-1]
        mask = None if mask is None else mask[::-1]
    if mode in ("LSTM", "GRU"):
        kw = dict(activation=activation or "tanh", recurrent_activation=recurrent_activation or "sigmoid")
    else:
        kw = dict(activation=activation or ("relu" if mode == "RNN_RELU" else "tanh"))
    masks_d = [mask, None if mask is None else mask[::-1]][:D]  # per direction, processing order
    keeps = [_keep(m, masked_output, dtype) for m in masks_d]  # (T, B, 1) output factor or None
    # Streaming-sized inference (e.g. one step, B = 1) on the compiled kernel: one call per
    # layer does the input projection too, since per-call overheads outweigh the arithmetic.
    tiny = (not need_grad and mask is None and not proj_size and T * B <= _kernels.SMALL_BATCH
            and mode in ("LSTM", "GRU") and _kernels.fused(activations.get(kw["activation"]), activations.get(
                kw["recurrent_activation"], "recurrent_activation"), None, reset_after=reset_after))

    h_n = np.empty((L * D, B, P), dtype)
    c_n = np.empty((L * D, B, H), dtype) if mode == "LSTM" else None
    layer_in = x
    caches, drops = [], []
    for layer in range(L):
        single = L * D == 1 and keeps[0] is None  # one layer, one direction, no mask: the output is the cell's hs
        out = None if single else np.empty((T, B, D * P), dtype)  # (T, B, D*P)
        for d in range(D):
            k = layer * D + d
            (w_ih, w_hh, b_ih, b_hh, w_hr), _ = ws[k]
            I = layer_in.shape[-1]
            if w_ih.shape != (G * H, I) or w_hh.shape != (G * H, P):
                raise ValueError(f"weights[{k}]: expected w_ih {(G * H, I)} and w_hh {(G * H, P)}, got "
                                 f"{w_ih.shape} and {w_hh.shape}")
            inp = layer_in if d == 0 else layer_in[::-1]  # (T, B, I) processing order
            in_mask = _dropout_mask(in_masks[k], (B, I), G, dtype, f"input_dropout_masks[{k}]")
            rec_mask = _dropout_mask(rec_masks[k], (B, P), G, dtype, f"rec_dropout_masks[{k}]")
            b, b_hn = _fold_bias(mode, b_ih, b_hh, H, reset_after)
            c_T = cell_cache = None
            if tiny and in_mask is None and rec_mask is None:
                hs, h_T, c_T = _tiny_inference(mode, inp, w_ih, b, w_hh, b_hn, h0[k], None if c0 is None else c0[k])
            else:
                xw = masked_matmul(inp, in_mask, w_ih.T)  # (T, B, G*H) x W_ih^T
                if b is not None:
                    xw += b  # (T, B, G*H)
                cell_kw = dict(kw, mask=masks_d[d], rec_mask=rec_mask)
                if mode == "LSTM":
                    hs, h_T, c_T, cell_cache = lstm.forward(xw, h0[k], c0[k], w_hh, w_hr, overwrite_xw=True,
                                                            **cell_kw)
                elif mode == "GRU":
                    hs, h_T, cell_cache = gru.forward(xw, h0[k], w_hh, b_hn, reset_after=reset_after,
                                                      overwrite_xw=True, **cell_kw)
                else:
                    hs, h_T, cell_cache = rnn.forward(xw, h0[k], w_hh, **cell_kw)
            if c_T is not None:
                c_n[k] = c_T
            h_n[k] = h_T
            if single:
                out = hs  # (T, B, P) no copy; read-only when the backward reads it (as h_{t-1}),
                if need_grad:  # so that an in-place edit fails instead of corrupting the gradients
                    out.flags.writeable = False
            else:
                dst = out[:, :, d * P:(d + 1) * P]  # (T, B, P)
                dst = dst if d == 0 else dst[::-1]  # processing order
                if keeps[d] is None:
                    np.copyto(dst, hs)  # (T, B, P)
                else:
                    np.multiply(hs, keeps[d], out=dst)  # (T, B, P) zero / carry at masked steps
            if need_grad:
                caches.append(dict(inp=inp, in_mask=in_mask, cell=cell_cache, w_ih=w_ih, has_b=(b_ih is not None,
                                   b_hh is not None), n=ws[k][1]))
        drop_mask = None
        if drop and layer < L - 1:
            keep_p = 1.0 - dropout
            drop_mask = (rng.random(out.shape, dtype=dtype) < keep_p).astype(dtype)  # (T, B, D*P)
            if keep_p > 0:
                drop_mask *= 1.0 / keep_p
            out *= drop_mask  # (T, B, D*P)
        drops.append(drop_mask)
        layer_in = out
    cache = None
    if need_grad:
        cache = dict(mode=mode, caches=caches, drops=drops, keeps=keeps, L=L, D=D, P=P, H=H, G=G, T=T, B=B,
                     dtype=dtype, reset_after=reset_after, go_backwards=go_backwards)
    return layer_in, h_n, c_n, cache


def backward(dout, dh_n, dc_n, cache, consume=False):
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
    mode, L, D, P, H, G, T, B, dtype = (cache[k] for k in ("mode", "L", "D", "P", "H", "G", "T", "B", "dtype"))
    for name, g, shape in (("dout", dout, (T, B, D * P)), ("dh_n", dh_n, (L * D, B, P)), ("dc_n", dc_n, (L * D, B, H))):
        if g is not None and np.shape(g) != shape:
            raise ValueError(f"{name}: expected shape {shape}, got {np.shape(g)}")
    dh0 = np.zeros((L * D, B, P), dtype)
    dc0 = np.zeros((L * D, B, H), dtype) if mode == "LSTM" else None
    dweights = [None] * (L * D)
    d_out = dout
    for layer in range(L - 1, -1, -1):
        if d_out is not None and cache["drops"][layer] is not None:
            d_out = d_out * cache["drops"][layer]  # (T, B, D*P)
        d_in = None
        for d in range(D):
            k = layer * D + d
            c = cache["caches"][k]
            dhs = None
            if d_out is not None:
                dhs = d_out[:, :, d * P:(d + 1) * P]  # (T, B, P)
                dhs = dhs if d == 0 else dhs[::-1]  # processing order
                if cache["keeps"][d] is not None:
                    dhs = dhs * cache["keeps"][d]  # (T, B, P)
            dh_T = None if dh_n is None else dh_n[k]
            if mode == "LSTM":
                dxw, dh0[k], dc0[k], dW_hh, dW_hr = lstm.backward(dhs, dh_T, None if dc_n is None else dc_n[k],
                                                                   c["cell"], consume)
                extra = dW_hr
            elif mode == "GRU":
                dxw, dh0[k], dW_hh, db_hn = gru.backward(dhs, dh_T, c["cell"], consume)
                extra = db_hn
            else:
                dxw, dh0[k], dW_hh = rnn.backward(dhs, dh_T, c["cell"])
                extra = None
            dW_ih = masked_matmul_dweight(dxw, c["inp"], c["in_mask"])  # (G*H, I)
            db = dxw.reshape(-1, G * H).sum(axis=0)  # (G*H,)
            dinp = masked_matmul_dinput(dxw, c["w_ih"], c["in_mask"])  # (T, B, I) processing order
            if d_in is None:
                d_in = dinp if d == 0 else dinp[::-1]
            else:
                d_in += dinp if d == 0 else dinp[::-1]  # (T, B, I)
            dweights[k] = _weight_grads(mode, c, dW_ih, dW_hh, db, extra, H, cache["reset_after"])
        d_out = d_in
    dx = d_out[::-1] if cache["go_backwards"] else d_out
    return np.ascontiguousarray(dx), dh0, dc0, dweights


def _tiny_inference(mode, x, w_ih, b, w_hh, b_hn, h0, c0):
    """One layer and direction, input projection included, in one compiled call (no cache)."""
    T, B, _ = x.shape
    G = np.empty((T, B, w_hh.shape[0]), x.dtype)  # (T, B, G*H) gate activations
    if mode == "LSTM":
        hs, cs = _kernels.lstm_forward(G, h0, c0, w_hh, None, project=(x, w_ih, b))
        return hs[1:], hs[T], cs[T]
    hs, _ = _kernels.gru_forward(G, h0, w_hh, b_hn, None, project=(x, w_ih, b))
    return hs[1:], hs[T], None


def _keep(mask, masked_output, dtype):
    """(T, B, 1) factor applied to hs: 1 at valid steps; at masked ones 0 ('zero') or, for
    'carry', 1 once a valid step has been seen (hs then holds the last valid output)."""
    if mask is None:
        return None
    seen = mask if masked_output == "zero" else np.logical_or.accumulate(mask, axis=0)  # (T, B)
    return seen[:, :, None].astype(dtype)


def _dropout_mask(m, shape, G, dtype, name):
    """A dropout mask as ``dtype``, checked to be (B, K) or (G, B, K)."""
    if m is None:
        return None
    m = np.asarray(m)
    if m.shape not in (shape, (G,) + shape):
        raise ValueError(f"{name}: expected shape {shape} or {(G,) + shape}, got {m.shape}")
    return m.astype(dtype, copy=False)


def _fold_bias(mode, b_ih, b_hh, H, reset_after):
    """(bias added to xw, b_hn kept inside the GRU reset or None)."""
    b_hn = None
    if mode == "GRU" and reset_after and b_hh is not None:
        b_hn = b_hh[2 * H:]
        b_hh = np.concatenate([b_hh[:2 * H], np.zeros_like(b_hn)])  # (3H,) r, z parts only
    if b_ih is None:
        return b_hh, b_hn
    return (b_ih if b_hh is None else b_ih + b_hh), b_hn


def _weight_grads(mode, c, dW_ih, dW_hh, db, extra, H, reset_after):
    """Per-(layer, direction) gradients in the order and length the weights came in."""
    has_b_ih, has_b_hh = c["has_b"]
    db_ih = db if has_b_ih else None
    db_hh = None
    if has_b_hh:
        db_hh = db
        if mode == "GRU" and reset_after:
            db_hh = np.concatenate([db[:2 * H], extra])  # (3H,) b_hn's gradient from the cell
    dW_hr = extra if mode == "LSTM" else None
    n = c["n"]
    if n == 2:
        return (dW_ih, dW_hh)
    if n == 3:
        return (dW_ih, dW_hh, dW_hr)
    return (dW_ih, dW_hh, db_ih, db_hh, dW_hr)[:n]
