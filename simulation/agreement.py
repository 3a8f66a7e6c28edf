"""Check labelled replies (the agreement set, `data.agreement`) against the deterministic judging pipeline.

The pipeline is the one a run uses with `classifier="rules"`: classify the reply, extract the answer with the
task's parser, score it with the task's scorer; a reply that is not an answer attempt scores 0. A reply agrees
with the human when the attempt / not-attempt decision is the same and the score is within the item's
tolerance (exact for binary tasks).

    checks = [check_item(item) for item in load_agreement()]
    agreement_by_family(checks)   # {"math": {"n": 40, "agree": 40, "rate": 1.0, ...}, ...}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import dspy
from intent_mediator.data.agreement import AgreementItem
from intent_mediator.engines.scripted import ScriptedCall, ScriptedEngine
from intent_mediator.signatures.judge import JudgeInsight
from intent_mediator.simulation.judging import classify_by_rules
from intent_mediator.tasks import get_task
from intent_mediator.tasks.base import TaskConfig

EXACT = 1e-9


@dataclass(frozen=True)
class AgreementCheck:
    """What the pipeline made of one item, and whether it agrees with the human label."""

    item: AgreementItem
    kind: str
    answer: str | None
    score: float
    reason: str

    @property
    def same_decision(self) -> bool:
        return (self.kind == "answer_attempt") == self.item.attempt

    @property
    def same_score(self) -> bool:
        return abs(self.score - self.item.score) <= (self.item.tolerance or EXACT)

    @property
    def agrees(self) -> bool:
        return self.same_decision and self.same_score

    @property
    def same_kind(self) -> bool:
        return self.kind == self.item.kind

    def describe(self) -> str:
        """One line for a failing test or the benchmark's list of disagreements."""
        return (
            f"{self.item.id} ({self.item.source}): human {self.item.kind}/{self.item.score:g}, "
            f"pipeline {self.kind}/{self.score:g} answer={self.answer!r} ({self.reason}); why: {self.item.why}"
        )


def human_judge(item: AgreementItem) -> dspy.LM:
    """A scripted summary judge that answers with the item's human verdicts: the covering bullet is the numbered
    line that holds the verdict's `bullet_text`; insights without a verdict are not covered."""
    texts = {insight["insight"]: insight["insight_id"] for insight in item.record.get("insights") or []}
    verdicts = item.judge or {}

    def verdict(call: ScriptedCall) -> dict[str, Any]:
        wanted = verdicts.get(texts.get(call.inputs.get("insight"), ""))
        if not wanted:
            return {"coverage": "none", "bullet": 0}
        numbers = [
            int(line.split(".", 1)[0])
            for line in str(call.inputs.get("bullets", "")).splitlines()
            if wanted["bullet_text"] in line
        ]
        return {"coverage": wanted["coverage"], "bullet": numbers[0] if numbers else 0}

    return ScriptedEngine().on(role="judge", signature=JudgeInsight, reply=verdict).lm("judge")


def check_item(item: AgreementItem, config: TaskConfig | None = None) -> AgreementCheck:
    """Run the rules pipeline on one item.

    Args:
        item: A labelled reply.
        config: The scorers' settings; default: for a summary item with verdicts, its `human_judge`.
    """
    record = item.record
    task = get_task(record.task)
    if config is None and item.judge is not None:
        config = TaskConfig(judge_lm=human_judge(item))
    judged = classify_by_rules(item.reply, task, record)
    if judged.kind != "answer_attempt":
        return AgreementCheck(item, judged.kind, None, 0.0, "not an answer attempt")
    if judged.answer is None:
        return AgreementCheck(item, judged.kind, None, 0.0, "no answer could be extracted")
    scored = task.score(record, judged.answer, config)
    return AgreementCheck(item, judged.kind, judged.answer, scored.value, scored.reason)


def agreement_by_family(checks: Iterable[AgreementCheck]) -> dict[str, dict[str, Any]]:
    """Per family: n, agreeing items, agreement rate, exact-kind matches and the ids that disagree."""
    families: dict[str, dict[str, Any]] = {}
    for check in checks:
        row = families.setdefault(check.item.family, {"n": 0, "agree": 0, "same_kind": 0, "disagreements": []})
        row["n"] += 1
        row["agree"] += check.agrees
        row["same_kind"] += check.same_kind
        if not check.agrees:
            row["disagreements"].append(check.item.id)
    for row in families.values():
        row["rate"] = row["agree"] / row["n"]
    return dict(sorted(families.items()))
