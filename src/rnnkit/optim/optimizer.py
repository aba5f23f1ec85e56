"""The optimizer base class: parameter groups, per-parameter state and ``state_dict``.

This is PyTorch's ``torch.optim.Optimizer`` contract on NumPy. A *parameter* is any object
with ``.data`` (a floating Tensor or ``np.ndarray`` that the optimizer updates IN PLACE) and
``.grad`` (a Tensor or ``np.ndarray`` of the same shape, or ``None`` to skip the parameter this
step), such as ``rnnkit.nn.Parameter``; a Tensor's version counter records each update. Subclasses supply the per-parameter math as a pure function on
arrays (see :mod:`rnnkit.optim.sgd`, ``adagrad``, ``rmsprop``, ``adam``) plus three hooks:
``_validate(group)``, ``_init_state(param, group)`` and ``_update(param, grad, state, group)``.

``state_dict()`` has PyTorch's structure::

    {"state": {index: {"step": int, "exp_avg": ndarray, ...}},
     "param_groups": [{"lr": ..., ..., "params": [index, ...]}]}

where ``index`` numbers the parameters in group order. It is a snapshot (arrays are
copies); :func:`rnnkit.serialization.flatten_optimizer_state` turns it into safetensors
arrays plus JSON metadata, without pickle.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any

import numpy as np

from rnnkit._tensor import Tensor, mark_modified

__all__ = ["Optimizer"]


class _ParamState(MutableMapping):
    """``param -> dict`` keyed by identity, creating an empty dict on first access.

    Behaves like PyTorch's ``defaultdict(dict)`` keyed by tensors, but works for any
    parameter object (hashable or not, and whatever its ``__eq__`` does).
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[Any, dict]] = {}  # id(param) -> (param, state)

    def __getitem__(self, param: Any) -> dict:
        entry = self._entries.get(id(param))
        if entry is None:
            entry = self._entries[id(param)] = (param, {})
        return entry[1]

    def __setitem__(self, param: Any, state: dict) -> None:
        self._entries[id(param)] = (param, state)

    def __delitem__(self, param: Any) -> None:
        del self._entries[id(param)]

    def __contains__(self, param: object) -> bool:
        return id(param) in self._entries

    def __iter__(self) -> Iterator[Any]:
        return (param for param, _ in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} parameters)"


def _is_param(obj: Any) -> bool:
    """True for objects that follow the parameter contract (``.data`` Tensor or ndarray, ``.grad``)."""
    return isinstance(getattr(obj, "data", None), (np.ndarray, Tensor)) and hasattr(obj, "grad")


def _values(param: Any) -> np.ndarray:
    """The ndarray behind ``param.data`` (shared memory: updates land in the parameter)."""
    return np.asarray(param.data)


def _check_ordered(params: Any) -> None:
    """Sets have no stable order, so the state_dict indices would change between runs."""
    if isinstance(params, (set, frozenset)):
        raise TypeError("params must be an ordered collection (list or tuple); the order of a set changes between runs")


