"""``KerasClassifier`` / ``KerasRegressor``: Keras 2's and SciKeras's scikit-learn wrappers for rnnkit models.

``KerasClassifier(build_fn=make_model, epochs=10, batch_size=32, verbose=0)`` builds a fresh
compiled model with ``build_fn(**its arguments)`` at every ``fit``, then trains it with the
``fit`` arguments found among the keyword arguments (``sk_params``). The estimators follow
scikit-learn's protocol (``get_params``/``set_params``, ``sklearn.base.clone``, estimator
tags), so ``cross_val_score`` and ``GridSearchCV`` work when scikit-learn is installed; it is
never imported by this module (only lazily, when scikit-learn asks for the tags), and the
classes work without it.

SciKeras's style is the other way in (and a positional first argument is SciKeras's ``model``):
``KerasClassifier(model=make_model, epochs=10,
model__units=32, optimizer="adam", optimizer__learning_rate=0.01, loss="binary_crossentropy",
fit__validation_split=0.1, random_state=0)``. ``model`` is a builder or a (compiled or not)
model; the parameters are SciKeras's (``optimizer``, ``loss``, ``metrics``, ``epochs``,
``batch_size``, ``verbose``, ``callbacks``, ``validation_split``, ``shuffle``, ``warm_start``,
``random_state``...) and routed ones (``model__``/``fit__``/``predict__``/``compile__``/
``optimizer__``/``loss__``/``metrics__``): unprefixed parameters of your own and ``model__x``
go to the builder (which also gets ``meta``, ``compile_kwargs`` and ``params`` when it names
them), an uncompiled model is compiled with the optimizer/loss/metrics built from their routed
parameters, the fitted model is ``model_``, ``history_`` is a dict of lists, and ``score`` is
the accuracy (classifier) or R^2 (regressor), as in SciKeras. Estimators, fitted ones too, pickle
by value: the model inside goes through the ``.keras`` archive (:mod:`rnnkit.keras.pickling`).

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

    SciKeras's style: the builder leaves compiling to the wrapper, which routes the parameters
    (and re-seeds rnnkit's generator with ``random_state`` for building and fitting):

    >>> def builder(units, meta):
    ...     return keras.Sequential([keras.Input((meta["n_features_in_"],)),
    ...                              keras.layers.Dense(units, activation="tanh"),
    ...                              keras.layers.Dense(1, activation="sigmoid")])
    >>> clf = KerasClassifier(builder, model__units=3, optimizer="sgd", optimizer__learning_rate=0.1,
    ...                       loss="binary_crossentropy", epochs=2, verbose=0, random_state=0).fit(x, y)
    >>> clf.model_.optimizer.learning_rate, len(clf.history_["loss"]), clf.predict(x).shape
    (0.1, 2, (20,))
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import types
from typing import Any, Callable, Iterator

import numpy as np

from rnnkit._random import get_rng_state, manual_seed, set_rng_state
from rnnkit.keras import losses, metrics, optimizers
from rnnkit.keras.trainer import Trainer

__all__ = ["BaseWrapper", "KerasClassifier", "KerasRegressor", "SCIKERAS_DEFAULTS", "ROUTES", "r2_score"]


def _accepts(fn: Callable, name: str) -> bool:
    """Whether ``fn`` has a parameter ``name`` (or ``**kwargs``)."""
    return name in _named_params(fn) or _takes_kwargs(fn)


def _named_params(fn: Callable) -> set[str]:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return set()
    return {n for n, p in parameters.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


# SciKeras's parameters and their defaults (``model=`` style)
SCIKERAS_DEFAULTS = {
    "warm_start": False,  # fit again from the fitted weights (else build a new model)
    "random_state": None,  # an int seeds rnnkit's generator while building and fitting (restored after)
    "optimizer": "rmsprop",  # compiles an uncompiled model (a name, a class or an instance)
    "loss": None,  # likewise (a name, a class, an instance or a function)
    "metrics": None,  # likewise (a list)
    "batch_size": None,  # fit and predict (-1: all samples in one batch); None is Keras's 32
    "validation_batch_size": None,  # fit
    "verbose": 1,  # fit and predict
    "callbacks": None,  # fit
    "validation_split": 0.0,  # fit
    "shuffle": True,  # fit
    "epochs": 1,  # fit
}
ROUTES = ("model", "fit", "predict", "compile", "optimizer", "loss", "metrics")  # the prefixes of routed parameters
_FIT_KEYS = ("batch_size", "epochs", "verbose", "validation_split", "shuffle", "callbacks", "validation_batch_size",
             "class_weight", "initial_epoch", "validation_steps", "validation_freq")
_PREDICT_KEYS = ("batch_size", "verbose", "steps")
_COMPILE_KEYS = ("optimizer", "loss", "metrics", "loss_weights", "weighted_metrics")


@contextlib.contextmanager
def _seeded(random_state: Any) -> Iterator[None]:
    """Seed rnnkit's generator with ``random_state`` (an int) for the block, then restore its state."""
    if random_state is None:
        yield
        return
    if not isinstance(random_state, (int, np.integer)) or isinstance(random_state, bool):
        raise TypeError(f"random_state: expected an int or None, got {type(random_state).__name__} {random_state!r}")
    state = get_rng_state()
    manual_seed(int(random_state))
    try:
        yield
    finally:
        set_rng_state(state)


