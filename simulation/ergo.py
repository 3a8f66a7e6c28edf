"""ERGO in the simulator: its settings, the assistant's context across resets, and threshold calibration.

Calibration (`calibrate_threshold`): ERGO's threshold is model-specific (an entropy rise that is a spike for one
model is noise for another), so it is set from calibration conversations with the evaluated assistant, on
records kept apart from the evaluation records:
1. the calibration records run in `ergo` mode with resets switched off (threshold = infinity): each
   conversation is a sharded one whose replies carry their mean token entropy;
2. the entropy rises between consecutive replies are collected;
3. `select="percentile"`: the threshold is the given percentile of those rises (90: about one turn in ten
   resets); `select="score"`: each candidate percentile's threshold runs ERGO on the calibration records and
   the best mean score wins (ties go to the higher threshold, which resets less and costs less).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from intent_mediator.data.records import Instruction
from intent_mediator.programs.ergo import DEFAULT_THRESHOLD, DEFAULT_TOP_LOGPROBS, ErgoAssistant
from intent_mediator.transcript import Turn

if TYPE_CHECKING:
    from intent_mediator.simulation.conversation import ConversationSettings
    from intent_mediator.simulation.trajectory import Trajectory, TurnRecord

logger = logging.getLogger(__name__)

SELECTIONS = ("percentile", "score")
DEFAULT_PERCENTILES = (50.0, 75.0, 90.0, 95.0)


@dataclass(frozen=True)
class ErgoConfig:
    """How `ergo` mode runs.

    Args:
        threshold: Entropy rise (nats) between consecutive replies that triggers a reset.
        top_logprobs: Alternatives per token asked of the provider (the reference code uses 20).
    """

    threshold: float = DEFAULT_THRESHOLD
    top_logprobs: int = DEFAULT_TOP_LOGPROBS

    def __post_init__(self) -> None:
        if math.isnan(self.threshold):
            raise ValueError("the ERGO threshold must be a number")
        if self.top_logprobs < 1:
            raise ValueError(f"ERGO's top_logprobs must be at least 1, got {self.top_logprobs}")


class ErgoSession:
    """The assistant's context in one `ergo` conversation: the last reset's prompt plus every turn since."""

    def __init__(self, assistant: ErgoAssistant):
        self.assistant = assistant
        self.prefix: list[Turn] = []
        self.start = 0
        self.previous: float | None = None

    def view(self, transcript: list[Turn]) -> list[Turn]:
        """What the assistant sees of the conversation `transcript` (the user's view)."""
        return [*self.prefix, *transcript[self.start :]]

    def exchange(self, transcript: list[Turn], turn: TurnRecord) -> str:
        """Answer the last user turn of `transcript`; record the entropy (and any reset) on `turn`."""
        out = self.assistant(transcript=self.view(transcript), previous_entropy=self.previous)
        turn.entropy = out.entropy
        if out.reset is not None:
            turn.reset = {"turn": turn.index, **out.reset}
            self.prefix, self.start = list(out.context), len(transcript)
        self.previous = out.entropy
        return out.response


def entropy_jumps(trajectories: Iterable[Trajectory]) -> list[float]:
    """Rises of the mean reply entropy between consecutive turns, over conversations without errors."""
    jumps: list[float] = []
    for trajectory in trajectories:
        if trajectory.error is not None:
            continue
        values = [t.entropy for t in trajectory.turns if t.entropy is not None]
        jumps.extend(later - earlier for earlier, later in itertools.pairwise(values))
    return jumps


def rises_needed(percentile: float) -> int:
    """Rises needed for the `percentile`th percentile to have at least one rise above it: 100 / (100 - q),
    rounded up (10 for the 90th). With fewer, the "percentile" is the largest rise seen, or an interpolation
    between the few there are (two falling entropies gave a negative threshold, a reset at nearly every turn)."""
    return 1 if percentile >= 100 else math.ceil(100 / (100 - percentile) - 1e-9)


@dataclass
class CalibrationResult:
    """The calibrated threshold and the evidence behind it (written as JSON next to a run)."""

    threshold: float
    select: str
    percentile: float | None
    jumps: list[float]
    candidates: list[dict[str, Any]] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    runs: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "select": self.select,
            "percentile": self.percentile,
            "jumps": {
                "n": len(self.jumps),
                "mean": float(np.mean(self.jumps)) if self.jumps else None,
                "percentiles": {str(q): float(np.percentile(self.jumps, q)) for q in DEFAULT_PERCENTILES}
                if self.jumps
                else {},
                "values": self.jumps,
            },
            "candidates": self.candidates,
            "records": self.records,
            "runs": self.runs,
        }


