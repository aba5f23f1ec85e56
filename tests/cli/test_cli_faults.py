"""Crashes and races: a checkpoint survives a failure or a kill at every file operation, one writer per run.

Every test ends the same way: the run directory loads (``sample`` and ``inspect`` work),
``train --resume`` completes, and the final weights, optimizer state and RNG state are
bit-identical to those of an uninterrupted run. Faults are injected through the seam
:class:`rnnkit.cli.checkpoint.FileOps` (in this process, or in a subprocess that is then
killed for real).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import rnnkit
from rnnkit.cli import checkpoint, main, plots, rundir

# a constant learning rate: a run of 2 steps resumed to 4 must equal a run of 4 (a decay would end at each total)
ARGS = ["--layers", "1", "--hidden", "8", "--embed", "4", "--seq-len", "8", "--batch-size", "2", "--dropout", "0.1",
        "--decay", "constant", "--warmup", "0", "--eval-every", "2", "--steps", "4"]
OPS = ("mkdir", "write", "fsync_dir", "rename", "remove_tree")
SRC = os.path.dirname(os.path.dirname(rnnkit.__file__))


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    rng = np.random.default_rng(1)
    words = "rain fell on the quiet hills while small rivers ran to the sea".split()
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text("\n".join(" ".join(rng.choice(words, 8)) + "." for _ in range(60)) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(autouse=True)
def _no_plots(monkeypatch):
    monkeypatch.setattr(plots, "loss_curves", lambda *args, **kwargs: True)  # speed only: no figure to draw


def final_state(out):
    """What must be bit-identical: the weights, the training state and the RNG state of the last checkpoint."""
    unit = checkpoint.latest(out)
    config = json.load(open(os.path.join(unit, checkpoint.CONFIG)))
    files = {name: open(os.path.join(unit, name), "rb").read() for name in (checkpoint.MODEL, checkpoint.TRAINING_STATE)}
    return config["step"], config["rng_state"], files


@pytest.fixture(scope="module")
def reference(text, tmp_path_factory):
    """The uninterrupted run, and the sequence of file operations its commits made."""
    out = str(tmp_path_factory.mktemp("ref") / "run")
    calls = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plots, "loss_curves", lambda *args, **kwargs: True)
        for name in OPS:
            real = getattr(checkpoint.FileOps, name)
            patch.setattr(checkpoint.FileOps, name,
                          lambda self, *args, _real=real, _name=name: (calls.append((_name, args[0])), _real(self, *args))[1])
        assert main(["train", "--text", text, *ARGS, "--out", out]) == 0
    commits = [i for i, (name, _) in enumerate(calls) if name == "mkdir"]
    assert len(commits) == 3  # steps 0, 2 and 4
    middle = list(range(commits[1] + 1, commits[2] + 1))  # 1-based numbers of the step-2 commit's operations
    assert [calls[i - 1][0] for i in middle] == ["mkdir", "write", "write", "write", "write", "fsync_dir", "rename",
                                                 "fsync_dir", "rename", "remove_tree"]
    return final_state(out), middle


def assert_recovers(out, text, reference, capsys, args=ARGS):
    """The directory loads, --resume completes, and the result is bit-identical to the reference."""
    if checkpoint.latest(out) is None:  # killed before the first commit: nothing to load, start again
        assert main(["train", "--text", text, *args, "--out", out]) == 0
    else:
        assert main(["sample", out, "--length", "5", "--seed", "0"]) == 0
        assert main(["inspect", out]) == 0
        assert main(["train", "--out", out, "--resume"]) == 0
    capsys.readouterr()
    assert final_state(out) == reference
    assert sorted(n for n in os.listdir(out) if n.startswith((".", "checkpoint-"))) == [".rnnkit.lock",
                                                                                        f"checkpoint-{reference[0]}"]


def fail_at(patch, target, fault):
    """Make file operation number ``target`` (1-based, counted over the run) call ``fault()`` first."""
    count = [0]
    for name in OPS:
        real = getattr(checkpoint.FileOps, name)

        def op(self, *args, _real=real):
            count[0] += 1
            if count[0] == target:
                fault()
            return _real(self, *args)

        patch.setattr(checkpoint.FileOps, name, op)


def test_an_error_at_every_file_operation_of_a_checkpoint_loses_nothing(text, reference, tmp_path, monkeypatch,
                                                                         capsys):
    state, middle = reference
    for target in middle:
        out = str(tmp_path / f"run{target}")

        def disk_error():
            raise OSError(5, "Input/output error")

        with monkeypatch.context() as patch:
            fail_at(patch, target, disk_error)
            status = main(["train", "--text", text, *ARGS, "--out", out])
        err = capsys.readouterr().err
        if status:  # an error before the commit point is reported as one line
            assert status == 1 and "Input/output error" in err and len(err.strip().splitlines()) == 1, err
        assert checkpoint.latest(out).endswith(("checkpoint-0", "checkpoint-2", "checkpoint-4"))
        assert_recovers(out, text, state, capsys)


@pytest.mark.parametrize("signals,status", [
    ((signal.SIGINT, signal.SIGINT), 130),  # the first asks the loop to stop after the step, the second interrupts
    ((signal.SIGTERM, signal.SIGTERM), 130),  # at once: inside the commit
    ((signal.SIGTERM,), 143),  # one: the commit completes, then the loop saves and stops
])
def test_signals_inside_every_file_operation_lose_nothing(text, reference, tmp_path, monkeypatch, capsys, signals,
                                                         status):
    state, middle = reference
    for target in middle:
        out = str(tmp_path / f"run{target}")

        def deliver():
            for sig in signals:
                os.kill(os.getpid(), sig)

        with monkeypatch.context() as patch:
            fail_at(patch, target, deliver)
            assert main(["train", "--text", text, *ARGS, "--out", out]) == status
        assert "Traceback" not in capsys.readouterr().err
        assert_recovers(out, text, state, capsys)


KILLER = textwrap.dedent("""
    import os, signal, sys
    from rnnkit.cli import checkpoint, main, plots
    plots.loss_curves = lambda *args, **kwargs: True
    target, sig, count = int(sys.argv[1]), int(sys.argv[2]), [0]
    for name in {ops!r}:
        def op(self, *args, _real=getattr(checkpoint.FileOps, name)):
            count[0] += 1
            if count[0] == target:
                os.kill(os.getpid(), sig)
            return _real(self, *args)
        setattr(checkpoint.FileOps, name, op)
    sys.exit(main(sys.argv[3:]))
