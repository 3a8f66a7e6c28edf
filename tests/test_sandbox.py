"""Generated code is untrusted: the sandbox contains it, and verdicts cannot be forged.

The hostile cases come from the attack review (issue 15): each one tries an escape and the test checks the
host-side effect (no file written, no packet received, secret not returned, parent alive). They run three ways:
as root with the audit hook, as root with bubblewrap alone (hook off), and from an unprivileged parent process
(uid `nobody`), where the attacks on the parent's /proc, signals and home directory were originally found.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from intent_mediator.tasks.sandbox import (
    BUBBLEWRAP,
    NOBODY,
    RLIMITS,
    SandboxLimits,
    _world_executable,
    run_python_tests,
    sandbox_isolation,
)

from .hostile_sandbox import SECRET, assert_contained, run_hostile_cases

REPO = Path(__file__).resolve().parents[1]
FAST = SandboxLimits(cpu_seconds=2, wall_seconds=8.0)
CHECK_ONE = "def check(candidate):\n    assert candidate(1) == 1\n"
needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap"
)


def run(body: str, **kwargs):
    return run_python_tests(body, "f", test=CHECK_ONE, limits=FAST, **kwargs)


@needs_bwrap
@pytest.mark.parametrize("audit_hook", [True, False], ids=["with-audit-hook", "bubblewrap-alone"])
def test_hostile_code_is_contained_as_root(tmp_path, monkeypatch, audit_hook):
    assert sandbox_isolation() == BUBBLEWRAP
    monkeypatch.setenv("IM_TEST_SECRET", SECRET)
    marker_dir, home = tmp_path / "markers", tmp_path / "home"
    marker_dir.mkdir()
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    assert_contained(run_hostile_cases(marker_dir, home, REPO, audit_hook), marker_dir, home)


NON_ROOT_SCRIPT = """
import json, sys
from pathlib import Path
import hostile_sandbox
out = {}
for audit in (True, False):
    out[str(audit)] = hostile_sandbox.run_hostile_cases(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), audit)
