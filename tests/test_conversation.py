"""Every conversation mode, checked message by message through the scripted engine."""

import pytest
from intent_mediator import MediatedAssistant, RoleLMs, ScriptedEngine
from intent_mediator.data.loaders import load_records
from intent_mediator.data.personas import get_persona
from intent_mediator.simulation.conversation import ConversationSettings, run_conversation, sampling_seed
from intent_mediator.tasks import get_task

RECORD = load_records("builtin", tasks=["math"])[0]  # bakery: 5 shards, gold 255
SHARDS = [s.shard for s in RECORD.shards]


def user_messages(engine, role="assistant", call=-1):
    return [m["content"] for m in engine.requests_for(role)[call].messages if m["role"] == "user"]


def solver(needed: str, answer="The total is 255."):
    """An assistant that answers once `needed` appears anywhere in what it was sent, and asks otherwise."""

    def reply(call):
        return answer if needed in call.prompt else "Could you give me more details?"

    return reply


@pytest.fixture
def engine():
    engine = ScriptedEngine()
    engine.on(role="mediator", reply=lambda call: {"request": " ".join(call.user_turns())})
    return engine


def settings(engine, **kwargs):
    return ConversationSettings(roles=RoleLMs.scripted(engine), **kwargs)


def test_full_sends_the_original_instruction_once(engine):
    engine.on(role="assistant", reply=solver("60 cookies"))
    t = run_conversation(RECORD, "full", 0, settings(engine))
    assert user_messages(engine) == [RECORD["question"]]
    assert (t.score, t.outcome, len(t.turns)) == (100.0, "solved", 1)


def test_concat_sends_the_tasks_one_message_with_every_shard(engine):
    engine.on(role="assistant", reply=solver("60 cookies"))
    run_conversation(RECORD, "concat", 0, settings(engine))
    (message,) = user_messages(engine)
    assert message.startswith("How much did the bakery take in on monday? Muffins go for $3 apiece.")
    assert message.endswith("And 60 cookies were sold.") and "- " not in message


def test_sharded_reveals_shards_in_order_as_real_chat_and_stops_when_solved(engine):
    engine.on(role="assistant", reply=solver("$2 each"))  # shard 4
    t = run_conversation(RECORD, "sharded", 0, settings(engine))
    assert [turn.shard_id for turn in t.turns] == [1, 2, 3, 4]  # stopped at the first correct answer
    last = engine.requests_for("assistant")[-1].messages
    assert [m["role"] for m in last] == ["user", "assistant", "user", "assistant", "user", "assistant", "user"]
    assert user_messages(engine) == SHARDS[:4]
    assert t.score == 100.0 and t.turns[-1].kind == "answer_attempt"


def test_sharded_failure_scores_the_last_attempt_and_stops_after_the_last_shard(engine):
    engine.on(role="assistant", reply=lambda call: "So far that is 135." if "45" in call.prompt else "Go on?")
    t = run_conversation(RECORD, "sharded", 0, settings(engine))
    assert len(t.turns) == 5 and t.outcome == "unsolved" and t.score == 0.0
    assert [turn.kind for turn in t.turns][:3] == ["clarification", "clarification", "answer_attempt"]


def test_recap_adds_a_turn_restating_every_shard(engine):
    engine.on(role="assistant", reply=lambda call: "The total is 255." if "To sum up" in call.last_user else "Hmm?")
    t = run_conversation(RECORD, "recap", 0, settings(engine))
    assert len(t.turns) == 6 and t.score == 100.0
    concat = get_task("math").concat_prompt(RECORD)
    assert t.turns[-1].user.startswith(f"To sum up, this is the whole task:\n\n{concat}\n\n")


def test_snowball_restates_earlier_shards(engine):
    engine.on(role="assistant", reply="Tell me more?")
    run_conversation(RECORD, "snowball", 0, settings(engine))
    third = user_messages(engine, call=2)[-1]
    assert third == f"To restate what I have said so far:\n- {SHARDS[0]}\n- {SHARDS[1]}\n\nAnd now: {SHARDS[2]}"


def test_mediated_sends_one_message_holding_the_request(engine):
    engine.on(role="assistant", reply=solver("60 cookies"))
    program = MediatedAssistant(["Keep every number."])
    t = run_conversation(RECORD, "mediated", 0, settings(engine, program=program))
    last = engine.requests_for("assistant")[-1]
    assert [m["role"] for m in last.messages] == ["user"]
    assert last.messages[0]["content"] == " ".join(SHARDS) == t.turns[-1].request
    assert t.guidelines == ["Keep every number."]
    assert t.usage["mediator"]["calls"] == 4 and t.usage["assistant"]["calls"] == 5  # the first turn passes through


def test_incremental_mediation_reads_each_turn_once_and_keeps_every_shard(engine):
    seen = []
    engine.rules.clear()
    engine.on(role="mediator", reply=lambda call: seen.append(call.user_turns()) or {"request": " ".join(seen[-1])})
    engine.on(role="assistant", reply="Noted. " * 100)  # long replies: the full transcript grows by each of them
    t = run_conversation(RECORD, "mediated", 0, settings(engine, mediator_history="incremental"))
    assert t.turns[-1].request == " ".join(SHARDS)  # nothing lost though no call read every shard
    assert seen == [[" ".join(SHARDS[:k]), SHARDS[k]] for k in range(1, len(SHARDS))]
    incremental = [r.input_tokens for r in engine.requests_for("mediator")]
    engine.reset()
    run_conversation(RECORD, "mediated", 0, settings(engine, mediator_history="full"))
    full = [r.input_tokens for r in engine.requests_for("mediator")]
    assert incremental[-1] < full[-1] and incremental[-1] - incremental[0] < full[-1] - full[0]


