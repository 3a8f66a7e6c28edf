"""The side-by-side benchmark runs end to end on a scripted world, resumes, and refuses a changed resume."""

import json
import sys
from pathlib import Path

import pytest
from intent_mediator import RoleLMs, ScriptedEngine
from intent_mediator.data.loaders import load_records
from intent_mediator.signatures.ergo import ConsolidateUserTurns

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

RECORDS = load_records("builtin", tasks=["math"])[:2]
GOLD = {r.task_id: r["answer"].split("####")[-1].strip() for r in RECORDS}


def holds_task(message: str):
    """The record whose every shard the message holds (concat writes shards as capitalised sentences)."""
    text = message.lower()
    for record in RECORDS:
        if record["question"] == message or all(s.shard.lower().rstrip(".?!") in text for s in record.shards):
            return record
    return None


def world() -> ScriptedEngine:
    """The assistant solves only from a message holding the whole task. Its entropy jumps when the last shard
    arrives in a long chat, so ERGO resets there, from a prompt holding every shard."""
    engine = ScriptedEngine()
    engine.on(role="mediator", reply=lambda call: {"request": " ".join(call.user_turns())})
    engine.on(
        role="assistant",
        signature=ConsolidateUserTurns,
        reply=lambda call: {"prompt": " ".join(call.inputs["user_messages"])},
    )

    def reply(call):
        record = holds_task(call.last_user)
        return f"The answer is {GOLD[record.task_id]}." if record else "Could you tell me more?"

    def entropy(call):
        users = [m["content"] for m in call.messages if m["role"] == "user"]
        last_shard = any(users[-1] == r.shards[-1].shard for r in RECORDS)
        return 1.2 if len(users) > 1 and last_shard else 0.2

    engine.on(role="assistant", reply=reply, entropy=entropy)
    return engine


def test_every_mode_side_by_side_on_the_scripted_world(tmp_path, monkeypatch, capsys):
    import side_by_side
    from intent_mediator.commands import common

    engine = world()
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    lic = tmp_path / "lic.json"
    lic.write_text(json.dumps([r.to_record() for r in RECORDS]))
    rules = tmp_path / "rules.txt"
    rules.write_text("Keep every number the user gave.\n")
    out, results = tmp_path / "run", tmp_path / "results"
    argv = ["--lic", str(lic), "--tasks", "math", "--runs", "2", "--out", str(out), "--results", str(results)]
    argv += ["--guidelines", str(rules), "--no-progress", "--ergo-threshold", "0.5"]
    assert side_by_side.main(argv) == 0
    data = json.loads((results / "side_by_side.json").read_text())
    table = data["tables"]["lic"]
    assert list(table) == [*side_by_side.MODES, side_by_side.GUIDED]
    p = {mode: row["P"] for mode, row in table.items()}
    assert p == {
        "full": 100.0,
        "concat": 100.0,
        "sharded": 0.0,
        "recap": 100.0,
        "snowball": 100.0,
        "drop-assistant": 0.0,
        "ergo": 100.0,
        "mediated": 100.0,
        "mediated+guidelines": 100.0,
    }
    assert table["ergo"]["recovery"] == 1.0 and table["drop-assistant"]["recovery"] == 0.0
    assert table["ergo"]["resets_per_conversation"] == 1.0 and table["mediated"]["resets_per_conversation"] == 0.0
    assert table["mediated"]["fact_loss"]["loss"] == 0.0 and table["mediated"]["fact_loss"]["values"] > 0
    assert table["ergo"]["fact_loss"]["loss"] == 0.0 and table["ergo"]["fact_loss"]["conversations"] == 4
    assert table["sharded"]["fact_loss"] is None and table["drop-assistant"]["fact_loss"] is None
    # Every rewritten turn passed the check as written (the scripted Mediator keeps every turn).
    shards = sum(len(r.shards) for r in RECORDS) / len(RECORDS)
    paths = table["mediated"]["mediation"]
    rewritten = 2 * (2 * shards - 2)
    assert paths == {
        "turns": rewritten,
        "paths": {"rewrite": rewritten},
        "through_lm": rewritten,
        "user_turns_share": 0,
        "joined_share": 0,
    }
    assert table["sharded"]["mediation"] is None
    assert table["mediated"]["shortfall"] is None and table["sharded"]["shortfall"] is None  # none failed; no check
    assert data["sets"]["lic"]["conversations"] == {"finished": 36, "planned": 36}  # 2 records x 9 modes x 2 runs
    assert table["full"]["n"] == 4 and table["full"]["instructions"] == 2 and table["full"]["P_ci95"] == [100.0, 100.0]
    # LM calls per conversation: full answers once; mediated pays a Mediator call per turn
    assert table["full"]["calls_per_conversation"] == 1.0
    assert table["sharded"]["calls_per_conversation"] == shards
    assert table["mediated"]["calls_per_conversation"] == 2 * shards - 1  # no Mediator call on a one-turn chat
    assert table["mediated+guidelines"]["calls_per_conversation"] == 2 * shards - 1  # compiled too
    assert table["ergo"]["calls_per_conversation"] == shards + 2  # one rewrite, one regenerated reply
    # The Mediator's share of the prompt tokens, against the sharded assistant's (issue 12's cost target).
    mediator_tokens = table["mediated"]["mediator_prompt_tokens_per_conversation"]
    assert 0 < mediator_tokens < table["mediated"]["prompt_tokens_per_conversation"]
    assert table["sharded"]["mediator_prompt_tokens_per_conversation"] == 0
    ratio = mediator_tokens / table["sharded"]["prompt_tokens_per_conversation"]
    md = (results / "side_by_side.md").read_text()
    assert "| ergo | 100.0" in md and "Command: `python benchmarks/side_by_side.py --lic" in md
    # Summed over the task-runs where both modes' calls ran (here all 4), so both sides cover the same conversations.
    assert data["sets"]["lic"]["mediator_cost"] == {"ratio": pytest.approx(ratio), "pairs": 4}
    assert f"Mediator prompt tokens / the sharded assistant's: {ratio:.2f} (summed over the 4 task-runs" in md
    printed = capsys.readouterr().out
    assert "[lic] im-math-01 ergo run 0: score 100" in printed

    # A rerun resumes: nothing new is simulated.
    calls = len(engine.requests)
    assert side_by_side.main(argv) == 0
    assert len(engine.requests) == calls
    # A rerun with another configuration is refused, naming what differs.
    changed = [*argv[:5], "3", *argv[6:]]
    assert side_by_side.main(changed) == 2
    assert "runs: 2 -> 3" in capsys.readouterr().err


