"""Table-to-text (ToTTo): BLEU of a one-sentence description against the references."""

from __future__ import annotations

from intent_mediator.data.records import Instruction
from intent_mediator.tasks.base import Score, Task, register
from intent_mediator.tasks.bleu import bleu_score


@register
class Data2TextTask(Task):
    name = "data2text"
    binary = False
    reveal_verbatim = True

    def full_prompt(self, record: Instruction) -> str:
        meta = record.get("metadata") or {}
        examples = record.get("fewshot_descriptions") or ""
        return (
            "Describe the highlighted cells of this table in one sentence of at most 30 words. Reply with the "
            "sentence only.\n\n"
            f"Page: {meta.get('table_page_title', '')}\nSection: {meta.get('table_section_title', '')}\n\n"
            f"Table:\n{record['table_highlighted_html']}\n\nExamples of the expected style:\n{examples}"
        )

    def extract(self, response: str, record: Instruction) -> str | None:
        lines = [line.strip() for line in response.strip().splitlines() if line.strip()]
        return lines[-1] if lines else None

    def score(self, record: Instruction, answer: str) -> Score:
        return bleu_score(answer, list(record["references"]))
