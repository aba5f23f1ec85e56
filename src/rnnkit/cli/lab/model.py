"""The lab's network (one recurrent layer and a linear read-out), matched parameter counts and the gradient probe.

Cells (PyTorch's equations and gate order; sigma the logistic function):

- RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
- LSTM: i, f, g, o = sigma, sigma, act, sigma of (W_ih x_t + b_ih + W_hh h_{t-1} + b_hh);
  c_t = f * c_{t-1} + i * g; h_t = o * act(c_t), act = tanh or linear (Keras's LSTM ``activation``)
- GRU: r, z = sigma(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr), sigma(...);
  n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn)); h_t = (1 - z) * n + z * h_{t-1}

Every cell runs through rnnkit's recurrent op (the layers' own), whole sequences in
:meth:`LabNet.forward` and one step at a time in the gradient probe, with the same options.

Example:
    >>> hidden_for("lstm", 2000, 2, 1), parameter_count("lstm", 20, 2, 1)
    (20, 1941)
"""

from __future__ import annotations

import math

import numpy as np

from rnnkit import as_tensor, log, nn, no_grad, rand, stack, zeros
from rnnkit._recurrent import recurrent
from rnnkit.cli.charlm import LAYERS
from rnnkit.cli.lab.tasks import Batch, Task

__all__ = ["GATES", "LSTM_INITS", "LSTM_ACTIVATIONS", "FORGET_BIAS", "equations", "chrono_bias", "LabNet",
           "parameter_count", "hidden_for", "hidden_gradients", "gradient_by_distance"]

GATES = {"rnn": 1, "gru": 3, "lstm": 4}
FORGET_BIAS = 1.0  # added to the LSTM's initial forget-gate bias by the "forget1" initialisation
LSTM_INITS = {  # how the LSTM's gate biases start (the rest is PyTorch's initialisation)
    "chrono": "chrono initialisation (Tallec & Ollivier 2018): forget bias log U(1, T_max - 1), input bias its "
              "negative, T_max the sequence length",
    "forget1": "forget-gate bias +1 (Gers et al. 2000; Jozefowicz et al. 2015; Keras's unit_forget_bias)",
}
LSTM_ACTIVATIONS = {  # the LSTM's activation act (Keras's LSTM ``activation``): g_t = act(z_g), h_t = o_t act(c_t)
    "tanh": "activation tanh (today's LSTM, PyTorch's and Keras's): g_t = tanh(z_g), h_t = o_t tanh(c_t)",
    "linear": "activation linear (Keras's LSTM(activation=None), forget gate and all): g_t = z_g, h_t = o_t c_t, "
              "the cell output h(s) = s of the 1997 paper's task 2a",
}
_LATEX = {"tanh": r"\tanh", "linear": ""}  # act in the report's LaTeX ("" : the argument alone)
_EQUATIONS = {  # each cell's equations, as the report prints them (LaTeX); {act} the LSTM's activation
    "rnn": [r"h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})"],
    "lstm": [r"i_t, f_t, o_t = \sigma(W_{i\cdot} x_t + b_{i\cdot} + U_{\cdot} h_{t-1} + b_{h\cdot})",
             r"g_t = {act}(W_{ig} x_t + b_{ig} + U_g h_{t-1} + b_{hg})",
             r"c_t = f_t \odot c_{t-1} + i_t \odot g_t, \quad h_t = o_t \odot {act}{c}"],
    "gru": [r"r_t, z_t = \sigma(W_{i\cdot} x_t + b_{i\cdot} + U_{\cdot} h_{t-1} + b_{h\cdot})",
            r"n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (U_n h_{t-1} + b_{hn}))",
            r"h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}"],
}


def equations(cell: str, lstm_activation: str = "tanh") -> list[str]:
    r"""The cell's equations in LaTeX, the LSTM's with its activation (linear: g_t = z_g, h_t = o_t c_t).

    Example:
        >>> print(equations("lstm", "linear")[2])
        c_t = f_t \odot c_{t-1} + i_t \odot g_t, \quad h_t = o_t \odot c_t
    """
    act = _LATEX[lstm_activation]
    c = "(c_t)" if act else "c_t"
    return [eq.replace("{act}", act).replace("{c}", c) for eq in _EQUATIONS[cell]]


