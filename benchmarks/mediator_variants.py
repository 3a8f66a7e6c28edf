"""Which Mediator to ship: full vs incremental history, with and without the check-and-repair step.

Held-out tasks only: the first ordinary and the first revision task (by id) of the math and code TEST splits
(data/splits.json), so nothing here was used to write or tune the Mediator's prompt. The embedded model plays
every role; the deterministic user reveals one shard per turn; assistant sampled at --temperature (distinct
runs), Mediator at 0. Modes: full and sharded (the reference points), then the four Mediators. Per variant: P,
recovery, fact loss of the last request (facts.trajectory_fact_check), Mediator calls and prompt tokens.
Resumable: rerunning continues in the same folder; --summarize-only rewrites the results from what is there.

    python benchmarks/mediator_variants.py [--runs 2] [--out runs/bench-mediator-variants] [--summarize-only]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import write
from intent_mediator import MediatedAssistant, RoleLMs
from intent_mediator.data.splits import load_split
from intent_mediator.facts import fact_loss_summary, trajectory_fact_check
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.simulation.runner import evaluate
from intent_mediator.simulation.trajectory import TrajectoryLog
from intent_mediator.stats import recovery, summarize
from intent_mediator.tasks import get_task

VARIANTS = {
    "full history": {"mediator_history": "full", "check": False},
    "full history + repair": {"mediator_history": "full", "check": True},
    "incremental": {"mediator_history": "incremental", "check": False},
    "incremental + repair": {"mediator_history": "incremental", "check": True},
}


def held_out(domains: list[str]) -> list:
    records = []
    for domain in domains:
        test = load_split(domain, "test")
        records.append(next(r for r in test if not r.revisions))
        records.append(next(r for r in test if r.revisions))
    return records


def folder(name: str) -> str:
    return name.replace(" + ", "-").replace(" ", "-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", default="math,code")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-tokens", type=int, default=320)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--out", default="runs/bench-mediator-variants")
    parser.add_argument("--summarize-only", action="store_true")
    args = parser.parse_args()
    records = held_out(args.domains.split(","))
    roles = RoleLMs.from_models(
        {}, default=args.model, temperature=args.temperature, max_tokens=args.max_tokens, temperatures={"mediator": 0}
    )
    out = Path(args.out)
    started = time.perf_counter()
    if not args.summarize_only:
        evaluate(records, ["full", "sharded"], args.runs, out / "base", ConversationSettings(roles=roles), workers=1)
        for name, variant in VARIANTS.items():
            settings = ConversationSettings(
                roles=roles,
                program=MediatedAssistant(check=variant["check"]),
                mediator_history=variant["mediator_history"],
            )
            evaluate(records, ["mediated"], args.runs, out / folder(name), settings, workers=1)
    report(args, out, records, time.perf_counter() - started)


def report(args, out: Path, records: list, seconds: float) -> None:
    by_id = {r.task_id: r for r in records}
    base = TrajectoryLog(out / "base" / "trajectories.jsonl").latest() if (out / "base").is_dir() else []
    base_summary = summarize(_rows(base))["overall"] if base else {}
    rows, data = [], {"records": sorted(by_id), "runs": args.runs, "variants": {}}
    for mode in ("full", "sharded"):
        cell = base_summary.get(mode) or {}
        rows.append([mode, _fmt(cell.get("P")), "", "", "", "", "", cell.get("n", 0)])
        data["variants"][mode] = cell
    for name in VARIANTS:
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
                summary.get("n", 0),
            ]
        )
    data["seconds_this_invocation"] = round(seconds, 1)
    write(
        "mediator_variants",
        data,
        [
            "variant",
            "P",
            "recovery",
            "fact loss %",
            "withdrawn kept",
            "invented numbers",
            "mediator calls / turns",
            "n",
        ],
        rows,
        f"Held-out tasks {', '.join(sorted(by_id))} (first ordinary and first revision task of the "
        f"{args.domains} test splits), {args.runs} runs, {args.model} model, assistant T={args.temperature}, "
        "Mediator T=0, deterministic lazy user.\n\nReproduce: `python benchmarks/mediator_variants.py` "
        "(resumable).",
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
