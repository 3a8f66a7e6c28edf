"""benchmarks/per_user_from_logs.py end to end on the Refiner's scripted world: users with different personas talk
through the in-process server, post feedback, get their own artifacts from the recompile job, and each user's
artifact is compared with the domain's on that user's held-out conversations; a rerun resumes."""

import json
import sys
from pathlib import Path

import pytest
from intent_mediator import MediatedAssistant, RoleLMs
from intent_mediator.artifacts import read_kept, read_meta, save_artifact
from intent_mediator.testing.refiner_world import ANNOUNCED, KEEP_ALL, world

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.fixture
def scripted(monkeypatch, tmp_path):
    from intent_mediator.commands import common

    engine = world()
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    # The domain's Mediator joins every turn: right for the lazy user, wrong for one who announces additions
    # ("One more requirement ...": the assistant of this world will not answer a message holding that).
    domain = save_artifact(MediatedAssistant([KEEP_ALL]), tmp_path / "domain", domain="math")
    return engine, domain


def test_each_users_artifact_against_the_domain_artifact_on_their_held_out_conversations(scripted, tmp_path):
    import per_user_from_logs

    engine, domain = scripted
    out, results = tmp_path / "run", tmp_path / "results"
    argv = ["--users", "ann:lazy,ben:explicit", "--logged", "3", "--validation", "2", "--held-out", "3"]
    argv += ["--runs", "1", "--min-feedback", "2", "--domain-artifact", str(domain), "--out", str(out)]
    argv += ["--results", str(results), "--no-progress"]
    assert per_user_from_logs.main(argv) == 0
    # Served: every conversation went through the app with the domain artifact and left feedback.
    logged = [json.loads(line) for line in (out / "logged.jsonl").read_text().splitlines()]
    assert [(d["user"], d["solved"]) for d in logged] == [("ann", True)] * 3 + [("ben", False)] * 3
    assert {d["artifact"] for d in logged} == {"_generic/math"}
    # Recompiled per user from their own logs: ben's failures taught the announced-additions rule.
    assert read_meta(out / "artifacts" / "ben" / "math")["guidelines"][0] == ANNOUNCED
    assert read_meta(out / "artifacts" / "ben" / "math")["persona"] == "explicit"
    data = json.loads((results / "per_user_from_logs.json").read_text())
    ann, ben = data["users"]["ann"], data["users"]["ben"]
    assert ben["P_domain"] == 0.0 and ben["P_user"] == 100.0 and ben["difference"] == 100.0
    assert ben["at_least_as_well"] and ben["instructions"] == 3
    # ann never failed: nothing to learn, she keeps the domain artifact (and is not re-simulated with a copy).
    assert not (out / "artifacts" / "ann" / "math" / "program.json").exists()  # nothing to learn: no artifact
    assert (
        read_kept(out / "artifacts" / "ann" / "math")["reason"]
        == "NothingToLearn: ann logged no failed conversation in math"
    )
    assert ann["P_domain"] == 100.0 and ann["artifact"] == "domain" and "P_user" not in ann
    assert data["logged"] == {"ann": 3, "ben": 3} and data["logged_solved"] == {"ann": 3, "ben": 0}
    text = (results / "per_user_from_logs.md").read_text()
    assert "| ben | explicit | 3 (0) | own | 0.0 | 100.0 | +100.0 [+100.0, +100.0] | yes |" in text
    assert "| ann | lazy | 3 (3) | none: no failure to learn from | 100.0 | – | – | – |" in text
    # A rerun resumes: no conversation is replayed, nobody is recompiled, nothing is re-simulated.
    calls = len(engine.requests)
    assert per_user_from_logs.main(argv) == 0
    assert len(engine.requests) == calls
    assert json.loads((results / "per_user_from_logs.json").read_text())["users"] == data["users"]
    # Another configuration for the same folder is refused.
    assert per_user_from_logs.main([*argv, "--runs", "2"]) == 2


def test_bad_users_are_named(scripted, capsys):
    import per_user_from_logs

    assert per_user_from_logs.main(["--users", "ann:poet"]) == 2
    assert "--users 'ann:poet': unknown persona 'poet'" in capsys.readouterr().err
    assert per_user_from_logs.main(["--users", "../x:lazy"]) == 2
    assert "invalid user id '../x'" in capsys.readouterr().err


def test_a_winner_confirmed_on_fresh_runs_ships_with_its_confirmation(scripted, tmp_path):
    import per_user_from_logs

    _, domain = scripted
    out, results = tmp_path / "run", tmp_path / "results"
    argv = ["--users", "ben:explicit", "--logged", "3", "--validation", "2", "--held-out", "2", "--runs", "1"]
    argv += ["--min-feedback", "2", "--domain-artifact", str(domain), "--out", str(out), "--results", str(results)]
    assert per_user_from_logs.main([*argv, "--no-progress", "--confirm-runs", "1"]) == 0
    meta = read_meta(out / "artifacts" / "ben" / "math")
    assert meta["guidelines"][0] == ANNOUNCED
    assert meta["confirmation"]["confirmed"] and meta["confirmation"]["runs"] == [1]
    config = json.loads((results / "per_user_from_logs.json").read_text())["config"]
    assert config["refiner"]["confirm_runs"] == 1 and config["refiner"]["confirm_bar"] == "higher"


