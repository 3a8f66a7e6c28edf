"""The product: a Mediator in front of an unchanged assistant, which sees only the mediated request."""

from __future__ import annotations

from typing import Any

import dspy
from intent_mediator.adapters import PlainChatAdapter
from intent_mediator.lm import lm_scope
from intent_mediator.programs.mediator import Mediator
from intent_mediator.signatures import AnswerRequest
from intent_mediator.transcript import Turn


class MediatedAssistant(dspy.Module):
    """Mediator -> Assistant. Returns `Prediction(response=..., request=...)`.

    Args:
        guidelines: The Mediator's learned rules; None for the uncompiled program.
        context: Default task context, the assistant's system prompt.
        mediator_lm: The mediator role's LM (None: the surrounding context's LM).
        assistant_lm: The assistant role's LM (None: the surrounding context's LM).
        chain_of_thought: Let the Mediator reason before writing the request.
        passthrough_first_turn: Skip the Mediator on a one-turn transcript when there are no guidelines.
        check: Check every request against the user's turns and repair it (see `Mediator`).
    """

    def __init__(
        self,
        guidelines: list[str] | None = None,
        *,
        context: str | None = None,
        mediator_lm: dspy.LM | None = None,
        assistant_lm: dspy.LM | None = None,
        chain_of_thought: bool = False,
        passthrough_first_turn: bool = True,
        check: bool = True,
    ):
        super().__init__()
        self.mediator = Mediator(
            guidelines,
            chain_of_thought=chain_of_thought,
            passthrough_first_turn=passthrough_first_turn,
            check=check,
            lm=mediator_lm,
        )
        self.answer = dspy.Predict(AnswerRequest)
        self.context = context
        self.assistant_lm = assistant_lm

    @property
    def guidelines(self) -> list[str]:
        return self.mediator.guidelines

    def set_guidelines(self, guidelines: list[str]) -> None:
        self.mediator.set_guidelines(guidelines)

    def load_state(self, state: dict[str, Any], **kwargs: Any) -> MediatedAssistant:
        """DSPy's `load_state`; programs saved before the repair step existed have no state for its predictor,
        whose prompt is fixed, so it keeps its current state."""
        state = dict(state)
        for name, predictor in self.named_predictors():
            if name not in state and name.rsplit(".", 1)[-1] == "repair":
                state[name] = predictor.dump_state()
        return super().load_state(state, **kwargs)

    def respond(self, request: str, context: str | None = None, *, lm: dspy.LM | None = None) -> str:
        """The assistant's reply to an explicit request, sent as plain chat (`lm` overrides `assistant_lm`)."""
        with lm_scope(lm or self.assistant_lm, adapter=PlainChatAdapter()):
            return self.answer(request=request, context=context or self.context or "").response

    def forward(
        self,
        transcript: list[Turn | dict[str, Any]],
        context: str | None = None,
        previous_request: str | None = None,
    ) -> dspy.Prediction:
        """Mediate `transcript` and answer the request; `previous_request` enables incremental mediation."""
        mediated = self.mediator(transcript=transcript, previous_request=previous_request)
        response = self.respond(mediated.request, context)
        return dspy.Prediction(response=response, request=mediated.request, mediated=mediated.mediated)
