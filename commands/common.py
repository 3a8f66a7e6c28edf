"""What the commands share: model flags, run flags, record loading and conversation settings."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from intent_mediator.errors import IntentMediatorError
from intent_mediator.lm import ROLES, RoleLMs
from intent_mediator.transcript import MEDIATOR_HISTORIES


def add_model_flags(parser: argparse.ArgumentParser, roles: tuple[str, ...] = ROLES) -> None:
    """Flags that pick a litellm model string per role (default: env vars, then the embedded model)."""
    group = parser.add_argument_group("models (any litellm model string, or 'embedded[/name]')")
    group.add_argument("--model", help="default model for every role not named below (env INTENT_MEDIATOR_MODEL)")
    for role in roles:
        # `--user` names the user whose guidelines `compile` learns; the user simulator's model is --user-model.
        flag = "--user-model" if role == "user" else f"--{role}"
        group.add_argument(
            flag,
            dest=role,
            metavar="MODEL",
            help=f"model of the {role} role (env INTENT_MEDIATOR_{role.upper()}_MODEL)",
        )
    group.add_argument("--api-base", metavar="URL", help="OpenAI-compatible base URL for the openai/... roles")
    group.add_argument(
        "--temperature",
        type=temperature,
        help="sampling temperature of the assistant and the simulated user (default 1.0, as the reference); "
        "the judge stays at 0 and the Mediator at its default 0 unless --role-temperature names them",
    )
    group.add_argument("--max-tokens", type=at_least_one, help="completion cap of every role (default: the provider's)")
    group.add_argument(
        "--role-temperature",
        type=role_temperature,
        action="append",
        default=[],
        metavar="ROLE=T",
        help="temperature of one role, overriding --temperature (repeatable), e.g. mediator=0",
    )


def roles_from_args(args: argparse.Namespace, roles: tuple[str, ...] = ROLES) -> RoleLMs:
    models = {role: getattr(args, role, None) for role in roles}
    return RoleLMs.from_models(
        models,
        default=args.model,
        api_base=args.api_base,
        roles=roles,
        temperature=getattr(args, "temperature", None),
        max_tokens=args.max_tokens,
        temperatures=_role_temperatures(args.role_temperature),
    )


def role_temperature(item: str) -> str:
    """argparse type: ROLE=T with T a temperature (see `temperature`); the item is kept as given."""
    _, equals, value = item.partition("=")
    try:
        if not equals:
            raise argparse.ArgumentTypeError("no '='")
        temperature(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{item!r}: expected ROLE=NUMBER with a finite number >= 0, e.g. mediator=0"
        ) from None
    return item


def _role_temperatures(items: list[str]) -> dict[str, float]:
    """ROLE=T items (checked by `role_temperature`; the demo adds its own) as {role: T}."""
    out = {}
    for item in items:
        try:
            role, _, value = role_temperature(item).partition("=")
        except argparse.ArgumentTypeError as exc:  # a caller that built its flags without argparse
            raise IntentMediatorError(f"--role-temperature {exc}") from None
        out[role.strip()] = float(value)
    return out


def read_guidelines(path: str | None) -> list[str]:
    """Guidelines from a text file (one per line; numbering and blank lines ignored) or a JSON artifact."""
    if not path:
        return []
    from intent_mediator.signatures.mediator import render_instructions, split_instructions

    file = Path(path)
    if not file.is_file():
        raise IntentMediatorError(f"--guidelines: no such file {path}")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise IntentMediatorError(f"--guidelines: {path} is not UTF-8 text (byte {exc.start})") from None
    if file.suffix == ".json":
        import json

        try:
            data = json.loads(text)
        except ValueError as exc:
            raise IntentMediatorError(f"--guidelines: {path} is not valid JSON ({exc})") from None
        guidelines = data.get("guidelines") if isinstance(data, dict) else data
        if not isinstance(guidelines, list) or not all(isinstance(g, str) for g in guidelines):
            raise IntentMediatorError(f"{path}: expected a JSON list of strings or an object with a 'guidelines' list")
        return guidelines
    lines = [line for line in text.splitlines() if line.strip()]
    # Round-trip through the renderer so numbering such as "1." or "2)" is stripped the same way everywhere.
    return split_instructions(render_instructions("", lines))[1]


# Incremental by default: on held-out tasks it lost no more than full history once checked, at fewer tokens
# (benchmarks/results/mediator_variants.md, embedded_multiturn.md).
DEFAULT_MEDIATOR_HISTORY = "incremental"


def add_mediator_history_flag(
    parser: argparse.ArgumentParser, help_text: str, default: str | None = DEFAULT_MEDIATOR_HISTORY
) -> None:
    """`--mediator-history`; with `default=None` an unset flag means a loaded program's own history (and
    DEFAULT_MEDIATOR_HISTORY for a program built from flags)."""
    parser.add_argument("--mediator-history", choices=MEDIATOR_HISTORIES, default=default, help=help_text)


def number_in(
    kind: type[int] | type[float],
    low: float,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> Callable[[str], Any]:
    """An argparse type: a finite `kind` (int or float) in [low, high], ends excluded when `low_open`/`high_open`.

    NaN and infinities are refused: they would be written into run.json (not JSON) or disable a bound.
    """
    left, right = "(" if low_open else "[", ")" if high_open or high == math.inf else "]"
    span = f"{left}{low:g}, {'inf' if high == math.inf else f'{high:g}'}{right}"
    what = "a whole number" if kind is int else "a number"

    def parse(value: str):
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} in {span}, got {value!r}") from None
        inside = (low < number if low_open else low <= number) and (number < high if high_open else number <= high)
        if not ((kind is int or math.isfinite(number)) and inside):  # isfinite overflows on a huge int
            raise argparse.ArgumentTypeError(f"must be {what} in {span}, got {value}")
        return number

    return parse


# Whole number >= 1 (0 would silently mean "everything" or "nothing").
at_least_one = number_in(int, 1)
# A count where 0 means "none" (e.g. no confirmation runs).
count = number_in(int, 0)
# A sampling temperature.
temperature = number_in(float, 0)
# An entropy rise in nats (ERGO's threshold): a negative one would reset on falls too.
entropy_rise = number_in(float, 0)
fraction = number_in(float, 0, 1, high_open=True)
percentile = number_in(float, 0, 100)
seconds = number_in(float, 0, low_open=True)
port = number_in(int, 0, 65535)  # 0: any free port


def mode_list(value: str) -> str:
    """argparse type: comma-separated conversation modes, each one the simulator knows."""
    from intent_mediator.simulation.conversation import MODES

    modes = split_list(value) or []
    unknown = [mode for mode in modes if mode not in MODES]
    if not modes or unknown:
        raise argparse.ArgumentTypeError(f"unknown mode(s) {unknown or [value]}; modes: {', '.join(MODES)}")
    return value


def output_dir(value: str) -> str:
    """argparse type: a folder that exists or can be created (not a file, not under one, not the empty string)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("an empty path: name the folder")
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a file, not a folder")
    blocking = next((parent for parent in path.absolute().parents if parent.exists() and not parent.is_dir()), None)
    if blocking is not None:
        raise argparse.ArgumentTypeError(f"{value} cannot be created: {blocking} is a file")
    return value


