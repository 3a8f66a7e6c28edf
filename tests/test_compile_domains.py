"""benchmarks/compile_domains.py on a scripted world: a domain with nothing to learn from is recorded, not a crash."""

import argparse
import sys
from pathlib import Path

import pytest
from intent_mediator import RoleLMs, ScriptedEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import compile_domains


def compile_args(tmp_path: Path, **changes) -> argparse.Namespace:
    """compile_domain's arguments for a small scripted compile into `tmp_path`, with `changes` applied."""
    args = dict(rounds=1, candidates=1, pairs_per_batch=2, mining_runs=1, max_lm_calls=500, seed=0, model="scripted")
    args.update(artifacts=str(tmp_path / "artifacts"), confirm_runs=0, confirm_bar="higher", join_additions=False)
    return argparse.Namespace(**{**args, **changes})


def test_a_domain_without_contrastive_pairs_is_recorded_and_ships_nothing(monkeypatch, tmp_path):
    engine = ScriptedEngine()
    engine.on(role="assistant", reply="Could you tell me more about what you need?")  # never an answer
    engine.on(role="mediator", reply=lambda call: {"request": " ".join(call.user_turns())})
    monkeypatch.setattr(compile_domains, "roles_for", lambda args: RoleLMs.scripted(engine))
    args = compile_args(tmp_path, mining_runs=2)
    result = compile_domains.compile_domain("math", args, {"seed": 0}, ("abc", "abc"), tmp_path / "work")
    assert result["stopped"].startswith("no artifact: no contrastive pairs")
    assert result["artifact"] is None and result["guidelines"] == [] and result["validation_score"] is None
    assert result["split"]["train"] and result["fingerprint"] == "abc"
    assert not (tmp_path / "artifacts").exists()  # nothing ships: the generic Mediator stays in use
    mined = {r.role for r in engine.requests}
    assert "assistant" in mined  # the train tasks were simulated before giving up


def test_a_scorer_revision_or_another_layout_changes_the_domain_fingerprint_so_the_result_is_redone(monkeypatch):
    from intent_mediator.tasks.actions import ActionsTask

    config = {"seed": 0, "max_lm_calls": 250}
    before, fingerprint = compile_domains.domain_fingerprint(config, "actions", "LeanChatAdapter")
    assert before["scoring_revision"] == ActionsTask.scoring_revision and before["max_lm_calls"] == 250
    assert compile_domains.domain_fingerprint(config, "actions", "JSONAdapter")[1] != fingerprint
    monkeypatch.setattr(ActionsTask, "scoring_revision", ActionsTask.scoring_revision + 1)
    after, changed = compile_domains.domain_fingerprint(config, "actions", "LeanChatAdapter")
    assert changed != fingerprint and after["scoring_revision"] == before["scoring_revision"] + 1


