"""Per-user recompilation from served logs: who is pending, threads vs Ray, resuming, one user's failure."""

from __future__ import annotations

import functools
import json

import pytest
from intent_mediator.artifacts import load_mediator, read_kept, read_meta
from intent_mediator.errors import IntentMediatorError
from intent_mediator.server.recompile import KeepCurrent, pending_users, recompile_users, summary
from intent_mediator.stores import open_log_store
from intent_mediator.testing.refiner_world import ANNOUNCED, KEEP_ALL, PREFIX, RECORDS


def compile_from_logs(user, domain, trajectories, *, fail_for=()):
    """The real Refiner (paper mode: one distillation call) on the scripted world, for one user's logs."""
    from intent_mediator.optimizers.refiner import Refiner
    from intent_mediator.programs import MediatedAssistant
    from intent_mediator.simulation.conversation import ConversationSettings
    from intent_mediator.testing.refiner_world import roles, world

    if user in fail_for:
        raise RuntimeError(f"no refiner for {user}")
    refiner = Refiner(settings=ConversationSettings(roles(world())), mode="paper")
    program = refiner.compile(MediatedAssistant(), trainset=[], trajectories=trajectories)
    return program, {"optimizer": "refiner", "mode": "paper"}


def log_conversations(store, user, records, *, announced: bool, start: int = 0):
    """Failed multi-turn conversations with the request that finally worked, as `serve` logs them."""
    for number, record in enumerate(records, start=start):
        shards = [s.shard for s in record.shards]
        turns = [shards[0], *((PREFIX + s) if announced else s for s in shards[1:])]
        messages = []
        for turn in turns:
            messages += [{"role": "user", "content": turn}, {"role": "assistant", "content": "Could you say more?"}]
        conversation = f"{user}-{number}"
        store.record(conversation, user, "math", messages[:-1], turns[-1], "Could you tell me more?")
        store.feedback(conversation, user, success=False, final_request=record["question"])


@pytest.fixture
def logs(tmp_path):
    url = f"sqlite:///{tmp_path / 'logs.db'}"
    store = open_log_store(url)
    log_conversations(store, "alice", RECORDS[:3], announced=False)
    log_conversations(store, "bob", RECORDS[:3], announced=True)
    log_conversations(store, "carol", RECORDS[:1], announced=False)  # too little feedback to recompile
    yield url, store
    store.close()


def test_only_users_with_enough_new_feedback_are_pending(logs, tmp_path):
    _, store = logs
    assert [(p.user, p.new_feedback, p.since) for p in pending_users(store, tmp_path / "a", min_feedback=2)] == [
        ("alice", 3, None),
        ("bob", 3, None),
    ]
    with pytest.raises(IntentMediatorError, match="--min-feedback"):
        pending_users(store, tmp_path / "a", min_feedback=0)


def test_each_user_gets_guidelines_from_their_own_logs_and_a_rerun_resumes(logs, tmp_path):
    url, store = logs
    root = tmp_path / "artifacts"
    results = recompile_users(url, root, compile_from_logs, min_feedback=2, workers=2)
    assert [(r.user, r.conversations, r.error) for r in results] == [("alice", 3, None), ("bob", 3, None)]
    assert KEEP_ALL in load_mediator("alice", "math", root=root).guidelines
    assert ANNOUNCED in load_mediator("bob", "math", root=root).guidelines
    assert load_mediator("carol", "math", root=root).guidelines == []  # below the threshold: not compiled
    meta = read_meta(root / "alice" / "math")
    assert meta["feedback_conversations"] == 3 and meta["feedback_until"] == max(
        row.feedback_at for row in store.conversations("alice")
    )

    assert recompile_users(url, root, compile_from_logs, min_feedback=2) == []  # nothing new since: resumed
    log_conversations(store, "alice", RECORDS[3:5], announced=False, start=10)
    [again] = recompile_users(url, root, compile_from_logs, min_feedback=2)
    assert (again.user, again.conversations) == ("alice", 5)


def test_one_users_failure_is_reported_and_the_others_still_compile(logs, tmp_path):
    url, _ = logs
    compile_one = functools.partial(compile_from_logs, fail_for=("alice",))
    results = recompile_users(url, tmp_path / "artifacts", compile_one, min_feedback=2)
    assert results[0].user == "alice" and "no refiner for alice" in results[0].error
    assert results[1].user == "bob" and results[1].error is None
    assert not (tmp_path / "artifacts" / "alice").exists()


