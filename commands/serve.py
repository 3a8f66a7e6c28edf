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
        "--api-keys-file",
        metavar="FILE",
        help="API keys: '<user> sha256:<digest> [admin]' per line (without it: loopback clients only)",
    )
    parser.add_argument(
        "--new-key", metavar="USER", help="print a fresh API key for USER and its keys-file line, then exit"
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
    parser.add_argument(
        "--upstream-timeout",
        type=float,
        default=120.0,
        help="seconds a request may wait on models, the Mediator included (504 after)",
    )
    parser.add_argument(
        "--mediator-timeout",
        type=float,
        help="seconds the Mediator may take before the raw conversation goes upstream (default: half the above)",
    )
    add_mediator_history_flag(
        parser, "incremental: continue from the request written for the conversation's previous call"
    )


def run(args: argparse.Namespace) -> int:
    import dspy
    import uvicorn
    from intent_mediator.server import ServerConfig, create_app
    from intent_mediator.server.auth import ApiKey, KeyRing, new_key

    if args.new_key:
        secret = new_key()
        print(f"key (give it to {args.new_key}; it is not stored): {secret}")
        print(f"keys-file line: {ApiKey.from_secret(secret, args.new_key).line()}")
        return 0
    if args.artifacts and not Path(args.artifacts).is_dir():
        raise IntentMediatorError(f"--artifacts: no such folder {args.artifacts}")
    config = ServerConfig(
        upstream=args.upstream,
        mediator=args.mediator,
        api_base=args.api_base,
        artifacts=Path(args.artifacts) if args.artifacts else None,
        keys=KeyRing.from_file(args.api_keys_file) if args.api_keys_file else None,
        log_path=Path(args.log_conversations) if args.log_conversations else None,
        max_body_bytes=args.max_body_bytes,
        max_messages=args.max_messages,
        upstream_timeout=args.upstream_timeout,
        mediator_timeout=args.mediator_timeout,
        mediator_history=args.mediator_history,
    )
    # Tenants never share cached replies (a cache hit would serve one user's conversation to another).
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    app = create_app(config)
    auth = f"{len(config.keys)} API key(s)" if config.keys else "no API keys: loopback clients only"
    print(
        f"intent-mediator serve: {app.title} on http://{args.host}:{args.port} fronting "
        f"{config.upstream or 'the embedded model'}; {auth}; logs {'on' if config.log_path else 'off'}",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
