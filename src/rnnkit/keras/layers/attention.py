"""Keras's attention layers: ``Attention`` (Luong), ``AdditiveAttention`` (Bahdanau), ``MultiHeadAttention``,
and the ``Dot`` merge layer, with Keras 3's masks, ``use_causal_mask`` and weight layout.

Equations (q (B, Tq, D), k and v (B, Tv, D); masks m_q (B, Tq), m_v (B, Tv))::

    Attention:           s = q k^T  (* scale)                 score_mode "dot"
                         s = c * sum_d tanh(scale (q_i + k_j))  score_mode "concat"
    AdditiveAttention:   s[b, i, j] = sum_d scale_d tanh(q[b, i, d] + k[b, j, d])
    both:                s = s - 1e9 where not (m_v and causal);  w = softmax(s);  y = w v;  y = 0 where not m_q
    MultiHeadAttention:  Q = q W_q + b_q (B, Tq, N, K), K_ = k W_k + b_k, V = v W_v + b_v (B, Tv, N, Kv)
                         s = (Q / sqrt(K)) K_^T per head, masked by m_q[:, :, None] & m_v[:, None, :] & causal
                         & attention_mask (masked -> -1e9, then 0 after the softmax);  w = softmax(s)
                         y = (w V) W_o + b_o   W_o (N, Kv, out)
    Dot(axes):           y[b] = sum over the paired axes of x1[b] * x2[b]  (l2-normalized first if normalize)

Example:
    >>> import numpy as np
    >>> from rnnkit.keras import layers
    >>> q, v = np.ones((2, 3, 4), np.float32), np.ones((2, 5, 4), np.float32)
    >>> layers.Attention()([q, v]).shape, layers.MultiHeadAttention(2, 8)(q, v).shape
    ((2, 3, 4), (2, 3, 4))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit import _ops
from rnnkit._random import generator
from rnnkit._tensor import Tensor, array_of
from rnnkit._validation import check_bool, check_rate, check_size
from rnnkit.keras._registry import LAYERS
from rnnkit.keras.layers.base import KerasTensor, Layer, is_shape
from rnnkit.keras.layers.core import _rng_for

__all__ = ["Attention", "AdditiveAttention", "MultiHeadAttention", "Dot", "dot"]

_NEG = -1e9  # Keras's large negative score of masked positions (float32)


def masked_softmax(scores: Tensor, mask: np.ndarray | None) -> Tensor:
    """Softmax over the last axis with ``mask`` (broadcastable bool) positions left out, as Keras's Softmax."""
    if mask is None:
        return _ops.softmax(scores, dim=-1)
    mask = np.broadcast_to(mask, tuple(scores.shape))
    return _ops.where(mask, _ops.softmax(_ops.where(mask, scores, _NEG), dim=-1), 0.0)


def causal_mask(tq: int, tv: int) -> np.ndarray:
    """(1, Tq, Tv): query step i sees value steps j <= i."""
    return (np.arange(tq)[:, None] >= np.arange(tv)[None, :])[None]


def _dropout(weights: Tensor, rate: float, rng: Any) -> Tensor:
    keep = ((rng or generator()).random(tuple(weights.shape)) >= rate) / (1.0 - rate)
    return weights * Tensor(keep.astype(weights.dtype))


