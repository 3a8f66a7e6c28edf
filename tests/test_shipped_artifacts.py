"""Compiled artifacts shipped as package data: the fallback chain, the package-data globs, and the one flag of
`serve`, `chat` and `evaluate` that uses them."""

import io
import json
import tomllib
from pathlib import Path, PurePosixPath

import pytest
from intent_mediator import MediatedAssistant, RoleLMs, artifacts, cli
from intent_mediator.artifacts import (
    ArtifactError,
    choose_artifact,
    load_mediator,
    save_artifact,
    shipped_domains,
    shipped_model_key,
    shipped_root,
)
from intent_mediator.commands import chat, common

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A stand-in for the package's data/artifacts with a math artifact for the embedded model."""
    root = tmp_path / "shipped"
    save_artifact(MediatedAssistant(["Shipped math rule."]), root / "embedded", domain="math")
    monkeypatch.setattr(artifacts, "SHIPPED_ROOT", root)
    return root


def test_model_keys_name_the_default_embedded_model_one_way():
    assert shipped_model_key(None) == shipped_model_key("embedded") == "embedded"
    assert shipped_model_key("embedded/qwen2.5-coder-1.5b") == "embedded"
    assert shipped_model_key("embedded/other-model") == "embedded_other-model"
    assert shipped_model_key("openai/gpt-4o-mini") == "openai_gpt-4o-mini"
    with pytest.raises(ArtifactError, match="invalid model id"):
        shipped_model_key("../x")


def test_fallback_chain_user_domain_shipped_generic_uncompiled(tmp_path, shipped):
    mine = tmp_path / "mine"
    save_artifact(MediatedAssistant(["alice math"]), mine, user="alice", domain="math")
    save_artifact(MediatedAssistant(["my math"]), mine, domain="math")
    save_artifact(MediatedAssistant(["my generic"]), mine)

    def pick(user="alice", domain="math", model="embedded"):
        program = load_mediator(user, domain, root=mine, shipped=model)
        return program.artifact.level, program.guidelines

    assert pick() == ("user", ["alice math"])
    assert pick(user="bob") == ("domain", ["my math"])
    (mine / "_generic" / "math" / "program.json").unlink()
    assert pick(user="bob") == ("shipped", ["Shipped math rule."])
    assert pick(user="bob", model="embedded/qwen2.5-coder-1.5b") == ("shipped", ["Shipped math rule."])
    assert pick(user="bob", model="openai/gpt-4o-mini") == ("generic", ["my generic"])  # nothing shipped for it
    assert pick(user="bob", domain="code") == ("generic", ["my generic"])
    (mine / "_generic" / "_generic" / "program.json").unlink()
    assert pick(user="bob", domain="code") == ("uncompiled", [])
    # Without a root of your own, only the shipped artifacts are looked at; without `shipped` they are not.
    only_shipped = load_mediator(None, "math", root=None, shipped="embedded")
    assert only_shipped.artifact.describe() == f"shipped artifact {shipped / 'embedded' / '_generic' / 'math'}"
    assert choose_artifact(None, None, "math").describe() == "the uncompiled Mediator (no compiled artifact found)"
    assert shipped_domains("embedded") == ["math"] and shipped_domains("openai/x") == []


