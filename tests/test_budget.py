"""The LM budget counts the tokens the LM reported, and estimates only when nothing was reported."""

import dspy
import pytest
from intent_mediator import BudgetExhausted, LMBudget, ScriptedEngine


def ask(lm, budget, text, track=True):
    predictor = dspy.Predict("question -> answer")
    with dspy.context(lm=lm, callbacks=[budget]):
        if not track:
            return predictor(question=text)
        with dspy.track_usage() as tracker:
            predictor(question=text)
        return tracker


def test_tokens_are_the_usage_the_engine_reported():
    engine = ScriptedEngine()
    engine.on(role="mediator", reply={"answer": "yes " * 50})
    lm = engine.lm("mediator")
    budget = LMBudget()
    tracker = ask(lm, budget, "one short question")
    (entry,) = tracker.usage_data[lm.model]
    assert budget.tokens == entry["prompt_tokens"] + entry["completion_tokens"]
    assert budget.estimated_calls == 0 and budget.calls == 1
    # The engine's own count, not the prompt's characters / 4 that the budget reserved before the call.
    request = engine.requests[-1]
    assert budget.tokens == request.input_tokens + request.output_tokens


def test_without_reported_usage_the_estimate_stands():
    engine = ScriptedEngine()
    engine.on(role="mediator", reply={"answer": "ok"})
    budget = LMBudget()
    ask(engine.lm("mediator"), budget, "no tracker here", track=False)
    assert budget.estimated_calls == 1 and budget.tokens > 0


def test_a_call_over_the_token_cap_is_refused():
    engine = ScriptedEngine()
    engine.on(role="mediator", reply={"answer": "word " * 200})
    lm = engine.lm("mediator").copy(cache=False)
    budget = LMBudget(max_tokens=400)
    ask(lm, budget, "first")
    with pytest.raises(BudgetExhausted, match="tokens of 400"):
        ask(lm, budget, "second")
    assert budget.calls == 1
