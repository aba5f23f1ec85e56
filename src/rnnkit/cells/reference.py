"""Plain per-step reference cells, written straight from the equations (one gate at a time).

Slow and obviously correct: the tests hold the fast cells and :mod:`~rnnkit.cells.scan` to
these. They use only ``@``, ``*``, ``+``, ``-`` and the activation callables passed in, so
they run on NumPy arrays or, for autograd gradients, on ``torch`` tensors alike.

Arguments: x (B, I), state a tuple ((h,) or (h, c)), weights in PyTorch's layout (biases may
be None), act / rec_act callables; m_x and m_h are None or dropout masks on x and on h_{t-1},
(B, K) shared or (G, B, K) one per gate, multiplied in only where Keras 3 does.

Example:
    >>> import numpy as np
    >>> from rnnkit.cells import reference
    >>> x, h, W_ih, W_hh = np.ones((1, 2)), np.zeros((1, 3)), np.ones((3, 2)), np.ones((3, 3))
    >>> (h1,) = reference.rnn_step(x, (h,), W_ih, W_hh, None, None, np.tanh)
    >>> np.round(h1, 3)
    array([[0.964, 0.964, 0.964]])
"""

from __future__ import annotations

__all__ = ["rnn_step", "lstm_step", "gru_step", "run"]


def _gate(k, H, a, W, b, m=None):
    """(a * m_k) W_k^T + b_k for gate k: rows k*H:(k+1)*H of W and b."""
    if m is not None:
        a = a * (m if m.ndim == 2 else m[k])
    out = a @ W[k * H:(k + 1) * H].T
    return out if b is None else out + b[k * H:(k + 1) * H]


def rnn_step(x, state, W_ih, W_hh, b_ih, b_hh, act, m_x=None, m_h=None):
    """h = act((x * m_x) W_ih^T + b_ih + (h * m_h) W_hh^T + b_hh)."""
    (h,) = state
    H = W_hh.shape[0]
    return (act(_gate(0, H, x, W_ih, b_ih, m_x) + _gate(0, H, h, W_hh, b_hh, m_h)),)


def lstm_step(x, state, W_ih, W_hh, b_ih, b_hh, act, rec_act, m_x=None, m_h=None, W_hr=None):
    """i, f, o = rec_act(.), g = act(.); c = f c + i g; h = o act(c) [W_hr^T]."""
    h, c = state
    H = W_hh.shape[0] // 4
    i, f, g, o = (_gate(k, H, x, W_ih, b_ih, m_x) + _gate(k, H, h, W_hh, b_hh, m_h) for k in range(4))
    i, f, g, o = rec_act(i), rec_act(f), act(g), rec_act(o)
    c = f * c + i * g
    h = o * act(c)
    return (h if W_hr is None else h @ W_hr.T, c)


def gru_step(x, state, W_ih, W_hh, b_ih, b_hh, act, rec_act, m_x=None, m_h=None, reset_after=True):
    """r, z = rec_act(.); n = act(x_n + r * (h_n)) or act(x_n + (r * h) W_hn^T + b_hn); h = (1-z) n + z h."""
    (h,) = state
    H = W_hh.shape[0] // 3
    r = rec_act(_gate(0, H, x, W_ih, b_ih, m_x) + _gate(0, H, h, W_hh, b_hh, m_h))
    z = rec_act(_gate(1, H, x, W_ih, b_ih, m_x) + _gate(1, H, h, W_hh, b_hh, m_h))
    x_n = _gate(2, H, x, W_ih, b_ih, m_x)
    if reset_after:
        n = act(x_n + r * _gate(2, H, h, W_hh, b_hh, m_h))
    else:
        m_n = None if m_h is None else (m_h if m_h.ndim == 2 else m_h[2])
        rh = r * h if m_n is None else r * h * m_n
        n = act(x_n + _gate(2, H, rh, W_hh, b_hh))
    return ((1 - z) * n + z * h,)


def run(step, xs, state, mask=None, **kwargs):
    """Apply ``step`` over time; where mask[t, b] is 0 the state is carried.

    Args:
        step: one of the ``*_step`` functions; xs: sequence of (B, I) inputs;
        state: initial state tuple; mask: None or (T, B) of 0/1 numbers (same array kind as xs);
        kwargs: the step's other arguments.

    Returns:
        list over t of the state tuple after step t.
    """
    states = []
    for t in range(len(xs)):
        new = step(xs[t], state, **kwargs)
        if mask is not None:
            keep = mask[t][:, None]
            new = tuple(keep * n + (1 - keep) * s for n, s in zip(new, state))
        state = new
        states.append(state)
    return states
