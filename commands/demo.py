"""`intent-mediator demo`: the product on the embedded model, offline, in about five minutes on 2 cores.

What it runs (every choice fixed before any result is seen):
- records: the first `--first` tasks (default 3), in id order, of the held-out test split of `--domain` (default
  math) in `data/splits.json`: never used to compile the shipped artifacts (3 since joined additions cut the
  demo's time by about a third; 2 before);
- modes: full, sharded and mediated (add drop-assistant with `--modes`), `--runs` runs each (default 2);
- mediated: the compiled artifact shipped with the package for the Mediator's model and the domain when there is
  one, else the generic (uncompiled) Mediator; the demo says which;
- sampling: the assistant samples at `--temperature` (default 1.0, so runs are distinct samples; `rollout_id`
  per run), the Mediator and the judge at 0; replies are capped at `--max-tokens` (default 320, the cap the
  shipped artifacts are compiled with; at 256 the 1.5B model's worked answers were cut off) and the Mediator
  reads its previous request, the last reply and the new turn (`--mediator-history incremental`);
- joined additions (`--join-additions`, on here, off in the library until it is made the default): a follow-up
  turn that only adds information is joined to the last request without a Mediator call; turns that revise or
  refer to the assistant are rewritten. Chosen from the side-by-side runs on the LiC records and the revision
  tasks (README), not from the demo's tasks, and because rewriting every turn took the demo past five minutes.

What it prints, in order: one conversation end to end (the first task in id order, and the first run, where
sharded failed and mediated succeeded; else the first task's first run): the shards as the user typed them, the
sharded assistant's answer, the Mediator's request, the mediated answer, each scored; then where the mediated
conversations that failed lost (a request that dropped values the user gave, or a wrong answer to a complete
request, and whether full mode solved that task and run), how many mediated requests went to the Mediator's LM
(the only ones its rules, compiled or not, can change; the others were joined) and, per mode,
how many failed conversations ended on a reply cut off at the token cap; then the table (P, A90, U90_10 per mode,
and recovery = (mediated - sharded) / (full - sharded)), how many points one conversation moves a mode (with the
command that runs every test task 3 times), and where the report and charts are.
Everything printed is read back from the run's own trajectories. A rerun resumes `--out`.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from pathlib import Path
from typing import TextIO

from intent_mediator.commands.common import (
    add_mediator_history_flag,
    add_model_flags,
    join_additions_in,
    print_summary,
)
from intent_mediator.errors import IntentMediatorError

DEMO_MODES = "full,sharded,mediated"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domain", default="math", help="whose test split to run (default math)")
    parser.add_argument(
        "--first", type=int, default=3, metavar="N", help="the first N test tasks in id order (default 3)"
    )
    parser.add_argument("--modes", default=DEMO_MODES, help=f"conversation modes (default {DEMO_MODES})")
    parser.add_argument("--runs", type=int, default=2, help="runs per task and mode (default 2)")
    parser.add_argument(
        "--generic", action="store_true", help="mediate with the generic Mediator even if a compiled one ships"
    )
    parser.add_argument(
        "--join-additions",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the Mediator joins turns that only add information to its last request, without an LM call "
        "(default on here: measured better and cheaper side by side, and it keeps the demo within five minutes; "
        "--no-join-additions rewrites every turn after the first)",
    )
    parser.add_argument("--out", default="runs/demo", metavar="DIR", help="output folder, resumed (default runs/demo)")
    parser.add_argument("--workers", type=int, default=1, help="conversations at once (default 1: one model slot)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_mediator_history_flag(
        parser, "incremental (default here): the Mediator reads its previous request, the reply and the new turn"
    )
    add_model_flags(parser)
    parser.set_defaults(temperature=1.0, max_tokens=320, role_temperature=[], mediator_history="incremental")


def demo_records(domain: str, first: int) -> list:
    """The documented subset: the first `first` test tasks of `domain`, in id order."""
    from intent_mediator.data.records import RecordError
    from intent_mediator.data.splits import load_split

    if first < 1:
        raise IntentMediatorError(f"--first must be at least 1, got {first}")
    try:
        records = sorted(load_split(domain, "test"), key=lambda r: r.task_id)
    except RecordError as exc:
        raise IntentMediatorError(f"--domain {domain}: {exc}") from None
    return records[:first]


def settings_for(args: argparse.Namespace, domain: str, stdout: TextIO):
    """Conversation settings: Mediator and judge at temperature 0, and the shipped compiled Mediator if any."""
    from intent_mediator.artifacts import ArtifactError, choose_artifact, load_artifact
    from intent_mediator.commands.common import roles_from_args
    from intent_mediator.simulation.conversation import ConversationSettings

    args.role_temperature = ["mediator=0", "judge=0", *args.role_temperature]
    roles = roles_from_args(args)
    mediator_model = roles.models()["mediator"]
    choice = choose_artifact(None, None, domain, shipped=mediator_model)
    programs = {}
    if args.generic:
        print("mediated: the generic Mediator (--generic)", file=stdout)
    elif choice.folder is None:
        print(
            f"mediated: no compiled {domain} artifact ships for {mediator_model}: using the generic Mediator",
            file=stdout,
        )
    else:
        try:
            programs[domain] = load_artifact(choice.folder)
        except ArtifactError as exc:
            raise IntentMediatorError(f"the shipped artifact cannot be loaded: {exc}") from None
        rules = len(programs[domain].guidelines)
        print(f"mediated: the compiled Mediator shipped for {mediator_model} ({rules} rules)", file=stdout)
        print(f"  artifact: {choice.folder}", file=stdout)
    program = None
    if args.join_additions:
        from intent_mediator.programs import MediatedAssistant

        program = MediatedAssistant(mediator_history=args.mediator_history)
        join_additions_in([program, *programs.values()])
    settings = ConversationSettings(
        roles=roles, programs=programs, program=program, mediator_history=args.mediator_history
    )
    return settings, ("the generic Mediator" if not programs else "the shipped compiled Mediator")


# How the request printed came about (`TurnRecord.mediation`, set by the Mediator's check-and-repair step).
MEDIATION_PATHS = {
    "passthrough": "a single turn, sent as the user typed it",
    "joined": "the user's new turns only added information, so they were joined to the last request, no Mediator call",
    "rewrite": "the Mediator's rewrite, which passed the fact check",
    "repaired": "the Mediator's rewrite after one repair call",
    "appended": "the Mediator's rewrite with the user's turns that held lost values appended",
    "user turns": "the Mediator's rewrite failed the fact check even after repair, so the user's turns were sent",
    "cut off": "the Mediator's rewrite stopped at its token cap, so the user's turns were sent",
}


def pick_conversation(trajectories: list) -> tuple[object, object, str]:
    """(sharded, mediated, why): the fixed rule of the module docstring."""
    by_key = {(t.task_id, t.mode, t.run): t for t in trajectories if t.error is None}
    keys = sorted({(t.task_id, t.run) for t in trajectories})
    for task_id, run in keys:
        sharded, mediated = by_key.get((task_id, "sharded", run)), by_key.get((task_id, "mediated", run))
        if sharded and mediated and sharded.outcome != "solved" and mediated.outcome == "solved":
            return sharded, mediated, "the first task (id order) and run where sharded failed and mediated succeeded"
    for task_id, run in keys:
        sharded, mediated = by_key.get((task_id, "sharded", run)), by_key.get((task_id, "mediated", run))
        if sharded and mediated:
            return sharded, mediated, "no run had sharded fail and mediated succeed: the first task and run"
    return None, None, "no finished sharded and mediated pair"


def _block(text: str | None, width: int = 100, limit: int = 900) -> str:
    text = (text or "").strip() or "(empty)"
    if len(text) > limit:
        text = text[:limit].rstrip() + f" [... {len(text) - limit} more characters]"
    lines = []
    for paragraph in text.splitlines():
        lines += textwrap.wrap(paragraph, width) or [""]
    return textwrap.indent("\n".join(lines), "      ")


def answer_turn(trajectory):
    """The turn that decided the conversation's score: its last answer attempt, else its last turn."""
    attempts = [turn for turn in trajectory.turns if turn.score is not None]
    return attempts[-1] if attempts else (trajectory.turns[-1] if trajectory.turns else None)


