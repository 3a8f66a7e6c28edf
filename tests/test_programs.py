"""The core programs, checked through the scripted engine's recorded requests."""

import copy
import json

import dspy
import pytest
from intent_mediator import Assistant, MediatedAssistant, MediateRequest, Mediator, TranscriptError, Turn
from intent_mediator.signatures import render_instructions, split_instructions

TRANSCRIPT = [
    Turn.user("Write a function that sums a list."),
    Turn.assistant("def f(xs): return sum(xs)"),
    Turn.user("Only count the even numbers."),
]


def joined_user_turns(call):
    return {"request": " ".join(call.user_turns())}


@pytest.fixture
def scripted(engine):
    engine.on(role="mediator", reply=joined_user_turns)
    engine.on(role="assistant", reply=lambda call: f"reply #{call.index}")
    return engine


def test_assistant_sees_only_the_mediated_request(scripted):
    program = MediatedAssistant(
        ["Keep every constraint."],
        context="You write Python.",
        mediator_lm=scripted.lm("mediator"),
        assistant_lm=scripted.lm("assistant"),
    )
    out = program(transcript=TRANSCRIPT)
    mediator_call, assistant_call = scripted.requests
    assert mediator_call.role == "mediator" and assistant_call.role == "assistant"
    assert out.request == "Write a function that sums a list. Only count the even numbers."
    assert assistant_call.messages == [
        {"role": "system", "content": "You write Python."},
        {"role": "user", "content": out.request},
    ]
    assert "def f(xs)" not in assistant_call.prompt  # the assistant's own earlier guess never reaches it again
    assert "1. Keep every constraint." in mediator_call.messages[0]["content"]  # guidelines are the system prompt
    assert "def f(xs)" in mediator_call.prompt  # the Mediator reads the whole transcript
    assert out.response == "reply #1"


def test_previous_request_stands_in_for_the_turns_before_the_last_reply(scripted):
    out = Mediator(lm=scripted.lm("mediator"))(
        transcript=TRANSCRIPT, previous_request="Please write sum_list(xs) returning the sum."
    )
    (call,) = scripted.requests
    assert "Please write sum_list(xs)" in call.prompt and "def f(xs)" in call.prompt
    assert "Write a function that sums a list." not in call.prompt  # read once, when the first request was written
    assert out.request == "Please write sum_list(xs) returning the sum. Only count the even numbers."


def test_baseline_assistant_sends_real_chat_messages(scripted):
    out = Assistant(context="ctx", lm=scripted.lm("assistant"))(transcript=TRANSCRIPT)
    (call,) = scripted.requests
    assert call.messages == [{"role": "system", "content": "ctx"}, *[t.model_dump() for t in TRANSCRIPT]]
    assert out.response == "reply #0"


def test_one_turn_chat_and_explicit_request_render_identically(scripted):
    Assistant(context="ctx", lm=scripted.lm("assistant"))(transcript=[Turn.user("Sum 2 and 3.")])
    MediatedAssistant(context="ctx", mediator_lm=scripted.lm("mediator"), assistant_lm=scripted.lm("assistant"))(
        transcript=[Turn.user("Sum 2 and 3.")]
    )
    chat, mediated = scripted.requests  # first turn without guidelines: no mediator call
    assert chat.messages == mediated.messages


def test_a_first_turn_passes_through_with_or_without_guidelines(scripted):
    Mediator(lm=scripted.lm("mediator"))(transcript=[Turn.user("hi")])
    out = Mediator(["A rule."], lm=scripted.lm("mediator"))(transcript=[Turn.user("hi")])
    assert (out.request, out.mediation) == ("hi", "passthrough") and scripted.requests == []
    Mediator(passthrough_first_turn=False, lm=scripted.lm("mediator"))(transcript=[Turn.user("hi")])
    Mediator(["A rule."], lm=scripted.lm("mediator"))(transcript=[Turn.user("hi"), Turn.assistant("?"), Turn.user("x")])
    assert [r.role for r in scripted.requests] == ["mediator", "mediator"]


