"""The drop-assistant and ERGO modes, checked message by message through the scripted engine."""

import math

import dspy
import pytest
from intent_mediator import RoleLMs, ScriptedEngine
from intent_mediator.data.loaders import load_records
from intent_mediator.engines.scripted import scripted_logprobs
from intent_mediator.programs.ergo import ErgoAssistant, mean_entropy, token_entropies
from intent_mediator.signatures.ergo import ConsolidateUserTurns
from intent_mediator.simulation.conversation import ConversationSettings, run_conversation
from intent_mediator.simulation.ergo import ErgoConfig, calibrate_threshold, entropy_jumps

RECORD = load_records("builtin", tasks=["math"])[0]  # bakery: 5 shards, gold 255
SHARDS = [s.shard for s in RECORD.shards]
ANSWER = "The total is 255."


def messages(engine, call=-1, role="assistant"):
    return engine.requests_for(role)[call].messages


def settings(engine, **kwargs):
    return ConversationSettings(roles=RoleLMs.scripted(engine), **kwargs)


def test_drop_assistant_sends_only_the_users_turns_as_separate_messages():
    engine = ScriptedEngine().on(role="assistant", reply="Could you give me more details?")
    t = run_conversation(RECORD, "drop-assistant", 0, settings(engine))
    last = messages(engine)
    assert [m["role"] for m in last if m["role"] != "system"] == ["user"] * len(SHARDS)
    assert [m["content"] for m in last if m["role"] == "user"] == SHARDS
    assert len(engine.requests_for("assistant")) == len(SHARDS) == len(t.turns)  # no extra call
    assert all("more details" not in m["content"] for m in last)  # its own replies never come back


def test_entropy_is_the_mean_top_k_shannon_entropy_of_the_reply_tokens():
    uniform = {"content": [{"token": "a", "top_logprobs": [{"logprob": math.log(0.5)}, {"logprob": math.log(0.5)}]}]}
    certain = {"content": [{"token": "b", "top_logprobs": [{"logprob": 0.0}]}]}
    both = {"content": uniform["content"] + certain["content"]}
    assert token_entropies(both) == pytest.approx([math.log(2), 0.0])
    assert mean_entropy(both) == pytest.approx(math.log(2) / 2)
    assert mean_entropy(None) is None and mean_entropy({"content": []}) is None


@pytest.mark.parametrize("entropy", [0.0, 0.7, 2.5])
def test_scripted_log_probabilities_carry_the_scripted_entropy(entropy):
    tokens = scripted_logprobs("three words here", entropy, k=20)
    content = [{"top_logprobs": [{"logprob": top.logprob} for top in token.top]} for token in tokens]
    assert len(content) == 3
    assert mean_entropy({"content": content}) == pytest.approx(entropy, abs=1e-6)


def ergo_world(entropies, solve_with=None):
    """Assistant entropy per call from `entropies`; it answers when `solve_with` is in its last message."""
    engine = ScriptedEngine()
    engine.on(
        role="assistant",
        signature=ConsolidateUserTurns,
        reply=lambda c: {"prompt": " ".join(c.inputs["user_messages"])},
    )
    calls = iter(entropies)

    def reply(call):
        return ANSWER if solve_with and solve_with in call.last_user else "Noted. Anything else?"

    engine.on(role="assistant", reply=reply, entropy=lambda call: next(calls))
    return engine


def test_ergo_resets_when_the_entropy_jumps_and_continues_from_the_rewritten_prompt():
    # turns 1-2 calm, turn 3 jumps by 1.0 (> 0.5): rewrite, regenerate, then turns 4-5 follow the new context.
    engine = ergo_world([0.2, 0.3, 1.3, 0.4, 0.5, 0.45], solve_with="$2 each")
    t = run_conversation(RECORD, "ergo", 0, settings(engine, ergo=ErgoConfig(threshold=0.5)))
    resets = [turn.reset for turn in t.turns if turn.reset]
    assert len(resets) == 1
    reset = resets[0]
    assert reset["turn"] == 2 and reset["jump"] == pytest.approx(1.0, abs=1e-6)
    assert reset["prompt"] == " ".join(SHARDS[:3])  # the user's three turns, consolidated
    assert reset["entropy_before"] == pytest.approx(1.3, abs=1e-6) and reset["discarded_reply"].startswith("Noted")
    assert [turn.entropy for turn in t.turns] == pytest.approx([0.2, 0.3, 0.4, 0.5], abs=1e-6)
    # the regenerated reply answered a context that holds only the rewritten prompt
    plain = [r for r in engine.requests_for("assistant") if r.rule != "assistant/ConsolidateUserTurns"]
    assert [m["content"] for m in plain[3].messages if m["role"] != "system"] == [reset["prompt"]]
    # the next turn continues from it: prompt, reply, new shard
    after = [m for m in plain[4].messages if m["role"] != "system"]
    assert [m["role"] for m in after] == ["user", "assistant", "user"] and after[0]["content"] == reset["prompt"]
    assert after[2]["content"] == SHARDS[3]
    assert t.score == 100.0 and t.turns[-1].shard_id == 4
    # usage: 5 replies + 1 rewrite + 1 regenerated reply, all by the assistant model
    assert t.usage["assistant"]["calls"] == 6


