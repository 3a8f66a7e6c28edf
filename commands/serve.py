"""`intent-mediator serve`: an OpenAI-compatible endpoint that mediates every conversation."""

from __future__ import annotations

import argparse
from pathlib import Path

from intent_mediator.commands.common import add_mediator_history_flag
from intent_mediator.errors import IntentMediatorError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--upstream", metavar="MODEL", help="the model to front (default: the embedded model)")
    parser.add_argument("--mediator", metavar="MODEL", help="the Mediator's model (default: the upstream model)")
    parser.add_argument("--api-base", metavar="URL", help="OpenAI-compatible base URL for openai/... models")
    parser.add_argument("--artifacts", metavar="DIR", help="compiled artifacts root (<user>/<domain>/program.json)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--api-keys-file", metavar="FILE", help="bearer keys, one per line (also INTENT_MEDIATOR_API_KEYS)"
    )
    parser.add_argument(
        "--log-conversations",
        nargs="?",
        const="conversations.sqlite",
        metavar="PATH",
        help="log conversations and accept feedback (SQLite file, default conversations.sqlite)",
    )
    parser.add_argument("--max-body-bytes", type=int, default=1_000_000)
    parser.add_argument("--max-messages", type=int, default=256)
    parser.add_argument("--upstream-timeout", type=float, default=120.0, help="seconds (504 after)")
    add_mediator_history_flag(
        parser, "incremental: continue from the request written for the conversation's previous call"
    )


def run(args: argparse.Namespace) -> int:
    import uvicorn
    from intent_mediator.server import ServerConfig, create_app
    from intent_mediator.server.config import load_api_keys

    if args.artifacts and not Path(args.artifacts).is_dir():
        raise IntentMediatorError(f"--artifacts: no such folder {args.artifacts}")
    config = ServerConfig(
        upstream=args.upstream,
        mediator=args.mediator,
        api_base=args.api_base,
        artifacts=Path(args.artifacts) if args.artifacts else None,
        api_keys=load_api_keys(args.api_keys_file),
        log_path=Path(args.log_conversations) if args.log_conversations else None,
        max_body_bytes=args.max_body_bytes,
        max_messages=args.max_messages,
        upstream_timeout=args.upstream_timeout,
        mediator_history=args.mediator_history,
    )
    app = create_app(config)
    auth = f"{len(config.api_keys)} API key(s)" if config.api_keys else "no API keys: loopback clients only"
    print(
        f"intent-mediator serve: {app.title} on http://{args.host}:{args.port} fronting "
        f"{config.upstream or 'the embedded model'}; {auth}; logs {'on' if config.log_path else 'off'}",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
