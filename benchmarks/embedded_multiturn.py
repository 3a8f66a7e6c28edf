"""Real multi-turn degradation on the embedded model: full vs sharded vs mediated (uncompiled and compiled).

N runs per instruction at temperature > 0 (distinct samples through rollout ids). The compiled Mediator gets
its guidelines from the Refiner in the paper's mode (one refiner call over pairs mined from the first tasks'
own full/sharded runs); as in the paper, those mining tasks are then removed from the test set. The
uncompiled modes (full- and, with --incremental, incremental-history Mediators) are reported on every task
too. Resumable: rerunning continues in the same folder.

    python benchmarks/embedded_multiturn.py [--tasks math,code] [--task-ids ...] [--runs 3]
        [--mediator-temperature 0] [--incremental] [--out DIR] [--result-name NAME] [--summarize-only]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import median, write
from intent_mediator import MediatedAssistant, RoleLMs
from intent_mediator.data.loaders import load_records
from intent_mediator.files import write_json_atomic
from intent_mediator.optimizers.pairs import build_pairs
from intent_mediator.optimizers.refiner import Refiner
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.simulation.runner import evaluate
from intent_mediator.simulation.trajectory import TrajectoryLog
from intent_mediator.stats import recovery, summarize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="math")
    parser.add_argument(
        "--shared",
        default=str(Path(__file__).resolve().parents[2] / "shared" / "lic"),
        help="folder of the shared sample; its records of the same tasks are added",
    )
    parser.add_argument("--task-ids", help="comma-separated record ids to keep (default: all records of --tasks)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-tokens", type=int, default=320)
    parser.add_argument(
        "--refiner-max-tokens", type=int, default=1024, help="the Refiner writes several rules: give it room"
    )
    parser.add_argument(
        "--mediator-temperature",
        type=float,
        help="the Mediator's own temperature (default 0, the library's default, as in the committed results)",
    )
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="also run the uncompiled Mediator with incremental history, on every task",
    )
    parser.add_argument("--mining", type=int, default=3, help="tasks whose pairs train the compiled Mediator")
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--out", default="runs/bench-embedded")
    parser.add_argument(
        "--result-name", default="embedded_multiturn", help="benchmarks/results/<name>.{json,md} to write"
    )
    parser.add_argument(
        "--summarize-only",
        action="store_true",
        help="write the results from the conversations already in --out, running nothing new",
    )
    args = parser.parse_args()
    from intent_mediator.lm import limit_call_records

    limit_call_records()  # a run of hours would otherwise keep its last 10,000 calls in memory
    tasks = args.tasks.split(",")
    records = load_records("builtin", tasks=tasks)
    sample = Path(args.shared) / "sample_5_per_task.json"
    if sample.is_file():
        records += load_records(sample, tasks=tasks)
    if args.task_ids:
        wanted = set(args.task_ids.split(","))
        records = [r for r in records if r.task_id in wanted]
    temperatures = {} if args.mediator_temperature is None else {"mediator": args.mediator_temperature}
    roles = RoleLMs.from_models(
        {}, default=args.model, temperature=args.temperature, max_tokens=args.max_tokens, temperatures=temperatures
    )
    roles.refiner = roles.refiner.copy(max_tokens=args.refiner_max_tokens)
    settings = ConversationSettings(roles=roles)
    out = Path(args.out)
    started = time.perf_counter()
    if not args.summarize_only:
        evaluate(records, ["full", "sharded", "mediated"], args.runs, out / "base", settings, workers=1)
    base = TrajectoryLog(out / "base" / "trajectories.jsonl").latest()
    # Compare modes on the same instructions only: those with every run of every mode finished.
    done = {(t.task_id, t.mode) for t in base if t.error is None}
    counts = {key: sum(1 for t in base if (t.task_id, t.mode) == key and t.error is None) for key in done}
    complete = {
        r.task_id
        for r in records
        if all(counts.get((r.task_id, m), 0) >= args.runs for m in ("full", "sharded", "mediated"))
    }
    base = [t for t in base if t.task_id in complete]
    records = [r for r in records if r.task_id in complete]
    pairs = build_pairs(base)
    mining_ids = sorted({p.pair.task_id for p in pairs})[: args.mining]
    mined = [t for t in base if t.task_id in mining_ids]
    refiner = Refiner(settings=settings, mode="paper", pairs_per_batch=5)
    compiled = None
    saved = out / "compiled" / "guidelines.json"
    if saved.is_file():  # a resumed run keeps the guidelines its compiled conversations were run with
        compiled = MediatedAssistant(json.loads(saved.read_text()))
    elif mined and not args.summarize_only:
        compiled = refiner.compile(MediatedAssistant(), trainset=[], trajectories=mined)
        write_json_atomic(saved, compiled.guidelines)
    test = [r for r in records if r.task_id not in mining_ids]
    if compiled is not None and not args.summarize_only:
        compiled_settings = ConversationSettings(roles=roles, program=compiled)
        evaluate(test, ["mediated"], args.runs, out / "compiled", compiled_settings, workers=1)
    if args.incremental and not args.summarize_only:
        # Uncompiled, so no task was used to train it: every task is a test task.
        incremental_settings = ConversationSettings(roles=roles, mediator_history="incremental")
        evaluate(records, ["mediated"], args.runs, out / "incremental", incremental_settings, workers=1)
    report(args, out, base, complete, mining_ids, records, test, compiled, started)


def report(args, out: Path, base, complete, mining_ids, records, test, compiled, started: float) -> None:
    """Summarise every finished conversation in `out` per scope and write the benchmark result."""
    labelled = [(t.mode, t) for t in base]
    for folder, mode in (("compiled", "mediated+guidelines"), ("incremental", "mediated (incremental)")):
        log = TrajectoryLog(out / folder / "trajectories.jsonl")
        if log.path.is_file():
            labelled += [(mode, t) for t in log.latest() if t.task_id in complete]
    scopes = {
        # The uncompiled modes need no held-out tasks; the compiled Mediator is judged only on unseen ones.
        "all tasks": [(m, t) for m, t in labelled if m != "mediated+guidelines"],
        "test tasks": [(m, t) for m, t in labelled if t.task_id not in mining_ids],
    }
    summaries, rows, recoveries = {}, [], {}
    for scope, items in scopes.items():
        summary = summarize(
            [{**t.model_dump(include={"task_id", "task", "score", "error"}), "mode": m} for m, t in items]
        )
        overall = summaries[scope] = summary["overall"]
        rows += [[scope, mode, c["P"], c["A90"], c["U90_10"], c["R"], c["n"]] for mode, c in overall.items()]
        full, sharded = overall.get("full", {}).get("P"), overall.get("sharded", {}).get("P")
        recoveries[scope] = {
            mode: recovery(full, sharded, overall[mode]["P"]) for mode in overall if mode.startswith("mediated")
        }
    prompt_tokens = {
        f"{mode} {role}": statistics.mean(
            t.usage.get(role, {}).get("prompt_tokens", 0) for m, t in labelled if m == mode
        )
        for mode, role in (("sharded", "assistant"), ("mediated", "mediator"), ("mediated (incremental)", "mediator"))
        if any(m == mode for m, _ in labelled)
    }
    reply_tokens = [
        t.usage["assistant"]["completion_tokens"] / t.usage["assistant"]["calls"]
        for t in base
        if t.mode == "sharded" and t.usage.get("assistant", {}).get("calls")
    ]
    wall = time.perf_counter() - started
    recovery_text = "; ".join(
        f"{scope}: " + ", ".join(f"{k} {v:.2f}" if v is not None else f"{k} n/a" for k, v in rec.items())
        for scope, rec in recoveries.items()
    )
    write(
        args.result_name,
        {
            "summary": summaries,
            "recovery": recoveries,
            "guidelines": compiled.guidelines if compiled else None,
            "mining_tasks": mining_ids,
            "test_tasks": [r.task_id for r in test],
            "runs": args.runs,
            "temperature": args.temperature,
            "mediator_temperature": args.mediator_temperature,
            "wall_seconds": wall,
            "conversation_seconds": sum(t.seconds or 0 for _, t in labelled),
            "sharded_reply_tokens_median": median(reply_tokens),
            "prompt_tokens_per_conversation": prompt_tokens,
        },
        ["tasks", "mode", "P", "A90", "U90_10", "R", "n"],
        rows,
        f"{len(records)} tasks ({args.tasks}), {args.runs} runs, temperature {args.temperature} "
        f"(Mediator {args.mediator_temperature or 0.0}), model "
        f"{args.model}; mining tasks {mining_ids} (test tasks: the others). Recovery: {recovery_text}. "
        f"Median sharded assistant reply {median(reply_tokens):.0f} tokens; mean prompt tokens per conversation: "
        + ", ".join(f"{k} {v:.0f}" for k, v in prompt_tokens.items())
        + f". Conversations took {sum(t.seconds or 0 for _, t in labelled) / 60:.0f} min in all (one at a time);"
        + f" this invocation {wall / 60:.0f} min. Reproduce: `python {' '.join(sys.argv)}`.",
    )


if __name__ == "__main__":
    main()
