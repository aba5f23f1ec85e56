"""rnnkit.set_num_threads / get_num_threads, as torch's: the count the recurrent loops then use."""

from __future__ import annotations

import pytest

import rnnkit
from rnnkit.cells import kernels


@pytest.fixture
def restore_threads():
    saved = list(kernels._threads_set)
    yield
    kernels._threads_set[:] = saved
    kernels._from_environment.cache_clear()


def test_set_num_threads_sets_what_the_loops_use(restore_threads):
    torch = pytest.importorskip("torch")
    assert isinstance(rnnkit.get_num_threads(), int) and rnnkit.get_num_threads() >= 1
    for count in (1, 3, 2):
        rnnkit.set_num_threads(count)
        torch_before = torch.get_num_threads()
        torch.set_num_threads(count)
        try:
            assert rnnkit.get_num_threads() == torch.get_num_threads() == count
        finally:
            torch.set_num_threads(torch_before)
        assert kernels.current().threads == count
        with kernels.use("numpy"):  # a block without its own count takes the process's
            assert kernels.current().threads == count
        with kernels.use("numpy", threads=5):  # one with its own keeps it
            assert rnnkit.get_num_threads() == 5


def test_a_layer_runs_the_same_on_any_count(restore_threads):
    """The count changes which loop runs (one thread or a team), never the numbers."""
    rnnkit.manual_seed(0)
    lstm = rnnkit.nn.LSTM(8, 64)
    x = rnnkit.randn(20, 16, 8)
    outputs = []
    for count in (1, 2):
        rnnkit.set_num_threads(count)
        with rnnkit.no_grad():
            outputs.append(lstm(x)[0].numpy())
    assert abs(outputs[0] - outputs[1]).max() < 1e-5


@pytest.mark.parametrize("bad, error, message", [
    (0, ValueError, "set_num_threads: expected an int >= 1, got 0"),
    (-2, ValueError, "set_num_threads: expected an int >= 1, got -2"),
    (1.5, TypeError, "set_num_threads: expected an int >= 1, got float 1.5"),
    (True, TypeError, "set_num_threads: expected an int >= 1, got bool True"),
    ("2", TypeError, "set_num_threads: expected an int >= 1, got str '2'"),
])
def test_set_num_threads_refuses_what_is_not_a_count(restore_threads, bad, error, message):
    before = rnnkit.get_num_threads()
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        rnnkit.set_num_threads(bad)
    assert rnnkit.get_num_threads() == before


def test_kernels_set_threads_names_its_argument(restore_threads):
    with pytest.raises(ValueError, match="threads: expected an int >= 1, got 0"):
        kernels.set_threads(0)
    with pytest.raises(TypeError, match="threads: expected an int >= 1, got NoneType None"):
        kernels.set_threads(None)
