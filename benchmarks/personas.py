"""Guidelines are per user: compile for two personas, then score each persona with each guideline set.

Scripted world of intent_mediator.testing.refiner_world: the lazy persona adds constraints without saying so;
the explicit persona announces each addition ("One more requirement ..."), which confuses the assistant if left in.

    python benchmarks/personas.py
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import write  # noqa: E402
from intent_mediator import MediatedAssistant  # noqa: E402
from intent_mediator.optimizers.refiner import Refiner  # noqa: E402
from intent_mediator.simulation.conversation import ConversationSettings  # noqa: E402
from intent_mediator.simulation.runner import simulate  # noqa: E402
from intent_mediator.testing.refiner_world import EXPLICIT, LAZY, RECORDS, roles, world  # noqa: E402

TRAIN, VAL = RECORDS[:6], RECORDS[6:12]


def score(persona, guidelines) -> float:
    settings = ConversationSettings(roles=roles(world()), persona=persona, program=MediatedAssistant(guidelines))
    runs = simulate(VAL, ["mediated"], 1, settings, workers=2)
    return sum(t.score for t in runs) / len(runs)


def main() -> None:
    compiled = {}
    for persona in (LAZY, EXPLICIT):
        settings = ConversationSettings(roles=roles(world()), persona=persona)
        refiner = Refiner(settings=settings, rounds=1, candidates_per_round=1, workers=2)
        compiled[persona.name] = refiner.compile(MediatedAssistant(), trainset=TRAIN, valset=VAL).guidelines
    rows = [
        [persona.name, score(persona, []), *(score(persona, compiled[g]) for g in compiled)]
        for persona in (LAZY, EXPLICIT)
    ]
    write(
        "personas",
        {"guidelines": compiled, "table": rows},
        ["persona \\ guidelines", "none", "compiled for lazy", "compiled for explicit"],
        rows,
        "Mediated P on 6 held-out tasks. Guidelines learned: "
        + "; ".join(f"{k}: {v[0]!r}" for k, v in compiled.items())
        + ". Reproduce: `python benchmarks/personas.py`.",
    )


if __name__ == "__main__":
    main()
