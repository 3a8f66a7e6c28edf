"""The two store interfaces, and the parts every backend shares (row -> trajectory, key hashing)."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from intent_mediator.errors import IntentMediatorError
from intent_mediator.simulation.trajectory import Trajectory, TurnRecord
from intent_mediator.transcript import last_reply_index


class StoreError(IntentMediatorError):
    """A store cannot be opened, migrated or reached; the message names the store (never its password)."""


@dataclass(frozen=True)
class LoggedConversation:
    """One served completion with its feedback, as every backend returns it."""

    id: str
    user: str
    domain: str
    created: float
    messages: list[dict]
    request: str | None
    response: str | None
    outcome: str | None = None  # "success" | "failure" | None (no feedback yet)
    final_request: str | None = None
    feedback_at: float | None = None


class LogStore(ABC):
    """Conversation logs and feedback, per user. Implementations are safe to share between threads."""

    url: str

    @abstractmethod
    def record(
        self, conversation_id: str, user: str, domain: str, messages: list[dict], request: str | None, response: str
    ) -> None:
        """Store one served completion (a new id; an existing id is an error of the caller)."""

    @abstractmethod
    def feedback(self, conversation_id: str, user: str, success: bool, final_request: str | None) -> bool:
        """Mark a conversation of `user`; False when no such conversation belongs to that user."""

    @abstractmethod
    def conversations(
        self, user: str, domain: str | None = None, *, with_feedback: bool = True
    ) -> list[LoggedConversation]:
        """The user's logged conversations (only those with feedback by default), oldest first."""

    @abstractmethod
    def feedback_counts(self, since: float | None = None) -> dict[tuple[str, str], int]:
        """Feedback given after `since` (epoch seconds), counted per (user, domain)."""

    @abstractmethod
    def ping(self) -> None:
        """Raise `StoreError` when the store cannot answer (used by /healthz)."""

    def close(self) -> None:  # noqa: B027  (optional for backends without connections)
        """Release connections."""

    def trajectories(self, user: str, domain: str | None = None) -> list[Trajectory]:
        """Logged conversations with feedback as trajectories the Refiner pairs (mode "log").

        A failed conversation becomes a failed trajectory; its `final_request` (what finally worked) becomes a
        one-turn successful trajectory of the same id, the pair's D+.
        """
        out = []
        for row in self.conversations(user, domain):
            out.append(
                Trajectory(
                    task_id=row.id,
                    task=row.domain,
                    mode="log",
                    run=0,
                    turns=logged_turns(row.messages, row.request, row.response),
                    outcome="solved" if row.outcome == "success" else "unsolved",
                    score=100.0 if row.outcome == "success" else 0.0,
                )
            )
            if row.outcome == "failure" and row.final_request:
                out.append(
                    Trajectory(
                        task_id=row.id,
                        task=row.domain,
                        mode="log",
                        run=1,
                        outcome="solved",
                        score=100.0,
                        turns=[TurnRecord(index=0, user=row.final_request, score=1.0)],
                    )
                )
        return out


def logged_turns(messages: list[dict], request: str | None, response: str | None) -> list[TurnRecord]:
    """A served conversation's user/assistant messages as turns; the last turn carries the request and reply."""
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


def conversation_key(user: str | None, artifact: str | None, turns: Iterable[dict]) -> str:
    """SHA-256 of the user, the artifact and the turns: where a conversation prefix's request is remembered."""
    payload = json.dumps([user, artifact, [[t["role"], t["content"]] for t in turns]], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class RequestMemory(ABC):
    """The requests written for recent conversations, for incremental mediation across stateless API calls.

    Chat clients resend the whole history each turn. The request written for one call is stored under that
    call's turns; the next call of the same conversation finds it under its turns before the assistant's last
    reply. Keys include the user and the artifact: a conversation served by another domain's program never
    continues from a request this one did not write, and one user can neither continue another's conversation
    nor learn whether a given conversation was sent by anyone else (a hit would tell), even when both are served
    by the same shared or uncompiled program.
    """

    url: str

    @abstractmethod
    def get(self, key: str) -> str | None:
        """The request stored under `key`, or None."""

    @abstractmethod
    def put(self, key: str, request: str) -> None:
        """Store `request` under `key` (may evict older entries)."""

    def ping(self) -> None:  # noqa: B027  (in-process memory is always there)
        """Raise `StoreError` when the memory cannot answer."""

    def close(self) -> None:  # noqa: B027
        """Release connections."""

    def previous(self, user: str | None, artifact: str | None, turns: list[dict]) -> str | None:
        """The request written for `user`'s `turns` up to the assistant's last reply, if one was remembered."""
        last_reply = last_reply_index(t["role"] for t in turns)
        if last_reply is None:
            return None
        return self.get(conversation_key(user, artifact, turns[:last_reply]))

    def remember(self, user: str | None, artifact: str | None, turns: list[dict], request: str) -> None:
        """Store the request written for `user`'s `turns`."""
        self.put(conversation_key(user, artifact, turns), request)


def redacted_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
