"""ERGO (Khalid et al., arXiv 2510.14077): reset the assistant's context when its uncertainty jumps.

After each reply the assistant's uncertainty is measured as the mean, over the reply's tokens, of the Shannon
entropy (nats) of its next-token distribution, read from the provider's top-k log-probabilities
(H_t = -sum p log p over the k alternatives, as the reference code does with k = 20). When that mean rises by
at least `threshold` over the previous reply's, the reply is discarded, the assistant itself rewrites the user's
messages of its current context into one prompt (`ConsolidateUserTurns`), the context restarts from that prompt
alone, and the reply is generated again. The first reply of a conversation never triggers a reset.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import dspy
from intent_mediator.adapters import PlainChatAdapter
from intent_mediator.errors import ModelConfigError
from intent_mediator.lm import lm_scope
from intent_mediator.signatures import ReplyInChat
from intent_mediator.signatures.ergo import ConsolidateUserTurns
from intent_mediator.transcript import Turn, normalize_transcript

logger = logging.getLogger(__name__)

# The reference code asks OpenAI for 20 alternatives per token (the API's maximum).
DEFAULT_TOP_LOGPROBS = 20
# The reference code's default threshold; calibrate it per model (`simulation.ergo.calibrate_threshold`).
DEFAULT_THRESHOLD = 0.5


def token_entropies(logprobs: Mapping[str, Any] | None) -> list[float]:
    """Per-token entropies (nats) from DSPy's `logprobs` output (`{"content": [{"top_logprobs": [...]}]}`).

    Tokens without alternatives are skipped: they say nothing about the distribution.
    """
    content = (logprobs or {}).get("content") or []
    out = []
    for token in content:
        tops = [alt["logprob"] for alt in token.get("top_logprobs") or [] if alt.get("logprob") is not None]
        if tops:
            out.append(-sum(math.exp(lp) * lp for lp in tops))
    return out


def mean_entropy(logprobs: Mapping[str, Any] | None) -> float | None:
    """The mean per-token entropy of a reply, or None when the provider returned no log-probabilities."""
    values = token_entropies(logprobs)
    return sum(values) / len(values) if values else None


class ErgoAssistant(dspy.Module):
    """The chat assistant with ERGO's entropy-triggered reset. Returns `Prediction(response, entropy, reset,
    context)`: `reset` is None or a record of the reset, `context` the assistant's context to continue from
    (None when unchanged).

    Args:
        context: Default task context, the system prompt.
        lm: The assistant role's LM; it must return token log-probabilities.
        rewrite_lm: The LM that consolidates the user's turns (default: `lm`, as in the paper).
        threshold: Entropy rise (nats) between consecutive replies that triggers a reset.
        top_logprobs: Alternatives per token the provider is asked for.
    """

    def __init__(
        self,
        context: str | None = None,
        *,
        lm: dspy.LM | None = None,
        rewrite_lm: dspy.LM | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        top_logprobs: int = DEFAULT_TOP_LOGPROBS,
    ):
        super().__init__()
        if top_logprobs < 1:
            raise ValueError(f"top_logprobs must be at least 1, got {top_logprobs}")
        self.reply = dspy.Predict(ReplyInChat)
        self.consolidate = dspy.Predict(ConsolidateUserTurns)
        self.context = context
        self.role_lm = lm
        self.rewrite_lm = rewrite_lm
        self.threshold = threshold
        self.top_logprobs = top_logprobs

    def respond(self, transcript: Sequence[Turn | dict[str, Any]], context: str | None = None) -> tuple[str, float]:
        """The reply to `transcript` and its mean token entropy.

        Raises:
            ModelConfigError: the model returned no log-probabilities (ERGO cannot run on it).
        """
        config = {"logprobs": True, "top_logprobs": self.top_logprobs}
        with lm_scope(self.role_lm, adapter=PlainChatAdapter()):
            out = self.reply(
                transcript=normalize_transcript(transcript), context=context or self.context or "", config=config
            )
        entropy = mean_entropy(out.get("logprobs"))
        if entropy is None:
            model = getattr(self.role_lm or dspy.settings.lm, "model", "the assistant model")
            raise ModelConfigError(
                f"{model} returned no token log-probabilities; ERGO needs a provider that returns them "
                "(e.g. OpenAI chat models, or the embedded model)"
            )
        return out.response, entropy

    def rewrite(self, transcript: Sequence[Turn | dict[str, Any]]) -> str:
        """One prompt holding every user message of `transcript`."""
        users = [turn.content for turn in normalize_transcript(transcript) if turn.role == "user"]
        with lm_scope(self.rewrite_lm or self.role_lm):
            prompt = (self.consolidate(user_messages=users).prompt or "").strip()
        if not prompt:  # an empty rewrite would lose everything the user said; fall back to their own words
            logger.warning("ERGO's rewrite came back empty; the reset keeps the user's messages as written")
            prompt = "\n".join(users)
        return prompt

    def forward(
        self,
        transcript: Sequence[Turn | dict[str, Any]],
        previous_entropy: float | None = None,
        context: str | None = None,
    ) -> dspy.Prediction:
        """Reply to `transcript`; reset when the entropy rose by `threshold` over `previous_entropy`."""
        response, entropy = self.respond(transcript, context)
        if previous_entropy is None or entropy - previous_entropy < self.threshold:
            return dspy.Prediction(response=response, entropy=entropy, reset=None, context=None)
        prompt = self.rewrite(transcript)
        fresh = [Turn.user(prompt)]
        new_response, new_entropy = self.respond(fresh, context)
        reset = {
            "entropy_previous": previous_entropy,
            "entropy_before": entropy,
            "jump": entropy - previous_entropy,
            "threshold": self.threshold,
            "discarded_reply": response,
            "prompt": prompt,
            "entropy_after": new_entropy,
        }
        return dspy.Prediction(response=new_response, entropy=new_entropy, reset=reset, context=fresh)
