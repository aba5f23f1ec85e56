"""Products and norms: bmm, baddbmm, addmm, dot, mv, outer, einsum, norm.

Example:
    >>> import rnnkit
    >>> a, b = rnnkit.ones(2, 3, 4), rnnkit.ones(2, 4, 5)
    >>> rnnkit.bmm(a, b).shape, rnnkit.einsum("bij,bjk->bik", a, b).shape
    ((2, 3, 5), (2, 3, 5))
    >>> rnnkit.tensor([3.0, 4.0]).norm()
    tensor(5.)
"""

from __future__ import annotations

import string

import numpy as np

from rnnkit._ops import _axes, _expand_back, _tensor, abs, add, amax, amin, matmul, mul, pow, sum
from rnnkit._tensor import Function, Tensor

__all__ = ["bmm", "baddbmm", "addmm", "dot", "mv", "outer", "einsum", "norm"]


def _check_ndim(name: str, arg: str, t: Tensor, ndim: int) -> Tensor:
    t = _tensor(t)
    if t.ndim != ndim:
        raise RuntimeError(f"{name}: {arg} must be a {ndim}D tensor, got {t.ndim}D")
    return t


def bmm(a, b):
    """Batched matrix product of (B, n, m) and (B, m, p)."""
    a, b = _check_ndim("bmm", "batch1", a, 3), _check_ndim("bmm", "batch2", b, 3)
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise RuntimeError(f"bmm: expected shapes (B, n, m) and (B, m, p), got {a.shape} and {b.shape}")
    return matmul(a, b)


def baddbmm(input, batch1, batch2, beta=1, alpha=1):
    """``beta * input + alpha * bmm(batch1, batch2)``."""
    product = bmm(batch1, batch2)
    return add(mul(input, beta) if beta != 1 else input, mul(product, alpha) if alpha != 1 else product)


def addmm(input, mat1, mat2, beta=1, alpha=1):
    """``beta * input + alpha * mat1 @ mat2``."""
    product = matmul(_check_ndim("addmm", "mat1", mat1, 2), _check_ndim("addmm", "mat2", mat2, 2))
    return add(mul(input, beta) if beta != 1 else input, mul(product, alpha) if alpha != 1 else product)


def dot(a, b):
    return matmul(_check_ndim("dot", "self", a, 1), _check_ndim("dot", "tensor", b, 1))


def mv(a, v):
    return matmul(_check_ndim("mv", "self", a, 2), _check_ndim("mv", "vec", v, 1))


def outer(a, b):
    a, b = _check_ndim("outer", "self", a, 1), _check_ndim("outer", "vec2", b, 1)
    return mul(a.reshape(-1, 1), b.reshape(1, -1))


class Einsum(Function):
    """``np.einsum`` with explicit subscripts; operand i's gradient contracts the output gradient with the others."""

    def forward(self, *arrays, inputs, output):
        self.inputs, self.output = inputs, output
        self.save_for_backward(*arrays)
        return np.asarray(np.einsum(f"{','.join(inputs)}->{output}", *arrays))

    def backward(self, g):
        grads = []
        for i, (sub, a) in enumerate(zip(self.inputs, self.saved)):
            if not self.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [(s, x) for j, (s, x) in enumerate(zip(self.inputs, self.saved)) if j != i]
            known = set(self.output) | {c for s, _ in others for c in s}
            target = "".join(dict.fromkeys(c for c in sub if c in known))
            spec = ",".join([self.output] + [s for s, _ in others]) + "->" + target
            partial = np.einsum(spec, g, *(x for _, x in others))
            sizes = {c: n for c, n in zip(sub, a.shape)}
            full = np.broadcast_to(  # letters summed only inside this operand: the gradient is constant there
                np.expand_dims(partial, [k for k, c in enumerate(dict.fromkeys(sub)) if c not in known]),
                tuple(sizes[c] for c in dict.fromkeys(sub)),
            )
            if len(set(sub)) != len(sub):
                raise NotImplementedError(f"einsum: a repeated index inside one operand ({sub!r}) has no gradient here")
            grads.append(np.ascontiguousarray(full.transpose([list(dict.fromkeys(sub)).index(c) for c in sub])))
        return tuple(grads)


def _explicit(equation: str, operands: list[Tensor]) -> tuple[list[str], str]:
    """Subscripts with ``...`` spelled out as letters, and the output made explicit."""
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(operands):
        raise ValueError(f"einsum: the equation names {len(inputs)} operands, got {len(operands)}")
    spare = [c for c in string.ascii_letters if c not in equation]
    widest = max((t.ndim - len(s.replace("...", "")) for s, t in zip(inputs, operands) if "..." in s), default=0)
    fill = "".join(spare[:widest])
    inputs = [s.replace("...", fill[widest - (t.ndim - len(s.replace("...", ""))):]) for s, t in zip(inputs, operands)]
    if arrow:
        output = rhs.replace("...", fill)
    else:
        counts = {c: "".join(inputs).count(c) for c in "".join(inputs)}
        output = fill + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in fill))
    return inputs, output


def einsum(equation, *operands):
    """Einstein summation, as ``torch.einsum`` (operands may also be given as one list)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    tensors = [_tensor(t) for t in operands]
    inputs, output = _explicit(equation, tensors)
    return Einsum.apply(*tensors, inputs=inputs, output=output)


class Norm2(Function):
    """The Euclidean norm over ``axes``; its gradient is ``x / ||x||`` (0 where the norm is 0, as torch)."""

    def forward(self, a, axes, keepdim):
        out = np.sqrt(np.sum(a * a, axis=axes, keepdims=True))
        self.save_for_backward(a, out)
        self.axes, self.keepdim = axes, keepdim
        return out if keepdim else np.asarray(out.reshape(()) if axes is None else np.squeeze(out, axes))

    def backward(self, g):
        a, out = self.saved
        safe = np.where(out == 0, 1, out)
        return _expand_back(g, a.shape, self.axes, self.keepdim) * np.where(out == 0, 0, a / safe)


def norm(a, p="fro", dim=None, keepdim=False, dtype=None):
    """The p-norm over ``dim`` (all elements by default): 2/'fro', 1, inf, -inf or any positive p."""
    a = _tensor(a) if dtype is None else _tensor(a).astype(dtype)
    if a.dtype.kind != "f":
        raise RuntimeError(f"norm(): input dtype should be floating point, got {a.dtype}")
    axes = _axes(dim, a.ndim)
    if p in ("fro", 2, 2.0):
        return Norm2.apply(a, axes=axes, keepdim=keepdim)
    if p == float("inf"):
        return amax(abs(a), dim=axes if axes is not None else (), keepdim=keepdim)
    if p == float("-inf"):
        return amin(abs(a), dim=axes if axes is not None else (), keepdim=keepdim)
    if p == 1:
        return sum(abs(a), dim=axes, keepdim=keepdim)
    if not isinstance(p, (int, float)) or p <= 0:
        raise ValueError(f"norm(p): expected 'fro', inf, -inf or a positive number, got {p!r}")
    return pow(sum(pow(abs(a), p), dim=axes, keepdim=keepdim), 1.0 / p)
