"""Compile the same student with DSPy's own optimizers (GEPA, SIMBA, MIPROv2), so users can compare.

DSPy optimizers score single calls, not conversations: each training example is a fixed multi-turn transcript
(the failed multi-turn conversation of the same task) with the task as label, and the metric scores the
assistant's reply to the mediated request. Only the Mediator is optimized: the assistant is hidden from the
optimizer, because it must stay the plain chat model being compared.
"""

from __future__ import annotations

import logging
from typing import Any

import dspy
from intent_mediator.data.records import Instruction
from intent_mediator.lm import RoleLMs, lm_scope
from intent_mediator.optimizers.pairs import transcript_of
from intent_mediator.programs import MediatedAssistant, Mediator
from intent_mediator.simulation.trajectory import Trajectory
from intent_mediator.tasks import as_metric, get_task
from intent_mediator.transcript import as_dicts

logger = logging.getLogger(__name__)

OPTIMIZERS = ("gepa", "simba", "mipro")


class _PlainTranscriptWarning(logging.Filter):
    """Turns are handed to the Mediator as plain dicts here, on purpose; DSPy's type warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Type mismatch for field 'transcript'" not in record.getMessage()


logging.getLogger("dspy.predict.predict").addFilter(_PlainTranscriptWarning())


class _Hidden:
    """Holds a module where `named_parameters` does not look, so optimizers leave it alone."""

    def __init__(self, module: dspy.Module):
        self.module = module


class MediatorStudent(dspy.Module):
    """The Mediator as an optimizer sees it: transcript (+ task context) -> assistant response."""

    def __init__(self, program: MediatedAssistant, roles: RoleLMs):
        super().__init__()
        self.mediator: Mediator = program.mediator.deepcopy()
        self.mediator.role_lm = roles.mediator
        self.mediator.plain_inputs = True
        self._assistant = _Hidden(program)
        self._assistant_lm = roles.assistant

    def forward(self, transcript: list[dict[str, str]], context: str = "") -> dspy.Prediction:
        request = self.mediator(transcript=transcript).request
        response = self._assistant.module.respond(request, context, lm=self._assistant_lm)
        return dspy.Prediction(response=response, request=request)


def examples_from(trajectories: list[Trajectory], records: dict[str, Instruction]) -> list[dspy.Example]:
    """One example per failed multi-turn trajectory: its transcript up to the last user turn."""
    examples = []
    for trajectory in trajectories:
        if trajectory.error or trajectory.outcome == "solved" or trajectory.mode in ("full", "concat"):
            continue
        turns = as_dicts(transcript_of(trajectory))
        while turns and turns[-1]["role"] == "assistant":
            turns.pop()
        record = records[trajectory.task_id]
        examples.append(
            dspy.Example(
                transcript=turns, context=get_task(record.task).system_prompt(record), record=record
            ).with_inputs("transcript", "context")
        )
    return examples


def compile_with_dspy(
    name: str,
    student: MediatedAssistant,
    roles: RoleLMs,
    trainset: list[dspy.Example],
    valset: list[dspy.Example] | None = None,
    *,
    seed: int = 0,
    threads: int = 4,
    budget: str = "light",
    **kwargs: Any,
) -> MediatedAssistant:
    """Optimize the student's Mediator with GEPA, SIMBA or MIPROv2; returns a new MediatedAssistant."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    if not trainset:
        raise ValueError("the DSPy optimizers need at least one failed multi-turn example")
    metric = as_metric()
    wrapped = MediatorStudent(student, roles)
    if name == "gepa":
        optimizer = dspy.GEPA(
            metric=metric, auto=budget, reflection_lm=roles.refiner, num_threads=threads, seed=seed, **kwargs
        )
        extra = {"valset": valset or trainset}
    elif name == "simba":
        optimizer = dspy.SIMBA(
            metric=metric, bsize=min(32, len(trainset)), num_threads=threads, prompt_model=roles.refiner, **kwargs
        )
        extra = {"seed": seed}
    else:
        optimizer = dspy.MIPROv2(
            metric=metric,
            prompt_model=roles.refiner,
            task_model=roles.mediator,
            auto=budget,
            num_threads=threads,
            seed=seed,
            **kwargs,
        )
        extra = {"valset": valset} if valset else {}
    with lm_scope(roles.mediator):
        optimized = optimizer.compile(wrapped, trainset=trainset, **extra)
    program = student.deepcopy()
    program.mediator = optimized.mediator
    program.mediator.role_lm = student.mediator.role_lm
    program.mediator.plain_inputs = False
    program._compiled = True
    return program
