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

REPO = Path(__file__).resolve().parents[1]


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
    notes = ""
    if args.profile:
        data["self_time_share_by_package"] = shares = profile_by_package(records)
        notes = (
            " Self time by package (mediated, cProfile): "
            + ", ".join(f"{package} {share:.0%}" for package, share in shares.items())
            + "."
        )
    write(
        "harness_overhead",
        data,
        ["mode", "turns", "wall (s)", "turns/s", "share outside the engine"],
        rows,
        f"{len(records)} math/actions/database conversations, one worker, zero-latency scripted engine. "
        f"Reproduce: `python benchmarks/harness_overhead.py --profile`.{notes}",
    )


def profile_by_package(records) -> dict[str, float]:
    """Profile mediated conversations in this thread; print the top functions; return self-time shares."""
    # In this thread: the runner's pool threads are invisible to cProfile.
    engine = TimedEngine()
    engine.on(role="mediator", reply=lambda call: {"request": " ".join(call.user_turns())})
    engine.on(role="assistant", reply="Could you say more?")
    settings = ConversationSettings(roles=RoleLMs.scripted(engine))
    profile = cProfile.Profile()
    profile.runcall(lambda: [run_conversation(r, "mediated", 0, settings) for r in records])
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(25)
    totals: dict[str, float] = {}
    for (filename, _, _), (_, _, self_time, _, _) in stats.stats.items():
        totals[package_of(filename)] = totals.get(package_of(filename), 0.0) + self_time
    overall = sum(totals.values())
    return {k: v / overall for k, v in sorted(totals.items(), key=lambda kv: -kv[1]) if v / overall >= 0.01}


def package_of(filename: str) -> str:
    """'intent_mediator (engine)', 'intent_mediator', a site-packages top-level name, 'stdlib' or 'C builtins'."""
    path = Path(filename)
    if "site-packages" in path.parts:
        return path.parts[path.parts.index("site-packages") + 1].removesuffix(".py")
    if str(path).startswith(str(REPO)):
        return "intent_mediator (engine)" if path.parent.name == "engines" else "intent_mediator"
    if filename == "~":  # cProfile's name for C functions (isinstance, str methods, ...) called from anywhere
        return "C builtins"
    return "stdlib" if "python3" in str(path) or filename.startswith("<") else "other"


if __name__ == "__main__":
    main()
