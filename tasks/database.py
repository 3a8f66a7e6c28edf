"""Text-to-SQL (Spider): predicted and reference SQL must return the same bag of rows, read-only.

The project's own databases are built from `data/databases/<db_id>.sql`; the benchmark's need the user's Spider
folder (`--spider-dir`, holding `<db_id>/<db_id>.sqlite`).
"""

from __future__ import annotations

import itertools
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

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


_INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_ANY_FENCE = re.compile(r"```([^\n`]*)\n(.*?)```", re.S)
_SQL_START = re.compile(r"^\s*(?:--[^\n]*\n\s*)*(?:SELECT|WITH)\b", re.I)
_SYNTAX = ("syntax error", "incomplete input", "unrecognized token")
_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
MAX_ROWS = 100_000
MAX_RESULT_BYTES = 32 * 1024 * 1024
MAX_VALUE_BYTES = 1024 * 1024
_DISTINCT = re.compile(r"\bSELECT\s+DISTINCT\b", re.I)
_STRING = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")


class QueryError(sqlite3.Error):
    """A query refused or stopped by the scorer's limits (time, result size, a write)."""


# printf/format can spend seconds inside one call (`printf('%.*c', 900000000, 'x')`), out of the progress
# handler's reach; no reference query of the benchmark uses them.
_DENIED_FUNCTIONS = {"printf", "format", "load_extension"}


def _read_only_authorizer(action: int, arg1, *args) -> int:
    if action == sqlite3.SQLITE_FUNCTION and str(arg1 or args[0] or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK if action in _ALLOWED_ACTIONS else sqlite3.SQLITE_DENY


def is_sql_query(text: str) -> bool:
    """True when `text` is one SELECT/WITH statement that SQLite can parse (tables need not exist).

    Prose that merely contains the word "select", a result table and pseudo-SQL all fail SQLite's parser.
    """
    if not _SQL_START.match(text) or len(text) > 100_000:
        return False
    con = sqlite3.connect(":memory:")
    con.set_authorizer(_read_only_authorizer)
    try:
        con.execute("EXPLAIN " + text)
    except sqlite3.Warning:  # more than one statement
        return False
    except sqlite3.Error as exc:
        return not any(marker in str(exc) for marker in _SYNTAX)
    finally:
        con.close()
    return True


def extract_sql(response: str) -> str | None:
    """The answer's query: the last SQL code block, else the last inline or unfenced SELECT/WITH statement.

    Fenced blocks tagged sql/sqlite or untagged, inline `code` spans and statements in the text count only when
    SQLite parses them as one query; a block holding a result table or an explanation is skipped.
    """
    blocks = [
        body.strip().rstrip(";").strip()
        for tag, body in _ANY_FENCE.findall(response)
        if tag.strip().lower() in ("", "sql", "sqlite", "sqlite3", "postgresql", "mysql")
    ]
    for block in reversed(blocks):
        if is_sql_query(block):
            return block
    prose = _ANY_FENCE.sub("\n\n", response)
    candidates = [span.strip().rstrip(";").strip() for span in _INLINE.findall(prose)]
    candidates += [statement.strip().rstrip(";").strip() for statement in _STATEMENT.findall(_INLINE.sub(" ", prose))]
    for candidate in reversed(candidates):
        if is_sql_query(candidate):
            return candidate
    return None


def execute_read_only(
    path: Path, sql: str, timeout: float = 5.0, max_rows: int = MAX_ROWS, max_bytes: int = MAX_RESULT_BYTES
) -> list[tuple]:
    """Run one query on a read-only connection that can only read, within `timeout` seconds and size caps.

    An authorizer denies everything but reading (no writes, ATTACH, VACUUM INTO, PRAGMA, transactions); no
    string or blob may exceed 1 MB (so `randomblob(900000000)` fails at once); the progress handler stops any
    statement at the deadline; rows are fetched in batches and the result is refused past `max_rows` rows or
    `max_bytes`.

    Raises:
        sqlite3.Error: The query failed, was refused, or hit a limit (`QueryError`).
    """
    uri = f"file:{quote(str(path))}?mode=ro"
    con = sqlite3.connect(uri, uri=True, check_same_thread=False)
    con.text_factory = lambda raw: raw.decode(errors="replace")
    con.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    con.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 100_000)
    con.set_authorizer(_read_only_authorizer)
    deadline = time.monotonic() + timeout
    con.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
    rows: list[tuple] = []
    size = 0
    try:
        cursor = con.execute(sql)
        while batch := cursor.fetchmany(1000):
            rows.extend(batch)
            size += sum(len(v) if isinstance(v, (str, bytes)) else 8 for row in batch for v in row)
            if len(rows) > max_rows or size > max_bytes:
                raise QueryError(f"the result is larger than the scorer allows ({max_rows} rows, {max_bytes} bytes)")
        return rows
    except MemoryError:
        raise QueryError("the query ran out of memory") from None
    finally:
        con.close()


def without_select_distinct(sql: str) -> str:
    """`sql` with every `SELECT DISTINCT` turned into `SELECT` (string literals untouched); aggregates such as
    `COUNT(DISTINCT x)` keep theirs."""
    parts, last = [], 0
    for literal in _STRING.finditer(sql):
        parts.append(_DISTINCT.sub("SELECT", sql[last : literal.start()]) + literal.group())
        last = literal.end()
    return "".join(parts) + _DISTINCT.sub("SELECT", sql[last:])


def _normalize(row: tuple) -> tuple:
    return tuple(round(v, 6) if isinstance(v, float) else v for v in row)


def same_result(predicted: list[tuple], reference: list[tuple], ordered: bool) -> bool:
    """Same rows (as a bag, or in order when `ordered`), up to a reordering of the columns.

    A column permutation is accepted when it makes the whole result equal, as in the benchmark's execution
    match; candidate permutations are pruned by comparing each column's bag of values.
    """
    predicted, reference = [_normalize(r) for r in predicted], [_normalize(r) for r in reference]
    if not predicted and not reference:
        return True
    if len(predicted) != len(reference) or len(predicted[0]) != len(reference[0]):
        return False
    width = len(reference[0])
    column = [Counter(row[i] for row in reference) for i in range(width)]
    options = [[j for j in range(width) if Counter(row[j] for row in predicted) == column[i]] for i in range(width)]
    for permutation in itertools.islice(itertools.product(*options), 5000):
        if len(set(permutation)) != width:
            continue
        moved = [tuple(row[j] for j in permutation) for row in predicted]
        if moved == reference if ordered else Counter(moved) == Counter(reference):
            return True
    return False


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
        reference_sql = without_select_distinct(record["reference_sql"])
        reference = execute_read_only(path, reference_sql, self.query_timeout)
        try:
            predicted = execute_read_only(path, without_select_distinct(answer), self.query_timeout)
        except sqlite3.Error as exc:
            return Score(0.0, f"the query failed: {exc}")
        ordered = "order by" in reference_sql.lower()
        if same_result(predicted, reference, ordered):
            return Score(
                1.0, f"same {len(reference)} rows as the reference" + (" in the same order" if ordered else "")
            )
        return Score(0.0, f"{len(predicted)} rows differ from the reference's {len(reference)}")
