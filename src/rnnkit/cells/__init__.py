"""The recurrent math of rnnkit: pure functions on NumPy arrays, no autograd.

One module per cell (:mod:`~rnnkit.cells.rnn`, :mod:`~rnnkit.cells.lstm`,
:mod:`~rnnkit.cells.gru`), each with ``forward`` over a whole sequence and its hand-derived
``backward`` (BPTT); :mod:`~rnnkit.cells.activations`, the activations they plug in;
:mod:`~rnnkit.cells.scan`, the one driver over layers, directions and masks; and
:mod:`~rnnkit.cells.reference`, a plain per-step version the tests hold the fast path to.
"""

from rnnkit.cells import activations, gru, lstm, reference, rnn, scan

__all__ = ["activations", "rnn", "lstm", "gru", "scan", "reference"]
