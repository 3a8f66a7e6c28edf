"""Answer extraction and reply classification: the shapes a careful reader handles, and the LLM judge's calls."""

import pytest
from intent_mediator import RoleLMs
from intent_mediator.data.loaders import load_records
from intent_mediator.signatures.judge import ClassifyReply, ExtractAnswer
from intent_mediator.simulation import LLMClassifier, LLMExtractor, ReplyJudge, classify_by_rules
from intent_mediator.simulation.judging import locate_verbatim
from intent_mediator.tasks import get_task
from intent_mediator.tasks.extraction import final_number, numbers_match, parse_number, task_questions

MATH = get_task("math")
BAKERY = load_records("builtin", tasks=["math"])[0]  # gold 255
BUSES = next(r for r in load_records("builtin", tasks=["math"]) if r.task_id == "im-math-05")  # gold 12


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("$1,234.50", 1234.5),
        ("3/4", 0.75),
        ("1 1/2 cups", 1.5),
        ("45%", 45.0),
        ("-6 degrees", -6.0),
        ("\\frac{3}{4}", 0.75),
        ("12{,}000", 12000.0),
        ("the 4th of 10", 10.0),
    ],
)
def test_parse_number_reads_numbers_as_written(text, value):
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("\\boxed{124} km in 4 weeks", 124),
        ("So he scores 3,360 points over 4 years.", 3360),
        ("The room is 48 m^2", 48),
        ("x = 18 (which is 3 x 6)", 18),
        ("Step 1: 2 + 2 = 4.\n#### 1,000", 1000),
        ("The answer is 20 minutes, after 25 L/min of net drain.", 20),
        ("**Step 1:** 3 × 4 = 12\n\n**Total: $39**", 39),
        ("Final answer: $100.00", 100),
    ],
)
def test_final_number_prefers_markers_and_ignores_units_and_remarks(reply, value):
    assert final_number(reply).value == value


def test_numbers_match_tolerates_cents_rounding_and_percent_forms():
    assert numbers_match(12.5, 12.5) and numbers_match(100.0, 100)
    assert numbers_match(33.33, 100 / 3, decimals=2) and not numbers_match(33.3, 100 / 3, decimals=1)
    assert numbers_match(45.0, 0.45, percent=True) and not numbers_match(45.0, 0.45)
    assert not numbers_match(3360.3, 3360)


def test_math_scores_the_judges_verbatim_extract_with_the_same_normalisation():
    assert MATH.score(BAKERY, "$255.00").value == 1.0
    assert MATH.score(BAKERY, "\\boxed{255} dollars on Monday").value == 1.0
    assert MATH.score(BAKERY, "255 (that is 135 + 120)").value == 1.0
    assert MATH.score(BAKERY, "no number").value == 0.0


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ("The bakery made $255.\n\nWould you like me to explain the steps?", "answer_attempt"),
        ("As an AI, I cannot provide the bakery's 45 muffin sales figures.", "refusal"),
        ("Noted: cookies are $2 each.", "discussion"),
        ("Cookies are $2 each. How many cookies were sold?", "clarification"),
        ("How many muffins? And how many cookies?", "interrogation"),
        ("If cookies were $2, it's $255; if they were $3, it's $315.", "hedge"),
        ("  ", "missing"),
        ("I can't compute the total until you tell me the cookie price.", "discussion"),
    ],
)
def test_rules_read_the_whole_reply(reply, kind):
    assert classify_by_rules(reply, MATH, BAKERY).kind == kind


def test_closing_offers_are_not_task_questions():
    text = "It is 12 buses. Does that help? Should the teachers ride too?"
    assert task_questions(text) == ["Should the teachers ride too?"]


def test_llm_classifier_sees_the_full_specification_at_temperature_0(engine):
    engine.on(role="judge", signature=ClassifyReply, reply={"kind": "clarification"})
    lm = RoleLMs.scripted(engine).judge.copy(temperature=1.0)
    kind = LLMClassifier(lm)("Which bus size?", MATH, BUSES)
    (request,) = engine.requests_for("judge")
    assert kind == "clarification" and request.temperature == 0.0
    for shard in BUSES.shards:  # every shard, including ones not yet revealed
        assert shard.shard in request.prompt
    assert "One number" in request.prompt  # the task's answer description


def test_llm_extraction_copies_verbatim_then_the_task_normalises(engine):
    reply = "Muffins bring $135 and cookies $120, for a total of $255 on Monday (a good day)."
    engine.on(role="judge", signature=ClassifyReply, reply={"kind": "answer_attempt"})
    engine.on(role="judge", signature=ExtractAnswer, reply={"answer": "$255 on Monday"})
    judge = ReplyJudge("llm", RoleLMs.scripted(engine).judge, llm_extraction=True)
    judged = judge(reply, MATH, BAKERY)
    assert judged.answer == "$255 on Monday" and MATH.score(BAKERY, judged.answer).value == 1.0
    assert [r.temperature for r in engine.requests_for("judge")] == [0.0, 0.0]


def test_llm_extract_not_in_the_reply_is_ignored_and_the_parser_answer_kept(engine):
    engine.on(role="judge", signature=ExtractAnswer, reply={"answer": "256"})
    judge = ReplyJudge("rules", RoleLMs.scripted(engine).judge, llm_extraction=True)
    judged = judge("So the total is $255.", MATH, BAKERY)
    assert judged == judged.__class__("answer_attempt", "$255")
    assert LLMExtractor(RoleLMs.scripted(engine).judge)("So the total is $255.", MATH) is None


def test_long_answers_come_back_as_prefix_and_suffix():
    reply = "Here:\n```sql\nSELECT name\nFROM author\nWHERE country = 'Japan';\n```\nDone."
    span = locate_verbatim("SELECT name [...] = 'Japan';", reply)
    assert span == "SELECT name\nFROM author\nWHERE country = 'Japan';"
    assert locate_verbatim("NONE", reply) is None and locate_verbatim("SELECT x [...] y", reply) is None
