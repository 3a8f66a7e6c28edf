import io
import json
import subprocess
import sys

import pytest
from intent_mediator import RoleLMs, cli
from intent_mediator.commands import chat, common
from intent_mediator.programs.mediator import Mediator


@pytest.mark.parametrize("command", [[], ["chat"], ["evaluate"], ["report"], ["demo"], ["compile"]])
def test_help_for_every_command(command):
    out = subprocess.run(
        [sys.executable, "-m", "intent_mediator.cli", *command, "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "usage: intent-mediator" in out.stdout


def test_chat_loop_shows_mediated_requests_and_resets(monkeypatch, tmp_path, engine):
    engine.on(role="mediator", reply=lambda call: {"request": " + ".join(call.user_turns())})
    engine.on(role="assistant", reply=lambda call: f"ok({call.last_user})")
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles: RoleLMs.scripted(engine))
    rules = tmp_path / "rules.txt"
    rules.write_text("1. Keep numbers.\n\n2) Ignore guesses.\n")
    args = cli.build_parser().parse_args(["chat", "--show-request", "--guidelines", str(rules)])
    stdout = io.StringIO()
    chat.run(args, stdin=io.StringIO("sum a list\nonly evens\n/reset\nhello\n/quit\nnever read\n"), stdout=stdout)
    lines = stdout.getvalue().splitlines()
    assert "[mediated request] sum a list + only evens" in lines
    assert "[mediated request] hello" in lines  # the reset dropped the earlier turns
    assert not any("never read" in line for line in lines)
    system = engine.requests_for("mediator")[0].messages[0]["content"]
    assert "1. Keep numbers." in system and "2. Ignore guesses." in system


def test_incremental_chat_continues_from_the_last_request(monkeypatch, engine):
    seen = []
    engine.on(role="mediator", reply=lambda call: seen.append(call.user_turns()) or {"request": " + ".join(seen[-1])})
    engine.on(role="assistant", reply="ok")
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles: RoleLMs.scripted(engine))
    args = cli.build_parser().parse_args(["chat", "--mediator-history", "incremental"])
    typed = "sum a list\nonly evens\nas a one-liner\n/reset\nhi\nthere\n"
    chat.run(args, stdin=io.StringIO(typed), stdout=io.StringIO())
    assert seen == [
        ["sum a list", "only evens"],
        ["sum a list + only evens", "as a one-liner"],
        ["hi", "there"],  # the reset forgot the previous request too
    ]


def test_bad_model_flag_exits_2_with_message(capsys):
    assert cli.main(["chat", "--assistant", "nope/x"]) == 2
    assert "unknown model string 'nope/x'" in capsys.readouterr().err


def test_compile_writes_an_artifact_per_user_and_domain(monkeypatch, tmp_path, capsys):
    from intent_mediator.artifacts import load_mediator, read_meta
    from intent_mediator.testing.refiner_world import KEEP_ALL, world

    engine = world()
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    argv = [
        "compile",
        "--user",
        "alice",
        "--domain",
        "math",
        "--tasks",
        "math",
        "--limit",
        "6",
        "--rounds",
        "1",
        "--candidates",
        "1",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--workers",
        "2",
    ]
    assert cli.main(argv) == 0
    meta = read_meta(tmp_path / "alice" / "math")
    assert meta["guidelines"][0] == KEEP_ALL and meta["validation_score"] > meta["baseline_score"]
    assert meta["models"]["mediator"] == "scripted/mediator" and meta["dspy_version"]
    assert meta["mediator_history"] == "incremental"  # the default
    assert load_mediator("alice", "math", root=tmp_path).guidelines == meta["guidelines"]
    assert load_mediator("bob", "math", root=tmp_path).guidelines == []  # no artifact for bob: uncompiled
    assert "validation P 0.0 -> 100.0" in capsys.readouterr().out


