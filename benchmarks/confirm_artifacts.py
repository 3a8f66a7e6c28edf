"""Do the shipped artifacts' validation wins hold on fresh samples? The Refiner's confirmation, after the fact.

compile_domains.py selects each domain's rule list on one sample (run 0) of 5-6 validation tasks, so a win of
one or two tasks can be luck. This re-scores every shipped artifact's rules and the uncompiled Mediator on runs
1..--runs of the same validation split, with the compile's own settings (its recorded model, temperatures and
token caps; every turn rewritten, as the compile ran), through `Refiner.confirm`, the step a compile with
`--confirm-runs` runs before it ships. An artifact without rules has nothing to confirm and is listed as such.

Per domain: the search's run-0 scores (from meta.json), both lists' means over the fresh runs, the paired
difference per task with a percentile-bootstrap 95% interval over tasks, and the verdict `Refiner.confirm`
gives (the rules must score strictly higher on the mean). By default it changes no artifact. With --apply, an
artifact whose win does not hold is saved again as a confirmed compile would have shipped it: the uncompiled
guidelines, its meta keeping the compile's record plus `confirmation` (the fresh runs) and `search_best` (the
rules and their run-0 score), `validation_score` becoming the uncompiled list's. --apply needs no LM call for a
domain already confirmed here.

Resumable per domain: a domain already confirmed for the same artifact and runs is skipped. Writes
benchmarks/results/<name>.{json,md}:

    python benchmarks/confirm_artifacts.py [--domains math,code,database,actions] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _results import RESULTS, write
from compile_domains import DOMAINS, roles_for
from intent_mediator import MediatedAssistant
from intent_mediator.artifacts import SHIPPED_ROOT, load_artifact, read_meta, save_artifact, shipped_model_key
from intent_mediator.data.splits import load_split
from intent_mediator.optimizers.refiner import Refiner
from intent_mediator.programs.mediator import Mediator
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.tasks import get_task

# What `Refiner.confirm` returns, kept in an applied artifact's meta.
CONFIRMATION_KEYS = (
    "runs", "guidelines", "score", "uncompiled_score", "scores", "uncompiled_scores", "difference", "difference_ci",
    "bar", "confirmed",
)  # fmt: skip
# The compile's settings that decide its conversations (compile_domains.roles_for reads these).
ROLE_SETTINGS = ("model", "temperature", "mediator_temperature", "max_tokens", "refiner_max_tokens")


def resume_key(domain: str, folder: Path, runs: int) -> dict[str, Any]:
    """What a domain's confirmation depends on besides the model: the artifact, the runs, the Mediator's
    behaviour and the domain scorer's revision (a row made under other ones is redone)."""
    return {
        "program_sha256": hashlib.sha256((folder / "program.json").read_bytes()).hexdigest()[:12],
        "runs": list(range(1, runs + 1)),  # as `Refiner.confirm` names them
        "mediator_revision": Mediator.behaviour_revision,
        "scoring_revision": get_task(domain).scoring_revision,
    }


def confirm_domain(domain: str, folder: Path, key: dict[str, Any]) -> dict[str, Any]:
    """Confirm one artifact's rules against the uncompiled Mediator on the runs of `key` (its `resume_key`)."""
    meta = read_meta(folder)
    rules = list(meta.get("guidelines") or [])
    runs = len(key["runs"])
    row: dict[str, Any] = {
        "artifact": str(folder),
        **key,
        "rules": len(rules),
        "search": {"uncompiled": meta.get("baseline_score"), "rules": meta.get("validation_score")},
    }
    if not rules:
        return {**row, "note": "no rules: the artifact is the uncompiled Mediator, nothing to confirm"}
    config = meta.get("config") or {}
    missing = [name for name in ROLE_SETTINGS if name not in config]
    if missing:
        raise SystemExit(f"confirm_artifacts: error: {folder / 'meta.json'}: config lacks {', '.join(missing)}")
    roles = roles_for(argparse.Namespace(**{name: config[name] for name in ROLE_SETTINGS}))
    val = load_split(domain, "validation")
    if [r.task_id for r in val] != (meta.get("split") or {}).get("validation"):
        raise SystemExit(f"confirm_artifacts: error: {folder}: its validation split is not data/splits.json's")
    refiner = Refiner(settings=ConversationSettings(roles), confirm_runs=runs, workers=1, progress=False)
    started = time.perf_counter()
    result = refiner.confirm(MediatedAssistant(), rules, val)  # with the paired difference and its interval
    return {**row, **result, "seconds": round(time.perf_counter() - started, 1)}


# What `save_artifact` writes itself; the rest of a meta.json is the compile's record, carried over by --apply.
SAVED_BY_ARTIFACTS = ("format_version", "user", "domain", "guidelines", "architecture", "dspy_version", "created")


