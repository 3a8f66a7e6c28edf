"""Fact loss (facts.py) and the Mediator's check-and-repair step."""

import json

import pytest
from intent_mediator import MediatedAssistant, Turn
from intent_mediator.adapters import LeanChatAdapter
from intent_mediator.cues import restates_value
from intent_mediator.data.loaders import load_records
from intent_mediator.facts import check_request, fact_loss_summary, record_fact_check, trajectory_fact_check
from intent_mediator.signatures import MediateRequest, RepairRequest
from intent_mediator.simulation.trajectory import Trajectory, TurnRecord
from intent_mediator.tasks import get_task

PENS = ["how much will i pay for the pens?", "pens are $2 each", "i'm buying 12 of them", "actually make it 15, not 12"]


def texts(facts):
    return sorted(f.text for f in facts)


def test_values_in_force_must_appear_and_withdrawn_ones_must_not():
    good = check_request("I am buying 15 pens at $2 each. How much will I pay?", PENS)
    assert good.ok and good.loss == 0
    stale = check_request("I am buying 12 pens at $2 each. How much will I pay?", PENS)
    assert texts(stale.missing) == ["15"] and texts(stale.withdrawn_present) == ["12"]
    assert stale.loss == 0.5  # 15 lost of {$2, 15}
    invented = check_request("15 pens at $2 each, so 15 * 2 = 30 dollars.", PENS)
    assert invented.invented == ["30"] and not invented.ok


def test_a_dropped_topic_withdraws_only_that_turns_values():
    said = ["hotel bill?", "3 nights at $120 a night", "plus $25 a night for parking", "forget the parking"]
    found = check_request("3 nights at $120 a night.", said)
    assert found.ok and texts(found.withdrawn) == ["$25"]
    # A value another turn also states stays in force.
    said = ["book blue lotus for 2", "and casa verde for 2 at 18:30", "cancel the casa verde one"]
    found = check_request("Book Blue Lotus for 2.", said)
    assert found.ok and texts(found.withdrawn) == ["18:30"]


def test_rejected_suggestions_percent_forms_names_and_quotes():
    said = ["how many tiles for a 12 by 10 floor?", "you suggested 10% extra for breakage. no, no extra"]
    assert check_request("Tiles for a 12 by 10 floor, no extra.", said).ok
    assert texts(check_request("12 by 10 floor plus 10% extra", said).withdrawn_present) == ["10%"]
    assert check_request("a rate of 0.045", ["the rate is 4.5%"]).ok
    found = check_request("Translate good morning into Spanish.", ["translate 'good morning'", "to Spanish for Ana"])
    assert texts(found.missing) == ["Ana"]
    assert check_request("Ask Ana to translate 'good morning' into Spanish.", ["translate 'good morning' for Ana"]).ok


def test_the_final_intent_of_every_revision_task_passes_and_stale_requests_fail():
    records = [r for r in load_records("builtin", tasks=["math", "actions"]) if r.revisions]
    caught = 0
    for record in records:
        prompt = get_task(record.task).full_prompt(record)
        assert not record_fact_check(record, prompt, prompt).withdrawn_present, record.task_id
        stale = "\n".join(shard.shard for shard in record.shards if not shard.revises)
        caught += bool(record_fact_check(record, stale, prompt).withdrawn_present)
    assert caught >= len(records) // 2
    summary = fact_loss_summary({"a": check_request("x", PENS), "b": check_request("15 pens at $2", PENS)})
    assert summary["values"] == 4 and summary["lost"] == 2 and summary["lossless_share"] == 0.5


def test_record_names_skip_the_first_word_of_a_docstring():
    from types import SimpleNamespace

    from intent_mediator.facts import record_names

    record = SimpleNamespace(shards=[SimpleNamespace(shard="return just their names, sold by Acme")])
    prompt = 'def affordable(products):\n    """Names of the products sold by Acme, in order."""'
    assert record_names(record, prompt) == ["Acme"]  # "Names" opens the docstring: a sentence, not a name


def test_trajectory_fact_check_reads_the_last_request():
    trajectory = Trajectory(task_id="t", task="math", mode="mediated", run=0)
    trajectory.turns = [
        TurnRecord(index=i, user=text, shard_id=i + 1, request="pens at $2, 12 of them") for i, text in enumerate(PENS)
    ]
    found = trajectory_fact_check(trajectory)
    assert texts(found.missing) == ["15"] and texts(found.withdrawn_present) == ["12"]
    assert trajectory_fact_check(Trajectory(task_id="t", task="math", mode="sharded", run=0)) is None


