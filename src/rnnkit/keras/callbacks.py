"""Keras callbacks: hooks into ``fit``/``evaluate``/``predict``, with Keras 3's semantics.

``History`` and ``ProgbarLogger`` are added by ``fit`` itself; the others are passed in
``callbacks=[...]``: ``EarlyStopping``, ``ModelCheckpoint``, ``ReduceLROnPlateau``,
``LearningRateScheduler``, ``CSVLogger``, ``LambdaCallback``, ``TerminateOnNaN``.

Epochs and batches are numbered from 0 in the hooks (as Keras); messages show epochs from 1.

Example:
    >>> from rnnkit.keras import callbacks
    >>> stop = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    >>> stop.patience
    2
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
import time
import warnings
from typing import Any, Callable, Iterable

import numpy as np

from rnnkit._plateau import keras_counts, plateau_step
from rnnkit.serialization import atomic_write_text

__all__ = [
    "Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
    "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger", "LambdaCallback", "TerminateOnNaN",
]


class Callback:
    """Base class: override any ``on_*`` hook. ``self.model`` and ``self.params`` are set by ``fit``.

    ``params`` holds ``{"epochs", "steps", "verbose"}``.
    """

    def __init__(self) -> None:
        self.model = None
        self.params: dict[str, Any] = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...


_HOOKS = [name for name in vars(Callback) if name.startswith("on_")]


class CallbackList:
    """Calls every hook on each callback in order (``callbacks.on_epoch_end(epoch, logs)`` ...).

    Args:
        callbacks: the callbacks (None means none).
        model: set on each callback.
        params: set on each callback (``epochs``, ``steps``, ``verbose``).
    """

    def __init__(self, callbacks: Iterable[Callback] | None = None, model=None, params: dict | None = None):
        self.callbacks = list(callbacks or [])
        for i, cb in enumerate(self.callbacks):
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks[{i}]: expected a keras.callbacks.Callback, got {type(cb).__name__}")
            if model is not None:
                cb.set_model(model)
            if params is not None:
                cb.set_params(params)

    def _call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    # Every hook receives a logs dict, as in Keras (an empty one when the caller has none).
    def on_train_begin(self, logs=None):
        self._call("on_train_begin", {} if logs is None else logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", {} if logs is None else logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, {} if logs is None else logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, {} if logs is None else logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, {} if logs is None else logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, {} if logs is None else logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", {} if logs is None else logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", {} if logs is None else logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, {} if logs is None else logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, {} if logs is None else logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", {} if logs is None else logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", {} if logs is None else logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, {} if logs is None else logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, {} if logs is None else logs)

    def __iter__(self):
        return iter(self.callbacks)


class History(Callback):
    """Records every epoch's logs: ``history.history["loss"]``, ``history.epoch`` (0-based)."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in ({} if logs is None else logs).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self


# -- progress bar --------------------------------------------------------------------------------
def _format_value(value: Any) -> str:
    """Keras's metric format: 4 decimals, or scientific notation below 1e-3."""
    if not isinstance(value, (int, float, np.floating, np.integer)):
        return str(value)
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def _format_time(seconds_per_step: float, unit: str) -> str:
    if seconds_per_step >= 1 or seconds_per_step == 0:
        return f"{seconds_per_step:.0f}s/{unit}"
    if seconds_per_step >= 1e-3:
        return f"{seconds_per_step * 1e3:.0f}ms/{unit}"
    return f"{seconds_per_step * 1e6:.0f}us/{unit}"


