"""Which Mediator to ship: full vs incremental history, with and without the check-and-repair step.

Held-out tasks only: the first ordinary and the first revision task (by id) of the math and code TEST splits
(data/splits.json), so nothing here was used to write or tune the Mediator's prompt. The embedded model is the
Mediator (temperature 0, `--threads` llama.cpp threads).

Default (requests only): the user's shards are revealed one per turn, verbatim, each answered by the same
non-committal assistant reply, and the Mediator writes a request after every user turn. Per variant: fact loss
of each conversation's last request against the record (facts.record_fact_check: values lost, withdrawn values
kept, invented numbers), Mediator calls (repairs included) and prompt tokens. No assistant calls, so it fits a
shared 2-core machine; at temperature 0 one run per task is exact.

`--with-assistant`: whole conversations instead (full, sharded and the mediated variants, `--runs` sampled
runs, assistant at --temperature), adding P and recovery. Much slower.

Resumable: rerunning continues in the same folder; --summarize-only rewrites the results from what is there.

    python benchmarks/mediator_variants.py [--threads 1] [--out runs/bench-mediator-variants] [--summarize-only]
    python benchmarks/mediator_variants.py --with-assistant [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import write
from intent_mediator import MediatedAssistant, RoleLMs
from intent_mediator.data.splits import load_split
from intent_mediator.facts import fact_loss_summary, record_fact_check, trajectory_fact_check
from intent_mediator.files import write_json_atomic
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.simulation.fingerprint import REVISION_BEFORE_RECORDED
from intent_mediator.simulation.runner import evaluate
from intent_mediator.simulation.trajectory import TrajectoryLog
from intent_mediator.simulation.usage import RoleUsage
from intent_mediator.stats import recovery, summarize
from intent_mediator.tasks import get_task
from intent_mediator.transcript import Turn

logger = logging.getLogger("mediator_variants")
VARIANTS = {
    "full history": {"mediator_history": "full", "check": False},
    "full history + repair": {"mediator_history": "full", "check": True},
    "incremental": {"mediator_history": "incremental", "check": False},
    "incremental + repair": {"mediator_history": "incremental", "check": True},
    # Opt-in: the shipped Mediator's prompt through DSPy's own adapter instead of the lean chat layout (the same
    # as the shipped one on the embedded model, whose Mediator always goes through DSPy's JSONAdapter).
    "incremental + repair (DSPy layout)": {"mediator_history": "incremental", "check": True, "lean": False},
}
DEFAULT_VARIANTS = ("full history", "full history + repair", "incremental", "incremental + repair")


def held_out(domains: list[str], every_task: bool = False) -> list:
    """The first ordinary and the first revision task of each domain's test split, or all of them."""
    records = []
    for domain in domains:
        test = load_split(domain, "test")
        if every_task:
            records += test
            continue
        records.append(next(r for r in test if not r.revisions))
        records.append(next(r for r in test if r.revisions))
    return records


def folder(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def parse_variants(parser: argparse.ArgumentParser, text: str) -> dict[str, dict]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not names:
        parser.error(f"--variants: unknown {unknown or [text]}; known: {', '.join(VARIANTS)}")
    return {name: VARIANTS[name] for name in names}


def mediator_for(variant: dict, mediator_lm=None) -> MediatedAssistant:
    program = MediatedAssistant(check=variant["check"], mediator_lm=mediator_lm)
    program.mediator.lean = variant.get("lean", True)
    return program


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", default="math,code")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-tokens", type=int, default=320)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--out", default="runs/bench-mediator-variants")
    parser.add_argument("--summarize-only", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (1 copes best with a loaded CPU)")
    parser.add_argument("--with-assistant", action="store_true", help="whole conversations, P and recovery")
    parser.add_argument("--every-task", action="store_true", help="every test task, not the first two per domain")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help=f"comma list of: {', '.join(VARIANTS)}")
    parser.add_argument("--name", default="mediator_variants", help="results file name")
    args = parser.parse_args()
    from intent_mediator.lm import limit_call_records

    limit_call_records()  # a run of hours would otherwise keep its last 10,000 calls in memory
    args.variants = parse_variants(parser, args.variants)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    records = held_out(args.domains.split(","), args.every_task)
    roles = RoleLMs.from_models(
        {}, default=args.model, temperature=args.temperature, max_tokens=args.max_tokens, temperatures={"mediator": 0}
    )
    if args.model == "embedded" and not args.summarize_only:
        from intent_mediator.engines.embedded import shared_engine

        shared_engine().threads = args.threads  # read when the model loads, on the first call
    out = Path(args.out)
    started = time.perf_counter()
    if not args.with_assistant:
        requests_only(args, out, records, roles.mediator, started)
        return
    if not args.summarize_only:
        base = ConversationSettings(roles=roles)
        variants = {
            name: ConversationSettings(roles=roles, program=mediator_for(v), mediator_history=v["mediator_history"])
            for name, v in args.variants.items()
        }
        # Task by task, every variant on it, so a run cut short still compares all variants on the same tasks.
        for record in records:
            evaluate([record], ["full", "sharded"], args.runs, out / "base", base, workers=1, progress=False)
            for name, settings in variants.items():
                evaluate([record], ["mediated"], args.runs, out / folder(name), settings, workers=1, progress=False)
            logger.info("%s done after %.0f s", record.task_id, time.perf_counter() - started)
    report(args, out, records, time.perf_counter() - started)


