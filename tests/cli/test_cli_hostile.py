"""Hostile run directories and arguments: one line, exit status 2, nothing written, nothing allocated.

Each tampering of a trained run directory (its ``config.json``, training state, weights or
metrics) is tried with every command that reads the tampered file; the directory must be
byte-for-byte the same afterwards. Where a file's digest is recorded in ``config.json`` the
tampering also rewrites the digest (a careful forger), so the checks behind the digest are
reached; one case leaves the digest alone and must be named as a file of another checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import safetensors.numpy

import rnnkit
from rnnkit import serialization
from rnnkit.cli import checkpoint, main, plots
from rnnkit.cli.options import RunError

ARGS = ["--layers", "1", "--hidden", "8", "--embed", "4", "--seq-len", "8", "--batch-size", "2", "--eval-every", "2",
        "--steps", "2"]
SAMPLE, INSPECT, RESUME = "sample", "inspect", "resume"


@pytest.fixture(autouse=True)
def _no_plots(monkeypatch):
    monkeypatch.setattr(plots, "loss_curves", lambda *args, **kwargs: True)  # speed only


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    words = "small rivers ran to the sea".split()
    rng = np.random.default_rng(2)
    text = tmp_path_factory.mktemp("text") / "corpus.txt"
    text.write_text("\n".join(" ".join(rng.choice(words, 7)) for _ in range(50)) + "\n", encoding="utf-8")
    out = str(tmp_path_factory.mktemp("base") / "run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plots, "loss_curves", lambda *args, **kwargs: True)
        assert main(["train", "--text", str(text), *ARGS, "--out", out]) == 0
    return out


def snapshot(out):
    """Every file of the run directory and its bytes (the lock file's PID aside)."""
    files = {}
    for root, _, names in os.walk(out):
        for name in names:
            path = os.path.join(root, name)
            if name != ".rnnkit.lock":
                files[os.path.relpath(path, out)] = open(path, "rb").read() if os.path.isfile(path) else "special"
    return files


def argv(command, out):
    return {SAMPLE: ["sample", out, "--length", "3", "--seed", "0"], INSPECT: ["inspect", out],
            RESUME: ["train", "--out", out, "--resume", "--steps", "4"]}[command]


def edit_config(unit, change):
    path = os.path.join(unit, checkpoint.CONFIG)
    config = json.load(open(path))
    change(config)
    open(path, "w").write(json.dumps(config))


def redigest(unit, name):
    """Record the current digest of ``name`` in config.json (a forger who knows the format)."""
    edit_config(unit, lambda c: c["files"].__setitem__(name, checkpoint.digest(open(os.path.join(unit, name), "rb").read())))


def edit_tensors(unit, name, change, digest=True):
    path = os.path.join(unit, name)
    arrays, metadata = serialization.read_safetensors(path)
    arrays = {k: np.array(v) for k, v in arrays.items()}
    changed = change(arrays, metadata)
    metadata = metadata if changed is None else changed
    open(path, "wb").write(safetensors.numpy.save(arrays, metadata=metadata))
    if digest:
        redigest(unit, name)


def nested(unit):
    open(os.path.join(unit, checkpoint.CONFIG), "w").write("[" * 200_000 + "]" * 200_000)


def shrink_vocab(config):
    config["vocab"] = config["vocab"][1:]
    config["model"]["vocab_size"] -= 1


def set_hidden(value):
    def change(config):
        config["model"]["hidden"] = config["train"]["hidden"] = value
    return change


def raw_hidden(unit):
    path = os.path.join(unit, checkpoint.CONFIG)
    text = open(path).read().replace('"hidden": 8', '"hidden": Infinity', 1)
    assert "Infinity" in text
    open(path, "w").write(text)


def metrics_text(text):
    def change(unit):
        open(os.path.join(unit, checkpoint.METRICS), "w").write(text)
        redigest(unit, checkpoint.METRICS)
    return change


def drop_optimizer(arrays, metadata):
    return {}


def misshape_optimizer(arrays, metadata):
    key = next(k for k in arrays if k.startswith("optimizer/") and k.endswith("exp_avg"))
    arrays[key] = arrays[key][:1]


def poison(key_prefix, value):
    def change(arrays, metadata):
        key = next(k for k in arrays if k.startswith(key_prefix))
        if np.iscomplexobj(value):
            arrays[key] = arrays[key].astype(np.complex64) + value
        else:
            arrays[key][...] = value
    return change


def other_step_model(unit):
    """model.safetensors of another checkpoint (a retrained one) copied in, digest left alone."""
    weights = serialization.load(os.path.join(unit, checkpoint.MODEL))
    serialization.save({k: v + 1 for k, v in weights.items()}, os.path.join(unit, checkpoint.MODEL))


def truncate(name):
    def change(unit):
        path = os.path.join(unit, name)
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
    return change


ALL = (SAMPLE, INSPECT, RESUME)
CASES = {  # name: (tamper(unit), commands that must refuse, text the message holds)
    "no model key": (lambda u: edit_config(u, lambda c: c.pop("model")), ALL, "config.json: model: missing"),
    "no train key": (lambda u: edit_config(u, lambda c: c.pop("train")), ALL, "config.json: train: missing"),
    "no data key": (lambda u: edit_config(u, lambda c: c.pop("data")), ALL, "config.json: data: missing"),
    "cell transformer": (lambda u: edit_config(u, lambda c: c["model"].update(cell="transformer")), ALL,
                         "model.cell: expected one of"),
    "hidden a string": (lambda u: edit_config(u, lambda c: c["model"].update(hidden="16")), ALL,
                        "model.hidden: expected an int >= 1, got '16'"),
    "hidden negative": (lambda u: edit_config(u, lambda c: c["model"].update(hidden=-5)), ALL,
                        "model.hidden: expected an int >= 1, got -5"),
    "hidden Infinity": (raw_hidden, ALL, "model.hidden: expected an int >= 1, got inf"),
    "empty vocabulary": (lambda u: edit_config(u, lambda c: c.update(vocab="")), ALL, "vocab: expected"),
    "vocabulary missing a character": (lambda u: edit_config(u, shrink_vocab), ALL,
                                       ("config.json implies (13, 4)", "has shape (14, 4), expected (13, 4)")),
    "deeply nested config": (nested, ALL, "nested too deeply"),
    "config not an object": (lambda u: open(os.path.join(u, "config.json"), "w").write("[1, 2]"), ALL,
                             "expected a JSON object"),
    "foreign RNG state": (lambda u: edit_config(u, lambda c: c["rng_state"].update(bit_generator="MT19937")), ALL,
                          "rng_state.bit_generator: expected one of 'PCG64', got 'MT19937'"),
    "garbage RNG state": (lambda u: edit_config(u, lambda c: c["rng_state"].update(state={"state": "x"})), (RESUME,),
                          "rng_state: not a state of this generator"),
    "step a float": (lambda u: edit_config(u, lambda c: c.update(step=2.5)), ALL, "step: expected an int"),
    "training state without optimizer": (lambda u: edit_tensors(u, checkpoint.TRAINING_STATE, drop_optimizer),
                                         (RESUME,), "holds no optimizer state"),
    "optimizer arrays of the wrong shape": (lambda u: edit_tensors(u, checkpoint.TRAINING_STATE, misshape_optimizer),
                                            (RESUME,), "exp_avg' has shape (1"),
    "NaN in the training state": (lambda u: edit_tensors(u, checkpoint.TRAINING_STATE, poison("model/", np.nan)),
                                  (RESUME,), "non-finite"),
    "complex training state": (lambda u: edit_tensors(u, checkpoint.TRAINING_STATE, poison("model/", 1j)),
                               (RESUME,), "non-real"),
    "NaN weights": (lambda u: edit_tensors(u, checkpoint.MODEL, poison("head", np.nan)), (SAMPLE, INSPECT),
                    "non-finite"),
    "complex weights": (lambda u: edit_tensors(u, checkpoint.MODEL, poison("head", 1j)), (SAMPLE, INSPECT),
                        "is C64, expected floating point weights"),
    "weights of another checkpoint": (other_step_model, ALL, "does not belong to the checkpoint of step 2"),
    "truncated training state": (truncate(checkpoint.TRAINING_STATE), (RESUME,), "does not belong"),
    "truncated training state, digest forged": (
        lambda u: (truncate(checkpoint.TRAINING_STATE)(u), redigest(u, checkpoint.TRAINING_STATE)), (RESUME,),
        "truncated"),
    "metrics.csv of other columns": (metrics_text("step,loss\n0,1.0\n"), (RESUME,), "expected the columns"),
    "metrics.csv garbage row": (metrics_text("step,train_bpc,val_bpc,val_chars,lr,tokens_per_s,wall_seconds\n"
                                             "0,,x,,0,0,0\n"), (RESUME,), "metrics.csv: line 2"),
    "metrics.csv beyond the step": (metrics_text("step,train_bpc,val_bpc,val_chars,lr,tokens_per_s,wall_seconds\n"
                                                 "9,,1.0,,0,0,0\n"), (RESUME,), "step 9 out of order"),
    "config.json a symlink loop": (lambda u: (os.unlink(os.path.join(u, "config.json")),
                                              os.symlink("config.json", os.path.join(u, "config.json"))), ALL,
                                   "config.json: not a regular file"),
    "weights a FIFO": (lambda u: (os.unlink(os.path.join(u, checkpoint.MODEL)), os.mkfifo(os.path.join(u, checkpoint.MODEL))),
                       (SAMPLE, INSPECT, RESUME), "not a regular file"),
    "weights a link to /dev/zero": (lambda u: (os.unlink(os.path.join(u, checkpoint.MODEL)),
                                               os.symlink("/dev/zero", os.path.join(u, checkpoint.MODEL))),
                                    (SAMPLE, INSPECT, RESUME), "not a regular file"),
}


@pytest.mark.parametrize("name", CASES)
def test_tampered_run_directory_gets_one_line_and_status_2(name, base, tmp_path, capsys):
    tamper, commands, message = CASES[name]
    if "FIFO" in name and not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    out = str(tmp_path / "run")
    shutil.copytree(base, out, symlinks=True)
    tamper(checkpoint.latest(out))
    before = snapshot(out)
    for command in commands:
        assert main(argv(command, out)) == 2, command
        captured = capsys.readouterr()
        err = captured.err.strip().splitlines()
        assert len(err) == 1 and "Traceback" not in captured.err, captured.err
        assert any(m in err[0] for m in ((message,) if isinstance(message, str) else message)), (command, err[0])
        assert snapshot(out) == before, command  # nothing written


@pytest.mark.parametrize("hidden", [20_000, 1_000_000_000])
def test_a_size_bomb_config_fails_before_allocating(hidden, base, tmp_path, capsys):
    out = str(tmp_path / "run")
    shutil.copytree(base, out)
    edit_config(checkpoint.latest(out), set_hidden(hidden))
    for command in ALL:
        tracemalloc.start()
        try:
            status = main(argv(command, out))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert status == 2, command
        assert "has shape (" in capsys.readouterr().err  # the config is compared with the weights' shapes
        assert peak < 32 << 20, (command, peak)  # a 20000-unit LSTM would need gigabytes


def test_train_hidden_1e9_is_refused_before_allocating(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("abc abc abc\n" * 50)
    tracemalloc.start()
    try:
        status = main(["train", "--text", str(text), "--hidden", "1000000000", "--out", str(tmp_path / "run")])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 2 and peak < 32 << 20
    err = capsys.readouterr().err
    assert "--hidden 1000000000" in err and "parameters" in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / "run")


def test_train_a_billion_layers_is_refused_at_once(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("abc abc abc\n" * 50)
    assert main(["train", "--text", str(text), "--layers", "1000000000", "--out", str(tmp_path / "run")]) == 2
    assert "--layers 1000000000: the model would have" in capsys.readouterr().err


def test_text_from_dev_zero_is_refused_with_a_size_cap(tmp_path, capsys):
    assert main(["train", "--text", "/dev/zero", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "--text /dev/zero: larger than 256 MiB" in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / "run")


def test_rnnkit_load_never_blocks_and_never_loops(tmp_path):
    """A FIFO with no writer, /dev/zero and a symlink loop, in a subprocess with a deadline."""
    fifo, loop = tmp_path / "fifo.safetensors", tmp_path / "loop.safetensors"
    os.mkfifo(fifo)
    os.symlink(loop, loop)
    code = ("import sys, rnnkit\n"
            "for path in sys.argv[1:]:\n"
            "    try:\n"
            "        rnnkit.load(path)\n"
            "    except ValueError as error:\n"
            "        print(error)\n")
    src = os.path.dirname(os.path.dirname(rnnkit.__file__))
    done = subprocess.run([sys.executable, "-c", code, str(fifo), "/dev/zero", str(loop)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": src})
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and len(lines) == 3, done.stderr
    assert "is a FIFO (named pipe), expected a regular .safetensors file" in lines[0]
    assert "'/dev/zero' is a device" in lines[1]
    assert "a loop of symbolic links" in lines[2]


# -- arguments -----------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["train"], ["sample", "DIR"], ["forecast", "x.csv", "--column", "y"],
                                     ["lab", "adding"]])
def test_a_negative_seed_is_refused_by_every_command(command, capsys):
    assert main([*command, "--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--seed: expected a value >= 0, got -1" in err and len(err.strip().splitlines()) == 1


def test_a_tiny_temperature_samples_the_most_likely_character(base, capsys):
    assert main(["sample", base, "--length", "20", "--temperature", "1e-310", "--seed", "0"]) == 0
    tiny = capsys.readouterr().out
    assert main(["sample", base, "--length", "20", "--top-k", "1", "--seed", "5"]) == 0
    assert capsys.readouterr().out == tiny  # the limit of temperature -> 0 is the greedy choice


def test_forecast_names_a_directory_and_refuses_values_that_overflow(tmp_path, capsys):
    assert main(["forecast", str(tmp_path), "--column", "y"]) == 2
    assert "is a directory, expected a CSV file" in capsys.readouterr().err
    csv = tmp_path / "huge.csv"
    rng = np.random.default_rng(0)
    csv.write_text("y\n" + "\n".join(f"{v:.6e}" for v in 1e200 * (1 + rng.random(120))) + "\n")
    out = tmp_path / "run"
    assert main(["forecast", str(csv), "--column", "y", "--epochs", "1", "--window", "4", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "overflow float64 arithmetic" in err[0], err
    assert not out.exists()


def test_a_non_finite_result_is_an_error_and_never_infinity_in_a_file(tmp_path):
    path = tmp_path / "metrics.json"
    with pytest.raises(RunError, match=r"scores.LSTM.1.mae is inf; a non-finite result is an error, nothing"):
        checkpoint.write_json(str(path), {"scores": {"LSTM": [{"mae": 1.0}, {"mae": float("inf")}]}})
    assert not path.exists() and not os.listdir(tmp_path)
    checkpoint.write_json(str(path), {"mae": 1.5})
    assert json.loads(path.read_text()) == {"mae": 1.5}


def test_an_internal_error_is_one_line_with_a_report_hint_and_a_traceback_under_debug(monkeypatch, tmp_path,
                                                                                       capsys):
    from rnnkit.cli import inspect

    def broken(opts):
        raise RuntimeError("a bug")

    monkeypatch.setattr(inspect, "run", broken)
    assert main(["inspect", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "internal error: RuntimeError: a bug" in err
    assert "report it" in err and "--debug" in err and "Traceback" not in err
    assert main(["inspect", str(tmp_path), "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError: a bug" in err


@pytest.mark.parametrize("hidden", [20_000, 1_000_000_000])
def test_a_size_bomb_forecast_config_fails_before_allocating(hidden, tmp_path, capsys):
    pytest.importorskip("onnx", reason="rnnkit onnx needs the onnx package")
    csv = tmp_path / "series.csv"
    csv.write_text("y\n" + "\n".join(f"{np.sin(i / 3):.4f}" for i in range(60)) + "\n")
    out = str(tmp_path / "fc")
    assert main(["forecast", str(csv), "--column", "y", "--epochs", "1", "--window", "4", "--hidden", "3",
                 "--horizon", "3", "--out", out]) == 0
    edit_config(out, lambda c: c["model"].update(hidden=hidden))
    capsys.readouterr()
    before = snapshot(out)
    for command in (["inspect", out], ["onnx", out, str(tmp_path / "fc.onnx")]):
        tracemalloc.start()
        try:
            status = main(command)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        err = capsys.readouterr().err.strip().splitlines()
        assert status == 2 and len(err) == 1 and "config.json implies" in err[0], err
        assert peak < 32 << 20, (command, peak)
    assert snapshot(out) == before and not (tmp_path / "fc.onnx").exists()
