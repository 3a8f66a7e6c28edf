"""`finish`: a reply's finish reason is read for fresh calls and cache replays, per thread."""

import threading

import dspy
from intent_mediator import ScriptedEngine
from intent_mediator.finish import cut_off, finish_reasons

LONG = "word " * 100  # about 125 estimated tokens


def ask(lm, text: str) -> str:
    return lm(text)[0]


def test_a_reply_cut_at_the_cap_reads_length_fresh_and_replayed_from_the_cache():
    engine = ScriptedEngine()
    engine.on(role="assistant", reply=lambda call: LONG if "long" in call.last_user else "short")
    lm = dspy.LM("scripted/assistant", engine=engine, cache=True, max_tokens=20, num_retries=0)
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)
    try:
        for attempt in range(2):  # the second time, every call is answered from DSPy's cache, not the engine
            with finish_reasons() as reasons:
                ask(lm, "long please")
                ask(lm, "short please")
            assert reasons == ["length", "stop"] and cut_off(reasons) is False, attempt
            with finish_reasons() as reasons:
                ask(lm, "long please")
            assert cut_off(reasons) is True, attempt
    finally:
        dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    assert len(engine.requests) == 2  # only the first two calls reached the engine


def test_calls_in_another_thread_are_not_counted_and_no_history_means_unknown():
    engine = ScriptedEngine(default=LONG)
    lm = engine.lm("assistant", max_tokens=20)
    with finish_reasons() as reasons:
        worker = threading.Thread(target=ask, args=(lm, "elsewhere"))
        worker.start()
        worker.join()
    assert reasons == [] and cut_off(reasons) is None
    with dspy.context(disable_history=True), finish_reasons() as reasons:
        ask(lm, "unrecorded")
    assert cut_off(reasons) is None


def test_an_unreadable_finish_reason_is_unknown_not_uncut():
    from types import SimpleNamespace

    from intent_mediator.finish import _finish_reason

    assert cut_off([None]) is None and cut_off(["stop", None]) is None and cut_off([None, "length"]) is True
    choice = SimpleNamespace(finish_reason="length")
    assert _finish_reason(SimpleNamespace(choices=[SimpleNamespace(finish_reason="stop"), choice])) == "length"
    assert _finish_reason({"choices": [{"finish_reason": "stop"}]}) == "stop"
    assert _finish_reason({"choices": [{"message": {}}]}) is None  # a provider that says nothing
    assert _finish_reason(SimpleNamespace(incomplete_details=SimpleNamespace(reason="max_output_tokens"))) == "length"
    engine = ScriptedEngine(default=LONG)
    with finish_reasons() as reasons:  # two candidates: DSPy records the tuple of responses
        engine.lm("assistant", max_tokens=20, n=2)("hi")
    assert cut_off(reasons) is True


def test_bounded_call_records_keep_the_newest_calls_and_still_read_finish_reasons(monkeypatch):
    import pytest
    from dspy.clients import base_lm
    from intent_mediator.lm import limit_call_records

    monkeypatch.setattr(base_lm, "GLOBAL_HISTORY", [{"old": i} for i in range(5)])
    engine = ScriptedEngine(default=LONG)
    engine.on(role="mediator", reply={"answer": "4"})
    lm = engine.lm("assistant", max_tokens=20)
    predict = dspy.Predict("question -> answer")
    dspy.configure(trace=[])  # DSPy's default: every predictor call outside an optimizer is appended here
    limit_call_records(3)  # conftest puts DSPy's settings back after each test
    assert base_lm.GLOBAL_HISTORY == [{"old": 2}, {"old": 3}, {"old": 4}]  # trimmed at once, newest kept
    for i in range(10):
        with finish_reasons() as reasons:
            ask(lm, f"call {i}")
        assert cut_off(reasons) is True, i  # each context still sees its own call
        with dspy.context(lm=engine.lm("mediator")):
            assert predict(question=f"2 + {i}?").answer == "4"
    assert len(base_lm.GLOBAL_HISTORY) == 3 and len(lm.history) == 3 and len(predict.history) == 3
    assert [entry["prompt"] for entry in lm.history] == ["call 7", "call 8", "call 9"]
    assert dspy.settings.trace is None  # no default trace holds the predictor calls
    # An optimizer's own trace, opened per example, still records every call, beyond the bound.
    with dspy.context(trace=[], lm=engine.lm("mediator")):
        for i in range(5):
            predict(question=f"3 + {i}?")
        assert [inputs["question"] for _, inputs, _ in dspy.settings.trace] == [f"3 + {i}?" for i in range(5)]
    with pytest.raises(ValueError, match="at least 1"):
        limit_call_records(0)


def test_from_another_thread_only_the_process_wide_history_is_bounded(monkeypatch, caplog):
    from dspy.clients import base_lm
    from intent_mediator.lm import limit_call_records

    monkeypatch.setattr(base_lm, "GLOBAL_HISTORY", [{"old": i} for i in range(5)])
    before = (dspy.settings.max_history_size, dspy.settings.trace)
    worker = threading.Thread(target=limit_call_records, args=(2,))
    worker.start()
    worker.join()
    assert base_lm.GLOBAL_HISTORY == [{"old": 3}, {"old": 4}] and base_lm.MAX_HISTORY_SIZE == 2
    assert (dspy.settings.max_history_size, dspy.settings.trace) == before  # no thread took DSPy's settings
    assert "not called from the main thread" in caplog.text
