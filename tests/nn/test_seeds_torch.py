"""The PyTorch-flavoured examples of the seed tutorials (000, 002, 003), run on rnnkit.

Each test writes the tutorial's code with ``rnnkit`` in place of ``torch`` and asserts the
shapes the tutorials print; the NumPy loop is checked against ``rnnkit.nn.RNN`` itself.
"""

import math

import numpy as np
import pytest

import rnnkit
from rnnkit import nn
from rnnkit.nn import functional as F


def test_numpy_rnn_loop_of_000_and_002_matches_nn_rnn():
    # 000/002: (timesteps=10, input_size=4) input, hidden 8, h_t = tanh(Wx x_t + Wh h_{t-1} + b)
    rng = np.random.default_rng(0)
    time_steps, input_size, hidden_size = 10, 4, 8
    inputs = rng.random((time_steps, input_size))
    hidden_state_t = np.zeros((hidden_size,))
    Wx = rng.random((hidden_size, input_size))
    Wh = rng.random((hidden_size, hidden_size))
    b = rng.random((hidden_size,))
    total_hidden_states = []
    for input_t in inputs:
        output_t = np.tanh(np.dot(Wx, input_t) + np.dot(Wh, hidden_state_t) + b)
        total_hidden_states.append(list(output_t))
        hidden_state_t = output_t
    total_hidden_states = np.stack(total_hidden_states, axis=0)
    assert total_hidden_states.shape == (10, 8)

    # The same loop is rnnkit.nn.RNN on unbatched input, with b split as b_ih and b_hh = 0.
    rnn = nn.RNN(input_size, hidden_size, dtype=np.float64)
    rnn.load_state_dict({"weight_ih_l0": Wx, "weight_hh_l0": Wh, "bias_ih_l0": b, "bias_hh_l0": np.zeros(8)})
    outputs, h_n = rnn(inputs)
    assert outputs.shape == (10, 8) and h_n.shape == (1, 8)
    np.testing.assert_allclose(outputs.detach().numpy(), total_hidden_states, rtol=0, atol=1e-12)


def test_nn_rnn_shapes_of_000_and_002():
    inputs = rnnkit.Tensor(1, 10, 5)  # (batch_size, time_steps, input_size)
    assert inputs.shape == (1, 10, 5)

    cell = nn.RNN(5, 8, batch_first=True)
    outputs, _status = cell(inputs)
    assert outputs.shape == (1, 10, 8) and _status.shape == (1, 1, 8)

    cell_D = nn.RNN(input_size=5, hidden_size=8, num_layers=2, batch_first=True)
    assert repr(cell_D) == "RNN(5, 8, num_layers=2, batch_first=True)"
    outputs, _status = cell_D(inputs)
    assert outputs.shape == (1, 10, 8) and _status.shape == (2, 1, 8)
    # the last layer's final state is the last output
    np.testing.assert_array_equal(_status.detach().numpy()[1, 0], outputs.detach().numpy()[0, -1])

    cell_B = nn.RNN(input_size=5, hidden_size=8, num_layers=2, batch_first=True, bidirectional=True)
    outputs, _status = cell_B(inputs)
    assert outputs.shape == (1, 10, 16) and _status.shape == (4, 1, 8)


def test_nn_lstm_shapes_of_000():
    inputs = rnnkit.Tensor(1, 10, 5)
    cell = nn.LSTM(5, 8, batch_first=True)
    outputs, (h, c) = cell(inputs)
    assert outputs.shape == (1, 10, 8) and h.shape == (1, 1, 8) and c.shape == (1, 1, 8)

    cell = nn.LSTM(input_size=5, hidden_size=8, num_layers=2, batch_first=True)
    outputs, _status = cell(inputs)
    assert outputs.shape == (1, 10, 8)
    assert [s.shape for s in _status] == [(2, 1, 8), (2, 1, 8)]

    cell = nn.LSTM(input_size=5, hidden_size=8, num_layers=2, batch_first=True, bidirectional=True)
    outputs, (h, c) = cell(inputs)
    assert outputs.shape == (1, 10, 16) and h.shape == (4, 1, 8) and c.shape == (4, 1, 8)


