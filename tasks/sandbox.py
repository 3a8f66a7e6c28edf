"""Run untrusted generated code in a sandboxed subprocess.

Limits: CPU seconds, wall-clock seconds, address space, file size, open files and processes; a fresh temporary
working directory; an environment holding only PATH and LANG; a separate unprivileged user when the parent
runs as root (so the process limit and file permissions apply); and, inside the child, an audit hook that
refuses process creation, native code loading and writes outside the working directory.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

HARNESS = Path(__file__).with_name("sandbox_harness.py")
NOBODY = 65534


@dataclass(frozen=True)
class SandboxLimits:
    cpu_seconds: int = 5
    wall_seconds: float = 10.0
    memory_bytes: int = 512 * 1024 * 1024
    file_bytes: int = 1024 * 1024
    open_files: int = 64


@dataclass(frozen=True)
class SandboxResult:
    passed: bool
    reason: str


def _world_executable(path: Path) -> bool:
    """True when an unprivileged user can run `path` (every parent directory must be searchable by others)."""
    try:
        if not path.stat().st_mode & stat.S_IXOTH:
            return False
        return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.resolve().parents)
    except OSError:
        return False


def _interpreter(drop_privileges: bool) -> str:
    if not drop_privileges:
        return sys.executable
    # The unprivileged user may not reach this interpreter (e.g. under /root); the candidate needs stdlib only.
    for candidate in (sys.executable, shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or ""):
        if candidate and _world_executable(Path(candidate)):
            return candidate
    raise RuntimeError("no Python interpreter an unprivileged user can run was found for the sandbox")


def _limit(limits: SandboxLimits, drop_privileges: bool):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if drop_privileges:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
        resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))

    return apply


def run_python_tests(
    code: str,
    func_name: str,
    *,
    test: str | None = None,
    cases: list[dict] | None = None,
    limits: SandboxLimits | None = None,
) -> SandboxResult:
    """Run `code` and check `func_name` against a HumanEval `check(candidate)` test or functional test cases.

    Returns:
        Whether every test passed, and the reason (a failing assertion, an exception, or the limit that stopped
        the run). Never raises for anything the candidate does.
    """
    limits = limits or SandboxLimits()
    drop = os.geteuid() == 0
    nonce = secrets.token_hex(16)
    job = json.dumps({"code": code, "func_name": func_name, "test": test, "cases": cases or [], "nonce": nonce})
    workdir = Path(tempfile.mkdtemp(prefix="im-sandbox-"))
    try:
        harness = workdir / HARNESS.name
        shutil.copyfile(HARNESS, harness)
        if drop:
            os.chown(workdir, NOBODY, NOBODY)
            os.chmod(harness, 0o644)
        process = subprocess.Popen(
            [_interpreter(drop), "-I", "-S", harness.name],
            cwd=workdir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            preexec_fn=_limit(limits, drop),
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(job.encode(), timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return SandboxResult(False, f"timed out after {limits.wall_seconds:g} s wall-clock")
        _kill_group(process)
        for line in reversed(stdout.decode(errors="replace").splitlines()):
            if line.startswith(nonce + " "):
                result = json.loads(line[len(nonce) + 1 :])
                return SandboxResult(bool(result["passed"]), str(result["reason"]))
        if process.returncode < 0:
            name = signal.Signals(-process.returncode).name
            reason = "CPU time limit" if name in ("SIGXCPU", "SIGKILL") else name
            return SandboxResult(False, f"killed by {name} ({reason})")
        tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return SandboxResult(False, f"the sandboxed run failed (exit {process.returncode}): {tail[0][:200]}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
