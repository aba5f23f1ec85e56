"""Named tuples that ``max``/``min``/``topk``/``sort`` with a dimension return, as ``torch.return_types``.

Example:
    >>> import rnnkit
    >>> best = rnnkit.tensor([[1.0, 3.0, 2.0]]).max(dim=1)
    >>> best.values, best.indices
    (tensor([3.]), tensor([1]))
"""

from __future__ import annotations

from collections import namedtuple

__all__ = ["max", "min", "topk", "sort", "kthvalue", "mode", "median"]

max = namedtuple("max", ["values", "indices"])
min = namedtuple("min", ["values", "indices"])
topk = namedtuple("topk", ["values", "indices"])
sort = namedtuple("sort", ["values", "indices"])
kthvalue = namedtuple("kthvalue", ["values", "indices"])
mode = namedtuple("mode", ["values", "indices"])
median = namedtuple("median", ["values", "indices"])
