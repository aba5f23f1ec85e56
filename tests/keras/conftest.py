"""The Keras reference for the dialect's parity tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module")
def K():
    """Keras 3 on the torch backend (skipped when either is missing).

    Torch runs single-threaded meanwhile: these models are tiny, and on a busy 2-core machine
    its thread pool makes Keras's steps 20-50 times slower.
    """
    os.environ["KERAS_BACKEND"] = "torch"
    torch = pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras was already imported with the {keras.backend.backend()} backend")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield keras
    torch.set_num_threads(threads)
