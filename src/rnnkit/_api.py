"""Every tensor function by name: what ``rnnkit`` exports and what Tensor methods call.

Example:
    >>> from rnnkit import _api
    >>> _api.topk is _api._indexing.topk
    True
"""

from __future__ import annotations

import sys

from rnnkit import _creation, _indexing, _linalg, _ops
from rnnkit._tensor import bind_ops
from rnnkit._creation import *  # noqa: F401,F403
from rnnkit._indexing import *  # noqa: F401,F403
from rnnkit._linalg import *  # noqa: F401,F403
from rnnkit._ops import *  # noqa: F401,F403
from rnnkit._ops import Cast  # noqa: F401  (Tensor.astype)

__all__ = sorted({*_creation.__all__, *_indexing.__all__, *_linalg.__all__, *_ops.__all__})

bind_ops(sys.modules[__name__])  # Tensor methods call the ops through this module