def one_run_of_three_modes(tmp_path, monkeypatch) -> tuple[ScriptedEngine, list[str]]:
    """The scripted world behind the benchmark, and argv for one run of full, sharded and mediated on RECORDS."""
    from intent_mediator.commands import common

    engine = world()
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    lic = tmp_path / "lic.json"
    lic.write_text(json.dumps([r.to_record() for r in RECORDS]))
    return engine, ["--lic", str(lic), "--tasks", "math", "--runs", "1", "--modes", "full,sharded,mediated"]


def test_the_joined_variant_runs_beside_mediated_and_calls_the_mediator_less(tmp_path, monkeypatch):
    import side_by_side

    _, argv = one_run_of_three_modes(tmp_path, monkeypatch)
    out, results = tmp_path / "run", tmp_path / "results"
    argv += ["--results", str(results), "--no-progress"]
    assert side_by_side.main([*argv, "--out", str(out)]) == 0
    assert side_by_side.main([*argv, "--out", str(out), "--joined"]) == 2  # the folder was run without the variant
    assert side_by_side.main([*argv, "--out", str(tmp_path / "run2"), "--joined"]) == 0
    table = json.loads((results / "side_by_side.json").read_text())["tables"]["lic"]
    assert list(table) == ["full", "sharded", "mediated", side_by_side.JOINED]
    joined, mediated = table[side_by_side.JOINED], table["mediated"]
    assert joined["P"] == mediated["P"] == 100.0  # the scripted Mediator joins the turns too
    # Every shard of these records only adds information: no Mediator call at all.
    assert joined["mediation"]["paths"] == {"joined": joined["mediation"]["turns"]}
    assert joined["mediator_prompt_tokens_per_conversation"] == 0 < mediated["mediator_prompt_tokens_per_conversation"]
    run = json.loads((tmp_path / "run2" / "lic" / "joined" / "run.json").read_text())
    assert run["config"]["join_additions"] == ["program"]
    assert "join_additions" not in json.loads((out / "lic" / "modes" / "run.json").read_text())["config"]
    assert "(100% joined)" in (results / "side_by_side.md").read_text()


