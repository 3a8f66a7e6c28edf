"""The lean upstream client: a DSPy engine for OpenAI-compatible chat-completions servers over httpcore.

`serve` fronts OpenAI-compatible servers (vLLM, llama.cpp's server, Ollama, OpenAI itself) whose wire format is
one JSON POST to `<base>/chat/completions`. litellm reaches them too, but a call through it costs several
milliseconds of Python before and after the HTTP exchange (`benchmarks/results/upstream_call_cost.md`), and a
mediated request makes two. This engine sends the same request over a keep-alive connection, reads the reply
with a size cap, and hands DSPy a canonical `dspy.lm15.Response` parsed by DSPy's own OpenAI chat reader, so
adapters, usage tracking and retries work as on any DSPy LM:

    lm = dspy.LM("openai/my-model", engine=OpenAICompatibleEngine("http://127.0.0.1:8000/v1"), num_retries=2)

Each calling thread gets its own `httpcore.ConnectionPool` (one keep-alive connection, reused by that thread's
calls), and a semaphore bounds the calls in flight. One pool shared by all threads was slower the more threads
used it: httpcore's pool walks every connection under one lock on each request, checking each idle socket with a
system call, so with 64 connections the pool's bookkeeping, not the network, set the server's throughput. The
pools are httpcore's, without an `httpx.Client` around them: httpx's request and response models, cookie jar and
redirect handling cost 0.44 ms of CPU per call against 0.27 ms for httpcore alone on loopback, and a mediated
request makes two calls. What httpx did besides is kept: the URL is parsed by httpx (IDNA hosts, percent-encoded
paths, IPv6 literals), and the environment's proxy settings apply (`HTTP(S)_PROXY`, `ALL_PROXY`, `NO_PROXY`),
except for loopback servers, which are always reached directly. Replies are asked for uncompressed.

It is an engine rather than a `dspy.BaseLM` subclass with `forward()`: DSPy 3.4 deprecates `forward()` plugins
(removed in 3.5) and routes custom clients through `dspy.LM(engine=...)`, which is itself the `BaseLM`.

Failures are raised as `dspy.lm15` errors, which DSPy turns into the same `dspy.utils.exceptions.LM*Error`
classes the litellm path produces: HTTP statuses by their meaning (429 rate limit, 5xx server error, ...),
timeouts, connection failures, a body that is not JSON or not a chat completion, and a reply over
`max_response_bytes` (read no further than the cap). A good answer whose token counts are not plausible
(negative, not integers, over `MAX_REPORTED_TOKENS`) keeps its text and loses its usage.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import ipaddress
import json
import os
import threading
import time
import urllib.request
import weakref
from collections.abc import Iterator
from typing import Any

import httpcore
import httpx
from dspy import lm15
from dspy.lm15 import Request, Response, StreamDeltaEvent, StreamEndEvent, StreamStartEvent, TextDelta
from intent_mediator.engines._response import request_messages

PROVIDER = "openai-compatible"
OPENAI_BASE = "https://api.openai.com/v1"
_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_call", "content_filter": "content_filter"}
# More tokens than any real call reports; a reply claiming more has its usage dropped (`_chat_response`).
MAX_REPORTED_TOKENS = 10**9
# Request settings carried to the wire as they are (lm15 `Config` fields with the same meaning in OpenAI's API).
_CONFIG_FIELDS = ("max_tokens", "temperature", "top_p", "seed", "frequency_penalty", "presence_penalty")


_CALL_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("call_deadline", default=None)


@contextlib.contextmanager
def call_deadline(at: float | None) -> Iterator[None]:
    """Every lean-client call made in this context, DSPy's retries of it included, ends by `at` (a
    `time.monotonic()` value): a retry starts no later, and each wait is cut to the time left."""
    token = _CALL_DEADLINE.set(at)
    try:
        yield
    finally:
        _CALL_DEADLINE.reset(token)


class OpenAICompatibleEngine:
    """`complete(Request) -> Response` and `stream(Request)` against `<base_url>/chat/completions`.

    Args:
        base_url: The server's OpenAI base URL, ending in `/v1` as litellm's `api_base` does.
        api_key: Sent as a bearer token; default `OPENAI_API_KEY`; local servers may need none.
        timeout: Seconds to wait for each read, write and free pooled connection (the reply's next byte).
        max_seconds: Longest one attempt may take, from sending the request to the reply's last byte (None: no
            bound but `timeout` per wait). An upstream that trickles bytes (or stream comments) never answers
            within one read timeout yet holds the calling thread for as long as it likes; this ends the call.
            `call_deadline` bounds all attempts of a call together (DSPy retries a timed-out one).
        connect_timeout: Seconds to open a connection.
        max_connections: Calls in flight at once (one connection each, kept by the calling thread); more calls
            wait up to `timeout` seconds for one to finish.
        max_response_bytes: Largest reply read; a longer one fails without being read further.
    """

    supports_response_schema = True  # vLLM, llama.cpp, Ollama and OpenAI all take `response_format` JSON schemas
    # Sampling settings `payload()` carries to the wire (DSPy reads them, e.g. to seed sampled runs). A
    # `response_format` is carried when a caller sets one but not declared: DSPy's JSON fallback would then ask
    # every server for a JSON schema, and not every OpenAI-compatible server takes one; by prompt, every one does.
    supported_params = frozenset({*_CONFIG_FIELDS, "stop"})

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_seconds: float | None = None,
        connect_timeout: float = 10.0,
        max_connections: int = 64,
        max_response_bytes: int = 8_000_000,
    ):
        self.base_url = (base_url or OPENAI_BASE).rstrip("/")
        self.timeout, self.max_seconds, self.max_response_bytes = timeout, max_seconds, max_response_bytes
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        # Parsed and normalised once, by httpx's URL parser (IDNA hosts, percent-encoded paths, IPv6 literals).
        self.url = f"{self.base_url}/chat/completions"
        try:
            url = httpx.URL(self.url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"base_url is not a valid URL ({exc}): {self.base_url!r}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url must be an http:// or https:// URL with a host, got {self.base_url!r}")
        if url.userinfo:
            raise ValueError("base_url must not carry credentials (user:password@): pass api_key instead")
        self._url = httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path)
        self._headers = [
            (b"Host", url.netloc),  # host[:port], IPv6 literals in brackets, default ports left out
            (b"Content-Type", b"application/json"),
            (b"Accept", b"*/*"),  # a JSON body, or an event stream when streaming
            (b"Accept-Encoding", b"identity"),  # no compressed replies: the size cap reads bytes as they come
            (b"User-Agent", b"intent-mediator"),
        ]
        # The proxy the environment names for this URL (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY), as httpx used;
        # never for a loopback server (a local vLLM or llama.cpp), as Go's and curl's conventions go.
        proxies = urllib.request.getproxies()
        proxy = proxies.get(url.scheme) or proxies.get("all")
        bypass = _loopback(url.host) or urllib.request.proxy_bypass(url.host)
        self._proxy = httpcore.Proxy(proxy) if proxy and not bypass else None
        if key:
            self._headers.append((b"Authorization", f"Bearer {key}".encode()))
        self._timeouts = {"connect": min(connect_timeout, timeout), "read": timeout, "write": timeout, "pool": timeout}
        # One TLS context for every thread's pool (httpx's, which honours SSL_CERT_FILE and friends): one per pool
        # would load the CA bundle each time (about 1 MB and 30 ms), 150 MB of a load test's memory at 64 threads.
        self._ssl = httpx.create_ssl_context()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._local = threading.local()
        self._closers: list[weakref.finalize] = []
        self._lock = threading.Lock()
        self._closed = False
        # Dropped without close(): the threads' clients close with the engine, not only when their threads end.
        weakref.finalize(self, _close_all, self._closers)

    @property
    def client(self) -> httpcore.ConnectionPool:
        """The calling thread's pool, created on its first call and closed when the thread ends or at `close()`."""
        if self._closed:
            raise lm15.TransportError(f"{PROVIDER}: the client was closed", provider=PROVIDER)
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpcore.ConnectionPool(
                ssl_context=self._ssl,
                proxy=self._proxy,
                # Idle connections are dropped after 4 s: uvicorn-based servers (vLLM among them) close theirs at
                # 5 s, and a request sent on a connection the server is closing fails (and is retried a second
                # later). A thread holding a stream open may start another call, hence room for a second one.
                max_connections=2,
                max_keepalive_connections=1,
                keepalive_expiry=4.0,
            )
            with self._lock:
                self._closers[:] = [c for c in self._closers if c.alive]  # in place: the engine's finalizer holds it
                self._closers.append(weakref.finalize(threading.current_thread(), client.close))
        return client

    # --- the engine contract ---------------------------------------------------------------------------------

    def complete(self, request: Request) -> Response:
        deadline = self._deadline()
        with self._post(self.payload(request), deadline) as response:
            body = self._read(response, deadline)
            if response.status >= 400:
                raise _http_error(response, body)
        data = _json(body, response.status)
        return _chat_response(data, request.model)

    def stream(self, request: Request) -> Iterator[lm15.StreamEvent]:
        """Start, text deltas, end; the server's own stream when it streams (`text/event-stream`)."""
        deadline = self._deadline()
        with self._post(self.payload(request, stream=True), deadline) as response:
            if response.status >= 400:
                raise _http_error(response, self._read(response, deadline))
            if not _header(response, b"content-type").startswith("text/event-stream"):
                body = self._read(response, deadline)
                yield from _events(_chat_response(_json(body, response.status), request.model))
                return
            yield StreamStartEvent()
            finish: str | None = None
            done = False
            for data in self._sse(response, deadline):
                if data == "[DONE]":
                    done = True
                    break
                chunk = _json(data.encode(), response.status)
                if "error" in chunk:
                    raise _body_error(chunk["error"], response.status)
                for choice in chunk.get("choices") or []:
                    if not isinstance(choice, dict):
                        continue
                    delta = choice.get("delta")
                    text = delta.get("content") if isinstance(delta, dict) else None
                    if isinstance(text, str) and text:
                        yield StreamDeltaEvent(TextDelta(well_formed(text)))
                    if choice.get("finish_reason") in _FINISH:
                        finish = _FINISH[choice["finish_reason"]]
            if not (done or finish):
                raise lm15.ProviderError(f"{PROVIDER}: the stream ended unfinished", provider=PROVIDER, status=200)
            yield StreamEndEvent(finish_reason=finish or "stop")  # streamed usage is not asked for, as through litellm

    def close(self) -> None:
        """Close every thread's pool (the engine cannot be used afterwards)."""
        with self._lock:
            self._closed = True
            closers = list(self._closers)
            self._closers.clear()
        _close_all(closers)

    def __deepcopy__(self, memo: dict) -> OpenAICompatibleEngine:
        return self  # a connection pool, shared by copies of the LM like any client

    # --- the wire ------------------------------------------------------------------------------------------

    def payload(self, request: Request, *, stream: bool = False) -> dict[str, Any]:
        """The chat-completions body for `request` (the wire model is the name after `openai/`)."""
        if request.tools:
            raise lm15.UnsupportedFeatureError(f"{PROVIDER}: tools are not sent by the lean client", feature="tools")
        config = request.config
        body: dict[str, Any] = {"model": request.model.removeprefix("openai/"), "messages": request_messages(request)}
        for name in _CONFIG_FIELDS:
            if getattr(config, name) is not None:
                body[name] = getattr(config, name)
        if config.stop:
            body["stop"] = list(config.stop)
        if config.response_format:
            body["response_format"] = _response_format(config.response_format)
        if stream:
            body["stream"] = True
        return body

    @contextlib.contextmanager
    def _post(self, body: dict[str, Any], deadline: float | None) -> Iterator[httpcore.Response]:
        """The server's response to `body`, headers read and body not yet; closed when the block ends. With a
        `deadline`, every wait (a free connection, each read and write) ends by it."""
        self._in_time(deadline)
        timeouts = self._timeouts
        if deadline is not None:
            left = max(deadline - time.monotonic(), 0.001)
            timeouts = {name: min(value, left) for name, value in timeouts.items()}
        if not self._slots.acquire(timeout=timeouts["pool"]):
            raise lm15.TimeoutError(f"{PROVIDER}: no free connection within {self.timeout} s", provider=PROVIDER)
        try:
            client = self.client
            # As httpx sends JSON: compact, UTF-8, and no NaN (which is not JSON).
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            headers = [*self._headers, (b"Content-Length", str(len(content)).encode())]
            request = httpcore.Request(
                b"POST", self._url, headers=headers, content=content, extensions={"timeout": timeouts}
            )
            with _transport_errors(self.timeout):
                response = client.handle_request(request)
            try:
                yield response
            finally:
                response.close()
        finally:
            self._slots.release()

    def _deadline(self) -> float | None:
        """When this call must end: `max_seconds` from now, or the surrounding `call_deadline`, the earlier."""
        own = None if self.max_seconds is None else time.monotonic() + self.max_seconds
        shared = _CALL_DEADLINE.get()
        return min((at for at in (own, shared) if at is not None), default=None)

    def _in_time(self, deadline: float | None) -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise lm15.TimeoutError(f"{PROVIDER}: no complete reply by the call's deadline", provider=PROVIDER)

    def _read(self, response: httpcore.Response, deadline: float | None) -> bytes:
        declared = _header(response, b"content-length")
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            raise self._oversized(response.status)
        chunks, size = [], 0
        with _transport_errors(self.timeout):
            for chunk in response.iter_stream():
                self._in_time(deadline)
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise self._oversized(response.status)
                chunks.append(chunk)
        return b"".join(chunks)

    def _sse(self, response: httpcore.Response, deadline: float | None) -> Iterator[str]:
        """The `data:` payloads of a server-sent event stream, bounded by `max_response_bytes` in all."""
        buffer, size = bytearray(), 0
        with _transport_errors(self.timeout):
            for chunk in response.iter_stream():
                self._in_time(deadline)
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise self._oversized(response.status)
                buffer += chunk
                if b"\n" not in chunk:
                    continue  # a line still arriving (split only when one ends: no quadratic re-splitting)
                *lines, rest = bytes(buffer).split(b"\n")
                buffer = bytearray(rest)
                for line in lines:
                    if line.startswith(b"data:"):
                        yield line[5:].strip().decode("utf-8", errors="replace")

    def _oversized(self, status: int) -> lm15.ProviderError:
        return lm15.ProviderError(
            f"{PROVIDER}: reply over {self.max_response_bytes} bytes", provider=PROVIDER, status=status
        )


