"""`intent-mediator evaluate`, `report` and `demo`: simulate, score and report Lost-in-Conversation runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from intent_mediator.commands.common import (
    at_least_one,
    conversation_settings,
    load_run_records,
    mode_list,
    output_dir,
    print_summary,
    run_flags,
    split_list,
)
from intent_mediator.errors import IntentMediatorError


def configure_evaluate(parser: argparse.ArgumentParser) -> None:
    run_flags(parser)
    parser.add_argument(
        "--modes",
        default="full,sharded,mediated",
        type=mode_list,
        help="comma-separated: full, concat, sharded, recap, snowball, mediated",
    )
    parser.add_argument("--runs", type=at_least_one, default=1, help="runs per instruction and mode (default 1)")
    parser.add_argument(
        "--out", required=True, type=output_dir, metavar="DIR", help="output folder; an existing one is resumed"
    )


def _evaluate(args: argparse.Namespace, records: list):
    from intent_mediator.simulation.runner import evaluate

    return evaluate(
        records,
        split_list(args.modes),
        args.runs,
        args.out,
        conversation_settings(args),
        workers=args.workers,
        progress=not args.no_progress,
    )


def run_evaluate(args: argparse.Namespace) -> int:
    result = _evaluate(args, load_run_records(args))
    print(
        f"{result.new} conversations run, {result.skipped} already finished, {result.errors} errors "
        f"-> {Path(args.out) / 'trajectories.jsonl'}"
    )
    print_summary(result.summary)
    return 0


def configure_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="an evaluate --out folder")
    parser.add_argument("--title", help="report title")


def run_report(args: argparse.Namespace) -> int:
    from intent_mediator.report import write_report

    try:
        paths = write_report(args.run_dir, args.title)
    except FileNotFoundError as exc:
        raise IntentMediatorError(str(exc)) from None
    print(f"wrote {paths['markdown']} and {paths['html']}")
    return 0


DEMO_TASKS = "im-math-02,im-math-03,im-math-09"


def configure_demo(parser: argparse.ArgumentParser) -> None:
    run_flags(parser)
    # One llama.cpp slot answers at a time; a reply cap keeps a 2-core demo within minutes.
    parser.set_defaults(workers=1, max_tokens=320)
    parser.add_argument("--task-ids", default=DEMO_TASKS, help=f"records to run (default {DEMO_TASKS})")
    parser.add_argument("--modes", default="full,sharded,mediated", type=mode_list, help="conversation modes")
    parser.add_argument("--runs", type=at_least_one, default=1, help="runs per instruction and mode")
    parser.add_argument(
        "--out", default="runs/demo", type=output_dir, metavar="DIR", help="output folder (default runs/demo)"
    )


def run_demo(args: argparse.Namespace) -> int:
    import time

    from intent_mediator.report import write_report

    wanted = split_list(args.task_ids) or []
    records = [r for r in load_run_records(args) if r.task_id in wanted]
    if not records:
        raise IntentMediatorError(f"--task-ids matched no record in {args.data}")
    print(
        f"demo: {len(records)} tasks x modes {args.modes} on {args.assistant or args.model or 'the embedded model'}"
        f" -> {args.out}",
        flush=True,
    )
    started = time.perf_counter()
    result = _evaluate(args, records)
    paths = write_report(args.out, "intent-mediator demo", result.summary)
    print_summary(result.summary)
    print(f"{result.new} conversations in {time.perf_counter() - started:.0f} s; report: {paths['markdown']}")
    return 0
