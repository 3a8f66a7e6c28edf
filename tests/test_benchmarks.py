"""The paper-reproduction recipe runs end to end on the scripted world (the real run needs API keys)."""

import sys
from pathlib import Path

from intent_mediator import RoleLMs
from intent_mediator.testing.refiner_world import KEEP_ALL, RECORDS, world

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_paper_reproduction_protocol_on_the_scripted_world(tmp_path):
    from paper_reproduction import reproduce

    summary = reproduce(
        RECORDS[:8],
        RoleLMs.scripted(world()),
        tmp_path,
        runs=1,
        mining=3,
        workers=2,
        refiner_kwargs={"rounds": 1, "candidates_per_round": 1},
    )
    overall = summary["overall"]
    assert overall["full"]["P"] == 100 and overall["sharded"]["P"] == 0
    assert overall["mediated+paper"]["P"] == 100 and overall["mediated+optimize"]["P"] == 100
    assert overall["full"]["n"] == 5  # 3 mining tasks removed from the 8
    assert summary["guidelines"]["math/paper"][0] == KEEP_ALL


def test_load_percentiles_are_nearest_rank():
    from _load import percentile

    hundred = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose
    assert percentile(hundred, 0.99) == 99 and percentile(hundred, 0.5) == 50 and percentile(hundred, 1.0) == 100
    assert percentile([float(v) for v in range(1, 21)], 0.95) == 19  # not the maximum
    assert percentile([7.0], 0.5) == 7 and percentile([], 0.5) != percentile([], 0.5)  # NaN when empty


def test_router_heldout_reads_both_histories_and_counts_an_lm_call_only_when_made():
    from intent_mediator.engines.scripted import ScriptedEngine
    from intent_mediator.programs.mediator import Mediator
    from router_heldout import route, wilson

    engine = ScriptedEngine()
    engine.on(role="mediator", reply=lambda call: {"request": " ".join(call.user_turns())})
    mediator = Mediator(join_additions=True, lm=engine.lm("mediator"))
    adds = {"earlier": ["utilities are 150"], "assistant": None, "turn": "rent is 1200", "label": "adds"}
    revises = {**adds, "turn": "utilities are 180", "label": "revises"}
    answer = {**adds, "assistant": "Two options: split evenly or by room size. Which one?", "turn": "the first one"}
    for history in ("incremental", "full"):
        assert route(mediator, engine, adds, history) == "joined"
        assert route(mediator, engine, revises, history) != "joined"
        assert route(mediator, engine, answer, history) != "joined"
    assert len(engine.requests) == 4  # two items per history reached the LM, the addition never did
    assert wilson(40, 40)[1] == 100.0 and str(wilson(0, 40)[0]) == "0.0"
    assert wilson(20, 40) == [35.2, 64.8]  # 50% of 40: the interval is about 15 points either side


def test_router_heldout_rejects_a_record_without_a_label(tmp_path, monkeypatch):
    import pytest
    import router_heldout

    (tmp_path / "dev.json").write_text('[{"id": "x-1", "domain": "math", "earlier": ["a"], "turn": "b"}]')
    monkeypatch.setattr(router_heldout, "FOLLOWUPS", tmp_path)
    with pytest.raises(SystemExit, match="x-1"):
        router_heldout.load("dev")
