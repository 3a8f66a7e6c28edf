"""A hard cap on LM calls and tokens, enforced before each call through a DSPy callback."""

from __future__ import annotations

import threading
from typing import Any

from dspy.utils.callback import BaseCallback
from intent_mediator.engines._response import estimate_tokens


class BudgetExhausted(BaseException):
    """The optimizer's LM budget is spent; finished work is kept and the best result so far is returned.

    A BaseException on purpose: DSPy logs and swallows `Exception`s raised by callbacks, and a conversation
    records `Exception`s as errors; the budget must stop the call and reach the optimizer instead.
    """


class LMBudget(BaseCallback):
    """Counts LM calls and tokens; refuses a call that would go over a cap.

    Calls are reserved before they start, so `max_calls` is never exceeded, even across threads. Tokens are
    counted with the project's estimate (four characters per token, as the scripted engine counts): the
    prompt is charged before the call and the completion after it, and a call is refused when its prompt
    plus the largest completion seen so far would pass `max_tokens`.

    Args:
        max_calls: Most LM calls allowed (None: no cap).
        max_tokens: Most prompt + completion tokens allowed (None: no cap).
    """

    def __init__(self, max_calls: int | None = None, max_tokens: int | None = None):
        self.max_calls, self.max_tokens = max_calls, max_tokens
        self.calls = 0
        self.tokens = 0
        self.largest_completion = 0
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
        with self._lock:
            if self._would_exceed(prompt):
                raise BudgetExhausted(
                    f"LM budget spent: {self.calls} calls of {self.max_calls or 'unlimited'}, "
                    f"{self.tokens} tokens of {self.max_tokens or 'unlimited'}"
                )
            self.calls += 1
            self.tokens += prompt

    def on_lm_end(self, call_id: str, outputs: Any, exception: Exception | None = None) -> None:
        completion = estimate_tokens("".join(str(o) for o in outputs or []))
        with self._lock:
            self.tokens += completion
            self.largest_completion = max(self.largest_completion, completion)

    def as_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "tokens": self.tokens, "max_calls": self.max_calls, "max_tokens": self.max_tokens}
