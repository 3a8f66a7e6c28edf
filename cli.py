"""The `intent-mediator` command line: one console script, one subcommand per job."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from intent_mediator.errors import IntentMediatorError
from intent_mediator.lm import ROLES, RoleLMs

logger = logging.getLogger(__name__)


def add_model_flags(parser: argparse.ArgumentParser, roles: tuple[str, ...] = ROLES) -> None:
    """Flags that pick a litellm model string per role (default: env vars, then the embedded model)."""
    group = parser.add_argument_group("models (any litellm model string, or 'embedded[/name]')")
    group.add_argument("--model", help="default model for every role not named below (env INTENT_MEDIATOR_MODEL)")
    for role in roles:
        group.add_argument(
            f"--{role}", metavar="MODEL", help=f"model of the {role} role (env INTENT_MEDIATOR_{role.upper()}_MODEL)"
        )
    group.add_argument("--api-base", metavar="URL", help="OpenAI-compatible base URL for the openai/... roles")
    group.add_argument("--temperature", type=float, default=0.0, help="sampling temperature of every role (default 0)")
    group.add_argument("--max-tokens", type=int, help="completion cap of every role (default: the provider's)")


def roles_from_args(args: argparse.Namespace, roles: tuple[str, ...] = ROLES) -> RoleLMs:
    models = {role: getattr(args, role, None) for role in roles}
    return RoleLMs.from_models(
        models,
        default=args.model,
        api_base=args.api_base,
        roles=roles,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
    )


def read_guidelines(path: str | None) -> list[str]:
    """Guidelines from a text file (one per line; numbering and blank lines ignored) or a JSON artifact."""
    if not path:
        return []
    from intent_mediator.signatures.mediator import render_instructions, split_instructions

    file = Path(path)
    if not file.is_file():
        raise IntentMediatorError(f"--guidelines: no such file {path}")
    text = file.read_text(encoding="utf-8")
    if file.suffix == ".json":
        import json

        data = json.loads(text)
        guidelines = data.get("guidelines") if isinstance(data, dict) else data
        if not isinstance(guidelines, list) or not all(isinstance(g, str) for g in guidelines):
            raise IntentMediatorError(f"{path}: expected a JSON list of strings or an object with a 'guidelines' list")
        return guidelines
    lines = [line for line in text.splitlines() if line.strip()]
    # Round-trip through the renderer so numbering such as "1." or "2)" is stripped the same way everywhere.
    return split_instructions(render_instructions("", lines))[1]


def cmd_chat(args: argparse.Namespace, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    from intent_mediator.programs import MediatedAssistant
    from intent_mediator.transcript import Turn

    roles = roles_from_args(args, ("assistant", "mediator"))
    program = MediatedAssistant(
        read_guidelines(args.guidelines),
        context=args.system,
        mediator_lm=roles.mediator,
        assistant_lm=roles.assistant,
        chain_of_thought=args.cot,
    )
    transcript: list[Turn] = []
    print("intent-mediator chat: type your message; /reset starts over, /quit or Ctrl-D leaves.", file=stdout)
    for line in stdin:
        text = line.strip()
        if not text:
            continue
        if text == "/quit":
            break
        if text == "/reset":
            transcript.clear()
            print("(conversation reset)", file=stdout)
            continue
        transcript.append(Turn.user(text))
        out = program(transcript=transcript)
        if args.show_request:
            print(f"[mediated request] {out.request}", file=stdout)
        print(f"assistant> {out.response}", file=stdout, flush=True)
        transcript.append(Turn.assistant(out.response))
    return 0


def _chat_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--guidelines", metavar="FILE", help="guidelines file: one rule per line, or a JSON list")
    parser.add_argument("--show-request", action="store_true", help="print the mediated request of every turn")
    parser.add_argument("--system", metavar="TEXT", help="system prompt (task context) for the assistant")
    parser.add_argument("--cot", action="store_true", help="let the Mediator reason before writing the request")
    add_model_flags(parser, ("assistant", "mediator"))


def _run_flags(parser: argparse.ArgumentParser) -> None:
    """Flags shared by every command that simulates conversations (evaluate, demo, compile)."""
    parser.add_argument(
        "--data",
        default="builtin",
        help="records: 'builtin', 'hf:<dataset>', a JSON/JSONL file or a folder (default builtin)",
    )
    parser.add_argument("--tasks", help="comma-separated tasks to keep, e.g. math,code")
    parser.add_argument("--limit", type=int, help="at most this many records per task")
    parser.add_argument(
        "--user-sim",
        choices=("deterministic", "llm"),
        default="deterministic",
        help="deterministic: shards in order (the paper's setting); llm: the user role's model",
    )
    parser.add_argument("--persona", default="lazy", help="simulated user persona: lazy, corrective or explicit")
    parser.add_argument("--classifier", choices=("rules", "llm"), default="rules", help="how replies are classified")
    parser.add_argument("--llm-extraction", action="store_true", help="let the judge extract answers parsers miss")
    parser.add_argument("--max-turns", type=int, help="bound on user turns (default: shards + 2)")
    parser.add_argument("--guidelines", metavar="FILE", help="Mediator guidelines for mediated mode")
    parser.add_argument("--program", metavar="FILE", help="a saved MediatedAssistant (program.json) for mediated mode")
    parser.add_argument("--spider-dir", metavar="DIR", help="folder of Spider databases (<db_id>/<db_id>.sqlite)")
    parser.add_argument("--workers", type=int, default=4, help="conversations in flight at once (default 4)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_model_flags(parser)


def _evaluate_flags(parser: argparse.ArgumentParser) -> None:
    _run_flags(parser)
    parser.add_argument(
        "--modes",
        default="full,sharded,mediated",
        help="comma-separated: full, concat, sharded, recap, snowball, mediated",
    )
    parser.add_argument("--runs", type=int, default=1, help="runs per instruction and mode (default 1)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder; an existing one is resumed")


def _split(value: str | None) -> list[str] | None:
    return [item.strip() for item in value.split(",") if item.strip()] if value else None


def load_run_records(args: argparse.Namespace):
    from intent_mediator.data.loaders import load_records

    records = load_records(args.data, tasks=_split(args.tasks))
    if args.limit:
        kept, per_task = [], {}
        for record in records:
            per_task[record.task] = per_task.get(record.task, 0) + 1
            if per_task[record.task] <= args.limit:
                kept.append(record)
        records = kept
    if not records:
        raise IntentMediatorError(f"no records in {args.data} for tasks {args.tasks or 'all'}")
    return records


def conversation_settings(args: argparse.Namespace):
    from intent_mediator.data.personas import get_persona
    from intent_mediator.programs import MediatedAssistant
    from intent_mediator.simulation.conversation import ConversationSettings
    from intent_mediator.tasks import get_task

    try:
        persona = get_persona(args.persona)
    except KeyError as exc:
        raise IntentMediatorError(str(exc.args[0])) from None
    if args.spider_dir:
        get_task("database").spider_dir = args.spider_dir
    roles = roles_from_args(args)
    get_task("summary").judge_lm = roles.judge
    program = MediatedAssistant(read_guidelines(args.guidelines))
    if args.program:
        if not Path(args.program).is_file():
            raise IntentMediatorError(f"--program: no such file {args.program}")
        program.load(args.program)
    return ConversationSettings(
        roles=roles,
        user_sim=args.user_sim,
        persona=persona,
        classifier=args.classifier,
        llm_extraction=args.llm_extraction,
        max_turns=args.max_turns,
        program=program,
    )


def print_summary(summary: dict, stdout: TextIO = sys.stdout) -> None:
    from intent_mediator.report import performance_table

    rows = performance_table(summary)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)), file=stdout)
    recovery = {k: v for k, v in summary["recovery"].items() if v is not None}
    if recovery:
        print("recovery: " + ", ".join(f"{k} {v:.2f}" for k, v in recovery.items()), file=stdout)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from intent_mediator.simulation.runner import evaluate

    records = load_run_records(args)
    result = evaluate(
        records,
        _split(args.modes),
        args.runs,
        args.out,
        conversation_settings(args),
        workers=args.workers,
        progress=not args.no_progress,
    )
    print(
        f"{result.new} conversations run, {result.skipped} already finished, {result.errors} errors "
        f"-> {Path(args.out) / 'trajectories.jsonl'}"
    )
    print_summary(result.summary)
    return 0


def _report_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="an evaluate --out folder")
    parser.add_argument("--title", help="report title")


def cmd_report(args: argparse.Namespace) -> int:
    from intent_mediator.report import write_report

    try:
        paths = write_report(args.run_dir, args.title)
    except FileNotFoundError as exc:
        raise IntentMediatorError(str(exc)) from None
    print(f"wrote {paths['markdown']} and {paths['html']}")
    return 0


DEMO_TASKS = "im-math-02,im-math-03,im-math-09"


def _demo_flags(parser: argparse.ArgumentParser) -> None:
    _run_flags(parser)
    # One llama.cpp slot answers at a time; a reply cap keeps a 2-core demo within minutes.
    parser.set_defaults(workers=1, max_tokens=320)
    parser.add_argument("--task-ids", default=DEMO_TASKS, help=f"records to run (default {DEMO_TASKS})")
    parser.add_argument("--modes", default="full,sharded,mediated", help="conversation modes")
    parser.add_argument("--runs", type=int, default=1, help="runs per instruction and mode")
    parser.add_argument("--out", default="runs/demo", metavar="DIR", help="output folder (default runs/demo)")


def cmd_demo(args: argparse.Namespace) -> int:
    import time

    from intent_mediator.report import write_report
    from intent_mediator.simulation.runner import evaluate

    wanted = _split(args.task_ids) or []
    records = [r for r in load_run_records(args) if r.task_id in wanted]
    if not records:
        raise IntentMediatorError(f"--task-ids matched no record in {args.data}")
    print(
        f"demo: {len(records)} tasks x modes {args.modes} on {args.assistant or args.model or 'the embedded model'}"
        f" -> {args.out}",
        flush=True,
    )
    started = time.perf_counter()
    result = evaluate(
        records,
        _split(args.modes),
        args.runs,
        args.out,
        conversation_settings(args),
        workers=args.workers,
        progress=not args.no_progress,
    )
    paths = write_report(args.out, "intent-mediator demo")
    print_summary(result.summary)
    print(f"{result.new} conversations in {time.perf_counter() - started:.0f} s; report: {paths['markdown']}")
    return 0


Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
COMMANDS: dict[str, Command] = {
    "chat": ("interactive multi-turn chat through the MediatedAssistant", _chat_flags, cmd_chat),
    "evaluate": ("simulate Lost-in-Conversation runs and score them", _evaluate_flags, cmd_evaluate),
    "report": ("write Markdown and HTML reports of an evaluate folder", _report_flags, cmd_report),
    "demo": ("the embedded model on a few of the project's tasks: full, sharded and mediated", _demo_flags, cmd_demo),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intent-mediator", description="Keep LLMs from getting lost in multi-turn conversation."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, configure, _) in COMMANDS.items():
        configure(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return COMMANDS[args.command][2](args)
    except IntentMediatorError as exc:
        print(f"intent-mediator {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
