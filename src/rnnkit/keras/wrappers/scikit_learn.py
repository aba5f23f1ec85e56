"""``KerasClassifier`` / ``KerasRegressor``: Keras 2's scikit-learn wrappers for rnnkit models.

``KerasClassifier(build_fn=make_model, epochs=10, batch_size=32, verbose=0)`` builds a fresh
compiled model with ``build_fn(**its arguments)`` at every ``fit``, then trains it with the
``fit`` arguments found among the keyword arguments (``sk_params``). The estimators follow
scikit-learn's protocol (``get_params``/``set_params``, ``sklearn.base.clone``, estimator
tags), so ``cross_val_score`` and ``GridSearchCV`` work when scikit-learn is installed; it is
never imported by this module (only lazily, when scikit-learn asks for the tags), and the
classes work without it.

Differences from Keras 2, on purpose: ``fit`` returns ``self`` (scikit-learn's convention;
the ``History`` is in ``self.history_``), and ``KerasClassifier.score`` is the accuracy of
:meth:`KerasClassifier.predict` (so it does not require an accuracy metric in ``compile``).

Example:
    >>> import numpy as np
    >>> from rnnkit import keras
    >>> def build(units=4):
    ...     model = keras.Sequential([keras.layers.Dense(units, activation="softmax", input_shape=(3,))])
    ...     model.compile(optimizer="adam", loss="categorical_crossentropy")
    ...     return model
    >>> clf = KerasClassifier(build_fn=build, units=2, epochs=2, verbose=0)
    >>> x, y = np.random.rand(20, 3).astype("float32"), np.random.randint(0, 2, 20)
    >>> clf.fit(x, y).predict(x).shape
    (20,)
"""

from __future__ import annotations

import copy
import inspect
import types
from typing import Any, Callable

import numpy as np

from rnnkit.keras import losses
from rnnkit.keras.trainer import Trainer

__all__ = ["BaseWrapper", "KerasClassifier", "KerasRegressor"]


