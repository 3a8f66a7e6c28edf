"""The FastAPI app: OpenAI-compatible chat completions through the Mediator, plus feedback and metrics.

    POST /v1/chat/completions   mediate, then answer with the upstream model (`stream: true` for SSE)
    POST /v1/feedback           mark a served conversation as a success or a failure (logs must be on)
    GET  /v1/models  /healthz  /metrics
Every route but /healthz needs an API key (`server/auth.py`); the key decides the user, and only an admin key
may name another (the body's `user` or the `X-Mediator-User` header). The artifact is chosen by that user and
the `X-Mediator-Domain` header, with the user+domain -> domain -> generic fallback; an unreadable artifact is
skipped for the next level and reported in `X-Mediator-Artifact-Fallback`. `X-Mediator-Return-Request: 1`
adds the mediated request to the response (`intent_mediator` field).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import re
import time
import uuid
from typing import Any

import pydantic
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from intent_mediator.artifacts import ArtifactError, shipped_root, validate_id
from intent_mediator.engines.openai_compatible import reported_tokens
from intent_mediator.lm import build_lm
from intent_mediator.server.config import ServerConfig
from intent_mediator.server.guard import Guard, caller_key
from intent_mediator.server.mediation import (
    ArtifactCache,
    Upstream,
    UpstreamTimeout,
    describe_failure,
    mediate_within,
)
from intent_mediator.server.metrics import MetricsMiddleware, ServerMetrics
from intent_mediator.simulation.usage import RoleUsage
from intent_mediator.stores import StoreError, open_log_store, open_request_memory
from starlette.concurrency import run_in_threadpool

logger = logging.getLogger(__name__)

CHAT_ROUTE = "/v1/chat/completions"
ROUTES = (CHAT_ROUTE, "/v1/feedback", "/v1/models", "/healthz", "/metrics")


class ChatMessage(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="ignore")
    role: str
    content: str | None = None


# Largest completion cap a client may ask for: beyond any model's output window, so a real request is never refused.
MAX_COMPLETION_TOKENS = 1_000_000


class ChatRequest(pydantic.BaseModel):
    """The fields of an OpenAI chat-completions body the server reads; sampling settings are checked here, so an
    impossible one is the client's 400, not an upstream failure after a paid Mediator call."""

    model_config = pydantic.ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[ChatMessage]
    stream: pydantic.StrictBool = False
    user: str | None = None
    temperature: float | None = pydantic.Field(None, ge=0, le=2, allow_inf_nan=False)  # OpenAI's range
    max_tokens: int | None = pydantic.Field(None, ge=1, le=MAX_COMPLETION_TOKENS)


class Feedback(pydantic.BaseModel):
    conversation_id: str = pydantic.Field(max_length=200)  # ids the server issues are 41 characters
    success: pydantic.StrictBool
    final_request: str | None = None
    user: str | None = None


def _error(status: int, message: str, kind: str = "invalid_request_error", headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status, headers=headers)


def _header(text: str) -> str:
    """A safe HTTP header value: printable ASCII on one line, at most 200 characters."""
    return _UNSAFE_HEADER.sub(" ", text)[:200]


_UNSAFE_HEADER = re.compile(r"[^\x20-\x7e]")


class Forbidden(Exception):
    """The caller's key may not act as the user the request names."""


def acting_user(request: Request, named: str | None) -> str:
    """The user a request acts as: the key's own user; an admin key may name another (body `user` or header).

    Without configured keys (loopback only) the named user is trusted, as a local single-user setup expects.

    Raises:
        ArtifactError: the named id is unsafe as a folder name.
        Forbidden: a non-admin key names another user.
    """
    named = named or request.headers.get("x-mediator-user")
    key = caller_key(request.scope)
    if key is None:
        return validate_id(named, "user")
    if named is None or named == key.user:
        return key.user
    if not key.admin:
        raise Forbidden(f"this API key belongs to user {key.user!r}: it cannot act as {named!r}")
    return validate_id(named, "user")


