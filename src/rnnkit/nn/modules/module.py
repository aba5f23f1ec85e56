"""``Module`` and ``Parameter``: PyTorch's module contract on NumPy."""

from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Any, Iterator, Mapping

import numpy as np

from rnnkit._dtype import device, dtype_from_type_name, to_device, to_dtype
from rnnkit._tensor import Tensor, array_of, mark_modified

__all__ = ["Module", "Parameter"]


class Parameter(Tensor):
    """A Tensor that is a module's weight: it requires grad and is listed by ``parameters()``.

    Args:
        data: a Tensor (shared, as ``torch.nn.Parameter``) or array-like (copied); None
            makes an empty float tensor.
        requires_grad: whether the optimizer's backward fills ``.grad``.
    """

    def __init__(self, data: Any = None, requires_grad: bool = True):
        if isinstance(data, Tensor):
            array = array_of(data)
        elif data is None:
            array = np.zeros(0, np.float32)
        else:
            array = np.array(data, copy=True)
        super().__init__(array, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer, as ``torch.nn.Module``.

    Attributes that are :class:`Parameter` or :class:`Module` are registered by assignment;
    ``state_dict`` names them with dotted paths (``lstm.weight_ih_l0``).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Record each module's constructor arguments (what ``rnnkit.save(module)`` stores)."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def recording_init(self, *args: Any, **kw: Any) -> None:
            if "_constructor" not in self.__dict__:  # the outermost class's call
                object.__setattr__(self, "_constructor", (args, kw))
            init(self, *args, **kw)

        cls.__init__ = recording_init

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration ------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            if isinstance(value, (Parameter, Module)):
                raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning {name}")
            object.__setattr__(self, name, value)
            return
        if isinstance(value, Parameter):
            target = self._parameters
        elif isinstance(value, Module):
            target = self._modules
        elif name in self._buffers and (value is None or isinstance(value, np.ndarray)):
            target = self._buffers  # assigning to a buffer updates it, as torch
        else:
            target = None
        for store in (self._parameters, self._modules, self._buffers):
            if store is not target:
                store.pop(name, None)
        if target is None:
            object.__setattr__(self, name, value)
        else:
            self.__dict__.pop(name, None)  # a plain attribute of that name would shadow the registered one
            target[name] = value  # re-assigning keeps the registration order

    def __getattr__(self, name: str) -> Any:
        for store in ("_parameters", "_modules", "_buffers"):
            values = self.__dict__.get(store)
            if values is not None and name in values:
                return values[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._modules, self._buffers):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, array: np.ndarray | None) -> None:
        """A persistent non-trainable array (saved in ``state_dict``)."""
        self.__dict__.pop(name, None)
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers[name] = array

    def add_module(self, name: str, module: Module | None) -> None:
        if module is None:
            self._modules[name] = None
        else:
            setattr(self, name, module)

    # -- traversal ---------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def children(self) -> Iterator[Module]:
        yield from (m for m in self._modules.values() if m is not None)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        seen: set[int] = set()
        for path, module in self.named_modules(prefix):
            for name, param in module._parameters.items():
                if id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{path}.{name}" if path else name), param

    def parameters(self) -> Iterator[Parameter]:
        for _, param in self.named_parameters():
            yield param

    # -- state -------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, Tensor]:
        """Every parameter and buffer by dotted name, as detached Tensors sharing the live memory (as torch)."""
        state: OrderedDict[str, Tensor] = OrderedDict()
        for path, module in self.named_modules():
            dot = f"{path}." if path else ""
            for name, param in module._parameters.items():
                if param is not None:
                    state[dot + name] = param.detach()
            for name, buf in module._buffers.items():
                if buf is not None:
                    state[dot + name] = buf.detach() if isinstance(buf, Tensor) else Tensor(buf)
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy arrays (or Tensors, or anything with ``.numpy()``) into the parameters in place.

        Every key, shape and dtype is checked before anything is copied, so a failed load
        leaves every parameter as it was (as torch's strict load). Values are cast to the
        parameter's dtype (float64 into float32, say); complex, string and object arrays are
        refused rather than silently truncated.

        Raises:
            TypeError: ``state_dict`` is not a mapping, a key is not a str, or a value has a
                dtype that cannot become the parameter's (naming the key).
            ValueError: naming every missing, unexpected and mis-shaped key (shapes always;
                missing and unexpected keys when ``strict``).
        Returns:
            ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict(state_dict): expected a mapping of str to arrays, "
                            f"got {type(state_dict).__name__}")
        own = self.state_dict()
        given = {}
        for key, value in state_dict.items():
            if not isinstance(key, str):
                raise TypeError(f"load_state_dict: keys must be str, got {type(key).__name__} {key!r}")
            given[key] = _as_array(key, value)
        missing = [k for k in own if k not in given]
        unexpected = [k for k in given if k not in own]
        for key in own:
            if key in given and not _castable(given[key].dtype, own[key].dtype):
                raise TypeError(f"load_state_dict for {type(self).__name__}: {key} has dtype {given[key].dtype}, "
                                f"which cannot be loaded into a {np.dtype(own[key].dtype)} parameter")
        misshaped = [
            f"{k}: expected shape {own[k].shape}, got {given[k].shape}"
            for k in own
            if k in given and own[k].shape != given[k].shape
        ]
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if misshaped:
            problems.append("mis-shaped keys: " + "; ".join(misshaped))
        if problems:
            raise ValueError(f"load_state_dict for {type(self).__name__}: " + " | ".join(problems))
        for key, target in own.items():  # every check passed: nothing below can fail half-way
            if key in given:
                np.copyto(array_of(target), given[key], casting="unsafe")  # target: a view of the parameter
                mark_modified(target)
        return missing, unexpected

    # -- modes and dtypes ----------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad.detach().zero_()

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for param in self.parameters():
            param.requires_grad = requires_grad
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(tensor)``, as ``torch.nn.Module.to``.

        Casts every floating parameter (and its gradient) and buffer in place; the device
        must be the CPU, and the dtype float32 or float64 (what the recurrent kernels run in).
        """
        probe = Tensor._wrap(np.zeros(0, np.float32)).to(*args, **kwargs)  # parses and checks the arguments
        explicit = kwargs.get("dtype") is not None or any(
            not isinstance(a, (str, device, bool)) or isinstance(a, str) and a.startswith("torch.") for a in args
        )
        return self._cast(probe.dtype) if explicit else self

    def _cast(self, dtype: Any) -> Module:
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"to(dtype): expected a floating dtype float32 or float64, got {dtype}")
        for module in self.modules():
            for param in module._parameters.values():
                if param is None or param.dtype.kind != "f":
                    continue
                param.data = array_of(param).astype(dtype)
                param.grad = None if param.grad is None else param.grad.astype(dtype)
            for name, buf in module._buffers.items():
                if buf is not None and buf.dtype.kind == "f":
                    module._buffers[name] = buf.astype(dtype)
            if "dtype" in module.__dict__:
                object.__setattr__(module, "dtype", dtype)
        return self

    def type(self, dst_type: Any) -> Module:
        """Cast every floating parameter and buffer to ``dst_type``."""
        return self._cast(dtype_from_type_name(dst_type) if isinstance(dst_type, str) else to_dtype(dst_type))

    def double(self) -> Module:
        return self._cast(np.float64)

    def float(self) -> Module:
        return self._cast(np.float32)

    def cpu(self) -> Module:
        return self

    def cuda(self, device: Any = None) -> Module:
        to_device("cuda", "cuda()")
        return self  # pragma: no cover - to_device always raises for cuda

    def apply(self, fn) -> Module:
        for module in self.modules():
            fn(module)
        return self

    # -- calling -----------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args: Any, **kwargs: Any):
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _as_array(key: str, value: Any) -> np.ndarray:
    """``value`` (array, Tensor, torch tensor, nested list) as an ndarray; TypeError naming ``key`` otherwise."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, Tensor):
        return array_of(value)
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        return value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as error:  # ragged lists and the like
        raise TypeError(f"load_state_dict: {key} is not an array ({error})") from None


def _castable(source: np.dtype, target: np.dtype) -> bool:
    """Whether values of ``source`` may be loaded into a ``target`` parameter (as torch's ``copy_``, minus complex)."""
    if source.kind not in "biuf":  # complex (the imaginary part would be lost), strings, objects, datetimes
        return False
    return target.kind in "fc" or np.can_cast(source, target, casting="same_kind")
