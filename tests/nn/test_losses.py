"""Every loss and option against torch in float64: values and the gradients of input and target."""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit
from rnnkit import nn
from rnnkit.nn import functional as F
from helpers import close

torch = pytest.importorskip("torch", reason="parity tests compare against torch")
TF = torch.nn.functional

RNG = np.random.default_rng(2)


def randn(*shape):
    return RNG.standard_normal(shape)


def compare(ours_fn, ref_fn, x, target, float_target=False, **kwargs):
    """Run the loss in rnnkit and torch; compare the loss and the gradients (of the target too when float)."""
    xo, xr = rnnkit.tensor(x, requires_grad=True, dtype=np.float64), torch.tensor(x, requires_grad=True)
    if float_target:
        to, tr = rnnkit.tensor(target, requires_grad=True, dtype=np.float64), torch.tensor(target, requires_grad=True)
    else:
        to, tr = target, torch.tensor(target)
    ref_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    lo, lr = ours_fn(xo, to, **kwargs), ref_fn(xr, tr, **ref_kwargs)
    assert lo.dtype == np.float64
    close(lo, lr)
    g = randn(*lr.shape)
    lo.backward(g)
    lr.backward(torch.tensor(g))
    close(xo.grad, xr.grad)
    if float_target:
        close(to.grad, tr.grad)


def class_targets(shape, C, ignore_index):
    """Random class indices with a few entries equal to ``ignore_index`` (when it is a class)."""
    target = RNG.integers(0, C, size=shape)
    if target.ndim and 0 <= ignore_index < C:
        target.flat[::3] = ignore_index
    elif not target.ndim:
        target = np.array((ignore_index + 1) % C)  # never ignore the only target
    return target


INPUT_SHAPES = [(6, 5), (5,), (3, 5, 4), (2, 5, 3, 2)]  # (N, C), (C,), (N, C, d1), (N, C, d1, d2)


def target_shape(shape):
    return () if len(shape) == 1 else shape[:1] + shape[2:]


# -- cross entropy ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", INPUT_SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 1])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_cross_entropy_class_indices(shape, reduction, weighted, ignore_index, label_smoothing):
    C = 5
    weight = RNG.uniform(0.5, 2.0, C) if weighted else None
    target = class_targets(target_shape(shape), C, ignore_index)
    compare(
        F.cross_entropy, TF.cross_entropy, 3 * randn(*shape), target,
        weight=weight, ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing,
    )


