"""The autograd engine and every op of ``rnnkit._ops``, checked against central finite differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit
from rnnkit import _ops
from rnnkit._tensor import Tensor
from helpers import check_grad

RNG = np.random.default_rng(0)


def randn(*shape):
    return RNG.standard_normal(shape)


def away_from(x, points, margin=0.05):
    """Move entries of x at least ``margin`` away from the kinks in ``points``."""
    x = np.array(x, dtype=np.float64)
    for p in points:
        close = np.abs(x - p) < margin
        x[close] = p + np.where(x[close] >= p, margin, -margin) * 2
    return x


# -- elementwise, two operands, with broadcasting -------------------------------
BROADCAST_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((5, 1), (1, 5))]


@pytest.mark.parametrize("a_shape,b_shape", BROADCAST_SHAPES)
@pytest.mark.parametrize(
    "op", [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b], ids=["add", "sub", "mul", "div"]
)
def test_binary_ops_broadcast(op, a_shape, b_shape):
    b = away_from(randn(*b_shape), [0.0], margin=0.3)
    check_grad(op, randn(*a_shape), b)


@pytest.mark.parametrize(
    "op",
    [lambda x: 2.0 + x, lambda x: 2.0 - x, lambda x: 3.0 * x, lambda x: 2.0 / x, lambda x: x - 1.5, lambda x: x / 4.0,
     lambda x: -x, lambda x: _ops.neg(x), lambda x: _ops.add(x, 1.0), lambda x: np.float64(2.0) * x],
)
def test_ops_with_scalars(op):
    check_grad(op, away_from(randn(3, 4), [0.0], margin=0.3))


@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1.5, 1])
def test_pow(exponent):
    check_grad(lambda x: x**exponent, RNG.uniform(0.5, 2.0, (3, 4)))


def test_pow_tensor_exponent():
    check_grad(lambda x, e: x**e, RNG.uniform(0.5, 2.0, (3, 4)), randn(3, 4))


def test_pow_zero_exponent_at_zero_has_zero_gradient():
    x = rnnkit.tensor([0.0, 1.0], requires_grad=True, dtype=np.float64)
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


@pytest.mark.parametrize(
    "a_shape,b_shape",
    [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)),
     ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,))],
)
def test_matmul(a_shape, b_shape):
    check_grad(lambda a, b: a @ b, randn(*a_shape), randn(*b_shape))
    check_grad(_ops.matmul, randn(*a_shape), randn(*b_shape))


def test_matmul_with_ndarray_operand():
    w = randn(4, 2)
    check_grad(lambda a: a @ w, randn(3, 4))
    check_grad(lambda b: w.T @ b, randn(4, 3))


# -- elementwise, one operand ----------------------------------------------------
@pytest.mark.parametrize(
    "name,make",
    [
        ("exp", lambda: randn(3, 4)),
        ("log", lambda: RNG.uniform(0.2, 3.0, (3, 4))),
        ("tanh", lambda: randn(3, 4)),
        ("sigmoid", lambda: 3 * randn(3, 4)),
        ("relu", lambda: away_from(randn(3, 4), [0.0])),
        ("abs", lambda: away_from(randn(3, 4), [0.0])),
        ("sqrt", lambda: RNG.uniform(0.2, 3.0, (3, 4))),
    ],
)
def test_unary(name, make):
    check_grad(getattr(_ops, name), make())
    check_grad(lambda x: getattr(x, name)(), make())  # method form


def test_sigmoid_is_stable_for_large_inputs():
    x = rnnkit.tensor([-1000.0, 0.0, 1000.0], dtype=np.float64, requires_grad=True)
    y = rnnkit.sigmoid(x)
    np.testing.assert_allclose(y.data, [0.0, 0.5, 1.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.25, 0.0])


@pytest.mark.parametrize("lo,hi", [(-0.5, 0.5), (None, 0.3), (-0.2, None)])
def test_clamp(lo, hi):
    x = away_from(randn(4, 5), [p for p in (lo, hi) if p is not None])
    check_grad(lambda t: _ops.clamp(t, lo, hi), x)
    check_grad(lambda t: t.clamp(min=lo, max=hi), x)


def test_clamp_needs_a_bound():
    with pytest.raises(ValueError, match="min and max"):
        _ops.clamp(rnnkit.zeros(2))


def test_cast_keeps_gradient_and_dtype():
    x = rnnkit.tensor(randn(3), requires_grad=True, dtype=np.float64)
    y = x.float()
    assert y.dtype == np.float32
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


# -- reductions ------------------------------------------------------------------
@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_mean(name, dim, keepdim):
    check_grad(lambda x: getattr(_ops, name)(x, dim=dim, keepdim=keepdim), randn(2, 3, 4))
    if dim is not None:
        check_grad(lambda x: getattr(x, name)(dim, keepdim=keepdim), randn(2, 3, 4))


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_with_dim(name, dim, keepdim):
    x = randn(3, 4, 5)
    check_grad(lambda t: getattr(_ops, name)(t, dim=dim, keepdim=keepdim)[0], x)
    values, indices = getattr(rnnkit, name)(rnnkit.tensor(x), dim, keepdim)
    reference = getattr(np, name)(x, axis=dim, keepdims=keepdim)
    np.testing.assert_array_equal(values.data, reference)
    pick = np.argmax if name == "max" else np.argmin
    np.testing.assert_array_equal(indices.data, pick(x, axis=dim, keepdims=keepdim) if keepdim else pick(x, axis=dim))


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_full_reduction(name):
    x = randn(3, 4)
    check_grad(getattr(_ops, name), x)
    check_grad(lambda t: getattr(t, name)(), x)


def test_max_splits_gradient_evenly_between_ties():
    x = rnnkit.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True, dtype=np.float64)
    rnnkit.max(x).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5, 0.0])


def test_reduction_dim_out_of_range():
    with pytest.raises(IndexError, match="dim"):
        rnnkit.sum(rnnkit.zeros(2, 3), dim=2)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family(name, dim):
    check_grad(lambda x: getattr(_ops, name)(x, dim), 3 * randn(3, 4, 2))


@pytest.mark.parametrize("dim", [0, -1, (0, 1)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp(dim, keepdim):
    x = 3 * randn(3, 4)
    check_grad(lambda t: _ops.logsumexp(t, dim, keepdim=keepdim), x)
    m = x.max(axis=dim, keepdims=True)
    reference = m + np.log(np.exp(x - m).sum(axis=dim, keepdims=True))
    reference = reference if keepdim else np.squeeze(reference, axis=dim)
    np.testing.assert_allclose(_ops.logsumexp(rnnkit.tensor(x), dim, keepdim).data, reference)


def test_softmax_matches_definition():
    x = randn(2, 5)
    e = np.exp(x)
    np.testing.assert_allclose(_ops.softmax(rnnkit.tensor(x), -1).data, e / e.sum(-1, keepdims=True))
    np.testing.assert_allclose(_ops.log_softmax(rnnkit.tensor(x), -1).data, np.log(e / e.sum(-1, keepdims=True)))


# -- shape ops ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x.reshape(4, 6),
        lambda x: x.reshape((-1, 3)),
        lambda x: x.view(24),
        lambda x: _ops.view(x, 2, 12),
        lambda x: x.flatten(),
        lambda x: _ops.flatten(x, 1),
        lambda x: _ops.flatten(x, 0, 1),
        lambda x: x.transpose(0, 2),
        lambda x: _ops.transpose(x, -1, -2),
        lambda x: x.permute(2, 0, 1),
        lambda x: _ops.permute(x, (1, 2, 0)),
        lambda x: x.T,
        lambda x: x.unsqueeze(1),
        lambda x: _ops.unsqueeze(x, -1),
    ],
)
def test_shape_ops(fn):
    check_grad(fn, randn(2, 3, 4))


def test_shape_values_match_numpy():
    x = randn(2, 3, 4)
    t = rnnkit.tensor(x)
    np.testing.assert_array_equal(t.permute(2, 0, 1).data, x.transpose(2, 0, 1))
    np.testing.assert_array_equal(t.T.data, x.T)
    np.testing.assert_array_equal(rnnkit.flatten(t, 1).data, x.reshape(2, 12))
    assert t.unsqueeze(0).shape == (1, 2, 3, 4)


@pytest.mark.parametrize("dim", [None, 1, (0, 2)])
def test_squeeze(dim):
    check_grad(lambda x: _ops.squeeze(x, dim), randn(1, 1, 3))
    check_grad(lambda x: x.squeeze(dim), randn(2, 1, 1))


def test_squeeze_shapes():
    assert rnnkit.zeros(1, 3, 1).squeeze().shape == (3,)
    assert rnnkit.zeros(1, 3, 1).squeeze(1).shape == (1, 3, 1)
    assert rnnkit.zeros(1, 3, 1).squeeze(-1).shape == (1, 3)


@pytest.mark.parametrize("shape,target", [((3, 1), (3, 4)), ((1, 4), (2, 3, 4)), ((4,), (2, 4)), ((3, 1), (-1, 5))])
def test_expand(shape, target):
    check_grad(lambda x: x.expand(*target), randn(*shape))


def test_reshape_invalid():
    with pytest.raises(ValueError, match="reshape"):
        rnnkit.zeros(2, 3).reshape(4, 2)


@pytest.mark.parametrize(
    "index",
    [
        1,
        -1,
        slice(1, 3),
        (slice(None), 2),
        (slice(None, None, -1), slice(0, 4, 2)),
        (Ellipsis, 1),
        (None, 0),
        np.array([0, 2, 0, 0]),  # repeated indices accumulate
        (np.array([1, 1, 0]), np.array([2, 2, 3])),
        (slice(None), [0, 0, 3]),
    ],
    ids=["int", "negative", "slice", "column", "steps", "ellipsis", "newaxis", "repeats", "pairs", "list"],
)
def test_getitem(index):
    check_grad(lambda x: x[index], randn(3, 4))


def test_getitem_boolean_mask_and_tensor_index():
    x = randn(3, 4)
    check_grad(lambda t: t[x > 0], x)
    check_grad(lambda t: t[rnnkit.tensor(np.array([2, 2, 0]))], x)


def test_getitem_repeated_indices_accumulate():
    x = rnnkit.tensor(np.zeros(3), requires_grad=True, dtype=np.float64)
    x[np.array([0, 0, 0, 2])].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat(dim):
    check_grad(lambda a, b, c: rnnkit.cat([a, b, c], dim), randn(2, 3), randn(2, 3), randn(2, 3))


def test_cat_unequal_sizes():
    check_grad(lambda a, b: rnnkit.cat([a, b], 1), randn(2, 1), randn(2, 3))
    check_grad(lambda a, b: rnnkit.cat((a, b), 0), randn(1, 3), randn(4, 3))


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack(dim):
    check_grad(lambda a, b: rnnkit.stack([a, b], dim), randn(2, 3), randn(2, 3))


def test_stack_rejects_unequal_shapes():
    with pytest.raises(ValueError, match="equal size"):
        rnnkit.stack([rnnkit.zeros(2), rnnkit.zeros(3)])


@pytest.mark.parametrize("chunks,dim", [(2, 0), (3, 1), (4, 1), (2, -1)])
def test_chunk(chunks, dim):
    x = randn(4, 7)
    pieces = rnnkit.chunk(rnnkit.tensor(x), chunks, dim)
    np.testing.assert_array_equal(np.concatenate([p.data for p in pieces], axis=dim), x)
    check_grad(lambda t: t.chunk(chunks, dim), x)


@pytest.mark.parametrize(
    "size,dim,expected", [(2, 0, [2, 2]), (3, 1, [3, 3, 1]), ([1, 4, 2], 1, [1, 4, 2]), ((3, 1), 0, [3, 1])]
)
def test_split(size, dim, expected):
    x = randn(4, 7)
    pieces = rnnkit.split(rnnkit.tensor(x), size, dim)
    assert [p.shape[dim] for p in pieces] == expected
    check_grad(lambda t: t.split(size, dim), x)


def test_split_sizes_must_add_up():
    with pytest.raises(ValueError, match="add up"):
        rnnkit.split(rnnkit.zeros(5), [2, 2])


def test_where_with_broadcasting():
    cond = randn(3, 4) > 0
    check_grad(lambda a, b: rnnkit.where(cond, a, b), randn(3, 4), randn(4))
    check_grad(lambda a: rnnkit.where(cond, a, 0.0), randn(3, 1))
    check_grad(lambda b: rnnkit.where(rnnkit.tensor(cond), 1.5, b), randn(3, 4))


def test_composite_graph():
    def fn(x, w, b):
        h = rnnkit.tanh(x @ w + b)  # (4, 3)
        return rnnkit.log_softmax(h * 2.0, -1)[:, 1:].mean(0) - rnnkit.sigmoid(h).max()

    check_grad(fn, randn(4, 5), randn(5, 3), randn(3))


# -- engine ------------------------------------------------------------------------
def test_gradients_accumulate_over_two_backward_calls():
    x = rnnkit.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    (x * 2).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0 + 2.0, 2.0 + 4.0])


def test_diamond_graph_sums_both_paths():
    def fn(x):
        a = x * 2.0
        return rnnkit.exp(a) * rnnkit.tanh(a) + a  # a is used by three consumers

    check_grad(fn, randn(3))
    x = rnnkit.tensor([0.3], requires_grad=True, dtype=np.float64)
    a = x * 2.0
    (a * a + a).sum().backward()
    np.testing.assert_allclose(x.grad, [2 * (2 * 0.6) + 2])


def test_same_tensor_as_both_operands():
    check_grad(lambda x: x * x + x / (x + 10.0), randn(4))


def test_deep_chain_does_not_hit_recursion_limit():
    x = rnnkit.tensor([1.0], requires_grad=True, dtype=np.float64)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0])


def test_no_grad_records_nothing():
    x = rnnkit.tensor([1.0, 2.0], requires_grad=True)
    with rnnkit.no_grad():
        y = x * 2
        assert not rnnkit.is_grad_enabled()
        with rnnkit.enable_grad():
            z = x * 3
    assert rnnkit.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_as_decorator():
    @rnnkit.no_grad()
    def double(t):
        return t * 2

    assert not double(rnnkit.tensor([1.0], requires_grad=True)).requires_grad
    assert rnnkit.is_grad_enabled()


def test_detach_stops_gradient_and_shares_data():
    x = rnnkit.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    d = x.detach()
    assert not d.requires_grad and np.shares_memory(d.data, x.data)
    (x * d).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0])  # d is a constant


def test_inputs_without_requires_grad_get_no_grad():
    x = rnnkit.tensor([1.0, 2.0], requires_grad=True)
    c = rnnkit.tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_backward_twice_without_retain_graph_raises():
    x = rnnkit.tensor([1.0, 2.0], requires_grad=True)
    y = (rnnkit.exp(x) * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_backward_twice_with_retain_graph_accumulates():
    x = rnnkit.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])


def test_backward_needs_a_gradient_for_non_scalars():
    x = rnnkit.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="shape"):  # as torch
        (x * 2).backward(np.ones(3))
    (x * 2).backward(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(x.grad, [2.0, -2.0])


def test_float32_stays_float32_with_python_scalars():
    x = rnnkit.tensor([[0.5, 1.5], [2.0, 3.0]], requires_grad=True)
    assert x.dtype == np.float32
    results = [
        x + 1.5, 1.5 + x, x - 2, 2 - x, x * 3.0, 3.0 * x, x / 7, 7 / x, x**2, x**0.5, -x, x * np.float64(2.0),
        x.mean(), x.sum() / 3, x.exp(), x.log(), x.tanh(), x.sigmoid(), x.relu(), x.sqrt(), x.abs(),
        x.clamp(0.7, 2.5), rnnkit.softmax(x, -1), rnnkit.log_softmax(x, 0), rnnkit.logsumexp(x, 1),
        rnnkit.where(x.data > 1, x, 0.0), x.max(), x @ x,
    ]
    for r in results:
        assert r.dtype == np.float32, r
    sum(r.sum() for r in results).backward()
    assert x.grad.dtype == np.float32


def test_integer_tensor_with_float_scalar_promotes_to_float():
    x = rnnkit.arange(4)
    assert x.dtype.kind == "i"
    y = x * 0.5
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.data, [0.0, 0.5, 1.0, 1.5])
    assert (x + 1).dtype == x.dtype


def test_float64_stays_float64():
    x = rnnkit.tensor(randn(3), requires_grad=True, dtype=np.float64)
    y = (x * 2.0 + 1).exp().mean()
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float64


def test_only_floating_tensors_require_grad():
    with pytest.raises(RuntimeError, match="requires_grad"):  # as torch
        rnnkit.tensor([1, 2], requires_grad=True)


def test_leaf_and_non_leaf_grads():
    x = rnnkit.tensor([1.0], requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf
    (y * 3).sum().backward()
    assert y.grad is None  # only leaves keep .grad, as torch without retain_grad
    np.testing.assert_array_equal(x.grad, [6.0])


# -- fuzzing broadcast shapes with hypothesis -----------------------------------------
try:
    from hypothesis import given, settings, strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError:  # optional: the fuzz test is skipped without hypothesis
    given = None

if given is not None:

    @settings(max_examples=40, deadline=None)
    @given(
        shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
        op=st.sampled_from(["add", "sub", "mul", "div"]),
    )
    def test_binary_broadcast_fuzz(shapes, op):
        a_shape, b_shape = shapes.input_shapes
        b = away_from(randn(*b_shape), [0.0], margin=0.3)
        check_grad(getattr(_ops, op), randn(*a_shape), b)

else:

    @pytest.mark.skip(reason="hypothesis is not installed")
    def test_binary_broadcast_fuzz():
        pass


def test_the_graph_keeps_no_intermediate_that_no_op_saved_as_torch():
    """The graph keeps no op's input tensors (torch's keeps only what backward saves), so an
    intermediate tensor is freed as soon as the program drops it, and its array with it unless an
    op saved that array: here the product in ((a * b).exp() * 2).sum(). The gradients stay right."""
    import gc
    import weakref

    torch = pytest.importorskip("torch")
    a_np, b_np = randn(3, 4), randn(3, 4)
    a, b = rnnkit.tensor(a_np, requires_grad=True), rnnkit.tensor(b_np, requires_grad=True)
    product = a * b
    product_ref = weakref.ref(product)
    y = (product.exp() * 2).sum()  # exp saves its output, not its input
    del product
    gc.collect()
    assert product_ref() is None
    y.backward()
    ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    ((ta * tb).exp() * 2).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-12)
