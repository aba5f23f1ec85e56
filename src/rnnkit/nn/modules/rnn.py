"""``RNN``, ``LSTM``, ``GRU`` and their cells with PyTorch's arguments, names and shapes.

Every module here is a thin shell: it validates arguments, owns PyTorch-named parameters
(``weight_ih_l0``, ``bias_hh_l1_reverse``, ``weight_hr_l0``...) and calls the one recurrent
autograd op, :func:`rnnkit._recurrent.recurrent`, which runs the pure cell math of
:mod:`rnnkit.cells`. The cells (``LSTMCell``...) are the same op over one time step.

Shapes: T time, B batch, I input, H hidden, P proj_size, D directions, L layers;
H_out = P if proj_size > 0 else H.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rnnkit._random import generator
from rnnkit._tensor import Tensor, array_of, as_tensor
from rnnkit import _ops
from rnnkit._recurrent import needs_graph, recurrent
from rnnkit._validation import check_dtype, check_size, float_input
from rnnkit.cells import streaming
from rnnkit.nn.modules.module import Module, Parameter
from rnnkit.nn.utils.rnn import PackedSequence, packed_to_padded, padded_to_packed

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
_CELL_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")  # a cell's parameters, in the op's order


def _init_uniform(shape: tuple[int, ...], bound: float, dtype: np.dtype) -> Parameter:
    return Parameter(generator().uniform(-bound, bound, size=shape).astype(dtype))


class RNNBase(Module):
    """Shared constructor, parameters and forward of :class:`RNN`, :class:`LSTM` and :class:`GRU`."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        reset_after: bool = True,
        dtype: Any = np.float32,
    ):
        super().__init__()
        self._stream = streaming.Stream()  # its streaming calls' checks, kept between them
        self.mode = mode
        self.input_size = check_size("input_size", input_size, 1)
        self.hidden_size = check_size("hidden_size", hidden_size, 1)
        self.num_layers = check_size("num_layers", num_layers, 1)
        self.proj_size = check_size("proj_size", proj_size)
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"dropout: expected a number in [0, 1], got {dropout!r}")
        if self.proj_size and mode != "LSTM":
            raise ValueError(f"proj_size: only LSTM supports a projection, got proj_size={proj_size} for {mode}")
        if self.proj_size >= self.hidden_size:
            raise ValueError(f"proj_size: expected a value smaller than hidden_size={hidden_size}, got {proj_size}")
        for flag, value in (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional),
                            ("reset_after", reset_after)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{flag}: expected a bool, got {type(value).__name__} {value!r}")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.reset_after = bool(reset_after)
        self.dtype = check_dtype(dtype)

        gate_size = _GATES[mode] * self.hidden_size
        real_hidden = self.proj_size or self.hidden_size
        directions = 2 if self.bidirectional else 1
        bound = 1.0 / math.sqrt(self.hidden_size)
        self._flat_weights_names: list[str] = []
        self._layout: list[tuple[str | None, ...]] = []  # per (layer, direction): (w_ih, w_hh, b_ih, b_hh, w_hr) names
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else real_hidden * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = {
                    "weight_ih": (gate_size, layer_input),
                    "weight_hh": (gate_size, real_hidden),
                    "bias_ih": (gate_size,) if self.bias else None,
                    "bias_hh": (gate_size,) if self.bias else None,
                    "weight_hr": (self.proj_size, self.hidden_size) if self.proj_size else None,
                }
                names = []
                for base, shape in shapes.items():
                    if shape is None:
                        names.append(None)
                        continue
                    name = base + suffix
                    setattr(self, name, _init_uniform(shape, bound, self.dtype))
                    self._flat_weights_names.append(name)
                    names.append(name)
                self._layout.append(tuple(names))

    # -- helpers -------------------------------------------------------------
    def _weights(self) -> list[tuple[Parameter | None, ...]]:
        parameters = self._parameters
        return [tuple([None if n is None else parameters[n] for n in names]) for names in self._layout]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        return [[self._parameters[n] for n in names if n is not None] for names in self._layout]

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            param.data[...] = generator().uniform(-bound, bound, size=param.shape)

    def flatten_parameters(self) -> None:
        """Does nothing: torch packs the weights into one cuDNN buffer here; rnnkit has no such buffer."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.mode == "GRU" and not self.reset_after:
            s += ", reset_after=False"
        return s

    def _check_state(self, name: str, state: Any, shape: tuple[int, ...]) -> Tensor:
        if type(state) is Tensor and state._array.shape == shape and state._array.dtype == self.dtype:
            return state  # the common case (a carried state) in one test: streaming steps make it often
        state = float_input(name, state, self.dtype)
        if state.shape != shape:
            raise ValueError(f"{name}: expected hidden state of shape {shape}, got {state.shape}")
        return state

    # -- forward ---------------------------------------------------------------
    def forward(self, input: Any, hx: Any = None, lengths: Any = None):
        """Run the layer over a sequence.

        Args:
            input: (T, B, I), or (B, T, I) when ``batch_first``, or unbatched (T, I); or a
                ``PackedSequence`` from :func:`rnnkit.nn.utils.rnn.pack_padded_sequence`.
            hx: initial state (D*L, B, H_out) (unbatched: (D*L, H_out)); for LSTM a pair
                ``(h_0, c_0)`` with c_0 (D*L, B, H). Zeros when omitted.
            lengths: optional (B,) valid lengths: outputs past each length are zero, final
                states come from each sequence's last valid step, and the reverse direction
                starts there.

        Returns:
            ``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``), output (T, B, D*H_out) in the
            input's layout, h_n (D*L, B, H_out), c_n (D*L, B, H).
        """
        packed = input if isinstance(input, PackedSequence) else None
        if packed is not None:
            if lengths is not None:
                raise ValueError("lengths: a PackedSequence carries its own lengths; pass lengths=None")
            x, lengths = packed_to_padded(packed)
            batched, batch_first = True, False
            if x.dtype != self.dtype:
                raise TypeError(f"input: expected dtype {self.dtype}, got {x.dtype}")
        else:
            x = float_input("input", input, self.dtype)
            if x.ndim not in (2, 3):
                raise ValueError(
                    f"input: expected a 2-D (unbatched) or 3-D (batched) tensor, got {x.ndim}-D of shape {x.shape}"
                )
            batched, batch_first = x.ndim == 3, self.batch_first
            if not batched:
                x = _ops.unsqueeze(x, 1)
            elif batch_first:
                x = _ops.transpose(x, 0, 1)
        T, B, I = x._array.shape  # float_input checked the dtype
        if I != self.input_size:
            raise ValueError(f"input: expected input_size={self.input_size} features, got {I}")
        if T == 0:
            raise ValueError("input: expected at least one time step, got a sequence of length 0")

        directions = 2 if self.bidirectional else 1
        h_shape = (self.num_layers * directions, B, self.proj_size or self.hidden_size)
        c_shape = (self.num_layers * directions, B, self.hidden_size)
        h0 = c0 = None
        if hx is not None:
            if self.mode == "LSTM":
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError(f"hx: LSTM expects a tuple (h_0, c_0), got {type(hx).__name__}")
                h0, c0 = hx
            else:
                if isinstance(hx, (tuple, list)):
                    raise TypeError(f"hx: {type(self).__name__} expects one tensor h_0, got a {type(hx).__name__}")
                h0 = hx
            if not batched:  # unbatched states drop the batch axis: (D*L, H)
                h_shape, c_shape = h_shape[:1] + h_shape[2:], c_shape[:1] + c_shape[2:]
            h0 = self._check_state("hx[0]" if c0 is not None else "hx", h0, h_shape)
            if c0 is not None:
                c0 = self._check_state("hx[1]", c0, c_shape)
            if not batched:
                h0 = _ops.unsqueeze(h0, 1)
                c0 = None if c0 is None else _ops.unsqueeze(c0, 1)

        if lengths is not None and packed is None:
            lengths = _check_lengths(lengths, T, B)

        out, h_n, c_n = recurrent(
            self.mode, x, h0, c0, self._weights(),
            num_layers=self.num_layers, bidirectional=self.bidirectional, proj_size=self.proj_size,
            reset_after=self.reset_after, lengths=lengths,
            dropout=self.dropout if self.training else 0.0, training=self.training, stream=self._stream,
        )

        if packed is not None:
            out = padded_to_packed(out, lengths, like=packed)
        elif not batched:
            out, h_n = _ops.squeeze(out, 1), _ops.squeeze(h_n, 1)
            c_n = None if c_n is None else _ops.squeeze(c_n, 1)
        elif batch_first:
            out = _ops.transpose(out, 0, 1)
        return (out, (h_n, c_n)) if self.mode == "LSTM" else (out, h_n)


def _check_lengths(lengths: Any, T: int, B: int) -> np.ndarray:
    lengths = array_of(lengths)
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"lengths: expected integers, got dtype {lengths.dtype}")
    if lengths.shape != (B,):
        raise ValueError(f"lengths: expected shape ({B},) (one per sequence), got {lengths.shape}")
    if lengths.min() < 1 or lengths.max() > T:
        raise ValueError(f"lengths: expected values in [1, {T}], got min {lengths.min()} and max {lengths.max()}")
    return lengths.astype(np.int64)


class RNN(RNNBase):
    r"""Elman RNN, as ``torch.nn.RNN``.

    Equations (per layer, direction)::

        h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh),   act = tanh or relu

    Args:
        input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
        batch_first=False, dropout=0.0 (between layers, training only), bidirectional=False,
        dtype=np.float32 (or np.float64).

    Example:
        >>> import rnnkit
        >>> cell = rnnkit.nn.RNN(input_size=5, hidden_size=8, num_layers=2, batch_first=True)
        >>> outputs, _status = cell(rnnkit.Tensor(1, 10, 5))
        >>> outputs.shape, _status.shape
        ((1, 10, 8), (2, 1, 8))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: Any = np.float32):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, dtype=dtype)


