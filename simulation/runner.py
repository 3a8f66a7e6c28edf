"""Run many conversations: parallel over threads, resumable, with a progress bar, ETA and running cost.

Output folder contract (other tools read it):
    run.json            the run's configuration (see `simulation.fingerprint`) and a content hash per record
    trajectories.jsonl  one line per conversation: task_id, task, mode, run, score (0-100 or null),
                        error (null or a message), turns, usage per role, turn_capped, fingerprint, ...
    summary.json        per task and mode: P, A90, U90_10, R, n (plus CIs, overall, recovery, turn_capped)
A rerun over the same folder skips every (task_id, mode, run) already finished and retries errored ones; it is
refused when the configuration differs from run.json. A torn last line (a run killed mid-write) is cut and its
conversation rerun.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intent_mediator.data.records import Instruction
from intent_mediator.files import write_json_atomic
from intent_mediator.simulation.conversation import MODES, ConversationSettings, run_conversation
from intent_mediator.simulation.fingerprint import check_and_write, record_digest, settings_fingerprint
from intent_mediator.simulation.trajectory import Trajectory, TrajectoryLog
from intent_mediator.simulation.usage import merge_usage
from intent_mediator.stats import summarize

logger = logging.getLogger(__name__)


@dataclass
class EvaluationResult:
    summary: dict[str, Any]
    new: int
    skipped: int
    errors: int
    out_dir: Path
    first_error: str | None = None  # "task/mode/run k: error" of the first conversation run now that failed


def summary_of(log: TrajectoryLog) -> dict[str, Any]:
    latest = log.latest()
    summary = summarize(t.model_dump(include={"task_id", "task", "mode", "score", "error"}) for t in latest)
    summary["usage"] = merge_usage([t.usage for t in latest])
    summary["conversations"] = len(latest)
    # Conversations that hit the turn bound with shards unrevealed: counted so a report can say how many.
    capped: dict[str, int] = {}
    for trajectory in latest:
        if trajectory.turn_capped:
            capped[trajectory.mode] = capped.get(trajectory.mode, 0) + 1
    summary["turn_capped"] = capped
    return summary


def simulate(
    records: Iterable[Instruction],
    modes: Iterable[str],
    runs: int,
    settings: ConversationSettings,
    *,
    workers: int = 4,
    skip: set[tuple[str, str, int]] | None = None,
    progress: bool = False,
    desc: str = "conversations",
    on_trajectory: Callable[[Trajectory], None] | None = None,
) -> list[Trajectory]:
    """Simulate every (record, mode, run) not in `skip` over a thread pool; return the trajectories."""
    modes = list(modes)
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown:
        raise ValueError(f"unknown mode(s) {unknown}; modes: {', '.join(MODES)}")
    if runs < 1:
        raise ValueError("runs must be at least 1")
    skip = skip or set()
    jobs = [(r, m, k) for r in records for m in modes for k in range(runs) if (r.task_id, m, k) not in skip]
    config = settings_fingerprint(settings)
    digests = {r.task_id: record_digest(r) for r, _, _ in jobs}
    results: list[Trajectory] = []
    errors, cost = 0, 0.0
    bar = None
    if progress and jobs:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc=desc, unit="conv", dynamic_ncols=True)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="conversation") as pool:
        futures = [pool.submit(run_conversation, record, mode, run, settings) for record, mode, run in jobs]
        for future in as_completed(futures):
            trajectory = future.result()
            trajectory.fingerprint = {**config, "record": digests.get(trajectory.task_id)}
            results.append(trajectory)
            errors += trajectory.error is not None
            cost += sum(values.get("cost", 0.0) for values in trajectory.usage.values())
            if on_trajectory:
                on_trajectory(trajectory)
            if bar is not None:
                bar.set_postfix(errors=errors, cost=f"${cost:.4f}", refresh=False)
                bar.update()
    if bar is not None:
        bar.close()
    return results


def evaluate(
    records: Iterable[Instruction],
    modes: Iterable[str],
    runs: int,
    out_dir: str | Path,
    settings: ConversationSettings,
    *,
    workers: int = 4,
    progress: bool = True,
    on_trajectory: Callable[[Trajectory], None] | None = None,
) -> EvaluationResult:
    """Simulate every (record, mode, run) not yet finished in `out_dir`, append trajectories, write the summary.

    Args:
        records: Validated instructions.
        modes: Conversation modes (see `MODES`).
        runs: Runs per instruction and mode (distinct samples when temperature > 0).
        out_dir: Output folder; created if missing, resumed if present.
        settings: Roles, user simulator, persona, classifier and the program evaluated in mediated mode.
        workers: Conversations in flight at once (threads).
        progress: Show a tqdm progress bar with ETA, errors and running cost.
        on_trajectory: Called with each finished trajectory (e.g. to print it).

    Raises:
        RunConfigError: `out_dir` was run with another configuration (the message names the fields).
    """
    records, modes = list(records), list(modes)
    out_dir = Path(out_dir)
    log = TrajectoryLog(out_dir / "trajectories.jsonl")
    check_and_write(
        out_dir,
        settings_fingerprint(settings),
        records=records,
        extent={"modes": modes, "runs": runs},
        legacy_trajectories=log.path.is_file() and log.path.stat().st_size > 0,
    )
    log.drop_torn_tail()
    finished = log.finished_keys()
    wanted = {(r.task_id, m, k) for r in records for m in modes for k in range(runs)}

    def record(trajectory: Trajectory) -> None:
        log.append(trajectory)
        if on_trajectory:
            on_trajectory(trajectory)

    done = simulate(
        records, modes, runs, settings, workers=workers, skip=finished, progress=progress, on_trajectory=record
    )
    summary = summary_of(log)
    write_json_atomic(out_dir / "summary.json", summary)
    return EvaluationResult(
        summary=summary,
        new=len(done),
        skipped=len(wanted & finished),
        errors=sum(t.error is not None for t in done),
        out_dir=out_dir,
        first_error=next((f"{t.task_id}/{t.mode}/run {t.run}: {t.error}" for t in done if t.error), None),
    )
