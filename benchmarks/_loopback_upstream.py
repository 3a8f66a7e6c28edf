"""A scripted OpenAI-compatible upstream on 127.0.0.1, for the server's hostile-input tests and load test.

The model name in each request picks the behaviour, so one upstream serves a Mediator and an assistant that
behave differently (`--mediator openai/garbage --upstream openai/ok`):

    ok                 Mediator calls get a well-formed `request` field; assistant calls get "answer: <last turn>"
    slow               like ok after `latency` seconds
    garbage            a reply no adapter can parse, with newlines and header-like lines in it
    hang               never answers (until the upstream stops)
    error              HTTP 500 whose message echoes a secret, as some providers echo the caller's key
    stream-then-hang   streams two chunks, then never finishes
    stream-error       streams one chunk, then an error event with the secret
    not-json           HTTP 200 with an HTML page instead of JSON
    wrong-shape        HTTP 200 with JSON that is not a chat completion
    rate-limited       HTTP 429 (Retry-After: 0) whose message echoes the secret
    huge               a well-formed reply of 9 MB
    trickle            never finishes, but keeps sending: a space of JSON body (or, streamed, one `: ping` comment
                       after the first chunk) every 0.1 s, so no single read ever times out
    lone-surrogate     a well-formed reply whose text holds a lone UTF-16 surrogate (valid JSON: "\\ud800")
    absurd-usage       a well-formed reply that claims 10**40 prompt tokens and -5 completion tokens

    upstream = LoopbackUpstream(latency=0.1).start()   # in a thread; upstream.url ends in /v1
    ...
    upstream.stop()
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections import Counter

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

SECRET = "sk-upstream-SECRET-0123456789"
_FIELD = re.compile(r"^\d+\. `(\w+)`", re.MULTILINE)


class LoopbackUpstream:
    """The scripted upstream; `calls` counts requests per model name, `peers` the client connections seen."""

    def __init__(self, latency: float = 0.1):
        self.latency = latency
        self.calls: Counter = Counter()
        self.trickling = 0  # `trickle` replies still being read
        self.peers: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])

    def start(self, port: int = 0) -> LoopbackUpstream:
        sock = socket.socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=1))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            self._thread.join(timeout=10)

    async def _chat(self, request: Request):
        body = await request.json()
        model = str(body.get("model", "ok")).removeprefix("openai/")
        with self._lock:
            self.calls[model] += 1
            if request.client is not None:
                self.peers.add((request.client.host, request.client.port))
        messages = body.get("messages", [])
        if model == "hang":
            await asyncio.sleep(3600)
        if model == "error":
            return JSONResponse({"error": {"message": f"Incorrect API key provided: {SECRET}"}}, status_code=500)
        if model == "rate-limited":
            message = {"error": {"message": f"slow down, {SECRET}", "type": "rate_limit_error"}}
            return JSONResponse(message, status_code=429, headers={"retry-after": "0"})
        if model == "not-json":
            return HTMLResponse("<html><body>502 Bad Gateway</body></html>")
        if model == "wrong-shape":
            return JSONResponse({"object": "list", "data": [{"id": "ok"}]})
        if model == "slow":
            await asyncio.sleep(self.latency)
        if model == "trickle":
            if body.get("stream"):
                stream = self._trickle(self._stream("ok", "never finished"))
                return StreamingResponse(stream, media_type="text/event-stream")
            return StreamingResponse(self._trickle(None), media_type="application/json")
        text = "x" * 9_000_000 if model == "huge" else self._reply(model, messages)
        if model == "lone-surrogate":  # at the end of the request a Mediator writes, or of the answer
            marked = text.replace("the mediated request", "the mediated request\ud800", 1)
            text = marked if marked != text else text + "\ud800"
        if body.get("stream"):
            return StreamingResponse(self._stream(model, text), media_type="text/event-stream")
        usage = {"prompt_tokens": 10 * len(messages), "completion_tokens": len(text.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if model == "absurd-usage":
            usage = {"prompt_tokens": 10**40, "completion_tokens": -5, "total_tokens": 10**40 - 5}
        payload = {
            "id": "chatcmpl-loopback",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage,
        }
        if model == "lone-surrogate":  # escaped by json.dumps; starlette's UTF-8 rendering cannot hold it
            return Response(json.dumps(payload), media_type="application/json")
        return JSONResponse(payload)

    @staticmethod
    def _reply(model: str, messages: list[dict]) -> str:
        system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
        last = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
        if model == "garbage":
            return "I cannot help with that.\r\nX-Injected: yes\n\n{not json"
        if "Your output fields are:" in system:  # a DSPy program's call (the Mediator): its fields, ChatAdapter style
            outputs = _FIELD.findall(system.split("Your output fields are:", 1)[1].split("\n\n", 1)[0])
            # No digits: the Mediator's check would flag a number the user never gave and call its repair step.
            sections = [f"[[ ## {name} ## ]]\nthe mediated request" for name in outputs]
            return "\n\n".join([*sections, "[[ ## completed ## ]]"])
        return f"answer: {last[-80:]}"

    async def _trickle(self, stream):
        """Counted in `trickling` while a client still reads it (a caller that gave up closes its connection)."""
        with self._lock:
            self.trickling += 1
        try:
            if stream is not None:
                yield await anext(stream)  # the stream's first chunk, then only comments
            while True:
                yield ": ping\n\n" if stream is not None else " "
                await asyncio.sleep(0.1)
        finally:
            with self._lock:
                self.trickling -= 1

    async def _stream(self, model: str, text: str):
        def chunk(delta: dict, finish: str | None = None) -> str:
            payload = {
                "id": "chatcmpl-loopback",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(payload)}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        if model == "stream-error":
            yield chunk({"content": "partial "})
            yield f"data: {json.dumps({'error': {'message': f'upstream overloaded for key {SECRET}'}})}\n\n"
            return
        words = text.split(" ")
        for index, word in enumerate(words):
            yield chunk({"content": word + (" " if index < len(words) - 1 else "")})
            if model == "stream-then-hang" and index == 1:
                await asyncio.sleep(3600)
        yield chunk({}, "stop")
        yield "data: [DONE]\n\n"


def main() -> None:
    """Run the upstream in the foreground; prints its base URL on the first line."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the `slow` model takes")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    upstream = LoopbackUpstream(latency=args.latency).start(args.port)
    print(upstream.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        upstream.stop()


if __name__ == "__main__":
    main()
