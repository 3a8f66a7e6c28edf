"""The embedded log store: one SQLite file, nothing to start. Safe across threads and worker processes (WAL)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from intent_mediator.stores.base import LoggedConversation, LogStore, StoreError

# Versioned migrations, applied in order inside one write transaction; PRAGMA user_version holds the version.
# Version 1 is the schema of the first release (CREATE ... IF NOT EXISTS, so logs written by it migrate in place).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, user TEXT NOT NULL, domain TEXT NOT NULL,"
        " created REAL NOT NULL, messages TEXT NOT NULL, request TEXT, response TEXT, outcome TEXT,"
        " final_request TEXT)",
        "CREATE INDEX IF NOT EXISTS conversations_user ON conversations (user, domain)",
    ),
    (
        "ALTER TABLE conversations ADD COLUMN feedback_at REAL",
        "CREATE INDEX IF NOT EXISTS conversations_feedback ON conversations (feedback_at)",
    ),
)

_COLUMNS = "id, user, domain, created, messages, request, response, outcome, final_request, feedback_at"


class SQLiteLogStore(LogStore):
    """Conversation logs in a SQLite file.

    Args:
        path: The database file (created with its folder when missing).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        if self.path.exists() and not self.path.is_file():
            raise StoreError(f"log store {self.path}: not a file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.version = self._migrate()

    def _connection(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            try:
                con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                con.execute("PRAGMA journal_mode=WAL")
                # WAL with NORMAL sync stays consistent after a crash; FULL would fsync on every logged request.
                con.execute("PRAGMA synchronous=NORMAL")
                con.execute("PRAGMA busy_timeout=30000")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"log store {self.path}: {exc}") from None
            self._local.con = con
        return con

    def _migrate(self) -> int:
        con = self._connection()
        try:
            con.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then find nothing to do
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"log store {self.path}: schema version {version} is newer than this release knows "
                    f"({len(MIGRATIONS)}); upgrade intent-mediator"
                )
            for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in statements:
                    con.execute(statement)
                con.execute(f"PRAGMA user_version = {number}")
            con.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            con.execute("ROLLBACK")
            raise StoreError(f"log store {self.path}: {exc}") from None
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return len(MIGRATIONS)

    def record(
        self, conversation_id: str, user: str, domain: str, messages: list[dict], request: str | None, response: str
    ) -> None:
        self._connection().execute(
            "INSERT INTO conversations (id, user, domain, created, messages, request, response) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (conversation_id, user, domain, time.time(), json.dumps(messages), request, response),
        )

    def feedback(self, conversation_id: str, user: str, success: bool, final_request: str | None) -> bool:
        cursor = self._connection().execute(
            "UPDATE conversations SET outcome = ?, final_request = ?, feedback_at = ? WHERE id = ? AND user = ?",
            ("success" if success else "failure", final_request, time.time(), conversation_id, user),
        )
        return cursor.rowcount == 1

    def conversations(
        self, user: str, domain: str | None = None, *, with_feedback: bool = True
    ) -> list[LoggedConversation]:
        query = f"SELECT {_COLUMNS} FROM conversations WHERE user = ?"
        params: list = [user]
        if with_feedback:
            query += " AND outcome IS NOT NULL"
        if domain is not None:
            query += " AND domain = ?"
            params.append(domain)
        rows = self._connection().execute(query + " ORDER BY created, id", params).fetchall()
        return [_row(row) for row in rows]

    def feedback_counts(self, since: float | None = None) -> dict[tuple[str, str], int]:
        rows = self._connection().execute(
            "SELECT user, domain, COUNT(*) FROM conversations WHERE feedback_at IS NOT NULL AND feedback_at > ? "
            "GROUP BY user, domain",
            (since if since is not None else float("-inf"),),
        )
        return {(user, domain): count for user, domain, count in rows}

    def ping(self) -> None:
        try:
            self._connection().execute("SELECT 1").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"log store {self.path}: {exc}") from None

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


def _row(row: tuple) -> LoggedConversation:
    id_, user, domain, created, messages, request, response, outcome, final_request, feedback_at = row
    return LoggedConversation(
        id=id_,
        user=user,
        domain=domain,
        created=created,
        messages=json.loads(messages),
        request=request,
        response=response,
        outcome=outcome,
        final_request=final_request,
        feedback_at=feedback_at,
    )
