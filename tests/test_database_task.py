"""The database task: SQL extraction and read-only execution match."""

import pytest
from intent_mediator.data.loaders import load_records
from intent_mediator.tasks import get_task
from intent_mediator.tasks.database import DatabaseNotFoundError, extract_sql


def test_database_reference_sql_scores_1_on_own_databases():
    task = get_task("database")
    for record in load_records("builtin", tasks=["database"]):
        reply = f"This query answers it:\n```sql\n{record['reference_sql']};\n```"
        assert task.score(record, task.extract(reply, record)).value == 1.0, record.task_id
        assert task.score(record, "SELECT 1").value == 0.0
    assert "read" in task.score(record, "DELETE FROM visit").reason  # read-only connection
    assert extract_sql("Try SELECT name FROM author;\nThat lists them.") == "SELECT name FROM author"


def test_database_order_matters_only_with_order_by():
    task = get_task("database")
    ordered, unordered = load_records("builtin", tasks=["database"])[0], load_records("builtin", tasks=["database"])[1]
    assert task.score(ordered, ordered["reference_sql"].replace("ASC", "DESC")).value == 0.0
    shuffled = unordered["reference_sql"] + " ORDER BY SUM(s.quantity)"
    assert task.score(unordered, shuffled).value == 1.0


def test_database_query_timeout(monkeypatch):
    task = get_task("database")
    monkeypatch.setattr(task, "query_timeout", 0.2)
    record = load_records("builtin", tasks=["database"])[0]
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    assert "interrupted" in task.score(record, endless).reason


def test_spider_records_need_the_spider_folder(shared_lic, tmp_path, monkeypatch):
    task = get_task("database")
    record = load_records(shared_lic / "sample_5_per_task.json", tasks=["database"])[0]
    monkeypatch.delenv("INTENT_MEDIATOR_SPIDER_DIR", raising=False)
    with pytest.raises(DatabaseNotFoundError, match="--spider-dir"):
        task.score(record, record["reference_sql"])
    monkeypatch.setattr(task, "spider_dir", str(tmp_path))
    with pytest.raises(DatabaseNotFoundError, match="tvshow"):
        task.score(record, record["reference_sql"])
