"""GSM8K math: the last number in the answer must equal the gold number."""

from __future__ import annotations

import re

from intent_mediator.data.records import Instruction
from intent_mediator.tasks.base import Score, Task, TaskConfig, register

_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?")


def normalize_number(text: str) -> float | None:
    """`"$1,234."` -> 1234.0: commas, dollar signs and a trailing period are dropped."""
    cleaned = text.replace(",", "").replace("$", "").rstrip(".")
    try:
        return float(cleaned)
    except ValueError:
        return None


def last_number(text: str) -> str | None:
    matches = _NUMBER.findall(text)
    return matches[-1] if matches else None


def gold_number(record: Instruction) -> str:
    return record["answer"].split("####")[-1].strip()


@register
class MathTask(Task):
    name = "math"

    def full_prompt(self, record: Instruction) -> str:
        return record["question"]

    def extract(self, response: str, record: Instruction) -> str | None:
        return last_number(response)

    def score(self, record: Instruction, answer: str, config: TaskConfig | None = None) -> Score:
        gold, got = normalize_number(gold_number(record)), normalize_number(last_number(answer) or "")
        if got is None:
            return Score(0.0, f"no number in the answer (gold {gold_number(record)})")
        if gold is not None and abs(got - gold) < 1e-9:
            return Score(1.0, f"{answer} matches the gold answer")
        return Score(0.0, f"{answer} differs from the gold answer {gold_number(record)}")
