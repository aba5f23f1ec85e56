"""Optimizers and learning-rate schedulers, as ``torch.optim``.

A parameter is any object with ``.data`` (a floating ndarray, updated in place) and
``.grad`` (an ndarray or None, skipped when None), e.g. ``rnnkit.nn.Parameter``.

Example:
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> from rnnkit import optim
    >>> p = SimpleNamespace(data=np.array([1.0, -1.0]), grad=None)
    >>> opt = optim.SGD([p], lr=0.25)
    >>> sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
    >>> p.grad = 2 * p.data          # gradient of sum(p ** 2)
    >>> opt.step(); sched.step(); opt.zero_grad()
    >>> p.data, sched.get_last_lr()
    (array([ 0.5, -0.5]), [0.025])
"""

from rnnkit.optim import lr_scheduler
from rnnkit.optim.adadelta import Adadelta
from rnnkit.optim.adagrad import Adagrad
from rnnkit.optim.adam import Adam, AdamW
from rnnkit.optim.adam_variants import Adamax, NAdam, RAdam
from rnnkit.optim.lbfgs import LBFGS
from rnnkit.optim.optimizer import Optimizer
from rnnkit.optim.rmsprop import RMSprop
from rnnkit.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "LBFGS",
           "lr_scheduler"]