def _build_object(kind: str, item: Any, params: dict, getter: Callable) -> Any:
    """An optimizer/loss/metric from a name, class or instance, built with its routed ``params``."""
    if isinstance(item, type):
        return item(**params)
    if not params:
        return item
    if not isinstance(item, str):
        raise ValueError(f"{kind}__{next(iter(params))}: routed {kind} parameters need {kind} as a name or a class, "
                         f"got the instance {item!r}")
    made = getter(item)
    if isinstance(made, types.FunctionType):  # "binary_crossentropy" -> BinaryCrossentropy, as SciKeras
        camel = "".join(part.capitalize() for part in item.split("_"))
        try:
            made = getter(camel)
        except ValueError:
            raise ValueError(f"{kind}__{next(iter(params))}: the {kind} {item!r} is a function; routed {kind} "
                             f"parameters need a class (a name such as {camel!r} or the class itself)") from None
    return type(made)(**params)


def _takes_kwargs(fn: Callable) -> bool:
    """Whether ``fn`` has a ``**kwargs`` parameter."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


class BaseWrapper:
    """Shared machinery of :class:`KerasClassifier` and :class:`KerasRegressor`.

    Args:
        model: SciKeras's style: a function (or callable object) returning a model, compiled or
            not, or a model (``model_`` is then that model itself, as in SciKeras); the other
            arguments are then :data:`SCIKERAS_DEFAULTS`, your own builder arguments and routed
            ``<prefix>__<name>`` parameters (prefixes :data:`ROUTES`).
        build_fn: Keras 2's style: a function (or callable object) returning a compiled model;
            None (with ``model`` None too) to use ``self.__call__`` of a subclass.
        **sk_params: with ``build_fn``: arguments of ``build_fn`` and of the model's
            ``fit``/``predict``/``evaluate`` (``epochs``, ``batch_size``, ``verbose``, ...).

    Raises:
        ValueError: with ``build_fn``, a keyword accepted by neither ``build_fn`` nor fit/predict/evaluate;
            with ``model``, a routed parameter of an unknown prefix; both ``model`` and ``build_fn``.
        TypeError: ``model`` that is neither callable nor a model.
    """

    _estimator_type: str | None = None  # scikit-learn < 1.6 reads this; newer ones call __sklearn_tags__

    def __init__(self, model: Any = None, build_fn: Callable | None = None, **sk_params: Any):
        self._scikeras = model is not None
        if self._scikeras:
            if build_fn is not None:
                raise ValueError(f"{type(self).__name__}: pass model= (SciKeras's style) or build_fn= (Keras 2's), "
                                 "not both")
            if not callable(model) and not hasattr(model, "fit"):
                raise TypeError(f"model must be a function returning a model, or a model; got "
                                f"{type(model).__name__} {model!r}")
            self.model, self.build_fn = model, None
            self.sk_params = {**SCIKERAS_DEFAULTS, **sk_params}
            self._check_routes(sk_params)
            return
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

    def _check_routes(self, params: dict) -> None:
        for name in params:
            prefix, routed, rest = name.partition("__")
            if routed and prefix not in ROUTES:
                raise ValueError(f"{name!r}: unknown route {prefix!r}__; routed parameters start with one of "
                                 f"{[r + '__' for r in ROUTES]}")
            if routed and "__" in rest:
                raise ValueError(f"{name!r}: rnnkit routes one level (<prefix>__<name>); per-item routes such as "
                                 "loss__0__name are not supported")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """``{"build_fn": ..., **sk_params}`` (Keras 2's style) or ``{"model": ..., **params}``
        (SciKeras's): scikit-learn's protocol."""
        if self._scikeras:
            return {"model": self.model, **self.sk_params}
        params = dict(self.sk_params)
        params["build_fn"] = self.build_fn
        return params

    def set_params(self, **params: Any):
        """Update the parameters; returns ``self``.

        Raises:
            ValueError: an unknown parameter (SciKeras's style: neither an existing nor a routed one).
        """
        if self._scikeras:
            self._check_routes(params)
            for name, value in params.items():
                if name == "model":
                    self.model = value
                elif name in self.sk_params or "__" in name:
                    self.sk_params[name] = value
                else:
                    raise ValueError(f"{name!r} is not a parameter of this {type(self).__name__} (its parameters: "
                                     f"{sorted(self.get_params())}; route new ones as model__{name}, fit__{name}...)")
            return self
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
        """A fresh, unfitted copy with the same parameters (what ``sklearn.base.clone`` returns); a model given
        as ``model=`` is copied by value (its ``.keras`` archive)."""
        params = {k: copy.deepcopy(v) if k != "build_fn" else v for k, v in self.get_params().items()}
        return type(self)(**params)

    # -- SciKeras's style ----------------------------------------------------------------------
    def _routed(self, destination: str, keys: tuple[str, ...]) -> dict[str, Any]:
        """The parameters named in ``keys``, then those routed as ``<destination>__<name>`` (which win)."""
        out = {k: self.sk_params[k] for k in keys if k in self.sk_params}
        prefix = destination + "__"
        out.update({k[len(prefix):]: v for k, v in self.sk_params.items() if k.startswith(prefix)})
        return out

    def _own_params(self) -> dict[str, Any]:
        """Your own unprefixed parameters (not SciKeras's, not fit's): the builder's arguments."""
        return {k: v for k, v in self.sk_params.items()
                if "__" not in k and k not in SCIKERAS_DEFAULTS and k not in _FIT_KEYS}

    def _compile_kwargs(self) -> dict[str, Any]:
        """``model.compile``'s arguments: optimizer, loss and metrics built with their routed parameters."""
        out = self._routed("compile", _COMPILE_KEYS)
        out["optimizer"] = _build_object("optimizer", out.get("optimizer"), self._routed("optimizer", ()),
                                         optimizers.get)
        out["loss"] = _build_object("loss", out.get("loss"), self._routed("loss", ()), losses.get)
        if out.get("metrics") is not None:
            out["metrics"] = [_build_object("metrics", m, self._routed("metrics", ()), metrics.get)
                              for m in out["metrics"]]
        return out

    def _meta(self, x, y: np.ndarray) -> dict[str, Any]:
        """What the builder's ``meta`` argument holds: the data's sizes (and the classes of a classifier)."""
        x = np.asarray(x) if not isinstance(x, (list, dict)) else x
        meta = {"X_shape_": getattr(x, "shape", None), "X_dtype_": getattr(x, "dtype", None),
                "n_features_in_": x.shape[1] if getattr(x, "ndim", 0) >= 2 else None,
                "y_dtype_": y.dtype, "y_ndim_": y.ndim, "n_outputs_expected_": 1}
        for name in ("classes_", "n_classes_"):
            if hasattr(self, name):
                meta[name] = getattr(self, name)
        return meta

    def _build_scikeras(self, x, y: np.ndarray):
        """``model_``: the given model, or the builder's, compiled with :meth:`_compile_kwargs` if it is not."""
        if callable(self.model) and not hasattr(self.model, "fit"):
            fn = self.model
            args = {**self._own_params(), **self._routed("model", ())}
            names, extra = _named_params(fn), _takes_kwargs(fn)
            for name in args:
                if name not in names and not extra:
                    raise TypeError(f"model: the builder {getattr(fn, '__name__', fn)!r} has no argument {name!r} "
                                    f"(given as {name}= or model__{name}=); its arguments: {sorted(names)}")
            specials = {"meta": lambda: self._meta(x, y), "compile_kwargs": self._compile_kwargs,
                        "params": self.get_params}
            for name, make in specials.items():
                if name in names or extra:
                    args[name] = make()
            model = fn(**args)
        else:
            model = self.model
        if not hasattr(model, "fit") or not hasattr(model, "predict"):
            raise TypeError(f"model: the builder must return a Keras model, got {type(model).__name__}")
        if not getattr(model, "compiled", False):
            model.compile(**self._compile_kwargs())
        return model

    def _fit_scikeras(self, x, y: np.ndarray, kwargs: dict, target: Callable | None = None):
        """Build (or, with ``warm_start``, keep) ``model_`` and train it; returns ``self``."""
        warm = self.sk_params["warm_start"] and getattr(self, "model_", None) is not None
        with _seeded(self.sk_params["random_state"]):
            model = self.model_ if warm else self._build_scikeras(x, y)
            fit_args = {**self._routed("fit", _FIT_KEYS), **kwargs}
            if fit_args.get("batch_size") == -1:
                fit_args["batch_size"] = len(y)
            history = model.fit(x, y if target is None else target(model, y), **fit_args)
        self.model_ = model
        if not warm:
            self.history_ = {}
        for key, values in history.history.items():
            self.history_.setdefault(key, []).extend(values)
        return self

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

    def _predict_args(self, x, kwargs: dict) -> dict:
        if self._scikeras:
            out = {**self._routed("predict", _PREDICT_KEYS), **kwargs}
            if out.get("batch_size") == -1:  # SciKeras: one batch of all the samples
                out["batch_size"] = len(x)
            return out
        return self.filter_sk_params(Trainer.predict, kwargs)

    def _fitted(self):
        """The fitted model (``model_`` in SciKeras's style, ``model`` in Keras 2's)."""
        model = getattr(self, "model_" if self._scikeras else "model", None)
        if model is None:
            raise ValueError(f"This {type(self).__name__} instance is not fitted yet; call fit(x, y) first")
        return model

    def _fit_any(self, x, y: np.ndarray, kwargs: dict, target: Callable | None = None):
        return (self._fit_scikeras if self._scikeras else self._fit)(x, y, kwargs, target)

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, "model_" if self._scikeras else "model", None) is not None


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
    """A scikit-learn classifier around a Keras model built by ``build_fn`` (or given as ``model``).

    ``fit(x, y)`` accepts integer (or any sortable) class labels ``(N,)`` or one-hot targets
    ``(N, C)``. With labels, ``classes_`` are the sorted distinct labels and the model is
    trained on their indices (one-hot encoded when the model's loss is
    ``categorical_crossentropy``); with one-hot targets, ``classes_ = arange(C)`` (one-hot
    targets are turned into indices when the loss is ``sparse_categorical_crossentropy``).
    ``predict`` returns ``classes_[argmax(probabilities)]`` (threshold 0.5 for a single
    sigmoid unit).

    Attributes:
        model: Keras 2's style: the fitted Keras model (SciKeras's: the ``model`` parameter).
        model_: SciKeras's style: the fitted Keras model.
        classes_: ``(C,)`` the class labels.
        n_classes_: C.
        history_: the ``History`` of the last ``fit`` (SciKeras's style: ``{name: [value per epoch]}``,
            over the ``warm_start`` fits).
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

        return self._fit_any(x, y, kwargs, target)

    def predict_proba(self, x, **kwargs) -> np.ndarray:
        """``(N, C)`` class probabilities (``[1 - p, p]`` for a single sigmoid unit)."""
        probs = np.asarray(self._fitted().predict(x, **self._predict_args(x, kwargs)))
        if probs.ndim == 1 or probs.shape[-1] == 1:
            p = probs.reshape(len(probs), 1)
            probs = np.hstack([1 - p, p])
        return probs

    def predict(self, x, **kwargs) -> np.ndarray:
        """``(N,)`` predicted class labels (elements of ``classes_``)."""
        probs = np.asarray(self._fitted().predict(x, **self._predict_args(x, kwargs)))
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
    """A scikit-learn regressor around a Keras model built by ``build_fn`` (or given as ``model``).

    ``predict`` returns ``(N,)`` for a single output unit; ``score`` is ``-loss`` on ``(x, y)``
    (Keras 2's definition: larger is better) with ``build_fn``, the R^2 of the predictions
    (SciKeras's) with ``model``.
    """

    _estimator_type = "regressor"

    def __sklearn_tags__(self):
        return _tags("regressor")

    def fit(self, x, y, **kwargs):
        """Build a new model and train it on ``(x, y)``; returns ``self``."""
        return self._fit_any(x, np.asarray(y), kwargs)

    def predict(self, x, **kwargs) -> np.ndarray:
        """Predictions; the last axis is dropped when it has size 1."""
        out = np.asarray(self._fitted().predict(x, **self._predict_args(x, kwargs)))
        return out[..., 0] if out.ndim > 1 and out.shape[-1] == 1 else out

    def score(self, x, y, sample_weight=None, **kwargs) -> float:
        """Keras 2's style: ``-loss`` of the model on ``(x, y)``; SciKeras's: the R^2 of :meth:`predict`
        (:func:`r2_score`)."""
        if self._scikeras:
            return r2_score(np.asarray(y), self.predict(x, **kwargs), sample_weight)
        if sample_weight is not None:
            kwargs = {**kwargs, "sample_weight": sample_weight}
        loss = self._fitted().evaluate(x, np.asarray(y), **self.filter_sk_params(Trainer.evaluate, kwargs))
        return -float(loss[0] if isinstance(loss, list) else loss)


def r2_score(y: np.ndarray, predicted: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """The coefficient of determination, averaged over outputs (scikit-learn's ``r2_score``)::

        R^2 = 1 - sum_i w_i (y_i - p_i)^2 / sum_i w_i (y_i - mean_w(y))^2

    Example:
        >>> r2_score(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
        0.5
    """
    y, predicted = y.reshape(len(y), -1).astype(np.float64), predicted.reshape(len(predicted), -1)
    if y.shape != predicted.shape:
        raise ValueError(f"y: expected shape {predicted.shape} like the predictions, got {y.shape}")
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64).reshape(-1)
    residual = (w[:, None] * (y - predicted) ** 2).sum(axis=0)  # (outputs,)
    total = (w[:, None] * (y - np.average(y, axis=0, weights=w)) ** 2).sum(axis=0)  # (outputs,)
    safe = np.where(total > 0, total, 1.0)
    scores = np.where(total > 0, 1 - residual / safe, np.where(residual > 0, 0.0, 1.0))
    return float(scores.mean())


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
