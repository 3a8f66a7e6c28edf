"""The paper-reproduction recipe runs end to end on the scripted world (the real run needs API keys)."""

import sys
from pathlib import Path

import pytest
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


def test_router_shards_routes_follow_up_shards_and_lists_changes_against_an_earlier_file(tmp_path, monkeypatch):
    import json

    import router_shards

    found = router_shards.routes(["builtin"])
    assert found["im-math-04#3"] == {"task": "math", "text": "each notebook was $4", "joined": True}
    assert not any(key.endswith("#0") for key in found)  # the first shard is no follow-up
    assert any(not route["joined"] for route in found.values())  # revision tasks' revising shards go to the LM
    earlier = {key: dict(route) for key, route in found.items()}
    earlier["im-math-04#3"]["joined"] = False
    monkeypatch.setattr(router_shards, "RESULTS", tmp_path)
    (tmp_path / "old.json").write_text(json.dumps({"routes": earlier}))
    monkeypatch.setattr(router_shards, "routes", lambda sources: found)
    monkeypatch.setattr(router_shards, "write", lambda name, data, *rest: written.update(data))
    written: dict = {}
    monkeypatch.setattr(sys, "argv", ["router_shards.py", "--lic", "x.json", "--name", "new", "--against", "old"])
    router_shards.main()
    assert written["changed"] == ["im-math-04#3"]
    (tmp_path / "old.json").write_text(json.dumps({"routes": {}}))
    with pytest.raises(SystemExit, match="--against old: it routed other shards"):
        router_shards.main()
    (tmp_path / "old.json").write_text(json.dumps({"routes": {"im-math-04#3": "joined"}}))
    with pytest.raises(SystemExit, match=r"--against old: .*old\.json is not a results file of this script"):
        router_shards.main()


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


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"label": "maybe"}, "x-1: 'label'"),
        ({"label": None}, "x-1: 'label'"),
        ({"earlier": "utilities are 150"}, "x-1: 'earlier'"),  # a string would be read as one turn per letter
        ({"turn": None}, "x-1: 'turn'"),
        ({"assistant": 3}, "x-1: 'assistant'"),
    ],
)
def test_router_heldout_refuses_a_bad_follow_up_naming_it(tmp_path, monkeypatch, edit, message):
    import json

    import router_heldout

    good = {"id": "x-1", "domain": "math", "earlier": ["a"], "assistant": None, "turn": "b", "label": "adds"}
    (tmp_path / "dev.json").write_text(json.dumps([{**good, **edit}]))
    monkeypatch.setattr(router_heldout, "FOLLOWUPS", tmp_path)
    with pytest.raises(SystemExit, match=message):
        router_heldout.load("dev")
    (tmp_path / "dev.json").write_text(json.dumps([good, good]))
    with pytest.raises(SystemExit, match="item 1: not an object with a new string 'id'"):
        router_heldout.load("dev")
    assert router_heldout.share(0, 0) == "–" and router_heldout.share(1, 2).startswith("1/2 = 50.0 [")


