r"""Keras's recurrent layers ``SimpleRNN``, ``LSTM``, ``GRU``, their cells and ``RNN(cell)``.

The math is not here: every layer calls :func:`rnnkit._recurrent.recurrent` (one autograd
op over the whole sequence, wrapping :mod:`rnnkit.cells.scan`). This module keeps Keras's
weights and maps them onto PyTorch's layout with differentiable views::

    SimpleRNN  h_t = act(x_t K + b + h_{t-1} U)                      K (I, H), U (H, H), b (H,)
    LSTM       [i f c o] = x_t K + h_{t-1} U + b                     K (I, 4H), U (H, 4H), b (4H,)
               c_t = σ(f) c_{t-1} + σ(i) act(c);  h_t = σ(o) act(c_t)      σ = recurrent_activation
    GRU        [z r h] gates; z, r = σ(x K_{z,r} + b_{z,r} + h U_{z,r} + b'_{z,r})
               reset_after=True:  h~ = act(x K_h + b_h + r (h_{t-1} U_h + b'_h)),  bias (2, 3H) = [b; b']
               reset_after=False: h~ = act(x K_h + b_h + (r h_{t-1}) U_h),          bias (3H,) = b
               h_t = z h_{t-1} + (1 - z) h~

    PyTorch view: w_ih = K^T, w_hh = U^T, b_ih = b (LSTM gate order i,f,c,o is PyTorch's i,f,g,o;
    GRU blocks z,r,h are permuted to PyTorch's r,z,n).

Keras semantics kept (Keras 3, ``keras/src/layers/rnn``):

* ``mask`` (from ``Embedding(mask_zero=True)`` or ``Masking``): a masked step leaves the states
  unchanged; its output is the previous output (zeros before the first valid step), or zero
  with ``zero_output_for_mask`` (forced by ``Bidirectional`` when returning sequences).
* ``go_backwards``: the sequence is processed last to first and, with ``return_sequences``,
  returned in that reversed order.
* ``dropout`` / ``recurrent_dropout`` (training only): one mask per sequence, the same at every
  step; one shared input mask, or one per gate when ``recurrent_dropout > 0`` or
  ``implementation=1`` (as Keras's ``implementation=1``).
* ``stateful``: the final states of a call are the initial states of the next (same batch size);
  ``reset_states()`` zeroes them.
* ``unroll`` is accepted and has no numeric effect (rnnkit always runs the fused loop); likewise
  ``use_cudnn``. ``time_major`` (Keras 2) takes and returns (T, B, ...) tensors.

Shapes: T time, B batch, I input, H units.

Example:
    >>> import numpy as np
    >>> from rnnkit.keras import layers
    >>> lstm = layers.LSTM(2, return_state=True)
    >>> out, h, c = lstm(np.zeros((3, 5, 4), np.float32))
    >>> out.shape, h.shape, c.shape, [w.shape for w in lstm.get_weights()]
    ((3, 2), (3, 2), (3, 2), [(4, 8), (2, 8), (8,)])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit import _ops
from rnnkit._random import dropout_mask, generator
from rnnkit._tensor import Tensor, array_of
from rnnkit.cells import activations as _cell_activations
from rnnkit.cells import streaming
from rnnkit._recurrent import needs_graph, recurrent
from rnnkit._validation import check_bool, check_rate, check_size
from rnnkit.keras import activations, initializers
from rnnkit.keras._registry import LAYERS
from rnnkit.keras.layers.base import InputSpec, Layer, flatten, is_shape, to_snake_case
from rnnkit.keras.layers.cell_loop import (StackedRNNCells, cell_output_size, check_cell, pack_states, run_cell,
                                           state_sizes)
from rnnkit.keras.layers.core import _rng_for

__all__ = ["RNN", "SimpleRNN", "LSTM", "GRU", "SimpleRNNCell", "LSTMCell", "GRUCell"]


def _take(a: np.ndarray, index) -> np.ndarray:
    """``a[index]``: :func:`rnnkit._ops.getitem` for an ndarray (the weights of a call outside any graph)."""
    return a[index]


def _scan_activation(argument: str, fn: Any) -> str:
    """The name the fused op knows ``fn`` by; anything else cannot be honoured."""
    name = activations._registered_name(fn)
    if name is None or name not in _cell_activations.ACTIVATIONS:
        raise ValueError(
            f"{argument}: rnnkit's recurrent layers run one fused op with hand-derived gradients and support "
            f"the activations {sorted(_cell_activations.ACTIVATIONS)}; got {getattr(fn, '__name__', fn)!r}"
        )
    return name


class _ForgetBias(initializers.Initializer):
    """LSTM ``unit_forget_bias``: [bias_init(H), ones(H), bias_init(2H)] (gate order i, f, c, o)."""

    def __init__(self, inner: Any, units: int):
        self.inner, self.units = inner, units

    def __call__(self, shape, dtype=None):
        H = self.units
        return np.concatenate([np.asarray(self.inner((H,), dtype)), np.ones((H,), np.dtype(dtype or "float32")),
                               np.asarray(self.inner((2 * H,), dtype))])


# -- cells ---------------------------------------------------------------------------
class _FusedCell(Layer):
    """Weights, arguments and PyTorch views shared by the three cells (subclasses set ``mode``/``gates``)."""

    mode = ""  # the op's mode name
    gates = 1  # G: gate blocks in the kernels

    def _setup(self, units: Any, activation: Any, recurrent_activation: Any, use_bias: Any, kernel: tuple,
               recurrent: tuple, bias: tuple, dropout: Any, recurrent_dropout: Any, seed: Any,
               implementation: Any) -> None:
        """Check and set the arguments every cell has. ``kernel``, ``recurrent`` and ``bias`` are each
        ``(initializer, regularizer, constraint)``; ``recurrent_activation`` is None for ``SimpleRNNCell``."""
        self.units = check_size("units", units, 1)
        self.activation = activations.get(activation)
        self._activation_name = _scan_activation("activation", self.activation)
        if self.gates > 1:
            self.recurrent_activation = activations.get(recurrent_activation, "recurrent_activation")
            self._recurrent_activation_name = _scan_activation("recurrent_activation", self.recurrent_activation)
        self.use_bias = check_bool("use_bias", use_bias)
        self._set_weight_options(kernel=kernel, recurrent=recurrent, bias=bias)
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        if implementation not in (0, 1, 2):  # 0 is Keras 2's value; Keras 3 runs it as 2 (anything but 1)
            raise ValueError(f"implementation: expected 0, 1 or 2, got {implementation!r}")
        # Keras switches to implementation 1 (one dropout mask per gate) when recurrent_dropout > 0.
        self.implementation = 1 if self.recurrent_dropout > 0 else int(implementation)
        self.seed = seed
        self._rng = _rng_for(seed)
        self._stream = streaming.Stream()  # its streaming calls' checks, kept between them

    @property
    def state_size(self) -> Any:
        return self.units

    @property
    def output_size(self) -> int:
        return self.units

    def _bias_shape(self) -> tuple:
        return (self.gates * self.units,)

    def _bias_initializer(self) -> Any:
        return self.bias_initializer

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': the feature axis of the input must be known, "
                             f"got shape {input_shape}")
        G, H = self.gates, self.units
        self.kernel = self._add_option_weight("kernel", (input_dim, G * H))
        self.recurrent_kernel = self._add_option_weight("recurrent_kernel", (H, G * H), "recurrent")
        self.bias = self._add_option_weight("bias", self._bias_shape(), initializer=self._bias_initializer()) \
            if self.use_bias else None

    # -- the fused op's view of the weights ----------------------------------------------
    def _columns(self) -> np.ndarray | None:
        """Column permutation from Keras's gate blocks to PyTorch's (None when they agree)."""
        return None

    def torch_weights(self, arrays: bool = False) -> tuple:
        """(w_ih (G*H, I), w_hh (G*H, H), b_ih (G*H,) | None, b_hh (G*H,) | None), differentiable views
        (with ``arrays``: views of the ndarrays, for a call with nothing to differentiate)."""
        cols = self._columns()
        kernel, recurrent_kernel, bias = self.kernel, self.recurrent_kernel, self.bias
        take = _ops.getitem
        if arrays:
            kernel, recurrent_kernel, bias = (None if w is None else array_of(w) for w in (kernel, recurrent_kernel, bias))
            take = _take
        if cols is not None:
            kernel = take(kernel, (slice(None), cols))  # (I, G*H) PyTorch gate order
            recurrent_kernel = take(recurrent_kernel, (slice(None), cols))  # (H, G*H)
        b_ih = b_hh = None
        if bias is not None:
            if bias.ndim == 2:  # GRU reset_after: [input bias; recurrent bias]
                b_ih, b_hh = (take(bias, (row, cols)) for row in (0, 1))  # (3H,) each
            else:
                b_ih = bias if cols is None else take(bias, cols)  # (G*H,)
        return kernel.T, recurrent_kernel.T, b_ih, b_hh

    def dropout_masks(self, batch: int, input_dim: int, dtype: np.dtype, training: bool) -> tuple:
        """(input mask, recurrent mask) for one sequence, each None, (B, K) or (G, B, K) (PyTorch gate order)."""
        if not training or (self.dropout == 0 and self.recurrent_dropout == 0):
            return None, None
        rng = self._rng if self._rng is not None else generator()
        per_gate = self.gates > 1 and self.implementation == 1
        lead = (self.gates,) if per_gate else ()
        in_mask = rec_mask = None
        if self.dropout > 0:
            in_mask = dropout_mask(rng, lead + (batch, input_dim), self.dropout, dtype)
        if self.recurrent_dropout > 0:
            rec_mask = dropout_mask(rng, lead + (batch, self.units), self.recurrent_dropout, dtype)
        cols = self._gate_order()
        if per_gate and cols is not None:  # masks were drawn in Keras's gate order
            in_mask = None if in_mask is None else in_mask[cols]
            rec_mask = None if rec_mask is None else rec_mask[cols]
        return in_mask, rec_mask

    def _gate_order(self) -> list | None:
        return None

    def op_options(self) -> dict:
        """Keyword options of the fused op that come from the cell."""
        options = {"activation": self._activation_name}
        if self.gates > 1:
            options["recurrent_activation"] = self._recurrent_activation_name
        return options

    def run(self, x_tm: Tensor, states: list | None, training: bool, **options: Any) -> tuple:
        """The fused op on a time-major sequence: (out (T, B, H), [final states (B, H)])."""
        T, B, I = x_tm.shape
        in_mask, rec_mask = self.dropout_masks(B, I, x_tm.dtype, training)
        states = [] if states is None else states[:2 if self.mode == "LSTM" else 1]
        # nothing to differentiate (inference, streaming): the arrays go to the op as they are, without
        # the views' ops (a stateful layer's step is a few microseconds of kernel)
        graph = needs_graph(x_tm, *states, self.kernel, self.recurrent_kernel, self.bias)
        if graph:
            h0, c0 = [_ops.unsqueeze(s, 0) for s in states] + [None] * (2 - len(states))  # (1, B, H) each
        else:
            x_tm = array_of(x_tm)
            h0, c0 = [array_of(s)[None] for s in states] + [None] * (2 - len(states))
        out, h_n, c_n = recurrent(
            self.mode, x_tm, h0, c0, [self.torch_weights(arrays=not graph)],
            input_dropout_masks=None if in_mask is None else [in_mask],
            rec_dropout_masks=None if rec_mask is None else [rec_mask],
            **self.op_options(), **options, stream=self._stream,
        )
        finals = [h_n[0]] + ([c_n[0]] if self.mode == "LSTM" else [])  # (B, H) each (a view op in a graph)
        return out, finals

    def call(self, inputs, states, training=False):
        """One time step, as Keras cells: ``(output (B, H), new_states)``. Standalone calls draw fresh
        dropout masks at every call (inside a layer the mask is drawn once per sequence)."""
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        states = [self._convert(s) for s in states]
        out, finals = self.run(_ops.unsqueeze(inputs, 0), states, training)
        return _ops.getitem(out, 0), finals

    def get_initial_state(self, batch_size: int) -> list[Tensor]:
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [Tensor(np.zeros((batch_size, s), self._np_dtype)) for s in sizes]

    def _cell_config(self) -> dict:
        config = {
            "units": self.units, "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
            **self._weight_options_config("kernel", "recurrent", "bias"),
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed,
            "implementation": self.implementation,
        }
        if self.gates > 1:
            config["recurrent_activation"] = activations.serialize(self.recurrent_activation)
        return config

    def get_config(self):
        return {**super().get_config(), **self._cell_config()}


@LAYERS.register()
class SimpleRNNCell(_FusedCell):
    """One step of ``SimpleRNN``: ``h_t = activation(x_t K + b + h_{t-1} U)``."""

    mode, gates = "RNN_TANH", 1

    def __init__(self, units: int, activation: Any = "tanh", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, kernel_constraint: Any = None, recurrent_constraint: Any = None,
                 bias_constraint: Any = None, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 seed: int | None = None, implementation: int = 2, **kwargs: Any):
        super().__init__(**kwargs)
        self._setup(units, activation, None, use_bias, (kernel_initializer, kernel_regularizer, kernel_constraint),
                    (recurrent_initializer, recurrent_regularizer, recurrent_constraint),
                    (bias_initializer, bias_regularizer, bias_constraint), dropout, recurrent_dropout, seed,
                    implementation)


@LAYERS.register()
class LSTMCell(_FusedCell):
    """One step of ``LSTM`` (gate order i, f, c, o); ``unit_forget_bias`` starts the forget bias at 1."""

    mode, gates = "LSTM", 4

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 unit_forget_bias: bool = True, kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, kernel_constraint: Any = None, recurrent_constraint: Any = None,
                 bias_constraint: Any = None, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 seed: int | None = None, implementation: int = 2, **kwargs: Any):
        super().__init__(**kwargs)
        self._setup(units, activation, recurrent_activation, use_bias,
                    (kernel_initializer, kernel_regularizer, kernel_constraint),
                    (recurrent_initializer, recurrent_regularizer, recurrent_constraint),
                    (bias_initializer, bias_regularizer, bias_constraint), dropout, recurrent_dropout, seed,
                    implementation)
        self.unit_forget_bias = check_bool("unit_forget_bias", unit_forget_bias)

    @property
    def state_size(self) -> list[int]:
        return [self.units, self.units]

    def _bias_initializer(self):
        return _ForgetBias(self.bias_initializer, self.units) if self.unit_forget_bias else self.bias_initializer

    def _cell_config(self):
        return {**super()._cell_config(), "unit_forget_bias": self.unit_forget_bias}


@LAYERS.register()
class GRUCell(_FusedCell):
    """One step of ``GRU`` (Keras gate order z, r, h), ``reset_after`` True (default) or False."""

    mode, gates = "GRU", 3

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None, bias_regularizer: Any = None,
                 kernel_constraint: Any = None, recurrent_constraint: Any = None, bias_constraint: Any = None,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, reset_after: bool = True,
                 seed: int | None = None, implementation: int = 2, **kwargs: Any):
        super().__init__(**kwargs)
        self._setup(units, activation, recurrent_activation, use_bias,
                    (kernel_initializer, kernel_regularizer, kernel_constraint),
                    (recurrent_initializer, recurrent_regularizer, recurrent_constraint),
                    (bias_initializer, bias_regularizer, bias_constraint), dropout, recurrent_dropout, seed,
                    implementation)
        self.reset_after = check_bool("reset_after", reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _gate_order(self):
        return [1, 0, 2]  # Keras z, r, h -> PyTorch r, z, n

    def _columns(self):
        H = self.units
        return np.r_[H:2 * H, 0:H, 2 * H:3 * H]

    def op_options(self):
        return {**super().op_options(), "reset_after": self.reset_after}

    def _cell_config(self):
        return {**super()._cell_config(), "reset_after": self.reset_after}


# -- layers ------------------------------------------------------------------------------
_LAYER_FLAGS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask",
                "time_major")


@LAYERS.register()
class RNN(Layer):
    """Run a cell over a sequence (Keras's ``keras.layers.RNN``); ``SimpleRNN``/``LSTM``/``GRU`` are this
    with their cell.

    Args:
        cell: ``SimpleRNNCell``, ``LSTMCell`` or ``GRUCell`` (run as one fused op with hand-derived
            gradients); any other cell with ``state_size`` and ``call(inputs, states)`` (run step by step
            through autograd, see :mod:`.cell_loop`); or a list of cells (a ``StackedRNNCells``).
        return_sequences: output every step (B, T, H) instead of the last (B, H).
        return_state: also return the final states (LSTM: h then c).
        go_backwards: process the sequence backwards (and return the outputs in that order).
        stateful: carry the final states over to the next call.
        unroll: accepted for compatibility; no numeric effect.
        zero_output_for_mask: zero outputs at masked steps (default: repeat the previous output).
        time_major: inputs and sequence outputs are (T, B, ...) (Keras 2 argument).

    Call arguments: ``inputs`` (B, T, I); ``initial_state`` (a list of (B, H) tensors, or symbolic
    tensors in a functional model); ``mask`` (B, T) bool; ``training``.
    """

    _has_use_cudnn = False  # LSTM and GRU take Keras's use_cudnn argument (without effect here)

    def __init__(self, cell: Any, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 zero_output_for_mask: bool = False, time_major: bool = False, **kwargs: Any):
        input_length = kwargs.pop("input_length", None)  # Keras 2: input_length / input_dim fix the shape
        input_dim = kwargs.pop("input_dim", None)
        use_cudnn = kwargs.pop("use_cudnn", "auto") if self._has_use_cudnn else None  # LSTM and GRU only, as Keras
        if self._has_use_cudnn and use_cudnn not in ("auto", True, False):
            raise ValueError(f"use_cudnn: expected 'auto', True or False (it has no effect in rnnkit), got {use_cudnn!r}")
        if (input_length is not None or input_dim is not None) and "input_shape" not in kwargs \
                and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length, input_dim)
        if isinstance(cell, dict):
            cell = LAYERS.deserialize(cell)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not isinstance(cell, _FusedCell):
            check_cell(cell)
        super().__init__(**kwargs)
        self.cell = cell
        if self._has_use_cudnn:
            self.use_cudnn = use_cudnn  # no effect here (there is no cuDNN), kept as Keras's attribute
        for flag, value in zip(_LAYER_FLAGS, (return_sequences, return_state, go_backwards, stateful, unroll,
                                              zero_output_for_mask, time_major)):
            setattr(self, flag, check_bool(flag, value))
        self.input_spec = InputSpec(ndim=3)
        self.supports_masking = True
        self._states: list[np.ndarray] | None = None

    # -- shapes -----------------------------------------------------------------------
    @property
    def state_size_list(self) -> list[int]:
        """One size per state tensor (a stack of cells' states flattened, bottom cell first)."""
        return state_sizes(self.cell.state_size)

    def _sequence_shape(self, input_shape):
        return input_shape if is_shape(input_shape) else input_shape[0]

    def _batch_time(self, shape) -> tuple:
        return (shape[1], shape[0]) if self.time_major else (shape[0], shape[1])

    def build(self, input_shape):
        shape = self._sequence_shape(input_shape)
        if len(shape) != 3:
            raise ValueError(f"{type(self).__name__} '{self.name}': argument inputs expected a 3-D input "
                             f"(batch, timesteps, features), got shape {tuple(shape)}")
        batch, _ = self._batch_time(shape)
        if isinstance(self.cell, Layer):
            self.cell._build_once((batch, shape[-1]))
        self.input_spec = InputSpec(ndim=3, axes={-1: shape[-1]})

    def compute_output_shape(self, input_shape):
        shape = self._sequence_shape(input_shape)
        batch, time = self._batch_time(shape)
        H = cell_output_size(self.cell)
        if self.return_sequences:
            out = (time, batch, H) if self.time_major else (batch, time, H)
        else:
            out = (batch, H)
        if self.return_state:
            return (out,) + tuple(pack_states(self.cell.state_size, [(batch, s) for s in self.state_size_list]))
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out_mask = mask if self.return_sequences else None
        if self.return_state:
            return [out_mask] + [None] * len(self.state_size_list)
        return out_mask

    # -- running -------------------------------------------------------------------------
    def _symbolic_call(self, inputs, *args, **kwargs):
        initial_state = kwargs.get("initial_state", args[0] if args else None)
        if initial_state is not None:  # check the graph while it is being built
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(states) != len(self.state_size_list):
                raise ValueError(f"initial_state: {type(self).__name__} '{self.name}' expects "
                                 f"{len(self.state_size_list)} state tensor(s), got {len(states)}")
            for i, (state, size) in enumerate(zip(states, self.state_size_list)):
                shape = tuple(getattr(state, "shape", ()))
                if len(shape) != 2 or shape[1] not in (None, size):
                    raise ValueError(f"initial_state[{i}]: expected shape (batch, {size}), got {shape}")
        return super()._symbolic_call(inputs, *args, **kwargs)

    def _initial_states(self, initial_state: Any, batch: int) -> list[Tensor] | None:
        n = len(self.state_size_list)
        if initial_state is None:
            if self.stateful and self._states is not None:
                if self._states[0].shape[0] != batch:
                    raise ValueError(
                        f"{type(self).__name__} '{self.name}' is stateful: expected batch size "
                        f"{self._states[0].shape[0]} (the batch size of its states), got {batch}; call "
                        "reset_states() after changing the batch size"
                    )
                return [Tensor._wrap(s) for s in self._states]  # (the layer's own arrays, never written)
            return None
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        if len(states) != n:
            raise ValueError(f"initial_state: {type(self).__name__} '{self.name}' expects {n} state tensor(s), "
                             f"got {len(states)}")
        out = []
        for i, (state, size) in enumerate(zip(states, self.state_size_list)):
            state = self._convert(state)
            if tuple(state.shape) != (batch, size):
                raise ValueError(f"initial_state[{i}]: expected shape {(batch, size)} (batch, units), got "
                                 f"{tuple(state.shape)}")
            out.append(state)
        return out

    def _time_major_mask(self, mask: Any, batch: int, time: int) -> np.ndarray | None:
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if mask is None:
            return None
        mask = array_of(mask).astype(bool)
        expected = (time, batch) if self.time_major else (batch, time)
        if mask.shape != expected:
            raise ValueError(f"mask: expected shape {expected} ({'time, batch' if self.time_major else 'batch, time'})"
                             f", got {mask.shape}")
        return mask if self.time_major else mask.T  # (T, B)

    def call(self, inputs, initial_state=None, mask=None, training=False):
        if isinstance(inputs, (list, tuple)):  # Keras 2 form: layer([x, h0, c0])
            if initial_state is not None:
                raise ValueError("initial_state: given both inside the input list and as an argument")
            inputs, initial_state = inputs[0], list(inputs[1:]) or None
        batch, time = self._batch_time(tuple(inputs.shape))
        if time == 0:
            raise ValueError(f"{type(self).__name__} '{self.name}': argument inputs has no time steps (shape "
                             f"{tuple(inputs.shape)})")
        states = self._initial_states(initial_state, batch)
        if self.time_major:
            x_tm = inputs  # (T, B, I)
        elif inputs.requires_grad:
            x_tm = _ops.transpose(inputs, 0, 1)
        else:  # no gradient to carry back to the input: a view of its array (sharing its version counter)
            x_tm = Tensor._wrap(array_of(inputs).swapaxes(0, 1))
            x_tm._view_of(inputs)
        mask_tm = self._time_major_mask(mask, batch, time)
        if isinstance(self.cell, _FusedCell):
            out, finals = self.cell.run(
                x_tm, states, bool(training), mask=mask_tm,
                masked_output="zero" if self.zero_output_for_mask else "carry", go_backwards=self.go_backwards,
            )
            last = out[-1]  # (B, H): Keras's last_output
        else:
            out, last, finals = run_cell(self.cell, x_tm, states or self._cell_initial_state(batch), mask_tm,
                                         bool(training), self.go_backwards, self.zero_output_for_mask)
        if self.stateful:
            self._states = [array_of(f).copy() for f in finals]
        if self.return_sequences:
            output = out if self.time_major else _ops.transpose(out, 0, 1)  # (B, T, H)
        else:
            output = last
        return (output, *pack_states(self.cell.state_size, finals)) if self.return_state else output

    def _cell_initial_state(self, batch: int) -> list[Tensor]:
        """The cell's ``get_initial_state(batch_size)`` (flattened), or zeros of its state sizes, as Keras."""
        make = getattr(self.cell, "get_initial_state", None)
        if make is None:
            return [Tensor(np.zeros((batch, s), self._np_dtype)) for s in self.state_size_list]
        states = make(batch_size=batch)
        return [self._convert(s) for s in (flatten(states) if isinstance(states, (list, tuple)) else [states])]

    # -- state -------------------------------------------------------------------------------
    @property
    def states(self) -> list[Tensor] | None:
        """The carried states of a stateful layer (None before its first call)."""
        return None if self._states is None else [Tensor(s) for s in self._states]

    def reset_states(self, states: Any = None) -> None:
        """Zero the carried states of a stateful layer, or set them to ``states`` (a list of (B, H) arrays)."""
        if not self.stateful:
            raise AttributeError(f"{type(self).__name__} '{self.name}': reset_states needs stateful=True")
        if states is None:
            if self._states is not None:
                self._states = [np.zeros_like(s) for s in self._states]
            return
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        if len(states) != len(self.state_size_list):
            raise ValueError(f"states: expected {len(self.state_size_list)} arrays, got {len(states)}")
        arrays = []
        for i, (s, size) in enumerate(zip(states, self.state_size_list)):
            s = np.asarray(array_of(s), dtype=self._np_dtype)
            if s.ndim != 2 or s.shape[1] != size:
                raise ValueError(f"states[{i}]: expected shape (batch, {size}), got {s.shape}")
            arrays.append(s.copy())
        self._states = arrays

    reset_state = reset_states

    # -- configuration -------------------------------------------------------------------------
    def _flag_config(self) -> dict:
        return {flag: getattr(self, flag) for flag in _LAYER_FLAGS}

    def get_config(self):
        return {**super().get_config(), **self._flag_config(), "cell": LAYERS.serialize(self.cell)}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "RNN":
        config = dict(config)
        if cls is RNN and isinstance(config.get("cell"), dict):  # a custom cell may need custom_objects
            config["cell"] = LAYERS.deserialize(config["cell"], custom_objects)
        return cls(**config)


def _cell_property(name: str) -> property:
    """A read-only layer attribute that is the cell's (``units``, ``dropout``, ``kernel``...), as in Keras."""
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's ``{name}``.")


class _CellLayer(RNN):
    """``SimpleRNN``/``LSTM``/``GRU``: an RNN whose cell is built from the layer's own arguments; the cell's
    arguments and weights read through the layer (``lstm.units``, ``lstm.kernel``), as in Keras."""

    units = _cell_property("units")
    activation = _cell_property("activation")
    use_bias = _cell_property("use_bias")
    kernel_initializer = _cell_property("kernel_initializer")
    recurrent_initializer = _cell_property("recurrent_initializer")
    bias_initializer = _cell_property("bias_initializer")
    kernel_regularizer = _cell_property("kernel_regularizer")
    recurrent_regularizer = _cell_property("recurrent_regularizer")
    bias_regularizer = _cell_property("bias_regularizer")
    kernel_constraint = _cell_property("kernel_constraint")
    recurrent_constraint = _cell_property("recurrent_constraint")
    bias_constraint = _cell_property("bias_constraint")
    dropout = _cell_property("dropout")
    recurrent_dropout = _cell_property("recurrent_dropout")
    seed = _cell_property("seed")
    implementation = _cell_property("implementation")
    kernel = _cell_property("kernel")
    recurrent_kernel = _cell_property("recurrent_kernel")
    bias = _cell_property("bias")

    def _cell_options(self, kwargs: dict) -> dict:
        """The ``Layer`` arguments the cell shares with its layer (dtype, trainable) and its name."""
        return {"dtype": kwargs.get("dtype"), "trainable": kwargs.get("trainable", True),
                "name": f"{to_snake_case(type(self).__name__)}_cell"}

    def get_config(self):
        config = Layer.get_config(self)
        return {**config, **self._flag_config(), **self.cell._cell_config()}


@LAYERS.register()
class SimpleRNN(_CellLayer):
    """Fully-connected RNN: ``h_t = activation(x_t K + b + h_{t-1} U)``; weights kernel (I, H),
    recurrent_kernel (H, H), bias (H,). Arguments as Keras's ``SimpleRNN`` (see :class:`RNN`)."""

    def __init__(self, units: int, activation: Any = "tanh", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None, kernel_constraint: Any = None,
                 recurrent_constraint: Any = None, bias_constraint: Any = None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False, seed: int | None = None,
                 time_major: bool = False, zero_output_for_mask: bool = False, **kwargs: Any):
        cell = SimpleRNNCell(
            units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed, implementation=kwargs.pop("implementation", 2),
            **self._cell_options(kwargs))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask, time_major=time_major,
                         activity_regularizer=activity_regularizer, **kwargs)


@LAYERS.register()
class LSTM(_CellLayer):
    """Long short-term memory (Hochreiter 1997), Keras's ``LSTM`` with every argument of its signature.

    Weights: kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,), gates i, f, c, o. Equations in the
    module docstring; arguments as Keras (see :class:`RNN` for the sequence ones).

    Example:
        >>> import numpy as np
        >>> from rnnkit.keras import layers
        >>> layers.LSTM(50, return_sequences=True)(np.zeros((2, 49, 1), np.float32)).shape
        (2, 49, 50)
    """

    _has_use_cudnn = True

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 unit_forget_bias: bool = True, kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None, kernel_constraint: Any = None,
                 recurrent_constraint: Any = None, bias_constraint: Any = None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, implementation: int = 2, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False, stateful: bool = False,
                 time_major: bool = False, unroll: bool = False, seed: int | None = None,
                 zero_output_for_mask: bool = False, **kwargs: Any):
        cell = LSTMCell(
            units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed, implementation=implementation,
            **self._cell_options(kwargs))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask, time_major=time_major,
                         activity_regularizer=activity_regularizer, **kwargs)

    unit_forget_bias = _cell_property("unit_forget_bias")
    recurrent_activation = _cell_property("recurrent_activation")


@LAYERS.register()
class GRU(_CellLayer):
    """Gated recurrent unit (Cho et al. 2014), Keras's ``GRU``; ``reset_after=True`` (default, cuDNN/PyTorch
    form, bias (2, 3H)) or False (bias (3H,)). Weights kernel (I, 3H), recurrent_kernel (H, 3H), gates z, r, h."""

    _has_use_cudnn = True

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None, recurrent_constraint: Any = None,
                 bias_constraint: Any = None, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 implementation: int = 2, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False, time_major: bool = False,
                 reset_after: bool = True, seed: int | None = None, zero_output_for_mask: bool = False,
                 **kwargs: Any):
        cell = GRUCell(
            units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
            reset_after=reset_after, seed=seed, implementation=implementation, **self._cell_options(kwargs))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask, time_major=time_major,
                         activity_regularizer=activity_regularizer, **kwargs)

    reset_after = _cell_property("reset_after")
    recurrent_activation = _cell_property("recurrent_activation")
