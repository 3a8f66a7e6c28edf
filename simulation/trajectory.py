"""`Trajectory`: one simulated conversation, written as one JSON line; and the append-only run log."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pydantic
from intent_mediator.errors import IntentMediatorError

logger = logging.getLogger(__name__)


class TrajectoryFileError(IntentMediatorError, ValueError):
    """A trajectories file holds a line that is not a trajectory (named by file and line number)."""


class TurnRecord(pydantic.BaseModel):
    """One user turn and the assistant's reply, with how the reply was judged."""

    index: int
    user: str
    shard_id: int | None = None
    request: str | None = None  # what the Mediator sent the assistant (mediated mode)
    mediation: str | None = None  # mediated mode: the path the request took (`Mediator`: rewrite, repaired, ...)
    assistant: str = ""
    kind: str = "missing"
    answer: str | None = None
    score: float | None = None  # 0-1, only for answer attempts
    reason: str | None = None
    note: str | None = None  # e.g. the user simulator's corrected choice
    fact_loss: float | None = None  # mediated mode: share of the user's values in force the request lost (facts.py)
    entropy: float | None = None  # mean token entropy of the reply, nats (ergo mode)
    reset: dict[str, Any] | None = None  # ergo mode: the reset before this reply (entropies, rewritten prompt)
    cut_off: bool | None = None  # the reply stopped at its token cap (finish reason "length"); None: unknown


class Trajectory(pydantic.BaseModel):
    """A whole conversation. `score` is 0-100 (the last evaluated answer attempt; in recap mode the recap turn's),
    None when the run errored. `turn_capped` marks a multi-turn conversation that reached the turn bound with
    shards still unrevealed; `fingerprint` is the run configuration it was made with (see
    `simulation.fingerprint`) plus the content hash of its record."""

    task_id: str
    task: str
    mode: str
    run: int
    persona: str = "lazy"
    user_sim: str = "deterministic"
    turns: list[TurnRecord] = pydantic.Field(default_factory=list)
    score: float | None = None
    outcome: str = "unsolved"  # solved | unsolved | error
    error: str | None = None
    usage: dict[str, dict[str, float]] = pydantic.Field(default_factory=dict)
    seconds: float = 0.0
    models: dict[str, str | None] = pydantic.Field(default_factory=dict)
    guidelines: list[str] | None = None
    turn_capped: bool = False
    fingerprint: dict[str, Any] | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.task_id, self.mode, self.run)


class TrajectoryLog:
    """Append-only JSONL of trajectories. Each line is flushed and synced before the next conversation starts,
    so a killed run loses at most the conversations in flight; a rerun skips every key already finished."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def read(self) -> list[Trajectory]:
        """Every complete line. A torn last line (the process was killed mid-write: no final newline and not
        valid JSON) is skipped, so its conversation counts as not run; any other bad line is an error.

        Raises:
            TrajectoryFileError: a line that is not a trajectory, naming the file and line number (a ValueError).
        """
        if not self.path.is_file():
            return []
        text = self.path.read_text(encoding="utf-8", errors="replace")
        lines = text.split("\n")
        out = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                if number == len(lines):  # the last line has no newline: a write that never finished
                    logger.warning("%s:%d: dropping a torn last line (a run killed mid-write)", self.path, number)
                    continue
                raise TrajectoryFileError(f"{self.path}:{number}: not a JSON line ({exc.msg})") from None
            try:
                out.append(Trajectory.model_validate(data))
            except pydantic.ValidationError as exc:
                problem = exc.errors()[0]["msg"]
                raise TrajectoryFileError(f"{self.path}:{number}: not a trajectory line ({problem})") from None
        return out

    def drop_torn_tail(self) -> bool:
        """Cut an unfinished last line off the file so the next append starts on a line of its own; returns
        whether anything was cut. A last line that parses but lost only its newline is kept and terminated."""
        if not self.path.is_file():
            return False
        with self._lock, open(self.path, "rb+") as handle:
            data = handle.read()
            if not data or data.endswith(b"\n"):
                return False
            start = data.rfind(b"\n") + 1
            try:
                json.loads(data[start:])
            except ValueError:
                handle.truncate(start)
                logger.warning("%s: cut a torn last line; its conversation will be rerun", self.path)
                return True
            handle.write(b"\n")
            return False

    def latest(self) -> list[Trajectory]:
        """The last line per (task_id, mode, run): a retried error is superseded by its retry."""
        by_key: dict[tuple[str, str, int], Trajectory] = {}
        for trajectory in self.read():
            by_key[trajectory.key] = trajectory
        return list(by_key.values())

    def finished_keys(self) -> set[tuple[str, str, int]]:
        return {t.key for t in self.latest() if t.error is None}

    def append(self, trajectory: Trajectory) -> None:
        line = trajectory.model_dump_json() + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
