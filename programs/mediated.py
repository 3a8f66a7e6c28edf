"""The product: a Mediator in front of an unchanged assistant, which sees only the mediated request.

What DSPy's optimizers see (`named_predictors()`): what the program really sends. The Mediator's predictor
always; the assistant's only when it is a DSPy predictor (`assistant_adapter` given), because the default
plain-chat assistant sends the request verbatim and renders neither demos nor instructions, so tuning it would
change nothing the model sees.
"""

from __future__ import annotations

from typing import Any

import dspy
from intent_mediator.adapters import PlainChatAdapter
from intent_mediator.lm import lm_scope
from intent_mediator.programs.mediator import Mediator
from intent_mediator.signatures import AnswerRequest
from intent_mediator.transcript import MEDIATOR_HISTORIES, Turn


class _OutOfSight:
    """Holds a predictor where `named_parameters()` does not look, so optimizers leave it alone."""

    def __init__(self, predictor: dspy.Predict):
        self.predictor = predictor


class MediatedAssistant(dspy.Module):
    """Mediator -> Assistant. Returns `Prediction(response=..., request=...)`.

    Args:
        guidelines: The Mediator's learned rules; None for the uncompiled program.
        context: Default task context, the assistant's system prompt.
        mediator_lm: The mediator role's LM (None: the surrounding context's LM).
        assistant_lm: The assistant role's LM (None: the surrounding context's LM).
        chain_of_thought: Let the Mediator reason before writing the request.
        passthrough_first_turn: Skip the Mediator on a one-turn transcript (compiled or not).
        assistant_adapter: None (default): the assistant gets plain chat, the task context as system prompt and
            the request as the only user message, exactly what a chat application sends; optimizers cannot
            change it and do not see it. A DSPy adapter (e.g. `dspy.ChatAdapter()`): the assistant becomes a
            DSPy predictor with instructions and demos, which optimizers tune along with the Mediator.
        mediator_history: How callers feed this program: "full" (the whole transcript every turn) or
            "incremental" (the transcript plus the request it wrote last turn, as `previous_request`). Saved
            with the program, since a compiled program's validation score holds for one history.
        check: Check every request against the user's turns and repair it (see `Mediator`).
        join_additions: Join turns that only add information to the last request without a Mediator call
            (see `Mediator`).
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
        assistant_adapter: dspy.Adapter | None = None,
        mediator_history: str = "full",
        check: bool = True,
        join_additions: bool = False,
    ):
        super().__init__()
        if mediator_history not in MEDIATOR_HISTORIES:
            raise ValueError(f"mediator_history must be one of {MEDIATOR_HISTORIES}, got {mediator_history!r}")
        self.mediator_history = mediator_history
        self.mediator = Mediator(
            guidelines,
            chain_of_thought=chain_of_thought,
            passthrough_first_turn=passthrough_first_turn,
            check=check,
            join_additions=join_additions,
            lm=mediator_lm,
        )
        self.assistant_adapter = assistant_adapter
        if assistant_adapter is None:
            self._plain_chat = _OutOfSight(dspy.Predict(AnswerRequest))
        else:
            self.answer = dspy.Predict(AnswerRequest)
        self.context = context
        self.assistant_lm = assistant_lm

    @property
    def chain_of_thought(self) -> bool:
        return isinstance(self.mediator.rewrite, dspy.ChainOfThought)

    @property
    def plain_chat(self) -> bool:
        """True when the assistant is sent plain chat (and hidden from optimizers)."""
        return self.assistant_adapter is None

    @property
    def assistant_predictor(self) -> dspy.Predict:
        """The assistant's predictor, whether optimizers see it or not."""
        return self._plain_chat.predictor if self.assistant_adapter is None else self.answer

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
        adapter = PlainChatAdapter() if self.assistant_adapter is None else self.assistant_adapter
        with lm_scope(lm or self.assistant_lm, adapter=adapter):
            return self.assistant_predictor(request=request, context=context or self.context or "").response

    def forward(
        self,
        transcript: list[Turn | dict[str, Any]],
        context: str | None = None,
        previous_request: str | None = None,
    ) -> dspy.Prediction:
        """Mediate `transcript` and answer the request; `previous_request` enables incremental mediation."""
        mediated = self.mediator(transcript=transcript, previous_request=previous_request)
        response = self.respond(mediated.request, context)
        return dspy.Prediction(
            response=response,
            request=mediated.request,
            mediated=mediated.mediated,
            mediation=mediated.get("mediation"),
        )
