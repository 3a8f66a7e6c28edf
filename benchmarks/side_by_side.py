"""Every conversation mode side by side in one run: which fix for "lost in conversation" is worth its calls?

Modes: full, concat, sharded, recap, snowball, drop-assistant, ergo and mediated (the default Mediator), plus
`mediated+guidelines` when --guidelines names a guidelines file or artifact, and `mediated+joined` with
--joined (a Mediator that sends turns only adding information joined, without an LM call). Record sets: the shared
Lost-in-Conversation records (math, code, database, actions by default) and, with --revision, the builtin
revision tasks (records whose shards say which earlier shard they revise), reported separately because
concatenation is wrong by construction on them.

Per set and mode: P, A90 and U90_10 (averaged over instructions) with percentile-bootstrap 95% intervals over
instructions, recovery = (P_mode - P_sharded) / (P_full - P_sharded) with its bootstrap interval, ERGO resets,
fact loss (`facts.py`) of the Mediator's last request and of ERGO's last rewritten prompt, and LM calls and
tokens per conversation (assistant and Mediator; the simulated user and the judge are harness, not method).
Errored conversations are excluded and counted.

Resumable: conversations go through the project's resumable runner into --out; a rerun skips finished ones,
and a rerun whose configuration differs from the folder's `side_by_side_config.json` is refused, naming what
differs. Writes benchmarks/results/side_by_side.{json,md}. The full run takes hours on 2 cores:

    python benchmarks/side_by_side.py --runs 3 --revision --out runs/side_by_side
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LIC_SAMPLE = REPO.parent / "shared" / "lic" / "sample_5_per_task.json"
LIC_TASKS = ("math", "code", "database", "actions")
MODES = ("full", "concat", "sharded", "recap", "snowball", "drop-assistant", "ergo", "mediated")
GUIDED = "mediated+guidelines"
JOINED = "mediated+joined"
METHOD_ROLES = ("assistant", "mediator")
BOOTSTRAP_SAMPLES = 1000


class ConfigMismatch(ValueError):
    """A resume whose configuration differs from the one the folder was started with."""


def revision_records(records: list) -> list:
    """Records with shards that revise earlier ones (`Shard.revises`): concatenation is wrong on them."""
    return [r for r in records if r.revisions]


def check_config(out_dir: Path, config: dict[str, Any]) -> None:
    """Write `config` into `out_dir`, or refuse when the folder was started with another one."""
    path = out_dir / "side_by_side_config.json"
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        differs = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
        if differs:
            details = "; ".join(f"{k}: {old.get(k)!r} -> {config.get(k)!r}" for k in differs)
            raise ConfigMismatch(f"{out_dir} was started with another configuration ({details}); use a new --out")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _bootstrap(values: np.ndarray, statistic, rng: np.random.Generator) -> list[float] | None:
    """Percentile 95% interval of `statistic` over resampled rows (instructions); None if undefined."""
    if len(values) < 2:
        return None
    estimates = []
    for _ in range(BOOTSTRAP_SAMPLES):
        value = statistic(values[rng.integers(0, len(values), len(values))])
        if value is not None and np.isfinite(value):
            estimates.append(value)
    if len(estimates) < BOOTSTRAP_SAMPLES // 2:
        return None
    return [float(np.percentile(estimates, 2.5)), float(np.percentile(estimates, 97.5))]


def _recovery(rows: np.ndarray) -> float | None:
    """rows[:, 0] = mode P, rows[:, 1] = sharded P, rows[:, 2] = full P per instruction."""
    mode, sharded, full = rows.mean(axis=0)
    return None if full - sharded <= 0 else float((mode - sharded) / (full - sharded))


def checked_text(trajectory):
    """The trajectory whose last `request` is what fact loss is measured on: the Mediator's last request, or
    ERGO's last rewritten prompt (placed as the request of its turn); None when the mode rewrites nothing."""
    if any(turn.request for turn in trajectory.turns):
        return trajectory
    resets = [i for i, turn in enumerate(trajectory.turns) if turn.reset]
    if not resets:
        return None
    turns = list(trajectory.turns)
    turns[resets[-1]] = turns[resets[-1]].model_copy(update={"request": turns[resets[-1]].reset["prompt"]})
    return trajectory.model_copy(update={"turns": turns})