def parameter_count(cell: str, hidden: int, inputs: int, outputs: int) -> int:
    """Parameters of a one-layer cell with PyTorch's two biases, plus the output layer."""
    G = GATES[cell]
    return G * (hidden * inputs + hidden * hidden + 2 * hidden) + hidden * outputs + outputs


def hidden_for(cell: str, target: int, inputs: int, outputs: int) -> int:
    """The hidden size whose :func:`parameter_count` is closest to ``target``."""
    G = GATES[cell]
    a, b, c = G, G * (inputs + 2) + outputs, outputs - target  # a H^2 + b H + c = 0
    root = (-b + math.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)
    candidates = [max(1, math.floor(root)), max(1, math.ceil(root))]
    return min(candidates, key=lambda h: abs(parameter_count(cell, h, inputs, outputs) - target))


def chrono_bias(hidden: int, T_max: int):
    """The chrono forget-gate bias (Tallec & Ollivier, 2018, "Can recurrent neural networks warp time?").

    A unit whose forget gate sits at f keeps c over about 1 / (1 - f) steps; drawing

        b_f = log(u),  u ~ U(1, T_max - 1),   b_i = -b_f

    spreads the units' initial memory spans over 1 .. T_max - 1 steps (f = sigmoid(b_f) =
    u / (1 + u)), with the input gate closed as much as the forget gate is open. At T_max =
    100 the longest-lived units start with f near 0.99, close to the 1997 LSTM's constant
    error carousel (a cell without forget gate: f = 1).

    Args:
        hidden: H.
        T_max: the longest time lag expected (here: the sequence length).

    Returns:
        (H,) b_f, drawn from rnnkit's global generator (``manual_seed`` makes it repeatable).
    """
    return log(1.0 + rand(hidden) * max(T_max - 2, 0))


class LabNet(nn.Module):
    """One recurrent layer and a linear read-out: at the last step or at every step.

    PyTorch's initialisation (every weight and bias uniform in +-1/sqrt(H)), except the
    LSTM's gate biases (``lstm_init``, see :data:`LSTM_INITS`):

    - ``"chrono"`` (the default): :func:`chrono_bias` for the forget gate, its negative for the
      input gate (the biases b_ih + b_hh sum to exactly those values).
    - ``"forget1"``: the forget-gate bias starts 1 higher (Gers, Schmidhuber & Cummins, 2000;
      Jozefowicz et al., 2015; Keras's ``unit_forget_bias``): f_t starts near sigmoid(1) =
      0.73, so the error carried back through c shrinks by about 0.73 per step.

    (The 1997 paper's cells had no forget gate: f = 1.) The LSTM's ``lstm_activation`` is
    Keras's LSTM ``activation`` (:data:`LSTM_ACTIVATIONS`): g_t = act(z_g), h_t = o_t act(c_t).

    Args:
        cell: "rnn", "lstm" or "gru".
        inputs, hidden, outputs: I, H, O.
        per_step: read out every h_t (else only the last).
        lstm_init: "chrono" or "forget1".
        T_max: the sequence length, for "chrono".
        lstm_activation: "tanh" or "linear".

    Example:
        >>> import numpy as np
        >>> net = LabNet("lstm", 3, 4, 2, per_step=True, lstm_activation="linear")
        >>> net(np.zeros((5, 7, 3), np.float32)).shape
        (5, 7, 2)
    """

    def __init__(self, cell: str, inputs: int, hidden: int, outputs: int, per_step: bool,
                 lstm_init: str = "chrono", T_max: int = 100, lstm_activation: str = "tanh"):
        super().__init__()
        if lstm_init not in LSTM_INITS:
            raise ValueError(f"lstm_init: expected one of {', '.join(LSTM_INITS)}, got {lstm_init!r}")
        if lstm_activation not in LSTM_ACTIVATIONS:
            raise ValueError(f"lstm_activation: expected one of {', '.join(LSTM_ACTIVATIONS)}, "
                             f"got {lstm_activation!r}")
        self.cell, self.per_step = cell, per_step
        self.options = {"activation": lstm_activation} if cell == "lstm" else {}  # the recurrent op's options
        self.rnn = LAYERS[cell](inputs, hidden, batch_first=True)
        self.head = nn.Linear(hidden, outputs)
        if cell == "lstm":
            H = hidden
            with no_grad():  # gate order i, f, g, o
                if lstm_init == "forget1":
                    self.rnn.bias_ih_l0[H : 2 * H] += FORGET_BIAS
                else:
                    b_f = chrono_bias(H, T_max)  # (H,)
                    self.rnn.bias_ih_l0[:H] = -b_f
                    self.rnn.bias_ih_l0[H : 2 * H] = b_f
                    self.rnn.bias_hh_l0[: 2 * H] = 0.0

    def recur(self, x, state=None):
        """The recurrent layer with the model's options: x (B, T, I), ``state`` None (zeros), h or (h, c)
        each (B, H) -> (hs (B, T, H), the state after the last step in the same form)."""
        layer, h0, c0 = self.rnn, None, None
        if state is not None:
            h, c = state if self.cell == "lstm" else (state, None)
            h0, c0 = h.unsqueeze(0), None if c is None else c.unsqueeze(0)  # (1, B, H) each
        weights = [(layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0, None)]
        out, h_n, c_n = recurrent(layer.mode, as_tensor(x).transpose(0, 1), h0, c0, weights, **self.options)
        return out.transpose(0, 1), ((h_n[0], c_n[0]) if self.cell == "lstm" else h_n[0])

    def forward(self, x):
        """x (B, T, I) -> (B, T, O) or (B, O)."""
        h, _ = self.recur(x)  # (B, T, H)
        return self.head(h if self.per_step else h[:, -1])

    def read_out(self, hs: list):
        """The output from the list of h_t (B, H), as :meth:`forward` would give it."""
        return self.head(stack(hs, dim=1)) if self.per_step else self.head(hs[-1])


