"""Datasets, samplers and the DataLoader, as ``torch.utils.data``.

Example:
    >>> import rnnkit
    >>> from rnnkit.utils.data import DataLoader, TensorDataset
    >>> ds = TensorDataset(rnnkit.arange(10).float().view(5, 2), rnnkit.arange(5))
    >>> [y.tolist() for _, y in DataLoader(ds, batch_size=2)]
    [[0, 1], [2, 3], [4]]
"""

from rnnkit.utils.data.dataloader import DataLoader, default_collate, default_convert
from rnnkit.utils.data.dataset import (
    ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split,
)
from rnnkit.utils.data.sampler import (
    BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler, WeightedRandomSampler,
)

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "Sampler",
    "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler",
    "DataLoader", "default_collate", "default_convert",
]