from intent_mediator.tasks.sandbox import sandbox_isolation
print(json.dumps({"isolation": sandbox_isolation(), "results": out}))
"""


@pytest.fixture
def shared_tmp():
    """A temporary directory `nobody` can reach (pytest's own sit under a root-only directory)."""
    if os.geteuid() != 0:
        pytest.skip("dropping to nobody needs root; this process is already unprivileged")
    path = Path(tempfile.mkdtemp(prefix="im-nonroot-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@needs_bwrap
def test_hostile_code_is_contained_from_an_unprivileged_parent(shared_tmp):
    """The sandbox's parent runs as `nobody` (no setuid tricks available): same containment."""
    tmp_path = shared_tmp
    interpreter = next(
        (
            p
            for p in (sys.executable, shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin"))
            if p and _world_executable(Path(p))
        ),
        None,
    )
    if interpreter is None:
        pytest.skip("no Python interpreter reachable by an unprivileged user")
    # A stdlib-only copy of the sandbox package the unprivileged user can read (the repo may sit under /root).
    code_dir = tmp_path / "code"
    (code_dir / "intent_mediator" / "tasks").mkdir(parents=True)
    (code_dir / "intent_mediator" / "__init__.py").write_text("")
    (code_dir / "intent_mediator" / "tasks" / "__init__.py").write_text("")
    for name in ("sandbox.py", "sandbox_harness.py"):
        shutil.copy(REPO / "tasks" / name, code_dir / "intent_mediator" / "tasks" / name)
    shutil.copy(Path(__file__).with_name("hostile_sandbox.py"), code_dir / "hostile_sandbox.py")
    marker_dir, home = tmp_path / "markers", tmp_path / "home"
    for path in (marker_dir, home):
        path.mkdir()
    for path in (tmp_path, code_dir, *code_dir.rglob("*"), marker_dir, home):
        path.chmod(0o777 if path in (marker_dir, home) else 0o755 if path.is_dir() else 0o644)

    def drop():
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "IM_TEST_SECRET": SECRET, "PYTHONPATH": str(code_dir)}
    done = subprocess.run(
        [interpreter, "-c", NON_ROOT_SCRIPT, str(code_dir), str(marker_dir), str(home), str(REPO)],
        env=env,
        preexec_fn=drop,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(home),
    )
    assert done.returncode == 0, done.stderr[-2000:]  # the parent was not killed
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["isolation"] == BUBBLEWRAP
    for results in report["results"].values():
        assert_contained(results, marker_dir, home)


def test_a_correct_solution_passes():
    result = run("def f(x):\n    return x\n")
    assert result.passed and result.isolation == sandbox_isolation()


@pytest.mark.parametrize(
    ("body", "reasons"),
    [
        ("def f(x):\n    while True:\n        pass\n", ("CPU time limit", "timed out")),
        ("def f(x):\n    time = __import__('time')\n    time.sleep(60)\n", ("timed out",)),
        ("def f(x):\n    block = bytearray(4 * 1024 ** 3)\n    return 1\n", ("MemoryError",)),
        ("import os\ndef f(x):\n    while True:\n        os.fork()\n", ("os.fork is not allowed",)),
        ("import subprocess\ndef f(x):\n    subprocess.run(['true'])\n    return 1\n", ("not allowed",)),
        ("def f(x):\n    open('big.bin', 'wb').write(b'0' * 8 * 1024 * 1024)\n    return 1\n", ("File too large",)),
        ("import ctypes\ndef f(x):\n    ctypes.CDLL(None)\n    return 1\n", ("not allowed",)),
    ],
)
def test_hostile_code_is_stopped_with_a_reason(body, reasons):
    result = run(body)
    assert not result.passed
    assert any(reason in result.reason for reason in reasons), result.reason


def test_huge_output_is_capped_while_streaming():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = run("import sys\ndef f(x):\n    while True:\n        sys.stdout.write('x' * 65536)\n")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert not result.passed and "printed more than" in result.reason
    assert grown_mb < 64


def test_a_forged_verdict_from_the_candidate_does_not_pass_a_check_test():
    forged = (
        "import os, json\ndef f(x):\n    for fd in range(1, 12):\n        try:\n"
        "            os.write(fd, (json.dumps({'verdict': True, 'reason': 'forged'}) + '\\n').encode())\n"
        "        except OSError:\n            pass\n    return 2\n"
    )
    assert not run(forged).passed
    always_equal = "class Any:\n    def __eq__(self, other):\n        return True\ndef f(x):\n    return Any()\n"
    result = run(always_equal)
    assert not result.passed and "not plain data" in result.reason


def test_writes_outside_the_working_directory_are_refused():
    target = Path("/tmp") / f"im-sandbox-escape-{os.getpid()}.txt"
    result = run(f"def f(x):\n    open({str(target)!r}, 'w').write('x')\n    return 1\n")
    assert not result.passed and "outside the working directory" in result.reason
    assert not target.exists()
    assert run("def f(x):\n    open('scratch.txt', 'w').write('ok')\n    return 1\n").passed


def test_the_rlimit_fallback_is_reported_as_weaker():
    result = run("def f(x):\n    return x\n", isolation=RLIMITS)
    assert result.passed and result.isolation == RLIMITS and "weaker sandbox" in result.reason
    assert not run("def f(x):\n    return 2\n", isolation=RLIMITS).passed


def test_code_scorer_turns_a_crash_into_zero_with_reason():
    from intent_mediator.data.loaders import load_records
    from intent_mediator.tasks import get_task

    record = load_records("builtin", tasks=["code"])[0]
    score = get_task("code").score(record, "def sum_even_squares(nums):\n    raise RuntimeError('boom')\n")
    assert score.value == 0.0 and "boom" in score.reason
    assert score.metadata["sandbox"] == sandbox_isolation()
