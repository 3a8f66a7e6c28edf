"""Which follow-up shards the joined-additions router joins: every shard after the first of the LiC sample and
the builtin tasks, read as an incremental-history follow-up (the request so far is the shards before it, the
assistant's reply a neutral acknowledgement). No LM is called.

These are the follow-ups the side-by-side, test-split and demo runs send. A router change that moves none of
them leaves those runs' conversations as measured; `--against` names an earlier results file of this script
and lists every shard whose route changed.

    python benchmarks/router_shards.py --lic ../shared/lic/sample_5_per_task.json --name router_shards_join8 \\
        --against router_shards_join7
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import RESULTS, write  # noqa: E402
from intent_mediator.data.loaders import load_records  # noqa: E402
from intent_mediator.programs.mediator import Mediator, join_user_turns, joined_addition  # noqa: E402
from intent_mediator.transcript import Turn  # noqa: E402
from router_heldout import NEUTRAL_REPLY  # noqa: E402

DOMAINS = ("math", "code", "database", "actions")


def routes(sources: list[str]) -> dict[str, dict]:
    """Each follow-up shard's text and whether the router joins it, by "<task id>#<shard index>"."""
    found = {}
    for source in sources:
        for record in load_records(source, tasks=DOMAINS):
            texts = [shard.shard for shard in record.shards]
            for k in range(1, len(texts)):
                turns = [Turn.user(join_user_turns(texts[:k])), Turn.assistant(NEUTRAL_REPLY), Turn.user(texts[k])]
                joined = joined_addition(turns, texts[: k + 1], resolved_first=True) is not None
                found[f"{record.task_id}#{k}"] = {"task": record.task, "text": texts[k], "joined": joined}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lic", required=True, help="the shared LiC sample (JSON)")
    parser.add_argument("--name", required=True, help="results file name")
    parser.add_argument("--against", help="an earlier results file of this script (name, in benchmarks/results)")
    args = parser.parse_args()
    found = routes([args.lic, "builtin"])
    by_task: Counter[str] = Counter()
    joined: Counter[str] = Counter()
    for route in found.values():
        by_task[route["task"]] += 1
        joined[route["task"]] += route["joined"]
    rows = [[task, by_task[task], joined[task]] for task in DOMAINS if by_task[task]]
    rows.append(["all", sum(by_task.values()), sum(joined.values())])
    changed = []
    if args.against:
        path = RESULTS / f"{args.against}.json"
        try:
            earlier = {key: bool(route["joined"]) for key, route in json.loads(path.read_text())["routes"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise SystemExit(
                f"--against {args.against}: {path} is not a results file of this script ({error})"
            ) from error
        if earlier.keys() != found.keys():
            raise SystemExit(
                f"--against {args.against}: it routed other shards ({len(earlier.keys() - found.keys())} only there, "
                f"{len(found.keys() - earlier.keys())} only here)"
            )
        changed = [key for key, route in found.items() if route["joined"] != earlier[key]]
    data = {"join_revision": Mediator.join_revision, "lic": args.lic, "against": args.against, "changed": changed}
    data["routes"] = found
    notes = [
        f"Follow-up shards of `{args.lic}` and the builtin tasks, routed by join revision {Mediator.join_revision} "
        "(incremental history, a neutral reply, no LM).",
        f"Reproduce: `python benchmarks/router_shards.py --lic {args.lic} --name {args.name}"
        + (f" --against {args.against}`." if args.against else "`."),
    ]
    if args.against:
        notes.append(
            f"Routes changed against `{args.against}`: "
            + (
                "; ".join(f'{key} ("{found[key]["text"][:60]}") joined {found[key]["joined"]}' for key in changed)
                or "none"
            )
        )
    write(args.name, data, ["task", "follow-up shards", "joined"], rows, "\n".join(notes))


if __name__ == "__main__":
    main()
