"""Lost-in-Conversation simulation: conversation modes, reply judging, the runner and trajectories."""

from intent_mediator.simulation.conversation import MODES, ConversationSettings, run_conversation
from intent_mediator.simulation.ergo import ErgoConfig, calibrate_threshold
from intent_mediator.simulation.runner import evaluate, simulate
from intent_mediator.simulation.trajectory import Trajectory, TrajectoryLog, TurnRecord

__all__ = [
    "MODES",
    "ConversationSettings",
    "ErgoConfig",
    "Trajectory",
    "TrajectoryLog",
    "TurnRecord",
    "calibrate_threshold",
    "evaluate",
    "run_conversation",
    "simulate",
]
