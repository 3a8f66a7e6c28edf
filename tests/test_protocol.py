"""The measurement protocol of Lost in Conversation: sampling, the simulated user, recap, the turn cap, run
fingerprints and resuming a run killed mid-write."""

import json

import dspy
import pytest
from intent_mediator import RoleLMs, ScriptedEngine, cli
from intent_mediator.commands import common
from intent_mediator.data.loaders import load_records
from intent_mediator.data.personas import get_persona
from intent_mediator.lm import DEFAULT_TEMPERATURES, ROLES
from intent_mediator.report import write_report
from intent_mediator.signatures.user import SimulateUserTurn
from intent_mediator.simulation.conversation import ConversationSettings, run_conversation
from intent_mediator.simulation.fingerprint import RunConfigError
from intent_mediator.simulation.runner import evaluate, simulate
from intent_mediator.simulation.trajectory import TrajectoryLog
from intent_mediator.tasks import get_task

RECORDS = load_records("builtin", tasks=["math"])[:2]
RECORD = RECORDS[0]  # bakery: 5 shards, gold 255
SHARDS = [s.shard for s in RECORD.shards]


def default_roles(engine: ScriptedEngine, *, cache: bool = False) -> RoleLMs:
    return RoleLMs(**{role: engine.lm(role, cache=cache, temperature=DEFAULT_TEMPERATURES[role]) for role in ROLES})


def revealing_user(call):
    """An LLM user that reveals the first unrevealed piece word for word."""
    piece = call.inputs["unrevealed"][0]
    return {"shard_id": piece["shard_id"], "message": piece["text"]}


@pytest.fixture
def memory_cache():
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)
    try:
        yield
    finally:
        dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)


# --- sampling -----------------------------------------------------------------------------------------------
def test_default_temperatures_follow_the_reference():
    roles = RoleLMs.from_models({}, default="openai/gpt-4o-mini")
    assert roles.temperatures() == {"assistant": 1.0, "mediator": 0.0, "user": 1.0, "judge": 0.0, "refiner": 0.0}


def test_temperature_flag_sets_the_sampled_roles_only_and_role_overrides_win():
    args = _evaluate_args(["--temperature", "0.5", "--role-temperature", "mediator=0.3"])
    temperatures = common.roles_from_args(args).temperatures()
    assert temperatures == {"assistant": 0.5, "mediator": 0.3, "user": 0.5, "judge": 0.0, "refiner": 0.0}
    assert common.roles_from_args(_evaluate_args([])).temperatures()["assistant"] == 1.0


def _evaluate_args(extra):
    import argparse

    from intent_mediator.commands.evaluate import configure_evaluate

    parser = argparse.ArgumentParser()
    configure_evaluate(parser)
    return parser.parse_args(["--out", "x", "--model", "openai/gpt-4o-mini", *extra])


def test_n_runs_are_n_distinct_requests_and_never_cache_hits(memory_cache):
    engine = ScriptedEngine()
    engine.on(role="assistant", reply="Could you tell me more?")
    engine.on(role="user", signature=SimulateUserTurn, reply=revealing_user)
    settings = ConversationSettings(roles=default_roles(engine, cache=True), user_sim="llm")
    simulate([RECORD], ["sharded"], 1, settings, workers=1)
    per_run = {role: len(engine.requests_for(role)) for role in ("assistant", "user")}
    assert per_run == {"assistant": 5, "user": 4}  # turn 1 is shard 1 verbatim, with no user call
    engine.reset()
    simulate([RECORD], ["sharded"], 4, settings, workers=2, skip={(RECORD.task_id, "sharded", 0)})
    # Runs 1-3 ask exactly the questions run 0 asked (the scripted model answers alike), yet each is a new
    # request: rollout_id=run keeps the samples apart in DSPy's cache.
    assert len(engine.requests_for("assistant")) == 3 * per_run["assistant"]
    assert len(engine.requests_for("user")) == 3 * per_run["user"]
    assert {r.temperature for r in engine.requests} == {1.0}
    engine.reset()
    simulate([RECORD], ["sharded"], 4, settings, workers=2)
    assert engine.requests == []  # a repeated run is its own cached sample


