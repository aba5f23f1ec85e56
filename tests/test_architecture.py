"""The structure ARCHITECTURE.md promises, checked on the source: every module imports, the import
graph has no circle, keras/ reaches nothing private in nn/, cells/ stays free of the autograd
layer, and no function in cells/ is longer than a screen."""

from __future__ import annotations

import ast
import importlib
import pathlib

import pytest

import rnnkit

SRC = pathlib.Path(rnnkit.__file__).resolve().parent.parent  # the directory holding the rnnkit package
MAX_LINES = 60  # per function in rnnkit/cells


def _modules() -> dict[str, pathlib.Path]:
    """Dotted name -> file of every module of the package."""
    found = {}
    for path in sorted((SRC / "rnnkit").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: pathlib.Path, *, top_level_only: bool) -> list[tuple[str, str]]:
    """(imported module, imported name or '') pairs of rnnkit modules; TYPE_CHECKING blocks excluded."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, str]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            here = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import) and (here or not top_level_only):
                found.extend((alias.name, "") for alias in child.names if alias.name.split(".")[0] == "rnnkit")
            elif isinstance(child, ast.ImportFrom) and (here or not top_level_only):
                base = child.module or ""
                if child.level:
                    parents = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parents + ([child.module] if child.module else []))
                if base.split(".")[0] == "rnnkit":
                    for alias in child.names:
                        full = f"{base}.{alias.name}"
                        found.append((full, "") if full in MODULES else (base, alias.name))
            visit(child, here)

    visit(ast.parse(path.read_text(encoding="utf-8")), True)
    return found


def _cycles(top_level_only: bool) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    graph = {name: sorted({m for m, _ in _imports(name, path, top_level_only=top_level_only)
                           if m in MODULES and m != name}) for name, path in MODULES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            connect(v)
    return found


def test_the_graph_sees_the_package():
    assert {"rnnkit", "rnnkit.cells.scan", "rnnkit._recurrent", "rnnkit.nn", "rnnkit.keras"} <= set(MODULES)
    assert ("rnnkit.cells.scan", "") in _imports("rnnkit._recurrent", MODULES["rnnkit._recurrent"],
                                                 top_level_only=True)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_imports(name):
    if name == "rnnkit.cells._numba":
        pytest.importorskip("numba")
    assert importlib.import_module(name).__name__ == name


def test_no_import_circle_at_import_time():
    assert _cycles(top_level_only=True) == []


def test_keras_imports_nothing_private_from_nn():
    offenders = []
    for name, path in MODULES.items():
        if not name.startswith("rnnkit.keras"):
            continue
        for module, attribute in _imports(name, path, top_level_only=False):
            parts = module.split(".")
            if parts[:2] == ["rnnkit", "nn"] and (any(p.startswith("_") for p in parts) or attribute.startswith("_")):
                offenders.append(f"{name}: {module} {attribute}".strip())
    assert offenders == []


FLOORS = {  # ARCHITECTURE.md's floors, by the first name under rnnkit (the package itself: its facade)
    "cells": 1, "_random": 1,
    "_tensor": 2, "_ops": 2, "_creation": 2, "_recurrent": 2, "_validation": 2, "serialization": 2,
    "_dtype": 2, "_grad_mode": 2, "_generator": 2, "_indexing": 2, "_linalg": 2, "_api": 2, "return_types": 2,
    "_safe_globals": 2,
    "nn": 3, "optim": 3, "keras": 3, "": 3,
    "cli": 4, "__main__": 4,
}


def _floor(module: str) -> int:
    """Any other package (forecast, onnx, utils, ...) is a library on the engine: floor 3."""
    return FLOORS.get(module.split(".")[1] if "." in module else "", 3)


def _upwards(top_level_only: bool) -> list[str]:
    return [f"{name} -> {module}" for name, path in MODULES.items()
            for module, _ in _imports(name, path, top_level_only=top_level_only)
            if module in MODULES and _floor(module) > _floor(name)]


def test_every_import_goes_down_the_floors():
    """At import time a module imports only from its own floor or below (the facade counts as floor 3)."""
    assert _upwards(top_level_only=True) == []


def test_no_circle_and_nothing_upwards_even_inside_functions():
    assert (_cycles(top_level_only=False), _upwards(top_level_only=False)) == ([], [])


def test_cells_never_import_the_autograd_layer():
    """cells/ is pure NumPy math: it may import rnnkit.cells.* and rnnkit._random only."""
    offenders = [f"{name}: {module}" for name, path in MODULES.items() if name.startswith("rnnkit.cells")
                 for module, _ in _imports(name, path, top_level_only=False)
                 if not module.startswith("rnnkit.cells") and module != "rnnkit._random"]
    assert offenders == []


def test_no_function_in_cells_is_longer_than_a_screen():
    too_long = []
    for name, path in MODULES.items():
        if name.startswith("rnnkit.cells"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > MAX_LINES:
                        too_long.append(f"{name}.{node.name}: {lines} lines")
    assert too_long == []
