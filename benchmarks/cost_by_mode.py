"""LM calls and tokens per conversation, by mode and role, on the scripted engine (deterministic counts).

Every conversation runs to its last shard (the scripted assistant never solves the task), so modes are
compared at equal length. Tokens are the scripted engine's estimate (4 characters per token) over the exact
prompts DSPy builds. Baselines: the history summariser, and raw contrastive pairs in the Mediator's prompt
instead of distilled guidelines.

    python benchmarks/cost_by_mode.py [--shared ../shared/lic]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import table, write
from intent_mediator import MediatedAssistant, RoleLMs, ScriptedEngine
from intent_mediator.data.loaders import load_records
from intent_mediator.optimizers.pairs import build_pairs
from intent_mediator.programs.baselines import SummarizingMediator, raw_pairs_mediator
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.simulation.runner import simulate

REPLY = (
    "Thanks, that helps. Before I write the final answer, let me restate what I have so far and check the "
    "assumptions: I will treat the values you gave as exact, keep the units you used, and handle the edge "
    "cases conservatively. Could you confirm whether anything else applies?"
)
GUIDELINES = [
    "Keep every number, name and condition the user gave in any turn; short follow-ups add to the same task.",
    "Treat an assistant's guess as rejected unless the user explicitly approves it.",
    "When the user says 'no, I meant', keep only the corrected version.",
]


# Assistant reply lengths for the sweep, in scripted tokens (4 characters each); REPLY is about 65.
REPLY_LENGTHS = (65, 120, 160, 250, 600)


def engine(reply: str = REPLY) -> ScriptedEngine:
    scripted = ScriptedEngine()
    scripted.on(role="mediator", reply=lambda call: {"request": " ".join(call.user_turns())})
    scripted.on(role="assistant", reply=reply)
    return scripted


def run(records, mode: str, program: MediatedAssistant | None = None, reply: str = REPLY, **settings) -> list:
    conversation = ConversationSettings(roles=RoleLMs.scripted(engine(reply)), program=program, **settings)
    return simulate(records, [mode], 1, conversation, workers=2)


def mean_usage(trajectories, role: str, key: str) -> float:
    return statistics.mean(t.usage.get(role, {}).get(key, 0) for t in trajectories)


def reply_length_sweep(records) -> list[list]:
    """Mediator prompt tokens against the sharded assistant's as assistant replies get longer."""
    rows = []
    for tokens in REPLY_LENGTHS:
        # `tokens` scripted tokens long; the shortest is REPLY itself, as in the table above.
        reply = ((REPLY + " ") * (tokens // 60 + 1))[: max(len(REPLY), tokens * 4)]
        sharded = mean_usage(run(records, "sharded", reply=reply), "assistant", "prompt_tokens")
        full = mean_usage(run(records, "mediated", reply=reply, mediator_history="full"), "mediator", "prompt_tokens")
        incremental = mean_usage(
            run(records, "mediated", reply=reply, mediator_history="incremental"), "mediator", "prompt_tokens"
        )
        rows.append([tokens, sharded, full, incremental, full / sharded, incremental / sharded])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "lic"))
    args = parser.parse_args()
    records = load_records("builtin")
    sample = Path(args.shared) / "sample_5_per_task.json"
    if sample.is_file():
        records += load_records(sample, tasks=["code", "database", "actions", "math"])
    sharded = run(records, "sharded")
    full = run(records, "full")
    # Pairs for the raw-pairs baseline: treat every full run as the success the sharded run missed.
    for trajectory in full:
        trajectory.outcome = "solved"
        trajectory.turns[0].score = 1.0
    pairs = [p.pair for p in build_pairs([*sharded, *full])[:5]]
    variants = {
        "full": ("full", None),
        "concat": ("concat", None),
        "sharded": ("sharded", None),
        "recap": ("recap", None),
        "snowball": ("snowball", None),
        "mediated": ("mediated", MediatedAssistant()),
        "mediated (incremental)": ("mediated", MediatedAssistant()),
        "mediated (incremental, DSPy ChatAdapter)": ("mediated", _chat_adapter(MediatedAssistant())),
        "mediated+guidelines": ("mediated", MediatedAssistant(GUIDELINES)),
        "mediated+raw pairs": ("mediated", _with_mediator(raw_pairs_mediator(pairs))),
        "summarised history": ("mediated", _with_mediator(SummarizingMediator())),
    }
    rows, data = [], {"records": len(records), "variants": {}}
    for name, (mode, program) in variants.items():
        if name in ("sharded", "full"):
            trajectories = sharded if name == "sharded" else full  # already run for the pairs above
        else:
            history = "incremental" if "incremental" in name else "full"
            trajectories = run(records, mode, program, mediator_history=history)
        turns = statistics.mean(len(t.turns) for t in trajectories)
        cell = {"user_turns": turns}
        for role in ("assistant", "mediator"):
            for key in ("calls", "prompt_tokens", "completion_tokens"):
                cell[f"{role}_{key}"] = mean_usage(trajectories, role, key)
        data["variants"][name] = cell
        rows.append(
            [
                name,
                turns,
                cell["assistant_calls"],
                cell["assistant_prompt_tokens"],
                cell["mediator_calls"],
                cell["mediator_prompt_tokens"],
                cell["mediator_completion_tokens"],
            ]
        )
    v = data["variants"]
    checks = {
        "mediator calls per user turn": v["mediated"]["mediator_calls"] / v["mediated"]["user_turns"],
        "mediator prompt / sharded assistant prompt": v["mediated"]["mediator_prompt_tokens"]
        / v["sharded"]["assistant_prompt_tokens"],
        "incremental mediator prompt / sharded assistant prompt": v["mediated (incremental)"]["mediator_prompt_tokens"]
        / v["sharded"]["assistant_prompt_tokens"],
        "incremental mediator prompt, lean / DSPy ChatAdapter layout": v["mediated (incremental)"][
            "mediator_prompt_tokens"
        ]
        / v["mediated (incremental, DSPy ChatAdapter)"]["mediator_prompt_tokens"],
        "distilled guidelines / raw pairs (mediator prompt tokens)": v["mediated+guidelines"]["mediator_prompt_tokens"]
        / v["mediated+raw pairs"]["mediator_prompt_tokens"],
        "guideline text / raw pairs text (extra prompt tokens)": (
            v["mediated+guidelines"]["mediator_prompt_tokens"] - v["mediated"]["mediator_prompt_tokens"]
        )
        / (v["mediated+raw pairs"]["mediator_prompt_tokens"] - v["mediated"]["mediator_prompt_tokens"]),
    }
    data["checks"] = checks
    sweep_header = [
        "reply tok",
        "sharded assistant prompt",
        "mediator prompt (full)",
        "mediator prompt (incremental)",
        "full / sharded",
        "incremental / sharded",
    ]
    sweep = reply_length_sweep(records)
    data["reply_length_sweep"] = [dict(zip(sweep_header, row, strict=True)) for row in sweep]
    notes = "\n".join(f"- {k}: {value:.2f}" for k, value in checks.items())
    notes += (
        "\n\nPrompt tokens per conversation as the scripted assistant's replies get longer (same records):\n\n"
        + table(sweep_header, sweep)
        + "\n"
    )
    write(
        "cost_by_mode",
        data,
        [
            "variant",
            "user turns",
            "assistant calls",
            "assistant prompt tok",
            "mediator calls",
            "mediator prompt tok",
            "mediator completion tok",
        ],
        rows,
        f"Means per conversation over {len(records)} records (project tasks + shared code/database/actions/math).\n"
        f"{notes}\nReproduce: `python benchmarks/cost_by_mode.py`.",
    )


def _chat_adapter(program: MediatedAssistant) -> MediatedAssistant:
    """The Mediator with DSPy's own ChatAdapter layout instead of the lean one (what the prompt shape saves)."""
    program.mediator.lean = False
    return program


def _with_mediator(mediator) -> MediatedAssistant:
    program = MediatedAssistant()
    program.mediator = mediator
    return program


if __name__ == "__main__":
    main()
