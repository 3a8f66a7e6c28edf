"""Multi-document summarisation (Summary of a Haystack): an LLM judge scores each reference insight.

Per insight: coverage (full 1, partial 0.5, none 0) times the F1 between the documents the covering bullet cites
and the insight's reference citations (restricted to documents the record shows). Judged at temperature 0,
once per (record, answer): the same answer always gets the same score and feedback.
"""

from __future__ import annotations

import hashlib
import re
import threading

import dspy
from intent_mediator.data.records import Instruction, Shard
from intent_mediator.errors import ModelConfigError
from intent_mediator.lm import lm_scope
from intent_mediator.signatures.judge import JudgeInsight
from intent_mediator.tasks.base import Score, Task, register

_COVERAGE = {"full": 1.0, "partial": 0.5, "none": 0.0}


def _documents(record: Instruction, indices: list[int]) -> str:
    by_index = {doc["document_index"]: doc for doc in record["documents"]}
    return "\n\n".join(f"Document [{i}]:\n{by_index[i]['document_text']}" for i in indices if i in by_index)


def citation_f1(cited: set[int], reference: set[int]) -> float:
    if not cited or not reference:
        return 0.0
    hits = len(cited & reference)
    if not hits:
        return 0.0
    precision, recall = hits / len(cited), hits / len(reference)
    return 2 * precision * recall / (precision + recall)


@register
class SummaryTask(Task):
    name = "summary"
    binary = False
    reveal_verbatim = True
    judge_lm: dspy.LM | None = None

    def __init__(self) -> None:
        self._cache: dict[str, Score] = {}
        self._lock = threading.Lock()

    def _instruction(self, record: Instruction) -> str:
        return (
            f"Write a bullet-point summary answering: {record['query']}\nEach bullet states one insight and cites "
            "the documents it comes from by their numbers, like [3] or [3, 7]."
        )

    def full_prompt(self, record: Instruction) -> str:
        indices = [i for shard in record.shards for i in shard.doc_idxs or []]
        return f"{self._instruction(record)}\n\n{_documents(record, indices)}"

    def shard_text(self, record: Instruction, shard: Shard) -> str:
        documents = _documents(record, shard.doc_idxs or [])
        if shard.shard_id == record.shards[0].shard_id:
            return f"{self._instruction(record)}\n\n{documents}"
        return f"Here are more documents; update the summary to cover them too.\n\n{documents}"

    def score(self, record: Instruction, answer: str) -> Score:
        key = hashlib.sha256(f"{record.task_id}\0{answer}".encode()).hexdigest()
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        score = self._judge(record, answer)
        with self._lock:
            return self._cache.setdefault(key, score)

    def _judge(self, record: Instruction, answer: str) -> Score:
        lm = self.judge_lm or dspy.settings.lm
        if lm is None:
            raise ModelConfigError("summary scoring needs a judge model: set the judge role (--judge MODEL)")
        shown = {i for shard in record.shards for i in shard.doc_idxs or []}
        wanted = record["insightid2ref_citations"]
        insights = [insight for insight in record["insights"] if insight["insight_id"] in wanted]
        judge = dspy.Predict(JudgeInsight)
        values, notes = [], []
        for insight in insights:
            with lm_scope(lm):
                verdict = judge(insight=insight["insight"], summary=answer, config={"temperature": 0.0})
            cited = {int(n) for n in re.findall(r"\d+", " ".join(re.findall(r"\[([\d,\s]+)\]", verdict.covering_text)))}
            f1 = citation_f1(cited, set(wanted[insight["insight_id"]]) & shown)
            values.append(_COVERAGE.get(verdict.coverage, 0.0) * f1)
            notes.append(
                f"{insight.get('insight_name', insight['insight_id'])}: {verdict.coverage}, citation F1 {f1:.2f}"
            )
        if not values:
            return Score(0.0, "the record has no insights to judge")
        return Score(sum(values) / len(values), "; ".join(notes))
