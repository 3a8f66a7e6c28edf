"""Document translation (WMT19 German to English): BLEU against the English document."""

from __future__ import annotations

from intent_mediator.data.records import Instruction
from intent_mediator.tasks.base import Score, Task, register
from intent_mediator.tasks.bleu import bleu_score


@register
class TranslationTask(Task):
    name = "translation"
    binary = False
    reveal_verbatim = True

    def system_prompt(self, record: Instruction) -> str:
        return (
            "Translate the German text the user sends into English. When the user sends more text, reply with "
            "the translation of the whole document so far, and nothing else."
        )

    def full_prompt(self, record: Instruction) -> str:
        return record["document_de"]

    def score(self, record: Instruction, answer: str) -> Score:
        return bleu_score(answer, [record["document_en"]])