""").format(ops=OPS)


def run_python(code, *args, timeout=120):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_sigkill_at_every_file_operation_of_a_checkpoint(text, reference, tmp_path, capsys):
    state, middle = reference
    for target in middle:
        out = str(tmp_path / f"run{target}")
        done = run_python(KILLER, target, int(signal.SIGKILL), "train", "--text", text, *ARGS, "--out", out)
        assert done.returncode == -signal.SIGKILL, done.stderr
        assert_recovers(out, text, state, capsys)


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_inside_the_commit_save_and_stop(text, reference, tmp_path, capsys, sig, status):
    state, middle = reference
    out = str(tmp_path / "run")
    rename = middle[6]  # the commit point itself
    done = run_python(KILLER, rename, int(sig), "train", "--text", text, *ARGS, "--out", out)
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr and "--resume" in done.stdout
    assert checkpoint.latest(out).endswith("checkpoint-2")
    assert_recovers(out, text, state, capsys)


LONGER = [*ARGS[:-3], "3", "--steps", "8"]  # checkpoints at steps 0, 3, 6 and 8
STEPPER = textwrap.dedent("""
    import sys
    from rnnkit.cli import train
    from rnnkit.cli.options import build_parser, parse
    command, opts, given = parse(build_parser(), sys.argv[1:])
    sys.exit(train.run(opts, given, on_step=lambda step: print(f"step={step}", flush=True)))
