"""Classify each assistant reply and pull out its answer: deterministic rules first, an LLM where asked.

Only answer attempts are extracted and scored, as in the benchmark. The rules look at what the task's own
parser finds (code, SQL, calls, a number) and at how the reply ends; `classifier="llm"` asks the judge role
instead, and the LLM extractor runs only when the task's parser finds nothing in a reply judged an attempt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dspy
from intent_mediator.data.records import Instruction
from intent_mediator.lm import lm_scope
from intent_mediator.signatures.judge import ClassifyReply, ExtractAnswer
from intent_mediator.tasks.base import Task

_REFUSAL = re.compile(r"\b(I can(?:no|')t help|I(?:'m| am) (?:unable|not able) to|I won't)\b", re.I)


@dataclass(frozen=True)
class Judgement:
    kind: str
    answer: str | None


def classify_by_rules(reply: str, task: Task, record: Instruction) -> Judgement:
    text = reply.strip()
    if not text:
        return Judgement("missing", None)
    answer = task.extract(text, record)
    questions = text.count("?")
    closing = text.rstrip("`* \n").endswith("?")
    fenced = "```" in text
    if _REFUSAL.search(text) and answer is None:
        return Judgement("refusal", None)
    if closing and not fenced and (task.binary or answer is None):
        # A reply that ends by asking something is waiting for the user, even when it quotes a number.
        return Judgement("interrogation" if questions > 1 else "clarification", None)
    if answer is not None:
        return Judgement("answer_attempt", answer)
    return Judgement("discussion", None)


class ReplyJudge:
    """Classifies replies and extracts answers for one conversation.

    Args:
        classifier: "rules" (deterministic) or "llm" (the judge role's LM).
        lm: The judge role's LM, used by the LLM classifier and the LLM extractor.
        llm_extraction: Ask the judge to extract an answer the task's parser could not find.
    """

    def __init__(self, classifier: str = "rules", lm: dspy.LM | None = None, llm_extraction: bool = False):
        if classifier not in ("rules", "llm"):
            raise ValueError(f"classifier must be 'rules' or 'llm', got {classifier!r}")
        self.classifier = classifier
        self.lm = lm
        self.llm_extraction = llm_extraction
        self._classify = dspy.Predict(ClassifyReply)
        self._extract = dspy.Predict(ExtractAnswer)

    def __call__(self, reply: str, task: Task, record: Instruction) -> Judgement:
        if self.classifier == "rules":
            judged = classify_by_rules(reply, task, record)
        else:
            with lm_scope(self.lm):
                kind = self._classify(task=task.name, reply=reply).kind
            answer = task.extract(reply, record) if kind == "answer_attempt" else None
            judged = Judgement(kind, answer)
        if judged.kind == "answer_attempt" and judged.answer is None and self.llm_extraction:
            with lm_scope(self.lm):
                extracted = (self._extract(task=task.name, reply=reply).answer or "").strip()
            judged = Judgement("answer_attempt", None if extracted.upper() == "NONE" or not extracted else extracted)
        return judged
