"""`dspy.Module` programs: the baseline Assistant, the Mediator, the MediatedAssistant and ERGO's assistant."""

from intent_mediator.programs.assistant import Assistant
from intent_mediator.programs.ergo import ErgoAssistant
from intent_mediator.programs.mediated import MediatedAssistant
from intent_mediator.programs.mediator import Mediator

__all__ = ["Assistant", "ErgoAssistant", "MediatedAssistant", "Mediator"]