def test_report_only_writes_the_tables_of_an_unfinished_run_without_running_anything(tmp_path, monkeypatch):
    import side_by_side

    engine, argv = one_run_of_three_modes(tmp_path, monkeypatch)
    out, results = tmp_path / "run", tmp_path / "results"
    argv += ["--out", str(out), "--results", str(results), "--no-progress"]
    assert side_by_side.main(argv) == 0
    # The run is cut short: the second record's conversations never finished.
    log = out / "lic" / "modes" / "trajectories.jsonl"
    kept = [line for line in log.read_text().splitlines() if json.loads(line)["task_id"] == RECORDS[0].task_id]
    log.write_text("\n".join(kept) + "\n")
    calls = len(engine.requests)
    assert side_by_side.main([*argv, "--report-only"]) == 0
    assert len(engine.requests) == calls
    data = json.loads((results / "side_by_side.json").read_text())
    assert data["sets"]["lic"]["conversations"] == {"finished": 3, "planned": 6}
    assert {mode: row["n"] for mode, row in data["tables"]["lic"].items()} == dict.fromkeys(
        ("full", "sharded", "mediated"), 1
    )
    assert (
        "### lic: 2 records (math); partial: 3 of 6 conversations finished" in (results / "side_by_side.md").read_text()
    )
    # Another configuration is refused in report-only mode as well.
    assert side_by_side.main([*argv[:5], "2", *argv[6:], "--report-only"]) == 2


def test_mode_table_bootstraps_recovery_over_instructions():
    from intent_mediator.simulation.trajectory import Trajectory
    from side_by_side import mode_table

    rows = []
    for i, (full, sharded, other) in enumerate([(100, 0, 100), (100, 0, 0), (100, 0, 100), (100, 0, 0)]):
        for mode, score in (("full", full), ("sharded", sharded), ("ergo", other)):
            rows.append(Trajectory(task_id=f"t{i}", task="math", mode=mode, run=0, score=score))
    rows.append(Trajectory(task_id="t9", task="math", mode="ergo", run=0, error="boom"))
    table = mode_table(rows, ["full", "sharded", "ergo"])
    assert table["ergo"]["recovery"] == 0.5 and table["ergo"]["errors"] == 1
    low, high = table["ergo"]["recovery_ci95"]
    assert 0.0 <= low < 0.5 < high <= 1.0
    assert "recovery" not in table["full"]


def test_cost_columns_leave_out_conversations_replayed_from_the_cache():
    from intent_mediator.simulation.trajectory import Trajectory, TurnRecord
    from side_by_side import mode_table

    turns = [
        TurnRecord(index=0, user="how much?", mediation="passthrough"),
        TurnRecord(index=1, user="pens at $2", mediation="rewrite"),
    ]
    ran = {"assistant": {"calls": 2, "prompt_tokens": 100}, "mediator": {"calls": 1, "prompt_tokens": 300}}
    # DSPy reports no usage for a cache hit: this conversation's Mediator call was replayed.
    replayed = {"assistant": {"calls": 2, "prompt_tokens": 100}}
    rows = [
        Trajectory(task_id="t0", task="math", mode="mediated", run=0, score=100, turns=turns, usage=ran),
        Trajectory(task_id="t0", task="math", mode="mediated", run=1, score=0, turns=turns, usage=replayed),
        Trajectory(task_id="t0", task="math", mode="full", run=0, score=100, turns=turns[:1], usage={}),
    ]
    # drop-assistant's first message is sharded's: its first reply comes back from the cache and is allowed.
    three = [TurnRecord(index=i, user=f"shard {i}") for i in range(3)]
    for run, calls in ((0, 2), (1, 1)):
        usage = {"assistant": {"calls": calls, "prompt_tokens": 50 * calls}}
        rows.append(
            Trajectory(task_id="t0", task="math", mode="drop-assistant", run=run, score=0, turns=three, usage=usage)
        )
    table = mode_table(rows, ["full", "mediated", "drop-assistant"])
    assert table["drop-assistant"]["cost_conversations"] == 1 and table["drop-assistant"]["calls_per_conversation"] == 2
    assert table["mediated"]["n"] == 2 and table["mediated"]["P"] == 50.0  # scores count every conversation
    assert table["mediated"]["cost_conversations"] == 1
    assert (
        table["mediated"]["calls_per_conversation"] == 3 and table["mediated"]["prompt_tokens_per_conversation"] == 400
    )
    assert table["full"]["cost_conversations"] == 0 and table["full"]["calls_per_conversation"] is None