def test_chain_of_thought_keeps_guidelines_and_reasoning(engine):
    engine.on(role="mediator", reply={"reasoning": "the user added a filter", "request": "Sum the even numbers."})
    mediator = Mediator(["Rule one.", "Rule two."], chain_of_thought=True, lm=engine.lm("mediator"))
    out = mediator(transcript=TRANSCRIPT)
    assert out.request == "Sum the even numbers."
    assert mediator.guidelines == ["Rule one.", "Rule two."]
    assert "`reasoning`" in engine.requests[0].messages[0]["content"]


def test_guidelines_never_mutate_the_shared_signature():
    original = MediateRequest.instructions
    first, second = Mediator(["Rule A."]), Mediator(["Rule B."])
    clone = copy.deepcopy(first)
    clone.set_guidelines(["Rule C."])
    assert (first.guidelines, second.guidelines, clone.guidelines) == (["Rule A."], ["Rule B."], ["Rule C."])
    assert MediateRequest.instructions == original


def test_save_load_restores_guidelines_without_lms_or_keys(tmp_path, scripted):
    lm = dspy.LM("openai/gpt-4o-mini", api_key="sk-secret-should-not-leak")
    program = MediatedAssistant(["Keep numbers.", "Ignore unconfirmed guesses."], mediator_lm=lm, assistant_lm=lm)
    path = tmp_path / "program.json"
    program.save(path)
    saved = path.read_text()
    assert "sk-secret" not in saved and "api_key" not in saved
    state = json.loads(saved)
    assert all(entry.get("lm") is None for name, entry in state.items() if name != "metadata")
    fresh = MediatedAssistant()
    assert fresh.guidelines == []
    fresh.load(path)
    assert fresh.guidelines == ["Keep numbers.", "Ignore unconfirmed guesses."]
    assert fresh.mediator.predictor.signature.instructions == program.mediator.predictor.signature.instructions


def test_program_copies_share_the_engine_records(scripted):
    program = MediatedAssistant(mediator_lm=scripted.lm("mediator"), assistant_lm=scripted.lm("assistant"))
    program.deepcopy()(transcript=TRANSCRIPT)
    assert len(scripted.requests) == 2


def test_empty_mediator_output_falls_back_to_user_words(engine):
    engine.on(role="mediator", reply={"request": "   "})
    out = Mediator(lm=engine.lm("mediator"))(transcript=TRANSCRIPT)
    assert out.request == "Write a function that sums a list.\nOnly count the even numbers."
    assert out.fallback == "empty request" and out.mediated is False


def test_bad_transcript_fails_before_any_lm_call(scripted):
    program = MediatedAssistant(mediator_lm=scripted.lm("mediator"), assistant_lm=scripted.lm("assistant"))
    with pytest.raises(TranscriptError):
        program(transcript=[*TRANSCRIPT, Turn.assistant("done")])
    assert scripted.requests == []


def test_instructions_round_trip_and_reject_multiline_rules():
    text = render_instructions("Base.", ["1. First rule.", "Second rule."])
    assert split_instructions(text) == ("Base.", ["First rule.", "Second rule."])
    assert render_instructions("Base.", []) == "Base."
    with pytest.raises(ValueError, match="guideline 2 spans several lines"):
        render_instructions("Base.", ["ok", "two\nlines"])


def test_schema_enforcing_engines_get_the_json_adapter():
    from intent_mediator import ScriptedEngine

    class SchemaEngine(ScriptedEngine):
        prefers_json_adapter = True
        supports_response_schema = True
        supported_params = frozenset({"response_format"})

    engine = SchemaEngine()
    engine.on(role="mediator", reply=joined_user_turns)
    engine.on(role="assistant", reply="plain reply")
    out = MediatedAssistant(["Keep numbers."], mediator_lm=engine.lm("mediator"), assistant_lm=engine.lm("assistant"))(
        transcript=TRANSCRIPT
    )
    mediator_call, assistant_call = engine.requests
    assert json.loads(mediator_call.response) == {"request": out.request}  # structured output for the Mediator
    assert assistant_call.response == "plain reply"  # the assistant stays plain chat
    system, user = (m["content"] for m in mediator_call.messages)
    assert "Outputs will be a JSON object" in system and "Respond with a JSON object" in user  # DSPy's JSONAdapter
    assert mediator_call.response_format["type"] == "json_schema"  # the engine is asked to enforce the keys
    program = MediatedAssistant(mediator_lm=engine.lm("mediator"))
    assert program.mediator.layout_name(engine.lm("mediator")) == "JSONAdapter"  # as run fingerprints record it


