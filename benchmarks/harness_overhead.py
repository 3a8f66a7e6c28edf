"""Harness overhead: simulated turns per second on a zero-latency scripted engine, and where the time goes.

Engine time is measured inside `complete()`; everything else (DSPy prompt building and parsing, the harness's
judging and scoring, bookkeeping) is outside it. `--profile` prints the top functions by cumulative time.

    python benchmarks/harness_overhead.py [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import write
from intent_mediator import RoleLMs, ScriptedEngine
from intent_mediator.data.loaders import load_records
from intent_mediator.simulation.conversation import ConversationSettings, run_conversation
from intent_mediator.simulation.runner import simulate


class TimedEngine(ScriptedEngine):
    engine_seconds: float = 0.0

    def complete(self, request):
        started = time.perf_counter()
        try:
            return super().complete(request)
        finally:
            self.engine_seconds += time.perf_counter() - started


def run(records, mode: str) -> tuple[float, int, float]:
    engine = TimedEngine()
    engine.on(role="mediator", reply=lambda call: {"request": " ".join(call.user_turns())})
    engine.on(role="assistant", reply="Could you say more?")
    settings = ConversationSettings(roles=RoleLMs.scripted(engine))
    started = time.perf_counter()
    trajectories = simulate(records, [mode], 1, settings, workers=1)
    wall = time.perf_counter() - started
    return wall, sum(len(t.turns) for t in trajectories), engine.engine_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    records = [r for r in load_records("builtin") if r.task in ("math", "actions", "database")]
    run(records[:3], "sharded")  # warm-up: imports, signature classes
    rows, data = [], {"modes": {}}
    for mode in ("sharded", "mediated"):
        wall, turns, engine = run(records, mode)
        cell = {"turns": turns, "wall_s": wall, "turns_per_s": turns / wall, "outside_engine_share": 1 - engine / wall}
        data["modes"][mode] = cell
        rows.append([mode, turns, wall, cell["turns_per_s"], cell["outside_engine_share"]])
    write(
        "harness_overhead",
        data,
        ["mode", "turns", "wall (s)", "turns/s", "share outside the engine"],
        rows,
        f"{len(records)} math/actions/database conversations, one worker, zero-latency scripted engine. "
        "Reproduce: `python benchmarks/harness_overhead.py --profile`.",
    )
    if args.profile:
        # In this thread (the runner's pool threads are invisible to cProfile).
        engine = TimedEngine()
        engine.on(role="mediator", reply=lambda call: {"request": " ".join(call.user_turns())})
        engine.on(role="assistant", reply="Could you say more?")
        settings = ConversationSettings(roles=RoleLMs.scripted(engine))
        profile = cProfile.Profile()
        profile.runcall(lambda: [run_conversation(r, "mediated", 0, settings) for r in records])
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
