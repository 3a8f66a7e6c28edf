"""The Refiner's distillation step: contrastive pairs in, a short numbered list of guidelines out."""

from __future__ import annotations

import dspy
import pydantic
from intent_mediator.transcript import Turn


class ContrastivePair(pydantic.BaseModel):
    """A failed multi-turn conversation and the explicit request that solved the same task.

    Args:
        task_id: The task both sides belong to.
        failed_transcript: The multi-turn conversation whose answer was wrong (D-).
        successful_request: A single explicit request the assistant answered correctly (D+).
        mediated_request: What the Mediator wrote for the failed conversation, when it took part.
    """

    task_id: str
    failed_transcript: list[Turn]
    successful_request: str
    mediated_request: str | None = None


class DistillGuidelines(dspy.Signature):
    """A Mediator rewrites multi-turn conversations into one explicit request for an assistant. Each example
    pairs a conversation that went wrong with the explicit request that got the same task solved. Compare them
    and work out how this user expresses intent across turns: which details the failed conversation spread out,
    left implicit, corrected or buried, and what a rewrite must do to recover the explicit request.

    Write general rules for the Mediator, not facts about any single task: each rule names a habit of the user
    and what to do about it. Revise the current rules when they are given: keep those that still help, edit
    those that are vague or wrong, drop those that do not matter, and add what the new examples teach. Keep
    the list short, one line per rule, most important first.
    """

    pairs: list[ContrastivePair] = dspy.InputField(
        desc="Failed conversations with the explicit request that succeeded."
    )
    current_guidelines: list[str] = dspy.InputField(desc="The rules the Mediator follows now; may be empty.")
    max_guidelines: int = dspy.InputField(desc="The largest number of rules to return.")
    guidelines: list[str] = dspy.OutputField(desc="The revised rules, one sentence each, without numbering.")
