"""What compiling costs: the Refiner (default and paper mode) against GEPA, SIMBA and MIPROv2.

Same student, metric, data and scripted world (intent_mediator.testing.refiner_world: a lazy persona whose
follow-ups add constraints; the uncompiled Mediator keeps only the last turn). Every proposal step, the
Refiner's and each DSPy optimizer's, is answered with the same useful rule, so the comparison measures each
optimizer's search cost: LM calls, tokens and wall time, and the validation score
(mediated simulations on held-out tasks) of what it returns. Target: a validation P of at least 90.

    python benchmarks/compile_cost.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import write  # noqa: E402
from intent_mediator import MediatedAssistant  # noqa: E402
from intent_mediator.optimizers.dspy_optimizers import compile_with_dspy, examples_from  # noqa: E402
from intent_mediator.optimizers.refiner import Refiner  # noqa: E402
from intent_mediator.simulation.conversation import ConversationSettings  # noqa: E402
from intent_mediator.simulation.runner import simulate  # noqa: E402
from intent_mediator.testing.refiner_world import KEEP_ALL, LAZY, RECORDS, roles, world  # noqa: E402

TRAIN, VAL = RECORDS[:6], RECORDS[6:12]
TARGET = 90.0


def proposal(call):
    return {field: {"mediator": KEEP_ALL} if field == "module_advice" else KEEP_ALL for field in call.output_fields}


def validation_score(program: MediatedAssistant) -> float:
    settings = ConversationSettings(roles=roles(world()), persona=LAZY, program=program)
    runs = simulate(VAL, ["mediated"], 1, settings, workers=2)
    return sum(t.score for t in runs) / len(runs)


def compile_one(name: str):
    engine = world()
    engine.default = proposal
    r = roles(engine)
    settings = ConversationSettings(roles=r, persona=LAZY)
    started = time.perf_counter()
    if name.startswith("refiner"):
        mode = "paper" if name.endswith("paper") else "optimize"
        program = Refiner(settings=settings, mode=mode, rounds=1, candidates_per_round=2, workers=2).compile(
            MediatedAssistant(), trainset=TRAIN, valset=VAL
        )
    else:
        failed = simulate([*TRAIN, *VAL], ["sharded"], 1, settings, workers=2)
        by_id = {rec.task_id: rec for rec in RECORDS}
        train = examples_from([t for t in failed if t.task_id in {x.task_id for x in TRAIN}], by_id)
        val = examples_from([t for t in failed if t.task_id in {x.task_id for x in VAL}], by_id)
        extra = {"max_steps": 2, "num_candidates": 2} if name == "simba" else {}
        program = compile_with_dspy(name, MediatedAssistant(), r, train, val, threads=2, **extra)
    wall = time.perf_counter() - started
    tokens = sum(q.input_tokens + q.output_tokens for q in engine.requests)
    return {"calls": len(engine.requests), "tokens": tokens, "wall_s": wall, "score": validation_score(program)}


def main() -> None:
    rows, data = [], {"target": TARGET, "train": len(TRAIN), "val": len(VAL), "optimizers": {}}
    for name in ("refiner", "refiner-paper", "gepa", "simba", "mipro"):
        result = compile_one(name)
        result["reached_target"] = result["score"] >= TARGET
        data["optimizers"][name] = result
        rows.append(
            [
                name,
                result["calls"],
                result["tokens"],
                result["wall_s"],
                result["score"],
                "yes" if result["reached_target"] else "no",
            ]
        )
    write(
        "compile_cost",
        data,
        ["optimizer", "LM calls", "tokens", "wall (s)", "validation P", "reached 90"],
        rows,
        "Scripted world of intent_mediator.testing.refiner_world; 6 training and 6 validation tasks; calls and tokens "
        "count every LM call of the compile (simulations included). Reproduce: `python benchmarks/compile_cost.py`.",
    )


if __name__ == "__main__":
    main()
