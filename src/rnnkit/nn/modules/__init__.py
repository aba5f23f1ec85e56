"""Every ``rnnkit.nn`` module, re-exported from its private file."""

from rnnkit.nn.modules.activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from rnnkit.nn.modules.container import Identity, ModuleDict, ModuleList, Sequential
from rnnkit.nn.modules.dropout import Dropout
from rnnkit.nn.modules.flatten import Flatten
from rnnkit.nn.modules.linear import Linear
from rnnkit.nn.modules.loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from rnnkit.nn.modules.module import Module, Parameter
from rnnkit.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from rnnkit.nn.modules.sparse import Embedding

__all__ = [
    "Module", "Parameter", "Linear", "Embedding", "Dropout", "Sequential", "ModuleList", "ModuleDict",
    "Identity", "Flatten", "Tanh", "ReLU", "Sigmoid", "Softmax", "LogSoftmax",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCEWithLogitsLoss",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
]