# -- 003: the hand-written LSTMCell / LSTMModel, with its bugs fixed ------------------------
# Fixes against the tutorial: `self.parameters()` is a call; the model passes `bias` (not
# `layer_dim`) as the cell's third argument; c0 uses `self.hidden_dim`; `squeeze()` calls are
# replaced by explicit shapes so a batch of one keeps its batch axis; no CUDA/Variable.
class LSTMCell(nn.Module):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.x2h = nn.Linear(input_size, 4 * hidden_size, bias=bias)
        self.h2h = nn.Linear(hidden_size, 4 * hidden_size, bias=bias)
        self.reset_parameters()

    def reset_parameters(self):
        std = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            w.data[...] = rnnkit.rand(*w.shape).detach().numpy() * 2 * std - std  # uniform_(-std, std)

    def forward(self, x, hidden):
        hx, cx = hidden
        x = x.view(-1, x.size(1))
        gates = self.x2h(x) + self.h2h(hx)  # (B, 4H)
        ingate, forgetgate, cellgate, outgate = gates.chunk(4, 1)
        ingate = F.sigmoid(ingate)
        forgetgate = F.sigmoid(forgetgate)
        cellgate = F.tanh(cellgate)
        outgate = F.sigmoid(outgate)
        cy = cx * forgetgate + ingate * cellgate
        hy = outgate * F.tanh(cy)
        return hy, cy


class LSTMModel(nn.Module):
    def __init__(self, input_dim, hidden_dim, layer_dim, output_dim, bias=True):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.layer_dim = layer_dim
        self.lstm = LSTMCell(input_dim, hidden_dim, bias)
        self.fc = nn.Linear(hidden_dim, output_dim)

    def forward(self, x):
        h0 = rnnkit.zeros(self.layer_dim, x.size(0), self.hidden_dim)
        c0 = rnnkit.zeros(self.layer_dim, x.size(0), self.hidden_dim)
        cn, hn = c0[0, :, :], h0[0, :, :]
        for seq in range(x.size(1)):
            hn, cn = self.lstm(x[:, seq, :], (hn, cn))
        return self.fc(hn)  # (B, output_dim) from the last hidden state


def test_handwritten_lstm_cell_of_003_equals_nn_lstm_cell():
    rnnkit.manual_seed(0)
    mine = LSTMCell(6, 5)
    ref = nn.LSTMCell(6, 5)
    ref.load_state_dict({
        "weight_ih": mine.x2h.weight.data, "weight_hh": mine.h2h.weight.data,
        "bias_ih": mine.x2h.bias.data, "bias_hh": mine.h2h.bias.data,
    })
    x = rnnkit.randn(3, 6)
    h, c = rnnkit.randn(3, 5), rnnkit.randn(3, 5)
    hy, cy = mine(x, (h, c))
    hr, cr = ref(x, (h, c))
    np.testing.assert_allclose(hy.detach().numpy(), hr.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cy.detach().numpy(), cr.detach().numpy(), rtol=1e-5, atol=1e-6)
    bound = 1 / math.sqrt(5)
    assert all(np.abs(p.data).max() <= bound for p in mine.parameters())


def test_handwritten_lstm_model_of_003_trains():
    # Task: the class of a sequence is the sign of the sum of its first feature.
    rnnkit.manual_seed(1)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 12, 3)).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.int64)
    model = LSTMModel(input_dim=3, hidden_dim=16, layer_dim=1, output_dim=2)
    optimizer = rnnkit.optim.Adam(model.parameters(), lr=0.02)
    criterion = nn.CrossEntropyLoss()
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        loss = criterion(model(rnnkit.tensor(x)), rnnkit.tensor(y))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    accuracy = (model(rnnkit.tensor(x)).detach().numpy().argmax(1) == y).mean()
    assert accuracy > 0.9