def test_ergo_never_resets_on_the_first_turn_or_below_the_threshold():
    engine = ergo_world([2.0, 2.2, 2.4, 2.6, 2.8])
    t = run_conversation(RECORD, "ergo", 0, settings(engine, ergo=ErgoConfig(threshold=0.5)))
    assert t.error is None and not any(turn.reset for turn in t.turns)
    assert len(engine.requests_for("assistant")) == len(SHARDS)


def test_ergo_on_a_model_without_log_probabilities_is_a_clear_error():
    engine = ScriptedEngine().on(role="assistant", reply="Noted.")  # no entropy scripted: no log-probabilities
    t = run_conversation(RECORD, "ergo", 0, settings(engine))
    assert t.outcome == "error" and "returned no token log-probabilities" in t.error and "scripted/assistant" in t.error


def test_ergo_assistant_works_from_python():
    engine = ergo_world([0.1, 0.9, 0.2])
    ergo = ErgoAssistant("You are helpful.", lm=engine.lm("assistant"), threshold=0.5)
    first = ergo(transcript=[{"role": "user", "content": "a"}])
    assert first.reset is None and first.context is None
    second = ergo(
        transcript=[
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "b"},
        ],
        previous_entropy=first.entropy,
    )
    assert second.reset["prompt"] == "a b" and [t.content for t in second.context] == ["a b"]


def test_the_embedded_and_litellm_paths_ask_for_log_probabilities():
    engine = ergo_world([0.3])
    lm = engine.lm("assistant")
    ErgoAssistant(lm=lm, top_logprobs=7)(transcript=[{"role": "user", "content": "hi"}])
    assert lm.history[-1]["kwargs"].get("logprobs") is True and lm.history[-1]["kwargs"].get("top_logprobs") == 7


def test_calibration_takes_the_percentile_of_entropy_rises():
    entropy = {1: 0.1, 2: 0.2, 3: 0.6, 4: 0.7, 5: 0.75}

    def by_turn(call):
        return entropy[sum(m["role"] == "user" for m in call.messages)]

    engine = ScriptedEngine().on(role="assistant", reply="Noted.", entropy=by_turn)
    s = settings(engine, ergo=ErgoConfig(threshold=0.01))
    result = calibrate_threshold([RECORD], s, select="percentile", percentile=50)
    assert result.jumps == pytest.approx([0.1, 0.4, 0.1, 0.05], abs=1e-6)  # no reset happened while measuring
    assert result.threshold == pytest.approx(0.1, abs=1e-6)
    assert result.as_dict()["jumps"]["n"] == 4


def test_calibration_by_score_picks_the_threshold_that_solves():
    # Rises 0.1, 0.4, 0.1, 0.05. The assistant solves only from a consolidated prompt holding shard 3: a low
    # threshold resets too early (turn 2, shards 1-2 only), the highest one resets at turn 3.
    engine = ScriptedEngine()
    engine.on(
        role="assistant",
        signature=ConsolidateUserTurns,
        reply=lambda c: {"prompt": "ALL: " + " ".join(c.inputs["user_messages"])},
    )
    entropy = {1: 0.1, 2: 0.2, 3: 0.6, 4: 0.7, 5: 0.75}

    def by_turn(call):
        users = [m["content"] for m in call.messages if m["role"] == "user"]
        return 0.5 if users[0].startswith("ALL: ") else entropy[len(users)]

    engine.on(
        role="assistant",
        reply=lambda c: ANSWER if c.last_user.startswith("ALL: ") and SHARDS[2] in c.last_user else "Noted.",
        entropy=by_turn,
    )
    result = calibrate_threshold([RECORD], settings(engine), select="score", percentiles=(0.0, 100.0))
    by_q = {c["percentile"]: c for c in result.candidates}
    assert by_q[0.0]["P"] == 0.0 and by_q[100.0]["P"] == 100.0
    assert by_q[0.0]["resets"] == 1 and by_q[100.0]["resets"] == 1
    assert result.threshold == by_q[100.0]["threshold"] and result.percentile == 100.0


