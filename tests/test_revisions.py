"""Revision records: the format (which shard revises which) and the project's revision tasks, whose references
are for the final intent: a reference for the intent before the revision must score 0."""

import re

import pytest
from intent_mediator.data.loaders import load_records
from intent_mediator.data.records import REVISION_KINDS, RecordError, validate_record
from intent_mediator.tasks import get_task
from intent_mediator.tasks.math import gold_number
from intent_mediator.testing.solutions import SOLUTIONS, STALE_SOLUTIONS

from .test_tasks import reference_calls

DOMAINS = ("math", "code", "database", "actions")

# What the answer would be had the revision been ignored (the stale intent).
STALE_MATH = {
    "im-math-r01": "12*2 + 3", "im-math-r02": "3*120 + 3*25 + 40", "im-math-r03": "80*3 + 60*2",
    "im-math-r04": "180/3", "im-math-r05": "12*10*1.1", "im-math-r06": "40 + 15*8", "im-math-r07": "10*12 + 5*30 + 20",
    "im-math-r08": "80*0.75", "im-math-r09": "200 - 75 - 25", "im-math-r10": "(84 + 90 + 72 + 87)/4",
    "im-math-r11": "240/60 + 0.5", "im-math-r12": "3*24",
}  # fmt: skip
STALE_SQL = {
    "im-db-r01": "SELECT title FROM book WHERE published > 2015 ORDER BY title",
    "im-db-r02": "SELECT title, price FROM book WHERE genre = 'fiction' AND price < 15 AND published > 2010",
    "im-db-r03": "SELECT a.name, COUNT(*) FROM author AS a JOIN book AS b ON a.author_id = b.author_id "
    "WHERE a.country IN ('Germany', 'Sweden') GROUP BY a.author_id",
    "im-db-r04": "SELECT b.title, SUM(s.quantity) FROM sale AS s JOIN book AS b ON s.book_id = b.book_id "
    "GROUP BY b.book_id",
    "im-db-r05": "SELECT b.title, s.quantity FROM sale AS s JOIN book AS b ON s.book_id = b.book_id "
    "WHERE s.sale_date BETWEEN '2024-03-01' AND '2024-03-31' AND s.quantity > 1",
    "im-db-r06": "SELECT genre, AVG(price) FROM book WHERE published < 2020 GROUP BY genre",
    "im-db-r07": "SELECT name FROM patient WHERE birth_year < 1980",
    "im-db-r08": "SELECT d.name, SUM(v.fee) FROM doctor AS d JOIN visit AS v ON d.doctor_id = v.doctor_id "
    "WHERE v.visit_date LIKE '2024-04-%' GROUP BY d.doctor_id",
    "im-db-r09": "SELECT p.name, COUNT(*) FROM patient AS p JOIN visit AS v ON p.patient_id = v.patient_id "
    "WHERE p.city = 'Lyon' GROUP BY p.patient_id",
    "im-db-r10": "SELECT name, specialty FROM doctor ORDER BY name",
    "im-db-r11": "SELECT v.visit_date, v.fee FROM visit AS v JOIN doctor AS d ON v.doctor_id = d.doctor_id "
    "WHERE d.specialty = 'cardiology' AND v.fee > 115",
    "im-db-r12": "SELECT d.specialty, MAX(v.fee) FROM visit AS v JOIN doctor AS d ON v.doctor_id = d.doctor_id "
    "GROUP BY d.specialty",
}
STALE_CALLS = {
    "im-act-r01": "[book_table(restaurant='Casa Verde', people=4, time='19:00')]",
    "im-act-r02": "[book_table(restaurant='Blue Lotus', people=2, time='20:00'), "
    "book_table(restaurant='Casa Verde', people=5, time='18:30')]",
    "im-act-r03": "[convert_currency(amount=100.0, from_currency='USD', to_currency='EUR')]",
    "im-act-r04": "[get_weather(city='Chicago', days=5)]",
    "im-act-r05": "[convert_currency(amount=500.0, from_currency='EUR', to_currency='GBP'), "
    "convert_currency(amount=500.0, from_currency='EUR', to_currency='CHF')]",
    "im-act-r06": "[send_reminder(to='Carol', message='book the flights', minutes_from_now=20)]",
    "im-act-r07": "[send_reminder(to='Dan', message='water the plants', minutes_from_now=15), "
    "send_reminder(to='Eve', message='lock the office', minutes_from_now=90)]",
    "im-act-r08": "[calculate_loan_payment(principal=300000.0, annual_rate=0.05, years=25)]",
    "im-act-r09": "[calculate_loan_payment(principal=150000.0, annual_rate=0.06, years=30)]",
    "im-act-r10": "[translate_text(text='thank you', target_language='German')]",
    "im-act-r11": "[translate_text(text='see you tomorrow', target_language='Portuguese'), "
    "translate_text(text='see you tomorrow', target_language='Spanish')]",
    "im-act-r12": "[book_table(restaurant='Blue Lotus', people=3, time='20:00')]",
}


