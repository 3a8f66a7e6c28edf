"""The labelled agreement set: realistic assistant replies with the score a careful human gives them.

Files: `data/agreement/<family>.jsonl` (family = a task name, or `classification` for items about what kind of
reply it is), one JSON object per line:

    {"id": "math-boxed-units-01",           unique across all files
     "record": "lic:<task_id>" | "builtin:<task_id>" | {an inline record in the benchmark's schema},
     "reply": "<the assistant's reply>",
     "kind": "answer_attempt" | "clarification" | "discussion" | "refusal" | "hedge" | "interrogation" | "missing",
     "score": 1,                             the human's score: 0/1, or in [0, 1] for continuous tasks;
                                             0 whenever kind is not answer_attempt
     "tolerance": 0.05,                      optional (continuous tasks)
     "judge": {"<insight_id>": {"coverage": "full" | "partial", "bullet_text": "<text of the covering bullet>"}},
                                             summary only: the human's coverage verdicts, which the check answers
                                             the summary judge's calls with (insights not listed: not covered)
     "why": "what a careful human sees in this reply"}

`lic:` records resolve against the benchmark sample beside the repository (`../shared/lic/sample_5_per_task.json`
and `sharded_translation.json`; override with `lic_dir` or `INTENT_MEDIATOR_LIC_DIR`), `builtin:` records against
the project's task sets. `simulation.agreement` checks the items against the deterministic pipeline.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intent_mediator.data.loaders import TASKSETS, read_json_records, validate_all
from intent_mediator.data.records import TASK_KEYS, Instruction, RecordError, validate_record
from intent_mediator.errors import IntentMediatorError

AGREEMENT_DIR = Path(__file__).parent / "agreement"
DEFAULT_LIC_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "lic"
LIC_FILES = ("sample_5_per_task.json", "sharded_translation.json")
REPLY_KINDS = ("answer_attempt", "clarification", "discussion", "refusal", "hedge", "interrogation", "missing")
FIELDS = {"id", "record", "reply", "kind", "score", "tolerance", "judge", "why"}
CROSS_TASK_FAMILIES = ("classification",)


class AgreementError(IntentMediatorError, ValueError):
    """An agreement item is malformed; the message names the file, line, item id and field."""


@dataclass(frozen=True)
class AgreementItem:
    """One labelled reply. `source` is `<file>:<line>`."""

    id: str
    family: str
    record: Instruction
    reply: str
    kind: str
    score: float
    tolerance: float | None
    why: str
    source: str
    judge: dict[str, dict[str, str]] | None = None

    @property
    def attempt(self) -> bool:
        return self.kind == "answer_attempt"


class RecordResolver:
    """Resolves `lic:` and `builtin:` references to validated records (each source read once)."""

    def __init__(self, lic_dir: str | Path | None = None):
        self.lic_dir = Path(lic_dir or os.environ.get("INTENT_MEDIATOR_LIC_DIR") or DEFAULT_LIC_DIR)
        self._pools: dict[str, dict[str, Instruction]] = {}

    def _pool(self, scheme: str) -> dict[str, Instruction]:
        if scheme not in self._pools:
            records: list[Instruction] = []
            if scheme == "builtin":
                for path in sorted(TASKSETS.glob("*.json")):
                    records += validate_all(read_json_records(path), path.name)
            else:
                for name in LIC_FILES:
                    path = self.lic_dir / name
                    if not path.is_file():
                        raise RecordError(f"{path}: no such file (the benchmark sample for lic: records)")
                    records += validate_all(read_json_records(path), str(path))
            self._pools[scheme] = {record.task_id: record for record in records}
        return self._pools[scheme]

    def resolve(self, reference: Any, where: str) -> Instruction:
        if isinstance(reference, dict):
            try:
                return validate_record(reference, source=where)
            except RecordError as exc:
                raise AgreementError(f"{where}: field 'record': {exc}") from None
        if not isinstance(reference, str) or ":" not in reference:
            raise AgreementError(f"{where}: field 'record' must be 'lic:<task_id>', 'builtin:<task_id>' or an object")
        scheme, task_id = reference.split(":", 1)
        if scheme not in ("lic", "builtin"):
            raise AgreementError(f"{where}: field 'record' has unknown scheme {scheme!r}; use lic: or builtin:")
        try:
            pool = self._pool(scheme)
        except RecordError as exc:
            raise AgreementError(f"{where}: field 'record' {reference!r}: {exc}") from None
        if task_id not in pool:
            raise AgreementError(f"{where}: field 'record': no {scheme} record {task_id!r}")
        return pool[task_id]


def parse_item(raw: Any, family: str, where: str, resolver: RecordResolver) -> AgreementItem:
    """Validate one raw item (`where` names its file and line) and resolve its record."""
    if not isinstance(raw, dict):
        raise AgreementError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    item_id = raw.get("id")
    if not isinstance(item_id, str) or not item_id.strip():
        raise AgreementError(f"{where}: field 'id' must be a non-empty string")
    where = f"{where} (item {item_id!r})"
    unknown = set(raw) - FIELDS
    if unknown:
        raise AgreementError(f"{where}: unknown field(s) {sorted(unknown)}; fields are {sorted(FIELDS)}")
    for key in ("reply", "why"):
        if not isinstance(raw.get(key), str):
            raise AgreementError(f"{where}: field {key!r} must be a string")
    if not raw["why"].strip():
        raise AgreementError(f"{where}: field 'why' is empty: say what a careful human sees in the reply")
    kind = raw.get("kind")
    if kind not in REPLY_KINDS:
        raise AgreementError(f"{where}: field 'kind' is {kind!r}; kinds are {', '.join(REPLY_KINDS)}")
    score = raw.get("score")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1:
        raise AgreementError(f"{where}: field 'score' must be a number in [0, 1], got {score!r}")
    if kind != "answer_attempt" and score != 0:
        raise AgreementError(f"{where}: field 'score' must be 0 when kind is {kind!r} (only attempts are scored)")
    tolerance = raw.get("tolerance")
    if tolerance is not None and (isinstance(tolerance, bool) or not isinstance(tolerance, (int, float))):
        raise AgreementError(f"{where}: field 'tolerance' must be a number, got {tolerance!r}")
    if tolerance is not None and not 0 <= tolerance < 1:
        raise AgreementError(f"{where}: field 'tolerance' must be in [0, 1), got {tolerance!r}")
    record = resolver.resolve(raw.get("record"), where)
    if family not in CROSS_TASK_FAMILIES and record.task != family:
        raise AgreementError(f"{where}: field 'record' is a {record.task} record in the {family} file")
    judge = raw.get("judge")
    if judge is not None:
        insights = {insight["insight_id"] for insight in record.get("insights") or []}
        if record.task != "summary" or not isinstance(judge, dict) or set(judge) - insights:
            raise AgreementError(f"{where}: field 'judge' must map the summary record's insight ids to verdicts")
        for verdict in judge.values():
            if (
                not isinstance(verdict, dict)
                or verdict.get("coverage") not in ("full", "partial")
                or not isinstance(verdict.get("bullet_text"), str)
            ):
                raise AgreementError(
                    f"{where}: field 'judge': each verdict is {{'coverage': 'full'|'partial', 'bullet_text': str}}"
                )
    return AgreementItem(
        id=item_id,
        family=family,
        record=record,
        reply=raw["reply"],
        kind=kind,
        score=float(score),
        tolerance=None if tolerance is None else float(tolerance),
        why=raw["why"],
        source=where.split(" (item")[0],
        judge=judge,
    )


def agreement_files(root: str | Path | None = None) -> list[Path]:
    """Every `<family>.jsonl` under `root` (default: the package's data/agreement)."""
    return sorted(Path(root or AGREEMENT_DIR).glob("*.jsonl"))


def load_agreement(
    paths: str | Path | list[str | Path] | None = None, *, lic_dir: str | Path | None = None
) -> list[AgreementItem]:
    """Load and validate agreement items.

    Args:
        paths: A `.jsonl` file, a folder of them, or a list of files (default: every file in data/agreement).
        lic_dir: Folder of the benchmark sample for `lic:` records (default `INTENT_MEDIATOR_LIC_DIR` or
            ../shared/lic beside the repository).

    Raises:
        AgreementError: a file is missing or malformed, an id repeats, or an item fails validation (naming the
            file, line, item and field).
    """
    if paths is None or (not isinstance(paths, list) and Path(paths).is_dir()):
        files = agreement_files(paths)
    elif isinstance(paths, list):
        files = [Path(p) for p in paths]
    else:
        files = [Path(paths)]
    family_names = set(TASK_KEYS) | set(CROSS_TASK_FAMILIES)
    resolver = RecordResolver(lic_dir)
    items: list[AgreementItem] = []
    seen: dict[str, str] = {}
    for path in files:
        if not path.is_file():
            raise AgreementError(f"{path}: no such file")
        if path.stem not in family_names:
            known = ", ".join(sorted(family_names))
            raise AgreementError(f"{path}: unknown family {path.stem!r}; name the file after one of {known}")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AgreementError(f"{where}: not valid JSON ({exc.msg})") from None
            item = parse_item(raw, path.stem, where, resolver)
            if item.id in seen:
                raise AgreementError(f"{where}: item id {item.id!r} already used at {seen[item.id]}")
            seen[item.id] = where
            items.append(item)
    return items
