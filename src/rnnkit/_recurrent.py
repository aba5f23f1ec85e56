"""The one autograd op behind every recurrent layer of both dialects.

:func:`recurrent` wraps :func:`rnnkit.cells.scan.forward` / :func:`~rnnkit.cells.scan.backward`
in a single :class:`~rnnkit._tensor.Function`: the whole multi-layer, bidirectional,
variable-length sequence is one node of the graph with a hand-written backward (BPTT), so
no per-step graph is ever built. ``rnnkit.nn.LSTM`` & co. and ``rnnkit.keras.layers.LSTM``
& co. all call it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from rnnkit._random import generator
from rnnkit._tensor import Function, Tensor, array_of, is_grad_enabled
from rnnkit.cells import scan, streaming

__all__ = ["needs_graph", "recurrent"]


class Recurrent(Function):
    """Inputs: x, then h0 and c0 when given, then every present weight in layout order."""

    def forward(self, x, *arrays, mode, has_h0, has_c0, layout, options):
        arrays = list(arrays)
        h0 = arrays.pop(0) if has_h0 else None
        c0 = arrays.pop(0) if has_c0 else None
        weights = [tuple(None if i is None else arrays[i] for i in slots) for slots in layout]
        self.has_h0, self.has_c0, self.layout, self.mode = has_h0, has_c0, layout, mode
        need_grad = is_grad_enabled() and any(self.needs_input_grad)
        opts = scan.Options(**options, need_grad=need_grad)
        out, h_n, c_n, cache = scan.forward(mode, x, h0, c0, weights, opts)
        self.save_for_backward(cache)  # the engine keeps it for retain_graph and frees it otherwise
        return (out, h_n, c_n) if mode == "LSTM" else (out, h_n)

    def backward(self, dout, dh_n, dc_n=None):
        (cache,) = self.saved
        # the cells may turn the cache's buffers into the gradients unless it must serve another backward
        dx, dh0, dc0, dweights = scan.backward(dout, dh_n, dc_n, cache, consume=not self.retain_saved)
        grads: list[np.ndarray | None] = [dx]
        if self.has_h0:
            grads.append(dh0)
        if self.has_c0:
            grads.append(dc0)
        flat = [None] * sum(i is not None for slots in self.layout for i in slots)
        for slots, dw in zip(self.layout, dweights):
            for i, g in zip(slots, dw):
                if i is not None:
                    flat[i] = g
        return tuple(grads + flat)


def needs_graph(*tensors: Any) -> bool:
    """Whether an op on ``tensors`` is recorded: grad mode is on and one of them requires grad."""
    return is_grad_enabled() and any(t is not None and getattr(t, "requires_grad", False) for t in tensors)


def _array(t: Tensor | np.ndarray | None) -> np.ndarray | None:
    return None if t is None else array_of(t)


def recurrent(
    mode: str,
    x: Tensor,
    h0: Tensor | None,
    c0: Tensor | None,
    weights: Sequence[Sequence[Tensor | None]],
    *,
    stream: streaming.Stream | None = None,
    **options: Any,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Run a recurrent layer stack as one differentiable op.

    Args:
        mode: ``'RNN_TANH'``, ``'RNN_RELU'``, ``'LSTM'`` or ``'GRU'``.
        x: (T, B, I) time-major input.
        h0: (L*D, B, H_out) or None for zeros; c0: (L*D, B, H) (LSTM) or None.
        weights: per (layer, direction) in PyTorch's order, a tuple
            ``(w_ih, w_hh, b_ih, b_hh, w_hr)`` with None for absent entries.
        stream: the caller's :class:`~rnnkit.cells.streaming.Stream` for a call with nothing to
            differentiate (a module keeps one, so that its streaming steps skip the repeated
            checks), else :func:`~rnnkit.cells.streaming.stream` is asked.
        **options: the fields of :class:`rnnkit.cells.scan.Options` (num_layers, bidirectional,
            proj_size, reset_after, lengths, mask, dropout, training, activation, ...). When
            ``dropout`` > 0 and no ``rng`` is given, rnnkit's global generator is used.

    Returns:
        ``(out, h_n, c_n)``: out (T, B, D*H_out), h_n (L*D, B, H_out), c_n (L*D, B, H) for
        LSTM, else None.
    """
    if options.get("dropout") and options.get("rng") is None:
        options["rng"] = generator()
    if not is_grad_enabled() or not needs_graph(x, h0, c0, *(w for group in weights for w in group)):
        # Nothing to differentiate (inference, streaming): no graph node, so skip the op's
        # bookkeeping and call the math directly; the outputs are the same plain tensors.
        arrays = _array(x), _array(h0), _array(c0), [tuple([None if w is None else array_of(w) for w in group])
                                                     for group in weights]
        done = (streaming.stream if stream is None else stream)(mode, *arrays, options)  # straight to the kernel
        out, h_n, c_n = done if done is not None else scan.forward(mode, *arrays,
                                                                   scan.Options(**options, need_grad=False))[:3]
        return Tensor._wrap(out), Tensor._wrap(h_n), None if c_n is None else Tensor._wrap(c_n)
    inputs: list[Tensor] = [x]
    if h0 is not None:
        inputs.append(h0)
    if c0 is not None:
        inputs.append(c0)
    flat: list[Tensor] = []
    layout = []
    for group in weights:
        slots = []
        for w in group:
            if w is None:
                slots.append(None)
            else:
                slots.append(len(flat))
                flat.append(w)
        layout.append(tuple(slots))
    outputs = Recurrent.apply(
        *inputs, *flat, mode=mode, has_h0=h0 is not None, has_c0=c0 is not None, layout=layout, options=options
    )
    if mode == "LSTM":
        return outputs
    out, h_n = outputs
    return out, h_n, None
