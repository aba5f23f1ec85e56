"""glibc's malloc set for recurring steps (rnnkit.cells._malloc): when it is set, when it is left
alone, and that a training step then stops faulting its pages in again."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rnnkit.cells import _malloc

LARGE = """
import resource, numpy as np
from rnnkit.cells import kernels
kernels.current()  # the first recurrent call's setting of malloc
def step():  # a gate buffer of 64 MiB, above glibc's largest mmap threshold, allocated and freed
    a = np.empty(2**24, np.float32); a.fill(1.0); return float(a[-1])
for _ in range(2): step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3): step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3)
"""

STEPS = """
import resource, rnnkit as torch
m = torch.nn.LSTM(64, 128, 2); opt = torch.optim.Adam(m.parameters())
x = torch.randn(64, 32, 64)
def step():
    opt.zero_grad(); m(x)[0].square().mean().backward(); opt.step()
for _ in range(3): step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5): step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


def recorder():
    calls = []
    return calls, lambda option, value: calls.append((option, value)) or 1


def test_tune_sets_both_thresholds_and_no_mapped_blocks_by_default():
    calls, mallopt = recorder()
    assert _malloc.tune({}, mallopt) == "steps"
    assert calls == [(-3, _malloc.MMAP_THRESHOLD), (-1, _malloc.TRIM_THRESHOLD), (-4, _malloc.MMAP_MAX)]
    assert _malloc.MMAP_MAX == 0
    assert _malloc.MMAP_THRESHOLD == 32 * 2**20 and _malloc.TRIM_THRESHOLD == 256 * 2**20


@pytest.mark.parametrize("environ, outcome", [
    ({"RNNKIT_MALLOC": "system"}, "system"),
    ({"RNNKIT_MALLOC": " System "}, "system"),
    ({"MALLOC_TRIM_THRESHOLD_": "131072"}, "user"),
    ({"MALLOC_MMAP_THRESHOLD_": "65536"}, "user"),
    ({"MALLOC_MMAP_MAX_": "65536"}, "user"),
    ({"MALLOC_TOP_PAD_": "0"}, "user"),
    ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}, "user"),
])
def test_tune_leaves_malloc_alone_where_the_environment_says(environ, outcome):
    calls, mallopt = recorder()
    assert _malloc.tune(environ, mallopt) == outcome
    assert calls == []


def test_tune_without_glibc_does_nothing():
    assert _malloc.tune({}, None) == "not glibc"
    assert _malloc.tune({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX"}, lambda option, value: 0) == "not glibc"


def test_a_bad_setting_names_the_variable():
    with pytest.raises(ValueError, match=r"RNNKIT_MALLOC: expected 'steps' or 'system', got 'keep'"):
        _malloc.tune({"RNNKIT_MALLOC": "keep"}, None)


@pytest.mark.skipif(_malloc._glibc_mallopt() is None, reason="the C library is not glibc")
def test_a_training_step_stops_faulting_its_pages_in_again():
    """Against glibc's own defaults (RNNKIT_MALLOC=system) in the same program: page faults a
    step of a 2-layer LSTM's training, after three warm-up steps."""
    faults = {}
    for choice in ("steps", "system"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
        env.update(RNNKIT_MALLOC=choice, RNNKIT_KERNEL="numpy")
        done = subprocess.run([sys.executable, "-c", STEPS], env=env, capture_output=True, text=True, check=True)
        faults[choice] = float(done.stdout.split()[-1])
    assert faults["steps"] < 50, faults  # each of the step's arrays is about 4 MiB: 1,000 pages
    assert faults["steps"] * 10 < faults["system"], faults


@pytest.mark.skipif(_malloc._glibc_mallopt() is None, reason="the C library is not glibc")
def test_a_block_above_the_largest_mmap_threshold_stops_faulting_its_pages_in_again():
    """A 64 MiB array allocated and freed at every step: mapped fresh each time with glibc's
    defaults (RNNKIT_MALLOC=system: 32 huge pages or 16,384 small ones a step), kept in the
    heap with rnnkit's setting (no mapped blocks)."""
    faults = {}
    for choice in ("steps", "system"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
        env.update(RNNKIT_MALLOC=choice)
        done = subprocess.run([sys.executable, "-c", LARGE], env=env, capture_output=True, text=True, check=True)
        faults[choice] = float(done.stdout.split()[-1])
    assert faults["system"] >= 32 and faults["steps"] < 4, faults
