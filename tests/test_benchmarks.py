"""The paper-reproduction recipe runs end to end on the scripted world (the real run needs API keys)."""

import sys
from pathlib import Path

from intent_mediator import RoleLMs
from intent_mediator.testing.refiner_world import KEEP_ALL, RECORDS, world

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_paper_reproduction_protocol_on_the_scripted_world(tmp_path):
    from paper_reproduction import reproduce

    summary = reproduce(
        RECORDS[:8],
        RoleLMs.scripted(world()),
        tmp_path,
        runs=1,
        mining=3,
        workers=2,
        refiner_kwargs={"rounds": 1, "candidates_per_round": 1},
    )
    overall = summary["overall"]
    assert overall["full"]["P"] == 100 and overall["sharded"]["P"] == 0
    assert overall["mediated+paper"]["P"] == 100 and overall["mediated+optimize"]["P"] == 100
    assert overall["full"]["n"] == 5  # 3 mining tasks removed from the 8
    assert summary["guidelines"]["math/paper"][0] == KEEP_ALL


def test_load_percentiles_are_nearest_rank():
    from _load import percentile

    hundred = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose
    assert percentile(hundred, 0.99) == 99 and percentile(hundred, 0.5) == 50 and percentile(hundred, 1.0) == 100
    assert percentile([float(v) for v in range(1, 21)], 0.95) == 19  # not the maximum
    assert percentile([7.0], 0.5) == 7 and percentile([], 0.5) != percentile([], 0.5)  # NaN when empty
