import pytest
from intent_mediator import MediatedAssistant
from intent_mediator.artifacts import ArtifactError, load_mediator, resolve_artifact, save_artifact, validate_id


@pytest.mark.parametrize("bad", ["../../etc", "..", ".hidden", "a/b", "", "a b", "x" * 200])
def test_unsafe_ids_are_rejected(bad):
    with pytest.raises(ArtifactError):
        validate_id(bad, "user")


def test_fallback_chain_user_domain_then_domain_then_generic(tmp_path):
    save_artifact(MediatedAssistant(["generic rule"]), tmp_path)
    save_artifact(MediatedAssistant(["math rule"]), tmp_path, domain="math")
    save_artifact(MediatedAssistant(["alice math rule"]), tmp_path, user="alice", domain="math")
    assert load_mediator("alice", "math", root=tmp_path).guidelines == ["alice math rule"]
    assert load_mediator("bob", "math", root=tmp_path).guidelines == ["math rule"]
    assert load_mediator("alice", "code", root=tmp_path).guidelines == ["generic rule"]
    assert resolve_artifact(tmp_path / "empty", "alice", "math") is None


def test_artifacts_hold_no_lms_or_pickles(tmp_path, engine):
    program = MediatedAssistant(["r"], mediator_lm=engine.lm("mediator"), assistant_lm=engine.lm("assistant"))
    folder = save_artifact(program, tmp_path, user="u1", domain="d1", meta={"metric": "task"})
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "program.json"]
    assert "scripted" not in (folder / "program.json").read_text()
    assert program.mediator.role_lm is not None  # saving did not strip the caller's program
