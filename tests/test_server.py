"""The real server on 127.0.0.1 (random port), a scripted upstream, and the official `openai` client."""

import contextlib
import re

import httpx
import openai
import pytest
from intent_mediator import MediatedAssistant, ScriptedEngine
from intent_mediator.artifacts import save_artifact
from intent_mediator.server import ServerConfig, create_app
from intent_mediator.server.auth import ApiKey, KeyRing
from intent_mediator.stores import open_request_memory
from intent_mediator.testing.servers import served

KEY = "test-key-123"  # an admin key: it may name any user
KEYS = KeyRing([ApiKey.from_secret(KEY, "ops", admin=True)])


def mediator_reply(call):
    # Echoes which guideline it saw, so tests can tell artifacts apart.
    rule = "ALICE" if "Alice's rule" in call.system else "BOB" if "Bob's rule" in call.system else "NONE"
    return {"request": f"[{rule}] " + " | ".join(call.user_turns())}


@pytest.fixture
def engine():
    engine = ScriptedEngine()
    engine.on(role="mediator", reply=mediator_reply)
    engine.on(role="assistant", reply=lambda call: f"answer to: {call.last_user}")
    return engine


@pytest.fixture
def serve(tmp_path, engine):
    with contextlib.ExitStack() as servers:

        def start(**overrides):
            config = ServerConfig(artifacts=tmp_path / "artifacts", keys=KEYS, store=str(tmp_path / "log.sqlite"))
            for key, value in overrides.items():
                setattr(config, key, value)
            app = create_app(config, upstream_lm=engine.lm("assistant"), mediator_lm=engine.lm("mediator"))
            return servers.enter_context(served(app))

        yield start


def client(base, key=KEY):
    return openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)


TURNS = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "sum a list"},
    {"role": "assistant", "content": "def f(xs): ..."},
    {"role": "user", "content": "only evens"},
]


def test_plain_completion_is_mediated(serve, engine):
    out = client(serve()).chat.completions.create(model="any", messages=TURNS)
    assert out.choices[0].message.content == "answer to: [NONE] sum a list | only evens"
    upstream = engine.requests_for("assistant")[0]
    assert upstream.messages == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "[NONE] sum a list | only evens"},
    ]
    assert out.usage.total_tokens > 0


def test_streaming_completion(serve):
    stream = client(serve()).chat.completions.create(model="any", messages=TURNS, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "answer to: [NONE] sum a list | only evens"


def test_per_user_artifacts_give_different_requests(serve, tmp_path):
    save_artifact(MediatedAssistant(["Alice's rule."]), tmp_path / "artifacts", user="alice", domain="code")
    save_artifact(MediatedAssistant(["Bob's rule."]), tmp_path / "artifacts", user="bob")
    base = serve()
    headers = {"X-Mediator-Return-Request": "1", "X-Mediator-Domain": "code"}
    raw = client(base).chat.completions.with_raw_response
    alice = raw.create(model="any", messages=TURNS, user="alice", extra_headers=headers)
    bob = raw.create(
        model="any", messages=TURNS, extra_headers={"X-Mediator-Return-Request": "1", "X-Mediator-User": "bob"}
    )
    carol = raw.create(model="any", messages=TURNS, user="carol", extra_headers=headers)
    requests = [r.http_response.json()["intent_mediator"]["request"] for r in (alice, bob, carol)]
    assert [r.split("]")[0] for r in requests] == ["[ALICE", "[BOB", "[NONE"]
    assert alice.http_response.json()["intent_mediator"]["artifact"] == "alice/code"


def test_auth_size_and_malformed_messages(serve):
    base = serve(max_body_bytes=2000)
    with pytest.raises(openai.AuthenticationError):
        client(base, key="wrong").chat.completions.create(model="any", messages=TURNS)
    unauthorized = httpx.post(f"{base}/v1/chat/completions", json={"messages": TURNS})
    # The body was never read: the connection closes rather than wait for it (`server.protocol`).
    assert unauthorized.status_code == 401 and unauthorized.headers["connection"] == "close"
    big = [{"role": "user", "content": "x" * 5000}]
    with pytest.raises(openai.APIStatusError) as info:
        client(base).chat.completions.create(model="any", messages=big)
    assert info.value.status_code == 413
    for messages, message in [
        ([{"role": "tool", "content": "x"}], "messages[0].role 'tool'"),
        ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "last message must be the user"),
        ([], "at least one message"),
        ([{"content": "no role"}], "messages.0.role"),
    ]:
        response = httpx.post(
            f"{base}/v1/chat/completions", json={"messages": messages}, headers={"Authorization": f"Bearer {KEY}"}
        )
        assert response.status_code == 400 and message in response.json()["error"]["message"], response.text


