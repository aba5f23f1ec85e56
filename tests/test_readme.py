"""The README's Python examples run as written and print the shapes they claim."""

import contextlib
import io
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples may write files (rnnkit.save)
    source = BLOCKS[index]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, f"README.md[python block {index}]", "exec"), {"__name__": "__readme__"})
    # every `print(...)  # expected` comment in the block is what the line printed
    expected = [c.strip() for c in re.findall(r"^print\(.*\)[ \t]+#[ \t]*(.+)$", source, flags=re.M)]
    lines = [line.strip() for line in printed.getvalue().splitlines()]
    for want in expected:
        assert want in lines, f"README block {index}: expected a line {want!r}, got {lines}"


def test_readme_has_examples():
    assert len(BLOCKS) >= 2
