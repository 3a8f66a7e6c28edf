"""Time `intent-mediator demo` end to end, as a new user runs it, and keep everything it printed.

A fresh DSPy cache (a warm one would replay earlier answers) and a fresh output folder; the machine's load
average before and after is recorded with the wall time, since a loaded machine makes the demo slower than the
five minutes it is sized for on 2 idle cores. Writes benchmarks/results/demo.{json,md}.

    python benchmarks/demo_time.py [-- extra demo flags]
"""

from __future__ import annotations

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
                "prompt_tokens": sum(u.get("prompt_tokens", 0) for u in usage.values()),
                "completion_tokens": sum(u.get("completion_tokens", 0) for u in usage.values()),
            }
        )
    return out


def main(argv: list[str] | None = None) -> None:
    extra = argv if argv is not None else [a for a in sys.argv[1:] if a != "--"]
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
    write(
        "demo",
        data,
        ["wall (s)", "exit", "1-min load before / after", "cpus"],
        [[wall, result.returncode, f"{load_before[0]:.1f} / {load_after[0]:.1f}", os.cpu_count()]],
        "Output of the run:\n\n```\n" + "\n".join(output) + "\n```\n\nReproduce: `python benchmarks/demo_time.py`.",
    )


if __name__ == "__main__":
    main()
