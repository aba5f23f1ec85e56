"""The name -> object lookup behind ``get``/``serialize``/``deserialize`` of rnnkit.keras's
constraints, regularizers and initializers (and the config-dict pieces losses, metrics and
optimizers share), and :data:`LAYERS`, the class registry every layer and model class enters
where it is defined: rebuilding a layer from its config looks the class up there, so layers,
wrappers, models and saving never import each other to find a class.

A serialized object is Keras's ``{"class_name": <class name>, "config": <get_config()>}``.

Example:
    >>> class Scale(Configurable):
    ...     def __init__(self, k=1.0):
    ...         self.k = k
    ...     def get_config(self):
    ...         return {"k": self.k}
    >>> scales = Registry("scale", Scale, names={"Scale": Scale, "scale": Scale}, classes={"Scale": Scale})
    >>> scales.get("scale"), scales.serialize(Scale(2.0))
    (Scale(k=1.0), {'class_name': 'Scale', 'config': {'k': 2.0}})
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "Configurable", "Registry", "ClassRegistry", "LAYERS", "class_config", "from_class_config", "to_snake_case",
    "snake_per_capital",
]


def to_snake_case(name: str) -> str:
    """``SimpleRNN`` -> ``simple_rnn``, ``TimeDistributed`` -> ``time_distributed`` (Keras's rule)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def snake_per_capital(name: str) -> str:
    """``MeanSquaredError`` -> ``mean_squared_error``: an underscore before every capital (``SGD`` -> ``s_g_d``);
    the default names of losses, metrics and optimizers."""
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


class Configurable:
    """Keras's config protocol: ``get_config()`` (a JSON-able dict), ``from_config(config)`` and a
    ``repr`` that lists the config."""

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Any:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def class_config(obj: Any) -> dict:
    """``{"class_name": type(obj).__name__, "config": obj.get_config()}``."""
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def from_class_config(classes: Mapping[str, type], name: Any, config: dict, argument: str, kind: str) -> Any:
    """``classes[name].from_config(config's "config")``; ValueError naming ``argument`` for an unknown name."""
    if name not in classes:
        raise ValueError(f"{argument}: unknown {kind} class {name!r}; expected one of {sorted(classes)}")
    return classes[name].from_config(dict(config.get("config") or {}))


class Registry:
    """``get``/``serialize``/``deserialize`` for one family of Keras objects.

    Args:
        kind: the family's singular name, used in messages ("constraint").
        base: the family's base class; ``get`` instantiates its subclasses, ``serialize`` accepts its instances.
        names: name (class names and aliases) -> factory called without arguments by ``get``.
        classes: class name -> class accepted by ``deserialize``.
        refuse: subclasses of ``base`` that ``serialize`` refuses (they have no config).
    """

    def __init__(self, kind: str, base: type, names: Mapping[str, Callable], classes: Mapping[str, type],
                 refuse: tuple[type, ...] = ()):
        self.kind, self.base, self.names, self.classes = kind, base, dict(names), dict(classes)
        self.refuse = refuse

    def get(self, identifier: Any, argument: str | None = None) -> Any:
        """An object from a name, a config dict, a class, an instance, a callable or None.

        Raises:
            ValueError: an unknown name (named after ``argument``, listing the known names).
            TypeError: anything else.
        """
        argument = argument or self.kind
        if identifier is None:
            return None
        if isinstance(identifier, dict):
            return self.deserialize(identifier, argument)
        if isinstance(identifier, str):
            if identifier not in self.names:
                raise ValueError(
                    f"{argument}: unknown {self.kind} {identifier!r}; expected one of {sorted(self.names)}"
                )
            return self.names[identifier]()
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        if callable(identifier):
            return identifier
        raise TypeError(
            f"{argument}: expected a {self.kind} name, instance or callable, got {type(identifier).__name__}"
        )

    def serialize(self, obj: Any) -> dict | None:
        """``{"class_name": ..., "config": {...}}`` (JSON-able); None for None.

        Raises:
            TypeError: ``obj`` is not an instance of ``base`` (or is one of the ``refuse`` types).
        """
        if obj is None:
            return None
        if not isinstance(obj, self.base) or isinstance(obj, self.refuse):
            raise TypeError(f"{self.kind}: cannot serialize {obj!r}; use a keras.{self.kind}s class")
        return class_config(obj)

    def deserialize(self, config: dict, argument: str | None = None) -> Any:
        """Inverse of :meth:`serialize`."""
        return from_class_config(self.classes, config.get("class_name"), config, argument or self.kind, self.kind)


class ClassRegistry:
    """Class name -> class for the objects that configs name (layers and models), filled by the
    :meth:`register` decorator where each class is defined.

    ``deserialize`` looks a class up here, so the modules that rebuild layers from configs
    (wrappers, recurrent layers, models, saving) import this registry instead of each other.
    Only registered classes and the ``custom_objects`` passed in are ever built.

    Example:
        >>> shapes = ClassRegistry("shape")
        >>> @shapes.register()
        ... class Square(Configurable):
        ...     def __init__(self, side=1):
        ...         self.side = side
        ...     def get_config(self):
        ...         return {"side": self.side}
        >>> shapes.deserialize(shapes.serialize(Square(3)))
        Square(side=3)
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._classes: dict[str, type] = {}

    def register(self, *names: str) -> Callable[[type], type]:
        """A class decorator: register the class under its own name and ``names``."""

        def decorate(cls: type) -> type:
            for name in (cls.__name__, *names):
                self._classes[name] = cls
            return cls

        return decorate

    def add(self, name: str, cls: type) -> None:
        """Register ``cls`` under ``name`` (``keras.saving.custom_object_scope``)."""
        self._classes[name] = cls

    def remove(self, name: str) -> None:
        """Forget the class registered under ``name``."""
        self._classes.pop(name, None)

    def classes(self, custom_objects: Mapping[str, Any] | None = None) -> dict[str, type]:
        """The registered classes, updated with ``custom_objects``."""
        return {**self._classes, **(custom_objects or {})}

    def serialize(self, obj: Any) -> dict:
        """``{"class_name": type(obj).__name__, "config": obj.get_config()}``."""
        return class_config(obj)

    def deserialize(self, config: Any, custom_objects: Mapping[str, Any] | None = None) -> Any:
        """Rebuild an object from :meth:`serialize`'s output; ``custom_objects`` maps extra class names to classes
        (and is handed on to ``from_config`` when it takes it, for nested objects).

        Raises:
            TypeError: ``config`` is not a ``{"class_name", "config"}`` dict.
            ValueError: an unknown class name (listing the known ones).
        """
        if not isinstance(config, dict) or "class_name" not in config:
            raise TypeError(f"config: expected a dict with 'class_name' and 'config', got {config!r}")
        classes = self.classes(custom_objects)
        name = config["class_name"]
        if name not in classes:
            raise ValueError(f"config: unknown {self.kind} class {name!r}; expected one of {sorted(classes)} "
                             f"(pass custom_objects={{{name!r}: cls}} for your own {self.kind}s)")
        cls, inner = classes[name], dict(config.get("config") or {})
        if custom_objects and "custom_objects" in inspect.signature(cls.from_config).parameters:
            return cls.from_config(inner, custom_objects=custom_objects)
        return cls.from_config(inner)


LAYERS = ClassRegistry("layer")  # every built-in layer and model class, registered where it is defined
