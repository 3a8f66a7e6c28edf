"""`intent-mediator demo` on a scripted world: the fixed subset, the compiled Mediator, the conversation chosen
by its rule, the table and the report, all read from what the run measured."""

import io

import pytest
from intent_mediator import MediatedAssistant, RoleLMs, ScriptedEngine, artifacts, cli
from intent_mediator.artifacts import save_artifact
from intent_mediator.commands import common, demo
from intent_mediator.data.splits import load_split

TEST = sorted(load_split("math", "test"), key=lambda r: r.task_id)[:2]  # the demo's documented subset
EASY, HARD = TEST  # EASY is solved from its last shard alone; HARD only from every shard at once
RULE = "Restate every shard the user gave."


def gold(record) -> str:
    return record["answer"].split("####")[-1].strip()


def world() -> ScriptedEngine:
    """The assistant answers right when its last message holds the whole task (or, for EASY, its last shard);
    the compiled Mediator (it sees RULE) restates every user turn; the generic one shouts them (every value kept,
    so its check passes, but the assistant no longer recognises the task)."""
    engine = ScriptedEngine()

    def mediator(call):
        turns = call.user_turns()
        return {"request": " ".join(turns) if RULE in call.system else " ".join(turns).upper()}

    def assistant(call):
        message = call.last_user
        for record in TEST:
            whole = record["question"] in message or all(s.shard in message for s in record.shards)
            if whole or (record is EASY and record.shards[-1].shard in message):
                return f"Working it out step by step, the answer is {gold(record)}."
        return "Could you tell me more about what you need?"

    engine.on(role="mediator", reply=mediator)
    engine.on(role="assistant", reply=assistant)
    return engine


@pytest.fixture
def scripted(monkeypatch, tmp_path):
    engine = world()
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    shipped = tmp_path / "shipped"
    save_artifact(MediatedAssistant([RULE]), shipped / "scripted_mediator", domain="math")
    monkeypatch.setattr(artifacts, "SHIPPED_ROOT", shipped)
    return shipped


def run_demo(argv: list[str]) -> str:
    """The demo on the scripted world, which knows the first 2 test tasks (EASY and HARD) only."""
    stdout = io.StringIO()
    args = cli.build_parser().parse_args(["demo", "--no-progress", "--first", "2", *argv])
    assert demo.run(args, stdout=stdout) == 0
    return stdout.getvalue()


def test_by_default_the_demo_runs_the_first_3_test_tasks_in_id_order_twice():
    args = cli.build_parser().parse_args(["demo"])
    assert (args.first, args.runs, args.modes) == (3, 2, "full,sharded,mediated")
    first = [r.task_id for r in demo.demo_records(args.domain, args.first)]
    assert first == sorted(r.task_id for r in load_split("math", "test"))[:3]


