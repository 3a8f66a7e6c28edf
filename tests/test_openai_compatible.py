"""The lean upstream client (`OpenAICompatibleEngine`) against a real OpenAI-compatible server on loopback.

Parity with litellm where both reach the same server (replies, usage, error types), and the lean client's own
bounds: pooled connections, timeouts, a size cap on replies, and malformed replies as typed errors.
"""

import argparse
import sys
import threading
import time
from pathlib import Path

import pytest
from dspy import lm15
from dspy.lm15 import Config, Message, Request
from dspy.utils.exceptions import LMProviderError, LMTimeoutError, LMTransportError
from intent_mediator.commands import serve
from intent_mediator.engines.openai_compatible import OpenAICompatibleEngine
from intent_mediator.errors import IntentMediatorError, ModelConfigError
from intent_mediator.lm import build_lm, lm_scope
from intent_mediator.programs import MediatedAssistant
from intent_mediator.server import ServerConfig
from intent_mediator.server.mediation import describe_failure, to_request
from intent_mediator.simulation.usage import RoleUsage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _loopback_upstream import LoopbackUpstream

TURNS = [
    {"role": "user", "content": "sum a list"},
    {"role": "assistant", "content": "def f(xs): ..."},
    {"role": "user", "content": "only the even numbers"},
]


@pytest.fixture(scope="module")
def upstream():
    server = LoopbackUpstream(latency=0).start()
    yield server
    server.stop()


def lm(upstream, model="ok", client="lean", **kwargs):
    options = {"cache": False, "num_retries": 0, "api_key": "sk-loopback", **kwargs}
    return build_lm(f"openai/{model}", api_base=upstream.url, client=client, **options)


def ask(model_lm, text="hi"):
    return model_lm(to_request(model_lm.model, [{"role": "user", "content": text}])).message.text


