"""One side-by-side table over several finished `side_by_side.py` runs of disjoint LiC records.

A full run of every domain takes most of a day on 2 cores, so the LiC records were run in parts (math and
actions in one folder, code in another). This reads the conversations those runs finished and computes the same
table `side_by_side.py` writes (P, A90, U90_10 with bootstrap intervals over instructions, recovery, fact loss,
cost), over all their instructions together. It runs nothing. The parts must hold disjoint records, the same
models, temperatures and modes, and the same LiC file (compared by content when their paths differ); settings
that may differ between them (ERGO's threshold) are listed under the table. `mediated+joined` pools the parts'
`--joined` variant. Writes benchmarks/results/<name>.{json,md}:

    python benchmarks/side_by_side_pooled.py --from runs/side-by-side-lic5 --from runs/side-by-side-lic-code \
        --modes full,concat,sharded,drop-assistant,ergo,mediated --name side_by_side_lic_pooled
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import side_by_side as sbs

# Settings every part must share for its conversations to be pooled (the LiC file by content: parts run in
# clones name their own copy of it).
SHARED = ("models", "temperatures", "max_tokens", "max_turns", "lic")
# Variants a part may hold beside its modes: the name in the table -> the word `side_by_side` uses both for the
# variant's subfolder and for the config key that ran it.
VARIANTS = {sbs.JOINED: "joined"}


def _same_setting(key: str, one: dict, other: dict) -> bool:
    if one.get(key) == other.get(key):
        return True
    if key != "lic" or not (one.get(key) and other.get(key)):
        return False
    paths = [Path(one[key]), Path(other[key])]
    return all(p.is_file() for p in paths) and len({hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}) == 1


def pooled(folders: list[Path], modes: list[str], record_set: str = "lic") -> dict:
    """The `side_by_side` result over the finished conversations of `folders` (see the module doc).

    Raises:
        ValueError: a folder without a finished side-by-side run, parts that differ in a shared setting or
            that share a record, or a mode some part did not run.
    """
    from intent_mediator.data.loaders import load_records
    from intent_mediator.simulation.trajectory import TrajectoryLog

    configs, trajectories, owner = [], [], {}
    for folder in folders:
        path = folder / "side_by_side_config.json"
        if not path.is_file():
            raise ValueError(f"{folder}: no side_by_side_config.json (not a side_by_side.py run folder)")
        config = json.loads(path.read_text(encoding="utf-8"))
        if not config.get(record_set):
            raise ValueError(f"{folder}: ran no {record_set} records")
        missing = [m for m in modes if m not in config["modes"] and not (m in VARIANTS and config.get(VARIANTS[m]))]
        if missing:
            raise ValueError(f"{folder}: modes {missing} were not run there")
        if configs:
            differs = [key for key in SHARED if not _same_setting(key, config, configs[0])]
            if differs:
                raise ValueError(f"{folder}: {', '.join(differs)} differ from {folders[0]}; these parts cannot pool")
        ids = set(config["records"].get(record_set) or [])
        shared = sorted(ids & set(owner))
        if shared:
            raise ValueError(f"{folder}: records {shared} are also in {owner[shared[0]]}")
        owner.update(dict.fromkeys(ids, folder))
        configs.append(config)
        log = TrajectoryLog(folder / record_set / "modes" / "trajectories.jsonl")
        trajectories += [t for t in log.latest() if t.task_id in ids and t.mode in modes]
        for label in (m for m in modes if m in VARIANTS):
            variant = TrajectoryLog(folder / record_set / VARIANTS[label] / "trajectories.jsonl")
            trajectories += [t.model_copy(update={"mode": label}) for t in variant.latest() if t.task_id in ids]
    records = {r.task_id: r for r in load_records(configs[0]["lic"]) if r.task_id in owner}
    for config in configs:
        config["tasks"] = sorted({records[i].task for i in config["records"].get(record_set) or [] if i in records})
    planned = sum(len(c["records"].get(record_set) or []) * len(modes) * c["runs"] for c in configs)
    return {
        "config": {"parts": [{"folder": str(f), **c} for f, c in zip(folders, configs, strict=True)]},
        "sets": {record_set: sbs.set_counts(list(records.values()), trajectories, modes, planned)},
        "tables": {record_set: sbs.mode_table(trajectories, modes, records=records)},
        "seconds": 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="folders", action="append", required=True, metavar="DIR", help="a run folder")
    parser.add_argument("--modes", default="full,concat,sharded,drop-assistant,ergo,mediated")
    parser.add_argument("--results", default=str(Path(__file__).parent / "results"), metavar="DIR")
    parser.add_argument("--name", default="side_by_side_pooled")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    try:
        result = pooled([Path(f) for f in args.folders], modes)
    except ValueError as exc:
        print(f"side_by_side_pooled: error: {exc}", file=sys.stderr)
        return 2
    command = "python benchmarks/side_by_side_pooled.py " + " ".join(
        [*(f"--from {f}" for f in args.folders), f"--modes {args.modes}", f"--name {args.name}"]
    )
    parts = "; ".join(
        f"{part['folder']}: {', '.join(part['tasks'])} ({len(part['records']['lic'])} records, {part['runs']} runs, "
        f"ERGO threshold {part['ergo']['threshold']:.4f})"
        for part in result["config"]["parts"]
    )
    text = sbs.markdown(result, command) + f"\nPooled from: {parts}.\n"
    sbs.write_results(Path(args.results), args.name, command, result, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
