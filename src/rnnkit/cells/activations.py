"""Elementwise activations the cells plug in, with their derivatives.

Each :class:`Activation` has ``forward(z, out=None) -> y`` and ``derivative(s) -> dy/dz``,
where ``s`` is whichever of ``y`` (``saves == "output"``) or ``z`` (``saves == "input"``)
the derivative is cheapest and exact from, so a cell keeps only that array for BPTT:

    name          y = f(z)                            dy/dz                          saves
    tanh          tanh(z)                             1 - y^2                        output
    sigmoid       1 / (1 + exp(-z))                   y (1 - y)                      output
    relu          max(z, 0)                           [y > 0]                        output
    hard_sigmoid  relu6(z + 3) / 6  (Keras 3)         [0 < y < 1] / 6                output
    linear        z                                   1                              output
    exponential   exp(z)                              y                              output
    elu           z if z > 0 else exp(z) - 1          1 if z > 0 else exp(z)         input
    selu          s*z if z > 0 else s*a*(exp(z) - 1)  s if z > 0 else s*a*exp(z)    input
    softplus      log(1 + exp(z))                     sigmoid(z)                     input
    softsign      z / (1 + |z|)                       1 / (1 + |z|)^2                input
    silu (swish)  z sigmoid(z)                        s (1 + z (1 - s)), s=sigmoid   input
    gelu          z Phi(z)  (exact, erf)              Phi(z) + z phi(z)              input

Names and definitions follow Keras 3 (``keras.activations``); ``None`` means linear, as in
Keras. Every function keeps the input dtype (float32 stays float32). ``sigmoid`` and
``exponential`` may overflow ``exp`` to ``inf`` for extreme inputs, which still gives the
right value; the cells run inside ``np.errstate(over="ignore")`` so no warning is raised.

Example:
    >>> import numpy as np
    >>> from rnnkit.cells import activations
    >>> act = activations.get("hard_sigmoid")
    >>> act.forward(np.array([-4.0, 0.0, 1.5], np.float32))
    array([0.  , 0.5 , 0.75], dtype=float32)
    >>> act.derivative(act.forward(np.array([-4.0, 0.0], np.float32)))
    array([0.        , 0.16666667], dtype=float32)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Activation", "ACTIVATIONS", "get"]


@dataclass(frozen=True)
class Activation:
    """An elementwise activation and its derivative.

    Attributes:
        name: registry key (Keras spelling).
        forward: ``forward(z, out=None) -> y``, same shape and dtype as ``z``; ``out`` must
            not be ``z`` itself.
        derivative: ``derivative(s) -> dy/dz`` as a new array, ``s`` is ``y`` or ``z`` as
            ``saves`` says.
        saves: ``"output"`` if ``derivative`` takes ``y``, ``"input"`` if it takes ``z``.
    """

    name: str  # registry key
    forward: Callable[..., np.ndarray]  # forward(z, out=None) -> y
    derivative: Callable[[np.ndarray], np.ndarray]  # derivative(s) -> dy/dz
    saves: str = "output"  # which array derivative() needs: "output" (y) or "input" (z)

    def backward(self, dy: np.ndarray, s: np.ndarray) -> np.ndarray:
        """dz = dy * f'(z), with ``s`` the saved output or input (see ``saves``)."""
        return dy * self.derivative(s)  # (...)