def test_a_domain_another_compile_finished_meanwhile_keeps_its_row(monkeypatch, tmp_path):
    import json

    import _results

    results = tmp_path / "results"
    monkeypatch.setattr(_results, "RESULTS", results)
    monkeypatch.setattr(compile_domains, "RESULTS", results)
    monkeypatch.setattr(compile_domains, "roles_for", lambda args: RoleLMs.scripted(ScriptedEngine()))
    row = {"guidelines": [], "baseline_score": 40.0, "validation_score": 40.0, "budget": None, "seconds": 1.0}

    def compile_domain(domain, args, config, fingerprints, work):
        # While this domain compiles, a second process finishes code and writes its row.
        other = {"domains": {"code": {**row, "fingerprint": "other"}}}
        (results / "compile_domains.json").write_text(json.dumps(other))
        return {**row, "fingerprint": fingerprints[1]}

    monkeypatch.setattr(compile_domains, "compile_domain", compile_domain)
    results.mkdir()
    argv = ["compile_domains.py", "--domains", "math", "--work", str(tmp_path / "work"), "--artifacts", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    compile_domains.main()
    done = json.loads((results / "compile_domains.json").read_text())["domains"]
    assert sorted(done) == ["code", "math"] and done["code"]["fingerprint"] == "other"
    assert "| code |" in (results / "compile_domains.md").read_text()


def test_confirmation_shares_the_search_but_names_its_own_result(monkeypatch, tmp_path):
    import _results

    results = tmp_path / "results"
    monkeypatch.setattr(_results, "RESULTS", results)
    monkeypatch.setattr(compile_domains, "RESULTS", results)
    monkeypatch.setattr(compile_domains, "roles_for", lambda args: RoleLMs.scripted(ScriptedEngine()))
    seen = {}

    def compile_domain(domain, args, config, fingerprints, work):
        seen[args.confirm_runs] = (config, fingerprints)
        row = {"guidelines": [], "baseline_score": 0.0, "validation_score": 0.0, "budget": None, "seconds": 0.0}
        return {**row, "fingerprint": fingerprints[1], "config": config}

    monkeypatch.setattr(compile_domains, "compile_domain", compile_domain)
    for runs in ("0", "3"):
        argv = ["x", "--domains", "math", "--work", str(tmp_path), "--artifacts", str(tmp_path), "--confirm-runs", runs]
        monkeypatch.setattr(sys, "argv", argv)
        compile_domains.main()
    (plain, (study, result)), (confirmed, (study3, result3)) = seen[0], seen[3]
    # The search (its optuna study) is the same; without confirmation, so is the result's fingerprint.
    assert study == study3 == result
    assert result3 != result and confirmed["confirm_runs"] == 3 and "confirm_runs" not in plain
    assert "confirm_bar" not in confirmed  # the default bar is not named: earlier results still resume
    argv = ["x", "--domains", "math", "--work", str(tmp_path), "--artifacts", str(tmp_path), "--confirm-runs", "3"]
    monkeypatch.setattr(sys, "argv", [*argv, "--confirm-bar", "interval"])
    compile_domains.main()
    strict, (study_strict, result_strict) = seen[3]
    assert study_strict == study and result_strict not in (result, result3) and strict["confirm_bar"] == "interval"


def test_a_confirmed_compile_uses_the_searchs_study_and_records_the_confirmation(monkeypatch, tmp_path):
    import optuna
    from intent_mediator.artifacts import read_meta
    from intent_mediator.testing.refiner_world import KEEP_ALL, world

    monkeypatch.setattr(compile_domains, "roles_for", lambda args: RoleLMs.scripted(world()))
    args = compile_args(tmp_path, confirm_runs=1)
    (tmp_path / "work").mkdir()  # main() makes it
    result = compile_domains.compile_domain("math", args, {"seed": 0}, ("search", "result"), tmp_path / "work")
    assert result["fingerprint"] == "result" and result["guidelines"][0] == KEEP_ALL
    studies = optuna.get_all_study_names(f"sqlite:///{tmp_path / 'work' / 'math.db'}")
    assert studies == ["math-search-r0"]  # named by the search's fingerprint, not the result's
    meta = read_meta(tmp_path / "artifacts" / "scripted" / "_generic" / "math")
    assert meta["confirmation"]["confirmed"] is True and meta["confirmation"]["runs"] == [1]
    assert "search_best" not in meta


def test_a_joining_compile_searches_with_a_joining_mediator_and_ships_it_joining(monkeypatch, tmp_path):
    from intent_mediator.artifacts import load_artifact, read_meta
    from intent_mediator.testing.refiner_world import world

    monkeypatch.setattr(compile_domains, "roles_for", lambda args: RoleLMs.scripted(world()))
    args = compile_args(tmp_path, join_additions=True)
    (tmp_path / "work").mkdir()
    compile_domains.compile_domain("math", args, {"join_additions": True}, ("search", "result"), tmp_path / "work")
    folder = tmp_path / "artifacts" / "scripted" / "_generic" / "math"
    assert load_artifact(folder).mediator.join_additions is True  # whoever loads it joins as the search did
    assert read_meta(folder)["config"] == {"join_additions": True}
    assert compile_domains.student(args).mediator.join_additions is True


def test_the_results_keep_every_trial_with_the_rules_it_scored():
    report = {
        "rounds": [
            {
                "candidates": [{"guidelines": ["a", "b", "c"]}, {"guidelines": ["d"]}],
                "trials": [
                    {"number": 0, "params": {"candidate": 1, "rules_kept": 3}, "value": 50.0, "state": "COMPLETE"},
                    {"number": 1, "params": {"candidate": 0, "rules_kept": 2}, "value": None, "state": "RUNNING"},
                ],
            }
        ]
    }
    kept = compile_domains.trials(report)
    assert [t["guidelines"] for t in kept] == [["d"], ["a", "b"]]
    assert [t["value"] for t in kept] == [50.0, None] and kept[1]["state"] == "RUNNING"
    assert compile_domains.trials({}) == []


def test_a_joining_compile_must_name_its_artifact_root(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["compile_domains.py", "--join-additions"])
    with pytest.raises(SystemExit) as stopped:
        compile_domains.main()
    assert stopped.value.code == 2
    assert "--join-additions needs --artifacts DIR: it would replace the shipped artifacts" in capsys.readouterr().err
