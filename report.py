"""Markdown and HTML reports of an evaluation folder, with a table like the paper's Table 1 and charts.

The HTML page also compares the run with the paper, shows tokens and cost by role, and lets a reader open
every conversation: the user's turns (with their shard), the Mediator's request, the reply and its score.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from intent_mediator.files import write_json_atomic
from intent_mediator.simulation.runner import summary_of
from intent_mediator.simulation.trajectory import Trajectory, TrajectoryLog

logger = logging.getLogger(__name__)

MODE_ORDER = ("full", "concat", "sharded", "recap", "snowball", "drop-assistant", "ergo", "mediated")
PAPER_GPT4O_MINI = {"full": 86.9, "sharded": 53.6, "mediated": 73.9}


def shortfall(
    mediated: list[Trajectory],
    full: list[Trajectory] | None = None,
    loss_of: Callable[[Trajectory], float | None] | None = None,
) -> dict[str, Any] | None:
    """Where the mediated conversations that failed lost: the Mediator's last request, or the answer to it.

    Each failed conversation (errors aside) is read at its last turn, the request the assistant saw last:
    `lossy` dropped values the user gave (fact loss above 0); `wrong` and `silent` kept every value and were
    answered wrongly or not at all, and `cut_off` counts those of them whose reply stopped at its token cap;
    `capped` ended at the turn bound with shards unsaid; `unchecked` has no fact check. With `full` (full-mode
    conversations), `full_also_failed` counts the complete requests whose task and run full mode failed too (None
    when full mode did not run). None when no conversation failed.
    `loss_of` gives a conversation's last-request fact loss (for example re-checked against its record); by
    default, the one the program recorded at the last turn when it ran.
    """
    done = [t for t in mediated if t.error is None]
    failed = [t for t in done if t.outcome != "solved"]
    if not failed:
        return None
    counts: dict[str, Any] = {"failed": len(failed), "conversations": len(done)}
    counts |= dict.fromkeys(("capped", "lossy", "unchecked", "wrong", "silent", "cut_off"), 0)
    full_runs = {(t.task_id, t.run): t for t in full or [] if t.error is None}
    also = 0
    for t in failed:
        last = t.turns[-1] if t.turns else None
        loss = None if last is None else loss_of(t) if loss_of else last.fact_loss
        if t.turn_capped:
            counts["capped"] += 1
        elif last is None or loss is None:
            counts["unchecked"] += 1
        elif loss > 0:
            counts["lossy"] += 1
        else:
            counts["wrong" if last.score is not None else "silent"] += 1
            counts["cut_off"] += last.cut_off is True
            twin = full_runs.get((t.task_id, t.run))
            also += twin is not None and twin.outcome != "solved"
    counts["full_also_failed"] = also if full_runs else None
    return counts


def mediation_paths(trajectories: Iterable[Trajectory]) -> dict[str, Any] | None:
    """How the Mediator's requests came about over every turn after the first (`TurnRecord.mediation`; a
    one-turn passthrough is not counted): counts per path, how many went through the Mediator's LM (every path
    but those that make no call, `NO_CALL_PATHS`), the share that fell back to the user's own turns (a rewrite
    that failed its check after repair, or one cut off at the token cap) and the share joined without an LM call."""
    from intent_mediator.programs.mediator import NO_CALL_PATHS

    counts: dict[str, int] = {}
    for t in trajectories:
        for turn in t.turns:
            if turn.mediation and turn.mediation != "passthrough":
                counts[turn.mediation] = counts.get(turn.mediation, 0) + 1
    total = sum(counts.values())
    if not total:
        return None
    fell_back = counts.get("user turns", 0) + counts.get("cut off", 0)
    return {
        "turns": total,
        "paths": counts,
        "through_lm": sum(n for path, n in counts.items() if path not in NO_CALL_PATHS),
        "user_turns_share": fell_back / total,
        "joined_share": counts.get("joined", 0) / total,
    }


def cut_off_failures(trajectories: list[Trajectory]) -> dict[str, dict[str, int]]:
    """Per mode, the failed conversations whose last reply stopped at its token cap: a cut-off answer, not a wrong
    one. `failed` counts the failed conversations whose last reply says whether it was cut (runs recorded
    before the reply's finish reason was kept say nothing and are left out); errors are left out too.
    """
    out: dict[str, dict[str, int]] = {}
    for t in trajectories:
        last = t.turns[-1] if t.turns else None
        if t.error is not None or t.outcome == "solved" or last is None or last.cut_off is None:
            continue
        counts = out.setdefault(t.mode, {"failed": 0, "cut_off": 0})
        counts["failed"] += 1
        counts["cut_off"] += last.cut_off
    return out


def cut_off_text(counts: dict[str, dict[str, int]], modes: Iterable[str]) -> str | None:
    """`cut_off_failures` counts as "full 2 of 3, sharded 0 of 3", in the order of `modes`; None when no failed
    conversation ended on a cut-off reply."""
    if not any(c["cut_off"] for c in counts.values()):
        return None
    return ", ".join(f"{m} {counts[m]['cut_off']} of {counts[m]['failed']}" for m in modes if m in counts)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _ordered_modes(summary: dict[str, Any]) -> list[str]:
    present = set(summary["overall"])
    return [m for m in MODE_ORDER if m in present] + sorted(present - set(MODE_ORDER))


def performance_table(summary: dict[str, Any]) -> list[list[str]]:
    """Rows of mode, P per task, overall P / A90 / U90_10 / R, and n: the layout of the paper's Table 1."""
    tasks = sorted(summary["per_task"])
    rows = [["mode", *tasks, "P (all)", "A90", "U90_10", "R", "n"]]
    for mode in _ordered_modes(summary):
        cells = [_fmt(summary["per_task"][t].get(mode, {}).get("P")) for t in tasks]
        overall = summary["overall"][mode]
        rows.append([mode, *cells, *(_fmt(overall.get(k)) for k in ("P", "A90", "U90_10", "R")), str(overall["n"])])
    return rows


def turn_cap_line(summary: dict[str, Any]) -> str | None:
    """How many conversations per mode ended at the turn bound with shards unrevealed (None when none did)."""
    capped = summary.get("turn_capped") or {}
    if not any(capped.values()):
        return None
    counts = ", ".join(
        f"{mode} {capped[mode]}/{summary['overall'].get(mode, {}).get('n', '?')}"
        for mode in _ordered_modes(summary)
        if capped.get(mode)
    )
    return f"Ended by the turn cap with shards unrevealed: {counts} (scored on their last answer)."


def error_line(summary: dict[str, Any]) -> str | None:
    """How many conversations per mode ended in an error, left out of every score (None when none did)."""
    counts: dict[str, int] = {}
    for cells in summary["per_task"].values():
        for mode, cell in cells.items():
            counts[mode] = counts.get(mode, 0) + cell.get("errors", 0)
    if not any(counts.values()):
        return None
    listed = ", ".join(f"{mode} {n}" for mode, n in counts.items() if n)
    return f"Ended in an error, left out of the scores (a rerun of evaluate retries them): {listed}."


def configuration_line(run_dir: Path) -> str | None:
    """What the run was made with, from its run.json (None for a folder without one)."""
    import json

    path = run_dir / "run.json"
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))["config"]
        roles = ", ".join(
            f"{role} {model} at {config['temperatures'].get(role)}"
            for role, model in config["models"].items()
            if model is not None
        )
        return (
            f"Run configuration ({path.name}): {roles}; user simulator {config.get('user_sim')}, persona "
            f"{config.get('persona')}, classifier {config.get('classifier')}, LLM extraction "
            f"{config.get('llm_extraction')}, Mediator history {config.get('mediator_history')}, guidelines "
            f"{config.get('guidelines_hash')}, intent-mediator {config.get('package_version')}, DSPy "
            f"{config.get('dspy_version')}."
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.warning("%s: unreadable (%s); the report omits the configuration", path, exc)
        return None


def chart_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """The report's matplotlib figures by file name. Labels never overlap: the figure widens with the number of
    bars, bar values stand vertically above their bar, long mode names are slanted, the legend sits outside."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes, tasks = _ordered_modes(summary), sorted(summary["per_task"])
    figures = {}
    bars_total = max(1, len(tasks) * len(modes))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.32 * bars_total + 2.5), 4.2))
    width = 0.8 / max(1, len(modes))
    for i, mode in enumerate(modes):
        values = [summary["per_task"][t].get(mode, {}).get("P") or 0 for t in tasks]
        bars = ax.bar([x + i * width for x in range(len(tasks))], values, width, label=mode)
        ax.bar_label(bars, fmt="%.0f", fontsize=7, rotation=90, padding=2)
    ax.set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(tasks))], tasks)
    ax.set_ylabel("P (0-100)")
    ax.set_ylim(0, 118)  # headroom for the vertical value labels above 100
    ax.set_yticks(range(0, 101, 20))
    ax.set_title("Performance by task and mode")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    figures["performance.png"] = fig
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(modes) + 1.5), 3.8))
    for i, mode in enumerate(modes):
        overall = summary["overall"][mode]
        if overall.get("A90") is None:
            continue
        top, bottom = overall["A90"], overall["A90"] - overall["U90_10"]
        ax.plot([i, i], [bottom, top], color="tab:gray", linewidth=6, solid_capstyle="butt")
        ax.plot([i - 0.15, i + 0.15], [top, top], color="tab:green")
        ax.plot([i - 0.15, i + 0.15], [bottom, bottom], color="tab:red")
        ax.plot(i, overall["P"], "o", color="tab:blue")
    ax.set_xticks(range(len(modes)), modes, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_ylim(0, 100)
    ax.set_ylabel("score (0-100)")
    ax.set_xlim(-0.6, len(modes) - 0.4)
    ax.set_title("A90 (green) to A10 (red): U90_10; dot = P", fontsize=9)
    figures["reliability.png"] = fig
    return figures


def _charts(summary: dict[str, Any]) -> dict[str, bytes]:
    import matplotlib.pyplot as plt

    return {name: _png(fig, plt) for name, fig in chart_figures(summary).items()}


def _png(fig, plt) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _markdown(summary: dict[str, Any], title: str, charts: list[str], configuration: str | None = None) -> str:
    rows = performance_table(summary)
    lines = [f"# {title}", "", f"{summary['conversations']} conversations. Scores are 0-100.", ""]
    lines.append("| " + " | ".join(rows[0]) + " |")
    lines.append("|" + "---|" * len(rows[0]))
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    for line in (turn_cap_line(summary), error_line(summary)):
        if line:
            lines += ["", line]
    if configuration:
        lines += ["", configuration]
    recovery = {k: v for k, v in summary["recovery"].items() if v is not None}
    if recovery:
        lines += [
            "",
            "Recovery = (mediated - sharded) / (full - sharded): "
            + ", ".join(f"{k} {v:.2f}" for k, v in recovery.items()),
        ]
    lines += [
        "",
        "Paper (2602.07338, GPT-4o-mini, Code/Database/Actions/Math): "
        + ", ".join(f"{m} {v}" for m, v in PAPER_GPT4O_MINI.items())
        + ".",
        "",
    ]
    usage = summary.get("usage", {})
    if usage:
        lines += ["| role | calls | prompt tokens | completion tokens | cost ($) |", "|---|---|---|---|---|"]
        for role, values in sorted(usage.items()):
            lines.append(
                f"| {role} | {values.get('calls', 0):.0f} | {values.get('prompt_tokens', 0):.0f} | "
                f"{values.get('completion_tokens', 0):.0f} | {values.get('cost', 0):.4f} |"
            )
        lines.append("")
    lines += [f"![{name}]({name})" for name in charts]
    return "\n".join(lines) + "\n"


MAX_TRAJECTORIES_SHOWN = 300
MAX_TEXT_SHOWN = 4000


def _table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows[1:])
    return f"<table><tr>{head}</tr>{body}</table>"


def usage_table(summary: dict[str, Any]) -> list[list[str]]:
    """Rows of role, calls, prompt and completion tokens, and cost (0 where litellm knows no price)."""
    rows = [["role", "calls", "prompt tokens", "completion tokens", "cost ($)"]]
    for role, values in sorted(summary.get("usage", {}).items()):
        rows.append(
            [
                role,
                f"{values.get('calls', 0):.0f}",
                f"{values.get('prompt_tokens', 0):.0f}",
                f"{values.get('completion_tokens', 0):.0f}",
                f"{values.get('cost', 0):.4f}",
            ]
        )
    return rows


def paper_table(summary: dict[str, Any]) -> list[list[str]]:
    """The paper's GPT-4o-mini averages beside this run's overall P, for the modes both have."""
    rows = [["mode", "this run: P", "paper (GPT-4o-mini): P"]]
    for mode, paper in PAPER_GPT4O_MINI.items():
        mine = summary["overall"].get(mode, {}).get("P")
        rows.append([mode, _fmt(mine), f"{paper:.1f}"])
    return rows


def _clip(text: str | None) -> str:
    text = text or ""
    return html.escape(text if len(text) <= MAX_TEXT_SHOWN else text[:MAX_TEXT_SHOWN] + " [...]")


def _trajectory_html(trajectory: Trajectory) -> str:
    score = "error" if trajectory.error else _fmt(trajectory.score)
    summary_line = (
        f"<summary><b>{html.escape(trajectory.task_id)}</b> · {html.escape(trajectory.mode)} · run {trajectory.run}"
        f" · score {score} · {len(trajectory.turns)} turn(s)</summary>"
    )
    parts = [f"<p class='error'>{_clip(trajectory.error)}</p>"] if trajectory.error else []
    for turn in trajectory.turns:
        shard = "" if turn.shard_id is None else f" (shard {turn.shard_id})"
        verdict = f"{html.escape(turn.kind)}" + ("" if turn.score is None else f", score {turn.score:.2f}")
        if turn.reason:
            verdict += f": {_clip(turn.reason)}"
        rows = [f"<div class='user'><b>user{shard}</b><pre>{_clip(turn.user)}</pre></div>"]
        if turn.request is not None:
            rows.append(f"<div class='request'><b>Mediator request</b><pre>{_clip(turn.request)}</pre></div>")
        rows.append(f"<div class='reply'><b>assistant</b> ({verdict})<pre>{_clip(turn.assistant)}</pre></div>")
        parts.append(f"<div class='turn'><h4>turn {turn.index + 1}</h4>{''.join(rows)}</div>")
    return f"<details class='trajectory'>{summary_line}{''.join(parts)}</details>"


def _trajectories_html(trajectories: list[Trajectory]) -> str:
    ordered = sorted(trajectories, key=lambda t: (t.task_id, _mode_rank(t.mode), t.run))
    shown = ordered[:MAX_TRAJECTORIES_SHOWN]
    note = (
        f"<p>Showing {len(shown)} of {len(ordered)} conversations; trajectories.jsonl holds them all.</p>"
        if len(ordered) > len(shown)
        else f"<p>{len(ordered)} conversations: open one to read its turns.</p>"
    )
    return note + "".join(_trajectory_html(t) for t in shown)


def _mode_rank(mode: str) -> int:
    return MODE_ORDER.index(mode) if mode in MODE_ORDER else len(MODE_ORDER)


_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:75em}table{border-collapse:collapse;margin:0.5em 0 1em}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
    "img{max-width:100%;margin:1em 0}details{border:1px solid #ddd;margin:0.3em 0;padding:0.3em 0.6em}"
    "summary{cursor:pointer}pre{white-space:pre-wrap;margin:0.2em 0 0.6em;background:#f7f7f7;padding:0.4em}"
    ".request pre{background:#eef5ff}.error{color:#a00}h4{margin:0.6em 0 0.2em}"
)


def _html(
    markdown_rows: list[list[str]],
    summary: dict[str, Any],
    title: str,
    charts: dict[str, bytes],
    trajectories: list[Trajectory] | None = None,
    configuration: str | None = None,
) -> str:
    images = "".join(
        f'<img alt="{name}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        for name, data in charts.items()
    )
    recovery = ", ".join(f"{k} {v:.2f}" for k, v in summary["recovery"].items() if v is not None) or "n/a"
    sections = [
        f"<h1>{html.escape(title)}</h1><p>{summary['conversations']} conversations; scores 0-100."
        f" Recovery: {html.escape(recovery)}.</p>",
        f"<h2 id='performance'>Performance</h2>{_table(markdown_rows)}",
        *([f"<p>{html.escape(capped)}</p>"] if (capped := turn_cap_line(summary)) else []),
        *([f"<p>{html.escape(failed)}</p>"] if (failed := error_line(summary)) else []),
        *([f"<p>{html.escape(configuration)}</p>"] if configuration else []),
        "<h2 id='paper'>Compared with the paper</h2><p>2602.07338, GPT-4o-mini on Code, Database, Actions and "
        f"Math (Table 1 averages); this run's models and tasks may differ.</p>{_table(paper_table(summary))}",
    ]
    if summary.get("usage"):
        sections.append(f"<h2 id='usage'>Tokens and cost by role</h2>{_table(usage_table(summary))}")
    sections.append(f"<h2 id='charts'>Charts</h2>{images}")
    if trajectories:
        sections.append(f"<h2 id='trajectories'>Conversations</h2>{_trajectories_html(trajectories)}")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(sections)}</body></html>\n"
    )


def write_report(
    run_dir: str | Path, title: str | None = None, summary: dict[str, Any] | None = None
) -> dict[str, Path]:
    """Write `report.md`, `report.html` and the PNG charts into `run_dir`.

    Args:
        run_dir: An evaluate output folder.
        title: Report title.
        summary: The folder's summary when the caller just computed it; otherwise it is recomputed from the log
            and `summary.json` is refreshed.
    """
    run_dir = Path(run_dir)
    log = TrajectoryLog(run_dir / "trajectories.jsonl")
    if not log.path.is_file():
        raise FileNotFoundError(f"{log.path} does not exist: run `intent-mediator evaluate --out {run_dir}` first")
    if summary is None:
        summary = summary_of(log)
        write_json_atomic(run_dir / "summary.json", summary)
    title = title or f"intent-mediator report: {run_dir.name}"
    charts = _charts(summary) if summary["overall"] else {}
    for name, data in charts.items():
        (run_dir / name).write_bytes(data)
    markdown = run_dir / "report.md"
    markdown.write_text(_markdown(summary, title, list(charts), configuration_line(run_dir)), encoding="utf-8")
    page = run_dir / "report.html"
    rows, latest = performance_table(summary), log.latest()
    page.write_text(_html(rows, summary, title, charts, latest, configuration_line(run_dir)), encoding="utf-8")
    return {"markdown": markdown, "html": page, **{name: run_dir / name for name in charts}}
