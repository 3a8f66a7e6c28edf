"""uvicorn's HTTP/1.1 protocol with a deadline for each request's head (request line and headers).

uvicorn bounds the idle time between keep-alive requests, and the server's guard bounds a body
(`ServerConfig.max_body_seconds`), but nothing bounds the head: a client that opens connections and never
finishes a request line or its headers ("slowloris") holds each one, and with them the process's file
descriptors. `HeadDeadlineProtocol` closes a connection whose head has not fully arrived within `HEAD_SECONDS`
of the connection opening, or of the head's first byte after a keep-alive response (sent then, or already
buffered behind the last request). The same deadline bounds a request body still arriving after the app
answered without reading it (an early 401): no app is left to bound it. `serve` runs uvicorn with it.
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)

# A head is a few hundred bytes: any real client sends it in well under a second.
HEAD_SECONDS = 15.0


class HeadDeadlineProtocol(H11Protocol):
    """`H11Protocol` that closes a connection whose request head is not complete within `head_seconds`."""

    head_seconds: float = HEAD_SECONDS
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def _watch(self) -> None:
        """Arm the deadline while bytes arrive that no app reads: a head begun but not finished, or the body of a
        request already answered; otherwise disarm it, and let uvicorn's keep-alive timer bound an idle
        connection."""
        if self.transport.is_closing():
            self._disarm()
            return
        conn = self.conn
        head_begun = conn.their_state is h11.IDLE and bool(conn.trailing_data[0])
        unread_body = conn.our_state in (h11.DONE, h11.MUST_CLOSE) and conn.their_state is h11.SEND_BODY
        if head_begun or unread_body:
            if self._head_timer is None:
                self._arm()
            return
        self._disarm()
        if conn.their_state is h11.IDLE and self.timeout_keep_alive_task is None:
            # Idle between requests (the body of an answered request just ended): keep-alive's own bound.
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self.head_seconds, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            logger.warning(
                "closed a connection from %s: a request head unfinished, or an answered request's body still "
                "arriving, after %g s",
                self.client,
                self.head_seconds,
            )
            self.transport.close()