def calibrate_threshold(
    records: list[Instruction],
    settings: ConversationSettings,
    *,
    runs: int = 1,
    select: str = "percentile",
    percentile: float = 90.0,
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES,
    workers: int = 1,
    progress: bool = False,
) -> CalibrationResult:
    """ERGO's threshold for `settings`' assistant, from calibration conversations on `records` (see module doc).

    Args:
        records: Calibration records, kept apart from the records the threshold will be evaluated on.
        settings: The evaluation's settings (assistant model, sampling, user simulator); its ERGO threshold is
            ignored, its `top_logprobs` kept.
        runs: Runs per record (distinct samples when the assistant samples).
        select: "percentile" or "score".
        percentile: The percentile of entropy rises used by `select="percentile"`.
        percentiles: The candidate percentiles tried by `select="score"`.

    Raises:
        ValueError: an unknown `select`, no records, or no entropy rise observed (one-turn conversations only,
            or every calibration conversation failed: the first error is named), or, for `select="percentile"`,
            fewer rises than the percentile needs (`rises_needed`).
    """
    from intent_mediator.simulation.runner import simulate

    if select not in SELECTIONS:
        raise ValueError(f"select must be one of {SELECTIONS}, got {select!r}")
    if not records:
        raise ValueError("ERGO calibration needs at least one record")
    measuring = replace(settings, ergo=replace(settings.ergo, threshold=math.inf))
    observed = simulate(records, ["ergo"], runs, measuring, workers=workers, progress=progress, desc="ERGO calibration")
    jumps = entropy_jumps(observed)
    if not jumps:
        failed = next((t.error for t in observed if t.error), None)
        raise ValueError(
            "ERGO calibration observed no entropy rise between turns"
            + (f"; a calibration conversation failed: {failed}" if failed else " (are the records single-turn?)")
        )
    ids = [r.task_id for r in records]
    if select == "percentile":
        needed = rises_needed(percentile)
        if len(jumps) < needed:
            raise ValueError(
                f"ERGO calibration observed {len(jumps)} entropy rise(s) between turns on {len(records)} record(s); "
                f"the {percentile:g}th percentile needs at least {needed}, so that some rise lies above it (add "
                "calibration records of these tasks, or runs with --ergo-calibration-runs)"
            )
        threshold = float(np.percentile(jumps, percentile))
        logger.info("ERGO threshold %.4f = %gth percentile of %d entropy rises", threshold, percentile, len(jumps))
        return CalibrationResult(threshold, select, percentile, jumps, records=ids, runs=runs)
    candidates: list[dict[str, Any]] = []
    for q in percentiles:
        threshold = float(np.percentile(jumps, q))
        trial = replace(settings, ergo=replace(settings.ergo, threshold=threshold))
        done = simulate(records, ["ergo"], runs, trial, workers=workers, progress=progress, desc=f"ERGO p{q:g}")
        scores = [t.score for t in done if t.score is not None]
        resets = sum(t.reset is not None for d in done for t in d.turns)
        candidates.append(
            {
                "percentile": q,
                "threshold": threshold,
                "P": float(np.mean(scores)) if scores else None,
                "resets": resets,
                "conversations": len(done),
            }
        )
    scored = [c for c in candidates if c["P"] is not None]
    if not scored:
        raise ValueError("ERGO calibration: every candidate threshold's conversations failed")
    best = max(scored, key=lambda c: (c["P"], c["threshold"]))
    return CalibrationResult(best["threshold"], select, best["percentile"], jumps, candidates, ids, runs)
