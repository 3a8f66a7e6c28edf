"""`ScriptedEngine`: a deterministic, role-aware DSPy engine that records every request.

Use it to test DSPy programs without a network or a model:

    engine = ScriptedEngine()
    engine.on(role="mediator", reply=lambda call: {"request": " ".join(call.user_turns())})
    engine.on(role="assistant", reply="42")
    program = MediatedAssistant(mediator_lm=engine.lm("mediator"), assistant_lm=engine.lm("assistant"))

A rule matches on role (the part after `scripted/` in the model string), on a signature (its input and output
field names appear in the prompt) and on text the prompt contains; the first matching rule answers. A reply is
a string, a dict of output fields, or a callable taking the `ScriptedCall` and returning either. Dicts are
rendered in whatever format the adapter asked for (ChatAdapter markers, JSON, or plain chat), so the same rule
works under every adapter.

Token log-probabilities: a rule with `entropy=` (a number in nats, or a callable taking the `ScriptedCall`)
answers requests that ask for log-probabilities (`logprobs=True, top_logprobs=k`) with one entry per
estimated token whose top-k distribution has exactly that Shannon entropy; a rule without it returns none,
as a provider without log-probabilities does.

Token cap: a reply longer than the request's `max_tokens` (estimated at four characters a token) is cut there
and finishes with "length", as a capped model's reply does.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dspy
from dspy.lm15 import Request, Response, TokenLogprob, TopLogprob, response_to_events
from intent_mediator.engines._response import estimate_tokens, request_messages, text_response

Reply = str | dict[str, Any] | Callable[["ScriptedCall"], str | dict[str, Any]]
Entropy = float | Callable[["ScriptedCall"], float]

_MARKER = re.compile(r"^\[\[ ## (\w+) ## \]\]\s*$", re.M)
_OUTPUT_REQUIREMENTS = re.compile(r"\n\nRespond with .*\Z", re.S)
_OUTPUT_FIELDS = re.compile(r"Your output fields are:\n(.*?)(?:\n\n|\nAll interactions)", re.S)
_FIELD_NAME = re.compile(r"^\d+\. `(\w+)`", re.M)


class ScriptedEngineError(RuntimeError):
    """No rule matched a request (the message names the role and the start of the prompt)."""


@dataclass(frozen=True)
class ScriptedCall:
    """What a rule sees of one request.

    Args:
        role: The LM's role, from its model string `scripted/<role>`.
        model: The full model string.
        messages: The request as OpenAI-style messages, system first when there is one.
        inputs: Input fields parsed from the last user message (JSON values decoded); empty for plain chat.
        output_fields: Output field names listed in the system prompt; empty for plain chat.
        format: "chat" (ChatAdapter markers), "json" (JSONAdapter) or "plain" (PlainChatAdapter).
        index: How many requests the engine had answered before this one.
    """

    role: str
    model: str
    messages: list[dict[str, str]]
    inputs: dict[str, Any]
    output_fields: list[str]
    format: str
    index: int

    @property
    def system(self) -> str:
        return self.messages[0]["content"] if self.messages and self.messages[0]["role"] == "system" else ""

    @property
    def prompt(self) -> str:
        return "\n".join(message["content"] for message in self.messages)

    @property
    def last_user(self) -> str:
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")

    def user_turns(self) -> list[str]:
        """User turns of the conversation: the `transcript` input when present, else the user messages."""
        transcript = self.inputs.get("transcript")
        if isinstance(transcript, list):
            return [t["content"] for t in transcript if isinstance(t, dict) and t.get("role") == "user"]
        return [m["content"] for m in self.messages if m["role"] == "user"]


@dataclass(frozen=True)
class RecordedRequest:
    """One answered request: who asked, what was sent, what came back, and its token counts."""

    role: str
    model: str
    messages: list[dict[str, str]]
    response: str
    rule: str
    input_tokens: int
    output_tokens: int
    temperature: float | None = None
    seed: int | None = None
    response_format: dict[str, Any] | None = None

    @property
    def prompt(self) -> str:
        return "\n".join(message["content"] for message in self.messages)


@dataclass
class Rule:
    reply: Reply
    role: str | None = None
    signature: type[dspy.Signature] | None = None
    contains: str | None = None
    name: str = ""
    entropy: Entropy | None = None

    def matches(self, call: ScriptedCall) -> bool:
        if self.role is not None and call.role != self.role:
            return False
        if self.contains is not None and self.contains not in call.prompt:
            return False
        if self.signature is not None:
            if call.format == "plain" or set(self.signature.output_fields) != set(call.output_fields):
                return False
            if not set(self.signature.input_fields) <= set(call.inputs):
                return False
        return True


@dataclass
class ScriptedEngine:
    """A deterministic engine for tests and benchmarks (see the module docstring).

    Args:
        rules: Rules tried in order; `on()` appends more.
        default: The reply when no rule matches; None raises `ScriptedEngineError` instead.
        latency: Seconds to sleep per call, to simulate a remote model in concurrency benchmarks.
    """

    rules: list[Rule] = field(default_factory=list)
    default: Reply | None = None
    latency: float = 0.0
    _records: list[RecordedRequest] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    supports_response_schema = False

    def on(
        self,
        *,
        reply: Reply,
        role: str | None = None,
        signature: type[dspy.Signature] | None = None,
        contains: str | None = None,
        name: str = "",
        entropy: Entropy | None = None,
    ) -> ScriptedEngine:
        """Add a rule; returns the engine so calls chain (`entropy`: see the module docstring)."""
        label = name or "/".join(filter(None, [role, signature.__name__ if signature else None, contains]))
        self.rules.append(
            Rule(reply=reply, role=role, signature=signature, contains=contains, name=label or "any", entropy=entropy)
        )
        return self

    def lm(self, role: str = "assistant", **kwargs: Any) -> dspy.LM:
        """A `dspy.LM` for `role` answered by this engine (uncached, so every call reaches the rules)."""
        kwargs.setdefault("cache", False)
        kwargs.setdefault("num_retries", 0)
        return dspy.LM(f"scripted/{role}", engine=self, **kwargs)

    # --- recorded traffic -------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._records)

    def requests_for(self, role: str) -> list[RecordedRequest]:
        return [record for record in self.requests if record.role == role]

    def usage_by_role(self) -> dict[str, dict[str, int]]:
        """Calls and prompt/completion tokens per role."""
        usage: dict[str, Counter] = {}
        for record in self.requests:
            counter = usage.setdefault(record.role, Counter())
            counter.update(calls=1, input_tokens=record.input_tokens, output_tokens=record.output_tokens)
        return {role: dict(counter) for role, counter in usage.items()}

    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    # --- engine protocol --------------------------------------------------------------------------------
    def complete(self, request: Request) -> Response:
        messages = request_messages(request)
        call = self._call(request, messages)
        rule = next((rule for rule in self.rules if rule.matches(call)), None)
        if rule is not None:
            reply = rule.reply
        elif self.default is not None:
            reply = self.default
        else:
            raise ScriptedEngineError(
                f"no scripted rule matches a {call.format} request for role {call.role!r} "
                f"(outputs {call.output_fields}); prompt starts: {call.prompt[:200]!r}"
            )
        value = reply(call) if callable(reply) else reply
        text, finish = _capped(_render(value, call), request.config.max_tokens)
        if self.latency:
            threading.Event().wait(self.latency)
        record = RecordedRequest(
            role=call.role,
            model=request.model,
            messages=messages,
            response=text,
            rule=rule.name if rule else "default",
            input_tokens=estimate_tokens(call.prompt),
            output_tokens=estimate_tokens(text),
            temperature=request.config.temperature,
            seed=request.config.seed,
            response_format=request.config.response_format,
        )
        with self._lock:
            self._records.append(record)
        logprobs = None
        if request.config.logprobs is not None and rule is not None and rule.entropy is not None:
            entropy = rule.entropy(call) if callable(rule.entropy) else rule.entropy
            logprobs = scripted_logprobs(text, float(entropy), max(2, request.config.logprobs))
        return text_response(
            request.model, text, record.input_tokens, record.output_tokens, finish_reason=finish, logprobs=logprobs
        )

    def stream(self, request: Request):
        return response_to_events(self.complete(request))

    def close(self) -> None:
        pass

    def __deepcopy__(self, memo: dict) -> ScriptedEngine:
        # An engine is a connection, not program state: copies of a program share it (and its records).
        return self

    def _call(self, request: Request, messages: list[dict[str, str]]) -> ScriptedCall:
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
        if "Outputs will be a JSON object" in system or request.config.response_format:
            fmt = "json"
        elif "[[ ## completed ## ]]" in system:
            fmt = "chat"
        else:
            fmt = "plain"
        inputs: dict[str, Any] = {}
        outputs: list[str] = []
        if fmt != "plain":
            match = _OUTPUT_FIELDS.search(system)
            outputs = _FIELD_NAME.findall(match.group(1)) if match else []
            last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
            parts = _MARKER.split(last_user)
            for name, value in zip(parts[1::2], parts[2::2], strict=True):
                inputs[name] = _decode(_OUTPUT_REQUIREMENTS.sub("", value).strip())
        role = request.model.split("/", 1)[1] if request.model.startswith("scripted/") else request.model
        with self._lock:
            index = len(self._records)
        return ScriptedCall(
            role=role,
            model=request.model,
            messages=messages,
            inputs=inputs,
            output_fields=outputs,
            format=fmt,
            index=index,
        )


def _capped(text: str, max_tokens: int | None) -> tuple[str, str]:
    """The reply as a model capped at `max_tokens` would end it: cut at the cap (estimated tokens), "length"."""
    if max_tokens is None or estimate_tokens(text) <= max_tokens:
        return text, "stop"
    return text[: max_tokens * 4], "length"


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _render(value: str | dict[str, Any], call: ScriptedCall) -> str:
    if call.format == "plain":
        if isinstance(value, dict):
            if len(value) != 1:
                raise ScriptedEngineError(
                    f"a plain-chat reply for role {call.role!r} must be text, got fields {list(value)}"
                )
            (value,) = value.values()
        return str(value)
    if isinstance(value, str):
        if len(call.output_fields) != 1:
            # A string for a multi-field signature is sent as is: useful to test malformed model output.
            return value
        value = {call.output_fields[0]: value}
    if call.format == "json":
        return json.dumps(value)
    sections = [f"[[ ## {name} ## ]]\n{_as_text(field_value)}" for name, field_value in value.items()]
    return "\n\n".join([*sections, "[[ ## completed ## ]]"])


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def scripted_logprobs(text: str, entropy: float, k: int) -> tuple[TokenLogprob, ...]:
    """One entry per estimated token (at least one), each with a top-k distribution of `entropy` nats.

    The distribution puts p on the chosen token and (1 - p) / (k - 1) on each alternative; p is found by
    bisection, since that entropy falls monotonically from ln k (p = 1/k) to 0 (p = 1).
    """
    if not 0.0 <= entropy <= math.log(k) + 1e-9:
        raise ScriptedEngineError(f"a scripted entropy must lie in [0, ln {k}] = [0, {math.log(k):.3f}], got {entropy}")

    def spread(p: float) -> float:
        rest = (1.0 - p) / (k - 1)
        return -(p * math.log(p)) - ((1.0 - p) * math.log(rest) if rest > 0 else 0.0)

    low, high = 1.0 / k, 1.0
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if spread(middle) > entropy else (low, middle)
    p = (low + high) / 2
    rest = (1.0 - p) / (k - 1)
    alternatives = [TopLogprob(token=f"<alt{i}>", logprob=math.log(rest) if rest > 0 else -1e9) for i in range(1, k)]
    top = (TopLogprob(token="<chosen>", logprob=math.log(p)), *alternatives)
    words = text.split() or [text]
    return tuple(TokenLogprob(token=word, logprob=math.log(p), top=top) for word in words)
