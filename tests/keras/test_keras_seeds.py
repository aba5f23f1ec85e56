"""Seed 004 (Korean Keras LSTM tutorial) on rnnkit: its ``lstm()`` and ``stacked_lstm()`` build
functions, written with ``from rnnkit.keras ...`` imports, trained through ``KerasClassifier``
and used with scikit-learn's ``accuracy_score``, ``cross_val_score``, ``GridSearchCV`` and ``clone``.

The tutorial trains on (N, 49, 1) sequences with 46 one-hot classes for 200 epochs; here the
data are small and synthetic (each class is a noisy sine of its own frequency and phase) and
training is a few epochs, so the whole file runs in seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from rnnkit import manual_seed
from rnnkit.keras import optimizers
from rnnkit.keras.layers import LSTM, Activation, Dense
from rnnkit.keras.models import Sequential
from rnnkit.keras.utils import to_categorical
from rnnkit.keras.wrappers.scikit_learn import KerasClassifier, KerasRegressor

STEPS, CLASSES = 49, 46


# -- the tutorial's build functions, verbatim apart from the imports ---------------------------------
def lstm():
    model = Sequential()
    model.add(LSTM(50, input_shape=(49, 1), return_sequences=False))
    model.add(Dense(46))
    model.add(Activation('softmax'))

    adam = optimizers.Adam(lr=0.001)
    model.compile(loss='categorical_crossentropy', optimizer=adam, metrics=['accuracy'])

    return model


def stacked_lstm():
    model = Sequential()
    model.add(LSTM(50, input_shape=(49, 1), return_sequences=True))
    model.add(LSTM(50, return_sequences=False))
    model.add(Dense(46))
    model.add(Activation('softmax'))

    adam = optimizers.Adam(lr=0.001)
    model.compile(loss='categorical_crossentropy', optimizer=adam, metrics=['accuracy'])

    return model


def _data(n, seed):
    """(n, 49, 1) noisy sines, one frequency/phase per class; one-hot (n, 46) targets."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % CLASSES
    rng.shuffle(labels)
    t = np.arange(STEPS)
    freq = 0.05 + 0.4 * (labels % 23) / 23  # (n,)
    phase = np.pi * (labels // 23)  # (n,)
    x = np.sin(freq[:, None] * t[None, :] + phase[:, None]) + 0.1 * rng.normal(size=(n, STEPS))
    return x[..., None].astype(np.float32), to_categorical(labels, CLASSES)


@pytest.fixture(scope="module")
def data():
    pytest.importorskip("sklearn")
    x_train, y_train = _data(150, seed=0)
    x_test, y_test = _data(46, seed=1)
    return x_train, y_train, x_test, y_test


@pytest.mark.parametrize("build_fn", [lstm, stacked_lstm])
def test_seed_004_keras_classifier(data, build_fn):
    from sklearn.metrics import accuracy_score

    X_train, y_train, X_test, y_test = data
    manual_seed(0)
    model = KerasClassifier(build_fn=build_fn, epochs=3, batch_size=50, verbose=0)
    assert model.fit(X_train, y_train) is model
    y_pred = model.predict(X_test)
    y_test_ = np.argmax(y_test, axis=1)
    score = accuracy_score(y_pred, y_test_)

    assert y_pred.shape == (46,) and set(y_pred) <= set(range(CLASSES))
    assert 0.0 <= score <= 1.0 and score == pytest.approx(model.score(X_test, y_test))
    losses = model.history_.history["loss"]
    assert len(losses) == 3 and losses[-1] < losses[0]  # the loss falls
    assert abs(losses[0] - np.log(CLASSES)) < 0.3  # and starts near chance, ln(46)
    proba = model.predict_proba(X_test)
    assert proba.shape == (46, CLASSES)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(axis=1), y_pred)
    n_lstm = sum(type(layer).__name__ == "LSTM" for layer in model.model.layers)
    assert n_lstm == (2 if build_fn is stacked_lstm else 1)