def _format_eta(eta: float) -> str:
    if eta > 3600:
        return "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
    if eta > 60:
        return "%d:%02d" % (eta // 60, eta % 60)
    return "%ds" % eta


class _Progbar:
    """Keras's progress line ``" 7/32 ━━━━━━━━            1s 3ms/step - loss: 0.2000"``.

    ``verbose=1`` draws a live bar with tqdm (an optional dependency; without it only the
    final line of each epoch is printed); ``verbose=2`` prints one line at the end:
    ``"32/32 - 0s - 3ms/step - loss: 0.2000"``.
    """

    WIDTH = 20  # characters of the bar, as Keras

    def __init__(self, target: int, verbose: int, unit: str = "step"):
        self.target, self.verbose, self.unit = max(int(target), 1), verbose, unit
        self.start = time.time()
        self.digits = int(math.log10(self.target)) + 1
        self.bar = None
        if verbose == 1:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = _keras_tqdm(tqdm)(
                    total=self.target, file=sys.stdout, bar_format="{keras_count} {bar:%d} {keras_info}" % self.WIDTH,
                    ascii=" ━", mininterval=0.05, leave=True, dynamic_ncols=False,
                )
                self.bar.keras_count = f"{0:>{self.digits}}/{self.target}"

    def _info(self, current: int, logs: dict, final: bool) -> str:
        elapsed = time.time() - self.start
        per_step = elapsed / max(current, 1)
        head = f"{elapsed:.0f}s" if final else _format_eta(per_step * (self.target - current))
        metrics = "".join(f" - {k}: {_format_value(v)}" for k, v in logs.items())
        return f"{head} {_format_time(per_step, self.unit)}{metrics}"

    def update(self, current: int, logs: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.keras_count = f"{current:>{self.digits}}/{self.target}"
            self.bar.keras_info = self._info(current, logs or {}, final=False)
            self.bar.update(current - self.bar.n)

    def finish(self, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.verbose == 2:
            elapsed = time.time() - self.start
            metrics = "".join(f" - {k}: {_format_value(v)}" for k, v in logs.items())
            print(f"{self.target}/{self.target} - {elapsed:.0f}s - "
                  f"{_format_time(elapsed / self.target, self.unit)}{metrics}", flush=True)
        elif self.bar is not None:
            self.bar.keras_count = f"{self.target}/{self.target}"
            self.bar.keras_info = self._info(self.target, logs, final=True)
            self.bar.update(self.target - self.bar.n)
            self.bar.close()
        elif self.verbose == 1:  # no tqdm: the final line only
            print(f"{self.target}/{self.target} {'━' * self.WIDTH} {self._info(self.target, logs, final=True)}",
                  flush=True)


_TQDM_CLASS = None


def _keras_tqdm(tqdm):
    """A tqdm subclass whose ``bar_format`` may use ``{keras_count}`` and ``{keras_info}``."""
    global _TQDM_CLASS
    if _TQDM_CLASS is None:

        class KerasTqdm(tqdm):
            keras_count = ""
            keras_info = ""

            @property
            def format_dict(self):
                return {**super().format_dict, "keras_count": self.keras_count, "keras_info": self.keras_info}

        _TQDM_CLASS = KerasTqdm
    return _TQDM_CLASS


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and the progress line (added by ``fit``/``evaluate``/``predict`` when verbose)."""

    def __init__(self) -> None:
        super().__init__()
        self.progbar: _Progbar | None = None
        self._in_fit = False

    def _verbose(self) -> int:
        verbose = self.params.get("verbose", 1)
        return 1 if verbose == "auto" else int(verbose)

    def _start(self) -> None:
        self.progbar = _Progbar(self.params.get("steps") or 1, self._verbose()) if self._verbose() else None

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        if self._verbose() and self.params.get("epochs", 1) > 1:
            print(f"Epoch {epoch + 1}/{self.params['epochs']}", flush=True)
        self._start()

    def on_train_batch_end(self, batch, logs=None):
        if self.progbar:
            self.progbar.update(batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.progbar:
            self.progbar.finish(logs)
            self.progbar = None

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._start()

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit and self.progbar:
            self.progbar.update(batch + 1, logs)

    def on_test_end(self, logs=None):
        if not self._in_fit and self.progbar:
            self.progbar.finish(logs)
            self.progbar = None

    def on_predict_begin(self, logs=None):
        self._start()

    def on_predict_batch_end(self, batch, logs=None):
        if self.progbar:
            self.progbar.update(batch + 1)

    def on_predict_end(self, logs=None):
        if self.progbar:
            self.progbar.finish()
            self.progbar = None


# -- monitoring callbacks -------------------------------------------------------------------------
class _MonitorCallback(Callback):
    """Shared by EarlyStopping, ModelCheckpoint and ReduceLROnPlateau: is a value an improvement?

    ``mode="auto"`` minimises ``loss``/``val_loss`` and any metric whose direction is "down",
    maximises metrics whose direction is "up" (accuracies).
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", baseline: float | None = None,
                 min_delta: float = 0.0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{type(self).__name__}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.mode, self.best = monitor, mode, baseline
        self.min_delta = abs(min_delta)
        self._sign = None  # +1 to maximise, -1 to minimise

    def _set_direction(self) -> None:
        if self.mode != "auto":
            self._sign = 1 if self.mode == "max" else -1
            return
        name = self.monitor.removeprefix("val_")
        if name == "loss":
            self._sign = -1
            return
        for metric in getattr(self.model, "metrics", []) or []:
            if getattr(metric, "name", None) == name:
                self._sign = 1 if getattr(metric, "_direction", "down") == "up" else -1
                return
        if "acc" in name:
            self._sign = 1
            return
        raise ValueError(
            f"{type(self).__name__}: cannot tell whether monitor={self.monitor!r} should be minimised or "
            "maximised; pass mode='min' or mode='max'"
        )

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if self._sign is None:
            self._set_direction()
        if reference is None:
            return True
        if self._sign > 0:
            return value - self.min_delta > reference
        return value + self.min_delta < reference

    def _current(self, logs: dict | None) -> float | None:
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"{type(self).__name__} is conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs)}",
                stacklevel=3,
            )
        return value


class EarlyStopping(_MonitorCallback):
    """Stop training when ``monitor`` has stopped improving (Keras 3 rules).

    After each epoch from ``start_from_epoch`` on: an improvement (by more than
    ``min_delta``) records the best value (and weights) and resets the wait counter unless
    the value does not beat ``baseline``; otherwise training stops once ``wait >= patience``.

    Args:
        monitor: the log key to watch.
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        verbose: print a message when stopping / restoring.
        mode: "auto", "min" or "max".
        baseline: a value the monitor must beat for the waiting to reset.
        restore_best_weights: at the end of training, restore the weights of the best epoch.
        start_from_epoch: epochs to wait before monitoring starts.

    Attributes:
        stopped_epoch: the (0-based) epoch at which training stopped, 0 if it did not.
        best_epoch: the (0-based) epoch with the best value.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best = None
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = self._current(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(_MonitorCallback):
    """Save the model (or its weights) after every epoch or every ``save_freq`` batches.

    Args:
        filepath: path, formatted with ``epoch`` (1-based), ``batch`` and the logs, e.g.
            ``"ckpt-{epoch:02d}-{val_loss:.2f}.keras"``. Files are written atomically, in Keras 3's
            formats for ``.keras`` and ``.weights.h5`` names, else as safetensors (see :mod:`rnnkit.keras.saving`).
        monitor: the log key deciding "best" when ``save_best_only``.
        verbose: print a message on each save.
        save_best_only: save only when ``monitor`` improves.
        save_weights_only: ``model.save_weights`` instead of ``model.save``.
        mode: "auto", "min" or "max".
        save_freq: "epoch" or a number of batches.
        initial_value_threshold: the value to beat for the first save (with save_best_only).
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode, baseline=initial_value_threshold)
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive int, got {save_freq!r}")
        self.filepath = os.fspath(filepath)
        self.verbose, self.save_best_only, self.save_weights_only = verbose, save_best_only, save_weights_only
        self.save_freq = save_freq
        self._batches_since_save = 0
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _path(self, epoch: int, batch: int | None, logs: dict) -> str:
        fields = dict(logs)
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError, ValueError) as error:
            raise KeyError(f"ModelCheckpoint: failed to format filepath {self.filepath!r}: {error!r}") from None

    def _save(self, epoch: int, batch: int | None, logs: dict | None) -> None:
        logs = logs or {}
        path = self._path(epoch, batch, logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=2)
            elif not self._is_improvement(current, self.best):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            else:
                if self.verbose > 0:
                    best = "None" if self.best is None else f"{self.best:.5f}"
                    print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                          f"saving model to {path}")
                self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class ReduceLROnPlateau(_MonitorCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving (Keras 3 rules, counted by
    the plateau count :func:`rnnkit._plateau.plateau_step` that ``optim.lr_scheduler.ReduceLROnPlateau``
    uses too; ``wait`` and ``cooldown_counter`` are that count's state).

    Args:
        monitor: the log key to watch.
        factor: new_lr = lr * factor (must be < 1).
        patience: epochs without improvement before reducing.
        verbose: print a message on each reduction.
        mode: "auto", "min" or "max".
        min_delta: the smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: lower bound on the learning rate.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__(monitor, mode, min_delta=min_delta)
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau: unexpected argument(s) {sorted(kwargs)}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0, got factor={factor}")
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr
        self.wait = self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = self._current(logs)
        if current is None:
            return
        improved = self._is_improvement(current, self.best)
        if improved:
            self.best = current
        patience, cooldown = keras_counts(self.patience, self.cooldown)
        self.wait, self.cooldown_counter, reduce = plateau_step(self.wait, self.cooldown_counter, improved, patience)
        old_lr = float(optimizer.learning_rate)
        if reduce and old_lr > np.float32(self.min_lr):  # at min_lr Keras keeps counting (no cooldown)
            new_lr = max(old_lr * self.factor, self.min_lr)
            optimizer.learning_rate = new_lr
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
            self.wait, self.cooldown_counter = 0, cooldown


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch start to ``schedule(epoch, lr)`` (or ``schedule(epoch)``)."""

    def __init__(self, schedule: Callable, verbose: int = 0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        try:
            lr = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:  # old API: schedule(epoch)
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, int, np.floating, np.integer)):
            raise ValueError(f"LearningRateScheduler: schedule must return a float, got {type(lr).__name__} {lr!r}")
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """Write one CSV row per epoch: ``epoch`` (0-based, as Keras) then the logs in sorted key order.

    The file is rewritten atomically at every epoch end (temp file + ``os.replace``), so it is
    always a complete CSV.

    Args:
        filename: the CSV file.
        separator: the column separator.
        append: keep an existing file's rows and add to them.
    """

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.keys: list[str] | None = None
        self._text = ""

    def on_train_begin(self, logs=None):
        self.keys = None
        self._text = ""
        if self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8", newline="") as file:
                self._text = file.read()
            if self._text and not self._text.endswith("\n"):
                self._text += "\n"

    def on_epoch_end(self, epoch, logs=None):
        logs = dict({} if logs is None else logs)
        buffer = io.StringIO()
        if self.keys is None:
            self.keys = sorted(logs)
        writer = csv.DictWriter(buffer, fieldnames=["epoch"] + self.keys, delimiter=self.sep, lineterminator="\n",
                                extrasaction="ignore", restval="NA")
        if not self._text:
            writer.writeheader()
        writer.writerow({"epoch": epoch, **{k: _csv_value(logs.get(k, "NA")) for k in self.keys}})
        self._text += buffer.getvalue()
        atomic_write_text(self.filename, self._text)


def _csv_value(value: Any) -> Any:
    if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) > 0:
        return f"[{', '.join(map(str, np.ravel(value)))}]"
    return value


class LambdaCallback(Callback):
    """A callback made of functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    Accepts any ``on_*`` hook name as a keyword (``on_batch_begin``/``on_batch_end`` are the
    Keras 2 names of the train-batch hooks).
    """

    def __init__(self, **hooks: Callable):
        super().__init__()
        aliases = {"on_batch_begin": "on_train_batch_begin", "on_batch_end": "on_train_batch_end"}
        for name, fn in hooks.items():
            name = aliases.get(name, name)
            if name not in _HOOKS:
                raise TypeError(f"LambdaCallback: unknown hook {name!r}; expected one of {_HOOKS}")
            if fn is not None:
                setattr(self, name, fn)


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = ({} if logs is None else logs).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
