"""Hostile inputs and failing models against the real server on 127.0.0.1 (official `openai` client).

The upstream and the Mediator are a scripted OpenAI-compatible server on loopback (`benchmarks/_loopback_upstream`),
reached exactly as a provider would be: it hangs, returns garbage, fails with a secret in the error text, or breaks
off mid-stream, as the model name asks. Tests that reach the upstream run with both upstream clients (the lean
httpx engine and litellm).
"""

import contextlib
import json
import logging
import re
import sys
import time
from pathlib import Path

import dspy
import httpx
import openai
import pytest
from intent_mediator import MediatedAssistant, cli
from intent_mediator.artifacts import save_artifact
from intent_mediator.server import ServerConfig, create_app
from intent_mediator.server.auth import ApiKey, KeyFileError, KeyRing, digest
from intent_mediator.stores import open_log_store
from intent_mediator.testing.servers import served

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _loopback_upstream import SECRET, LoopbackUpstream

ALICE, BOB, ADMIN = "alice-key-0123456789", "bob-key-0123456789", "admin-key-0123456789"
KEYS = KeyRing(
    [ApiKey.from_secret(ALICE, "alice"), ApiKey.from_secret(BOB, "bob"), ApiKey.from_secret(ADMIN, "ops", admin=True)]
)
TURNS = [
    {"role": "user", "content": "sum a list"},
    {"role": "assistant", "content": "def f(xs): ..."},
    {"role": "user", "content": "only evens"},
]


@pytest.fixture
def upstream(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-test")
    server = LoopbackUpstream().start()
    yield server
    server.stop()


CLIENTS = pytest.mark.parametrize("upstream_client", ["lean", "litellm"])


@pytest.fixture
def upstream_client():
    return "lean"  # tests that exercise the upstream parametrize this over both clients (CLIENTS)


@pytest.fixture
def serve(tmp_path, upstream, upstream_client):
    with contextlib.ExitStack() as servers:

        def start(mediator="ok", model="ok", wrap=None, **overrides):
            config = ServerConfig(
                upstream=f"openai/{model}",
                mediator=f"openai/{mediator}",
                api_base=upstream.url,
                artifacts=tmp_path / "artifacts",
                keys=KEYS,
                store=str(tmp_path / "log.sqlite"),
                upstream_retries=0,
                upstream_timeout=10,
                upstream_client=upstream_client,
            )
            for key, value in overrides.items():
                setattr(config, key, value)
            app = create_app(config)
            return servers.enter_context(served(wrap(app) if wrap else app))

        yield start


def client(base, key=ALICE):
    return openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=30)


def post(base, path, payload, key=ALICE, **headers):
    return httpx.post(f"{base}{path}", json=payload, headers={"Authorization": f"Bearer {key}", **headers}, timeout=30)


# --- failing models ------------------------------------------------------------------------------------------


@CLIENTS
def test_an_unparseable_mediator_reply_falls_back_with_a_one_line_header(serve, upstream):
    raw = client(serve(mediator="garbage")).chat.completions.with_raw_response.create(model="x", messages=TURNS)
    fallback = raw.headers["x-mediator-fallback"]
    assert raw.http_response.status_code == 200 and fallback.startswith("mediator error: ")
    assert "\n" not in fallback and "X-Injected" not in fallback and "x-injected" not in raw.headers
    assert raw.parse().choices[0].message.content == "answer: only evens"  # the raw conversation went upstream


@CLIENTS
def test_a_hanging_mediator_is_given_up_within_its_timeout(serve):
    base = serve(mediator="hang", upstream_timeout=2.0)
    started = time.monotonic()
    raw = client(base).chat.completions.with_raw_response.create(model="x", messages=TURNS)
    assert time.monotonic() - started < 2.0
    assert raw.headers["x-mediator-fallback"] == "mediator timeout: no answer within 1 s"
    assert raw.parse().choices[0].message.content == "answer: only evens"


