"""benchmarks/confirm_artifacts.py on the scripted world: a rule list that really helps is confirmed, a rule list
that does not is reported as not holding, and an artifact without rules has nothing to confirm."""

import json
import sys
from pathlib import Path

import pytest
from intent_mediator import MediatedAssistant, RoleLMs
from intent_mediator.artifacts import save_artifact
from intent_mediator.data.splits import load_split
from intent_mediator.testing.refiner_world import KEEP_ALL, NOISE, world

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import confirm_artifacts

CONFIG = {"model": "embedded", "temperature": 1.0, "mediator_temperature": 0.0, "max_tokens": 320}


def ship(root: Path, domain: str, rules: list[str], **meta) -> None:
    val = [r.task_id for r in load_split(domain, "validation")]
    meta = {"config": {**CONFIG, "refiner_max_tokens": 1024}, "split": {"validation": val}, **meta}
    save_artifact(MediatedAssistant(rules), root / "embedded", domain=domain, meta=meta)


@pytest.fixture
def scripted(monkeypatch, tmp_path):
    import _results

    engine = world()
    monkeypatch.setattr(confirm_artifacts, "roles_for", lambda args: RoleLMs.scripted(engine))
    monkeypatch.setattr(_results, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(confirm_artifacts, "RESULTS", tmp_path / "results")
    return engine


def run(monkeypatch, root: Path, *flags: str) -> None:
    monkeypatch.setattr(sys, "argv", ["confirm_artifacts.py", "--artifacts", str(root), *flags])
    confirm_artifacts.main()


def test_a_helpful_list_holds_an_unhelpful_one_does_not_and_no_rules_is_listed(scripted, monkeypatch, tmp_path):
    root = tmp_path / "artifacts"
    ship(root, "math", [KEEP_ALL], baseline_score=0.0, validation_score=100.0)
    ship(root, "code", [NOISE], baseline_score=0.0, validation_score=20.0)
    ship(root, "actions", [], baseline_score=20.0, validation_score=20.0)
    run(monkeypatch, root, "--domains", "math,code,actions,database", "--runs", "2")
    done = json.loads((tmp_path / "results" / "confirm_artifacts.json").read_text())["domains"]
    assert done["math"]["confirmed"] is True and done["math"]["runs"] == [1, 2]
    assert done["math"]["score"] == 100.0 > done["math"]["uncompiled_score"]  # one-shard tasks pass through
    # NOISE leaves the uncompiled failure in place (the world's code tasks are not answerable at all): no win.
    assert done["code"]["confirmed"] is False and done["code"]["difference"] == 0.0
    assert "nothing to confirm" in done["actions"]["note"] and "database" not in done
    table = (tmp_path / "results" / "confirm_artifacts.md").read_text()
    uncompiled = done["math"]["uncompiled_score"]
    low, high = done["math"]["difference_ci"]
    assert 0 < low <= 100 - uncompiled <= high
    math_row = next(line for line in table.splitlines() if line.startswith("| math |"))
    assert f"| {100 - uncompiled:+.1f} [" in math_row and math_row.endswith("] | holds |")
    assert "| code | 1 |" in table and "does not hold" in table
    asked = len(scripted.requests_for("assistant"))
    run(monkeypatch, root, "--domains", "math", "--runs", "2")
    assert len(scripted.requests_for("assistant")) == asked  # confirmed earlier for this artifact: skipped


def test_only_fresh_runs_are_simulated_for_both_lists(scripted, monkeypatch, tmp_path):
    from intent_mediator.optimizers import refiner
    from intent_mediator.simulation.runner import simulate

    seen = []

    def recording(records, modes, runs, settings, **kwargs):
        done = simulate(records, modes, runs, settings, **kwargs)
        seen.append((settings.program.guidelines, sorted({(t.task_id, t.mode, t.run) for t in done})))
        return done

    monkeypatch.setattr(refiner, "simulate", recording)
    root = tmp_path / "artifacts"
    ship(root, "math", [KEEP_ALL], baseline_score=0.0, validation_score=100.0)
    run(monkeypatch, root, "--domains", "math", "--runs", "2")
    fresh = sorted((r.task_id, "mediated", k) for r in load_split("math", "validation") for k in (1, 2))
    assert seen == [([KEEP_ALL], fresh), ([], fresh)]


def test_an_artifact_whose_split_is_not_the_shipped_one_is_refused(scripted, monkeypatch, tmp_path):
    root = tmp_path / "artifacts"
    save_artifact(
        MediatedAssistant([KEEP_ALL]),
        root / "embedded",
        domain="math",
        meta={"config": {**CONFIG, "refiner_max_tokens": 1024}, "split": {"validation": ["im-math-01"]}},
    )
    with pytest.raises(SystemExit, match=r"validation split is not data/splits\.json's"):
        run(monkeypatch, root, "--domains", "math")


def test_apply_ships_the_uncompiled_list_where_the_win_does_not_hold_and_keeps_the_record(
    scripted, monkeypatch, tmp_path
):
    from intent_mediator.artifacts import load_artifact, read_meta

    root = tmp_path / "artifacts"
    ship(root, "math", [KEEP_ALL], baseline_score=0.0, validation_score=100.0, git_commit="abc")
    ship(root, "code", [NOISE], baseline_score=0.0, validation_score=20.0, git_commit="abc")
    run(monkeypatch, root, "--domains", "math,code", "--runs", "1")  # confirm only
    assert read_meta(root / "embedded" / "_generic" / "code")["guidelines"] == [NOISE]  # nothing changed yet
    asked = len(scripted.requests)
    run(monkeypatch, root, "--domains", "math,code", "--runs", "1", "--apply")
    assert len(scripted.requests) == asked  # the confirmations were done: applying needs no LM call
    code = read_meta(root / "embedded" / "_generic" / "code")
    assert code["guidelines"] == [] and load_artifact(root / "embedded" / "_generic" / "code").guidelines == []
    assert code["search_best"] == {"guidelines": [NOISE], "score": 20.0}
    assert code["confirmation"]["confirmed"] is False and code["confirmation"]["runs"] == [1]
    assert code["validation_score"] == 0.0 and code["git_commit"] == "abc"  # the compile's record is kept
    assert read_meta(root / "embedded" / "_generic" / "math")["guidelines"] == [KEEP_ALL]  # its win held
    table = (tmp_path / "results" / "confirm_artifacts.md").read_text()
    assert "now ships the uncompiled guidelines (--apply)" in table and "--apply`" in table
    run(monkeypatch, root, "--domains", "math,code", "--runs", "1", "--apply")
    assert len(scripted.requests) == asked  # the applied artifact is recognised: nothing to redo
    done = json.loads((tmp_path / "results" / "confirm_artifacts.json").read_text())["domains"]
    assert done["code"]["confirmed"] is False and done["code"]["applied"]["program_sha256"]
