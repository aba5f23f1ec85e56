"""The rest of Keras 3.15's metrics (hinges, log-cosh, Poisson, crossentropies, cosine similarity,
correlations, Sum, the IoU family, the "X at Y" metrics, AUC's PRGAIN curve), the losses they average,
and the name tables of ``get``: each against Keras 3 (torch backend) on the same data."""

from __future__ import annotations

import re

import numpy as np
import pytest

from helpers import to_numpy as _to_numpy
from rnnkit import keras as rk


def _same_config(ours, theirs):
    """Equal configs; Keras numbers the default names of later instances ("io_u_1"), rnnkit does not."""
    expected = {k: v for k, v in theirs.get_config().items() if k != "dtype"}
    expected["name"] = re.sub(r"_\d+$", "", expected["name"])
    assert ours.get_config() == expected


def _data(kind, rng):
    """(y_true, y_pred) of one batch of 8 rows for a kind of metric."""
    if kind == "binary":
        return (rng.random((8, 3)) > 0.5).astype(np.float32), rng.normal(size=(8, 3)).astype(np.float32)
    if kind == "binary_probs":
        return (rng.random((8, 3)) > 0.5).astype(np.float32), rng.uniform(0.02, 0.98, (8, 3)).astype(np.float32)
    if kind == "signs":
        return np.sign(rng.normal(size=(8, 3))).astype(np.float32), rng.normal(size=(8, 3)).astype(np.float32)
    if kind == "onehot":
        return np.eye(4, dtype=np.float32)[rng.integers(0, 4, 8)], rng.normal(size=(8, 4)).astype(np.float32)
    if kind == "probs":
        p = rng.random((8, 4)).astype(np.float32) + 0.05
        return np.eye(4, dtype=np.float32)[rng.integers(0, 4, 8)], p / p.sum(-1, keepdims=True)
    if kind == "sparse":
        p = rng.random((8, 4)).astype(np.float32) + 0.05
        return rng.integers(0, 4, 8), p / p.sum(-1, keepdims=True)
    if kind == "sparse_logits":
        return rng.integers(0, 4, (8, 1)), rng.normal(size=(8, 4)).astype(np.float32)
    if kind == "counts":
        return rng.poisson(2.0, (8, 3)).astype(np.float32), rng.random((8, 3)).astype(np.float32) * 3
    if kind == "dists":
        t, p = rng.random((8, 4)).astype(np.float32), rng.random((8, 4)).astype(np.float32)
        return t / t.sum(-1, keepdims=True), p / p.sum(-1, keepdims=True)
    y = rng.normal(size=(8, 5)).astype(np.float32)  # "real"
    return y, (0.7 * y + 0.5 * rng.normal(size=(8, 5))).astype(np.float32)


MEAN_CASES = [
    ("LogCoshError", {}, "real"), ("Hinge", {}, "binary"), ("Hinge", {}, "signs"), ("SquaredHinge", {}, "binary"),
    ("SquaredHinge", {}, "signs"), ("CategoricalHinge", {}, "onehot"), ("Poisson", {}, "counts"),
    ("KLDivergence", {}, "dists"), ("CosineSimilarity", {}, "real"), ("CosineSimilarity", {"axis": 0}, "real"),
    ("PearsonCorrelation", {}, "real"), ("ConcordanceCorrelation", {}, "real"),
    ("PearsonCorrelation", {"axis": 0}, "real"), ("BinaryCrossentropy", {"from_logits": True}, "binary"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "binary"),
    ("CategoricalCrossentropy", {}, "probs"), ("CategoricalCrossentropy", {"from_logits": True,
                                                                         "label_smoothing": 0.2}, "onehot"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_logits"),
    ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 2}, "sparse_logits"),
    ("SparseCategoricalCrossentropy", {"ignore_class": 1}, "sparse"),
]


