"""The Refiner compiles guidelines that make the Mediator keep what each persona means."""

import json
import subprocess
import sys

import pytest
from intent_mediator import MediatedAssistant
from intent_mediator.artifacts import load_mediator, save_artifact
from intent_mediator.optimizers.refiner import Refiner, RefinerError
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.simulation.runner import simulate
from intent_mediator.testing.refiner_world import (
    ANNOUNCED,
    EXPLICIT,
    KEEP_ALL,
    LAZY,
    RECORDS,
    alternating_world,
    roles,
    world,
)

TRAIN, VAL = RECORDS[:5], RECORDS[5:10]


def settings(engine, persona=LAZY):
    return ConversationSettings(roles=roles(engine), persona=persona)


def mediated_score(engine, persona, guidelines) -> float:
    s = settings(engine, persona)
    s.program = MediatedAssistant(guidelines)
    runs = simulate(VAL, ["mediated"], 1, s, workers=2)
    return sum(t.score for t in runs) / len(runs)


def test_compile_makes_the_mediator_keep_every_constraint(tmp_path):
    engine = world()
    student = MediatedAssistant()
    refiner = Refiner(
        settings=settings(engine), rounds=1, candidates_per_round=1, pairs_per_batch=3, report_dir=tmp_path
    )
    program = refiner.compile(student, trainset=TRAIN, valset=VAL)
    report = program.refiner_report
    assert student.guidelines == []  # the student is untouched
    assert program.guidelines[0] == KEEP_ALL
    assert report["baseline_score"] < 50 and report["best"]["score"] > 90
    assert report["usage"]["refiner"]["calls"] >= 1 and report["pairs_found"] == len(TRAIN)
    assert json.loads((tmp_path / "refiner_report.json").read_text())["guidelines"] == program.guidelines


def test_paper_mode_makes_exactly_one_refiner_call():
    engine = world()
    program = Refiner(settings=settings(engine), mode="paper", pairs_per_batch=5).compile(
        MediatedAssistant(), trainset=TRAIN
    )
    assert len(engine.requests_for("refiner")) == 1
    assert len(engine.requests_for("refiner")[0].messages[-1]["content"]) > 0
    assert program.guidelines[0] == KEEP_ALL
    assert "baseline_score" not in program.refiner_report  # no validation in the paper's single pass


def test_mining_runs_sample_each_train_task_several_times():
    engine = world()
    program = Refiner(settings=settings(engine), mode="paper", mining_runs=2).compile(
        MediatedAssistant(), trainset=TRAIN
    )
    assert program.refiner_report["pairs_found"] == 2 * len(TRAIN)  # every sharded run of every task failed
    sources = {p["failed"] for p in program.refiner_report["rounds"][0]["pairs"]}
    assert {"sharded/run 0", "sharded/run 1"} <= sources
    with pytest.raises(ValueError, match="mining_runs must be at least 1"):
        Refiner(settings=settings(engine), mining_runs=0)


def test_two_personas_learn_different_guidelines_and_each_wins_with_its_own(capsys):
    compiled = {}
    for persona in (LAZY, EXPLICIT):
        engine = world()
        refiner = Refiner(settings=settings(engine, persona), rounds=1, candidates_per_round=1, pairs_per_batch=3)
        compiled[persona.name] = refiner.compile(MediatedAssistant(), trainset=TRAIN, valset=VAL).guidelines
    assert compiled["lazy"][0] == KEEP_ALL and compiled["explicit"][0] == ANNOUNCED
    table = {(p.name, g): mediated_score(world(), p, compiled[g]) for p in (LAZY, EXPLICIT) for g in compiled}
    with capsys.disabled():
        print("\npersona x guidelines (mediated P on the valset)")
        for persona in ("lazy", "explicit"):
            print(f"  {persona:9s}" + "".join(f"  {g}: {table[(persona, g)]:5.1f}" for g in compiled))
    assert table[("lazy", "lazy")] > table[("lazy", "explicit")]
    assert table[("explicit", "explicit")] > table[("explicit", "lazy")]


