"""Lost-in-Conversation statistics over N runs per instruction (scores 0-100).

These are the benchmark's reliability statistics, not DSPy metrics (see `metrics.py` for those).

Per instruction: P = mean, A90 = 90th percentile (aptitude), U90_10 = 90th - 10th percentile (unreliability),
and the 2602.07338 paper's reliability R = 1 - (max - min), reported here on the same 0-100 scale as
100 - (max - min). Each statistic is averaged over instructions; P gets a bootstrap confidence interval over
instructions. Recovery = (mediated - sharded) / (full - sharded) tells how much of the multi-turn loss the
Mediator wins back. Runs that errored are excluded, never counted as 0.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np


def instruction_stats(scores: list[float]) -> dict[str, float]:
    """P, A90, U90_10 and R for one instruction's run scores (0-100)."""
    if not scores:
        raise ValueError("instruction_stats needs at least one score")
    values = np.asarray(scores, dtype=float)
    p90, p10 = np.percentile(values, 90), np.percentile(values, 10)
    return {
        "P": float(values.mean()),
        "A90": float(p90),
        "U90_10": float(p90 - p10),
        "R": float(100.0 - (values.max() - values.min())),
    }


def bootstrap_ci(values: list[float], *, samples: int = 1000, level: float = 0.95, seed: int = 0) -> list[float]:
    """Percentile bootstrap interval of the mean, resampling instructions."""
    if len(values) < 2:
        return [float(values[0]), float(values[0])] if values else [float("nan"), float("nan")]
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=len(values))) / len(values) for _ in range(samples))
    low = means[int((1 - level) / 2 * samples)]
    high = means[min(samples - 1, int((1 + level) / 2 * samples))]
    return [float(low), float(high)]


def paired_differences(one: dict[str, list[float]], other: dict[str, list[float]]) -> list[float]:
    """Per instruction that both scored, in `one`'s order: the mean of `one`'s runs minus the mean of `other`'s."""
    return [sum(one[i]) / len(one[i]) - sum(other[i]) / len(other[i]) for i in one if one[i] and other.get(i)]


def aggregate(per_instruction: dict[str, list[float]], errors: int = 0) -> dict[str, Any]:
    """Average instruction metrics over instructions; `n` counts the scored runs."""
    rows = [instruction_stats(scores) for scores in per_instruction.values() if scores]
    if not rows:
        return {"P": None, "A90": None, "U90_10": None, "R": None, "n": 0, "instructions": 0, "errors": errors}
    out: dict[str, Any] = {key: float(np.mean([row[key] for row in rows])) for key in ("P", "A90", "U90_10", "R")}
    out["P_ci95"] = bootstrap_ci([row["P"] for row in rows])
    out["n"] = sum(len(scores) for scores in per_instruction.values())
    out["instructions"] = len(rows)
    out["errors"] = errors
    return out


def recovery(full: float | None, sharded: float | None, mediated: float | None) -> float | None:
    """(mediated - sharded) / (full - sharded); None when full does not beat sharded."""
    if full is None or sharded is None or mediated is None or full - sharded <= 0:
        return None
    return (mediated - sharded) / (full - sharded)


def summarize(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Summary of trajectory rows (`task_id`, `task`, `mode`, `score`, `error`): per task and mode, overall,
    and recovery per task. Overall metrics average the per-task values, as the benchmark does."""
    scores: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    errors: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        key = (row["task"], row["mode"])
        if row.get("error") is not None or row.get("score") is None:
            errors[key] += 1
        else:
            scores[key][row["task_id"]].append(float(row["score"]))
    per_task: dict[str, dict[str, Any]] = defaultdict(dict)
    for key in sorted(set(scores) | set(errors)):
        task, mode = key
        per_task[task][mode] = aggregate(scores.get(key, {}), errors.get(key, 0))
    modes = sorted({mode for task in per_task.values() for mode in task})
    overall = {}
    for mode in modes:
        cells = [per_task[t][mode] for t in per_task if mode in per_task[t] and per_task[t][mode]["P"] is not None]
        overall[mode] = {
            key: (float(np.mean([c[key] for c in cells])) if cells else None) for key in ("P", "A90", "U90_10", "R")
        }
        overall[mode]["n"] = sum(c["n"] for c in cells)
    recoveries = {
        task: recovery(*(per_task[task].get(m, {}).get("P") for m in ("full", "sharded", "mediated")))
        for task in per_task
    }
    if overall:
        recoveries["overall"] = recovery(*(overall.get(m, {}).get("P") for m in ("full", "sharded", "mediated")))
    return {"per_task": dict(per_task), "overall": overall, "recovery": recoveries}