def _scored(turn) -> str:
    if turn is None:
        return "no reply: score 0"
    if turn.score is None:
        return f"no answer attempted ({turn.kind}): score 0"
    return f"score {100 * turn.score:.0f}" + (f" ({turn.reason})" if turn.reason else "")


def print_conversation(sharded, mediated, why: str, stdout: TextIO) -> None:
    """One conversation end to end, from its trajectories."""
    if sharded is None:
        print(f"(no conversation to show: {why})", file=stdout)
        return
    print(f"\n=== One conversation: {sharded.task_id}, run {sharded.run} ({why}) ===", file=stdout)
    print("The user, turn by turn (sharded mode):", file=stdout)
    for turn in sharded.turns:
        print(f"  {turn.index + 1}. {turn.user}", file=stdout)
    decisive = answer_turn(sharded)
    where = f"turn {decisive.index + 1}" if decisive else "-"
    print(f"\nSharded: the assistant's answer ({where}) -> {_scored(decisive)}", file=stdout)
    print(_block(decisive.assistant if decisive else ""), file=stdout)
    final = answer_turn(mediated)
    where = f"user turn {final.index + 1} of {len(mediated.turns)}" if final else "-"
    path = MEDIATION_PATHS.get(final.mediation or "", "") if final else ""
    print(f"\nMediated: the Mediator's request ({where}{'; ' + path if path else ''})", file=stdout)
    print(_block(final.request if final else ""), file=stdout)
    print(f"Mediated: the assistant's answer to that request -> {_scored(final)}", file=stdout)
    print(_block(final.assistant if final else ""), file=stdout)
    print(
        f"\nConversation scores: sharded {sharded.score:.0f}, mediated {mediated.score:.0f} "
        "(the last answer attempt; a conversation stops at its first correct answer)",
        file=stdout,
    )