@pytest.mark.parametrize("shape", INPUT_SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
def test_cross_entropy_probability_targets(shape, reduction, weighted, label_smoothing):
    class_dim = 0 if len(shape) == 1 else 1
    probs = np.exp(randn(*shape))
    probs /= probs.sum(axis=class_dim, keepdims=True)
    weight = RNG.uniform(0.5, 2.0, 5) if weighted else None
    compare(
        F.cross_entropy, TF.cross_entropy, 3 * randn(*shape), probs, float_target=True,
        weight=weight, reduction=reduction, label_smoothing=label_smoothing,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_all_targets_ignored(reduction):
    x, target = randn(3, 4), np.full(3, -100)
    close(F.cross_entropy(x, target, reduction=reduction), TF.cross_entropy(torch.tensor(x), torch.tensor(target), reduction=reduction))


def test_cross_entropy_is_stable_for_huge_logits():
    x = np.array([[1000.0, -1000.0, 0.0], [-5e3, 5e3, 1.0]])
    compare(F.cross_entropy, TF.cross_entropy, x, np.array([1, 0]), reduction="sum", label_smoothing=0.1)


def test_cross_entropy_float32_stays_float32():
    x = rnnkit.tensor(randn(4, 3).astype(np.float32), requires_grad=True)
    loss = F.cross_entropy(x, [0, 1, 2, 1], label_smoothing=0.1)
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32
    ref = TF.cross_entropy(torch.tensor(x.detach().numpy()), torch.tensor([0, 1, 2, 1]), label_smoothing=0.1)
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-6)


# -- NLL --------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", INPUT_SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_nll_loss(shape, reduction, weighted, ignore_index):
    C = 5
    weight = RNG.uniform(0.5, 2.0, C) if weighted else None
    target = class_targets(target_shape(shape), C, ignore_index)
    compare(F.nll_loss, TF.nll_loss, randn(*shape), target, weight=weight, ignore_index=ignore_index, reduction=reduction)


def test_nll_of_log_softmax_is_cross_entropy():
    x = rnnkit.tensor(randn(4, 6), dtype=np.float64)
    t = np.array([0, 5, 2, 2])
    close(F.nll_loss(F.log_softmax(x, 1), t), F.cross_entropy(x, t).data)


# -- regression losses ------------------------------------------------------------------------
@pytest.mark.parametrize("fn,ref", [(F.mse_loss, TF.mse_loss), (F.l1_loss, TF.l1_loss)], ids=["mse", "l1"])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_pointwise_losses(fn, ref, shape, reduction):
    compare(fn, ref, randn(*shape), randn(*shape), float_target=True, reduction=reduction)


@pytest.mark.parametrize("fn,ref", [(F.mse_loss, TF.mse_loss), (F.l1_loss, TF.l1_loss)], ids=["mse", "l1"])
def test_pointwise_losses_broadcast_with_a_warning(fn, ref):
    x, y = randn(3, 1), randn(3)
    with pytest.warns(UserWarning, match="different to the input size"):
        ours = fn(rnnkit.tensor(x, dtype=np.float64), y)
    with pytest.warns(UserWarning):
        expected = ref(torch.tensor(x), torch.tensor(y))
    close(ours, expected)
    with pytest.raises(ValueError, match=r"target: expected the input's shape \(3, 2\), got \(4,\)"):
        fn(rnnkit.tensor(randn(3, 2)), randn(4))


# -- BCE with logits ----------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight", [None, "full", "per_class"])
@pytest.mark.parametrize("pos_weight", [None, "per_class"])
def test_bce_with_logits(reduction, weight, pos_weight):
    shape = (4, 3)
    kwargs = {"reduction": reduction}
    if weight is not None:
        kwargs["weight"] = RNG.uniform(0.5, 2, shape if weight == "full" else shape[-1:])
    if pos_weight is not None:
        kwargs["pos_weight"] = RNG.uniform(0.5, 3, shape[-1:])
    target = RNG.uniform(0, 1, shape)
    compare(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, 4 * randn(*shape), target,
            float_target=True, **kwargs)


def test_bce_with_logits_is_stable_for_huge_logits():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    y = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    compare(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, x, y, float_target=True,
            reduction="none", pos_weight=np.array([2.0]))


# -- module forms ---------------------------------------------------------------------------------
W5 = np.array([0.5, 1.0, 2.0, 1.5, 0.7])


@pytest.mark.parametrize(
    "ours,ref,kind",
    [
        (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), "class"),
        (nn.CrossEntropyLoss(weight=W5, ignore_index=0, reduction="sum", label_smoothing=0.2),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(W5), ignore_index=0, reduction="sum", label_smoothing=0.2), "class"),
        (nn.CrossEntropyLoss(reduction="none"), torch.nn.CrossEntropyLoss(reduction="none"), "probs"),
        (nn.NLLLoss(weight=W5, ignore_index=3), torch.nn.NLLLoss(weight=torch.tensor(W5), ignore_index=3), "class"),
        (nn.MSELoss(), torch.nn.MSELoss(), "real"),
        (nn.L1Loss(reduction="sum"), torch.nn.L1Loss(reduction="sum"), "real"),
        (nn.BCEWithLogitsLoss(pos_weight=W5), torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(W5)), "real"),
        (nn.BCEWithLogitsLoss(weight=W5, reduction="none"),
         torch.nn.BCEWithLogitsLoss(weight=torch.tensor(W5), reduction="none"), "real"),
    ],
    ids=lambda m: type(m).__name__ if not isinstance(m, str) else m,
)
def test_loss_modules_match_torch(ours, ref, kind):
    ours.double()
    x = randn(6, 5)
    if kind == "class":
        target = class_targets((6,), 5, getattr(ref, "ignore_index", -100))
        compare(lambda a, b: ours(a, b), lambda a, b: ref(a, b), x, target)
    elif kind == "probs":
        probs = np.exp(randn(6, 5))
        compare(lambda a, b: ours(a, b), lambda a, b: ref(a, b), x, probs / probs.sum(1, keepdims=True), float_target=True)
    else:
        compare(lambda a, b: ours(a, b), lambda a, b: ref(a, b), x, RNG.uniform(0, 1, (6, 5)), float_target=True)


