"""Multi-head attention and the Transformer family, as ``torch.nn`` (the models RNN programs compare with).

Built from differentiable tensor ops (no hand-written backward). Shapes (``batch_first=False``):
L target length, S source length, N batch, E embedding, H heads, d = E / H.

Equations (one head h, ``W`` slices of ``in_proj_weight``)::

    q, k, v   = x_q W_q^T + b_q,  x_k W_k^T + b_k,  x_v W_v^T + b_v          # (L|S, N, E)
    weights_h = softmax(q_h k_h^T / sqrt(d) + mask)                          # (N, L, S)
    out       = concat_h(dropout(weights_h) v_h) W_o^T + b_o                 # (L, N, E)

Example:
    >>> import rnnkit
    >>> mha = rnnkit.nn.MultiheadAttention(8, 2, batch_first=True)
    >>> out, weights = mha(rnnkit.ones(3, 5, 8), rnnkit.ones(3, 4, 8), rnnkit.ones(3, 4, 8))
    >>> out.shape, weights.shape
    ((3, 5, 8), (3, 5, 4))
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np

from rnnkit import _ops
from rnnkit._dtype import float_dtype, to_device
from rnnkit._linalg import baddbmm, bmm
from rnnkit._tensor import Tensor, array_of, as_tensor
from rnnkit.nn import functional as F
from rnnkit.nn import init
from rnnkit.nn.modules.container import ModuleList
from rnnkit.nn.modules.dropout import Dropout
from rnnkit.nn.modules.linear import Linear, NonDynamicallyQuantizableLinear
from rnnkit.nn.modules.module import Module, Parameter
from rnnkit.nn.modules.normalization import LayerNorm

__all__ = [
    "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer",
    "TransformerDecoder", "Transformer",
]


def _float_mask(mask: Any, dtype: np.dtype) -> Tensor | None:
    """A bool mask (True: not allowed) as 0 / -inf; a float mask as it is."""
    if mask is None:
        return None
    mask = as_tensor(mask)
    if mask.dtype == np.bool_:
        return Tensor._wrap(np.where(array_of(mask), -np.inf, 0.0).astype(dtype))
    return mask.astype(dtype)


class MultiheadAttention(Module):
    """Scaled dot-product attention over ``num_heads`` heads, as ``torch.nn.MultiheadAttention``.

    Args:
        embed_dim: E.
        num_heads: H (E must be divisible by H).
        dropout: dropout on the attention weights (training only).
        bias: learn the input and output projection biases.
        batch_first: inputs and outputs are (N, L, E) instead of (L, N, E).
        add_bias_kv, add_zero_attn, kdim, vdim: must keep their defaults (not available in rnnkit).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: Any = None, dtype: Any = None):
        super().__init__()
        to_device(device)  # the CPU is the only device: anything else raises, never ignored
        if add_bias_kv or add_zero_attn or kdim not in (None, embed_dim) or vdim not in (None, embed_dim):
            raise ValueError("MultiheadAttention: add_bias_kv, add_zero_attn and kdim/vdim != embed_dim are not available")
        if embed_dim % num_heads:
            raise AssertionError("embed_dim must be divisible by num_heads")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.dropout, self.batch_first = dropout, batch_first
        resolved = float_dtype(dtype)
        self.in_proj_weight = Parameter(np.zeros((3 * embed_dim, embed_dim), resolved))
        self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, resolved)) if bias else None
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, dtype=resolved)
        init.xavier_uniform_(self.in_proj_weight)
        if bias:
            init.zeros_(self.out_proj.bias)

    def forward(self, query: Any, key: Any, value: Any, key_padding_mask: Any = None, need_weights: bool = True,
                attn_mask: Any = None, average_attn_weights: bool = True, is_causal: bool = False):
        """Returns ``(attn_output, attn_weights)``; the weights are None unless ``need_weights``."""
        query, key, value = as_tensor(query), as_tensor(key), as_tensor(value)
        batched = query.ndim == 3
        if not batched:
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
        elif self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if is_causal and attn_mask is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint")
        L, N, E = query.shape
        S = key.shape[0]
        H, d = self.num_heads, self.head_dim
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None, None, None)
        q = F.linear(query, w_q, b_q).reshape(L, N * H, d).transpose(0, 1)  # (N*H, L, d)
        k = F.linear(key, w_k, b_k).reshape(S, N * H, d).transpose(0, 1)  # (N*H, S, d)
        v = F.linear(value, w_v, b_v).reshape(S, N * H, d).transpose(0, 1)  # (N*H, S, d)
        mask = _float_mask(attn_mask, array_of(q).dtype)
        if mask is not None and mask.ndim == 2:
            mask = mask.unsqueeze(0)  # (1, L, S)
        if key_padding_mask is not None:
            padding = _float_mask(key_padding_mask, array_of(q).dtype)  # (N, S)
            if not batched:
                padding = padding.unsqueeze(0)
            padding = padding.view(N, 1, 1, S).expand(N, H, 1, S).reshape(N * H, 1, S)
            mask = padding if mask is None else mask + padding
        q = q * math.sqrt(1.0 / d)
        scores = bmm(q, k.transpose(1, 2)) if mask is None else baddbmm(mask, q, k.transpose(1, 2))  # (N*H, L, S)
        weights = _ops.softmax(scores, dim=-1)
        dropped = F.dropout(weights, self.dropout, self.training) if self.dropout > 0 else weights
        out = bmm(dropped, v).transpose(0, 1).reshape(L * N, E)  # (L*N, E)
        out = self.out_proj(out).view(L, N, E)
        if not batched:
            out = out.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        weights = weights.view(N, H, L, S)
        weights = weights.mean(dim=1) if average_attn_weights else weights
        return out, weights if batched else weights.squeeze(0)