@pytest.mark.parametrize("name,kwargs,kind", MEAN_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in MEAN_CASES])
def test_mean_of_loss_metrics_match_keras(K, name, kwargs, kind):
    rng = np.random.default_rng(21)
    ours, theirs = getattr(rk.metrics, name)(**kwargs), getattr(K.metrics, name)(**kwargs)
    for step in range(3):
        y_true, y_pred = _data(kind, rng)
        weights = rng.random(8).astype(np.float32) if step == 1 and "axis" not in kwargs else None
        ours.update_state(y_true, y_pred, sample_weight=weights)
        theirs.update_state(y_true, y_pred, sample_weight=weights)
        assert ours.result() == pytest.approx(float(_to_numpy(theirs.result())), rel=2e-5, abs=1e-6), step
    _same_config(ours, theirs)
    ours.reset_state()
    assert ours.result() == 0.0


def test_sum_and_mean_match_keras(K):
    rng = np.random.default_rng(22)
    for cls in ("Sum", "Mean"):
        ours, theirs = getattr(rk.metrics, cls)(), getattr(K.metrics, cls)()
        for values, weights in [(rng.normal(size=(4, 3)), None), (rng.normal(size=(5, 2)), rng.random(5)),
                                (rng.normal(size=(3, 2)), rng.random((3, 2))), (rng.normal(size=6), rng.random(6))]:
            values = values.astype(np.float32)
            ours.update_state(values, sample_weight=weights)
            theirs.update_state(values, sample_weight=weights)
            assert ours.result() == pytest.approx(float(_to_numpy(theirs.result())), rel=1e-5, abs=1e-6), cls
        ours.reset_state()
        assert ours.result() == 0.0


IOU_CASES = [
    ("IoU", dict(num_classes=4, target_class_ids=[0, 2]), "ids"),
    ("IoU", dict(num_classes=4, target_class_ids=[1, 3], ignore_class=0), "ids"),
    ("MeanIoU", dict(num_classes=4), "ids"), ("MeanIoU", dict(num_classes=4, dtype="float32"), "ids_float_w"),
    ("MeanIoU", dict(num_classes=4, sparse_y_pred=False), "scores"),
    ("OneHotIoU", dict(num_classes=4, target_class_ids=[0, 1, 3]), "onehot"),
    ("OneHotMeanIoU", dict(num_classes=4, ignore_class=2), "onehot"),
    ("BinaryIoU", dict(), "binary"), ("BinaryIoU", dict(target_class_ids=[1], threshold=0.3), "binary"),
]


@pytest.mark.parametrize("name,kwargs,kind", IOU_CASES, ids=[f"{c[0]}-{c[1]}" for c in IOU_CASES])
def test_iou_metrics_match_keras(K, name, kwargs, kind):
    rng = np.random.default_rng(23)
    ours, theirs = getattr(rk.metrics, name)(**kwargs), getattr(K.metrics, name)(**kwargs)
    for step in range(3):
        labels = rng.integers(0, 4, 10)
        labels[0] = 5  # out of range: left out
        if kind == "binary":
            y_true, y_pred = labels % 2, rng.random(10).astype(np.float32)
        elif kind == "onehot":
            y_true, y_pred = np.eye(4)[labels % 4], rng.random((10, 4)).astype(np.float32)
        elif kind == "scores":
            y_true, y_pred = labels, rng.random((10, 4)).astype(np.float32)
        else:
            y_true, y_pred = labels, rng.integers(0, 4, 10)
        weights = None
        if step == 1:
            weights = rng.random(10).astype(np.float32) * 3 if kind == "ids_float_w" else rng.integers(0, 3, 10)
        ours.update_state(y_true, y_pred, sample_weight=weights)
        theirs.update_state(y_true, y_pred, sample_weight=weights)
        assert ours.result() == pytest.approx(float(_to_numpy(theirs.result())), rel=1e-6, abs=1e-7), step
    np.testing.assert_allclose(ours.total_cm, _to_numpy(theirs.total_cm), rtol=1e-6)
    _same_config(ours, theirs)
    ours.reset_state()
    assert ours.result() == 0.0 and not ours.total_cm.any()


def test_iou_float_weights_are_truncated_as_keras(K):
    y_true, y_pred, weights = np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]), np.array([1.7, 0.4, 2.9, 1.2])
    ours, theirs = rk.metrics.MeanIoU(2), K.metrics.MeanIoU(2)
    with pytest.warns(UserWarning, match="truncated"):
        ours.update_state(y_true, y_pred, sample_weight=weights)
    with pytest.warns(UserWarning, match="float"):  # Keras warns too
        theirs.update_state(y_true, y_pred, sample_weight=weights.astype(np.float32))
    np.testing.assert_array_equal(ours.total_cm, _to_numpy(theirs.total_cm))


