"""Wall time of an evaluation at 1, 4, 16 and 64 workers against the ideal (calls x latency / workers).

The scripted engine sleeps a fixed latency per call, like a remote model; efficiency = ideal / measured.

    python benchmarks/concurrency.py [--latency 0.1] [--conversations 32]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import write
from intent_mediator import RoleLMs, ScriptedEngine
from intent_mediator.data.loaders import load_records
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.simulation.runner import simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--conversations", type=int, default=32)
    args = parser.parse_args()
    records = load_records("builtin")[: args.conversations]
    rows, data = [], {"latency_s": args.latency, "conversations": len(records), "levels": []}
    for workers in (1, 4, 16, 64):
        engine = ScriptedEngine(latency=args.latency)
        engine.on(role="mediator", reply=lambda call: {"request": " ".join(call.user_turns())})
        engine.on(role="assistant", reply="Could you say more?")
        settings = ConversationSettings(roles=RoleLMs.scripted(engine))
        started = time.perf_counter()
        simulate(records, ["mediated"], 1, settings, workers=workers)
        wall = time.perf_counter() - started
        calls = len(engine.requests)
        # With fewer conversations than workers, the longest conversation bounds the wall time.
        ideal = max(calls * args.latency / workers, max_turn_calls(engine, records) * args.latency)
        level = {"workers": workers, "calls": calls, "wall_s": wall, "ideal_s": ideal, "efficiency": ideal / wall}
        data["levels"].append(level)
        rows.append([workers, calls, wall, ideal, level["efficiency"]])
    write(
        "concurrency",
        data,
        ["workers", "LM calls", "wall (s)", "ideal (s)", "efficiency"],
        rows,
        f"{len(records)} mediated conversations, scripted engine sleeping {1000 * args.latency:.0f} ms per call. "
        "Ideal = max(calls x latency / workers, longest conversation's calls x latency). "
        "Reproduce: `python benchmarks/concurrency.py`.",
    )


def max_turn_calls(engine: ScriptedEngine, records) -> int:
    # Calls of the longest conversation: one assistant call per shard plus a mediator call per later shard.
    return max(2 * len(r.shards) - 1 for r in records)


if __name__ == "__main__":
    main()
