"""Lost-in-Conversation records as `dspy.Example`s, for `dspy.Evaluate`, DSPy's optimizers and the Refiner.

Each example is the sharded conversation as a `MediatedAssistant` receives it: inputs `transcript` (one user
turn per shard, in order) and `context` (the task's system prompt), plus the record itself (`record`, which
`task_metric` scores against and the Refiner simulates, as its JSON record so that optimizers which serialise
examples, such as SIMBA, can show it), `task_id`, `task`, and `answer` where the task has one canonical answer
(math).
"""

from __future__ import annotations

from collections.abc import Iterable

import dspy
from intent_mediator.data.records import Instruction
from intent_mediator.programs.user_simulator import shard_texts
from intent_mediator.tasks import get_task


def to_example(record: Instruction) -> dspy.Example:
    """One record as an example with inputs `transcript` and `context` (see the module docstring)."""
    task = get_task(record.task)
    turns = [{"role": "user", "content": text} for text in shard_texts(record, task.shard_text).values() if text]
    fields = {
        "transcript": turns,
        "context": task.system_prompt(record),
        "record": record.to_record(),
        "task_id": record.task_id,
        "task": record.task,
    }
    if record.task == "math":
        from intent_mediator.tasks.math import gold_number

        fields["answer"] = gold_number(record)
    return dspy.Example(**fields).with_inputs("transcript", "context")


def to_examples(records: Iterable[Instruction]) -> list[dspy.Example]:
    """`to_example` for every record, in order."""
    return [to_example(record) for record in records]


__all__ = ["to_example", "to_examples"]
