"""Why each LM call stopped: "length" when the reply hit its token cap, so a cut-off answer is told apart."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import dspy

logger = logging.getLogger(__name__)


class _CallLog:
    """Stands among DSPy's calling modules: DSPy appends each LM call's history entry to every one of them."""

    def __init__(self) -> None:
        self.history: list[dict[str, Any]] = []


@contextlib.contextmanager
def finish_reasons() -> Iterator[list[str | None]]:
    """Collect the finish reasons of the LM calls made in this context, in call order.

    DSPy records each call, fresh or replayed from its cache, in the history of the modules calling it; this
    context adds a listener there, so only calls made in this thread under it are seen. The list stays empty when
    DSPy's history is off (`disable_history`, or a `max_history_size` of 0): then nothing is known.

    Yields:
        A list filled in when the context exits: one reason per call ("stop", "length", ... or None).
    """
    log = _CallLog()
    reasons: list[str | None] = []
    callers = [*(dspy.settings.caller_modules or []), log]
    with dspy.context(caller_modules=callers):
        yield reasons
    reasons.extend(_finish_reason(entry.get("response")) for entry in log.history)


def cut_off(reasons: list[str | None]) -> bool | None:
    """Whether the last call stopped at its token cap; None when no call was seen or its reason is unknown."""
    if not reasons or reasons[-1] is None:
        return None
    return reasons[-1] == "length"


def _finish_reason(response: Any) -> str | None:
    """One call's finish reason: "length" if any of its candidates was cut; None when the response says nothing."""
    if isinstance(response, list | tuple):  # several candidates (n > 1)
        return _combined([_finish_reason(candidate) for candidate in response])
    reason = getattr(response, "finish_reason", None)  # a DSPy engine's Response
    if reason is not None:
        return str(reason)
    incomplete = getattr(response, "incomplete_details", None)  # an OpenAI Responses API reply
    if getattr(incomplete, "reason", None) == "max_output_tokens":
        return "length"
    choices = getattr(response, "choices", None)  # a litellm ModelResponse, or its dict
    if choices is None and isinstance(response, dict):
        choices = response.get("choices")
    reasons = [
        choice.get("finish_reason") if isinstance(choice, dict) else getattr(choice, "finish_reason", None)
        for choice in choices or []
    ]
    return _combined([None if r is None else str(r) for r in reasons])


def _combined(reasons: list[str | None]) -> str | None:
    """ "length" when any candidate was cut; else the first reason, or None when one of them is unknown."""
    if "length" in reasons:
        return "length"
    return None if not reasons or None in reasons else reasons[0]
