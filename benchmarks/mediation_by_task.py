"""Which mediated requests went through the Mediator's LM, per task: read from a finished run folder.

A Mediator's rules, compiled or not, can change only the requests its LM writes; with joined additions most
follow-ups make no call. This reads a run folder's trajectories (`evaluate`, `demo`, `demo_at_scale`) and counts,
per task and mode, the follow-up turns (every user turn after the first) by how their request came about
(`TurnRecord.mediation`: joined, rewrite, repaired, appended, user turns, cut off). Nothing is run.

    python benchmarks/mediation_by_task.py --run runs/demo-math-test-r3gen --name mediation_by_task_math_test
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import write


def by_task(trajectories: list, modes: list[str]) -> dict[str, dict[str, dict]]:
    """{mode: {task_id: {"conversations", "turns", "paths", "through_lm"}}} over the given modes' trajectories."""
    from intent_mediator.report import mediation_paths

    out: dict[str, dict[str, dict]] = {}
    for mode in modes:
        mine = [t for t in trajectories if t.mode == mode]
        for task_id in sorted({t.task_id for t in mine}):
            of_task = [t for t in mine if t.task_id == task_id]
            found = mediation_paths(of_task) or {"turns": 0, "paths": {}, "through_lm": 0}
            out.setdefault(mode, {})[task_id] = {
                "conversations": len(of_task),
                **{key: found[key] for key in ("turns", "paths", "through_lm")},
            }
    return out


def main(argv: list[str] | None = None) -> int:
    from intent_mediator.simulation.trajectory import TrajectoryLog

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a run folder holding trajectories.jsonl")
    parser.add_argument("--modes", default="mediated", help="modes to count (default mediated)")
    parser.add_argument("--name", default="mediation_by_task", help="results file name")
    args = parser.parse_args(argv)
    log = Path(args.run) / "trajectories.jsonl"
    if not log.is_file():
        parser.error(f"--run: no trajectories.jsonl in {args.run}")
    modes = [m for m in args.modes.split(",") if m]
    tables = by_task(TrajectoryLog(log).latest(), modes)
    if not tables:
        parser.error(f"--modes: no conversation of {', '.join(modes)} in {log}")
    rows = []
    for mode, tasks in tables.items():
        for task_id, row in tasks.items():
            paths = ", ".join(f"{path} {n}" for path, n in sorted(row["paths"].items())) or "–"
            rows.append([mode, task_id, row["conversations"], row["turns"], row["through_lm"], paths])
    digest = hashlib.sha256(log.read_bytes()).hexdigest()[:16]
    command = "python benchmarks/mediation_by_task.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write(
        args.name,
        {"run": args.run, "trajectories_sha256": digest, "modes": modes, "tables": tables},
        ["mode", "task", "conversations", "follow-ups", "through the Mediator's LM", "paths"],
        rows,
        f"Command: `{command.strip()}` (trajectories sha256 {digest}…). Follow-ups: user turns after the first; "
        "through the Mediator's LM: every path but joined (a one-turn passthrough is not a follow-up).",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
