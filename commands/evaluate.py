"""`intent-mediator evaluate` and `report`: simulate, score and report Lost-in-Conversation runs."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from intent_mediator.commands.common import (
    add_artifact_flags,
    at_least_one,
    compiled_programs,
    conversation_settings,
    entropy_rise,
    join_additions_in,
    load_run_records,
    mode_list,
    output_dir,
    percentile,
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
        help="comma-separated: full, concat, sharded, recap, snowball, drop-assistant, ergo, mediated",
    )
    parser.add_argument("--runs", type=at_least_one, default=1, help="runs per instruction and mode (default 1)")
    parser.add_argument(
        "--out", required=True, type=output_dir, metavar="DIR", help="output folder; an existing one is resumed"
    )
    add_artifact_flags(parser)
    add_ergo_flags(parser)


def add_ergo_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of `ergo` mode: its threshold, or the calibration that sets it."""
    from intent_mediator.programs.ergo import DEFAULT_THRESHOLD, DEFAULT_TOP_LOGPROBS
    from intent_mediator.simulation.ergo import SELECTIONS

    group = parser.add_argument_group("ergo mode (entropy-guided reset, arXiv 2510.14077)")
    group.add_argument(
        "--ergo-threshold",
        type=entropy_rise,
        default=DEFAULT_THRESHOLD,
        help=f"entropy rise (nats) between replies that triggers a reset (default {DEFAULT_THRESHOLD})",
    )
    group.add_argument(
        "--ergo-top-logprobs",
        type=int,
        default=DEFAULT_TOP_LOGPROBS,
        help=f"alternatives per token asked of the provider (default {DEFAULT_TOP_LOGPROBS})",
    )
    group.add_argument(
        "--ergo-calibrate",
        metavar="DATA",
        help="set the threshold from calibration runs on these records (same forms as --data; keep them apart "
        "from the evaluated records); writes ergo_calibration.json into --out",
    )
    group.add_argument("--ergo-select", choices=SELECTIONS, default="percentile", help="calibration rule")
    group.add_argument(
        "--ergo-percentile", type=percentile, default=90.0, help="percentile of entropy rises (default 90)"
    )
    group.add_argument("--ergo-calibration-runs", type=int, default=1, help="runs per calibration record")


def ergo_settings(args: argparse.Namespace, settings, out_dir: str | Path):
    """`settings` with the ERGO flags applied; runs the calibration first when --ergo-calibrate is given."""
    from dataclasses import replace

    from intent_mediator.data.loaders import load_records
    from intent_mediator.files import write_json_atomic
    from intent_mediator.simulation.ergo import ErgoConfig, calibrate_threshold

    try:
        config = ErgoConfig(threshold=args.ergo_threshold, top_logprobs=args.ergo_top_logprobs)
    except ValueError as exc:
        raise IntentMediatorError(f"--ergo-threshold/--ergo-top-logprobs: {exc}") from None
    settings = replace(settings, ergo=config)
    if not args.ergo_calibrate:
        return settings
    records = load_records(args.ergo_calibrate, tasks=split_list(args.tasks))
    if not records:
        raise IntentMediatorError(f"--ergo-calibrate: no records in {args.ergo_calibrate}")
    try:
        result = calibrate_threshold(
            records,
            settings,
            runs=args.ergo_calibration_runs,
            select=args.ergo_select,
            percentile=args.ergo_percentile,
            workers=args.workers,
            progress=not args.no_progress,
        )
    except ValueError as exc:
        raise IntentMediatorError(f"--ergo-calibrate: {exc}") from None
    write_json_atomic(Path(out_dir) / "ergo_calibration.json", result.as_dict())
    print(f"ERGO threshold {result.threshold:.4f} ({result.select}) from {len(result.jumps)} entropy rises")
    return replace(settings, ergo=replace(config, threshold=result.threshold))


def _evaluate(args: argparse.Namespace, records: list):
    from intent_mediator.simulation.runner import evaluate

    modes = split_list(args.modes) or []
    # Flags for a mode that is not run would do nothing: say so rather than ignore them.
    if (getattr(args, "artifacts", None) or getattr(args, "compiled", False)) and "mediated" not in modes:
        raise IntentMediatorError("--artifacts/--compiled choose mediated mode's Mediator: add mediated to --modes")
    if getattr(args, "ergo_calibrate", None) and "ergo" not in modes:
        raise IntentMediatorError("--ergo-calibrate sets ergo mode's threshold: add ergo to --modes")
    settings = conversation_settings(args)
    if "mediated" in modes:
        programs, _ = compiled_programs(args, {r.task for r in records}, settings.roles.models()["mediator"])
        if getattr(args, "join_additions", False):
            join_additions_in(programs.values())
        settings = replace(settings, programs=programs)
    if "ergo" in modes and hasattr(args, "ergo_threshold"):
        settings = ergo_settings(args, settings, args.out)
    return evaluate(
        records,
        modes,
        args.runs,
        args.out,
        settings,
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
    if result.errors:
        # Not scored (never a 0) and not finished: the same command retries them.
        message = (
            f"intent-mediator evaluate: {result.errors} of {result.new} conversations failed with an error and are "
            f"left out of the table; rerun the same command to retry them. The first to fail: {result.first_error}"
        )
        print(message[:2000], file=sys.stderr)
        return 1
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