def pens_transcript():
    turns = []
    for text in PENS:
        turns += [Turn.user(text), Turn.assistant("Noted.")]
    return turns[:-1]


def test_mediator_repairs_a_request_that_lost_a_value(engine):
    engine.on(signature=RepairRequest, reply=lambda call: {"request": "I buy 15 pens at $2 each; what do I pay?"})
    engine.on(role="mediator", reply={"request": "I buy pens at $2 each; what do I pay?"})
    engine.on(role="assistant", reply="30")
    program = MediatedAssistant(mediator_lm=engine.lm("mediator"), assistant_lm=engine.lm("assistant"))
    out = program(transcript=pens_transcript())
    assert out.request == "I buy 15 pens at $2 each; what do I pay?"
    repair = engine.requests_for("mediator")[1]
    assert 'The request leaves out 15 (the user wrote \\"actually make it 15, not 12\\")' in repair.prompt
    assert engine.requests_for("assistant")[0].messages[-1]["content"] == out.request


def test_mediator_appends_the_users_words_when_the_repair_fails_too(engine):
    engine.on(signature=RepairRequest, reply={"request": "I buy pens; what do I pay?"})
    engine.on(role="mediator", reply={"request": "I buy pens at $2 each; what do I pay?"})
    engine.on(role="assistant", reply="30")
    program = MediatedAssistant(mediator_lm=engine.lm("mediator"), assistant_lm=engine.lm("assistant"))
    out = program(transcript=pens_transcript())
    # The repair lost $2 as well, so the draft is kept and the turn holding 15 is appended verbatim.
    assert out.request == "I buy pens at $2 each; what do I pay?\n\nAlso, as I said: actually make it 15, not 12"
    assert check_request(out.request, PENS).lost_values == []
    assert out.mediation == "appended"


@pytest.mark.parametrize(
    ("draft", "repair"),
    [
        # The Mediator answered instead of rewriting, and the repair answered again: every value lost.
        ("I don't have enough information to say what you pay.", "Sorry, I can't tell what you pay."),
        # It solved the task: 30 is a number the user never gave, and appending cannot remove it.
        ("I buy 15 pens at $2 each, so I pay $30.", "I buy 15 pens at $2 each, which is $30 in total."),
        # It kept the withdrawn 12.
        ("I buy 12 pens at $2 each; what do I pay?", "I buy 12 pens at $2 each; what do I pay?"),
    ],
)
def test_an_unusable_request_is_replaced_by_the_users_own_turns(engine, draft, repair):
    engine.on(signature=RepairRequest, reply={"request": repair})
    engine.on(role="mediator", reply={"request": draft})
    engine.on(role="assistant", reply="30")
    program = MediatedAssistant(mediator_lm=engine.lm("mediator"), assistant_lm=engine.lm("assistant"))
    out = program(transcript=pens_transcript())
    assert out.request == "\n".join(PENS)
    assert out.mediation == "user turns" and out.mediated is False
    assert engine.requests_for("assistant")[0].messages[-1]["content"] == "\n".join(PENS)


def test_a_request_that_passes_the_check_is_sent_as_written(engine):
    engine.on(role="mediator", reply={"request": "I buy 15 pens at $2 each; what do I pay?"})
    program = MediatedAssistant(mediator_lm=engine.lm("mediator"))
    out = program.mediator(transcript=pens_transcript())
    assert (out.request, out.mediation, out.repaired) == ("I buy 15 pens at $2 each; what do I pay?", "rewrite", False)
    assert len(engine.requests_for("mediator")) == 1


def test_incremental_mediation_is_checked_against_every_user_turn(engine):
    # The previous request had lost the price; the compacted transcript no longer holds it, the check does.
    engine.on(signature=RepairRequest, reply=lambda call: {"request": " ".join(call.inputs["user_turns"][1:])})
    engine.on(role="mediator", reply={"request": "What do I pay for 15 pens?"})
    program = MediatedAssistant(mediator_lm=engine.lm("mediator"))
    out = program.mediator(transcript=pens_transcript(), previous_request="What do I pay for 12 pens?")
    compacted = engine.requests_for("mediator")[0].messages[-1]["content"]
    assert "$2" not in compacted and "$2" in engine.requests_for("mediator")[1].messages[-1]["content"]
    assert out.repaired and check_request(out.request, PENS).lost_values == []


def test_without_check_no_repair_call_is_made(engine):
    engine.on(role="mediator", reply={"request": "I buy pens; what do I pay?"})
    program = MediatedAssistant(mediator_lm=engine.lm("mediator"), check=False)
    assert program.mediator(transcript=pens_transcript()).request == "I buy pens; what do I pay?"
    assert len(engine.requests_for("mediator")) == 1