def fact_checks(trajectories: list, records: dict[str, Any]) -> dict[str, Any]:
    """`facts.trajectory_fact_check` of each conversation whose mode rewrote the user's turns, by "task/run",
    checked now against its record (so a fix to the check applies to conversations run before it)."""
    from intent_mediator.facts import trajectory_fact_check
    from intent_mediator.tasks import get_task

    checks = {}
    for t in trajectories:
        shown = checked_text(t)
        record = records.get(t.task_id)
        if shown is None:
            continue
        full_prompt = get_task(record.task).full_prompt(record) if record is not None else None
        check = trajectory_fact_check(shown, record, full_prompt)
        if check is not None:
            checks[f"{t.task_id}/{t.run}"] = check
    return checks


def checked_loss(checks: dict[str, Any]):
    """For `report.shortfall`: a conversation's last-request loss from `fact_checks`, None when it has none."""

    def loss(trajectory) -> float | None:
        check = checks.get(f"{trajectory.task_id}/{trajectory.run}")
        return None if check is None else check.loss

    return loss


def all_calls_ran(trajectory) -> bool:
    """Whether the conversation's assistant and Mediator calls ran rather than replayed from the DSPy cache (DSPy
    reports no usage for a cache hit, so a replayed conversation would look cheaper): one Mediator call per
    rewritten turn, and one assistant call per turn but the first. The first is allowed to be a cache hit because
    drop-assistant and mediated (whose one-turn chat passes through) send exactly sharded's first message with the
    same sample id, so the same reply comes back from the cache; their cost columns leave that one call out."""
    assistant_calls = (trajectory.usage.get("assistant") or {}).get("calls", 0)
    return assistant_calls >= max(1, len(trajectory.turns) - 1) and mediator_calls_ran(trajectory)


def mediator_calls_ran(trajectory) -> bool:
    """Whether one Mediator call per rewritten turn ran (none replayed from the DSPy cache)."""
    from intent_mediator.programs.mediator import NO_CALL_PATHS

    rewritten = sum(turn.mediation not in (None, *NO_CALL_PATHS) for turn in trajectory.turns)
    return (trajectory.usage.get("mediator") or {}).get("calls", 0) >= rewritten