def test_demo_shows_the_chosen_conversation_then_the_table_and_report(scripted, tmp_path):
    out = run_demo(["--out", str(tmp_path / "demo"), "--no-join-additions"])  # every follow-up rewritten
    lines = out.splitlines()
    assert "mediated: the compiled Mediator shipped for scripted/mediator (1 rules)" in lines
    assert f"  artifact: {scripted / 'scripted_mediator' / '_generic' / 'math'}" in lines
    assert f"(the first 2 in id order: {EASY.task_id}, {HARD.task_id}) x 3 modes" in out
    assert "= 12 conversations on scripted/assistant" in out
    # The rule: EASY's sharded run succeeded, so the first task where sharded failed and mediated won is HARD.
    header = f"=== One conversation: {HARD.task_id}, run 0 (the first task (id order) and run where sharded failed"
    assert any(line.startswith(header) for line in lines)
    shards = [f"  {i}. {s.shard}" for i, s in enumerate(HARD.shards, start=1)]
    start = lines.index("The user, turn by turn (sharded mode):") + 1
    assert lines[start : start + len(shards)] == shards
    sharded = next(line for line in lines if line.startswith("Sharded: the assistant's answer"))
    assert sharded.endswith("no answer attempted (clarification): score 0")
    answer = next(line for line in lines if line.startswith("Mediated: the assistant's answer"))
    assert f"score 100 ({gold(HARD)} matches the gold answer {gold(HARD)})" in answer
    request = lines[
        lines.index(
            f"Mediated: the Mediator's request (user turn {len(HARD.shards)} of {len(HARD.shards)}; "
            "the Mediator's rewrite, which passed the fact check)"
        )
        + 1
    ]
    assert HARD.shards[0].shard[:40] in request  # the compiled Mediator restated the first shard at the end
    assert "Conversation scores: sharded 0, mediated 100" in out
    assert "Where mediated fell short" not in out  # every mediated conversation was solved
    # Both tasks are solved at their last turn, so every follow-up of the 4 mediated conversations was rewritten.
    rewritten = 2 * (len(EASY.shards) - 1 + len(HARD.shards) - 1)
    assert (
        f"Mediated requests after the first turn: {rewritten}, 0 joined without a Mediator call, {rewritten} through "
        f"the Mediator's LM (rewrite {rewritten}) in 4 of 4 conversations: only there can its rules, compiled or not, "
        "change the request"
    ) in lines
    # Then the table, with what was measured: full 100, sharded 50 (EASY only), mediated 100 -> recovery 1.
    table = out[out.index("=== Results: 12 conversations, mediated with") :]
    rows = {line.split()[0]: line.split() for line in table.splitlines()[1:5]}
    assert rows["full"][3] == "100.0" and rows["sharded"][3] == "50.0" and rows["mediated"][3] == "100.0"
    assert "recovery: math 1.00, overall 1.00" in table
    assert f"report: {tmp_path / 'demo' / 'report.md'} and {tmp_path / 'demo' / 'report.html'}; charts: " in out
    assert (tmp_path / "demo" / "report.html").is_file()
    assert "12 conversations run now (0 resumed" in out
    whole = len(load_split("math", "test"))
    assert (
        "4 conversations per mode: one conversation moves a mode's P by about 25 points; every math test task, 3 runs: "
        f"intent-mediator demo --first {whole} --runs 3 --out runs/demo-all ({whole * 9} conversations)"
    ) in lines
    again = run_demo(["--out", str(tmp_path / "demo"), "--no-join-additions"])  # resumed: nothing rerun, same table
    assert "0 conversations run now (12 resumed" in again and "recovery: math 1.00, overall 1.00" in again


def test_without_a_compiled_artifact_the_demo_says_so_and_falls_back_to_the_first_task(scripted, tmp_path):
    (scripted / "scripted_mediator" / "_generic" / "math" / "program.json").unlink()
    out = run_demo(["--out", str(tmp_path / "demo"), "--runs", "1", "--no-join-additions"])
    assert "mediated: no compiled math artifact ships for scripted/mediator: using the generic Mediator" in out
    # The generic Mediator's requests fail where sharded fails: the rule falls back to the first task.
    assert f"=== One conversation: {EASY.task_id}, run 0 (no run had sharded fail and mediated succeed" in out
    assert "recovery: math -1.00, overall -1.00" in out  # it even lost EASY, which sharded solved
    assert "=== Results: 6 conversations, mediated with the generic Mediator ===" in out
    # Both mediated conversations failed on complete requests (every value kept): the reply, not the request.
    assert "Where mediated fell short (2 of 2 mediated conversations failed):" in out
    assert (
        "  2: the last request kept every value the user gave; the assistant's reply to it was a wrong answer in 0 "
        "and no answer attempt in 2; 0 of these 2 also failed in full mode, from the fully specified instruction"
    ) in out
    assert "lost values" not in out


def test_by_default_additive_turns_go_as_typed_without_a_mediator_call(scripted, tmp_path, monkeypatch):
    engine = world()
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    out = run_demo(["--out", str(tmp_path / "demo"), "--runs", "1", "--generic"])
    assert "turns that only add information joined without a Mediator call" in out
    # The generic Mediator would shout every request (the test above); joined, the shards arrive as typed.
    assert engine.requests_for("mediator") == []
    follow_ups = len(EASY.shards) - 1 + len(HARD.shards) - 1
    assert (
        f"Mediated requests after the first turn: {follow_ups}, {follow_ups} joined without a Mediator call; none "
        "went to the Mediator's LM, so its rules (compiled or not) changed no request here"
    ) in out
    assert "mediated  100.0" in out and "Mediator's request (user turn" in out and "no Mediator call" in out


