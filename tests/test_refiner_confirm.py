"""The Refiner's confirmation step: a winner ships only if it wins again on fresh runs of the valset."""

import threading

import dspy
import pytest
from intent_mediator import MediatedAssistant, ScriptedEngine, to_examples
from intent_mediator.optimizers.refiner import Refiner, RefinerError
from intent_mediator.signatures import DistillGuidelines
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.simulation.runner import simulate
from intent_mediator.testing.refiner_world import (
    KEEP_ALL,
    LAZY,
    RECORDS,
    alternating_world,
    assistant_reply,
    mediator_reply,
    roles,
    world,
)

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
    # Confirmation's calls are counted apart from the search's budget: its size is fixed by confirm_runs.
    plain = Refiner(settings=settings(world()), rounds=1, candidates_per_round=1)
    search = plain.compile(MediatedAssistant(), trainset=TRAIN, valset=VAL).refiner_report["budget"]["calls"]
    assert program.refiner_report["budget"]["calls"] == search
    assert confirmation["budget"]["calls"] >= 2 * 2 * len(VAL)  # at least one assistant call per conversation


def test_a_search_stopped_by_the_budget_still_has_its_best_list_confirmed():
    kwargs = {"rounds": 1, "candidates_per_round": 2}
    uncapped = Refiner(settings=settings(alternating_world()), **kwargs)
    calls = uncapped.compile(MediatedAssistant(), trainset=TRAIN, valset=VAL).refiner_report["budget"]["calls"]
    # One call short: the budget runs out inside the last trial, after the first one finished with KEEP_ALL first.
    capped = Refiner(settings=settings(alternating_world()), max_lm_calls=calls - 1, confirm_runs=2, **kwargs)
    program = capped.compile(MediatedAssistant(), trainset=TRAIN, valset=VAL)
    report = program.refiner_report
    assert "stopped" in report and report["budget"]["calls"] <= calls - 1  # the cap holds for the search
    confirmation = report["confirmation"]
    assert confirmation["confirmed"] is True and KEEP_ALL in program.guidelines
    assert confirmation["budget"]["calls"] >= 2 * 2 * len(VAL)  # counted apart, at least a call a conversation


def test_confirm_needs_runs_and_refuses_a_negative_count():
    with pytest.raises(ValueError, match="confirm_runs must be 0 or more"):
        Refiner(settings=settings(world()), confirm_runs=-1)
    with pytest.raises(RefinerError, match="confirm_runs is 0"):
        Refiner(settings=settings(world())).confirm(MediatedAssistant(), [KEEP_ALL], VAL)


def test_confirm_alone_scores_a_given_list_against_the_uncompiled_one():
    result = Refiner(settings=settings(world()), confirm_runs=1).confirm(MediatedAssistant(), [KEEP_ALL], VAL)
    assert result["runs"] == [1] and result["confirmed"] is True
    assert result["score"] == 100.0 and result["uncompiled_score"] == 0.0


def test_the_interval_bar_wants_the_win_spread_over_the_tasks():
    """A list that solves one valset task of five (and the uncompiled Mediator none) has the higher P, so the
    default bar ships it; its paired interval over the tasks reaches 0, so the interval bar does not."""
    only = VAL[0]

    def one_task_world():
        engine = world()

        def assistant(call):
            if call.last_user == only["question"] or all(s.shard in call.last_user for s in only.shards):
                return assistant_reply(call)
            return "Could you tell me more?"

        engine.rules[1].reply = assistant
        return engine

    higher = Refiner(settings=settings(one_task_world()), confirm_runs=2).confirm(MediatedAssistant(), [KEEP_ALL], VAL)
    assert higher["bar"] == "higher" and higher["confirmed"] is True
    assert higher["difference"] == 20.0 and higher["difference_ci"][0] == 0.0
    strict = Refiner(settings=settings(one_task_world()), confirm_runs=2, confirm_bar="interval")
    result = strict.confirm(MediatedAssistant(), [KEEP_ALL], VAL)
    assert result["bar"] == "interval" and result["confirmed"] is False
    everywhere = Refiner(settings=settings(world()), confirm_runs=1, confirm_bar="interval")
    result = everywhere.confirm(MediatedAssistant(), [KEEP_ALL], VAL)  # every task won: the interval is above 0
    assert result["confirmed"] is True and result["difference_ci"] == [100.0, 100.0]
    with pytest.raises(ValueError, match="confirm_bar must be one of higher, interval"):
        Refiner(settings=settings(world()), confirm_bar="lower")
    with pytest.raises(ValueError, match="confirm_bar='interval' needs confirm_runs > 0"):
        Refiner(settings=settings(world()), confirm_bar="interval")


