"""The shared log store: PostgreSQL through psycopg 3 and a connection pool, for several server replicas."""

from __future__ import annotations

import logging
import time

from intent_mediator.stores.base import LoggedConversation, LogStore, StoreError, redacted_url

logger = logging.getLogger(__name__)

# Versioned migrations; `intent_mediator_schema` holds one row per applied version. Every replica runs
# `migrate` at start; a transaction-scoped advisory lock makes the first one apply them and the rest wait.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, username TEXT NOT NULL,"
        " domain TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, messages JSONB NOT NULL, request TEXT,"
        " response TEXT, outcome TEXT, final_request TEXT, feedback_at DOUBLE PRECISION)",
        "CREATE INDEX IF NOT EXISTS conversations_user ON conversations (username, domain, created)",
        "CREATE INDEX IF NOT EXISTS conversations_feedback ON conversations (feedback_at)",
    ),
)
_LOCK_ID = 0x1A7E_57  # the advisory lock every replica takes while migrating
_COLUMNS = "id, username, domain, created, messages, request, response, outcome, final_request, feedback_at"


class PostgresLogStore(LogStore):
    """Conversation logs in PostgreSQL.

    Args:
        url: A libpq URL, `postgresql://user[:password]@host:port/dbname`.
        min_size, max_size: Connection pool bounds.
        timeout: Seconds to wait for a pooled connection (and to connect at start).
    """

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 8, timeout: float = 10.0):
        import psycopg
        from psycopg_pool import ConnectionPool

        self.url = url
        self._psycopg = psycopg
        self._pool = ConnectionPool(
            url, min_size=min_size, max_size=max_size, timeout=timeout, open=False, kwargs={"autocommit": True}
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except Exception as exc:
            self._pool.close()
            raise StoreError(f"log store {redacted_url(url)}: cannot connect ({type(exc).__name__})") from None
        self.version = self._migrate()

    def _migrate(self) -> int:
        with self._pool.connection() as con, con.transaction():
            con.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            con.execute(
                "CREATE TABLE IF NOT EXISTS intent_mediator_schema "
                "(version INTEGER PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
            )
            row = con.execute("SELECT COALESCE(MAX(version), 0) FROM intent_mediator_schema").fetchone()
            assert row is not None  # an aggregate without GROUP BY always returns exactly one row
            version = row[0]
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"log store {redacted_url(self.url)}: schema version {version} is newer than this release knows "
                    f"({len(MIGRATIONS)}); upgrade intent-mediator"
                )
            for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
                logger.info("log store: applying schema migration %d", number)
                for statement in statements:
                    con.execute(statement)
                con.execute("INSERT INTO intent_mediator_schema VALUES (%s, %s)", (number, time.time()))
        return len(MIGRATIONS)

    def record(
        self, conversation_id: str, user: str, domain: str, messages: list[dict], request: str | None, response: str
    ) -> None:
        from psycopg.types.json import Jsonb

        with self._pool.connection() as con:
            con.execute(
                "INSERT INTO conversations (id, username, domain, created, messages, request, response) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (conversation_id, user, domain, time.time(), Jsonb(messages), request, response),
            )

    def feedback(self, conversation_id: str, user: str, success: bool, final_request: str | None) -> bool:
        with self._pool.connection() as con:
            cursor = con.execute(
                "UPDATE conversations SET outcome = %s, final_request = %s, feedback_at = %s "
                "WHERE id = %s AND username = %s",
                ("success" if success else "failure", final_request, time.time(), conversation_id, user),
            )
            return cursor.rowcount == 1

    def conversations(
        self, user: str, domain: str | None = None, *, with_feedback: bool = True
    ) -> list[LoggedConversation]:
        query = f"SELECT {_COLUMNS} FROM conversations WHERE username = %s"
        params: list = [user]
        if with_feedback:
            query += " AND outcome IS NOT NULL"
        if domain is not None:
            query += " AND domain = %s"
            params.append(domain)
        with self._pool.connection() as con:
            rows = con.execute(query + " ORDER BY created, id", params).fetchall()
        return [LoggedConversation(*row) for row in rows]

    def feedback_counts(self, since: float | None = None) -> dict[tuple[str, str], int]:
        with self._pool.connection() as con:
            rows = con.execute(
                "SELECT username, domain, COUNT(*) FROM conversations "
                "WHERE feedback_at IS NOT NULL AND feedback_at > %s GROUP BY username, domain",
                (since if since is not None else float("-inf"),),
            ).fetchall()
        return {(user, domain): count for user, domain, count in rows}

    def ping(self) -> None:
        try:
            with self._pool.connection(timeout=2.0) as con:
                con.execute("SELECT 1").fetchone()
        except Exception as exc:
            raise StoreError(f"log store {redacted_url(self.url)}: {type(exc).__name__}") from None

    def close(self) -> None:
        self._pool.close()
