"""The server's work per request: pick the user's artifact, mediate, call the upstream model."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dspy
from dspy.lm15 import Config, Message, Request
from intent_mediator.artifacts import load_artifact, resolve_artifact
from intent_mediator.lm import lm_scope
from intent_mediator.programs import MediatedAssistant
from intent_mediator.simulation.usage import RoleUsage
from intent_mediator.transcript import last_reply_index

logger = logging.getLogger(__name__)


class UpstreamTimeout(Exception):
    """The upstream model did not answer in time."""


@dataclass
class Mediated:
    messages: list[dict]  # what goes upstream
    request: str | None  # the mediated request (None on fallback)
    artifact: str | None
    fallback: str | None  # why the raw conversation went upstream instead


class ArtifactCache:
    """Compiled programs per (user, domain), reloaded when their `program.json` changes on disk."""

    def __init__(self, root: Path | None):
        self.root = root
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[float, MediatedAssistant]] = {}
        # Built once: constructing a program builds signature classes, too slow for every request.
        self._uncompiled = MediatedAssistant()

    def get(self, user: str | None, domain: str | None) -> tuple[MediatedAssistant, str | None]:
        folder = resolve_artifact(self.root, user, domain) if self.root else None
        if folder is None:
            return self._uncompiled, None
        mtime = (folder / "program.json").stat().st_mtime
        with self._lock:
            cached = self._cache.get(folder)
            if cached is None or cached[0] != mtime:
                logger.info("loading artifact %s", folder)
                cached = (mtime, load_artifact(folder))
                self._cache[folder] = cached
        return cached[1], str(folder.relative_to(self.root))


class RequestMemory:
    """The requests written for recent conversations, for incremental mediation across stateless API calls.

    Chat clients resend the whole history each turn. The request written for one call is stored under that
    call's turns; the next call of the same conversation finds it under its turns before the assistant's last
    reply. Bounded (least recently used entries go first) and keyed by artifact, so a conversation served by
    another user's or domain's program never continues from a request this one did not write.

    Args:
        capacity: Conversations remembered.
    """

    def __init__(self, capacity: int = 10_000):
        self.capacity = capacity
        self._lock = threading.Lock()
        self._requests: OrderedDict[str, str] = OrderedDict()

    @staticmethod
    def key(artifact: str | None, turns: list[dict]) -> str:
        payload = json.dumps([artifact, [[t["role"], t["content"]] for t in turns]], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def previous(self, artifact: str | None, turns: list[dict]) -> str | None:
        """The request written for `turns` up to the assistant's last reply, if this server wrote one."""
        last_reply = last_reply_index(t["role"] for t in turns)
        if last_reply is None:
            return None
        key = self.key(artifact, turns[:last_reply])
        with self._lock:
            if key in self._requests:
                self._requests.move_to_end(key)
            return self._requests.get(key)

    def remember(self, artifact: str | None, turns: list[dict], request: str) -> None:
        with self._lock:
            key = self.key(artifact, turns)
            self._requests[key] = request
            self._requests.move_to_end(key)
            while len(self._requests) > self.capacity:
                self._requests.popitem(last=False)


def mediate(
    program: MediatedAssistant,
    messages: list[dict],
    mediator_lm: dspy.LM,
    usage: RoleUsage,
    artifact: str | None,
    memory: RequestMemory | None = None,
) -> Mediated:
    """System messages stay as the assistant's context; the turns become one mediated user message.

    With a `memory`, the Mediator reads its previous request for this conversation instead of the whole
    history whenever that request is remembered (incremental mediation).
    """
    system = [m for m in messages if m["role"] == "system"]
    turns = [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] in ("user", "assistant")]
    previous = memory.previous(artifact, turns) if memory else None
    try:
        with usage.track("mediator"), lm_scope(mediator_lm):
            out = program.mediator(transcript=turns, previous_request=previous)
    except Exception as exc:  # the user still gets an answer: the raw conversation goes upstream
        logger.warning("mediator failed (%s): passing the conversation through", exc)
        return Mediated(messages, None, artifact, f"{type(exc).__name__}: {exc}"[:200])
    if memory is not None and not getattr(out, "fallback", None):
        memory.remember(artifact, turns, out.request)
    return Mediated(
        [*system, {"role": "user", "content": out.request}], out.request, artifact, getattr(out, "fallback", None)
    )


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


class Upstream:
    """The fronted model: one completion, or a stream of text deltas, with a timeout."""

    def __init__(self, lm: dspy.LM, timeout: float):
        self.lm, self.timeout = lm, timeout
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="upstream")

    def complete(self, messages: list[dict], usage: RoleUsage, **params) -> str:
        request = to_request(self.lm.model, messages, **params)

        def call() -> str:
            with usage.track("upstream"):
                return self.lm(request).message.text or ""

        future = self._pool.submit(call)
        try:
            return future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            raise UpstreamTimeout(f"the upstream model did not answer within {self.timeout:g} s") from None

    def stream(self, messages: list[dict], usage: RoleUsage, **params) -> Iterator[str]:
        """Native streaming through litellm for provider models; engines without it send one chunk."""
        if isinstance(self.lm.engine, str):
            import litellm

            kwargs = {
                k: v for k, v in self.lm.kwargs.items() if k in ("api_base", "api_key", "temperature", "max_tokens")
            }
            kwargs.update(params)
            response = litellm.completion(
                model=self.lm.model, messages=messages, stream=True, timeout=self.timeout, **kwargs
            )
            for chunk in response:
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta:
                    yield delta
            return
        yield self.complete(messages, usage, **params)
