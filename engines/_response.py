"""Helpers shared by the project's DSPy engines: request flattening, token estimates, responses."""

from __future__ import annotations

import math

from dspy.lm15 import Message, Request, Response, TextPart, Usage


def request_messages(request: Request) -> list[dict[str, str]]:
    """The request as OpenAI-style messages, system prompt first."""
    messages = []
    if request.system is not None:
        system = (
            request.system
            if isinstance(request.system, str)
            else "".join(getattr(p, "text", "") for p in request.system)
        )
        messages.append({"role": "system", "content": system})
    messages.extend({"role": message.role, "content": message.text or ""} for message in request.messages)
    return messages


def estimate_tokens(text: str) -> int:
    """A deterministic token estimate (about four characters per token, as for English BPE vocabularies)."""
    return math.ceil(len(text) / 4) if text else 0


def text_response(
    model: str, text: str, input_tokens: int, output_tokens: int, finish_reason: str = "stop"
) -> Response:
    return Response(
        id=None,
        model=model,
        message=Message.assistant((TextPart(text),)),
        finish_reason=finish_reason,
        usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens),
    )
