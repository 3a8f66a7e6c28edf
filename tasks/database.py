"""Text-to-SQL (Spider): predicted and reference SQL must return the same bag of rows, read-only.

The project's own databases are built from `data/databases/<db_id>.sql`; the benchmark's need the user's Spider
folder (`--spider-dir`, holding `<db_id>/<db_id>.sqlite`).
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from intent_mediator.data.records import Instruction
from intent_mediator.errors import IntentMediatorError
from intent_mediator.tasks.base import Score, Task, TaskConfig, register

OWN_DATABASES = Path(__file__).resolve().parents[1] / "data" / "databases"
_FENCE = re.compile(r"```[ \t]*(?:sql|sqlite)?[ \t]*\n(.*?)```", re.S | re.I)
# SELECT may start mid-sentence ("Try SELECT ..."); WITH only at a line start, where it is not English prose.
_STATEMENT = re.compile(
    r"(?:^[ \t]*(?=WITH\b)|\b(?=SELECT\b))((?:SELECT|WITH)\b.*?)(?:;|\n\s*\n|\Z)", re.S | re.I | re.M
)
_BUILD_LOCK = threading.Lock()


class DatabaseNotFoundError(IntentMediatorError, FileNotFoundError):
    """A record's db_id has no SQLite file in the project's databases or the Spider folder."""


def database_path(db_id: str, spider_dir: str | Path | None = None) -> Path:
    """The SQLite file for `db_id`: the project's own (built once from SQL) or `<spider_dir>/<db_id>/<db_id>.sqlite`."""
    if not re.fullmatch(r"[A-Za-z0-9_]+", db_id):
        raise DatabaseNotFoundError(f"invalid db_id {db_id!r}")
    script = OWN_DATABASES / f"{db_id}.sql"
    if script.is_file():
        target = Path(tempfile.gettempdir()) / f"intent-mediator-db-{os.getuid()}" / f"{db_id}.sqlite"
        with _BUILD_LOCK:
            if not target.is_file() or target.stat().st_mtime < script.stat().st_mtime:
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_suffix(f".{os.getpid()}.part")
                partial.unlink(missing_ok=True)
                with sqlite3.connect(partial) as con:
                    con.executescript(script.read_text())
                con.close()
                os.replace(partial, target)
        return target
    spider_dir = spider_dir or os.environ.get("INTENT_MEDIATOR_SPIDER_DIR")
    if spider_dir:
        path = Path(spider_dir) / db_id / f"{db_id}.sqlite"
        if path.is_file():
            return path
        raise DatabaseNotFoundError(f"db_id {db_id!r}: {path} does not exist in the Spider folder {spider_dir}")
    raise DatabaseNotFoundError(
        f"db_id {db_id!r} is a Spider database: pass --spider-dir (or INTENT_MEDIATOR_SPIDER_DIR) pointing at the "
        "folder that holds <db_id>/<db_id>.sqlite"
    )


def extract_sql(response: str) -> str | None:
    """The last fenced SQL block, else the last SELECT/WITH statement in the text."""
    blocks = [block.strip() for block in _FENCE.findall(response) if block.strip()]
    if blocks:
        return blocks[-1].rstrip(";").strip()
    statements = _STATEMENT.findall(response)
    return statements[-1].strip().rstrip(";").strip() if statements else None


def execute_read_only(path: Path, sql: str, timeout: float = 5.0) -> list[tuple]:
    """Run one query on a read-only connection, aborting it after `timeout` seconds."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    deadline = time.monotonic() + timeout
    con.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _normalize(row: tuple) -> tuple:
    return tuple(round(v, 6) if isinstance(v, float) else v for v in row)


def same_result(predicted: list[tuple], reference: list[tuple], ordered: bool) -> bool:
    predicted, reference = [_normalize(r) for r in predicted], [_normalize(r) for r in reference]
    return predicted == reference if ordered else Counter(predicted) == Counter(reference)


@register
class DatabaseTask(Task):
    name = "database"
    query_timeout: float = 5.0

    def system_prompt(self, record: Instruction) -> str:
        return (
            "You help with a SQLite database. When you write a query, put the SQL in a ```sql code block.\n\n"
            f"Database schema:\n{record.get('schema_sql', '')}"
        )

    def full_prompt(self, record: Instruction) -> str:
        return record["fully_specified_question"]

    def extract(self, response: str, record: Instruction) -> str | None:
        return extract_sql(response)

    def score(self, record: Instruction, answer: str, config: TaskConfig | None = None) -> Score:
        path = database_path(record["db_id"], config.spider_dir if config else None)
        reference = execute_read_only(path, record["reference_sql"], self.query_timeout)
        try:
            predicted = execute_read_only(path, answer, self.query_timeout)
        except sqlite3.Error as exc:
            return Score(0.0, f"the query failed: {exc}")
        ordered = "order by" in record["reference_sql"].lower()
        if same_result(predicted, reference, ordered):
            return Score(
                1.0, f"same {len(reference)} rows as the reference" + (" in the same order" if ordered else "")
            )
        return Score(0.0, f"{len(predicted)} rows differ from the reference's {len(reference)}")