def print_shortfall(trajectories: list, stdout: TextIO) -> None:
    """Where the mediated conversations that failed lost (`report.shortfall`): the request, or the answer."""
    from intent_mediator.report import shortfall

    full = [t for t in trajectories if t.mode == "full"]
    counts = shortfall([t for t in trajectories if t.mode == "mediated"], full or None)
    if counts is None:
        return
    print(
        f"\nWhere mediated fell short ({counts['failed']} of {counts['conversations']} mediated conversations failed):",
        file=stdout,
    )
    complete = counts["wrong"] + counts["silent"]
    if complete:
        also = counts["full_also_failed"]
        in_full = (
            f"; {also} of these {complete} also failed in full mode, from the fully specified instruction"
            if also is not None
            else ""
        )
        cut = f" ({counts['cut_off']} of them cut off at the token cap)" if counts["cut_off"] else ""
        print(
            f"  {complete}: the last request kept every value the user gave; the assistant's reply to it was a "
            f"wrong answer in {counts['wrong']} and no answer attempt in {counts['silent']}{cut}{in_full}",
            file=stdout,
        )
    lines = {
        "lossy": "the last request lost values the user gave (fact loss above 0)",
        "capped": "the turn bound ended the conversation before every shard was said",
        "unchecked": "the last turn has no fact check recorded",
    }
    for key, text in lines.items():
        if counts[key]:
            print(f"  {counts[key]}: {text}", file=stdout)


def print_mediation(trajectories: list, stdout: TextIO) -> None:
    """How the mediated requests after the first turn came about (`report.mediation_paths`): how many went to the
    Mediator's LM, the only requests its rules (compiled or not) can change."""
    from intent_mediator.programs.mediator import NO_CALL_PATHS
    from intent_mediator.report import mediation_paths

    mediated = [t for t in trajectories if t.mode == "mediated"]
    found = mediation_paths(mediated)
    if found is None:
        return
    joined = found["paths"].get("joined", 0)
    line = f"Mediated requests after the first turn: {found['turns']}, {joined} joined without a Mediator call"
    if not found["through_lm"]:
        line += "; none went to the Mediator's LM, so its rules (compiled or not) changed no request here"
    else:
        called = {path: n for path, n in sorted(found["paths"].items()) if path not in NO_CALL_PATHS}
        where = sum(any(turn.mediation in called for turn in t.turns) for t in mediated)
        paths = ", ".join(f"{path} {n}" for path, n in called.items())
        line += (
            f", {found['through_lm']} through the Mediator's LM ({paths}) in {where} of {len(mediated)} "
            "conversations: only there can its rules, compiled or not, change the request"
        )
    print(line, file=stdout)


def print_cut_off(trajectories: list, modes: list[str], max_tokens: int | None, stdout: TextIO) -> None:
    """How many failed conversations per mode ended on a reply cut off at the token cap (`report.cut_off_failures`)."""
    from intent_mediator.report import cut_off_failures, cut_off_text

    per_mode = cut_off_text(cut_off_failures(trajectories), modes)
    if per_mode is None:
        return
    cap = f"the {max_tokens}-token cap" if max_tokens else "its token cap"
    print(
        f"Failed conversations whose last reply was cut off at {cap} (scored as not solved): {per_mode} "
        "(--max-tokens raises the cap)",
        file=stdout,
    )


