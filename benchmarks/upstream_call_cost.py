"""Where the server's per-request time goes: one model call over loopback, by the layer that makes it.

The same chat completion against the scripted loopback upstream (no latency), sent N times through: raw httpx,
raw httpcore (the transport under httpx, which the lean client uses directly), litellm.completion, a DSPy LM
through each upstream client `serve` can use (litellm, or the lean `OpenAICompatibleEngine`), the Mediator's whole
step (DSPy prompt building, the call, parsing, the fact check) on each, and a whole `serve` request (the app in
this process on loopback, one client, SQLite log, a fresh one-turn conversation each time) on each. Each `serve`
request makes two model calls (the Mediator's and the upstream's), so their cost is most of the server's own
overhead at one client.

    python benchmarks/upstream_call_cost.py [--calls 50]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _loopback_upstream import LoopbackUpstream
from _results import write

MESSAGES = [{"role": "user", "content": "sum a list"}]
TURNS = [
    {"role": "user", "content": "sum a list"},
    {"role": "assistant", "content": "def f(xs): ..."},
    {"role": "user", "content": "only the even numbers"},
]


def timed(call, n: int) -> list[float]:
    for _ in range(3):  # warm-up: connections, imports, caches of compiled prompts
        call()
    out = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        out.append(1000 * (time.perf_counter() - started))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-loopback")
    import dspy
    import httpcore
    import httpx
    import litellm
    from intent_mediator.lm import build_lm, lm_scope
    from intent_mediator.programs import MediatedAssistant
    from intent_mediator.server import ServerConfig, create_app
    from intent_mediator.testing.servers import served

    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    upstream = LoopbackUpstream(latency=0).start()
    http = httpx.Client()
    core = httpcore.ConnectionPool(max_connections=1)
    program = MediatedAssistant()
    folder = Path(tempfile.mkdtemp())
    servers = contextlib.ExitStack()

    def mediator_step(lm):
        def step():
            with lm_scope(lm):
                program.mediator(transcript=TURNS)

        return step

    def serve_request(client: str):
        config = ServerConfig(
            upstream="openai/ok", mediator="openai/ok", api_base=upstream.url, store=str(folder / f"{client}.db"),
            upstream_client=client, mediator_history="full",
        )  # fmt: skip
        base = servers.enter_context(served(create_app(config)))
        counter = iter(range(10**9))

        def request():
            turn = [{"role": "user", "content": f"sum list {next(counter)}"}]
            response = http.post(f"{base}/v1/chat/completions", json={"messages": turn})
            assert response.status_code == 200 and not response.headers.get("x-mediator-fallback"), response.text

        return request

    url = f"{upstream.url}/chat/completions"
    body = json.dumps({"model": "ok", "messages": MESSAGES}).encode()
    host = httpx.URL(url).netloc  # host:port, as a Host header carries it
    headers = [(b"Host", host), (b"Content-Type", b"application/json"), (b"Content-Length", b"%d" % len(body))]
    layers = {"raw httpx POST": lambda: http.post(url, json={"model": "ok", "messages": MESSAGES}).json(),
              "raw httpcore POST": lambda: json.loads(core.request("POST", url, headers=headers, content=body).content),
              "litellm.completion": lambda: litellm.completion(model="openai/ok", messages=MESSAGES,
                                                               api_base=upstream.url)}  # fmt: skip
    for client in ("litellm", "lean"):
        lm = build_lm("openai/ok", api_base=upstream.url, cache=False, client=client)
        layers[f"dspy.LM call ({client} client)"] = functools.partial(lm, messages=MESSAGES)
        layers[f"Mediator step: DSPy + call + check ({client} client)"] = mediator_step(lm)
    for client in ("litellm", "lean"):
        layers[f"whole serve request, 1 client ({client} client)"] = serve_request(client)
    rows, data = [], {"calls": args.calls, "layers": {}}
    for name, call in layers.items():
        ms = timed(call, args.calls)
        data["layers"][name] = {"median_ms": statistics.median(ms), "p90_ms": statistics.quantiles(ms, n=10)[-1]}
        rows.append([name, statistics.median(ms), statistics.quantiles(ms, n=10)[-1]])
    servers.close()
    upstream.stop()
    write(
        "upstream_call_cost",
        data,
        ["layer", "median ms per call", "p90 ms"],
        rows,
        f"{args.calls} calls each to a loopback upstream answering at once, in one thread (a whole request: the "
        "client's thread; the server's threads in the same process). "
        "Reproduce: `python benchmarks/upstream_call_cost.py`.",
    )
    os._exit(0)  # the loopback server's thread would otherwise log its cancelled lifespan


if __name__ == "__main__":
    main()