@CLIENTS
@pytest.mark.parametrize("stream", [False, True])
def test_a_hanging_upstream_never_holds_a_request_beyond_the_timeout(serve, stream):
    base = serve(mediator="hang", model="hang", upstream_timeout=2.0)
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        client(base).chat.completions.create(model="x", messages=TURNS, stream=stream)
    elapsed = time.monotonic() - started
    assert info.value.status_code == 504 and "did not answer within 2 s" in info.value.message
    assert 1.9 < elapsed < 3.0


@CLIENTS
def test_upstream_error_text_reaches_neither_clients_nor_logs(serve, caplog):
    base = serve(model="error")
    with caplog.at_level(logging.DEBUG, logger="intent_mediator"):
        for stream in (False, True):
            response = post(base, "/v1/chat/completions", {"messages": TURNS, "stream": stream})
            assert response.status_code == 502, response.text  # a stream that fails first is an ordinary error
            assert response.json()["error"]["message"].startswith("the upstream model failed: ")
            assert SECRET not in response.text and SECRET not in str(response.headers)
    assert caplog.records and SECRET not in caplog.text


@CLIENTS
@pytest.mark.parametrize("model", ["not-json", "wrong-shape", "rate-limited"])
def test_a_malformed_or_refusing_upstream_reply_is_a_502_naming_its_type_only(serve, model, upstream_client, caplog):
    base = serve(model=model)
    # litellm streams a reply that is not an event stream as an empty answer (200); the lean client refuses it.
    streams = (False, True) if upstream_client == "lean" or model == "rate-limited" else (False,)
    with caplog.at_level(logging.DEBUG, logger="intent_mediator"):
        for stream in streams:
            response = post(base, "/v1/chat/completions", {"messages": TURNS, "stream": stream})
            assert response.status_code == 502, response.text
            message = response.json()["error"]["message"]
            assert re.fullmatch(r"the upstream model failed: LM\w+Error \(HTTP \d{3}\)", message), message
            assert SECRET not in response.text and "Bad Gateway" not in response.text
    assert SECRET not in caplog.text
    if model == "rate-limited":  # the same status and type, whichever client met it
        assert message == "the upstream model failed: LMRateLimitError (HTTP 429)"


@pytest.mark.parametrize("stream", [False, True])
def test_the_lean_client_refuses_an_oversized_reply(serve, stream):
    response = post(serve(model="huge"), "/v1/chat/completions", {"messages": TURNS, "stream": stream})
    assert response.status_code == 502  # read up to its 8 MB cap, not the 9 MB sent
    assert response.json()["error"]["message"] == "the upstream model failed: LMProviderError (HTTP 200)"


def stream_events(base: str) -> tuple[int, list[str]]:
    """A streamed completion of TURNS as alice: the HTTP status and the payload of every `data:` event."""
    with httpx.stream(
        "POST",
        f"{base}/v1/chat/completions",
        json={"messages": TURNS, "stream": True},
        headers={"Authorization": f"Bearer {ALICE}"},
        timeout=30,
    ) as response:
        return response.status_code, [line[6:] for line in response.iter_lines() if line.startswith("data: ")]


@CLIENTS
def test_a_stream_failing_midway_ends_with_an_error_event_and_done(serve, caplog):
    base = serve(model="stream-error")
    with caplog.at_level(logging.DEBUG, logger="intent_mediator"):
        status, events = stream_events(base)
    assert status == 200
    assert events[-1] == "[DONE]" and "error" in json.loads(events[-2])
    assert json.loads(events[-2])["error"]["message"].startswith("the upstream model failed: ")
    assert SECRET not in "".join(events) and SECRET not in caplog.text
    with pytest.raises(openai.APIError, match="the upstream model failed"):
        list(client(base).chat.completions.create(model="x", messages=TURNS, stream=True))


