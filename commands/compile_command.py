"""`intent-mediator compile`: learn Mediator guidelines for a user and domain, and write the artifact.

(The module is not called `compile.py`: that name would shadow the builtin `compile` wherever it is imported.)"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import random
from pathlib import Path
from typing import Any

from intent_mediator.commands.common import (
    DEFAULT_MEDIATOR_HISTORY,
    at_least_one,
    check_confirm_flags,
    conversation_settings,
    count,
    fraction,
    load_run_records,
    output_dir,
    run_flags,
)
from intent_mediator.errors import IntentMediatorError

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", dest="user_id", metavar="ID", help="user the guidelines are for (default: generic)")
    parser.add_argument("--domain", metavar="NAME", help="domain the guidelines are for (default: generic)")
    parser.add_argument(
        "--out", default="artifacts", type=output_dir, metavar="DIR", help="artifact root (default artifacts/)"
    )
    parser.add_argument("--optimizer", choices=("refiner", "gepa", "simba", "mipro"), default="refiner")
    parser.add_argument(
        "--mode",
        choices=("optimize", "paper"),
        default="optimize",
        help="refiner mode: optimize (validated search) or paper (one call, no validation)",
    )
    parser.add_argument(
        "--metric",
        default="task",
        help="the DSPy metric scoring answers: task (the task's own scorer, default) or module:function, "
        "called as metric(example, pred) with the record's example and pred.response / pred.answer",
    )
    parser.add_argument(
        "--selection",
        choices=("simulation", "proxy"),
        default="simulation",
        help="how the Refiner scores candidates: simulation (mediated conversations scored by --metric) or "
        "proxy (how faithfully the request keeps every shard; no assistant calls)",
    )
    parser.add_argument(
        "--trajectories",
        metavar="FILE",
        action="append",
        help="mine pairs from logged trajectories (JSONL) instead of simulating; repeatable",
    )
    parser.add_argument(
        "--from-logs",
        metavar="STORE",
        help="mine pairs from serve's conversation log (a SQLite path or a sqlite:// / postgresql:// URL) for "
        "--user and --domain",
    )
    group = parser.add_argument_group("per-user recompilation (with --from-logs)")
    group.add_argument(
        "--per-user",
        action="store_true",
        help="compile every user with at least --min-feedback new feedback since their own last artifact "
        "(each user's artifact is <out>/<user>/<domain>); rerun to resume",
    )
    group.add_argument("--min-feedback", type=at_least_one, default=5, help="new feedback a user needs (default 5)")
    group.add_argument("--jobs", type=at_least_one, default=2, help="users compiled at once (default 2)")
    group.add_argument(
        "--backend", choices=("threads", "ray"), default="threads", help="run the users on threads or as Ray tasks"
    )
    parser.add_argument(
        "--val-fraction", type=fraction, default=0.5, help="share of records held out for validation, in [0, 1)"
    )
    parser.add_argument("--rounds", type=at_least_one, default=2, help="refiner propose/select rounds")
    parser.add_argument("--candidates", type=at_least_one, default=3, help="guideline sets proposed per round")
    parser.add_argument(
        "--pairs-per-batch", type=at_least_one, default=5, help="contrastive pairs per distillation call"
    )
    parser.add_argument(
        "--mining-runs",
        type=at_least_one,
        default=1,
        help="samples per train task and mode when mining pairs (more runs, more pairs at temperature > 0)",
    )
    parser.add_argument(
        "--confirm-runs",
        type=count,
        default=0,
        help="fresh validation runs on which the search's winner must beat the uncompiled Mediator again before "
        "it ships (default 0: no confirmation; needs assistant sampling, temperature > 0)",
    )
    parser.add_argument(
        "--confirm-bar",
        choices=("higher", "interval"),
        default="higher",
        help="what the winner must show on those runs: a higher P (default), or a paired difference whose "
        "bootstrap 95%% interval over the validation tasks lies above 0",
    )
    parser.add_argument("--max-guidelines", type=at_least_one, default=8, help="longest guideline list kept")
    parser.add_argument("--storage", help="optuna storage URL (e.g. sqlite:///refiner.db) so a killed compile resumes")
    parser.add_argument("--max-lm-calls", type=at_least_one, help="hard cap on LM calls")
    parser.add_argument("--max-total-tokens", type=at_least_one, help="hard cap on LM tokens (as the LMs report them)")
    parser.add_argument("--seed", type=int, default=0)
    run_flags(parser)


def _metric(spec: str):
    """None for the task's own scorer, else the imported DSPy metric."""
    if spec == "task":
        return None
    if spec == "proxy":
        raise IntentMediatorError("--metric proxy: the faithfulness proxy is a selection, use --selection proxy")
    module, _, name = spec.partition(":")
    if not module or not name:
        raise IntentMediatorError(f"--metric {spec!r}: use 'task' or 'module:function'")
    try:
        metric = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise IntentMediatorError(f"--metric {spec!r}: cannot import it ({exc})") from None
    if not callable(metric):
        raise IntentMediatorError(f"--metric {spec!r}: {name} is not callable")
    return metric


