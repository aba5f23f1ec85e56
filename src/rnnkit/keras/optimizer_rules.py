"""Keras 3.15's optimizer update rules as pure functions on arrays, acting in place (one per
optimizer of :mod:`rnnkit.keras.optimizers`, which applies them after clipping and weight decay).

Keras and PyTorch write the same algorithms differently (Keras puts epsilon inside the square
root for RMSprop and Adagrad, uses the "epsilon hat" form of Adam, keeps SGD momentum as a
velocity scaled by the learning rate...), so each Keras rule is written here once. Every array
has its variable's shape, written ``(*P)``; ``step`` counts from 1.

Example:
    >>> w, m, v = np.array([1.0]), np.zeros(1), np.zeros(1)
    >>> keras_adam(w, np.array([2.0]), m, v, None, lr=0.1, beta_1=0.9, beta_2=0.999, epsilon=0.0, step=1)
    >>> w.round(12)
    array([0.9])
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "keras_sgd_momentum",
    "keras_rmsprop",
    "keras_adagrad",
    "keras_adam",
    "keras_adafactor",
    "keras_lamb",
    "keras_schedule_free_adamw",
    "keras_adadelta",
    "keras_adamax",
    "keras_nadam",
    "keras_lion",
    "keras_ftrl",
    "newton_schulz5",
    "keras_muon",
]


def keras_sgd_momentum(w: np.ndarray, g: np.ndarray, m: np.ndarray, *, lr: float, momentum: float,
                       nesterov: bool) -> None:
    """Keras's SGD with momentum; ``m`` is a velocity that already includes the learning rate.

    Equations::

        m = momentum * m - lr * g
        w = w + momentum * m - lr * g     (nesterov)
        w = w + m                         (otherwise)

    Args:
        w: ``(*P)`` variable, updated in place.
        g: ``(*P)`` gradient.
        m: ``(*P)`` velocity, updated in place (zeros before the first step).
        lr, momentum, nesterov: as :class:`SGD`.

    Example:
        >>> w, m = np.array([1.0]), np.zeros(1)
        >>> keras_sgd_momentum(w, np.array([1.0]), m, lr=0.1, momentum=0.9, nesterov=False)
        >>> w, m
        (array([0.9]), array([-0.1]))
    """
    m *= momentum  # (*P)
    m -= lr * g  # (*P)
    if nesterov:
        w -= lr * g  # (*P)
        w += momentum * m  # (*P)
    else:
        w += m  # (*P)


def keras_rmsprop(w, g, v, mom, avg_g, *, lr: float, rho: float, momentum: float, epsilon: float) -> None:
    """Keras's RMSprop (epsilon inside the square root).

    Equations::

        v     = rho * v + (1 - rho) * g**2
        a     = rho * a + (1 - rho) * g                 (centered)
        d     = sqrt(v - a**2 + eps)  if centered  else  sqrt(v + eps)
        inc   = lr * g / d
        mom   = momentum * mom + inc;  w = w - mom      (momentum > 0)
        w     = w - inc                                 (otherwise)

    Args:
        w: ``(*P)`` variable, updated in place.
        g: ``(*P)`` gradient.
        v: ``(*P)`` mean square, updated in place.
        mom: ``(*P)`` momentum buffer or None.
        avg_g: ``(*P)`` mean gradient (centered) or None.
        lr, rho, momentum, epsilon: as :class:`RMSprop`.

    Example:
        >>> w, v = np.array([1.0]), np.zeros(1)
        >>> keras_rmsprop(w, np.array([2.0]), v, None, None, lr=0.1, rho=0.9, momentum=0.0, epsilon=0.0)
        >>> w.round(6), v.round(6)
        (array([0.683772]), array([0.4]))
    """
    v *= rho  # (*P)
    v += (1 - rho) * (g * g)  # (*P)
    if avg_g is not None:
        avg_g *= rho  # (*P)
        avg_g += (1 - rho) * g  # (*P)
        denominator = np.sqrt(v + epsilon - avg_g * avg_g)  # (*P)
    else:
        denominator = np.sqrt(v + epsilon)  # (*P)
    increment = g * lr / denominator  # (*P)
    if mom is not None:
        mom *= momentum  # (*P)
        mom += increment  # (*P)
        w -= mom  # (*P)
    else:
        w -= increment  # (*P)


def keras_adagrad(w, g, acc, *, lr: float, epsilon: float) -> None:
    """Keras's Adagrad (accumulator starts at ``initial_accumulator_value``; epsilon inside the root).

    Equations::

        acc = acc + g**2
        w   = w - lr * g / sqrt(acc + eps)

    Example:
        >>> w, acc = np.array([1.0]), np.full(1, 0.1)
        >>> keras_adagrad(w, np.array([0.3]), acc, lr=0.1, epsilon=0.0)
        >>> w.round(6), acc.round(6)
        (array([0.931175]), array([0.19]))
    """
    acc += g * g  # (*P)
    w -= g * lr / np.sqrt(acc + epsilon)  # (*P)


def keras_adam(w, g, m, v, v_hat, *, lr: float, beta_1: float, beta_2: float, epsilon: float, step: int) -> None:
    """Keras's Adam ("epsilon hat" form: the bias correction is folded into the step size).

    Equations (``t`` = step, counted from 1)::

        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m     = m + (g - m) * (1 - beta_1)
        v     = v + (g**2 - v) * (1 - beta_2)
        v_hat = max(v_hat, v);  v = v_hat              (amsgrad)
        w     = w - m * alpha / (sqrt(v) + eps)

    Args:
        w: ``(*P)`` variable, updated in place.
        g: ``(*P)`` gradient.
        m, v: ``(*P)`` moments, updated in place.
        v_hat: ``(*P)`` running max of ``v`` (amsgrad) or None.
        lr, beta_1, beta_2, epsilon: as :class:`Adam`.
        step: the number of this step, 1 for the first.

    Example:
        >>> w, m, v = np.array([1.0]), np.zeros(1), np.zeros(1)
        >>> keras_adam(w, np.array([2.0]), m, v, None, lr=0.1, beta_1=0.9, beta_2=0.999, epsilon=0.0, step=1)
        >>> w.round(12)
        array([0.9])
    """
    dtype = w.dtype.type
    t = dtype(step)  # Keras computes the powers in the variable's dtype
    alpha = dtype(lr) * np.sqrt(1 - dtype(beta_2) ** t) / (1 - dtype(beta_1) ** t)  # scalar
    m *= beta_1  # (*P)
    m += (1 - beta_1) * g  # (*P)
    v *= beta_2  # (*P)
    v += (1 - beta_2) * (g * g)  # (*P)
    if v_hat is not None:
        np.maximum(v_hat, v, out=v_hat)  # (*P)
        v = v_hat
    w -= m * alpha / (np.sqrt(v) + epsilon)  # (*P)


def keras_adafactor(w, g, r, c, v, *, lr: float, step: int, beta_2_decay: float, epsilon_1: float,
                    epsilon_2: float, clip_threshold: float) -> None:
    """Keras's Adafactor (Shazeer & Stern, 2018): factored second moments for variables of rank >= 2.

    Equations (``t`` = step from 1, ``rms(x) = sqrt(mean(x**2))``, ``b = 1 - t**beta_2_decay``)::

        alpha = max(epsilon_2, rms(w)) * min(lr, 1 / sqrt(t))
        G     = g**2 + epsilon_1
        r     = b r + (1 - b) mean(G, -1);  c = b c + (1 - b) mean(G, -2)      (rank >= 2)
        v     = (r / mean(r, -1))[..., None] * c[..., None, :]                  (rank >= 2)
        v     = b v + (1 - b) G                                                 (otherwise)
        u     = g / sqrt(v);   w = w - alpha * u / max(1, rms(u) / clip_threshold)

    Args:
        w: ``(*P)`` variable, updated in place.
        g: ``(*P)`` gradient.
        r: ``P[:-1]`` row statistics, updated in place (rank >= 2; otherwise unused).
        c: ``P[:-2] + P[-1:]`` column statistics, updated in place (rank >= 2; otherwise unused).
        v: ``(*P)`` second-moment estimate, updated in place.
        lr, beta_2_decay, epsilon_1, epsilon_2, clip_threshold: as :class:`Adafactor`.
        step: the number of this step, 1 for the first.

    Example:
        >>> w, v = np.array([1.0, -1.0]), np.zeros(2)
        >>> keras_adafactor(w, np.array([0.5, 0.5]), None, None, v, lr=0.1, step=1, beta_2_decay=-0.8,
        ...                 epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0)
        >>> w
        array([ 0.9, -1.1])
    """
    dtype = w.dtype.type
    t = dtype(step)
    alpha = max(dtype(epsilon_2), np.sqrt(np.mean(w * w))) * min(dtype(lr), 1 / np.sqrt(t))  # scalar
    beta = 1 - t ** dtype(beta_2_decay)  # scalar
    squared = g * g + dtype(epsilon_1)  # (*P)
    if w.ndim >= 2:
        r *= beta
        r += (1 - beta) * squared.mean(axis=-1)  # P[:-1]
        c *= beta
        c += (1 - beta) * squared.mean(axis=-2)  # P[:-2] + P[-1:]
        v[...] = (r / r.mean(axis=-1, keepdims=True))[..., None] * c[..., None, :]  # (*P)
    else:
        v *= beta
        v += (1 - beta) * squared  # (*P)
    u = g / np.sqrt(v)  # (*P)
    w -= alpha * (u / max(dtype(1), np.sqrt(np.mean(u * u)) / dtype(clip_threshold)))  # (*P)


def keras_lamb(w, g, m, v, *, lr: float, beta_1: float, beta_2: float, epsilon: float, step: int) -> None:
    """Keras's Lamb (You et al., 2019): Adam's direction scaled by the layer-wise trust ratio.

    Equations (``t`` = step from 1)::

        m = m + (g - m)(1 - beta_1);   v = v + (g**2 - v)(1 - beta_2)
        u = (m / (1 - beta_1**t)) / (sqrt(v / (1 - beta_2**t)) + eps)
        w = w - ratio * lr * u,   ratio = ||w|| / ||u||  (1 when either norm is 0)

    Example:
        >>> w, m, v = np.array([3.0, 4.0]), np.zeros(2), np.zeros(2)
        >>> keras_lamb(w, np.array([1.0, 1.0]), m, v, lr=0.1, beta_1=0.9, beta_2=0.999, epsilon=0.0, step=1)
        >>> w.round(4)
        array([2.6464, 3.6464])
    """
    dtype = w.dtype.type
    t = dtype(step)
    m += (g - m) * (1 - beta_1)  # (*P)
    v += (g * g - v) * (1 - beta_2)  # (*P)
    update = (m / (1 - dtype(beta_1) ** t)) / (np.sqrt(v / (1 - dtype(beta_2) ** t)) + dtype(epsilon))  # (*P)
    w_norm, u_norm = np.sqrt(np.sum(w * w)), np.sqrt(np.sum(update * update))  # scalars
    ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else dtype(1)
    w -= ratio * dtype(lr) * update  # (*P)


def keras_schedule_free_adamw(w, g, z, v, *, lr: float, beta_1: float, beta_2: float, epsilon: float, step: int,
                              warmup_steps: int) -> None:
    """Keras's schedule-free AdamW (Defazio et al., 2024): ``z`` (Keras's "momentum", the variable's value at
    the first step) takes Adam-scaled steps, the average ``x`` of the ``z`` iterates is kept implicitly, and
    the variable holds their interpolation ``y``.

    Equations (``t`` = step from 1, ``lr_t = lr * min(t / warmup_steps, 1)``)::

        v     = v + (g**2 - v)(1 - beta_2)
        z     = z - lr_t g / (sqrt(v / (1 - beta_2**t)) + eps)
        x_old = (y - (1 - beta_1) z) / beta_1
        x     = (1 - 1/t) x_old + z / t;    y = (1 - beta_1) z + beta_1 x

    ``x_old`` uses the updated ``z``, as Keras 3.15 computes it on its torch backend (its
    ``momentum.value`` there is the buffer that ``assign_sub`` then updates in place; the paper, and
    Keras on other backends, take ``z`` from before the step): rnnkit follows the torch backend, the
    reference of its parity tests.

    Example:
        >>> w, v = np.array([1.0]), np.zeros(1)
        >>> z = w.copy()
        >>> keras_schedule_free_adamw(w, np.array([2.0]), z, v, lr=0.1, beta_1=0.9, beta_2=0.999, epsilon=0.0,
        ...                           step=1, warmup_steps=0)
        >>> w.round(6), z.round(6)
        (array([0.9]), array([0.9]))
    """
    dtype = w.dtype.type
    t = dtype(step)
    if warmup_steps > 0:
        lr = dtype(lr) * min(t / dtype(warmup_steps), dtype(1))
    v += (g * g - v) * (1 - beta_2)  # (*P)
    z -= dtype(lr) * g / (np.sqrt(v / (1 - dtype(beta_2) ** t)) + dtype(epsilon))  # (*P)
    weight = 1 / t
    x_old = (w - (1 - dtype(beta_1)) * z) / dtype(beta_1)  # (*P)
    x_new = (1 - weight) * x_old + weight * z  # (*P)
    w[...] = (1 - dtype(beta_1)) * z + dtype(beta_1) * x_new  # (*P)


def keras_adadelta(w, g, acc_grad, acc_delta, *, lr: float, rho: float, epsilon: float) -> None:
    """Keras's Adadelta step, in place::

        acc_grad  = rho acc_grad + (1 - rho) g^2
        delta     = -sqrt(acc_delta + eps) / sqrt(acc_grad + eps) * g
        acc_delta = rho acc_delta + (1 - rho) delta^2
        w         = w + lr delta
    """
    acc_grad *= rho
    acc_grad += (1 - rho) * g * g  # (*P)
    delta = -np.sqrt(acc_delta + epsilon) * g / np.sqrt(acc_grad + epsilon)  # (*P)
    acc_delta *= rho
    acc_delta += (1 - rho) * delta * delta
    w += lr * delta


def keras_adamax(w, g, m, u, *, lr: float, beta_1: float, beta_2: float, epsilon: float, step: int) -> None:
    """Keras's Adamax step, in place: ``m += (g - m)(1 - b1)``, ``u = max(b2 u, |g|)``,
    ``w -= lr m / ((1 - b1^t)(u + eps))``."""
    m += (g - m) * (1 - beta_1)  # (*P)
    np.maximum(beta_2 * u, np.abs(g), out=u)
    w -= lr * m / ((1 - w.dtype.type(beta_1) ** step) * (u + epsilon))


def keras_nadam(w, g, m, v, *, lr: float, beta_1: float, beta_2: float, epsilon: float, step: int,
                u_product: float) -> None:
    """Keras's Nadam step, in place (``u_product`` = prod_{s<=t} u_s, advanced once per iteration)::

        u_t = b1 (1 - 0.5 * 0.96^t),  u_t1 = b1 (1 - 0.5 * 0.96^(t+1))
        m += (g - m)(1 - b1);  v += (g^2 - v)(1 - b2)
        m_hat = u_t1 m / (1 - u_product u_t1) + (1 - u_t) g / (1 - u_product);  v_hat = v / (1 - b2^t)
        w -= lr m_hat / (sqrt(v_hat) + eps)
    """
    f = w.dtype.type
    u_t = f(beta_1) * (f(1.0) - f(0.5) * f(0.96) ** f(step))
    u_t1 = f(beta_1) * (f(1.0) - f(0.5) * f(0.96) ** f(step + 1))
    u_product = f(u_product)
    m += (g - m) * (1 - f(beta_1))  # (*P)
    v += (g * g - v) * (1 - f(beta_2))  # (*P)
    m_hat = u_t1 * m / (1 - u_product * u_t1) + (1 - u_t) * g / (1 - u_product)
    v_hat = v / (1 - f(beta_2) ** f(step))
    w -= m_hat * f(lr) / (np.sqrt(v_hat) + f(epsilon))


def keras_lion(w, g, m, *, lr: float, beta_1: float, beta_2: float) -> None:
    """Keras's Lion step, in place: ``w -= lr sign(b1 m + (1 - b1) g)``, then ``m = b2 m + (1 - b2) g``."""
    w -= lr * np.sign(m * beta_1 + g * (1.0 - beta_1))
    m *= beta_2
    m += g * (1.0 - beta_2)


