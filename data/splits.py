"""Fixed train / validation / test splits of the project's own tasks, per domain.

The splits are data (`splits.json`, task ids), made once by `make_splits` before any result was looked at, so
no choice of tasks can follow from a score. The rule: per domain, the ordinary tasks and the revision tasks are
split separately (so every split holds both kinds); each group's ids are sorted, shuffled with
`random.Random(f"{domain}/{group}/{SEED}")`, and cut into test (the first ceil(40%)), validation (the next
ceil(20%)) and train (the rest). Regenerate with `python -m intent_mediator.data.splits` only when tasks are
added; the test suite checks that the file is what the rule gives.

    load_split("math", "test")     # the math test tasks, as validated Instructions
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable
from pathlib import Path

from intent_mediator.data.loaders import load_records
from intent_mediator.data.records import Instruction, RecordError

SPLITS_FILE = Path(__file__).parent / "splits.json"
SPLIT_NAMES = ("train", "validation", "test")
DOMAINS = ("math", "code", "database", "actions")
SEED = 2026
TEST_SHARE, VALIDATION_SHARE = 0.4, 0.2


def make_splits(records: Iterable[Instruction], *, seed: int = SEED) -> dict[str, dict[str, list[str]]]:
    """Apply the documented rule to `records` (only the four domains are split)."""
    out: dict[str, dict[str, list[str]]] = {}
    records = list(records)
    for domain in DOMAINS:
        split: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
        for group, revision in (("ordinary", False), ("revision", True)):
            ids = sorted(r.task_id for r in records if r.task == domain and bool(r.revisions) == revision)
            random.Random(f"{domain}/{group}/{seed}").shuffle(ids)
            n_test, n_val = math.ceil(TEST_SHARE * len(ids)), math.ceil(VALIDATION_SHARE * len(ids))
            split["test"] += ids[:n_test]
            split["validation"] += ids[n_test : n_test + n_val]
            split["train"] += ids[n_test + n_val :]
        out[domain] = {name: sorted(ids) for name, ids in split.items()}
    return out


def read_splits(path: str | Path = SPLITS_FILE) -> dict[str, dict[str, list[str]]]:
    """The split file: {domain: {"train": [ids], "validation": [ids], "test": [ids]}}."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: cannot read the splits ({exc})") from None
    return data["splits"]


def split_ids(domain: str, split: str, *, path: str | Path = SPLITS_FILE) -> list[str]:
    """Task ids of one domain's split.

    Raises:
        RecordError: an unknown domain or split name (naming it and the known ones).
    """
    if split not in SPLIT_NAMES:
        raise RecordError(f"unknown split {split!r}; splits: {', '.join(SPLIT_NAMES)}")
    splits = read_splits(path)
    if domain not in splits:
        raise RecordError(f"no split for domain {domain!r}; domains with splits: {', '.join(splits)}")
    return list(splits[domain][split])


def load_split(domain: str, split: str, *, path: str | Path = SPLITS_FILE) -> list[Instruction]:
    """The builtin records of one domain's split, in id order."""
    return builtin_records(domain, split_ids(domain, split, path=path), where=f"{path}: {domain}/{split}")


def builtin_records(domain: str, task_ids: Iterable[str], *, where: str) -> list[Instruction]:
    """The builtin records of `domain` with these ids, in their order.

    Raises:
        RecordError: an id that is no builtin task of the domain, naming `where` (the file and field that listed
            it) and every such id.
    """
    wanted = list(task_ids)
    by_id = {record.task_id: record for record in load_records("builtin", tasks=[domain])}
    missing = [task_id for task_id in wanted if task_id not in by_id]
    if missing:
        raise RecordError(f"{where} names tasks that are not builtin: {', '.join(missing)}")
    return [by_id[task_id] for task_id in wanted]


def select_split(records: Iterable[Instruction], split: str, *, path: str | Path = SPLITS_FILE) -> list[Instruction]:
    """Keep the records whose id is in `split` of their domain (records of other domains or sources are dropped)."""
    if split not in SPLIT_NAMES:
        raise RecordError(f"unknown split {split!r}; splits: {', '.join(SPLIT_NAMES)}")
    splits = read_splits(path)
    keep = {task_id for domain in splits.values() for task_id in domain[split]}
    return [record for record in records if record.task_id in keep]


def main() -> None:
    splits = make_splits(load_records("builtin"))
    data = {
        "rule": (
            f"per domain, ordinary and revision tasks separately: sorted ids shuffled with "
            f"random.Random('<domain>/<ordinary|revision>/{SEED}'); test = first ceil({TEST_SHARE:g} n), "
            f"validation = next ceil({VALIDATION_SHARE:g} n), train = the rest (intent_mediator.data.splits)"
        ),
        "seed": SEED,
        "splits": splits,
    }
    SPLITS_FILE.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    for domain, split in splits.items():
        print(domain, {name: len(ids) for name, ids in split.items()})


if __name__ == "__main__":
    main()
