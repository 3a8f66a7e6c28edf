"""DSPy metrics: `metric(example, pred, trace=None, pred_name=None, pred_trace=None) -> MetricResult`.

In this project "metric" means one thing: a DSPy metric, the callable every DSPy consumer takes
(`dspy.Evaluate`, `BootstrapFewShot`, `MIPROv2`, `SIMBA`, `GEPA`, the `Refiner`). The benchmark's reliability
statistics (P, A90, U90_10, R) live in `stats.py`.

What each consumer does with the return value, and why `MetricResult` is a `dspy.Prediction` subclass:

- `dspy.Evaluate` sums the scores (`Prediction.__radd__` adds the float score);
- `BootstrapFewShot` keeps a demo when `bool(result)` is true, or `result >= metric_threshold` when one is
  given: a `MetricResult` is truthy only when the answer passed, so a 0.0 never becomes a demo (a plain
  `dspy.Prediction` is always truthy);
- `MIPROv2` bootstraps demos as above and averages scores through `Evaluate`;
- `SIMBA` and `GEPA` read `.score` from a `Prediction`, and GEPA shows `.feedback` to its reflection LM.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import dspy
from intent_mediator.data.records import Instruction, validate_record
from intent_mediator.errors import IntentMediatorError
from intent_mediator.tasks.base import TaskConfig


class MetricError(IntentMediatorError):
    """A user's metric raised; the message names the metric, the exception and the example."""


class MetricResult(dspy.Prediction):
    """A score in [0, 1] with textual feedback; truthy only when the score passes.

    Args:
        score: The score, 0-1.
        feedback: Why: the scorer's reason, phrased for an optimizer's reflection LM.
        passing: The lowest passing score (default 1.0: a correct answer).
    """

    def __init__(self, score: float, feedback: str = "", *, passing: float = 1.0):
        super().__init__(score=float(score), feedback=feedback)
        self._passing = passing

    def __bool__(self) -> bool:
        return float(self.score) >= getattr(self, "_passing", 1.0)


def example_record(example: Any) -> Instruction:
    """The `Instruction` an example carries in its `record` field (an Instruction or its JSON record)."""
    record = example["record"] if isinstance(example, dict) else getattr(example, "record", None)
    if record is None:
        raise KeyError("the example has no 'record' field: build examples with intent_mediator.to_examples(records)")
    return record if isinstance(record, Instruction) else validate_record(record)


def task_metric(
    task: str | None = None, *, config: TaskConfig | None = None, passing: float = 1.0
) -> Callable[..., MetricResult]:
    """The task's own scorer as a DSPy metric.

    The metric extracts the answer from `pred.response` with the task's parser, scores it against
    `example.record`, and explains the result: which test failed and how (code), the wrong value (math), the
    failed check (SQL, calls), or that the reply held no answer. When `pred.request` is present (a
    `MediatedAssistant`'s prediction), the feedback also names the user's turns the request left out, which is
    what a Mediator optimizer can act on.

    Args:
        task: Score every example as this task (default: each example's `record.task`).
        config: Per-run scorer settings (the summary judge's LM, the Spider folder), see `TaskConfig`.
        passing: The lowest score that counts as a pass when DSPy asks for pass/fail.

    Returns:
        `metric(example, pred, trace=None, pred_name=None, pred_trace=None) -> MetricResult`.
    """
    from intent_mediator.tasks import get_task

    def metric(
        example: Any, pred: Any, trace: Any = None, pred_name: str | None = None, pred_trace: Any = None
    ) -> MetricResult:
        record = example_record(example)
        scorer = get_task(task or record.task)
        response = (pred["response"] if isinstance(pred, dict) else getattr(pred, "response", None)) or ""
        request = pred.get("request") if isinstance(pred, dict) else getattr(pred, "request", None)
        missing = _missing_turns(request, record) if request else ""
        answer = scorer.extract(response, record)
        if answer is None:
            feedback = (
                f"The reply holds no {scorer.name} answer (the assistant asked, hedged or discussed instead): "
                "the request it got did not state the whole task as one answerable request."
            )
            return MetricResult(0.0, feedback + missing, passing=passing)
        result = scorer.score(record, answer, config)
        if result.value >= passing:
            return MetricResult(result.value, f"Correct: {result.reason}.", passing=passing)
        reason = _with_case_input(record, result.reason) if scorer.name == "code" else result.reason
        return MetricResult(result.value, f"Wrong {scorer.name} answer: {reason}.{missing}", passing=passing)

    metric.__name__ = f"{task or 'task'}_metric"
    return metric


def _with_case_input(record: Instruction, reason: str) -> str:
    """A failed code test case named by number ("test 2: expected 5, got 4"), with the input it was called with."""
    match = re.match(r"test (\d+):", reason)
    if not match:
        return reason
    from intent_mediator.tasks.code import decode_test_cases

    cases = decode_test_cases(record.get("public_test_cases")) + decode_test_cases(record.get("private_test_cases"))
    cases = [case for case in cases if case.get("testtype", "functional") == "functional"]
    index = int(match.group(1))
    if index >= len(cases):
        return reason
    return f"{reason} (called with {str(cases[index].get('input'))[:200]})"


def _missing_turns(request: str, record: Instruction) -> str:
    from intent_mediator.optimizers.proxy import faithfulness

    missing = [
        shard.shard for shard in record.shards if shard.shard.strip() and faithfulness(request, [shard.shard]) < 1.0
    ]
    if not missing:
        return ""
    quoted = "; ".join(f'"{text[:160]}"' for text in missing[:5])
    return f" The request left out or changed what the user said in: {quoted}."


__all__ = ["MetricError", "MetricResult", "example_record", "task_metric"]