def load_program_flag(path: str | None, flag: str = "--program"):
    """The program a `--program` flag names: an artifact folder or a program file, built with its recorded
    architecture. Errors name the flag."""
    if not path:
        return None
    from intent_mediator.artifacts import ArtifactError, load_program

    file = Path(path)
    if file.is_dir():
        file = file / "program.json"
    if not file.is_file():
        raise IntentMediatorError(f"{flag}: no such file {file}")
    try:
        return load_program(file)
    except ArtifactError as exc:
        raise IntentMediatorError(f"{flag}: {exc}") from None


def run_flags(parser: argparse.ArgumentParser) -> None:
    """Flags shared by every command that simulates conversations (evaluate, demo, compile)."""
    parser.add_argument(
        "--data",
        default="builtin",
        help="records: 'builtin', 'hf:<dataset>', a JSON/JSONL file or a folder (default builtin)",
    )
    parser.add_argument("--tasks", help="comma-separated tasks to keep, e.g. math,code")
    parser.add_argument(
        "--split",
        choices=("train", "validation", "test"),
        help="with --data builtin: keep only this fixed split of each domain (data/splits.json)",
    )
    parser.add_argument("--limit", type=at_least_one, help="at most this many records per task")
    parser.add_argument(
        "--user-sim",
        choices=("deterministic", "llm"),
        default="deterministic",
        help="deterministic: shards in order (the paper's setting); llm: the user role's model",
    )
    parser.add_argument(
        "--persona", default="lazy", help="simulated user persona: lazy, corrective, explicit or revising"
    )
    parser.add_argument("--classifier", choices=("rules", "llm"), default="rules", help="how replies are classified")
    parser.add_argument(
        "--llm-extraction",
        action="store_true",
        help="the judge copies math and database answers out of replies verbatim (as in the benchmark)",
    )
    parser.add_argument("--max-turns", type=at_least_one, help="bound on user turns (default: shards + 2)")
    parser.add_argument("--guidelines", metavar="FILE", help="Mediator guidelines for mediated mode")
    parser.add_argument(
        "--program",
        metavar="PATH",
        help="a compiled program for mediated mode: an artifact folder or its program.json",
    )
    add_mediator_history_flag(
        parser,
        "full: the Mediator rereads the transcript each turn (the paper); incremental: it reads its previous "
        "request, the reply and the new turn (default: the --program's own, else incremental)",
        default=None,
    )
    parser.add_argument(
        "--join-additions",
        action="store_true",
        help="mediated mode: send a turn that only adds information joined to the last request, without a "
        "Mediator call (turns that revise or refer to the assistant are still rewritten)",
    )
    parser.add_argument("--spider-dir", metavar="DIR", help="folder of Spider databases (<db_id>/<db_id>.sqlite)")
    parser.add_argument("--workers", type=at_least_one, default=4, help="conversations in flight at once (default 4)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_model_flags(parser)


def split_list(value: str | None) -> list[str] | None:
    return [item.strip() for item in value.split(",") if item.strip()] if value else None


def load_run_records(args: argparse.Namespace):
    from intent_mediator.data.loaders import load_records
    from intent_mediator.tasks import get_task

    for name in split_list(args.tasks) or []:
        try:
            get_task(name)
        except KeyError as exc:
            raise IntentMediatorError(f"--tasks: {exc.args[0]}") from None
    try:
        records = load_records(args.data, tasks=split_list(args.tasks))
    except IntentMediatorError as exc:
        raise IntentMediatorError(f"--data {args.data}: {exc}") from None
    except Exception as exc:  # datasets / the hub raise their own types for a missing or unreachable dataset
        raise IntentMediatorError(f"--data {args.data}: cannot load ({type(exc).__name__}: {exc})") from None
    if getattr(args, "split", None):
        from intent_mediator.data.splits import select_split

        if args.data != "builtin":
            raise IntentMediatorError(f"--split {args.split}: the fixed splits are of --data builtin, not {args.data}")
        records = select_split(records, args.split)
    if args.limit:
        kept, per_task = [], {}  # type: list, dict[str, int]
        for record in records:
            per_task[record.task] = per_task.get(record.task, 0) + 1
            if per_task[record.task] <= args.limit:
                kept.append(record)
        records = kept
    if not records:
        raise IntentMediatorError(f"no records in {args.data} for tasks {args.tasks or 'all'}")
    return records


def join_additions_in(programs: Iterable[Any]) -> None:
    """`--join-additions`: every given program's Mediator joins additive turns (the run's program and each
    compiled per-domain one alike, so the flag never holds for some Mediators of a run only)."""
    for program in programs:
        program.mediator.join_additions = True


def check_confirm_flags(confirm_runs: int, confirm_bar: str, validation_tasks: int | None = None) -> None:
    """Refuse, naming the flag, confirmation settings `Refiner(confirm_runs=..., confirm_bar=...)` would refuse, before
    anything runs: runs below 0, a bar other than "higher" without runs, and (when the validation size is known)
    the interval bar on fewer than `MIN_INTERVAL_TASKS` tasks."""
    if confirm_runs < 0:
        raise IntentMediatorError(f"--confirm-runs must be 0 or more, got {confirm_runs}")
    if confirm_bar != "higher" and not confirm_runs:
        raise IntentMediatorError(f"--confirm-bar {confirm_bar}: give --confirm-runs N (the runs it is read on)")
    if confirm_bar == "interval" and validation_tasks is not None:
        from intent_mediator.optimizers.refiner import MIN_INTERVAL_TASKS  # DSPy loads only when a check needs it

        if validation_tasks < MIN_INTERVAL_TASKS:
            raise IntentMediatorError(
                f"--confirm-bar interval needs at least {MIN_INTERVAL_TASKS} validation tasks, got "
                f"{validation_tasks} (--validation)"
            )


def conversation_settings(args: argparse.Namespace):
    from intent_mediator.data.personas import get_persona
    from intent_mediator.programs import MediatedAssistant
    from intent_mediator.simulation.conversation import ConversationSettings
    from intent_mediator.tasks import TaskConfig

    try:
        persona = get_persona(args.persona)
    except KeyError as exc:
        raise IntentMediatorError(str(exc.args[0])) from None
    roles = roles_from_args(args)
    program = load_program_flag(args.program)
    if program is None:
        program = MediatedAssistant(read_guidelines(args.guidelines), mediator_history=DEFAULT_MEDIATOR_HISTORY)
    elif args.guidelines:
        raise IntentMediatorError("--guidelines and --program: give one; a compiled program holds its guidelines")
    if args.mediator_history is not None:
        program.mediator_history = args.mediator_history
    if getattr(args, "join_additions", False):
        join_additions_in([program])
    return ConversationSettings(
        roles=roles,
        user_sim=args.user_sim,
        persona=persona,
        classifier=args.classifier,
        llm_extraction=args.llm_extraction,
        max_turns=args.max_turns,
        program=program,
        mediator_history=program.mediator_history,
        task_config=TaskConfig(judge_lm=roles.judge, spider_dir=args.spider_dir),
    )


def print_summary(summary: dict, stdout: TextIO | None = None) -> None:
    """The summary table and its notes, on `stdout` (default: the `sys.stdout` of the moment of the call)."""
    from intent_mediator.report import error_line, performance_table, turn_cap_line

    stdout = stdout or sys.stdout
    rows = performance_table(summary)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)), file=stdout)
    recovery = {k: v for k, v in summary["recovery"].items() if v is not None}
    if recovery:
        print("recovery: " + ", ".join(f"{k} {v:.2f}" for k, v in recovery.items()), file=stdout)
    for line in (turn_cap_line(summary), error_line(summary)):
        if line:
            print(line, file=stdout)


