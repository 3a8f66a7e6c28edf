"""benchmarks/test_split.py end to end on a scripted world: held-out records only, the compiled row per domain
with its paired effect, resuming without LM calls, and refusing a resume with other artifacts."""

import json
import sys
from pathlib import Path

import pytest
from intent_mediator import MediatedAssistant, RoleLMs, ScriptedEngine, artifacts
from intent_mediator.artifacts import save_artifact
from intent_mediator.data.loaders import load_records
from intent_mediator.data.splits import load_split, split_ids

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

RULE = "Restate every shard the user gave."
LIC = [r for r in load_records("builtin", tasks=["math"]) if r.task_id in split_ids("math", "train")][:2]


def world(records) -> ScriptedEngine:
    """The assistant solves a task only from a message holding all of it; the compiled Mediator (RULE in its
    prompt) restates every user turn; the generic one shouts them (every value kept, so its fact check passes, but
    the assistant no longer recognises the task)."""
    engine = ScriptedEngine()
    engine.on(
        role="mediator",
        reply=lambda call: {
            "request": " ".join(call.user_turns()) if RULE in call.system else " ".join(call.user_turns()).upper()
        },
    )

    def assistant(call):
        for record in records:
            if record["question"] in call.last_user or all(s.shard in call.last_user for s in record.shards):
                return f"The answer is {record['answer'].split('####')[-1].strip()}."
        return "Could you tell me more?"

    engine.on(role="assistant", reply=assistant)
    return engine


@pytest.fixture
def scripted(monkeypatch, tmp_path):
    from intent_mediator.commands import common

    engine = world([*load_split("math", "test"), *LIC])
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    shipped = tmp_path / "shipped"
    save_artifact(MediatedAssistant([RULE]), shipped / "scripted_mediator", domain="math")
    monkeypatch.setattr(artifacts, "SHIPPED_ROOT", shipped)
    lic = tmp_path / "lic.json"
    lic.write_text(json.dumps([r.to_record() for r in LIC]))
    return engine, shipped, lic


def test_held_out_sets_side_by_side_with_the_compiled_effect(scripted, tmp_path, capsys):
    import test_split

    engine, shipped, lic = scripted
    out, results = tmp_path / "run", tmp_path / "results"
    argv = ["--domains", "math", "--limit", "3", "--runs", "2", "--lic", str(lic), "--out", str(out)]
    argv += ["--results", str(results), "--no-progress"]
    assert test_split.main(argv) == 0
    data = json.loads((results / "test_split.json").read_text())
    test_ids = sorted(load_split("math", "test"), key=lambda r: r.task_id)
    assert data["config"]["records"]["test"] == [r.task_id for r in load_split("math", "test")][:3]
    assert set(data["config"]["records"]["test"]) <= {r.task_id for r in test_ids}  # held out: test split only
    assert data["config"]["records"]["lic"] == [r.task_id for r in LIC]
    assert data["artifacts"] == {"math": str(shipped / "scripted_mediator" / "_generic" / "math")}
    for name, n in (("test", 3), ("lic", 2)):
        table = data["tables"][name]
        assert list(table) == ["full", "sharded", "drop-assistant", "mediated", "mediated+compiled"]
        assert table["full"]["P"] == 100.0 and table["sharded"]["P"] == 0.0 and table["mediated"]["P"] == 0.0
        assert table["mediated+compiled"]["P"] == 100.0 and table["mediated+compiled"]["recovery"] == 1.0
        assert all(row["n"] == 2 * n for row in table.values())
        effect = data["effects"][name]["math"]
        assert effect["instructions"] == n and effect["effect"] == 100.0 and effect["verdict"] == "compiling helps"
    text = (results / "test_split.md").read_text()
    assert "| test | math | yes | 3 | 0.0 | 100.0 | +100.0 [+100.0, +100.0] | compiling helps |" in text
    calls = len(engine.requests)
    capsys.readouterr()
    assert test_split.main(argv) == 0  # resumed: every conversation is finished, no LM call
    assert len(engine.requests) == calls
    assert json.loads((results / "test_split.json").read_text())["tables"] == data["tables"]
    # Another artifact for the same folder is refused, naming what differs.
    save_artifact(MediatedAssistant([RULE, "Another rule."]), shipped / "scripted_mediator", domain="math")
    assert test_split.main(argv) == 2
    assert "artifacts" in capsys.readouterr().err


def test_a_domain_without_an_artifact_is_reported_not_run_under_the_compiled_name(scripted, tmp_path, capsys):
    import test_split

    _, shipped, _ = scripted
    (shipped / "scripted_mediator" / "_generic" / "math" / "program.json").unlink()
    results = tmp_path / "results"
    argv = ["--domains", "math", "--limit", "1", "--runs", "1", "--no-lic", "--out", str(tmp_path / "run")]
    assert test_split.main([*argv, "--results", str(results), "--no-progress"]) == 0
    assert "compiled math: none: no compiled row for this domain" in capsys.readouterr().out
    data = json.loads((results / "test_split.json").read_text())
    assert (
        data["tables"]["test"]["mediated+compiled"]["n"] == 0 and data["effects"]["test"]["math"]["instructions"] == 0
    )
    assert "| test | math | none | 0 | – | – | – | no artifact |" in (results / "test_split.md").read_text()
    assert test_split.main(["--domains", "poetry"]) == 2