TANK = [
    Turn.user("how long until the tank runs dry?"),
    Turn.assistant("I need the tank's size and how fast it drains."),
]


def test_a_turn_that_only_adds_information_is_joined_without_an_lm_call(scripted):
    mediator = Mediator(["A rule."], join_additions=True, lm=scripted.lm("mediator"))
    transcript = [*TANK, Turn.user("the tank starts with 500 liters")]
    out = mediator(transcript=transcript, previous_request="How long until the tank runs dry?")
    assert out.request == "How long until the tank runs dry?\nthe tank starts with 500 liters"
    assert out.mediation == "joined"
    # Full history: the user's turns joined, the assistant's reply left out.
    out = mediator(transcript=transcript)
    assert out.request == "how long until the tank runs dry?\nthe tank starts with 500 liters"
    assert scripted.requests == []


@pytest.mark.parametrize(
    "turn",
    [
        "actually it starts with 600 liters, not 500",  # takes a value back: the join would still hold 500
        "yes, use the rate you suggested",  # answers the assistant
        "forget the 500 liters",  # drops a value
    ],
)
def test_a_turn_that_revises_or_points_at_the_assistant_is_rewritten(scripted, turn):
    mediator = Mediator(join_additions=True, lm=scripted.lm("mediator"))
    transcript = [Turn.user("how long until the 500 liter tank runs dry?"), TANK[1], Turn.user(turn)]
    out = mediator(transcript=transcript, previous_request="How long until the 500 liter tank runs dry?")
    assert out.mediation != "joined" and scripted.requests[0].role == "mediator"


def test_a_silent_new_value_for_something_already_given_is_rewritten(scripted):
    mediator = Mediator(join_additions=True, lm=scripted.lm("mediator"))
    said = ["rent is 1200 a month split between 3 roommates", "utilities are 150"]
    transcript = [
        Turn.user(said[0]),
        Turn.user(said[1]),
        Turn.assistant("Each pays 450."),
        Turn.user("utilities are 180"),
    ]
    out = mediator(transcript=transcript, previous_request="\n".join(said))
    assert out.mediation != "joined" and scripted.requests[0].role == "mediator"  # a join would keep 150 beside 180


@pytest.mark.parametrize("history", ["incremental", "full"])
def test_every_user_turn_since_the_last_request_is_read_for_a_silent_new_value(scripted, history):
    mediator = Mediator(join_additions=True, lm=scripted.lm("mediator"))
    reply = Turn.assistant("Each pays 450.")
    if history == "incremental":  # two turns after the reply: the first of them corrects, the last only adds
        turns = [Turn.user("utilities are 150"), reply, Turn.user("utilities are 180"), Turn.user("rent is 1200")]
        out = mediator(transcript=turns, previous_request="utilities are 150")
    else:  # the correction came in an earlier exchange: the full history rereads it
        turns = [
            Turn.user("utilities are 150"),
            reply,
            Turn.user("utilities are 180"),
            reply,
            Turn.user("rent is 1200"),
        ]
        out = mediator(transcript=turns)
    assert out.mediation != "joined" and scripted.requests[0].role == "mediator"


