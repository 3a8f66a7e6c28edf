"""Does a user's compiled artifact beat the domain artifact on fresh samples of its own validation tasks?

`per_user_from_logs.py` selects a user's guidelines on one sample (run 0) of a few validation tasks. This scores
the user artifact's guidelines and the domain artifact's on runs 1..--runs of the validation tasks recorded in
the user artifact's meta, simulated with the user's persona, through `Refiner.confirm`: the check that
`per_user_from_logs.py --confirm-runs` (and `compile --confirm-runs`) runs before an artifact ships. No artifact
is changed. Writes benchmarks/results/<name>.{json,md}:

    python benchmarks/confirm_user_artifact.py --artifact runs/per_user_c/artifacts/u-corrective/math \\
        --domain-artifact runs/per_user_c/artifacts/_generic/math --runs 3 --name confirm_user_u_corrective
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import write  # noqa: E402
from per_user_from_logs import MODEL_DEFAULTS  # noqa: E402


def main() -> None:
    from intent_mediator.artifacts import load_artifact, read_meta
    from intent_mediator.commands.common import add_model_flags, roles_from_args
    from intent_mediator.data.personas import get_persona
    from intent_mediator.data.records import RecordError
    from intent_mediator.data.splits import builtin_records
    from intent_mediator.optimizers.refiner import Refiner
    from intent_mediator.simulation.conversation import ConversationSettings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, required=True, help="the user's artifact folder")
    parser.add_argument("--domain-artifact", type=Path, required=True, help="the domain artifact folder")
    parser.add_argument("--runs", type=int, default=3, help="fresh runs per validation task (default 3)")
    parser.add_argument("--name", required=True, help="results file name")
    add_model_flags(parser)
    parser.set_defaults(**MODEL_DEFAULTS)
    args = parser.parse_args()
    from intent_mediator.lm import limit_call_records

    limit_call_records()  # a run of hours would otherwise keep its last 10,000 calls in memory
    meta = read_meta(args.artifact)
    for key in ("user", "domain", "persona", "validation"):
        if key not in meta:
            raise SystemExit(f"confirm_user_artifact: error: {args.artifact / 'meta.json'} has no {key!r}")
    if "confirmation" in meta:
        raise SystemExit(
            f"confirm_user_artifact: error: {args.artifact / 'meta.json'} was confirmed when compiled, on runs "
            f"{meta['confirmation'].get('runs')}: Refiner.confirm would replay those runs, not draw fresh ones"
        )
    roles = roles_from_args(args)
    if meta.get("models") not in (None, roles.models()):
        raise SystemExit(
            f"confirm_user_artifact: error: {args.artifact / 'meta.json'} was compiled with {meta['models']}, not "
            f"{roles.models()}: give the same models (--model, --assistant, ...)"
        )
    if args.runs < 1:
        raise SystemExit(f"confirm_user_artifact: error: --runs must be at least 1, got {args.runs}")
    try:
        valset = builtin_records(meta["domain"], meta["validation"], where=f"{args.artifact / 'meta.json'}: validation")
    except RecordError as exc:
        raise SystemExit(f"confirm_user_artifact: error: {exc}") from None
    if not valset:
        raise SystemExit(f"confirm_user_artifact: error: {args.artifact / 'meta.json'} lists no validation tasks")
    settings = ConversationSettings(roles=roles, persona=get_persona(meta["persona"]))
    student = load_artifact(args.domain_artifact)
    guidelines = load_artifact(args.artifact).guidelines
    started = time.perf_counter()
    result = Refiner(settings=settings, workers=1, progress=False, confirm_runs=args.runs).confirm(
        student, guidelines, valset
    )
    low, high = result["difference_ci"]
    rows = [
        [
            meta["user"],
            meta["persona"],
            ", ".join(meta["validation"]),
            f"{meta.get('validation_score')} / {meta.get('baseline_score')}",
            f"{result['score']:.1f}",
            f"{result['uncompiled_score']:.1f}",
            f"{result['difference']:+.1f} [{low:+.1f}, {high:+.1f}]",
            "yes" if result["confirmed"] else "no",
        ]
    ]
    data = {
        "artifact": str(args.artifact),
        "domain_artifact": str(args.domain_artifact),
        "models": settings.roles.models(),
        "meta": meta,
        "confirmation": result,
        "seconds": round(time.perf_counter() - started, 1),
    }
    notes = (
        "Run 0 (the search's): the user's guidelines / the domain's, as the artifact's meta records. Fresh runs "
        f"{result['runs']}: mean P (0-100) over the validation tasks, paired difference per task with a "
        "percentile-bootstrap 95% interval; confirmed = a higher mean, the bar `--confirm-runs` ships on.\n"
        f"Reproduce: `python benchmarks/confirm_user_artifact.py --artifact {args.artifact} --domain-artifact "
        f"{args.domain_artifact} --runs {args.runs} --name {args.name}`."
    )
    header = ["user", "persona", "validation", "run 0: user / domain", "user (fresh)", "domain (fresh)"]
    write(args.name, data, [*header, "difference [95% CI]", "confirmed"], rows, notes)


if __name__ == "__main__":
    main()
