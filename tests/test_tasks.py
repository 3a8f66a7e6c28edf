"""Scorers on the real benchmark sample and the project's own tasks: references score 1, wrong answers 0."""

import pytest
from intent_mediator.data.loaders import load_records
from intent_mediator.tasks import get_task
from intent_mediator.tasks.actions import parse_calls
from intent_mediator.tasks.math import gold_number


def records(shared_lic, task):
    return load_records(shared_lic / "sample_5_per_task.json", tasks=[task]) + load_records("builtin", tasks=[task])


def reference_calls(record) -> str:
    parts = []
    for call in record["reference_answer"]:
        ((name, params),) = call.items()
        args = ", ".join(f"{key}={values[0]!r}" for key, values in params.items() if values[0] != "")
        parts.append(f"{name}({args})")
    return "[" + ", ".join(parts) + "]"


def test_math_gold_scores_1_and_wrong_scores_0(shared_lic):
    task = get_task("math")
    for record in records(shared_lic, "math"):
        gold = float(gold_number(record))
        written = f"{int(gold):,}" if gold.is_integer() else f"{gold:,.2f}"
        reply = f"Let me work it out... so the total is ${written}."
        assert task.score(record, task.extract(reply, record)).value == 1.0, record.task_id
        assert task.score(record, str(gold + 1)).value == 0.0


def test_actions_reference_calls_score_1_in_any_order(shared_lic):
    task = get_task("actions")
    for record in records(shared_lic, "actions"):
        calls = reference_calls(record)
        assert task.score(record, task.extract(f"```python\n{calls}\n```", record)).value == 1.0, record.task_id
        if len(record["reference_answer"]) > 1:  # dropping every call after the first
            first_only = calls.split("), ")[0] + ")]"
            assert task.score(record, first_only).value == 0.0


def test_actions_checks_types_and_values():
    record = load_records("builtin", tasks=["actions"])[2]  # get_weather x2
    task = get_task("actions")
    good = (
        "[get_weather(city='Austin', days=3, unit='fahrenheit'), get_weather(city='Denver', days=3, unit='Fahrenheit')]"
    )
    assert task.score(record, good).value == 1.0
    assert task.score(record, good.replace("days=3", "days='3'", 1)).value == 0.0  # wrong type
    assert task.score(record, good.replace("Austin", "Boston")).value == 0.0
    assert task.score(record, good.replace(", unit='fahrenheit'", "", 1)).value == 0.0  # required by the reference
    assert parse_calls("I would call get_weather twice.") is None


@pytest.mark.parametrize("task_name", ["data2text", "translation"])
def test_bleu_tasks_reference_scores_1(shared_lic, task_name):
    task = get_task(task_name)
    file = "sharded_translation.json" if task_name == "translation" else "sample_5_per_task.json"
    for record in load_records(shared_lic / file, tasks=[task_name])[:5]:
        reference = record["references"][0] if task_name == "data2text" else record["document_en"]
        assert task.score(record, reference).value == pytest.approx(1.0)
        assert task.score(record, "Nothing to do with it.").value < 0.1