def keras_ftrl(w, g, accum, linear, *, lr: float, lr_power: float, l1: float, l2: float, l2_shrinkage: float,
               beta: float) -> None:
    """Keras's FTRL-proximal step, in place::

        l2'    = l2 + beta / (2 lr);  n' = accum + g^2
        linear += g + 2 l2_shrinkage w - (n'^-p - accum^-p) / lr * w          (p = lr_power)
        w      = (clip(linear, -l1, l1) - linear) / (n'^-p / lr + 2 l2');  accum = n'
    """
    l2 = l2 + beta / (2.0 * lr)
    new_accum = accum + g * g  # (*P)
    linear += g + 2 * l2_shrinkage * w - (new_accum ** -lr_power - accum ** -lr_power) / lr * w
    quadratic = new_accum ** -lr_power / lr + 2 * l2
    w[...] = (np.clip(linear, -l1, l1) - linear) / quadratic
    accum[...] = new_accum


def newton_schulz5(x: np.ndarray, steps: int, a: float, b: float, c: float) -> np.ndarray:
    """Keras's ``zeropower_via_newtonschulz5``: an approximate orthogonalisation of a matrix.

    Equations (on the last two axes, transposed first when there are more rows than columns)::

        X = X / (||X||_F + 1e-7)
        repeat steps:  A = X X^T;  X = a X + (b A + c A A) X

    Args:
        x: ``(..., m, n)`` matrix.
        steps: the number of iterations.
        a, b, c: the quintic's coefficients.

    Returns:
        ``(..., m, n)`` array.

    Example:
        >>> newton_schulz5(np.array([[3.0, 0.0], [0.0, 1.0]]), 5, 3.4445, -4.775, 2.0315).round(2)
        array([[0.75, 0.  ],
               [0.  , 1.13]])
    """
    if x.ndim < 2:
        raise ValueError(f"newton_schulz5: expected a gradient or momentum of rank >= 2, got shape {x.shape}")
    dtype = x.dtype.type
    tall = x.shape[-2] > x.shape[-1]
    if tall:
        x = np.swapaxes(x, -1, -2)
    x = x / (np.sqrt(np.sum(x * x, axis=(-2, -1), keepdims=True)) + dtype(1e-7))  # (..., m, n)
    for _ in range(steps):
        gram = x @ np.swapaxes(x, -1, -2)  # (..., m, m)
        x = dtype(a) * x + (dtype(b) * gram + dtype(c) * gram @ gram) @ x  # (..., m, n)
    return np.swapaxes(x, -1, -2) if tall else x