class _BaseDenseAttention(Layer):
    """Shared call of Attention and AdditiveAttention: inputs ``[query, value]`` or ``[query, value, key]``."""

    def __init__(self, dropout: float = 0.0, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.dropout = check_rate("dropout", dropout)
        self.seed = seed
        self._rng = _rng_for(seed)
        self.supports_masking = True

    def _validate(self, inputs: Any) -> list:
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError(f"{type(self).__name__} layer '{self.name}': expected inputs [query, value] or "
                             f"[query, value, key], got {type(inputs).__name__}"
                             + (f" of length {len(inputs)}" if isinstance(inputs, (list, tuple)) else ""))
        return list(inputs)

    def call(self, inputs, mask=None, training=False, return_attention_scores=False, use_causal_mask=False):
        inputs = self._validate(inputs)
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        masks = list(mask) + [None] * 3 if isinstance(mask, (list, tuple)) else [None] * 3
        q_mask, v_mask = masks[0], masks[1]
        scores = self._scores(q, k)  # (B, Tq, Tv)
        score_mask = None if v_mask is None else np.asarray(v_mask, bool)[:, None, :]
        if use_causal_mask:
            causal = causal_mask(scores.shape[1], scores.shape[2])
            score_mask = causal if score_mask is None else score_mask & causal
        if score_mask is not None:
            scores = _ops.where(np.broadcast_to(score_mask, tuple(scores.shape)), scores, scores - 1e9)
        weights = _ops.softmax(scores, dim=-1)  # (B, Tq, Tv)
        if training and self.dropout > 0:
            weights = _dropout(weights, self.dropout, self._rng)
        out = _ops.matmul(weights, v)  # (B, Tq, D)
        if q_mask is not None:
            out = _ops.where(np.asarray(q_mask, bool)[:, :, None], out, 0.0)
        return (out, weights) if return_attention_scores else out

    def compute_mask(self, inputs, mask=None):
        if not isinstance(mask, (list, tuple)) or mask[0] is None:
            return None
        return np.asarray(mask[0], bool)

    def compute_output_shape(self, input_shape):
        shapes = self._validate(input_shape)
        return tuple(shapes[0][:-1]) + (shapes[1][-1],)

    def _symbolic_call(self, inputs, *args, **kwargs):
        if kwargs.get("return_attention_scores"):
            shapes = self._validate([t.shape for t in inputs])
            out = super()._symbolic_call(inputs, *args, **kwargs)
            return out, KerasTensor((shapes[0][0], shapes[0][1], shapes[1][1]), self.dtype)
        return super()._symbolic_call(inputs, *args, **kwargs)

    def get_config(self):
        return {**super().get_config(), "dropout": self.dropout, "seed": self.seed}


@LAYERS.register()
class Attention(_BaseDenseAttention):
    """Dot-product (Luong) attention.

    Args:
        use_scale: learn a scalar ``scale`` multiplying the scores.
        score_mode: ``'dot'`` or ``'concat'``.
        dropout: dropout rate on the attention weights while training.
        seed: seed of the dropout.
    """

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0,
                 seed: int | None = None, **kwargs: Any):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.use_scale = check_bool("use_scale", use_scale)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"score_mode: expected 'dot' or 'concat', got {score_mode!r}")
        self.score_mode = score_mode

    def build(self, input_shape):
        self._validate(input_shape)
        self.scale = self.add_weight("scale", (), "ones") if self.use_scale else None
        self.concat_score_weight = self.add_weight("concat_score_weight", (), "ones") \
            if self.score_mode == "concat" else None

    def _scores(self, q, k):
        if self.score_mode == "dot":
            scores = _ops.matmul(q, _ops.transpose(k, -2, -1))  # (B, Tq, Tv)
            return scores * self.scale if self.scale is not None else scores
        pair = _ops.unsqueeze(q, -2) + _ops.unsqueeze(k, -3)  # (B, Tq, Tv, D)
        if self.scale is not None:
            pair = pair * self.scale
        return self.concat_score_weight * _ops.sum(_ops.tanh(pair), dim=-1)

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode}


@LAYERS.register()
class AdditiveAttention(_BaseDenseAttention):
    """Additive (Bahdanau) attention; ``use_scale`` learns ``scale`` (D,) (glorot uniform, as Keras)."""

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, **kwargs: Any):
        super().__init__(dropout=dropout, **kwargs)
        self.use_scale = check_bool("use_scale", use_scale)

    def build(self, input_shape):
        shapes = self._validate(input_shape)
        self.scale = self.add_weight("scale", (shapes[0][-1],), "glorot_uniform") if self.use_scale else None

    def _scores(self, q, k):
        pair = _ops.tanh(_ops.unsqueeze(q, -2) + _ops.unsqueeze(k, -3))  # (B, Tq, Tv, D)
        return _ops.sum(pair * self.scale if self.scale is not None else pair, dim=-1)

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale}


