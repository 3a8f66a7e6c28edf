"""uvicorn's HTTP/1.1 protocol with a deadline for each request's head (request line and headers).

uvicorn bounds the idle time between keep-alive requests, and the server's guard bounds a body
(`ServerConfig.max_body_seconds`), but nothing bounds the head: a client that opens connections and never
finishes a request line or its headers ("slowloris") holds each one, and with them the process's file
descriptors. `HeadDeadlineProtocol` closes a connection whose head has not fully arrived within `HEAD_SECONDS`
of the connection opening, or of the head's first byte after a keep-alive response. `serve` runs uvicorn with it.
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
        # Still waiting for a request line and headers: the first bytes of one, or of the next after keep-alive.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            if self._head_timer is None:
                self._arm()
        else:
            self._disarm()

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
            logger.warning("closed a connection from %s: no whole request head in %g s", self.client, self.head_seconds)
            self.transport.close()
