"""The README's offline Python examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
OFFLINE = [block for block in BLOCKS if "ScriptedEngine()" in block]


def test_the_readme_has_an_offline_example():
    assert OFFLINE


@pytest.mark.parametrize("block", OFFLINE)
def test_offline_readme_example_runs(block, capsys):
    exec(compile(block, str(README), "exec"), {})
    assert "assistant" in capsys.readouterr().out  # it printed the usage by role


DSPY_SECTION = README.read_text().split("## Use with DSPy", 1)[1].split("\n## ", 1)[0]
DSPY_BLOCKS = re.findall(r"```python\n(.*?)```", DSPY_SECTION, flags=re.S)


def test_the_use_with_dspy_section_runs_as_written(tmp_path, monkeypatch, capsys):
    assert len(DSPY_BLOCKS) == 1
    monkeypatch.chdir(tmp_path)  # it saves an artifact under ./artifacts
    exec(compile(DSPY_BLOCKS[0], str(README), "exec"), {})
    out = capsys.readouterr().out
    uncompiled = float(re.search(r"uncompiled: ([\d.]+)", out).group(1))
    assert uncompiled < 50 and "Refiner: 100.0" in out and "GEPA: 100.0" in out
    assert (tmp_path / "artifacts" / "alice" / "math" / "program.json").is_file()