@CLIENTS
def test_a_stream_that_hangs_midway_ends_within_the_timeout(serve):
    base = serve(model="stream-then-hang", upstream_timeout=2.0)
    started = time.monotonic()
    _, events = stream_events(base)
    assert time.monotonic() - started < 3.0
    assert events[-1] == "[DONE]" and json.loads(events[-2])["error"]["type"] == "upstream_timeout"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-2])
    assert text.startswith("answer: ")  # what arrived before the hang was passed on


@pytest.mark.parametrize("stream", [False, True])
def test_a_trickling_upstream_is_a_504_at_the_timeout_and_its_call_ends_too(serve, upstream, stream):
    # Bytes keep coming, so no read ever times out. The client's 504 comes from the server's own wait; the model
    # call itself (and its thread and connection) ends by the same deadline, retries included.
    base = serve(model="trickle", upstream_timeout=2.0, upstream_retries=2)
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        list(client(base).chat.completions.create(model="x", messages=TURNS, stream=stream))
    assert info.value.status_code == 504 and time.monotonic() - started < 3.0
    while upstream.trickling and time.monotonic() - started < 10:
        time.sleep(0.1)
    assert upstream.trickling == 0 and time.monotonic() - started < 6.0  # without the bound: never
    assert upstream.calls["trickle"] == 1  # no retry was started after the deadline


@CLIENTS
@pytest.mark.parametrize("stream", [False, True])
def test_a_reply_with_a_lone_surrogate_is_answered_and_logged(serve, tmp_path, stream):
    # Valid JSON from the upstream, but no UTF-8 body or store can hold "\ud800": it is replaced, not a 500.
    base = serve(model="lone-surrogate")
    out = client(base).chat.completions.create(model="x", messages=TURNS, stream=stream)
    text = "".join(c.choices[0].delta.content or "" for c in out) if stream else out.choices[0].message.content
    assert text == "answer: the mediated request?"
    (logged,) = open_log_store(tmp_path / "log.sqlite").conversations("alice", with_feedback=False)
    assert logged.response == text


@CLIENTS
def test_a_mediator_request_with_a_lone_surrogate_is_cleaned_before_it_goes_upstream(serve):
    base = serve(mediator="lone-surrogate")
    raw = client(base).chat.completions.with_raw_response.create(
        model="x", messages=TURNS, extra_headers={"X-Mediator-Return-Request": "1"}
    )
    assert raw.http_response.json()["intent_mediator"]["request"] == "the mediated request?"
    assert raw.parse().choices[0].message.content == "answer: the mediated request?"


