"""MediatedAssistant composes with DSPy's optimizers: each sees only what the program really sends."""

import random

import dspy
import pytest
from intent_mediator import MediatedAssistant, task_metric, to_examples
from intent_mediator.optimizers.dspy_optimizers import compile_with_dspy, examples_from
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.simulation.runner import simulate
from intent_mediator.testing.refiner_world import KEEP_ALL, LAZY, RECORDS, roles, world


def generic_proposal(call):
    """Every optimizer's proposal prompt gets the same useful instruction (SIMBA: as advice for each module)."""
    return {
        field: {"mediator.rewrite": KEEP_ALL} if field == "module_advice" else KEEP_ALL for field in call.output_fields
    }


@pytest.fixture
def engine():
    engine = world()
    engine.default = generic_proposal
    return engine


@pytest.fixture
def examples():
    return to_examples(RECORDS[:6])


def program_on(engine, guidelines=None, **kwargs):
    """Without the Mediator's check-and-repair, so that only what the optimizers learn decides the score."""
    r = roles(engine)
    return MediatedAssistant(guidelines, mediator_lm=r.mediator, assistant_lm=r.assistant, check=False, **kwargs)


def test_optimizers_see_only_the_mediator_of_a_plain_chat_assistant():
    program = MediatedAssistant()
    assert [name for name, _ in program.named_predictors()] == ["mediator.rewrite", "mediator.repair"]
    tunable = MediatedAssistant(assistant_adapter=dspy.ChatAdapter())
    assert [name for name, _ in tunable.named_predictors()] == ["mediator.rewrite", "mediator.repair", "answer"]


def test_bootstrap_few_shot_keeps_no_demo_from_failing_examples(engine, examples):
    student = program_on(engine)  # uncompiled: keeps only the last turn, every example fails
    compiled = dspy.BootstrapFewShot(metric=task_metric(), max_bootstrapped_demos=2, max_labeled_demos=0).compile(
        student, trainset=examples
    )
    assert all(not predictor.demos for _, predictor in compiled.named_predictors())


def test_bootstrap_few_shot_demos_render_on_the_mediator_and_the_program_still_answers(engine, examples):
    student = program_on(engine, [KEEP_ALL])
    compiled = dspy.BootstrapFewShot(metric=task_metric(), max_bootstrapped_demos=2, max_labeled_demos=0).compile(
        student, trainset=examples
    )
    assert len(compiled.mediator.predictor.demos) == 2
    engine.requests.clear()
    out = compiled(transcript=examples[3].transcript, context=examples[3].context)
    assert task_metric()(examples[3], out)
    mediator_messages = engine.requests_for("mediator")[-1].messages
    assert len(mediator_messages) == 6  # system, two demo exchanges, the real input
    assert examples[0].transcript[0]["content"] in mediator_messages[1]["content"]


def test_a_first_turn_passes_through_after_an_optimizer_added_demos_and_instructions(engine, examples):
    program = program_on(engine)
    one_turn = [{"role": "user", "content": "hello there"}]
    program.mediator.predictor.demos = [dspy.Example(transcript=one_turn, request="Say hello.")]
    predictor = program.mediator.predictor
    predictor.signature = predictor.signature.with_instructions("Rewrite the chat formally.")
    out = program.mediator(transcript=one_turn)
    assert (out.request, out.mediation) == ("hello there", "passthrough")
    assert engine.requests_for("mediator") == []


def test_mipro_v2_rewrites_the_mediator_instruction(engine, examples):
    r = roles(engine)
    optimizer = dspy.MIPROv2(
        metric=task_metric(),
        prompt_model=r.refiner,
        task_model=r.mediator,
        auto=None,
        num_candidates=2,
        num_threads=1,
        max_bootstrapped_demos=0,
        max_labeled_demos=0,
    )
    compiled = optimizer.compile(
        program_on(engine), trainset=examples[:4], valset=examples[4:], num_trials=2, minibatch=False
    )
    assert KEEP_ALL in compiled.mediator.predictor.signature.instructions
    assert dspy.Evaluate(devset=examples, metric=task_metric())(compiled).score == 100.0


