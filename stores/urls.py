"""Open a store from the URL a user passes (`--store`, `--memory`)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from intent_mediator.stores.base import LogStore, RequestMemory, StoreError

LOG_SCHEMES = ("sqlite", "postgresql", "postgres")
MEMORY_SCHEMES = ("memory", "redis", "rediss")


def open_log_store(url: str | Path) -> LogStore:
    """`sqlite:///path`, a plain file path (SQLite), or `postgresql://...`."""
    text = str(url)
    scheme = urlsplit(text).scheme if "://" in text else ""
    if scheme in ("", "sqlite"):
        from intent_mediator.stores.sqlite import SQLiteLogStore

        path = text.removeprefix("sqlite://") if scheme else text
        if scheme and not path.startswith("/"):
            raise StoreError(f"store URL {text!r}: use sqlite:///relative/path or sqlite:////absolute/path")
        return SQLiteLogStore(path[1:] if scheme else path)
    if scheme in ("postgresql", "postgres"):
        from intent_mediator.stores.postgres import PostgresLogStore

        return PostgresLogStore(text)
    raise StoreError(f"store URL {text!r}: unknown scheme {scheme!r}; use one of {', '.join(LOG_SCHEMES)}")


def open_request_memory(url: str | None = None, **options) -> RequestMemory:
    """`memory://` (this process; the default) or `redis://host:port/db`; `options` go to the backend."""
    text = url or "memory://"
    scheme = urlsplit(text).scheme
    if scheme == "memory":
        from intent_mediator.stores.local_memory import LocalRequestMemory

        return LocalRequestMemory(**{k: v for k, v in options.items() if k == "capacity"})
    if scheme in ("redis", "rediss"):
        from intent_mediator.stores.redis_memory import RedisRequestMemory

        return RedisRequestMemory(text, **options)
    raise StoreError(f"memory URL {text!r}: unknown scheme {scheme!r}; use one of {', '.join(MEMORY_SCHEMES)}")
