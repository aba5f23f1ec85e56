"""Shared fixtures: the reference frameworks, each skipped with a reason when it is not installed."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # must precede the first import of keras

import pytest
from helpers import KERNEL_VARIANTS


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


@pytest.fixture(scope="module")
def torch_single_thread():
    """Tiny tensors: torch's thread pool only costs time here (and spins on a busy machine)."""
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=KERNEL_VARIANTS)
def kernel(request):
    """Run the test under each recurrent kernel (numba on one thread, threaded at every size with
    packed weight panels at every length, and handing each step's product to a multi-threaded BLAS
    at every size), through kernels.use."""
    from rnnkit.cells import kernels

    name = request.param
    threads = 2 if name == "numba-mt" else 1
    blas_threads = 2 if name == "numba-blas" else 1
    pack_steps = 1 if name == "numba-mt" else kernels.PACK_STEPS
    with kernels.use(name.split("-")[0], threads=threads, parallel_flops=0, product_flops=0, blas_threads=blas_threads,
                     blas_rows=0, pack_steps=pack_steps):
        yield name