AT_CASES = [
    ("SensitivityAtSpecificity", dict(specificity=0.7)), ("SpecificityAtSensitivity", dict(sensitivity=0.6)),
    ("PrecisionAtRecall", dict(recall=0.5)), ("RecallAtPrecision", dict(precision=0.6)),
    ("PrecisionAtRecall", dict(recall=0.8, num_thresholds=7)), ("RecallAtPrecision", dict(precision=0.4,
                                                                                          num_thresholds=1)),
    ("SensitivityAtSpecificity", dict(specificity=0.5, class_id=2)),
    ("SpecificityAtSensitivity", dict(sensitivity=0.9, num_thresholds=3, class_id=0)),
]


@pytest.mark.parametrize("name,kwargs", AT_CASES, ids=[f"{c[0]}-{c[1]}" for c in AT_CASES])
def test_at_metrics_match_keras(K, name, kwargs):
    rng = np.random.default_rng(24)
    ours, theirs = getattr(rk.metrics, name)(**kwargs), getattr(K.metrics, name)(**kwargs)
    columns = 3 if "class_id" in kwargs else 1
    for step in range(3):
        y_true = (rng.random((12, columns)) > 0.5).astype(np.float32)
        y_pred = rng.random((12, columns)).astype(np.float32)
        y_pred[:3] = [[0.0], [1.0], [0.5]] if columns == 1 else y_pred[:3]  # the end thresholds
        weights = rng.random(12).astype(np.float32) if step == 1 else None
        ours.update_state(y_true, y_pred, sample_weight=weights)
        theirs.update_state(y_true, y_pred, sample_weight=weights)
        assert ours.result() == pytest.approx(float(_to_numpy(theirs.result())), rel=1e-5, abs=1e-7), step
    for attr in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
        np.testing.assert_allclose(getattr(ours, attr), _to_numpy(getattr(theirs, attr)), rtol=1e-5, atol=1e-6,
                                   err_msg=attr)
    _same_config(ours, theirs)
    ours.reset_state()
    assert ours.result() == 0.0


PRGAIN_CASES = [dict(curve="PRGAIN"), dict(curve="prgain", summation_method="minoring"),
                dict(curve="PRGAIN", summation_method="Majoring", num_thresholds=9),
                dict(curve="PRGAIN", multi_label=True), dict(curve="pr", summation_method="Interpolation")]


@pytest.mark.parametrize("kwargs", PRGAIN_CASES, ids=[str(k) for k in PRGAIN_CASES])
def test_auc_prgain_and_spellings_match_keras(K, kwargs):
    rng = np.random.default_rng(25)
    ours, theirs = rk.metrics.AUC(**kwargs), K.metrics.AUC(**kwargs)
    for step in range(3):
        y_true = (rng.random((16, 2)) > 0.4).astype(np.float32)
        y_pred = rng.random((16, 2)).astype(np.float32)
        weights = rng.random(16).astype(np.float32) if step == 1 else None
        ours.update_state(y_true, y_pred, sample_weight=weights)
        theirs.update_state(y_true, y_pred, sample_weight=weights)
        assert ours.result() == pytest.approx(float(_to_numpy(theirs.result())), rel=1e-5, abs=1e-7), step
    config = {k: v for k, v in theirs.get_config().items() if k not in ("name", "dtype")}
    assert {k: v for k, v in ours.get_config().items() if k != "name"} == config