def test_bad_demo_flags_are_one_line_errors(scripted, capsys):
    assert cli.main(["demo", "--first", "0"]) == 2
    assert "--first must be at least 1" in capsys.readouterr().err
    assert cli.main(["demo", "--domain", "poetry"]) == 2
    assert "--domain poetry: no split for domain 'poetry'" in capsys.readouterr().err
    assert cli.main(["demo", "--modes", "full,nope"]) == 2
    assert "unknown mode(s) ['nope']" in capsys.readouterr().err


def test_demo_runs_are_distinct_samples_of_the_assistant_with_a_deterministic_mediator(monkeypatch, tmp_path):
    """Two runs per mode only measure spread (A90, U90_10) if the assistant samples; the Mediator and the judge
    stay at temperature 0."""
    monkeypatch.setattr(artifacts, "SHIPPED_ROOT", tmp_path)
    args = cli.build_parser().parse_args(["demo", "--model", "openai/gpt-4o-mini"])
    settings, mediator = demo.settings_for(args, "math", io.StringIO())
    temperatures = settings.roles.temperatures()
    assert temperatures["assistant"] == 1.0 and temperatures["mediator"] == temperatures["judge"] == 0.0
    assert mediator == "the generic Mediator" and args.runs == 2 and settings.mediator_history == "incremental"


def test_the_shortfall_tells_lost_values_from_wrong_answers_to_complete_requests():
    from intent_mediator.simulation.trajectory import Trajectory, TurnRecord

    def conversation(task, mode, solved, losses=(None,), score=0.0, capped=False):
        turns = [TurnRecord(index=i, user="u", kind="answer", score=score, fact_loss=x) for i, x in enumerate(losses)]
        outcome = "solved" if solved else "unsolved"
        return Trajectory(
            task_id=task, task="math", mode=mode, run=0, turns=turns, score=100 * solved, outcome=outcome,
            turn_capped=capped,
        )  # fmt: skip

    wrong_then_lossy = conversation("a", "mediated", False, losses=(0.0, 0.5))
    wrong_then_lossy.turns[1].score = None  # a wrong answer at turn 1, then a clarification on a lossy request
    mediated = [
        wrong_then_lossy,  # read at its last request: lost values
        conversation("b", "mediated", False, losses=(0.0,)),  # complete request, wrong answer; full failed too
        conversation("c", "mediated", True, losses=(0.0,), score=1.0),
        conversation("d", "mediated", False, losses=(0.0,), capped=True),
        conversation("e", "mediated", False, losses=(None,)),
    ]
    full = [conversation("b", "full", False), conversation("c", "full", True, score=1.0)]
    stdout = io.StringIO()
    demo.print_shortfall(mediated + full, stdout)
    assert stdout.getvalue().splitlines()[1:] == [
        "Where mediated fell short (4 of 5 mediated conversations failed):",
        "  1: the last request kept every value the user gave; the assistant's reply to it was a wrong answer in 1 "
        "and no answer attempt in 0; 1 of these 1 also failed in full mode, from the fully specified instruction",
        "  1: the last request lost values the user gave (fact loss above 0)",
        "  1: the turn bound ended the conversation before every shard was said",
        "  1: the last turn has no fact check recorded",
    ]
    stdout = io.StringIO()
    demo.print_shortfall(mediated, stdout)  # without full mode, nothing is said about it
    assert (
        "full mode" not in stdout.getvalue() and "a wrong answer in 1 and no answer attempt in 0\n" in stdout.getvalue()
    )


