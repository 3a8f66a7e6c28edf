"""Compiled artifacts per user and domain: `<root>/<user>/<domain>/program.json` + `meta.json`.

`program.json` is the MediatedAssistant's DSPy JSON state (no LMs, no keys, no pickle); `meta.json` records
the guidelines, metric, validation score, models, dspy version, creation time and source pairs. Loading falls
back from user+domain to the domain's generic artifact (`_generic/<domain>`), then to the compiled domain
artifact that ships with the package for the Mediator's model (`data/artifacts/<model>/_generic/<domain>`, when
asked for), then to the generic one (`_generic/_generic`), and finally to the uncompiled program;
`choose_artifact` says which one applies.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy
from intent_mediator.errors import IntentMediatorError
from intent_mediator.files import write_json_atomic
from intent_mediator.programs import MediatedAssistant

logger = logging.getLogger(__name__)

GENERIC = "_generic"
SHIPPED_ROOT = Path(__file__).parent / "data" / "artifacts"  # package data: <model key>/_generic/<domain>/
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")


class ArtifactError(IntentMediatorError, ValueError):
    """A user or domain id is unsafe, or an artifact is unreadable."""


def validate_id(value: str | None, what: str) -> str:
    """Ids become folder names: letters, digits and `_ . @ -` only, no leading dot, never `..`."""
    if value is None:
        return GENERIC
    if not isinstance(value, str) or not _ID.fullmatch(value) or ".." in value:
        raise ArtifactError(f"invalid {what} id {value!r}: use letters, digits, '_', '.', '@' or '-' (no '..')")
    return value


def artifact_dir(root: str | Path, user: str | None = None, domain: str | None = None) -> Path:
    return Path(root) / validate_id(user, "user") / validate_id(domain, "domain")


def save_artifact(
    program: MediatedAssistant,
    root: str | Path,
    *,
    user: str | None = None,
    domain: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write `program.json` and `meta.json` atomically; returns the artifact folder."""
    folder = artifact_dir(root, user, domain)
    folder.mkdir(parents=True, exist_ok=True)
    clean = program.deepcopy()
    clean.mediator.role_lm = None
    clean.assistant_lm = None
    for _, predictor in clean.named_predictors():
        predictor.lm = None  # LMs are bound at load time; saved state never carries endpoints or keys
    partial = folder / f".program.{os.getpid()}.json"
    clean.save(str(partial))
    os.replace(partial, folder / "program.json")
    write_json_atomic(
        folder / "meta.json",
        {
            "user": validate_id(user, "user"),
            "domain": validate_id(domain, "domain"),
            "guidelines": program.guidelines,
            "dspy_version": dspy.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **(meta or {}),
        },
    )
    return folder


def load_artifact(folder: str | Path) -> MediatedAssistant:
    folder = Path(folder)
    program = MediatedAssistant()
    try:
        program.load(str(folder / "program.json"))
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(f"{folder / 'program.json'}: cannot load ({exc})") from exc
    return program


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
    package for that model is tried after your own domain artifact and before your generic one. The program's
    `artifact` attribute is the `ArtifactChoice` it was loaded from (also logged).
    """
    choice = choose_artifact(root, user, domain, shipped=shipped, shipped_root_dir=shipped_root_dir)
    program = load_artifact(choice.folder) if choice.folder else MediatedAssistant()
    logger.info("user=%s domain=%s: %s", user, domain, choice.describe())
    program.artifact = choice
    program.mediator.role_lm = mediator_lm
    program.assistant_lm = assistant_lm
    return program


def read_meta(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))
