"""Benchmark output: a JSON result and a Markdown table per benchmark, in benchmarks/results/."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from intent_mediator.files import write_text_atomic

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    import os

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def write(name: str, data: dict[str, Any], header: list[str], rows: list[list[Any]], notes: str = "") -> Path:
    """Write `<name>.json` (data + machine) and `<name>.md` (a table); print the table."""
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / f"{name}.json", json.dumps({"machine": machine(), **data}, indent=2) + "\n")
    text = table(header, rows) + "\n" + (f"\n{notes}\n" if notes else "")
    write_text_atomic(RESULTS / f"{name}.md", text)
    print(text)
    return RESULTS / f"{name}.md"


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table (floats to 3 significant digits)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)
