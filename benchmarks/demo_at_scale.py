"""The demo's configuration on more of the held-out test split: what `intent-mediator demo` measures, with intervals.

The demo fits five minutes by running 2 test tasks x 2 runs per mode, so one conversation moves its recovery by
0.5 or more. This runs the same command (same sampling, token cap, Mediator history and shipped artifact) on
more tasks and runs, in a folder it resumes, keeps everything the demo printed, and adds side_by_side's table
over the folder's conversations: P, A90, U90_10 with percentile-bootstrap intervals over tasks, recovery with
its interval, fact loss, cut-off answers and where mediated fell short. Writes benchmarks/results/<name>.{json,md}:

    python benchmarks/demo_at_scale.py --out runs/demo-math-test --name demo_math_test \
        -- --first 10 --runs 3 --modes full,sharded,drop-assistant,mediated

`--report-only` rewrites the results from the folder as it is, running nothing (`--printed LOG` adds what the demo
printed when it ran, from its saved output; give the demo flags the folder was run with after `--`, for the record).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import side_by_side as sbs


def demo_table(folder: Path) -> dict:
    """side_by_side's result shape over the demo folder's finished conversations (records from its run.json)."""
    from intent_mediator.data.loaders import load_records
    from intent_mediator.simulation.trajectory import TrajectoryLog

    run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    if not isinstance(run, dict) or not isinstance(run.get("config"), dict) or not run.get("modes"):
        raise ValueError(f"{folder / 'run.json'}: not a demo or evaluate run (no config, modes or runs)")
    ids = set(run.get("records") or {})
    records = {r.task_id: r for r in load_records("builtin") if r.task_id in ids}
    trajectories = [t for t in TrajectoryLog(folder / "trajectories.jsonl").latest() if t.task_id in ids]
    modes = [m for m in ("full", "sharded", "drop-assistant", "mediated") if m in (run.get("modes") or [])]
    planned = len(ids) * len(modes) * int(run.get("runs") or 0)
    return {
        "config": run["config"],
        "sets": {"test": sbs.set_counts(list(records.values()), trajectories, modes, planned)},
        "tables": {"test": sbs.mode_table(trajectories, modes, records=records)},
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, metavar="DIR", help="the demo's output folder, resumed")
    parser.add_argument("--name", default="demo_at_scale", help="results file name (default demo_at_scale)")
    parser.add_argument("--results", default=str(Path(__file__).parent / "results"), metavar="DIR")
    parser.add_argument("--report-only", action="store_true", help="tables from the folder as it is; run nothing")
    parser.add_argument(
        "--printed", metavar="FILE", help="with --report-only: what the demo printed when it ran (its saved log)"
    )
    args = parser.parse_args(argv[:split])
    extra = argv[split + 1 :]
    if args.printed and not args.report_only:
        parser.error("--printed goes with --report-only (a run keeps what the demo prints itself)")
    folder = Path(args.out)
    demo = ["intent-mediator", "demo", *extra, "--out", args.out, "--no-progress"]
    output: list[str] = []
    begin = time.perf_counter()
    if not args.report_only:
        done = subprocess.run(
            [sys.executable, "-m", "intent_mediator.cli", *demo[1:]], capture_output=True, text=True, check=False
        )
        output = done.stdout.strip().splitlines()
        if done.returncode != 0:
            print("\n".join([*output, *done.stderr.strip().splitlines()[-5:]]), file=sys.stderr)
            print(f"demo_at_scale: error: the demo exited {done.returncode}", file=sys.stderr)
            return 2
    elif args.printed:
        output = [line for line in Path(args.printed).read_text().splitlines() if " WARNING " not in line]
    if not (folder / "run.json").is_file():
        print(f"demo_at_scale: error: {folder} holds no demo run (no run.json)", file=sys.stderr)
        return 2
    try:
        table = demo_table(folder)
    except ValueError as exc:
        print(f"demo_at_scale: error: {exc}", file=sys.stderr)
        return 2
    result = {**table, "demo_command": " ".join(demo), "demo_output": output}
    result["seconds"] = round(time.perf_counter() - begin, 1)
    command = f"python benchmarks/demo_at_scale.py --out {args.out} --name {args.name} -- {' '.join(extra)}".strip()
    text = sbs.markdown(result, command)
    if output:
        text += "\nWhat the demo printed:\n\n```\n" + "\n".join(output) + "\n```\n"
    sbs.write_results(Path(args.results), args.name, command, result, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