def hidden_gradients(model: LabNet, task: Task, batch: Batch) -> np.ndarray:
    """(B, T): ||dL_b/dh_t|| per sequence b, L_b the loss of its long-range target alone.

    The model is unrolled one step at a time (:meth:`LabNet.recur` at T = 1, so with the
    same cell options as its forward); each h_t gets a zero leaf z_t added (``h_t + z_t``
    has the value h_t), so after ``backward`` the row b of ``z_t.grad`` is dL/dh_t for
    sequence b (the loss is a mean over the batch, and sequence b's loss depends on its own
    states only).
    """
    x = batch.x
    B, T, H = x.shape[0], x.shape[1], model.rnn.hidden_size
    state, hs, leaves = None, [], []
    for t in range(T):
        _, state = model.recur(x[:, t : t + 1], state)  # h (B, H) or (h, c)
        z = zeros(B, H, dtype=model.rnn.weight_hh_l0.dtype, requires_grad=True)
        h = (state[0] if model.cell == "lstm" else state) + z  # same value; z.grad = dLoss/dh_t
        state = (h, state[1]) if model.cell == "lstm" else h
        hs.append(h)
        leaves.append(z)
    task.loss(model.read_out(hs), batch, memory_only=True).backward()
    return np.stack([np.linalg.norm(np.asarray(z.grad), axis=1) for z in leaves], axis=1)  # (B, T)


def gradient_by_distance(model: LabNet, task: Task, batch: Batch) -> np.ndarray:
    """||dL/dh_t|| against the distance d = (step of the long-range target) - t, d = 0, 1, ...

    Each entry is the root mean square over the batch of sequence b's ||dL_b/dh_{m_b - d}||
    (m_b its memory step). Returns (D,): D = min_b m_b + 1, the distances every sequence reaches.
    """
    norms = hidden_gradients(model, task, batch)  # (B, T)
    depth = int(batch.memory.min()) + 1
    rows = np.arange(len(norms))
    by_distance = np.stack([norms[rows, batch.memory - d] for d in range(depth)], axis=1)  # (B, D)
    return np.sqrt(np.mean(by_distance**2, axis=0))