def test_revision_records_are_the_ones_that_say_what_they_revise():
    from intent_mediator.data.records import Shard
    from side_by_side import revision_records

    plain = RECORDS[0]
    last = Shard(**{**plain.shards[-1].model_dump(), "revises": [1], "kind": "change"})
    revising = plain.model_copy(update={"shards": [*plain.shards[:-1], last]})
    assert revision_records([plain, revising]) == [revising]
    builtin = revision_records(load_records("builtin", tasks=["math"]))
    assert builtin and all(any(s.revises for s in r.shards) for r in builtin)


def test_split_keeps_the_revision_tasks_of_that_fixed_split_only():
    from intent_mediator.data.splits import split_ids
    from side_by_side import build_parser, load_sets

    args = build_parser().parse_args(["--no-lic", "--revision", "--split", "test", "--tasks", "math,code"])
    kept = [r.task_id for r in load_sets(args)["revision"]]
    test = {*split_ids("math", "test"), *split_ids("code", "test")}
    assert kept and set(kept) <= test and all(r.revisions for r in load_sets(args)["revision"])
    everything = load_sets(build_parser().parse_args(["--no-lic", "--revision", "--tasks", "math,code"]))
    assert {r.task_id for r in everything["revision"]} & test == set(kept)


def test_unknown_mode_is_a_one_line_error(capsys):
    import side_by_side

    assert side_by_side.main(["--modes", "full,magic", "--out", "x"]) == 2
    assert "unknown mode(s) ['magic']" in capsys.readouterr().err


def test_fact_loss_counts_what_a_request_or_an_ergo_prompt_dropped():
    from intent_mediator.facts import fact_loss_summary
    from intent_mediator.simulation.trajectory import Trajectory, TurnRecord
    from side_by_side import fact_checks

    record = RECORDS[0]
    said = [s.shard for s in record.shards]
    turns = [TurnRecord(index=i, user=s.shard, shard_id=s.shard_id) for i, s in enumerate(record.shards)]
    dropped_last = " ".join(said[:-1])  # the last shard's value is lost
    mediated = Trajectory(
        task_id=record.task_id,
        task="math",
        mode="mediated",
        run=0,
        turns=[*turns[:-1], turns[-1].model_copy(update={"request": dropped_last})],
    )
    ergo_turn = turns[-1].model_copy(update={"reset": {"prompt": " ".join(said)}})
    ergo = Trajectory(task_id=record.task_id, task="math", mode="ergo", run=0, turns=[*turns[:-1], ergo_turn])
    by_id = {record.task_id: record}
    assert fact_loss_summary(fact_checks([mediated], by_id))["lost"] >= 1
    assert fact_loss_summary(fact_checks([ergo], by_id))["lost"] == 0
    assert fact_checks([Trajectory(task_id="x", task="math", mode="sharded", run=0, turns=turns)], by_id) == {}


def test_the_shortfall_reads_the_fact_check_made_now_not_the_one_recorded_at_run_time():
    from intent_mediator.simulation.trajectory import Trajectory, TurnRecord
    from side_by_side import mode_table

    record = RECORDS[0]
    said = [s.shard for s in record.shards]
    turns = [TurnRecord(index=i, user=s.shard, shard_id=s.shard_id) for i, s in enumerate(record.shards)]
    # The run recorded no loss (an earlier check), but the last request dropped the last shard's value.
    last = turns[-1].model_copy(update={"request": " ".join(said[:-1]), "fact_loss": 0.0, "score": 0.0})
    failed = Trajectory(
        task_id=record.task_id, task="math", mode="mediated", run=0, turns=[*turns[:-1], last],
        outcome="unsolved", score=0.0,
    )  # fmt: skip
    now = mode_table([failed], ["mediated"], records={record.task_id: record})
    assert now["mediated"]["shortfall"]["lossy"] == 1 and now["mediated"]["shortfall"]["wrong"] == 0
    recorded = mode_table([failed], ["mediated"])  # without the records: the value recorded then
    assert recorded["mediated"]["shortfall"]["lossy"] == 0 and recorded["mediated"]["shortfall"]["wrong"] == 1


