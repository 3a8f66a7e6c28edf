"""The ASGI layer in front of every route: who is calling, and a body size cap enforced while the body arrives.

A body over the cap gets 413 as soon as the cap is crossed (declared `Content-Length` or counted chunks), so a
chunked upload of any size costs at most the cap in memory; the connection is then closed rather than drained.
A body that has not fully arrived within `body_seconds` gets 408 and the connection is closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

from intent_mediator.server.auth import ApiKey, KeyRing
from starlette.datastructures import Headers

logger = logging.getLogger(__name__)

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
OPEN_PATHS = ("/healthz",)
KEY_SCOPE = "intent_mediator.api_key"


def caller_key(scope: Mapping[str, Any]) -> ApiKey | None:
    """The key the request authenticated with (None when the server runs without keys, loopback only)."""
    return scope.get(KEY_SCOPE)


class Guard:
    """Authenticates the bearer key (or admits loopback clients when no keys are configured) and caps bodies.

    Args:
        app: The ASGI app behind the guard.
        keys: The configured keys; None admits loopback clients only.
        max_body_bytes: Largest request body accepted.
        body_seconds: Longest wait for a whole request body (408 after it): a client sending a byte now and then
            would otherwise hold its connection and its slot as long as it likes.
    """

    def __init__(self, app, keys: KeyRing | None, max_body_bytes: int, body_seconds: float = 30.0):
        self.app, self.keys, self.max_body_bytes, self.body_seconds = app, keys, max_body_bytes, body_seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        if self.keys is not None:
            header = headers.get("authorization", "")
            token = header[7:] if header[:7].lower() == "bearer " else ""
            key = self.keys.identify(token) if token else None
            if key is None:
                return await _reject(send, 401, "missing or invalid API key", "authentication_error", close=True)
            scope[KEY_SCOPE] = key
        elif (scope.get("client") or ("",))[0] not in LOOPBACK:
            message = "no API keys are configured, so only loopback clients are served"
            return await _reject(send, 403, message, "permission_error", close=True)
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return await _reject(send, 413, f"request body over {self.max_body_bytes} bytes", close=True)
        chunks, size = [], 0
        deadline = asyncio.get_running_loop().time() + self.body_seconds
        while True:
            try:
                message = await asyncio.wait_for(receive(), deadline - asyncio.get_running_loop().time())
            except TimeoutError:
                logger.info("refused a request body not received within %g s on %s", self.body_seconds, scope["path"])
                return await _reject(send, 408, f"request body not received within {self.body_seconds:g} s", close=True)
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                logger.info("refused a request body over %d bytes on %s", self.max_body_bytes, scope["path"])
                return await _reject(send, 413, f"request body over {self.max_body_bytes} bytes", close=True)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


async def _reject(send, status: int, message: str, kind: str = "invalid_request_error", close: bool = False) -> None:
    payload = json.dumps({"error": {"message": message, "type": kind}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
