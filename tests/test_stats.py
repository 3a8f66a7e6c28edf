import pytest
from intent_mediator.stats import aggregate, bootstrap_ci, instruction_stats, recovery, summarize


def test_instruction_stats_by_hand():
    m = instruction_stats([0, 100, 100, 100, 100])
    assert m["P"] == 80
    assert m["A90"] == 100  # numpy linear percentile: position 3.6 between 100 and 100
    assert m["U90_10"] == pytest.approx(100 - 40)  # 10th percentile: 0 + 0.4 * 100
    assert m["R"] == 0  # max - min = 100


def test_paper_worked_example_full_mode():
    # Nine instructions always solved, one never: P = 90, A90 = 90, U90_10 = 0.
    per_instruction = {f"i{k}": [100.0] * 5 for k in range(9)} | {"i9": [0.0] * 5}
    out = aggregate(per_instruction)
    assert (out["P"], out["A90"], out["U90_10"], out["R"]) == (90, 90, 0, 100)
    assert out["n"] == 50 and out["instructions"] == 10


def test_recovery():
    assert recovery(86.9, 53.6, 73.9) == pytest.approx((73.9 - 53.6) / (86.9 - 53.6))
    assert recovery(50, 50, 60) is None


def test_bootstrap_interval_brackets_the_mean():
    values = [0, 100, 50, 100, 0, 100]
    low, high = bootstrap_ci(values)
    assert low <= sum(values) / len(values) <= high and low < high
    assert bootstrap_ci(values) == bootstrap_ci(values)  # seeded


def test_summary_excludes_errors_and_reports_recovery():
    rows = [
        {"task_id": "a", "task": "math", "mode": "full", "score": 100, "error": None},
        {"task_id": "a", "task": "math", "mode": "sharded", "score": 0, "error": None},
        {"task_id": "a", "task": "math", "mode": "mediated", "score": 100, "error": None},
        {"task_id": "a", "task": "math", "mode": "mediated", "score": None, "error": "boom"},
    ]
    summary = summarize(rows)
    cell = summary["per_task"]["math"]["mediated"]
    assert (cell["P"], cell["n"], cell["errors"]) == (100, 1, 1)
    assert summary["recovery"]["math"] == 1.0 and summary["overall"]["sharded"]["P"] == 0
