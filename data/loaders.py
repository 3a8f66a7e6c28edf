"""Load Lost-in-Conversation records from local JSON / JSONL files or the Hugging Face hub.

load_records("tasks.json")                       # a JSON list, or JSONL with one record per line
load_records("builtin")                          # the project's own task set (see `tasksets/`)
load_records("hf:microsoft/lost_in_conversation") # through `datasets` (needs the hub)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from intent_mediator.data.records import MAX_RECORD_BYTES, Instruction, RecordError, validate_record

logger = logging.getLogger(__name__)

HF_DATASET = "microsoft/lost_in_conversation"
TASKSETS = Path(__file__).parent / "tasksets"
# The whole Lost-in-Conversation benchmark is well under this; a bigger file is refused before it is read.
MAX_FILE_BYTES = 64_000_000


def read_json_records(path: str | Path) -> list[dict[str, Any]]:
    """Raw records from a JSON list or a JSONL file; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise RecordError(f"{path}: {size} bytes, over the cap of {MAX_FILE_BYTES} bytes per records file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_number = data[: exc.start].count(b"\n") + 1
        raise RecordError(
            f"{path}:{line_number}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8"
        ) from None
    if path.suffix == ".jsonl":
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if len(line) > MAX_RECORD_BYTES:
                raise RecordError(f"{path}:{number}: a line over the cap of {MAX_RECORD_BYTES} bytes per record")
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise RecordError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        return records
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise RecordError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    return data


def validate_all(raws: Iterable[Any], source: str) -> list[Instruction]:
    records = [validate_record(raw, position=i, source=source) for i, raw in enumerate(raws)]
    seen: set[str] = set()
    for record in records:
        if record.task_id in seen:
            raise RecordError(f"{source}: record {record.task_id!r} appears twice")
        seen.add(record.task_id)
    return records


def load_hf(
    name: str = HF_DATASET, *, split: str = "train", data_files: str | list[str] | None = None
) -> list[Instruction]:
    """Records through `datasets.load_dataset` (a hub id, or a local folder in the hub's layout)."""
    import datasets

    dataset = datasets.load_dataset(name, split=split, data_files=data_files)
    return validate_all((_drop_arrow_nulls(row) for row in dataset), f"hf:{name}")


def _drop_arrow_nulls(value: Any) -> Any:
    """Arrow unifies the keys of every record and struct, filling the missing ones with None: drop them."""
    if isinstance(value, dict):
        return {key: _drop_arrow_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_drop_arrow_nulls(item) for item in value]
    return value


def _from_files(files: list[tuple[str, Path]]) -> list[Instruction]:
    """The records of several files, each validated; a task id in two files is an error naming both."""
    records: list[Instruction] = []
    origin: dict[str, str] = {}
    for name, path in files:
        for record in validate_all(read_json_records(path), name):
            if record.task_id in origin:
                raise RecordError(f"record {record.task_id!r} appears in both {origin[record.task_id]} and {name}")
            origin[record.task_id] = name
            records.append(record)
    return records


def load_records(source: str | Path, *, tasks: Iterable[str] | None = None) -> list[Instruction]:
    """Load and validate records from `builtin`, `hf:<dataset id>`, a JSON/JSONL file or a folder of them.

    Args:
        source: Where the records are.
        tasks: Keep only these tasks (None keeps all).

    Raises:
        RecordError: a file is missing or malformed, or a record fails validation (naming record and field).
    """
    source = str(source)
    if source == "builtin":
        records = _from_files([(path.name, path) for path in sorted(TASKSETS.glob("*.json"))])
    elif source.startswith("hf:"):
        records = load_hf(source[3:] or HF_DATASET)
    elif Path(source).is_dir():
        files = sorted([*Path(source).glob("*.json"), *Path(source).glob("*.jsonl")])
        records = _from_files([(str(path), path) for path in files])
    else:
        records = validate_all(read_json_records(source), source)
    if tasks is not None:
        wanted = set(tasks)
        records = [record for record in records if record.task in wanted]
    return records