@pytest.mark.parametrize(
    ("reply", "turn", "joined"),
    [
        ("Should it handle tuples as well as lists, or only lists?", "only lists", False),  # answers a choice
        ("Draft ready: 'Big news!' - should I post it?", "lose the emoji and post", False),
        ("Options: Hotel Lirico ($132), Palazzo Celio ($145).", "book Lirico", False),  # picks from the reply
        ("1. United 7:05am $212\n2. Southwest 11:40am $189", "book the southwest one", False),
        ("Could you please provide more details?", "the tank is in Lisbon", True),  # a plea for more: adds
        ("Hotel Lirico has rooms.", "a room near the Lirico with a view of the old town", True),  # not short
        ("Hotel Lirico has rooms.", "near Lirico", True),  # the user named Lirico first (earlier turn)
    ],
)
def test_a_turn_that_answers_or_picks_from_the_reply_is_rewritten(scripted, reply, turn, joined):
    mediator = Mediator(join_additions=True, lm=scripted.lm("mediator"))
    first = "find a hotel, Lirico maybe" if turn == "near Lirico" else "find a hotel for the trip"
    for transcript, previous in (
        ([Turn.user(first), Turn.assistant(reply), Turn.user(turn)], first),  # incremental
        ([Turn.user(first), Turn.assistant(reply), Turn.user(turn)], None),  # full history
    ):
        out = mediator(transcript=transcript, previous_request=previous)
        assert (out.mediation == "joined") is joined, (reply, turn, previous)
    assert bool(scripted.requests) is not joined


def test_every_user_turn_after_a_reply_is_read_against_it():
    from intent_mediator.programs.mediator import joined_addition

    first, options = Turn.user("find me a hotel in rome"), Turn.assistant("Options: Hotel Lirico, Palazzo Celio.")
    later = [Turn.user("thanks, I looked at the photos of both"), Turn.user("book Lirico")]
    turns = [first, options, *later]
    assert joined_addition(turns, [t.content for t in turns if t.role == "user"], resolved_first=True) is None
    pick = Turn.user("book Lirico")  # one Turn object sent twice is two turns, each after the reply
    assert joined_addition([first, options, pick, pick], [first.content, pick.content, pick.content]) is None
    # Assistant turns in a row are one reply: a name in the first of them still marks a pick.
    turns = [first, options, Turn.assistant("(searching)"), Turn.user("book Lirico")]
    assert joined_addition(turns, [first.content, "book Lirico"]) is None
    # A reply that only offers more help does not stop a turn that adds from being joined.
    turns = [first, Turn.assistant("Is there anything else I can help you with?"), Turn.user("under 150 a night")]
    assert joined_addition(turns, [first.content, "under 150 a night"]) is not None


def test_with_full_history_an_earlier_answer_to_the_assistant_still_needs_the_lm(scripted):
    mediator = Mediator(join_additions=True, lm=scripted.lm("mediator"))
    transcript = [
        Turn.user("Book a table for 4 at 19:00."),
        Turn.assistant("19:00 is taken. Shall I book 20:00 instead?"),
        Turn.user("Ok, do that."),
        Turn.assistant("Booked for 20:00."),
        Turn.user("Add a note: window seat."),
    ]
    out = mediator(transcript=transcript)  # joined raw, "Ok, do that." would send 19:00
    assert out.mediation != "joined" and scripted.requests[0].role == "mediator"


def test_without_join_additions_every_turn_after_the_first_is_rewritten(scripted):
    out = Mediator(lm=scripted.lm("mediator"))(transcript=[*TANK, Turn.user("the tank starts with 500 liters")])
    assert out.mediation == "rewrite" and [r.role for r in scripted.requests] == ["mediator"]


def test_no_revising_shard_of_a_builtin_revision_task_is_joined():
    from intent_mediator.data.loaders import load_records
    from intent_mediator.programs.mediator import joined_addition

    revising, additive, joined = 0, 0, 0
    for record in [r for r in load_records("builtin") if r.revisions]:
        said = [record.shards[0].shard]
        for shard in record.shards[1:]:
            turns = [Turn.user("\n".join(said)), Turn.assistant("a reply"), Turn.user(shard.shard)]
            found = joined_addition(turns, [*said, shard.shard])
            if shard.revises or shard.proposal:
                revising += 1
                assert found is None, (record.task_id, shard.shard)  # the LM must resolve it
            else:
                additive += 1
                joined += found is not None
            said.append(shard.shard)
    assert revising >= 48 and joined >= 0.9 * additive  # most additions need no call
