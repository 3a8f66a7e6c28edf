"""`Trajectory`: one simulated conversation, written as one JSON line; and the append-only run log."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pydantic


class TurnRecord(pydantic.BaseModel):
    """One user turn and the assistant's reply, with how the reply was judged."""

    index: int
    user: str
    shard_id: int | None = None
    request: str | None = None  # what the Mediator sent the assistant (mediated mode)
    assistant: str = ""
    kind: str = "missing"
    answer: str | None = None
    score: float | None = None  # 0-1, only for answer attempts
    reason: str | None = None
    note: str | None = None  # e.g. the user simulator's corrected choice
    entropy: float | None = None  # mean token entropy of the reply, nats (ergo mode)
    reset: dict[str, Any] | None = None  # ergo mode: the reset before this reply (entropies, rewritten prompt)


class Trajectory(pydantic.BaseModel):
    """A whole conversation. `score` is 0-100 (the last evaluated answer attempt), None when the run errored."""

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
        """Every readable line; a torn last line (a crash mid-write) is skipped."""
        if not self.path.is_file():
            return []
        out = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                out.append(Trajectory.model_validate_json(line))
            except pydantic.ValidationError as exc:
                raise ValueError(f"{self.path}:{number}: not a trajectory line ({exc.errors()[0]['msg']})") from None
            except json.JSONDecodeError:
                continue
        return out

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
