"""Evaluation runs: output contract, resume without new LM calls, crashes recorded, reports written."""

import json

from intent_mediator import RoleLMs, ScriptedEngine
from intent_mediator.data.loaders import load_records
from intent_mediator.report import write_report
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.simulation.runner import evaluate
from intent_mediator.simulation.trajectory import TrajectoryLog

RECORDS = load_records("builtin", tasks=["math"])[:3]
GOLD = {r.task_id: r["answer"].split("####")[-1].strip() for r in RECORDS}


def make_engine(crash_on: str | None = None) -> ScriptedEngine:
    engine = ScriptedEngine()
    engine.on(role="mediator", reply=lambda call: {"request": " ".join(call.user_turns())})

    def assistant(call):
        if crash_on and crash_on in call.prompt:
            raise RuntimeError("assistant backend down")
        for record in RECORDS:
            # Answers once the whole task is in view: full and mediated succeed, sharded on its last turn.
            if record["question"] in call.prompt or all(s.shard in call.prompt for s in record.shards):
                return f"Answer: {GOLD[record.task_id]}"
        return "More?"

    engine.on(role="assistant", reply=assistant)
    return engine


def test_output_contract_and_resume_without_new_calls(tmp_path):
    engine = make_engine()
    settings = ConversationSettings(roles=RoleLMs.scripted(engine))
    first = evaluate(RECORDS, ["full", "sharded", "mediated"], 2, tmp_path, settings, workers=4, progress=False)
    assert (first.new, first.skipped, first.errors) == (18, 0, 0)
    lines = [json.loads(line) for line in (tmp_path / "trajectories.jsonl").read_text().splitlines()]
    assert len(lines) == 18
    assert {"task_id", "task", "mode", "run", "score", "error", "turns"} <= set(lines[0])
    summary = json.loads((tmp_path / "summary.json").read_text())
    cell = summary["per_task"]["math"]["sharded"]
    assert {"P", "A90", "U90_10", "R", "n"} <= set(cell) and cell["n"] == 6
    calls = len(engine.requests)
    again = evaluate(RECORDS, ["full", "sharded", "mediated"], 2, tmp_path, settings, workers=4, progress=False)
    assert (again.new, again.skipped) == (0, 18)
    assert len(engine.requests) == calls  # nothing was asked twice


def test_a_crashed_conversation_is_an_error_and_the_run_goes_on(tmp_path):
    bad = RECORDS[1]["question"]
    settings = ConversationSettings(roles=RoleLMs.scripted(make_engine(crash_on=bad)))
    result = evaluate(RECORDS, ["full"], 1, tmp_path, settings, workers=2, progress=False)
    assert (result.new, result.errors) == (3, 1)
    rows = {t.task_id: t for t in TrajectoryLog(tmp_path / "trajectories.jsonl").read()}
    assert rows[RECORDS[1].task_id].score is None and "backend down" in rows[RECORDS[1].task_id].error
    assert result.summary["per_task"]["math"]["full"]["errors"] == 1
    assert result.summary["per_task"]["math"]["full"]["n"] == 2  # the error is not averaged in as 0
    # A rerun retries only the errored conversation; its new line supersedes the error.
    fixed = ConversationSettings(roles=RoleLMs.scripted(make_engine()))
    retry = evaluate(RECORDS, ["full"], 1, tmp_path, fixed, workers=2, progress=False)
    assert (retry.new, retry.skipped, retry.errors) == (1, 2, 0)
    assert retry.summary["per_task"]["math"]["full"]["n"] == 3


def test_report_writes_markdown_html_and_charts(tmp_path):
    settings = ConversationSettings(roles=RoleLMs.scripted(make_engine()))
    evaluate(RECORDS, ["full", "sharded", "mediated"], 1, tmp_path, settings, workers=2, progress=False)
    paths = write_report(tmp_path, "test report")
    markdown = paths["markdown"].read_text()
    assert "| mode | math | P (all) | A90 | U90_10 | R | n |" in markdown
    assert "| mediated | 100.0 |" in markdown
    assert paths["performance.png"].read_bytes()[:4] == b"\x89PNG"
    assert "data:image/png;base64," in paths["html"].read_text()
