"""Compiled artifacts per user and domain: `<root>/<user>/<domain>/program.json` + `meta.json`.

`program.json` is the MediatedAssistant's DSPy JSON state (no LMs, no keys, no pickle) plus an
`intent_mediator` header: the artifact format version and the program's architecture (chain of thought, the
Mediator history it was validated with, the check-and-repair step, the task context, how the assistant is
sent), so that the program is rebuilt exactly as it was compiled before its state is loaded. Plain DSPy still
reads the file (`MediatedAssistant().load(path)` ignores the header). `meta.json` records the guidelines,
metric, validation score, models, dspy version, creation time and source pairs.

Loading is strict, since artifacts may come from elsewhere: files over `MAX_ARTIFACT_BYTES` are refused
before they are parsed, unknown keys are rejected, and every value of the wrong type becomes an
`ArtifactError` naming the file and key. Both files are written atomically. `load_mediator` falls back from
user+domain to the domain's generic artifact (`_generic/<domain>`), then to the compiled domain artifact that
ships with the package for the Mediator's model (`data/artifacts/<model>/_generic/<domain>`, when asked for),
then to the generic one (`_generic/_generic`), and finally to the uncompiled program; `choose_artifact` says
which one applies. A folder may also hold `kept.json` and no `program.json`: the per-user recompile job decided
that the user keeps what they are served (`server.recompile.KeepCurrent`); loading ignores it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy
from dspy.utils.saving import get_dependency_versions
from intent_mediator.errors import IntentMediatorError
from intent_mediator.files import write_json_atomic
from intent_mediator.programs import MediatedAssistant
from intent_mediator.transcript import MEDIATOR_HISTORIES

logger = logging.getLogger(__name__)

GENERIC = "_generic"
SHIPPED_ROOT = Path(__file__).parent / "data" / "artifacts"  # package data: <model key>/_generic/<domain>/
FORMAT_VERSION = 1
HEADER = "intent_mediator"
MAX_ARTIFACT_BYTES = 8 * 1024 * 1024
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")
_ADAPTERS = {"ChatAdapter": dspy.ChatAdapter, "JSONAdapter": dspy.JSONAdapter, "XMLAdapter": dspy.XMLAdapter}
_PREDICTOR_KEYS: dict[str, type | tuple[type, ...]] = {
    "traces": list,
    "train": list,
    "demos": list,
    "signature": dict,
    "lm": (dict, type(None)),
}


class ArtifactError(IntentMediatorError, ValueError):
    """A user or domain id is unsafe, an artifact root is missing, or an artifact is unreadable or malformed."""


@dataclasses.dataclass(frozen=True)
class Architecture:
    """How a MediatedAssistant is built: what its saved state must be loaded into.

    Args:
        chain_of_thought: The Mediator reasons before writing the request.
        passthrough_first_turn: The Mediator passes a one-turn transcript through.
        check: The Mediator checks each request against the user's turns and repairs it.
        join_additions: The Mediator joins turns that only add information without an LM call.
        assistant_adapter: None for the plain-chat assistant, else the DSPy adapter's class name.
        mediator_history: "full" or "incremental": how callers feed the Mediator (its validation score holds
            for this history).
        context: The assistant's default task context.
    """

    chain_of_thought: bool = False
    passthrough_first_turn: bool = True
    check: bool = True
    join_additions: bool = False
    assistant_adapter: str | None = None
    mediator_history: str = "full"
    context: str | None = None

    @classmethod
    def of(cls, program: MediatedAssistant) -> Architecture:
        adapter = program.assistant_adapter
        name = None if adapter is None else type(adapter).__name__
        if name is not None and name not in _ADAPTERS:
            raise ArtifactError(f"cannot save an assistant adapter of type {name}; use one of {sorted(_ADAPTERS)}")
        return cls(
            chain_of_thought=program.chain_of_thought,
            passthrough_first_turn=program.mediator.passthrough_first_turn,
            check=program.mediator.check,
            join_additions=program.mediator.join_additions,
            assistant_adapter=name,
            mediator_history=program.mediator_history,
            context=program.context,
        )

    def to_json(self) -> dict[str, Any]:
        """The saved form. `join_additions` is written only when on: it came after the other keys, so a program
        saved without it still loads in a version of the package that predates the option."""
        data = dataclasses.asdict(self)
        if not self.join_additions:
            del data["join_additions"]
        return data

    @classmethod
    def from_json(cls, data: Any, where: str) -> Architecture:
        if not isinstance(data, dict):
            raise ArtifactError(f"{where}: 'architecture' must be an object, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ArtifactError(f"{where}: unknown architecture key(s) {unknown}")
        expected = {
            "chain_of_thought": (bool,),
            "passthrough_first_turn": (bool,),
            "check": (bool,),
            "join_additions": (bool,),
            "assistant_adapter": (str, type(None)),
            "mediator_history": (str,),
            "context": (str, type(None)),
        }
        for key, value in data.items():
            if not isinstance(value, expected[key]):
                raise ArtifactError(f"{where}: architecture.{key} has the wrong type ({type(value).__name__})")
        if data.get("assistant_adapter") not in (None, *_ADAPTERS):
            raise ArtifactError(f"{where}: architecture.assistant_adapter {data['assistant_adapter']!r} is unknown")
        if data.get("mediator_history", "full") not in MEDIATOR_HISTORIES:
            raise ArtifactError(f"{where}: architecture.mediator_history {data['mediator_history']!r} is unknown")
        return cls(**data)

    def build(self) -> MediatedAssistant:
        """A fresh program of this architecture, ready for `load_state`."""
        adapter = _ADAPTERS[self.assistant_adapter]() if self.assistant_adapter else None
        return MediatedAssistant(
            context=self.context,
            chain_of_thought=self.chain_of_thought,
            passthrough_first_turn=self.passthrough_first_turn,
            check=self.check,
            join_additions=self.join_additions,
            assistant_adapter=adapter,
            mediator_history=self.mediator_history,
        )


def validate_id(value: str | None, what: str) -> str:
    """Ids become folder names: letters, digits and `_ . @ -` only, no leading dot, never `..`."""
    if value is None:
        return GENERIC
    if not isinstance(value, str) or not _ID.fullmatch(value) or ".." in value:
        raise ArtifactError(f"invalid {what} id {value!r}: use letters, digits, '_', '.', '@' or '-' (no '..')")
    return value


def artifact_dir(root: str | Path, user: str | None = None, domain: str | None = None) -> Path:
    return Path(root) / validate_id(user, "user") / validate_id(domain, "domain")


def program_state(program: MediatedAssistant) -> dict[str, Any]:
    """The JSON written to `program.json`: header, DSPy state without LMs, and DSPy's metadata."""
    state = program.dump_state()
    for value in state.values():
        value["lm"] = None  # LMs are bound at load time; saved state never carries endpoints or keys
    header = {"format_version": FORMAT_VERSION, "architecture": Architecture.of(program).to_json()}
    return {HEADER: header, **state, "metadata": {"dependency_versions": get_dependency_versions()}}


