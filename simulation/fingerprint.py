"""Run fingerprints: the configuration a run was made with, written beside its results and checked on resume.

A fingerprint is a flat-ish JSON dict (models, temperatures, persona, user simulator, classifier, extraction,
guidelines and program hashes, Mediator history, package and DSPy versions). `evaluate` writes it to
`<out>/run.json` with a content hash of every record it ran, and stamps it into every trajectory. Resuming a
folder with a different fingerprint, or with a record whose content changed, raises `RunConfigError` naming the
fields that differ: results made under two configurations never end up averaged together.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dspy
from intent_mediator.data.records import Instruction
from intent_mediator.errors import IntentMediatorError
from intent_mediator.files import write_json_atomic

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"


class RunConfigError(IntentMediatorError, ValueError):
    """An output folder was made with another configuration than the one resuming it."""


def digest(value: Any) -> str:
    """A short, stable content hash of any JSON-serialisable value."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def record_digest(record: Instruction) -> str:
    return digest(record.model_dump(mode="json"))


def _callable_name(value: Any) -> str | None:
    if value is None:
        return None
    return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', type(value).__qualname__)}"


def _plain(value: Any) -> Any:
    """A JSON-friendly view of a settings value: dataclasses as dicts, LMs as their model string."""
    if isinstance(value, dspy.LM):
        return {"model": value.model, "temperature": value.kwargs.get("temperature")}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    return _callable_name(value) if callable(value) else repr(value)


# Settings fields recorded in their own way below, or not at all (callbacks observe a run, they do not change it).
_SPECIAL = {"roles", "persona", "program", "programs", "metric", "callbacks"}


def mediator_layout(program: Any, lm: Any) -> str | None:
    """The adapter class the program's Mediator sends its calls through with `lm` (None without a Mediator)."""
    mediator = getattr(program, "mediator", None)
    if mediator is None or not hasattr(mediator, "layout_name"):
        return None
    return mediator.layout_name(lm)


# The Mediator's behaviour revision of every configuration stored before the revision was recorded.
REVISION_BEFORE_RECORDED = 1


def _mediator_attribute(programs: Any, name: str) -> Any:
    """Attribute `name` of the first of `programs` whose Mediator has it (None when none has)."""
    for program in programs:
        value = getattr(getattr(program, "mediator", None), name, None)
        if value is not None:
            return value
    return None


def mediator_revision(*programs: Any) -> int | None:
    """The `behaviour_revision` of the first of `programs` that has a Mediator (None when none has)."""
    return _mediator_attribute(programs, "behaviour_revision")


def _joins(program: Any) -> bool:
    return bool(getattr(getattr(program, "mediator", None), "join_additions", False))


def join_revision(*programs: Any) -> int | None:
    """The `join_revision` of the first of `programs` whose Mediator joins additive turns (None when none does)."""
    return _mediator_attribute([program for program in programs if _joins(program)], "join_revision")


def joining_programs(program: Any, programs: dict[str, Any]) -> list[str]:
    """Which programs' Mediators join additive turns without an LM call (`Mediator.join_additions`): "program"
    for the run's program, else the domains of per-domain programs."""
    named = [("program", program), *sorted(programs.items())]
    return [name for name, p in named if _joins(p)]


def layout_before_recorded(mediator_model: str | None) -> str:
    """The Mediator layout of configurations stored before `mediator_layout` was recorded: DSPy's JSONAdapter
    on the embedded model, the lean chat layout on every other model."""
    return "JSONAdapter" if str(mediator_model or "").startswith("embedded") else "LeanChatAdapter"


