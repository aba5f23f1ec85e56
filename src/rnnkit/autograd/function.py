"""Custom differentiable operations written as ``torch.autograd.Function``: a static ``forward(ctx, ...)``
on Tensors and a static ``backward(ctx, *grads)`` returning one gradient per forward argument.

Example:
    >>> import rnnkit
    >>> class Cube(rnnkit.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x ** 3
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return g * 3 * x ** 2
    >>> x = rnnkit.tensor([1.0, 2.0], requires_grad=True)
    >>> Cube.apply(x).sum().backward()
    >>> x.grad
    tensor([ 3., 12.])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit._grad_mode import is_grad_enabled, no_grad
from rnnkit._tensor import Function as _Node
from rnnkit._tensor import Tensor, array_of

__all__ = ["Function", "FunctionCtx"]


class FunctionCtx:
    """What ``forward`` hands to ``backward``: saved tensors and flags, plus any attribute set on it."""

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.needs_input_grad = needs_input_grad
        self.saved_tensors: tuple = ()
        self.materialize_grads = True
        self.non_differentiable: set[int] = set()

    def save_for_backward(self, *tensors: Any) -> None:
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save tensors (or None), got {type(t).__name__}")
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        self.non_differentiable.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors: Tensor) -> None:
        raise NotImplementedError("mark_dirty: custom in-place Functions are not supported; return a new tensor")

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)


class _CustomNode(_Node):
    """The graph node of one ``Function.apply`` call: its backward calls the user's ``backward``."""

    def backward(self, *grad_outputs: np.ndarray):
        ctx = self.ctx
        grads = [Tensor._wrap(g) for g in grad_outputs]
        with no_grad():
            result = self.user.backward(ctx, *grads)
        result = result if isinstance(result, tuple) else (result,)
        if len(result) != len(self.positions_all):
            raise RuntimeError(
                f"function {self.user.__name__}Backward returned an incorrect number of gradients "
                f"(expected {len(self.positions_all)}, got {len(result)})"
            )
        out = []
        for position in self.positions:
            g = result[position]
            out.append(None if g is None else array_of(g))
        return tuple(out)


class Function:
    """Base class of custom differentiable operations (call them with ``MyFunction.apply(...)``)."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Tensor) -> Any:
        raise NotImplementedError("a Function subclass must define backward(ctx, *grad_outputs)")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError(f"{cls.__name__}.apply takes positional arguments only, as torch")
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx = FunctionCtx(tuple(isinstance(a, Tensor) and a.requires_grad for a in args))
        with no_grad():
            result = cls.forward(ctx, *args)
        outputs = result if isinstance(result, tuple) else (result,)
        outputs = tuple(o.detach() if isinstance(o, Tensor) else o for o in outputs)
        track = is_grad_enabled() and any(ctx.needs_input_grad)
        if track:
            node = _CustomNode(*(args[i] for i in positions))
            node.ctx, node.user, node.positions, node.positions_all = ctx, cls, positions, args
            node._outputs = [(o.shape, array_of(o).dtype) for o in outputs if isinstance(o, Tensor)]
            node._versions = [(t._version, t._version.value, (array_of(t).dtype, array_of(t).shape))
                              for t in ctx.saved_tensors if isinstance(t, Tensor)]
            index = 0
            for o in outputs:
                if isinstance(o, Tensor):
                    if o.dtype.kind == "f" and id(o) not in ctx.non_differentiable:
                        o.requires_grad, o._ctx, o._index = True, node, index
                    index += 1
        return outputs if isinstance(result, tuple) else outputs[0]
