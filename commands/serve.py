"""`intent-mediator serve`: an OpenAI-compatible endpoint that mediates every conversation."""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import tempfile
from pathlib import Path

from intent_mediator.commands.common import add_mediator_history_flag, at_least_one, port, seconds
from intent_mediator.errors import IntentMediatorError
from intent_mediator.lm import UPSTREAM_CLIENTS

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--upstream", metavar="MODEL", help="the model to front (default: the embedded model)")
    parser.add_argument("--mediator", metavar="MODEL", help="the Mediator's model (default: the upstream model)")
    parser.add_argument("--api-base", metavar="URL", help="OpenAI-compatible base URL for openai/... models")
    parser.add_argument(
        "--upstream-client",
        choices=UPSTREAM_CLIENTS,
        default="lean",
        help="how openai/... models (OpenAI or the server at --api-base) are called: lean (default; one pooled "
        "HTTP client, no litellm on the call path) or litellm. Other providers always use litellm",
    )
    parser.add_argument("--artifacts", metavar="DIR", help="compiled artifacts root (<user>/<domain>/program.json)")
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="also serve the compiled domain artifacts shipped with the package for the Mediator's model "
        "(after --artifacts' own domain artifact, before its generic one)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=port, default=8000)
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (share --store and --memory between them)"
    )
    parser.add_argument(
        "--api-keys-file",
        metavar="FILE",
        help="API keys: '<user> sha256:<digest> [admin]' per line (without it: loopback clients only)",
    )
    parser.add_argument(
        "--new-key", metavar="USER", help="print a fresh API key for USER and its keys-file line, then exit"
    )
    parser.add_argument(
        "--store",
        "--log-conversations",
        dest="store",
        nargs="?",
        const="conversations.sqlite",
        metavar="URL",
        help="log conversations and accept feedback: a SQLite path or sqlite:///path (one replica; default "
        "conversations.sqlite), or postgresql://user@host:port/db (shared by replicas)",
    )
    parser.add_argument(
        "--memory",
        metavar="URL",
        help="where incremental mediation remembers its requests: memory:// (this process, the default) or "
        "redis://host:port/db (shared by replicas)",
    )
    parser.add_argument(
        "--memory-ttl", type=at_least_one, default=24 * 3600, help="seconds a request is remembered (Redis)"
    )
    parser.add_argument("--max-body-bytes", type=at_least_one, default=1_000_000)
    parser.add_argument("--max-messages", type=at_least_one, default=256)
    parser.add_argument(
        "--upstream-timeout",
        type=seconds,
        default=120.0,
        help="seconds a request may wait on models, the Mediator included (504 after)",
    )
    parser.add_argument(
        "--mediator-timeout",
        type=seconds,
        help="seconds the Mediator may take before the raw conversation goes upstream (default: half the above)",
    )
    add_mediator_history_flag(
        parser, "incremental: continue from the request written for the conversation's previous call"
    )


WORKER_ARGS = "INTENT_MEDIATOR_SERVE_ARGS"  # how `--workers N` hands the command line to each worker process


def server_config(args: argparse.Namespace):
    """The `ServerConfig` these flags describe (also rebuilt in every worker process)."""
    from intent_mediator.server import ServerConfig
    from intent_mediator.server.auth import KeyRing

    if args.artifacts and not Path(args.artifacts).is_dir():
        raise IntentMediatorError(f"--artifacts: no such folder {args.artifacts}")
    return ServerConfig(
        upstream=args.upstream,
        mediator=args.mediator,
        api_base=args.api_base,
        artifacts=Path(args.artifacts) if args.artifacts else None,
        compiled=getattr(args, "compiled", False),
        keys=KeyRing.from_file(args.api_keys_file) if args.api_keys_file else None,
        store=args.store,
        memory=args.memory,
        memory_ttl=args.memory_ttl,
        max_body_bytes=args.max_body_bytes,
        max_messages=args.max_messages,
        upstream_timeout=args.upstream_timeout,
        mediator_timeout=args.mediator_timeout,
        mediator_history=args.mediator_history,
        upstream_client=getattr(args, "upstream_client", "lean"),
    )