class LSTM(RNNBase):
    r"""Long short-term memory, as ``torch.nn.LSTM``.

    Equations (gate order i, f, g, o in the weights)::

        i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
        f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
        o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h_t = o_t ⊙ tanh(c_t)            (with proj_size > 0: h_t = W_hr (o_t ⊙ tanh(c_t)))

    Args:
        input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
        bidirectional=False, proj_size=0, dtype=np.float32.

    Example:
        >>> import rnnkit
        >>> lstm = rnnkit.nn.LSTM(5, 8, batch_first=True)
        >>> outputs, (h_n, c_n) = lstm(rnnkit.Tensor(1, 10, 5))
        >>> outputs.shape, h_n.shape, c_n.shape
        ((1, 10, 8), (1, 1, 8), (1, 1, 8))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 dtype: Any = np.float32):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, dtype=dtype)


class GRU(RNNBase):
    r"""Gated recurrent unit, as ``torch.nn.GRU`` (gate order r, z, n in the weights).

    Equations::

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))       reset_after=True (PyTorch)
        n_t = tanh(W_in x_t + b_in + W_hn (r_t ⊙ h_{t-1}) + b_hn)       reset_after=False (Keras's other form)
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    Args:
        input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
        bidirectional=False, reset_after=True, dtype=np.float32.

    Example:
        >>> import rnnkit
        >>> gru = rnnkit.nn.GRU(5, 8, bidirectional=True)
        >>> out, h_n = gru(rnnkit.zeros(10, 3, 5))
        >>> out.shape, h_n.shape
        ((10, 3, 16), (2, 3, 8))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 reset_after: bool = True, dtype: Any = np.float32):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         reset_after=reset_after, dtype=dtype)


