"""intent-mediator: a DSPy program that keeps LLMs from getting lost in multi-turn conversation.

A Mediator rewrites the whole transcript, guided by learned guidelines, into one explicit request; the
assistant sees only that request. See README.md.
"""

from intent_mediator.engines import EmbeddedEngine, RecordedRequest, ScriptedCall, ScriptedEngine
from intent_mediator.errors import IntentMediatorError, ModelConfigError, ModelNotFoundError, TranscriptError
from intent_mediator.lm import ROLES, RoleLMs, build_lm
from intent_mediator.programs import Assistant, ErgoAssistant, MediatedAssistant, Mediator
from intent_mediator.signatures import AnswerRequest, ContrastivePair, DistillGuidelines, MediateRequest, ReplyInChat
from intent_mediator.transcript import Turn

__version__ = "0.1.0"

__all__ = [
    "ROLES",
    "AnswerRequest",
    "Assistant",
    "ContrastivePair",
    "DistillGuidelines",
    "EmbeddedEngine",
    "ErgoAssistant",
    "IntentMediatorError",
    "MediateRequest",
    "MediatedAssistant",
    "Mediator",
    "ModelConfigError",
    "ModelNotFoundError",
    "RecordedRequest",
    "ReplyInChat",
    "RoleLMs",
    "ScriptedCall",
    "ScriptedEngine",
    "TranscriptError",
    "Turn",
    "build_lm",
]
