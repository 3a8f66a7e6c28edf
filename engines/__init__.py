"""DSPy 3.4 engines (`complete(Request) -> Response`): the scripted test double and the embedded model."""

from intent_mediator.engines.embedded import (
    DEFAULT_EMBEDDED_MODEL,
    EMBEDDED_MODELS,
    EmbeddedEngine,
    ensure_model_file,
)
from intent_mediator.engines.scripted import RecordedRequest, ScriptedCall, ScriptedEngine, ScriptedEngineError

__all__ = [
    "DEFAULT_EMBEDDED_MODEL",
    "EMBEDDED_MODELS",
    "EmbeddedEngine",
    "RecordedRequest",
    "ScriptedCall",
    "ScriptedEngine",
    "ScriptedEngineError",
    "ensure_model_file",
]
