"""The Keras training loop: ``compile``, ``fit``, ``evaluate``, ``predict`` and the ``*_on_batch`` forms.

:class:`Trainer` is a mixin of :class:`rnnkit.keras.Model`. It relies only on the model's
``__call__(x, training=...)`` (a Tensor, or a list of Tensors for several outputs),
``trainable_weights`` (Parameters, optionally with ``.constraint``), ``losses``
(regularisation terms of the last call), ``get_weights``/``set_weights`` and ``get_config``.

One training step (``train_on_batch`` and every batch of ``fit``)::

    y_pred = model(x, training=True)
    loss   = sum_o loss_weight_o * loss_o(y_o, y_pred_o, sample_weight) + sum(model.losses)
    optimizer.scale_loss(loss).backward()    (skipped, with a warning, when loss is not finite)
    optimizer.apply(grads, trainable_weights)
    w.data = w.constraint(w.data)            (for each weight with a constraint)

Logs follow Keras 3: ``loss`` is the running mean of the batch losses weighted by batch
size, metrics are running means over the epoch, keys are sorted, validation keys are
prefixed ``val_``. ``metrics`` are unweighted; ``weighted_metrics`` use the sample weights
(and ``class_weight``), as in Keras 3.

Example:
    >>> import numpy as np
    >>> from rnnkit import keras
    >>> model = keras.Sequential([keras.layers.Dense(3, activation="softmax", input_shape=(4,))])
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> x, y = np.random.rand(32, 4).astype("float32"), np.random.randint(0, 3, 32)
    >>> history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    >>> sorted(history.history), history.epoch
    (['accuracy', 'loss'], [0, 1])
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np

from rnnkit import _ops
from rnnkit._tensor import Tensor, array_of, no_grad
from rnnkit._validation import check_size
from rnnkit.keras import callbacks as callbacks_module
from rnnkit.keras import losses as losses_module
from rnnkit.keras import metrics as metrics_module
from rnnkit.keras import optimizers as optimizers_module
from rnnkit.keras import saving
from rnnkit.keras.data_adapters import get_adapter, is_array_data, num_samples, take
from rnnkit.keras.layers.base import flatten, map_structure

__all__ = ["Trainer"]

_CROSSENTROPY_ALIASES = ("crossentropy", "ce")  # resolved from the shapes, as Keras's compile


# -- data helpers ----------------------------------------------------------------------------------
def _flat(data: Any) -> list:
    """One entry per output: a list stays a list, anything else is one output."""
    return list(data) if isinstance(data, (list, tuple)) else [data]


def _leaves(given: Any) -> list:
    """Every identifier in a compile argument (a value, or lists / dicts of them)."""
    if isinstance(given, dict):
        given = list(given.values())
    if isinstance(given, (list, tuple)):
        return [leaf for entry in given for leaf in _leaves(entry)]
    return [] if given is None else [given]


def _serialize_tree(given: Any, serialize: Callable) -> Any:
    """A compile argument (None, a name, an object, or dicts/lists/tuples of them) with ``serialize`` applied to
    each object (names stay names; tuples become lists)."""
    if given is None:
        return None
    if isinstance(given, dict):
        return {k: _serialize_tree(v, serialize) for k, v in given.items()}
    if isinstance(given, (list, tuple)):
        return [_serialize_tree(v, serialize) for v in given]
    return given if isinstance(given, str) else serialize(given)


def _deserialize_tree(given: Any, deserialize: Callable) -> Any:
    """Inverse of :func:`_serialize_tree` (a dict with a ``class_name`` is one serialized object)."""
    if isinstance(given, dict) and "class_name" not in given:
        return {k: _deserialize_tree(v, deserialize) for k, v in given.items()}
    if isinstance(given, list):
        return [_deserialize_tree(v, deserialize) for v in given]
    return None if given is None else deserialize(given)


def _check_lengths(x: Any, y: Any, sample_weight: Any) -> int:
    n = num_samples("x", x)
    if y is not None:
        ny = num_samples("y", y)
        if ny != n:
            raise ValueError(f"x and y must have the same number of samples, got x with {n} and y with {ny}")
    if sample_weight is not None and len(sample_weight) != n:
        raise ValueError(
            f"sample_weight must have one weight per sample, got {len(sample_weight)} weights for {n} samples"
        )
    return n


def _class_weight_to_sample_weight(y: np.ndarray, class_weight: dict) -> np.ndarray:
    """Keras's rule: the class of a sample is ``argmax(y)`` (one-hot) or ``round(y)`` (labels)."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class index: weight}}, got {type(class_weight).__name__}")
    if isinstance(y, list):
        raise ValueError("class_weight is only supported for models with a single output")
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = labels.argmax(-1) if labels.shape[-1] != 1 else labels[..., 0]
    labels = np.round(labels).astype(np.int64)
    if labels.ndim != 1:
        raise ValueError(f"class_weight needs one class per sample, got y of shape {np.shape(y)}")
    return np.array([float(class_weight.get(int(c), 1.0)) for c in labels], np.float32)


