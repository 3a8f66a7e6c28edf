"""The assistant as chat applications run it today: the raw transcript goes straight to the model."""

from __future__ import annotations

import logging
from typing import Any

import dspy
from intent_mediator.adapters import PlainChatAdapter
from intent_mediator.lm import lm_scope
from intent_mediator.signatures import ReplyInChat
from intent_mediator.transcript import Turn, normalize_transcript

logger = logging.getLogger(__name__)


class Assistant(dspy.Module):
    """Baseline chat assistant: sends the system prompt and every turn as chat messages, returns the reply.

    Args:
        context: Default task context, sent as the system prompt (a schema, a tool list, ...).
        lm: The assistant role's LM; None uses the LM of the surrounding `dspy.context`.
    """

    def __init__(self, context: str | None = None, *, lm: dspy.LM | None = None):
        super().__init__()
        self.reply = dspy.Predict(ReplyInChat)
        self.context = context
        self.role_lm = lm

    def forward(self, transcript: list[Turn | dict[str, Any]], context: str | None = None) -> dspy.Prediction:
        turns = normalize_transcript(transcript)
        with lm_scope(self.role_lm, adapter=PlainChatAdapter()):
            out = self.reply(transcript=turns, context=context or self.context or "")
        return dspy.Prediction(response=out.response)
