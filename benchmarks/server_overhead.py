"""The mediation server's own overhead per request, over the upstream latency (loopback only, bounded).

The upstream is a scripted engine that sleeps a fixed latency; the Mediator is scripted with no latency, so
what a request takes beyond the upstream latency is the server's own cost (HTTP, validation, artifact lookup,
DSPy prompt building and parsing for the Mediator, logging). The server runs in its own process; clients (1, 8
and 32 concurrent, each sending a fixed number of requests) run in this one.

    python benchmarks/server_overhead.py [--latency 0.1] [--requests 20]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).parent))
from _results import write
from intent_mediator import ScriptedEngine
from intent_mediator.server import ServerConfig, create_app
from intent_mediator.server.auth import ApiKey, KeyRing

MESSAGES = [
    {"role": "user", "content": "sum a list"},
    {"role": "assistant", "content": "def f(xs): ..."},
    {"role": "user", "content": "only the even numbers"},
]


def start_subprocess(latency: float):
    import subprocess

    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--latency", str(latency)], stdout=subprocess.PIPE, text=True
    )
    url = process.stdout.readline().strip()
    return process, url


def start(latency: float):
    upstream = ScriptedEngine(default="fine", latency=latency)
    mediator = ScriptedEngine(default={"request": "sum the even numbers of a list"})
    app = create_app(
        ServerConfig(keys=KeyRing([ApiKey.from_secret("k", "bench")])),
        upstream_lm=upstream.lm("assistant"),
        mediator_lm=mediator.lm("mediator"),
    )
    sock = socket.socket()
    # Accepted connections inherit this; without it, delayed ACKs add ~40 ms per keep-alive request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}/v1/chat/completions"


def client_run(url: str, requests: int) -> list[float]:
    timings = []
    with httpx.Client(headers={"Authorization": "Bearer k"}, timeout=60) as http:
        for _ in range(requests):
            started = time.perf_counter()
            response = http.post(url, json={"model": "x", "messages": MESSAGES})
            response.raise_for_status()
            timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.1, help="upstream latency in seconds")
    parser.add_argument("--requests", type=int, default=20, help="requests per client")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _, url = start(args.latency)
        print(url, flush=True)
        while True:
            time.sleep(3600)
    process, url = start_subprocess(args.latency)
    client_run(url, 3)  # warm-up
    rows, data = [], {"latency_s": args.latency, "requests_per_client": args.requests, "levels": []}
    for clients in (1, 8, 32):
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            timings = [t for ts in pool.map(client_run, [url] * clients, [args.requests] * clients) for t in ts]
        wall = time.perf_counter() - started
        overhead = [1000 * (t - args.latency) for t in timings]
        level = {
            "clients": clients,
            "requests": len(timings),
            "median_ms": 1000 * statistics.median(timings),
            "median_overhead_ms": statistics.median(overhead),
            "p90_overhead_ms": statistics.quantiles(overhead, n=10)[-1],
            "throughput_rps": len(timings) / wall,
        }
        data["levels"].append(level)
        rows.append(
            [
                clients,
                level["requests"],
                level["median_ms"],
                level["median_overhead_ms"],
                level["p90_overhead_ms"],
                level["throughput_rps"],
            ]
        )
    process.terminate()
    process.wait()
    write(
        "server_overhead",
        data,
        ["clients", "requests", "median latency (ms)", "median overhead (ms)", "p90 overhead (ms)", "req/s"],
        rows,
        f"Upstream latency {1000 * args.latency:.0f} ms (scripted); overhead = latency - upstream latency. "
        "Reproduce: `python benchmarks/server_overhead.py`.",
    )


if __name__ == "__main__":
    main()
