"""An OpenAI-compatible server that puts a compiled Mediator in front of any chat model."""

from intent_mediator.server.app import create_app
from intent_mediator.server.config import ServerConfig

__all__ = ["ServerConfig", "create_app"]
