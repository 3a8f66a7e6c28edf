"""How often the Mediator's request to the assistant was itself a function call (an answer, not a request).

On the actions tasks the assistant replies with calls, and a Mediator that copies them into its request has
answered the task in the user's place. For each run folder given, every mediated conversation on an actions
record is read at its last request, which counts as a call when the actions scorer's own parser
(`tasks.actions.parse_calls`) reads calls in it. Writes benchmarks/results/requests_as_calls.{json,md}.

    python benchmarks/requests_as_calls.py LABEL=RUN_FOLDER [LABEL=RUN_FOLDER ...]
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import write
from intent_mediator.simulation.trajectory import TrajectoryLog
from intent_mediator.tasks.actions import parse_calls


def last_request(trajectory) -> str | None:
    requests = [turn.request for turn in trajectory.turns if turn.request]
    return requests[-1] if requests else None


def count(folder: Path) -> dict:
    files = sorted(folder.rglob("trajectories.jsonl"))
    if not files:
        raise SystemExit(f"{folder}: no trajectories.jsonl below it")
    conversations = [
        t
        for path in files
        for t in TrajectoryLog(path).latest()
        if t.mode == "mediated" and t.task == "actions" and t.error is None and last_request(t)
    ]
    as_calls = [t for t in conversations if parse_calls(last_request(t) or "")]
    solved = sum(t.outcome == "solved" for t in conversations)
    return {
        "conversations": len(conversations),
        "requests_as_calls": len(as_calls),
        "solved": solved,
        "examples": sorted({last_request(t) or "" for t in as_calls})[:5],
    }


def main(argv: list[str] | None = None) -> None:
    pairs = argv if argv is not None else sys.argv[1:]
    if not pairs or any("=" not in pair for pair in pairs):
        raise SystemExit(__doc__)
    data = {label: count(Path(folder)) for label, folder in (pair.split("=", 1) for pair in pairs)}
    rows = [[label, d["conversations"], d["requests_as_calls"], d["solved"]] for label, d in data.items()]
    write(
        "requests_as_calls",
        {"folders": dict(pair.split("=", 1) for pair in pairs), "counts": data},
        ["run", "mediated actions conversations", "last request was a call", "solved"],
        rows,
        f"A request counts as a call when `parse_calls` reads calls in it (a call list with a stray bracket does "
        f"not parse). Reproduce: `python benchmarks/requests_as_calls.py {shlex.join(pairs)}`.",
    )


if __name__ == "__main__":
    main()
