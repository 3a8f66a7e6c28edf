"""Does the layout of a joined request change what the assistant solves? One call per request, no Mediator.

A Mediator that joins turns only adding information (`Mediator(join_additions=True)`) sends the user's turns
as they came, one per line: the question first when the user opened with it ("what change does tom get
back?", then the amounts). A fully specified prompt usually states the facts and asks last. This benchmark
sends the same shards of each ordinary (non-revision) builtin task to the assistant in several layouts, each
in one call, judged and scored as in a conversation:

- `lines`: one shard per line, in order (what the joined Mediator sends today), as a one-turn request through
  `MediatedAssistant.respond` (the mediated assistant's own call);
- `natural`: the shards as the sentences of one paragraph, in order (LiC's concat; `tasks.base.natural_message`);
- `lines_qlast` and `natural_qlast`: the same, with the shards that end in "?" moved after the others;
- `messages`: each shard as its own user message, with no assistant turn between them (what drop-assistant
  sends at the last turn of an additions-only conversation).

Run k of every layout of a task shares the assistant's sampling seed, so the layouts are compared pairwise.
Meant for the train and validation splits (the layout is a design choice; the test split judges it after).
Rows go to `<out>/rows.jsonl` as they come; a folder resumes only with the same configuration.

    python benchmarks/request_layout.py --domains math --splits train,validation --runs 3
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import write
from intent_mediator.data.records import Instruction
from intent_mediator.data.splits import DOMAINS, SPLIT_NAMES, load_split
from intent_mediator.lm import RoleLMs
from intent_mediator.programs.mediator import join_user_turns
from intent_mediator.simulation.conversation import Conversation, ConversationSettings
from intent_mediator.simulation.trajectory import TurnRecord
from intent_mediator.stats import bootstrap_ci, paired_differences
from intent_mediator.tasks.base import natural_message
from intent_mediator.transcript import Turn
from side_by_side import check_config


def questions_last(texts: list[str]) -> list[str]:
    """`texts` with the ones ending in "?" moved after the others, each group in its own order."""
    return [t for t in texts if not t.strip().endswith("?")] + [t for t in texts if t.strip().endswith("?")]


LAYOUTS: dict[str, Callable[[list[str]], str | list[str]]] = {
    "lines": join_user_turns,
    "natural": natural_message,
    "lines_qlast": lambda texts: join_user_turns(questions_last(texts)),
    "natural_qlast": lambda texts: natural_message(questions_last(texts)),
    "messages": lambda texts: [text.strip() for text in texts if text.strip()],
}
BASELINE = "lines"


class OneRequest(Conversation):
    """One call: a `request` answered as the mediated assistant answers it, or a list of user messages answered
    as the plain assistant answers a chat."""

    def __init__(self, record: Instruction, request: str | list[str], run: int, settings: ConversationSettings):
        super().__init__(record, "concat", run, settings)
        self.request = request

    def _single_turn(self) -> None:
        messages = self.request if isinstance(self.request, list) else None
        text = "\n".join(messages) if messages else str(self.request)
        self._exchange([Turn.user(m) for m in messages or []], TurnRecord(index=0, user=text, request=text))

    def _reply(self, transcript: list[Turn], turn: TurnRecord) -> str:
        if transcript:
            return self.assistant(transcript=transcript).response
        return self.mediated.respond(turn.request or "", self.system, lm=self.assistant_lm)


def layout_request(record: Instruction, layout: str) -> str | list[str]:
    """What `layout` sends for `record`: one request, or (`messages`) a list of user messages."""
    return LAYOUTS[layout]([shard.shard for shard in record.shards])


def read_rows(path: Path) -> list[dict]:
    """The rows written so far. A last line cut off by a killed run is dropped (its call runs again); any other
    line that is not a JSON row is an error naming the file and line."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines):
                raise SystemExit(f"{path}:{number}: not a JSON row; move the folder aside and run again") from None
            path.write_text("".join(f"{text}\n" for text in lines[:-1]), encoding="utf-8")  # the cut-off line
    return rows