def print_sample_size(summary: dict, args: argparse.Namespace, modes: list[str], stdout: TextIO) -> None:
    """How much one conversation weighs in the table, and the command that runs the whole test split 3 times."""
    from intent_mediator.data.splits import load_split

    counts = [row["n"] for mode, row in (summary.get("overall") or {}).items() if mode in modes and row.get("n")]
    if not counts:
        return
    per_mode = min(counts)
    whole = len(load_split(args.domain, "test"))
    line = f"{per_mode} conversations per mode: one conversation moves a mode's P by about {100 / per_mode:.2g} points"
    if per_mode < whole * 3:
        flags = [f"--domain {args.domain}"] if args.domain != "math" else []
        flags += [f"--modes {','.join(modes)}"] if ",".join(modes) != DEMO_MODES else []
        flags += ["--generic"] if args.generic else []
        command = " ".join(["intent-mediator demo", *flags, f"--first {whole} --runs 3 --out runs/demo-all"])
        line += f"; every {args.domain} test task, 3 runs: {command} ({whole * 3 * len(modes)} conversations)"
    print(line, file=stdout)


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    from intent_mediator.commands.common import split_list
    from intent_mediator.report import write_report
    from intent_mediator.simulation.conversation import MODES
    from intent_mediator.simulation.runner import evaluate
    from intent_mediator.simulation.trajectory import TrajectoryLog

    stdout = stdout or sys.stdout
    modes = split_list(args.modes) or []
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise IntentMediatorError(f"--modes: unknown mode(s) {unknown or [args.modes]}; modes: {', '.join(MODES)}")
    if args.runs < 1:
        raise IntentMediatorError(f"--runs must be at least 1, got {args.runs}")
    records = demo_records(args.domain, args.first)
    settings, mediator = settings_for(args, args.domain, stdout)
    model = settings.roles.models()["assistant"]
    total = len(records) * len(modes) * args.runs
    print(
        f"demo: {len(records)} held-out {args.domain} test tasks (the first {args.first} in id order: "
        f"{', '.join(r.task_id for r in records)}) x {len(modes)} modes ({', '.join(modes)}) x {args.runs} runs = "
        f"{total} conversations on {model} -> {args.out}\n"
        f"  assistant temperature {args.temperature:g} (Mediator and judge 0), replies capped at {args.max_tokens} "
        f"tokens, Mediator history {args.mediator_history}"
        + (", turns that only add information joined without a Mediator call" if args.join_additions else ""),
        file=stdout,
        flush=True,
    )
    started = time.perf_counter()
    try:
        result = evaluate(
            records, modes, args.runs, args.out, settings, workers=args.workers, progress=not args.no_progress
        )
    except ValueError as exc:  # e.g. the folder was run with another configuration
        raise IntentMediatorError(str(exc)) from None
    seconds = time.perf_counter() - started
    wanted = {r.task_id for r in records}
    trajectories = [
        t
        for t in TrajectoryLog(Path(args.out) / "trajectories.jsonl").latest()
        if t.task_id in wanted and t.mode in modes
    ]
    if "sharded" in modes and "mediated" in modes:
        print_conversation(*pick_conversation(trajectories), stdout=stdout)
        print_shortfall(trajectories, stdout)
    print_mediation(trajectories, stdout)
    print_cut_off(trajectories, modes, args.max_tokens, stdout)
    print(f"\n=== Results: {len(trajectories)} conversations, mediated with {mediator} ===", file=stdout)
    print_summary(result.summary, stdout=stdout)
    if {"full", "sharded", "mediated"} <= set(modes) and result.summary["recovery"].get("overall") is None:
        print("recovery: undefined (full did not score above sharded on these runs)", file=stdout)
    if result.errors:
        print(f"{result.errors} conversation(s) ended in an error (excluded from the scores)", file=stdout)
    print_sample_size(result.summary, args, modes, stdout)
    paths = write_report(args.out, "intent-mediator demo", result.summary)
    charts = [str(p) for name, p in paths.items() if name not in ("markdown", "html")]
    print(
        f"{result.new} conversations run now ({result.skipped} resumed from {args.out}) in {seconds:.0f} s",
        file=stdout,
    )
    print(f"report: {paths['markdown']} and {paths['html']}; charts: {', '.join(charts) or 'none'}", file=stdout)
    return 0