def test_a_program_saved_before_the_repair_step_still_loads(tmp_path):
    program = MediatedAssistant(["Keep every number."])
    path = tmp_path / "program.json"
    program.save(str(path))
    state = json.loads(path.read_text())
    old = {key: value for key, value in state.items() if not key.endswith("repair")}
    assert len(old) < len(state)
    path.write_text(json.dumps(old))
    restored = MediatedAssistant()
    restored.load(str(path))
    assert restored.guidelines == ["Keep every number."]


def test_lean_adapter_keeps_the_sections_and_cuts_the_boilerplate():
    import dspy

    inputs = {"transcript": [Turn.user("add 40"), Turn.assistant("to what?"), Turn.user("to 2")]}
    lean = LeanChatAdapter().format(MediateRequest, [], inputs)
    chat = dspy.ChatAdapter().format(MediateRequest, [], inputs)
    assert sum(len(m["content"]) for m in lean) < 0.75 * sum(len(m["content"]) for m in chat)
    assert "[[ ## transcript ## ]]" in lean[-1]["content"] and "Keep every number" in lean[0]["content"]
    parsed = LeanChatAdapter().parse(MediateRequest, "[[ ## request ## ]]\nAdd 40 to 2.\n\n[[ ## completed ## ]]")
    assert parsed == {"request": "Add 40 to 2."}


def test_mediated_turns_record_their_fact_loss(engine):
    from intent_mediator import RoleLMs
    from intent_mediator.simulation.conversation import ConversationSettings, run_conversation

    record = next(r for r in load_records("builtin", tasks=["math"]) if r.task_id == "im-math-r01")
    engine.on(role="mediator", reply={"request": "How much do I pay for pens at $2 each?"})
    engine.on(role="assistant", reply="Could you tell me more?")
    for check, expected in ((False, 2 / 3), (True, 0.0)):
        settings = ConversationSettings(roles=RoleLMs.scripted(engine), program=MediatedAssistant(check=check))
        trajectory = run_conversation(record, "mediated", 0, settings)
        # The second turn keeps $2; the last loses 15 and $3 of {$2, $3, 15} unless repaired.
        assert trajectory.turns[1].fact_loss == 0.0
        assert trajectory.turns[-1].fact_loss == pytest.approx(expected), check
        assert trajectory.turns[0].mediation == "passthrough"
        assert trajectory.turns[-1].mediation == ("user turns" if check else "rewrite")
    sharded = run_conversation(record, "sharded", 0, settings)
    assert all(turn.fact_loss is None for turn in sharded.turns)


LONG_REQUEST = "I am buying 15 pens at $2 each, " + "for the office supply cupboard that has run low, " * 6


def test_a_request_cut_at_the_mediators_token_cap_is_replaced_by_the_users_turns(engine):
    # Every value survives the cut, so the check alone would pass it; the question did not.
    engine.on(role="mediator", reply={"request": LONG_REQUEST + "so how much will I pay?"})
    engine.on(role="assistant", reply="30")
    capped = MediatedAssistant(mediator_lm=engine.lm("mediator", max_tokens=60), assistant_lm=engine.lm("assistant"))
    out = capped(transcript=pens_transcript())
    assert (out.request, out.mediation, out.mediated) == ("\n".join(PENS), "cut off", False)
    assert engine.requests_for("assistant")[0].messages[-1]["content"] == "\n".join(PENS)
    assert len(engine.requests_for("mediator")) == 1  # no repair call: a cut request is not repaired
    whole = MediatedAssistant(mediator_lm=engine.lm("mediator"), assistant_lm=engine.lm("assistant"))
    assert whole.mediator(transcript=pens_transcript()).mediation == "rewrite"  # uncapped, the same reply is used


def test_a_repair_cut_at_the_token_cap_counts_as_a_failed_repair(engine):
    engine.on(signature=RepairRequest, reply={"request": LONG_REQUEST + "so how much will I pay?"})
    engine.on(role="mediator", reply={"request": "I buy pens at $2 each; what do I pay?"})
    program = MediatedAssistant(mediator_lm=engine.lm("mediator", max_tokens=60))
    out = program.mediator(transcript=pens_transcript())
    # The cut repair holds 15 and $2 yet ends mid-sentence: the draft is kept and the turn holding 15 appended.
    assert out.request == "I buy pens at $2 each; what do I pay?\n\nAlso, as I said: actually make it 15, not 12"
    assert out.mediation == "appended"