def measure(
    records: list[Instruction], settings: ConversationSettings, runs: int, out: Path, layouts: list[str] | None = None
) -> tuple[dict, list[dict]]:
    """Each of `layouts` (default all) of every record, `runs` times: (the configuration, the rows). Rows already
    in `out` are kept, not run again.

    Raises:
        ConfigMismatch: `out` was started with other models, sampling, runs, layouts or records.
        SystemExit: a call failed (the rows before it are kept; a rerun retries it).
    """
    roles = settings.roles
    layouts = [name for name in LAYOUTS if name in (layouts or LAYOUTS)]  # one order, whatever order was asked
    config = {
        "models": roles.models(),
        "temperatures": roles.temperatures(),
        "max_tokens": roles.max_tokens()["assistant"],
        "runs": runs,
        "layouts": layouts,
        "records": [r.task_id for r in records],
    }
    check_config(out, config)
    path = out / "rows.jsonl"
    rows = read_rows(path)
    done = {(r["task_id"], r["layout"], r["run"]) for r in rows}
    with path.open("a", encoding="utf-8") as sink:
        for record in records:
            for layout in layouts:
                for run in range(runs):
                    if (record.task_id, layout, run) in done:
                        continue
                    request = layout_request(record, layout)
                    t = OneRequest(record, request, run, settings).run_to_end()
                    if t.error:  # a crashed call is an error, not a 0: stop, so a rerun retries it
                        raise SystemExit(f"{record.task_id} {layout} run {run}: {t.error}")
                    turn = t.turns[0]
                    messages = len(request) if isinstance(request, list) else 1
                    row = {"task_id": record.task_id, "domain": record.task, "layout": layout, "run": run,
                           "score": t.score, "request": turn.request, "messages": messages,
                           "reply": turn.assistant, "cut_off": turn.cut_off, "seconds": t.seconds}  # fmt: skip
                    sink.write(json.dumps(row) + "\n")
                    sink.flush()
                    rows.append(row)
                    print(f"{record.task_id} {layout} run {run}: {t.score:.0f} ({t.seconds:.0f} s)", flush=True)
    return config, rows


def summarize(rows: list[dict]) -> tuple[list[list], dict]:
    """One table row per domain and layout, plus 'all': P [95% CI], and the paired difference from `lines`."""
    scores: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        for domain in (row["domain"], "all"):
            scores[(domain, row["layout"])][row["task_id"]].append(row["score"])
    if rows and not any(row["layout"] == BASELINE for row in rows):
        raise ValueError(f"no row of the {BASELINE} layout: the differences are taken from it")
    table, data = [], {}
    domains = list(dict.fromkeys(row["domain"] for row in rows))
    for domain in [*domains, "all"] if len(domains) > 1 else domains:
        for layout in LAYOUTS:
            per_task = scores.get((domain, layout))
            if not per_task:
                continue
            means = [sum(v) / len(v) for v in per_task.values()]
            p, ci = sum(means) / len(means), bootstrap_ci(means)
            diff = paired_differences(per_task, scores[(domain, BASELINE)])
            d = round(sum(diff) / len(diff), 9) + 0.0 if diff else float("nan")  # + 0.0: no "-0.0"
            d_ci = bootstrap_ci(diff)
            n = sum(len(v) for v in per_task.values())
            data[f"{domain}/{layout}"] = {"P": p, "ci": ci, "diff": d, "diff_ci": d_ci, "tasks": len(means), "n": n}
            shown = "–" if layout == BASELINE else f"{d:+.1f} [{d_ci[0]:+.1f}, {d_ci[1]:+.1f}]"
            table.append([domain, layout, f"{p:.1f} [{ci[0]:.1f}, {ci[1]:.1f}]", shown, len(means), n])
    return table, data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", default=",".join(DOMAINS), help="comma-separated domains (default all four)")
    parser.add_argument(
        "--splits", default="train,validation", help="comma-separated splits (default train,validation)"
    )
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="comma-separated layouts (default all)")
    parser.add_argument("--runs", type=int, default=3, help="samples per task and layout (default 3)")
    parser.add_argument("--max-tokens", type=int, default=320, help="the assistant's reply cap (the demo's, 320)")
    parser.add_argument("--out", default="runs/request_layout", metavar="DIR", help="rows folder, resumed if present")
    parser.add_argument("--name", default="request_layout", help="results file name")
    args = parser.parse_args(argv)
    from intent_mediator.lm import limit_call_records

    limit_call_records()  # a run of hours would otherwise keep its last 10,000 calls in memory
    domains, splits = args.domains.split(","), args.splits.split(",")
    layouts = args.layouts.split(",")
    checks = (("--domains", domains, DOMAINS), ("--splits", splits, SPLIT_NAMES), ("--layouts", layouts, LAYOUTS))
    for flag, values, known in checks:
        if unknown := [v for v in values if v not in known]:
            parser.error(f"{flag}: unknown {unknown}; known: {', '.join(known)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if BASELINE not in layouts:
        parser.error(f"--layouts: the differences are taken from {BASELINE}; include it")
    records = [r for d in domains for s in splits for r in load_split(d, s) if not r.revisions]
    roles = RoleLMs.from_models(max_tokens=args.max_tokens)
    config, rows = measure(records, ConversationSettings(roles=roles), args.runs, Path(args.out), layouts)
    table, data = summarize(rows)
    command = "python benchmarks/request_layout.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    write(
        args.name,
        {"command": command, "config": config, "summary": data, "rows": rows},
        ["domain", "layout", "P [95% CI]", f"minus {BASELINE}, paired [95% CI]", "tasks", "n"],
        table,
        "P: share of requests answered correctly (0-100), averaged over tasks; intervals: percentile bootstrap "
        f"over tasks; the difference pairs each task's runs with the same seeds. Reproduce: `{command}`.",
    )


if __name__ == "__main__":
    main()