def test_package_data_globs_carry_what_compile_domains_writes(tmp_path):
    """pyproject's package data for intent_mediator.data matches exactly the files of a shipped artifact."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["intent_mediator.data"]
    folder = save_artifact(
        MediatedAssistant(["r"]), tmp_path / "artifacts" / shipped_model_key("embedded"), domain="db"
    )
    written = [PurePosixPath(p.relative_to(tmp_path).as_posix()) for p in folder.iterdir()]
    assert sorted(p.name for p in written) == ["meta.json", "program.json"]

    def shipped_by_glob(path: PurePosixPath) -> bool:  # setuptools globs: `*` never crosses a `/`
        return any(path.match(p) and len(path.parts) == len(PurePosixPath(p).parts) for p in patterns)

    assert all(shipped_by_glob(path) for path in written), written
    # A stray file at another depth (e.g. a work file) is not shipped.
    assert not shipped_by_glob(PurePosixPath("artifacts/embedded/notes.json"))
    assert "splits.json" in patterns  # the demo and the benchmarks read the fixed splits from the package
    assert artifacts.SHIPPED_ROOT.resolve() == (REPO / "data" / "artifacts").resolve()


def test_shipped_artifacts_in_the_repository_load_and_say_what_they_are():
    """Whatever ships (possibly nothing yet) loads and names its model, split and validation score."""
    for domain in shipped_domains("embedded"):
        folder = shipped_root("embedded") / "_generic" / domain
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["domain"] == domain and meta["model"] == "embedded"
        assert {"validation_score", "split", "package_version"} <= set(meta)
        assert load_mediator(None, domain, root=None, shipped="embedded").artifact.level == "shipped"


def test_serve_compiled_serves_the_shipped_domain_artifact_and_names_it(tmp_path, shipped, engine):
    from fastapi.testclient import TestClient
    from intent_mediator.server import ServerConfig, create_app

    engine.on(
        role="mediator",
        reply=lambda call: {"request": ("[SHIPPED] " if "Shipped math rule." in call.system else "") + "q"},
    )
    engine.on(role="assistant", reply=lambda call: f"answer to: {call.last_user}")
    config = ServerConfig(compiled=True)
    app = create_app(config, upstream_lm=engine.lm("assistant"), mediator_lm=engine.lm("mediator"))
    body = {"model": "any", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}
    with TestClient(app, client=("127.0.0.1", 5000)) as client:
        math = client.post("/v1/chat/completions", json=body, headers={"X-Mediator-Domain": "math"})
        code = client.post("/v1/chat/completions", json=body, headers={"X-Mediator-Domain": "code"})
    assert math.json()["choices"][0]["message"]["content"] == "answer to: [SHIPPED] q"
    assert math.headers["X-Mediator-Artifact"] == "shipped:embedded/_generic/math"
    assert code.json()["choices"][0]["message"]["content"] == "answer to: q"
    assert code.headers["X-Mediator-Artifact"] == "uncompiled"


def test_serve_says_at_start_what_it_found(tmp_path, shipped):
    from intent_mediator.commands.serve import artifacts_found, server_config

    save_artifact(MediatedAssistant(["x"]), tmp_path / "mine", user="alice", domain="code")
    args = cli.build_parser().parse_args(["serve", "--compiled", "--artifacts", str(tmp_path / "mine")])
    line = artifacts_found(server_config(args))
    assert "1 artifact(s) under" in line and "alice/code" in line
    assert f"shipped artifacts for embedded: math ({shipped / 'embedded'})" in line
    args = cli.build_parser().parse_args(["serve", "--compiled", "--mediator", "openai/gpt-4o-mini"])
    assert "no shipped artifact for openai/gpt-4o-mini" in artifacts_found(server_config(args))
    assert "the uncompiled Mediator serves every request" in artifacts_found(
        server_config(cli.build_parser().parse_args(["serve"]))
    )


def test_chat_compiled_loads_the_shipped_artifact_and_says_so(monkeypatch, shipped, engine):
    engine.on(
        role="mediator", reply=lambda call: {"request": "rule seen" if "Shipped math rule." in call.system else "-"}
    )
    engine.on(role="assistant", reply=lambda call: call.last_user)
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles: RoleLMs.scripted(engine))
    # The scripted mediator's model string is not the embedded model: point the chain at its key.
    save_artifact(MediatedAssistant(["Shipped math rule."]), shipped / "scripted_mediator", domain="math")
    stdout = io.StringIO()
    args = cli.build_parser().parse_args(["chat", "--compiled", "--domain", "math"])
    chat.run(args, stdin=io.StringIO("a\nb\n"), stdout=stdout)
    lines = stdout.getvalue().splitlines()
    assert lines[0] == f"Mediator: shipped artifact {shipped / 'scripted_mediator' / '_generic' / 'math'}"
    assert "assistant> rule seen" in lines
    assert cli.main(["chat", "--compiled", "--guidelines", "x.txt"]) == 2


def test_evaluate_compiled_uses_each_domains_shipped_artifact(monkeypatch, tmp_path, shipped, engine, capsys):
    seen = []
    engine.on(
        role="mediator",
        reply=lambda call: seen.append("Shipped math rule." in call.system) or {"request": " ".join(call.user_turns())},
    )
    engine.on(role="assistant", reply="I am not sure.")
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    save_artifact(MediatedAssistant(["Shipped math rule."]), shipped / "scripted_mediator", domain="math")
    argv = ["evaluate", "--tasks", "math,code", "--limit", "1", "--modes", "mediated", "--compiled"]
    assert cli.main([*argv, "--out", str(tmp_path / "run"), "--no-progress", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "mediated math: shipped artifact" in out
    assert "mediated code: the uncompiled Mediator (no compiled artifact found)" in out
    trajectories = [json.loads(line) for line in (tmp_path / "run" / "trajectories.jsonl").read_text().splitlines()]
    guidelines = {t["task"]: t["guidelines"] for t in trajectories}
    assert guidelines == {"math": ["Shipped math rule."], "code": []}
    assert any(seen) and not all(seen)
    assert cli.main([*argv, "--artifacts", str(tmp_path / "nope"), "--out", str(tmp_path / "r2")]) == 2
