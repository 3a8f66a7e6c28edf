"""Signatures of the system's own judgements: reply classification, answer extraction, summary judging."""

from __future__ import annotations

from typing import Literal

import dspy

ReplyKind = Literal["answer_attempt", "clarification", "refusal", "hedge", "interrogation", "discussion", "missing"]


class ClassifyReply(dspy.Signature):
    """Classify an assistant's reply in a task-solving conversation by what it does:
    answer_attempt: gives a complete solution or final answer;
    clarification: asks one question about the task before answering;
    interrogation: asks several questions at once;
    hedge: gives several alternative answers without committing to one;
    refusal: declines to do the task;
    discussion: talks about the task without a solution or a question;
    missing: empty or unrelated."""

    task: str = dspy.InputField(desc="The kind of task, e.g. math or code.")
    reply: str = dspy.InputField(desc="The assistant's reply.")
    kind: ReplyKind = dspy.OutputField()


class ExtractAnswer(dspy.Signature):
    """Copy the final answer out of an assistant's reply, exactly as written (code, SQL, calls or a number).
    Write NONE when the reply holds no answer."""

    task: str = dspy.InputField(desc="The kind of task, e.g. math or code.")
    reply: str = dspy.InputField(desc="The assistant's reply.")
    answer: str = dspy.OutputField(desc="The answer, verbatim, or NONE.")


class JudgeInsight(dspy.Signature):
    """Decide whether a summary, given as numbered bullets, covers one reference insight.
    full: one bullet states the insight; partial: a bullet states part of it; none: no bullet states it.
    Judge by what the bullets say, not by what they could imply: an insight no bullet states is not covered."""

    insight: str = dspy.InputField()
    bullets: str = dspy.InputField(desc="The summary's bullets, one per line, each after its number and a period.")
    coverage: Literal["full", "partial", "none"] = dspy.OutputField()
    bullet: int = dspy.OutputField(desc="The number of the bullet that covers the insight best; 0 when none does.")
