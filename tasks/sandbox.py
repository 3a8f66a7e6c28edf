"""Run untrusted generated code in an isolated process and judge it from outside.

Isolation (`sandbox_isolation()`):

- "bubblewrap" whenever `bwrap` works on the machine: no network (own net namespace), own PID namespace (the
  parent's processes and /proc are unreachable), a read-only root holding only /usr and the interpreter's
  prefix (no /etc, no home, no project files), a private size-capped tmpfs for /tmp and the working directory,
  an empty environment, a new session; started by root, the harness becomes `nobody` so the process limit
  applies. Resource limits (CPU, memory, file size, open files) apply inside.
- "rlimits" otherwise: the same resource limits, an empty environment, a separate user when the parent runs as
  root, and an in-process audit hook. This is weaker (the file system and network are the host's), and every
  result says so: a warning is logged once, `SandboxResult.isolation` and the reason name it.

Verdicts: the candidate's process only ever returns values. The parent sends the call arguments over a pipe,
reads back each return value serialised as plain data (`sandbox_harness.encode_value`) and compares it
itself; HumanEval `check()` tests run in a second sandboxed process that never holds the candidate's code. So
printing a result line, reading the job, or returning an object whose `__eq__` is always true cannot pass a
test. All output from the children is read in bounded chunks (a capped tail is kept; too much output stops the
run) and every wait honours one wall-clock deadline.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import resource
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from intent_mediator.tasks.sandbox_harness import ChannelError, decode_value, encode_value

logger = logging.getLogger(__name__)

HARNESS = Path(__file__).with_name("sandbox_harness.py")
NOBODY = 65534
BUBBLEWRAP = "bubblewrap"
RLIMITS = "rlimits"
WEAKER_NOTE = "weaker sandbox: rlimits only, install bubblewrap for OS-level isolation"
_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


@dataclass(frozen=True)
class SandboxLimits:
    """Limits for one sandboxed run (all of its tests together share `wall_seconds`)."""

    cpu_seconds: int = 5
    wall_seconds: float = 10.0
    memory_bytes: int = 512 * 1024 * 1024
    file_bytes: int = 1024 * 1024
    open_files: int = 64
    scratch_bytes: int = 16 * 1024 * 1024  # each of the private /tmp and working directory (bubblewrap)
    output_bytes: int = 8 * 1024 * 1024  # printed output beyond this stops the run
    message_bytes: int = 4 * 1024 * 1024  # one serialised return value


@dataclass(frozen=True)
class SandboxResult:
    passed: bool
    reason: str
    isolation: str = BUBBLEWRAP


class _Stop(Exception):
    """The run ends here with `reason` (a limit, a dead child, a malformed message)."""


def _world_executable(path: Path) -> bool:
    """True when an unprivileged user can run `path` (every parent directory must be searchable by others)."""
    try:
        if not path.stat().st_mode & stat.S_IXOTH:
            return False
        return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.resolve().parents)
    except OSError:
        return False


def _fallback_interpreter(drop_privileges: bool) -> str:
    if not drop_privileges:
        return sys.executable
    # The unprivileged user may not reach this interpreter (e.g. under /root); the harness needs stdlib only.
    for candidate in (sys.executable, shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or ""):
        if candidate and _world_executable(Path(candidate)):
            return candidate
    raise RuntimeError("no Python interpreter an unprivileged user can run was found for the sandbox")


def _bwrap_command(role: str, harness_fd: int, limits: SandboxLimits, audit_hook: bool = True) -> list[str]:
    bwrap = shutil.which("bwrap")
    assert bwrap
    root = os.geteuid() == 0
    command = [bwrap, "--die-with-parent", "--new-session", "--clearenv"]
    for key, value in {**_ENV, "HOME": "/work"}.items():
        command += ["--setenv", key, value]
    if root:  # no user namespace: the harness drops to `nobody` itself, so RLIMIT_NPROC counts a real user
        command += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        command += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        command += ["--unshare-all", "--unshare-user", "--disable-userns"]
    command += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            command += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            command += ["--ro-bind", str(path), str(path)]
    interpreter = os.path.realpath(sys.executable)
    for extra in sorted({os.path.realpath(sys.base_prefix), os.path.dirname(interpreter)}):
        if extra != "/usr" and not extra.startswith("/usr/"):
            for parent in reversed(Path(extra).parents[:-1]):  # searchable by the unprivileged user
                command += ["--perms", "0755", "--dir", str(parent)]
            command += ["--ro-bind", extra, extra]
    size = ["--size", str(limits.scratch_bytes)]
    command += ["--dev", "/dev", "--proc", "/proc"]
    command += ["--perms", "1777", *size, "--tmpfs", "/tmp", "--perms", "1777", *size, "--tmpfs", "/work"]
    command += ["--ro-bind-data", str(harness_fd), "/job/sandbox_harness.py", "--chdir", "/work", "--remount-ro", "/"]
    command += ["--", interpreter, "-I", "-S", "-B", "/job/sandbox_harness.py", role]
    return command + (["--uid", str(NOBODY)] if root else []) + ([] if audit_hook else ["--no-audit"])


@functools.lru_cache(maxsize=1)
def sandbox_isolation() -> str:
    """ "bubblewrap" when `bwrap` is installed and works here, else "rlimits" (logged once as a warning).

    `INTENT_MEDIATOR_SANDBOX=rlimits` forces the fallback (for comparison runs only).
    """
    forced = os.environ.get("INTENT_MEDIATOR_SANDBOX", "").strip().lower()
    if forced == RLIMITS:
        logger.warning("INTENT_MEDIATOR_SANDBOX=rlimits: generated code runs with the %s", WEAKER_NOTE)
        return RLIMITS
    problem = "bwrap is not installed" if not shutil.which("bwrap") else _bwrap_self_test()
    if problem is None:
        return BUBBLEWRAP
    logger.warning("%s: generated code runs with the %s (no file-system or network isolation)", problem, WEAKER_NOTE)
    return RLIMITS


def _bwrap_self_test() -> str | None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"import sys\nsys.stdout.write('ok')\n")
    os.close(write_end)
    try:
        command = _bwrap_command("selftest", read_end, SandboxLimits())
        done = subprocess.run(command, pass_fds=(read_end,), capture_output=True, timeout=30, env=_ENV)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not start ({exc})"
    finally:
        os.close(read_end)
    if done.stdout != b"ok":
        return f"bwrap does not work here ({done.stderr.decode(errors='replace').strip()[:200]})"
    return None


def _preexec(limits: SandboxLimits, drop_privileges: bool, process_limit: bool):
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
        if process_limit:  # counted per real user: only meaningful once the child is not root
            resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))

    return apply


class _Drain(threading.Thread):
    """Reads a child's printed output as it streams, keeps a short tail, and stops the child past a cap."""

    def __init__(self, stream, cap: int, on_overflow):
        super().__init__(daemon=True)
        self.stream, self.cap, self.on_overflow = stream, cap, on_overflow
        self.tail, self.total, self.overflow = b"", 0, False

    def run(self) -> None:
        fd = self.stream.fileno()
        while chunk := os.read(fd, 65536):
            self.total += len(chunk)
            self.tail = (self.tail + chunk)[-2000:]
            if self.total > self.cap and not self.overflow:
                self.overflow = True
                self.on_overflow()

    def last_line(self) -> str:
        lines = self.tail.decode(errors="replace").strip().splitlines()
        return lines[-1][:200] if lines else ""


