"""What the joined-additions router does with the replies a real assistant wrote: a replay of recorded turns.

`benchmarks/router_heldout.py` scores the router on written follow-ups, most of which follow no reply. The rules
that read the assistant's reply (`facts.answers_reply`: a reply that ends by asking the user to choose or
confirm; a short turn naming what only the reply named) cost something only where a real assistant's replies
trigger them on turns that merely add information. This replays every follow-up of the mediated conversations of
a finished run (incremental history, as recorded: the Mediator's last request, the assistant's reply to it, the
user's new turn) through the current `joined_addition` and counts the turns whose route changed. No LM is called.

    python benchmarks/router_replies.py --trajectories runs/demo-math-test-joined/trajectories.jsonl \\
        --name router_replies_demo_math
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import write  # noqa: E402
from intent_mediator.programs.mediator import joined_addition  # noqa: E402
from intent_mediator.transcript import Turn  # noqa: E402


def follow_ups(path: Path) -> list[dict]:
    """Each follow-up of the file's mediated conversations: recorded route, the turns the router reads."""
    found = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if record.get("mode") != "mediated":
                continue
            if record["fingerprint"].get("mediator_history") != "incremental":
                raise SystemExit(f"{path}:{number}: recorded with full Mediator history; replay needs incremental")
            turns = record["turns"]
            for k in range(1, len(turns)):
                before, now = turns[k - 1], turns[k]
                if before["request"] is None or now["mediation"] is None:
                    raise KeyError("request/mediation")
                found.append(
                    {
                        "where": f"{record['task_id']}/run {record['run']}/turn {k}",
                        "recorded": now["mediation"],
                        "said": [turn["user"] for turn in turns[: k + 1]],
                        "transcript": [
                            Turn.user(before["request"]),
                            Turn.assistant(before["assistant"] or ""),
                            Turn.user(now["user"]),
                        ],
                        "reply": before["assistant"] or "",
                    }
                )
        except (KeyError, TypeError, ValueError) as error:
            raise SystemExit(f"{path}:{number}: not a trajectory with mediated turns ({error})") from error
    if not found:
        raise SystemExit(f"{path}: no follow-up turns of mediated conversations")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=Path, required=True, help="a run's trajectories.jsonl")
    parser.add_argument("--name", required=True, help="results file name")
    args = parser.parse_args()
    turns = follow_ups(args.trajectories)
    counts: Counter[tuple[bool, bool]] = Counter()
    changed = []
    for turn in turns:
        now = joined_addition(turn["transcript"], turn["said"], resolved_first=True) is not None
        was = turn["recorded"] == "joined"
        counts[(was, now)] += 1
        if was != now:
            changed.append({"where": turn["where"], "turn": turn["said"][-1], "reply_end": turn["reply"][-160:]})
    joined_before = counts[(True, True)] + counts[(True, False)]
    rows = [
        ["joined when recorded", joined_before],
        ["of which now sent to the Mediator", counts[(True, False)]],
        ["sent to the Mediator when recorded", counts[(False, False)] + counts[(False, True)]],
        ["of which now joined", counts[(False, True)]],
    ]
    data = {
        "trajectories": str(args.trajectories),
        "sha256": hashlib.sha256(args.trajectories.read_bytes()).hexdigest(),
        "follow_ups": len(turns),
        "counts": {f"{was}->{now}": n for (was, now), n in counts.items()},
        "changed": changed,
    }
    notes = [
        f"Follow-up turns of the mediated conversations in `{args.trajectories}` ({len(turns)} turns, sha256 "
        f"{data['sha256'][:12]}), replayed through the current `joined_addition` (incremental history, no LM).",
        f"Reproduce: `python benchmarks/router_replies.py --trajectories {args.trajectories} --name {args.name}`.",
        "",
        "Changed: "
        + ("; ".join(f'{c["where"]}: "{c["turn"]}" after "...{c["reply_end"][-80:]}"' for c in changed) or "none"),
    ]
    write(args.name, data, ["follow-up turns", "count"], rows, "\n".join(notes))


if __name__ == "__main__":
    main()
