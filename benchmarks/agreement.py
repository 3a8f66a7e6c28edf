"""Agreement of the deterministic judging pipeline with a careful human, per task family.

Every item of data/agreement/*.jsonl is a realistic assistant reply with a hand label (kind and score). The
pipeline (rule classification -> the task's extraction -> the task's score; 0 when not an answer attempt)
agrees with an item when it makes the same attempt decision and gives the same score (within the item's
tolerance). Needs the benchmark sample at ../shared/lic (or INTENT_MEDIATOR_LIC_DIR).

    python benchmarks/agreement.py
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import write  # noqa: E402
from intent_mediator.data.agreement import load_agreement  # noqa: E402
from intent_mediator.simulation.agreement import agreement_by_family, check_item  # noqa: E402

COMMAND = "python benchmarks/agreement.py"


def main() -> None:
    items = load_agreement()
    checks = [check_item(item) for item in items]
    families = agreement_by_family(checks)
    total_agree = sum(row["agree"] for row in families.values())
    rows = [
        [family, row["n"], row["agree"], f"{100 * row['rate']:.1f}%", row["same_kind"], ", ".join(row["disagreements"])]
        for family, row in families.items()
    ]
    rows.append(["all", len(checks), total_agree, f"{100 * total_agree / len(checks):.1f}%", "", ""])
    disagreements = [check.describe() for check in checks if not check.agrees]
    notes = f"Command: `{COMMAND}`. Agreement = same attempt decision and same score as the hand label."
    if disagreements:
        notes += "\n\nDisagreements:\n" + "\n".join(f"- {line}" for line in disagreements)
    write(
        "agreement",
        {"command": COMMAND, "items": len(checks), "agree": total_agree, "families": families},
        ["family", "items", "agree", "agreement", "same kind", "disagreeing items"],
        rows,
        notes,
    )


if __name__ == "__main__":
    main()
