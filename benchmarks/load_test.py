"""Load test of `intent-mediator serve`: N concurrent clients for T seconds against a loopback scripted upstream.

Three processes on 127.0.0.1: the scripted OpenAI-compatible upstream (`_loopback_upstream.py`; the assistant
model `slow` answers after `--latency` seconds, the Mediator model `ok` at once), the server started through the
real command line (`intent-mediator serve --upstream openai/slow --mediator openai/ok --api-keys-file ...`,
both reached through serve's default client for `openai/` models, the lean one), and this one, whose asyncio
clients (one connection each) each send a 3-turn conversation, wait for the answer, and send the next, until the
time is up.

Reported: requests, errors (any non-200 or transport failure), requests/s, latency and overhead percentiles
(overhead = latency - the upstream's latency: the server's own work plus the Mediator's loopback round trip),
and the server's resident memory after warm-up and at the end (growth under sustained load).

    python benchmarks/load_test.py [--clients 50] [--seconds 30] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _load import percentile, user_clients
from _results import write
from intent_mediator.server.auth import ApiKey, new_key

HERE = Path(__file__).parent
MESSAGES = [
    {"role": "user", "content": "sum a list"},
    {"role": "assistant", "content": "def f(xs): return sum(xs)"},
    {"role": "user", "content": "only the even numbers"},
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_processes(latency: float, folder: Path) -> tuple[subprocess.Popen, subprocess.Popen, str, str]:
    upstream = subprocess.Popen(
        [sys.executable, str(HERE / "_loopback_upstream.py"), "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    upstream_url = upstream.stdout.readline().strip()
    key = new_key()
    (folder / "keys.txt").write_text(ApiKey.from_secret(key, "loadtest").line() + "\n")
    port = free_port()
    command = [
        sys.executable,
        "-c",
        "import sys; from intent_mediator import cli; sys.exit(cli.main(sys.argv[1:]))",
        "serve",
        "--upstream",
        "openai/slow",
        "--mediator",
        "openai/ok",
        "--api-base",
        upstream_url,
        "--api-keys-file",
        str(folder / "keys.txt"),
        "--port",
        str(port),
        "--upstream-timeout",
        "30",
    ]
    env = {**os.environ, "OPENAI_API_KEY": "sk-loopback", "DSPY_CACHEDIR": str(folder / "dspy-cache")}
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    server.stdout.readline()  # the start-up line
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    return upstream, server, url, key


async def client(http: httpx.AsyncClient, until: float, timings: list[float], errors: list[str]) -> None:
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            response = await http.post("/v1/chat/completions", json={"model": "x", "messages": MESSAGES})
            if response.status_code == 200:
                timings.append(time.perf_counter() - started)
            else:
                errors.append(f"HTTP {response.status_code}")
        except httpx.HTTPError as exc:
            errors.append(type(exc).__name__)


async def load(url: str, key: str, clients: int, seconds: float) -> tuple[list[float], list[str], float]:
    """`clients` users for `seconds`, each with its own connection (`_load.user_clients`)."""
    timings: list[float] = []
    errors: list[str] = []
    async with user_clients(clients, {"Authorization": f"Bearer {key}"}, base_url=url) as users:
        started = time.monotonic()
        await asyncio.gather(*(client(user, started + seconds, timings, errors) for user in users))
        wall = time.monotonic() - started
    return timings, errors, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--latency", type=float, default=0.1, help="the upstream's latency in seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        upstream, server, url, key = start_processes(args.latency, Path(tmp))
        try:
            asyncio.run(load(url, key, min(args.clients, 8), 3.0))  # warm-up: imports, first connections
            rss_start, load_average = rss_mb(server.pid), os.getloadavg()[0]
            timings, errors, wall = asyncio.run(load(url, key, args.clients, args.seconds))
            rss_end = rss_mb(server.pid)
        finally:
            for process in (server, upstream):
                process.terminate()
                process.wait(timeout=30)
    overhead = [1000 * (t - args.latency) for t in timings]
    data = {
        "clients": args.clients,
        "seconds": args.seconds,
        "upstream_latency_s": args.latency,
        "requests": len(timings) + len(errors),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "throughput_rps": (len(timings) + len(errors)) / wall,
        "latency_p50_ms": 1000 * statistics.median(timings),
        "overhead_p50_ms": statistics.median(overhead),
        "overhead_p95_ms": percentile(overhead, 0.95),
        "overhead_p99_ms": percentile(overhead, 0.99),
        "server_rss_mb_after_warmup": rss_start,
        "server_rss_mb_at_end": rss_end,
        "server_rss_growth_mb": rss_end - rss_start,
        "machine_load_average_1min_at_start": load_average,
    }
    write(
        "load_test",
        data,
        ["clients", "seconds", "requests", "errors", "req/s", "overhead p50 (ms)", "overhead p95 (ms)", "RSS growth"],
        [
            [
                args.clients,
                args.seconds,
                data["requests"],
                data["errors"],
                data["throughput_rps"],
                data["overhead_p50_ms"],
                data["overhead_p95_ms"],
                f"{rss_start:.0f} -> {rss_end:.0f} MB",
            ]
        ],
        f"Upstream latency {1000 * args.latency:.0f} ms (scripted, loopback HTTP); overhead = latency - upstream "
        "latency, including the Mediator's loopback round trip. Server through `intent-mediator serve`, one process; "
        f"machine load average {load_average:.1f} at the start (on {os.cpu_count()} CPUs shared with other work). "
        f"Reproduce: `python benchmarks/load_test.py --clients {args.clients} --seconds {args.seconds:g}`.",
    )


if __name__ == "__main__":
    main()
