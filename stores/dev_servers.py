"""Throwaway PostgreSQL and Redis servers on loopback ports in a temporary folder, for tests and benchmarks.

Both come from Debian's packages (`postgresql`, `redis-server`). Nothing is installed or started system-wide:
each server lives in its own folder and is stopped (and the folder removed) on exit. PostgreSQL refuses to run
as root, so as root the cluster belongs to the unprivileged `postgres` account (created by the package).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class ServerUnavailable(RuntimeError):
    """The binaries are missing here; the message says which and how to install them."""


def postgres_bin_dir() -> Path | None:
    """The folder with `initdb` and `pg_ctl` (PATH first, then Debian's /usr/lib/postgresql/<version>/bin)."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before listening on port {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:g} s")


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start PostgreSQL on a free loopback port; yields `postgresql://postgres@127.0.0.1:<port>/postgres`."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise ServerUnavailable("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    as_root = os.geteuid() == 0
    account = pwd.getpwnam("postgres") if as_root else None
    if as_root and account is None:
        raise ServerUnavailable("running as root and no 'postgres' account to own the cluster")
    folder = Path(tempfile.mkdtemp(prefix="im-postgres-"))
    data = folder / "data"
    port = free_port()

    def run_as_owner(**kwargs) -> dict:
        if account is None:
            return kwargs
        return {**kwargs, "user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    if account is not None:
        os.chown(folder, account.pw_uid, account.pw_gid)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "-N"],
        check=True,
        capture_output=True,
        env=env,
        **run_as_owner(),
    )
    log = open(folder / "postgres.log", "wb")
    process = subprocess.Popen(
        [
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(folder),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env=env,
        **run_as_owner(),
    )
    try:
        _wait_for_port(port, process, "postgres")
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        _wait_for_postgres(url)
        yield url
    finally:
        _stop(process, signal.SIGINT)  # PostgreSQL's fast shutdown: it does not wait for clients to leave
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for_postgres(url: str, timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2) as con:
                con.execute("SELECT 1")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextmanager
def redis_server() -> Iterator[str]:
    """Start Redis on a free loopback port with persistence off; yields `redis://127.0.0.1:<port>/0`."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerUnavailable("redis-server not found: apt-get install redis-server")
    folder = Path(tempfile.mkdtemp(prefix="im-redis-"))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
