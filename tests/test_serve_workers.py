"""`serve --workers 2` as a real process tree: both workers answer, without a delayed-ACK stall per response."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from intent_mediator.server.auth import ApiKey
from intent_mediator.stores.dev_servers import free_port

from .test_replicas import _wait_healthy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _loopback_upstream import LoopbackUpstream

KEY = "workers-key-0123456789"


@pytest.fixture
def two_workers(tmp_path):
    upstream = LoopbackUpstream().start()
    keys = tmp_path / "keys"
    keys.write_text(ApiKey.from_secret(KEY, "alice").line() + "\n")
    port = free_port()
    command = [
        sys.executable, "-m", "intent_mediator.cli", "serve", "--port", str(port), "--workers", "2",
        "--upstream", "openai/ok", "--mediator", "openai/ok", "--api-base", upstream.url,
        "--api-keys-file", str(keys), "--store", str(tmp_path / "log.sqlite"),
    ]  # fmt: skip
    env = {**os.environ, "OPENAI_API_KEY": "sk-loopback-test", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        upstream.stop()


def test_two_workers_answer_keep_alive_requests_without_a_delayed_ack_stall(two_workers):
    with httpx.Client(base_url=two_workers, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as http:
        reply = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "sum a list"}]})
        assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"] == "answer: sum a list"
        times = []
        for _ in range(15):
            started = time.perf_counter()
            assert http.get("/healthz").status_code == 200
            times.append(time.perf_counter() - started)
    # Without TCP_NODELAY on the shared socket every keep-alive response waited ~40 ms for the client's delayed ACK.
    assert statistics.median(times) < 0.02, times
