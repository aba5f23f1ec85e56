"""Bad input: one clear line on stderr, a non-zero exit status, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

import rnnkit.cli
from rnnkit.cli import main

TINY = ["--layers", "1", "--hidden", "8", "--embed", "4", "--seq-len", "8", "--batch-size", "2"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    (d / "empty.txt").write_text("", encoding="utf-8")
    (d / "blank.txt").write_text("  \n\n", encoding="utf-8")
    (d / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    (d / "short.txt").write_text("abc\n", encoding="utf-8")
    (d / "text.txt").write_text("the cat sat on the mat. " * 40, encoding="utf-8")
    (d / "series.csv").write_text("t,value\n" + "".join(f"{i},{i % 7}\n" for i in range(60)), encoding="utf-8")
    (d / "words.csv").write_text("t,value\n0,1.5\n1,2.5\n2,high\n3,4\n", encoding="utf-8")
    (d / "holes.csv").write_text("t,value\n0,1.5\n1,\n2,3\n", encoding="utf-8")
    lstm = str(d / "lstm")
    assert main(["train", "--text", str(d / "text.txt"), *TINY, "--steps", "2", "--out", lstm]) == 0
    return d


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path, monkeypatch):
    """Run from an empty directory: a runs/ folder left where the suite starts must not change the outcome."""
    monkeypatch.chdir(tmp_path)


CASES = {
    "missing text": (["train", "--text", "{d}/nope.txt"], "--text {d}/nope.txt: no such file"),
    "missing text, occupied out": (["train", "--text", "{d}/nope.txt", "--out", "{d}/lstm"],
                                   "--text {d}/nope.txt: no such file"),
    "empty text": (["train", "--text", "{d}/empty.txt"], "the file is empty"),
    "blank text": (["train", "--text", "{d}/blank.txt"], "the file is empty"),
    "not utf-8": (["train", "--text", "{d}/latin1.txt"], "not UTF-8 text"),
    "text too short": (["train", "--text", "{d}/short.txt", "--out", "{d}/short"], "the text is too short"),
    "csv without the column": (["forecast", "{d}/series.csv", "--column", "price"],
                               "--column 'price': {d}/series.csv has no such column; its columns are 't', 'value'"),
    "csv with words": (["forecast", "{d}/words.csv", "--column", "value"],
                       "line 4 of {d}/words.csv holds 'high', not a number"),
    "csv with holes, --fill error": (["forecast", "{d}/holes.csv", "--column", "value", "--fill", "error"],
                                     "--fill error: column 'value' has a missing value at 1"),
    "missing csv": (["forecast", "{d}/nope.csv", "--column", "value"], "{d}/nope.csv: no such file"),
    "no column": (["forecast", "{d}/series.csv"], "--column is required"),
    "window longer than the series": (["forecast", "{d}/series.csv", "--column", "value", "--window", "100"],
                                      "the series are too short: the shortest has 60 steps"),
    "out holds another model": (["train", "--text", "{d}/text.txt", *TINY, "--out", "{d}/lstm"],
                                "--out {d}/lstm already holds a 1-layer LSTM character model"),
    "forecast into a character model": (["forecast", "{d}/series.csv", "--column", "value", "--horizon", "3",
                                         "--out", "{d}/lstm"],
                                        "--out {d}/lstm: already holds files"),
    "another architecture": (["train", "--out", "{d}/lstm", "--resume", "--cell", "gru"],
                             "--cell gru asks for another architecture"),
    "another hidden size": (["train", "--out", "{d}/lstm", "--resume", "--hidden", "16"],
                            "--hidden 16 asks for another architecture"),
    "resume without a checkpoint": (["train", "--out", "{d}/nothing", "--resume"], "holds no checkpoint"),
    "resume on other text": (["train", "--out", "{d}/lstm", "--resume", "--text", "{d}/series.csv", "--steps", "4"],
                             "differs from the one the checkpoint"),
    "out is a file": (["train", "--text", "{d}/text.txt", "--out", "{d}/text.txt"],
                      "--out {d}/text.txt: is a file, expected a directory"),
    "sample without a model": (["sample", "{d}"], "{d} holds no model"),
    "sample a missing dir": (["sample", "{d}/nope"], "{d}/nope: no such directory"),
    "prompt outside the vocabulary": (["sample", "{d}/lstm", "--prompt", "XYZ"], "not in the model's vocabulary"),
    "inspect without a model": (["inspect", "{d}"], "{d} holds no model"),
    "bad cells": (["lab", "adding", "--cells", "rnn,tcn"], "--cells 'rnn,tcn': expected distinct names"),
    "negative steps": (["train", "--steps", "0"], "--steps: expected a value >= 1, got 0"),
    "dropout of one": (["train", "--dropout", "1"], "--dropout: expected a value < 1, got 1.0"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_one_clear_line(name, files, capsys):
    argv, expected = CASES[name]
    argv = [a.format(d=files) for a in argv]
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"rnnkit {argv[0]}: error: ")
    assert expected.format(d=files) in lines[0]
    assert "Traceback" not in captured.err + captured.out


def test_usage_errors_exit_2(capsys):
    assert main(["train", "--cell", "tcn"]) == 2
    assert "invalid choice: 'tcn'" in capsys.readouterr().err
    assert main([]) == 2
    assert main(["train", "--steps", "5", "--minutes", "1"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_bench_hands_over_or_says_it_is_missing(tmp_path, capsys):
    """From this checkout the thin entry runs benchmarks/bench.py; without the script, one line and status 2."""
    assert rnnkit.cli.BENCH_SCRIPT.is_file()
    assert main(["bench", "--help"]) == 0
    assert "usage: bench.py" in capsys.readouterr().out
    assert rnnkit.cli._bench(["--quick"], script=tmp_path / "absent.py") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not part of the installed package" in err


def test_help_of_every_command_shows_the_defaults(capsys):
    assert main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    for fragment in ("--layers N", "(default: 2)", "--steps N | --minutes X", "--resume"):
        assert fragment in text
    for command in ("sample", "forecast", "lab", "inspect"):
        assert main([command, "--help"]) == 0
        assert "(default:" in capsys.readouterr().out or command == "inspect"


def test_python_dash_m_rnnkit_works():
    done = subprocess.run([sys.executable, "-m", "rnnkit", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for command in ("train", "sample", "forecast", "lab", "inspect", "bench"):
        assert command in done.stdout
