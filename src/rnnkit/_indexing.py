"""Indexing, selection and ordering ops: index_put (``t[i] = v``), gather, scatter, index_select,
masked_fill, narrow, flip, repeat, topk, sort, multinomial, ...

Each differentiable op routes its gradient back to the positions it read: ``gather``'s
backward scatters-adds, ``index_select``'s accumulates repeated indices, ``sort``/``topk``
send each value's gradient to where it came from.

Example:
    >>> import rnnkit
    >>> x = rnnkit.tensor([[0.1, 0.7, 0.2]])
    >>> x.topk(2).indices
    tensor([[1, 2]])
    >>> x.gather(1, rnnkit.tensor([[2, 0]]))
    tensor([[0.2000, 0.1000]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit import return_types
from rnnkit._ops import _axes, _index, _tensor, _unbroadcast, clone, getitem, where
from rnnkit._tensor import Function, Tensor, _shape_args, array_of

__all__ = [
    "index_put", "gather", "scatter", "index_select", "masked_fill", "masked_select", "narrow", "select",
    "flip", "repeat", "topk", "sort", "argsort", "nonzero", "multinomial", "take_along_dim",
]


def _long(x: Any, name: str) -> np.ndarray:
    array = array_of(x)
    if array.dtype.kind not in "iu":
        raise RuntimeError(f"{name}: expected an integer (int64) index tensor, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


class IndexPut(Function):
    """``out = a`` with ``out[index] = v`` (v broadcast to the selected shape and cast to a's dtype)."""

    def forward(self, a, v, index):
        self.index, self.v_shape = index, v.shape
        out = a.copy()
        out[index] = v
        return out

    def backward(self, g):
        ga = g.copy()
        ga[self.index] = 0
        gv = np.asarray(g[self.index])
        return ga, _unbroadcast(gv, self.v_shape) if gv.shape != self.v_shape else gv


def index_put(a, index, value):
    """``a`` with ``a[index]`` replaced by ``value``, out of place; ``t[index] = v`` writes it back."""
    a = _tensor(a)
    value = value if isinstance(value, Tensor) else Tensor._wrap(np.asarray(value, dtype=a._array.dtype))
    if value._array.dtype != a._array.dtype:
        if value.requires_grad:
            raise RuntimeError(f"index_put: value has dtype {value.dtype}, expected {a.dtype} (the tensor's)")
        value = Tensor._wrap(value._array.astype(a._array.dtype))
    return IndexPut.apply(a, value, index=_index(index))


class Gather(Function):
    def forward(self, a, index, dim):
        self.shape, self.dtype, self.dim, self.index = a.shape, a.dtype, dim, index
        return np.take_along_axis(a, index, axis=dim)

    def backward(self, g):
        grad = np.zeros(self.shape, self.dtype)
        _scatter_add(grad, self.index, g, self.dim)
        return grad


def _scatter_add(out: np.ndarray, index: np.ndarray, src: np.ndarray, dim: int) -> None:
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    np.add.at(out, tuple(grid), src)


def gather(a, dim, index):
    """``out[i][j] = a[i][index[i][j]]`` for ``dim=1``, as ``torch.gather``."""
    a = _tensor(a)
    index = _long(index, "gather(index)")
    if index.ndim != a.ndim:
        raise RuntimeError(f"gather: index has {index.ndim} dimensions, expected {a.ndim} (the input's)")
    return Gather.apply(a, index=index, dim=_axes(dim, a.ndim)[0])


def take_along_dim(a, indices, dim):
    return gather(a, dim, indices)


class Scatter(Function):
    def forward(self, a, src, index, dim):
        self.index, self.dim = index, dim
        grid = list(np.indices(index.shape, sparse=True))
        grid[dim] = index
        self.grid = tuple(grid)
        out = a.copy()
        out[self.grid] = src[tuple(slice(0, n) for n in index.shape)]
        self.src_shape = src.shape
        return out

    def backward(self, g):
        ga = g.copy()
        ga[self.grid] = 0
        gs = np.zeros(self.src_shape, g.dtype)
        gs[tuple(slice(0, n) for n in self.index.shape)] = g[self.grid]
        return ga, gs


def scatter(a, dim, index, src=None, value=None):
    """``out = a`` with ``out[i][index[i][j]] = src[i][j]`` for ``dim=1``, as ``torch.scatter``."""
    a = _tensor(a)
    if (src is None) == (value is None):
        raise TypeError("scatter: expected exactly one of src and value")
    index = _long(index, "scatter(index)")
    if src is None or not isinstance(src, Tensor):
        src = Tensor._wrap(np.broadcast_to(np.asarray(value if src is None else src, a._array.dtype), index.shape))
    return Scatter.apply(a, src, index=index, dim=_axes(dim, a.ndim)[0])


def index_select(a, dim, index):
    """The slices ``index`` along ``dim`` (repeats allowed), as ``torch.index_select``."""
    a = _tensor(a)
    index = _long(index, "index_select(index)")
    if index.ndim > 1:
        raise IndexError(f"index_select(): Index is supposed to be a vector, got {index.ndim} dimensions")
    dim = _axes(dim, a.ndim)[0]
    return getitem(a, (slice(None),) * dim + (index.reshape(-1),))


def masked_fill(a, mask, value):
    """``a`` with ``value`` where ``mask`` (bool, broadcast) is True."""
    mask = array_of(mask)
    if mask.dtype != np.bool_:
        raise RuntimeError(f"masked_fill only supports boolean masks, but got mask with dtype {mask.dtype}")
    a = _tensor(a)
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, got {value.ndim} dimensions")
    fill = value if isinstance(value, Tensor) else Tensor._wrap(np.asarray(value, dtype=a._array.dtype))
    return where(mask, fill.astype(a.dtype) if not fill.requires_grad else fill, a)


def masked_select(a, mask):
    """The elements where ``mask`` is True, as a 1-d tensor."""
    a = _tensor(a)
    mask = np.broadcast_to(array_of(mask).astype(bool), a.shape)
    return getitem(a, mask)


def narrow(a, dim, start, length):
    """``length`` elements of ``dim`` from ``start``: a view, as ``torch.narrow``."""
    dim = _axes(dim, a.ndim)[0]
    start = int(start) % a.shape[dim] if int(start) < 0 else int(start)
    if start + length > a.shape[dim] or length < 0:
        raise RuntimeError(f"narrow: start ({start}) + length ({length}) exceeds dimension size ({a.shape[dim]}).")
    return getitem(a, (slice(None),) * dim + (slice(start, start + length),))


def select(a, dim, index):
    dim = _axes(dim, a.ndim)[0]
    return getitem(a, (slice(None),) * dim + (int(index),))


def flip(a, *dims):
    """Reverse the order along ``dims`` (``flip(0, 1)`` or ``flip((0, 1))``); a copy, as torch."""
    dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    axes = _axes(dims, a.ndim)
    return clone(getitem(a, tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(a.ndim))))


