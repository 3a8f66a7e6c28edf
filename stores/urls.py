"""Open a store from the URL a user passes (`--store`, `--memory`)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from intent_mediator.stores.base import LogStore, RequestMemory, StoreError

LOG_SCHEMES = ("sqlite", "postgresql", "postgres")
MEMORY_SCHEMES = ("memory", "redis", "rediss")


def sqlite_path(url: str | Path) -> str | None:
    """The file a SQLite store URL names (`sqlite:///path` or a plain path); None for any other scheme.

    Raises:
        StoreError: a `sqlite://` URL without the third slash.
    """
    text = str(url)
    scheme = urlsplit(text).scheme if "://" in text else ""
    if scheme == "":
        return text
    if scheme != "sqlite":
        return None
    path = text.removeprefix("sqlite://")
    if not path.startswith("/"):
        raise StoreError(f"store URL {text!r}: use sqlite:///relative/path or sqlite:////absolute/path")
    return path[1:]


def open_log_store(url: str | Path) -> LogStore:
    """`sqlite:///path`, a plain file path (SQLite), or `postgresql://...`."""
    text = str(url)
    path = sqlite_path(text)
    if path is not None:
        from intent_mediator.stores.sqlite import SQLiteLogStore

        return SQLiteLogStore(path)
    scheme = urlsplit(text).scheme
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
