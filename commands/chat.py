"""`intent-mediator chat`: an interactive multi-turn chat through the MediatedAssistant."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from intent_mediator.commands import common
from intent_mediator.commands.common import (
    add_mediator_history_flag,
    add_model_flags,
    load_program_flag,
    read_guidelines,
)
from intent_mediator.errors import IntentMediatorError


def run(args: argparse.Namespace, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    from intent_mediator.programs import MediatedAssistant
    from intent_mediator.transcript import Turn

    program = load_program_flag(args.program)
    if program is not None and (args.guidelines or args.cot):
        raise IntentMediatorError("--program holds its own guidelines and architecture: drop --guidelines and --cot")
    roles = common.roles_from_args(args, ("assistant", "mediator"))
    if program is None:
        program = MediatedAssistant(read_guidelines(args.guidelines), chain_of_thought=args.cot)
    program.mediator.role_lm, program.assistant_lm = roles.mediator, roles.assistant
    if args.system:
        program.context = args.system
    history = args.mediator_history or program.mediator_history
    transcript: list[Turn] = []
    previous_request = None
    print("intent-mediator chat: type your message; /reset starts over, /quit or Ctrl-D leaves.", file=stdout)
    for line in stdin:
        text = line.strip()
        if not text:
            continue
        if text == "/quit":
            break
        if text == "/reset":
            transcript.clear()
            previous_request = None
            print("(conversation reset)", file=stdout)
            continue
        transcript.append(Turn.user(text))
        out = program(transcript=transcript, previous_request=previous_request)
        if history == "incremental":
            previous_request = out.request
        if args.show_request:
            print(f"[mediated request] {out.request}", file=stdout)
        print(f"assistant> {out.response}", file=stdout, flush=True)
        transcript.append(Turn.assistant(out.response))
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--program", metavar="PATH", help="a compiled program: an artifact folder or its program.json")
    parser.add_argument("--guidelines", metavar="FILE", help="guidelines file: one rule per line, or a JSON list")
    parser.add_argument("--show-request", action="store_true", help="print the mediated request of every turn")
    parser.add_argument("--system", metavar="TEXT", help="system prompt (task context) for the assistant")
    add_mediator_history_flag(
        parser,
        "incremental: the Mediator reads its previous request, the reply and your new message "
        "(default: the --program's own, else full)",
        default=None,
    )
    parser.add_argument("--cot", action="store_true", help="let the Mediator reason before writing the request")
    add_model_flags(parser, ("assistant", "mediator"))
