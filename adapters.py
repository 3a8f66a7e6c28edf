"""`PlainChatAdapter`: render a signature as the plain chat a chat application sends.

DSPy's ChatAdapter and JSONAdapter wrap inputs in field markers and ask for formatted outputs. The assistant
under test must not get that help or that handicap: every conversation mode has to send it what a chat app
would, so that comparisons between modes measure only what the user messages hold.
"""

from __future__ import annotations

import textwrap
from typing import Any

import dspy
from intent_mediator.transcript import to_turn


class PlainChatAdapter(dspy.Adapter):
    """Renders `context` as the system prompt and `request` or `transcript` as the chat messages.

    The signature must have exactly one output field; the model's raw reply becomes its value. A one-turn
    `transcript` and a `request` holding the same text render to identical messages.
    """

    def format(
        self, signature: type[dspy.Signature], demos: list[dict[str, Any]], inputs: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if demos:
            raise ValueError("PlainChatAdapter sends the conversation unchanged and cannot render few-shot demos")
        if len(signature.output_fields) != 1:
            raise ValueError(
                "PlainChatAdapter needs exactly one output field, "
                f"{signature.__name__} has {list(signature.output_fields)}"
            )
        unknown = set(signature.input_fields) - {"context", "request", "transcript"}
        if unknown:
            raise ValueError(f"PlainChatAdapter cannot render input fields {sorted(unknown)}")
        messages: list[dict[str, Any]] = []
        context = inputs.get("context")
        if context:
            messages.append({"role": "system", "content": str(context)})
        if "transcript" in signature.input_fields:
            turns = [to_turn(item, index) for index, item in enumerate(inputs["transcript"])]
            messages.extend({"role": turn.role, "content": turn.content} for turn in turns)
        else:
            messages.append({"role": "user", "content": str(inputs["request"])})
        return messages

    def parse(self, signature: type[dspy.Signature], completion: str) -> dict[str, Any]:
        (name,) = signature.output_fields
        return {name: completion}


class LeanChatAdapter(dspy.ChatAdapter):
    """DSPy's ChatAdapter with its boilerplate cut: the same `[[ ## field ## ]]` sections and parsing, but the
    system prompt lists field names only, states the structure in one line, and does not indent the
    instructions. The Mediator runs on every user turn, so its fixed prompt is most of its cost."""

    def format_field_description(self, signature: type[dspy.Signature]) -> str:
        inputs = "\n".join(f"{i}. `{name}`" for i, name in enumerate(signature.input_fields, start=1))
        outputs = "\n".join(f"{i}. `{name}`" for i, name in enumerate(signature.output_fields, start=1))
        # The blank line ends the field list, as in DSPy's own layout (the scripted engine reads it the same way).
        return f"Your input fields are:\n{inputs}\nYour output fields are:\n{outputs}\n"

    def format_field_structure(self, signature: type[dspy.Signature]) -> str:
        outputs = ", then ".join(f"[[ ## {name} ## ]]" for name in signature.output_fields)
        return f"Inputs come in [[ ## name ## ]] sections. Reply with {outputs}, then [[ ## completed ## ]]."

    def format_task_description(self, signature: type[dspy.Signature]) -> str:
        return textwrap.dedent(signature.instructions).strip()

    def user_message_output_requirements(self, signature: type[dspy.Signature]) -> None:
        return None  # the system prompt already says how to reply