def well_formed(text: str) -> str:
    """`text` with every lone UTF-16 surrogate replaced by "?": JSON may carry one ("\\ud800"), but no UTF-8 body,
    header or store can hold it, so a reply with one would fail wherever it goes next."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _loopback(host: str) -> bool:
    """Whether `host` names this machine (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _close_all(closers: list[weakref.finalize]) -> None:
    """Close every thread's pool (each finalizer runs at most once)."""
    for closer in list(closers):
        closer()
    closers.clear()


# httpcore's failures other than timeouts (it has no common base class for them).
_TRANSPORT_ERRORS = (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, httpcore.ProxyError)


@contextlib.contextmanager
def _transport_errors(timeout: float) -> Iterator[None]:
    """httpcore's timeouts and connection failures as lm15's (the exception's type only: no URL, no text)."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise lm15.TimeoutError(f"{PROVIDER}: {type(exc).__name__} after {timeout} s", provider=PROVIDER) from exc
    except _TRANSPORT_ERRORS as exc:
        raise lm15.TransportError(f"{PROVIDER}: {type(exc).__name__}", provider=PROVIDER) from exc


def _header(response: httpcore.Response, name: bytes) -> str:
    """The first value of header `name` (lowercase), or ""."""
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _json(body: bytes, status: int) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise lm15.ProviderError(f"{PROVIDER}: the reply is not JSON", provider=PROVIDER, status=status) from None
    if not isinstance(data, dict):
        raise lm15.ProviderError(f"{PROVIDER}: the reply is not a JSON object", provider=PROVIDER, status=status)
    return data


def _chat_response(data: dict[str, Any], model: str) -> Response:
    """A chat completion body as a `Response`, after checking it is one (DSPy's reader reads `{}` as "")."""
    if "error" in data:
        raise _body_error(data["error"], 200)
    choices = data.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("content"), (str, type(None))):
        raise lm15.ProviderError(f"{PROVIDER}: the reply is not a chat completion", provider=PROVIDER, status=200)
    if message.get("content"):  # cleaned where it comes in: the Mediator's request goes on to another call
        message["content"] = well_formed(message["content"])
    try:
        response = lm15.response_from_openai_chat(data, model=model, choice=0)
        if _plausible(response.usage):
            return response
    except lm15.LM15Error:
        raise
    except (TypeError, ValueError) as exc:
        if "usage" not in data:
            problem = f"{PROVIDER}: malformed chat completion ({type(exc).__name__})"
            raise lm15.ProviderError(problem, provider=PROVIDER, status=200) from exc
    # The answer is good but its token counts are not (negative, not integers, or beyond any real call): they are
    # dropped rather than the answer, and never reach usage totals or metrics.
    return _chat_response({key: value for key, value in data.items() if key != "usage"}, model)


def _plausible(usage: lm15.Usage | None) -> bool:
    counts = [] if usage is None else [getattr(usage, f.name) for f in dataclasses.fields(usage)]
    return all(count is None or reported_tokens(count) == count for count in counts)


def reported_tokens(value: object) -> int:
    """A token count a provider reported, as a whole number; 0 when it is not one a real call could report
    (negative, not a number, over `MAX_REPORTED_TOKENS`: a hostile upstream's 10**40)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_REPORTED_TOKENS:
        return 0
    return int(value)


def _http_error(response: httpcore.Response, body: bytes) -> lm15.ProviderError:
    try:
        detail = json.loads(body).get("error")
    except (ValueError, UnicodeDecodeError, AttributeError):
        detail = None
    return _body_error(detail, response.status, _header(response, b"retry-after") or None)


def _body_error(detail: Any, status: int, retry_after: str | None = None) -> lm15.ProviderError:
    """An OpenAI error envelope (`{"error": {...}}`) and status as the matching lm15 error class."""
    detail = detail if isinstance(detail, dict) else {"message": str(detail or "")}
    code = detail.get("code") or detail.get("type")
    code = str(code) if code is not None else None
    message = f"{PROVIDER}: {str(detail.get('message') or code or 'error')[:500]}"
    seconds = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
    cls: type[lm15.ProviderError]
    if code == "context_length_exceeded":
        cls = lm15.ContextLengthError
    elif code == "insufficient_quota" or status == 402:
        cls = lm15.BillingError
    elif status in (401, 403):
        cls = lm15.AuthError
    elif status in (408, 504):
        cls = lm15.TimeoutError
    elif status == 429:
        cls = lm15.RateLimitError
    elif status == 404:
        cls = lm15.UnsupportedModelError
    elif 400 <= status < 500:
        cls = lm15.InvalidRequestError
    else:
        cls = lm15.ServerError  # 5xx, and an error envelope inside a 200 or a stream
    return cls(message, provider=PROVIDER, provider_code=code, status=status, retry_after=seconds)


def _response_format(value: dict[str, Any]) -> dict[str, Any]:
    """lm15 keeps a JSON schema flat (`{"type": "json_schema", "schema": ...}`); the wire nests it."""
    if value.get("type") == "json_schema" and "schema" in value and "json_schema" not in value:
        inner = {"name": value.get("name", "output"), "schema": value["schema"]}
        if "strict" in value:
            inner["strict"] = value["strict"]
        return {"type": "json_schema", "json_schema": inner}
    return value


def _events(response: Response) -> Iterator[lm15.StreamEvent]:
    """A complete response as a stream (a server that answered a stream request with one JSON body)."""
    yield StreamStartEvent(id=response.id, model=response.model)
    if response.text:
        yield StreamDeltaEvent(TextDelta(response.text))
    yield StreamEndEvent(finish_reason=response.finish_reason, usage=response.usage)
