"""The Mediator: rewrites a multi-turn transcript into one explicit request, guided by learned guidelines."""

from __future__ import annotations

import logging
from typing import Any

import dspy
from intent_mediator.lm import lm_scope
from intent_mediator.signatures import MediateRequest, render_instructions, split_instructions
from intent_mediator.transcript import Turn, as_dicts, compact_transcript, normalize_transcript, user_turns

logger = logging.getLogger(__name__)


class Mediator(dspy.Module):
    """Writes the explicit, self-contained request a user meant across the turns of a conversation.

    The guidelines live in the predictor's instructions (the Mediator's system prompt), so `save()` and
    `load()` carry them like any other DSPy prompt state.

    Args:
        guidelines: Learned rules, one string each; None or [] for the uncompiled Mediator.
        chain_of_thought: Let the Mediator reason before writing the request.
        passthrough_first_turn: While nothing is learned (no guidelines, demos or rewritten instructions), a
            one-turn transcript is already explicit: return it unchanged and save the LM call.
        lm: The mediator role's LM; None uses the LM of the surrounding `dspy.context`.
    """

    def __init__(
        self,
        guidelines: list[str] | None = None,
        *,
        chain_of_thought: bool = False,
        passthrough_first_turn: bool = True,
        lm: dspy.LM | None = None,
    ):
        super().__init__()
        self.rewrite = dspy.ChainOfThought(MediateRequest) if chain_of_thought else dspy.Predict(MediateRequest)
        self.passthrough_first_turn = passthrough_first_turn
        self.role_lm = lm
        self.set_guidelines(guidelines or [])

    @property
    def predictor(self) -> dspy.Predict:
        """The predictor whose instructions hold the guidelines (ChainOfThought keeps it as `.predict`)."""
        return getattr(self.rewrite, "predict", self.rewrite)

    @property
    def guidelines(self) -> list[str]:
        """The current guidelines, in order."""
        return split_instructions(self.predictor.signature.instructions)[1]

    @property
    def learned(self) -> bool:
        """True once anything was learned: guidelines, demos, or instructions an optimizer rewrote."""
        base, guidelines = split_instructions(self.predictor.signature.instructions)
        return bool(guidelines or self.predictor.demos or base != MediateRequest.instructions)

    def set_guidelines(self, guidelines: list[str]) -> None:
        """Replace the guidelines. Rebinds the signature: the class is shared between copies of the program."""
        base, _ = split_instructions(self.predictor.signature.instructions)
        self.predictor.signature = self.predictor.signature.with_instructions(
            render_instructions(base, list(guidelines))
        )

    def forward(self, transcript: list[Turn | dict[str, Any]], previous_request: str | None = None) -> dspy.Prediction:
        """Rewrite `transcript` into one explicit request.

        Args:
            transcript: The conversation so far, ending with the user's turn.
            previous_request: The request this Mediator wrote for the conversation before the assistant's
                last reply. Given, the Mediator reads that request, the reply and the user's new turns instead
                of the whole transcript (incremental mediation: each turn is read once, so a call does not
                grow with the assistant's earlier replies).
        """
        turns = normalize_transcript(transcript)
        if previous_request:
            turns = compact_transcript(turns, previous_request)
        if self.passthrough_first_turn and len(turns) == 1 and not self.learned:
            return dspy.Prediction(request=turns[0].content, mediated=False)
        # Plain dicts render exactly like Turns, and traces holding them serialise: SIMBA and GEPA show traces
        # to their reflection LM, and bootstrapped demos must save to JSON. DSPy would warn that dicts are not
        # Turns on every call.
        with lm_scope(self.role_lm), dspy.context(warn_on_type_mismatch=False):
            out = self.rewrite(transcript=as_dicts(turns))
        request = (out.request or "").strip()
        if not request:
            # An empty rewrite would leave the assistant with nothing; the user's own words lose less.
            logger.warning("Mediator returned an empty request; sending the user's turns joined instead")
            return dspy.Prediction(request="\n".join(user_turns(turns)), mediated=False, fallback="empty request")
        return dspy.Prediction(request=request, mediated=True)