class Tile(Function):
    def forward(self, a, reps):
        self.shape, self.reps = a.shape, reps
        return np.tile(a, reps)

    def backward(self, g):
        lead = len(self.reps) - len(self.shape)
        shape = (1,) * lead + self.shape
        split = [n for pair in zip(self.reps, shape) for n in pair]  # (r0, n0, r1, n1, ...)
        summed = g.reshape(split).sum(axis=tuple(range(0, 2 * len(shape), 2)))
        return summed.reshape(self.shape)


def repeat(a, *sizes):
    """Tile ``a`` ``sizes`` times along each dimension, as ``torch.Tensor.repeat``."""
    sizes = _shape_args(sizes)
    if len(sizes) < a.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor"
        )
    return Tile.apply(a, reps=sizes)


def _ordering(a: Tensor, dim: int, descending: bool) -> np.ndarray:
    """A stable argsort along ``dim`` (ties keep their order, which torch's ``stable=True`` promises)."""
    data = a._array
    if descending:
        data = ~data if data.dtype.kind == "b" else -data
    return np.argsort(data, axis=dim, kind="stable")


def sort(a, dim=-1, descending=False, stable=False):
    """``(values, indices)`` sorted along ``dim``; the gradient goes back to each value's position."""
    a = _tensor(a)
    dim = _axes(dim, a.ndim)[0] if a.ndim else 0
    if a.ndim == 0:
        return return_types.sort(a, Tensor._wrap(np.zeros((), np.int64)))
    order = _ordering(a, dim, descending)
    return return_types.sort(Gather.apply(a, index=order, dim=dim), Tensor._wrap(order.astype(np.int64)))


def argsort(a, dim=-1, descending=False, stable=False):
    return sort(a, dim, descending, stable).indices


def topk(a, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (or smallest) values along ``dim`` and their indices, as ``torch.topk``."""
    a = _tensor(a)
    dim = _axes(dim, a.ndim)[0] if a.ndim else 0
    n = a.shape[dim] if a.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: selected index k ({k}) out of range (the dimension has {n} elements)")
    order = _ordering(a, dim, largest)
    index = np.take(order, np.arange(k), axis=dim)
    return return_types.topk(Gather.apply(a, index=index, dim=dim), Tensor._wrap(index.astype(np.int64)))


def nonzero(a, as_tuple=False):
    """Indices of the non-zero elements: an (n, ndim) tensor, or one tensor per dimension."""
    found = np.nonzero(array_of(a))
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in found)
    return Tensor._wrap(np.stack(found, axis=1).astype(np.int64) if found else np.zeros((0, 0), np.int64))


def multinomial(probs, num_samples, replacement=False, generator=None):
    """Draw indices with probability proportional to each row of ``probs``, as ``torch.multinomial``."""
    from rnnkit._generator import numpy_generator

    weights = array_of(probs).astype(np.float64)
    if weights.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got {weights.ndim}")
    if np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or element < 0")
    rows = weights.reshape(-1, weights.shape[-1])
    if np.any(rows.sum(axis=1) <= 0):
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement and num_samples > rows.shape[1]:
        raise RuntimeError("multinomial: cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    rng = numpy_generator(generator)
    out = np.stack([rng.choice(rows.shape[1], size=num_samples, replace=replacement, p=r / r.sum()) for r in rows])
    return Tensor._wrap(out.reshape(weights.shape[:-1] + (num_samples,)).astype(np.int64))
