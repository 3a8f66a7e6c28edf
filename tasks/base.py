"""What every Lost-in-Conversation task provides, and the string registry of tasks.

A task knows its system prompt (identical in every conversation mode), the fully specified prompt (FULL mode),
the one-message prompt built from every shard (CONCAT mode), how to turn a shard into a user message, how to
pull an answer out of a reply with deterministic parsers, and how to score that answer. Scores are 0-1 here;
reports show 0-100.

Tasks are stateless singletons. What changes from run to run (the summary judge's LM, the Spider folder) is a
`TaskConfig` passed to `Task.score`, never an attribute set on the shared task object.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dspy
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


@dataclass(frozen=True)
class TaskConfig:
    """Per-run settings of the scorers, passed into `Task.score` (one object per run, shared by its threads).

    Args:
        judge_lm: The LM that judges summaries (insight coverage). None: the run's judge role when the task is
            scored inside a conversation (see `ConversationSettings`), else `dspy.settings.lm`.
        spider_dir: The folder of Spider databases (`<db_id>/<db_id>.sqlite`) for the benchmark's database
            records. None: the `INTENT_MEDIATOR_SPIDER_DIR` environment variable, if set.
    """

    judge_lm: dspy.LM | None = None
    spider_dir: str | Path | None = None


class Task:
    """Base class: override what differs. `binary` tasks stop a conversation at the first correct answer;
    `reveal_verbatim` tasks have every user turn be the shard's own text, in order, with no simulator rewording
    (as the reference does for translation, summary and data2text, whose shards are documents or table parts).
    `scoring_revision` goes up whenever `score` changes what it accepts, so that a result scored under an earlier
    revision is not taken for a current one: a run folder records it per task and is not resumed across a change,
    and benchmarks/compile_domains.py fingerprints it per domain."""

    name: str = ""
    binary: bool = True
    reveal_verbatim: bool = False
    scoring_revision: int = 1

    def system_prompt(self, record: Instruction) -> str:
        return ""

    def full_prompt(self, record: Instruction) -> str:
        raise NotImplementedError

    def shard_text(self, record: Instruction, shard: Shard) -> str:
        return shard.shard

    def concat_prompt(self, record: Instruction, shards: Sequence[Shard] | None = None) -> str:
        """Every shard in one user message (CONCAT mode), `shards` in the order given (default: the record's).

        The default writes the shards as the sentences of one paragraph, the way a user who knew everything at
        the start would have typed it; tasks whose shards are documents or chunks override it.
        """
        return natural_message([shard.shard for shard in (record.shards if shards is None else shards)])

    def extract(self, response: str, record: Instruction) -> str | None:
        """The answer inside a reply, or None when the parsers find none."""
        return response.strip() or None

    def score(self, record: Instruction, answer: str, config: TaskConfig | None = None) -> Score:
        raise NotImplementedError


def natural_message(texts: Sequence[str]) -> str:
    """Fragments ("he bought 4 pens", "each pen cost $1.5") as sentences of one message.

    Each fragment gets a capital first letter and a closing full stop when it has neither; fragments that span
    several lines (code, tables, examples) become paragraphs of their own.
    """
    parts = [_as_sentence(text) for text in texts if text.strip()]
    if any("\n" in part for part in parts):
        return "\n\n".join(parts)
    return " ".join(parts)


def _as_sentence(text: str) -> str:
    text = text.strip()
    if "\n" in text:
        return text
    if text[0].islower() and not re.match(r"\w+[_(.]\w", text):  # leave identifiers such as `sort_list(` alone
        text = text[0].upper() + text[1:]
    if not re.search(r"[.!?:;)\]}\"'`]$", text):
        text += "."
    return text


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
