"""Does compiling help on tasks it never saw? Every mode side by side on held-out records only.

Record sets: `test`, the builtin test split of each domain (data/splits.json: compiling reads only the train and
validation splits), and `lic`, the shared Lost-in-Conversation records of the same domains (never used for
compiling); `--no-lic` or `--no-test` runs one set only. Modes: full, sharded, drop-assistant, mediated (the
generic Mediator) and `mediated+compiled`: each record's domain artifact, from --artifacts DIR
(`_generic/<domain>`) or, by default, the one shipped with the package for the Mediator's model
(`data/artifacts/<model>/_generic/<domain>`). A domain without an artifact is reported as such, never silently
run with the generic Mediator under the compiled name.

Per set and mode: P, A90, U90_10 with bootstrap intervals, recovery, LM calls and tokens (side_by_side's table).
Per set and domain: the effect of compiling, P(compiled) - P(generic), paired per instruction, with a
percentile-bootstrap 95% interval over instructions; where the interval holds 0 the table says "no clear
effect", whichever way the point estimate leans.

Sampling as in side_by_side (issue 11): assistant and simulated user at --temperature (default 1), Mediator and
judge at 0; replies capped at --max-tokens (default 320, the compile's cap). `--join-additions` runs both
Mediators as the demo serves them: follow-ups that only add information are joined without a Mediator call, so
generic and compiled differ only on the turns the LM rewrites. Resumable: conversations go through
the project's resumable runner into --out, and a rerun with another configuration (the artifacts' content
included) is refused, naming what differs. Writes benchmarks/results/test_split.{json,md}. Hours on 2 cores:

    python benchmarks/test_split.py --runs 3 --out runs/test_split
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from side_by_side import (
    ConfigMismatch,
    Variant,
    _bootstrap,
    check_config,
    instruction_scores,
    markdown,
    run_config,
    run_modes,
    write_results,
)

REPO = Path(__file__).resolve().parents[1]
LIC_DIR = Path(os.environ.get("INTENT_MEDIATOR_LIC_DIR") or REPO.parent / "shared" / "lic")
DOMAINS = ("math", "code", "database", "actions")
MODES = ("full", "sharded", "drop-assistant", "mediated")
COMPILED = "mediated+compiled"


def compiled_programs(domains, artifacts: str | None, mediator_model: str | None) -> dict[str, dict[str, Any]]:
    """{domain: {"program", "folder", "sha256"}} for every domain with an artifact (yours, else shipped)."""
    from intent_mediator.artifacts import choose_artifact, load_artifact

    out = {}
    for domain in domains:
        choice = choose_artifact(artifacts, None, domain, shipped=None if artifacts else mediator_model)
        if choice.folder is None:
            continue
        text = (choice.folder / "program.json").read_bytes()
        out[domain] = {
            "program": load_artifact(choice.folder),
            "folder": str(choice.folder),
            "sha256": hashlib.sha256(text).hexdigest(),
        }
    return out


def no_artifacts_message(root: Path, domains, mediator_model: str | None) -> str:
    """Why --artifacts found nothing, with the folder to pass when `root` is a `compile_domains --artifacts` root
    (which keys its domains by model: `<root>/<model>/_generic/<domain>`)."""
    from intent_mediator.artifacts import shipped_model_key

    message = f"--artifacts {root}: no _generic/<domain> artifact for {', '.join(domains)}"
    keyed = root / shipped_model_key(mediator_model)
    if (keyed / "_generic").is_dir():
        message += f"; it holds compile_domains' artifacts for {mediator_model}: pass --artifacts {keyed}"
    return message


def compile_effect(trajectories: list, domains, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Per domain (and `all`): P generic, P compiled and their paired difference with a bootstrap interval."""
    scores = instruction_scores(trajectories)
    rng = np.random.default_rng(seed)
    out = {}
    for domain in [*domains, "all"]:
        names = domains if domain == "all" else [domain]
        rows = []
        for name in names:
            generic, compiled = scores.get((name, "mediated"), {}), scores.get((name, COMPILED), {})
            rows += [[np.mean(generic[i]), np.mean(compiled[i])] for i in sorted(set(generic) & set(compiled))]
        if not rows:
            out[domain] = {"instructions": 0}
            continue
        pairs = np.array(rows)
        diff = pairs[:, 1] - pairs[:, 0]
        ci = _bootstrap(diff, lambda x: float(x.mean()), rng)
        verdict = "no clear effect"
        if ci and ci[0] > 0:
            verdict = "compiling helps"
        elif ci and ci[1] < 0:
            verdict = "compiling hurts"
        out[domain] = {
            "instructions": len(rows),
            "P_generic": float(pairs[:, 0].mean()),
            "P_compiled": float(pairs[:, 1].mean()),
            "effect": float(diff.mean()),
            "effect_ci95": ci,
            "verdict": verdict if ci else "too few instructions for an interval",
        }
    return out


