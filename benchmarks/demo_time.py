"""Time `intent-mediator demo` end to end, as a new user runs it, and keep everything it printed.

A fresh DSPy cache (a warm one would replay earlier answers) and a fresh output folder; the machine's load
average before and after is recorded with the wall time, since a loaded machine makes the demo slower than the
five minutes it is sized for on 2 idle cores. Writes benchmarks/results/<name>.{json,md} (default `demo`).

    python benchmarks/demo_time.py [--name NAME] [-- extra demo flags]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import write


def _conversations(path: Path) -> list[dict]:
    """Per conversation: mode, run, score, seconds, turns and tokens (the run folder is temporary)."""
    import json

    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        t = json.loads(line)
        usage = t.get("usage") or {}
        out.append(
            {
                **{k: t.get(k) for k in ("task_id", "mode", "run", "score", "seconds")},
                "turns": len(t.get("turns") or []),
                "last_reply_cut_off": ((t.get("turns") or [{}])[-1]).get("cut_off"),
                "prompt_tokens": sum(u.get("prompt_tokens", 0) for u in usage.values()),
                "completion_tokens": sum(u.get("completion_tokens", 0) for u in usage.values()),
            }
        )
    return out


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="demo", help="results file name (default demo)")
    args = parser.parse_args(argv[:split])
    extra = argv[split + 1 :]
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "demo"
        env = {**os.environ, "DSPY_CACHEDIR": str(Path(work) / "dspy-cache")}
        command = [sys.executable, "-m", "intent_mediator.cli", "demo", "--out", str(out), "--no-progress", *extra]
        load_before = os.getloadavg()
        begin = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - begin
        load_after = os.getloadavg()
        conversations = _conversations(out / "trajectories.jsonl")
    output = result.stdout.strip().splitlines()
    data = {
        "command": "intent-mediator demo " + " ".join(extra),
        "exit_code": result.returncode,
        "wall_s": round(wall, 1),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "cpus": os.cpu_count(),
        "output": output,
        "conversations": conversations,
        "stderr_tail": result.stderr.strip().splitlines()[-5:],
    }
    reproduce = "python benchmarks/demo_time.py" + (f" --name {args.name}" if args.name != "demo" else "")
    reproduce += f" -- {' '.join(extra)}" if extra else ""
    write(
        args.name,
        data,
        ["wall (s)", "exit", "1-min load before / after", "cpus"],
        [[wall, result.returncode, f"{load_before[0]:.1f} / {load_after[0]:.1f}", os.cpu_count()]],
        "Output of the run:\n\n```\n" + "\n".join(output) + "\n```\n\nReproduce: `" + reproduce + "`.",
    )


if __name__ == "__main__":
    main()
