"""What every Lost-in-Conversation task provides, and the string registry of tasks.

A task knows its system prompt (identical in every conversation mode), the fully specified prompt (FULL mode),
how to turn a shard into a user message, how to pull an answer out of a reply with deterministic parsers, and
how to score that answer. Scores are 0-1 here; reports show 0-100.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from intent_mediator.data.records import Instruction, Shard


@dataclass(frozen=True)
class Score:
    """A scored answer: `value` in [0, 1], and why (shown in trajectories and as metric feedback)."""

    value: float
    reason: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def correct(self) -> bool:
        return self.value >= 1.0


class Task:
    """Base class: override what differs. `binary` tasks stop a conversation at the first correct answer."""

    name: str = ""
    binary: bool = True

    def system_prompt(self, record: Instruction) -> str:
        return ""

    def full_prompt(self, record: Instruction) -> str:
        raise NotImplementedError

    def shard_text(self, record: Instruction, shard: Shard) -> str:
        return shard.shard

    def extract(self, response: str, record: Instruction) -> str | None:
        """The answer inside a reply, or None when the parsers find none."""
        return response.strip() or None

    def score(self, record: Instruction, answer: str) -> Score:
        raise NotImplementedError


TASKS: dict[str, Task] = {}


def register(task_cls: type[Task]) -> type[Task]:
    TASKS[task_cls.name] = task_cls()
    return task_cls


def get_task(name: str) -> Task:
    from intent_mediator import tasks  # noqa: F401  (importing the package registers every task)

    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None
