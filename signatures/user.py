"""The simulated user's signature: reveal at most one new piece of the task per turn."""

from __future__ import annotations

import dspy
import pydantic
from intent_mediator.transcript import Turn


class TaskPiece(pydantic.BaseModel):
    """One piece (shard) of the user's task."""

    shard_id: int
    text: str


class SimulateUserTurn(dspy.Signature):
    """You play a user who wants an assistant to solve a task, and who holds the details of that task as
    numbered pieces. Write the user's next chat message.

    - Reveal at most one unrevealed piece per message; choose the one that follows most naturally from the
      conversation, the most basic first. Reword it in your own style without losing any information.
    - If the assistant asked something that no unrevealed piece answers, reply briefly without revealing any
      piece and without inventing details.
    - Never reveal a piece from the revealed list again, never ask the assistant questions, and never mention
      pieces.
    - Write the way the persona describes."""

    persona: str = dspy.InputField(desc="How this user writes.")
    conversation: list[Turn] = dspy.InputField(desc="The chat so far, oldest first; the last turn is the assistant's.")
    revealed: list[TaskPiece] = dspy.InputField(desc="Pieces of the task the assistant has already been told.")
    unrevealed: list[TaskPiece] = dspy.InputField(desc="Pieces of the task the assistant has not been told yet.")
    shard_id: int = dspy.OutputField(desc="The id of the piece this message reveals, or 0 if it reveals none.")
    message: str = dspy.OutputField(desc="The user's next message.")