def split_records(records: list, fraction: float, seed: int) -> tuple[list, list]:
    """A seeded split per task, so every task is represented in both halves when it has two records or more."""
    train, val = [], []
    for task in sorted({r.task for r in records}):
        group = sorted((r for r in records if r.task == task), key=lambda r: r.task_id)
        random.Random(seed).shuffle(group)
        cut = round(len(group) * fraction) if len(group) > 1 else 0
        val += group[:cut]
        train += group[cut:]
    return train, val or train


def run(args: argparse.Namespace) -> int:
    from intent_mediator.artifacts import save_artifact, validate_id

    validate_id(args.user_id, "user")
    validate_id(args.domain, "domain")
    if args.per_user:
        return _run_per_user(args)
    trajectories = None
    if args.from_logs:
        from intent_mediator.stores import open_log_store

        _check_store(args.from_logs)
        trajectories = open_log_store(args.from_logs).trajectories(
            validate_id(args.user_id, "user"), validate_id(args.domain, "domain")
        )
        print(f"{len(trajectories)} logged trajectories with feedback for user {args.user_id or 'generic'}")
    program, report, meta, record_run = compile_program(args, trajectories)
    target = save_artifact(program, Path(args.out), user=args.user_id, domain=args.domain, meta=meta)
    record_run()
    from intent_mediator.files import write_json_atomic

    write_json_atomic(target / "refiner_report.json", report)
    print(f"guidelines ({len(program.guidelines)}):")
    for number, rule in enumerate(program.guidelines, start=1):
        print(f"  {number}. {rule}")
    score = meta["validation_score"]
    if score is not None:
        print(f"validation P {report.get('baseline_score', float('nan')):.1f} -> {score:.1f}")
    if "confirmation" in report:
        c = report["confirmation"]
        verdict = "confirmed, it ships" if c["confirmed"] else "not confirmed, the uncompiled guidelines ship"
        low, high = c["difference_ci"]
        scores = f"winner {c['score']:.1f}, uncompiled {c['uncompiled_score']:.1f}"
        difference = f"difference {c['difference']:+.1f} [{low:+.1f}, {high:+.1f}], bar: {c['bar']}"
        print(f"confirmation on runs {c['runs']}: {scores}, {difference}: {verdict}")
    print(f"artifact: {target}/program.json")
    return 0


