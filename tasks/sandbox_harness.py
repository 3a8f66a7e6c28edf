"""Runs inside the sandbox (stdlib only; also imported by the parent for `encode_value` / `decode_value`).

Two roles, chosen by the first argument:

- `serve`: load the candidate's code, then answer calls. The parent (or, through the parent, a `judge`) writes
  one JSON line per call, `{"args": [...], "kwargs": {...}}`; the harness replies with one line
  `{"value": <encoded return value>}` or `{"error": "<exception>"}`. Only plain data crosses the channel (see
  `encode_value`): the verdict is never computed here, so nothing the candidate prints or patches can forge it.
- `judge`: run a HumanEval-style `check(candidate)` test whose `candidate` is a stub that forwards every call
  to the `serve` process (relayed by the parent) and gets back decoded plain values. The test code never shares
  a process with the candidate. The last line is `{"verdict": true|false, "reason": "..."}`.

The channel lives on private copies of fds 0/1; before any untrusted code runs, fd 0 becomes /dev/null, fd 1 is
pointed at stderr (drained and capped by the parent) and `sys.stdin` is empty, so a stray top-level `input()`
or `print()` neither blocks nor touches the channel. An audit hook refuses process creation, sockets, native code
loading, signals and writes outside the working directory: the only barrier in the rlimit fallback, and a
second one inside bubblewrap.
"""

import io
import json
import math
import os
import sys
import traceback

_MAX_DEPTH = 64
_MAX_LINE = 4 * 1024 * 1024

_BLOCKED = {
    "os.fork",
    "os.forkpty",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.kill",
    "os.killpg",
    "os.rename",
    "os.link",
    "os.symlink",
    "os.remove",
    "os.rmdir",
    "os.chmod",
    "os.chown",
    "os.truncate",
    "os.setxattr",
    "os.removexattr",
    "subprocess.Popen",
    "ctypes.dlopen",
    "ctypes.dlsym",
    "ctypes.cdata",
    "signal.pthread_kill",
    "pty.spawn",
    "fcntl.ioctl",
    "mmap.__new__",
    "sys.remote_exec",
}
_BLOCKED_PREFIXES = ("socket.", "ctypes.", "winreg.", "webbrowser.")
_BLOCKED_IMPORTS = {"_posixsubprocess", "_ctypes", "ctypes", "_socket", "socket", "_multiprocessing", "resource"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_WORKDIR = os.path.realpath(os.getcwd())


class ChannelError(Exception):
    """A value that cannot cross the channel as plain data."""


def encode_value(value, depth=0):
    """`value` as tagged JSON data: only builtin scalars and containers; subclasses become their builtin base.

    Lists stay JSON arrays; tuples, dicts, sets, frozensets, bytes and complex numbers become one-key objects
    (`t`, `d`, `s`, `f`, `b`, `c`). Anything else (a custom class, a generator, a deque) is refused, so an object
    with a forged `__eq__` never reaches the comparison.
    """
    if depth > _MAX_DEPTH:
        raise ChannelError("the value is nested too deeply")
    kind = type(value)
    if value is None or kind is bool:
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        number = float.__float__(value)
        return number if math.isfinite(number) else {"x": repr(number)}
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray)):
        return {"b": bytes(value).hex()}
    if isinstance(value, complex):
        return {"c": [encode_value(value.real), encode_value(value.imag)]}
    if isinstance(value, list):
        return [encode_value(item, depth + 1) for item in list.__iter__(value)]
    if isinstance(value, tuple):
        return {"t": [encode_value(item, depth + 1) for item in tuple.__iter__(value)]}
    if isinstance(value, dict):
        return {"d": [[encode_value(k, depth + 1), encode_value(v, depth + 1)] for k, v in dict.items(value)]}
    if isinstance(value, frozenset):
        return {"f": [encode_value(item, depth + 1) for item in frozenset.__iter__(value)]}
    if isinstance(value, set):
        return {"s": [encode_value(item, depth + 1) for item in set.__iter__(value)]}
    raise ChannelError(f"returned a {kind.__name__}, which is not plain data")


def decode_value(data, depth=0):
    """The plain Python value of `encode_value`'s output (raises ChannelError on anything malformed)."""
    if depth > _MAX_DEPTH:
        raise ChannelError("the value is nested too deeply")
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is list:
        return [decode_value(item, depth + 1) for item in data]
    if type(data) is dict and len(data) == 1:
        ((tag, body),) = data.items()
        try:
            if tag == "t":
                return tuple(decode_value(item, depth + 1) for item in body)
            if tag == "d":
                return {decode_value(k, depth + 1): decode_value(v, depth + 1) for k, v in body}
            if tag == "s":
                return {decode_value(item, depth + 1) for item in body}
            if tag == "f":
                return frozenset(decode_value(item, depth + 1) for item in body)
            if tag == "b":
                return bytes.fromhex(body)
            if tag == "c":
                return complex(decode_value(body[0]), decode_value(body[1]))
            if tag == "x" and body in ("inf", "-inf", "nan"):
                return float(body)
        except (TypeError, ValueError) as exc:  # unhashable keys, malformed bodies
            raise ChannelError(f"malformed value: {exc}") from None
    raise ChannelError("malformed value")


