"""Can a model route follow-ups instead of the cue list? A probe on the held-out follow-ups.

`benchmarks/router_heldout.py` measures the cue router of `Mediator(join_additions=True)`. This asks the
model itself, one call per follow-up: given the request so far, the assistant's reply and the new message, does
the message only add? Two answer shapes, because a small model's answer can hang on the shape of the question:

- `bool`: `only_adds: bool`;
- `label`: `kind: Literal["adds", "changes", "replies"]` (anything but "adds" goes to the LM rewrite).

The prompts live here, not in the package: nothing in the product routes by an LM call until a probe like this
one shows a model that can.

    python benchmarks/router_lm_probe.py --file dev --shape bool [--model embedded]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Literal

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import dspy  # noqa: E402
from _results import write  # noqa: E402
from intent_mediator.lm import build_lm, lm_scope  # noqa: E402
from intent_mediator.programs.mediator import join_user_turns  # noqa: E402
from router_heldout import NEUTRAL_REPLY, load, share  # noqa: E402

_TASK = """Decide whether the user's new message can simply be appended to their request as it stands.

It can when it only adds something new: a further detail, value, condition or requirement that leaves
everything already asked unchanged. It cannot when it changes, corrects or replaces a value or detail the
user already gave, takes something back, or replies to the assistant's last message (agrees, refuses, picks
one of its options or answers its question)."""


class FollowUpOnlyAdds(dspy.Signature):
    __doc__ = _TASK

    request: str = dspy.InputField(desc="What the user has asked for so far, as one message.")
    assistant_reply: str = dspy.InputField(desc="The assistant's last reply.")
    new_message: str = dspy.InputField(desc="The user's new message.")
    only_adds: bool = dspy.OutputField(
        desc="True: it only adds. False: it changes, takes back, or replies to the assistant."
    )


class FollowUpKind(dspy.Signature):
    __doc__ = _TASK

    request: str = dspy.InputField(desc="What the user has asked for so far, as one message.")
    assistant_reply: str = dspy.InputField(desc="The assistant's last reply.")
    new_message: str = dspy.InputField(desc="The user's new message.")
    kind: Literal["adds", "changes", "replies"] = dspy.OutputField(
        desc="adds: only adds something new; changes: changes, corrects or takes back something the user said; "
        "replies: answers or refers to the assistant's last message."
    )


SHAPES = {"bool": FollowUpOnlyAdds, "label": FollowUpKind}


def only_adds(out: dspy.Prediction, shape: str) -> bool:
    return bool(out.only_adds) if shape == "bool" else out.kind == "adds"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", choices=("dev", "test", "test2", "test3"), required=True)
    parser.add_argument("--shape", choices=tuple(SHAPES), required=True)
    parser.add_argument("--model", default="embedded", help="the model asked (default the embedded one)")
    args = parser.parse_args()
    from intent_mediator.lm import limit_call_records

    limit_call_records()  # a run of hours would otherwise keep its last 10,000 calls in memory
    items = load(args.file)
    lm = build_lm(args.model, temperature=0.0, max_tokens=64)
    predict = dspy.Predict(SHAPES[args.shape])
    answers, failed = {}, []
    for item in items:
        try:
            with lm_scope(lm):
                out = predict(
                    request=join_user_turns(item["earlier"]),
                    assistant_reply=item["assistant"] or NEUTRAL_REPLY,
                    new_message=item["turn"],
                )
            answers[item["id"]] = only_adds(out, args.shape)
        except Exception as exc:  # an unparseable answer counts as "send to the LM", and is reported
            failed.append(f"{item['id']}: {type(exc).__name__}")
            answers[item["id"]] = False
    revises = [item for item in items if item["label"] == "revises"]
    adds = [item for item in items if item["label"] == "adds"]
    caught = sum(not answers[item["id"]] for item in revises)
    passed = sum(answers[item["id"]] for item in adds)
    row = [
        args.model,
        args.shape,
        share(caught, len(revises)),
        share(passed, len(adds)),
        len(failed),
    ]
    write(
        f"router_lm_probe_{args.file}_{args.shape}",
        {"file": args.file, "shape": args.shape, "model": args.model, "answers": answers, "failed": failed},
        ["model", "answer shape", "revisions sent to the LM [95% CI]", "additions joined [95% CI]", "failed"],
        [row],
        f"One call per follow-up of `benchmarks/followups/{args.file}.json`, temperature 0, 64-token cap. "
        "A failed call counts as sent to the LM. Intervals: 95% Wilson. "
        f"Reproduce: `python benchmarks/router_lm_probe.py --file {args.file} --shape {args.shape}`.",
    )


if __name__ == "__main__":
    main()
