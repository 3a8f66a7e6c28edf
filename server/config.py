"""Server settings."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from intent_mediator.errors import IntentMediatorError
from intent_mediator.lm import UPSTREAM_CLIENTS
from intent_mediator.server.auth import KeyRing
from intent_mediator.transcript import MEDIATOR_HISTORIES


@dataclass
class ServerConfig:
    """Settings of `intent-mediator serve`.

    Args:
        upstream: Model string of the assistant the server fronts (None: the embedded model).
        mediator: Model string of the Mediator (None: the upstream model).
        api_base: OpenAI-compatible base URL for `openai/...` models.
        artifacts: Root of compiled artifacts (`<user>/<domain>/program.json`); None serves the uncompiled Mediator.
        compiled: Also serve the compiled domain artifacts shipped with the package for the Mediator's model
            (after the root's own domain artifact, before its generic one).
        keys: The API keys and the user each belongs to (`KeyRing.from_file`); None serves loopback clients
            only, and trusts the user they name.
        store: Where conversation logs and feedback go (None: no logging): a SQLite path or `sqlite:///...`
            (one replica), or `postgresql://...` (shared by replicas); see `intent_mediator.stores`.
        memory: Where incremental mediation remembers its requests: `memory://` (this process; the default)
            or `redis://...` (shared by replicas, so a conversation's next turn may land on any of them).
        memory_ttl: Seconds a remembered request lives in Redis.
        memory_capacity: Requests remembered (least recently used go first).
        max_body_bytes, max_messages: Request limits (413 and 400 beyond them).
        max_body_seconds: Longest wait for a request's whole body (408 after it).
        upstream_timeout: Seconds a request may wait on models in all (the Mediator, then the upstream); a
            request whose upstream has not answered by then fails with 504.
        mediator_timeout: Seconds the Mediator may take before the raw conversation goes upstream instead
            (default: half of `upstream_timeout`); counted inside `upstream_timeout`.
        upstream_retries: Retries of a failed upstream call (provider models, either client).
        upstream_client: How `openai/...` models (OpenAI, or any OpenAI-compatible server at `api_base`) are
            reached: "lean" (the default: `OpenAICompatibleEngine`, one keep-alive connection per calling thread, a few
            milliseconds less per call than litellm, replies capped in size) or "litellm". Other providers
            always go through litellm.
        mediator_history: "full" (the Mediator rereads the whole history each call) or "incremental" (it
            continues from the request it wrote for the conversation's previous call, when it remembers one;
            the default).
    """

    upstream: str | None = None
    mediator: str | None = None
    api_base: str | None = None
    artifacts: Path | None = None
    compiled: bool = False
    keys: KeyRing | None = None
    store: str | None = None
    memory: str | None = None
    memory_ttl: int = 24 * 3600
    memory_capacity: int = 100_000
    max_body_bytes: int = 1_000_000
    max_messages: int = 256
    max_body_seconds: float = 30.0
    upstream_timeout: float = 120.0
    mediator_timeout: float | None = None
    upstream_retries: int = 2
    upstream_client: str = "lean"
    mediator_history: str = "incremental"

    def __post_init__(self) -> None:
        if self.mediator_history not in MEDIATOR_HISTORIES:
            raise IntentMediatorError(
                f"mediator_history must be one of {MEDIATOR_HISTORIES}, got {self.mediator_history!r}"
            )
        if self.upstream_client not in UPSTREAM_CLIENTS:
            raise IntentMediatorError(
                f"upstream_client must be one of {UPSTREAM_CLIENTS}, got {self.upstream_client!r}"
            )
        timeouts = [self.upstream_timeout, self.max_body_seconds, self.mediator_timeout]
        if not all(math.isfinite(t) and t > 0 for t in timeouts if t is not None):
            raise IntentMediatorError("upstream_timeout, mediator_timeout and max_body_seconds must be finite and > 0")
        if self.mediator_timeout is not None and self.mediator_timeout > self.upstream_timeout:
            raise IntentMediatorError("mediator_timeout is counted inside upstream_timeout: it cannot be longer")

    def mediator_seconds(self) -> float:
        return self.mediator_timeout if self.mediator_timeout is not None else self.upstream_timeout / 2

    def mediator_model(self) -> str:
        """The Mediator's model string (whose shipped artifacts `compiled` serves)."""
        return self.mediator or self.upstream or "embedded"