def test_a_user_kept_on_the_current_artifact_is_neither_compiled_nor_failed_nor_pending_again(logs, tmp_path, caplog):
    class NothingNew(KeepCurrent):
        pass

    def compile_one(user, domain, trajectories):
        if user == "alice":
            raise NothingNew(f"{user}: nothing beat the domain's guidelines")
        return compile_from_logs(user, domain, trajectories)

    url, store = logs
    root = tmp_path / "artifacts"
    with caplog.at_level("INFO", logger="intent_mediator.server.recompile"):
        results = recompile_users(url, root, compile_one, min_feedback=2)
    alice, bob = results
    assert (alice.artifact, alice.error, alice.conversations) == (None, None, 3)
    assert alice.kept == "NothingNew: alice: nothing beat the domain's guidelines"
    assert bob.artifact and bob.kept is None
    assert not (root / "alice" / "math" / "program.json").exists()
    assert load_mediator("alice", "math", root=root).guidelines == []  # served what she had: the uncompiled one
    assert not [r for r in caplog.records if r.levelname == "WARNING"]  # a decision, not a failure
    done = summary(results)
    assert (done["compiled"], done["kept"], done["failed"]) == (1, 1, 0)
    # The decision is recorded with the feedback it read: the next job does not compile her again ...
    newest = max(row.feedback_at for row in store.conversations("alice"))
    assert read_kept(root / "alice" / "math") == {
        "reason": alice.kept,
        "feedback_until": newest,
        "feedback_conversations": 3,
    }
    assert recompile_users(url, root, compile_one, min_feedback=2) == []
    # ... until enough new feedback arrives; a compile then writes her artifact and drops the old decision.
    log_conversations(store, "alice", RECORDS[3:5], announced=False, start=10)
    [again] = recompile_users(url, root, compile_from_logs, min_feedback=2)
    assert (again.user, again.conversations, again.kept) == ("alice", 5, None) and again.artifact
    assert (
        read_kept(root / "alice" / "math") is None and KEEP_ALL in load_mediator("alice", "math", root=root).guidelines
    )


def test_recording_a_decision_to_keep_that_cannot_be_written_is_an_error(logs, tmp_path):
    def compile_one(user, domain, trajectories):
        raise KeepCurrent("nothing new")

    url, _ = logs
    (tmp_path / "artifacts").write_text("a file where the artifact root should be")
    results = recompile_users(url, tmp_path / "artifacts", compile_one, min_feedback=2)
    assert all(r.kept is None and r.error.startswith("KeepCurrent: nothing new; recording it failed") for r in results)


def test_bad_backend_and_workers_name_the_flag(logs, tmp_path):
    url, _ = logs
    with pytest.raises(IntentMediatorError, match="--backend"):
        recompile_users(url, tmp_path, compile_from_logs, backend="spark")
    with pytest.raises(IntentMediatorError, match="--workers"):
        recompile_users(url, tmp_path, compile_from_logs, workers=0)


def test_ray_backend_gives_the_same_artifacts_as_threads(logs, tmp_path):
    ray = pytest.importorskip("ray", reason="the optional [ray] extra is not installed")
    url, _ = logs
    threads = recompile_users(url, tmp_path / "threads", compile_from_logs, min_feedback=2)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        on_ray = recompile_users(url, tmp_path / "ray", compile_from_logs, min_feedback=2, backend="ray")
    finally:
        ray.shutdown()
    assert [(r.user, r.error) for r in on_ray] == [(r.user, r.error) for r in threads]
    for result in threads:
        a = json.loads((tmp_path / "threads" / result.user / "math" / "meta.json").read_text())
        b = json.loads((tmp_path / "ray" / result.user / "math" / "meta.json").read_text())
        assert a["guidelines"] == b["guidelines"] and a["feedback_until"] == b["feedback_until"]


def test_compile_per_user_from_the_command_line(logs, tmp_path, monkeypatch, capsys):
    from intent_mediator import RoleLMs, cli
    from intent_mediator.commands import common
    from intent_mediator.testing.refiner_world import world

    url, _ = logs
    engine = world()
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    out = tmp_path / "artifacts"
    argv = ["compile", "--from-logs", url, "--per-user", "--min-feedback", "2", "--mode", "paper", "--tasks", "math",
            "--limit", "2", "--out", str(out), "--no-progress"]  # fmt: skip
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "per-user recompile: 2 compiled, 0 failed, of 2 pending users" in printed
    assert KEEP_ALL in load_mediator("alice", "math", root=out).guidelines
    assert ANNOUNCED in load_mediator("bob", "math", root=out).guidelines
    assert json.loads((out / "recompile.json").read_text())["compiled"] == 2
    assert cli.main(argv) == 0 and "of 0 pending users" in capsys.readouterr().out  # resumed: nothing new

    assert cli.main(["compile", "--per-user", "--out", str(out)]) == 2
    assert "--per-user: give the log store with --from-logs" in capsys.readouterr().err
    assert cli.main(["compile", "--per-user", "--from-logs", url, "--user", "alice", "--out", str(out)]) == 2
    assert "drop --user" in capsys.readouterr().err