def test_unknown_mediator_history_is_refused(engine):
    with pytest.raises(ValueError, match="mediator_history"):
        settings(engine, mediator_history="partial")


def test_turn_bound_with_a_user_that_never_reveals(engine):
    engine.on(role="assistant", reply="What else?")
    engine.on(role="user", reply={"shard_id": 0, "message": "hmm, not sure"})
    t = run_conversation(RECORD, "sharded", 0, settings(engine, user_sim="llm", max_turns=3))
    assert len(t.turns) == 3 and [turn.shard_id for turn in t.turns] == [1, None, None]


def test_llm_user_choice_is_validated(engine):
    engine.on(role="assistant", reply="What else?")
    engine.on(role="user", reply={"shard_id": 1, "message": "again shard one"})  # already revealed
    t = run_conversation(RECORD, "sharded", 0, settings(engine, user_sim="llm"))
    assert [turn.shard_id for turn in t.turns] == [1, 2, 3, 4, 5]
    assert t.turns[1].user == SHARDS[1] and "not among unrevealed" in t.turns[1].note


def test_corrective_persona_reacts_to_a_wrong_attempt(engine):
    engine.on(role="assistant", reply=lambda call: "That is 135." if "45" in call.prompt else "More?")
    t = run_conversation(RECORD, "sharded", 0, settings(engine, persona=get_persona("corrective")))
    assert t.turns[3].user == f"No, that's not what I meant. {SHARDS[3]}"


def test_a_crash_is_recorded_as_an_error_not_a_zero(engine):
    engine.on(role="assistant", reply=lambda call: 1 / 0)
    t = run_conversation(RECORD, "sharded", 0, settings(engine))
    assert t.score is None and t.outcome == "error" and "division by zero" in t.error


def test_runs_are_distinct_samples_and_repeats_hit_the_cache():
    import dspy
    from intent_mediator.simulation.runner import simulate

    engine = ScriptedEngine()
    engine.on(role="assistant", reply=solver("60 cookies"))
    roles = RoleLMs(assistant=engine.lm("assistant", cache=True, temperature=0.7), judge=engine.lm("judge"))
    s = ConversationSettings(roles=roles)
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)
    try:
        simulate([RECORD], ["sharded"], 1, s, workers=1)
        first = len(engine.requests)
        simulate([RECORD], ["sharded"], 1, s, workers=1)
        assert len(engine.requests) == first  # run 0 again: every call came from the cache
        simulate([RECORD], ["sharded"], 2, s, workers=1, skip={(RECORD.task_id, "sharded", 0)})
        assert len(engine.requests) == 2 * first  # run 1 is a new sample (rollout_id=1), not a cache hit
        assert {r.temperature for r in engine.requests} == {0.7}
    finally:
        dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)


def test_models_that_take_a_seed_get_one_per_task_role_and_run_so_a_run_reproduces():
    class SeededEngine(ScriptedEngine):
        supported_params = frozenset({"seed", "temperature", "max_tokens"})

    expected = {sampling_seed(f"{RECORD.task_id}/assistant", run) for run in (0, 1)}
    assert len(expected) == 2 and sampling_seed(f"{RECORD.task_id}/user", 0) not in expected
    for engine, seeds in ((SeededEngine(), expected), (ScriptedEngine(), {None})):
        engine.on(role="assistant", reply=solver("60 cookies"))
        roles = RoleLMs(assistant=engine.lm("assistant", temperature=0.7), judge=engine.lm("judge"))
        for run in (0, 1):
            run_conversation(RECORD, "sharded", run, ConversationSettings(roles=roles))
        assistant = [r for r in engine.requests if r.role == "assistant"]
        assert {r.seed for r in assistant} == seeds  # run k: one seed per task, role and run


def test_a_record_that_breaks_set_up_is_recorded_not_raised(engine):
    record = load_records("builtin", tasks=["actions"])[0]
    broken = record.model_copy(update={"fields": {**record.fields, "function": "not json"}})
    t = run_conversation(broken, "full", 0, settings(engine))
    assert t.outcome == "error" and t.score is None and "JSONDecodeError" in t.error
    assert engine.requests == []


def test_a_reply_stopped_at_its_token_cap_is_marked_cut_off_in_every_mode(engine):
    from dataclasses import replace

    from intent_mediator.signatures.ergo import ConsolidateUserTurns

    long_answer = "Let me work through every item carefully. " * 10 + "The total is 255."
    # ERGO's rewrite (a short prompt) fits; the reply that follows it is cut like every other worked answer.
    engine.on(role="assistant", signature=ConsolidateUserTurns, reply={"prompt": " ".join(SHARDS)})
    engine.on(
        role="assistant",
        reply=lambda call: long_answer if "60 cookies" in call.prompt else "Go on?",
        entropy=lambda call: 2.0 if "60 cookies" in call.prompt else 0.1,  # ERGO resets at the last shard
    )
    roles = RoleLMs.scripted(engine)
    capped = replace(roles, assistant=engine.lm("assistant", temperature=1.0, max_tokens=40))
    for mode in ("full", "concat", "sharded", "drop-assistant", "ergo", "mediated"):
        t = run_conversation(RECORD, mode, 0, ConversationSettings(roles=capped))
        assert t.turns[-1].cut_off is True and t.outcome == "unsolved", mode  # the answer never arrived
        assert all(turn.cut_off is False for turn in t.turns[:-1]), mode  # "Go on?" fits under the cap
        assert mode != "ergo" or t.turns[-1].reset is not None  # ERGO's kept reply is the one after its rewrite
    t = run_conversation(RECORD, "full", 0, settings(engine))  # uncapped: the same reply is whole and solves it
    assert (t.turns[-1].cut_off, t.outcome) == (False, "solved")
