"""The README's command-line block runs as written, as a user would run it after the quick start.

A fresh copy of the repository (its git-tracked files) goes to a temporary directory; the
"installation" is the environment ``./dev`` would have made there (``.venv`` with its stamp
and an ``rnnkit`` entry point running this interpreter on the copy's ``src``), so ``./dev``
runs unchanged; then every line of the block runs in order with bash, from the copy's root.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import stat
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def command_block() -> list[str]:
    """The commands of the README's ``## The command line`` bash block, comments removed."""
    section = README.split("## The command line", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def install_copy(target: pathlib.Path) -> None:
    """Copy the tracked files to ``target`` and give it the environment ``./dev`` makes."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    bin_dir = target / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    entry = bin_dir / "rnnkit"
    entry.write_text(f'#!/usr/bin/env bash\nPYTHONPATH="{target / "src"}" exec "{sys.executable}" -m rnnkit "$@"\n')
    entry.chmod(entry.stat().st_mode | stat.S_IXUSR)
    # the stamp ./dev leaves after installing the cli extra for this pyproject.toml (`cksum < pyproject.toml`)
    checksum = subprocess.run("cksum < pyproject.toml", shell=True, cwd=target, capture_output=True, text=True,
                              check=True).stdout.split()[0]
    (target / ".venv" / f".installed-cli-{checksum}").touch()


def test_the_block_names_only_shipped_files_and_dev_commands():
    commands = command_block()
    assert len(commands) >= 8
    assert all(c.startswith("./dev rnnkit ") for c in commands)
    for path in re.findall(r"(examples/\S+)", " ".join(commands)):
        assert (ROOT / path).is_file(), path


@pytest.mark.slow
@pytest.mark.e2e  # about 3 of the suite's minutes on 2 cores: run by `./dev test -m e2e`, not by default
def test_every_command_of_the_block_runs_in_a_fresh_copy(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout to know the shipped files")
    install_copy(tmp_path)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    outputs = {}
    for command in command_block():
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr, command
        outputs[command] = done.stdout
    by_start = {c.split()[2]: out for c, out in reversed(list(outputs.items()))}
    assert re.fullmatch(r"rnnkit \d+\.\d+\.\d+\S*\n", by_start["--version"])
    assert re.search(r"bits/char on [\d,]+ characters", by_start["eval"])
    assert "loss curve: validation" in by_start["inspect"]
    units = [p.parent.name for p in (tmp_path / "runs" / "docs").glob("checkpoint-*/model.safetensors")]
    assert units == ["checkpoint-50"]  # --overwrite replaced the run with one of 50 steps
    assert (tmp_path / "runs" / "forecast").is_dir() and (tmp_path / "runs" / "lab-adding-50").is_dir()


def test_series_csv_is_what_its_script_writes(tmp_path):
    script = (ROOT / "examples" / "make_series.py").read_text(encoding="utf-8")
    (tmp_path / "make_series.py").write_text(script, encoding="utf-8")
    subprocess.run([sys.executable, str(tmp_path / "make_series.py")], check=True, timeout=60)
    assert (tmp_path / "series.csv").read_bytes() == (ROOT / "examples" / "series.csv").read_bytes()
