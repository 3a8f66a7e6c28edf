"""Conversation logs and feedback in SQLite, kept per user; the Refiner mines them (`compile --from-logs`)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from intent_mediator.simulation.trajectory import Trajectory, TurnRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, domain TEXT NOT NULL, created REAL NOT NULL,
    messages TEXT NOT NULL, request TEXT, response TEXT, outcome TEXT, final_request TEXT
);
CREATE INDEX IF NOT EXISTS conversations_user ON conversations (user, domain);
"""


class ConversationLog:
    """One row per served completion: the messages, the mediated request and the reply; feedback marks it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as con:
            con.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def record(
        self, conversation_id: str, user: str, domain: str, messages: list[dict], request: str | None, response: str
    ) -> None:
        with self._lock, self._connect() as con:
            con.execute(
                "INSERT INTO conversations (id, user, domain, created, messages, request, response) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, user, domain, time.time(), json.dumps(messages), request, response),
            )

    def feedback(self, conversation_id: str, user: str, success: bool, final_request: str | None) -> bool:
        """Mark a conversation of `user`; False when no such conversation belongs to that user."""
        with self._lock, self._connect() as con:
            cursor = con.execute(
                "UPDATE conversations SET outcome = ?, final_request = ? WHERE id = ? AND user = ?",
                ("success" if success else "failure", final_request, conversation_id, user),
            )
            return cursor.rowcount == 1

    def trajectories(self, user: str, domain: str | None = None) -> list[Trajectory]:
        """Logged conversations with feedback, as trajectories the Refiner pairs (mode "log").

        A failed conversation becomes a failed trajectory; its `final_request` (what finally worked) becomes a
        one-turn successful trajectory of the same id, the pair's D+.
        """
        query = (
            "SELECT id, domain, messages, request, response, outcome, final_request FROM conversations "
            "WHERE user = ? AND outcome IS NOT NULL"
        )
        params: list = [user]
        if domain is not None:
            query += " AND domain = ?"
            params.append(domain)
        with self._lock, self._connect() as con:
            rows = con.execute(query + " ORDER BY created", params).fetchall()
        out = []
        for conversation_id, row_domain, messages, request, response, outcome, final_request in rows:
            turns = _turns(json.loads(messages), request, response)
            out.append(
                Trajectory(
                    task_id=conversation_id,
                    task=row_domain,
                    mode="log",
                    run=0,
                    turns=turns,
                    outcome="solved" if outcome == "success" else "unsolved",
                    score=100.0 if outcome == "success" else 0.0,
                )
            )
            if outcome == "failure" and final_request:
                out.append(
                    Trajectory(
                        task_id=conversation_id,
                        task=row_domain,
                        mode="log",
                        run=1,
                        outcome="solved",
                        score=100.0,
                        turns=[TurnRecord(index=0, user=final_request, score=1.0)],
                    )
                )
        return out


def _turns(messages: list[dict], request: str | None, response: str | None) -> list[TurnRecord]:
    turns: list[TurnRecord] = []
    for message in messages:
        if message["role"] == "user":
            turns.append(TurnRecord(index=len(turns), user=message["content"]))
        elif message["role"] == "assistant" and turns:
            turns[-1].assistant = message["content"]
    if turns:
        turns[-1].assistant = response or ""
        turns[-1].request = request
    return turns