class RNNCellBase(Module):
    """One time step of a recurrent layer, as ``torch.nn.RNNCell``/``LSTMCell``/``GRUCell``.

    Parameters ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh`` (G*H,).
    The step runs through the same recurrent op as the layers, with T = 1.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool = True,
                 reset_after: bool = True, dtype: Any = np.float32):
        super().__init__()
        self._stream = streaming.Stream()  # its streaming calls' checks, kept between them
        self.mode = mode
        self.input_size = check_size("input_size", input_size, 1)
        self.hidden_size = check_size("hidden_size", hidden_size, 1)
        for flag, value in (("bias", bias), ("reset_after", reset_after)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{flag}: expected a bool, got {type(value).__name__} {value!r}")
        self.bias = bool(bias)
        self.reset_after = bool(reset_after)
        self.dtype = check_dtype(dtype)
        gate_size = _GATES[mode] * self.hidden_size
        bound = 1.0 / math.sqrt(self.hidden_size)
        self.weight_ih = _init_uniform((gate_size, self.input_size), bound, self.dtype)
        self.weight_hh = _init_uniform((gate_size, self.hidden_size), bound, self.dtype)
        if self.bias:
            self.bias_ih = _init_uniform((gate_size,), bound, self.dtype)
            self.bias_hh = _init_uniform((gate_size,), bound, self.dtype)
        else:
            self.bias_ih = self.bias_hh = None

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        return s

    def _step(self, input: Any, hx: Any):
        x = float_input("input", input, self.dtype)
        if x.ndim not in (1, 2):
            raise ValueError(f"input: expected a 1-D (unbatched) or 2-D (batched) tensor, got {x.ndim}-D of shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input: expected input_size={self.input_size} features, got {x.shape[-1]}")
        batched = x.ndim == 2
        B = x.shape[0] if batched else 1
        states = ()
        if hx is not None:
            states = hx if isinstance(hx, (tuple, list)) else (hx,)
            expected = 2 if self.mode == "LSTM" else 1
            if len(states) != expected:
                raise TypeError(f"hx: {type(self).__name__} expects {expected} state tensor(s), got {len(states)}")
            names = ("hx[0]", "hx[1]") if expected == 2 else ("hx",)
            shape = (B, self.hidden_size) if batched else (self.hidden_size,)
            states = [self._check_state(n, s, shape) for n, s in zip(names, states)]
        p = self._parameters  # (read directly: a step is a few microseconds, getattr's search about one)
        weights = [tuple([p[n] if n in p else getattr(self, n) for n in _CELL_WEIGHTS]) + (None,)]
        options = dict(num_layers=1, bidirectional=False, reset_after=self.reset_after)  # the op's
        graph = needs_graph(x, *states, *weights[0])
        if not graph:  # streaming: the arrays straight to the compiled step
            arrays = [tuple([None if w is None else w._array for w in weights[0]])]
            x2 = x._array if batched else x._array.reshape(1, -1)  # (B, I)
            h0, c0 = [s._array if batched else s._array.reshape(1, -1) for s in states] + [None] * (2 - len(states))
            done = self._stream.step(self.mode, x2, h0, c0, arrays, options)
            if done is not None:
                h, c = [None if a is None else Tensor._wrap(a if batched else a[0]) for a in done]  # (B, H) or (H,)
                return (h, c) if self.mode == "LSTM" else h
        # a step is the layer at T = 1: x (B, I) -> (1, B, I), states (B, H) -> (1, B, H); with nothing
        # to differentiate (no compiled step) those are plain reshapes of the arrays, else ops in the graph
        index = 0 if batched else (0, 0)
        if graph:
            lift = lambda t: _ops.unsqueeze(t if batched else _ops.unsqueeze(t, 0), 0)  # noqa: E731
            drop = lambda t: _ops.getitem(t, index)  # noqa: E731
        else:
            lift = lambda t: array_of(t).reshape(1, B, -1)  # noqa: E731
            drop = lambda t: Tensor._wrap(array_of(t)[index])  # noqa: E731
        h0 = lift(states[0]) if states else None
        c0 = lift(states[1]) if len(states) == 2 else None
        _, h_n, c_n = recurrent(self.mode, lift(x), h0, c0, weights, **options)
        return (drop(h_n), drop(c_n)) if self.mode == "LSTM" else drop(h_n)

    _check_state = RNNBase._check_state


class RNNCell(RNNCellBase):
    """Elman cell, as ``torch.nn.RNNCell``: ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    Example:
        >>> import rnnkit
        >>> cell = rnnkit.nn.RNNCell(4, 8)
        >>> cell(rnnkit.zeros(3, 4)).shape
        (3, 8)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 dtype: Any = np.float32):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self_mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(self_mode, input_size, hidden_size, bias, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        """input (B, I) or (I,), hx (B, H) or (H,) -> h' of hx's shape."""
        return self._step(input, hx)


class LSTMCell(RNNCellBase):
    """LSTM cell, as ``torch.nn.LSTMCell``; returns ``(h', c')``.

    Example:
        >>> import rnnkit
        >>> cell = rnnkit.nn.LSTMCell(4, 8)
        >>> h, c = cell(rnnkit.zeros(3, 4))
        >>> h.shape, c.shape
        ((3, 8), (3, 8))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = np.float32):
        super().__init__("LSTM", input_size, hidden_size, bias, dtype=dtype)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        """input (B, I) or (I,), hx a pair (h, c) each (B, H) or (H,) -> (h', c')."""
        return self._step(input, hx)


class GRUCell(RNNCellBase):
    """GRU cell, as ``torch.nn.GRUCell`` (``reset_after=False`` for the other form).

    Example:
        >>> import rnnkit
        >>> cell = rnnkit.nn.GRUCell(4, 8)
        >>> cell(rnnkit.zeros(3, 4)).shape
        (3, 8)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, reset_after: bool = True,
                 dtype: Any = np.float32):
        super().__init__("GRU", input_size, hidden_size, bias, reset_after=reset_after, dtype=dtype)

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        return self._step(input, hx)