def test_loss_modules_accept_ndarrays_and_lists():
    assert nn.MSELoss()([1.0, 2.0], [1.0, 4.0]).item() == 2.0
    loss = nn.CrossEntropyLoss()(np.zeros((2, 4)), [1, 3])
    np.testing.assert_allclose(loss.item(), np.log(4), rtol=1e-6)


# -- bad input ---------------------------------------------------------------------------------------
def test_class_target_out_of_range():
    with pytest.raises(ValueError, match=r"target: expected class indices in \[0, 4\) or ignore_index=-100, got 4"):
        F.cross_entropy(randn(2, 4), [0, 4])
    with pytest.raises(ValueError, match="got -1"):
        F.nll_loss(randn(2, 4), [-1, 0])
    F.nll_loss(randn(2, 4), [-1, 0], ignore_index=-1)  # ignored entries may be anything equal to ignore_index


def test_target_shape_and_dtype_errors():
    with pytest.raises(ValueError, match=r"target: expected class indices of shape \(2,\) for input of shape \(2, 4\), got shape \(3,\)"):
        F.cross_entropy(randn(2, 4), [0, 1, 2])
    with pytest.raises(ValueError, match=r"target: expected class probabilities of the input's shape \(2, 4\)"):
        F.cross_entropy(randn(2, 4), randn(2))
    with pytest.raises(TypeError, match="target: expected integer class indices, got dtype float64"):
        F.nll_loss(randn(2, 4), randn(2))
    with pytest.raises(ValueError, match="ignore_index: not supported with class-probability targets"):
        F.cross_entropy(randn(2, 4), np.full((2, 4), 0.25), ignore_index=1)
    with pytest.raises(ValueError, match="input: expected"):
        F.cross_entropy(np.float64(1.0), np.array(0))
    with pytest.raises(ValueError, match=r"target: expected the input's shape \(2, 3\), got \(2,\)"):
        F.binary_cross_entropy_with_logits(randn(2, 3), randn(2))


def test_option_errors():
    with pytest.raises(ValueError, match="reduction: expected 'none', 'mean' or 'sum', got 'avg'"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(randn(2), randn(2), reduction="max")
    with pytest.raises(ValueError, match=r"label_smoothing: expected a value in \[0, 1\], got 1.5"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"weight: expected one weight per class, shape \(4,\), got \(3,\)"):
        F.cross_entropy(randn(2, 4), [0, 1], weight=np.ones(3))
    with pytest.raises(ValueError, match="pos_weight: expected a shape that broadcasts"):
        F.binary_cross_entropy_with_logits(randn(2, 3), randn(2, 3), pos_weight=np.ones(4))
    with pytest.raises(TypeError, match="input: expected a floating-point tensor"):
        F.cross_entropy(rnnkit.tensor([[1, 2]]), [0])


def test_target_of_another_dtype_keeps_its_gradient():
    x = rnnkit.tensor(randn(3).astype(np.float32))
    y = rnnkit.tensor(randn(3), requires_grad=True, dtype=np.float64)
    loss = F.mse_loss(x, y)
    assert loss.dtype == np.float32
    loss.backward()
    assert y.grad.dtype == np.float64
    np.testing.assert_allclose(y.grad, -2 * (x.data - y.data.astype(np.float32)) / 3, rtol=1e-5)