def test_request_layout_sends_each_layout_pairs_runs_and_resumes_only_unchanged(tmp_path):
    from intent_mediator import ScriptedEngine
    from intent_mediator.data.loaders import load_records
    from intent_mediator.simulation.conversation import ConversationSettings
    from request_layout import LAYOUTS, measure, questions_last, summarize
    from side_by_side import ConfigMismatch

    assert questions_last(["how much?", "a is 2", "and b?", "b is 3"]) == ["a is 2", "b is 3", "how much?", "and b?"]
    records = [r for r in load_records("builtin", tasks=["math"]) if r.task_id in ("im-math-04", "im-math-05")]
    gold = {r.task_id: r["answer"].split("####")[-1].strip() for r in records}
    engine = ScriptedEngine()

    def reply(call):  # solves only from one message that holds the task's first shard and asks last
        text = call.last_user.lower()
        record = next((r for r in records if r.shards[0].shard.lower().rstrip("?") in text), None)
        asks_last = text.rstrip().endswith("?")
        return f"The answer is {gold[record.task_id]}." if record and asks_last else "The answer is 1."

    engine.on(role="assistant", reply=reply)
    settings = ConversationSettings(roles=RoleLMs.scripted(engine))
    config, rows = measure(records, settings, 2, tmp_path / "run")
    assert len(rows) == len(records) * len(LAYOUTS) * 2 and config["layouts"] == list(LAYOUTS)
    sent = {(r["task_id"], r["layout"]): r["request"] for r in rows}
    assert sent[("im-math-04", "lines")].splitlines()[0] == "what change does tom get back?"
    assert sent[("im-math-04", "lines_qlast")].splitlines()[-1] == "what change does tom get back?"
    assert sent[("im-math-04", "natural_qlast")].endswith(" What change does tom get back?")
    shards = [s.shard for s in records[0].shards]
    as_messages = [r.messages for r in engine.requests if len([m for m in r.messages if m["role"] == "user"]) > 1]
    assert [m["content"] for m in as_messages[0] if m["role"] == "user"] == shards  # one message per shard
    assert {(r["layout"], r["score"]) for r in rows} == {
        ("lines", 0.0), ("natural", 0.0), ("lines_qlast", 100.0), ("natural_qlast", 100.0), ("messages", 0.0)
    }  # fmt: skip
    _, data = summarize(rows)
    assert data["math/lines_qlast"]["diff"] == 100.0 and data["math/natural"]["diff"] == 0.0
    calls = len(engine.requests)
    assert measure(records, settings, 2, tmp_path / "run")[1] == rows and len(engine.requests) == calls
    with pytest.raises(ConfigMismatch, match="runs: 2 -> 3"):
        measure(records, settings, 3, tmp_path / "run")
    _, some = measure(records, settings, 1, tmp_path / "two", ["lines", "messages"])
    assert {r["layout"] for r in some} == {"lines", "messages"}


def test_request_layout_pairs_each_run_across_layouts_and_retries_a_crashed_call(tmp_path):
    from intent_mediator import ScriptedEngine
    from intent_mediator.data.loaders import load_records
    from intent_mediator.simulation.conversation import ConversationSettings
    from request_layout import LAYOUTS, OneRequest, measure, read_rows, summarize

    [record] = [r for r in load_records("builtin", tasks=["math"]) if r.task_id == "im-math-04"]
    seeded = ConversationSettings(roles=RoleLMs.from_models({"assistant": "openai/gpt-4o-mini"}, roles=("assistant",)))
    seeds = {
        (name, run): OneRequest(record, "x", run, seeded).assistant_lm.kwargs["seed"]
        for name in LAYOUTS
        for run in (0, 1)
    }
    assert len({seeds[(name, 0)] for name in LAYOUTS}) == 1 and seeds[("lines", 0)] != seeds[("lines", 1)]

    engine = ScriptedEngine()
    failing = {"on": True}

    def reply(call):
        if failing["on"] and call.last_user.startswith("What change"):  # the natural layout's sentence
            raise RuntimeError("upstream down")
        return "The answer is 11."

    engine.on(role="assistant", reply=reply)
    settings = ConversationSettings(roles=RoleLMs.scripted(engine))
    with pytest.raises(SystemExit, match=r"im-math-04 natural run 0: .*upstream down"):
        measure([record], settings, 1, tmp_path / "run", ["natural", "lines"])
    path = tmp_path / "run" / "rows.jsonl"
    assert [r["layout"] for r in read_rows(path)] == ["lines"]  # the crash wrote no row, and no 0
    path.write_text(path.read_text() + '{"task_id": "im-math-04", "lay')  # a run killed mid-write
    failing["on"] = False
    _, rows = measure([record], settings, 1, tmp_path / "run", ["lines", "natural"])
    assert [(r["layout"], r["score"]) for r in rows] == [("lines", 100.0), ("natural", 100.0)]
    assert rows[0]["reply"] == "The answer is 11." and rows[0]["cut_off"] is False and rows[0]["messages"] == 1
    path.write_text('not json\n{"a": 1}\n')
    with pytest.raises(SystemExit, match=r"rows\.jsonl:1: not a JSON row"):
        read_rows(path)
    with pytest.raises(ValueError, match="no row of the lines layout"):
        summarize([{**rows[1]}])