def apply_rejection(domain: str, folder: Path, row: dict[str, Any]) -> str:
    """Save the artifact at `folder` with the uncompiled guidelines and the confirmation in its meta; returns
    the new program's digest."""
    meta = read_meta(folder)
    program = load_artifact(folder)
    rules = list(program.guidelines)
    program.set_guidelines([])
    record = {key: value for key, value in meta.items() if key not in SAVED_BY_ARTIFACTS}
    record.update(
        confirmation={key: row[key] for key in CONFIRMATION_KEYS if key in row},  # "bar": rows since 2336d86
        search_best={"guidelines": rules, "score": meta.get("validation_score")},
        validation_score=meta.get("baseline_score"),
    )
    save_artifact(program, folder.parent.parent, domain=domain, meta=record)
    print(f"{domain}: the win did not hold; {folder} now ships the uncompiled guidelines")
    return resume_key(domain, folder, len(row["runs"]))["program_sha256"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", default=",".join(DOMAINS))
    parser.add_argument("--runs", type=int, default=3, help="fresh runs per validation task (default 3)")
    parser.add_argument("--model", default="embedded", help="whose shipped artifacts (default embedded)")
    parser.add_argument("--artifacts", default=str(SHIPPED_ROOT), help="artifact root (default: the shipped ones)")
    parser.add_argument("--name", default="confirm_artifacts", help="results file name")
    parser.add_argument(
        "--apply", action="store_true", help="save an artifact whose win does not hold with the uncompiled guidelines"
    )
    args = parser.parse_args()
    from intent_mediator.lm import limit_call_records

    limit_call_records()  # a run of hours would otherwise keep its last 10,000 calls in memory
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    results = RESULTS / f"{args.name}.json"
    done: dict[str, Any] = json.loads(results.read_text())["domains"] if results.is_file() else {}
    root = Path(args.artifacts) / shipped_model_key(args.model) / "_generic"
    for domain in args.domains.split(","):
        folder = root / domain
        if not (folder / "program.json").is_file():
            print(f"{domain}: no artifact at {folder}, skipped")
            continue
        key = resume_key(domain, folder, args.runs)
        previous = done.get(domain) or {}
        applied = (previous.get("applied") or {}).get("program_sha256")
        if all(previous.get(name) == value for name, value in key.items() if name != "program_sha256") and (
            key["program_sha256"] in (previous.get("program_sha256"), applied)
        ):
            print(f"{domain}: confirmed earlier for this artifact, --runs and Mediator and scorer, skipped")
        else:
            done[domain] = confirm_domain(domain, folder, key)
        row = done[domain]
        if args.apply and row.get("confirmed") is False and not row.get("applied"):
            row["applied"] = {"program_sha256": apply_rejection(domain, folder, row)}
        report(done, args)


def report(done: dict[str, Any], args: argparse.Namespace) -> None:
    rows = []
    for domain, r in sorted(done.items()):
        search = r["search"]
        if "score" not in r:
            rows.append([domain, r["rules"], search["uncompiled"], search["rules"], "–", "–", "–", r["note"]])
            continue
        low, high = r["difference_ci"]
        verdict = "holds" if r["confirmed"] else "does not hold: the uncompiled Mediator would ship"
        if r.get("applied"):
            verdict = "does not hold: the artifact now ships the uncompiled guidelines (--apply)"
        rows.append(
            [
                domain,
                r["rules"],
                search["uncompiled"],
                search["rules"],
                r["uncompiled_score"],
                r["score"],
                f"{r['difference']:+.1f} [{low:+.1f}, {high:+.1f}]",
                verdict,
            ]
        )
    command = "python benchmarks/confirm_artifacts.py" + (f" --runs {args.runs}" if args.runs != 3 else "")
    if args.domains != ",".join(DOMAINS):
        command += f" --domains {args.domains}"
    if args.apply:
        command += " --apply"
    notes = (
        f"Command: `{command}`. Search: the compile's validation P on run 0 (meta.json). Fresh: mean P over "
        "runs 1..N of the same validation tasks, every turn rewritten, as the compile ran. Difference: rules minus "
        "uncompiled, paired per task, with a percentile-bootstrap 95% interval over the validation tasks. The win "
        "holds when the rules score strictly higher on the fresh runs (`Refiner.confirm`)."
    )
    write(
        args.name,
        {"command": command, "domains": done},
        [
            "domain",
            "rules",
            "search P uncompiled",
            "search P rules",
            "fresh P uncompiled",
            "fresh P rules",
            "difference [95% CI]",
            "the validation win",
        ],
        rows,
        notes,
    )


if __name__ == "__main__":
    main()
