"""Per-role LM usage: calls, prompt and completion tokens, and cost where litellm knows the price."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict

import dspy

logger = logging.getLogger(__name__)


class RoleUsage:
    """Accumulates usage per role from `dspy.track_usage` trackers (cache hits add nothing, as in DSPy).

    Args:
        priced: Also add each call's cost from litellm's price list (a lookup of about 0.1 ms per call; the
            server, which reports tokens only, turns it off).
    """

    def __init__(self, priced: bool = True) -> None:
        self.priced = priced
        self.by_role: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    @contextlib.contextmanager
    def track(self, role: str):
        with dspy.track_usage() as tracker:
            yield
        for model, entries in tracker.usage_data.items():
            totals = self.by_role[role]
            for entry in entries:
                prompt, completion = entry.get("prompt_tokens") or 0, entry.get("completion_tokens") or 0
                totals["calls"] += 1
                totals["prompt_tokens"] += prompt
                totals["completion_tokens"] += completion
                if self.priced:
                    totals["cost"] += _cost(model, prompt, completion)

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {role: dict(values) for role, values in self.by_role.items()}


def _cost(model: str, prompt_tokens: float, completion_tokens: float) -> float:
    if model.startswith(("scripted/", "embedded/")):
        return 0.0
    try:
        import litellm

        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=int(prompt_tokens), completion_tokens=int(completion_tokens)
        )
        return float(prompt_cost + completion_cost)
    except Exception:  # litellm has no price for this model: report tokens, not a made-up cost
        return 0.0


def merge_usage(items: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    total: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for usage in items:
        for role, values in usage.items():
            for key, value in values.items():
                total[role][key] += value
    return {role: dict(values) for role, values in total.items()}
