"""Every ``rnnkit.nn`` module, re-exported from its private file."""

from rnnkit.nn.modules.activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from rnnkit.nn.modules.container import Identity, ModuleDict, ModuleList, Sequential
from rnnkit.nn.modules.dropout import Dropout, Dropout1d, Dropout2d
from rnnkit.nn.modules.flatten import Flatten
from rnnkit.nn.modules.linear import Linear
from rnnkit.nn.modules.loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from rnnkit.nn.modules.module import Module, Parameter
from rnnkit.nn.modules.normalization import BatchNorm1d, LayerNorm
from rnnkit.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from rnnkit.nn.modules.sparse import Embedding
from rnnkit.nn.modules.transformer import (
    MultiheadAttention, Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "Module", "Parameter", "Linear", "Embedding", "Dropout", "Sequential", "ModuleList", "ModuleDict",
    "Identity", "Flatten", "Tanh", "ReLU", "Sigmoid", "Softmax", "LogSoftmax", "GELU", "LeakyReLU",
    "Dropout1d", "Dropout2d", "LayerNorm", "BatchNorm1d",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCEWithLogitsLoss",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "MultiheadAttention", "Transformer",
    "TransformerEncoder", "TransformerEncoderLayer", "TransformerDecoder", "TransformerDecoderLayer",
]