def with_recorded_layout(stored: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """`stored` (a configuration with "models") as if it had recorded `mediator_layout`, when `current` records
    it and `stored` predates the key; else `stored` unchanged."""
    if "mediator_layout" in stored or "mediator_layout" not in current:
        return stored
    return {**stored, "mediator_layout": layout_before_recorded((stored.get("models") or {}).get("mediator"))}


def as_recorded_now(stored: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """`stored` with the keys recorded since it was written filled in as they were then: the Mediator's layout
    (`with_recorded_layout`), `endpoints` (a folder run with `--api-base` before servers were recorded is
    taken to have used the servers it is resumed with), and `mediator_revision` (a folder run before it was
    recorded had a Mediator of revision 1, so it resumes only under that behaviour)."""
    stored = with_recorded_layout(stored, current)
    if "endpoints" in current and "endpoints" not in stored:
        stored = {**stored, "endpoints": current["endpoints"]}
    if "mediator_revision" in current and "mediator_revision" not in stored:
        revision = None if current["mediator_revision"] is None else REVISION_BEFORE_RECORDED
        stored = {**stored, "mediator_revision": revision}
    return stored


def settings_fingerprint(settings: Any) -> dict[str, Any]:
    """The configuration of a `ConversationSettings`, as recorded in run.json and in each trajectory.

    Every settings field is recorded (fields added later, such as per-run task configuration, included), with
    LMs as model and temperature, the persona by name and content hash, and the program by content hash.
    """
    from intent_mediator import __version__

    program = settings.program
    guidelines = list(program.guidelines) if program is not None else []
    roles = settings.roles
    fingerprint = {
        "package_version": __version__,
        "dspy_version": dspy.__version__,
        "models": roles.models(),
        "temperatures": roles.temperatures(),
        "max_tokens": roles.max_tokens(),
        "persona": settings.persona.name,
        "persona_hash": digest(dataclasses.asdict(settings.persona)),
        "guidelines_hash": digest(guidelines),
        "program_hash": digest(program.dump_state() if program is not None else None),
        # Per-domain programs (compiled artifacts in mediated mode), by content hash.
        "programs_hash": {
            domain: digest(p.dump_state()) for domain, p in sorted(getattr(settings, "programs", {}).items())
        },
        # The prompt layout the Mediator's calls go through (its text is not in the program's state).
        "mediator_layout": mediator_layout(program, roles.mediator),
        # What the Mediator does with its LM's replies (`Mediator.behaviour_revision`), per-domain programs too.
        "mediator_revision": mediator_revision(program, *getattr(settings, "programs", {}).values()),
        "metric": _callable_name(settings.metric),
        # How sampled runs are seeded (`conversation._sample`); runs made before seeding existed do not resume.
        "sampling_seed": "sha256(task_id/role/run), models that take a seed",
    }
    # Recorded only when some Mediator joins additive turns (an option added later): folders run without resume.
    if joined := joining_programs(program, getattr(settings, "programs", {})):
        fingerprint["join_additions"] = joined
        # Which turns get joined (`Mediator.join_revision`); a folder of an earlier router lacks it: refused.
        fingerprint["join_revision"] = join_revision(program, *getattr(settings, "programs", {}).values())
    # Recorded only when some role calls a server of its own (`--api-base`): folders run without one resume.
    if any(roles.endpoints().values()):
        fingerprint["endpoints"] = roles.endpoints()
    for item in dataclasses.fields(settings):
        if item.name not in _SPECIAL:
            fingerprint[item.name] = _plain(getattr(settings, item.name))
    return fingerprint


def differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """`field: old -> new` for every leaf that differs (nested dicts are compared key by key)."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        name = f"{prefix}{key}"
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, prefix=f"{name}.")
        elif a != b:
            out.append(f"{name}: {json.dumps(a, default=str)} -> {json.dumps(b, default=str)}")
    return out


def check_and_write(
    folder: str | Path,
    config: dict[str, Any],
    *,
    records: Iterable[Instruction] = (),
    extent: dict[str, Any] | None = None,
    legacy_trajectories: bool = False,
    fresh: bool = False,
    write: bool = True,
) -> dict[str, Any]:
    """Refuse a folder made with another configuration, else write (or extend) its run.json.

    Args:
        folder: The output folder.
        config: This run's fingerprint (`settings_fingerprint` plus any command options).
        records: The records this run covers; a record already in run.json must have the same content, and its
            task's scorer the same `scoring_revision` (recorded per task under "scoring").
        extent: What is run (modes, runs): merged into run.json, never compared.
        legacy_trajectories: The folder already holds results but no run.json (an older version wrote it):
            their configuration cannot be checked, so the resume is refused.
        fresh: This run starts over (nothing is resumed): an existing run.json is replaced, not compared.
        write: False only checks (and returns what would be written): for a run whose results are written only
            when it succeeds, so a failed run leaves the folder's run.json describing what the folder holds.

    Raises:
        RunConfigError: a one-line message naming the file and every field that differs.
    """
    from intent_mediator.tasks import get_task

    path = Path(folder) / RUN_FILE
    records = list(records)
    digests = {record.task_id: record_digest(record) for record in records}
    scoring = {record.task: get_task(record.task).scoring_revision for record in records}
    stored: dict[str, Any] = {}
    if path.is_file() and not fresh:
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise RunConfigError(f"{path}: not valid JSON ({exc}); move it away or use a new output folder") from None
        if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
            raise RunConfigError(f"{path}: no 'config' object; move it away or use a new output folder")
        for key in ("records", "scoring"):
            if not isinstance(stored.get(key) or {}, dict):
                raise RunConfigError(f"{path}: '{key}' is not an object; move it away or use a new output folder")
        old_config = as_recorded_now(stored["config"], config)
        modes = set(stored.get("modes") or []) | set((extent or {}).get("modes") or [])
        if modes and "mediated" not in modes:
            # No conversation here or to come went through the Mediator: its behaviour is not this folder's.
            old_config = {**old_config, "mediator_revision": config.get("mediator_revision")}
        changed = differences(old_config, config)
        old_records = stored.get("records") or {}
        changed += [
            f"record {task_id}: content changed"
            for task_id, value in sorted(digests.items())
            if task_id in old_records and old_records[task_id] != value
        ]
        # A scorer fix changes the scores of the task's finished conversations (absent: before it was recorded).
        old_scoring = stored.get("scoring") or {}
        resumed_tasks = {record.task for record in records if record.task_id in old_records}
        changed += [
            f"{task} scorer: revision {old_scoring.get(task, 1)} -> {scoring[task]}"
            for task in sorted(resumed_tasks)
            if old_scoring.get(task, 1) != scoring[task]
        ]
        if changed:
            remedy = (
                "use a new output folder (the Mediator's earlier behaviour is not available any more)"
                if any(line.startswith("mediator_revision:") for line in changed)
                else "resume with the same settings or use a new output folder"
            )
            raise RunConfigError(
                f"{path}: this folder was run with another configuration ({'; '.join(changed)}); {remedy}"
            )
    elif legacy_trajectories and not fresh:
        raise RunConfigError(
            f"{path.parent}: holds results but no {RUN_FILE}, so the configuration they were made with cannot be "
            "checked; use a new output folder"
        )
    merged: dict[str, Any] = {
        "config": config,
        "records": {**(stored.get("records") or {}), **digests},
        "scoring": {**(stored.get("scoring") or {}), **scoring},
    }
    for key, value in (extent or {}).items():
        before = stored.get(key)
        if isinstance(value, list):
            merged[key] = sorted(set(before or []) | set(value))
        elif isinstance(value, int) and isinstance(before, int):
            merged[key] = max(before, value)
        else:
            merged[key] = value
    if write:
        write_json_atomic(path, merged)
    return merged
