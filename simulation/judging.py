"""Classify each assistant reply and pull out its answer: deterministic rules by default, an LLM judge on request.

Only answer attempts are extracted and scored, as in the benchmark. The rules read the whole reply: a refusal,
a hedge between candidate answers, questions about the task (closing offers such as "Would you like me to
explain?" do not count), and whether the task's parser finds an answer the reply commits to. As in the
benchmark, data2text, summary and translation replies are always answer attempts (their assistants are told to
answer every turn) unless empty or a refusal.

`classifier="llm"` asks the judge role, showing it the task's full specification (every shard) and what an
answer looks like for the task. `llm_extraction=True` lets the judge copy the answer verbatim out of the reply
for the tasks the benchmark extracts that way (math, database); the copy must occur in the reply, and is then
normalised and scored by the task exactly like a parser's answer. Both judge calls run at temperature 0.

    judge = ReplyJudge(classifier="llm", lm=judge_lm, llm_extraction=True)
    judge(reply, get_task("math"), record)          # Judgement(kind="answer_attempt", answer="$34")
    LLMExtractor(judge_lm)(reply, get_task("math")) # the verbatim answer, or None
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import dspy
from intent_mediator.data.records import Instruction
from intent_mediator.lm import lm_scope
from intent_mediator.signatures.judge import ANSWER_DESCRIPTIONS, ClassifyReply, ExtractAnswer
from intent_mediator.tasks.base import Task
from intent_mediator.tasks.extraction import defers, hedges, marked_numbers, task_questions

logger = logging.getLogger(__name__)

JUDGE_CONFIG = {"temperature": 0.0}
# Tasks whose answers the benchmark extracts with an LLM ("gen" for math, "prefix_suffix" for database); code
# uses its own parser and the other tasks score the whole reply.
LLM_EXTRACTED_TASKS = ("math", "database")

_REFUSAL = re.compile(
    r"\bas an ai\b|\bI(?:'m| am) (?:sorry,? but I )?(?:unable|not able|not allowed|not permitted) to\b|"
    r"\bI (?:won't|will not|refuse to)\b|"
    r"\bI (?:can(?:no|')t|cannot|can not|must decline to|do not|don't) "
    r"(?:help|assist|provide|do|complete|answer|solve|comply|fulfil|fulfill|support|write|give|offer)\b|"
    r"\bI must decline\b|\bnot something I can (?:help|assist) with\b",
    re.I,
)
_CONDITION = re.compile(r"\b(?:until|unless|without|once|before|yet|more (?:information|details))\b", re.I)


@dataclass(frozen=True)
class Judgement:
    """What a reply does (`kind`) and, for an answer attempt, the answer to score (None when none was found)."""

    kind: str
    answer: str | None


def refuses(text: str) -> bool:
    """An explicit or implicit refusal, not a conditional "I can't compute it until you tell me X"."""
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
        if _REFUSAL.search(sentence) and not _CONDITION.search(sentence):
            return True
    return False


def commits(text: str, task: Task, answer: str | None) -> bool:
    """The reply commits to its answer: a parsed program/query/call, or for math an explicitly marked number."""
    if answer is None:
        return False
    return task.name != "math" or bool(marked_numbers(text))


def classify_by_rules(reply: str, task: Task, record: Instruction) -> Judgement:
    """Classify a reply deterministically and extract its answer with the task's parser."""
    text = reply.strip()
    if not text:
        return Judgement("missing", None)
    answer = task.extract(text, record)
    committed = commits(text, task, answer)
    if refuses(text) and not committed:
        return Judgement("refusal", None)
    if not task.binary:
        if answer is None and text.rstrip("`* \n").endswith("?"):
            return Judgement("clarification", None)  # the task's parser found only questions: nothing to score
        return Judgement("answer_attempt", answer)
    if hedges(text):
        return Judgement("hedge", None)
    questions = task_questions(text)
    if questions and not committed:
        return Judgement("clarification" if len(questions) == 1 else "interrogation", None)
    if answer is not None and (committed or not defers(text)):
        return Judgement("answer_attempt", answer)
    return Judgement("discussion", None)