@LAYERS.register()
class MultiHeadAttention(Layer):
    """Multi-head attention over (B, T, D) sequences, with Keras's EinsumDense weight layout.

    Args:
        num_heads: heads N.
        key_dim: size K of each query/key head.
        value_dim: size of each value head (default ``key_dim``).
        dropout: rate on the attention weights while training.
        use_bias: biases in the projections.
        output_shape: last size of the output (default: the query's last size).
        attention_axes, sliding_window, flash_attention, use_gate: Keras options; only their defaults
            (attention over the time axis, no window, no gate) are supported.
        kernel_/bias_ initializer / regularizer / constraint: of every projection.

    Call: ``layer(query, value, key=None, attention_mask=None, return_attention_scores=False,
    training=None, use_causal_mask=False)``; the Keras masks of query, value and key are used.
    """

    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None, dropout: float = 0.0,
                 use_bias: bool = True, output_shape: Any = None, attention_axes: Any = None,
                 sliding_window: Any = None, flash_attention: Any = None, kernel_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None, bias_constraint: Any = None,
                 use_gate: bool = False, seed: int | None = None, **kwargs: Any):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.num_heads = check_size("num_heads", num_heads, 1)
        self.key_dim = check_size("key_dim", key_dim, 1)
        self.value_dim = self.key_dim if value_dim is None else check_size("value_dim", value_dim, 1)
        self.dropout = check_rate("dropout", dropout)
        self.use_bias = check_bool("use_bias", use_bias)
        if output_shape is not None and not isinstance(output_shape, int) and tuple(output_shape).__len__() != 1:
            raise ValueError(f"output_shape: only one output size is supported, got {output_shape!r}")
        self.output_shape_arg = None if output_shape is None else int(
            output_shape if isinstance(output_shape, int) else tuple(output_shape)[0])
        for name, value in (("attention_axes", attention_axes), ("sliding_window", sliding_window)):
            if value is not None and not (name == "attention_axes" and tuple(np.atleast_1d(value)) in ((1,), (-2,))):
                raise ValueError(f"{name}: only the default (attention over the time axis) is supported, got {value!r}")
        if flash_attention or use_gate:
            raise ValueError("flash_attention / use_gate: not supported; pass None / False")
        self.seed = seed
        self._rng = _rng_for(seed)
        self._set_weight_options(kernel=(kernel_initializer, kernel_regularizer, kernel_constraint),
                                 bias=(bias_initializer, bias_regularizer, bias_constraint))
        self.supports_masking = True

    def __call__(self, query, value=None, key=None, **kwargs):
        if value is None:
            raise TypeError(f"MultiHeadAttention '{self.name}': call it as layer(query, value[, key])")
        if not self.built:
            shapes = [tuple(t.shape) if hasattr(t, "shape") else np.shape(t) for t in (query, value, key)
                      if t is not None]
            self._build_once((shapes[0], shapes[1], shapes[2] if len(shapes) > 2 else shapes[1]))
        return super().__call__(query, value, key, **kwargs)

    def build(self, input_shape):
        query_shape, value_shape, key_shape = input_shape
        N, Kd, Vd = self.num_heads, self.key_dim, self.value_dim
        out = self.output_shape_arg or query_shape[-1]
        for name, dim, size in (("query", query_shape[-1], Kd), ("key", key_shape[-1], Kd),
                                ("value", value_shape[-1], Vd)):
            setattr(self, f"{name}_kernel", self._add_option_weight(f"{name}_kernel", (dim, N, size), "kernel"))
            setattr(self, f"{name}_bias", self._add_option_weight(f"{name}_bias", (N, size), "bias")
                    if self.use_bias else None)
        self.output_kernel = self._add_option_weight("output_kernel", (N, Vd, out), "kernel")
        self.output_bias = self._add_option_weight("output_bias", (out,), "bias") if self.use_bias else None

    def _project(self, x: Tensor, name: str) -> Tensor:
        kernel, bias = getattr(self, f"{name}_kernel"), getattr(self, f"{name}_bias")
        d, n, size = kernel.shape
        y = _ops.reshape(_ops.matmul(x, _ops.reshape(kernel, (d, n * size))), (x.shape[0], x.shape[1], n, size))
        return y + bias if bias is not None else y  # (B, T, N, size)

    def call(self, query, value, key=None, mask=None, attention_mask=None, return_attention_scores=False,
             training=False, use_causal_mask=False, query_mask=None, value_mask=None, key_mask=None):
        value = value if isinstance(value, Tensor) else Tensor(np.asarray(value, self._np_dtype))
        key = value if key is None else (key if isinstance(key, Tensor) else Tensor(np.asarray(key, self._np_dtype)))
        q_mask = query_mask if query_mask is not None else mask
        v_mask = value_mask if value_mask is not None else getattr(value, "_keras_mask", None)
        k_mask = key_mask if key_mask is not None else (None if key is value else getattr(key, "_keras_mask", None))
        combined = None
        for part in (None if q_mask is None else np.asarray(q_mask, bool)[:, :, None],
                     None if v_mask is None else np.asarray(v_mask, bool)[:, None, :],
                     None if k_mask is None else np.asarray(k_mask, bool)[:, None, :],
                     causal_mask(query.shape[1], value.shape[1]) if use_causal_mask else None,
                     None if attention_mask is None else np.asarray(
                         array_of(attention_mask)) > 0.5):
            if part is not None:
                combined = part if combined is None else combined & part
        Q = _ops.permute(self._project(query, "query"), (0, 2, 1, 3)) * float(1.0 / np.sqrt(self.key_dim))  # (B, N, Tq, K)
        Kt = _ops.permute(self._project(key, "key"), (0, 2, 3, 1))  # (B, N, K, Tv)
        V = _ops.permute(self._project(value, "value"), (0, 2, 1, 3))  # (B, N, Tv, Kv)
        scores = masked_softmax(_ops.matmul(Q, Kt), None if combined is None else combined[:, None])  # (B, N, Tq, Tv)
        weights = _dropout(scores, self.dropout, self._rng) if training and self.dropout > 0 else scores
        heads = _ops.permute(_ops.matmul(weights, V), (0, 2, 1, 3))  # (B, Tq, N, Kv)
        B, Tq, N, Vd = heads.shape
        out = _ops.matmul(_ops.reshape(heads, (B, Tq, N * Vd)), _ops.reshape(self.output_kernel, (N * Vd, -1)))
        if self.output_bias is not None:
            out = out + self.output_bias  # (B, Tq, out)
        return (out, scores) if return_attention_scores else out

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        shape = input_shape[0] if not isinstance(input_shape[0], (int, type(None))) else input_shape
        return tuple(shape[:-1]) + (self.output_shape_arg or shape[-1],)

    def _symbolic_call(self, inputs, *args, **kwargs):
        out = super()._symbolic_call(inputs, *args, **kwargs)
        if kwargs.get("return_attention_scores"):
            value = args[0]
            return out, KerasTensor((inputs.shape[0], self.num_heads, inputs.shape[1], value.shape[1]), self.dtype)
        return out

    def keras_weight_groups(self) -> list[tuple[str, str, list]]:
        """Keras 3 keeps the four projections in ``EinsumDense`` sub-layers: ``(attribute, name, weights)`` of
        each object its weights files hold under this layer (the weightless dropout and softmax too)."""
        parts = (("key", "key"), ("output", "attention_output"), ("query", "query"), ("value", "value"))
        groups = [(f"{part}_dense", name, [self._parameters[key] for key in (f"{part}_kernel", f"{part}_bias")
                                           if key in self._parameters]) for part, name in parts]
        return groups + [("_dropout_layer", "dropout", []), ("_softmax", "softmax", [])]

    def keras_build_config(self) -> dict:
        """Keras's ``build_config`` of this layer: the shapes of ``build(query_shape, value_shape, key_shape)``."""
        shapes = self._build_input_shape
        shapes = list(shapes) if shapes and not is_shape(shapes) else [shapes]
        names = ("query_shape", "value_shape", "key_shape")
        return {"shapes_dict": {name: [None if d is None else int(d) for d in shape]
                                for name, shape in zip(names, shapes)}}

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self.output_shape_arg, "seed": self.seed,
                **self._weight_options_config("kernel", "bias")}


