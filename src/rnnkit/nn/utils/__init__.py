"""Gradient clipping and sequence packing, as ``torch.nn.utils``."""

from rnnkit.nn.utils import rnn
from rnnkit.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_", "rnn"]
