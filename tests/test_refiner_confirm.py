"""The Refiner's confirmation step: a winner ships only if it wins again on fresh runs of the valset."""

import threading

import pytest
from intent_mediator import MediatedAssistant, ScriptedEngine
from intent_mediator.optimizers.refiner import Refiner, RefinerError
from intent_mediator.signatures import DistillGuidelines
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.testing.refiner_world import KEEP_ALL, LAZY, RECORDS, assistant_reply, mediator_reply, roles, world

TRAIN, VAL = RECORDS[:5], RECORDS[5:10]
LUCKY = "End every request with the tag #lucky."


def settings(engine):
    return ConversationSettings(roles=roles(engine), persona=LAZY)


def lucky_world() -> ScriptedEngine:
    """The refiner proposes LUCKY: the Mediator then joins every turn and adds a tag, and the assistant answers a
    tagged request correctly only the first time it sees it. So LUCKY solves every valset task in the search's
    run 0 and none in later runs: the shape of a win that was one lucky sample."""
    seen: set[str] = set()
    lock = threading.Lock()

    def mediator(call):
        if LUCKY in call.system:
            return {"request": " ".join(call.user_turns()) + " #lucky"}
        return mediator_reply(call)

    def assistant(call):
        if "#lucky" in call.last_user:
            with lock:
                first = call.last_user not in seen
                seen.add(call.last_user)
            if not first:
                return "Could you tell me more?"
        return assistant_reply(call)

    engine = ScriptedEngine()
    engine.on(role="mediator", reply=mediator)
    engine.on(role="assistant", reply=assistant)
    engine.on(role="refiner", signature=DistillGuidelines, reply=lambda call: {"guidelines": [LUCKY]})
    return engine


def test_a_lucky_winner_is_not_confirmed_and_the_uncompiled_guidelines_ship(tmp_path):
    refiner = Refiner(settings=settings(lucky_world()), rounds=1, candidates_per_round=1, confirm_runs=2)
    program = refiner.compile(MediatedAssistant(), trainset=TRAIN, valset=VAL)
    report = program.refiner_report
    assert report["search_best"]["guidelines"] == [LUCKY] and report["search_best"]["score"] == 100.0
    confirmation = report["confirmation"]
    assert confirmation["runs"] == [1, 2] and confirmation["confirmed"] is False
    assert confirmation["score"] == 0.0 == confirmation["uncompiled_score"]
    assert set(confirmation["scores"]) == {r.task_id for r in VAL}
    assert all(len(runs) == 2 for runs in confirmation["scores"].values())
    assert program.guidelines == [] and report["guidelines"] == []
    assert report["best"] == {"guidelines": [], "score": report["baseline_score"], "round": -1}


def test_without_confirmation_the_lucky_winner_ships():
    refiner = Refiner(settings=settings(lucky_world()), rounds=1, candidates_per_round=1)
    program = refiner.compile(MediatedAssistant(), trainset=TRAIN, valset=VAL)
    assert program.guidelines == [LUCKY] and "confirmation" not in program.refiner_report


def test_a_winner_that_wins_again_is_confirmed_and_ships():
    engine = world()
    refiner = Refiner(settings=settings(engine), rounds=1, candidates_per_round=1, confirm_runs=2)
    program = refiner.compile(MediatedAssistant(), trainset=TRAIN, valset=VAL)
    confirmation = program.refiner_report["confirmation"]
    assert confirmation["confirmed"] is True and program.guidelines[0] == KEEP_ALL
    assert confirmation["score"] == 100.0 and confirmation["uncompiled_score"] == 0.0
    assert "search_best" not in program.refiner_report
    # Confirmation ran runs 1 and 2 of every valset task, for the winner and for the uncompiled list.
    confirm_conversations = 2 * 2 * len(VAL)
    unconfirmed = Refiner(settings=settings(world()), rounds=1, candidates_per_round=1)
    plain = unconfirmed.compile(MediatedAssistant(), trainset=TRAIN, valset=VAL).refiner_report
    extra = program.refiner_report["budget"]["calls"] - plain["budget"]["calls"]
    assert extra >= confirm_conversations  # at least one assistant call per conversation


def test_a_budget_spent_before_confirmation_ships_the_uncompiled_guidelines():
    kwargs = {"rounds": 1, "candidates_per_round": 1}
    calls = Refiner(settings=settings(world()), **kwargs).compile(MediatedAssistant(), trainset=TRAIN, valset=VAL)
    spent = calls.refiner_report["budget"]["calls"]
    # A few calls to spare: the search finishes, then the budget runs out a few conversations into confirmation.
    capped = Refiner(settings=settings(world()), confirm_runs=2, max_lm_calls=spent + 3, **kwargs)
    program = capped.compile(MediatedAssistant(), trainset=TRAIN, valset=VAL)
    report = program.refiner_report
    assert "stopped" in report and program.guidelines == []
    assert report["confirmation"]["confirmed"] is False and "budget" in report["confirmation"]["note"]
    assert report["search_best"]["guidelines"][0] == KEEP_ALL and report["budget"]["calls"] <= spent + 3


def test_confirm_needs_runs_and_refuses_a_negative_count():
    with pytest.raises(ValueError, match="confirm_runs must be 0 or more"):
        Refiner(settings=settings(world()), confirm_runs=-1)
    with pytest.raises(RefinerError, match="confirm_runs is 0"):
        Refiner(settings=settings(world())).confirm(MediatedAssistant(), [KEEP_ALL], VAL)


def test_confirm_alone_scores_a_given_list_against_the_uncompiled_one():
    result = Refiner(settings=settings(world()), confirm_runs=1).confirm(MediatedAssistant(), [KEEP_ALL], VAL)
    assert result["runs"] == [1] and result["confirmed"] is True
    assert result["score"] == 100.0 and result["uncompiled_score"] == 0.0


def test_a_crashed_confirmation_conversation_is_an_error_not_a_zero():
    engine = world()
    crashes = {"n": 0}

    def flaky_assistant(call):
        if "Keep every detail" not in call.prompt and crashes["n"] == 0 and len(engine.requests_for("assistant")) > 3:
            crashes["n"] += 1
            raise RuntimeError("upstream went away")
        return assistant_reply(call)

    engine.rules[1].reply = flaky_assistant
    failure = r"1 of 5 conversations failed while confirming; the first error: .*upstream went away"
    with pytest.raises(RefinerError, match=failure):
        Refiner(settings=settings(engine), confirm_runs=1).confirm(MediatedAssistant(), [KEEP_ALL], VAL)