def run_test_split(
    record_sets: dict[str, list],
    roles,
    out_dir: str | Path,
    compiled: dict[str, dict[str, Any]],
    *,
    modes: tuple[str, ...] = MODES,
    runs: int = 3,
    workers: int = 1,
    max_turns: int | None = None,
    mediator_history: str = "incremental",
    join_additions: bool = False,
    progress: bool = True,
    extra_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run `modes` and the compiled Mediator on every set (resuming `out_dir`); return tables and effects.

    Raises:
        ConfigMismatch: `out_dir` holds a run with another configuration.
    """
    from intent_mediator.programs import MediatedAssistant
    from intent_mediator.simulation.conversation import ConversationSettings

    out_dir = Path(out_dir)
    config = run_config(
        roles,
        [*modes, COMPILED],
        runs,
        record_sets,
        artifacts={domain: c["sha256"] for domain, c in sorted(compiled.items())},
        max_turns=max_turns,
        mediator_history=mediator_history,
        **({"join_additions": True} if join_additions else {}),  # folders run before the option existed resume
        **(extra_config or {}),
    )
    check_config(out_dir, config)
    settings = ConversationSettings(roles=roles, max_turns=max_turns, mediator_history=mediator_history)
    programs = {domain: c["program"] for domain, c in compiled.items()}
    # Both Mediators join or neither does, whatever an artifact was compiled with, so that only the rules differ.
    for program in programs.values():
        program.mediator.join_additions = join_additions
    if join_additions:
        settings = replace(settings, program=MediatedAssistant(join_additions=True))
    with_artifacts = replace(settings, programs=programs)
    started = time.perf_counter()
    variants = {COMPILED: Variant("compiled", with_artifacts, runs_on=lambda r: r.task in compiled)}
    ran = run_modes(
        record_sets, out_dir, settings, modes, runs, variants, workers=workers, progress=progress, fact_records=False
    )
    effects = {name: compile_effect(ran["trajectories"][name], counts["tasks"]) for name, counts in ran["sets"].items()}
    return {
        "config": config,
        "sets": ran["sets"],
        "tables": ran["tables"],
        "effects": effects,
        "artifacts": {domain: c["folder"] for domain, c in sorted(compiled.items())},
        "seconds": round(time.perf_counter() - started, 1),
    }


def effect_markdown(result: dict[str, Any]) -> str:
    lines = ["## The effect of compiling, per domain (held-out records only)", ""]
    header = ["set", "domain", "artifact", "instructions", "P generic", "P compiled", "effect [95% CI]", "verdict"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, effects in result["effects"].items():
        for domain, row in effects.items():
            artifact = "–" if domain == "all" else ("yes" if domain in result["artifacts"] else "none")
            if not row.get("instructions"):
                why = "no artifact" if artifact == "none" else "no finished pair"
                lines.append(f"| {name} | {domain} | {artifact} | 0 | – | – | – | {why} |")
                continue
            ci = row["effect_ci95"]
            effect = f"{row['effect']:+.1f}" + (f" [{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else "")
            cells = [name, domain, artifact, str(row["instructions"]), f"{row['P_generic']:.1f}"]
            cells += [f"{row['P_compiled']:.1f}", effect, row["verdict"]]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Effect = P(mediated+compiled) - P(mediated), paired per instruction (0-100); interval: percentile "
        "bootstrap over instructions. Artifacts: "
        + (", ".join(f"{d}: {f}" for d, f in result["artifacts"].items()) or "none"),
        "",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from intent_mediator.commands.common import add_mediator_history_flag, add_model_flags

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domains", default=",".join(DOMAINS), help="domains (default math,code,database,actions)")
    parser.add_argument("--lic", default=str(LIC_DIR / "sample_5_per_task.json"), help="LiC records file")
    parser.add_argument("--no-lic", action="store_true", help="only the builtin test splits")
    parser.add_argument("--no-test", action="store_true", help="only the LiC records")
    parser.add_argument("--limit", type=int, help="at most this many records per domain and set")
    parser.add_argument("--runs", type=int, default=3, help="runs per record and mode (default 3)")
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help=f"modes besides {COMPILED}, which always runs (default {','.join(MODES)}; 'mediated' alone measures "
        "only the effect of compiling)",
    )
    parser.add_argument("--artifacts", metavar="DIR", help="artifact root (default: the shipped artifacts)")
    parser.add_argument("--max-turns", type=int, help="bound on user turns (default: shards + 2)")
    parser.add_argument("--workers", type=int, default=1, help="conversations in flight (default 1)")
    parser.add_argument("--out", default="runs/test_split", metavar="DIR", help="run folder, resumed if present")
    parser.add_argument("--results", default=str(Path(__file__).parent / "results"), metavar="DIR")
    parser.add_argument("--name", default="test_split", help="results file name (default test_split)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--join-additions",
        action="store_true",
        help="both Mediators join turns that only add information without an LM call (as the demo serves them)",
    )
    add_mediator_history_flag(parser, "how the Mediator reads the conversation (default: as compile_domains compiles)")
    add_model_flags(parser)
    parser.set_defaults(temperature=1.0, max_tokens=320, role_temperature=["judge=0", "mediator=0"])
    return parser


def load_sets(args: argparse.Namespace, domains: list[str]) -> dict[str, list]:
    from intent_mediator.data.loaders import load_records
    from intent_mediator.data.splits import load_split

    def limited(records: list) -> list:
        if not args.limit:
            return records
        kept, seen = [], {}
        for r in records:
            seen[r.task] = seen.get(r.task, 0) + 1
            if seen[r.task] <= args.limit:
                kept.append(r)
        return kept

    sets = {}
    if not args.no_test:
        sets["test"] = limited([r for domain in domains for r in load_split(domain, "test")])
    if not args.no_lic:
        sets["lic"] = limited(load_records(args.lic, tasks=domains))
    return sets


def main(argv: list[str] | None = None) -> int:
    from intent_mediator.commands.common import roles_from_args, split_list
    from intent_mediator.errors import IntentMediatorError

    args = build_parser().parse_args(argv)
    from intent_mediator.lm import limit_call_records

    limit_call_records()  # a run of hours would otherwise keep its last 10,000 calls in memory
    try:
        domains = split_list(args.domains) or []
        unknown = [d for d in domains if d not in DOMAINS]
        if unknown or not domains:
            raise IntentMediatorError(f"--domains: unknown domain(s) {unknown}; domains: {', '.join(DOMAINS)}")
        if args.no_lic and args.no_test:
            raise IntentMediatorError("--no-lic and --no-test together leave no records to run")
        if args.artifacts and not Path(args.artifacts).is_dir():
            raise IntentMediatorError(f"--artifacts: no such folder {args.artifacts}")
        modes = tuple(split_list(args.modes) or ())
        if not modes or any(m not in MODES for m in modes):
            raise IntentMediatorError(f"--modes: choose from {', '.join(MODES)}, got {args.modes!r}")
        sets = load_sets(args, domains)
        if not any(sets.values()):
            raise IntentMediatorError(f"no records to run: {', '.join(sets) or 'no set'} holds none of {domains}")
        roles = roles_from_args(args)
        compiled = compiled_programs(domains, args.artifacts, roles.models()["mediator"])
        if args.artifacts and not compiled:
            raise IntentMediatorError(no_artifacts_message(Path(args.artifacts), domains, roles.models()["mediator"]))
        for domain in domains:
            where = compiled[domain]["folder"] if domain in compiled else "none: no compiled row for this domain"
            print(f"compiled {domain}: {where}", flush=True)
        total = sum(len(r) for r in sets.values()) * args.runs * len(modes)
        total += sum(1 for r in sets.values() for x in r if x.task in compiled) * args.runs
        print(
            f"test split: {total} conversations ({', '.join(f'{k} {len(v)}' for k, v in sets.items())} records) "
            f"-> {args.out}",
            flush=True,
        )
        result = run_test_split(
            sets,
            roles,
            args.out,
            compiled,
            modes=modes,
            runs=args.runs,
            workers=args.workers,
            max_turns=args.max_turns,
            mediator_history=args.mediator_history,
            join_additions=args.join_additions,
            progress=not args.no_progress,
            extra_config={"lic": None if args.no_lic else args.lic, "artifact_root": args.artifacts},
        )
    except (IntentMediatorError, ConfigMismatch) as exc:
        print(f"test_split: error: {exc}", file=sys.stderr)
        return 2
    command = "python benchmarks/test_split.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(result, command.strip()) + "\n" + effect_markdown(result)
    write_results(Path(args.results), args.name, command.strip(), result, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