def keras_muon(w, g, m, *, lr: float, momentum: float, nesterov: bool, ns_steps: int, a: float, b: float, c: float,
               rms_rate: float | None) -> None:
    """Keras's Muon step for a matrix (Jordan et al., 2024): momentum, then the orthogonalised direction.

    Equations::

        m = momentum m + g
        d = g + momentum m   (nesterov)   |   m   (otherwise)
        u = lr * newton_schulz5(d)
        w = w - u * sqrt(max(rows, columns)) * rms_rate      (w - u when rms_rate is None)

    Example:
        >>> w, m = np.eye(2), np.zeros((2, 2))
        >>> keras_muon(w, np.eye(2), m, lr=0.1, momentum=0.95, nesterov=False, ns_steps=5, a=3.4445,
        ...            b=-4.775, c=2.0315, rms_rate=None)
        >>> w.round(3)
        array([[0.889, 0.   ],
               [0.   , 0.889]])
    """
    dtype = w.dtype.type
    m += g + m * dtype(momentum - 1)  # (*P)
    direction = g + dtype(momentum) * m if nesterov else m  # (*P)
    update = dtype(lr) * newton_schulz5(direction, ns_steps, a, b, c)  # (*P)
    if rms_rate is not None:
        update = update * np.sqrt(dtype(max(update.shape[0], update.shape[1]))) * dtype(rms_rate)
    w -= update  # (*P)