def add_artifact_flags(parser: argparse.ArgumentParser) -> None:
    """`--compiled` (the artifacts shipped with the package) and `--artifacts DIR` (your own), for mediated mode."""
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="mediated mode uses the compiled domain artifact shipped with the package for the Mediator's model "
        "(data/artifacts/<model>/_generic/<domain>); a domain without one keeps the generic Mediator",
    )
    parser.add_argument(
        "--artifacts",
        metavar="DIR",
        help="your compiled artifacts root (<user>/<domain>/program.json): mediated mode uses each record's "
        "domain artifact (_generic/<domain>, before a shipped one), else _generic/_generic",
    )


def compiled_programs(args: argparse.Namespace, domains, mediator_model: str | None, stdout: TextIO | None = None):
    """Per-domain programs for mediated mode from `--artifacts` / `--compiled`, and the choice made per domain.

    Returns:
        ({domain: program}, {domain: ArtifactChoice}); domains where nothing compiled applies are left out of
        the programs (they keep the generic or --program Mediator) and printed as such.
    """
    from intent_mediator.artifacts import ArtifactError, choose_artifact, load_artifact

    root = getattr(args, "artifacts", None)
    compiled = getattr(args, "compiled", False)
    if not root and not compiled:
        return {}, {}
    if root and not Path(root).is_dir():
        raise IntentMediatorError(f"--artifacts: no such folder {root}")
    programs, choices = {}, {}
    for domain in sorted(set(domains)):
        try:
            choice = choose_artifact(root, None, domain, shipped=mediator_model if compiled else None)
            if choice.folder is not None:
                programs[domain] = load_artifact(choice.folder)
        except ArtifactError as exc:
            raise IntentMediatorError(f"--{'artifacts' if root else 'compiled'}: {exc}") from None
        choices[domain] = choice
        print(f"mediated {domain}: {choice.describe()}", file=stdout or sys.stdout, flush=True)
    return programs, choices