def test_calibration_without_any_rise_names_the_failure():
    engine = ScriptedEngine().on(role="assistant", reply="Noted.")
    with pytest.raises(ValueError, match="no token log-probabilities"):
        calibrate_threshold([RECORD], settings(engine))
    with pytest.raises(ValueError, match="select"):
        calibrate_threshold([RECORD], settings(engine), select="best")


def test_calibration_with_too_few_rises_for_the_percentile_is_refused():
    from intent_mediator.simulation.ergo import rises_needed

    assert [rises_needed(q) for q in (50, 75, 90, 95, 100)] == [2, 4, 10, 20, 1]
    entropy = {1: 0.1, 2: 0.2, 3: 0.6, 4: 0.7, 5: 0.75}  # 4 rises per conversation
    engine = ScriptedEngine().on(
        role="assistant", reply="Noted.", entropy=lambda call: entropy[sum(m["role"] == "user" for m in call.messages)]
    )
    with pytest.raises(ValueError, match=r"observed 4 entropy rise\(s\) .* 90th percentile needs at least 10"):
        calibrate_threshold([RECORD], settings(engine), percentile=90)
    result = calibrate_threshold([RECORD], settings(engine), percentile=90, runs=3)  # 12 rises: enough
    assert len(result.jumps) == 12


def test_entropy_jumps_skip_failed_conversations():
    from intent_mediator.simulation.trajectory import Trajectory, TurnRecord

    ok = Trajectory(
        task_id="a",
        task="math",
        mode="ergo",
        run=0,
        turns=[TurnRecord(index=i, user="u", entropy=e) for i, e in enumerate([0.1, 0.5])],
    )
    bad = Trajectory(task_id="b", task="math", mode="ergo", run=0, error="boom", turns=ok.turns)
    assert entropy_jumps([ok, bad]) == pytest.approx([0.4])


def test_dspy_exposes_log_probabilities_on_the_prediction():
    engine = ergo_world([0.25])
    with dspy.context(lm=engine.lm("assistant", logprobs=True, top_logprobs=4)):
        from intent_mediator.adapters import PlainChatAdapter
        from intent_mediator.signatures import AnswerRequest

        with dspy.context(adapter=PlainChatAdapter()):
            out = dspy.Predict(AnswerRequest)(request="hi", context="")
    assert mean_entropy(out.logprobs) == pytest.approx(0.25, abs=1e-6)


def test_evaluate_cli_runs_the_new_modes_and_calibrates_ergo(monkeypatch, tmp_path, capsys):
    import json

    from intent_mediator import cli
    from intent_mediator.commands import common

    entropy = {1: 0.1, 2: 0.2, 3: 0.6, 4: 0.7, 5: 0.75, 6: 0.8, 7: 0.85}

    def by_turn(call):
        return entropy[min(7, sum(m["role"] == "user" for m in call.messages))]

    engine = ScriptedEngine()
    engine.on(
        role="assistant",
        signature=ConsolidateUserTurns,
        reply=lambda c: {"prompt": " ".join(c.inputs["user_messages"])},
    )
    engine.on(role="assistant", reply="Noted.", entropy=by_turn)
    monkeypatch.setattr(common, "roles_from_args", lambda args, roles=None: RoleLMs.scripted(engine))
    calibration = tmp_path / "calibration.json"
    calibration.write_text(json.dumps([RECORD.to_record()]))
    out = tmp_path / "run"
    base = ["evaluate", "--tasks", "math", "--limit", "2", "--modes", "drop-assistant,ergo", "--out", str(out)]
    argv = [*base, "--ergo-calibrate", str(calibration), "--ergo-percentile", "50", "--no-progress", "--workers", "1"]
    assert cli.main(argv) == 0
    calibrated = json.loads((out / "ergo_calibration.json").read_text())
    assert calibrated["threshold"] == pytest.approx(0.1, abs=1e-3) and calibrated["records"] == [RECORD.task_id]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["overall"]) == {"drop-assistant", "ergo"}
    assert "ERGO threshold 0.1" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:  # argparse's own check of the flag
        cli.main([*base, "--ergo-threshold", "nan", "--no-progress"])
    assert refused.value.code == 2
