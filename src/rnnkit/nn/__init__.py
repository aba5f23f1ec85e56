"""The PyTorch dialect: modules, losses, functional forms, initialisers and utilities.

Example:
    >>> from rnnkit import nn
    >>> rnn = nn.RNN(input_size=5, hidden_size=8, num_layers=2, batch_first=True, bidirectional=True)
    >>> import numpy as np
    >>> out, h_n = rnn(np.zeros((1, 10, 5), np.float32))
    >>> out.shape, h_n.shape
    ((1, 10, 16), (4, 1, 8))
"""

from rnnkit.nn import functional, init, utils
from rnnkit.nn.modules import *  # noqa: F401,F403
from rnnkit.nn.modules import __all__ as _modules_all

__all__ = list(_modules_all) + ["functional", "init", "utils"]
