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


# ---- format version, architecture and strict loading --------------------------------------------------------
import json  # noqa: E402

import dspy  # noqa: E402
from intent_mediator.artifacts import FORMAT_VERSION, HEADER, MAX_ARTIFACT_BYTES, load_program, read_meta  # noqa: E402

ONE_TURN = [{"role": "user", "content": "12 apples at $0.75 each"}]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"chain_of_thought": True},
        {"context": "You are a calculator.", "mediator_history": "incremental"},
        {"passthrough_first_turn": False},
        {"join_additions": True, "mediator_history": "incremental"},
        {"assistant_adapter": dspy.ChatAdapter()},
        {"assistant_adapter": dspy.JSONAdapter(), "chain_of_thought": True},
    ],
)
def test_every_program_the_library_builds_saves_and_loads_with_its_architecture(tmp_path, kwargs):
    program = MediatedAssistant(["keep every number"], **kwargs)
    program.mediator.predictor.demos = [dspy.Example(transcript=ONE_TURN, request="12 apples at $0.75 each")]
    folder = save_artifact(program, tmp_path, user="alice", domain="math")
    loaded = load_mediator("alice", "math", root=tmp_path)
    assert loaded.dump_state() == program.dump_state()
    assert loaded.chain_of_thought == program.chain_of_thought
    assert loaded.context == program.context and loaded.mediator_history == program.mediator_history
    assert type(loaded.assistant_adapter) is type(program.assistant_adapter)
    assert loaded.mediator.passthrough_first_turn == program.mediator.passthrough_first_turn
    assert loaded.mediator.join_additions == program.mediator.join_additions
    meta = read_meta(folder)
    # Written only when on, so a program saved without the option loads in a package that predates it.
    saved = json.loads((folder / "program.json").read_text())[HEADER]["architecture"]
    assert ("join_additions" in saved) is program.mediator.join_additions
    assert ("join_additions" in meta["architecture"]) is program.mediator.join_additions
    assert (
        meta["format_version"] == FORMAT_VERSION
        and meta["architecture"]["chain_of_thought"] == program.chain_of_thought
    )


def test_a_program_saved_by_plain_dspy_still_loads(tmp_path):
    for cot in (False, True):
        program = MediatedAssistant(["rule"], chain_of_thought=cot)
        program.save(str(tmp_path / "plain.json"))
        loaded = load_program(tmp_path / "plain.json")
        assert loaded.guidelines == ["rule"] and loaded.chain_of_thought is cot


def test_plain_dspy_load_still_reads_an_artifact(tmp_path):
    folder = save_artifact(MediatedAssistant(["rule"]), tmp_path)
    restored = MediatedAssistant()
    restored.load(str(folder / "program.json"))
    assert restored.guidelines == ["rule"]


def test_a_missing_root_is_an_error_not_the_uncompiled_program(tmp_path):
    with pytest.raises(ArtifactError, match="artifcats is not a folder"):
        load_mediator("alice", "math", root=tmp_path / "artifcats")
    assert load_mediator("alice", "math", root=tmp_path).guidelines == []  # an empty root: uncompiled, by design


def _written(tmp_path, edit):
    folder = save_artifact(MediatedAssistant(["rule"]), tmp_path)
    data = json.loads((folder / "program.json").read_text())
    edit(data)
    (folder / "program.json").write_text(json.dumps(data))
    return folder / "program.json"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(extra={}), r"unknown key\(s\) \['extra'\]"),
        (lambda d: d["mediator.rewrite"].update(evil=1), r"unknown key\(s\) \['evil'\]"),
        (lambda d: d["mediator.rewrite"].update(demos="x"), "demos has the wrong type"),
        (lambda d: d["mediator.rewrite"]["signature"].update(instructions=7), "instructions must be a string"),
        (
            lambda d: d["mediator.rewrite"].update(lm={"model": "openai/x", "api_base": "http://evil"}),
            "lm must be null",
        ),
        (lambda d: d["intent_mediator"].update(format_version=99), "format_version 99 is newer"),
        (lambda d: d["intent_mediator"].update(format_version="1"), "positive integer"),
        (lambda d: d["intent_mediator"]["architecture"].update(chain_of_thought="yes"), "wrong type"),
        (lambda d: d["intent_mediator"]["architecture"].update(chain_of_thought=True), r"unknown key.*predict"),
        (lambda d: d["intent_mediator"]["architecture"].update(assistant_adapter="os.system"), "is unknown"),
        (lambda d: d.pop("mediator.rewrite"), r"missing key\(s\) \['mediator.rewrite'\]"),
    ],
)
def test_malformed_artifacts_are_refused_naming_the_key(tmp_path, edit, message):
    path = _written(tmp_path, edit)
    with pytest.raises(ArtifactError, match=message):
        load_program(path)


def test_oversized_non_utf8_and_non_object_files_are_refused(tmp_path):
    path = tmp_path / "program.json"
    path.write_bytes(b" " * (MAX_ARTIFACT_BYTES + 1))
    with pytest.raises(ArtifactError, match="over the"):
        load_program(path)
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ArtifactError, match="not UTF-8"):
        load_program(path)
    path.write_text("[1, 2]")
    with pytest.raises(ArtifactError, match="must be a JSON object"):
        load_program(path)


def test_artifacts_are_written_atomically(tmp_path, monkeypatch):
    folder = save_artifact(MediatedAssistant(["old"]), tmp_path)
    import intent_mediator.files as files

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(OSError):
        save_artifact(MediatedAssistant(["new"]), tmp_path)
    monkeypatch.undo()
    assert load_mediator(root=tmp_path).guidelines == ["old"]  # the old artifact is whole
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["meta.json", "program.json"]
