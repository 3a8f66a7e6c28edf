"""Hostile record files: every malformed input gets a RecordError naming the file, record and field."""

import json

import pytest
from intent_mediator.data import loaders, records
from intent_mediator.data.loaders import load_records
from intent_mediator.data.records import RecordError, validate_record

MATH = {
    "task_id": "m1",
    "task": "math",
    "question": "1+1?",
    "answer": "#### 2",
    "shards": [{"shard_id": 1, "shard": "add"}, {"shard_id": 2, "shard": "1 and 1"}],
}
CODE = {
    "task_id": "c1",
    "task": "code",
    "test": "assert f() == 1",
    "metadata": {"func_name": "f"},
    "shards": [{"shard_id": 1, "shard": "write f"}],
}
DATABASE = {
    "task_id": "d1",
    "task": "database",
    "db_id": "bookshop",
    "fully_specified_question": "How many books?",
    "reference_sql": "SELECT count(*) FROM books",
    "shards": [{"shard_id": 1, "shard": "count books"}],
}


def test_the_well_formed_records_load():
    for raw in (MATH, CODE, DATABASE):
        assert validate_record(raw).task_id == raw["task_id"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({**CODE, "metadata": "f"}, r"record 'c1': field 'metadata': .*dictionary.*\(got str\)"),
        ({**CODE, "metadata": {"func_name": 3}}, r"record 'c1': field 'metadata.func_name'.*\(got int\)"),
        ({**CODE, "test": 5}, r"record 'c1': field 'test': .*valid string \(got int\)"),
        ({**MATH, "answer": ["2"]}, r"record 'm1': field 'answer': .*valid string \(got list\)"),
        ({**MATH, "question": {"text": "1+1"}}, r"record 'm1': field 'question'.*\(got dict\)"),
        ({**DATABASE, "db_id": "../../etc/passwd"}, r"record 'd1': field 'db_id': String should match pattern"),
        ({**DATABASE, "db_id": "books.sqlite"}, r"record 'd1': field 'db_id'"),
        (
            {**MATH, "shards": [{"shard_id": 1, "shard": "x" * (records.MAX_SHARD_CHARS + 1)}]},
            r"record 'm1': shards\[0\].shard: String should have at most 100000 characters",
        ),
        ({**MATH, "answer": "#" * (records.MAX_FIELD_CHARS + 1)}, r"record 'm1': field 'answer': .*at most"),
        (
            {**MATH, "shards": [{"shard_id": i, "shard": "s"} for i in range(1, records.MAX_SHARDS + 2)]},
            r"record 'm1': field 'shards' holds 65 shards, over the cap",
        ),
    ],
)
def test_wrong_types_and_oversized_fields_name_record_and_field(raw, message):
    with pytest.raises(RecordError, match=message):
        validate_record(raw, source="hostile.json")


def test_an_oversized_record_is_refused(monkeypatch):
    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 10_000)
    with pytest.raises(RecordError, match=r"hostile.json: record 'm1': \d+ bytes, over the cap of 10000"):
        validate_record({**MATH, "notes": "n" * 20_000}, source="hostile.json")


def test_a_non_utf8_file_names_file_and_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(MATH).encode() + b"\n" + '{"task_id": "caf\xe9"}'.encode("latin-1") + b"\n")
    with pytest.raises(RecordError, match=r"latin1.jsonl:2: not UTF-8 text \(byte 0xe9 at offset \d+\)"):
        load_records(path)


def test_a_200_mb_shard_is_refused_before_the_file_is_read(tmp_path, monkeypatch):
    path = tmp_path / "huge.json"
    with path.open("w") as out:  # written in pieces: the test itself never holds 200 MB
        out.write('[{"task_id": "h1", "task": "math", "question": "q", "answer": "a", "shards": [{"shard_id": 1, ')
        out.write('"shard": "')
        for _ in range(200):
            out.write("x" * 1_000_000)
        out.write('"}]}]')
    read = []
    monkeypatch.setattr(type(path), "read_bytes", lambda self: read.append(self) or b"")
    with pytest.raises(RecordError, match=r"huge.json: 200\d{6} bytes, over the cap of 64000000"):
        load_records(path)
    assert read == []


def test_a_shard_over_the_cap_in_a_file_names_the_record(tmp_path):
    path = tmp_path / "big_shard.json"
    big = {**MATH, "shards": [{"shard_id": 1, "shard": "x" * 3_000_000}]}
    path.write_text(json.dumps([big]))
    with pytest.raises(RecordError, match=r"big_shard.json: record 'm1': shards\[0\].shard: .*at most"):
        load_records(path)


def test_an_oversized_jsonl_line_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "MAX_RECORD_BYTES", 1000)
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(MATH) + "\n" + json.dumps({**MATH, "task_id": "m2", "pad": "p" * 2000}) + "\n")
    with pytest.raises(RecordError, match=r"long.jsonl:2: a line over the cap of 1000 bytes"):
        load_records(path)