def test_gepa_reflects_on_the_mediator_only(engine, examples):
    r = roles(engine)
    optimizer = dspy.GEPA(metric=task_metric(), max_metric_calls=30, reflection_lm=r.refiner, num_threads=1)
    compiled = optimizer.compile(program_on(engine), trainset=examples[:4], valset=examples[4:])
    assert KEEP_ALL in compiled.mediator.predictor.signature.instructions
    reflections = engine.requests_for("refiner")
    assert reflections and all("AnswerRequest" not in str(req.messages) for req in reflections)
    # The feedback the reflection LM read names what the request left out.
    assert any("left out" in str(req.messages) for req in reflections)


def test_simba_appends_advice_to_the_mediator():
    from intent_mediator import ScriptedEngine
    from intent_mediator.testing.refiner_world import assistant_reply, mediator_reply

    engine = ScriptedEngine()

    coin = random.Random(7)  # seeded, and SIMBA runs on one thread: the same flips on every run

    def sometimes_keeps_all(call):  # SIMBA needs samples that differ to find a better and a worse trajectory
        return {"request": " ".join(call.user_turns())} if coin.random() < 0.5 else mediator_reply(call)

    engine.on(role="mediator", reply=sometimes_keeps_all)
    engine.on(role="assistant", reply=assistant_reply)
    engine.default = generic_proposal
    r = roles(engine)
    optimizer = dspy.SIMBA(
        metric=task_metric(), bsize=4, num_candidates=2, max_steps=1, prompt_model=r.refiner, num_threads=1
    )  # one thread: the scripted mediator's alternation is then the same on every run
    with dspy.context(lm=r.mediator):
        compiled = optimizer.compile(program_on(engine), trainset=to_examples(RECORDS[:4]), seed=0)
    assert [name for name, _ in compiled.named_predictors()] == ["mediator.rewrite", "mediator.repair"]
    advice = [req for req in engine.requests_for("refiner") if "module_advice" in str(req.messages)]
    assert advice, "SIMBA asked for no advice"
    # SIMBA serialises traces for its advice prompt: the transcripts reach it as text, not placeholders.
    text = str(advice[0].messages)
    assert "non-serializable" not in text and any(rec.shards[1].shard in text for rec in RECORDS[:4])
    assert KEEP_ALL in compiled.mediator.predictor.signature.instructions


def test_better_together_chains_prompt_optimizers(engine, examples):
    r = roles(engine)
    student = MediatedAssistant(assistant_lm=r.assistant)
    student.set_lm(r.mediator)  # BetterTogether checks that every predictor has an LM
    optimizer = dspy.BetterTogether(
        metric=task_metric(),
        p=dspy.GEPA(metric=task_metric(), max_metric_calls=20, reflection_lm=r.refiner),
        b=dspy.BootstrapFewShot(metric=task_metric(), max_bootstrapped_demos=1, max_labeled_demos=0),
    )
    compiled = optimizer.compile(student, trainset=examples[:4], valset=examples[4:], strategy="p -> b")
    assert compiled.candidate_programs[0]["score"] == 100.0
    assert KEEP_ALL in compiled.mediator.predictor.signature.instructions


@pytest.fixture
def failed_examples(engine):
    r = roles(engine)
    failed = simulate(RECORDS[:6], ["sharded"], 1, ConversationSettings(roles=r, persona=LAZY), workers=2)
    return examples_from(failed, {rec.task_id: rec for rec in RECORDS})


def test_examples_are_plain_dict_transcripts_ending_with_the_user(failed_examples):
    assert len(failed_examples) == 6
    first = failed_examples[0]
    assert all(isinstance(t, dict) for t in first.transcript) and first.transcript[-1]["role"] == "user"


@pytest.mark.parametrize("name", ["gepa", "mipro"])
def test_compile_with_dspy_rewrites_the_mediator_instructions(engine, failed_examples, name):
    student = MediatedAssistant()
    program = compile_with_dspy(name, student, roles(engine), failed_examples[:4], failed_examples[4:], threads=2)
    assert KEEP_ALL in program.mediator.predictor.signature.instructions
    assert student.mediator.predictor.signature.instructions != program.mediator.predictor.signature.instructions
    assert program.assistant_predictor.demos == []  # the assistant stayed the plain chat model


def test_compile_with_dspy_uses_the_metric_it_is_given(engine, failed_examples):
    seen = []

    def metric(example, pred, trace=None, pred_name=None, pred_trace=None):
        seen.append(example.record.task_id)
        return task_metric()(example, pred)

    compile_with_dspy("gepa", MediatedAssistant(), roles(engine), failed_examples[:2], metric=metric, threads=1)
    assert seen and set(seen) <= {e.record.task_id for e in failed_examples[:2]}
