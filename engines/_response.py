"""Helpers shared by the project's DSPy engines: request flattening, token estimates, responses."""

from __future__ import annotations

import math

from dspy.lm15 import Message, Request, Response, TextPart, TokenLogprob, TopLogprob, Usage


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
    model: str,
    text: str,
    input_tokens: int,
    output_tokens: int,
    finish_reason: str = "stop",
    logprobs: tuple[TokenLogprob, ...] | None = None,
) -> Response:
    return Response(
        id=None,
        model=model,
        message=Message.assistant((TextPart(text),)),
        finish_reason=finish_reason,
        usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens),
        logprobs=logprobs or None,
    )


def openai_logprobs(entries: object) -> tuple[TokenLogprob, ...]:
    """OpenAI-style `choices[0].logprobs.content` entries (`token`, `logprob`, `top_logprobs`) as lm15 tokens.

    Entries without a token or a log-probability are skipped: a malformed entry must not break a reply.
    """
    out = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or "logprob" not in entry:
            continue
        top = tuple(
            TopLogprob(token=str(alt.get("token", "")), logprob=float(alt["logprob"]))
            for alt in entry.get("top_logprobs") or []
            if isinstance(alt, dict) and "logprob" in alt
        )
        out.append(TokenLogprob(token=str(entry.get("token", "")), logprob=float(entry["logprob"]), top=top))
    return tuple(out)
