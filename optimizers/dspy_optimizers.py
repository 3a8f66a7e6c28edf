"""Compile the same student with DSPy's own optimizers (GEPA, SIMBA, MIPROv2), so users can compare.

DSPy optimizers score single calls, not conversations: each training example is a fixed multi-turn transcript
(the failed multi-turn conversation of the same task) with its record, and the metric scores the assistant's
reply to the mediated request. The `MediatedAssistant` is handed to the optimizer as it is: it exposes only
what it really sends (the Mediator's predictor, and the assistant's only when it is a DSPy predictor), so the
plain-chat assistant stays the model being compared.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import dspy
from intent_mediator.data.records import Instruction
from intent_mediator.lm import RoleLMs, lm_scope
from intent_mediator.metrics import task_metric
from intent_mediator.optimizers.pairs import transcript_of
from intent_mediator.programs import MediatedAssistant
from intent_mediator.simulation.trajectory import Trajectory
from intent_mediator.tasks import get_task
from intent_mediator.transcript import as_dicts

logger = logging.getLogger(__name__)

OPTIMIZERS = ("gepa", "simba", "mipro")


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
    metric: Callable[..., Any] | None = None,
    seed: int = 0,
    threads: int = 4,
    budget: str = "light",
    **kwargs: Any,
) -> MediatedAssistant:
    """Optimize the student with GEPA, SIMBA or MIPROv2; returns a new MediatedAssistant.

    Args:
        name: "gepa", "simba" or "mipro".
        student: The program to optimize; left untouched.
        roles: The mediator and assistant roles run the program; the refiner role proposes and reflects.
        trainset, valset: Examples with `transcript`, `context` inputs and a `record` (see `examples_from`).
        metric: A DSPy metric (default: `task_metric()`, the task's scorer with feedback).
        seed, threads, budget: Passed to the optimizer (`budget` is GEPA's and MIPROv2's `auto`).
        kwargs: Further optimizer arguments.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    if not trainset:
        raise ValueError("the DSPy optimizers need at least one failed multi-turn example")
    metric = metric or task_metric()
    program = student.deepcopy()
    program.mediator.role_lm = roles.mediator
    program.assistant_lm = roles.assistant
    optimizer: dspy.teleprompt.Teleprompter
    if name == "gepa":
        optimizer = dspy.GEPA(
            metric=metric, auto=budget, reflection_lm=roles.refiner, num_threads=threads, seed=seed, **kwargs
        )
        extra: dict[str, Any] = {"valset": valset or trainset}
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
        optimized = optimizer.compile(program, trainset=trainset, **extra)
    optimized.mediator.role_lm = student.mediator.role_lm
    optimized.assistant_lm = student.assistant_lm
    optimized._compiled = True
    return optimized