""")


@pytest.fixture(scope="module")
def longer_reference(text, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("ref") / "run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plots, "loss_curves", lambda *args, **kwargs: True)
        assert main(["train", "--text", text, *LONGER, "--out", out]) == 0
    return final_state(out)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_a_signal_at_a_random_moment(text, longer_reference, tmp_path, capsys, sig):
    """A real signal at a random moment of a running training process: after a random step, a random delay."""
    rng = np.random.default_rng(int(sig))
    after, delay = int(rng.integers(1, 7)), rng.uniform(0.0, 0.02)  # steps 7 and 8 and their checkpoints remain
    out = str(tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen([sys.executable, "-c", STEPPER, "train", "--text", text, *LONGER, "--out", out],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in child.stdout:
            if line.strip() == f"step={after}":
                break
        time.sleep(delay)
        child.send_signal(sig)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode in (-signal.SIGKILL, 128 + sig), (child.returncode, err)  # it was still running
    assert "Traceback" not in err
    assert_recovers(out, text, longer_reference, capsys, LONGER)


def test_leftovers_of_a_killed_writer_are_cleaned_at_the_next_start(text, reference, tmp_path, capsys):
    state, middle = reference
    out = str(tmp_path / "run")
    done = run_python(KILLER, middle[3], int(signal.SIGKILL), "train", "--text", text, *ARGS, "--out", out)
    assert done.returncode == -signal.SIGKILL
    assert [n for n in os.listdir(out) if n.startswith(".tmp-checkpoint-2-")]  # killed half-way through a commit
    assert checkpoint.latest(out).endswith("checkpoint-0")  # readers see the previous one, whole
    assert main(["train", "--out", out, "--resume"]) == 0
    capsys.readouterr()
    assert not [n for n in os.listdir(out) if n.startswith((".tmp", ".trash"))]
    assert final_state(out) == state


def test_a_reader_follows_a_checkpoint_published_while_it_reads(text, tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "--text", text, *ARGS[:-1], "2", "--out", out]) == 0
    real = checkpoint.serialization.read_header

    def racing(path):  # a writer publishes checkpoint-3 and removes checkpoint-2 while sample reads it
        unit = os.path.dirname(path)
        if unit.endswith("checkpoint-2"):
            newer = os.path.join(out, "checkpoint-3")
            shutil.copytree(unit, newer)
            config = json.load(open(os.path.join(newer, checkpoint.CONFIG)))
            json.dump({**config, "step": 3}, open(os.path.join(newer, checkpoint.CONFIG), "w"))
            shutil.rmtree(unit)
        return real(path)

    monkeypatch.setattr(checkpoint.serialization, "read_header", racing)
    capsys.readouterr()
    assert main(["inspect", out]) == 0
    assert "training: step 3" in capsys.readouterr().out


def test_a_renamed_checkpoint_directory_is_named(text, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "--text", text, *ARGS[:-1], "2", "--out", out]) == 0
    os.rename(os.path.join(out, "checkpoint-2"), os.path.join(out, "checkpoint-9"))
    capsys.readouterr()
    assert main(["train", "--out", out, "--resume"]) == 2
    assert "checkpoint-9/config.json: step: 2, but the directory is named for step 9" in capsys.readouterr().err


# -- one writer per run directory -----------------------------------------------------------------
def test_a_second_writer_is_refused_with_the_holders_pid(text, tmp_path, capsys):
    out = str(tmp_path / "run")
    with rundir.lock(out):
        assert main(["train", "--text", text, *ARGS, "--out", out]) == 2
        assert main(["lab", "adding", "--steps", "1", "--cells", "rnn", "--out", out]) == 2
        csv = tmp_path / "series.csv"
        csv.write_text("y\n" + "\n".join(str(np.sin(i / 3)) for i in range(80)) + "\n")
        assert main(["forecast", str(csv), "--column", "y", "--epochs", "1", "--window", "4", "--out", out]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 3
        assert all(f"another rnnkit process (PID {os.getpid()}) is writing to it" in line for line in err)
        assert os.listdir(out) == [rundir.LOCK_FILE]  # the refused commands wrote nothing
    assert main(["train", "--text", text, *ARGS, "--out", out]) == 0  # released: the next writer goes ahead


def test_two_concurrent_training_processes_on_one_out(text, tmp_path, capsys):
    out = str(tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    slow = [a if a != "4" else "400" for a in ARGS]  # long enough to be running while the second one starts
    child = subprocess.Popen([sys.executable, "-m", "rnnkit", "train", "--text", text, *slow, "--out", out],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while checkpoint.latest(out) is None and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert child.poll() is None
        assert main(["train", "--text", text, *ARGS, "--out", out]) == 2
        assert main(["train", "--out", out, "--resume"]) == 2
        err = capsys.readouterr().err
        assert err.count(f"(PID {child.pid}) is writing to it") == 2
        child.send_signal(signal.SIGINT)
        child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130  # it saved and stopped; its checkpoint is whole and its own
    config = json.load(open(os.path.join(checkpoint.latest(out), checkpoint.CONFIG)))
    assert config["train"]["steps"] == 400
    assert main(["inspect", out]) == 0


# -- a full disk, a read-only directory -----------------------------------------------------------
@contextlib.contextmanager
def tmpfs(path, size):
    """A small tmpfs at ``path`` (skips the test where it cannot be mounted, e.g. not as root)."""
    os.makedirs(path)
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux (CI runs as root)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=False)


def test_a_full_disk_keeps_the_previous_checkpoint(text, reference, tmp_path, capsys):
    state, _ = reference
    with tmpfs(str(tmp_path / "disk"), "1m") as disk:
        out = os.path.join(disk, "run")
        assert main(["train", "--text", text, *ARGS[:-1], "2", "--out", out]) == 0
        capsys.readouterr()
        before = {n: open(os.path.join(checkpoint.latest(out), n), "rb").read() for n in os.listdir(checkpoint.latest(out))}
        filler = os.path.join(disk, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):  # fill the disk to the last block
            while os.write(fd, b"\0" * 4096):
                pass
        os.close(fd)
        assert main(["train", "--out", out, "--resume", "--steps", "4"]) == 1
        err = capsys.readouterr().err
        assert "No space left on device" in err and out in err and len(err.strip().splitlines()) == 1, err
        unit = checkpoint.latest(out)
        assert unit.endswith("checkpoint-2")
        assert {n: open(os.path.join(unit, n), "rb").read() for n in os.listdir(unit)} == before
        assert not [n for n in os.listdir(out) if n.startswith(".tmp")]
        assert main(["sample", out, "--length", "5", "--seed", "0"]) == 0
        os.unlink(filler)
        assert main(["train", "--out", out, "--resume", "--steps", "4"]) == 0
        capsys.readouterr()
        assert final_state(out) == state


def test_a_read_only_run_directory_is_read_but_never_written(text, tmp_path, capsys):
    with tmpfs(str(tmp_path / "disk"), "4m") as disk:
        out = os.path.join(disk, "run")
        assert main(["train", "--text", text, *ARGS, "--out", out]) == 0
        snapshot = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)}
        assert subprocess.run(["mount", "-o", "remount,ro", disk]).returncode == 0
        capsys.readouterr()
        assert main(["sample", out, "--length", "5", "--seed", "0"]) == 0
        assert main(["inspect", out]) == 0
        capsys.readouterr()
        assert main(["train", "--out", out, "--resume", "--steps", "6"]) == 1
        err = capsys.readouterr().err
        assert "Read-only file system" in err and out in err and len(err.strip().splitlines()) == 1, err
        assert {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)} == snapshot