def revision_records(domain):
    return [record for record in load_records("builtin", tasks=[domain]) if record.revisions]


def test_every_domain_has_twelve_revision_tasks_covering_every_kind():
    for domain in DOMAINS:
        records = revision_records(domain)
        assert len(records) >= 12, domain
        kinds = {shard.kind for record in records for shard in record.revisions}
        assert kinds == set(REVISION_KINDS), (domain, kinds)


def test_math_revision_answers_are_computed_for_the_final_intent():
    task = get_task("math")
    for record in revision_records("math"):
        expression, _, value = record["answer"].split("####")[0].strip().rpartition("=")
        assert re.fullmatch(r"[\d\s+*/().-]+", expression), record.task_id
        gold = float(gold_number(record))
        assert eval(expression) == pytest.approx(gold) == pytest.approx(float(value)), record.task_id
        stale = eval(STALE_MATH[record.task_id])
        assert stale != pytest.approx(gold), record.task_id
        assert task.score(record, f"The answer is {gold:g}.").value == 1.0
        assert task.score(record, f"The answer is {stale:g}.").value == 0.0, record.task_id


def test_code_revision_tests_pass_the_final_intent_and_reject_the_stale_one():
    task = get_task("code")
    for record in revision_records("code"):
        assert task.score(record, SOLUTIONS[record.task_id]).value == 1.0, record.task_id
        assert task.score(record, STALE_SOLUTIONS[record.task_id]).value == 0.0, record.task_id


def test_database_revision_references_differ_from_the_stale_query():
    task = get_task("database")
    for record in revision_records("database"):
        assert task.score(record, record["reference_sql"]).value == 1.0, record.task_id
        assert task.score(record, STALE_SQL[record.task_id]).value == 0.0, record.task_id


def test_actions_revision_references_differ_from_the_stale_calls():
    task = get_task("actions")
    for record in revision_records("actions"):
        assert task.score(record, reference_calls(record)).value == 1.0, record.task_id
        assert task.score(record, STALE_CALLS[record.task_id]).value == 0.0, record.task_id


def base_record(**revision):
    texts = ["how much?", "12 pens", "15"]
    shards = [{"shard_id": i, "shard": text} for i, text in enumerate(texts, start=1)]
    shards[2].update(revision)
    return {"task_id": "rev-x", "task": "math", "question": "q", "answer": "#### 1", "shards": shards}


@pytest.mark.parametrize(
    ("revision", "message"),
    [
        ({"kind": "change", "revises": [3]}, "shards[2].revises: shard 3 can only revise earlier shards"),
        ({"kind": "change", "revises": [7]}, "shards[2].revises: shard 3 can only revise earlier shards, not shard 7"),
        ({"kind": "rename", "revises": [2]}, "shards[2].kind: 'rename' is not one of change"),
        ({"kind": "change"}, "shards[2].revises: a shard of kind 'change' must list"),
        ({"revises": [2]}, "shards[2].kind: None is not one of"),
        ({"kind": "change", "revises": [2], "proposal": "x"}, "shards[2].proposal: only a shard with kind accept"),
    ],
)
def test_malformed_revisions_name_the_record_and_field(revision, message):
    with pytest.raises(RecordError, match=re.escape(f"record 'rev-x': {message}")):
        validate_record(base_record(**revision), source="t.json")


