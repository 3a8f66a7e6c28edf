"""Multi-document summarisation (Summary of a Haystack): an LLM judge scores each reference insight.

As in the reference (`eval_summhay.py`): the summary is cut to 300 words (each line shortened in proportion,
never below one word); its lines are numbered bullets; per insight of the record, the judge says whether a
bullet covers it (full 1, partial 0.5, none 0) and which; the score of the insight is that coverage times the
F1 between the documents that bullet cites ([3], [3][7] or [3, 7]) and the insight's reference citations, all
of them (`insightid2ref_citations`, which also lists documents the record does not show, so a perfect summary
can score below 1); the record's score is the mean over its insights. Judged at temperature 0 (the reference
samples the judge at 1.0), once per (judge, record, answer): the same answer always gets the same score.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence

import dspy
from intent_mediator.data.records import Instruction, Shard
from intent_mediator.errors import ModelConfigError
from intent_mediator.lm import lm_scope
from intent_mediator.signatures.judge import JudgeInsight
from intent_mediator.tasks.base import Score, Task, TaskConfig, register
from intent_mediator.tasks.bleu import only_questions

WORD_LIMIT = 300
PARTIAL = 0.5
_COVERAGE = {"full": 1.0, "partial": PARTIAL, "none": 0.0}
_CITATION = re.compile(r"\[([\d,\s]+)\]")


def trim_to_words(summary: str, limit: int = WORD_LIMIT) -> tuple[list[str], float]:
    """The summary's lines cut to `limit` words in all, each line in proportion; and the share of words cut."""
    lines = summary.split("\n")
    counts = [len(line.split()) for line in lines]
    total = sum(counts)
    if total <= limit:
        return lines, 0.0
    excess = (total - limit) / total
    kept = [
        " ".join(line.split()[: max(1, int(n * (1 - excess)))]) if n else line
        for line, n in zip(lines, counts, strict=True)
    ]
    return kept, excess


def citations(text: str) -> set[int]:
    """Document numbers cited in square brackets: [3], [3][7], [3, 7]."""
    return {int(n) for group in _CITATION.findall(text) for n in re.split(r"[,\s]+", group) if n}


def citation_f1(cited: set[int], reference: set[int]) -> float:
    hits = len(cited & reference)
    if not hits:
        return 0.0
    precision, recall = hits / len(cited), hits / len(reference)
    return 2 * precision * recall / (precision + recall)


def _documents(record: Instruction, indices: Sequence[int]) -> str:
    by_index = {doc["document_index"]: doc for doc in record["documents"]}
    return "\n\n".join(f"Document {i}:\n{by_index[i]['document_text'].strip()}" for i in indices if i in by_index)


