from concurrent.futures import ThreadPoolExecutor

import dspy
import pytest
from intent_mediator import ScriptedEngine


class Capital(dspy.Signature):
    """Name the capital."""

    country: str = dspy.InputField()
    capital: str = dspy.OutputField()


def test_rules_match_by_signature_content_and_role_in_order():
    engine = ScriptedEngine()
    engine.on(signature=Capital, contains="France", reply={"capital": "Paris"})
    engine.on(signature=Capital, reply=lambda call: {"capital": f"capital of {call.inputs['country']}"})
    engine.on(role="judge", reply={"answer": "judged"})
    predict = dspy.Predict(Capital)
    with dspy.context(lm=engine.lm("assistant")):
        assert predict(country="France").capital == "Paris"
        assert predict(country="Peru").capital == "capital of Peru"
    with dspy.context(lm=engine.lm("judge")):
        assert dspy.Predict("question -> answer")(question="?").answer == "judged"
    assert [r.rule for r in engine.requests] == ["Capital/France", "Capital", "judge"]


def test_json_adapter_gets_json():
    engine = ScriptedEngine().on(signature=Capital, reply={"capital": "Lima"})
    with dspy.context(lm=engine.lm(), adapter=dspy.JSONAdapter()):
        assert dspy.Predict(Capital)(country="Peru").capital == "Lima"
    assert engine.requests[0].response == '{"capital": "Lima"}'


def test_unmatched_request_names_the_role():
    engine = ScriptedEngine().on(role="mediator", reply="x")
    with dspy.context(lm=engine.lm("judge"), adapter=dspy.ChatAdapter(use_json_adapter_fallback=False)):
        with pytest.raises(Exception, match="no scripted rule matches a chat request for role 'judge'"):
            dspy.Predict(Capital)(country="Peru")


def test_usage_by_role_counts_every_call_across_threads():
    engine = ScriptedEngine(default={"capital": "X"})
    lm = engine.lm("assistant")

    def ask(i):
        with dspy.context(lm=lm):
            return dspy.Predict(Capital)(country=f"c{i}").capital

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(ask, range(40))) == ["X"] * 40
    usage = engine.usage_by_role()["assistant"]
    assert usage["calls"] == 40
    assert usage["input_tokens"] == sum(r.input_tokens for r in engine.requests) > 40 * 20
