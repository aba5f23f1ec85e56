"""``rnnkit.autograd``: ``grad``, custom ``Function``s, ``Variable`` and the grad-mode switches, as ``torch.autograd``.

Example:
    >>> import rnnkit
    >>> x = rnnkit.tensor([1.0, 2.0], requires_grad=True)
    >>> (dx,) = rnnkit.autograd.grad((x * x).sum(), x)
    >>> dx, x.grad is None
    (tensor([2., 4.]), True)
"""

from __future__ import annotations

from typing import Any, Sequence

from rnnkit._grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from rnnkit._tensor import Tensor, array_of, run_backward
from rnnkit.autograd.function import Function, FunctionCtx

__all__ = [
    "grad", "backward", "Function", "FunctionCtx", "Variable", "no_grad", "enable_grad", "set_grad_enabled",
    "inference_mode", "is_grad_enabled",
]


def _as_list(x: Any) -> list:
    return [x] if isinstance(x, Tensor) or x is None else list(x)


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None, materialize_grads: bool = False) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs``, without touching any ``.grad``.

    Args:
        outputs: a tensor or a sequence of tensors.
        inputs: the tensors to differentiate with respect to.
        grad_outputs: the upstream gradient of each output (None: ones for a scalar).
        retain_graph: keep the graph for another backward (default: ``create_graph``).
        create_graph: must be False (no second derivatives in rnnkit).
        allow_unused: return None for an input the outputs do not depend on, instead of raising.
        materialize_grads: return zeros instead of None for unused inputs.

    Returns:
        A tuple with one Tensor (or None) per input.
    """
    if create_graph:
        raise NotImplementedError("autograd.grad(create_graph=True): rnnkit does not differentiate gradients twice")
    outs, ins = _as_list(outputs), _as_list(inputs)
    gradients = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outs)
    if len(gradients) != len(outs):
        raise RuntimeError(f"grad_outputs: expected {len(outs)} gradients, got {len(gradients)}")
    for i, t in enumerate(ins):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"inputs[{i}]: One of the differentiated Tensors does not require grad")
    found = run_backward(outs, gradients, bool(retain_graph), ins)
    result = []
    for t, g in zip(ins, found):
        if g is None:
            if not (allow_unused or materialize_grads):
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the graph. "
                    "Set allow_unused=True if this is the desired behavior."
                )
            result.append(Tensor._wrap(array_of(t) * 0) if materialize_grads else None)
        else:
            result.append(Tensor._wrap(g.astype(array_of(t).dtype, copy=True)))
    return tuple(result)


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
             inputs: Sequence[Tensor] | None = None) -> None:
    """Accumulate the gradients of ``tensors`` into the leaves' ``.grad``, as ``torch.autograd.backward``."""
    if create_graph:
        raise NotImplementedError("autograd.backward(create_graph=True): rnnkit does not differentiate gradients twice")
    outs = _as_list(tensors)
    gradients = _as_list(grad_tensors) if grad_tensors is not None else [None] * len(outs)
    if inputs is not None:
        for t, g in zip(_as_list(inputs), run_backward(outs, gradients, bool(retain_graph), _as_list(inputs))):
            if g is not None:
                t.grad = Tensor._wrap(g.copy()) if t.grad is None else t.grad + Tensor._wrap(g)
        return
    run_backward(outs, gradients, bool(retain_graph))


class _VariableMeta(type):
    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, Tensor)


class Variable(metaclass=_VariableMeta):
    """The pre-0.4 wrapper, as in PyTorch today: ``Variable(t)`` is a Tensor sharing ``t``'s memory.

    ``isinstance(t, Variable)`` is True for every Tensor.

    Args:
        data: a Tensor.
        requires_grad: whether the new tensor requires grad.
        volatile: must be False (its meaning is ``no_grad``, which is what to use instead).
    """

    def __new__(cls, data: Tensor, requires_grad: bool = False, volatile: bool = False) -> Tensor:  # type: ignore[misc]
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        if volatile:
            raise ValueError("Variable(volatile=True) was removed in PyTorch 0.4; use `with rnnkit.no_grad():`")
        out = data.detach()
        return out.requires_grad_(requires_grad) if requires_grad else out
