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
