"""Document translation (WMT19 German to English): BLEU of the reply's translation against the English document.

As in the reference: every shard is a chunk of the German document; in sharded mode the first user message
explains that the document arrives chunk by chunk and that each reply translates the whole document so far,
and later messages bring the next chunk; concat mode sends the chunks in one message, labelled. Scored like
data2text: the reply's translation (`answer_text`), not the chatter around it, against `document_en`.
"""

from __future__ import annotations

from collections.abc import Sequence

from intent_mediator.data.records import Instruction, Shard
from intent_mediator.tasks.base import Score, Task, TaskConfig, register
from intent_mediator.tasks.bleu import answer_text, bleu_score, only_questions


@register
class TranslationTask(Task):
    name = "translation"
    binary = False
    reveal_verbatim = True

    def system_prompt(self, record: Instruction) -> str:
        return (
            "You translate German into English professionally. Your translations read as natural, fluent English "
            "and keep the meaning, tone and style of the German text."
        )

    def full_prompt(self, record: Instruction) -> str:
        return f"Translate this German text into English:\n\n{record['document_de']}"

    def shard_text(self, record: Instruction, shard: Shard) -> str:
        number = 1 + [s.shard_id for s in record.shards].index(shard.shard_id)
        if number == 1:
            return (
                "I am sending you a German document chunk by chunk, as it is being transcribed. After every chunk, "
                "reply with the English translation of the whole document received so far, not only of the "
                "newest chunk; translate all chunks as one text, and correct earlier parts if you see a mistake."
                f"\n\nChunk 1:\n\n{shard.shard}"
            )
        return f"Here is the next chunk. Translate the whole document so far.\n\nChunk {number}:\n\n{shard.shard}"

    def concat_prompt(self, record: Instruction, shards: Sequence[Shard] | None = None) -> str:
        shards = record.shards if shards is None else shards
        chunks = "\n\n".join(f"Chunk {i}:\n{shard.shard.strip()}" for i, shard in enumerate(shards, 1))
        return (
            "Translate this German document into English. It reached me in numbered chunks; translate it as one "
            f"continuous document and leave the chunk labels out.\n\n{chunks}"
        )

    def extract(self, response: str, record: Instruction) -> str | None:
        text = answer_text(response)
        return None if not text or only_questions(text) else text

    def score(self, record: Instruction, answer: str, config: TaskConfig | None = None) -> Score:
        return bleu_score(answer, [record["document_en"]])