def _activation(activation: str | Callable) -> Callable:
    if callable(activation):
        return activation
    if activation == "relu":
        return _ops.relu
    if activation == "gelu":
        return F.gelu
    raise RuntimeError(f"activation should be relu/gelu, not {activation}")


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual and LayerNorm (after, or before if ``norm_first``)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable = "relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None, dtype: Any = None):
        super().__init__()
        to_device(device)  # the CPU is the only device: anything else raises, never ignored
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=float_dtype(dtype))
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=float_dtype(dtype))
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, src: Any, src_mask: Any = None, src_key_padding_mask: Any = None, is_causal: bool = False):
        x = as_tensor(src)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask))
        return self.norm2(x + self._ff_block(x))

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any) -> Tensor:
        out = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False)[0]
        return self.dropout1(out)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    """Self-attention, attention over the encoder's memory, then feed-forward; residuals and LayerNorms."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable = "relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None, dtype: Any = None):
        super().__init__()
        to_device(device)  # the CPU is the only device: anything else raises, never ignored
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                                 dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=float_dtype(dtype))
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=float_dtype(dtype))
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1, self.dropout2, self.dropout3 = Dropout(dropout), Dropout(dropout), Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, tgt: Any, memory: Any, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool = False, memory_is_causal: bool = False):
        x, memory = as_tensor(tgt), as_tensor(memory)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask)
            return x + self._ff_block(self.norm3(x))
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask))
        return self.norm3(x + self._ff_block(x))

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any) -> Tensor:
        out = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False)[0]
        return self.dropout1(out)

    def _mha_block(self, x: Tensor, mem: Tensor, attn_mask: Any, key_padding_mask: Any) -> Tensor:
        out = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                  need_weights=False)[0]
        return self.dropout2(out)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (independent weights), then an optional ``norm``."""

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers, self.norm = num_layers, norm

    def forward(self, src: Any, mask: Any = None, src_key_padding_mask: Any = None, is_causal: bool | None = None):
        out = as_tensor(src)
        for layer in self.layers:
            out = layer(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask)
        return self.norm(out) if self.norm is not None else out


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer``, then an optional ``norm``."""

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm: Module | None = None):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(decoder_layer) for _ in range(num_layers)])
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt: Any, memory: Any, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False):
        out = as_tensor(tgt)
        for layer in self.layers:
            out = layer(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                        tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask)
        return self.norm(out) if self.norm is not None else out


class Transformer(Module):
    """Encoder-decoder Transformer, as ``torch.nn.Transformer``; weights of dimension > 1 are Xavier-uniform."""

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1, activation: str | Callable = "relu",
                 custom_encoder: Module | None = None, custom_decoder: Module | None = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False, norm_first: bool = False,
                 bias: bool = True, device: Any = None, dtype: Any = None):
        super().__init__()
        to_device(device)  # the CPU is the only device: anything else raises, never ignored
        options = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                       layer_norm_eps=layer_norm_eps, batch_first=batch_first, norm_first=norm_first, bias=bias,
                       dtype=dtype)
        self.encoder = custom_encoder if custom_encoder is not None else TransformerEncoder(
            TransformerEncoderLayer(d_model, nhead, **options), num_encoder_layers,
            LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        self.decoder = custom_decoder if custom_decoder is not None else TransformerDecoder(
            TransformerDecoderLayer(d_model, nhead, **options), num_decoder_layers,
            LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        for p in self.parameters():
            if p.dim() > 1:
                init.xavier_uniform_(p)

    def forward(self, src: Any, tgt: Any, src_mask: Any = None, tgt_mask: Any = None, memory_mask: Any = None,
                src_key_padding_mask: Any = None, tgt_key_padding_mask: Any = None,
                memory_key_padding_mask: Any = None, src_is_causal: bool | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False):
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
        """(sz, sz): 0 on and below the diagonal, -inf above (position i sees positions <= i)."""
        to_device(device)
        return Tensor._wrap(np.triu(np.full((sz, sz), -np.inf, float_dtype(dtype)), k=1))

