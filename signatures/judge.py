"""Signatures of the system's own judgements: reply classification, answer extraction, summary judging.

The classifier and extractor run at temperature 0 (`simulation.judging` pins it per call)."""

from __future__ import annotations

from typing import Literal

import dspy

ReplyKind = Literal["answer_attempt", "clarification", "refusal", "hedge", "interrogation", "discussion", "missing"]


class ClassifyReply(dspy.Signature):
    """You review the latest reply of an assistant in a conversation where a user states a task bit by bit.
    Decide what the reply does, reading all of it (not only how it ends):
    answer_attempt: commits to a complete, final answer to the task as it stands, one the user could take and
    stop the conversation with; a courtesy after it ("Want me to explain the steps?") does not change that. A
    template, a sketch, a partial result, a plan, a hypothetical or a restatement of what the user said is not
    an attempt, and neither is a reply that merely mentions numbers or code;
    clarification: short, and its point is one specific question to the user about the task;
    interrogation: asks the user several questions;
    discussion: talks about the task (restates, plans, explains, says what it still needs) without a final
    answer, a single specific question or a refusal;
    hedge: offers several candidate answers under different assumptions or cases without committing to one;
    refusal: declines the task, openly or implicitly, without asking the user anything;
    missing: empty or blank."""

    task: str = dspy.InputField(desc="The kind of task, e.g. math or code.")
    specification: str = dspy.InputField(
        desc="The complete task the user is working towards: its intent and every detail, including details the "
        "user may not have said yet."
    )
    answer_description: str = dspy.InputField(desc="What a final answer looks like for this task.")
    reply: str = dspy.InputField(desc="The assistant's reply to classify.")
    kind: ReplyKind = dspy.OutputField()


class ExtractAnswer(dspy.Signature):
    """Copy the final answer out of an assistant's reply exactly as written: keep every character, including
    typos and mistakes, and leave out surrounding prose and code fences. Copy a short answer whole. For a long
    answer (several lines of code or SQL) you may write its first line, then [...], then its last line, each
    copied exactly, so that the span can be found in the reply. Write NONE when the reply commits to no answer."""

    answer_description: str = dspy.InputField(desc="What a final answer looks like for this task.")
    reply: str = dspy.InputField(desc="The assistant's reply.")
    answer: str = dspy.OutputField(desc="The answer verbatim, or 'first line [...] last line', or NONE.")


# What a final answer is, per task: shown to the LLM classifier and extractor.
ANSWER_DESCRIPTIONS = {
    "math": "One number (possibly negative, a decimal, a fraction or a percentage), stated as the result.",
    "code": "A complete Python function definition (def ...) that returns a value and solves the whole problem; "
    "an explanation in words, pseudo-code or a partial skeleton is not an answer.",
    "database": "One complete SQL query that can be run as is; SQL fragments or templated examples with "
    "placeholders are not an answer. Only the query itself, nothing before or after it.",
    "actions": "One or more function calls written as Python calls, e.g. [func(arg=value), other(x=1)].",
    "data2text": "One sentence describing the highlighted part of the table.",
    "summary": "A complete summary, possibly several bullet points, with its citations.",
    "translation": "A complete English translation of the German text.",
}


class JudgeInsight(dspy.Signature):
    """Decide whether a summary, given as numbered bullets, covers one reference insight.
    full: one bullet states the insight; partial: a bullet states part of it; none: no bullet states it.
    Judge by what the bullets say, not by what they could imply: an insight no bullet states is not covered."""

    insight: str = dspy.InputField()
    bullets: str = dspy.InputField(desc="The summary's bullets, one per line, each after its number and a period.")
    coverage: Literal["full", "partial", "none"] = dspy.OutputField()
    bullet: int = dspy.OutputField(desc="The number of the bullet that covers the insight best; 0 when none does.")