class _Child:
    """One sandboxed harness process speaking JSON lines over its stdin/stdout."""

    def __init__(self, role: str, limits: SandboxLimits, isolation: str, deadline: float, audit_hook: bool):
        self.limits, self.deadline, self.isolation = limits, deadline, isolation
        self._buffer = b""
        self._workdir: Path | None = None
        root = os.geteuid() == 0
        if isolation == BUBBLEWRAP:
            read_end, write_end = os.pipe()
            os.write(write_end, HARNESS.read_bytes())  # well under a pipe's buffer
            os.close(write_end)
            try:
                self.process = subprocess.Popen(
                    _bwrap_command(role, read_end, limits, audit_hook),
                    pass_fds=(read_end,),
                    **self._popen_common(_preexec(limits, False, root)),
                )
            finally:
                os.close(read_end)
        else:
            self._workdir = Path(tempfile.mkdtemp(prefix="im-sandbox-"))
            harness = self._workdir / HARNESS.name
            shutil.copyfile(HARNESS, harness)
            if root:
                os.chown(self._workdir, NOBODY, NOBODY)
                os.chmod(harness, 0o644)
            self.process = subprocess.Popen(
                [_fallback_interpreter(root), "-I", "-S", "-B", harness.name, role]
                + ([] if audit_hook else ["--no-audit"]),
                cwd=self._workdir,
                **self._popen_common(_preexec(limits, root, root)),
            )
        stdin, stdout, stderr = self.process.stdin, self.process.stdout, self.process.stderr
        # `_popen_common` asks for all three pipes, so Popen has opened each of them.
        assert stdin is not None and stdout is not None and stderr is not None
        self._stdin_pipe, self._stdout_pipe, self._stderr_pipe = stdin, stdout, stderr
        self._stdin = stdin.fileno()
        self._stdout = stdout.fileno()
        os.set_blocking(self._stdin, False)
        self.drain = _Drain(stderr, limits.output_bytes, self.kill)
        self.drain.start()

    @staticmethod
    def _popen_common(preexec) -> dict:
        return dict(
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(_ENV),
            preexec_fn=preexec,
            start_new_session=True,
        )

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Stop(f"timed out after {self.limits.wall_seconds:g} s wall-clock")
        return remaining

    def send(self, message: dict) -> None:
        data = json.dumps(message).encode() + b"\n"
        while data:
            _, writable, _ = select.select([], [self._stdin], [], self._remaining())
            if not writable:
                continue
            try:
                written = os.write(self._stdin, data)
            except (BrokenPipeError, BlockingIOError):
                raise _Stop(self.ended()) from None
            data = data[written:]

    def receive(self) -> dict:
        while b"\n" not in self._buffer:
            readable, _, _ = select.select([self._stdout], [], [], self._remaining())
            if not readable:
                continue
            chunk = os.read(self._stdout, 65536)
            if not chunk:
                raise _Stop(self.ended())
            self._buffer += chunk
            if len(self._buffer) > self.limits.message_bytes:
                raise _Stop(f"a message from the sandbox exceeded {self.limits.message_bytes} bytes")
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            raise _Stop("the sandbox sent a malformed message") from None
        if not isinstance(message, dict):
            raise _Stop("the sandbox sent a malformed message")
        return message

    def ended(self) -> str:
        """Why the child stopped talking (its exit status, or the last line it printed)."""
        try:
            code = self.process.wait(timeout=max(0.1, min(2.0, self.deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            return "the sandboxed process stopped answering"
        if self.drain.overflow:
            return f"printed more than {self.limits.output_bytes} bytes"
        signo = -code if code < 0 else code - 128 if self.isolation == BUBBLEWRAP and code > 128 else 0
        if signo:
            name = signal.Signals(signo).name if signo in signal.Signals._value2member_map_ else str(signo)
            why = " (CPU time limit)" if name in ("SIGXCPU", "SIGKILL") else ""
            return f"killed by {name}{why}"
        self.drain.join(timeout=1.0)
        return f"the sandboxed run ended (exit {code}): {self.drain.last_line() or 'no output'}"

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        self.kill()
        self.process.wait()
        for stream in (self._stdin_pipe, self._stdout_pipe):
            try:
                stream.close()
            except OSError:
                pass
        self.drain.join(timeout=2.0)
        self._stderr_pipe.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)


def plain_equal(got, expected) -> bool:
    """Equality on decoded plain values; tuples count as lists (JSON test data has no tuples)."""

    def lists(value):
        if isinstance(value, (list, tuple)):
            return [lists(item) for item in value]
        if isinstance(value, dict):
            return {key: lists(item) for key, item in value.items()}
        return value

    return lists(got) == lists(expected)


def run_python_tests(
    code: str,
    func_name: str,
    *,
    test: str | None = None,
    cases: list[dict] | None = None,
    prelude: str = "",
    fallback_name: str | None = None,
    limits: SandboxLimits | None = None,
    isolation: str | None = None,
    audit_hook: bool = True,
) -> SandboxResult:
    """Load `code` in a sandbox and check `func_name` against functional test cases or a `check(candidate)` test.

    Args:
        code: The candidate's module source.
        func_name: The function to test; a `Solution` class's method of that name also counts.
        test: A HumanEval test defining `check(candidate)`; used only when `cases` is empty.
        cases: LiveCodeBench-style cases: `input` holds one JSON value per line (the positional arguments),
            `output` the JSON return value.
        prelude: Code run before `code` in the same namespace (the standard imports).
        fallback_name: A top-level function to test when `func_name` is not defined.
        limits: Resource limits; `isolation`: "bubblewrap" or "rlimits" (default: `sandbox_isolation()`).
        audit_hook: Install the in-process audit hook (the hostile-input tests turn it off to show that
            bubblewrap alone contains the code).

    Returns:
        Whether every test passed, and why not (the failing case, an exception, or the limit that stopped the
        run). Never raises for anything the candidate does.
    """
    limits = limits or SandboxLimits()
    isolation = isolation or sandbox_isolation()
    deadline = time.monotonic() + limits.wall_seconds
    children: list[_Child] = []
    try:
        candidate = _Child("serve", limits, isolation, deadline, audit_hook)
        children.append(candidate)
        candidate.send({"code": code, "prelude": prelude, "func_name": func_name, "fallback_name": fallback_name})
        ready = candidate.receive()
        if "error" in ready:
            passed, reason = False, f"loading the code failed: {ready['error']}"
        elif cases:
            passed, reason = _run_cases(candidate, cases)
        elif test:
            judge = _Child("judge", limits, isolation, deadline, audit_hook)
            children.append(judge)
            passed, reason = _run_check(candidate, judge, test, prelude)
        else:
            passed, reason = False, "no tests to run"
    except _Stop as stop:
        passed, reason = False, str(stop)
    finally:
        for child in children:
            child.close()
    if isolation != BUBBLEWRAP:
        reason = f"{reason} [{WEAKER_NOTE}]"
    return SandboxResult(passed, reason, isolation)


def _run_cases(candidate: _Child, cases: list[dict]) -> tuple[bool, str]:
    for index, case in enumerate(cases):
        args = [json.loads(line) for line in case["input"].split("\n") if line.strip()]
        expected = json.loads(case["output"])
        candidate.send({"args": encode_value(args)})
        reply = candidate.receive()
        if "error" in reply:
            return False, f"test {index}: {reply['error']}"[:300]
        try:
            got = decode_value(reply.get("value"))
        except (ChannelError, RecursionError) as exc:
            return False, f"test {index}: the return value is not plain data ({exc})"
        if not plain_equal(got, expected):
            return False, f"test {index}: expected {expected!r}, got {got!r}"[:300]
    return True, f"{len(cases)} tests passed"


def _run_check(candidate: _Child, judge: _Child, test: str, prelude: str) -> tuple[bool, str]:
    judge.send({"test": test, "prelude": prelude})
    while True:
        message = judge.receive()
        if "verdict" in message:
            return bool(message["verdict"] is True), str(message.get("reason", ""))[:300]
        call = message.get("call")
        if not isinstance(call, dict):
            raise _Stop("the test runner sent a malformed message")
        candidate.send(call)
        reply = candidate.receive()
        judge.send({"error": str(reply["error"])} if "error" in reply else {"value": reply.get("value")})