def test_compile_confirms_the_winner_on_fresh_runs_and_records_it(monkeypatch, tmp_path, capsys):
    from intent_mediator.artifacts import read_meta
    from intent_mediator.testing.refiner_world import KEEP_ALL, world

    engine = world()
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    flags = "--domain math --tasks math --limit 6 --rounds 1 --candidates 1 --confirm-runs 2 --no-progress"
    assert cli.main(["compile", *flags.split(), "--out", str(tmp_path)]) == 0
    meta = read_meta(tmp_path / "_generic" / "math")
    assert meta["guidelines"][0] == KEEP_ALL
    assert meta["confirmation"]["confirmed"] is True and meta["confirmation"]["runs"] == [1, 2]
    assert meta["confirmation"]["score"] == 100.0 and meta["confirmation"]["uncompiled_score"] == 0.0
    out = capsys.readouterr().out
    assert "confirmation on runs [1, 2]: winner 100.0, uncompiled 0.0, difference +100.0 [+100.0, +100.0], " in out
    assert "bar: higher: confirmed, it ships" in out


def test_unsafe_user_ids_are_rejected(capsys):
    assert cli.main(["compile", "--user", "../../etc", "--out", "x"]) == 2
    assert "invalid user id '../../etc'" in capsys.readouterr().err


# ---- every bad input: one line naming the flag, exit 2 -------------------------------------------------------
@pytest.fixture
def bad_inputs(tmp_path):
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("not a folder")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    wrong_shape = tmp_path / "wrong_shape.json"
    wrong_shape.write_text('{"answer": {"demos": []}}')
    return {"file": str(a_file), "broken": str(broken), "wrong_shape": str(wrong_shape), "dir": str(tmp_path)}


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["evaluate", "--out", "{dir}/o", "--modes", "full,bogus"], "--modes"),
        (["evaluate", "--out", "{dir}/o", "--runs", "0"], "--runs"),
        (["evaluate", "--out", "{dir}/o", "--limit", "0"], "--limit"),
        (["evaluate", "--out", "{dir}/o", "--workers", "0"], "--workers"),
        (["evaluate", "--out", "{dir}/o", "--max-turns", "0"], "--max-turns"),
        (["evaluate", "--out", "{file}"], "--out"),
        (["evaluate", "--out", "{dir}/o", "--program", "{broken}"], "--program"),
        (["evaluate", "--out", "{dir}/o", "--program", "{wrong_shape}"], "--program"),
        (["evaluate", "--out", "{dir}/o", "--program", "{dir}/missing.json"], "--program"),
        (["compile", "--out", "{file}"], "--out"),
        (["compile", "--val-fraction", "1"], "--val-fraction"),
        (["compile", "--rounds", "0"], "--rounds"),
        (["compile", "--confirm-runs", "-1"], "--confirm-runs"),
        (["compile", "--confirm-bar", "interval"], "--confirm-bar interval: give --confirm-runs"),
        (["compile", "--optimizer", "gepa", "--mediator-history", "full", "--confirm-runs", "2"], "--confirm-runs"),
        (["compile", "--metric", "proxy"], "--selection proxy"),
        (["compile", "--metric", "nosuchmodule:fn"], "--metric"),
        (["compile", "--trajectories", "{dir}/missing.jsonl"], "--trajectories"),
        (["compile", "--user", "alice", "--from-logs", "sqlite:///{dir}/typo.db"], "--from-logs"),
        (["compile", "--user", "alice", "--from-logs", "{dir}/typo.db"], "--from-logs"),
        (["compile", "--optimizer", "gepa", "--mediator-history", "incremental"], "--mediator-history"),
        (["compile", "--optimizer", "simba"], "--mediator-history incremental (the default)"),
        (["chat", "--program", "{broken}"], "--program"),
        (["evaluate", "--out", "", "--limit", "1"], "--out"),
        (["evaluate", "--out", "{file}/sub"], "--out"),
        (["evaluate", "--out", "{dir}/o", "--temperature", "nan"], "--temperature"),
        (["evaluate", "--out", "{dir}/o", "--temperature", "-1"], "--temperature"),
        (["evaluate", "--out", "{dir}/o", "--role-temperature", "mediator=inf"], "--role-temperature"),
        (["evaluate", "--out", "{dir}/o", "--max-tokens", "0"], "--max-tokens"),
        (["evaluate", "--out", "{dir}/o", "--ergo-threshold", "-1"], "--ergo-threshold"),
        (["evaluate", "--out", "{dir}/o", "--ergo-percentile", "500"], "--ergo-percentile"),
        (["evaluate", "--out", "{dir}/o", "--limit", "1", "--guidelines", "{broken}"], "--guidelines"),
        (["evaluate", "--out", "{dir}/o", "--limit", "1", "--modes", "full", "--compiled"], "--artifacts/--compiled"),
        (["evaluate", "--out", "{dir}/o", "--modes", "full", "--ergo-calibrate", "builtin"], "--ergo-calibrate"),
        (["serve", "--port", "99999"], "--port"),
        (["serve", "--port", "1" + "0" * 400], "--port"),  # an int too big for a float: refused, no overflow
        (["serve", "--max-messages", "0"], "--max-messages"),
        (["serve", "--max-body-bytes", "-1"], "--max-body-bytes"),
        (["serve", "--memory-ttl", "-5"], "--memory-ttl"),
        (["serve", "--upstream-timeout", "nan"], "--upstream-timeout"),
        (["serve", "--mediator-timeout", "0"], "--mediator-timeout"),
    ],
)
def test_bad_inputs_get_one_line_naming_the_flag_and_exit_2(argv, flag, bad_inputs, capsys, monkeypatch, engine):
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    argv = [arg.format(**bad_inputs) for arg in argv]
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own checks
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and flag in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ('{"task_id": "a", "task": "math", "mode": "full", "run": 0}\n{"task_id": \n{}\n', "trajectories.jsonl:2"),
        ('{"task_id": "a", "task": "math", "mode": "full", "run": "zero"}\n', "trajectories.jsonl:1"),
    ],
)
def test_a_damaged_trajectories_file_is_one_line_naming_file_and_line(content, named, tmp_path, capsys):
    (tmp_path / "trajectories.jsonl").write_text(content)
    assert cli.main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and named in err and "Traceback" not in err, err


