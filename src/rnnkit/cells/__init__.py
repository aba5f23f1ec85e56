"""The recurrent math of rnnkit: pure functions on NumPy arrays, no autograd.

One module per cell (:mod:`~rnnkit.cells.rnn`, :mod:`~rnnkit.cells.lstm`,
:mod:`~rnnkit.cells.gru`), each opening with its ``step()`` (the equations as code, which
the tests hold everything else to), then ``forward`` over a whole sequence and its
hand-derived ``backward`` (BPTT), all three with one protocol: a state tuple in and out, a
``Params`` structure, a ``Cache`` dataclass. :mod:`~rnnkit.cells.common` holds what they share
(the masked products, checks, the step runner); :mod:`~rnnkit.cells.activations` the
activations they plug in; :mod:`~rnnkit.cells.scan` the one driver over layers, directions and
masks, with the registry ``CELLS`` of modes, and :mod:`~rnnkit.cells.streaming` its shortcut for
one small inference call. :mod:`~rnnkit.cells.kernels` decides which loop
runs (``kernels.select``: NumPy, the compiled numba kernels of ``rnnkit.cells._numba``, or the
fused inference path; ``RNNKIT_KERNEL=numpy|numba`` or ``kernels.use`` force one); the NumPy
code here is the fallback and the reference of the compiled one.
"""

from rnnkit.cells import activations, common, gru, kernels, lstm, rnn, scan, streaming

__all__ = ["activations", "common", "rnn", "lstm", "gru", "scan", "streaming", "kernels"]
