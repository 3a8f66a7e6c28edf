"""The `intent-mediator` command line: one console script, one subcommand per job (see `commands/`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from intent_mediator.commands import chat, compile_command, demo, evaluate, serve
from intent_mediator.errors import IntentMediatorError

logger = logging.getLogger(__name__)

Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
COMMANDS: dict[str, Command] = {
    "chat": ("interactive multi-turn chat through the MediatedAssistant", chat.configure, chat.run),
    "evaluate": (
        "simulate Lost-in-Conversation runs and score them",
        evaluate.configure_evaluate,
        evaluate.run_evaluate,
    ),
    "report": ("write Markdown and HTML reports of an evaluate folder", evaluate.configure_report, evaluate.run_report),
    "demo": (
        "the embedded model on held-out math tasks: full, sharded and mediated (compiled), one conversation shown",
        demo.configure,
        demo.run,
    ),
    "compile": (
        "learn Mediator guidelines for a user and domain; write an artifact",
        compile_command.configure,
        compile_command.run,
    ),
    "serve": ("an OpenAI-compatible endpoint that mediates every conversation", serve.configure, serve.run),
}


class OneLineErrorParser(argparse.ArgumentParser):
    """Bad flags end in one line naming the flag, exit code 2 (argparse prints the whole usage first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
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
    from intent_mediator.lm import limit_call_records

    limit_call_records()  # a long run or a server would otherwise keep its last 10,000 calls in memory
    try:
        return COMMANDS[args.command][2](args)
    except IntentMediatorError as exc:
        print(f"intent-mediator {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that cannot be made, a full disk: one line naming the file, not a traceback
        print(f"intent-mediator {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