def test_killed_compile_resumes_without_repeating_finished_trials(tmp_path):
    storage = f"sqlite:///{tmp_path / 'refiner.db'}"
    engine = world()
    calls = {"n": 0}

    class Killed(KeyboardInterrupt):
        pass

    def dying_assistant(call):
        calls["n"] += 1
        if calls["n"] > 95:  # mining (30 calls), the baseline (25) and a trial or so finish, then it "dies"
            raise Killed()
        from intent_mediator.testing.refiner_world import assistant_reply

        return assistant_reply(call)

    engine.rules[1].reply = dying_assistant
    kwargs = dict(rounds=1, candidates_per_round=2, trials_per_round=6, storage=storage, workers=1)
    with pytest.raises(Killed):
        Refiner(settings=settings(engine), **kwargs).compile(MediatedAssistant(), trainset=TRAIN, valset=VAL)
    import optuna

    first = optuna.load_study(study_name="refiner-r0", storage=storage)
    finished_before = [t for t in first.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert finished_before, "some trials finished before the kill"
    refiner_calls_before = len(engine.requests_for("refiner"))

    fresh = world()
    program = Refiner(settings=settings(fresh), **kwargs).compile(MediatedAssistant(), trainset=TRAIN, valset=VAL)
    after = optuna.load_study(study_name="refiner-r0", storage=storage)
    finished_after = [t for t in after.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished_after) == 6
    assert {t.number for t in finished_before} <= {t.number for t in finished_after}
    assert len(fresh.requests_for("refiner")) == 0 and refiner_calls_before > 0  # candidates came from storage
    assert program.guidelines[0] == KEEP_ALL


def test_budget_cap_is_never_exceeded():
    engine = world()
    refiner = Refiner(settings=settings(engine), rounds=2, candidates_per_round=2, max_lm_calls=60, workers=2)
    program = refiner.compile(MediatedAssistant(), trainset=TRAIN, valset=VAL)
    assert len(engine.requests) <= 60
    assert program.refiner_report["budget"]["calls"] <= 60
    assert "stopped" in program.refiner_report


def test_a_budget_spent_mid_search_keeps_the_trials_that_finished():
    kwargs = {"rounds": 1, "candidates_per_round": 2}
    uncapped = Refiner(settings=settings(alternating_world()), **kwargs)
    calls = uncapped.compile(MediatedAssistant(), trainset=TRAIN, valset=VAL).refiner_report["budget"]["calls"]
    # One call short: the budget runs out inside the last trial that needs LM calls, after the first one finished.
    capped = Refiner(settings=settings(alternating_world()), max_lm_calls=calls - 1, **kwargs)
    program = capped.compile(MediatedAssistant(), trainset=TRAIN, valset=VAL)
    report = program.refiner_report
    states = [t["state"] for t in report["rounds"][0]["trials"]]
    assert states[0] == "COMPLETE" and "RUNNING" in states and "stopped" in report
    assert report["baseline_score"] == 0.0 and report["best"]["score"] == 100.0
    assert KEEP_ALL in program.guidelines and report["guidelines"] == program.guidelines


def test_garbage_from_the_refiner_is_skipped_or_a_clear_error():
    garbage = world(refiner=lambda call: "I think you should be nicer to users!!")
    program = Refiner(settings=settings(garbage), rounds=1).compile(MediatedAssistant(), trainset=TRAIN, valset=VAL)
    assert program.guidelines == [] and program.refiner_report["skipped_candidates"]
    with pytest.raises(RefinerError, match="no usable guidelines"):
        Refiner(settings=settings(world(refiner=lambda call: "???")), mode="paper").compile(
            MediatedAssistant(), trainset=TRAIN
        )


def test_no_pairs_is_a_clear_error():
    engine = world()
    engine.rules[0].reply = lambda call: {"request": " ".join(call.user_turns())}  # a perfect mediator
    with pytest.raises(RefinerError, match="no contrastive pairs"):
        Refiner(settings=settings(engine), failure_mode="mediated").compile(MediatedAssistant(), trainset=TRAIN)


def test_compiled_artifact_gives_identical_requests_in_a_new_process(tmp_path):
    engine = world()
    program = Refiner(settings=settings(engine), mode="paper").compile(MediatedAssistant(), trainset=TRAIN)
    save_artifact(program, tmp_path, user="alice", domain="math", meta={"metric": "task"})
    transcript = [
        {"role": "user", "content": "how much?"},
        {"role": "assistant", "content": "of what?"},
        {"role": "user", "content": "cookies at $2"},
    ]
    here = load_mediator("alice", "math", root=tmp_path, mediator_lm=engine.lm("mediator"))
    local = here.mediator(transcript=transcript).request
    script = f"""
import json
from intent_mediator.testing.refiner_world import world
from intent_mediator.artifacts import load_mediator
engine = world()
program = load_mediator("alice", "math", root={str(tmp_path)!r}, mediator_lm=engine.lm("mediator"))
print(json.dumps(program.mediator(transcript={transcript!r}).request))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == local == "how much? cookies at $2"


def test_proxy_selection_needs_no_assistant_calls_after_mining():
    # The proxy scores the Mediator's own request, so it is compared here without the check that would repair it.
    engine = world(uncompiled="last")
    refiner = Refiner(settings=settings(engine), rounds=1, candidates_per_round=1, selection="proxy")
    program = refiner.compile(MediatedAssistant(check=False), trainset=TRAIN, valset=VAL)
    mining_calls = sum(1 + len(r.shards) for r in TRAIN)  # full + one sharded turn per shard
    assert len(engine.requests_for("assistant")) == mining_calls
    assert program.guidelines[0] == KEEP_ALL
    assert program.refiner_report["baseline_score"] < program.refiner_report["best"]["score"]


def test_revision_rounds_reuse_the_mined_full_runs():
    engine = world()
    # After round 1 the revision step re-simulates the training tasks in mediated mode only.
    Refiner(settings=settings(engine), rounds=2, candidates_per_round=1).compile(
        MediatedAssistant(), trainset=TRAIN, valset=VAL
    )
    questions = {r["question"] for r in TRAIN}
    full_prompts = [q for q in engine.requests_for("assistant") if q.messages[-1]["content"] in questions]
    assert len(full_prompts) == len(TRAIN)  # simulated once while mining, never again in the revision round