def compile_program(args: argparse.Namespace, logged: list | None = None) -> tuple[Any, dict, dict, Any]:
    """Compile the program these flags describe; `logged` trajectories are mined beside any --trajectories.

    Returns the program, the optimizer's report, the artifact's meta, and a function that writes the artifact
    folder's run.json (call it after saving the artifact).
    """
    from intent_mediator.optimizers.refiner import Refiner, confirmation_meta
    from intent_mediator.programs import MediatedAssistant
    from intent_mediator.simulation.trajectory import TrajectoryLog

    metric = _metric(args.metric)
    if args.optimizer != "refiner" and args.mediator_history != "full":
        history = args.mediator_history or f"{DEFAULT_MEDIATOR_HISTORY} (the default)"
        raise IntentMediatorError(
            f"--mediator-history {history}: --optimizer {args.optimizer} trains on fixed transcripts and supports "
            "only the full history; pass --mediator-history full, or use --optimizer refiner"
        )
    if args.optimizer != "refiner" and args.selection != "simulation":
        raise IntentMediatorError(f"--selection {args.selection}: only --optimizer refiner selects by proxy")
    if args.optimizer != "refiner" and args.confirm_runs:
        raise IntentMediatorError(f"--confirm-runs {args.confirm_runs}: only --optimizer refiner confirms its winner")
    check_confirm_flags(args.confirm_runs, args.confirm_bar)
    trajectories = None
    for path in args.trajectories or []:
        if not Path(path).is_file():
            raise IntentMediatorError(f"--trajectories: no such file {path}")
    if args.trajectories:
        trajectories = [t for path in args.trajectories for t in TrajectoryLog(path).latest()]
        if not trajectories:
            raise IntentMediatorError(f"--trajectories: no trajectories in {', '.join(args.trajectories)}")
    if logged is not None:
        trajectories = [*(trajectories or []), *logged]
    records = load_run_records(args)
    train, val = split_records(records, args.val_fraction, args.seed)
    settings = conversation_settings(args)
    student = settings.program.deepcopy() if settings.program else MediatedAssistant()
    folder = Path(args.out)
    _check_fingerprint(args, settings, folder, [*train, *val], write=False)  # refused before any LM call
    print(f"compile: {len(train)} training and {len(val)} validation records, optimizer {args.optimizer}", flush=True)
    if args.optimizer == "refiner":
        refiner = Refiner(
            metric,
            settings=settings,
            mode=args.mode,
            pairs_per_batch=args.pairs_per_batch,
            mining_runs=args.mining_runs,
            candidates_per_round=args.candidates,
            rounds=args.rounds,
            max_guidelines=args.max_guidelines,
            selection=args.selection,
            confirm_runs=args.confirm_runs,
            confirm_bar=args.confirm_bar,
            max_lm_calls=args.max_lm_calls,
            max_tokens=args.max_total_tokens,
            storage=args.storage,
            workers=args.workers,
            seed=args.seed,
            progress=not args.no_progress,
            study_name=f"refiner-{args.user_id or '_'}-{args.domain or '_'}",
        )
        program = refiner.compile(student, trainset=train, valset=val, trajectories=trajectories)
        report = program.refiner_report
    else:
        program, report = _compile_with_dspy(args, settings, metric, student, train, val, trajectories)
    program.mediator_history = settings.mediator_history
    meta = {
        "metric": args.metric,
        "selection": args.selection if args.optimizer == "refiner" else None,
        "optimizer": args.optimizer,
        "mode": args.mode if args.optimizer == "refiner" else None,
        # The validation score holds for this history only: serve the artifact with the same one.
        "mediator_history": settings.mediator_history,
        "validation_score": report.get("best", {}).get("score"),
        "baseline_score": report.get("baseline_score"),
        "models": settings.roles.models(),
        "source_pairs": report.get("best", {}).get("pairs", []),
        "train": [r.task_id for r in train],
        "val": [r.task_id for r in val],
    }
    meta.update(confirmation_meta(report))

    def record_run() -> None:
        """Write run.json; called once the artifact is saved, so a compile (or a save) that failed leaves the
        folder's run.json describing the artifact it still holds."""
        _check_fingerprint(args, settings, folder, [*train, *val], write=True)

    return program, report, meta, record_run


def _check_store(url: str) -> None:
    """A SQLite log store must exist: opening a mistyped path would create an empty one and compile nothing."""
    from intent_mediator.stores import StoreError
    from intent_mediator.stores.urls import sqlite_path

    try:
        path = sqlite_path(url)
    except StoreError as exc:
        raise IntentMediatorError(f"--from-logs: {exc}") from None
    if path is not None and not Path(path).is_file():
        raise IntentMediatorError(f"--from-logs: no such file {path}")