def _out(z: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    return np.empty_like(z) if out is None else out


def _tanh(z, out=None):
    return np.tanh(z, out)  # (...)


def _d_tanh(y):
    d = np.square(y)  # (...) y^2
    return np.subtract(1, d, out=d)  # (...) 1 - y^2


def _sigmoid(z, out=None):
    y = np.negative(z, out)  # (...) -z
    np.exp(y, y)  # (...) exp(-z)
    np.add(y, 1, y)  # (...) 1 + exp(-z)
    return np.reciprocal(y, y)  # (...) 1 / (1 + exp(-z))


def _d_sigmoid(y):
    d = np.subtract(1, y)  # (...) 1 - y
    return np.multiply(d, y, out=d)  # (...) y (1 - y)


def _relu(z, out=None):
    return np.maximum(z, 0, out=out)  # (...)


def _d_relu(y):
    return (y > 0).astype(y.dtype)  # (...)


def _hard_sigmoid(z, out=None):
    y = np.add(z, 3, out=_out(z, out))  # (...) z + 3
    np.divide(y, 6, out=y)  # (...) (z + 3) / 6
    return np.clip(y, 0, 1, out=y)  # (...) relu6(z + 3) / 6


def _d_hard_sigmoid(y):
    d = ((y > 0) & (y < 1)).astype(y.dtype)  # (...) inside the linear piece
    return np.divide(d, 6, out=d)  # (...)


def _linear(z, out=None):
    if out is None:
        return z.copy()
    np.copyto(out, z)
    return out


def _d_linear(y):
    return np.ones_like(y)  # (...)


def _exponential(z, out=None):
    return np.exp(z, out=_out(z, out))  # (...)


def _d_exponential(y):
    return y.copy()  # (...)


def _elu(z, out=None):
    y = np.expm1(np.minimum(z, 0), out=_out(z, out))  # (...) exp(min(z, 0)) - 1
    np.copyto(y, z, where=z > 0)  # (...) z where z > 0
    return y


def _d_elu(z):
    d = np.exp(np.minimum(z, 0))  # (...) exp(min(z, 0))
    np.copyto(d, 1, where=z > 0)  # (...) 1 where z > 0
    return d


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _selu(z, out=None):
    y = np.expm1(np.minimum(z, 0), out=_out(z, out))  # (...) exp(min(z, 0)) - 1
    y *= _SELU_SCALE * _SELU_ALPHA  # (...) s a (exp(z) - 1)
    np.copyto(y, z * _SELU_SCALE, where=z > 0)  # (...) s z where z > 0
    return y


def _d_selu(z):
    d = np.exp(np.minimum(z, 0))  # (...)
    d *= _SELU_SCALE * _SELU_ALPHA  # (...) s a exp(z)
    np.copyto(d, _SELU_SCALE, where=z > 0)  # (...) s where z > 0
    return d


def _softplus(z, out=None):
    return np.logaddexp(0, z, out=_out(z, out))  # (...) log(1 + exp(z))


def _d_softplus(z):
    with np.errstate(over="ignore"):
        return _sigmoid(z)  # (...)


def _softsign(z, out=None):
    y = np.abs(z, out=_out(z, out))  # (...) |z|
    np.add(y, 1, out=y)  # (...) 1 + |z|
    return np.divide(z, y, out=y)  # (...) z / (1 + |z|)


def _d_softsign(z):
    d = np.abs(z)  # (...)
    d += 1  # (...) 1 + |z|
    np.square(d, out=d)  # (...)
    return np.reciprocal(d, out=d)  # (...) 1 / (1 + |z|)^2


def _silu(z, out=None):
    with np.errstate(over="ignore"):
        y = _sigmoid(z, out)  # (...) sigmoid(z)
    return np.multiply(y, z, out=y)  # (...) z sigmoid(z)


def _d_silu(z):
    with np.errstate(over="ignore"):
        s = _sigmoid(z)  # (...)
    d = np.subtract(1, s)  # (...) 1 - s
    d *= z  # (...) z (1 - s)
    d += 1  # (...) 1 + z (1 - s)
    return np.multiply(d, s, out=d)  # (...) s (1 + z (1 - s))


_erf = np.frompyfunc(math.erf, 1, 1)  # exact erf elementwise (NumPy has none); object result


def _phi_cdf(z):
    return (0.5 * (1.0 + _erf(z * (1.0 / math.sqrt(2.0))))).astype(z.dtype)  # (...) Phi(z)


def _gelu(z, out=None):
    return np.multiply(z, _phi_cdf(z), out=_out(z, out))  # (...) z Phi(z)


def _d_gelu(z):
    pdf = np.exp(-0.5 * np.square(z)) * (1.0 / math.sqrt(2.0 * math.pi))  # (...) phi(z)
    return _phi_cdf(z) + z * pdf  # (...)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("tanh", _tanh, _d_tanh),
        Activation("sigmoid", _sigmoid, _d_sigmoid),
        Activation("relu", _relu, _d_relu),
        Activation("hard_sigmoid", _hard_sigmoid, _d_hard_sigmoid),
        Activation("linear", _linear, _d_linear),
        Activation("exponential", _exponential, _d_exponential),
        Activation("elu", _elu, _d_elu, "input"),
        Activation("selu", _selu, _d_selu, "input"),
        Activation("softplus", _softplus, _d_softplus, "input"),
        Activation("softsign", _softsign, _d_softsign, "input"),
        Activation("silu", _silu, _d_silu, "input"),
        Activation("gelu", _gelu, _d_gelu, "input"),
    )
}
ACTIVATIONS["swish"] = ACTIVATIONS["silu"]  # Keras alias


def get(spec: str | Activation | None, argument: str = "activation") -> Activation:
    """The activation named ``spec`` (Keras names; ``None`` is linear) or ``spec`` itself.

    Raises:
        ValueError: unknown name; TypeError: neither a name, None nor an Activation.
        The message names ``argument``.
    """
    if isinstance(spec, Activation):
        return spec
    if spec is None:
        return ACTIVATIONS["linear"]
    if isinstance(spec, str):
        try:
            return ACTIVATIONS[spec]
        except KeyError:
            raise ValueError(
                f"{argument}: expected one of {sorted(ACTIVATIONS)}, got {spec!r}"
            ) from None
    raise TypeError(f"{argument}: expected an activation name, None or an Activation, got {type(spec).__name__}")
