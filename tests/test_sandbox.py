"""Generated code is untrusted: the sandbox stops or contains it, and the scorer returns 0 with a reason."""

import os
from pathlib import Path

import pytest
from intent_mediator.tasks.sandbox import SandboxLimits, run_python_tests

FAST = SandboxLimits(cpu_seconds=1, wall_seconds=4.0)
CHECK_ONE = "def check(candidate):\n    assert candidate(1) == 1\n"


def run(body: str, **kwargs):
    return run_python_tests(body, "f", test=CHECK_ONE, limits=FAST, **kwargs)


def test_a_correct_solution_passes():
    assert run("def f(x):\n    return x\n").passed


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("def f(x):\n    while True:\n        pass\n", "SIGKILL"),
        ("def f(x):\n    time = __import__('time')\n    time.sleep(60)\n", "timed out"),
        ("def f(x):\n    block = bytearray(4 * 1024 ** 3)\n    return 1\n", "MemoryError"),
        ("import os\ndef f(x):\n    while True:\n        os.fork()\n", "os.fork is not allowed"),
        ("import subprocess\ndef f(x):\n    subprocess.run(['true'])\n    return 1\n", "not allowed"),
        ("def f(x):\n    open('big.bin', 'wb').write(b'0' * 8 * 1024 * 1024)\n    return 1\n", "File too large"),
        ("import ctypes\ndef f(x):\n    ctypes.CDLL(None)\n    return 1\n", "not allowed"),
    ],
)
def test_hostile_code_is_stopped_with_a_reason(body, reason):
    result = run(body)
    assert not result.passed
    assert reason in result.reason


def test_writes_outside_the_working_directory_are_refused(tmp_path):
    target = Path("/tmp") / f"im-sandbox-escape-{os.getpid()}.txt"
    result = run(f"def f(x):\n    open({str(target)!r}, 'w').write('x')\n    return 1\n")
    assert not result.passed and "outside the working directory" in result.reason
    assert not target.exists()
    assert run("def f(x):\n    open('scratch.txt', 'w').write('ok')\n    return 1\n").passed


def test_parent_environment_is_not_visible(monkeypatch):
    monkeypatch.setenv("IM_TEST_SECRET", "hunter2")
    result = run("import os\ndef f(x):\n    assert 'IM_TEST_SECRET' not in os.environ, 'leaked'\n    return 1\n")
    assert result.passed


def test_code_scorer_turns_a_crash_into_zero_with_reason():
    from intent_mediator.data.loaders import load_records
    from intent_mediator.tasks import get_task

    record = load_records("builtin", tasks=["code"])[0]
    score = get_task("code").score(record, "def sum_even_squares(nums):\n    raise RuntimeError('boom')\n")
    assert score.value == 0.0 and "boom" in score.reason