def test_the_shortfall_line_says_where_failed_mediated_conversations_lost():
    from intent_mediator.report import cut_off_failures, shortfall
    from intent_mediator.simulation.trajectory import Trajectory, TurnRecord
    from side_by_side import shortfall_line

    def conversation(task, mode, solved, loss, cut=False):
        turn = TurnRecord(index=0, user="u", kind="answer", score=1.0 if solved else 0.0, fact_loss=loss, cut_off=cut)
        outcome = "solved" if solved else "unsolved"
        return Trajectory(task_id=task, task="math", mode=mode, run=0, turns=[turn], outcome=outcome)

    # a: a complete request whose answer was cut off at the token cap; b: a request that lost a value.
    mediated = [conversation("a", "mediated", False, 0.0, cut=True), conversation("b", "mediated", False, 0.25)]
    mediated.append(conversation("c", "mediated", True, 0.0))
    full = [conversation("a", "full", False, None, cut=True), conversation("b", "full", True, None)]
    counts = shortfall(mediated, full)
    assert counts == {
        "failed": 2, "conversations": 3, "capped": 0, "lossy": 1, "unchecked": 0, "wrong": 1, "silent": 0,
        "cut_off": 1, "full_also_failed": 1,
    }  # fmt: skip
    assert shortfall_line("mediated", counts) == (
        "Where mediated fell short (2 of 3 conversations failed), read at the last request: kept every value and "
        "answered wrongly 1, not answered 0; 1 of these cut off at the token cap, 1 of them failed in full mode "
        "too; lost values 1; turn bound reached 0; no fact check 0."
    )
    mediated[0].turns[0].cut_off = None  # a run recorded before finish reasons were kept: unknown, left out
    assert cut_off_failures(mediated + full) == {
        "mediated": {"failed": 1, "cut_off": 0}, "full": {"failed": 1, "cut_off": 1}
    }  # fmt: skip
    assert shortfall(mediated[2:], full) is None  # nothing failed


def test_p_by_domain_averages_each_domains_instructions_per_mode():
    from types import SimpleNamespace

    from side_by_side import p_by_domain

    def t(task, task_id, mode, score, error=None):
        return SimpleNamespace(task=task, task_id=task_id, mode=mode, score=score, error=error)

    rows = [
        t("math", "m1", "mediated", 100.0),
        t("math", "m1", "mediated", 0.0),  # m1: 50
        t("math", "m2", "mediated", 100.0),  # m2: 100 -> math 75, whatever the run counts
        t("math", "m1", "sharded", 0.0),
        t("code", "c1", "mediated", 0.0, error="crashed"),  # an error is not a score
        t("code", "c1", "sharded", 100.0),
    ]
    assert p_by_domain(rows, ["sharded", "mediated"]) == {
        "code": {"sharded": 100.0, "mediated": None},
        "math": {"sharded": 0.0, "mediated": 75.0},
    }


