"""`rnnkit train` and `rnnkit sample`: learning, exact resume, divergence, streaming."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from rnnkit import serialization
from rnnkit.cli import checkpoint, main, train
from rnnkit.cli.charlm import CharLM
from rnnkit.cli.options import build_parser, parse

WORDS = "the cat sat on a mat while rain fell softly over quiet hills and small rivers ran to the sea".split()


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    """About 12k characters of simple, learnable text."""
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(WORDS, size=rng.integers(5, 12))) + "." for _ in range(300)]
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


SMALL = ["--layers", "1", "--hidden", "48", "--embed", "16", "--seq-len", "32", "--batch-size", "16"]


@pytest.fixture(scope="module")
def trained(text_file, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run") / "charlm")
    status = main(["train", "--text", text_file, *SMALL, "--steps", "80", "--eval-every", "40", "--out", out])
    assert status == 0
    return out


def unit(out):
    """The published checkpoint directory of run ``out``."""
    return checkpoint.latest(out)


def read_metrics(out):
    import csv

    with open(os.path.join(out, "metrics.csv"), newline="") as file:
        return list(csv.DictReader(file))


def test_train_lowers_validation_loss_and_writes_files(trained):
    for name in ("model.safetensors", "training_state.safetensors", "config.json", "metrics.csv"):
        assert os.path.getsize(os.path.join(unit(trained), name)) > 0, name
    for name in ("metrics.csv", "loss.png"):
        assert os.path.getsize(os.path.join(trained, name)) > 0, name
    val = [(int(r["step"]), float(r["val_bpc"])) for r in read_metrics(trained) if r["val_bpc"]]
    assert [s for s, _ in val] == [0, 40, 80]
    vocab = len(json.load(open(os.path.join(unit(trained), "config.json")))["vocab"])
    assert val[0][1] == pytest.approx(np.log2(vocab), abs=0.3)  # an untrained model is about uniform
    assert val[-1][1] < val[0][1] - 1.5  # and training takes more than 1.5 bits per character off
    train_bpc = [float(r["train_bpc"]) for r in read_metrics(trained) if r["train_bpc"]]
    assert train_bpc[-1] < train_bpc[0]


def test_sample_streams_the_requested_length(trained, capsys):
    assert main(["sample", trained, "--prompt", "the ", "--length", "57", "--seed", "3"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("the ") and first.endswith("\n")
    assert len(first) == len("the ") + 57 + 1
    assert main(["sample", trained, "--prompt", "the ", "--length", "57", "--seed", "3"]) == 0
    assert capsys.readouterr().out == first  # a seed makes it reproducible
    assert main(["sample", trained, "--length", "0"]) == 0
    assert capsys.readouterr().out == "\n"


def test_sample_feeds_one_character_per_step(trained, monkeypatch, capsys):
    shapes = []
    forward = CharLM.forward

    def recording(self, ids, state=None):
        shapes.append((np.shape(ids), state is None))
        return forward(self, ids, state)

    monkeypatch.setattr(CharLM, "forward", recording)
    assert main(["sample", trained, "--prompt", "rain ", "--length", "12", "--seed", "0"]) == 0
    capsys.readouterr()
    assert shapes[0] == ((1, 5), True)  # the prompt, once
    assert shapes[1:] == [((1, 1), False)] * 11  # then only the newest character, with the carried state


def test_interrupted_and_resumed_run_is_bit_identical(text_file, tmp_path, capsys):
    argv = ["train", "--text", text_file, "--layers", "2", "--hidden", "24", "--embed", "8", "--seq-len", "16",
            "--batch-size", "8", "--dropout", "0.2", "--eval-every", "15", "--steps", "40"]
    whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
    assert main([*argv, "--out", whole]) == 0

    command, opts, given = parse(build_parser(), [*argv, "--out", parts])

    def ctrl_c(step):
        if step == 23:
            os.kill(os.getpid(), signal.SIGINT)  # as a user's Ctrl-C: the loop saves after this step

    assert train.run(opts, given, on_step=ctrl_c) == 130
    assert json.load(open(os.path.join(unit(parts), "config.json")))["step"] == 23
    assert "--resume" in capsys.readouterr().out
    assert main(["train", "--out", parts, "--resume"]) == 0  # the rest of the options come from the checkpoint

    a = serialization.load(os.path.join(unit(whole), "training_state.safetensors"))
    b = serialization.load(os.path.join(unit(parts), "training_state.safetensors"))
    assert sorted(a) == sorted(b)
    assert any(k.startswith("optimizer/") for k in a) and "carry/c" in a
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    ca, cb = (json.load(open(os.path.join(unit(d), "config.json"))) for d in (whole, parts))
    assert ca["step"] == cb["step"] == 40
    assert ca["rng_state"] == cb["rng_state"]
    wa, wb = (serialization.load(os.path.join(unit(d), "model.safetensors")) for d in (whole, parts))
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)


def test_resume_with_more_steps_continues_to_the_total(text_file, tmp_path, capsys):
    out = str(tmp_path / "run")
    base = ["train", "--text", text_file, *SMALL, "--eval-every", "100", "--out", out]
    assert main([*base, "--steps", "5"]) == 0
    assert main(["train", "--out", out, "--resume", "--steps", "9"]) == 0
    assert json.load(open(os.path.join(unit(out), "config.json")))["step"] == 9
    assert main(["train", "--out", out, "--resume", "--steps", "9"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(text_file, tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "run")
    forward, calls = CharLM.forward, []

    def poisoned(self, ids, state=None):
        logits, state = forward(self, ids, state)
        if self.training:
            calls.append(1)
            if len(calls) == 8:
                return logits * float("nan"), state
        return logits, state

    monkeypatch.setattr(CharLM, "forward", poisoned)
    status = main(["train", "--text", text_file, *SMALL, "--steps", "20", "--eval-every", "5", "--out", out])
    assert status == 1
    err = capsys.readouterr().err
    assert "step 8: the loss is nan" in err and "last good checkpoint (step 5)" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    config = json.load(open(os.path.join(unit(out), "config.json")))
    assert config["step"] == 5
    weights = serialization.load(os.path.join(unit(out), "model.safetensors"))
    state = serialization.load(os.path.join(unit(out), "training_state.safetensors"))
    assert all(np.isfinite(w).all() and np.array_equal(w, state["model/" + k]) for k, w in weights.items())


def test_inspect_shows_the_parameter_table_and_training_metadata(trained, capsys):
    assert main(["inspect", trained]) == 0
    text = capsys.readouterr().out
    weights = serialization.load(os.path.join(unit(trained), "model.safetensors"))
    total = sum(w.size for w in weights.values())
    assert "total" in text and f"{total:,}" in text
    assert "rnn.weight_hh_l0" in text and "48x192" not in text and "192x48" in text  # (4H, H) for H=48
    assert "training: step 80" in text and "bits/char" in text


def test_minutes_bounds_the_run_by_time(text_file, tmp_path, capsys, monkeypatch):
    # a fake clock that advances 10 ms at every reading, so the bound is reached after the
    # same number of steps on any machine (0.003 minutes = 0.18 s = 18 readings)
    import rnnkit.cli.train as train_module

    ticks = iter(range(10**6))
    monkeypatch.setattr(train_module.time, "monotonic", lambda: next(ticks) * 0.01)
    out = str(tmp_path / "run")
    assert main(["train", "--text", text_file, *SMALL, "--minutes", "0.003", "--out", out]) == 0
    config = json.load(open(os.path.join(unit(out), "config.json")))
    assert config["train"]["steps"] is None and config["train"]["minutes"] == 0.003
    assert 1 <= config["step"] < 80
