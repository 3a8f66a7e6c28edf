"""Two `serve` processes behind one (imaginary) load balancer, sharing PostgreSQL and Redis.

A conversation's turns alternate between the replicas and every follow-up continues the request the other
replica wrote (incremental mediation, no fallback); feedback posted to one replica is mined by a per-user
recompile; the recompiled artifact is served by both replicas without a restart.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from intent_mediator.server.auth import ApiKey
from intent_mediator.server.recompile import recompile_users
from intent_mediator.stores.dev_servers import free_port

from .test_recompile import compile_from_logs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _loopback_upstream import LoopbackUpstream

ALICE = "alice-replica-key-0123456789"


@pytest.fixture
def upstream():
    server = LoopbackUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def replicas(tmp_path, upstream, postgres_url, redis_url):
    import psycopg

    database = f"replicas_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {database}")
    store = postgres_url.rsplit("/", 1)[0] + f"/{database}"
    keys = tmp_path / "keys"
    keys.write_text(ApiKey.from_secret(ALICE, "alice").line() + "\n")
    (tmp_path / "artifacts").mkdir()
    env = {**os.environ, "OPENAI_API_KEY": "sk-loopback-test"}
    processes, bases = [], []
    for _ in range(2):
        port = free_port()
        command = [
            sys.executable, "-m", "intent_mediator.cli", "serve", "--port", str(port),
            "--upstream", "openai/ok", "--mediator", "openai/ok", "--api-base", upstream.url,
            "--api-keys-file", str(keys), "--artifacts", str(tmp_path / "artifacts"),
            "--store", store, "--memory", redis_url, "--mediator-history", "incremental",
        ]  # fmt: skip
        processes.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        bases.append(f"http://127.0.0.1:{port}")
    try:
        for base, process in zip(bases, processes, strict=True):
            _wait_healthy(base, process)
        yield bases, store, tmp_path / "artifacts"
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)


def _wait_healthy(base: str, process: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited with {process.returncode}: {process.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).json() == {"status": "ok", "store": "ok", "memory": "ok"}:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{base} did not become healthy in {timeout:g} s")


def chat(base: str, messages: list[dict]) -> httpx.Response:
    response = httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": "x", "messages": messages},
        headers={"Authorization": f"Bearer {ALICE}", "X-Mediator-Domain": "math", "X-Mediator-Return-Request": "1"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response


def test_turns_alternate_between_replicas_without_losing_the_mediators_memory(replicas):
    bases, store, artifacts = replicas
    messages: list[dict] = []
    memory, conversations = [], []
    for turn, text in enumerate(["Tom buys 5 notebooks.", "Each costs $3.", "He pays with a $100 bill."]):
        messages.append({"role": "user", "content": text})
        response = chat(bases[turn % 2], messages)
        memory.append(response.headers.get("x-mediator-memory"))
        conversations.append(response.headers["x-mediator-conversation"])
        assert "x-mediator-fallback" not in response.headers
        messages.append({"role": "assistant", "content": response.json()["choices"][0]["message"]["content"]})
    assert memory == [None, "hit", "hit"]  # every follow-up continued the other replica's request

    # Feedback through replica 1 on a conversation replica 0 served, for each of the three calls.
    for conversation in conversations:
        feedback = {"conversation_id": conversation, "success": False, "final_request": "What change does Tom get?"}
        response = httpx.post(
            f"{bases[1]}/v1/feedback", json=feedback, headers={"Authorization": f"Bearer {ALICE}"}, timeout=30
        )
        assert response.status_code == 200, response.text

    [result] = recompile_users(store, artifacts, compile_from_logs, min_feedback=3)
    assert (result.user, result.domain, result.conversations, result.error) == ("alice", "math", 3, None)
    for base in bases:  # both replicas serve the new artifact, neither restarted
        served = chat(base, [{"role": "user", "content": "Another task."}]).json()["intent_mediator"]
        assert served["artifact"] == "alice/math"

    metrics = httpx.get(f"{bases[0]}/metrics", headers={"Authorization": f"Bearer {ALICE}"}).text
    assert 'intent_mediator_fallbacks_total{reason="no_memory"}' not in metrics
