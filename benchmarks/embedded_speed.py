"""Speed of the embedded model: cold start, prompt and generation tokens per second, peak memory, demo time.

Timings come from llama.cpp's own counters for each request; medians over a few prompts of growing length.

    python benchmarks/embedded_speed.py [--model qwen2.5-coder-1.5b] [--demo]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import write
from intent_mediator.engines.embedded import DEFAULT_EMBEDDED_MODEL, EmbeddedEngine, ensure_model_file

PROMPTS = [
    "What is 17 times 23? Reply with the number only.",
    "Write a Python function that returns the second largest distinct value in a list, or None.",
    "Explain in three sentences why a user might reveal a task piece by piece in a chat, and what an assistant "
    "should do about it. " * 4,
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_EMBEDDED_MODEL)
    parser.add_argument("--demo", action="store_true", help="also time `intent-mediator demo` end to end")
    args = parser.parse_args()
    started = time.perf_counter()
    ensure_model_file(args.model)
    verified = time.perf_counter() - started
    engine = EmbeddedEngine(args.model)
    engine.load()
    cold = time.perf_counter() - started
    prompt_rates, generation_rates = [], []
    for prompt in PROMPTS:
        result = engine._server.handle_chat_completions(
            {
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": 128,
                "temperature": 0,
                "cache_prompt": False,
            }
        )
        timings = result["timings"]
        prompt_rates.append(timings["prompt_per_second"])
        generation_rates.append(timings["predicted_per_second"])
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    data = {
        "model": args.model,
        "verify_s": verified,
        "cold_start_s": cold,
        "prompt_tok_per_s": statistics.median(prompt_rates),
        "generation_tok_per_s": statistics.median(generation_rates),
        "peak_rss_gib": peak_gib,
    }
    rows = [[args.model, verified, cold, data["prompt_tok_per_s"], data["generation_tok_per_s"], peak_gib]]
    header = ["model", "checksum (s)", "cold start (s)", "prompt tok/s", "generation tok/s", "peak RSS (GiB)"]
    if args.demo:
        with tempfile.TemporaryDirectory() as out:
            # A fresh DSPy cache: a warm one replays earlier demos (2 s) instead of running the model.
            env = {**os.environ, "DSPY_CACHEDIR": str(Path(out) / "dspy-cache")}
            begin = time.perf_counter()
            result = subprocess.run(
                ["intent-mediator", "demo", "--out", out, "--no-progress"],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            )
            data["demo_wall_s"] = time.perf_counter() - begin
            data["demo_output"] = result.stdout.strip().splitlines()[-6:]
        header.append("demo (s)")
        rows[0].append(data["demo_wall_s"])
    write(
        f"embedded_speed_{args.model}",
        data,
        header,
        rows,
        "Medians over three prompts (llama.cpp counters, prompt cache off). Cold start includes the SHA-256 check. "
        f"Reproduce: `python benchmarks/embedded_speed.py --model {args.model} --demo`.",
    )


if __name__ == "__main__":
    main()