@pytest.mark.parametrize(
    ("report", "why"),
    [
        (
            {"confirmation": {"runs": [1, 2], "confirmed": False}},
            "the search's winner was not confirmed on 2 fresh runs",
        ),
        ({}, "no candidate beat the domain's guidelines on validation"),
        (
            {"stopped": "LM budget spent: 60 calls of 60"},
            "the search's LM budget ran out before anything scored above the domain's guidelines",
        ),
    ],
)
def test_a_compile_that_keeps_the_domain_guidelines_writes_no_user_artifact(
    scripted, tmp_path, monkeypatch, report, why
):
    """The recompile job leaves the user on the domain artifact, and the table says why."""
    import per_user_from_logs
    from intent_mediator.optimizers.refiner import Refiner

    def kept(self, student, **kwargs):
        program = student.deepcopy()
        program.refiner_report = report
        return program

    monkeypatch.setattr(Refiner, "compile", kept)
    _, domain = scripted
    out, results = tmp_path / "run", tmp_path / "results"
    argv = ["--users", "ben:explicit", "--logged", "3", "--validation", "2", "--held-out", "2", "--runs", "1"]
    argv += ["--min-feedback", "2", "--domain-artifact", str(domain), "--out", str(out), "--results", str(results)]
    assert per_user_from_logs.main([*argv, "--no-progress"]) == 0
    assert not (out / "artifacts" / "ben" / "math" / "program.json").exists()
    assert read_kept(out / "artifacts" / "ben" / "math")["reason"] == f"DomainKept: ben: {why}"
    data = json.loads((results / "per_user_from_logs.json").read_text())
    assert data["recompile"]["ben"] == f"DomainKept: ben: {why}"
    assert data["users"]["ben"]["artifact"] == "domain" and "P_user" not in data["users"]["ben"]
    assert (
        f"| ben | explicit | 3 (0) | none: {why} | 0.0 | – | – | – |" in (results / "per_user_from_logs.md").read_text()
    )
    # A resumed run does not search again (another search could end otherwise): it reports the same outcome.
    monkeypatch.setattr(Refiner, "compile", lambda *args, **kwargs: pytest.fail("searched again on resume"))
    assert per_user_from_logs.main([*argv, "--no-progress"]) == 0
    resumed = json.loads((results / "per_user_from_logs.json").read_text())
    assert resumed["recompile"]["ben"] == f"DomainKept: ben: {why}"


def test_a_users_artifact_is_confirmed_after_the_fact_on_fresh_runs(scripted, tmp_path, monkeypatch, capsys):
    import _results
    import confirm_user_artifact
    import per_user_from_logs

    _, domain = scripted
    out = tmp_path / "run"
    argv = ["--users", "ben:explicit", "--logged", "3", "--validation", "2", "--held-out", "2", "--runs", "1"]
    argv += ["--min-feedback", "2", "--domain-artifact", str(domain), "--out", str(out)]
    assert per_user_from_logs.main([*argv, "--results", str(tmp_path / "results"), "--no-progress"]) == 0
    monkeypatch.setattr(_results, "RESULTS", tmp_path / "confirmed")
    artifact = out / "artifacts" / "ben" / "math"
    args = ["--artifact", str(artifact), "--domain-artifact", str(domain), "--runs", "2", "--name", "ben"]
    monkeypatch.setattr(sys, "argv", ["confirm_user_artifact.py", *args])
    confirm_user_artifact.main()
    data = json.loads((tmp_path / "confirmed" / "ben.json").read_text())
    result = data["confirmation"]
    assert result["runs"] == [1, 2] and result["guidelines"][0] == ANNOUNCED
    assert result["score"] == 100.0 and result["uncompiled_score"] == 0.0 and result["confirmed"]
    assert "| ben | explicit | " in (tmp_path / "confirmed" / "ben.md").read_text()
    meta = json.loads((artifact / "meta.json").read_text())
    (artifact / "meta.json").write_text(json.dumps({**meta, "confirmation": {"runs": [1, 2]}}))
    with pytest.raises(SystemExit, match=r"was confirmed when compiled, on runs \[1, 2\]"):
        confirm_user_artifact.main()
    (artifact / "meta.json").write_text(json.dumps({"user": "ben"}))
    with pytest.raises(SystemExit, match="has no 'domain'"):
        confirm_user_artifact.main()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--confirm-runs", "-1"], "--confirm-runs must be 0 or more"),
        (["--confirm-bar", "interval"], "--confirm-bar interval: give --confirm-runs N"),
        (
            ["--confirm-runs", "2", "--confirm-bar", "interval"],
            "needs at least 4 validation tasks, got 2 (--validation)",
        ),
    ],
)
def test_confirmation_flags_are_refused_before_anything_is_logged(scripted, tmp_path, capsys, flags, message):
    import per_user_from_logs

    out = tmp_path / "run"
    argv = ["--users", "ben:explicit", "--logged", "3", "--validation", "2", "--out", str(out), *flags]
    assert per_user_from_logs.main([*argv, "--results", str(tmp_path / "results"), "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()  # nothing logged, no configuration recorded: the corrected command runs in the folder
