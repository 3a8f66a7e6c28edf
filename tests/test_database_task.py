"""The database task: SQL extraction and read-only execution match."""

import pytest
from intent_mediator.data.loaders import load_records
from intent_mediator.tasks import TaskConfig, get_task
from intent_mediator.tasks.database import DatabaseNotFoundError, extract_sql


def test_database_reference_sql_scores_1_on_own_databases():
    task = get_task("database")
    for record in load_records("builtin", tasks=["database"]):
        reply = f"This query answers it:\n```sql\n{record['reference_sql']};\n```"
        assert task.score(record, task.extract(reply, record)).value == 1.0, record.task_id
        assert task.score(record, "SELECT 1").value == 0.0
    assert "not authorized" in task.score(record, "DELETE FROM visit").reason  # reading only
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
    with pytest.raises(DatabaseNotFoundError, match="tvshow"):
        task.score(record, record["reference_sql"], TaskConfig(spider_dir=str(tmp_path)))


def db_record(index=1):
    return load_records("builtin", tasks=["database"])[index]


@pytest.mark.parametrize(
    "sql",
    [
        "VACUUM INTO '{target}'",
        "ATTACH DATABASE '{target}' AS other",
        "ATTACH DATABASE 'file:{target}?mode=rwc' AS other",
        "SELECT * FROM pragma_table_info('author')",
        "PRAGMA journal_mode = DELETE",
        "DELETE FROM author",
        "CREATE TABLE x (a)",
    ],
)
def test_sql_cannot_write_or_attach(tmp_path, sql):
    target = tmp_path / "copy.db"
    result = get_task("database").score(db_record(), sql.format(target=target))
    assert result.value == 0.0 and ("not authorized" in result.reason or "denied" in result.reason), result.reason
    assert not target.exists()


def test_huge_values_and_results_fail_fast_within_the_limit(monkeypatch):
    import time

    task = get_task("database")
    monkeypatch.setattr(task, "query_timeout", 2.0)
    for sql in (
        "SELECT randomblob(900000000)",
        "SELECT zeroblob(900000000)",
        "SELECT printf('%.*c', 900000000, 'x')",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 5000000) SELECT x FROM c",
    ):
        start = time.monotonic()
        result = task.score(db_record(), sql)
        assert result.value == 0.0 and time.monotonic() - start < 5.0, (sql, result.reason)
        assert any(why in result.reason for why in ("too big", "larger than", "interrupted", "not authorized"))


def test_prose_and_result_tables_are_not_queries():
    assert extract_sql("You can select the rows you need from the author table and count them.") is None
    assert extract_sql("I would select all authors from the database.") is None
    table = "Here is what it returns:\n```\n| name  | total |\n|-------|-------|\n| Alice | 3     |\n```"
    assert extract_sql(table) is None
    both = "```sql\nSELECT name FROM author;\n```\nResult:\n```\nname\n----\nAlice\n```\nLet me know if you need more."
    assert extract_sql(both) == "SELECT name FROM author"
    assert extract_sql("Run `SELECT count(*) FROM author` to check.") == "SELECT count(*) FROM author"
    assert extract_sql("```python\nprint('SELECT 1')\n```") is None


def test_distinct_and_column_order_are_tolerated_like_the_benchmark():
    from intent_mediator.tasks.database import same_result, without_select_distinct

    assert same_result([(1, "a"), (2, "b")], [("b", 2), ("a", 1)], ordered=False)
    assert not same_result([(1, "a"), (2, "b")], [("a", 2), ("b", 1)], ordered=False)
    assert same_result([(1, "a"), (2, "b")], [("a", 1), ("b", 2)], ordered=True)
    assert not same_result([(2, "b"), (1, "a")], [("a", 1), ("b", 2)], ordered=True)
    assert (
        without_select_distinct("SELECT DISTINCT a, 'select distinct' FROM t") == "SELECT a, 'select distinct' FROM t"
    )
    assert without_select_distinct("SELECT COUNT(DISTINCT a) FROM t") == "SELECT COUNT(DISTINCT a) FROM t"
    task = get_task("database")
    record = db_record(1)
    reference = record["reference_sql"]
    select, rest = reference.split(" FROM ", 1)
    columns = select[len("SELECT ") :].split(", ")
    if len(columns) > 1:
        swapped = f"SELECT DISTINCT {', '.join(reversed(columns))} FROM {rest}"
        assert task.score(record, swapped).value == 1.0
