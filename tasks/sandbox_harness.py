"""Runs inside the sandboxed interpreter (stdlib only): executes a candidate solution against its tests.

Reads one JSON job from stdin and prints one line `<nonce> <json result>`. An audit hook, installed before the
candidate runs, refuses new processes, native code loading, and files opened for writing outside the working
directory; resource limits and a separate user are applied by the parent.
"""

import json
import os
import sys

_BLOCKED = {
    "os.fork",
    "os.forkpty",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "subprocess.Popen",
    "ctypes.dlopen",
    "os.kill",
    "os.killpg",
    "socket.connect",
    "socket.bind",
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _audit(event, args):
    if event in _BLOCKED:
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "open" and len(args) >= 3:
        path, mode, flags = args[0], args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writing and isinstance(path, (str, bytes)):
            real = os.path.realpath(os.fsdecode(path))
            if not real.startswith(_WORKDIR + os.sep):
                raise PermissionError(f"sandbox: writing outside the working directory is not allowed: {real}")


def _run(job):
    namespace = {"__name__": "solution"}
    exec(compile(job["code"], "solution.py", "exec"), namespace)
    candidate = namespace.get(job["func_name"])
    if not callable(candidate):
        return {"passed": False, "reason": f"no function named {job['func_name']!r}"}
    if job.get("test"):
        test_ns = {"__name__": "tests"}
        exec(compile(job["test"], "tests.py", "exec"), test_ns)
        test_ns["check"](candidate)
        return {"passed": True, "reason": "all asserts passed"}
    for index, case in enumerate(job["cases"]):
        args = [json.loads(line) for line in case["input"].split("\n") if line.strip()]
        expected = json.loads(case["output"])
        got = candidate(*args)
        if got != expected and not (isinstance(got, tuple) and list(got) == expected):
            return {"passed": False, "reason": f"test {index}: expected {expected!r}, got {got!r}"[:300]}
    return {"passed": True, "reason": f"{len(job['cases'])} tests passed"}


if __name__ == "__main__":
    job = json.loads(sys.stdin.read())
    _WORKDIR = os.path.realpath(os.getcwd())
    sys.addaudithook(_audit)
    try:
        result = _run(job)
    except BaseException as exc:  # the candidate's failure is the result, whatever it raised
        result = {"passed": False, "reason": f"{type(exc).__name__}: {exc}"[:300]}
    sys.stdout.write("\n" + job["nonce"] + " " + json.dumps(result) + "\n")