def test_a_message_of_many_names_and_quotes_is_checked_in_linear_time():
    """A hostile 300 KB of names, quoted values and withdrawn words: each used to be searched for in the whole
    request (a 1 MB one took 272 s; this one about 24 s)."""
    import time

    def word(i: int) -> str:
        return "".join(chr(97 + (i // 26**k) % 26) for k in range(4))

    text = " ".join(f"met Q{word(i)}, said 'v{word(i)}', not z{word(i)}." for i in range(12_000))
    started = time.perf_counter()
    found = check_request(text, [text])
    assert len(found.in_force) >= 24_000 and not found.missing and len(found.withdrawn_present) == 12_000
    assert time.perf_counter() - started < 8  # about 1 s on 2 cores
    # Names that all start with one word ("Mr ..."): past MAX_FACT_LOOKS the check stops and fails closed.
    text = " ".join(f"met Mr Q{word(i)}." for i in range(12_000))
    started = time.perf_counter()
    found = check_request(text, [text, "not zaaa"])
    assert found.missing and not found.ok
    assert time.perf_counter() - started < 8


def test_names_and_values_are_found_where_a_word_starts():
    """A name inside a longer word is not that name ("Ann" in "Joanna"); at a word start it is ("Ann's")."""
    said = ["book it for Ann", "the function is to_fahrenheit"]
    assert check_request("Book it for Joanna; write celsius_to_fahrenheit.", said).loss == 1.0
    assert check_request("Book it for Ann's team; write to_fahrenheit().", said).ok


def test_a_long_message_is_checked_in_linear_time():
    """A hostile client's 40 KB of numbers: each fact used to reparse the whole request (about a minute here)."""
    import time

    from intent_mediator.programs.mediator import joined_addition
    from intent_mediator.transcript import Turn

    text = "scores: " + " ".join(f"x{i} {i}" for i in range(4000))
    started = time.perf_counter()
    assert check_request(text, [text]).ok
    assert joined_addition([Turn.user(text), Turn.user("x5 x7")], [text, "x5 x7"]) is not None
    same_slot = " ".join(f"x {i}" for i in range(4000))  # every number in one slot, sent twice
    assert restates_value(same_slot, [same_slot]) is False
    assert time.perf_counter() - started < 10  # about 0.6 s on 2 cores


def test_a_run_of_number_words_is_one_number_for_the_check_as_for_the_router():
    from intent_mediator.facts import in_digits

    assert in_digits("Two thousand three hundred, twenty-five and seventy") == "2300, 25 and 70"
    assert in_digits("the closest one, one hundred, a dozen eggs") == "the closest one, 100, a 12 eggs"
    assert in_digits("tenants, someone, seventeenth") == "tenants, someone, seventeenth"  # words, not numbers
    # Words that cannot go on with a number start the next one; a line break (between joined turns) ends a run.
    assert in_digits("two three-bedroom flats, nineteen ninety-nine, twenty twenty-four") == (
        "2 3-bedroom flats, 19 99, 20 24"
    )
    assert in_digits("three hundred twenty five, one hundred thousand, hundred hundred") == "325, 100000, 100 100"
    assert in_digits("we need seven\ntwo of them vegan") == "we need 7\n2 of them vegan"
    said = ["the fee is two thousand three hundred", "we are twenty-five people, eighty percent adults"]
    found = check_request("The fee is 2300 for 25 people, 80% of them adults.", said)
    assert found.ok and {f.key for f in found.in_force if f.kind == "number"} == {"2300", "25", "80%"}
    assert check_request("The fee is two thousand three hundred for 25 people, 0.8 adults.", said).ok
    lost = check_request("The fee is 2000 for 25 people, 80% adults.", said)
    assert [f.key for f in lost.lost_values] == ["2300"] and lost.invented == ["2000"]
    revised = check_request("Budget: fifteen.", ["the budget is twelve", "fifteen, not twelve"])
    assert revised.ok
    for request, user_turns in [
        ("We need 2 three-bedroom flats.", ["we need two three-bedroom flats"]),
        ("1 2 3 4 5 6", ["one two three four five six"]),
        ("we need seven\ntwo of them vegan", ["we need seven", "two of them vegan"]),  # a join of two turns
        ("Budget: 2500.", ["budget two thousand", "make it 2500, not two thousand"]),  # the whole number withdrawn
    ]:
        assert check_request(request, user_turns).ok, request
    stale = check_request("Budget: 25.", ["budget twenty five", "no, 30, not twenty five"])
    assert [f.key for f in stale.lost_values] == ["30"] and [f.key for f in stale.withdrawn_present] == ["25"]
    assert check_request("Budget: 15, was 12.", ["the budget is twelve", "fifteen, not twelve"]).withdrawn_present
