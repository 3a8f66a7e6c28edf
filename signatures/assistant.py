"""Signatures of the assistant being mediated.

Both are rendered as plain chat by `PlainChatAdapter` (system prompt = task context, then the user's
messages), so their docstrings never reach the model: the assistant must see exactly what a chat application
would send, whatever mode a conversation runs in.
"""

import dspy
from intent_mediator.transcript import Turn


class AnswerRequest(dspy.Signature):
    """Answer one self-contained user request."""

    context: str = dspy.InputField(desc="Task context sent as the system prompt, e.g. a database schema or tool list.")
    request: str = dspy.InputField(desc="The user's message.")
    response: str = dspy.OutputField(desc="The assistant's reply, verbatim.")


class ReplyInChat(dspy.Signature):
    """Reply to the last user turn of a chat, as a chat application does today."""

    context: str = dspy.InputField(desc="Task context sent as the system prompt, e.g. a database schema or tool list.")
    transcript: list[Turn] = dspy.InputField(desc="The whole conversation, sent as alternating chat messages.")
    response: str = dspy.OutputField(desc="The assistant's reply, verbatim.")