def _check_real(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise TypeError naming the argument ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    return float(value)


def _check_range(name: str, label: str, value: Any, low: float, high: float | None = None) -> None:
    """Raise ``ValueError("Invalid <label>: <value> ...")`` unless ``low <= value`` (``< high``).

    The message starts as PyTorch's (``Invalid learning rate: -1``) and then names the
    argument and the accepted range. NaN is always rejected.
    """
    number = _check_real(name, value)
    if high is None and not number >= low:
        raise ValueError(f"Invalid {label}: {value} ({name} must be >= {low})")
    if high is not None and not low <= number < high:
        raise ValueError(f"Invalid {label}: {value} ({name} must be in [{low}, {high}))")


_LABELS = {"lr": "learning rate", "eps": "epsilon value"}  # PyTorch's words; other options: "<name> value"


def _check_nonnegative(group: Mapping[str, Any], *names: str) -> None:
    """:func:`_check_range` ``group[name] >= 0`` for each name in order, labelled as PyTorch labels it."""
    for name in names:
        _check_range(name, _LABELS.get(name, f"{name} value"), group[name], 0.0)


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start += weight * (end - start)`` in place, with PyTorch's two-sided formula for ``lerp_``.

    Equations (PyTorch rounds the same way)::

        start = start + weight * (end - start)          if |weight| < 0.5
        start = end - (end - start) * (1 - weight)      otherwise
    """
    if abs(weight) < 0.5:
        start += weight * (end - start)  # (*P)
    else:
        start[...] = end - (end - start) * (1 - weight)  # (*P)


def _to_array(value: Any) -> Any:
    """Turn tensors (rnnkit or torch, anything with ``.numpy()``) into ndarrays; leave others."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "numpy") and hasattr(value, "shape"):
        value = value.detach() if hasattr(value, "detach") else value
        return np.asarray(value.numpy())
    return value


class Optimizer:
    """Base class of every rnnkit optimizer (PyTorch's ``torch.optim.Optimizer``).

    Args:
        params: an iterable of parameters, or of dicts (parameter groups) each holding
            ``"params"`` and optional per-group options that override ``defaults``.
        defaults: the default options of every group (e.g. ``{"lr": 1e-3, ...}``).

    Attributes:
        param_groups: list of dicts, each with ``"params"`` (a list) and every option.
        state: ``param -> dict`` of per-parameter buffers (keyed by identity).
        defaults: the options given to the constructor.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> from rnnkit.optim import SGD
        >>> w = SimpleNamespace(data=np.ones(2), grad=None)
        >>> b = SimpleNamespace(data=np.zeros(1), grad=None)
        >>> opt = SGD([{"params": [w]}, {"params": [b], "lr": 1.0}], lr=0.1)
        >>> w.grad, b.grad = np.array([1.0, -1.0]), np.array([2.0])
        >>> opt.step()
        >>> w.data, b.data
        (array([0.9, 1.1]), array([-2.]))
    """

    _builds_lazily = False  # True for Keras's optimizers: they get their variables at the first apply()

    def __init__(self, params: Iterable[Any], defaults: Mapping[str, Any]) -> None:
        self.defaults = dict(defaults)
        self._validate(self.defaults)
        self.state: _ParamState = _ParamState()
        self.param_groups: list[dict[str, Any]] = []
        if _is_param(params) or isinstance(params, np.ndarray):
            raise TypeError(
                "params must be an iterable of parameters or of dicts (parameter groups), "
                f"got a single {type(params).__name__}; wrap it in a list"
            )
        _check_ordered(params)
        if not isinstance(params, Iterable):
            raise TypeError(f"params must be an iterable of parameters or dicts, got {type(params).__name__}")
        groups = list(params)
        if not groups and not self._builds_lazily:
            raise ValueError("optimizer got an empty parameter list (params is empty)")
        if groups and not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- hooks for subclasses --------------------------------------------------------
    def _validate(self, group: Mapping[str, Any]) -> None:
        """Raise ValueError/TypeError for bad options of one group (or of the defaults)."""

    def _init_state(self, param: np.ndarray, group: Mapping[str, Any]) -> dict[str, Any]:
        """The state of a parameter before its first step (``{}`` by default)."""
        return {}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: Mapping[str, Any]) -> None:
        """Apply one step to ``param`` (in place) given its ``grad`` and ``state``."""
        raise NotImplementedError

    def _params(self) -> Iterator[tuple[dict[str, Any], int, Any]]:
        """``(group, index in the group, param)`` for every parameter, group by group."""
        for group in self.param_groups:
            for i, param in enumerate(group["params"]):
                yield group, i, param

    def _state_for(self, param: Any, group: Mapping[str, Any]) -> dict[str, Any]:
        """The state of ``param``, created by :meth:`_init_state` the first time."""
        state = self.state[param]
        if not state:
            state.update(self._init_state(_values(param), group))
        return state

    # -- public API ------------------------------------------------------------------
    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group of parameters with its own options (the missing ones come from ``defaults``).

        Args:
            param_group: a dict with ``"params"`` (a parameter or a list of them) and options.
        """
        if not isinstance(param_group, Mapping):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"param_group must have a 'params' entry, got keys {sorted(param_group)}")
        group = dict(param_group)
        params = group["params"]
        _check_ordered(params)
        params = [params] if _is_param(params) else list(params)
        for i, param in enumerate(params):
            if not _is_param(param):
                raise TypeError(
                    "optimizer can only optimize parameters: objects with a Tensor or ndarray .data and a .grad "
                    f"attribute (e.g. rnnkit.nn.Parameter), but params[{i}] is {type(param).__name__}"
                )
            if _values(param).dtype.kind != "f":
                raise TypeError(f"params[{i}] must have a floating-point dtype, got {_values(param).dtype}")
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError("params contains the same parameter more than once in one group")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if seen.intersection(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._validate(group)
        group["params"] = params
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every gradient: to ``None`` (default) or to zeros in place."""
        for _, _, param in self._params():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()`` (or None).

        Args:
            closure: optional callable that re-evaluates the model and returns the loss;
                it is called once, before the update.
        """
        loss = closure() if closure is not None else None
        for group, i, param in self._params():
            if param.grad is None:
                continue
            values = _values(param)
            grad = np.asarray(_to_array(param.grad), dtype=values.dtype)  # keep the param dtype
            if grad.shape != values.shape:
                raise ValueError(
                    f"grad of params[{i}] has shape {grad.shape}, expected the parameter's shape {values.shape}"
                )
            self._update(values, grad, self._state_for(param, group), group)
            if isinstance(param, Tensor):
                mark_modified(param)
        return loss

    def state_dict(self) -> dict[str, Any]:
        """A snapshot of the optimizer: ``{"state": {index: {...}}, "param_groups": [...]}``.

        Parameters are replaced by their index in group order, as in PyTorch; arrays are copied.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {
            index[id(param)]: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in pstate.items()}
            for param, pstate in self.state._entries.values()
            if id(param) in index and pstate
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a state from :meth:`state_dict` (ours or a ``torch.optim`` one of the same class).

        Arrays are copied and cast to their parameter's dtype (``step`` stays an int); group
        options are replaced by the loaded ones.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        missing = [k for k in ("state", "param_groups") if k not in state_dict]
        if missing:
            raise ValueError(f"state_dict is missing {missing}; expected keys 'state' and 'param_groups'")
        saved_groups = copy.deepcopy(list(state_dict["param_groups"]))
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(saved_groups)} parameter groups, "
                f"the optimizer has {len(self.param_groups)}"
            )
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    f"loaded parameter group {i} has {len(saved['params'])} parameters, "
                    f"the optimizer's has {len(group['params'])}"
                )
        id_map = {
            int(saved_index): param
            for group, saved in zip(self.param_groups, saved_groups)
            for saved_index, param in zip(saved["params"], group["params"])
        }
        state = _ParamState()
        for key, pstate in state_dict["state"].items():
            if int(key) not in id_map:
                raise ValueError(f"state_dict['state'] has an entry for parameter {key}, which no group lists")
            param = id_map[int(key)]
            state[param] = {name: _cast_state(name, value, _values(param), key) for name, value in pstate.items()}
        for group, saved in zip(self.param_groups, saved_groups):
            saved["params"] = group["params"]
            for name, default in self.defaults.items():  # options missing from older state dicts
                saved.setdefault(name, default)
            self._validate(saved)
        self.param_groups = saved_groups
        self.state = state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


def _cast_state(name: str, value: Any, param: np.ndarray, key: Any) -> Any:
    """Copy one loaded state entry: arrays to the parameter's dtype and shape, ``step`` to int."""
    value = _to_array(value)
    if name == "step":
        return int(np.asarray(value).item())
    if isinstance(value, np.ndarray):
        if value.shape != param.shape:
            raise ValueError(
                f"state_dict['state'][{key}][{name!r}] has shape {value.shape}, expected the parameter's {param.shape}"
            )
        return np.array(value, dtype=param.dtype, copy=True)
    return copy.deepcopy(value)
