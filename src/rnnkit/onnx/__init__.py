"""ONNX export and import for both dialects (needs the optional ``onnx`` package: ``pip install 'rnnkit[files]'``).

* :func:`export` writes an ``rnnkit.nn`` module (``torch.onnx.export``'s signature; also
  ``rnnkit.onnx.export`` as ``torch.onnx.export`` after ``import rnnkit as torch``), your own
  ``nn.Module`` subclasses included: their forward is traced (:mod:`rnnkit.onnx._trace`). Keras
  models use ``model.export(path, format="onnx")``.
* :func:`load` reads an ONNX graph of ``LSTM``/``GRU``/``RNN`` nodes and common ops into an
  ``rnnkit.nn`` module with the same numbers (trainable: its weights are Parameters).
* :func:`register` adds a converter for a module class, used instead of tracing its forward
  (it receives the :class:`Graph` being written and the inputs as :class:`Sym` values, and
  writes the module with :func:`convert` and ``Graph.op``).

Recurrent layers become ONNX's own ``LSTM``/``GRU``/``RNN`` nodes (gate blocks reordered,
biases concatenated, ``layout=0`` with explicit transposes, ``sequence_lens`` for lengths,
initial states as inputs, final states as outputs); an LSTM projection and other activations
are written as a ``Scan`` of elementary ops instead. A Keras mask runs the node with
``sequence_lens`` when it is padding at the end, and the ``Scan`` (Keras's exact per-step
semantics, carried outputs included) for any other mask: an ``If`` chooses at run time.

Example:
    >>> import numpy as np, os, tempfile, rnnkit.onnx
    >>> model = rnnkit.nn.Sequential(rnnkit.nn.Linear(3, 4), rnnkit.nn.Tanh())
    >>> path = os.path.join(tempfile.mkdtemp(), "mlp.onnx")
    >>> rnnkit.onnx.export(model, np.ones((2, 3), np.float32), path)
    >>> back = rnnkit.onnx.load(path)
    >>> x = np.ones((5, 3), np.float32)
    >>> bool(np.allclose(back(x).detach().numpy(), model(x).detach().numpy(), atol=1e-6))
    True
"""

from rnnkit.onnx._export import export
from rnnkit.onnx._import import OnnxModule, load
from rnnkit.onnx._graph import Graph, Sym
from rnnkit.onnx._nn import convert, register

__all__ = ["export", "load", "register", "convert", "OnnxModule", "Graph", "Sym"]
