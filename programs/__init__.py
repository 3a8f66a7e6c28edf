"""`dspy.Module` programs: the baseline Assistant, the Mediator and the MediatedAssistant."""

from intent_mediator.programs.assistant import Assistant
from intent_mediator.programs.mediated import MediatedAssistant
from intent_mediator.programs.mediator import Mediator

__all__ = ["Assistant", "MediatedAssistant", "Mediator"]
