"""Compile one Mediator per domain on the embedded model with the validated Refiner, on the fixed splits.

For each domain (math, code, database, actions): pairs are mined from the train split (full vs sharded runs),
guideline candidates are proposed and selected on the validation split, with the uncompiled Mediator as the
baseline candidate (a candidate must beat it to be kept, so compiling never scores lower on validation). The
result is shipped as package data: `data/artifacts/<model>/_generic/<domain>/{program.json,meta.json}`, with
the model, split ids, validation and baseline scores, the budget used and the package version in meta.json.
Calls, tokens, time and scores go to benchmarks/results/compile_domains.{json,md}.

Resumable: each domain's optuna study lives in --work (SQLite); a finished domain is skipped when its
result was produced by the same configuration; a different configuration is refused, naming what differs.

    python benchmarks/compile_domains.py [--domains math,code,database,actions] [--max-lm-calls 250] [--mining-runs 3]

`--join-additions` compiles the Mediator the demo serves (and `evaluate --join-additions`): follow-ups that only
add information are joined without a Mediator call, so the candidates' rules act only on the turns the LM
rewrites (revisions, answers to the assistant). It needs `--artifacts` (the shipped artifacts rewrite every
follow-up, as the library does by default) and writes its results to `--name`; the artifact records the join, so
whoever loads it joins too.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import RESULTS, write
from intent_mediator import MediatedAssistant, RoleLMs
from intent_mediator.artifacts import save_artifact, shipped_model_key
from intent_mediator.commands.common import check_confirm_flags, count
from intent_mediator.data.splits import load_split
from intent_mediator.errors import IntentMediatorError
from intent_mediator.optimizers.refiner import CONFIRM_BARS, Refiner, RefinerError, confirmation_meta
from intent_mediator.programs.mediator import Mediator
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.tasks import get_task

REPO = Path(__file__).resolve().parents[1]
DOMAINS = ("math", "code", "database", "actions")
SHIPPED = REPO / "data" / "artifacts"
WORK = REPO / "runs" / "compile-domains"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", default=",".join(DOMAINS))
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--temperature", type=float, default=1.0, help="assistant and user sampling temperature")
    parser.add_argument("--mediator-temperature", type=float, default=0.0)
    parser.add_argument("--max-tokens", type=int, default=320)
    parser.add_argument("--refiner-max-tokens", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--candidates", type=int, default=2)
    parser.add_argument("--pairs-per-batch", type=int, default=4)
    parser.add_argument(
        "--mining-runs", type=int, default=3, help="samples per train task and mode when mining (default 3)"
    )
    parser.add_argument("--max-lm-calls", type=int, default=250, help="hard cap per domain")
    parser.add_argument(
        "--confirm-runs",
        type=count,
        default=0,
        help="fresh validation runs the winner must win again before it ships (default 0: the shipped artifacts "
        "were compiled without confirmation; benchmarks/confirm_artifacts.py confirms them afterwards)",
    )
    parser.add_argument(
        "--confirm-bar",
        choices=CONFIRM_BARS,
        default="higher",
        help="with --confirm-runs: a higher P (default) or a paired 95%% interval above 0 (Refiner's confirm_bar)",
    )
    parser.add_argument(
        "--join-additions",
        action="store_true",
        help="compile a Mediator that joins turns only adding information without an LM call (as the demo serves)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="compile_domains", help="results file name (default compile_domains)")
    parser.add_argument("--work", default=str(WORK), help="optuna storage folder")
    parser.add_argument("--artifacts", default=str(SHIPPED), help="artifact root (default: the shipped artifacts)")
    args = parser.parse_args()
    from intent_mediator.lm import limit_call_records

    limit_call_records()  # a run of hours would otherwise keep its last 10,000 calls in memory
    try:
        check_confirm_flags(args.confirm_runs, args.confirm_bar)
    except IntentMediatorError as exc:
        parser.error(str(exc))
    if args.join_additions and Path(args.artifacts).resolve() == SHIPPED.resolve():
        parser.error("--join-additions needs --artifacts DIR: it would replace the shipped artifacts")
    confirmation = ("confirm_runs", "confirm_bar")
    config = {k: v for k, v in vars(args).items() if k not in ("domains", "work", "artifacts", "name", *confirmation)}
    if not args.join_additions:  # recorded only when on: results compiled before the option existed still resume
        del config["join_additions"]
    # Confirmation runs after the search and does not change it: the study (named by the search's fingerprint)
    # is shared, and the result's fingerprint names the confirmation only when there is one (its bar only when
    # it is not the default, so results recorded before the bar existed still resume).
    confirmed = {**config, "confirm_runs": args.confirm_runs} if args.confirm_runs else config
    if args.confirm_bar != "higher":
        confirmed["confirm_bar"] = args.confirm_bar
    results_file = RESULTS / f"{args.name}.json"
    with _locked(results_file):  # not while another compile writes it
        done = _rows(results_file)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    layout = student(args).mediator.layout_name(roles_for(args).mediator)
    for domain in args.domains.split(","):
        _, study = domain_fingerprint(config, domain, layout)
        domain_config, fingerprint = domain_fingerprint(confirmed, domain, layout)
        previous = done.get(domain)
        if previous and previous["fingerprint"] == fingerprint:
            print(f"{domain}: done earlier with this configuration, skipped")
            continue
        if previous:
            print(f"{domain}: the earlier result used another configuration ({previous['config']}); recompiling")
        result = compile_domain(domain, args, domain_config, (study, fingerprint), work)
        with _locked(results_file):  # another compile may have finished a domain meanwhile: keep its row
            done = _rows(results_file)
            done[domain] = result
            report(done, confirmed, args.name, _place_flags(args))


def trials(refiner_report: dict) -> list[dict]:
    """Every trial of a Refiner report with the rule list it scored (its first `rules_kept` rules)."""
    out = []
    for round_ in refiner_report.get("rounds", []):
        candidates = round_.get("candidates") or []
        for trial in round_.get("trials", []):
            params = trial.get("params") or {}
            rules = candidates[params["candidate"]]["guidelines"] if "candidate" in params else []
            out.append({**trial, "guidelines": rules[: params.get("rules_kept", len(rules))]})
    return out


def _rows(results_file: Path) -> dict:
    return json.loads(results_file.read_text()).get("domains", {}) if results_file.is_file() else {}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside `path` while its rows are read, merged and written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def domain_fingerprint(config: dict, domain: str, mediator_layout: str) -> tuple[dict, str]:
    """The domain's configuration (the run's, its scorer's revision, the Mediator's prompt layout and behaviour
    revision) and its fingerprint. A scorer fix, another layout or another Mediator behaviour changes every
    validation score, so such a result is redone (in a study of its own: the fingerprint names the study)."""
    domain_config = {
        **config,
        "scoring_revision": get_task(domain).scoring_revision,
        "mediator_layout": mediator_layout,
        "mediator_revision": Mediator.behaviour_revision,
    }
    return domain_config, hashlib.sha256(json.dumps(domain_config, sort_keys=True).encode()).hexdigest()[:12]


def student(args) -> MediatedAssistant:
    """The uncompiled program the Refiner starts from (and keeps unless a rule list beats it)."""
    return MediatedAssistant(join_additions=args.join_additions)


def roles_for(args) -> RoleLMs:
    roles = RoleLMs.from_models(
        {},
        default=args.model,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        temperatures={"mediator": args.mediator_temperature, "judge": 0.0, "refiner": 0.7},
    )
    roles.refiner = roles.refiner.copy(max_tokens=args.refiner_max_tokens)
    return roles


def compile_domain(domain: str, args, config: dict, fingerprints: tuple[str, str], work: Path) -> dict:
    """Compile one domain; `fingerprints` are the search's (its study's name) and the result's."""
    study, fingerprint = fingerprints
    train, val = load_split(domain, "train"), load_split(domain, "validation")
    print(f"{domain}: {len(train)} train, {len(val)} validation tasks", flush=True)
    settings = ConversationSettings(roles_for(args))
    refiner = Refiner(
        settings=settings,
        rounds=args.rounds,
        candidates_per_round=args.candidates,
        pairs_per_batch=args.pairs_per_batch,
        mining_runs=args.mining_runs,
        max_lm_calls=args.max_lm_calls,
        confirm_runs=args.confirm_runs,
        confirm_bar=args.confirm_bar,
        storage=f"sqlite:///{work / f'{domain}.db'}",
        study_name=f"{domain}-{study}",
        report_dir=work / domain,
        workers=1,  # one loaded model answers one call at a time: more workers only queue
        seed=args.seed,
        progress=True,
    )
    started = time.perf_counter()
    try:
        program = refiner.compile(student(args), trainset=train, valset=val)
    except RefinerError as exc:  # e.g. no train task failed sharded while solved full: nothing to learn from
        seconds = round(time.perf_counter() - started, 1)
        earlier = Path(args.artifacts) / shipped_model_key(args.model) / "_generic" / domain
        kept = earlier if (earlier / "program.json").is_file() else None  # never deleted: it came from another run
        outcome = f"the earlier artifact at {kept} stays" if kept else "no artifact ships, the generic Mediator is used"
        print(f"{domain}: nothing compiled ({exc}) in {seconds} s; {outcome}")
        return {
            "fingerprint": fingerprint,
            "guidelines": [],
            "artifact": str(kept) if kept else None,
            "config": config,
            "split": {"train": [r.task_id for r in train], "validation": [r.task_id for r in val]},
            "validation_score": None,
            "baseline_score": None,
            "budget": None,
            "seconds": seconds,
            "stopped": f"no artifact: {exc}" + (f" (the earlier artifact at {kept} stays)" if kept else ""),
        }
    # The artifact says how callers feed it (serve honours it): as the Refiner's conversations fed it.
    program.mediator_history = settings.mediator_history
    seconds = round(time.perf_counter() - started, 1)
    report_ = program.refiner_report
    best = report_.get("best", {})
    meta = {
        "model": args.model,
        "config": config,
        "split": {"train": [r.task_id for r in train], "validation": [r.task_id for r in val]},
        "validation_score": best.get("score"),
        "baseline_score": report_.get("baseline_score"),
        "budget": report_.get("budget"),
        "usage": report_.get("usage"),
        "seconds": seconds,
        "package_version": version("intent-mediator"),
        "git_commit": _git_commit(),
        "stopped": report_.get("stopped"),
        # What the search saw: pairs mined, and every trial's rule list and validation score.
        "pairs_found": report_.get("pairs_found"),
        "trials": trials(report_),
    }
    meta.update(confirmation_meta(report_))  # the winner and the uncompiled list on fresh runs, if confirmed
    folder = save_artifact(program, Path(args.artifacts) / shipped_model_key(args.model), domain=domain, meta=meta)
    print(f"{domain}: validation {meta['baseline_score']} -> {meta['validation_score']} in {seconds} s; {folder}")
    return {
        "fingerprint": fingerprint,
        "guidelines": program.guidelines,
        # --artifacts may point outside the repository
        "artifact": str(folder.relative_to(REPO) if folder.is_relative_to(REPO) else folder),
        **meta,
    }