def _check_verbose(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def _to_numpy(value: Any) -> Any:
    if isinstance(value, Tensor):
        return array_of(value)
    return value


class Trainer:
    """Keras's training API, mixed into ``rnnkit.keras.Model`` (see the module docstring)."""

    # -- compile -----------------------------------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, loss_weights: Any = None, metrics: Any = None,
                weighted_metrics: Any = None, run_eagerly: bool = False, steps_per_execution: int = 1,
                jit_compile: Any = "auto", auto_scale_loss: bool = True) -> None:
        """Configure the model for training, as ``keras.Model.compile``.

        Args:
            optimizer: a name ("sgd", "rmsprop", "adagrad", "adam", "adamw") or a
                ``keras.optimizers.Optimizer``.
            loss: a name ("categorical_crossentropy", "sparse_categorical_crossentropy",
                "binary_crossentropy", "mse", "mae", "huber", or "crossentropy" resolved from
                the shapes), a ``keras.losses.Loss``, a callable ``fn(y_true, y_pred)`` returning
                per-sample losses; for several outputs, a list or a dict by output name.
            loss_weights: per-output scalars (list or dict) multiplying each output's loss.
            metrics: names ("accuracy"/"acc" pick binary/sparse/categorical from the shapes,
                "mae", "mse", loss names), Metric objects or callables; for several outputs,
                a list of lists or a dict by output name.
            weighted_metrics: like ``metrics``, but weighted by the sample weights.
            run_eagerly, steps_per_execution, jit_compile, auto_scale_loss: accepted for Keras
                compatibility (rnnkit always runs eagerly, one step at a time).

        Raises:
            ValueError: an unknown optimizer, loss or metric name, naming it.
            TypeError: an object of the wrong kind.
        """
        if steps_per_execution != 1:
            raise ValueError(f"steps_per_execution: rnnkit runs one step at a time, got {steps_per_execution}")
        self.optimizer = optimizers_module.get(optimizer)
        for identifier in _leaves(loss):  # fail fast on unknown names; shapes decide the rest later
            if not (isinstance(identifier, str) and identifier in _CROSSENTROPY_ALIASES):
                losses_module.get(identifier)
        for identifier in _leaves(metrics) + _leaves(weighted_metrics):
            if not (isinstance(identifier, str) and identifier.lower() in metrics_module.ACCURACY_NAMES):
                metrics_module.get(identifier)
        self.loss = loss
        self._compile_args = {"loss": loss, "loss_weights": loss_weights, "metrics": metrics,
                              "weighted_metrics": weighted_metrics}
        self._compiled_outputs = None  # resolved on the first batch, when the shapes are known
        self._loss_tracker = metrics_module.Mean(name="loss")
        self.compiled = True
        self.stop_training = False

    def _output_names(self, count: int | None = None) -> list[str]:
        """Keras's output names: the names of the layers that produce the outputs (``output_i`` otherwise)."""
        names = list(getattr(self, "output_names", None) or [])
        if not names:
            for tensor in getattr(self, "outputs", None) or []:
                history = getattr(tensor, "_keras_history", None)  # (layer, node index, tensor index)
                names.append(getattr(history[0], "name", None) if history else None)
        if count is not None and (len(names) != count or None in names or len(set(names)) != count):
            names = [f"output_{i + 1}" for i in range(count)] if count > 1 else ["output"]
        return names

    def _per_output_list(self, given: Any, what: str, count: int) -> list:
        """Spread a compile argument (one value, a list or a dict by output name) over the outputs."""
        names = self._output_names(count)
        if isinstance(given, dict):
            unknown = sorted(set(given) - set(names))
            if unknown:
                raise ValueError(f"{what}: unknown output name(s) {unknown}; the model's outputs are {names}")
            return [given.get(name) for name in names]
        if what == "loss":
            if isinstance(given, (list, tuple)):
                if len(given) != count:
                    raise ValueError(f"loss: got {len(given)} losses for a model with {count} outputs")
                return list(given)
            return [given] * count
        if given is None:
            return [None] * count
        if count > 1 and all(isinstance(m, (list, tuple)) for m in given):
            if len(given) != count:
                raise ValueError(f"{what}: got {len(given)} lists for a model with {count} outputs")
            return [list(m) for m in given]
        return [list(given) if isinstance(given, (list, tuple)) else [given]] * count

    def _resolve_compiled(self, y: list[np.ndarray], y_pred: list[Tensor]) -> None:
        """Build the per-output losses and metrics once the shapes are known (Keras's build)."""
        count = len(y_pred)
        if len(y) != count:
            raise ValueError(f"y: the model has {count} outputs but {len(y)} target arrays were given")
        names = self._output_names(count)
        args = self._compile_args
        losses = self._per_output_list(args["loss"], "loss", count)
        weights = args["loss_weights"]
        if isinstance(weights, dict):
            weights = [weights.get(name, 1.0) for name in names]
        weights = [1.0] * count if weights is None else list(weights)
        if len(weights) != count:
            raise ValueError(f"loss_weights: got {len(weights)} weights for a model with {count} outputs")
        metric_lists = self._per_output_list(args["metrics"], "metrics", count)
        weighted_lists = self._per_output_list(args["weighted_metrics"], "weighted_metrics", count)
        outputs = []
        for i in range(count):
            t_shape, p_shape = np.shape(y[i]), tuple(y_pred[i].shape)
            prefix = f"{names[i]}_" if count > 1 else ""
            identifier = losses[i]
            if isinstance(identifier, str) and identifier in _CROSSENTROPY_ALIASES:
                is_binary = p_shape[-1] == 1
                is_sparse = len(t_shape) < len(p_shape) or (t_shape[-1] == 1 and p_shape[-1] > 1)
                identifier = ("binary_crossentropy" if is_binary
                              else "sparse_categorical_crossentropy" if is_sparse else "categorical_crossentropy")
            loss = losses_module.get(identifier)
            if loss is not None and not isinstance(loss, losses_module.Loss):
                loss = losses_module.LossFunctionWrapper(
                    loss, name=identifier if isinstance(identifier, str) else getattr(loss, "__name__", "loss"))
            metrics = [metrics_module.resolve(m, t_shape, p_shape) for m in (metric_lists[i] or [])]
            weighted = [metrics_module.resolve(m, t_shape, p_shape) for m in (weighted_lists[i] or [])]
            taken = {m.name for m in metrics}
            for m in metrics + weighted:
                if m in weighted and m.name in taken:
                    m.name = "weighted_" + m.name
                m.name = prefix + m.name
            tracker = metrics_module.Mean(name=f"{names[i]}_loss") if count > 1 and loss is not None else None
            outputs.append({"loss": loss, "weight": float(weights[i]), "metrics": metrics, "weighted": weighted,
                            "tracker": tracker})
        if all(o["loss"] is None for o in outputs) and not self.losses:
            raise ValueError("compile(loss=...): no loss to optimize; pass a loss to compile()")
        self._compiled_outputs = outputs

    @property
    def metrics(self) -> list:
        """The metric objects in Keras's order: the loss tracker, per-output loss trackers, compiled metrics."""
        if not getattr(self, "compiled", False):
            return []
        result = [self._loss_tracker]
        for output in self._compiled_outputs or []:
            if output["tracker"] is not None:
                result.append(output["tracker"])
        for output in self._compiled_outputs or []:
            result.extend(output["metrics"] + output["weighted"])
        return result

    @property
    def metrics_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def _assert_compiled(self, method: str) -> None:
        if not getattr(self, "compiled", False):
            raise ValueError(f"You must call compile() before {method}() (the model has no loss or optimizer yet)")

    # -- one step ----------------------------------------------------------------------------------
    def _float_dtype(self) -> np.dtype:
        for weight in getattr(self, "weights", None) or []:
            if weight.data.dtype.kind == "f":
                return weight.data.dtype
        return np.dtype(np.float32)

    def _standardize_x(self, x: Any) -> Any:
        """ndarrays of the model's float dtype (integers stay integers); a list for several inputs, a dict
        for inputs by name."""
        dtype = self._float_dtype()

        def convert(a):
            a = np.asarray(_to_numpy(a))
            if a.dtype.kind in "fb":
                return a.astype(dtype, copy=False)
            if a.dtype.kind not in "iu":
                raise TypeError(f"x: expected numeric arrays, got dtype {a.dtype}")
            return a

        if x is None:
            raise ValueError("x: expected input data, got None")
        if isinstance(x, dict):
            return {name: convert(a) for name, a in x.items()}
        if isinstance(x, (list, tuple)) and len(getattr(self, "inputs", None) or []) > 1:
            return [convert(a) for a in x]
        return convert(x)

    def _standardize_y(self, y: Any) -> Any:
        if y is None:
            return None
        if isinstance(y, dict):  # targets by output name
            names = self._output_names()
            missing = sorted(set(names) - set(y)) if names else sorted(y)
            if missing:
                raise ValueError(f"y: no targets for output(s) {missing}; the model's outputs are {names}")
            y = [y[name] for name in names]
            if len(y) == 1:
                y = y[0]
        if isinstance(y, (list, tuple)) and len(getattr(self, "outputs", None) or []) > 1:  # one array per output
            return [np.asarray(_to_numpy(a)) for a in y]
        y = np.asarray(_to_numpy(y))
        if y.dtype.kind not in "biuf":
            raise TypeError(f"y: expected numeric targets, got an array of dtype {y.dtype}")
        return y

    def _standardize_batch(self, x: Any, y: Any, sample_weight: Any, class_weight: Any = None) -> tuple:
        """One batch (or all the arrays) as the training step takes them; ``class_weight`` becomes sample weights."""
        x, y = self._standardize_x(x), self._standardize_y(y)
        if class_weight is not None and y is not None:
            if sample_weight is not None:
                raise ValueError("You cannot pass both class_weight and sample_weight; combine them first")
            sample_weight = _class_weight_to_sample_weight(y, class_weight)
        if sample_weight is not None:
            sample_weight = np.asarray(_to_numpy(sample_weight), np.float32)
        _check_lengths(x, y, sample_weight)
        return x, y, sample_weight

    def _remember_input_shape(self, x: Any) -> None:
        if isinstance(x, dict):
            inputs = getattr(self, "inputs", None) or []
            names = [t.name for t in inputs]
            x = [x[name] for name in names] if names and set(names) <= set(x) else list(x.values())
            x = x if len(x) > 1 else x[0]
        shapes = [tuple(a.shape[1:]) for a in _flat(x)]
        self._trainer_input_shape = [(None,) + s for s in shapes] if isinstance(x, list) else (None,) + shapes[0]

    def _forward(self, x: Any, training: bool) -> list[Tensor]:
        """The model's outputs, flattened (a nested output structure becomes one list)."""
        out = self(x, training=training)
        return flatten(out) if isinstance(out, (list, tuple)) else [out]

    def _pack_outputs(self, flat: list) -> Any:
        """Flat predictions in the nesting of the model's outputs (a list for a flat list of outputs)."""
        struct = getattr(self, "_outputs_struct", None)
        if not isinstance(struct, (list, tuple)) or all(not isinstance(s, (list, tuple)) for s in struct):
            return flat
        items = iter(flat)
        return map_structure(lambda _: next(items), struct)

    def _compute_loss(self, y: list, y_pred: list[Tensor], sample_weight: Any) -> Tensor:
        total = None
        for output, target, pred in zip(self._compiled_outputs, y, y_pred):
            if output["loss"] is None:
                continue
            try:
                value = output["loss"](target, pred, sample_weight)
            except ValueError as error:
                raise ValueError(
                    f"y does not match the model's output (y batch shape {np.shape(target)}, "
                    f"output shape {tuple(pred.shape)}): {error}"
                ) from None
            if output["tracker"] is not None:
                output["tracker"].update_state(array_of(value), sample_weight=np.asarray(len(pred)))
            if output["weight"] != 1.0:
                value = value * output["weight"]
            total = value if total is None else total + value
        for term in self.losses or []:
            term = term if isinstance(term, Tensor) else Tensor(np.asarray(term))
            term = _ops.sum(term) if term.ndim else term
            total = term if total is None else total + term
        if total is None:
            raise ValueError("compile(loss=...): no loss to optimize; pass a loss to compile()")
        return total

    def _update_metrics(self, y: list, y_pred: list[Tensor], sample_weight: Any) -> None:
        for output, target, pred in zip(self._compiled_outputs, y, y_pred):
            for metric in output["metrics"]:
                metric.update_state(target, pred)
            for metric in output["weighted"]:
                metric.update_state(target, pred, sample_weight)

    def _logs(self) -> dict[str, float]:
        return {m.name: float(m.result()) for m in sorted(self.metrics, key=lambda m: m.name)}

    def _train_step(self, x: Any, y: Any, sample_weight: Any, where: str) -> bool:
        """One optimizer step; returns False (weights untouched) when the loss is not finite."""
        y = _flat(y)
        y_pred = self._forward(x, training=True)
        if self._compiled_outputs is None:
            self._resolve_compiled(y, y_pred)
        loss = self._compute_loss(y, y_pred, sample_weight)
        value = float(array_of(loss))
        self._loss_tracker.update_state(np.asarray(value), sample_weight=np.asarray(num_samples("x", x)))
        finite = math.isfinite(value)
        if finite:
            weights = list(self.trainable_weights)
            for weight in getattr(self, "weights", None) or weights:
                weight.grad = None
            if loss.requires_grad:
                self.optimizer.scale_loss(loss).backward()  # loss * loss_scale_factor (or the dynamic scale)
                self.optimizer.apply([w.grad for w in weights], weights)
                for weight in weights:
                    constraint = getattr(weight, "constraint", None)
                    if constraint is not None:
                        np.copyto(array_of(weight), np.asarray(_to_numpy(constraint(weight.data))), casting="same_kind")
            else:
                warnings.warn("The model does not have any trainable weights.", stacklevel=3)
        else:
            warnings.warn(
                f"{where}: the loss is {value} (not finite); the weights were not updated for this batch "
                "and training stops.",
                RuntimeWarning,
                stacklevel=3,
            )
            self.stop_training = True
        self._update_metrics(y, y_pred, sample_weight)
        return finite

    def _test_step(self, x: Any, y: Any, sample_weight: Any) -> None:
        y = _flat(y)
        with no_grad():
            y_pred = self._forward(x, training=False)
            if self._compiled_outputs is None:
                self._resolve_compiled(y, y_pred)
            loss = self._compute_loss(y, y_pred, sample_weight)
        self._loss_tracker.update_state(np.asarray(float(array_of(loss))), sample_weight=np.asarray(num_samples("x", x)))
        self._update_metrics(y, y_pred, sample_weight)

    # -- fit -----------------------------------------------------------------------------------------
    def _validation_adapter(self, validation_data: Any, batch_size: int, steps: int | None):
        """``validation_data`` as batches: a tuple ``(x, y[, sample_weight])`` of arrays, or a dataset/generator."""
        if isinstance(validation_data, tuple) or (isinstance(validation_data, list) and len(validation_data) in (2, 3)
                                                  and all(is_array_data(v) for v in validation_data)):
            if len(validation_data) not in (2, 3):
                raise ValueError(
                    "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight_val), "
                    f"got a tuple of length {len(validation_data)}"
                )
            x_val, y_val, sw_val = self._standardize_batch(*(*validation_data, None)[:3])
            return get_adapter(x_val, y_val, sw_val, batch_size, False, steps, where="validation_data")
        if is_array_data(validation_data):
            raise ValueError(
                "validation_data must be a tuple (x_val, y_val[, sample_weight_val]), a keras.utils.PyDataset or an "
                f"iterable of batches, got {type(validation_data).__name__}"
            )
        return get_adapter(validation_data, steps=steps, where="validation_data")

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs, as ``keras.Model.fit``.

        Args:
            x: inputs: ``(N, ...)`` arrays (a list for several inputs, a dict by input name), or a
                ``keras.utils.PyDataset``, or an iterable / generator of ``(x, y[, sample_weight])`` batches.
            y: ``(N, ...)`` targets (a list or a dict by output name); only with arrays.
            batch_size: samples per step (default 32); only with arrays.
            epochs: index of the last epoch (training runs ``initial_epoch .. epochs - 1``).
            verbose: 0 silent, 1 progress bar, 2 one line per epoch, "auto" = 1.
            callbacks: ``keras.callbacks.Callback`` objects.
            validation_split: fraction of the data, taken from the END before shuffling, held out (arrays only).
            validation_data: ``(x_val, y_val)``, ``(x_val, y_val, sample_weight_val)``, or a dataset / iterable.
            shuffle: shuffle the samples every epoch (True), the batches ("batch"), or not (False);
                drawn from ``rnnkit``'s global generator, so ``rnnkit.manual_seed`` fixes it. A PyDataset's
                batch order is shuffled; generators and rnnkit's ``Dataset`` are never shuffled (as Keras).
            class_weight: ``{class index: weight}`` turned into sample weights (arrays and PyDatasets only).
            sample_weight: ``(N,)`` (or ``(N, T)``) weights of the loss terms; only with arrays.
            initial_epoch: the epoch to start from (for resuming).
            steps_per_epoch: batches per epoch (default: all; needed for an endless generator).
            validation_steps: batches per validation (default: all).
            validation_batch_size: batch size of the validation (default: ``batch_size``).
            validation_freq: validate every this many epochs.

        Returns:
            A ``keras.callbacks.History`` (also stored as ``model.history``).

        Raises:
            ValueError: x and y (or sample weights) of different lengths, a y that does not match
                the model's output, both class_weight and sample_weight, y given with a dataset, bad options.
        """
        self._assert_compiled("fit")
        verbose = _check_verbose(verbose)
        batch_size = 32 if batch_size is None else check_size("batch_size", batch_size, 1)
        epochs = check_size("epochs", epochs, 0)
        if shuffle not in (True, False, "batch"):
            raise ValueError(f"shuffle must be True, False or 'batch', got {shuffle!r}")
        validation_freq = check_size("validation_freq", validation_freq, 1)
        steps_per_epoch = None if steps_per_epoch is None else check_size("steps_per_epoch", steps_per_epoch, 1)
        arrays = is_array_data(x)
        if arrays:
            if y is None:
                raise ValueError("fit(y=...): targets are required when x is arrays")
            x, y, sample_weight = self._standardize_batch(x, y, sample_weight)
            if class_weight is not None and sample_weight is not None:
                raise ValueError("You cannot pass both class_weight and sample_weight to fit(); combine them first")
        if validation_split:
            if not arrays:
                raise ValueError("validation_split is only supported when x is arrays; pass validation_data instead")
            if validation_data is None:
                n = num_samples("x", x)
                if not 0 <= validation_split < 1:
                    raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
                split = int(math.floor(n * (1.0 - validation_split)))
                if split == 0 or split == n:
                    raise ValueError(
                        f"validation_split={validation_split} leaves {split} training and {n - split} validation "
                        f"samples out of {n}; both must be non-empty"
                    )
                validation_data = (take(x, slice(split, None)), take(y, slice(split, None)),
                                   take(sample_weight, slice(split, None)))
                x, y, sample_weight = (take(x, slice(None, split)), take(y, slice(None, split)),
                                       take(sample_weight, slice(None, split)))
        adapter = get_adapter(x, y, sample_weight, batch_size, shuffle, steps_per_epoch, where="fit",
                              class_weight=class_weight)
        val_adapter = None if validation_data is None else self._validation_adapter(
            validation_data, validation_batch_size or batch_size, validation_steps)

        history = callbacks_module.History()
        user = list(callbacks or [])
        default = [history] + ([callbacks_module.ProgbarLogger()] if verbose else [])
        cbs = callbacks_module.CallbackList(user + default, model=self,
                                            params={"epochs": int(epochs), "steps": adapter.num_batches,
                                                    "verbose": verbose})
        self.stop_training = False
        cbs.on_train_begin()
        epoch_logs: dict[str, float] = {}
        for epoch in range(int(initial_epoch), int(epochs)):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            where = f"Epoch {epoch + 1}/{epochs}"
            for step, (bx, by, bw) in enumerate(adapter.epoch_batches()):
                if by is None:
                    raise ValueError(f"fit: {where}, batch {step + 1} has no targets; batches must be (x, y) or "
                                     "(x, y, sample_weight)")
                bx, by, bw = self._standardize_batch(bx, by, bw, class_weight)
                if step == 0:
                    self._remember_input_shape(bx)
                cbs.on_train_batch_begin(step)
                total = f"/{adapter.num_batches}" if adapter.num_batches else ""
                self._train_step(bx, by, bw, where=f"{where}, batch {step + 1}{total}")
                cbs.on_train_batch_end(step, self._logs())
                if self.stop_training:
                    break
            adapter.on_epoch_end()
            epoch_logs = self._logs()
            if adapter.exhausted and epoch > initial_epoch:  # a used-up generator: nothing was trained
                self.stop_training = True
                break
            if val_adapter is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._evaluate_adapter(val_adapter, callbacks_module.CallbackList(user))
                epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        cbs.on_train_end(epoch_logs)
        self.history = history
        return history

    # -- evaluate / predict --------------------------------------------------------------------------
    def _evaluate_adapter(self, adapter, cbs) -> dict[str, float]:
        self.reset_metrics()
        cbs.on_test_begin()
        for step, (bx, by, bw) in enumerate(adapter.epoch_batches()):
            if by is None:
                raise ValueError(f"evaluate: batch {step + 1} has no targets; batches must be (x, y) or "
                                 "(x, y, sample_weight)")
            bx, by, bw = self._standardize_batch(bx, by, bw)
            cbs.on_test_batch_begin(step)
            self._test_step(bx, by, bw)
            cbs.on_test_batch_end(step, self._logs())
        adapter.on_epoch_end()
        logs = self._logs()
        cbs.on_test_end(logs)
        return logs

    def _results(self, logs: dict[str, float], return_dict: bool):
        """Keras's ``evaluate`` result: a dict, the loss alone, or ``[loss, metrics...]`` in metrics order."""
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names if name in logs]
        return values[0] if len(values) == 1 else values

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss and metrics over ``(x, y)`` arrays or a dataset / iterable of batches, as ``keras.Model.evaluate``.

        Returns:
            The loss (a float) when there are no metrics, else ``[loss, metric1, ...]`` in
            ``model.metrics_names`` order; a dict when ``return_dict``.
        """
        self._assert_compiled("evaluate")
        verbose = _check_verbose(verbose)
        batch_size = 32 if batch_size is None else check_size("batch_size", batch_size, 1)
        steps = None if steps is None else check_size("steps", steps, 1)
        if is_array_data(x):
            if y is None:
                raise ValueError("evaluate(y=...): targets are required when x is arrays")
            x, y, sample_weight = self._standardize_batch(x, y, sample_weight)
            self._remember_input_shape(x)
        adapter = get_adapter(x, y, sample_weight, batch_size, False, steps, where="evaluate")
        extra = [callbacks_module.ProgbarLogger()] if verbose else []
        cbs = callbacks_module.CallbackList(list(callbacks or []) + extra, model=self,
                                            params={"epochs": 1, "steps": adapter.num_batches, "verbose": verbose})
        logs = self._evaluate_adapter(adapter, cbs)
        return self._results(logs, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for ``x`` in inference mode, batch by batch, as ``keras.Model.predict``.

        ``x`` is arrays (a list, a dict by input name) or a dataset / iterable of batches (their targets,
        if any, are ignored).

        Returns:
            An ndarray ``(N, ...)`` (a list of them for several outputs).
        """
        verbose = _check_verbose(verbose)
        batch_size = 32 if batch_size is None else check_size("batch_size", batch_size, 1)
        steps = None if steps is None else check_size("steps", steps, 1)
        if is_array_data(x):
            x = self._standardize_x(x)
            self._remember_input_shape(x)
        adapter = get_adapter(x, batch_size=batch_size, steps=steps, where="predict")
        extra = [callbacks_module.ProgbarLogger()] if verbose else []
        cbs = callbacks_module.CallbackList(list(callbacks or []) + extra, model=self,
                                            params={"epochs": 1, "steps": adapter.num_batches, "verbose": verbose})
        cbs.on_predict_begin()
        outputs: list[list[np.ndarray]] = []
        for step, (bx, _, _) in enumerate(adapter.epoch_batches()):
            cbs.on_predict_batch_begin(step)
            with no_grad():
                out = self._forward(self._standardize_x(bx), training=False)
            outputs.append([array_of(o) for o in out])
            cbs.on_predict_batch_end(step, {"outputs": outputs[-1]})
        adapter.on_epoch_end()
        cbs.on_predict_end()
        if not outputs:
            raise ValueError("predict(x): x holds no samples")
        result = [np.concatenate(parts, axis=0) for parts in zip(*outputs)]
        return result[0] if len(result) == 1 else self._pack_outputs(result)

    # -- single batches ------------------------------------------------------------------------------
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch (metrics are reset first, as Keras 3).

        Returns:
            The loss, or ``[loss, metrics...]``, or a dict when ``return_dict``.
        """
        self._assert_compiled("train_on_batch")
        x, y = self._standardize_x(x), self._standardize_y(y)
        if y is None:
            raise ValueError("train_on_batch(y=...): targets are required")
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError("You cannot pass both class_weight and sample_weight to train_on_batch()")
            sample_weight = _class_weight_to_sample_weight(y, class_weight)
        sample_weight = None if sample_weight is None else np.asarray(_to_numpy(sample_weight), np.float32)
        _check_lengths(x, y, sample_weight)
        self._remember_input_shape(x)
        self.reset_metrics()
        self._train_step(x, y, sample_weight, where="train_on_batch")
        return self._results(self._logs(), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss and metrics on one batch in inference mode (metrics are reset first)."""
        self._assert_compiled("test_on_batch")
        x, y = self._standardize_x(x), self._standardize_y(y)
        if y is None:
            raise ValueError("test_on_batch(y=...): targets are required")
        sample_weight = None if sample_weight is None else np.asarray(_to_numpy(sample_weight), np.float32)
        _check_lengths(x, y, sample_weight)
        self.reset_metrics()
        self._test_step(x, y, sample_weight)
        return self._results(self._logs(), return_dict)

    def predict_on_batch(self, x):
        """The model's outputs for one batch, in inference mode, as ndarray(s)."""
        x = self._standardize_x(x)
        with no_grad():
            out = self._forward(x, training=False)
        return array_of(out[0]) if len(out) == 1 else [array_of(o) for o in out]

    # -- compile config and saving -------------------------------------------------------------------
    def get_compile_config(self) -> dict | None:
        """The JSON-able arguments of ``compile`` (None if not compiled).

        Raises:
            ValueError: when a custom loss, metric or schedule cannot be described in JSON.
        """
        if not getattr(self, "compiled", False):
            return None
        args = self._compile_args
        losses, metrics = losses_module.serialize, metrics_module.serialize
        return {"optimizer": optimizers_module.serialize(self.optimizer),
                "loss": _serialize_tree(args["loss"], losses), "loss_weights": args["loss_weights"],
                "metrics": _serialize_tree(args["metrics"], metrics),
                "weighted_metrics": _serialize_tree(args["weighted_metrics"], metrics)}

    def compile_from_config(self, config: dict) -> None:
        """``compile`` again from :meth:`get_compile_config` (an entry left out takes ``compile``'s default, as Keras)."""
        if not isinstance(config, dict):
            raise TypeError(f"compile_from_config(config): expected a dict, got {type(config).__name__}")
        loss, metrics, optimizer = config.get("loss"), metrics_module.deserialize, config.get("optimizer", "rmsprop")
        self.compile(optimizer=optimizers_module.deserialize(optimizer) if isinstance(optimizer, dict) else optimizer,
                     loss=loss if isinstance(loss, str) else _deserialize_tree(loss, losses_module.deserialize),
                     loss_weights=config.get("loss_weights"), metrics=_deserialize_tree(config.get("metrics"), metrics),
                     weighted_metrics=_deserialize_tree(config.get("weighted_metrics"), metrics))

    def save(self, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Save architecture, weights, compile config and optimizer state to one file: Keras 3's ``.keras``
        archive for a ``.keras`` name, else rnnkit's safetensors file. See :func:`rnnkit.keras.saving.save_model`.
        """
        saving.save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Save the weights only, atomically: Keras 3's HDF5 layout for a ``.weights.h5`` name, else safetensors.
        See :func:`rnnkit.keras.saving.save_weights`."""
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch: bool = False) -> None:
        """Load weights saved by :meth:`save_weights` or :meth:`save`. See :func:`rnnkit.keras.saving.load_weights`."""
        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)