def create_app(config: ServerConfig, *, upstream_lm=None, mediator_lm=None) -> FastAPI:
    """Build the ASGI app. `upstream_lm` / `mediator_lm` override the model strings (tests pass scripted LMs).

    Model strings are built uncached: DSPy's cache is shared by every caller, so a cached reply would serve one
    tenant's answer (and conversation) to another.
    """
    remote = {
        "num_retries": config.upstream_retries,
        "timeout": config.upstream_timeout,
        "cache": False,
        "client": config.upstream_client,
    }
    if upstream_lm is None:
        model = config.upstream or "embedded"
        local = model.startswith("embedded")
        upstream_lm = build_lm(
            model,
            api_base=config.api_base if model.startswith("openai/") else None,
            **({"cache": False} if local else remote),
        )
    if mediator_lm is None:
        if config.mediator:
            local = config.mediator.startswith("embedded")
            base = config.api_base if config.mediator.startswith("openai/") else None
            mediator_lm = build_lm(config.mediator, api_base=base, **({"cache": False} if local else remote))
        else:
            mediator_lm = upstream_lm
    # Model calls block; they run here, bounded, so a hanging model can hold threads but never the event loop.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="model-call")
    upstream = Upstream(upstream_lm, pool)
    artifacts = ArtifactCache(config.artifacts, shipped_root(config.mediator_model()) if config.compiled else None)
    # Always open: an artifact compiled for incremental mediation needs it even when the server's default is full.
    options = {"capacity": config.memory_capacity}
    if config.memory and not config.memory.startswith("memory:"):
        options["ttl"] = config.memory_ttl
    memory = open_request_memory(config.memory, **options)
    log = open_log_store(config.store) if config.store else None
    metrics = ServerMetrics()
    app = FastAPI(title="intent-mediator", version="0.1.0")
    app.state.config, app.state.metrics = config, metrics
    if config.keys is None:
        logger.warning("no API keys configured: serving loopback clients only")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Never a bare 500, and never the exception's text (it can hold paths or provider messages).
        incident = uuid.uuid4().hex[:12]
        logger.exception("unexpected error %s on %s", incident, request.url.path)
        metrics.error("internal")
        return _error(500, f"internal error {incident} ({type(exc).__name__}); see the server log", "server_error")

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        """200 when every store this replica uses answers; 503 naming the failing one if not. It needs no key, so
        it says which store failed and nothing else (the reason, with the store's path or host, is logged)."""
        checks = {}
        for name, store in (("store", log), ("memory", memory)):
            if store is None:
                continue
            try:
                store.ping()
                checks[name] = "ok"
            except StoreError as exc:
                logger.warning("health check: the %s does not answer: %s", name, exc)
                checks[name] = "unavailable"
        healthy = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "unavailable", **checks}, status_code=200 if healthy else 503
        )

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        text, content_type = metrics.render()
        return Response(text, media_type=content_type)

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": upstream_lm.model, "object": "model", "owned_by": "intent-mediator"}]}

    @app.post(CHAT_ROUTE)
    async def chat(request: Request):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config.upstream_timeout
        try:
            body = ChatRequest.model_validate_json(await request.body())
        except pydantic.ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            return _error(400, f"malformed request: {where}: {problem['msg']}")
        message_problem = _check_messages(body, config.max_messages)
        if message_problem:
            return _error(400, message_problem)
        try:
            user = acting_user(request, body.user)
            domain = validate_id(request.headers.get("x-mediator-domain"), "domain")
        except ArtifactError as exc:
            return _error(400, str(exc))
        except Forbidden as exc:
            return _error(403, str(exc), "permission_error")
        messages = [m.model_dump() for m in body.messages]
        usage = RoleUsage(priced=False)  # responses and metrics carry tokens; a price lookup per call is waste
        program, artifact, artifact_problem = artifacts.get(
            None if user == "_generic" else user, None if domain == "_generic" else domain
        )
        # A compiled artifact is served with the Mediator history it was validated with; the uncompiled program
        # with the server's --mediator-history.
        history = program.mediator_history if artifact else config.mediator_history
        mediation_started = time.perf_counter()
        mediated = await mediate_within(
            min(config.mediator_seconds(), config.upstream_timeout),
            pool,
            user,
            program,
            messages,
            mediator_lm,
            usage,
            artifact,
            memory if history == "incremental" else None,
        )
        metrics.observe_upstream(
            "mediator", time.perf_counter() - mediation_started, "fallback" if mediated.fallback else "ok"
        )
        conversation_id = f"chatcmpl-{uuid.uuid4().hex}"
        headers = {"X-Mediator-Conversation": conversation_id, "X-Mediator-Artifact": artifact or "uncompiled"}
        if mediated.fallback:
            headers["X-Mediator-Fallback"] = _header(mediated.fallback)
            metrics.fallback(mediated.fallback.split(":", 1)[0].replace(" ", "_"))
        if mediated.memory:
            headers["X-Mediator-Memory"] = mediated.memory
            if mediated.memory == "miss":
                metrics.fallback("no_memory")
        if artifact_problem:
            headers["X-Mediator-Artifact-Fallback"] = _header(artifact_problem)
        extra = None
        if request.headers.get("x-mediator-return-request", "").lower() in ("1", "true", "yes"):
            extra = {
                "request": mediated.request,
                "artifact": mediated.artifact,
                "fallback": mediated.fallback,
                "artifact_fallback": artifact_problem,
            }
        params = {"temperature": body.temperature, "max_tokens": body.max_tokens}

        def finish(text: str) -> bool:
            """Metrics and the log of an answered call; False when the log failed (the answer still goes out)."""
            metrics.observe_upstream("upstream", time.perf_counter() - upstream_started)
            metrics.observe_usage(usage.as_dict())
            if log is None:
                return True
            try:
                log.record(conversation_id, user, domain, messages, mediated.request, text)
                return True
            except Exception as exc:  # the user paid for this answer: a log outage must not take it away
                logger.error("%s: answered, but the conversation log failed: %s", conversation_id, type(exc).__name__)
                metrics.error("log_write")
                return False

        upstream_started = time.perf_counter()

        def failed(exc: Exception) -> tuple[int, str, str]:
            status, message, kind = _failure(exc, config.upstream_timeout)
            logger.warning("%s: upstream call failed: %s", conversation_id, describe_failure(exc))
            metrics.observe_upstream("upstream", time.perf_counter() - upstream_started, kind)
            metrics.error(kind)
            return status, message, kind

        if body.stream:
            deltas = upstream.stream(mediated.messages, usage, deadline, **params)
            try:
                first = await anext(deltas, "")
            except Exception as exc:  # nothing has been sent yet: an ordinary error response
                await deltas.aclose()
                status, message, kind = failed(exc)
                return _error(status, message, kind, headers)
            stream = _sse(first, deltas, conversation_id, upstream_lm.model, extra, finish, failed)
            return StreamingResponse(stream, media_type="text/event-stream", headers=headers)
        try:
            text = await upstream.complete(mediated.messages, usage, deadline - loop.time(), **params)
        except Exception as exc:
            status, message, kind = failed(exc)
            return _error(status, message, kind, headers)
        if not await run_in_threadpool(finish, text):  # the log store may be a network call: off the event loop
            headers["X-Mediator-Log"] = "failed"  # feedback on this conversation will find nothing
        payload = _completion(conversation_id, upstream_lm.model, text, usage)
        if extra:
            payload["intent_mediator"] = extra
        return JSONResponse(payload, headers=headers)

    @app.post("/v1/feedback")
    async def feedback(request: Request):
        try:
            body = Feedback.model_validate_json(await request.body())
            user = acting_user(request, body.user)
        except (pydantic.ValidationError, ArtifactError) as exc:
            return _error(400, f"malformed feedback: {exc}"[:500])
        except Forbidden as exc:
            return _error(403, str(exc), "permission_error")
        if log is None:
            return _error(409, "conversation logging is off: start the server with --log-conversations")
        if not await run_in_threadpool(log.feedback, body.conversation_id, user, body.success, body.final_request):
            return _error(404, f"no conversation {body.conversation_id!r} for this user", "not_found_error")
        return {"status": "recorded", "conversation_id": body.conversation_id}

    app.add_middleware(
        Guard, keys=config.keys, max_body_bytes=config.max_body_bytes, body_seconds=config.max_body_seconds
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=ROUTES)  # outermost: sees the guard's refusals
    return app