def artifacts_found(config) -> str:
    """What the server will load: the artifact root's artifacts and the shipped ones (one line)."""
    from intent_mediator.artifacts import shipped_domains, shipped_root

    parts = []
    if config.artifacts is not None:
        found = sorted(str(p.parent.relative_to(config.artifacts)) for p in config.artifacts.glob("*/*/program.json"))
        parts.append(
            f"{len(found)} artifact(s) under {config.artifacts}" + (f" ({', '.join(found[:8])})" if found else "")
        )
    if config.compiled:
        model = config.mediator_model()
        domains = shipped_domains(model)
        parts.append(
            f"shipped artifacts for {model}: {', '.join(domains)} ({shipped_root(model)})"
            if domains
            else f"no shipped artifact for {model}: the uncompiled Mediator serves every domain without one"
        )
    if not parts:
        return "no compiled artifacts (--artifacts DIR, --compiled): the uncompiled Mediator serves every request"
    return "; ".join(parts) + "; each response names its artifact in X-Mediator-Artifact"


def build_app(args: argparse.Namespace):
    import dspy
    from intent_mediator.server import create_app

    # Tenants never share cached replies (a cache hit would serve one user's conversation to another).
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    return create_app(server_config(args))


def app_from_environment():
    """The app of one worker process of `serve --workers N` (uvicorn's factory), from the parent's flags."""
    return build_app(argparse.Namespace(**json.loads(os.environ[WORKER_ARGS])))


def run(args: argparse.Namespace) -> int:
    import uvicorn
    from intent_mediator.server.auth import ApiKey, new_key
    from intent_mediator.server.protocol import HeadDeadlineProtocol
    from intent_mediator.stores.base import redacted_url
    from uvicorn.supervisors import Multiprocess

    if args.new_key:
        secret = new_key()
        print(f"key (give it to {args.new_key}; it is not stored): {secret}")
        print(f"keys-file line: {ApiKey.from_secret(secret, args.new_key).line()}")
        return 0
    if args.workers < 1:
        raise IntentMediatorError(f"--workers must be at least 1, got {args.workers}")
    config = server_config(args)  # checked here, in the parent, so a bad flag fails before any worker starts
    if args.workers > 1 and config.mediator_history == "incremental" and not (config.memory or "").startswith("redis"):
        logger.warning(
            "--workers %d with an in-process --memory: a follow-up turn that reaches another worker "
            "is mediated from the full transcript; use --memory redis://...",
            args.workers,
        )
    auth = f"{len(config.keys)} API key(s)" if config.keys else "no API keys: loopback clients only"
    print(f"intent-mediator serve: {artifacts_found(config)}", flush=True)
    logs = redacted_url(config.store) if config.store else "off"
    print(
        f"intent-mediator serve: http://{args.host}:{args.port}, {args.workers} worker(s), fronting "
        f"{config.upstream or 'the embedded model'}; {auth}; logs {logs}",
        flush=True,
    )
    if args.workers == 1:
        uvicorn.run(build_app(args), host=args.host, port=args.port, log_level="warning", http=HeadDeadlineProtocol)
        return 0
    # Several processes: each rebuilds the app from the same flags; metrics are aggregated through files.
    os.environ[WORKER_ARGS] = json.dumps(vars(args))
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="intent-mediator-metrics-")
    uvicorn_config = uvicorn.Config(
        "intent_mediator.commands.serve:app_from_environment",
        factory=True,
        workers=args.workers,
        host=args.host,
        port=args.port,
        log_level="warning",
        http=HeadDeadlineProtocol,
    )
    # What `uvicorn.run(..., workers=N)` does, with one change: uvicorn binds the shared socket with protocol 0,
    # so asyncio leaves Nagle's algorithm on for accepted connections (it sets TCP_NODELAY only on sockets whose
    # protocol is TCP), and each keep-alive response waited ~40 ms for the client's delayed ACK. Accepted
    # sockets inherit TCP_NODELAY from the listening socket.
    sock = uvicorn_config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(uvicorn_config, sockets=[sock]).run()
    return 0