def report(args, out: Path, records: list, seconds: float) -> None:
    by_id = {r.task_id: r for r in records}
    base = TrajectoryLog(out / "base" / "trajectories.jsonl").latest() if (out / "base").is_dir() else []
    base_summary = summarize(_rows(base))["overall"] if base else {}
    rows, data = [], {"records": sorted(by_id), "runs": args.runs, "variants": {}}
    sharded = [t for t in base if t.mode == "sharded" and t.error is None]
    sharded_prompt = (
        statistics.mean(t.usage.get("assistant", {}).get("prompt_tokens", 0) for t in sharded) if sharded else None
    )
    sharded_turns = statistics.mean(len(t.turns) for t in sharded) if sharded else None
    for mode in ("full", "sharded"):
        cell = base_summary.get(mode) or {}
        rows.append([mode, _fmt(cell.get("P")), "", "", "", "", "", "", cell.get("n", 0)])
        data["variants"][mode] = cell
    for name in args.variants:
        path = out / folder(name) / "trajectories.jsonl"
        trajectories = [t for t in TrajectoryLog(path).latest() if t.error is None] if path.is_file() else []
        if not trajectories:
            continue
        summary = summarize(_rows(trajectories))["overall"]["mediated"]
        checks = {}
        for t in trajectories:
            record = by_id.get(t.task_id)
            full_prompt = get_task(record.task).full_prompt(record) if record else None
            check = trajectory_fact_check(t, record, full_prompt)
            if check is not None:
                checks[f"{t.task_id}/{t.run}"] = check
        facts = fact_loss_summary(checks)
        calls = statistics.mean(t.usage.get("mediator", {}).get("calls", 0) for t in trajectories)
        prompt = statistics.mean(t.usage.get("mediator", {}).get("prompt_tokens", 0) for t in trajectories)
        turns = statistics.mean(len(t.turns) for t in trajectories)
        rec = _recovery(base_summary, summary)
        data["variants"][name] = {
            **summary,
            "recovery": rec,
            "fact_loss": facts,
            "per_conversation": {key: check.as_dict() for key, check in checks.items()},
            "mediator_calls": calls,
            "mediator_prompt_tokens": prompt,
            "user_turns": turns,
            # Per user turn, against the sharded assistant's prompt per user turn on the same tasks.
            "mediator_prompt_per_turn_over_sharded": (prompt / turns) / (sharded_prompt / sharded_turns)
            if sharded_prompt
            else None,
        }
        rows.append(
            [
                name,
                _fmt(summary.get("P")),
                _fmt(rec, 2),
                _fmt(100 * facts["loss"], 1),
                facts["withdrawn_kept"],
                facts["invented_numbers"],
                f"{calls:.2f} / {turns:.2f}",
                _fmt(data["variants"][name]["mediator_prompt_per_turn_over_sharded"], 2),
                summary.get("n", 0),
            ]
        )
    data["seconds_this_invocation"] = round(seconds, 1)
    write(
        args.name,
        data,
        [
            "variant",
            "P",
            "recovery",
            "fact loss %",
            "withdrawn kept",
            "invented numbers",
            "mediator calls / turns",
            "mediator prompt / sharded prompt (per turn)",
            "n",
        ],
        rows,
        f"Held-out tasks {', '.join(sorted(by_id))} (first ordinary and first revision task of the "
        f"{args.domains} test splits), {args.runs} runs, {args.model} model, assistant T={args.temperature}, "
        "Mediator T=0, deterministic lazy user.\n\nReproduce: `python benchmarks/mediator_variants.py` "
        "(resumable).",
    )


REPLY = "Thanks. Could you tell me more about what you need?"