def _failure(exc: Exception, timeout: float) -> tuple[int, str, str]:
    """Status, client message and error type for a failed upstream call; the provider's text is never included."""
    if isinstance(exc, UpstreamTimeout):
        return 504, f"the upstream model did not answer within {timeout:g} s", "upstream_timeout"
    return 502, f"the upstream model failed: {describe_failure(exc)}", "upstream_error"


def _check_messages(body: ChatRequest, limit: int) -> str | None:
    if not body.messages:
        return "messages must hold at least one message"
    if len(body.messages) > limit:
        return f"too many messages: {len(body.messages)} > {limit}"
    for index, message in enumerate(body.messages):
        if message.role not in ("system", "user", "assistant"):
            return f"messages[{index}].role {message.role!r} is not system, user or assistant"
        if message.content is None:
            return f"messages[{index}].content must be a string"
    if body.messages[-1].role != "user":
        return "the last message must be the user's"
    return None


def _completion(conversation_id: str, model: str, text: str, usage: RoleUsage) -> dict[str, Any]:
    upstream = usage.as_dict().get("upstream", {})
    prompt, completion = (
        reported_tokens(upstream.get("prompt_tokens")),
        reported_tokens(upstream.get("completion_tokens")),
    )
    return {
        "id": conversation_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


async def _sse(first, deltas, conversation_id, model, extra, finish, failed):
    """The completion as OpenAI-style server-sent events; a failure mid-stream ends with an error event and
    `[DONE]`, so clients never wait on a stream that will not finish."""
    created = int(time.time())

    def event(payload: dict) -> str:
        return f"data: {json.dumps(payload)}\n\n"

    def chunk(delta: dict, finish_reason: str | None = None, **more) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        payload = {"id": conversation_id, "object": "chat.completion.chunk", "created": created, "model": model}
        return event({**payload, "choices": [choice], **more})

    parts = [first]
    try:
        yield chunk({"role": "assistant"})
        if first:
            yield chunk({"content": first})
        async for piece in deltas:
            parts.append(piece)
            yield chunk({"content": piece})
    except Exception as exc:
        _, message, kind = failed(exc)
        yield event({"error": {"message": message, "type": kind}})
        yield "data: [DONE]\n\n"
        return
    finally:
        await deltas.aclose()
    logged = await run_in_threadpool(finish, "".join(parts))
    extra = {**(extra or {}), "log": "failed"} if not logged else extra
    yield chunk({}, "stop", **({"intent_mediator": extra} if extra else {}))
    yield "data: [DONE]\n\n"