def test_token_counts_no_real_call_reports_are_dropped_with_the_answer_kept(serve):
    base = serve(model="absurd-usage")
    out = client(base).chat.completions.create(model="x", messages=TURNS)
    assert out.choices[0].message.content == "answer: the mediated request"
    assert out.usage.prompt_tokens == 0 and out.usage.completion_tokens == 0
    metrics = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
    assert 'intent_mediator_tokens_total{kind="prompt",role="upstream"}' not in metrics


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", float("nan")),
        ("temperature", -5),
        ("temperature", 1e999),
        ("temperature", "inf"),
        ("max_tokens", -1),
        ("max_tokens", 0),
        ("max_tokens", 10**30),
        ("stream", "yes"),
    ],
)
def test_impossible_sampling_settings_are_the_clients_400_before_any_model_call(serve, upstream, field, value):
    base = serve()
    body = json.dumps({"messages": TURNS, field: value}, allow_nan=True)  # NaN as JavaScript writes it
    response = httpx.post(
        f"{base}/v1/chat/completions",
        content=body.encode(),
        headers={"Authorization": f"Bearer {ALICE}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith(f"malformed request: {field}: ")
    assert sum(upstream.calls.values()) == 0  # neither the Mediator nor the upstream was paid for


def test_a_body_that_never_finishes_arriving_gets_408(serve):
    import socket

    base = serve(max_body_seconds=1.0)
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALICE}\r\n"
        sock.sendall((head + "Content-Length: 1000\r\nContent-Type: application/json\r\n\r\n{").encode())
        started = time.monotonic()
        received = b""
        while chunk := sock.recv(4096):  # the server closes the connection after its answer
            received += chunk
        reply = received.decode()
    assert reply.startswith("HTTP/1.1 408") and "not received within 1 s" in reply
    assert 0.9 < time.monotonic() - started < 3.0


# --- identity ------------------------------------------------------------------------------------------------


def test_a_key_acts_only_as_its_own_user(serve, tmp_path):
    save_artifact(MediatedAssistant(["Alice's rule."]), tmp_path / "artifacts", user="alice")
    base = serve()
    headers = {"X-Mediator-Return-Request": "1"}
    own = client(base, ALICE).chat.completions.with_raw_response.create(
        model="x", messages=TURNS, extra_headers=headers
    )
    assert own.http_response.json()["intent_mediator"]["artifact"] == "alice/_generic"
    bob = client(base, BOB).chat.completions.with_raw_response.create(model="x", messages=TURNS, extra_headers=headers)
    assert bob.http_response.json()["intent_mediator"]["artifact"] is None  # bob never gets alice's program
    for impersonation in ({"user": "alice"}, {"extra_headers": {"X-Mediator-User": "alice"}}):
        with pytest.raises(openai.PermissionDeniedError, match="belongs to user 'bob': it cannot act as 'alice'"):
            client(base, BOB).chat.completions.create(model="x", messages=TURNS, **impersonation)
    admin = client(base, ADMIN).chat.completions.with_raw_response.create(
        model="x", messages=TURNS, user="alice", extra_headers=headers
    )
    assert admin.http_response.json()["intent_mediator"]["artifact"] == "alice/_generic"
    with pytest.raises(openai.AuthenticationError):
        client(base, "alice").chat.completions.create(model="x", messages=TURNS)  # a user name is not a key
    with pytest.raises(openai.AuthenticationError):
        client(base, digest(ALICE)).chat.completions.create(model="x", messages=TURNS)  # nor is the stored digest


def test_feedback_only_on_the_callers_own_conversations(serve, tmp_path):
    base = serve()
    raw = client(base, ALICE).chat.completions.with_raw_response.create(model="x", messages=TURNS)
    conversation = raw.headers["x-mediator-conversation"]
    forged = {"conversation_id": conversation, "success": False, "final_request": "poisoned"}
    assert post(base, "/v1/feedback", forged, key=BOB).status_code == 404  # bob's own conversations only
    assert post(base, "/v1/feedback", {**forged, "user": "alice"}, key=BOB).status_code == 403
    log = open_log_store(tmp_path / "log.sqlite")
    assert log.trajectories("alice") == []
    assert post(base, "/v1/feedback", {**forged, "conversation_id": "x" * 900_000}).status_code == 400  # no echo
    assert post(base, "/v1/feedback", {**forged, "success": "no"}, key=ALICE).status_code == 400  # a bool, strictly
    good = {"conversation_id": conversation, "success": False, "final_request": "Sum the even numbers."}
    assert post(base, "/v1/feedback", good, key=ALICE).status_code == 200
    (trajectory, fixed) = log.trajectories("alice")
    assert trajectory.turns[0].user == "sum a list" and fixed.turns[0].user == "Sum the even numbers."


def test_keys_file_parsing(tmp_path):
    path = tmp_path / "keys.txt"
    path.write_text(f"# comment\nalice {digest(ALICE)}\n\nops {digest(ADMIN)} admin  # on-call\n")
    ring = KeyRing.from_file(path)
    assert ring.identify(ALICE).user == "alice" and not ring.identify(ALICE).admin
    assert ring.identify(ADMIN).admin and ring.identify("nope") is None
    for text, message in [
        (f"alice {ALICE}\n", r"keys.txt:1: expected '<user> sha256:<64 hex digits> \[admin\]'"),
        (f"alice {digest(ALICE)} root\n", "keys.txt:1: expected"),
        (f"../etc {digest(ALICE)}\n", "keys.txt:1: invalid user id"),
        (f"a {digest(ALICE)}\nb {digest(ALICE)}\n", "keys.txt:2: this digest appears twice"),
        ("# nothing\n", "no keys"),
    ]:
        path.write_text(text)
        with pytest.raises(KeyFileError, match=message) as info:
            KeyRing.from_file(path)
        assert ALICE not in str(info.value)  # a plaintext key in the file is never echoed


def test_new_key_prints_a_key_and_its_line(capsys, tmp_path):
    assert cli.main(["serve", "--new-key", "carol"]) == 0
    out = capsys.readouterr().out
    key = out.split("it is not stored): ")[1].split()[0]
    line = out.split("keys-file line: ")[1].strip()
    (tmp_path / "keys.txt").write_text(line + "\n")
    assert KeyRing.from_file(tmp_path / "keys.txt").identify(key).user == "carol"
    assert cli.main(["serve", "--api-keys-file", str(tmp_path / "missing.txt")]) == 2


# --- bodies, artifacts, cache ----------------------------------------------------------------------------------


def test_a_chunked_body_over_the_limit_gets_413_without_being_buffered(serve):
    received = []

    def counting(app):
        async def wrapped(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)

            async def counted():
                message = await receive()
                received.append(len(message.get("body", b"")))
                return message

            return await app(scope, counted, send)

        return wrapped

    base = serve(wrap=counting, max_body_bytes=1_000_000)

    def chunks():  # 5 MB, sent chunked (no Content-Length)
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(80):
            yield b"x" * 65536

    response = httpx.post(
        f"{base}/v1/chat/completions", content=chunks(), headers={"Authorization": f"Bearer {ALICE}"}, timeout=30
    )
    assert response.status_code == 413 and "over 1000000 bytes" in response.json()["error"]["message"]
    assert 1_000_000 < sum(received) < 1_500_000  # of 5 MB sent, it stopped reading at the limit
    declared = httpx.post(
        f"{base}/v1/chat/completions",
        content=b"x" * 2_000_000,
        headers={"Authorization": f"Bearer {ALICE}", "Content-Length": "2000000"},
    )
    assert declared.status_code == 413


def test_a_broken_artifact_falls_back_to_the_next_level_without_paths(serve, tmp_path):
    root = tmp_path / "artifacts"
    save_artifact(MediatedAssistant(["Code rule."]), root, domain="code")
    broken = save_artifact(MediatedAssistant(["Alice's rule."]), root, user="alice", domain="code")
    (broken / "program.json").write_text('{"mediator.rewrite.predict": {"signature": 5}')
    base = serve()
    raw = client(base).chat.completions.with_raw_response.create(
        model="x", messages=TURNS, extra_headers={"X-Mediator-Domain": "code", "X-Mediator-Return-Request": "1"}
    )
    body = raw.http_response.json()
    assert raw.http_response.status_code == 200 and body["intent_mediator"]["artifact"] == "_generic/code"
    assert raw.headers["x-mediator-artifact-fallback"] == "alice/code unreadable (ArtifactError)"
    assert str(tmp_path) not in raw.http_response.text and str(tmp_path) not in str(raw.headers)


@CLIENTS
def test_tenants_never_share_cached_replies(serve, upstream, tmp_path):
    dspy.configure_cache(enable_disk_cache=True, enable_memory_cache=True, disk_cache_dir=str(tmp_path / "cache"))
    try:
        base = serve(model="slow")
        replies = [client(base, ALICE).chat.completions.create(model="x", messages=TURNS)]
        mediator_calls = upstream.calls["ok"]
        replies.append(client(base, BOB).chat.completions.create(model="x", messages=TURNS))
    finally:
        dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    # The same request from another tenant reached the Mediator and the upstream again: no cache hit.
    assert mediator_calls >= 1 and upstream.calls["ok"] == 2 * mediator_calls and upstream.calls["slow"] == 2
    assert all(reply.usage.total_tokens > 0 for reply in replies)
