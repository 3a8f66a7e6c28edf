"""Lost-in-Conversation records: the `Instruction` type and its validation.

Schema facts (checked against the benchmark's data): every record has `task_id`, `task` and `shards`, a list
of `{"shard_id": int, "shard": str}` (the key is `shard`, not `shard_text`). Ids start at 1, except summary
records, whose shards start at 0, carry `doc_idxs` and have an empty `shard`. Each task adds its own keys.

Revision conversations (the project's own extension): a shard may revise earlier ones. It then carries
`revises` (the ids of the earlier shards it acts on) and `kind`: `change` (it replaces a value they stated),
`withdraw` (it takes back what they stated), `accept-proposal` or `reject-proposal` (it accepts or rejects a
suggestion, quoted in the optional `proposal`). The record's reference answer (answer, reference SQL, tests,
reference calls) is always for the FINAL intent, after every revision, so scorers need no special case.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import pydantic
from intent_mediator.errors import IntentMediatorError

TASK_KEYS: dict[str, tuple[str, ...]] = {
    "code": ("metadata",),
    "database": ("db_id", "fully_specified_question", "reference_sql"),
    "actions": ("function", "fully_specified_question", "reference_answer"),
    "math": ("question", "answer"),
    "data2text": ("table_highlighted_html", "references"),
    "summary": ("documents", "query", "insights", "insightid2ref_citations"),
    "translation": ("document_de", "document_en"),
}
FIRST_SHARD_ID = {"summary": 0}
REVISION_KINDS = ("change", "withdraw", "accept-proposal", "reject-proposal")

# Size caps. The benchmark's largest record is under 0.1 MB and its longest shard under 4,000 characters; the caps
# leave room for other data sets while refusing inputs that would exhaust memory further down (prompts, scorers).
MAX_SHARD_CHARS = 100_000
MAX_FIELD_CHARS = 2_000_000
MAX_RECORD_BYTES = 16_000_000
MAX_SHARDS = 64


class RecordError(IntentMediatorError, ValueError):
    """A record is malformed; the message names the record id (or position), the field and the source."""


class Shard(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow", frozen=True)

    shard_id: int
    shard: Annotated[str, pydantic.Field(max_length=MAX_SHARD_CHARS)]
    doc_idxs: list[int] | None = None
    revises: list[int] | None = None
    kind: str | None = None
    proposal: str | None = None


Text = Annotated[str, pydantic.StringConstraints(max_length=MAX_FIELD_CHARS)]


class _TaskFields(pydantic.BaseModel):
    """The keys a task reads, typed; other keys are kept as they are."""

    model_config = pydantic.ConfigDict(extra="allow", strict=True)


class CodeMetadata(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow", strict=True)

    func_name: Annotated[str, pydantic.StringConstraints(min_length=1, max_length=256)]


class CodeFields(_TaskFields):
    metadata: CodeMetadata
    test: Text | None = None
    public_test_cases: Text | None = None


class DatabaseFields(_TaskFields):
    # db_id names a file: letters, digits and underscores only, so it can never leave the databases folder.
    db_id: Annotated[str, pydantic.StringConstraints(pattern=r"^[A-Za-z0-9_]{1,128}$")]
    fully_specified_question: Text
    reference_sql: Text


class ActionsFields(_TaskFields):
    function: list[Any]
    fully_specified_question: list[Any]
    reference_answer: list[Any]


class MathFields(_TaskFields):
    question: Text
    answer: Text


class Data2TextFields(_TaskFields):
    table_highlighted_html: Text
    references: list[Text]


class SummaryFields(_TaskFields):
    documents: list[Any]
    query: Text
    insights: list[Any]
    insightid2ref_citations: dict[str, Any]


class TranslationFields(_TaskFields):
    document_de: Text
    document_en: Text


TASK_FIELDS: dict[str, type[_TaskFields]] = {
    "code": CodeFields,
    "database": DatabaseFields,
    "actions": ActionsFields,
    "math": MathFields,
    "data2text": Data2TextFields,
    "summary": SummaryFields,
    "translation": TranslationFields,
}


class Instruction(pydantic.BaseModel):
    """One benchmark instruction: the task, its shards, and the task's own keys (kept as-is in `fields`)."""

    model_config = pydantic.ConfigDict(frozen=True)

    task_id: str
    task: str
    shards: list[Shard]
    fields: dict[str, Any] = pydantic.Field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    @property
    def revisions(self) -> list[Shard]:
        """The shards that revise earlier ones, in order (empty for an ordinary record)."""
        return [shard for shard in self.shards if shard.revises]

    def revised_by(self) -> dict[int, list[Shard]]:
        """Shard id -> the later shards that revise it."""
        out: dict[int, list[Shard]] = {}
        for shard in self.revisions:
            for target in shard.revises or []:
                out.setdefault(target, []).append(shard)
        return out

    def to_record(self) -> dict[str, Any]:
        """The record in the benchmark's JSON layout."""
        return {
            "task_id": self.task_id,
            "task": self.task,
            "shards": [s.model_dump(exclude_none=True) for s in self.shards],
            **self.fields,
        }


