"""Signatures of the baselines the paper compares the Mediator against."""

import dspy
from intent_mediator.transcript import Turn


class SummarizeHistory(dspy.Signature):
    """Summarise a conversation between a user and an assistant so that the assistant can continue from the
    summary alone: what the user is asking for and every detail they have given so far. Keep it brief."""

    transcript: list[Turn] = dspy.InputField(desc="The conversation so far, oldest turn first.")
    request: str = dspy.OutputField(desc="The summary, sent to the assistant in place of the conversation.")