def test_the_payload_is_openai_chat_completions():
    engine = OpenAICompatibleEngine("http://127.0.0.1:1/v1/", api_key="k")
    schema = {"type": "object", "properties": {"request": {"type": "string"}}}
    request = Request(
        model="openai/qwen2.5-7b",
        messages=(Message.user("a"), Message.assistant("b"), Message.user("c")),
        system="be terse",
        config=Config(
            temperature=0.0, max_tokens=64, stop=("END",), response_format={"type": "json_schema", "schema": schema}
        ),
    )
    body = engine.payload(request, stream=True)
    assert engine.url == "http://127.0.0.1:1/v1/chat/completions"
    assert body["model"] == "qwen2.5-7b" and body["stream"] is True  # the wire name, without litellm's prefix
    assert body["messages"] == [
        {"role": "system", "content": "be terse"},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    assert (body["temperature"], body["max_tokens"], body["stop"]) == (0.0, 64, ["END"])
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
    engine.close()


def test_the_mediator_gets_the_same_request_and_usage_through_either_client(upstream):
    program, results = MediatedAssistant(), {}
    for client in ("lean", "litellm"):
        usage = RoleUsage()
        with usage.track("mediator"), lm_scope(lm(upstream, client=client)):
            request = program.mediator(transcript=TURNS).request
        results[client] = (request, usage.as_dict()["mediator"])
    assert results["lean"] == results["litellm"]
    request, usage = results["lean"]
    assert request == "the mediated request" and usage["calls"] == 1 and usage["prompt_tokens"] > 0


def test_calls_reuse_one_pooled_connection(upstream):
    model_lm = lm(upstream)
    before = set(upstream.peers)
    assert [ask(model_lm, f"turn {i}") for i in range(5)] == [f"answer: turn {i}" for i in range(5)]
    assert len(upstream.peers - before) == 1  # five calls, one keep-alive connection
    model_lm.engine.close()


def test_each_thread_keeps_its_own_connection_and_calls_in_flight_are_bounded():
    slow = LoopbackUpstream(latency=0.3).start()
    engine = OpenAICompatibleEngine(slow.url, api_key="k", max_connections=2)
    request = Request(model="openai/slow", messages=(Message.user("hi"),))
    try:
        replies, release = [], threading.Event()

        def call() -> None:
            replies.append(engine.complete(request).message.text)
            release.wait(10)  # alive (with its connection open) until the main thread's call is done

        # Four threads of their own (an executor may hand a second task to a thread that finished its first).
        threads = [threading.Thread(target=call) for _ in range(4)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        while len(replies) < 4 and time.perf_counter() - started < 10:
            time.sleep(0.01)
        took = time.perf_counter() - started
        try:
            client = engine.client  # this thread's own pool: not one of the four threads'
            assert client._ssl_context is engine._ssl  # one TLS context shared by every thread
            assert engine.complete(request).message.text == "answer: hi"
            assert len(slow.peers) == 5  # one connection per calling thread, none shared between threads
            assert len(client.connections) == 1
        finally:
            release.set()
            for thread in threads:
                thread.join()
        assert replies == ["answer: hi"] * 4
        assert took >= 0.6  # four calls of 0.3 s, at most two at a time: two waves (one wave without the bound)
    finally:
        engine.close()
        slow.stop()
    assert client.connections == []  # close() closes every thread's pool and its connections
    with pytest.raises(lm15.TransportError, match="closed"):
        engine.complete(request)  # a typed error after close(), not httpx's RuntimeError


def test_an_engine_dropped_without_close_closes_its_threads_clients():
    import gc

    upstream = LoopbackUpstream(latency=0).start()
    engine = OpenAICompatibleEngine(upstream.url, api_key="k")
    try:
        engine.complete(Request(model="openai/ok", messages=(Message.user("hi"),)))
        client = engine.client  # this (long-lived) thread's pool, holding its keep-alive connection
        assert len(client.connections) == 1
        del engine
        gc.collect()
        assert client.connections == []
    finally:
        upstream.stop()


@pytest.mark.parametrize("model", ["error", "rate-limited"])
def test_http_errors_surface_as_the_same_dspy_errors_as_through_litellm(upstream, model):
    failures = {}
    for client in ("lean", "litellm"):
        with pytest.raises(Exception) as info:
            ask(lm(upstream, model, client))
        failures[client] = describe_failure(info.value)
    assert failures["lean"] == failures["litellm"]
    assert (
        failures["lean"] == {"error": "LMServerError (HTTP 500)", "rate-limited": "LMRateLimitError (HTTP 429)"}[model]
    )


@pytest.mark.parametrize("model", ["not-json", "wrong-shape", "huge"])
def test_a_reply_that_is_not_a_bounded_chat_completion_is_a_provider_error(upstream, model):
    with pytest.raises(LMProviderError, match=r"not JSON|not a chat completion|over 8000000 bytes"):
        ask(lm(upstream, model))


def test_a_smaller_cap_refuses_a_reply_it_would_otherwise_read(upstream):
    engine = OpenAICompatibleEngine(upstream.url, max_response_bytes=100)
    request = Request(model="openai/ok", messages=(Message.user("x" * 200),))
    with pytest.raises(lm15.ProviderError, match="over 100 bytes"):
        engine.complete(request)
    assert OpenAICompatibleEngine(upstream.url).complete(request).text.startswith("answer: ")


def test_a_hanging_server_times_out_and_an_absent_one_fails_to_connect(upstream):
    started = time.monotonic()
    with pytest.raises(LMTimeoutError):
        ask(lm(upstream, "hang", timeout=0.5))
    assert time.monotonic() - started < 3
    absent = build_lm("openai/ok", api_base="http://127.0.0.1:9/v1", client="lean", cache=False, num_retries=0)
    with pytest.raises(LMTransportError):
        ask(absent)


def test_a_trickling_server_is_given_up_at_max_seconds_though_no_read_times_out(upstream):
    request = to_request("openai/trickle", [{"role": "user", "content": "x"}])
    bounded = OpenAICompatibleEngine(upstream.url, timeout=0.5, max_seconds=1.0)
    for call in (bounded.complete, lambda r: list(bounded.stream(r))):
        started = time.monotonic()
        with pytest.raises(lm15.TimeoutError, match="no complete reply by the call's deadline"):
            call(request)
        assert 0.9 < time.monotonic() - started < 2.0
    # Through build_lm a timeout bounds the whole call too, as `serve --upstream-timeout` relies on.
    assert lm(upstream, timeout=3.0).engine.max_seconds == 3.0


def test_streams_are_read_as_server_sent_events(upstream):
    engine = OpenAICompatibleEngine(upstream.url, timeout=0.5)
    events = list(engine.stream(to_request("openai/ok", [{"role": "user", "content": "count to three"}])))
    assert [e.type for e in events[:1] + events[-1:]] == ["start", "end"]
    assert "".join(e.delta.text for e in events if e.type == "delta") == "answer: count to three"
    with pytest.raises(lm15.ServerError):
        list(engine.stream(to_request("openai/stream-error", [{"role": "user", "content": "x"}])))
    with pytest.raises(lm15.TimeoutError):
        list(engine.stream(to_request("openai/stream-then-hang", [{"role": "user", "content": "x"}])))


def test_only_openai_models_take_the_lean_client_and_bad_choices_are_refused():
    assert isinstance(
        build_lm("openai/x", api_base="http://127.0.0.1:9/v1", client="lean").engine, OpenAICompatibleEngine
    )
    assert build_lm("openai/x", api_base="http://127.0.0.1:9/v1", client="litellm").engine == "litellm"
    assert isinstance(build_lm("anthropic/claude-3-5-haiku-latest", client="lean").engine, str)  # litellm's path
    with pytest.raises(ModelConfigError, match="unknown upstream client 'fast'"):
        build_lm("openai/x", client="fast")
    with pytest.raises(IntentMediatorError, match="upstream_client must be one of"):
        ServerConfig(upstream="openai/x", upstream_client="fast")


def test_usage_is_priced_only_when_asked(upstream):
    model_lm = lm(upstream, "gpt-4o-mini")  # a name in litellm's price list, answered by the loopback server
    usage = {}
    for priced in (True, False):
        tracker = RoleUsage(priced=priced)
        with tracker.track("upstream"):
            ask(model_lm)
        usage[priced] = tracker.as_dict()["upstream"]
    assert usage[True]["cost"] > 0 and "cost" not in usage[False]  # the server's RoleUsage(priced=False)
    assert usage[True]["prompt_tokens"] == usage[False]["prompt_tokens"] == 10


def test_serve_takes_the_client_from_its_flag(capsys):
    parser = argparse.ArgumentParser()
    serve.configure(parser)
    assert serve.server_config(parser.parse_args(["--upstream", "openai/x"])).upstream_client == "lean"
    assert serve.server_config(parser.parse_args(["--upstream-client", "litellm"])).upstream_client == "litellm"
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--upstream-client", "fast"])
    assert info.value.code == 2 and "invalid choice: 'fast'" in capsys.readouterr().err


def _one_shot_server(reply: bytes) -> tuple[str, list[bytes]]:
    """A loopback HTTP server that answers one request with `reply` and keeps the request's head."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    heads: list[bytes] = []

    def serve() -> None:
        connection, _ = listener.accept()
        with connection, listener:
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                int(v) for k, _, v in (h.partition(b":") for h in head.split(b"\r\n")) if k.lower() == b"content-length"
            )
            while len(body) < length:
                body += connection.recv(65536)
            heads.append(head)
            connection.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", heads


COMPLETION = b'{"choices": [{"message": {"role": "assistant", "content": "via proxy"}, "finish_reason": "stop"}]}'
REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(COMPLETION),
    COMPLETION,
)


def test_the_environments_proxy_is_used_unless_no_proxy_names_the_host(monkeypatch):
    proxy, heads = _one_shot_server(REPLY)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    engine = OpenAICompatibleEngine("http://upstream.example.invalid/v1", api_key="k")
    request = Request(model="openai/m", messages=(Message.user("hi"),))
    assert engine.complete(request).message.text == "via proxy"
    assert heads[0].startswith(b"POST http://upstream.example.invalid/v1/chat/completions HTTP/1.1")
    engine.close()
    for loopback in ("http://127.0.0.1:8000/v1", "http://localhost:8000/v1", "http://[::1]:8000/v1"):
        assert OpenAICompatibleEngine(loopback)._proxy is None  # a local server is never reached through a proxy
    monkeypatch.setenv("NO_PROXY", "upstream.example.invalid")
    assert OpenAICompatibleEngine("http://upstream.example.invalid/v1", api_key="k")._proxy is None


def test_the_host_header_and_request_target_follow_the_url(monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    server, heads = _one_shot_server(REPLY)
    engine = OpenAICompatibleEngine(f"{server}/my api/v1", api_key="k")
    assert engine.complete(Request(model="openai/m", messages=(Message.user("hi"),))).message.text == "via proxy"
    lines = heads[0].split(b"\r\n")
    assert lines[0] == b"POST /my%20api/v1/chat/completions HTTP/1.1"  # percent-encoded, as httpx sent it
    assert f"Host: {server.removeprefix('http://')}".encode() in lines and b"Accept-Encoding: identity" in lines
    engine.close()
    assert dict(OpenAICompatibleEngine("http://[::1]:8080/v1")._headers)[b"Host"] == b"[::1]:8080"
    assert dict(OpenAICompatibleEngine("https://api.example.com:443/v1")._headers)[b"Host"] == b"api.example.com"
    for bad in ("ftp://host/v1", "http://user:secret@host/v1", "/v1"):
        with pytest.raises(ValueError, match="base_url"):
            OpenAICompatibleEngine(bad)
    with pytest.raises(ModelConfigError, match="api_base: base_url must not carry credentials"):
        build_lm("openai/m", api_base="http://user:secret@host/v1", client="lean")