def test_the_interval_bar_refuses_a_valset_too_small_to_read_before_any_call():
    engine = world()
    kwargs = {"rounds": 1, "candidates_per_round": 1, "confirm_runs": 2, "confirm_bar": "interval"}
    strict = Refiner(settings=settings(engine), **kwargs)
    with pytest.raises(RefinerError, match="needs at least 4 valset tasks, got 3"):
        strict.compile(MediatedAssistant(), trainset=TRAIN, valset=VAL[:3])
    with pytest.raises(RefinerError, match="needs at least 4 valset tasks, got 3"):
        strict.confirm(MediatedAssistant(), [KEEP_ALL], VAL[:3])
    assert engine.requests == []


def test_a_metric_that_returns_nan_is_an_error_not_a_score():
    from intent_mediator.metrics import MetricError

    refiner = Refiner(lambda example, pred, trace=None: float("nan"), settings=settings(world()), confirm_runs=1)
    with pytest.raises(MetricError, match=r"returned nan for im-math-.*a score must be finite"):
        refiner.confirm(MediatedAssistant(), [KEEP_ALL], VAL)


def test_a_crashed_confirmation_conversation_is_an_error_not_a_zero():
    engine = world()
    crashes = {"n": 0}

    def flaky_assistant(call):
        if "Keep every detail" not in call.prompt and crashes["n"] == 0 and len(engine.requests_for("assistant")) > 3:
            crashes["n"] += 1
            raise RuntimeError("upstream went away")
        return assistant_reply(call)

    engine.rules[1].reply = flaky_assistant
    failure = r"1 of 5 conversations failed while confirming; the first, im-math-\d+/mediated/run 1: .*went away"
    with pytest.raises(RefinerError, match=failure):
        Refiner(settings=settings(engine), confirm_runs=1).confirm(MediatedAssistant(), [KEEP_ALL], VAL)


def test_the_fresh_runs_are_never_the_searchs_run_and_both_lists_get_the_same_ones(monkeypatch):
    from intent_mediator.optimizers import refiner as refiner_module

    simulated = []

    def recording(records, modes, runs, settings, **kwargs):
        done = simulate(records, modes, runs, settings, **kwargs)
        simulated.append((list(modes), settings.program.guidelines, sorted({(t.task_id, t.run) for t in done})))
        return done

    monkeypatch.setattr(refiner_module, "simulate", recording)
    refiner = Refiner(settings=settings(world()), rounds=1, candidates_per_round=1, confirm_runs=2)
    refiner.compile(MediatedAssistant(), trainset=TRAIN, valset=VAL)
    mediated = [(rules, runs) for modes, rules, runs in simulated if modes == ["mediated"]]
    *search, (winner, winner_runs), (uncompiled, uncompiled_runs) = mediated
    assert all({run for _, run in runs} == {0} for _, runs in search)  # the search scores run 0 only
    assert winner[0] == KEEP_ALL and uncompiled == []
    assert winner_runs == uncompiled_runs == sorted((r.task_id, k) for r in VAL for k in (1, 2))


def test_a_valset_that_shares_tasks_with_the_trainset_is_confirmed_after_the_mining_runs():
    refiner = Refiner(settings=settings(world()), rounds=1, candidates_per_round=1, mining_runs=3, confirm_runs=2)
    program = refiner.compile(MediatedAssistant(), trainset=TRAIN)  # no valset: validated on the trainset
    assert program.refiner_report["confirmation"]["runs"] == [3, 4]


def test_the_users_examples_reach_the_metric_during_confirmation_too():
    seen = []

    def exact_answer(example, pred, trace=None):
        seen.append(example.my_label)
        return dspy.evaluate.answer_exact_match(example, pred)

    trainset = [example.copy(my_label="train") for example in to_examples(TRAIN)]
    valset = [example.copy(my_label="val") for example in to_examples(VAL)]
    refiner = Refiner(exact_answer, settings=settings(world()), rounds=1, candidates_per_round=1, confirm_runs=1)
    program = refiner.compile(MediatedAssistant(), trainset=trainset, valset=valset)
    assert program.refiner_report["confirmation"]["confirmed"] is True and set(seen) == {"train", "val"}


def test_confirmation_without_sampling_is_refused_before_any_call():
    engine = world()
    cold = settings(engine)
    cold.roles.assistant = cold.roles.assistant.copy(temperature=0.0)
    with pytest.raises(RefinerError, match=r"needs sampling.*assistant temperature is 0"):
        Refiner(settings=cold, confirm_runs=2).compile(MediatedAssistant(), trainset=TRAIN, valset=VAL)
    assert engine.requests == []
    Refiner(settings=cold, mode="paper", confirm_runs=2).compile(MediatedAssistant(), trainset=TRAIN)  # no check
