"""The server's work per request: pick the user's artifact, mediate, call the upstream model."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from pathlib import Path

import dspy
from dspy import lm15
from dspy.clients.engines.litellm_errors import to_lm15_error
from dspy.clients.errors import wrap_error
from dspy.lm15 import Config, Message, Request
from intent_mediator.artifacts import artifact_dir, load_artifact
from intent_mediator.engines.openai_compatible import PROVIDER, OpenAICompatibleEngine, call_deadline, well_formed
from intent_mediator.lm import lm_scope
from intent_mediator.programs import MediatedAssistant
from intent_mediator.simulation.usage import RoleUsage
from intent_mediator.stores import RequestMemory
from intent_mediator.transcript import last_reply_index

logger = logging.getLogger(__name__)

# Seconds a model call may outlive the request's own deadline: the request answers (504, or the Mediator's
# fallback) at the deadline itself, then the abandoned call ends, its thread and connection freed.
CALL_GRACE = 0.5


@dataclass
class Mediated:
    messages: list[dict]  # what goes upstream
    request: str | None  # the mediated request (None on fallback)
    artifact: str | None
    fallback: str | None  # why the raw conversation went upstream instead
    memory: str | None = None  # incremental mediation of a follow-up: "hit" (continued) or "miss" (full transcript)


class ArtifactCache:
    """Compiled programs per (user, domain), reloaded when their `program.json` changes on disk.

    An artifact that fails to load is skipped for the next level of the fallback chain (user+domain, then the
    domain, then the shipped domain artifact when `shipped` is set, then generic, then the uncompiled program)
    until its file changes; the failure is reported by artifact id and exception type only, never with a path or
    the exception's text.
    """

    def __init__(self, root: Path | None, shipped: Path | None = None):
        self.root = root
        self.shipped = shipped  # the package's artifacts for the Mediator's model (`serve --compiled`)
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[float, int], MediatedAssistant | None, str | None]] = {}
        # Built once: constructing a program builds signature classes, too slow for every request.
        self._uncompiled = MediatedAssistant()

    def chain(self, user: str | None, domain: str | None) -> list[tuple[str, Path]]:
        """(artifact id, folder) in fallback order: user+domain, domain, shipped domain, generic."""
        out: list[tuple[str, Path]] = []
        if self.root is not None:
            for candidate in dict.fromkeys([(user, domain), (None, domain)]):
                folder = artifact_dir(self.root, *candidate)
                out.append((str(folder.relative_to(self.root)), folder))
        if self.shipped is not None and domain is not None:
            folder = artifact_dir(self.shipped, None, domain)
            out.append((f"shipped:{self.shipped.name}/{folder.relative_to(self.shipped)}", folder))
        if self.root is not None:
            out.append((str(artifact_dir(self.root).relative_to(self.root)), artifact_dir(self.root)))
        return list(dict(out).items())  # without a user or domain, some levels are the same folder

    def get(self, user: str | None, domain: str | None) -> tuple[MediatedAssistant, str | None, str | None]:
        """The program for (user, domain), its artifact id (None: uncompiled), and what failed on the way."""
        problems: list[str] = []
        for name, folder in self.chain(user, domain):
            program, problem = self._load(folder, name)
            if program is not None:
                return program, name, "; ".join(problems) or None
            if problem is not None:
                problems.append(f"{name} unreadable ({problem})")
        return self._uncompiled, None, "; ".join(problems) or None

    def _load(self, folder: Path, name: str) -> tuple[MediatedAssistant | None, str | None]:
        """(program, None), or (None, None) when there is no artifact here, or (None, why) when it is broken."""
        try:
            stat = (folder / "program.json").stat()
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, type(exc).__name__
        version = (stat.st_mtime, stat.st_size)
        with self._lock:
            cached = self._cache.get(folder)
            if cached is None or cached[0] != version:
                try:
                    cached = (version, load_artifact(folder), None)
                    logger.info("loaded artifact %s", name)
                except Exception as exc:  # a broken artifact must not take its user's requests down
                    logger.warning("artifact %s cannot be loaded (%s): falling back", name, type(exc).__name__)
                    cached = (version, None, type(exc).__name__)
                self._cache[folder] = cached
        return cached[1], cached[2]


def mediate(
    user: str,
    program: MediatedAssistant,
    messages: list[dict],
    mediator_lm: dspy.LM,
    usage: RoleUsage,
    artifact: str | None,
    memory: RequestMemory | None = None,
    ends: float | None = None,
) -> Mediated:
    """System messages stay as the assistant's context; the turns become one mediated user message.

    With a `memory`, the Mediator reads its previous request for this conversation of `user` instead of the
    whole history whenever that request is remembered (incremental mediation). A failing Mediator sends the raw
    conversation upstream; `Mediated.fallback` then names the failure by type only (model output and provider
    messages stay out of headers and logs). The lean client's calls end by `ends` (`time.monotonic()`).
    """
    system = [m for m in messages if m["role"] == "system"]
    turns = [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] in ("user", "assistant")]
    previous = memory.previous(user, artifact, turns) if memory else None
    follow_up = memory is not None and last_reply_index(t["role"] for t in turns) is not None
    remembered = ("hit" if previous is not None else "miss") if follow_up else None
    try:
        with usage.track("mediator"), lm_scope(mediator_lm), call_deadline(ends):
            out = program.mediator(transcript=turns, previous_request=previous)
        out.request = well_formed(out.request)  # a Mediator reached through litellm is not cleaned on the way in
    except Exception as exc:  # the user still gets an answer: the raw conversation goes upstream
        logger.warning("mediator failed (%s): passing the conversation through", describe_failure(exc))
        return Mediated(messages, None, artifact, f"mediator error: {describe_failure(exc)}", remembered)
    if memory is not None and not getattr(out, "fallback", None):
        memory.remember(user, artifact, turns, out.request)
    return Mediated(
        [*system, {"role": "user", "content": out.request}],
        out.request,
        artifact,
        getattr(out, "fallback", None),
        remembered,
    )


async def mediate_within(
    timeout: float,
    pool: concurrent.futures.Executor,
    user: str,
    program: MediatedAssistant,
    messages: list[dict],
    mediator_lm: dspy.LM,
    usage: RoleUsage,
    artifact: str | None,
    memory: RequestMemory | None = None,
) -> Mediated:
    """`mediate` in `pool`, given up after `timeout` seconds (the raw conversation then goes upstream)."""
    ends = time.monotonic() + timeout + CALL_GRACE  # the model calls themselves end then (`call_deadline`)
    call = functools.partial(mediate, user, program, messages, mediator_lm, usage, artifact, memory, ends)
    try:
        return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(pool, call), timeout)
    except TimeoutError:
        logger.warning("mediator gave no answer within %g s: passing the conversation through", timeout)
        return Mediated(messages, None, artifact, f"mediator timeout: no answer within {timeout:g} s")


def describe_failure(exc: BaseException) -> str:
    """A model call's failure as one safe line: the exception type and HTTP status, never its text.

    Provider messages can echo the caller's key or the prompt, and model output can hold anything (newlines
    included, which break HTTP headers); the type and status say what went wrong without passing either on.
    """
    status = getattr(exc, "status_code", None)
    status = getattr(exc, "status", None) if status is None else status  # DSPy's LM errors call it `status`
    name = type(exc).__name__
    return f"{name} (HTTP {status})" if isinstance(status, int) else name


def to_request(
    model: str, messages: list[dict], *, temperature: float | None = None, max_tokens: int | None = None
) -> Request:
    """OpenAI-style messages as a DSPy 3.4 `Request` (system messages joined into the system prompt)."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system") or None
    turns = tuple(
        Message.user(m["content"]) if m["role"] == "user" else Message.assistant(m["content"])
        for m in messages
        if m["role"] in ("user", "assistant")
    )
    return Request(
        model=model, messages=turns, system=system, config=Config(temperature=temperature, max_tokens=max_tokens)
    )