def save_program(program: MediatedAssistant, path: str | Path) -> Path:
    """Write one program file atomically (what `save_artifact` writes as `program.json`)."""
    write_json_atomic(path, program_state(program))
    return Path(path)


def save_artifact(
    program: MediatedAssistant,
    root: str | Path,
    *,
    user: str | None = None,
    domain: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write `program.json`, then `meta.json`, each atomically; returns the artifact folder."""
    folder = artifact_dir(root, user, domain)
    folder.mkdir(parents=True, exist_ok=True)
    save_program(program, folder / "program.json")
    write_json_atomic(
        folder / "meta.json",
        {
            "format_version": FORMAT_VERSION,
            "user": validate_id(user, "user"),
            "domain": validate_id(domain, "domain"),
            "guidelines": program.guidelines,
            "architecture": Architecture.of(program).to_json(),
            "dspy_version": dspy.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **(meta or {}),
        },
    )
    return folder


def _read_json_object(path: Path, what: str) -> dict[str, Any]:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read {what} ({exc.strerror})") from None
    if size > MAX_ARTIFACT_BYTES:
        raise ArtifactError(f"{path}: {what} is {size} bytes, over the {MAX_ARTIFACT_BYTES}-byte limit")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ArtifactError(f"{path}: {what} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: {what} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: {what} must be a JSON object, got {type(data).__name__}")
    return data


def load_program(path: str | Path) -> MediatedAssistant:
    """Load one program file (an artifact's `program.json`, or any file `save_program` wrote).

    Files without the header (written by `MediatedAssistant.save`) load as format 0: the architecture is
    inferred from the state's keys.

    Raises:
        ArtifactError: the file is missing, too large, not a JSON object, of a newer format, has unknown or
            missing keys, or a value of the wrong type.
    """
    path = Path(path)
    data = _read_json_object(path, "program file")
    header = data.get(HEADER)
    if header is None:
        arch = Architecture(chain_of_thought="mediator.rewrite.predict" in data, check="mediator.repair" in data)
        legacy = {"answer"}  # the plain-chat assistant's empty state, saved before it was hidden from optimizers
    else:
        if not isinstance(header, dict) or set(header) != {"format_version", "architecture"}:
            raise ArtifactError(f"{path}: '{HEADER}' must hold exactly 'format_version' and 'architecture'")
        version = header["format_version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ArtifactError(f"{path}: format_version must be a positive integer, got {version!r}")
        if version > FORMAT_VERSION:
            raise ArtifactError(
                f"{path}: format_version {version} is newer than this intent-mediator reads ({FORMAT_VERSION})"
            )
        arch = Architecture.from_json(header["architecture"], str(path))
        legacy = set()
    program = arch.build()
    expected = {name for name, _ in program.named_parameters()}
    unknown = sorted(set(data) - expected - legacy - {HEADER, "metadata"})
    if unknown:
        raise ArtifactError(f"{path}: unknown key(s) {unknown}; this program has {sorted(expected)}")
    missing = sorted(expected - set(data))
    if missing:
        raise ArtifactError(f"{path}: missing key(s) {missing} for a program of this architecture")
    for name in expected:
        _check_predictor_state(data[name], f"{path}: {name}")
    try:
        program.load_state({name: data[name] for name in expected})
    except Exception as exc:  # DSPy's own errors on a state it cannot use, whatever their type
        raise ArtifactError(f"{path}: cannot load the program state ({type(exc).__name__}: {exc})") from None
    for _, predictor in program.named_predictors():
        predictor.lm = None
    return program


def _check_predictor_state(state: Any, where: str) -> None:
    if not isinstance(state, dict):
        raise ArtifactError(f"{where} must be an object, got {type(state).__name__}")
    unknown = sorted(set(state) - set(_PREDICTOR_KEYS))
    if unknown:
        raise ArtifactError(f"{where}: unknown key(s) {unknown}")
    for key, kind in _PREDICTOR_KEYS.items():
        if key in state and not isinstance(state[key], kind):
            raise ArtifactError(f"{where}.{key} has the wrong type ({type(state[key]).__name__})")
    if state.get("lm") is not None:
        raise ArtifactError(f"{where}.lm must be null: artifacts never carry LM settings")
    if not all(isinstance(demo, dict) for demo in state.get("demos", [])):
        raise ArtifactError(f"{where}.demos must be a list of objects")
    signature = state.get("signature", {})
    if set(signature) - {"instructions", "fields"}:
        raise ArtifactError(f"{where}.signature: unknown key(s) {sorted(set(signature) - {'instructions', 'fields'})}")
    if not isinstance(signature.get("instructions", ""), str):
        raise ArtifactError(f"{where}.signature.instructions must be a string")
    fields = signature.get("fields", [])
    if not isinstance(fields, list) or not all(
        isinstance(f, dict) and all(isinstance(v, str) for v in f.values()) for f in fields
    ):
        raise ArtifactError(f"{where}.signature.fields must be a list of objects of strings")


def load_artifact(folder: str | Path) -> MediatedAssistant:
    """The program in an artifact folder (see `load_program`)."""
    return load_program(Path(folder) / "program.json")


def resolve_artifact(root: str | Path, user: str | None = None, domain: str | None = None) -> Path | None:
    """The most specific artifact folder that exists: user+domain, then the domain, then generic."""
    for candidate_user, candidate_domain in ((user, domain), (None, domain), (None, None)):
        folder = artifact_dir(root, candidate_user, candidate_domain)
        if (folder / "program.json").is_file():
            return folder
    return None


def shipped_model_key(model: str | None) -> str:
    """The folder under `SHIPPED_ROOT` of a model string: `embedded` for the default embedded model (however it
    is spelt), else the string with `/` replaced by `_` (e.g. `openai_gpt-4o-mini`)."""
    from intent_mediator.lm import EMBEDDED

    model = (model or EMBEDDED).strip()
    if model.startswith(EMBEDDED + "/"):
        from intent_mediator.engines.embedded import DEFAULT_EMBEDDED_MODEL

        if model.partition("/")[2] == DEFAULT_EMBEDDED_MODEL:
            model = EMBEDDED
    return validate_id(model.replace("/", "_"), "model")


def shipped_root(model: str | None, *, root: str | Path | None = None) -> Path:
    """Where the artifacts shipped for `model` live under `root` (default `SHIPPED_ROOT`); the folder may not
    exist: nothing is shipped for that model."""
    return Path(root if root is not None else SHIPPED_ROOT) / shipped_model_key(model)


def shipped_domains(model: str | None, *, root: str | Path | None = None) -> list[str]:
    """The domains with a compiled artifact shipped for `model`, sorted."""
    folder = shipped_root(model, root=root) / GENERIC
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "program.json").is_file())


@dataclass(frozen=True)
class ArtifactChoice:
    """Which level of the fallback chain applies: `user`, `domain`, `shipped`, `generic` or `uncompiled`."""

    level: str
    folder: Path | None = None

    def describe(self) -> str:
        """One line for people: the level and the folder (e.g. "shipped artifact .../embedded/_generic/math")."""
        if self.folder is None:
            return "the uncompiled Mediator (no compiled artifact found)"
        return f"{self.level} artifact {self.folder}"


def choose_artifact(
    root: str | Path | None = None,
    user: str | None = None,
    domain: str | None = None,
    *,
    shipped: str | None = None,
    shipped_root_dir: str | Path | None = None,
) -> ArtifactChoice:
    """The first artifact of the chain user+domain -> domain -> shipped domain -> generic -> uncompiled.

    Args:
        root: Your artifact root (None: only shipped artifacts are looked at).
        user, domain: Ids (validated; None skips the levels that need them).
        shipped: The Mediator's model string whose shipped artifacts join the chain (None: they do not).
        shipped_root_dir: Where shipped artifacts live (default `SHIPPED_ROOT`, the package's `data/artifacts`).
    """
    candidates: list[tuple[str, Path]] = []
    if root is not None:
        if user is not None:
            candidates.append(("user", artifact_dir(root, user, domain)))
        if domain is not None:
            candidates.append(("domain", artifact_dir(root, None, domain)))
    if shipped is not None and domain is not None:
        candidates.append(("shipped", artifact_dir(shipped_root(shipped, root=shipped_root_dir), None, domain)))
    if root is not None:
        candidates.append(("generic", artifact_dir(root)))
    for level, folder in candidates:
        if (folder / "program.json").is_file():
            return ArtifactChoice(level, folder)
    return ArtifactChoice("uncompiled")


def load_mediator(
    user: str | None = None,
    domain: str | None = None,
    *,
    root: str | Path | None = "artifacts",
    mediator_lm: dspy.LM | None = None,
    assistant_lm: dspy.LM | None = None,
    shipped: str | None = None,
    shipped_root_dir: str | Path | None = None,
) -> MediatedAssistant:
    """The compiled program for this user and domain (with the fallback chain), LMs bound for this process.

    With `shipped` (the Mediator's model string, e.g. "embedded"), the domain artifact that ships with the
    package for that model is tried after your own domain artifact and before your generic one. The program is
    rebuilt with the architecture it was compiled with; `program.mediator_history` says how to call it
    ("incremental": pass the previous request), and `program.artifact` is the `ArtifactChoice` it was loaded
    from (also logged).

    Raises:
        ArtifactError: `root` is given but is not a folder (a mistyped root must not silently serve the
            uncompiled program), an id is unsafe, or the artifact found is malformed.
    """
    if root is not None and not Path(root).is_dir():
        raise ArtifactError(f"artifact root {root} is not a folder")
    choice = choose_artifact(root, user, domain, shipped=shipped, shipped_root_dir=shipped_root_dir)
    program = load_artifact(choice.folder) if choice.folder else MediatedAssistant()
    logger.info("user=%s domain=%s: %s", user, domain, choice.describe())
    program.artifact = choice
    program.mediator.role_lm = mediator_lm
    program.assistant_lm = assistant_lm
    return program


def read_meta(folder: str | Path) -> dict[str, Any]:
    """An artifact's `meta.json` (size-capped, a JSON object)."""
    return _read_json_object(Path(folder) / "meta.json", "meta file")


KEPT_FILE = "kept.json"


def read_kept(folder: str | Path) -> dict[str, Any] | None:
    """The recompile job's decision to keep what the user is served (`KEPT_FILE`: why, and the newest feedback
    it had read), or None when the folder holds none. Size-capped, a JSON object."""
    path = Path(folder) / KEPT_FILE
    return _read_json_object(path, "kept file") if path.is_file() else None
