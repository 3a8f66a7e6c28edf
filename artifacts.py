"""Compiled artifacts per user and domain: `<root>/<user>/<domain>/program.json` + `meta.json`.

`program.json` is the MediatedAssistant's DSPy JSON state (no LMs, no keys, no pickle); `meta.json` records
the guidelines, metric, validation score, models, dspy version, creation time and source pairs. Loading falls
back from user+domain to the domain's generic artifact (`_generic/<domain>`) to the generic one
(`_generic/_generic`), and finally to the uncompiled program.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import dspy
from intent_mediator.errors import IntentMediatorError
from intent_mediator.files import write_json_atomic
from intent_mediator.programs import MediatedAssistant

logger = logging.getLogger(__name__)

GENERIC = "_generic"
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


def load_mediator(
    user: str | None = None,
    domain: str | None = None,
    *,
    root: str | Path = "artifacts",
    mediator_lm: dspy.LM | None = None,
    assistant_lm: dspy.LM | None = None,
) -> MediatedAssistant:
    """The compiled program for this user and domain (with the fallback chain), LMs bound for this process."""
    folder = resolve_artifact(root, user, domain)
    program = load_artifact(folder) if folder else MediatedAssistant()
    if folder is None:
        logger.info("no artifact for user=%s domain=%s under %s: using the uncompiled program", user, domain, root)
    program.mediator.role_lm = mediator_lm
    program.assistant_lm = assistant_lm
    return program


def read_meta(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))