def test_at_temperature_zero_runs_collapse_into_one_sample(memory_cache):
    # The failure the defaults prevent: every run after the first is a cache hit of run 0.
    engine = ScriptedEngine()
    engine.on(role="assistant", reply="Could you tell me more?")
    roles = RoleLMs(**{role: engine.lm(role, cache=True, temperature=0.0) for role in ROLES})
    simulate([RECORD], ["sharded"], 3, ConversationSettings(roles=roles), workers=1)
    assert len(engine.requests_for("assistant")) == 5


@pytest.mark.parametrize(("temperature", "factor"), [(0.0, 1), (1.0, 2)])
def test_the_mediator_is_deterministic_by_default_and_sampled_per_run_when_asked(memory_cache, temperature, factor):
    engine = ScriptedEngine()
    engine.on(role="mediator", reply=lambda call: {"request": " ".join(call.user_turns())})
    engine.on(role="assistant", reply="Could you tell me more?")
    roles = default_roles(engine, cache=True)
    roles.mediator = engine.lm("mediator", cache=True, temperature=temperature)
    simulate([RECORD], ["mediated"], 1, ConversationSettings(roles=roles), workers=1)
    once = len(engine.requests_for("mediator"))
    simulate(
        [RECORD], ["mediated"], 2, ConversationSettings(roles=roles), workers=1, skip={(RECORD.task_id, "mediated", 0)}
    )
    assert len(engine.requests_for("mediator")) == once * factor
    assert len(engine.requests_for("assistant")) == 2 * 5  # the assistant samples every run either way


# --- the simulated user -------------------------------------------------------------------------------------
def test_llm_user_sees_revealed_and_unrevealed_shards():
    engine = ScriptedEngine()
    engine.on(role="assistant", reply="Could you tell me more?")
    engine.on(role="user", signature=SimulateUserTurn, reply=revealing_user)
    run_conversation(RECORD, "sharded", 0, ConversationSettings(roles=default_roles(engine), user_sim="llm"))
    calls = engine.requests_for("user")
    second = _inputs(calls[1])
    assert [p["text"] for p in second["revealed"]] == SHARDS[:2]
    assert [p["text"] for p in second["unrevealed"]] == SHARDS[2:]


def _inputs(request):
    text = request.messages[-1]["content"]
    fields = {}
    for name in ("revealed", "unrevealed"):
        start = text.index(f"[[ ## {name} ## ]]") + len(f"[[ ## {name} ## ]]")
        fields[name] = json.JSONDecoder().raw_decode(text[start:].lstrip())[0]
    return fields


@pytest.mark.parametrize("task", ["data2text", "summary", "translation"])
def test_document_shards_are_revealed_verbatim_without_the_llm_user(shared_lic, task):
    source = "sharded_translation.json" if task == "translation" else "sample_5_per_task.json"
    record = load_records(shared_lic / source, tasks=[task])[0]
    engine = ScriptedEngine()
    engine.on(role="assistant", reply="Here is my attempt.")
    settings = ConversationSettings(
        roles=default_roles(engine),
        user_sim="llm",
        persona=get_persona("explicit"),
        metric=lambda example, pred: 0.0,  # this test is about the user turns, not about scoring
    )
    trajectory = run_conversation(record, "sharded", 0, settings)
    expected = [get_task(task).shard_text(record, shard) for shard in record.shards]
    assert [turn.user for turn in trajectory.turns] == expected
    assert engine.requests_for("user") == []  # no rewording call, and no persona template either


# --- recap and the turn cap ---------------------------------------------------------------------------------
def test_recap_runs_after_a_solved_sharded_part_and_is_scored_on_the_recap_turn():
    engine = ScriptedEngine()
    # Solves as soon as shard 4 is in view, but answers the recap with a question.
    engine.on(role="assistant", reply=lambda c: "Anything else?" if "To sum up" in c.last_user else "The total is 255.")
    t = run_conversation(RECORD, "recap", 0, ConversationSettings(roles=default_roles(engine)))
    assert t.turns[0].score == 1.0 and t.turns[-1].user.startswith("To sum up")
    assert len(t.turns) == 2 and t.score == 0.0 and t.outcome == "unsolved"


