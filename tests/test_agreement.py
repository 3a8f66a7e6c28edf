"""The labelled agreement set: every item in every data/agreement/*.jsonl file is pinned, and the loader
rejects malformed items with an error naming the file, line, item and field."""

from __future__ import annotations

import json
from functools import cache

import pytest
from intent_mediator.data.agreement import AgreementError, agreement_files, load_agreement
from intent_mediator.simulation.agreement import agreement_by_family, check_item

from .conftest import SHARED_LIC


def _item_ids() -> list[str]:
    ids = []
    for path in agreement_files():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                ids.append(json.loads(line)["id"])
    return ids


@cache
def _items() -> dict:
    return {item.id: item for item in load_agreement(lic_dir=SHARED_LIC)}


@pytest.mark.parametrize("item_id", _item_ids())
def test_pipeline_agrees_with_the_human_label(item_id, shared_lic):
    check = check_item(_items()[item_id])
    assert check.agrees, check.describe()
    if check.item.family == "classification":
        assert check.same_kind, check.describe()  # the classification file pins the exact kind too


def test_the_set_covers_math_and_classification(shared_lic):
    families = agreement_by_family(check_item(item) for item in _items().values())
    assert families["math"]["n"] >= 30 and families["classification"]["n"] >= 25
    kinds = {item.kind for item in _items().values()}
    assert kinds == {"answer_attempt", "clarification", "discussion", "refusal", "hedge", "interrogation", "missing"}


GOOD = {
    "id": "x-1",
    "record": "builtin:im-math-01",
    "reply": "The total is **255**.",
    "kind": "answer_attempt",
    "score": 1,
    "why": "bold final value",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "answer"}, "field 'kind' is 'answer'"),
        ({"kind": "refusal"}, "field 'score' must be 0 when kind is 'refusal'"),
        ({"score": 2}, "field 'score' must be a number in [0, 1]"),
        ({"record": "builtin:nope"}, "no builtin record 'nope'"),
        ({"record": "hf:x"}, "unknown scheme 'hf'"),
        ({"why": " "}, "field 'why' is empty"),
        ({"extra": 1}, "unknown field(s) ['extra']"),
        ({"record": {"task_id": "m", "task": "math", "shards": []}}, "field 'shards' must be a non-empty list"),
    ],
)
def test_malformed_items_name_file_line_item_and_field(tmp_path, change, message):
    path = tmp_path / "math.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + json.dumps({**GOOD, "id": "x-2", **change}) + "\n")
    with pytest.raises(AgreementError) as error:
        load_agreement(path)
    assert "math.jsonl:3 (item 'x-2')" in str(error.value) and message in str(error.value)


def test_duplicate_ids_bad_json_and_family_mismatch_are_rejected(tmp_path):
    path = tmp_path / "math.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n")
    with pytest.raises(AgreementError, match=r"math.jsonl:2: item id 'x-1' already used at math.jsonl:1"):
        load_agreement(tmp_path)
    path.write_text("{not json\n")
    with pytest.raises(AgreementError, match=r"math.jsonl:1: not valid JSON"):
        load_agreement(path)
    code = tmp_path / "code.jsonl"
    code.write_text(json.dumps(GOOD) + "\n")
    with pytest.raises(AgreementError, match=r"is a math record in the code file"):
        load_agreement(code)
    (tmp_path / "maths.jsonl").write_text("")
    with pytest.raises(AgreementError, match=r"unknown family 'maths'"):
        load_agreement(tmp_path / "maths.jsonl")


def test_lic_records_resolve_against_the_sample_and_a_missing_sample_is_named(tmp_path, shared_lic):
    path = tmp_path / "math.jsonl"
    path.write_text(json.dumps({**GOOD, "record": "lic:sharded-GSM8K/435", "reply": "Each friend gets 5."}) + "\n")
    (item,) = load_agreement(path, lic_dir=shared_lic)
    assert item.record.task_id == "sharded-GSM8K/435" and item.source == "math.jsonl:1"
    missing = r"math.jsonl:1 \(item 'x-1'\): field 'record' 'lic:sharded-GSM8K/435'.*no such"
    with pytest.raises(AgreementError, match=missing):
        load_agreement(path, lic_dir=tmp_path / "nowhere")
