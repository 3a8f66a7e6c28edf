"""intent-mediator: a DSPy program that keeps LLMs from getting lost in multi-turn conversation.

A Mediator rewrites the whole transcript, guided by learned guidelines, into one explicit request; the
assistant sees only that request. See README.md.
"""

from intent_mediator.artifacts import ArtifactError, load_mediator, save_artifact
from intent_mediator.data.loaders import load_records
from intent_mediator.data.records import Instruction, RecordError
from intent_mediator.engines import EmbeddedEngine, RecordedRequest, ScriptedCall, ScriptedEngine
from intent_mediator.errors import IntentMediatorError, ModelConfigError, ModelNotFoundError, TranscriptError
from intent_mediator.examples import to_example, to_examples
from intent_mediator.lm import ROLES, RoleLMs, build_lm
from intent_mediator.metrics import MetricResult, task_metric
from intent_mediator.optimizers import BudgetExhausted, LMBudget, Refiner, RefinerError
from intent_mediator.programs import Assistant, ErgoAssistant, MediatedAssistant, Mediator
from intent_mediator.signatures import AnswerRequest, ContrastivePair, DistillGuidelines, MediateRequest, ReplyInChat
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.transcript import Turn

__version__ = "0.1.0"

__all__ = [
    "ROLES",
    "AnswerRequest",
    "ArtifactError",
    "Assistant",
    "BudgetExhausted",
    "ContrastivePair",
    "ConversationSettings",
    "DistillGuidelines",
    "EmbeddedEngine",
    "ErgoAssistant",
    "Instruction",
    "IntentMediatorError",
    "LMBudget",
    "MediateRequest",
    "MediatedAssistant",
    "Mediator",
    "MetricResult",
    "ModelConfigError",
    "ModelNotFoundError",
    "RecordError",
    "RecordedRequest",
    "Refiner",
    "RefinerError",
    "ReplyInChat",
    "RoleLMs",
    "ScriptedCall",
    "ScriptedEngine",
    "TranscriptError",
    "Turn",
    "build_lm",
    "load_mediator",
    "load_records",
    "save_artifact",
    "task_metric",
    "to_example",
    "to_examples",
]