def test_with_the_cache_recap_run_k_replays_sharded_run_k_and_adds_its_turn(memory_cache):
    engine = ScriptedEngine()
    engine.on(role="assistant", reply="Could you tell me more?")
    engine.on(role="user", signature=SimulateUserTurn, reply=revealing_user)
    settings = ConversationSettings(roles=default_roles(engine, cache=True), user_sim="llm")
    sharded = {t.run: t for t in simulate([RECORD], ["sharded"], 2, settings, workers=1)}
    engine.reset()
    recap = {t.run: t for t in simulate([RECORD], ["recap"], 2, settings, workers=1)}
    assert len(engine.requests) == 2 and {r.role for r in engine.requests} == {"assistant"}  # the recap turns
    for run in (0, 1):
        assert recap[run].turns[:-1] == sharded[run].turns


def test_turn_capped_conversations_are_recorded_and_counted_in_the_report(tmp_path):
    engine = ScriptedEngine()
    engine.on(role="assistant", reply="Could you tell me more?")
    engine.on(role="user", signature=SimulateUserTurn, reply={"shard_id": 0, "message": "dunno"})
    settings = ConversationSettings(roles=default_roles(engine), user_sim="llm", max_turns=3)
    result = evaluate(RECORDS, ["full", "sharded"], 2, tmp_path, settings, workers=2, progress=False)
    rows = TrajectoryLog(tmp_path / "trajectories.jsonl").read()
    assert {t.mode for t in rows if t.turn_capped} == {"sharded"}
    assert all(len(t.turns) == 3 for t in rows if t.mode == "sharded")
    assert result.summary["turn_capped"] == {"sharded": 4}
    write_report(tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "Ended by the turn cap with shards unrevealed: sharded 4/4" in report
    assert "assistant scripted/assistant at 1.0" in report and "user simulator llm" in report


# --- run fingerprints and resume ----------------------------------------------------------------------------
def test_run_json_and_each_trajectory_hold_the_configuration(tmp_path):
    engine = ScriptedEngine(default="The total is 255.")
    evaluate(RECORDS, ["full"], 1, tmp_path, ConversationSettings(roles=default_roles(engine)), progress=False)
    run = json.loads((tmp_path / "run.json").read_text())
    config = run["config"]
    assert config["temperatures"]["assistant"] == 1.0 and config["models"]["judge"] == "scripted/judge"
    assert {"persona", "user_sim", "classifier", "llm_extraction", "guidelines_hash", "program_hash"} <= set(config)
    assert config["dspy_version"] == dspy.__version__ and config["mediator_history"] == "incremental"
    assert set(run["records"]) == {r.task_id for r in RECORDS}
    for trajectory in TrajectoryLog(tmp_path / "trajectories.jsonl").read():
        assert trajectory.fingerprint["persona"] == "lazy"
        assert trajectory.fingerprint["record"] == run["records"][trajectory.task_id]


def test_a_resume_with_another_configuration_is_refused_naming_the_fields(tmp_path):
    engine = ScriptedEngine(default="The total is 255.")
    settings = ConversationSettings(roles=default_roles(engine))
    evaluate(RECORDS, ["full"], 1, tmp_path, settings, progress=False)
    before = (tmp_path / "trajectories.jsonl").read_text()
    other = ConversationSettings(roles=default_roles(engine), persona=get_persona("explicit"), mediator_history="full")
    with pytest.raises(RunConfigError) as caught:
        evaluate(RECORDS, ["full", "sharded"], 2, tmp_path, other, progress=False)
    message = str(caught.value)
    assert "\n" not in message and "run.json" in message
    assert 'persona: "lazy" -> "explicit"' in message and 'mediator_history: "incremental" -> "full"' in message
    assert (tmp_path / "trajectories.jsonl").read_text() == before  # nothing was run or lost
    # More modes, runs and records with the same configuration extend the folder.
    more = load_records("builtin", tasks=["math"])[:3]
    assert evaluate(more, ["full", "sharded"], 2, tmp_path, settings, progress=False).skipped == 2


def test_a_resume_with_another_mediator_prompt_layout_is_refused(tmp_path):
    from intent_mediator import MediatedAssistant

    engine = ScriptedEngine(default="The total is 255.")
    settings = ConversationSettings(roles=default_roles(engine))
    evaluate(RECORDS, ["full"], 1, tmp_path, settings, progress=False)
    dspy_layout = MediatedAssistant()
    dspy_layout.mediator.lean = False  # the same program state, sent through DSPy's own adapter
    other = ConversationSettings(roles=default_roles(engine), program=dspy_layout)
    with pytest.raises(RunConfigError, match='mediator_layout: "LeanChatAdapter" -> "ChatAdapter"'):
        evaluate(RECORDS, ["full"], 1, tmp_path, other, progress=False)


def test_a_folder_made_before_the_layout_was_recorded_resumes_with_the_layout_it_had(tmp_path):
    from intent_mediator.simulation.fingerprint import layout_before_recorded

    engine = ScriptedEngine(default="The total is 255.")
    settings = ConversationSettings(roles=default_roles(engine))
    evaluate(RECORDS[:1], ["full"], 1, tmp_path, settings, progress=False)
    run_file = tmp_path / "run.json"
    stored = json.loads(run_file.read_text())
    del stored["config"]["mediator_layout"]  # as written before the key existed
    run_file.write_text(json.dumps(stored))
    assert evaluate(RECORDS[:1], ["full"], 1, tmp_path, settings, progress=False).skipped == 1  # lean chat then too
    assert layout_before_recorded("embedded/qwen2.5-coder-1.5b") == "JSONAdapter"  # the embedded layout changed
    assert layout_before_recorded("openai/gpt-4o-mini") == "LeanChatAdapter"


def test_a_folder_made_before_the_mediator_revision_was_recorded_is_refused_and_a_new_revision_too(
    monkeypatch, tmp_path
):
    from intent_mediator.programs.mediator import Mediator

    engine = ScriptedEngine(default="The total is 255.")
    engine.on(role="mediator", reply=lambda call: {"request": " ".join(call.user_turns())})
    settings = ConversationSettings(roles=default_roles(engine))
    evaluate(RECORDS[:1], ["mediated"], 1, tmp_path, settings, progress=False)
    run_file = tmp_path / "run.json"
    stored = json.loads(run_file.read_text())
    assert stored["config"]["mediator_revision"] == Mediator.behaviour_revision
    assert evaluate(RECORDS[:1], ["mediated"], 1, tmp_path, settings, progress=False).skipped == 1
    del stored["config"]["mediator_revision"]  # as written before the key existed: the Mediator of revision 1
    run_file.write_text(json.dumps(stored))
    with pytest.raises(RunConfigError, match=f"mediator_revision: 1 -> {Mediator.behaviour_revision}.*new output"):
        evaluate(RECORDS[:1], ["full"], 1, tmp_path, settings, progress=False)  # the folder holds mediated runs
    fresh = tmp_path / "fresh"
    evaluate(RECORDS[:1], ["mediated"], 1, fresh, settings, progress=False)
    only_full = tmp_path / "only-full"
    evaluate(RECORDS[:1], ["full", "sharded"], 1, only_full, settings, progress=False)
    monkeypatch.setattr(Mediator, "behaviour_revision", Mediator.behaviour_revision + 1)
    with pytest.raises(RunConfigError, match="mediator_revision"):
        evaluate(RECORDS[:1], ["mediated"], 1, fresh, settings, progress=False)
    # No conversation of this folder, done or to come, goes through the Mediator: it resumes.
    assert evaluate(RECORDS[:1], ["full", "sharded"], 1, only_full, settings, progress=False).skipped == 2
    recorded = json.loads((only_full / "run.json").read_text())["config"]["mediator_revision"]
    assert recorded == Mediator.behaviour_revision  # so mediated runs added later are of the revision recorded


def test_a_resume_after_a_scorer_fix_is_refused_for_that_task_only(monkeypatch, tmp_path):
    from intent_mediator.tasks.actions import ActionsTask
    from intent_mediator.tasks.math import MathTask

    engine = ScriptedEngine(default="The total is 255.")
    settings = ConversationSettings(roles=default_roles(engine))
    actions = load_records("builtin", tasks=["actions"])[:1]
    monkeypatch.setattr(ActionsTask, "scoring_revision", 1)
    evaluate([*RECORDS[:1], *actions], ["full"], 1, tmp_path, settings, progress=False)
    monkeypatch.setattr(ActionsTask, "scoring_revision", 2)  # the scorer was fixed since
    with pytest.raises(RunConfigError, match="actions scorer: revision 1 -> 2"):
        evaluate(actions, ["full"], 1, tmp_path, settings, progress=False)
    assert evaluate(RECORDS[:1], ["full"], 1, tmp_path, settings, progress=False).skipped == 1  # math unchanged
    run = json.loads((tmp_path / "run.json").read_text())
    # What the finished conversations were scored under.
    assert run["scoring"] == {"math": MathTask.scoring_revision, "actions": 1}


def test_a_record_whose_content_changed_is_refused(tmp_path):
    engine = ScriptedEngine(default="The total is 255.")
    settings = ConversationSettings(roles=default_roles(engine))
    evaluate(RECORDS, ["full"], 1, tmp_path, settings, progress=False)
    edited = RECORDS[0].model_copy(update={"fields": {**RECORDS[0].fields, "answer": "#### 256"}})
    with pytest.raises(RunConfigError, match=f"record {RECORDS[0].task_id}: content changed"):
        evaluate([edited], ["full"], 1, tmp_path, settings, progress=False)


def test_cli_refuses_a_changed_resume_with_exit_2_and_one_line(monkeypatch, tmp_path, capsys):
    engine = ScriptedEngine(default="The total is 255.")
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: default_roles(engine))
    base = ["evaluate", "--tasks", "math", "--limit", "1", "--modes", "full", "--out", str(tmp_path), "--no-progress"]
    assert cli.main(base) == 0
    capsys.readouterr()
    assert cli.main([*base, "--classifier", "llm"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'classifier: "rules" -> "llm"' in err


def test_a_folder_with_results_but_no_run_json_is_refused(tmp_path):
    engine = ScriptedEngine(default="The total is 255.")
    settings = ConversationSettings(roles=default_roles(engine))
    evaluate(RECORDS, ["full"], 1, tmp_path, settings, progress=False)
    (tmp_path / "run.json").unlink()
    with pytest.raises(RunConfigError, match=r"no run\.json"):
        evaluate(RECORDS, ["full"], 1, tmp_path, settings, progress=False)


def test_a_torn_last_line_is_dropped_and_its_conversation_rerun(tmp_path):
    engine = ScriptedEngine(default="The total is 255.")
    settings = ConversationSettings(roles=default_roles(engine))
    evaluate(RECORDS, ["full"], 1, tmp_path, settings, progress=False)
    path = tmp_path / "trajectories.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    torn_key = json.loads(lines[-1])["task_id"]
    path.write_text(lines[0] + lines[1][: len(lines[1]) // 2])  # killed half-way through the second line
    log = TrajectoryLog(path)
    assert [t.task_id for t in log.read()] == [json.loads(lines[0])["task_id"]]
    again = evaluate(RECORDS, ["full"], 1, tmp_path, settings, progress=False)
    assert (again.new, again.skipped) == (1, 1)
    rows = [json.loads(line) for line in path.read_text().splitlines()]  # every line parses again
    assert sorted(r["task_id"] for r in rows) == sorted(r.task_id for r in RECORDS)
    assert rows[-1]["task_id"] == torn_key


def test_a_bad_line_in_the_middle_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "trajectories.jsonl"
    path.write_text('{"task_id": "a", "task": "math", "mode": "full", "run": 0}\n{"task_id": \n{}\n')
    with pytest.raises(ValueError, match=r"trajectories.jsonl:2: not a JSON line"):
        TrajectoryLog(path).read()


def test_compile_writes_its_fingerprint_and_refuses_a_changed_storage_resume(monkeypatch, tmp_path, capsys):
    from intent_mediator.testing.refiner_world import world

    engine = world()
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    argv = ["compile", "--user", "alice", "--domain", "math", "--tasks", "math", "--limit", "4", "--rounds", "1"]
    argv += ["--candidates", "1", "--out", str(tmp_path), "--no-progress", "--storage", f"sqlite:///{tmp_path}/s.db"]
    assert cli.main(argv) == 0
    run = json.loads((tmp_path / "alice" / "math" / "run.json").read_text())
    assert run["config"]["command"] == "compile" and run["config"]["optimizer"] == "refiner"
    assert run["config"]["models"]["refiner"] == "scripted/refiner" and len(run["records"]) == 4
    capsys.readouterr()
    assert cli.main([*argv, "--persona", "explicit"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'persona: "lazy" -> "explicit"' in err
    # Without --storage nothing is resumed: a new compile replaces the artifact and its run.json.
    fresh = [a for a in argv if a not in ("--storage", f"sqlite:///{tmp_path}/s.db")]
    # ... but only once it succeeds: a compile that fails leaves run.json describing the artifact still there.
    before = (tmp_path / "alice" / "math" / "run.json").read_text()
    engine.rules[1].reply = lambda call: (_ for _ in ()).throw(ConnectionError("upstream down"))  # the assistant
    assert cli.main([*fresh, "--persona", "explicit"]) == 2
    assert (tmp_path / "alice" / "math" / "run.json").read_text() == before
    engine = world()
    assert cli.main([*fresh, "--persona", "explicit"]) == 0


def test_the_server_each_role_calls_is_part_of_the_fingerprint_and_only_when_there_is_one():
    from intent_mediator.lm import build_lm
    from intent_mediator.simulation.fingerprint import differences, settings_fingerprint

    def on(base):
        lm = build_lm("openai/same-name", api_base=base, cache=False)
        return settings_fingerprint(ConversationSettings(roles=RoleLMs(assistant=lm)))

    first, second = on("http://user:secret@127.0.0.1:8001/v1"), on("http://127.0.0.1:8002/v1")
    assert first["endpoints"]["assistant"] == "http://127.0.0.1:8001/v1"  # never the credentials
    assert differences(first, second) == [
        'endpoints.assistant: "http://127.0.0.1:8001/v1" -> "http://127.0.0.1:8002/v1"'
    ]
    scripted = settings_fingerprint(ConversationSettings(roles=default_roles(ScriptedEngine())))
    assert "endpoints" not in scripted  # folders run without a server of their own resume as before


def test_a_folder_run_with_a_server_before_servers_were_recorded_resumes(tmp_path):
    from intent_mediator.lm import build_lm
    from intent_mediator.simulation.fingerprint import check_and_write, settings_fingerprint

    lm = build_lm("openai/same-name", api_base="http://127.0.0.1:8001/v1", cache=False)
    config = settings_fingerprint(ConversationSettings(roles=RoleLMs(assistant=lm)))
    check_and_write(tmp_path, {k: v for k, v in config.items() if k != "endpoints"})  # as an older version wrote it
    assert check_and_write(tmp_path, config)["config"]["endpoints"]["assistant"] == "http://127.0.0.1:8001/v1"
    other = {**config, "endpoints": {**config["endpoints"], "assistant": "http://127.0.0.1:8002/v1"}}
    with pytest.raises(RunConfigError, match=r"endpoints\.assistant"):  # once recorded, a change is refused
        check_and_write(tmp_path, other)
