"""`HeadDeadlineProtocol`: a connection whose request head does not arrive in time is closed; a whole head is not."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
from intent_mediator.server.protocol import HeadDeadlineProtocol
from intent_mediator.stores.dev_servers import free_port


class QuickDeadline(HeadDeadlineProtocol):
    head_seconds = 0.5


async def echo_app(scope, receive, send):
    """Answers every request with the length of its body, read to the end; "/early" answers without reading it
    (as the server's guard answers a missing API key)."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/early":
        await send({"type": "http.response.start", "status": 401, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"no"})
        return
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def server():
    port = free_port()
    config = uvicorn.Config(echo_app, host="127.0.0.1", port=port, http=QuickDeadline, log_level="error")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield port
    running.should_exit = True
    thread.join(timeout=10)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closes `sock` (reading and discarding anything it sends first)."""
    started = time.monotonic()
    sock.settimeout(seconds)
    while sock.recv(4096):
        pass
    return time.monotonic() - started


def response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data or not data.split(b"\r\n\r\n", 1)[1]:
        chunk = sock.recv(4096)
        assert chunk, f"closed before a whole response: {data!r}"
        data += chunk
    return data


def test_a_connection_that_never_sends_a_head_is_closed(server):
    with connect(server) as sock:
        assert closed_within(sock, 3) < 2


def test_a_head_that_never_ends_is_closed(server):
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # no blank line: the head is not over
        assert closed_within(sock, 3) < 2


def test_a_head_trickled_in_within_the_deadline_is_answered(server):
    with connect(server) as sock:
        for byte in b"GET / HTTP/1.1\r\nHost: x\r\n\r\n":
            sock.sendall(bytes([byte]))
            time.sleep(0.005)
        assert response(sock).startswith(b"HTTP/1.1 200")


def test_a_slow_body_is_not_the_heads_deadline(server):
    """The head arrived: the body is the app's to bound (the server's guard), not this deadline's."""
    with connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
        time.sleep(1.0)  # twice the head deadline
        sock.sendall(b"cd")
        reply = response(sock)
        assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"4")


def test_the_next_head_on_a_keep_alive_connection_has_its_own_deadline(server):
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert response(sock).startswith(b"HTTP/1.1 200")
        time.sleep(0.8)  # idle past the head deadline: keep-alive's own timeout (5 s) governs this wait
        sock.sendall(b"GET / HTTP/1.1\r\n")  # a second head, never finished
        assert closed_within(sock, 3) < 2


def test_a_partial_head_buffered_behind_a_request_has_the_deadline_too(server):
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n")  # a second, unfinished
        assert response(sock).startswith(b"HTTP/1.1 200")
        assert closed_within(sock, 4) < 2  # not keep-alive's 5 s


def test_a_body_nobody_reads_is_bounded(server):
    """The app answered without reading the body: bytes trickling in after that are bounded by the deadline."""
    with connect(server) as sock:
        sock.sendall(b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        assert response(sock).startswith(b"HTTP/1.1 401")
        started = time.monotonic()
        with pytest.raises(OSError):  # closed: a send fails, or the peer resets
            for _ in range(40):
                sock.sendall(b"x")
                time.sleep(0.1)
                if not sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                    raise ConnectionResetError("closed")
        assert time.monotonic() - started < 2


def test_the_deadline_starts_at_the_heads_first_byte_after_a_body(server):
    """After an answered request's body ends, the connection idles under keep-alive; the next head's deadline
    starts at its first byte, so a head sent 0.45 s later in two parts is answered."""
    with connect(server) as sock:
        sock.sendall(b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
        assert response(sock).startswith(b"HTTP/1.1 401")
        sock.sendall(b"abcd")
        time.sleep(0.45)
        sock.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(0.2)
        sock.sendall(b"Host: x\r\n\r\n")
        assert response(sock).startswith(b"HTTP/1.1 200")


def test_serve_runs_uvicorn_with_the_deadline(monkeypatch):
    from intent_mediator import cli

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    assert cli.main(["serve", "--upstream", "openai/ok", "--mediator", "openai/ok", "--port", "1"]) == 0
    assert seen["http"] is HeadDeadlineProtocol
