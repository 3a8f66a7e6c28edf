"""The same student and metric compile with DSPy's GEPA, SIMBA and MIPROv2 (only the Mediator changes)."""

import pytest
from intent_mediator import MediatedAssistant
from intent_mediator.optimizers.dspy_optimizers import compile_with_dspy, examples_from
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.simulation.runner import simulate

from .refiner_world import KEEP_ALL, LAZY, RECORDS, roles, world


def generic_proposal(call):
    return {field: {"mediator": KEEP_ALL} if field == "module_advice" else KEEP_ALL for field in call.output_fields}


@pytest.fixture
def setup():
    engine = world()
    engine.default = generic_proposal  # every optimizer's proposal prompt gets the same useful instruction
    r = roles(engine)
    failed = simulate(RECORDS[:6], ["sharded"], 1, ConversationSettings(roles=r, persona=LAZY), workers=2)
    examples = examples_from(failed, {rec.task_id: rec for rec in RECORDS})
    return engine, r, examples


def test_examples_are_plain_dict_transcripts_ending_with_the_user(setup):
    _, _, examples = setup
    assert len(examples) == 6
    assert all(isinstance(t, dict) for t in examples[0].transcript) and examples[0].transcript[-1]["role"] == "user"


@pytest.mark.parametrize("name", ["gepa", "mipro"])
def test_gepa_and_mipro_rewrite_the_mediator_instructions(setup, name):
    engine, r, examples = setup
    student = MediatedAssistant()
    program = compile_with_dspy(name, student, r, examples[:4], examples[4:], threads=2)
    assert KEEP_ALL in program.mediator.predictor.signature.instructions
    assert student.mediator.predictor.signature.instructions != program.mediator.predictor.signature.instructions
    assert program.answer.demos == []  # the assistant stayed the plain chat model
    assert engine.requests_for("refiner")


def test_simba_runs_on_the_same_student(setup):
    _, r, examples = setup
    program = compile_with_dspy("simba", MediatedAssistant(), r, examples, threads=2, max_steps=1, num_candidates=2)
    assert isinstance(program, MediatedAssistant) and program.answer.demos == []
