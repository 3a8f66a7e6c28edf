"""Lost-in-Conversation simulation: conversation modes, reply judging, the runner and trajectories."""

from intent_mediator.simulation.conversation import MODES, ConversationSettings, run_conversation
from intent_mediator.simulation.ergo import ErgoConfig, calibrate_threshold
from intent_mediator.simulation.judging import (
    Judgement,
    LLMClassifier,
    LLMExtractor,
    ReplyJudge,
    classify_by_rules,
)
from intent_mediator.simulation.runner import evaluate, simulate
from intent_mediator.simulation.trajectory import Trajectory, TrajectoryLog, TurnRecord

__all__ = [
    "MODES",
    "ConversationSettings",
    "ErgoConfig",
    "Judgement",
    "LLMClassifier",
    "LLMExtractor",
    "ReplyJudge",
    "Trajectory",
    "TrajectoryLog",
    "TurnRecord",
    "calibrate_threshold",
    "classify_by_rules",
    "evaluate",
    "run_conversation",
    "simulate",
]
