"""The FastAPI app: OpenAI-compatible chat completions through the Mediator, plus feedback and metrics.

    POST /v1/chat/completions   mediate, then answer with the upstream model (`stream: true` for SSE)
    POST /v1/feedback           mark a served conversation as a success or a failure (logs must be on)
    GET  /v1/models  /healthz  /metrics
The artifact is chosen by the body's `user` or the `X-Mediator-User` header and the `X-Mediator-Domain`
header, with the user+domain -> domain -> generic fallback. `X-Mediator-Return-Request: 1` adds the mediated
request to the response (`intent_mediator` field) and headers.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pydantic
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from intent_mediator.artifacts import ArtifactError, validate_id
from intent_mediator.lm import build_lm
from intent_mediator.server.config import ServerConfig
from intent_mediator.server.logs import ConversationLog
from intent_mediator.server.mediation import ArtifactCache, RequestMemory, Upstream, UpstreamTimeout, mediate
from intent_mediator.simulation.usage import RoleUsage
from starlette.concurrency import run_in_threadpool

logger = logging.getLogger(__name__)
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class ChatMessage(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="ignore")
    role: str
    content: str | None = None


class ChatRequest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[ChatMessage]
    stream: bool = False
    user: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None


class Feedback(pydantic.BaseModel):
    conversation_id: str
    success: bool
    final_request: str | None = None
    user: str | None = None


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter = Counter()
        self.tokens: Counter = Counter()
        self.latency_sum = 0.0

    def observe(self, status: int, seconds: float, usage: dict | None = None, fallback: bool = False) -> None:
        with self._lock:
            self.counts[f'intent_mediator_requests_total{{status="{status}"}}'] += 1
            self.counts["intent_mediator_fallbacks_total"] += int(fallback)
            self.latency_sum += seconds
            for role, values in (usage or {}).items():
                for kind in ("prompt_tokens", "completion_tokens"):
                    self.tokens[f'intent_mediator_tokens_total{{role="{role}",kind="{kind}"}}'] += values.get(kind, 0)

    def render(self) -> str:
        with self._lock:
            total = sum(v for k, v in self.counts.items() if k.startswith("intent_mediator_requests_total"))
            lines = [f"{k} {v}" for k, v in sorted(self.counts.items())]
            lines += [f"{k} {v:g}" for k, v in sorted(self.tokens.items())]
            lines.append(f"intent_mediator_request_seconds_sum {self.latency_sum:.6f}")
            lines.append(f"intent_mediator_request_seconds_count {total}")
        return "\n".join(lines) + "\n"


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status)


def create_app(config: ServerConfig, *, upstream_lm=None, mediator_lm=None) -> FastAPI:
    """Build the app. `upstream_lm` / `mediator_lm` override the model strings (tests pass scripted LMs)."""
    if upstream_lm is None:
        model = config.upstream or "embedded"
        remote = {} if model.startswith("embedded") else {"num_retries": config.upstream_retries}
        upstream_lm = build_lm(model, api_base=config.api_base if model.startswith("openai/") else None, **remote)
    if mediator_lm is None:
        mediator_lm = build_lm(config.mediator, api_base=config.api_base) if config.mediator else upstream_lm
    upstream = Upstream(upstream_lm, config.upstream_timeout)
    artifacts = ArtifactCache(config.artifacts)
    memory = RequestMemory() if config.mediator_history == "incremental" else None
    log = ConversationLog(config.log_path) if config.log_path else None
    metrics = Metrics()
    app = FastAPI(title="intent-mediator", version="0.1.0")
    app.state.config, app.state.metrics = config, metrics
    if not config.api_keys:
        logger.warning("no API keys configured: serving loopback clients only")

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if request.url.path in ("/healthz",):
            return await call_next(request)
        if config.api_keys:
            header = request.headers.get("authorization", "")
            token = header[7:] if header.lower().startswith("bearer ") else ""
            if not any(hmac.compare_digest(token.encode(), key.encode()) for key in config.api_keys):
                return _error(401, "missing or invalid API key", "authentication_error")
        elif (request.client.host if request.client else "") not in LOOPBACK:
            return _error(403, "no API keys are configured, so only loopback clients are served", "permission_error")
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > config.max_body_bytes:
            return _error(413, f"request body over {config.max_body_bytes} bytes")
        body = await request.body()
        if len(body) > config.max_body_bytes:
            return _error(413, f"request body over {config.max_body_bytes} bytes")
        return await call_next(request)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Never a bare 500: the client learns what failed, and the log has the traceback.
        logger.exception("unexpected error on %s", request.url.path)
        metrics.observe(500, 0.0)
        return _error(500, f"internal error: {type(exc).__name__}: {exc}"[:500], "server_error")

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics_endpoint() -> str:
        return metrics.render()

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": upstream_lm.model, "object": "model", "owned_by": "intent-mediator"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        started = time.perf_counter()
        try:
            body = ChatRequest.model_validate_json(await request.body())
        except pydantic.ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            return _error(400, f"malformed request: {where}: {problem['msg']}")
        problem = _check_messages(body, config.max_messages)
        if problem:
            return _error(400, problem)
        try:
            user = validate_id(body.user or request.headers.get("x-mediator-user"), "user")
            domain = validate_id(request.headers.get("x-mediator-domain"), "domain")
        except ArtifactError as exc:
            return _error(400, str(exc))
        messages = [m.model_dump() for m in body.messages]
        usage = RoleUsage()
        program, artifact = artifacts.get(
            None if user == "_generic" else user, None if domain == "_generic" else domain
        )
        mediated = await run_in_threadpool(mediate, program, messages, mediator_lm, usage, artifact, memory)
        conversation_id = f"chatcmpl-{uuid.uuid4().hex}"
        headers = {"X-Mediator-Conversation": conversation_id}
        if mediated.fallback:
            headers["X-Mediator-Fallback"] = mediated.fallback.encode("ascii", "replace").decode()[:200]
        extra = None
        if request.headers.get("x-mediator-return-request", "").lower() in ("1", "true", "yes"):
            extra = {"request": mediated.request, "artifact": mediated.artifact, "fallback": mediated.fallback}
        params = {"temperature": body.temperature, "max_tokens": body.max_tokens}
        if body.stream:
            return StreamingResponse(
                _sse(
                    upstream,
                    mediated,
                    params,
                    usage,
                    conversation_id,
                    upstream_lm.model,
                    extra,
                    lambda text: _finish(
                        log, metrics, started, usage, conversation_id, user, domain, messages, mediated, text
                    ),
                ),
                media_type="text/event-stream",
                headers=headers,
            )
        try:
            text = await run_in_threadpool(upstream.complete, mediated.messages, usage, **params)
        except UpstreamTimeout as exc:
            metrics.observe(504, time.perf_counter() - started)
            return _error(504, str(exc), "upstream_timeout")
        except Exception as exc:
            metrics.observe(502, time.perf_counter() - started)
            return _error(502, f"the upstream model failed: {exc}"[:500], "upstream_error")
        _finish(log, metrics, started, usage, conversation_id, user, domain, messages, mediated, text)
        payload = _completion(conversation_id, upstream_lm.model, text, usage)
        if extra:
            payload["intent_mediator"] = extra
        return JSONResponse(payload, headers=headers)

    @app.post("/v1/feedback")
    async def feedback(request: Request):
        try:
            body = Feedback.model_validate_json(await request.body())
            user = validate_id(body.user or request.headers.get("x-mediator-user"), "user")
        except (pydantic.ValidationError, ArtifactError) as exc:
            return _error(400, f"malformed feedback: {exc}"[:500])
        if log is None:
            return _error(409, "conversation logging is off: start the server with --log-conversations")
        if not await run_in_threadpool(log.feedback, body.conversation_id, user, body.success, body.final_request):
            raise HTTPException(404, f"no conversation {body.conversation_id} for this user")
        return {"status": "recorded", "conversation_id": body.conversation_id}

    return app


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
    prompt, completion = int(upstream.get("prompt_tokens", 0)), int(upstream.get("completion_tokens", 0))
    return {
        "id": conversation_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def _finish(log, metrics, started, usage, conversation_id, user, domain, messages, mediated, text) -> None:
    metrics.observe(200, time.perf_counter() - started, usage.as_dict(), fallback=mediated.fallback is not None)
    if log is not None:
        log.record(conversation_id, user, domain, messages, mediated.request, text)


def _sse(upstream, mediated, params, usage, conversation_id, model, extra, done):
    created = int(time.time())

    def event(delta: dict, finish: str | None = None, **more) -> str:
        chunk = {
            "id": conversation_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **more,
        }
        return f"data: {json.dumps(chunk)}\n\n"

    yield event({"role": "assistant"})
    parts = []
    try:
        for piece in upstream.stream(mediated.messages, usage, **params):
            parts.append(piece)
            yield event({"content": piece})
    except Exception as exc:
        yield f"data: {json.dumps({'error': {'message': f'the upstream model failed: {exc}'[:500]}})}\n\n"
        return
    done("".join(parts))
    yield event({}, "stop", **({"intent_mediator": extra} if extra else {}))
    yield "data: [DONE]\n\n"
