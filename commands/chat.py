"""`intent-mediator chat`: an interactive multi-turn chat through the MediatedAssistant."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from intent_mediator.commands import common
from intent_mediator.commands.common import (
    DEFAULT_MEDIATOR_HISTORY,
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
    if program is not None and (args.guidelines or args.cot or args.compiled or args.artifacts):
        raise IntentMediatorError(
            "--program holds its own guidelines and architecture: drop --guidelines, --cot, --compiled, --artifacts"
        )
    roles = common.roles_from_args(args, ("assistant", "mediator"))
    if program is None and (args.compiled or args.artifacts):
        if args.guidelines or args.cot:
            raise IntentMediatorError("--compiled/--artifacts load a compiled Mediator: drop --guidelines and --cot")
        program = _compiled(args, roles, stdout)
    if program is None:
        program = MediatedAssistant(
            read_guidelines(args.guidelines), chain_of_thought=args.cot, mediator_history=DEFAULT_MEDIATOR_HISTORY
        )
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


def _compiled(args: argparse.Namespace, roles, stdout: TextIO):
    """The Mediator of the fallback chain for --domain, LMs bound; prints which artifact it is."""
    from intent_mediator.artifacts import ArtifactError, load_mediator

    if args.artifacts and not Path(args.artifacts).is_dir():
        raise IntentMediatorError(f"--artifacts: no such folder {args.artifacts}")
    try:
        program = load_mediator(
            None,
            args.domain,
            root=args.artifacts,
            mediator_lm=roles.mediator,
            assistant_lm=roles.assistant,
            shipped=roles.models()["mediator"] if args.compiled else None,
        )
    except ArtifactError as exc:
        raise IntentMediatorError(f"--domain/--artifacts: {exc}") from None
    if args.system:
        program.context = args.system
    print(f"Mediator: {program.artifact.describe()}", file=stdout)
    return program


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="use the compiled artifact shipped with the package for the Mediator's model and --domain",
    )
    parser.add_argument("--artifacts", metavar="DIR", help="your compiled artifacts root (tried before shipped ones)")
    parser.add_argument("--program", metavar="PATH", help="a compiled program: an artifact folder or its program.json")
    parser.add_argument("--domain", help="which domain's compiled Mediator to load (math, code, database, actions)")
    parser.add_argument("--guidelines", metavar="FILE", help="guidelines file: one rule per line, or a JSON list")
    parser.add_argument("--show-request", action="store_true", help="print the mediated request of every turn")
    parser.add_argument("--system", metavar="TEXT", help="system prompt (task context) for the assistant")
    add_mediator_history_flag(
        parser,
        "incremental: the Mediator reads its previous request, the reply and your new message "
        "(default: the compiled program's own, else incremental)",
        default=None,
    )
    parser.add_argument("--cot", action="store_true", help="let the Mediator reason before writing the request")
    add_model_flags(parser, ("assistant", "mediator"))