def mode_table(
    trajectories: list, modes: list[str], seed: int = 0, records: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Per mode: P/A90/U90_10 with intervals, recovery, resets, fact loss and usage (see the module doc)."""
    from intent_mediator.facts import fact_loss_summary
    from intent_mediator.report import cut_off_failures, mediation_paths, shortfall
    from intent_mediator.stats import instruction_stats

    by_mode: dict[str, dict[str, list[float]]] = {m: {} for m in modes}
    usage: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    extra: dict[str, dict[str, list[float]]] = {m: {"resets": []} for m in modes}
    scored: dict[str, list] = {m: [] for m in modes}
    errors = dict.fromkeys(modes, 0)
    for t in trajectories:
        if t.mode not in by_mode:
            continue
        if t.error is not None or t.score is None:
            errors[t.mode] += 1
            continue
        by_mode[t.mode].setdefault(t.task_id, []).append(t.score)
        if all_calls_ran(t):
            used = {k: sum(t.usage.get(r, {}).get(k, 0.0) for r in METHOD_ROLES) for k in _USAGE}
            used["mediator_prompt_tokens"] = t.usage.get("mediator", {}).get("prompt_tokens", 0.0)
            usage[t.mode].append(used)
        extra[t.mode]["resets"].append(sum(turn.reset is not None for turn in t.turns))
        scored[t.mode].append(t)
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, Any]] = {}
    per_p = {m: {task: float(np.mean(s)) for task, s in by_mode[m].items()} for m in modes}
    for mode in modes:
        instructions = sorted(by_mode[mode])
        if not instructions:
            out[mode] = {"n": 0, "instructions": 0, "errors": errors[mode]}
            continue
        metrics = np.array(
            [[instruction_stats(by_mode[mode][i])[k] for k in ("P", "A90", "U90_10")] for i in instructions]
        )
        row: dict[str, Any] = {"n": sum(len(v) for v in by_mode[mode].values()), "instructions": len(instructions)}
        for column, key in enumerate(("P", "A90", "U90_10")):
            row[key] = float(metrics[:, column].mean())
            row[f"{key}_ci95"] = _bootstrap(metrics[:, column], lambda x: float(x.mean()), rng)
        shared = [i for i in instructions if i in per_p.get("sharded", {}) and i in per_p.get("full", {})]
        if shared and mode not in ("full", "sharded"):
            rows = np.array([[per_p[mode][i], per_p["sharded"][i], per_p["full"][i]] for i in shared])
            row["recovery"] = _recovery(rows)
            row["recovery_ci95"] = _bootstrap(rows, _recovery, rng)
        conversations = len(usage[mode])
        row["cost_conversations"] = conversations
        for key in (*_USAGE, "mediator_prompt_tokens"):
            row[f"{key}_per_conversation"] = sum(u[key] for u in usage[mode]) / conversations if conversations else None
        row["resets_per_conversation"] = float(np.mean(extra[mode]["resets"]))
        checks = fact_checks(scored[mode], records or {})
        row["fact_loss"] = fact_loss_summary(checks) if checks else None
        row["mediation"] = mediation_paths(scored[mode])
        checked = any(turn.fact_loss is not None for t in scored[mode] for turn in t.turns)
        loss = checked_loss(checks) if records else None  # without records, the loss recorded at run time
        row["shortfall"] = shortfall(scored[mode], scored.get("full"), loss) if checked else None
        row["cut_off"] = cut_off_failures(scored[mode]).get(mode)
        row["errors"] = errors[mode]
        out[mode] = row
    return out


_USAGE = ("calls", "prompt_tokens", "completion_tokens")


def run_config(roles, modes, runs: int, record_sets: dict[str, list], **specific: Any) -> dict[str, Any]:
    """The configuration a run folder is checked against: models, sampling, modes, runs and records, then the
    script's own keys (`specific`, in the order given)."""
    return {
        "models": roles.models(),
        "temperatures": {
            r: (getattr(roles, r).kwargs.get("temperature") if getattr(roles, r) else None)
            for r in ("assistant", "mediator", "user", "judge")
        },
        "max_tokens": roles.assistant.kwargs.get("max_tokens") if roles.assistant else None,
        "modes": list(modes),
        "runs": runs,
        "records": {name: [r.task_id for r in records] for name, records in record_sets.items()},
        **specific,
    }


@dataclass(frozen=True)
class Variant:
    """One extra Mediator run next to the modes: `mediated` under other `settings`, into its own `folder`.

    Attributes:
        folder: subfolder of each record set's run folder.
        settings: the conversation settings (e.g. another program or per-domain programs).
        runs_on: which records it runs on (default all of them).
    """

    folder: str
    settings: Any
    runs_on: Callable[[Any], bool] | None = None


def _echo(set_name: str):
    def echo(t) -> None:
        score = "error: " + (t.error or "")[:80] if t.error else f"score {t.score:.0f}"
        print(f"[{set_name}] {t.task_id} {t.mode} run {t.run}: {score} ({t.seconds:.0f} s)", flush=True)

    return echo


def set_counts(records: list, trajectories: list, modes: list[str], planned: int) -> dict[str, Any]:
    """What a results file says of one record set besides its table: records, tasks, conversations finished of
    those planned, P by domain and the paired Mediator cost."""
    return {
        "records": len(records),
        "tasks": sorted({r.task for r in records}),
        "conversations": {"finished": len(trajectories), "planned": planned},
        "p_by_domain": p_by_domain(trajectories, modes),
        "mediator_cost": mediator_cost(trajectories),
    }


def run_modes(
    record_sets: dict[str, list],
    out_dir: Path,
    settings,
    modes,
    runs: int,
    variants: dict[str, Variant] | None = None,
    *,
    workers: int = 1,
    progress: bool = True,
    fact_records: bool = True,
    run: bool = True,
) -> dict[str, Any]:
    """Evaluate `modes` and each variant (relabelled with its name) on every non-empty record set; with
    `run=False`, only read the conversations already finished in `out_dir` (the tables of an unfinished run).

    Returns:
        {"tables": {set: mode_table}, "sets": {set: counts}, "trajectories": {set: that set's trajectories}}.
        With `fact_records`, fact loss reads each record (withdrawn shards, names); else only the messages.
    """
    from intent_mediator.simulation.runner import evaluate
    from intent_mediator.simulation.trajectory import TrajectoryLog

    tables, counts, kept = {}, {}, {}
    for name, records in record_sets.items():
        if not records:
            continue
        folder = out_dir / name / "modes"
        if run:
            evaluate(
                records, modes, runs, folder, settings, workers=workers, progress=progress, on_trajectory=_echo(name)
            )
        trajectories = TrajectoryLog(folder / "trajectories.jsonl").latest()
        names = list(modes)
        planned = len(records) * len(modes) * runs
        for label, variant in (variants or {}).items():
            chosen = [r for r in records if variant.runs_on is None or variant.runs_on(r)]
            planned += len(chosen) * runs
            if chosen:
                folder = out_dir / name / variant.folder
                if run:
                    evaluate(
                        chosen,
                        ["mediated"],
                        runs,
                        folder,
                        variant.settings,
                        workers=workers,
                        progress=progress,
                        on_trajectory=_echo(f"{name}/{variant.folder}"),
                    )
                for t in TrajectoryLog(folder / "trajectories.jsonl").latest():
                    trajectories.append(t.model_copy(update={"mode": label}))
            names.append(label)
        wanted = {r.task_id for r in records}
        trajectories = [t for t in trajectories if t.task_id in wanted]
        by_id = {r.task_id: r for r in records} if fact_records else None
        tables[name] = mode_table(trajectories, names, records=by_id)
        counts[name] = set_counts(records, trajectories, names, planned)
        kept[name] = trajectories
    return {"tables": tables, "sets": counts, "trajectories": kept}


def side_by_side(
    record_sets: dict[str, list],
    roles,
    out_dir: str | Path,
    *,
    modes: tuple[str, ...] = MODES,
    runs: int = 3,
    guidelines: list[str] | None = None,
    joined: bool = False,
    ergo=None,
    workers: int = 1,
    max_turns: int | None = None,
    progress: bool = True,
    extra_config: dict[str, Any] | None = None,
    run: bool = True,
) -> dict[str, Any]:
    """Run every mode on every record set (resuming `out_dir`) and return the tables; `run=False` only reads
    the conversations already finished there (the same configuration is still required).

    Raises:
        ConfigMismatch: `out_dir` holds a run with another configuration.
    """
    from intent_mediator.programs import MediatedAssistant
    from intent_mediator.simulation.conversation import ConversationSettings
    from intent_mediator.simulation.ergo import ErgoConfig

    out_dir = Path(out_dir)
    ergo = ergo or ErgoConfig()
    config = run_config(
        roles,
        modes,
        runs,
        record_sets,
        guidelines_sha256=hashlib.sha256(json.dumps(guidelines).encode()).hexdigest() if guidelines else None,
        ergo={"threshold": ergo.threshold, "top_logprobs": ergo.top_logprobs},
        max_turns=max_turns,
        **({"joined": True} if joined else {}),  # folders run before the option existed resume
        **(extra_config or {}),
    )
    check_config(out_dir, config)
    settings = ConversationSettings(roles=roles, ergo=ergo, max_turns=max_turns, program=MediatedAssistant())
    started = time.perf_counter()
    variants = (
        {GUIDED: Variant("guided", replace(settings, program=MediatedAssistant(guidelines)))} if guidelines else {}
    )
    if joined:
        variants[JOINED] = Variant("joined", replace(settings, program=MediatedAssistant(join_additions=True)))
    ran = run_modes(record_sets, out_dir, settings, modes, runs, variants, workers=workers, progress=progress, run=run)
    return {
        "config": config,
        "sets": ran["sets"],
        "tables": ran["tables"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def _interval(row: dict[str, Any], key: str, digits: int = 1) -> str:
    value, ci = row.get(key), row.get(f"{key}_ci95")
    if value is None:
        return "–"
    text = f"{value:.{digits}f}"
    return text + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def shortfall_line(mode: str, counts: dict[str, Any]) -> str:
    """`report.shortfall` as one sentence: where the failed conversations of `mode` lost."""
    also = counts["full_also_failed"]
    full = f", {also} of them failed in full mode too" if also is not None else ""
    cut = f"; {counts['cut_off']} of these cut off at the token cap" if counts.get("cut_off") else ""
    return (
        f"Where {mode} fell short ({counts['failed']} of {counts['conversations']} conversations failed), read at "
        f"the last request: kept every value and answered wrongly {counts['wrong']}, not answered "
        f"{counts['silent']}{cut}{full}; lost values {counts['lossy']}; turn bound reached {counts['capped']}; no fact "
        f"check {counts['unchecked']}."
    )


def instruction_scores(trajectories: list) -> dict[tuple[str, str], dict[str, list[float]]]:
    """{(domain, mode): {instruction: [scores of its runs]}}, over the conversations that finished with a score."""
    scores: dict[tuple[str, str], dict[str, list[float]]] = {}
    for t in trajectories:
        if t.error is None and t.score is not None:
            scores.setdefault((t.task, t.mode), {}).setdefault(t.task_id, []).append(t.score)
    return scores


def p_by_domain(trajectories: list, modes: list[str]) -> dict[str, dict[str, float | None]]:
    """{domain: {mode: P}}: P (0-100) averaged over the domain's instructions, None where none finished."""
    scores = instruction_scores(trajectories)
    out: dict[str, dict[str, float | None]] = {}
    for domain in sorted({t.task for t in trajectories}):
        per = {mode: scores.get((domain, mode)) for mode in modes}
        out[domain] = {m: float(np.mean([np.mean(v) for v in s.values()])) if s else None for m, s in per.items()}
    return out


def mediator_cost(trajectories: list) -> dict[str, Any] | None:
    """Mediated's Mediator prompt tokens over sharded's assistant prompt tokens, summed over the (task, run) pairs
    where every Mediator call of the mediated conversation and every assistant call of the sharded one ran (none
    replayed from the DSPy cache), so both sides cover the same conversations (None without such a pair). The
    mediated assistant's calls do not matter here: a request repeated across turns replays its answer."""
    ran = {
        (t.task_id, t.run, t.mode): t
        for t in trajectories
        if t.error is None
        and ((t.mode == "mediated" and mediator_calls_ran(t)) or (t.mode == "sharded" and all_calls_ran(t)))
    }
    pairs = [
        (ran[key], ran[(key[0], key[1], "sharded")])
        for key in ran
        if key[2] == "mediated" and (key[0], key[1], "sharded") in ran
    ]
    mediator = sum(m.usage.get("mediator", {}).get("prompt_tokens", 0.0) for m, _ in pairs)
    sharded = sum(s.usage.get("assistant", {}).get("prompt_tokens", 0.0) for _, s in pairs)
    return {"ratio": mediator / sharded, "pairs": len(pairs)} if pairs and sharded else None


def markdown(result: dict[str, Any], command: str) -> str:
    from intent_mediator.report import cut_off_text

    lines = [f"Command: `{command}`", ""]
    header = [
        "mode",
        "P [95% CI]",
        "A90",
        "U90_10",
        "recovery [95% CI]",
        "fact loss",
        "user-turns fallback",
        "resets/conv",
        "LM calls/conv",
        "prompt tok/conv",
        "of which Mediator",
        "completion tok/conv",
        "cost n",
        "n",
        "errors",
    ]
    for name, table in result["tables"].items():
        sets = result["sets"][name]
        done = sets.get("conversations") or {}
        partial = (
            f"; partial: {done['finished']} of {done['planned']} conversations finished"
            if done and done["finished"] < done["planned"]
            else ""
        )
        lines += [f"### {name}: {sets['records']} records ({', '.join(sets['tasks'])}){partial}", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for mode, row in table.items():
            if not row.get("instructions"):
                lines.append(f"| {mode} |" + " – |" * (len(header) - 3) + f" 0 | {row.get('errors', 0)} |")
                continue
            facts = row["fact_loss"]
            fact = "–" if facts is None else f"{100 * facts['loss']:.1f}% ({facts['lost']}/{facts['values']})"
            paths = row.get("mediation")
            fallback = "–" if not paths else f"{100 * paths['user_turns_share']:.0f}% of {paths['turns']} turns"
            if paths and paths.get("joined_share"):
                fallback += f" ({100 * paths['joined_share']:.0f}% joined)"
            cells = [
                mode,
                _interval(row, "P"),
                _interval(row, "A90"),
                _interval(row, "U90_10"),
                _interval(row, "recovery", 2),
                fact,
                fallback,
                f"{row['resets_per_conversation']:.2f}",
                _number(row["calls_per_conversation"], 1),
                _number(row["prompt_tokens_per_conversation"], 0),
                _number(row.get("mediator_prompt_tokens_per_conversation"), 0),
                _number(row["completion_tokens_per_conversation"], 0),
                str(row["cost_conversations"]),
                str(row["n"]),
                str(row["errors"]),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        domains = sets.get("p_by_domain") or {}
        if len(domains) > 1:
            lines += ["P by domain (averaged over each domain's instructions):", ""]
            lines += ["| domain | " + " | ".join(table) + " |", "|" + "---|" * (len(table) + 1)]
            for domain, row in domains.items():
                lines.append(f"| {domain} | " + " | ".join(_number(row.get(mode), 1) for mode in table) + " |")
            lines.append("")
        cost = sets.get("mediator_cost")
        if cost is not None:
            lines += [
                f"Mediator prompt tokens / the sharded assistant's: {cost['ratio']:.2f} (summed over the "
                f"{cost['pairs']} task-runs where the Mediator's and the sharded assistant's calls all ran; the "
                "per-conversation columns above average over different conversations; issue 12's cost target is "
                "below 1).",
                "",
            ]
        cut = cut_off_text({mode: row["cut_off"] for mode, row in table.items() if row.get("cut_off")}, table)
        if cut is not None:
            lines += [
                'Failed conversations whose last reply was cut off at the token cap (finish reason "length"; a '
                f"cut-off answer scores as not solved): {cut}.",
                "",
            ]
        for mode, row in table.items():
            if row.get("shortfall"):
                lines += [shortfall_line(mode, row["shortfall"]), ""]
    lines.append(
        "P, A90, U90_10 (0-100) averaged over instructions; intervals: percentile bootstrap over instructions. "
        "Recovery = (P - P_sharded) / (P_full - P_sharded). LM calls and tokens count the assistant and the "
        "Mediator (ERGO's rewrite is an assistant call), over the `cost n` conversations whose calls ran (a call "
        "replayed from the DSPy cache reports no usage; drop-assistant's and mediated's first reply is sharded's, "
        "replayed, and not counted). Fact loss (`facts.py`): values the user stated and still "
        "meant that the last Mediator request (or ERGO's last rewritten prompt) lost, pooled over conversations. "
        "User-turns fallback: share of the Mediator's rewritten turns whose request failed the fact check even after "
        "repair or stopped at the token cap, so the user's own turns were sent (`TurnRecord.mediation`)."
    )
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    from intent_mediator.commands.common import add_model_flags
    from intent_mediator.commands.evaluate import add_ergo_flags

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lic", default=str(LIC_SAMPLE), help="LiC records file (default the shared sample)")
    parser.add_argument("--tasks", default=",".join(LIC_TASKS), help="LiC tasks (default math,code,database,actions)")
    parser.add_argument("--limit", type=int, help="at most this many records per task")
    parser.add_argument("--no-lic", action="store_true", help="skip the LiC records")
    parser.add_argument("--revision", action="store_true", help="also run the builtin revision tasks")
    parser.add_argument(
        "--split",
        choices=("train", "validation", "test"),
        help="keep only the revision tasks of this fixed split of each domain (data/splits.json)",
    )
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated modes (default: all eight)")
    parser.add_argument("--runs", type=int, default=3, help="runs per record and mode (default 3)")
    parser.add_argument("--guidelines", metavar="FILE", help="also run mediated with these guidelines")
    parser.add_argument(
        "--joined",
        action="store_true",
        help=f"also run {JOINED}: a Mediator that joins turns only adding information, without an LM call",
    )
    parser.add_argument("--max-turns", type=int, help="bound on user turns (default: shards + 2)")
    parser.add_argument(
        "--workers", type=int, default=1, help="conversations in flight (default 1: one llama.cpp slot)"
    )
    parser.add_argument("--out", default="runs/side_by_side", metavar="DIR", help="run folder, resumed if present")
    parser.add_argument("--results", default=str(Path(__file__).parent / "results"), metavar="DIR")
    parser.add_argument("--name", default="side_by_side", help="results file name (default side_by_side)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: write the tables from the conversations already finished in --out (same flags)",
    )
    add_model_flags(parser)
    add_ergo_flags(parser)
    # Issue 11's sampling: assistant and simulated user sample at 1.0, the judge (classifier, extractor) and
    # the Mediator stay at 0.
    parser.set_defaults(temperature=1.0, role_temperature=["judge=0", "mediator=0"])
    return parser


def load_sets(args: argparse.Namespace) -> dict[str, list]:
    from intent_mediator.commands.common import split_list
    from intent_mediator.data.loaders import load_records
    from intent_mediator.data.splits import select_split

    def limited(records: list) -> list:
        if not args.limit:
            return records
        kept, seen = [], {}
        for r in records:
            seen[r.task] = seen.get(r.task, 0) + 1
            if seen[r.task] <= args.limit:
                kept.append(r)
        return kept

    tasks = split_list(args.tasks)
    sets = {}
    if not args.no_lic:
        sets["lic"] = limited(load_records(args.lic, tasks=tasks))
    if args.revision:
        revisions = revision_records(load_records("builtin", tasks=tasks))
        if args.split:
            revisions = select_split(revisions, args.split)
        if not revisions:
            print("no builtin revision tasks (records with a 'revises' field) are installed; skipping them", flush=True)
        sets["revision"] = limited(revisions)
    return sets


def main(argv: list[str] | None = None) -> int:
    from intent_mediator.commands.common import read_guidelines, roles_from_args, split_list
    from intent_mediator.commands.evaluate import ergo_settings
    from intent_mediator.errors import IntentMediatorError
    from intent_mediator.simulation.conversation import MODES as KNOWN
    from intent_mediator.simulation.conversation import ConversationSettings

    args = build_parser().parse_args(argv)
    from intent_mediator.lm import limit_call_records

    limit_call_records()  # a run of hours would otherwise keep its last 10,000 calls in memory
    try:
        modes = tuple(split_list(args.modes) or ())
        unknown = [m for m in modes if m not in KNOWN]
        if unknown:
            raise IntentMediatorError(f"--modes: unknown mode(s) {unknown}; modes: {', '.join(KNOWN)}")
        sets = load_sets(args)
        if not any(sets.values()):
            raise IntentMediatorError("no records to run: check --lic, --tasks and --revision")
        roles = roles_from_args(args)
        guidelines = read_guidelines(args.guidelines) or None
        ergo = ConversationSettings(roles=roles).ergo
        calibrated = Path(args.out) / "ergo_calibration.json"
        if "ergo" in modes and args.ergo_calibrate and calibrated.is_file():  # a resume keeps its threshold
            threshold = json.loads(calibrated.read_text(encoding="utf-8"))["threshold"]
            ergo = replace(ergo, threshold=threshold, top_logprobs=args.ergo_top_logprobs)
            print(f"ERGO threshold {threshold:.4f} from {calibrated}", flush=True)
        elif "ergo" in modes:
            ergo = ergo_settings(args, ConversationSettings(roles=roles), args.out).ergo
        total = sum(len(r) for r in sets.values()) * args.runs * (len(modes) + bool(guidelines) + args.joined)
        print(
            f"side by side: {total} conversations "
            f"({', '.join(f'{k} {len(v)}' for k, v in sets.items())} records) -> {args.out}",
            flush=True,
        )
        result = side_by_side(
            sets,
            roles,
            args.out,
            modes=modes,
            runs=args.runs,
            guidelines=guidelines,
            joined=args.joined,
            ergo=ergo,
            workers=args.workers,
            max_turns=args.max_turns,
            progress=not args.no_progress,
            extra_config={
                "ergo_calibrate": args.ergo_calibrate,
                "lic": args.lic if not args.no_lic else None,
                **({"split": args.split} if args.split else {}),
            },
            run=not args.report_only,
        )
    except (IntentMediatorError, ConfigMismatch) as exc:
        print(f"side_by_side: error: {exc}", file=sys.stderr)
        return 2
    command = "python benchmarks/side_by_side.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write_results(Path(args.results), args.name, command.strip(), result, markdown(result, command.strip()))
    return 0


def write_results(folder: Path, name: str, command: str, result: dict[str, Any], text: str) -> None:
    """Write `<name>.json` (the command and the result) and `<name>.md` (`text`) into `folder`, and print them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"command": command, **result}, indent=2) + "\n")
    (folder / f"{name}.md").write_text(text)
    print(text)
    print(f"wrote {folder / name}.json and .md in {result['seconds']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