def specification(record: Instruction) -> str:
    """The task as the LLM classifier sees it: the intent (first shard) and every further detail."""
    first, *rest = record.shards
    lines = [f"Intent: {first.shard}", "Details:"] + [f"- {shard.shard}" for shard in rest if shard.shard.strip()]
    return "\n".join(lines)


def answer_description(task: Task) -> str:
    return getattr(task, "answer_description", None) or ANSWER_DESCRIPTIONS.get(task.name, "The final answer.")


class LLMClassifier:
    """Classifies a reply with the judge LM (temperature 0), showing it the task's full specification.

    Args:
        lm: The judge LM (None: the LM configured in dspy.settings).
    """

    def __init__(self, lm: dspy.LM | None = None):
        self.lm = lm
        self.predict = dspy.Predict(ClassifyReply)

    def __call__(self, reply: str, task: Task, record: Instruction) -> str:
        if not reply.strip():
            return "missing"
        with lm_scope(self.lm):
            return self.predict(
                task=task.name,
                specification=specification(record),
                answer_description=answer_description(task),
                reply=reply,
                config=dict(JUDGE_CONFIG),
            ).kind


class LLMExtractor:
    """Copies the answer out of a reply verbatim with the judge LM (temperature 0).

    The copy is accepted only when it occurs in the reply (a long answer may come back as "first line [...] last
    line", resolved to that span of the reply); the task then normalises and scores it like a parser's answer.

    Args:
        lm: The judge LM (None: the LM configured in dspy.settings).
    """

    def __init__(self, lm: dspy.LM | None = None):
        self.lm = lm
        self.predict = dspy.Predict(ExtractAnswer)

    def __call__(self, reply: str, task: Task) -> str | None:
        """The verbatim answer in `reply`, or None when the judge finds none or returns text not in the reply."""
        with lm_scope(self.lm):
            raw = self.predict(answer_description=answer_description(task), reply=reply, config=dict(JUDGE_CONFIG))
        return locate_verbatim((raw.answer or "").strip(), reply)


def locate_verbatim(extracted: str, reply: str) -> str | None:
    """`extracted` as it occurs in `reply`; "start [...] end" becomes the span from start to the last end."""
    extracted = extracted.strip().strip("`").strip()
    if not extracted or extracted.upper() == "NONE":
        return None
    if extracted.count("[...]") == 1:
        prefix, suffix = (part.strip() for part in extracted.split("[...]"))
        start = reply.find(prefix) if prefix else -1
        end = reply.rfind(suffix) if suffix else -1
        if start < 0 or end < start:
            return None
        return reply[start : end + len(suffix)]
    if extracted in reply:
        return extracted
    logger.info("the judge's extract is not verbatim in the reply; ignored: %r", extracted[:200])
    return None


class ReplyJudge:
    """Classifies replies and extracts answers for one conversation.

    Args:
        classifier: "rules" (deterministic) or "llm" (the judge role's LM, shown the full specification).
        lm: The judge role's LM, used by the LLM classifier and the LLM extractor.
        llm_extraction: For math and database (as in the benchmark), the judge copies the answer out of each
            attempt verbatim; when it finds none in the reply, the task's parser's answer is kept.
    """

    def __init__(self, classifier: str = "rules", lm: dspy.LM | None = None, llm_extraction: bool = False):
        if classifier not in ("rules", "llm"):
            raise ValueError(f"classifier must be 'rules' or 'llm', got {classifier!r}")
        self.classifier = classifier
        self.lm = lm
        self.llm_extraction = llm_extraction
        self.classify = LLMClassifier(lm)
        self.extract = LLMExtractor(lm)

    def __call__(self, reply: str, task: Task, record: Instruction) -> Judgement:
        if self.classifier == "rules":
            judged = classify_by_rules(reply, task, record)
        elif not task.binary and reply.strip() and not refuses(reply):
            judged = Judgement("answer_attempt", task.extract(reply.strip(), record))  # as with the rules
        else:
            kind = self.classify(reply, task, record)
            judged = Judgement(kind, task.extract(reply.strip(), record) if kind == "answer_attempt" else None)
        if judged.kind == "answer_attempt" and self.llm_extraction and task.name in LLM_EXTRACTED_TASKS:
            extracted = self.extract(reply, task)
            if extracted is not None:
                judged = Judgement("answer_attempt", extracted)
        return judged