def test_runs_of_disjoint_records_pool_into_one_table_and_overlapping_ones_are_refused(tmp_path, monkeypatch):
    import side_by_side
    import side_by_side_pooled
    from intent_mediator.commands import common

    engine = world()
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    lic = tmp_path / "lic.json"
    lic.write_text(json.dumps([r.to_record() for r in RECORDS]))
    modes = "full,sharded,mediated"
    base = ["--lic", str(lic), "--tasks", "math", "--runs", "1", "--modes", modes, "--no-progress"]
    base += ["--results", str(tmp_path / "results")]
    for part, limit in (("a", "1"), ("b", "2")):
        assert side_by_side.main([*base, "--limit", limit, "--out", str(tmp_path / part), "--name", part]) == 0
    # Part b holds both records, so it overlaps part a: refused, naming the shared record.
    with pytest.raises(ValueError, match=rf"records \['{RECORDS[0].task_id}'\] are also in"):
        side_by_side_pooled.pooled([tmp_path / "a", tmp_path / "b"], modes.split(","))
    # Part c: part b's run cut down to the second record, so a (the first record) and c are disjoint.
    config = json.loads((tmp_path / "b" / "side_by_side_config.json").read_text())
    # Its log still holds the first record's conversations too: only the records its config names are read.
    (tmp_path / "c" / "lic" / "modes").mkdir(parents=True)
    b_log = (tmp_path / "b" / "lic" / "modes" / "trajectories.jsonl").read_text()
    (tmp_path / "c" / "lic" / "modes" / "trajectories.jsonl").write_text(b_log)
    only_second = {**config, "records": {"lic": [RECORDS[1].task_id]}}
    (tmp_path / "c" / "side_by_side_config.json").write_text(json.dumps(only_second))
    result = side_by_side_pooled.pooled([tmp_path / "a", tmp_path / "c"], modes.split(","))
    table = result["tables"]["lic"]
    assert result["sets"]["lic"]["records"] == 2 and table["full"]["instructions"] == 2
    assert table["full"]["n"] == 2  # one run of each record, none counted twice
    assert {mode: row["P"] for mode, row in table.items()} == {"full": 100.0, "sharded": 0.0, "mediated": 100.0}
    assert table["mediated"]["recovery"] == 1.0
    other = {**only_second, "temperatures": {**config["temperatures"], "assistant": 0.2}}
    (tmp_path / "c" / "side_by_side_config.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match="temperatures differ"):
        side_by_side_pooled.pooled([tmp_path / "a", tmp_path / "c"], modes.split(","))
    # The same LiC file under another path (a part run in a clone) pools; another file's content does not.
    copy = tmp_path / "clone" / "lic.json"
    copy.parent.mkdir()
    copy.write_bytes(lic.read_bytes())
    (tmp_path / "c" / "side_by_side_config.json").write_text(json.dumps({**only_second, "lic": str(copy)}))
    assert side_by_side_pooled.pooled([tmp_path / "a", tmp_path / "c"], modes.split(","))["sets"]["lic"]["records"] == 2
    copy.write_text(json.dumps([r.to_record() for r in RECORDS[:1]]))
    with pytest.raises(ValueError, match="lic differ"):
        side_by_side_pooled.pooled([tmp_path / "a", tmp_path / "c"], modes.split(","))


def test_the_joined_variant_of_disjoint_runs_pools_too(tmp_path, monkeypatch):
    import side_by_side
    import side_by_side_pooled
    from intent_mediator.commands import common

    engine = world()
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    for part, record in (("a", RECORDS[0]), ("b", RECORDS[1])):
        lic = tmp_path / f"{part}.json"  # two files of different content: each part its own record
        lic.write_text(json.dumps([record.to_record()]))
        argv = ["--lic", str(lic), "--tasks", "math", "--runs", "2", "--modes", "full,sharded", "--joined"]
        argv += ["--no-progress", "--results", str(tmp_path / "results"), "--out", str(tmp_path / part)]
        assert side_by_side.main([*argv, "--name", part]) == 0
    with pytest.raises(ValueError, match="lic differ"):
        side_by_side_pooled.pooled([tmp_path / "a", tmp_path / "b"], ["full", "sharded", side_by_side.JOINED])
    both = tmp_path / "both.json"
    both.write_text(json.dumps([r.to_record() for r in RECORDS[:2]]))
    for part in ("a", "b"):
        config = json.loads((tmp_path / part / "side_by_side_config.json").read_text())
        (tmp_path / part / "side_by_side_config.json").write_text(json.dumps({**config, "lic": str(both)}))
    result = side_by_side_pooled.pooled([tmp_path / "a", tmp_path / "b"], ["full", "sharded", side_by_side.JOINED])
    joined = result["tables"]["lic"][side_by_side.JOINED]
    assert joined["instructions"] == 2 and joined["n"] == 4 and joined["P"] == 100.0
    with pytest.raises(ValueError, match=r"modes \['ergo'\] were not run"):
        side_by_side_pooled.pooled([tmp_path / "a", tmp_path / "b"], ["full", "ergo"])
