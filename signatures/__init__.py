"""Typed `dspy.Signature` classes. Every prompt the library sends lives in their docstrings and field descs."""

from intent_mediator.signatures.assistant import AnswerRequest, ReplyInChat
from intent_mediator.signatures.mediator import (
    MediateRequest,
    RepairRequest,
    render_instructions,
    split_instructions,
)
from intent_mediator.signatures.refiner import ContrastivePair, DistillGuidelines

__all__ = [
    "AnswerRequest",
    "ContrastivePair",
    "DistillGuidelines",
    "MediateRequest",
    "RepairRequest",
    "ReplyInChat",
    "render_instructions",
    "split_instructions",
]