def validate_record(raw: Any, *, position: int = 0, source: str = "<records>") -> Instruction:
    """Check one raw record and build its `Instruction`.

    Raises:
        RecordError: naming the record id (or its position), the field at fault and the source.
    """
    where = f"{source}: record {position}"
    if not isinstance(raw, dict):
        raise RecordError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    task_id = raw.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise RecordError(f"{where}: field 'task_id' must be a non-empty string")
    where = f"{source}: record {task_id!r}"
    size = len(json.dumps(raw, ensure_ascii=False, default=str).encode())
    if size > MAX_RECORD_BYTES:
        raise RecordError(f"{where}: {size} bytes, over the cap of {MAX_RECORD_BYTES} bytes per record")
    task = raw.get("task")
    if task not in TASK_KEYS:
        raise RecordError(f"{where}: field 'task' is {task!r}; known tasks are {', '.join(TASK_KEYS)}")
    shards = raw.get("shards")
    if not isinstance(shards, list) or not shards:
        raise RecordError(f"{where}: field 'shards' must be a non-empty list")
    if len(shards) > MAX_SHARDS:
        raise RecordError(f"{where}: field 'shards' holds {len(shards)} shards, over the cap of {MAX_SHARDS}")
    parsed = []
    for index, shard in enumerate(shards):
        if isinstance(shard, dict) and "shard_text" in shard and "shard" not in shard:
            raise RecordError(f"{where}: shards[{index}] has 'shard_text'; the benchmark's key is 'shard'")
        try:
            parsed.append(Shard.model_validate(shard))
        except pydantic.ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(p) for p in problem["loc"])
            raise RecordError(f"{where}: shards[{index}].{field}: {problem['msg']}") from None
        if index == 0 and task != "summary" and not parsed[-1].shard.strip():
            # The first shard states the intent; later ones may be empty in the real data (translation).
            raise RecordError(f"{where}: shards[0].shard is empty")
    ids = [shard.shard_id for shard in parsed]
    first = FIRST_SHARD_ID.get(task, 1)
    if sorted(ids) != list(range(first, first + len(ids))):
        raise RecordError(f"{where}: shard ids {ids} must be {first}..{first + len(ids) - 1} without gaps or repeats")
    for index, shard in enumerate(parsed):
        _check_revision(shard, set(ids), f"{where}: shards[{index}]")
    for key in TASK_KEYS[task]:
        if raw.get(key) in (None, "", []):
            raise RecordError(f"{where}: missing field {key!r}, required for {task} records")
    if task == "code" and not (raw.get("test") or raw.get("public_test_cases")):
        raise RecordError(f"{where}: missing field 'test' or 'public_test_cases', required for code records")
    if task == "code" and isinstance(raw.get("metadata"), dict) and not raw["metadata"].get("func_name"):
        raise RecordError(f"{where}: missing field 'metadata.func_name', required for code records")
    try:
        TASK_FIELDS[task].model_validate(raw)
    except pydantic.ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"])
        got = type(problem["input"]).__name__
        raise RecordError(f"{where}: field {field!r}: {problem['msg']} (got {got})") from None
    fields = {k: v for k, v in raw.items() if k not in ("task_id", "task", "shards")}
    return Instruction(task_id=task_id, task=task, shards=sorted(parsed, key=lambda s: s.shard_id), fields=fields)


def _check_revision(shard: Shard, ids: set[int], where: str) -> None:
    """`revises` and `kind` come together; a shard revises only earlier shards."""
    if shard.revises is None and shard.kind is None:
        if shard.proposal is not None:
            raise RecordError(f"{where}.proposal: only a shard with kind accept-proposal or reject-proposal has one")
        return
    if shard.kind not in REVISION_KINDS:
        raise RecordError(f"{where}.kind: {shard.kind!r} is not one of {', '.join(REVISION_KINDS)}")
    if not shard.revises:
        raise RecordError(f"{where}.revises: a shard of kind {shard.kind!r} must list the shard ids it revises")
    for target in shard.revises:
        if target >= shard.shard_id or target not in ids:
            raise RecordError(
                f"{where}.revises: shard {shard.shard_id} can only revise earlier shards, not shard {target}"
            )
    if shard.proposal is not None and not shard.kind.endswith("-proposal"):
        raise RecordError(f"{where}.proposal: only a shard with kind accept-proposal or reject-proposal has one")