def test_the_demo_says_how_many_failed_conversations_ended_on_a_reply_cut_at_the_cap(scripted, tmp_path, monkeypatch):
    from dataclasses import replace

    engine = world()

    def capped(args, roles=None):  # the scripted roles, with the assistant capped at --max-tokens as the demo's are
        lm = engine.lm("assistant", temperature=args.temperature, max_tokens=args.max_tokens)
        return replace(RoleLMs.scripted(engine), assistant=lm)

    monkeypatch.setattr(common, "roles_from_args", capped)
    # At 11 tokens (44 characters) the assistant's questions fit, but every worked answer is cut before its number.
    out = run_demo(["--out", str(tmp_path / "demo"), "--max-tokens", "11"])
    assert "replies capped at 11 tokens" in out
    line = next(line for line in out.splitlines() if line.startswith("Failed conversations whose last reply"))
    assert line == (
        "Failed conversations whose last reply was cut off at the 11-token cap (scored as not solved): "
        "full 4 of 4, sharded 2 of 4, mediated 4 of 4 (--max-tokens raises the cap)"
    )
    assert "(4 of them cut off at the token cap)" in out  # in where mediated fell short


def test_demo_at_scale_tables_the_demo_folder_with_intervals(scripted, tmp_path):
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import demo_at_scale

    folder, results = tmp_path / "demo", tmp_path / "results"
    printed = run_demo(["--out", str(folder), "--modes", "full,sharded,drop-assistant,mediated"])
    whole = len(load_split("math", "test"))
    assert (
        "every math test task, 3 runs: intent-mediator demo --modes full,sharded,drop-assistant,mediated "
        f"--first {whole} --runs 3 --out runs/demo-all ({whole * 12} conversations)"
    ) in printed
    argv = ["--out", str(folder), "--name", "scale", "--results", str(results), "--report-only"]
    assert demo_at_scale.main(argv) == 0
    data = json.loads((results / "scale.json").read_text())
    table = data["tables"]["test"]
    assert list(table) == ["full", "sharded", "drop-assistant", "mediated"]
    # What the scripted world gives (see the first test): full 100, sharded 50, mediated 100 on 2 tasks x 2 runs.
    assert table["full"]["P"] == 100.0 and table["sharded"]["P"] == 50.0 and table["mediated"]["P"] == 100.0
    assert table["mediated"]["recovery"] == 1.0 and table["mediated"]["n"] == 4
    assert data["sets"]["test"]["conversations"] == {"finished": 16, "planned": 16}
    assert "| mediated | 100.0 [100.0, 100.0] |" in (results / "scale.md").read_text()
    assert demo_at_scale.main(["--out", str(tmp_path / "empty"), "--report-only", "--results", str(results)]) == 2
    (tmp_path / "artifact").mkdir()
    (tmp_path / "artifact" / "run.json").write_text(json.dumps({"config": {"command": "compile"}, "records": {}}))
    assert demo_at_scale.main(["--out", str(tmp_path / "artifact"), "--report-only", "--results", str(results)]) == 2


def test_mediation_by_task_counts_each_tasks_follow_ups_by_path(scripted, tmp_path, monkeypatch):
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import _results
    import mediation_by_task

    monkeypatch.setattr(_results, "RESULTS", tmp_path / "results")
    run_demo(["--out", str(tmp_path / "joined"), "--runs", "1"])
    run_demo(["--out", str(tmp_path / "every"), "--runs", "1", "--no-join-additions"])
    for folder, path in (("joined", "joined"), ("every", "rewrite")):
        assert mediation_by_task.main(["--run", str(tmp_path / folder), "--name", folder]) == 0
        tables = json.loads((tmp_path / "results" / f"{folder}.json").read_text())["tables"]["mediated"]
        for record in (EASY, HARD):  # one run, solved only at the last turn: every shard after the first said
            row = tables[record.task_id]
            assert row["conversations"] == 1 and row["turns"] == len(record.shards) - 1
            assert row["paths"] == {path: len(record.shards) - 1}
            assert row["through_lm"] == (0 if path == "joined" else len(record.shards) - 1)
    with pytest.raises(SystemExit):
        mediation_by_task.main(["--run", str(tmp_path / "nowhere")])
