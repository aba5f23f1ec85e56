"""scikit-learn at scale: models and fitted wrappers pickle by value (the .keras archive), SciKeras's
``model=`` style with routed parameters, and GridSearchCV in processes (loky) and on a local Dask
cluster, giving the serial run's results."""

from __future__ import annotations

import copy
import io
import os
import pickle

import numpy as np
import pytest

from rnnkit import keras as rk
from rnnkit import manual_seed
from rnnkit.keras.wrappers import KerasClassifier, KerasRegressor

pytest.importorskip("h5py")


def _globals(data: bytes) -> set[str]:
    """The module.name references a pickle holds (what loading it imports), recorded while loading it."""
    found = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module, name):
            found.add(f"{module}.{name}")
            return super().find_class(module, name)

    Recorder(io.BytesIO(data)).load()
    return found


def _sequence_data(n=32, steps=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, steps, 2)).astype(np.float32)
    x[: n // 4, -2:] = 0.0  # padded tails for the Masking layer
    y = (x[:, :, 0].sum(axis=1) > 0).astype(np.int64)
    return x, y


def _functional():
    inputs = rk.Input((5, 2))
    masked = rk.layers.Masking()(inputs)
    seq = rk.layers.Bidirectional(rk.layers.GRU(3, return_sequences=True))(masked)
    hidden = rk.layers.LSTM(4)(seq)
    simple = rk.layers.SimpleRNN(2)(masked)
    outputs = rk.layers.Dense(1, activation="sigmoid")(rk.layers.Concatenate()([hidden, simple]))
    return rk.Model(inputs, outputs)


# -- models pickle by value -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_trained_model_pickles_by_value_with_its_optimizer_state(kind):
    x, y = _sequence_data()
    manual_seed(0)
    if kind == "sequential":
        model = rk.Sequential([rk.Input((5, 2)), rk.layers.Masking(), rk.layers.LSTM(4), rk.layers.Dense(1)])
        model.compile(optimizer=rk.optimizers.Adam(0.01), loss="mse")
    else:
        model = _functional()
        model.compile(optimizer=rk.optimizers.Nadam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    data = pickle.dumps(model)
    # only the loader is referenced: no layer, optimizer or function object is in the pickle
    assert _globals(data) == {"rnnkit.keras.pickling.model_from_archive"}
    twin = pickle.loads(data)
    assert type(twin) is type(model) and twin is not model
    np.testing.assert_array_equal(twin.predict(x, verbose=0), model.predict(x, verbose=0))
    assert twin.optimizer.iterations == model.optimizer.iterations == 8
    # the optimizer state came along: one more epoch gives the same weights on both
    for m in (model, twin):
        m.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for mine, theirs in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(theirs, mine, rtol=1e-6, atol=1e-7)
    # copy.deepcopy and joblib go the same way
    joblib = pytest.importorskip("joblib")
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    for other in (copy.deepcopy(model), joblib.load(buffer)):
        np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_pickled_model_is_the_keras_archive_that_keras_opens(K, tmp_path):
    """The bytes inside the pickle are a .keras archive real Keras 3 loads, with equal predictions."""
    x, _ = _sequence_data()
    model = _functional()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    loader, (archive, classes) = model.__reduce__()
    assert classes == {} and archive[:2] == b"PK"
    path = tmp_path / "from_pickle.keras"
    path.write_bytes(archive)
    theirs = K.models.load_model(str(path))
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


class Scale(rk.layers.Layer):
    """A custom layer registered nowhere: a pickle names its class, as pickle names any class."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="random_normal", name="w")

    def call(self, x):
        return x * self.w * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_model_with_a_custom_layer_pickles():
    inputs = rk.Input((3,))
    model = rk.Model(inputs, rk.layers.Dense(2)(Scale(3.0)(inputs)))
    data = pickle.dumps(model)
    assert _globals(data) == {"rnnkit.keras.pickling.model_from_archive", f"{__name__}.Scale"}
    twin = pickle.loads(data)
    assert twin.layers[1].factor == 3.0 and type(twin.layers[1]) is Scale
    x = np.random.default_rng(3).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_array_equal(twin.predict(x, verbose=0), model.predict(x, verbose=0))


def test_unbuilt_model_pickles_as_its_config():
    model = rk.Sequential([rk.layers.Dense(3, activation="tanh"), rk.layers.Dense(1)])
    model.compile(optimizer=rk.optimizers.SGD(0.05), loss="mae")
    data = pickle.dumps(model)
    assert _globals(data) == {"rnnkit.keras.pickling.model_from_config"}
    twin = pickle.loads(data)
    assert not twin.built and twin.compiled
    assert [type(layer).__name__ for layer in twin.layers] == ["Dense", "Dense"]
    assert twin.optimizer.get_config()["learning_rate"] == pytest.approx(0.05)


def test_damaged_archive_bytes_fail_clearly():
    from rnnkit.keras.pickling import model_from_archive

    with pytest.raises(ValueError, match="the archive bytes is not a zip archive"):
        model_from_archive(b"not a zip at all")
    with pytest.raises(TypeError, match="data: expected the bytes of a .keras archive"):
        model_from_archive("model.keras")


# -- SciKeras's style -------------------------------------------------------------------------------
def uncompiled_lstm(units=4, meta=None):
    """A builder SciKeras's way: sizes from ``meta``, compiled by the wrapper."""
    return rk.Sequential([rk.Input(meta["X_shape_"][1:]), rk.layers.LSTM(units),
                          rk.layers.Dense(1, activation="sigmoid")])


def compiled_dense(hidden=3, compile_kwargs=None):
    model = rk.Sequential([rk.Input((2,)), rk.layers.Dense(hidden, activation="tanh"), rk.layers.Dense(1)])
    model.compile(**compile_kwargs)
    return model


def test_scikeras_routes_parameters_to_builder_compile_and_fit():
    x, y = _sequence_data()
    clf = KerasClassifier(model=uncompiled_lstm, model__units=3, optimizer="adam", optimizer__learning_rate=0.02,
                          loss="binary_crossentropy", metrics=["accuracy"], fit__epochs=2, epochs=5, batch_size=8,
                          predict__batch_size=4, shuffle=False, verbose=0, random_state=3)
    assert clf.get_params()["model__units"] == 3 and clf.get_params()["epochs"] == 5
    clf.fit(x, y)
    model = clf.model_
    assert model.layers[0].units == 3
    assert isinstance(model.optimizer, rk.optimizers.Adam)
    assert model.optimizer.learning_rate == pytest.approx(0.02)
    assert len(clf.history_["loss"]) == 2 and "accuracy" in clf.history_  # fit__epochs wins over epochs
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    # the same model built, compiled and trained by hand, under the same seed, gives the same predictions
    manual_seed(3)
    twin = uncompiled_lstm(3, {"X_shape_": x.shape})
    twin.compile(optimizer=rk.optimizers.Adam(learning_rate=0.02), loss="binary_crossentropy", metrics=["accuracy"])
    twin.fit(x, y.astype(np.float32), epochs=2, batch_size=8, shuffle=False, verbose=0)
    p = twin.predict(x, verbose=0)[:, 0]
    np.testing.assert_allclose(clf.predict_proba(x)[:, 1], p, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(clf.predict(x), (p > 0.5).astype(np.int64))
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    assert clf.score(x, y) == pytest.approx(sklearn_metrics.accuracy_score(y, clf.predict(x)))
    # warm_start continues from the fitted weights and appends to the history
    clf.set_params(warm_start=True, fit__epochs=1)
    first = clf.model_
    clf.fit(x, y)
    assert clf.model_ is first and len(clf.history_["loss"]) == 3


def test_scikeras_regressor_with_compile_kwargs_and_r2_score():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 2)).astype(np.float32)
    y = (x[:, 0] - 2 * x[:, 1]).astype(np.float32)
    reg = KerasRegressor(compiled_dense, model__hidden=5, optimizer=rk.optimizers.SGD, optimizer__momentum=0.5,
                         loss="mean_squared_error", loss__reduction="sum_over_batch_size", epochs=3, batch_size=-1,
                         verbose=0, random_state=0).fit(x, y)
    assert reg.model_.layers[0].units == 5 and reg.model_.optimizer.momentum == 0.5
    assert isinstance(reg.model_.loss, rk.losses.MeanSquaredError)  # the name became its class, for loss__
    assert len(reg.history_["loss"]) == 3
    weights = rng.random(60)
    for sample_weight in (None, weights):
        expected = sklearn_metrics.r2_score(y, reg.predict(x), sample_weight=sample_weight)
        # scikit-learn sums in float32 here, rnnkit in float64
        assert reg.score(x, y, sample_weight=sample_weight) == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_scikeras_accepts_a_model_and_clones_it_by_value():
    sklearn_base = pytest.importorskip("sklearn.base")
    x, y = _sequence_data()
    manual_seed(5)
    model = rk.Sequential([rk.Input((5, 2)), rk.layers.GRU(3), rk.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy")
    start = model.get_weights()
    clf = KerasClassifier(model, epochs=1, verbose=0)
    twin = sklearn_base.clone(clf)
    assert twin.model is not model
    for a, b in zip(twin.model.get_weights(), start):
        np.testing.assert_array_equal(a, b)
    clf.fit(x, y)
    assert clf.model_ is model  # SciKeras: a given model is trained in place
    assert any(np.abs(a - b).max() > 0 for a, b in zip(model.get_weights(), start))
    for a, b in zip(twin.model.get_weights(), start):  # the clone is untouched
        np.testing.assert_array_equal(a, b)


def test_scikeras_bad_parameters():
    with pytest.raises(ValueError, match="model= .*or build_fn= .*not both"):
        KerasClassifier(model=uncompiled_lstm, build_fn=uncompiled_lstm)
    with pytest.raises(ValueError, match="'modle__units': unknown route 'modle'__"):
        KerasClassifier(model=uncompiled_lstm, modle__units=3)
    with pytest.raises(ValueError, match="one level"):
        KerasClassifier(model=uncompiled_lstm, loss__0__name="x")
    with pytest.raises(TypeError, match="model must be a function returning a model"):
        KerasRegressor(model=3)
    clf = KerasClassifier(model=uncompiled_lstm, verbose=0)
    with pytest.raises(ValueError, match="'epochz' is not a parameter"):
        clf.set_params(epochz=3)
    x, y = _sequence_data(8)
    with pytest.raises(TypeError, match="builder 'uncompiled_lstm' has no argument 'width'"):
        KerasClassifier(model=uncompiled_lstm, model__width=3, verbose=0).fit(x, y)
    with pytest.raises(ValueError, match="loss__from_logits: the loss 'mse' is a function"):
        KerasRegressor(model=compiled_dense, loss="mse", loss__from_logits=True, verbose=0).fit(
            np.zeros((4, 2), np.float32), np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="not fitted yet"):
        clf.predict(x)


# -- fitted wrappers pickle ------------------------------------------------------------------------------
def keras2_builder(units=3):
    model = rk.Sequential([rk.Input((5, 2)), rk.layers.SimpleRNN(units), rk.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("style", ["keras2", "scikeras"])
def test_fitted_wrappers_pickle_by_value(style):
    x, y = _sequence_data()
    labels = np.array(["no", "yes"])[y]
    manual_seed(2)
    if style == "keras2":
        clf = KerasClassifier(build_fn=keras2_builder, units=4, epochs=2, verbose=0)
    else:
        clf = KerasClassifier(model=uncompiled_lstm, loss="binary_crossentropy", epochs=2, verbose=0, random_state=1)
    clf.fit(x, labels)
    data = pickle.dumps(clf)
    refs = _globals(data)
    assert "rnnkit.keras.pickling.model_from_archive" in refs
    # of rnnkit, only the estimator's class, the loader and (Keras 2's history_) History are referenced
    history = {"rnnkit.keras.callbacks.History"} if style == "keras2" else set()
    expected = {"rnnkit.keras.pickling.model_from_archive", f"rnnkit.keras.wrappers.scikit_learn.{type(clf).__name__}"}
    assert {r for r in refs if r.startswith("rnnkit.")} == expected | history
    twin = pickle.loads(data)
    np.testing.assert_array_equal(twin.predict(x), clf.predict(x))
    np.testing.assert_array_equal(twin.predict_proba(x), clf.predict_proba(x))
    assert twin.get_params().keys() == clf.get_params().keys()


# -- grid search in processes and on Dask ----------------------------------------------------------------
def grid_builder(units=2, meta=None, pid_dir=None):
    if pid_dir is not None:  # leave a trace of the process that builds the model
        open(os.path.join(pid_dir, str(os.getpid())), "w").close()
    return rk.Sequential([rk.Input((meta["n_features_in_"],)), rk.layers.Dense(units, activation="tanh"),
                          rk.layers.Dense(1, activation="sigmoid")])


def _search(pid_dir=None, **kwargs):
    from sklearn.model_selection import GridSearchCV, KFold

    rng = np.random.default_rng(4)
    x = rng.normal(size=(48, 3)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    estimator = KerasClassifier(model=grid_builder, loss="binary_crossentropy", optimizer="adam", epochs=3,
                                batch_size=8, verbose=0, random_state=7, model__pid_dir=pid_dir)
    search = GridSearchCV(estimator, {"model__units": [2, 6], "optimizer__learning_rate": [0.01, 0.1]},
                          cv=KFold(2), **kwargs)
    return search.fit(x, y), x


def _assert_same_search(parallel, serial, x):
    assert parallel.best_params_ == serial.best_params_
    for key in ("mean_test_score", "std_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_allclose(parallel.cv_results_[key], serial.cv_results_[key], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(parallel.best_estimator_.predict_proba(x), serial.best_estimator_.predict_proba(x))


@pytest.fixture(scope="module")
def serial_search():
    pytest.importorskip("sklearn")
    return _search(n_jobs=None)  # serial, in this process


def _worker_pids(pid_dir) -> set[int]:
    return {int(name) for name in os.listdir(pid_dir)}


@pytest.mark.slow
def test_grid_search_in_processes_equals_serial(serial_search, tmp_path):
    serial, x = serial_search
    joblib = pytest.importorskip("joblib")
    # n_jobs=-1 means joblib.cpu_count() processes, 1 on a machine that gives this process one core: 2 forces them
    jobs = max(2, joblib.cpu_count())
    with joblib.parallel_backend("loky"):
        parallel, _ = _search(pid_dir=str(tmp_path), n_jobs=jobs)  # estimators and fitted models travel pickled
    builders = _worker_pids(tmp_path) - {os.getpid()}
    assert len(builders) >= 2  # the candidates were built and fitted in other processes
    _assert_same_search(parallel, serial, x)
    assert len(set(serial.cv_results_["mean_test_score"])) > 1  # the grid points do differ


@pytest.mark.slow
def test_grid_search_on_a_local_dask_cluster_equals_serial(serial_search, tmp_path):
    distributed = pytest.importorskip("distributed")
    joblib = pytest.importorskip("joblib")
    serial, x = serial_search
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  env={**env, "PYTHONPATH": os.pathsep.join(filter(None, [
                                      os.path.dirname(__file__), os.environ.get("PYTHONPATH")]))}) as cluster, \
            distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"):
            parallel, _ = _search(pid_dir=str(tmp_path), n_jobs=-1)
        workers = set(client.run(os.getpid).values())
    assert len(workers) == 2 and os.getpid() not in workers
    assert workers <= _worker_pids(tmp_path)  # both workers built and fitted candidates
    _assert_same_search(parallel, serial, x)


# -- Lion and Ftrl beyond their defaults, against Keras ----------------------------------------------------
@pytest.mark.parametrize("name,kwargs", [
    ("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9, "weight_decay": 0.05}),
    ("Lion", {"learning_rate": 0.003, "beta_1": 1.0, "clipnorm": 0.5}),
    ("Ftrl", {"learning_rate": 0.2, "learning_rate_power": -0.25, "initial_accumulator_value": 0.5}),
    ("Ftrl", {"learning_rate": 0.05, "learning_rate_power": 0.0, "l1_regularization_strength": 0.05}),
])
def test_lion_and_ftrl_match_keras(K, name, kwargs):
    import torch
    from helpers import to_numpy
    from rnnkit import Tensor

    rng = np.random.default_rng(11)
    start = [rng.normal(size=s).astype(np.float32) for s in [(3, 2), (2,)]]
    grads = [[2 * rng.normal(size=w.shape).astype(np.float32) for w in start] for _ in range(6)]
    ours, theirs = [Tensor(w.copy()) for w in start], [K.Variable(w.copy()) for w in start]
    opt, ref = getattr(rk.optimizers, name)(**kwargs), getattr(K.optimizers, name)(**kwargs)
    for step in grads:
        opt.apply(step, ours)
        ref.apply([torch.tensor(g) for g in step], theirs)
    for mine, other, initial in zip(ours, theirs, start):
        np.testing.assert_allclose(mine.data, to_numpy(other), rtol=1e-5, atol=1e-6)
        assert np.abs(mine.data - initial).max() > 1e-3
