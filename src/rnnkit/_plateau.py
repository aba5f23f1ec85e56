"""The plateau count both dialects' ``ReduceLROnPlateau`` share (``optim.lr_scheduler`` and
``keras.callbacks``): epochs without improvement, and the cooldown after a reduction.

One epoch (``bad`` = epochs without improvement, ``cooldown`` = epochs left to ignore)::

    bad      = 0 if improved else bad + 1
    if cooldown > 0:  cooldown -= 1;  bad = 0      (bad epochs in a cooldown are not counted)
    reduce   = bad > patience

and after a reduction the caller restarts the count: ``bad = 0``, ``cooldown = <its cooldown>``.
This is PyTorch's rule. Keras's (``wait >= patience``, and the epoch that ends a cooldown
counts) is the same count with ``patience - 1`` and ``cooldown - 1`` (see :func:`keras_counts`).
Each caller decides what "improved" means (thresholds, modes) and keeps the state in its own
attributes, so schedulers stay plain JSON-able data.

Example:
    >>> bad, cooldown = 0, 0
    >>> reductions = []
    >>> for improved in [True, False, False, False, False]:
    ...     bad, cooldown, reduce = plateau_step(bad, cooldown, improved, patience=1)
    ...     if reduce:
    ...         bad, cooldown = 0, 1
    ...     reductions.append(reduce)
    >>> reductions
    [False, False, True, False, False]
"""

from __future__ import annotations

__all__ = ["plateau_step", "keras_counts"]


def plateau_step(bad: int, cooldown: int, improved: bool, patience: int) -> tuple[int, int, bool]:
    """One epoch of the plateau count (module equations).

    Args:
        bad: epochs without improvement so far.
        cooldown: epochs of cooldown left.
        improved: whether this epoch's value improved on the best one.
        patience: bad epochs tolerated before a reduction.

    Returns:
        ``(bad, cooldown, reduce)``: the new counts and whether patience ran out.
    """
    bad = 0 if improved else bad + 1
    if cooldown > 0:
        cooldown -= 1
        bad = 0
    return bad, cooldown, bad > patience


def keras_counts(patience: int, cooldown: int) -> tuple[int, int]:
    """Keras's ``(patience, cooldown)`` as :func:`plateau_step`'s: Keras reduces at ``wait >= patience`` (so
    ``patience`` 0 and 1 both reduce at the first bad epoch) and counts the epoch that ends a cooldown."""
    return max(patience, 1) - 1, max(cooldown - 1, 0)