def test_revised_by_maps_targets_to_their_revisions():
    record = validate_record(base_record(kind="change", revises=[2]))
    assert [s.shard_id for s in record.revisions] == [3]
    assert list(record.revised_by()) == [2]
    assert record.to_record()["shards"][2] == {"shard_id": 3, "shard": "15", "kind": "change", "revises": [2]}


def test_split_file_is_what_the_documented_rule_gives():
    from intent_mediator.data.splits import make_splits, read_splits

    assert read_splits() == make_splits(load_records("builtin"))


def test_splits_are_disjoint_cover_every_task_and_hold_eight_test_tasks():
    from intent_mediator.data import load_split

    for domain in DOMAINS:
        parts = {name: load_split(domain, name) for name in ("train", "validation", "test")}
        ids = [r.task_id for records in parts.values() for r in records]
        assert sorted(ids) == sorted(r.task_id for r in load_records("builtin", tasks=[domain])), domain
        assert len(parts["test"]) >= 8, domain
        assert all(any(r.revisions for r in records) for records in parts.values()), domain
        assert all(any(not r.revisions for r in records) for records in parts.values()), domain


def test_unknown_split_or_domain_is_a_clear_error():
    from intent_mediator.data import load_split

    with pytest.raises(RecordError, match="unknown split 'dev'; splits: train, validation, test"):
        load_split("math", "dev")
    with pytest.raises(RecordError, match="no split for domain 'summary'"):
        load_split("summary", "test")


def test_evaluate_split_flag_keeps_only_that_split(tmp_path, capsys):
    import argparse

    from intent_mediator.commands.common import load_run_records, run_flags
    from intent_mediator.data.splits import split_ids
    from intent_mediator.errors import IntentMediatorError

    parser = argparse.ArgumentParser()
    run_flags(parser)
    args = parser.parse_args(["--tasks", "database", "--split", "test"])
    assert [r.task_id for r in load_run_records(args)] == split_ids("database", "test")
    args = parser.parse_args(["--data", str(tmp_path), "--split", "test"])
    with pytest.raises(IntentMediatorError, match="--split test: the fixed splits are of --data builtin"):
        load_run_records(args)


def run_revising(engine, record, mode="sharded", program=None):
    from intent_mediator import RoleLMs
    from intent_mediator.data.personas import get_persona
    from intent_mediator.simulation.conversation import ConversationSettings, run_conversation

    engine.on(role="mediator", reply=lambda call: {"request": " ".join(call.user_turns())})
    engine.on(role="assistant", reply="Could you tell me more?")
    settings = ConversationSettings(roles=RoleLMs.scripted(engine), persona=get_persona("revising"), program=program)
    return run_conversation(record, mode, 0, settings)


def test_revising_persona_misstates_a_number_and_corrects_it_next(engine):
    from intent_mediator.data.personas import misstate

    assert misstate("on 2024-03-01 at 19:30, id f2") is None
    assert misstate("they sold 45 muffins") == ("they sold 56 muffins", "45", "56")
    record = next(r for r in load_records("builtin", tasks=["math"]) if r.task_id == "im-math-01")
    trajectory = run_revising(engine, record)
    said = [turn.user for turn in trajectory.turns]
    assert said[:4] == [
        "how much did the bakery take in on monday?",
        "muffins go for $5 apiece",
        "actually, it's 3, not 5. they sold 45 muffins that day",
        "cookies are $2 each",
    ]
    assert [turn.shard_id for turn in trajectory.turns] == [1, 2, 3, 4, 5]


def test_revising_persona_leaves_revision_records_as_written(engine):
    record = revision_records("math")[0]
    trajectory = run_revising(engine, record)
    assert [turn.user for turn in trajectory.turns] == [shard.shard for shard in record.shards]


def test_mediated_request_drops_the_misstated_value(engine):
    from intent_mediator import MediatedAssistant
    from intent_mediator.facts import trajectory_fact_check

    record = next(r for r in load_records("builtin", tasks=["math"]) if r.task_id == "im-math-01")
    trajectory = run_revising(engine, record, mode="mediated", program=MediatedAssistant(check=False))
    # The scripted Mediator joins the user's turns, so "$5" (withdrawn by "not 5") stays in its request.
    found = trajectory_fact_check(trajectory, record)
    assert [f.text for f in found.withdrawn_present] == ["$5"] and not found.lost_values