def requests_only(args, out: Path, records: list, mediator_lm, started: float) -> None:
    """Each variant's Mediator over each record's shards, one JSON file per (variant, task): resumable."""
    for record in records:
        for name, variant in args.variants.items():
            path = out / "requests" / folder(name) / f"{record.task_id}.json"
            if args.summarize_only:
                continue  # the summary reports each file's recorded layout
            mediator = mediator_for(variant, mediator_lm).mediator
            layout = mediator.layout_name(mediator_lm)
            if path.is_file():
                stored = json.loads(path.read_text())
                made_with = stored.get("mediator_layout")
                if made_with != layout:
                    raise SystemExit(
                        f"{path}: written with Mediator layout {made_with or 'unrecorded'}, this run uses {layout}; "
                        "use another --out"
                    )
                revision = stored.get("mediator_revision", REVISION_BEFORE_RECORDED)
                if revision != mediator.behaviour_revision:
                    raise SystemExit(
                        f"{path}: written by Mediator revision {revision}, this run uses revision "
                        f"{mediator.behaviour_revision}; use another --out"
                    )
                continue
            usage, transcript, turns, previous = RoleUsage(), [], [], None
            for shard in record.shards:
                transcript.append(Turn.user(shard.shard))
                incremental = variant["mediator_history"] == "incremental"
                with usage.track("mediator"):
                    out_ = mediator(transcript=transcript, previous_request=previous if incremental else None)
                turns.append({"user": shard.shard, "request": out_.request, "problems": out_.get("problems") or []})
                previous = out_.request
                transcript.append(Turn.assistant(REPLY))
            done = {
                "task_id": record.task_id,
                "mediator_layout": layout,
                "mediator_revision": mediator.behaviour_revision,
                "turns": turns,
                "usage": usage.as_dict(),
            }
            write_json_atomic(path, done)
            logger.info("%s / %s done after %.0f s", record.task_id, name, time.perf_counter() - started)
    which = "every task" if args.every_task else "first ordinary and first revision task"
    command = " " + shlex.join(sys.argv[1:]) if sys.argv[1:] else ""
    rows, data = [], {"records": [r.task_id for r in records], "reply": REPLY, "variants": {}}
    for name in args.variants:
        checks, calls, real_calls, prompt, repairs, turns_seen, per = {}, [], [], [], 0, 0, {}
        layouts: set[str] = set()
        for record in records:
            path = out / "requests" / folder(name) / f"{record.task_id}.json"
            if not path.is_file():
                continue
            done = json.loads(path.read_text())
            layouts.add(done.get("mediator_layout") or "unrecorded")
            check = record_fact_check(record, done["turns"][-1]["request"], get_task(record.task).full_prompt(record))
            checks[record.task_id] = check
            per[record.task_id] = {**check.as_dict(), "request": done["turns"][-1]["request"]}
            # Calls answered from DSPy's cache (a variant repeating another's call) report no usage: count calls
            # from the turns (every turn after the first is mediated, plus one per repair), tokens per real call.
            mediator_usage = done["usage"].get("mediator", {})
            task_repairs = sum(1 for turn in done["turns"] if turn["problems"])
            calls.append(len(done["turns"]) - 1 + task_repairs)
            real_calls.append(mediator_usage.get("calls", 0))
            prompt.append(mediator_usage.get("prompt_tokens", 0))
            repairs += task_repairs
            turns_seen += len(done["turns"])
        if not checks:
            continue
        facts = fact_loss_summary(checks)
        data["variants"][name] = {
            "fact_loss": facts,
            "per_task": per,
            "mediator_calls_per_task": statistics.mean(calls),
            "mediator_prompt_tokens_per_call": sum(prompt) / max(1, sum(real_calls)),
            "repairs": repairs,
            "user_turns": turns_seen,
            "mediator_layouts": sorted(layouts),
        }
        rows.append(
            [
                name,
                len(checks),
                f"{100 * facts['loss']:.1f} ({facts['lost']}/{facts['values']})",
                facts["withdrawn_kept"],
                facts["invented_numbers"],
                f"{repairs}/{turns_seen}",
                f"{statistics.mean(calls):.2f}",
                f"{sum(prompt) / max(1, sum(real_calls)):.0f}",
            ]
        )
    write(
        args.name,
        data,
        [
            "variant",
            "tasks",
            "values lost % (lost/values)",
            "withdrawn kept",
            "invented numbers",
            "turns repaired",
            "mediator calls / task",
            "prompt tok / call",
        ],
        rows,
        f"Held-out tasks {', '.join(r.task_id for r in records)} ({which} of the {args.domains} test splits); "
        f"{args.model} Mediator at T=0; shards revealed one per turn verbatim, each "
        f'answered "{REPLY}"; fact loss of the last request.\n\nReproduce: `python benchmarks/mediator_variants.py'
        f"{command}` (resumable).",
    )


def _rows(trajectories: list) -> list[dict]:
    return [t.model_dump(include={"task_id", "task", "mode", "score", "error"}) for t in trajectories]


def _recovery(base: dict, mediated: dict) -> float | None:
    try:
        return recovery(base["full"]["P"], base["sharded"]["P"], mediated["P"])
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def _fmt(value, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


if __name__ == "__main__":
    main()