def _accepts(fn: Callable, name: str) -> bool:
    """Whether ``fn`` has a parameter ``name`` (or ``**kwargs``)."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def _named_params(fn: Callable) -> set[str]:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return set()
    return {n for n, p in parameters.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


class BaseWrapper:
    """Shared machinery of :class:`KerasClassifier` and :class:`KerasRegressor`.

    Args:
        build_fn: a function (or callable object) returning a compiled model; None to use
            ``self.__call__`` of a subclass.
        **sk_params: arguments of ``build_fn`` and of the model's ``fit``/``predict``/
            ``evaluate`` (``epochs``, ``batch_size``, ``verbose``, ...).

    Raises:
        ValueError: a keyword accepted by neither ``build_fn`` nor fit/predict/evaluate.
    """

    _estimator_type: str | None = None  # scikit-learn < 1.6 reads this; newer ones call __sklearn_tags__

    def __init__(self, build_fn: Callable | None = None, **sk_params: Any):
        self.build_fn = build_fn
        self.sk_params = sk_params
        self.check_params(sk_params)

    # -- parameters ----------------------------------------------------------------------------
    def _build_callable(self) -> Callable | None:
        if self.build_fn is None:
            return getattr(self, "__call__", None)  # a subclass may define the model in __call__
        if isinstance(self.build_fn, (types.FunctionType, types.MethodType)) or not hasattr(self.build_fn, "__call__"):
            return self.build_fn
        return self.build_fn.__call__

    def _legal_fns(self) -> list[Callable]:
        build = self._build_callable()
        return [Trainer.fit, Trainer.predict, Trainer.evaluate] + ([build] if build is not None else [])

    def check_params(self, params: dict) -> None:
        """Raise ValueError for a parameter that neither ``build_fn`` nor fit/predict/evaluate accepts."""
        if self.build_fn is not None and not callable(self.build_fn):
            raise TypeError(f"build_fn must be callable, got {type(self.build_fn).__name__} {self.build_fn!r}")
        fns = self._legal_fns()
        for name in params:
            if name == "build_fn":
                continue
            if not any(_accepts(fn, name) for fn in fns):
                raise ValueError(f"{name!r} is not a legal parameter of {type(self).__name__} (not an argument of "
                                 "build_fn nor of the model's fit/predict/evaluate)")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """``{"build_fn": ..., **sk_params}`` (scikit-learn's protocol)."""
        params = dict(self.sk_params)
        params["build_fn"] = self.build_fn
        return params

    def set_params(self, **params: Any):
        """Update the parameters; returns ``self``."""
        if "build_fn" in params:
            self.build_fn = params.pop("build_fn")
        self.check_params(params)
        self.sk_params.update(params)
        return self

    def filter_sk_params(self, fn: Callable, override: dict | None = None) -> dict[str, Any]:
        """The ``sk_params`` (then ``override``) entries that ``fn`` names explicitly."""
        names = _named_params(fn)
        out = {k: v for k, v in self.sk_params.items() if k in names}
        out.update({k: v for k, v in (override or {}).items() if k in names})
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __sklearn_clone__(self):
        """A fresh, unfitted copy with the same parameters (what ``sklearn.base.clone`` returns)."""
        params = {k: copy.deepcopy(v) if k != "build_fn" else v for k, v in self.get_params().items()}
        return type(self)(**params)

    # -- building and training ---------------------------------------------------------------
    def _build(self, **kwargs: Any):
        fn = self._build_callable()
        if fn is None:
            raise ValueError(f"{type(self).__name__}: build_fn is None; pass build_fn=<function returning a "
                             "compiled model> (or subclass and define __call__)")
        model = fn(**self.filter_sk_params(fn, kwargs))
        if not getattr(model, "compiled", False):
            raise ValueError(f"build_fn must return a compiled model (call model.compile(...) in it), got {model!r}")
        return model

    def _fit(self, x, y, kwargs: dict, target: Callable | None = None):
        """Build a new model, train it on ``(x, target(model, y))``; returns ``self``."""
        model = self._build(**kwargs)
        fit_args = self.filter_sk_params(Trainer.fit, kwargs)
        self.model = None
        self.history_ = model.fit(x, y if target is None else target(model, y), **fit_args)
        self.model = model
        return self

    def _predict_args(self, kwargs: dict) -> dict:
        return self.filter_sk_params(Trainer.predict, kwargs)

    def _check_fitted(self) -> None:
        if getattr(self, "model", None) is None:
            raise ValueError(f"This {type(self).__name__} instance is not fitted yet; call fit(x, y) first")

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, "model", None) is not None


def _tags(estimator_type: str):
    from sklearn.utils import ClassifierTags, RegressorTags, Tags, TargetTags

    return Tags(
        estimator_type=estimator_type,
        target_tags=TargetTags(required=True),
        classifier_tags=ClassifierTags() if estimator_type == "classifier" else None,
        regressor_tags=RegressorTags() if estimator_type == "regressor" else None,
        non_deterministic=True,
    )