def _run_per_user(args: argparse.Namespace) -> int:
    from intent_mediator.files import write_json_atomic
    from intent_mediator.server.recompile import recompile_users, summary

    if not args.from_logs:
        raise IntentMediatorError("--per-user: give the log store with --from-logs")
    if args.user_id:
        raise IntentMediatorError("--per-user compiles every user with new feedback: drop --user")
    _check_store(args.from_logs)

    def report(result) -> None:
        if result.kept:
            status = f"kept its current artifact: {result.kept}"
        elif result.error:
            status = f"error: {result.error}"
        else:
            status = f"{result.conversations} conversations, {result.artifact}"
        print(f"  {result.user}/{result.domain}: {status} ({result.seconds:.1f} s)", flush=True)

    results = recompile_users(
        args.from_logs,
        args.out,
        functools.partial(compile_for_user, vars(args)),
        min_feedback=args.min_feedback,
        domains=[args.domain] if args.domain else None,
        workers=args.jobs,
        backend=args.backend,
        on_result=report,
    )
    done = summary(results)
    write_json_atomic(Path(args.out) / "recompile.json", done)
    kept = f", {done['kept']} kept their current artifact" if done["kept"] else ""
    print(
        f"per-user recompile: {done['compiled']} compiled{kept}, {done['failed']} failed, "
        f"of {len(results)} pending users"
    )
    return 1 if done["failed"] else 0


def compile_for_user(arg_values: dict, user: str, domain: str, trajectories: list) -> tuple[Any, dict]:
    """One user's compile in the per-user job (a module-level function of plain values, so Ray can ship it)."""
    args = argparse.Namespace(**{**arg_values, "user_id": user, "domain": domain, "per_user": False})
    program, _, meta, record_run = compile_program(args, trajectories)
    record_run()  # the job saves the artifact once this returns
    return program, meta


def _check_fingerprint(args, settings, folder: Path, records: list, *, write: bool) -> None:
    """Check, and with `write` record, the compile's configuration in the artifact folder's run.json; a
    `--storage` resume made with another configuration is refused (its stored trials would mix two
    configurations)."""
    from intent_mediator.artifacts import artifact_dir
    from intent_mediator.simulation.fingerprint import check_and_write, settings_fingerprint

    options: tuple[str, ...] = (
        "optimizer", "mode", "metric", "selection", "val_fraction", "rounds", "candidates", "pairs_per_batch"
    )  # fmt: skip
    if args.mining_runs != 1:  # recorded only when set: folders compiled before the flag existed still resume
        options += ("mining_runs",)
    config = {
        **settings_fingerprint(settings),
        "command": "compile",
        **{name: getattr(args, name) for name in (*options, "max_guidelines", "seed", "trajectories", "from_logs")},
    }
    folder = artifact_dir(folder, args.user_id, args.domain)
    check_and_write(folder, config, records=records, fresh=not args.storage, write=write)


def _compile_with_dspy(args, settings, metric, student, train, val, trajectories):
    from intent_mediator.metrics import task_metric
    from intent_mediator.optimizers.dspy_optimizers import compile_with_dspy, examples_from
    from intent_mediator.simulation.runner import simulate

    by_id = {r.task_id: r for r in [*train, *val]}
    if trajectories is None:
        trajectories = simulate([*train, *val], ["sharded"], 1, settings, workers=args.workers)
    train_ids = {r.task_id for r in train}
    examples = {True: [], False: []}
    for trajectory in trajectories:
        for example in examples_from([trajectory], by_id):
            examples[trajectory.task_id in train_ids].append(example)
    program = compile_with_dspy(
        args.optimizer,
        student,
        settings.roles,
        examples[True],
        examples[False] or None,
        metric=metric or task_metric(config=settings.task_config),
        seed=args.seed,
        threads=args.workers,
    )
    return program, {"optimizer": args.optimizer, "train_examples": len(examples[True])}