def test_metric_names_resolve_as_keras_get(K):
    """Every name keras.metrics.get knows resolves here to the same class, and no other name does."""
    from keras.src.metrics import ALL_OBJECTS_DICT

    abstract = {"Metric", "metric", "MeanMetricWrapper", "mean_metric_wrapper"}  # Keras's bases, not metrics
    for name, cls in ALL_OBJECTS_DICT.items():
        if name in abstract:
            continue
        try:
            expected = type(K.metrics.get(name)).__name__
        except TypeError:  # a class that needs arguments (IoU, ...): the same TypeError here
            with pytest.raises(TypeError):
                rk.metrics.get(name)
            continue
        assert type(rk.metrics.get(name)).__name__ == expected == cls.__name__, name
    for name in ("huber", "fbeta_score", "acc", "log_cosh", "poisson_loss"):
        with pytest.raises(ValueError):
            K.metrics.get(name)
        with pytest.raises(ValueError, match="unknown metric"):
            rk.metrics.get(name)


def test_new_metrics_by_name_in_compile_match_keras(K):
    """compile(metrics=[names]) logs the same values as Keras in evaluate() and over one epoch of fit()."""
    rng = np.random.default_rng(26)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = rng.random((40, 3)).round(1).astype(np.float32)  # soft labels in three columns (no row is constant)
    names = ["hinge", "squared_hinge", "log_cosh_error", "poisson", "cosine_similarity", "pearson_correlation",
             "concordance_correlation", "binary_io_u", "bce", "binary_crossentropy", "kl_divergence",
             "mean_squared_error"]
    K.utils.set_random_seed(0)
    theirs = K.Sequential([K.Input((4,)), K.layers.Dense(3, activation="sigmoid")])
    ours = rk.Sequential([rk.layers.Dense(3, activation="sigmoid", input_shape=(4,))])
    ours.set_weights([_to_numpy(w) for w in theirs.get_weights()])
    for lib, model in ((rk, ours), (K, theirs)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="binary_crossentropy",
                      metrics=names + [lib.metrics.RecallAtPrecision(0.5, name="r_at_p"),
                                       lib.metrics.AUC(curve="PRGAIN", name="prg")])
    expected = theirs.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    got = ours.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert set(got) == set(expected)
    for key in expected:
        assert got[key] == pytest.approx(float(expected[key]), rel=2e-5, abs=1e-6), key
    mine = ours.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    ref = theirs.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for key in ref.history:
        np.testing.assert_allclose(mine.history[key], ref.history[key], rtol=2e-5, atol=1e-6, err_msg=key)


def test_new_metrics_serialize_round_trip():
    for metric in (rk.metrics.MeanIoU(3, ignore_class=0), rk.metrics.PrecisionAtRecall(0.4, num_thresholds=5),
                   rk.metrics.PearsonCorrelation(axis=0), rk.metrics.SparseCategoricalCrossentropy(ignore_class=1),
                   rk.metrics.Sum(name="total")):
        again = rk.metrics.deserialize(rk.metrics.serialize(metric))
        assert type(again) is type(metric) and again.get_config() == metric.get_config()


def test_new_metric_bad_input():
    with pytest.raises(ValueError, match="specificity"):
        rk.metrics.SensitivityAtSpecificity(1.5)
    with pytest.raises(ValueError, match="recall"):
        rk.metrics.PrecisionAtRecall(-0.1)
    with pytest.raises(ValueError, match="num_thresholds"):
        rk.metrics.RecallAtPrecision(0.5, num_thresholds=0)
    with pytest.raises(ValueError, match="class_id"):
        rk.metrics.SpecificityAtSensitivity(0.5, class_id=3).update_state(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="target_class_ids"):
        rk.metrics.IoU(num_classes=3, target_class_ids=[0, 3])
    with pytest.raises(ValueError, match="num_classes"):
        rk.metrics.MeanIoU(num_classes=0)
    with pytest.raises(ValueError, match="curve"):
        rk.metrics.AUC(curve="Prgain")
    with pytest.raises(ValueError, match="summation_method"):
        rk.metrics.AUC(summation_method="MINORING")
    with pytest.raises(TypeError):
        rk.metrics.get("IoU")