@LAYERS.register()
class Dot(Layer):
    """Dot product of two tensors along ``axes`` (an int or a pair), sample by sample.

    Args:
        axes: the summed axis of each input (not the batch axis).
        normalize: l2-normalize both inputs along those axes first (cosine similarity).
    """

    def __init__(self, axes: Any, normalize: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        pair = (axes, axes) if isinstance(axes, (int, np.integer)) else tuple(axes)
        if len(pair) != 2 or not all(isinstance(a, (int, np.integer)) for a in pair):
            raise TypeError(f"axes: expected an int or a pair of ints, got {axes!r}")
        self.axes = tuple(int(a) for a in pair) if not isinstance(axes, (int, np.integer)) else int(axes)
        self.normalize = check_bool("normalize", normalize)

    def _pair(self, shapes) -> tuple[int, int]:
        axes = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        return tuple(a % len(s) for a, s in zip(axes, shapes))

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(f"Dot layer '{self.name}': expected a list of 2 inputs")
        x, y = inputs
        ax, ay = self._pair([x.shape, y.shape])
        if self.normalize:
            x = x / _ops.sqrt(_ops.clamp(_ops.sum(x * x, dim=ax, keepdim=True), min=1e-12))
            y = y / _ops.sqrt(_ops.clamp(_ops.sum(y * y, dim=ay, keepdim=True), min=1e-12))
        xr = [a for a in range(1, x.ndim) if a != ax]
        yr = [a for a in range(1, y.ndim) if a != ay]
        xm = _ops.reshape(_ops.permute(x, [0] + xr + [ax]), (x.shape[0], -1, x.shape[ax]))  # (B, X, S)
        ym = _ops.reshape(_ops.permute(y, [0, ay] + yr), (y.shape[0], y.shape[ay], -1))  # (B, S, Y)
        out = _ops.matmul(xm, ym)  # (B, X, Y)
        shape = (x.shape[0],) + tuple(x.shape[a] for a in xr) + tuple(y.shape[a] for a in yr)
        return _ops.reshape(out, shape if len(shape) > 1 else (x.shape[0], 1))

    def compute_output_shape(self, input_shape):
        sx, sy = input_shape
        ax, ay = self._pair([sx, sy])
        shape = (sx[0],) + tuple(s for i, s in enumerate(sx) if i not in (0, ax)) + \
            tuple(s for i, s in enumerate(sy) if i not in (0, ay))
        return shape if len(shape) > 1 else (sx[0], 1)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "axes": list(self.axes) if isinstance(self.axes, tuple) else self.axes,
                "normalize": self.normalize}


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """``keras.layers.dot(inputs, axes)``: ``Dot(axes)(inputs)``."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