def test_modes_can_be_narrowed_to_the_effect_of_compiling(scripted, tmp_path, capsys):
    import test_split

    engine, _, _ = scripted
    results = tmp_path / "results"
    argv = ["--domains", "math", "--limit", "2", "--runs", "1", "--no-lic", "--out", str(tmp_path / "run")]
    assert test_split.main([*argv, "--modes", "mediated", "--results", str(results), "--no-progress"]) == 0
    data = json.loads((results / "test_split.json").read_text())
    assert list(data["tables"]["test"]) == ["mediated", "mediated+compiled"]
    assert data["effects"]["test"]["math"]["effect"] == 100.0
    assert {call.role for call in engine.requests} == {"mediator", "assistant"}
    assert test_split.main([*argv, "--modes", "mediated,magic"]) == 2
    assert "--modes: choose from full, sharded, drop-assistant, mediated" in capsys.readouterr().err


def test_the_lic_records_alone_and_no_set_at_all(scripted, tmp_path, capsys):
    import test_split

    _, _, lic = scripted
    results = tmp_path / "results"
    argv = ["--domains", "math", "--runs", "1", "--no-test", "--lic", str(lic), "--out", str(tmp_path / "run")]
    assert test_split.main([*argv, "--modes", "mediated", "--results", str(results), "--no-progress"]) == 0
    data = json.loads((results / "test_split.json").read_text())
    assert list(data["tables"]) == ["lic"] and list(data["config"]["records"]) == ["lic"]
    assert data["effects"]["lic"]["math"]["instructions"] == len(LIC)
    assert test_split.main(["--no-test", "--no-lic", "--out", str(tmp_path / "none")]) == 2
    assert "--no-lic and --no-test together leave no records" in capsys.readouterr().err
    code = ["--domains", "code", "--no-test", "--lic", str(lic), "--out", str(tmp_path / "code")]
    assert test_split.main([*code, "--results", str(results)]) == 2  # the LiC file holds math records only
    assert "no records to run: lic holds none of ['code']" in capsys.readouterr().err


def test_joining_both_mediators_leaves_additive_conversations_to_no_mediator_call(scripted, tmp_path, capsys):
    import test_split

    engine, _, _ = scripted
    results = tmp_path / "results"
    additive = [r for r in load_split("math", "test") if "-r" not in r.task_id][:2]
    assert additive == load_split("math", "test")[:2]  # --limit 2 takes these: no revision among them
    argv = ["--domains", "math", "--limit", "2", "--runs", "1", "--no-lic", "--modes", "mediated"]
    argv += ["--out", str(tmp_path / "run"), "--results", str(results), "--no-progress"]
    assert test_split.main([*argv, "--join-additions"]) == 0
    data = json.loads((results / "test_split.json").read_text())
    assert data["config"]["join_additions"] is True
    # Every follow-up only adds information: both send the shards joined, never calling the Mediator, so the
    # generic Mediator's shouting and the compiled one's rule never apply and compiling changes nothing.
    assert engine.requests_for("mediator") == []
    table = data["tables"]["test"]
    assert table["mediated"]["P"] == table["mediated+compiled"]["P"] == 100.0
    assert data["effects"]["test"]["math"]["effect"] == 0.0
    capsys.readouterr()
    assert test_split.main(argv) == 2  # the same folder without joining is another configuration
    assert "join_additions" in capsys.readouterr().err


def test_an_artifact_root_without_domain_artifacts_is_an_error_naming_the_folder_to_pass(scripted, tmp_path, capsys):
    import test_split

    _, shipped, _ = scripted  # compile_domains' layout: <root>/<model>/_generic/<domain>
    argv = ["--domains", "math", "--limit", "1", "--runs", "1", "--no-lic", "--modes", "mediated"]
    argv += ["--out", str(tmp_path / "run"), "--results", str(tmp_path / "results"), "--no-progress"]
    assert test_split.main([*argv, "--artifacts", str(shipped)]) == 2
    err = capsys.readouterr().err
    assert f"--artifacts {shipped}: no _generic/<domain> artifact for math" in err
    assert f"pass --artifacts {shipped / 'scripted_mediator'}" in err
    assert not (tmp_path / "run").exists()  # nothing ran
    assert test_split.main([*argv, "--artifacts", str(shipped / "scripted_mediator")]) == 0


def test_without_the_flag_a_joining_artifact_rewrites_every_turn_like_the_generic_mediator(scripted, tmp_path):
    import test_split

    engine, shipped, _ = scripted
    joining = MediatedAssistant([RULE], join_additions=True)
    save_artifact(joining, shipped / "scripted_mediator", domain="math")
    argv = ["--domains", "math", "--limit", "1", "--runs", "1", "--no-lic", "--modes", "mediated", "--out"]
    argv += [str(tmp_path / "run"), "--results", str(tmp_path / "results"), "--no-progress"]
    assert test_split.main(argv) == 0
    # Neither Mediator joins: the compiled one rewrote the follow-ups too (its rule in the prompt), so the effect
    # measured is the rules', not joining's.
    rule_calls = [call for call in engine.requests_for("mediator") if RULE in call.prompt]
    assert rule_calls and len(rule_calls) == len(engine.requests_for("mediator")) / 2
