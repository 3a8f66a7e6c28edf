"""GSM8K math: the number the reply commits to must equal the gold number.

The answer is found as a careful reader finds it (`tasks.extraction`): an explicit final-answer marker first
(`\\boxed{}`, `####`, "the answer is", "Final answer:", a bold value), else the concluding sentence; numbers the
user gave that the reply merely repeats are not answers. Values compare numerically ("$12.50" = 12.5,
"$100.00" = 100, "3/4" = 0.75).
"""

from __future__ import annotations

from intent_mediator.data.records import Instruction
from intent_mediator.tasks.base import Score, Task, TaskConfig, register
from intent_mediator.tasks.extraction import FinalNumber, final_number, numbers_match, parse_number


def gold_number(record: Instruction) -> str:
    return record["answer"].split("####")[-1].strip()


def user_texts(record: Instruction) -> list[str]:
    """What the user says in any mode: the question and every shard."""
    return [record.get("question") or "", *(shard.shard for shard in record.shards)]


def final_answer(response: str, record: Instruction | None = None) -> FinalNumber | None:
    """The number `response` commits to (None for a restatement, a deferral or no number at all)."""
    return final_number(response, user_texts(record) if record is not None else ())


@register
class MathTask(Task):
    name = "math"
    # 2: a bold span ending in a colon is a step heading, not the answer ("**Calculate 15% of $180:**" was read
    # as 15%; found by reading the math test split's conversations, scoring_audit_math_test).
    scoring_revision = 2

    def full_prompt(self, record: Instruction) -> str:
        return record["question"]

    def extract(self, response: str, record: Instruction) -> str | None:
        found = final_answer(response, record)
        return None if found is None else found.text

    def score(self, record: Instruction, answer: str, config: TaskConfig | None = None) -> Score:
        """Score an extracted answer: a parser's number or the judge's verbatim extract, normalised the same way."""
        gold_text = gold_number(record)
        gold = parse_number(gold_text)
        found = final_number(answer)
        if found is None:
            return Score(0.0, f"no number in the answer {answer!r} (gold {gold_text})")
        if gold is not None and numbers_match(found.value, gold, decimals=found.decimals, percent=found.percent):
            return Score(1.0, f"{found.text} matches the gold answer {gold_text}")
        return Score(0.0, f"{found.text} differs from the gold answer {gold_text}")
