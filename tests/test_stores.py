"""The log stores (SQLite, PostgreSQL) and request memories (in-process, Redis) against one contract."""

from __future__ import annotations

import sqlite3
import threading
import uuid

import pytest
from intent_mediator.stores import StoreError, conversation_key, open_log_store, open_request_memory
from intent_mediator.stores.base import redacted_url


@pytest.fixture(params=["sqlite", "postgresql"])
def log_store(request, tmp_path):
    if request.param == "sqlite":
        store = open_log_store(tmp_path / "logs.db")
    else:
        import psycopg

        url = request.getfixturevalue("postgres_url")
        name = f"t_{uuid.uuid4().hex[:12]}"  # a database of its own per test
        with psycopg.connect(url, autocommit=True) as con:
            con.execute(f"CREATE DATABASE {name}")
        store = open_log_store(url.rsplit("/", 1)[0] + f"/{name}")
    yield store
    store.close()


USER_TURNS = [{"role": "user", "content": "sum my list"}]


def test_feedback_marks_only_the_callers_own_conversation(log_store):
    log_store.record("c1", "alice", "code", USER_TURNS, "Sum [1, 2].", "3")
    assert log_store.feedback("c1", "bob", success=True, final_request=None) is False
    assert log_store.conversations("alice") == []  # bob's attempt left no feedback
    assert log_store.feedback("c1", "alice", success=False, final_request="Sum [1, 2, 3].") is True
    [row] = log_store.conversations("alice")
    assert (row.outcome, row.final_request, row.messages) == ("failure", "Sum [1, 2, 3].", USER_TURNS)
    assert row.feedback_at is not None and row.feedback_at >= row.created
    assert log_store.conversations("bob") == []


def test_trajectories_pair_a_failure_with_the_request_that_finally_worked(log_store):
    messages = [*USER_TURNS, {"role": "assistant", "content": "which list?"}, {"role": "user", "content": "[1, 2]"}]
    log_store.record("c1", "alice", "code", messages, "Sum [1, 2].", "4")
    log_store.record("c2", "alice", "math", USER_TURNS, "r", "ok")
    log_store.record("c3", "alice", "code", USER_TURNS, "r", "no feedback, not mined")
    log_store.feedback("c1", "alice", success=False, final_request="Return the sum of [1, 2].")
    log_store.feedback("c2", "alice", success=True, final_request=None)
    failed, fixed = log_store.trajectories("alice", "code")
    assert (failed.outcome, failed.score, [t.user for t in failed.turns]) == (
        "unsolved",
        0.0,
        ["sum my list", "[1, 2]"],
    )
    assert failed.turns[-1].request == "Sum [1, 2]." and failed.turns[0].assistant == "which list?"
    assert (fixed.outcome, fixed.turns[0].user) == ("solved", "Return the sum of [1, 2].")
    assert {t.task_id for t in log_store.trajectories("alice")} == {"c1", "c2"}


def test_feedback_counts_per_user_and_domain_since_a_time(log_store):
    for i, (user, domain) in enumerate([("alice", "code"), ("alice", "code"), ("alice", "math"), ("bob", "code")]):
        log_store.record(f"c{i}", user, domain, USER_TURNS, "r", "a")
    log_store.feedback("c0", "alice", True, None)
    cutoff = log_store.conversations("alice")[0].feedback_at
    for i, user in [(1, "alice"), (2, "alice"), (3, "bob")]:
        log_store.feedback(f"c{i}", user, True, None)
    assert log_store.feedback_counts() == {("alice", "code"): 2, ("alice", "math"): 1, ("bob", "code"): 1}
    assert log_store.feedback_counts(since=cutoff) == {("alice", "code"): 1, ("alice", "math"): 1, ("bob", "code"): 1}


def test_reopening_applies_no_migration_twice_and_keeps_the_rows(log_store):
    log_store.record("c1", "alice", "code", USER_TURNS, "r", "a")
    again = open_log_store(log_store.url if log_store.url.startswith("postgresql") else log_store.path)
    try:
        assert again.version == log_store.version
        again.feedback("c1", "alice", True, None)
        assert len(log_store.conversations("alice")) == 1
    finally:
        again.close()


