"""Per-user recompilation as a job: every user with enough new feedback gets a fresh artifact.

`compile --from-logs <store> --per-user` runs it. The job reads who gave feedback since their own artifact was
compiled (`meta.json` records the newest feedback it learnt from), compiles each such (user, domain) in
parallel, on a local thread pool or on Ray, and writes each artifact atomically as soon as it is done. A killed
job therefore resumes by running again: finished users have no new feedback and are skipped, and a compile
function given an optuna storage per user resumes its own search.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from intent_mediator.artifacts import KEPT_FILE, artifact_dir, read_kept, read_meta, save_artifact
from intent_mediator.errors import IntentMediatorError
from intent_mediator.files import write_json_atomic
from intent_mediator.programs import MediatedAssistant
from intent_mediator.simulation.trajectory import Trajectory
from intent_mediator.stores import open_log_store
from intent_mediator.stores.base import LogStore

logger = logging.getLogger(__name__)

BACKENDS = ("threads", "ray")

# compile_one(user, domain, trajectories) -> (program, meta): the Refiner (or any optimizer) for one user.
CompileOne = Callable[[str, str, list[Trajectory]], tuple[MediatedAssistant, dict[str, Any]]]


@dataclass(frozen=True)
class PendingUser:
    """A (user, domain) with `new_feedback` conversations marked after `since` (None: no artifact yet)."""

    user: str
    domain: str
    new_feedback: int
    since: float | None


class KeepCurrent(Exception):
    """Raised by a `CompileOne` that decides the user keeps the artifact they are served now (no failure to learn
    from, or nothing beat it): no artifact is written, and the result says why (`RecompileResult.kept`), without
    counting as a failure. The decision is recorded in the user's artifact folder (`artifacts.KEPT_FILE`, with the
    newest feedback read), so the user is pending again only after `min_feedback` newer feedback, as after a
    compile. Subclass it to name the reason."""


@dataclass(frozen=True)
class RecompileResult:
    """One (user, domain) of a recompile job: the artifact written, or why none was (`kept` or `error`, as
    "<exception class>: <message>")."""

    user: str
    domain: str
    artifact: str | None
    conversations: int
    seconds: float
    error: str | None = None
    kept: str | None = None


def feedback_until(artifacts: str | Path, user: str, domain: str) -> float | None:
    """The newest feedback time the user's last compile read: the later of their own artifact's and of a
    decision to keep what they are served (None: neither exists)."""
    folder = artifact_dir(artifacts, user, domain)
    times = []
    if (folder / "meta.json").is_file():
        times.append(read_meta(folder).get("feedback_until"))
    if (kept := read_kept(folder)) is not None:
        times.append(kept.get("feedback_until"))
    known = [t for t in times if t is not None]
    return max(known) if known else None


def pending_users(
    store: LogStore, artifacts: str | Path, *, min_feedback: int = 5, domains: list[str] | None = None
) -> list[PendingUser]:
    """Users whose feedback since their last artifact reaches `min_feedback`, in (user, domain) order."""
    if min_feedback < 1:
        raise IntentMediatorError(f"--min-feedback must be at least 1, got {min_feedback}")
    out = []
    for (user, domain), total in sorted(store.feedback_counts().items()):
        if domains and domain not in domains:
            continue
        since = feedback_until(artifacts, user, domain)
        new = total if since is None else store.feedback_counts(since=since).get((user, domain), 0)
        if new >= min_feedback:
            out.append(PendingUser(user, domain, new, since))
    return out


def recompile_one(store_url: str, artifacts: str, pending: PendingUser, compile_one: CompileOne) -> RecompileResult:
    """Compile one user's artifact from their logs; a failure is returned as the result's error, not raised."""
    started = time.perf_counter()
    store = open_log_store(store_url)
    rows, newest = [], None
    try:
        rows = store.conversations(pending.user, pending.domain)
        trajectories = store.trajectories(pending.user, pending.domain)
        newest = max((row.feedback_at for row in rows if row.feedback_at is not None), default=None)
        program, meta = compile_one(pending.user, pending.domain, trajectories)
        folder = save_artifact(
            program,
            artifacts,
            user=pending.user,
            domain=pending.domain,
            meta={**meta, "feedback_until": newest, "feedback_conversations": len(rows)},
        )
        (folder / KEPT_FILE).unlink(missing_ok=True)  # an earlier decision to keep, now superseded
        return RecompileResult(
            pending.user, pending.domain, str(folder), len(rows), round(time.perf_counter() - started, 3)
        )
    except KeepCurrent as exc:
        kept = f"{type(exc).__name__}: {exc}"
        decision = {"reason": kept, "feedback_until": newest, "feedback_conversations": len(rows)}
        seconds = round(time.perf_counter() - started, 3)
        try:
            write_json_atomic(artifact_dir(artifacts, pending.user, pending.domain) / KEPT_FILE, decision)
        except OSError as failed:  # unrecorded, the user would be compiled again on every job
            logger.warning("%s/%s: recording the decision to keep failed: %s", pending.user, pending.domain, failed)
            error = f"{kept}; recording it failed: {type(failed).__name__}: {failed}"
            return RecompileResult(pending.user, pending.domain, None, len(rows), seconds, error)
        logger.info("%s/%s keeps its current artifact: %s", pending.user, pending.domain, exc)
        return RecompileResult(pending.user, pending.domain, None, len(rows), seconds, kept=kept)
    except Exception as exc:  # one user's failure must not stop the others; the job reports it
        logger.warning("recompiling %s/%s failed: %s", pending.user, pending.domain, exc)
        error = f"{type(exc).__name__}: {exc}"
        return RecompileResult(pending.user, pending.domain, None, 0, round(time.perf_counter() - started, 3), error)
    finally:
        store.close()


def recompile_users(
    store_url: str,
    artifacts: str | Path,
    compile_one: CompileOne,
    *,
    min_feedback: int = 5,
    domains: list[str] | None = None,
    workers: int = 2,
    backend: str = "threads",
    on_result: Callable[[RecompileResult], None] | None = None,
) -> list[RecompileResult]:
    """Recompile every pending user, `workers` at a time, on threads or Ray; results in (user, domain) order.

    Args:
        store_url: The log store (`sqlite:///...`, a path, or `postgresql://...`); each worker opens its own.
        artifacts: Artifact root the users' artifacts are read from and written to.
        compile_one: Compiles one user's program from their logged trajectories. For Ray it must pickle
            (a module-level function or a `functools.partial` of one).
        min_feedback: New feedback a user needs before being recompiled.
        domains: Only these domains (default: every domain with feedback).
        workers: Users compiled at once (threads), or Ray tasks in flight.
        backend: "threads" or "ray" (`pip install intent-mediator[ray]`; uses a running Ray or starts one).
        on_result: Called as each user finishes (progress output).
    """
    if backend not in BACKENDS:
        raise IntentMediatorError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if workers < 1:
        raise IntentMediatorError(f"--workers must be at least 1, got {workers}")
    store = open_log_store(store_url)
    try:
        pending = pending_users(store, artifacts, min_feedback=min_feedback, domains=domains)
    finally:
        store.close()
    logger.info("recompile: %d users with at least %d new feedback", len(pending), min_feedback)
    run = _on_ray if backend == "ray" else _on_threads
    results = run(str(store_url), str(artifacts), pending, compile_one, workers, on_result or (lambda r: None))
    return sorted(results, key=lambda r: (r.user, r.domain))


def _on_threads(store_url, artifacts, pending, compile_one, workers, on_result) -> list[RecompileResult]:
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="recompile") as pool:
        futures = [pool.submit(recompile_one, store_url, artifacts, p, compile_one) for p in pending]
        for future in concurrent.futures.as_completed(futures):
            results.append(future.result())
            on_result(results[-1])
    return results


def _on_ray(store_url, artifacts, pending, compile_one, workers, on_result) -> list[RecompileResult]:
    try:
        import ray
    except ImportError:
        raise IntentMediatorError("--backend ray needs Ray: pip install 'intent-mediator[ray]'") from None
    if not ray.is_initialized():
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    task = ray.remote(recompile_one)
    waiting = [task.remote(store_url, artifacts, p, compile_one) for p in pending]
    results = []
    while waiting:
        done, waiting = ray.wait(waiting, num_returns=1)
        results.append(ray.get(done[0]))
        on_result(results[-1])
    return results


def summary(results: list[RecompileResult]) -> dict[str, Any]:
    """What the job did, for its JSON report."""
    return {
        "compiled": sum(r.artifact is not None for r in results),
        "kept": sum(r.kept is not None for r in results),
        "failed": sum(r.error is not None for r in results),
        "results": [asdict(r) for r in results],
    }
