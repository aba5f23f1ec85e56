"""Shared fixtures: the reference frameworks, each skipped with a reason when it is not installed."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # must precede the first import of keras

import pytest


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on its torch backend."""
    keras = pytest.importorskip("keras", reason="Keras 3 is the reference for these parity tests")
    pytest.importorskip("torch", reason="Keras runs on its torch backend here")
    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras was imported with the {keras.backend.backend()} backend before this module")
    return keras


@pytest.fixture(scope="session")
def torch():
    return pytest.importorskip("torch", reason="torch is the reference for these tests")