def test_a_hand_edited_run_json_is_refused_naming_the_key(monkeypatch, tmp_path, capsys):
    from intent_mediator import ScriptedEngine

    engine = ScriptedEngine(default="The answer is 5.")
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    argv = ["evaluate", "--tasks", "math", "--limit", "1", "--modes", "full", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    run = json.loads((tmp_path / "run.json").read_text())
    (tmp_path / "run.json").write_text(json.dumps({**run, "records": [1]}))
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "'records' is not an object" in err, err


def test_evaluate_exits_1_naming_the_first_error_when_conversations_fail_and_a_rerun_retries_them(
    monkeypatch, tmp_path, capsys
):
    from intent_mediator import ScriptedEngine

    broken = ScriptedEngine()  # no rule for the assistant: every conversation fails
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(broken))
    argv = ["evaluate", "--tasks", "math", "--limit", "1", "--modes", "full", "--out", str(tmp_path)]
    assert cli.main(argv) == 1
    printed = capsys.readouterr()
    assert "1 of 1 conversations failed with an error" in printed.err and "im-math-01/full/run 0:" in printed.err
    assert "Ended in an error, left out of the scores (a rerun of evaluate retries them): full 1." in printed.out
    assert cli.main(["report", str(tmp_path)]) == 0
    assert "Ended in an error, left out of the scores" in (tmp_path / "report.md").read_text()
    fixed = ScriptedEngine(default="The answer is 5.")
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(fixed))
    assert cli.main(argv) == 0 and "1 conversations run, 0 already finished, 0 errors" in capsys.readouterr().out