def test_mediator_failure_falls_back_to_the_raw_conversation(serve, engine):
    engine.rules[0].reply = lambda call: 1 / 0
    raw = client(serve()).chat.completions.with_raw_response.create(model="any", messages=TURNS)
    assert raw.http_response.status_code == 200
    assert re.fullmatch(r"mediator error: \w+", raw.headers["x-mediator-fallback"])  # the type, never the text
    upstream = engine.requests_for("assistant")[0]
    assert [m["role"] for m in upstream.messages] == ["system", "user", "assistant", "user"]


def test_unsafe_user_id_is_rejected(serve):
    with pytest.raises(openai.BadRequestError, match="invalid user id"):
        client(serve()).chat.completions.create(model="any", messages=TURNS, user="../../etc")


def test_models_health_and_metrics(serve):
    base = serve()
    # The default incremental Mediator keeps a request memory, so health reports it too.
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok", "store": "ok", "memory": "ok"}
    assert client(base).models.list().data[0].id == "scripted/assistant"
    client(base).chat.completions.create(model="any", messages=TURNS)
    metrics = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    assert "# TYPE intent_mediator_request_seconds histogram" in metrics
    assert 'intent_mediator_requests_total{route="/v1/chat/completions",status="200"} 1.0' in metrics
    assert 'intent_mediator_upstream_seconds_count{call="mediator",outcome="ok"} 1.0' in metrics
    assert 'intent_mediator_upstream_seconds_count{call="upstream",outcome="ok"} 1.0' in metrics
    assert 'role="mediator"' in metrics and 'role="upstream"' in metrics


