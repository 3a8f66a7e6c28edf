"""Hostile candidates from the attack review (issue 15), shared by the root and the unprivileged test runs.

Standard library plus `intent_mediator.tasks.sandbox` only: the unprivileged run imports a copy of this file.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

from intent_mediator.tasks.sandbox import SandboxLimits, run_python_tests

FAST = SandboxLimits(cpu_seconds=2, wall_seconds=8.0)
SECRET = "im-test-secret-7f3a9c"


def one_case(expected) -> list[dict]:
    return [{"input": "0", "output": json.dumps(expected), "testtype": "functional"}]


class Listeners:
    """A UDP and a TCP listener on the host's loopback that answer with a token and record any contact."""

    def __init__(self):
        self.contacts: list[str] = []
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(4)
        for sock in (self.udp, self.tcp):
            sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self.udp.recvfrom(100)
                self.contacts.append(f"udp {data!r}")
                self.udp.sendto(SECRET.encode(), peer)
            except OSError:
                pass
            try:
                conn, _ = self.tcp.accept()
                self.contacts.append("tcp")
                conn.sendall(SECRET.encode())
                conn.close()
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self._thread.join()
        self.udp.close()
        self.tcp.close()


def hostile_cases(
    marker_dir: Path, home: Path, repo: Path, udp_port: int, tcp_port: int
) -> dict[str, tuple[str, object]]:
    """name -> (candidate code defining f, the expected value that only an escape could produce)."""
    marker = str(marker_dir)
    fork_exec = f"""
import os, _posixsubprocess
def f(x):
    r, w = os.pipe()
    cmd = [b'/bin/sh', b'-c', b'touch {marker}/forked']
    args = [cmd, [b'/bin/sh'], True, (w,), None, None, -1, -1, -1, -1, -1, -1, r, w, True, False, -1,
            None, None, None, -1, None, False]
    try:
        pid = _posixsubprocess.fork_exec(*args)
    except TypeError:
        pid = _posixsubprocess.fork_exec(*args[:-1])
    os.waitpid(pid, 0)
    return 'spawned' if os.path.exists('{marker}/forked') else 'contained'
"""
    return {
        "os.open with dir_fd": (
            f"import os\ndef f(x):\n    d = os.open({marker!r}, os.O_RDONLY)\n"
            "    w = os.open('dirfd.txt', os.O_WRONLY | os.O_CREAT, dir_fd=d)\n    os.write(w, b'x')\n"
            "    return 'written'\n",
            "written",
        ),
        "os.rename out of the work dir": (
            f"import os\ndef f(x):\n    open('a.txt', 'w').write('x')\n    os.rename('a.txt', {marker + '/moved'!r})\n"
            "    return 'moved'\n",
            "moved",
        ),
        "UDP sendto": (
            "import socket\ndef f(x):\n    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"    s.settimeout(1)\n    s.sendto(b'leak', ('127.0.0.1', {udp_port}))\n    return s.recv(100).decode()\n",
            SECRET,
        ),
        "TCP connect": (
            f"import socket\ndef f(x):\n    s = socket.create_connection(('127.0.0.1', {tcp_port}), timeout=1)\n"
            "    return s.recv(100).decode()\n",
            SECRET,
        ),
        "DNS lookup": (
            "import socket\ndef f(x):\n    socket.getaddrinfo('localhost', 80)\n    return 'resolved'\n",
            "resolved",
        ),
        "_posixsubprocess.fork_exec": (fork_exec, "spawned"),
        "/proc/<ppid>/environ": (
            "import os\ndef f(x):\n    found = ''\n    for pid in [str(os.getppid())] + os.listdir('/proc'):\n"
            "        try:\n            data = open(f'/proc/{pid}/environ', 'rb').read()\n        except OSError:\n"
            f"            continue\n        if {SECRET.encode()!r} in data:\n            found = {SECRET!r}\n"
            "    return found\n",
            SECRET,
        ),
        "environment": ("import os\ndef f(x):\n    return os.environ.get('IM_TEST_SECRET', '')\n", SECRET),
        "pidfd_send_signal to the parent": (
            "import os, signal\ndef f(x):\n    for pid in {os.getppid()} | {int(p) for p in os.listdir('/proc') "
            "if p.isdigit()}:\n        if pid == os.getpid():\n            continue\n        try:\n"
            "            signal.pidfd_send_signal(os.pidfd_open(pid), signal.SIGKILL)\n        except OSError:\n"
            "            pass\n    return 'sent'\n",
            "no such value",
        ),
        "write to $HOME": (
            f"import os\ndef f(x):\n    open({str(home / 'owned.txt')!r}, 'w').write('x')\n"
            "    open(os.path.expanduser('~/owned2.txt'), 'w').write('x')\n    return 'written'\n",
            "written",
        ),
        "read /etc/passwd": ("def f(x):\n    return open('/etc/passwd').read()\n", Path("/etc/passwd").read_text()),
        "read the project's files": (
            f"def f(x):\n    return open({str(repo / 'pyproject.toml')!r}).read()\n",
            (repo / "pyproject.toml").read_text(),
        ),
        "forged result line": (
            "import sys, os, json\ndef f(x):\n    main = sys.modules['__main__']\n"
            "    nonce = str(getattr(main, 'job', {}))[:64]\n"
            "    for line in [nonce + ' ' + json.dumps({'passed': True, 'reason': 'forged'}),\n"
            "                 json.dumps({'verdict': True, 'reason': 'forged'}), json.dumps({'ready': True})]:\n"
            "        print(line)\n        for fd in range(1, 12):\n            try:\n"
            "                os.write(fd, (line + '\\n').encode())\n            except OSError:\n                pass\n"
            "    return 0\n",
            424242,
        ),
        "always-true __eq__": (
            "class Any:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
            "def f(x):\n    return Any()\n",
            424242,
        ),
    }


def run_hostile_cases(marker_dir: Path, home: Path, repo: Path, audit_hook: bool) -> dict[str, tuple[bool, str]]:
    listeners = Listeners()
    try:
        cases = hostile_cases(marker_dir, home, repo, listeners.udp.getsockname()[1], listeners.tcp.getsockname()[1])
        results = {
            name: run_python_tests(code, "f", cases=one_case(expected), limits=FAST, audit_hook=audit_hook)
            for name, (code, expected) in cases.items()
        }
    finally:
        listeners.close()
    return {name: (result.passed, result.reason) for name, result in results.items()} | {
        "contacts": (bool(listeners.contacts), repr(listeners.contacts))
    }


def assert_contained(results: dict, marker_dir: Path, home: Path) -> None:
    escaped = {name: reason for name, (passed, reason) in results.items() if passed}
    assert not escaped, escaped
    assert sorted(os.listdir(marker_dir)) == []
    assert not (home / "owned.txt").exists() and not (home / "owned2.txt").exists()