# -- the losses behind them ----------------------------------------------------------------------------
LOSS_CASES = [("Hinge", {}, "binary"), ("Hinge", {}, "signs"), ("SquaredHinge", {}, "signs"),
              ("CategoricalHinge", {}, "onehot"), ("LogCosh", {}, "real"), ("Poisson", {}, "counts"),
              ("CosineSimilarity", {}, "real"), ("CosineSimilarity", {"axis": 0}, "real"),
              ("SparseCategoricalCrossentropy", {"ignore_class": 2, "from_logits": True}, "sparse_logits"),
              ("SparseCategoricalCrossentropy", {"ignore_class": 0}, "sparse"),
              ("BinaryFocalCrossentropy", {}, "binary_probs"),
              ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5,
                                           "from_logits": True, "label_smoothing": 0.1}, "binary"),
              ("CategoricalFocalCrossentropy", {}, "probs"),
              ("CategoricalFocalCrossentropy", {"alpha": 0.5, "gamma": 3.0, "from_logits": True,
                                                "label_smoothing": 0.1}, "onehot"),
              ("Dice", {}, "binary_probs"), ("Dice", {"axis": -1}, "binary_probs"),
              ("Tversky", {"alpha": 0.3, "beta": 0.7}, "binary_probs"), ("Tversky", {"axis": 1}, "binary_probs"),
              ("CategoricalGeneralizedCrossEntropy", {}, "sparse"),
              ("CategoricalGeneralizedCrossEntropy", {"q": 0.8}, "sparse")]


# every case unweighted and with (B,) sample weights, except one loss per column (axis 0 or 1): no (B,) weights
WEIGHTED_LOSS_CASES = [(*case, weighted) for case in LOSS_CASES for weighted in (False, True)
                       if not (weighted and case[1].get("axis") in (0, 1))]


@pytest.mark.parametrize("name,kwargs,kind,weighted", WEIGHTED_LOSS_CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}-{'weighted' if c[3] else 'plain'}" for c in WEIGHTED_LOSS_CASES])
def test_new_losses_value_and_gradient_match_keras(K, name, kwargs, kind, weighted):
    import torch

    from rnnkit._tensor import Tensor

    rng = np.random.default_rng(27)
    y_true, y_pred = _data(kind, rng)
    weights = np.linspace(0.2, 1.5, len(y_pred)).astype(np.float32) if weighted else None
    mine = Tensor(y_pred.copy(), requires_grad=True)
    value = getattr(rk.losses, name)(**kwargs)(y_true, mine, sample_weight=weights)
    value.backward()
    theirs = torch.tensor(y_pred.copy(), requires_grad=True)
    expected = getattr(K.losses, name)(**kwargs)(y_true, theirs, sample_weight=weights)
    expected.backward()
    assert value.item() == pytest.approx(expected.item(), rel=1e-6, abs=1e-6)
    np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-5, atol=1e-7)
    ours_config = getattr(rk.losses, name)(**kwargs).get_config()
    theirs_config = getattr(K.losses, name)(**kwargs).get_config()
    # Keras leaves some arguments (CosineSimilarity's and SparseCategoricalCrossentropy's axis) out of its config
    assert {k: ours_config[k] for k in theirs_config if k != "dtype"} == {k: v for k, v in theirs_config.items()
                                                                         if k != "dtype"}


@pytest.mark.parametrize("name", ["hinge", "squared_hinge", "categorical_hinge", "log_cosh", "poisson",
                                  "cosine_similarity", "Hinge", "LogCosh", "CosineSimilarity",
                                  "binary_focal_crossentropy", "categorical_focal_crossentropy", "dice", "Tversky"])
