"""The recurrent math of rnnkit: pure functions on NumPy arrays, no autograd.

One module per cell (:mod:`~rnnkit.cells.rnn`, :mod:`~rnnkit.cells.lstm`,
:mod:`~rnnkit.cells.gru`), each with ``forward`` over a whole sequence and its hand-derived
``backward`` (BPTT); :mod:`~rnnkit.cells.activations`, the activations they plug in;
:mod:`~rnnkit.cells.scan`, the one driver over layers, directions and masks; and
:mod:`~rnnkit.cells.reference`, a plain per-step version the tests hold the fast path to.
The LSTM and GRU time loops of the common case (sigmoid/tanh, no recurrent dropout or
projection) run on a compiled numba kernel when numba is installed (the ``fast`` extra):
``rnnkit.cells._kernels`` selects it (``RNNKIT_KERNEL=numpy|numba`` forces one) and
``rnnkit.cells._numba`` holds it; the NumPy code here is the fallback and the reference.
"""

from rnnkit.cells import activations, gru, lstm, reference, rnn, scan

__all__ = ["activations", "rnn", "lstm", "gru", "scan", "reference"]
