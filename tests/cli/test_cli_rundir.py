"""The refusal rule and the reporter that every run-directory command shares."""

from __future__ import annotations

import json

import pytest

from rnnkit.cli.options import InputError
from rnnkit.cli.rundir import Reporter, claim_out


def test_claim_out_creates_a_new_directory_and_accepts_an_empty_one(tmp_path):
    claim_out(str(tmp_path / "new"), overwrite=False)
    assert (tmp_path / "new").is_dir()
    claim_out(str(tmp_path / "new"), overwrite=False)  # still empty: allowed


def test_claim_out_refuses_a_directory_with_files_unless_overwrite(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(InputError, match="--out .*already holds files; pass --overwrite"):
        claim_out(str(tmp_path), overwrite=False)
    claim_out(str(tmp_path), overwrite=True)
    assert (tmp_path / "old.txt").read_text() == "x"  # overwrite replaces the command's files only


def test_claim_out_refuses_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a file, expected a directory"):
        claim_out(str(tmp_path / "f"), overwrite=True)


def test_reporter_json_lines_parse_and_quiet_keeps_only_the_result(capsys):
    report = Reporter(json=True)
    report.progress("step 1", step=1, loss=0.5)
    report.result("done", bits_per_char=2.25)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [{"event": "progress", "message": "step 1", "step": 1, "loss": 0.5},
                     {"event": "result", "message": "done", "bits_per_char": 2.25}]
    quiet = Reporter(quiet=True)
    quiet.progress("step 1")
    quiet.result("done")
    assert capsys.readouterr().out == "done\n"


def test_reporter_refuses_non_finite_json_and_prints_a_notice_once(capsys):
    with pytest.raises(ValueError, match="non-finite"):
        Reporter(json=True).result("x", loss=float("nan"))
    report = Reporter()
    report.notice("matplotlib is missing")
    report.notice("matplotlib is missing")
    assert capsys.readouterr().err == "matplotlib is missing\n"
