"""Server settings, and API keys from a file or `INTENT_MEDIATOR_API_KEYS`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from intent_mediator.errors import IntentMediatorError
from intent_mediator.transcript import MEDIATOR_HISTORIES


@dataclass
class ServerConfig:
    """Settings of `intent-mediator serve`.

    Args:
        upstream: Model string of the assistant the server fronts (None: the embedded model).
        mediator: Model string of the Mediator (None: the upstream model).
        api_base: OpenAI-compatible base URL for `openai/...` models.
        artifacts: Root of compiled artifacts (`<user>/<domain>/program.json`); None serves the uncompiled Mediator.
        api_keys: Accepted bearer keys; none means only loopback clients are served.
        log_path: SQLite file for conversation logs and feedback (None: no logging).
        max_body_bytes, max_messages: Request limits (413 and 400 beyond them).
        upstream_timeout: Seconds before an upstream call fails with 504.
        upstream_retries: Retries of a failed upstream call (litellm-backed models).
        mediator_history: "full" (the Mediator rereads the whole history each call) or "incremental" (it
            continues from the request it wrote for the conversation's previous call, when it remembers one).
    """

    upstream: str | None = None
    mediator: str | None = None
    api_base: str | None = None
    artifacts: Path | None = None
    api_keys: list[str] = field(default_factory=list)
    log_path: Path | None = None
    max_body_bytes: int = 1_000_000
    max_messages: int = 256
    upstream_timeout: float = 120.0
    upstream_retries: int = 2
    mediator_history: str = "full"

    def __post_init__(self) -> None:
        if self.mediator_history not in MEDIATOR_HISTORIES:
            raise IntentMediatorError(
                f"mediator_history must be one of {MEDIATOR_HISTORIES}, got {self.mediator_history!r}"
            )


def load_api_keys(path: str | Path | None = None, environ: dict[str, str] | None = None) -> list[str]:
    """Keys from `path` (one per line, `#` comments) and from `INTENT_MEDIATOR_API_KEYS` (comma separated)."""
    environ = os.environ if environ is None else environ
    keys = [k.strip() for k in environ.get("INTENT_MEDIATOR_API_KEYS", "").split(",") if k.strip()]
    if path:
        file = Path(path)
        if not file.is_file():
            raise IntentMediatorError(f"--api-keys-file: no such file {path}")
        keys += [line.strip() for line in file.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return keys