def test_new_loss_names_compile_and_train_as_keras(K, name):
    rng = np.random.default_rng(28)
    x = rng.normal(size=(24, 3)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 24)]
    K.utils.set_random_seed(0)
    theirs = K.Sequential([K.Input((3,)), K.layers.Dense(3, activation="softplus")])
    ours = rk.Sequential([rk.layers.Dense(3, activation="softplus", input_shape=(3,))])
    ours.set_weights([_to_numpy(w) for w in theirs.get_weights()])
    for lib, model in ((rk, ours), (K, theirs)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss=name)
    mine = ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ref = theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(mine.history["loss"], ref.history["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _to_numpy(b), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("weighted", [False, True])
def test_ctc_loss_value_and_gradient_match_keras(K, weighted):
    """CTC of (B, T, C) logits against 0-padded labels: repeats, a short label and an empty one."""
    import torch

    from rnnkit._tensor import Tensor

    rng = np.random.default_rng(29)
    logits = (2 * rng.normal(size=(4, 7, 5))).astype(np.float32)
    labels = np.array([[1, 2, 2], [3, 0, 0], [4, 4, 1], [0, 0, 0]])
    weights = rng.random(4).astype(np.float32) if weighted else None
    mine = Tensor(logits.copy(), requires_grad=True)
    value = rk.losses.CTC()(labels, mine, sample_weight=weights)
    value.backward()
    theirs = torch.tensor(logits.copy(), requires_grad=True)
    expected = K.losses.CTC()(labels, theirs, sample_weight=weights)
    expected.backward()
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rk.losses.ctc(labels, logits).numpy(), _to_numpy(K.losses.ctc(labels, logits)),
                               rtol=1e-6)
    impossible = rk.losses.ctc(np.array([[1, 1, 1]]), logits[:1, :3])  # needs 5 steps: inf, as torch
    assert np.isinf(impossible.numpy()).all()
    with pytest.raises(ValueError, match="y_pred"):
        rk.losses.ctc(labels, logits[:, 0])
    with pytest.raises(ValueError, match="labels in"):
        rk.losses.ctc(labels + 3, logits)


@pytest.mark.parametrize("kwargs,labels", [({}, [0, 0, 1, 1, 2, 2, 0, 1]),
                                           ({"gamma": 2.0, "margin": 0.25}, [0, 0, 1, 1, 2, 2, 0, 1]),
                                           ({"remove_diagonal": False, "gamma": 10.0}, [0, 1, 0, 1, 0, 1, 0, 1]),
                                           ({"gamma": 5.0}, [0, 0, 1, 1, 2, 0, 1, 3])])  # singletons: masked
def test_circle_loss_value_and_gradient_match_keras(K, kwargs, labels):
    import torch

    from rnnkit._tensor import Tensor

    rng = np.random.default_rng(30)
    embeddings = rng.normal(size=(8, 4)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    labels = np.array(labels)
    weights = np.linspace(0.5, 1.0, 8).astype(np.float32)
    mine = Tensor(embeddings.copy(), requires_grad=True)
    value = rk.losses.Circle(**kwargs)(labels, mine, sample_weight=weights)
    value.backward()
    theirs = torch.tensor(embeddings.copy(), requires_grad=True)
    expected = K.losses.Circle(**kwargs)(labels, theirs, sample_weight=weights)
    expected.backward()
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-5, atol=1e-5)
    theirs_config = K.losses.Circle(**kwargs).get_config()
    assert rk.losses.Circle(**kwargs).get_config() == {k: v for k, v in theirs_config.items() if k != "dtype"}


@pytest.mark.parametrize("sparse", [False, True])
def test_class_metrics_by_name_in_compile_match_keras(K, sparse):
    """A softmax classifier with metrics given by Keras's names (one-hot or integer labels)."""
    rng = np.random.default_rng(33)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    labels = rng.integers(0, 6, 40)  # six classes: more than top-k's k=5
    y = labels if sparse else np.eye(6, dtype=np.float32)[labels]
    names = (["sparse_categorical_crossentropy", "SparseCategoricalCrossentropy", "sparse_top_k_categorical_accuracy"]
             if sparse else ["categorical_hinge", "CategoricalHinge", "categorical_crossentropy", "kl_divergence",
                             "poisson", "top_k_categorical_accuracy", "log_cosh_error", "cosine_similarity"])
    K.utils.set_random_seed(0)
    theirs = K.Sequential([K.Input((5,)), K.layers.Dense(6, activation="softmax")])
    ours = rk.Sequential([rk.layers.Dense(6, activation="softmax", input_shape=(5,))])
    ours.set_weights([_to_numpy(w) for w in theirs.get_weights()])
    loss = "sparse_categorical_crossentropy" if sparse else "categorical_crossentropy"
    for lib, model in ((rk, ours), (K, theirs)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss=loss, metrics=names + ["accuracy"])
    mine = ours.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    ref = theirs.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert set(mine.history) == set(ref.history)
    for key in ref.history:
        np.testing.assert_allclose(mine.history[key], ref.history[key], rtol=2e-5, atol=1e-6, err_msg=key)
