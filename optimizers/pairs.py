"""Contrastive pairs from trajectories: a failed multi-turn conversation (D-) and the explicit request that
solved the same task (D+: a fully specified prompt answered correctly, a successful mediated request, or, in
production logs, the user's own final successful request)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from intent_mediator.signatures.refiner import ContrastivePair
from intent_mediator.simulation.trajectory import Trajectory
from intent_mediator.transcript import Turn

MULTI_TURN_MODES = ("sharded", "recap", "snowball", "mediated")


@dataclass(frozen=True)
class SourcedPair:
    """A pair and where it came from (provenance for reports and artifact metadata)."""

    pair: ContrastivePair
    failed_mode: str
    failed_run: int
    success_source: str

    def describe(self) -> dict:
        return {
            "task_id": self.pair.task_id,
            "failed": f"{self.failed_mode}/run {self.failed_run}",
            "success": self.success_source,
        }


def transcript_of(trajectory: Trajectory) -> list[Turn]:
    turns: list[Turn] = []
    for turn in trajectory.turns:
        turns.append(Turn.user(turn.user))
        if turn.assistant:
            turns.append(Turn.assistant(turn.assistant))
    return turns


def successful_request(trajectory: Trajectory) -> str | None:
    """The explicit request that solved the task, or None when the trajectory did not succeed."""
    if trajectory.error is not None or trajectory.outcome != "solved" or not trajectory.turns:
        return None
    solving = next((t for t in trajectory.turns if t.score is not None and t.score >= 1.0), trajectory.turns[-1])
    if trajectory.mode == "mediated" and solving.request:
        return solving.request
    if trajectory.mode in ("full", "concat") or len(trajectory.turns) == 1:
        return solving.user
    return solving.user if trajectory.mode == "log" else None


def build_pairs(trajectories: Iterable[Trajectory]) -> list[SourcedPair]:
    """Pair every failed multi-turn trajectory with a successful explicit request for the same task.

    A fully specified prompt is preferred as D+ (it is what the user meant); a successful mediated or logged
    request is used when no such prompt succeeded.
    """
    trajectories = list(trajectories)
    preference = {"full": 0, "concat": 1, "mediated": 2, "log": 3}
    best: dict[str, tuple[int, str, str]] = {}
    for trajectory in trajectories:
        request = successful_request(trajectory)
        if request is None:
            continue
        rank = preference.get(trajectory.mode, 9)
        if trajectory.task_id not in best or rank < best[trajectory.task_id][0]:
            best[trajectory.task_id] = (rank, request, f"{trajectory.mode}/run {trajectory.run}")
    pairs = []
    for trajectory in trajectories:
        failed = (
            trajectory.mode in (*MULTI_TURN_MODES, "log")
            and trajectory.error is None
            and trajectory.outcome != "solved"
            and len(trajectory.turns) > 1
        )
        if not failed or trajectory.task_id not in best:
            continue
        _, request, source = best[trajectory.task_id]
        mediated = next((t.request for t in reversed(trajectory.turns) if t.request), None)
        pair = ContrastivePair(
            task_id=trajectory.task_id,
            failed_transcript=transcript_of(trajectory),
            successful_request=request,
            mediated_request=mediated,
        )
        pairs.append(SourcedPair(pair, trajectory.mode, trajectory.run, source))
    return sorted(pairs, key=lambda p: (p.pair.task_id, p.failed_mode, p.failed_run))