def test_cross_val_score_and_grid_search(data):
    from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

    X_train, y_train, _, _ = data
    x, y = X_train[:100], y_train[:100]
    manual_seed(1)
    scores = cross_val_score(KerasClassifier(build_fn=lstm, epochs=1, batch_size=50, verbose=0), x, y,
                             cv=KFold(2))
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))

    search = GridSearchCV(KerasClassifier(build_fn=lstm, batch_size=50, verbose=0), {"epochs": [1, 2]},
                          cv=KFold(2))
    search.fit(x, y)
    assert search.best_params_["epochs"] in (1, 2)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert search.best_estimator_.predict(x[:5]).shape == (5,)
    assert len(search.best_estimator_.history_.history["loss"]) == search.best_params_["epochs"]


def test_clone_and_params():
    sklearn_base = pytest.importorskip("sklearn.base")
    clf = KerasClassifier(build_fn=lstm, epochs=3, batch_size=50, verbose=0)
    twin = sklearn_base.clone(clf)
    assert twin is not clf and twin.get_params() == clf.get_params()
    assert sklearn_base.is_classifier(clf) and sklearn_base.is_regressor(KerasRegressor(build_fn=lstm))
    twin.set_params(epochs=7)
    assert twin.get_params()["epochs"] == 7 and clf.get_params()["epochs"] == 3
    assert not hasattr(twin, "model") or twin.model is None
    with pytest.raises(ValueError, match="'epochz' is not a legal parameter"):
        clf.set_params(epochz=2)
    with pytest.raises(ValueError, match="'units' is not a legal parameter"):
        KerasClassifier(build_fn=lstm, units=3)
    with pytest.raises(ValueError, match="not fitted yet"):
        twin.predict(np.zeros((1, STEPS, 1), np.float32))


def _small_classifier(units=8, lr=0.05):
    model = Sequential([Dense(units, activation="tanh", input_shape=(2,)), Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_classifier_with_arbitrary_labels_and_regressor():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 2)).astype(np.float32)
    labels = np.array([3, 7, 9])[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)]
    manual_seed(0)
    clf = KerasClassifier(build_fn=_small_classifier, units=16, epochs=30, batch_size=16, verbose=0).fit(x, labels)
    np.testing.assert_array_equal(clf.classes_, [3, 7, 9])
    assert set(clf.predict(x)) <= {3, 7, 9}
    assert clf.score(x, labels) > 0.8

    def regression_model():
        model = Sequential([Dense(1, input_shape=(2,))])
        model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
        return model

    target = (2 * x[:, 0] - x[:, 1] + 0.5).astype(np.float32)
    reg = KerasRegressor(build_fn=regression_model, epochs=40, batch_size=16, verbose=0).fit(x, target)
    assert reg.predict(x).shape == (90,)
    assert -1e-3 < -reg.score(x, target) < 1e-2  # score is -mse, near 0 for this linear target


def test_wrappers_work_without_scikit_learn():
    """Importing the wrappers never imports scikit-learn, and they train and predict without it."""
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import numpy as np\n"
        "from rnnkit.keras.wrappers.scikit_learn import KerasClassifier\n"
        "from rnnkit.keras.models import Sequential\n"
        "from rnnkit.keras.layers import Dense\n"
        "def build():\n"
        "    m = Sequential([Dense(2, activation='softmax', input_shape=(3,))])\n"
        "    m.compile(optimizer='adam', loss='categorical_crossentropy')\n"
        "    return m\n"
        "clf = KerasClassifier(build_fn=build, epochs=1, verbose=0).fit(np.ones((4, 3), 'float32'), [0, 1, 0, 1])\n"
        "assert clf.predict(np.ones((2, 3), 'float32')).shape == (2,)\n"
        "assert clf.get_params()['epochs'] == 1\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
