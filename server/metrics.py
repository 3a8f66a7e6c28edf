"""The server's Prometheus metrics, through prometheus_client.

Latency histograms per route and per upstream call (the Mediator's and the fronted model's), counters of
requests by status, fallbacks by reason, errors by kind and tokens by role. Each app gets its own registry, so
several apps can live in one process (tests). With several worker processes, set `PROMETHEUS_MULTIPROC_DIR`
to an empty folder shared by the workers (`serve --workers N` does): each worker then writes its values there
and `/metrics` aggregates all of them.
"""

from __future__ import annotations

import os
import time

from intent_mediator.engines.openai_compatible import reported_tokens
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

# Seconds: the server adds milliseconds; upstream calls take up to minutes.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
UPSTREAM_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class ServerMetrics:
    """Metrics of one app. Label values are fixed vocabularies (routes, roles, reasons), never user input."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "intent_mediator_requests",
            "Requests answered, by route and HTTP status.",
            ["route", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "intent_mediator_request_seconds",
            "Time to answer a request, by route.",
            ["route"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.upstream_seconds = Histogram(
            "intent_mediator_upstream_seconds",
            "Time of one upstream model call: the Mediator's (call=mediator) or the fronted model's (call=upstream).",
            ["call", "outcome"],
            buckets=UPSTREAM_BUCKETS,
            registry=registry,
        )
        self.fallbacks = Counter(
            "intent_mediator_fallbacks",
            "Mediations that fell back: the raw conversation went upstream (reason=mediator_error), or the full "
            "transcript was mediated because no earlier request was remembered (reason=no_memory).",
            ["reason"],
            registry=registry,
        )
        self.errors = Counter(
            "intent_mediator_errors",
            "Requests that failed, by kind (log_write: answered, but the conversation log could not be written).",
            ["kind"],
            registry=registry,
        )
        self.tokens = Counter(
            "intent_mediator_tokens",
            "LM tokens the upstream calls reported, by role and kind.",
            ["role", "kind"],
            registry=registry,
        )

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, status=str(status)).inc()
        self.request_seconds.labels(route=route).observe(seconds)

    def observe_upstream(self, call: str, seconds: float, outcome: str = "ok") -> None:
        self.upstream_seconds.labels(call=call, outcome=outcome).observe(seconds)

    def fallback(self, reason: str) -> None:
        self.fallbacks.labels(reason=reason).inc()

    def error(self, kind: str) -> None:
        self.errors.labels(kind=kind).inc()

    def observe_usage(self, usage: dict[str, dict[str, float]]) -> None:
        """`usage` as `RoleUsage.as_dict()` gives it: {role: {"prompt_tokens": n, "completion_tokens": m, ...}}."""
        for role, values in usage.items():
            for kind in ("prompt_tokens", "completion_tokens"):
                amount = reported_tokens(values.get(kind))  # 10**40 would stay in the counter until a restart
                if amount > 0:
                    self.tokens.labels(role=role, kind=kind.removesuffix("_tokens")).inc(amount)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type; every worker's values in multi-process mode."""
        if multiprocess_dir():
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI middleware: every HTTP request's route, status and time to its response's first byte.

    Routes outside `routes` are counted as "other", so clients cannot mint label values. For a streamed
    completion the time is to the first byte; upstream call times are observed separately.
    """

    def __init__(self, app, metrics: ServerMetrics, routes: tuple[str, ...]):
        self.app, self.metrics, self.routes = app, metrics, routes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        route = scope["path"] if scope["path"] in self.routes else "other"
        observed = False

        async def send_observed(message):
            nonlocal observed
            if message["type"] == "http.response.start" and not observed:
                observed = True
                self.metrics.observe_request(route, message["status"], time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            if not observed:  # the app raised before answering (the server then sends its own 500)
                self.metrics.observe_request(route, 500, time.perf_counter() - started)
