"""How well the joined-additions router tells additions from revisions, on follow-ups it has never seen.

`Mediator(join_additions=True)` sends a follow-up that only adds information joined to the request so far,
without an LM call, and sends the LM the turns that change, withdraw, accept or reject (`facts.refers_back`
plus the fact check of the join). A revision the router joins reaches the assistant with a stale value beside
the new one; an addition it sends to the LM costs one call and risks a lossy rewrite.

The follow-ups (`benchmarks/followups/`, 80 per file, labelled `adds` / `revises`) were written by a session
that never saw the cue list. Each item runs through the real Mediator twice, with a scripted mediator LM that
only records whether it was called:

- incremental history (the command line's default; `MediatedAssistant` defaults to full): the previous request
  is the user's earlier turns joined, then the assistant's reply (a neutral "Noted." when the item has none),
  then the new turn;
- full history: the user's earlier turns, the reply when the item has one, then the new turn.

    python benchmarks/router_heldout.py --file dev     # misses listed: the file the cue list may be tuned on
    python benchmarks/router_heldout.py --file test    # scored, never tuned on
    python benchmarks/router_heldout.py --file test6   # scored once at join revision 8
    python benchmarks/router_heldout.py --file test7   # sealed for the next change to the router
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import write  # noqa: E402
from intent_mediator.engines.scripted import ScriptedEngine  # noqa: E402
from intent_mediator.programs.mediator import NO_CALL_PATHS, Mediator, join_user_turns  # noqa: E402
from intent_mediator.transcript import Turn  # noqa: E402

FOLLOWUPS = HERE / "followups"
LABELS = ("adds", "revises")
NEUTRAL_REPLY = "Noted."


def load(name: str) -> list[dict]:
    """The follow-ups of `benchmarks/followups/<name>.json`, each checked; a bad one stops the run, named."""
    path = FOLLOWUPS / f"{name}.json"
    items = json.loads(path.read_text())
    if not isinstance(items, list) or not items:
        raise SystemExit(f"{path}: expected a non-empty JSON list of follow-ups")
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or item["id"] in seen:
            raise SystemExit(f"{path}: item {index}: not an object with a new string 'id'")
        where, earlier = f"{path}: item {item['id']}", item.get("earlier")
        seen.add(item["id"])
        if not isinstance(earlier, list) or not earlier or not all(isinstance(t, str) and t.strip() for t in earlier):
            raise SystemExit(f"{where}: 'earlier' must be a non-empty list of the user's turns (strings)")
        if not isinstance(item.get("turn"), str) or not item["turn"].strip():
            raise SystemExit(f"{where}: 'turn' must be a non-empty string")
        if "assistant" not in item or not isinstance(item["assistant"], (str, type(None))):
            raise SystemExit(f"{where}: 'assistant' must be a string or null")
        if item.get("label") not in LABELS or not isinstance(item.get("domain"), str):
            raise SystemExit(f"{where}: 'label' must be one of {LABELS} and 'domain' a string")
    return items


def share(hits: int, n: int) -> str:
    """`hits/n = percent [95% CI]`, or a dash when there is nothing to count."""
    return f"{hits}/{n} = {100 * hits / n:.1f} {wilson(hits, n)}" if n else "–"


def route(mediator: Mediator, engine: ScriptedEngine, item: dict, history: str) -> str:
    """The Mediator's path for the item's new turn ("joined" or an LM path)."""
    reply = item["assistant"]
    if history == "incremental":
        previous = join_user_turns(item["earlier"])
        turns = [
            Turn(role="user", content=previous),
            Turn(role="assistant", content=reply or NEUTRAL_REPLY),
            Turn(role="user", content=item["turn"]),
        ]
        return mediator(turns, previous_request=previous).mediation
    turns = [Turn(role="user", content=text) for text in item["earlier"]]
    if reply:
        turns.append(Turn(role="assistant", content=reply))
    turns.append(Turn(role="user", content=item["turn"]))
    return mediator(turns).mediation


def wilson(hits: int, n: int, z: float = 1.96) -> list[float]:
    """95% Wilson score interval of a proportion, in percent."""
    if n == 0:
        return [float("nan"), float("nan")]
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(100 * max(centre - half, 0.0), 1), round(100 * min(centre + half, 1.0), 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--file", choices=("dev", "test", "test2", "test3", "test4", "test5", "test6", "test7"), required=True
    )
    parser.add_argument("--name", help="results file name (default router_heldout_<file>)")
    args = parser.parse_args()
    items = load(args.file)
    engine = ScriptedEngine()
    engine.on(role="mediator", reply=lambda call: {"request": " ".join(call.user_turns())})
    mediator = Mediator(join_additions=True, lm=engine.lm("mediator"))
    results = {
        history: {item["id"]: route(mediator, engine, item, history) for item in items}
        for history in ("incremental", "full")
    }
    rows, data = [], {"file": args.file, "items": len(items), "paths": results, "by": {}}
    for history, paths in results.items():
        for domain in [*sorted({item["domain"] for item in items}), "all"]:
            chosen = [item for item in items if domain in ("all", item["domain"])]
            revises = [item for item in chosen if item["label"] == "revises"]
            adds = [item for item in chosen if item["label"] == "adds"]
            caught = sum(paths[item["id"]] not in NO_CALL_PATHS for item in revises)
            joined = sum(paths[item["id"]] == "joined" for item in adds)
            entry = {
                "revisions_sent_to_lm": [caught, len(revises)],
                "additions_joined": [joined, len(adds)],
            }
            data["by"][f"{history}/{domain}"] = entry
            rows.append([history, domain, share(caught, len(revises)), share(joined, len(adds))])
    missed = [item for item in items if item["label"] == "revises" and results["incremental"][item["id"]] == "joined"]
    extra = [item for item in items if item["label"] == "adds" and results["incremental"][item["id"]] != "joined"]
    data["missed_revisions"] = [item["id"] for item in missed]
    data["additions_sent_to_lm"] = [item["id"] for item in extra]
    notes = [
        f"Router of `Mediator(join_additions=True)` on `benchmarks/followups/{args.file}.json` ({len(items)} "
        "follow-ups written blind to the cue list). Revisions sent to the LM: the share of `revises` turns not "
        "joined (a joined one reaches the assistant beside the stale value). Additions joined: the share of "
        "`adds` turns sent without an LM call. Intervals: 95% Wilson.",
        f"Reproduce: `python benchmarks/router_heldout.py --file {args.file}`.",
        "",
        "Revisions joined (incremental history): "
        + ("; ".join(f'{item["id"]}: "{item["turn"]}"' for item in missed) or "none"),
        "",
        "Additions sent to the LM (incremental history): "
        + ("; ".join(f'{item["id"]}: "{item["turn"]}"' for item in extra) or "none"),
    ]
    write(
        args.name or f"router_heldout_{args.file}",
        data,
        ["history", "domain", "revisions sent to the LM [95% CI]", "additions joined [95% CI]"],
        rows,
        "\n".join(notes),
    )


if __name__ == "__main__":
    main()