def test_no_keys_means_loopback_only(engine):
    import asyncio

    app = create_app(ServerConfig(), upstream_lm=engine.lm("assistant"), mediator_lm=engine.lm("mediator"))

    async def post_from(host):
        transport = httpx.ASGITransport(app=app, client=(host, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://server") as http:
            return await http.post("/v1/chat/completions", json={"messages": TURNS})

    remote, local = asyncio.run(post_from("10.1.2.3")), asyncio.run(post_from("127.0.0.1"))
    assert remote.status_code == 403 and "loopback" in remote.json()["error"]["message"]
    assert local.status_code == 200


def test_feedback_becomes_pairs_for_compile(serve, tmp_path, engine):
    from intent_mediator.optimizers.pairs import build_pairs
    from intent_mediator.stores import open_log_store

    base = serve()
    raw = client(base).chat.completions.with_raw_response.create(model="any", messages=TURNS, user="alice")
    conversation = raw.headers["x-mediator-conversation"]
    feedback = {"conversation_id": conversation, "success": False, "final_request": "Sum only the even numbers."}
    wrong_user = httpx.post(
        f"{base}/v1/feedback", json={**feedback, "user": "bob"}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert wrong_user.status_code == 404  # bob cannot touch alice's conversation
    ok = httpx.post(
        f"{base}/v1/feedback", json={**feedback, "user": "alice"}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert ok.status_code == 200
    log = open_log_store(tmp_path / "log.sqlite")
    assert log.trajectories("bob") == []
    pairs = build_pairs(log.trajectories("alice"))
    assert len(pairs) == 1 and pairs[0].pair.successful_request == "Sum only the even numbers."
    assert pairs[0].pair.failed_transcript[0].content == "sum a list"


def test_artifacts_reload_when_their_files_change(serve, tmp_path):
    import os

    root = tmp_path / "artifacts"
    folder = save_artifact(MediatedAssistant(["Alice's rule."]), root, user="alice")
    base = serve()
    headers = {"X-Mediator-Return-Request": "1"}
    first = client(base).chat.completions.with_raw_response.create(
        model="x", messages=TURNS, user="alice", extra_headers=headers
    )
    save_artifact(MediatedAssistant(["Bob's rule."]), root, user="alice")
    stat = (folder / "program.json").stat()
    os.utime(folder / "program.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = client(base).chat.completions.with_raw_response.create(
        model="x", messages=TURNS, user="alice", extra_headers=headers
    )
    requests = [r.http_response.json()["intent_mediator"]["request"] for r in (first, second)]
    assert requests[0].startswith("[ALICE]") and requests[1].startswith("[BOB]")


def test_unexpected_errors_are_500_with_their_type_only(serve, engine, monkeypatch):
    from intent_mediator.server import app as server_app

    def broken(*args, **kwargs):
        raise RuntimeError("store unavailable at /var/lib/secret/path")

    monkeypatch.setattr(server_app, "_completion", broken)
    with pytest.raises(openai.InternalServerError, match=r"internal error \w+ \(RuntimeError\)") as info:
        client(serve()).chat.completions.create(model="x", messages=TURNS)
    assert "/var/lib" not in str(info.value.body)


def test_incremental_history_continues_from_the_request_written_for_the_previous_call(serve, engine):
    seen = []
    engine.rules.clear()
    engine.on(role="mediator", reply=lambda call: seen.append(call.user_turns()) or mediator_reply(call))
    engine.on(role="assistant", reply=lambda call: f"answer to: {call.last_user}")
    api = client(serve(mediator_history="incremental"))
    history = [{"role": "user", "content": "sum a list"}]
    for follow_up in ("only evens", "as a one-liner"):
        reply = api.chat.completions.create(model="any", messages=history).choices[0].message.content
        history += [{"role": "assistant", "content": reply}, {"role": "user", "content": follow_up}]
    api.chat.completions.create(model="any", messages=history)
    # The second call found the first call's request (the passthrough "sum a list"), the third the second's.
    assert seen == [["sum a list", "only evens"], ["[NONE] sum a list | only evens", "as a one-liner"]]
    edited = [*history[:1], {"role": "assistant", "content": "an answer this server never gave"}, *history[2:]]
    api.chat.completions.create(model="any", messages=edited)
    assert seen[-1] == ["sum a list", "only evens", "as a one-liner"]  # unknown history: the whole transcript


@pytest.mark.parametrize(
    ("server", "compiled", "continued"), [("full", "incremental", "hit"), ("incremental", "full", None)]
)
def test_an_artifact_is_served_with_the_mediator_history_it_was_compiled_for(
    serve, tmp_path, server, compiled, continued
):
    save_artifact(MediatedAssistant(["A rule."], mediator_history=compiled), tmp_path / "artifacts")  # generic
    api = client(serve(mediator_history=server))
    history = [{"role": "user", "content": "sum a list"}]
    reply = api.chat.completions.create(model="any", messages=history).choices[0].message.content
    history += [{"role": "assistant", "content": reply}, {"role": "user", "content": "only evens"}]
    raw = api.chat.completions.with_raw_response.create(model="any", messages=history)
    assert raw.headers.get("x-mediator-memory") == continued


def test_request_memory_forgets_the_least_recently_used_conversation():
    memory = open_request_memory("memory://", capacity=2)
    turns = [[{"role": "user", "content": str(i)}] for i in range(3)]
    for i, t in enumerate(turns):
        memory.remember("u", None, t, f"request {i}")
    follow = [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "more"}]
    assert [memory.previous("u", None, t + follow) for t in turns] == [None, "request 1", "request 2"]
    assert memory.previous("u", "other-artifact", turns[2] + follow) is None


def test_one_user_never_continues_or_detects_another_users_conversation(serve):
    # Same uncompiled program for both users: only the user in the memory key keeps their conversations apart.
    api = client(serve(mediator_history="incremental"))
    history = [{"role": "user", "content": "alice's private question"}]
    reply = api.chat.completions.create(model="any", messages=history, user="alice").choices[0].message.content
    history += [{"role": "assistant", "content": reply}, {"role": "user", "content": "go on"}]
    memory = {}
    for user in ("bob", "alice"):
        raw = api.chat.completions.with_raw_response.create(model="any", messages=history, user=user)
        memory[user] = raw.headers.get("x-mediator-memory")
    assert memory == {"bob": "miss", "alice": "hit"}


def test_an_answer_is_returned_even_when_its_conversation_cannot_be_logged(serve, monkeypatch):
    import sqlite3

    from intent_mediator.server import app as server_app

    class LockedLog:
        def __init__(self, store):
            self.store = store

        def record(self, *args, **kwargs):
            raise sqlite3.OperationalError("database is locked")

        def __getattr__(self, name):
            return getattr(self.store, name)

    opened = server_app.open_log_store
    monkeypatch.setattr(server_app, "open_log_store", lambda url: LockedLog(opened(url)))
    base = serve()
    raw = client(base).chat.completions.with_raw_response.create(model="x", messages=TURNS)
    assert raw.parse().choices[0].message.content == "answer to: [NONE] sum a list | only evens"
    assert raw.headers.get("x-mediator-log") == "failed"
    stream = client(base).chat.completions.create(model="x", messages=TURNS, stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "answer to: [NONE] sum a list | only evens"
    assert chunks[-1].model_extra["intent_mediator"] == {"log": "failed"}
    metrics = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    assert 'intent_mediator_errors_total{kind="log_write"} 2.0' in metrics


def test_health_names_a_failing_store_without_its_location(serve, monkeypatch):
    from intent_mediator.server import app as server_app
    from intent_mediator.stores import StoreError

    class DownLog:
        def __init__(self, store):
            self.store = store

        def ping(self):
            raise StoreError("log store /var/lib/secret/logs.sqlite: disk I/O error")

        def __getattr__(self, name):
            return getattr(self.store, name)

    opened = server_app.open_log_store
    monkeypatch.setattr(server_app, "open_log_store", lambda url: DownLog(opened(url)))
    health = httpx.get(f"{serve()}/healthz")
    assert health.status_code == 503
    assert health.json() == {"status": "unavailable", "store": "unavailable", "memory": "ok"}
