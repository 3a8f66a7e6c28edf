import json

import pytest
from intent_mediator.data.loaders import load_hf, load_records
from intent_mediator.data.records import RecordError, validate_record

GOOD = {
    "task_id": "t1",
    "task": "math",
    "question": "1+1?",
    "answer": "#### 2",
    "shards": [{"shard_id": 1, "shard": "add"}, {"shard_id": 2, "shard": "1 and 1"}],
}


def test_builtin_task_set_sizes():
    tasks = [r.task for r in load_records("builtin")]
    counts = tuple(tasks.count(name) for name in ("math", "code", "database", "actions"))
    assert counts == (24, 20, 18, 18)
    assert all(3 <= len(r.shards) <= 8 for r in load_records("builtin"))


def test_real_sample_loads_and_keeps_task_keys(shared_lic):
    records = load_records(shared_lic / "sample_5_per_task.json")
    assert len(records) == 30
    summary = next(r for r in records if r.task == "summary")
    assert summary.shards[0].shard_id == 0 and summary.shards[0].doc_idxs
    assert records[0].to_record()["shards"][0]["shard"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"task_id": ""}, "record 0: field 'task_id'"),
        ({"task": "poetry"}, "record 't1': field 'task' is 'poetry'"),
        ({"shards": []}, "record 't1': field 'shards'"),
        ({"shards": [{"shard_id": 1, "shard_text": "x"}]}, "shards\\[0\\] has 'shard_text'"),
        ({"shards": [{"shard_id": 1, "shard": "a"}, {"shard_id": 3, "shard": "b"}]}, "shard ids \\[1, 3\\]"),
        ({"shards": [{"shard_id": "one", "shard": "a"}]}, "shards\\[0\\].shard_id"),
        ({"question": None}, "missing field 'question'"),
    ],
)
def test_bad_records_name_record_and_field(change, message):
    with pytest.raises(RecordError, match=message):
        validate_record({**GOOD, **change}, source="x.json")


def test_jsonl_errors_name_file_and_line(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps(GOOD) + "\n{not json\n")
    with pytest.raises(RecordError, match=r"records.jsonl:2: not valid JSON"):
        load_records(path)
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n")
    with pytest.raises(RecordError, match="'t1' appears twice"):
        load_records(path)
    # Across the files of a folder too: both files are named, whichever holds the later copy.
    path.write_text(json.dumps(GOOD) + "\n")
    (tmp_path / "more.json").write_text(json.dumps([{**GOOD, "answer": "#### 99"}]))
    with pytest.raises(RecordError, match=r"'t1' appears in both \S*more.json and \S*records.jsonl"):
        load_records(tmp_path)


def test_hf_path_reads_a_local_folder_in_the_hub_layout(shared_lic, tmp_path):
    raws = json.loads((shared_lic / "sample_5_per_task.json").read_text())
    (tmp_path / "data.json").write_text(json.dumps(raws))
    records = load_hf(str(tmp_path))
    assert [r.task_id for r in records] == [r["task_id"] for r in raws]
    actions = next(r for r in records if r.task == "actions")
    original = next(r for r in raws if r["task_id"] == actions.task_id)
    assert actions["reference_answer"] == original["reference_answer"]  # Arrow's filler keys were dropped