def test_evaluate_join_additions_joins_additive_turns_and_records_it(monkeypatch, tmp_path, engine, capsys):
    engine.on(role="mediator", reply=lambda call: {"request": " ".join(call.user_turns())})
    engine.on(role="assistant", reply="Could you tell me more?")
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    argv = ["evaluate", "--tasks", "math", "--limit", "1", "--modes", "mediated", "--no-progress"]
    assert cli.main([*argv, "--join-additions", "--out", str(tmp_path / "joined")]) == 0
    (line,) = (tmp_path / "joined" / "trajectories.jsonl").read_text().splitlines()
    paths = [turn["mediation"] for turn in json.loads(line)["turns"]]
    assert paths[0] == "passthrough" and set(paths[1:]) == {"joined"}  # im-math-01's shards only add values
    assert engine.requests_for("mediator") == []
    joined = json.loads((tmp_path / "joined" / "run.json").read_text())
    assert (
        joined["config"]["join_additions"] == ["program"]
        and joined["config"]["join_revision"] == Mediator.join_revision
    )
    # A folder joined by an earlier router (recorded without its revision) is not resumed by this one.
    del joined["config"]["join_revision"]
    (tmp_path / "joined" / "run.json").write_text(json.dumps(joined))
    capsys.readouterr()
    assert cli.main([*argv, "--join-additions", "--out", str(tmp_path / "joined")]) == 2
    assert "join_revision" in capsys.readouterr().err
    # A folder run without the flag is not resumed with it.
    assert cli.main([*argv, "--out", str(tmp_path / "plain")]) == 0 and engine.requests_for("mediator")
    assert cli.main([*argv, "--join-additions", "--out", str(tmp_path / "plain")]) == 2
    # The flag holds for the compiled per-domain Mediators too, not only the generic one.
    from intent_mediator import MediatedAssistant
    from intent_mediator.artifacts import save_artifact

    save_artifact(MediatedAssistant(["Keep every number."]), tmp_path / "artifacts", domain="math")
    compiled = ["--artifacts", str(tmp_path / "artifacts"), "--join-additions", "--out", str(tmp_path / "compiled")]
    assert cli.main([*argv, *compiled]) == 0
    config = json.loads((tmp_path / "compiled" / "run.json").read_text())["config"]
    assert config["join_additions"] == ["program", "math"]


def test_an_unknown_task_name_is_refused_naming_the_known_ones(capsys, tmp_path):
    assert cli.main(["evaluate", "--tasks", "math,bogus", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--tasks: unknown task 'bogus'; known tasks: " in err and "math" in err


def test_a_missing_hub_dataset_is_an_error_naming_data(monkeypatch, tmp_path, capsys):
    import datasets

    def missing(*args, **kwargs):
        raise FileNotFoundError("Dataset 'nobody/missing' doesn't exist on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", missing)
    assert cli.main(["evaluate", "--data", "hf:nobody/missing", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--data hf:nobody/missing" in err and "doesn't exist" in err and len(err.strip().splitlines()) == 1


def test_chat_runs_a_compiled_program_with_its_architecture(monkeypatch, tmp_path, engine):
    from intent_mediator import MediatedAssistant, save_artifact

    seen = []
    engine.on(role="mediator", reply=lambda call: seen.append(call) or {"reasoning": "r", "request": "R"})
    engine.on(role="assistant", reply="ok")
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles: RoleLMs.scripted(engine))
    program = MediatedAssistant(["keep numbers"], chain_of_thought=True, mediator_history="incremental", check=False)
    folder = save_artifact(program, tmp_path, user="alice", domain="math")
    args = cli.build_parser().parse_args(["chat", "--program", str(folder), "--show-request"])
    stdout = io.StringIO()
    chat.run(args, stdin=io.StringIO("add 2\nand 3\nand 4\n"), stdout=stdout)
    assert "[mediated request] R" in stdout.getvalue()
    assert len(seen) == 2  # the first turn passes through, compiled or not
    assert "reasoning" in seen[0].output_fields and "keep numbers" in seen[0].system  # chain of thought, rules
    assert seen[1].user_turns()[0] == "R"  # incremental history: the third turn's call starts from the last request
