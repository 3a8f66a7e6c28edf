"""The conversation types every other module speaks: `Turn` and transcripts (lists of turns)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import pydantic
from intent_mediator.errors import TranscriptError

Role = Literal["user", "assistant"]
TURN_ROLES: tuple[str, ...] = ("user", "assistant")  # who speaks in a transcript (LM roles: lm.ROLES)
# How much of a transcript the Mediator reads per call: all of it, or its previous request and what came after.
MEDIATOR_HISTORIES: tuple[str, ...] = ("full", "incremental")


class Turn(pydantic.BaseModel):
    """One message of a conversation.

    Args:
        role: Who spoke: "user" or "assistant". System prompts are task context, not turns.
        content: What was said, verbatim.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str

    @classmethod
    def user(cls, content: str) -> Turn:
        return cls(role="user", content=content)

    @classmethod
    def assistant(cls, content: str) -> Turn:
        return cls(role="assistant", content=content)


def to_turn(item: Turn | dict[str, Any], index: int = 0) -> Turn:
    """Convert a `Turn` or an OpenAI-style `{"role", "content"}` dict into a `Turn`.

    Raises:
        TranscriptError: naming the turn's position and the field that is wrong.
    """
    if isinstance(item, Turn):
        return item
    if not isinstance(item, dict):
        raise TranscriptError(
            f"turn {index}: expected a Turn or a dict with 'role' and 'content', got {type(item).__name__}"
        )
    role = item.get("role")
    if role not in TURN_ROLES:
        raise TranscriptError(
            f"turn {index}: unknown role {role!r}; a transcript holds only {' and '.join(TURN_ROLES)} turns"
        )
    content = item.get("content")
    if not isinstance(content, str):
        raise TranscriptError(f"turn {index}: field 'content' must be a string, got {type(content).__name__}")
    return Turn(role=role, content=content)


def normalize_transcript(items: Iterable[Turn | dict[str, Any]] | None) -> list[Turn]:
    """Validate a transcript that a model is asked to answer.

    A transcript must hold at least one turn and end with a user turn: there is nothing to answer after an
    assistant turn.

    Raises:
        TranscriptError: for an empty transcript, an unknown role, a non-string content, or a transcript that
            ends with an assistant turn.
    """
    if items is None or isinstance(items, (str, bytes)):
        raise TranscriptError("transcript must be a list of turns, e.g. [Turn.user('...')]")
    turns = [to_turn(item, index) for index, item in enumerate(items)]
    if not turns:
        raise TranscriptError("transcript is empty: give at least one user turn")
    if turns[-1].role != "user":
        raise TranscriptError(
            f"transcript ends with an assistant turn (turn {len(turns) - 1}); the last turn must be the user's"
        )
    return turns


def user_turns(turns: Iterable[Turn]) -> list[str]:
    """The contents of the user's turns, in order."""
    return [turn.content for turn in turns if turn.role == "user"]


def as_dicts(turns: Iterable[Turn]) -> list[dict[str, str]]:
    """Plain `{"role", "content"}` dicts, for optimizers and JSON logs that cannot hold pydantic objects."""
    return [turn.model_dump() for turn in turns]


def last_reply_index(roles: Iterable[str]) -> int | None:
    """Position of the last assistant turn among the turns' `roles`; None when the assistant never replied."""
    return max((i for i, role in enumerate(roles) if role == "assistant"), default=None)


def compact_transcript(turns: list[Turn], previous_request: str) -> list[Turn]:
    """The transcript with everything before the assistant's last reply replaced by the request written for it.

    `previous_request` must be the Mediator's rewrite of `turns` up to (not including) the last assistant turn.
    It already holds what the user meant so far, and in mediated use it is the message that reply answered,
    so the compacted transcript is the conversation the assistant actually had, plus what the user said since.

    Returns:
        `[user: previous_request, assistant: last reply, user: ...]`; `turns` unchanged when they hold no
        assistant turn.
    """
    last_reply = last_reply_index(turn.role for turn in turns)
    if last_reply is None:
        return list(turns)
    return [Turn.user(previous_request), *turns[last_reply:]]
