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


def roles_from_args(args: argparse.Namespace, roles: tuple[str, ...] = ROLES) -> RoleLMs:
    models = {role: getattr(args, role, None) for role in roles}
    return RoleLMs.from_models(
        models, default=args.model, api_base=args.api_base, roles=roles, temperature=args.temperature
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


Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
COMMANDS: dict[str, Command] = {
    "chat": ("interactive multi-turn chat through the MediatedAssistant", _chat_flags, cmd_chat),
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
