"""Table-to-text (ToTTo): BLEU of the reply's description against the record's references.

The reference scores the whole reply; we score the description inside it (`answer_text`: lead-ins such as
"Here's a one-sentence description:", and offers such as "Let me know if you'd like changes!", are not part of
it). The description is every line left, not only the last one.
"""

from __future__ import annotations

from collections.abc import Sequence

from intent_mediator.data.records import Instruction, Shard
from intent_mediator.tasks.base import Score, Task, TaskConfig, register
from intent_mediator.tasks.bleu import answer_text, bleu_score, only_questions


def _metadata(record: Instruction) -> str:
    meta = record.get("metadata") or {}
    return "\n".join(f"{key}: {value}" for key, value in meta.items())


@register
class Data2TextTask(Task):
    name = "data2text"
    binary = False
    reveal_verbatim = True

    def system_prompt(self, record: Instruction) -> str:
        return "You are a meticulous analyst: you read tables closely and describe exactly what they show."

    def full_prompt(self, record: Instruction) -> str:
        examples = record.get("fewshot_descriptions") or ""
        return (
            "Write a one-sentence description of the table below (at most 30 words). When some cells are "
            "highlighted, describe those.\n\n"
            f"Table:\n{record['table_highlighted_html']}\n\n"
            f"About the table:\n{_metadata(record)}\n\n"
            f"Descriptions written for other tables, to show the expected style:\n{examples}\n\n"
            "Reply with one clear, natural sentence."
        )

    def concat_prompt(self, record: Instruction, shards: Sequence[Shard] | None = None) -> str:
        # The shards already hold the table, the examples and the metadata; they are given as numbered notes.
        notes = "\n\n".join(
            f"Note {shard.shard_id}:\n{shard.shard.strip()}" for shard in (record.shards if shards is None else shards)
        )
        return (
            "Write a one-sentence description of a table. Everything you need (the table, examples of the "
            f"expected style and facts about the table) is in the notes below.\n\n{notes}\n\n"
            "Reply with one clear, natural sentence."
        )

    def extract(self, response: str, record: Instruction) -> str | None:
        text = answer_text(response)
        return None if not text or only_questions(text) else text

    def score(self, record: Instruction, answer: str, config: TaskConfig | None = None) -> Score:
        return bleu_score(answer, list(record["references"]))