def _git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _place_flags(args) -> str:
    """--artifacts and --work as given, when not the defaults (they decide where, not what, so they are not in the
    configuration, but the reproduce line needs them)."""
    flags = f" --artifacts {args.artifacts}" if Path(args.artifacts).resolve() != SHIPPED.resolve() else ""
    return flags + (f" --work {args.work}" if Path(args.work).resolve() != WORK.resolve() else "")


def report(done: dict, config: dict, name: str = "compile_domains", place_flags: str = "") -> None:
    rows = []
    for domain, r in sorted(done.items()):
        usage = r.get("budget") or {}
        rows.append(
            [
                domain,
                r["baseline_score"],
                r["validation_score"],
                len(r["guidelines"]),
                usage.get("calls"),
                usage.get("tokens"),
                r["seconds"],
                r.get("stopped") or "",
                _confirmation_cell(r),
            ]
        )
    flags = " --join-additions" if config.get("join_additions") else ""
    flags += "".join(
        f" --{key.replace('_', '-')} {config[key]}" for key in ("confirm_runs", "confirm_bar") if key in config
    )
    flags += f" --name {name}" if name != "compile_domains" else ""
    flags += place_flags
    write(
        name,
        {"config": config, "domains": done},
        [
            "domain",
            "validation P (uncompiled)",
            "validation P (compiled)",
            "rules",
            "LM calls",
            "tokens",
            "seconds",
            "stopped",
            "confirmation on fresh runs",
        ],
        rows,
        f"Reproduce: `python benchmarks/compile_domains.py{flags}` (resumable; artifacts in the --artifacts root, "
        "data/artifacts/ by default). "
        "Confirmation: the search's winner and the uncompiled Mediator on fresh validation runs, P of each, the "
        "paired difference with its bootstrap 95% interval over tasks, and whether the winner shipped.",
    )


def _confirmation_cell(row: dict) -> str:
    found = row.get("confirmation")
    if not found:
        return "–"
    low, high = found.get("difference_ci") or (float("nan"), float("nan"))
    verdict = "ships" if found["confirmed"] else "withdrawn: the uncompiled list ships"
    return (
        f"runs {found['runs']}: {found['score']:.1f} vs {found['uncompiled_score']:.1f}, "
        f"{found['score'] - found['uncompiled_score']:+.1f} [{low:+.1f}, {high:+.1f}]; {verdict}"
    )


if __name__ == "__main__":
    main()