@register
class SummaryTask(Task):
    name = "summary"
    binary = False
    reveal_verbatim = True

    def __init__(self) -> None:
        self._cache: dict[str, Score] = {}
        self._lock = threading.Lock()

    # ---- prompts --------------------------------------------------------------------------------------------
    def system_prompt(self, record: Instruction) -> str:
        return "You analyse documents for a living and write precise, well-sourced summaries of what they say."

    def _kind(self, record: Instruction) -> str:
        return "conversation" if record.get("domain") == "conv" else "article"

    def _opening(self, record: Instruction) -> str:
        n, topic = len(record["documents"]), record["topic"]
        if self._kind(record) == "conversation":
            return (
                f'You are receiving {n} conversations, all set in the same scenario: "{topic}". The people taking '
                "part differ from one conversation to the next; the scenario does not."
            )
        return f'You are receiving {n} news articles on the subject "{topic}".'

    def _request(self, record: Instruction) -> str:
        kind, k = self._kind(record), len(record["insights"])
        single = " Each bullet is a single sentence." if kind == "article" else ""
        return (
            f"Summarize, in {k} bullet points, the {k} main insights the {kind}s give on this question: "
            f"{record['query']}\n"
            f"- Format: a bullet-point list, one insight per bullet.{single}\n"
            f"- Sources: after each insight, cite the {kind}s that support it by their document numbers in square "
            'brackets, e.g. "several staff members want clearer priorities [2][9]" for Documents 2 and 9 '
            f'(write "[9]", not "{kind.capitalize()} 9").\n'
            f"- Length: {WORD_LIMIT} words at most for the whole summary."
        )

    def _prompt(self, record: Instruction, documents: str) -> str:
        return f"{self._opening(record)}\n\n```\n{documents}\n```\n\n{self._request(record)}"

    def full_prompt(self, record: Instruction) -> str:
        return self._prompt(record, _documents(record, sorted(d["document_index"] for d in record["documents"])))

    def shard_text(self, record: Instruction, shard: Shard) -> str:
        documents = _documents(record, shard.doc_idxs or [])
        if shard.shard_id == record.shards[0].shard_id:
            return self._prompt(record, documents)
        return (
            "I found more documents. Rewrite the summary so that it covers every document so far, the earlier "
            f"ones and these.\n\n{documents}"
        )

    def concat_prompt(self, record: Instruction, shards: Sequence[Shard] | None = None) -> str:
        shards = record.shards if shards is None else shards
        batches = "\n\n".join(
            f"Batch {i}:\n\n{_documents(record, shard.doc_idxs or [])}" for i, shard in enumerate(shards, 1)
        )
        note = "The documents reached me in batches; the batches do not matter, treat every document alike.\n\n"
        return self._prompt(record, note + batches)

    # ---- scoring --------------------------------------------------------------------------------------------
    def extract(self, response: str, record: Instruction) -> str | None:
        """The whole reply, as the reference scores it (the trim and the judge see every line); None when the
        reply only asks questions."""
        text = response.strip()
        return None if not text or only_questions(text) else text

    def score(self, record: Instruction, answer: str, config: TaskConfig | None = None) -> Score:
        lm = (config.judge_lm if config else None) or dspy.settings.lm
        if lm is None:
            raise ModelConfigError(
                f"summary record {record.task_id}: scoring needs a judge LM: pass TaskConfig(judge_lm=...) "
                "(a conversation uses its judge role; the CLI's --judge MODEL)"
            )
        key = hashlib.sha256(f"{lm.model}\0{record.task_id}\0{answer}".encode()).hexdigest()
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        score = self._judge(record, answer, lm)
        with self._lock:
            return self._cache.setdefault(key, score)

    def _judge(self, record: Instruction, answer: str, lm: dspy.LM) -> Score:
        lines, trimmed = trim_to_words(answer)
        bullets = [line for line in lines if line.strip()]
        numbered = "\n".join(f"{i}. {line.strip()}" for i, line in enumerate(bullets, 1))
        reference = record["insightid2ref_citations"]
        judge = dspy.Predict(JudgeInsight)
        joint, coverage, cited_f1, notes = [], [], [], []
        for insight in record["insights"]:
            with lm_scope(lm):
                verdict = judge(insight=insight["insight"], bullets=numbered, config={"temperature": 0.0})
            covered = _COVERAGE.get(str(verdict.coverage).lower(), 0.0)
            f1 = 0.0
            if covered:
                number = verdict.bullet if isinstance(verdict.bullet, int) else 0
                bullet = bullets[number - 1] if 1 <= number <= len(bullets) else ""
                f1 = citation_f1(citations(bullet), set(reference.get(insight["insight_id"], [])))
                cited_f1.append(f1)
            coverage.append(covered)
            joint.append(covered * f1)
            notes.append(
                f"{insight.get('insight_name', insight['insight_id'])}: {verdict.coverage}, citation F1 {f1:.2f}"
            )
        if not joint:
            return Score(0.0, "the record has no insights to judge")
        metadata = {
            "coverage": sum(coverage) / len(coverage),
            "citation_f1": sum(cited_f1) / len(cited_f1) if cited_f1 else 0.0,
            "trimmed": round(trimmed, 4),
        }
        prefix = f"trimmed {trimmed:.0%} to {WORD_LIMIT} words; " if trimmed else ""
        return Score(sum(joint) / len(joint), prefix + "; ".join(notes), metadata)