class KerasClassifier(BaseWrapper):
    """A scikit-learn classifier around a Keras model built by ``build_fn``.

    ``fit(x, y)`` accepts integer (or any sortable) class labels ``(N,)`` or one-hot targets
    ``(N, C)``. With labels, ``classes_`` are the sorted distinct labels and the model is
    trained on their indices (one-hot encoded when the model's loss is
    ``categorical_crossentropy``); with one-hot targets, ``classes_ = arange(C)`` (one-hot
    targets are turned into indices when the loss is ``sparse_categorical_crossentropy``).
    ``predict`` returns ``classes_[argmax(probabilities)]`` (threshold 0.5 for a single
    sigmoid unit).

    Attributes:
        model: the fitted Keras model.
        classes_: ``(C,)`` the class labels.
        n_classes_: C.
        history_: the ``History`` of the last ``fit``.
    """

    _estimator_type = "classifier"

    def __sklearn_tags__(self):
        return _tags("classifier")

    def fit(self, x, y, **kwargs):
        """Build a new model and train it on ``(x, y)``; returns ``self``.

        Raises:
            ValueError: y of an unsupported shape, or x and y of different lengths (from the model's fit).
        """
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            self.classes_ = np.arange(y.shape[1])
            indices, one_hot = np.argmax(y, axis=1), y
        elif y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
            self.classes_ = np.unique(y.ravel())
            indices, one_hot = np.searchsorted(self.classes_, y.ravel()), None
        else:
            raise ValueError(f"y: expected class labels (N,) or one-hot targets (N, C), got shape {y.shape}")
        self.n_classes_ = len(self.classes_)

        def target(model, _):
            loss = _loss_name(model)
            if loss == "categorical_crossentropy":
                return one_hot if one_hot is not None else np.eye(self.n_classes_, dtype=np.float32)[indices]
            if loss == "sparse_categorical_crossentropy" or one_hot is None:
                return indices
            return one_hot

        return self._fit(x, y, kwargs, target)

    def predict_proba(self, x, **kwargs) -> np.ndarray:
        """``(N, C)`` class probabilities (``[1 - p, p]`` for a single sigmoid unit)."""
        self._check_fitted()
        probs = np.asarray(self.model.predict(x, **self._predict_args(kwargs)))
        if probs.ndim == 1 or probs.shape[-1] == 1:
            p = probs.reshape(len(probs), 1)
            probs = np.hstack([1 - p, p])
        return probs

    def predict(self, x, **kwargs) -> np.ndarray:
        """``(N,)`` predicted class labels (elements of ``classes_``)."""
        self._check_fitted()
        probs = np.asarray(self.model.predict(x, **self._predict_args(kwargs)))
        if probs.ndim > 1 and probs.shape[-1] > 1:
            indices = probs.argmax(axis=-1)
        else:
            indices = (probs.reshape(len(probs)) > 0.5).astype(np.int64)
        return self.classes_[indices]

    def score(self, x, y, sample_weight=None, **kwargs) -> float:
        """Mean accuracy of :meth:`predict` on ``(x, y)``; ``y`` as labels or one-hot."""
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            y = self.classes_[np.argmax(y, axis=1)]
        y = y.ravel()
        predicted = self.predict(x, **kwargs)
        if len(predicted) != len(y):
            raise ValueError(f"x and y must have the same number of samples, got {len(predicted)} and {len(y)}")
        return float(np.average(predicted == y, weights=sample_weight))


class KerasRegressor(BaseWrapper):
    """A scikit-learn regressor around a Keras model built by ``build_fn``.

    ``predict`` returns ``(N,)`` for a single output unit; ``score`` is ``-loss`` on ``(x, y)``
    (Keras 2's definition: larger is better).
    """

    _estimator_type = "regressor"

    def __sklearn_tags__(self):
        return _tags("regressor")

    def fit(self, x, y, **kwargs):
        """Build a new model and train it on ``(x, y)``; returns ``self``."""
        return self._fit(x, np.asarray(y), kwargs)

    def predict(self, x, **kwargs) -> np.ndarray:
        """Predictions; the last axis is dropped when it has size 1."""
        self._check_fitted()
        out = np.asarray(self.model.predict(x, **self._predict_args(kwargs)))
        return out[..., 0] if out.ndim > 1 and out.shape[-1] == 1 else out

    def score(self, x, y, **kwargs) -> float:
        """``-loss`` of the model on ``(x, y)`` (Keras 2's KerasRegressor.score)."""
        self._check_fitted()
        loss = self.model.evaluate(x, np.asarray(y), **self.filter_sk_params(Trainer.evaluate, kwargs))
        return -float(loss[0] if isinstance(loss, list) else loss)


def _loss_name(model) -> str | None:
    """The name of the model's (single) loss, if it is a built-in crossentropy."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, str):
        return loss
    if isinstance(loss, losses.CategoricalCrossentropy) or loss is losses.categorical_crossentropy:
        return "categorical_crossentropy"
    if isinstance(loss, losses.SparseCategoricalCrossentropy) or loss is losses.sparse_categorical_crossentropy:
        return "sparse_categorical_crossentropy"
    return None
