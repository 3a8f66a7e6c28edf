"""A hard cap on LM calls and tokens, enforced before each call through a DSPy callback."""

from __future__ import annotations

import threading
from typing import Any

import dspy
from dspy.utils.callback import BaseCallback
from intent_mediator.engines._response import estimate_tokens


class BudgetExhausted(BaseException):
    """The optimizer's LM budget is spent; finished work is kept and the best result so far is returned.

    A BaseException on purpose: DSPy logs and swallows `Exception`s raised by callbacks, and a conversation
    records `Exception`s as errors; the budget must stop the call and reach the optimizer instead.
    """


class LMBudget(BaseCallback):
    """Counts LM calls and tokens; refuses a call that would go over a cap.

    Calls are reserved before they start, so `max_calls` is never exceeded, even across threads. Tokens are the
    usage the LM reported (litellm's `usage`, or the engine's for the embedded and scripted models), read from
    the usage tracker DSPy keeps for the call's context (`dspy.track_usage`, which every conversation role and
    the Refiner open). Before a call its prompt is reserved at an estimate (four characters per token) so that
    a call likely to pass `max_tokens` is refused; when the call ends the estimate is replaced by what was
    reported. When no usage is reported (no tracker in the context, an LM that returns none, or a cache hit,
    which DSPy does not bill) the estimate stands, counted in `estimated_calls`: the budget errs on the side of
    spending less.

    Args:
        max_calls: Most LM calls allowed (None: no cap).
        max_tokens: Most prompt + completion tokens allowed (None: no cap).
    """

    def __init__(self, max_calls: int | None = None, max_tokens: int | None = None):
        self.max_calls, self.max_tokens = max_calls, max_tokens
        self.calls = 0
        self.tokens = 0
        self.estimated_calls = 0
        self.largest_completion = 0
        self._pending: dict[str, tuple[int, Any, str, int]] = {}
        self._lock = threading.Lock()

    @property
    def exhausted(self) -> bool:
        with self._lock:
            return self._would_exceed(0)

    def _would_exceed(self, prompt_tokens: int) -> bool:
        if self.max_calls is not None and self.calls >= self.max_calls:
            return True
        return self.max_tokens is not None and self.tokens + prompt_tokens + self.largest_completion > self.max_tokens

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        prompt = estimate_tokens(
            "".join(str(m.get("content", "")) for m in inputs.get("messages") or []) + str(inputs.get("prompt") or "")
        )
        tracker = dspy.settings.usage_tracker
        model = getattr(instance, "model", "")
        seen = len(tracker.usage_data.get(model, [])) if tracker is not None else -1
        with self._lock:
            if self._would_exceed(prompt):
                raise BudgetExhausted(
                    f"LM budget spent: {self.calls} calls of {self.max_calls or 'unlimited'}, "
                    f"{self.tokens} tokens of {self.max_tokens or 'unlimited'}"
                )
            self.calls += 1
            self.tokens += prompt
            self._pending[call_id] = (prompt, tracker, model, seen)

    def on_lm_end(self, call_id: str, outputs: Any, exception: Exception | None = None) -> None:
        with self._lock:
            prompt, tracker, model, seen = self._pending.pop(call_id, (0, None, "", -1))
        reported = _reported(tracker, model, seen)
        if reported is None:
            completion = estimate_tokens("".join(str(o) for o in outputs or []))
            total = prompt + completion
        else:
            completion = reported[1]
            total = sum(reported)
        with self._lock:
            self.tokens += total - prompt
            self.largest_completion = max(self.largest_completion, completion)
            self.estimated_calls += reported is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "tokens": self.tokens,
            "estimated_calls": self.estimated_calls,
            "max_calls": self.max_calls,
            "max_tokens": self.max_tokens,
        }


def _reported(tracker: Any, model: str, seen: int) -> tuple[int, int] | None:
    """(prompt, completion) tokens the call added to its context's usage tracker; None when nothing was
    reported (no tracker, a cache hit, or an entry without token counts)."""
    if tracker is None or seen < 0:
        return None
    entries = tracker.usage_data.get(model, [])[seen:]
    if not entries:
        return None
    entry = entries[-1]
    prompt, completion = entry.get("prompt_tokens"), entry.get("completion_tokens")
    if prompt is None and completion is None:
        return None
    return int(prompt or 0), int(completion or 0)
