"""``torch.set_num_threads`` / ``torch.get_num_threads``: the threads of rnnkit's compiled loops
and of the large products that run beside them (:mod:`rnnkit.cells.kernels`)."""

from __future__ import annotations

from rnnkit.cells import kernels

__all__ = ["set_num_threads", "get_num_threads"]


def set_num_threads(int: int) -> None:  # noqa: A002  (torch's parameter name)
    """Use ``int`` threads for the recurrent loops and the products on their pool, in the whole
    process from now on, as ``torch.set_num_threads`` (``RNNKIT_NUM_THREADS`` sets the count
    before; ``rnnkit.cells.kernels.use`` overrides it for a block). NumPy's own BLAS keeps its
    threads.

    Raises:
        TypeError: not an int; ValueError: below 1.

    Example:
        >>> import rnnkit
        >>> before = rnnkit.get_num_threads()
        >>> rnnkit.set_num_threads(1)
        >>> rnnkit.get_num_threads()
        1
        >>> rnnkit.set_num_threads(before)
    """
    kernels.set_threads(int, name="set_num_threads")


def get_num_threads() -> int:
    """The threads the recurrent loops use in this thread/context (``torch.get_num_threads``):
    :func:`set_num_threads`'s count, else ``RNNKIT_NUM_THREADS``'s (default: every core this
    process may run on)."""
    return kernels.current().threads
