"""Where the demo's time goes: llama.cpp's own counters for every model call of `intent-mediator demo`.

Runs the demo in this process with a fresh DSPy cache and output folder, and wraps the embedded engine's
llama.cpp server so that each call's counters are kept: prompt tokens read (those not already in the slot's
prompt cache) and how many the cache supplied, milliseconds reading them, tokens written and milliseconds
writing them. Calls are grouped by who made them, read from the system prompt DSPy built: the Mediator's
rewrite (input field `transcript`), its repair (`user_turns`), and the assistant (everything else: plain chat).
Writes benchmarks/results/demo_profile.{json,md}.

    python benchmarks/demo_profile.py [-- extra demo flags, e.g. --first 1]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import write


class CountingServer:
    """The llama.cpp server, with each chat completion's timings kept."""

    def __init__(self, server, calls: list[dict]):
        self._server, self.calls = server, calls

    def handle_chat_completions(self, payload: dict):
        started = time.perf_counter()
        result = self._server.handle_chat_completions(payload)
        timings = result.get("timings", {}) if isinstance(result, dict) else {}
        system = next((m["content"] for m in payload["messages"] if m["role"] == "system"), "")
        self.calls.append(
            {
                "caller": caller(system),
                "wall_s": time.perf_counter() - started,
                "prompt_read": timings.get("prompt_n", 0),
                "prompt_cached": timings.get("cache_n", 0),
                "prompt_ms": timings.get("prompt_ms", 0.0),
                "written": timings.get("predicted_n", 0),
                "write_ms": timings.get("predicted_ms", 0.0),
            }
        )
        return result


def caller(system: str) -> str:
    if "`transcript`" in system:
        return "mediator"
    if "`user_turns`" in system:
        return "mediator repair"
    return "assistant"


def main(argv: list[str] | None = None) -> None:
    extra = argv if argv is not None else [a for a in sys.argv[1:] if a != "--"]
    calls: list[dict] = []
    with tempfile.TemporaryDirectory() as work:
        os.environ["DSPY_CACHEDIR"] = str(Path(work) / "dspy-cache")  # read when DSPy is first imported
        from intent_mediator.cli import main as cli
        from intent_mediator.engines import embedded

        load = embedded.EmbeddedEngine._load_locked

        def counting_load(engine) -> None:
            load(engine)
            if not isinstance(engine._server, CountingServer):
                engine._server = CountingServer(engine._server, calls)

        embedded.EmbeddedEngine._load_locked = counting_load  # type: ignore[method-assign]
        begin = time.perf_counter()
        code = cli(["demo", "--out", str(Path(work) / "demo"), "--no-progress", *extra])
        wall = time.perf_counter() - begin
    if code != 0:
        raise SystemExit(f"the demo exited with {code}; nothing written")
    rows, by_caller = [], {}
    for name in ("assistant", "mediator", "mediator repair"):
        mine = [c for c in calls if c["caller"] == name]
        total = {key: sum(c[key] for c in mine) for key in ("prompt_read", "prompt_cached", "prompt_ms", "written")}
        total |= {"write_ms": sum(c["write_ms"] for c in mine), "calls": len(mine)}
        by_caller[name] = total
        rows.append(
            [name, len(mine), total["prompt_read"], total["prompt_cached"], f"{total['prompt_ms'] / 1000:.1f}",
             total["written"], f"{total['write_ms'] / 1000:.1f}"]
        )  # fmt: skip
    rerun = " ".join(["python benchmarks/demo_profile.py", *(["--", *extra] if extra else [])])
    reading = sum(c["prompt_ms"] for c in calls) / 1000
    writing = sum(c["write_ms"] for c in calls) / 1000
    written = sum(c["written"] for c in calls)
    write(
        "demo_profile",
        {
            "command": " ".join(["intent-mediator demo", *extra]),
            "exit_code": code,
            "wall_s": round(wall, 1),
            "by_caller": by_caller,
            "calls": calls,
            "load_average": os.getloadavg(),
        },
        [
            "caller",
            "calls",
            "prompt tokens read",
            "prompt tokens from the cache",
            "reading (s)",
            "tokens written",
            "writing (s)",
        ],
        rows,
        f"`{' '.join(['intent-mediator demo', *extra])}` in {wall:.0f} s wall: {reading:.0f} s reading prompts, "
        f"{writing:.0f} s writing {written} tokens ({written / writing if writing else 0:.1f} tokens/s), the rest "
        f"outside llama.cpp. Reproduce: `{rerun}` (idle machine).",
    )


if __name__ == "__main__":
    main()
