"""LMs by role: one place that turns model strings into `dspy.LM`s for each part of the system.

Roles: `assistant` (the model being helped), `mediator`, `user` (the simulated user), `judge` (LLM scoring
and extraction) and `refiner` (guideline distillation). A model string is any litellm string
(`openai/gpt-4o-mini`, `anthropic/claude-...`, `ollama_chat/llama3`, `openai/<name>` with `api_base` for an
OpenAI-compatible server) or `embedded[/<name>]` for the model that ships with the package.

Resolution order per role: explicit argument (CLI flag) > `INTENT_MEDIATOR_<ROLE>_MODEL` >
`INTENT_MEDIATOR_MODEL` > the embedded model. Roles are applied per call with `dspy.context`, never with a
global `dspy.configure`, so worker threads stay independent (the one `dspy.configure`, in `limit_call_records`,
bounds DSPy's records of past calls when a command starts).

Sampling follows the Lost-in-Conversation reference: the assistant and the simulated user sample at 1.0, the
judge (reply classification and answer extraction) runs at 0. The Mediator defaults to 0 (see
`DEFAULT_TEMPERATURES`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dspy
from intent_mediator.errors import ModelConfigError

logger = logging.getLogger(__name__)

ROLES = ("assistant", "mediator", "user", "judge", "refiner")
# How `openai/...` models are reached (`build_lm(client=...)`, `serve --upstream-client`).
UPSTREAM_CLIENTS = ("lean", "litellm")
EMBEDDED = "embedded"
# The roles whose runs are samples: N runs of a conversation are N draws from them (the reference's
# `assistant_temperature` and `user_temperature`, both 1.0 by default).
SAMPLED_ROLES = ("assistant", "user")
DEFAULT_TEMPERATURES: dict[str, float] = {
    "assistant": 1.0,
    "user": 1.0,
    # Scoring must not be a sample: the same reply is classified and extracted the same way every time.
    "judge": 0.0,
    # The Mediator is the component under test, deployed as a rewriter: at 0 the same transcript gives the same
    # request, so run-to-run spread in mediated mode comes from the user and the assistant, as in sharded mode.
    "mediator": 0.0,
    "refiner": 0.0,
}

# litellm otherwise fetches its price list from the network at import; offline machines would stall on it.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _check_litellm_model(model: str) -> None:
    import litellm

    litellm.suppress_debug_info = True
    provider, _, name = model.partition("/")
    if provider and _ and not name:
        raise ModelConfigError(f"model string {model!r} names a provider but no model after the '/'")
    try:
        litellm.get_llm_provider(model)
    except Exception as exc:  # litellm raises its own BadRequestError subclasses here
        raise ModelConfigError(
            f"unknown model string {model!r}: expected 'provider/model' as litellm names it, e.g. "
            "'openai/gpt-4o-mini', 'anthropic/claude-3-5-haiku-latest', 'ollama_chat/llama3', or 'embedded'"
        ) from exc


def build_lm(
    model: str,
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    temperature: float | None = 0.0,
    max_tokens: int | None = None,
    cache: bool = True,
    client: str = "litellm",
    **kwargs: Any,
) -> dspy.LM:
    """Build a `dspy.LM` from a model string.

    Args:
        model: A litellm model string, or `embedded` / `embedded/<name>` for the bundled local model.
        api_base: Base URL of an OpenAI-compatible server for `openai/...` models.
        api_key: API key; by default litellm reads the provider's environment variable.
        temperature: Sampling temperature (0 keeps evaluation repeatable).
        max_tokens: Completion cap.
        cache: Use DSPy's request cache.
        client: How `openai/...` models are reached: "litellm", or "lean" (`OpenAICompatibleEngine`: httpcore
            connections, no litellm on the call path; see `engines/openai_compatible.py`). Every other provider
            goes through litellm either way. A `timeout` keyword bounds each of the lean client's reads and
            its whole call (`max_seconds`); litellm applies it to each read.

    Raises:
        ModelConfigError: the string names no provider litellm knows, or no embedded model, or `client` is
            neither "litellm" nor "lean", or the lean client gets an `api_base` that is not an http(s) URL.
    """
    if client not in UPSTREAM_CLIENTS:
        raise ModelConfigError(f"unknown upstream client {client!r}; expected one of {', '.join(UPSTREAM_CLIENTS)}")
    if not isinstance(model, str) or not model.strip():
        raise ModelConfigError("model string is empty")
    model = model.strip()
    if model == EMBEDDED or model.startswith(EMBEDDED + "/"):
        from intent_mediator.engines.embedded import DEFAULT_EMBEDDED_MODEL, shared_engine

        name = model.partition("/")[2] or DEFAULT_EMBEDDED_MODEL
        if api_base or api_key:
            raise ModelConfigError("the embedded model runs in-process: --api-base and API keys do not apply to it")
        return dspy.LM(
            f"{EMBEDDED}/{name}",
            engine=shared_engine(name),
            temperature=temperature,
            max_tokens=max_tokens,
            cache=cache,
            num_retries=0,
            **kwargs,
        )
    _check_litellm_model(model)
    if client == "lean" and model.startswith("openai/"):
        from intent_mediator.engines.openai_compatible import OpenAICompatibleEngine

        timeout = kwargs.pop("timeout", None)
        try:
            bounds = {"timeout": timeout, "max_seconds": timeout} if timeout else {}
            engine = OpenAICompatibleEngine(api_base, api_key=api_key, **bounds)
        except ValueError as exc:
            raise ModelConfigError(f"api_base: {exc}") from None
        return dspy.LM(model, engine=engine, temperature=temperature, max_tokens=max_tokens, cache=cache, **kwargs)
    settings: dict[str, Any] = {}
    if api_base:
        # engine="auto" routes openai/* + api_base to DSPy's native client, which drops JSON mode.
        settings.update(api_base=api_base, engine="litellm")
    if api_key:
        settings["api_key"] = api_key
    return dspy.LM(model, temperature=temperature, max_tokens=max_tokens, cache=cache, **settings, **kwargs)


@dataclass
class RoleLMs:
    """The LM of each role. Copies of a program share it: LMs are connections, not program state."""

    assistant: dspy.LM | None = None
    mediator: dspy.LM | None = None
    user: dspy.LM | None = None
    judge: dspy.LM | None = None
    refiner: dspy.LM | None = None

    def __deepcopy__(self, memo: dict) -> RoleLMs:
        return self

    def get(self, role: str) -> dspy.LM:
        """The LM for `role`.

        Raises:
            ModelConfigError: unknown role, or no LM configured for it.
        """
        if role not in ROLES:
            raise ModelConfigError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        lm = getattr(self, role)
        if lm is None:
            raise ModelConfigError(f"no LM is configured for the {role} role")
        return lm

    def _per_role(self, read: Callable[[dspy.LM], Any]) -> dict[str, Any]:
        """Role -> `read(lm)`, None for a role without an LM."""
        return {f.name: (read(lm) if (lm := getattr(self, f.name)) else None) for f in fields(self)}

    def models(self) -> dict[str, str | None]:
        """Role -> model string, for logs and artifact metadata (never keys or endpoints)."""
        return self._per_role(lambda lm: lm.model)

    def temperatures(self) -> dict[str, float | None]:
        """Role -> the temperature its LM samples at (None: the provider's default), for run fingerprints."""
        return self._per_role(lambda lm: lm.kwargs.get("temperature"))

    def max_tokens(self) -> dict[str, int | None]:
        """Role -> its LM's completion cap (None: the provider's default), for run fingerprints."""
        return self._per_role(lambda lm: lm.kwargs.get("max_tokens"))

    def endpoints(self) -> dict[str, str | None]:
        """Role -> the server its LM calls (`api_base`, without credentials or query), None for a provider's own
        endpoint or the embedded model: two servers may serve different models under one name."""
        return self._per_role(endpoint)

    @classmethod
    def from_models(
        cls,
        models: dict[str, str | None] | None = None,
        *,
        default: str | None = None,
        api_base: str | None = None,
        environ: Mapping[str, str] | None = None,
        roles: tuple[str, ...] = ROLES,
        temperature: float | None = None,
        temperatures: dict[str, float] | None = None,
        **lm_kwargs: Any,
    ) -> RoleLMs:
        """Resolve each role's model string (see the module docstring) and build its LM.

        Args:
            models: Role -> model string from CLI flags; None or missing entries fall back.
            default: The model for roles nobody named (default: `INTENT_MEDIATOR_MODEL` or `embedded`).
            api_base: OpenAI-compatible base URL, applied to every `openai/...` role.
            environ: Environment to read (default: `os.environ`).
            roles: The roles to build; the others stay None.
            temperature: Temperature of the sampled roles (`SAMPLED_ROLES`: assistant and simulated user);
                default `DEFAULT_TEMPERATURES` (1.0, as the reference). The judge and Mediator keep theirs.
            temperatures: Per-role temperature, overriding both `temperature` and the defaults for that role
                (e.g. `{"mediator": 0.7}`).
            lm_kwargs: Passed to `build_lm` for every role (not `temperature`: use the two arguments above).
        """
        environ = os.environ if environ is None else environ
        models = dict(models or {})
        temperatures = dict(temperatures or {})
        unknown = (set(models) | set(temperatures)) - set(ROLES)
        if unknown:
            raise ModelConfigError(f"unknown role(s) {sorted(unknown)}; roles are {', '.join(ROLES)}")
        fallback = default or environ.get("INTENT_MEDIATOR_MODEL") or EMBEDDED
        built: dict[tuple[str, float | None], dspy.LM] = {}
        resolved = dict(DEFAULT_TEMPERATURES)
        if temperature is not None:
            resolved.update(dict.fromkeys(SAMPLED_ROLES, temperature))
        resolved.update(temperatures)
        lms = {}
        for role in roles:
            model = models.get(role) or environ.get(f"INTENT_MEDIATOR_{role.upper()}_MODEL") or fallback
            base = api_base if model.startswith("openai/") else None
            kwargs = {**lm_kwargs, "temperature": resolved[role]}
            key = (model, kwargs.get("temperature"))
            if key not in built:
                built[key] = build_lm(model, api_base=base, **kwargs)
            # One LM object per distinct model and temperature; per-role usage comes from each call's role.
            lms[role] = built[key]
        return cls(**lms)

    @classmethod
    def scripted(cls, engine: Any) -> RoleLMs:
        """Every role answered by one `ScriptedEngine`, each under its own `scripted/<role>` model string and at
        its default temperature."""
        return cls(**{role: engine.lm(role, temperature=DEFAULT_TEMPERATURES[role]) for role in ROLES})


def endpoint(lm: dspy.LM | None) -> str | None:
    """The base URL `lm` calls (litellm's `api_base`, or the lean client's), without user, password or query."""
    if lm is None:
        return None
    base = lm.kwargs.get("api_base") or getattr(lm.engine, "base_url", None)
    if not isinstance(base, str) or not base:
        return None
    parts = urlsplit(base)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def wants_json(lm: dspy.LM | None) -> bool:
    """Whether `lm`'s engine can enforce a JSON schema and asks for `dspy.JSONAdapter` (the embedded model)."""
    return bool(getattr(getattr(lm, "engine", None), "prefers_json_adapter", False))


def lm_scope(lm: dspy.LM | None, *, adapter: dspy.Adapter | None = None):
    """A thread-local `dspy.context` that selects `lm` (when given) and the adapter for this call.

    Engines that can enforce a JSON schema (the embedded model) declare `prefers_json_adapter`; the structured
    prompt then goes through `dspy.JSONAdapter`, so even a small model returns parseable fields.
    """
    settings: dict = {}
    if lm is not None:
        settings["lm"] = lm
    if adapter is not None:
        settings["adapter"] = adapter
    elif wants_json(lm or dspy.settings.lm):
        settings["adapter"] = dspy.JSONAdapter()
    return dspy.context(**settings) if settings else contextlib.nullcontext()


# How many LM calls a command-line process keeps in DSPy's history (DSPy keeps 10,000).
CALL_RECORDS = 20


def limit_call_records(entries: int = CALL_RECORDS) -> None:
    """Bound what DSPy keeps of past calls in this process: at most `entries` LM calls in its history
    (process-wide, and per LM and module; `dspy.inspect_history` reads it), and no default trace.

    DSPy keeps its last 10,000 LM calls, each with the messages and the provider's whole response,
    log-probabilities included (an ERGO call asks for 20 alternatives per token: about 250 KB pickled), and
    appends every predictor call made outside an optimizer to a default trace of 10,000, each entry holding the
    predictor and so its own history. That trace kept every conversation's program alive: after 60 ERGO
    conversations on the scripted engine (300-word replies), 404 MB allocated during the run was still held. The
    command line and the benchmarks that run for hours call this once at start; a library user's process keeps
    DSPy's settings.

    What still works: the finish-reason listener (`finish.finish_reasons`) is one of the history's owners and so
    keeps the last `entries` calls of its context, while `cut_off` reads the last one; DSPy's optimizers,
    `Refine` and `BestOfN` open a trace list of their own per example (`dspy.context(trace=[])`), which this
    leaves alone. Only the thread that owns DSPy's settings may change them: from another thread, or after
    another thread configured DSPy, only the process-wide history is bounded, with a warning.

    Raises:
        ValueError: `entries` below 1 (DSPy's process-wide history cannot be bounded at 0; `disable_history`
            turns it off, and the finish reasons with it).
    """
    from dspy.clients import base_lm

    if entries < 1:
        raise ValueError(f"entries must be at least 1, got {entries}")
    base_lm.MAX_HISTORY_SIZE = entries
    del base_lm.GLOBAL_HISTORY[: max(0, len(base_lm.GLOBAL_HISTORY) - entries)]
    if threading.current_thread() is not threading.main_thread():
        logger.warning("DSPy's per-LM history and default trace stay as they are: not called from the main thread")
        return
    try:
        dspy.configure(max_history_size=entries, trace=None)
    except RuntimeError as exc:  # another thread configured DSPy first and owns its settings
        logger.warning("DSPy's per-LM history and default trace stay as they are: %s", exc)
