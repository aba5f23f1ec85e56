"""``rnnkit.utils``: data loading (:mod:`rnnkit.utils.data`), as ``torch.utils``."""

from rnnkit.utils import data

__all__ = ["data"]