class UpstreamTimeout(Exception):
    """The upstream model did not answer in time."""


class Upstream:
    """The fronted model: one completion, or a stream of text deltas, each bounded by a deadline.

    Calls run in a bounded thread pool; a call that outlives its deadline is abandoned (the client gets 504
    at once) and its thread ends when the model's own client timeout fires.

    Args:
        lm: The upstream model.
        pool: Where blocking model calls run.
    """

    def __init__(self, lm: dspy.LM, pool: concurrent.futures.Executor):
        self.lm, self.pool = lm, pool

    async def complete(self, messages: list[dict], usage: RoleUsage, timeout: float, **params) -> str:
        request = to_request(self.lm.model, messages, **params)

        ends = time.monotonic() + max(timeout, 0.0) + CALL_GRACE

        def call() -> str:
            with usage.track("upstream"), call_deadline(ends):  # retries included: the thread is not held past it
                return well_formed(self.lm(request).message.text or "")

        future = asyncio.get_running_loop().run_in_executor(self.pool, call)
        try:
            return await asyncio.wait_for(future, max(timeout, 0.0))
        except TimeoutError:
            raise UpstreamTimeout from None

    async def stream(
        self, messages: list[dict], usage: RoleUsage, deadline: float, **params
    ) -> AsyncGenerator[str, None]:
        """Text deltas until the model finishes; UpstreamTimeout once `deadline` (loop time) passes.

        Provider models stream natively: through the lean client's own server-sent events, or litellm's;
        engines without streaming send one chunk.
        """
        engine = self.lm.engine
        if isinstance(engine, OpenAICompatibleEngine):
            deltas = functools.partial(_lean_deltas, engine, to_request(self.lm.model, messages, **params))
        elif isinstance(engine, str):
            kwargs = {k: v for k, v in self.lm.kwargs.items() if k in _STREAM_KWARGS}
            deltas = functools.partial(_litellm_deltas, self.lm.model, messages, {**kwargs, **params})
        else:
            yield await self.complete(messages, usage, deadline - asyncio.get_running_loop().time(), **params)
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        ends = time.monotonic() + max(deadline - loop.time(), 0.0) + CALL_GRACE

        def produce() -> None:
            try:
                # The lean client ends the stream by the request's deadline, even one sending only comments.
                with call_deadline(ends):
                    pieces = deltas()
                    try:
                        for delta in pieces:
                            if stop.is_set():
                                break
                            loop.call_soon_threadsafe(queue.put_nowait, ("delta", delta))
                    finally:
                        close = getattr(pieces, "close", None)
                        if close is not None:
                            close()  # the lean client's generator returns its connection here
                loop.call_soon_threadsafe(queue.put_nowait, ("end", None))
            except Exception as exc:
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))
            except BaseException:  # the loop is gone (server shutting down): nothing left to tell
                pass

        producer = loop.run_in_executor(self.pool, produce)
        try:
            while True:
                try:
                    kind, value = await asyncio.wait_for(queue.get(), max(deadline - loop.time(), 0.0))
                except TimeoutError:
                    raise UpstreamTimeout from None
                if kind == "end":
                    return
                if kind == "error":
                    raise value
                yield well_formed(value)
        finally:
            stop.set()
            producer.cancel()


_STREAM_KWARGS = ("api_base", "api_key", "temperature", "max_tokens", "timeout")


def _litellm_deltas(model: str, messages: list[dict], kwargs: dict) -> Iterator[str]:
    """Text deltas of a litellm stream; its failures become the DSPy errors a completion through litellm raises."""
    import litellm

    try:
        for chunk in litellm.completion(model=model, messages=messages, stream=True, num_retries=0, **kwargs):
            delta = chunk.choices[0].delta.content if chunk.choices else None
            if delta:
                yield delta
    except Exception as exc:
        provider = model.partition("/")[0]
        canonical = to_lm15_error(exc, model=model, provider=provider)
        if canonical is exc:
            raise
        raise wrap_error(canonical, model=model, provider=provider) from exc


def _lean_deltas(engine: OpenAICompatibleEngine, request: Request) -> Iterator[str]:
    """Text deltas of the lean client's stream; its failures surface as the DSPy errors a completion raises."""
    try:
        for event in engine.stream(request):
            if event.type == "delta" and event.delta.type == "text":
                yield event.delta.text
    except lm15.LM15Error as exc:
        raise wrap_error(exc, model=request.model, provider=PROVIDER) from exc
