"""How the embedded engine's resident memory grows with distinct prompts, per llama.cpp prompt-cache size.

llama.cpp keeps prompts that leave its slots in a host-memory cache (`--cache-ram`, 8192 MiB by default), so a
long run or a server grows by up to that much over the model's own memory. For each `--cache-ram-mib` value this
loads the embedded model in a fresh process, sends `--prompts` distinct prompts of about `--words` words (one
completion token each) and records the process's resident memory after every call. Minutes on 2 cores.

    python benchmarks/prompt_cache_memory.py [--cache-ram-mib 8192,64] [--prompts 30] [--words 300]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import write

CHILD = """
import json, sys, time
from intent_mediator.engines.embedded import EmbeddedEngine
import dspy

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

cache, prompts, words = (int(x) for x in sys.argv[1:4])
engine = EmbeddedEngine(cache_ram_mib=cache)
engine.load()
lm = dspy.LM("embedded/qwen2.5-coder-1.5b", engine=engine, cache=False, max_tokens=1, temperature=0.0)
print(json.dumps({"call": 0, "rss_mb": rss_mb()}), flush=True)
for i in range(1, prompts + 1):
    text = " ".join(f"item{i}-{j}" for j in range(words))  # no two prompts share a prefix
    started = time.perf_counter()
    lm(messages=[{"role": "user", "content": text + " Reply with one word."}])
    print(json.dumps({"call": i, "rss_mb": rss_mb(), "seconds": time.perf_counter() - started}), flush=True)
"""


def measure(cache_ram_mib: int, prompts: int, words: int) -> list[dict]:
    """One fresh process: resident memory (MiB) after loading and after each call."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(cache_ram_mib), str(prompts), str(words)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(
            f"prompt_cache_memory: the run with --cache-ram-mib {cache_ram_mib} failed:\n{done.stderr[-2000:]}"
        )
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-ram-mib", default="8192,64", help="prompt-cache sizes to compare (MiB)")
    parser.add_argument("--prompts", type=int, default=30, help="distinct prompts per size (default 30)")
    parser.add_argument("--words", type=int, default=300, help="words per prompt (default 300)")
    parser.add_argument("--name", default="prompt_cache_memory", help="results file name")
    args = parser.parse_args(argv)
    try:
        sizes = [int(x) for x in args.cache_ram_mib.split(",") if x]
    except ValueError:
        parser.error(f"--cache-ram-mib: a comma list of whole MiB, got {args.cache_ram_mib!r}")
    if not sizes or min(sizes) < 0:
        parser.error(f"--cache-ram-mib: sizes of 0 MiB or more, got {args.cache_ram_mib!r}")
    runs = {size: measure(size, args.prompts, args.words) for size in sizes}
    rows = []
    for size, points in runs.items():
        loaded, last = points[0]["rss_mb"], points[-1]["rss_mb"]
        mid = points[len(points) // 2]["rss_mb"]
        rows.append([size, round(loaded), round(mid), round(last), round(last - loaded)])
    command = "python benchmarks/prompt_cache_memory.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write(
        args.name,
        {"config": vars(args), "runs": {str(k): v for k, v in runs.items()}},
        [
            "cache-ram MiB",
            "RSS after load (MiB)",
            f"after {args.prompts // 2} prompts",
            f"after {args.prompts}",
            "growth",
        ],
        rows,
        f"Command: `{command.strip()}`. Distinct prompts of about {args.words} words, one completion token each, "
        "embedded model, one fresh process per size.",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
