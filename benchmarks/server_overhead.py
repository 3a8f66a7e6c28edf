"""What the mediation server adds to each request, over the upstream's own latency (loopback only, bounded).

`intent-mediator serve` runs as a real process (1 or 2 worker processes), in front of a scripted
OpenAI-compatible upstream in another process (`_loopback_upstream.py`): the assistant model answers after a
fixed latency (default 100 ms), the Mediator's model at once. Everything a request takes beyond that latency is
the server's own cost: HTTP, authentication, validation, the artifact lookup, DSPy prompt building and parsing,
two model calls over loopback (through `--upstream-client`: lean, serve's default for openai/ models, or
litellm), the request memory and the conversation log. Closed-loop clients (1, 8, 32, 64
concurrent, asyncio) send 3-turn conversations (incremental mediation: the follow-up continues a remembered
request) for a fixed time per level. Storage: SQLite + in-process memory, or PostgreSQL + Redis (throwaway
servers on loopback ports). `--profile` samples the server with py-spy and reports self time by package.

    python benchmarks/server_overhead.py [--latency 0.1] [--seconds 10] [--clients 1,8,32,64] [--workers 1,2]
        [--storage sqlite,postgres] [--upstream-client lean,litellm] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _load import percentile, user_clients
from _results import write
from intent_mediator.server.auth import ApiKey
from intent_mediator.stores.dev_servers import free_port, postgres_server, redis_server

KEY = "bench-key-0123456789abcdef"
TURNS = ["sum a list", "only the even numbers", "as a one-liner"]


def start_upstream(latency: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]); from _loopback_upstream import LoopbackUpstream; "
        f"LoopbackUpstream(latency={latency}).start(port={port}); time.sleep(10**6)"
    )
    process = subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).parent)])
    _wait(f"http://127.0.0.1:{port}/v1/chat/completions", process, method="POST")
    return process, f"http://127.0.0.1:{port}/v1"


def start_server(
    upstream: str, workers: int, store: str, memory: str, folder: Path, via: str = "lean"
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    keys = folder / "keys"
    keys.write_text(ApiKey.from_secret(KEY, "bench").line() + "\n")
    command = [
        sys.executable, "-m", "intent_mediator.cli", "serve", "--port", str(port), "--workers", str(workers),
        "--upstream", "openai/slow", "--mediator", "openai/ok", "--api-base", upstream, "--api-keys-file", str(keys),
        "--store", store, "--memory", memory, "--mediator-history", "incremental", "--upstream-client", via,
    ]  # fmt: skip
    env = {**os.environ, "OPENAI_API_KEY": "sk-loopback", "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp()}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _wait(f"http://127.0.0.1:{port}/healthz", process)
    return process, f"http://127.0.0.1:{port}"


def _wait(url: str, process: subprocess.Popen, method: str = "GET", timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            httpx.request(method, url, timeout=2, json={"model": "ok", "messages": []})
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


async def client(http: httpx.AsyncClient, url: str, until: float, timings: list, errors: Counter) -> None:
    """One user: 3-turn conversations, each turn sent with the whole history, until the level ends."""
    while time.perf_counter() < until:
        messages: list[dict] = []
        for turn in TURNS:
            messages.append({"role": "user", "content": turn})
            started = time.perf_counter()
            try:
                response = await http.post(url, json={"model": "x", "messages": messages})
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
                break
            timings.append(time.perf_counter() - started)
            if response.status_code != 200:
                errors[f"HTTP {response.status_code}"] += 1
                break
            if response.headers.get("x-mediator-fallback"):
                errors["mediator fallback"] += 1
            messages.append({"role": "assistant", "content": response.json()["choices"][0]["message"]["content"]})


async def level(base: str, clients: int, seconds: float) -> tuple[list[float], Counter, float]:
    """`clients` users for `seconds`, each with its own connection (`_load.user_clients`)."""
    timings: list[float] = []
    errors: Counter = Counter()
    url = f"{base}/v1/chat/completions"
    async with user_clients(clients, {"Authorization": f"Bearer {KEY}"}) as users:
        await client(users[0], url, time.perf_counter() + 1.0, [], Counter())  # warm-up
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(client(user, url, until, timings, errors) for user in users))
        wall = time.perf_counter() - started
    return timings, +errors, wall


def _package(frame: str) -> str:
    """py-spy frames read 'function (path/to/file.py:line)'."""
    path = frame.rpartition("(")[2]
    if "site-packages/" in path:
        return path.split("site-packages/")[1].split("/")[0].removesuffix(".py")
    if "intent_mediator" in path or "/work/" in path:
        return "intent_mediator"
    return "stdlib" if "python3" in path else "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.1, help="upstream latency in seconds")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each level")
    parser.add_argument("--clients", default="1,8,32,64")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--storage", default="sqlite,postgres")
    parser.add_argument("--upstream-client", default="lean", help="serve's upstream client(s): lean, litellm or both")
    parser.add_argument("--profile", action="store_true", help="py-spy the server at 32 clients (1 worker, sqlite)")
    args = parser.parse_args()
    upstream_process, upstream = start_upstream(args.latency)
    rows, data = [], {"latency_s": args.latency, "seconds_per_level": args.seconds, "levels": []}
    upstream_clients = args.upstream_client.split(",")
    stack = contextlib.ExitStack()
    try:
        for storage in args.storage.split(","):
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            if storage == "postgres":
                store, memory = stack.enter_context(postgres_server()), stack.enter_context(redis_server())
            else:
                store, memory = f"sqlite:///{folder / 'logs.db'}", "memory://"
            for via, workers in ((c, int(w)) for c in upstream_clients for w in args.workers.split(",")):
                server, base = start_server(upstream, workers, store, memory, folder, via)
                try:
                    for clients in (int(c) for c in args.clients.split(",")):
                        profiled = args.profile and (storage, workers, clients) == ("sqlite", 1, 32)
                        profiled = profiled and via == upstream_clients[0]
                        timings, errors, wall = asyncio.run(level(base, clients, args.seconds))
                        overhead = [1000 * (t - args.latency) for t in timings]
                        entry = {
                            "storage": storage, "upstream_client": via, "workers": workers, "clients": clients,
                            "requests": len(timings),
                            "errors": dict(errors), "throughput_rps": len(timings) / wall,
                            "overhead_ms": {q: percentile(overhead, p) for q, p in
                                            (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))},
                        }  # fmt: skip
                        if profiled:
                            entry["profile"] = profile_level(server.pid, base, clients, args.seconds)
                        data["levels"].append(entry)
                        o = entry["overhead_ms"]
                        rows.append([storage, via, workers, clients, len(timings), sum(errors.values()),
                                     entry["throughput_rps"], o["p50"], o["p95"], o["p99"]])  # fmt: skip
                        print(rows[-1], flush=True)
                finally:
                    server.terminate()
                    server.wait(timeout=30)
    finally:
        stack.close()
        upstream_process.terminate()
    write(
        "server_overhead",
        data,
        ["storage", "client", "workers", "clients", "requests", "errors", "req/s", "p50 overhead (ms)", "p95", "p99"],
        rows,
        f"Upstream latency {1000 * args.latency:.0f} ms (loopback, another process); overhead = request time - "
        "upstream latency; the Mediator's model call (loopback, no latency) counts as overhead. "
        f"{os.cpu_count()} cores shared by server, upstream and clients. "
        f"Reproduce: `{' '.join(['python', 'benchmarks/server_overhead.py', *sys.argv[1:]])}`.",
    )


def profile_level(pid: int, base: str, clients: int, seconds: float) -> dict[str, float]:
    """Run one more level of `clients` while py-spy samples the server."""
    out = Path(tempfile.mkdtemp()) / "profile.txt"
    sampler = subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds)), "--format", "raw",
         "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    asyncio.run(level(base, clients, seconds))
    sampler.wait(timeout=seconds + 30)
    totals: Counter = Counter()
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        totals[_package(stack.split(";")[-1])] += int(count)
    overall = sum(totals.values()) or 1
    return {name: round(n / overall, 3) for name, n in totals.most_common() if n / overall >= 0.01}


if __name__ == "__main__":
    main()