def test_sqlite_logs_of_the_first_release_migrate_in_place(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as con:  # the schema server/logs.py wrote before versioned migrations
        con.executescript(
            "CREATE TABLE conversations (id TEXT PRIMARY KEY, user TEXT NOT NULL, domain TEXT NOT NULL,"
            " created REAL NOT NULL, messages TEXT NOT NULL, request TEXT, response TEXT, outcome TEXT,"
            " final_request TEXT);"
        )
        con.execute("INSERT INTO conversations VALUES ('c1', 'alice', 'code', 1.0, '[]', 'r', 'a', 'success', NULL)")
    store = open_log_store(path)
    assert store.version == 2
    assert [row.id for row in store.conversations("alice")] == ["c1"]
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 2


def test_a_schema_newer_than_this_release_is_refused(tmp_path):
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        open_log_store(path)


def test_replicas_starting_together_migrate_postgres_once(postgres_url):
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    stores, errors = [], []

    def start():
        try:
            stores.append(open_log_store(url))
        except Exception as exc:  # collected: the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(stores) == 4
    with psycopg.connect(url) as con:
        assert con.execute("SELECT version FROM intent_mediator_schema").fetchall() == [(1,)]
    for store in stores:
        store.close()


def test_unreachable_postgres_is_a_store_error_without_the_password():
    with pytest.raises(StoreError) as info:
        open_log_store("postgresql://app:s3cret@127.0.0.1:1/db?connect_timeout=1")
    assert "s3cret" not in str(info.value) and "127.0.0.1" in str(info.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [("mysql://x/y", "unknown scheme 'mysql'"), ("sqlite://relative.db", "sqlite:///relative/path")],
)
def test_bad_store_urls_name_the_url(url, message):
    with pytest.raises(StoreError, match=message):
        open_log_store(url)


def test_bad_memory_url_names_the_url():
    with pytest.raises(StoreError, match="unknown scheme 'http'"):
        open_request_memory("http://127.0.0.1")


def test_redacted_url_hides_only_the_password():
    assert redacted_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert redacted_url("postgresql://u@h/db") == "postgresql://u@h/db"


@pytest.fixture(params=["memory", "redis"])
def memory(request):
    if request.param == "memory":
        yield open_request_memory("memory://", capacity=3)
        return
    store = open_request_memory(request.getfixturevalue("redis_url"), capacity=3, prefix=uuid.uuid4().hex)
    yield store
    store.close()


def test_a_request_is_found_again_from_the_next_calls_history(memory):
    turns = [{"role": "user", "content": "sum [1, 2]"}]
    memory.remember("alice", "alice/code", turns, "Sum the list [1, 2].")
    follow_up = [*turns, {"role": "assistant", "content": "3"}, {"role": "user", "content": "and add 4"}]
    assert memory.previous("alice", "alice/code", follow_up) == "Sum the list [1, 2]."
    assert memory.previous("alice", "bob/code", follow_up) is None  # another artifact never continues it
    assert memory.previous("bob", "alice/code", follow_up) is None  # nor another user, even with the same program
    edited = [{"role": "user", "content": "sum [1, 5]"}, *follow_up[1:]]
    assert memory.previous("alice", "alice/code", edited) is None
    assert memory.previous("alice", "alice/code", turns) is None  # no assistant reply yet: nothing to continue


def test_memory_keeps_at_most_its_capacity_dropping_the_least_recently_used(memory):
    for key in "abc":
        memory.put(key, key.upper())
    assert memory.get("a") == "A"  # a is now the most recently used
    memory.put("d", "D")
    assert (memory.get("b"), memory.get("a"), memory.get("d"), len(memory)) == (None, "A", "D", 3)


def test_redis_entries_carry_the_ttl_and_oversized_requests_are_not_kept(redis_url):
    import redis

    memory = open_request_memory(redis_url, ttl=120, max_request_bytes=10, prefix=uuid.uuid4().hex)
    memory.put("k", "short")
    memory.put("big", "x" * 11)
    client = redis.Redis.from_url(redis_url)
    assert 0 < client.ttl(memory._key("k")) <= 120
    assert memory.get("big") is None and len(memory) == 1


def test_an_unreachable_redis_degrades_to_misses_and_counts_them(redis_url):
    from intent_mediator.stores.dev_servers import free_port, redis_server

    with pytest.raises(StoreError, match="request memory"):
        open_request_memory(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    with redis_server() as own_url:  # a server of its own, stopped under the memory's feet
        memory = open_request_memory(own_url, timeout=0.5)
        memory.put("k", "v")
        assert memory.get("k") == "v"
    assert memory.get("k") is None
    memory.put("k2", "v2")
    assert memory.errors == 2


def test_conversation_key_depends_on_user_artifact_and_every_turn():
    turns = [{"role": "user", "content": "a"}]
    assert conversation_key("u", "x", turns) == conversation_key("u", "x", [dict(turns[0])])
    assert conversation_key("u", "x", turns) != conversation_key("u", "y", turns)
    assert conversation_key("u", "x", turns) != conversation_key("v", "x", turns)
    assert conversation_key("u", "x", turns) != conversation_key("u", "x", [{"role": "user", "content": "b"}])
