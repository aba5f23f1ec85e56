"""Learning-rate schedules, loss aliases and the threshold metrics (AUC, ...) of the Keras dialect,
checked against Keras 3 (torch backend)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import to_numpy as _to_numpy
from rnnkit import keras as rk

STEPS = [0, 1, 2, 3, 5, 7, 9, 10, 11, 19, 20, 21, 33, 50, 64, 99, 100, 101, 150, 333, 1000]

SCHEDULE_CASES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.9)),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5, staircase=True)),
    ("PiecewiseConstantDecay", dict(boundaries=[10, 20, 100], values=[1.0, 0.5, 0.1, 0.01])),
    ("PiecewiseConstantDecay", dict(boundaries=[5], values=[0.3, 0.2])),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=30)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=30, end_learning_rate=0.01, power=0.5,
                             cycle=True)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5, staircase=True)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=100)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=100, alpha=0.1)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=100, alpha=0.2, warmup_target=0.5,
                         warmup_steps=20)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=10)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=10, t_mul=1.0, m_mul=0.8,
                                 alpha=0.05)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=7, t_mul=1.5, m_mul=0.5)),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(SCHEDULE_CASES)])
def test_schedule_values_and_config_match_keras(K, name, kwargs):
    ours, theirs = getattr(rk.optimizers.schedules, name)(**kwargs), getattr(K.optimizers.schedules, name)(**kwargs)
    for step in STEPS:
        np.testing.assert_allclose(ours(step), float(_to_numpy(theirs(step))), rtol=2e-6, atol=1e-9,
                                   err_msg=f"step {step}")
    assert ours.get_config() == theirs.get_config()
    assert rk.optimizers.schedules.serialize(ours) == K.optimizers.schedules.serialize(theirs)
    again = rk.optimizers.schedules.deserialize(rk.optimizers.schedules.serialize(ours))
    assert type(again) is type(ours) and again.get_config() == ours.get_config()
    # A config written by Keras (with its "module"/"registered_name" keys) loads here.
    from_keras = rk.optimizers.schedules.deserialize(K.optimizers.schedules.serialize(theirs))
    assert [from_keras(s) for s in STEPS] == [ours(s) for s in STEPS]


def test_schedule_import_path_and_optimizer_config():
    from rnnkit.keras.optimizers.schedules import ExponentialDecay

    decay = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    opt = rk.optimizers.Adam(learning_rate=decay)
    config = opt.get_config()
    assert config["learning_rate"] == {"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay",
                                       "config": decay.get_config(), "registered_name": None}
    again = rk.optimizers.Adam.from_config(config)
    assert isinstance(again._learning_rate, ExponentialDecay)
    assert again.learning_rate == pytest.approx(0.1)
    again.iterations = 10
    assert again.learning_rate == pytest.approx(0.05)
    rebuilt = rk.optimizers.deserialize(rk.optimizers.serialize(opt))
    assert rebuilt.get_config() == config
    with pytest.raises(TypeError, match="not settable"):  # as Keras (callbacks cannot silently drop the schedule)
        opt.learning_rate = 0.01
    with pytest.raises(ValueError, match="learning-rate function"):
        rk.optimizers.SGD(learning_rate=lambda: 0.1).get_config()
    with pytest.raises(TypeError, match="learning_rate is called with no arguments"):
        rk.optimizers.SGD(learning_rate=lambda step: 0.1)


def test_callable_learning_rate_is_called_without_arguments_as_keras(K):
    """A plain function as learning_rate: Keras 3 calls it with no arguments at every step; so does rnnkit."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(24, 3)).astype(np.float32), rng.normal(size=(24, 2)).astype(np.float32)

    def decaying():
        rates = iter([0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001] * 3)
        return lambda: next(rates)

    K.utils.set_random_seed(0)
    theirs = K.Sequential([K.Input((3,)), K.layers.Dense(2)])
    ours = rk.Sequential([rk.layers.Dense(2, input_shape=(3,))])
    ours.set_weights([_to_numpy(w) for w in theirs.get_weights()])
    ours.compile(optimizer=rk.optimizers.SGD(learning_rate=decaying()), loss="mse")
    theirs.compile(optimizer=K.optimizers.SGD(learning_rate=decaying()), loss="mse")
    mine = ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    ref = theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(mine.history["loss"], ref.history["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _to_numpy(b), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rate", [1, np.float32(0.1), np.int64(2), -0.1, 0.0, np.float64(0.01)])
def test_learning_rate_types_as_keras(K, rate):
    """The constructor takes what Keras's takes (a Python float, a negative one too) and refuses the rest."""
    try:
        theirs = float(K.optimizers.Adam(learning_rate=rate).learning_rate)
    except ValueError:
        with pytest.raises(ValueError, match="learning_rate"):
            rk.optimizers.Adam(learning_rate=rate)
        return
    assert rk.optimizers.Adam(learning_rate=rate).learning_rate == pytest.approx(theirs)
    opt = rk.optimizers.Adam(learning_rate=0.1)
    opt.learning_rate = 2  # a later assignment takes any number, as Keras's variable does
    assert opt.learning_rate == 2.0


def test_optimizer_config_with_schedule_from_keras(K):
    theirs = K.optimizers.Adam(learning_rate=K.optimizers.schedules.CosineDecay(0.1, 50, alpha=0.1))
    ours = rk.optimizers.Adam.from_config({k: v for k, v in theirs.get_config().items()
                                           if k in ("name", "learning_rate", "beta_1", "beta_2", "epsilon")})
    assert isinstance(ours._learning_rate, rk.optimizers.schedules.CosineDecay)
    assert ours._learning_rate.get_config() == theirs._learning_rate.get_config()
    assert ours._learning_rate(25) == pytest.approx(float(_to_numpy(theirs._learning_rate(25))), rel=1e-6)


@pytest.mark.parametrize("name,kwargs", [
    ("ExponentialDecay", dict(initial_learning_rate=0.05, decay_steps=2, decay_rate=0.5)),
    ("PiecewiseConstantDecay", dict(boundaries=[1, 2], values=[0.05, 0.02, 0.001])),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=3, warmup_target=0.05, warmup_steps=2)),
])
def test_training_with_a_schedule_matches_keras(K, name, kwargs):
    """LSTM + Dense, Keras's initial weights, one epoch of Adam(learning_rate=schedule): Keras's weights."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6, 3)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 32)]
    K.utils.set_random_seed(0)
    theirs = K.Sequential([K.Input((6, 3)), K.layers.LSTM(5), K.layers.Dense(3, activation="softmax")])
    ours = rk.Sequential([rk.layers.LSTM(5, input_shape=(6, 3)), rk.layers.Dense(3, activation="softmax")])
    ours.set_weights([_to_numpy(w) for w in theirs.get_weights()])
    start = ours.get_weights()
    ours.compile(optimizer=rk.optimizers.Adam(getattr(rk.optimizers.schedules, name)(**kwargs)),
                 loss="categorical_crossentropy")
    theirs.compile(optimizer=K.optimizers.Adam(getattr(K.optimizers.schedules, name)(**kwargs)),
                   loss="categorical_crossentropy")
    mine = ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ref = theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b, a0 in zip(ours.get_weights(), theirs.get_weights(), start):
        # Adam divides each gradient by its own scale, so the float32 rounding of a near-zero
        # gradient shows in its step: up to 4e-5 here with either rnnkit kernel (NumPy 2.3e-5)
        np.testing.assert_allclose(a, _to_numpy(b), rtol=1e-4, atol=1e-4)
        assert np.abs(a - a0).max() > 1e-3
    np.testing.assert_allclose(mine.history["loss"], ref.history["loss"], rtol=1e-5)
    assert ours.optimizer.iterations == 4
    assert ours.optimizer.learning_rate == pytest.approx(float(_to_numpy(theirs.optimizer.learning_rate)), rel=1e-6)


def test_schedule_bad_input():
    s = rk.optimizers.schedules
    with pytest.raises(ValueError, match="decay_steps"):
        s.ExponentialDecay(0.1, decay_steps=0, decay_rate=0.9)
    with pytest.raises(ValueError, match="first_decay_steps"):
        s.CosineDecayRestarts(0.1, first_decay_steps=-1)
    with pytest.raises(TypeError, match="initial_learning_rate"):
        s.PolynomialDecay("0.1", decay_steps=10)
    with pytest.raises(ValueError, match="boundaries"):
        s.PiecewiseConstantDecay([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="warmup_steps"):
        s.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=-1)
    with pytest.raises(TypeError, match="step"):
        s.InverseTimeDecay(0.1, 10, 0.5)("3")
    with pytest.raises(ValueError, match="unknown learning-rate schedule class 'Nope'"):
        s.deserialize({"class_name": "Nope", "config": {}})


# -- losses by Keras's aliases -----------------------------------------------------------------------
def _new_loss_cases():
    rng = np.random.default_rng(5)
    y, y_hat = rng.normal(size=(6, 3)).astype(np.float32), 2 * rng.normal(size=(6, 3)).astype(np.float32)
    y[0, 0] = 0.0  # the epsilon floor of mape's denominator
    pos, pos_hat = rng.random((6, 3)).astype(np.float32) * 3, rng.random((6, 3)).astype(np.float32) * 3
    pos_hat[1, 1] = -0.5  # below msle's floor
    dist = rng.random((6, 4)).astype(np.float32)
    dist /= dist.sum(-1, keepdims=True)
    dist_hat = rng.random((6, 4)).astype(np.float32)
    dist_hat /= dist_hat.sum(-1, keepdims=True)
    dist[2, 0] = 0.0  # clipped to epsilon
    return [
        ("MeanAbsolutePercentageError", y, y_hat),
        ("MeanSquaredLogarithmicError", pos, pos_hat),
        ("KLDivergence", dist, dist_hat),
        ("MeanAbsolutePercentageError", y[:, 0], y_hat[:, :1]),
    ]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name,y_true,y_pred", _new_loss_cases(),
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(_new_loss_cases())])
def test_new_loss_value_and_gradient_match_keras(K, name, y_true, y_pred, weighted):
    import torch

    from rnnkit._tensor import Tensor

    weights = np.linspace(0.2, 1.5, len(y_pred)).astype(np.float32) if weighted else None
    mine = Tensor(y_pred.copy(), requires_grad=True)
    value = getattr(rk.losses, name)()(y_true, mine, sample_weight=weights)
    value.backward()
    theirs = torch.tensor(y_pred.copy(), requires_grad=True)
    expected = getattr(K.losses, name)()(y_true, theirs, sample_weight=weights)
    expected.backward()
    assert value.item() == pytest.approx(expected.item(), rel=1e-6, abs=1e-6)
    np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-5, atol=1e-7)


LOSS_ALIASES = ["bce", "BCE", "mse", "MSE", "mae", "MAE", "mape", "MAPE", "msle", "MSLE", "kld", "KLD", "huber",
                "binary_crossentropy", "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
                "kl_divergence", "MeanAbsolutePercentageError", "KLDivergence", "MeanSquaredLogarithmicError"]


@pytest.mark.parametrize("alias", LOSS_ALIASES)
def test_loss_aliases_resolve_as_in_keras(K, alias):
    rng = np.random.default_rng(6)
    y_true = rng.random((5, 3)).astype(np.float32)
    y_pred = rng.uniform(0.05, 0.95, (5, 3)).astype(np.float32)
    ours, theirs = rk.losses.get(alias), K.losses.get(alias)
    if not isinstance(theirs, K.losses.Loss):  # a function: the same function under its own name
        assert ours.__name__ == theirs.__name__
    else:
        assert type(ours).__name__ == type(theirs).__name__
    np.testing.assert_allclose(_to_numpy(ours(y_true, y_pred)), _to_numpy(theirs(y_true, y_pred)), rtol=1e-6)
    model = rk.Sequential([rk.layers.Dense(3, activation="sigmoid", input_shape=(2,))])  # compile() takes it too
    model.compile(optimizer="sgd", loss=alias)
    assert np.isfinite(model.evaluate(rng.random((4, 2)).astype(np.float32), y_true[:4], verbose=0))


# -- metrics -----------------------------------------------------------------------------------------
def _binary_batches(rng, logits=False):
    """Three batches of (labels, scores, weights): ties at threshold values, scores outside [0, 1] when logits."""
    batches = []
    for step in range(3):
        y_true = (rng.random(16) > 0.4).astype(np.float32)
        y_pred = (3 * rng.normal(size=16) if logits else rng.random(16)).astype(np.float32)
        if not logits:
            y_pred[:3] = [0.0, 1.0, 0.5]
        weights = rng.random(16).astype(np.float32) if step == 1 else None
        batches.append((y_true[:, None], y_pred[:, None], weights))
    return batches


AUC_CASES = [dict(), dict(curve="PR"), dict(summation_method="minoring"), dict(summation_method="majoring"),
             dict(curve="PR", summation_method="minoring"), dict(curve="PR", summation_method="majoring"),
             dict(num_thresholds=7), dict(num_thresholds=7, curve="PR"), dict(from_logits=True),
             dict(from_logits=True, curve="PR", num_thresholds=50),
             dict(thresholds=[0.25, 0.5, 0.75]), dict(thresholds=[0.1, 0.45, 0.5, 0.9], curve="PR"),
             dict(thresholds=[0.3, 0.6], summation_method="minoring")]


@pytest.mark.parametrize("kwargs", AUC_CASES, ids=[str(k) for k in AUC_CASES])
def test_auc_matches_keras(K, kwargs):
    rng = np.random.default_rng(7)
    ours, theirs = rk.metrics.AUC(**kwargs), K.metrics.AUC(**kwargs)
    for y_true, y_pred, weights in _binary_batches(rng, logits=kwargs.get("from_logits", False)):
        ours.update_state(y_true, y_pred, sample_weight=weights)
        theirs.update_state(y_true, y_pred, sample_weight=weights)
        assert ours.result() == pytest.approx(float(_to_numpy(theirs.result())), rel=1e-5, abs=1e-7)
    np.testing.assert_allclose(ours.true_positives, _to_numpy(theirs.true_positives), rtol=1e-5)
    np.testing.assert_allclose(ours.false_positives, _to_numpy(theirs.false_positives), rtol=1e-5)
    config = {k: v for k, v in theirs.get_config().items() if k not in ("name", "dtype")}
    assert {k: v for k, v in ours.get_config().items() if k != "name"} == config
    ours.reset_state()
    assert ours.result() == 0.0 and not ours.true_positives.any()


MULTI_LABEL_CASES = [dict(multi_label=True), dict(multi_label=True, curve="PR"),
                     dict(multi_label=True, label_weights=[0.2, 1.0, 0.5], summation_method="majoring"),
                     dict(multi_label=True, num_labels=3, thresholds=[0.2, 0.7]),
                     dict(label_weights=[0.2, 1.0, 0.5]), dict(label_weights=[0.2, 1.0, 0.5], curve="PR")]


@pytest.mark.parametrize("kwargs", MULTI_LABEL_CASES, ids=[str(k) for k in MULTI_LABEL_CASES])
def test_multi_label_auc_matches_keras(K, kwargs):
    rng = np.random.default_rng(13)
    ours, theirs = rk.metrics.AUC(**kwargs), K.metrics.AUC(**kwargs)
    for step in range(3):
        y_true = (rng.random((12, 3)) > 0.5).astype(np.float32)
        y_pred = rng.random((12, 3)).astype(np.float32)
        weights = rng.random(12).astype(np.float32) if step == 1 else None
        ours.update_state(y_true, y_pred, sample_weight=weights)
        theirs.update_state(y_true, y_pred, sample_weight=weights)
        assert ours.result() == pytest.approx(float(_to_numpy(theirs.result())), rel=1e-5, abs=1e-7)
    np.testing.assert_allclose(ours.true_positives, _to_numpy(theirs.true_positives), rtol=1e-5)
    again = rk.metrics.deserialize(rk.metrics.serialize(ours))
    assert again.get_config() == ours.get_config()


CONFUSION_CASES = [
    ("Precision", {}, "binary"), ("Recall", {}, "binary"), ("Precision", {"thresholds": 0.3}, "binary"),
    ("Recall", {"thresholds": [0.2, 0.5, 0.9]}, "binary"), ("Precision", {"top_k": 2}, "multi"),
    ("Recall", {"top_k": 2, "class_id": 1}, "multi"), ("Precision", {"class_id": 2}, "multi"),
    ("TruePositives", {}, "binary"), ("FalsePositives", {"thresholds": [0.1, 0.7]}, "binary"),
    ("TrueNegatives", {}, "binary"), ("FalseNegatives", {}, "binary"),
]


@pytest.mark.parametrize("name,kwargs,kind", CONFUSION_CASES, ids=[f"{c[0]}-{c[1]}" for c in CONFUSION_CASES])
def test_confusion_metrics_match_keras(K, name, kwargs, kind):
    rng = np.random.default_rng(8)
    ours, theirs = getattr(rk.metrics, name)(**kwargs), getattr(K.metrics, name)(**kwargs)
    for step in range(3):
        if kind == "binary":
            y_true, y_pred = (rng.random((12, 1)) > 0.5).astype(np.float32), rng.random((12, 1)).astype(np.float32)
        else:
            y_true = (rng.random((12, 4)) > 0.6).astype(np.float32)
            y_pred = rng.random((12, 4)).astype(np.float32)
        weights = rng.random(12).astype(np.float32) if step == 2 else None
        ours.update_state(y_true, y_pred, sample_weight=weights)
        theirs.update_state(y_true, y_pred, sample_weight=weights)
    np.testing.assert_allclose(ours.result(), _to_numpy(theirs.result()), rtol=1e-5, atol=1e-6)
    config = {k: v for k, v in theirs.get_config().items() if k not in ("name", "dtype")}
    assert {k: v for k, v in ours.get_config().items() if k != "name"} == config


MEAN_METRIC_CASES = ["MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "KLDivergence",
                     "RootMeanSquaredError"]


@pytest.mark.parametrize("name", MEAN_METRIC_CASES)
def test_mean_metrics_match_keras(K, name):
    rng = np.random.default_rng(9)
    ours, theirs = getattr(rk.metrics, name)(), getattr(K.metrics, name)()
    for step in range(3):
        y_true, y_pred = rng.random((8, 3)).astype(np.float32), rng.random((8, 3)).astype(np.float32)
        weights = rng.random(8).astype(np.float32) if step == 2 else None
        ours.update_state(y_true, y_pred, sample_weight=weights)
        theirs.update_state(y_true, y_pred, sample_weight=weights)
    assert ours.result() == pytest.approx(float(_to_numpy(theirs.result())), rel=1e-5)


def test_auc_precision_recall_in_compile_match_keras(K):
    """compile(metrics=["auc", AUC(curve="PR"), "precision", Recall()]): evaluate() and fit() logs as Keras."""
    rng = np.random.default_rng(10)
    x = rng.normal(size=(48, 4)).astype(np.float32)
    y = (rng.random(48) > 0.5).astype(np.float32)
    K.utils.set_random_seed(0)
    theirs = K.Sequential([K.Input((4,)), K.layers.Dense(1, activation="sigmoid")])
    ours = rk.Sequential([rk.layers.Dense(1, activation="sigmoid", input_shape=(4,))])
    ours.set_weights([_to_numpy(w) for w in theirs.get_weights()])
    for lib, model in ((rk, ours), (K, theirs)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="binary_crossentropy",
                      metrics=["auc", lib.metrics.AUC(curve="PR", name="pr_auc"), "precision",
                               lib.metrics.Recall(name="recall"), "mape"])
    expected = theirs.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    got = ours.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert set(got) == set(expected) == {"loss", "auc", "pr_auc", "precision", "recall", "mape"}
    for key in expected:
        assert got[key] == pytest.approx(float(expected[key]), rel=1e-5), key
    mine = ours.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    ref = theirs.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for key in ref.history:
        np.testing.assert_allclose(mine.history[key], ref.history[key], rtol=1e-5, err_msg=key)


def test_metric_bad_input():
    with pytest.raises(ValueError, match="num_thresholds"):
        rk.metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="curve"):
        rk.metrics.AUC(curve="Roc")
    with pytest.raises(ValueError, match="summation_method"):
        rk.metrics.AUC(summation_method="trapezoid")
    with pytest.raises(ValueError, match="num_labels"):
        rk.metrics.AUC(num_labels=3)
    with pytest.raises(ValueError, match="rank 2"):
        rk.metrics.AUC(multi_label=True).update_state(np.ones((2, 3, 1)), np.ones((2, 3, 1)))
    with pytest.raises(ValueError, match="label_weights"):
        rk.metrics.AUC(label_weights=[-1.0, 1.0])
    with pytest.raises(ValueError, match="thresholds"):
        rk.metrics.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="top_k"):
        rk.metrics.Recall(top_k=0)
    with pytest.raises(ValueError, match="class_id"):
        rk.metrics.Precision(class_id=5).update_state(np.ones((2, 3)), np.ones((2, 3)))
    m = rk.metrics.deserialize(rk.metrics.serialize(rk.metrics.AUC(curve="PR", num_thresholds=20)))
    assert (m.curve, m.num_thresholds) == ("PR", 20)


R2_CASES = [dict(), dict(class_aggregation="variance_weighted_average"), dict(class_aggregation=None),
            dict(num_regressors=3)]


@pytest.mark.parametrize("kwargs", R2_CASES, ids=[str(k) for k in R2_CASES])
def test_r2_score_matches_keras(K, kwargs):
    rng = np.random.default_rng(11)
    ours, theirs = rk.metrics.R2Score(**kwargs), K.metrics.R2Score(**kwargs)
    for step in range(3):
        y_true = rng.normal(size=(10, 3)).astype(np.float32) * [1, 2, 0.5]
        y_pred = (y_true + 0.5 * rng.normal(size=(10, 3))).astype(np.float32)
        weights = rng.random(10).astype(np.float32) if step == 1 else None
        ours.update_state(y_true, y_pred, sample_weight=weights)
        theirs.update_state(y_true, y_pred, sample_weight=weights)
    np.testing.assert_allclose(ours.result(), _to_numpy(theirs.result()), rtol=1e-5)
    config = {k: v for k, v in theirs.get_config().items() if k != "dtype"}
    assert ours.get_config() == config
    with pytest.raises(ValueError, match="2-D"):
        rk.metrics.R2Score().update_state(np.ones(3), np.ones((3, 2, 2)))
    with pytest.raises(ValueError, match="class_aggregation"):
        rk.metrics.R2Score(class_aggregation="mean")


F_CASES = [("F1Score", {}), ("F1Score", {"average": "micro", "threshold": 0.5}), ("F1Score", {"average": "macro"}),
           ("F1Score", {"average": "weighted", "threshold": 0.3}), ("FBetaScore", {"beta": 2.0}),
           ("FBetaScore", {"beta": 0.5, "average": "macro", "threshold": 0.6})]


@pytest.mark.parametrize("name,kwargs", F_CASES, ids=[f"{c[0]}-{c[1]}" for c in F_CASES])
def test_f_scores_match_keras(K, name, kwargs):
    rng = np.random.default_rng(12)
    ours, theirs = getattr(rk.metrics, name)(**kwargs), getattr(K.metrics, name)(**kwargs)
    for step in range(3):
        y_true = (rng.random((10, 4)) > 0.6).astype(np.float32)
        y_pred = rng.random((10, 4)).astype(np.float32)
        y_pred[0] = 0.0  # an all-zero row predicts nothing without a threshold
        weights = rng.random(10).astype(np.float32) if step == 1 else None
        ours.update_state(y_true, y_pred, sample_weight=weights)
        theirs.update_state(y_true, y_pred, sample_weight=weights)
    np.testing.assert_allclose(ours.result(), _to_numpy(theirs.result()), rtol=1e-5, atol=1e-7)
    assert ours.get_config() == {k: v for k, v in theirs.get_config().items() if k != "dtype"}
    with pytest.raises(ValueError, match="beta"):
        rk.metrics.FBetaScore(beta=2)
    with pytest.raises(ValueError, match="average"):
        rk.metrics.F1Score(average="samples")


def test_keras_file_with_a_schedule_round_trips(K, tmp_path):
    """A model compiled with Adam(schedule) saved as .keras opens in real Keras with the schedule, and back."""
    model = rk.Sequential([rk.layers.Dense(2, input_shape=(3,))])
    decay = rk.optimizers.schedules.CosineDecay(0.1, 10, alpha=0.1, warmup_target=0.2, warmup_steps=2)
    model.compile(optimizer=rk.optimizers.Adam(decay), loss="mse")
    model.fit(np.ones((4, 3), np.float32), np.ones((4, 2), np.float32), verbose=0)
    model.save(tmp_path / "m.keras")
    theirs = K.models.load_model(tmp_path / "m.keras")
    assert isinstance(theirs.optimizer._learning_rate, K.optimizers.schedules.CosineDecay)
    assert theirs.optimizer._learning_rate.get_config() == decay.get_config()
    theirs.save(tmp_path / "k.keras")
    back = rk.models.load_model(tmp_path / "k.keras")
    assert back.optimizer._learning_rate.get_config() == decay.get_config()