def _audit(event, args):
    if event in _BLOCKED or event.startswith(_BLOCKED_PREFIXES):
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "import" and args and str(args[0]).split(".")[0] in _BLOCKED_IMPORTS:
        raise PermissionError(f"sandbox: importing {args[0]} is not allowed")
    if event == "open" and len(args) >= 3:
        path, mode, flags = args[0], args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writing:
            if not isinstance(path, (str, bytes)):
                raise PermissionError("sandbox: writing through a file descriptor is not allowed")
            if mode is None and not os.path.isabs(os.fsdecode(path)):  # os.open: may be relative to a dir_fd
                raise PermissionError("sandbox: os.open for writing needs an absolute path")
            real = os.path.realpath(os.fsdecode(path))
            if not real.startswith(_WORKDIR + os.sep):
                raise PermissionError(f"sandbox: writing outside the working directory is not allowed: {real}")


def _drop_privileges(uid):
    """Inside bubblewrap started by root: become `uid` before any job data is read (the process limit then applies)."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


class _Channel:
    def __init__(self):
        self.reader = os.fdopen(os.dup(0), "rb", buffering=0)
        self.writer = os.fdopen(os.dup(1), "wb", buffering=0)
        self._buffer = b""
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(2, 1)
        sys.stdin = io.StringIO("")

    def receive(self):
        while b"\n" not in self._buffer:
            chunk = self.reader.read(65536)
            if not chunk:
                return None
            self._buffer += chunk
            if len(self._buffer) > _MAX_LINE and b"\n" not in self._buffer:
                raise ChannelError("message too long")
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def send(self, message):
        data = json.dumps(message).encode()
        if len(data) > _MAX_LINE:
            data = json.dumps({"error": "the return value is larger than the sandbox's channel allows"}).encode()
        self.writer.write(data + b"\n")


def _reason(exc):
    return f"{type(exc).__name__}: {exc}"[:300]


def _load_candidate(job):
    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    exec(compile(job.get("prelude", ""), "prelude.py", "exec"), namespace)
    exec(compile(job["code"], "solution.py", "exec"), namespace)
    name = job["func_name"]
    found = namespace.get(name)
    if callable(found) and not isinstance(found, type):
        return found
    solution = namespace.get("Solution")
    if isinstance(solution, type) and callable(getattr(solution, name, None)):
        return getattr(solution(), name)
    fallback = namespace.get(job.get("fallback_name") or "")
    if callable(fallback) and not isinstance(fallback, type):
        return fallback
    raise NameError(f"no function named {name!r}")


def serve(channel):
    job = channel.receive()
    sys.setrecursionlimit(50000)
    try:
        candidate = _load_candidate(job)
    except BaseException as exc:  # whatever the candidate's module raised is its result
        channel.send({"error": _reason(exc)})
        return
    channel.send({"ready": True})
    while True:
        try:
            call = channel.receive()
        except BaseException as exc:
            channel.send({"error": _reason(exc)})
            return
        if call is None:
            return
        try:
            args = decode_value(call["args"])
            kwargs = decode_value(call.get("kwargs", {"d": []}))
            message = {"value": encode_value(candidate(*args, **kwargs))}
        except BaseException as exc:
            message = {"error": _reason(exc)}
        channel.send(message)


def judge(channel):
    job = channel.receive()

    def candidate(*args, **kwargs):
        channel.send({"call": {"args": encode_value(list(args)), "kwargs": encode_value(kwargs)}})
        reply = channel.receive()
        if reply is None:
            raise ChannelError("the candidate's process ended")
        if "error" in reply:
            raise RuntimeError(f"the candidate raised {reply['error']}")
        return decode_value(reply["value"])

    namespace = {"__name__": "tests"}
    try:
        exec(compile(job.get("prelude", ""), "prelude.py", "exec"), namespace)
        exec(compile(job["test"], "tests.py", "exec"), namespace)
        namespace[job.get("entry_point", "check")](candidate)
        verdict = {"verdict": True, "reason": "all asserts passed"}
    except AssertionError as exc:
        lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == "tests.py"]
        where = f" (tests.py line {lines[-1]})" if lines else ""
        verdict = {"verdict": False, "reason": f"a test assertion failed{where} {exc}".strip()[:300]}
    except BaseException as exc:
        verdict = {"verdict": False, "reason": _reason(exc)}
    channel.send(verdict)


def main(argv):
    role = argv[1]
    if "--uid" in argv:
        _drop_privileges(int(argv[argv.index("--uid") + 1]))
    channel = _Channel()
    if "--no-audit" not in argv:
        sys.addaudithook(_audit)
    if role == "serve":
        serve(channel)
    else:
        judge(channel)


if __name__ == "__main__":
    main(sys.argv)
