"""Markdown and HTML reports of an evaluation folder, with a table like the paper's Table 1 and charts."""

from __future__ import annotations

import base64
import html
import io
import logging
from pathlib import Path
from typing import Any

from intent_mediator.files import write_json_atomic
from intent_mediator.simulation.runner import summary_of
from intent_mediator.simulation.trajectory import TrajectoryLog

logger = logging.getLogger(__name__)

MODE_ORDER = ("full", "concat", "sharded", "recap", "snowball", "drop-assistant", "ergo", "mediated")
PAPER_GPT4O_MINI = {"full": 86.9, "sharded": 53.6, "mediated": 73.9}


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


def _charts(summary: dict[str, Any]) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes, tasks = _ordered_modes(summary), sorted(summary["per_task"])
    charts = {}
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(tasks) + 2), 3.6))
    width = 0.8 / max(1, len(modes))
    for i, mode in enumerate(modes):
        values = [summary["per_task"][t].get(mode, {}).get("P") or 0 for t in tasks]
        bars = ax.bar([x + i * width for x in range(len(tasks))], values, width, label=mode)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(tasks))], tasks)
    ax.set_ylabel("P (0-100)")
    ax.set_ylim(0, 100)
    ax.set_title("Performance by task and mode")
    ax.legend(fontsize=8, ncols=min(3, len(modes)))
    charts["performance.png"] = _png(fig, plt)
    fig, ax = plt.subplots(figsize=(max(4, 1.1 * len(modes) + 1), 3.6))
    for i, mode in enumerate(modes):
        overall = summary["overall"][mode]
        if overall.get("A90") is None:
            continue
        top, bottom = overall["A90"], overall["A90"] - overall["U90_10"]
        ax.plot([i, i], [bottom, top], color="tab:gray", linewidth=6, solid_capstyle="butt")
        ax.plot([i - 0.15, i + 0.15], [top, top], color="tab:green")
        ax.plot([i - 0.15, i + 0.15], [bottom, bottom], color="tab:red")
        ax.plot(i, overall["P"], "o", color="tab:blue")
    ax.set_xticks(range(len(modes)), modes)
    ax.set_ylim(0, 100)
    ax.set_ylabel("score (0-100)")
    ax.set_xlim(-0.6, len(modes) - 0.4)
    ax.set_title("A90 (green) to A10 (red): U90_10; dot = P", fontsize=9)
    charts["reliability.png"] = _png(fig, plt)
    return charts


def _png(fig, plt) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _markdown(summary: dict[str, Any], title: str, charts: list[str]) -> str:
    rows = performance_table(summary)
    lines = [f"# {title}", "", f"{summary['conversations']} conversations. Scores are 0-100.", ""]
    lines.append("| " + " | ".join(rows[0]) + " |")
    lines.append("|" + "---|" * len(rows[0]))
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
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


def _html(markdown_rows: list[list[str]], summary: dict[str, Any], title: str, charts: dict[str, bytes]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in markdown_rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in markdown_rows[1:])
    images = "".join(
        f'<img alt="{name}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        for name, data in charts.items()
    )
    recovery = ", ".join(f"{k} {v:.2f}" for k, v in summary["recovery"].items() if v is not None) or "n/a"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}img{max-width:48%;margin:1em 1% 0 0}"
        f"</style></head><body><h1>{html.escape(title)}</h1><p>{summary['conversations']} conversations; scores 0-100."
        f" Recovery: {html.escape(recovery)}.</p><table><tr>{head}</tr>{body}</table>{images}</body></html>\n"
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
    markdown.write_text(_markdown(summary, title, list(charts)), encoding="utf-8")
    page = run_dir / "report.html"
    page.write_text(_html(performance_table(summary), summary, title, charts), encoding="utf-8")
    return {"markdown": markdown, "html": page, **{name: run_dir / name for name in charts}}
