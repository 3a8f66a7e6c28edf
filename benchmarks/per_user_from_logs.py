"""Per-user compilation from served logs, end to end: do a user's own guidelines beat the domain's for them?

1. Serve: an in-process `serve` app (the same FastAPI app, a SQLite log store) fronts the assistant with the
   domain's Mediator (`<out>/artifacts/_generic/<domain>`: a copy of --domain-artifact, by default the compiled
   artifact shipped for the Mediator's model; none: the uncompiled Mediator). A small population of simulated
   users (--users NAME:PERSONA,...; default one user per persona: lazy, corrective, explicit) each talk through
   the domain's train-split tasks over HTTP, one shard per turn in their persona's words, and post feedback
   after each conversation: success, or failure with the explicit request that states the whole task.
2. Recompile: `intent_mediator.server.recompile.recompile_users` (the job behind per-user recompilation) gives
   every user with at least --min-feedback feedback an artifact `<out>/artifacts/<user>/<domain>`: the Refiner
   mines that user's logged pairs and selects on the validation split simulated with the user's persona, with
   the domain artifact as the student (a candidate must beat it there).
3. Compare: on the test split (never logged, never used for selecting), simulated with each user's persona,
   mediated mode with the domain artifact against the user's artifact (what `load_mediator(user, domain)` now
   resolves), --runs runs; P per user with a paired bootstrap interval of the difference.

Resumable: finished conversations are listed in `<out>/logged.jsonl` and not replayed, the recompile job skips
users whose artifact already covers their feedback, and the comparison runs through the resumable runner; a
rerun with another configuration is refused, naming what differs. Writes
benchmarks/results/per_user_from_logs.{json,md}. Slow on the embedded model (hours on 2 cores):

    python benchmarks/per_user_from_logs.py --out runs/per_user
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from intent_mediator.server.recompile import KeepCurrent
from side_by_side import ConfigMismatch, _bootstrap, check_config

DEFAULT_USERS = "u-lazy:lazy,u-corrective:corrective,u-explicit:explicit"
# The sampling this benchmark serves, compiles and compares at (`add_model_flags` defaults).
MODEL_DEFAULTS = {"temperature": 1.0, "max_tokens": 320, "role_temperature": ["judge=0", "mediator=0", "refiner=0.7"]}


class NothingToLearn(KeepCurrent):
    """A user whose logged conversations all succeeded: no failure to contrast, the domain artifact stays."""


class DomainKept(KeepCurrent):
    """A user's compile kept the domain's guidelines (nothing beat them on validation, or the winner was not
    confirmed on fresh runs): no user artifact is written, and the domain artifact stays."""


def parse_users(value: str) -> list[tuple[str, Any]]:
    """`name:persona,...` -> [(user id, Persona)], ids validated as artifact ids."""
    from intent_mediator.artifacts import validate_id
    from intent_mediator.data.personas import get_persona
    from intent_mediator.errors import IntentMediatorError

    users = []
    for item in (part.strip() for part in value.split(",") if part.strip()):
        name, _, persona = item.partition(":")
        try:
            users.append((validate_id(name, "user"), get_persona(persona or "lazy")))
        except (KeyError, ValueError) as exc:
            raise IntentMediatorError(f"--users {item!r}: {exc.args[0]}") from None
    if not users or len({u for u, _ in users}) != len(users):
        raise IntentMediatorError(f"--users {value!r}: give distinct NAME:PERSONA pairs")
    return users


def install_domain_artifact(source: Path | None, root: Path, domain: str) -> str | None:
    """Copy the domain artifact into the run's artifact root; its content hash (None: uncompiled Mediator)."""
    target = root / "_generic" / domain
    if source is None:
        return None
    target.mkdir(parents=True, exist_ok=True)
    for name in ("program.json", "meta.json"):
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)
    return hashlib.sha256((target / "program.json").read_bytes()).hexdigest()


def converse(client, user: str, persona, record, domain: str, judge) -> dict[str, Any]:
    """One simulated conversation through the server; feedback posted at the end. Returns what happened."""
    from intent_mediator.programs.user_simulator import DeterministicUser, shard_texts
    from intent_mediator.tasks import get_task
    from intent_mediator.transcript import Turn

    task = get_task(record.task)
    texts = shard_texts(record, task.shard_text)
    system = task.system_prompt(record)
    messages = [{"role": "system", "content": system}] if system else []
    transcript: list[Turn] = []
    revealed: list[int] = []
    simulated = DeterministicUser(persona)
    solved, last_wrong, conversation, artifact = False, False, None, None
    while len(revealed) < len(texts):
        move = simulated.next_move(record, texts, transcript, revealed, last_wrong)
        revealed.append(move.shard_id)
        messages.append({"role": "user", "content": move.message})
        transcript.append(Turn.user(move.message))
        response = client.post(
            "/v1/chat/completions",
            json={"model": "served", "messages": messages, "user": user},
            headers={"X-Mediator-Domain": domain},
        )
        if response.status_code != 200:
            raise RuntimeError(f"{user}/{record.task_id}: the server answered {response.status_code}: {response.text}")
        reply = response.json()["choices"][0]["message"]["content"] or ""
        conversation = response.headers["X-Mediator-Conversation"]
        artifact = response.headers.get("X-Mediator-Artifact")
        messages.append({"role": "assistant", "content": reply})
        transcript.append(Turn.assistant(reply))
        judged = judge(reply, task, record)
        if judged.kind == "answer_attempt" and judged.answer is not None:
            solved = task.score(record, judged.answer).value >= 1.0
        if solved:
            break
        last_wrong = judged.kind == "answer_attempt"
    feedback = {"conversation_id": conversation, "user": user, "success": solved}
    if not solved:
        feedback["final_request"] = task.full_prompt(record)  # what the user wanted, said at once
    answer = client.post("/v1/feedback", json=feedback)
    if answer.status_code != 200:
        raise RuntimeError(f"{user}/{record.task_id}: feedback refused ({answer.status_code}: {answer.text})")
    return {"user": user, "task_id": record.task_id, "solved": solved, "turns": len(revealed), "artifact": artifact}


def log_conversations(app, users, records, domain: str, judge, done_file: Path) -> list[dict[str, Any]]:
    """Every user talks through every record once (finished ones, listed in `done_file`, are skipped)."""
    from fastapi.testclient import TestClient

    done = [json.loads(line) for line in done_file.read_text().splitlines()] if done_file.is_file() else []
    finished = {(d["user"], d["task_id"]) for d in done}
    with TestClient(app, client=("127.0.0.1", 50000)) as client, done_file.open("a", encoding="utf-8") as out:
        for user, persona in users:
            for record in records:
                if (user, record.task_id) in finished:
                    continue
                started = time.perf_counter()
                row = converse(client, user, persona, record, domain, judge)
                row["seconds"] = round(time.perf_counter() - started, 1)
                out.write(json.dumps(row) + "\n")
                out.flush()
                done.append(row)
                print(f"[log] {user} {record.task_id}: {'solved' if row['solved'] else 'failed'} ({row['artifact']})")
    return done


def make_compile_one(
    settings, personas: dict[str, Any], valset: list, domain_root: Path, options: dict[str, Any], reports: Path
):
    """compile_one(user, domain, trajectories) for recompile_users: the Refiner on that user's logged pairs, its
    report saved in `reports`. A compile that keeps the domain's guidelines raises `DomainKept`; the recompile
    job records that decision, so a resumed run does not search again (the refiner samples: another search
    could end otherwise), and `main` reports the recorded reason."""
    from intent_mediator.artifacts import load_artifact
    from intent_mediator.files import write_json_atomic
    from intent_mediator.optimizers.refiner import Refiner, confirmation_meta
    from intent_mediator.programs import MediatedAssistant

    def compile_one(user: str, domain: str, trajectories: list):
        if all(t.outcome == "solved" for t in trajectories):
            raise NothingToLearn(f"{user} logged no failed conversation in {domain}")
        folder = domain_root / "_generic" / domain
        student = load_artifact(folder) if (folder / "program.json").is_file() else MediatedAssistant()
        refiner = Refiner(settings=replace(settings, persona=personas[user]), workers=1, progress=False, **options)
        program = refiner.compile(student, trainset=[], valset=valset, trajectories=trajectories)
        report = program.refiner_report
        write_json_atomic(reports / f"{user}.json", report)  # what the search did, to audit
        if program.guidelines == student.guidelines:
            confirmation = report.get("confirmation")
            if confirmation and not confirmation.get("confirmed"):
                why = f"{user}: the search's winner was not confirmed on {len(confirmation.get('runs', []))} fresh runs"
            elif report.get("stopped"):
                why = f"{user}: the search's LM budget ran out before anything scored above the domain's guidelines"
            else:
                why = f"{user}: no candidate beat the domain's guidelines on validation"
            raise DomainKept(why)
        meta = {
            "optimizer": "refiner",
            "persona": personas[user].name,
            "validation_score": report.get("best", {}).get("score"),
            "baseline_score": report.get("baseline_score"),
            "validation": [r.task_id for r in valset],
            "models": settings.roles.models(),
            **confirmation_meta(report),
        }
        return program, meta

    return compile_one


def compare(settings, users, records, domain: str, root: Path, out_dir: Path, runs: int, progress: bool):
    """Per user: mediated P with the domain artifact and with the user's own artifact on the held-out records."""
    from intent_mediator.artifacts import choose_artifact, load_artifact
    from intent_mediator.programs import MediatedAssistant
    from intent_mediator.simulation.runner import evaluate
    from intent_mediator.simulation.trajectory import TrajectoryLog

    rng = np.random.default_rng(0)
    domain_choice = choose_artifact(root, None, domain)
    domain_program = load_artifact(domain_choice.folder) if domain_choice.folder else MediatedAssistant()
    rows = {}
    for user, persona in users:
        choice = choose_artifact(root, user, domain)
        variants = [("domain", domain_program)]
        if choice.level == "user":
            variants.append(("user", load_artifact(choice.folder)))
        scores = {}
        for variant, program in variants:
            folder = out_dir / user / variant
            config = replace(settings, persona=persona, programs={domain: program})
            evaluate(records, ["mediated"], runs, folder, config, workers=1, progress=progress)
            per_task: dict[str, list[float]] = {}
            for t in TrajectoryLog(folder / "trajectories.jsonl").latest():
                if t.error is None and t.score is not None:
                    per_task.setdefault(t.task_id, []).append(t.score)
            scores[variant] = {task: float(np.mean(s)) for task, s in per_task.items()}
        row: dict[str, Any] = {"persona": persona.name, "artifact": choice.level}
        row["P_domain"] = float(np.mean(list(scores["domain"].values()))) if scores.get("domain") else None
        if "user" in scores:
            shared = sorted(set(scores["domain"]) & set(scores["user"]))
            diff = np.array([scores["user"][t] - scores["domain"][t] for t in shared])
            row["P_user"] = float(np.mean(list(scores["user"].values())))
            row["difference"] = float(diff.mean()) if len(diff) else None
            row["difference_ci95"] = _bootstrap(diff, lambda x: float(x.mean()), rng)
            row["at_least_as_well"] = row["difference"] is not None and row["difference"] >= 0
            row["instructions"] = len(shared)
            row["guidelines"] = load_artifact(choice.folder).guidelines
        rows[user] = row
    return rows


def build_parser() -> argparse.ArgumentParser:
    from intent_mediator.commands.common import add_model_flags
    from intent_mediator.optimizers.refiner import CONFIRM_BARS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domain", default="math", help="domain (default math)")
    parser.add_argument("--users", default=DEFAULT_USERS, help=f"NAME:PERSONA,... (default {DEFAULT_USERS})")
    parser.add_argument("--logged", type=int, help="conversations per user (default: the whole train split)")
    parser.add_argument("--validation", type=int, help="validation tasks for selection (default: the whole split)")
    parser.add_argument("--held-out", type=int, help="held-out test tasks per user (default: the whole split)")
    parser.add_argument("--runs", type=int, default=2, help="runs per held-out task and Mediator (default 2)")
    parser.add_argument("--min-feedback", type=int, default=3, help="feedback a user needs to be recompiled")
    parser.add_argument("--domain-artifact", metavar="DIR", help="the domain artifact (default: the shipped one)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--candidates", type=int, default=2)
    parser.add_argument("--max-lm-calls", type=int, default=150, help="Refiner budget per user")
    parser.add_argument(
        "--confirm-runs", type=int, default=0, help="fresh runs per validation task a user's winner must hold up on"
    )
    parser.add_argument("--confirm-bar", choices=CONFIRM_BARS, default="higher", help="what it must show there")
    parser.add_argument("--out", default="runs/per_user", metavar="DIR", help="run folder, resumed if present")
    parser.add_argument("--results", default=str(Path(__file__).parent / "results"), metavar="DIR")
    parser.add_argument("--name", default="per_user_from_logs", help="results file name")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_model_flags(parser)
    parser.set_defaults(**MODEL_DEFAULTS)
    return parser


def main(argv: list[str] | None = None) -> int:
    from intent_mediator.artifacts import choose_artifact
    from intent_mediator.commands.common import check_confirm_flags, roles_from_args
    from intent_mediator.data.records import RecordError
    from intent_mediator.data.splits import load_split
    from intent_mediator.errors import IntentMediatorError
    from intent_mediator.files import write_text_atomic
    from intent_mediator.server import ServerConfig, create_app
    from intent_mediator.server.recompile import recompile_users
    from intent_mediator.simulation.conversation import ConversationSettings
    from intent_mediator.simulation.judging import ReplyJudge

    args = build_parser().parse_args(argv)
    from intent_mediator.lm import limit_call_records

    limit_call_records()  # a run of hours would otherwise keep its last 10,000 calls in memory
    started = time.perf_counter()
    try:
        users = parse_users(args.users)
        try:
            train, val, test = (load_split(args.domain, name) for name in ("train", "validation", "test"))
        except RecordError as exc:
            raise IntentMediatorError(f"--domain {args.domain}: {exc}") from None
        train, val, test = train[: args.logged], val[: args.validation], test[: args.held_out]
        check_confirm_flags(args.confirm_runs, args.confirm_bar, len(val))
        roles = roles_from_args(args)
        if args.domain_artifact:
            source = Path(args.domain_artifact)
            if not (source / "program.json").is_file():
                raise IntentMediatorError(f"--domain-artifact: no program.json in {source}")
        else:
            source = choose_artifact(None, None, args.domain, shipped=roles.models()["mediator"]).folder
        out = Path(args.out)
        root = out / "artifacts"
        config = {
            "models": roles.models(),
            "temperatures": roles.temperatures(),
            "domain": args.domain,
            "users": [[u, p.name] for u, p in users],
            "logged": [r.task_id for r in train],
            "validation": [r.task_id for r in val],
            "held_out": [r.task_id for r in test],
            "runs": args.runs,
            "min_feedback": args.min_feedback,
            "refiner": {
                "rounds": args.rounds,
                "candidates": args.candidates,
                "max_lm_calls": args.max_lm_calls,
                # only when set: a folder run before the option existed resumes
                **({"confirm_runs": args.confirm_runs, "confirm_bar": args.confirm_bar} if args.confirm_runs else {}),
            },
            "domain_artifact": hashlib.sha256((source / "program.json").read_bytes()).hexdigest() if source else None,
        }
        check_config(out, config)
        install_domain_artifact(source, root, args.domain)
        print(
            f"per-user from logs: {len(users)} users x {len(train)} logged {args.domain} conversations; domain "
            f"Mediator: {source or 'uncompiled (no domain artifact)'} -> {out}",
            flush=True,
        )
        # 1. Serve and log.
        store = f"sqlite:///{out / 'logs.sqlite'}"
        settings = ConversationSettings(roles=roles)  # the Mediator history the artifacts were compiled with
        served = ServerConfig(artifacts=root, store=store, mediator_history=settings.mediator_history)
        app = create_app(served, upstream_lm=roles.assistant, mediator_lm=roles.mediator)
        judge = ReplyJudge("rules", roles.judge)
        logged = log_conversations(app, users, train, args.domain, judge, out / "logged.jsonl")
        # 2. Recompile per user.
        options = {
            "rounds": args.rounds,
            "candidates_per_round": args.candidates,
            "max_lm_calls": args.max_lm_calls,
            "confirm_runs": args.confirm_runs,
            "confirm_bar": args.confirm_bar,
        }
        compile_one = make_compile_one(settings, dict(users), val, root, options, out / "reports")
        results = recompile_users(
            store,
            root,
            compile_one,
            min_feedback=args.min_feedback,
            domains=[args.domain],
            workers=1,
            on_result=lambda r: print(f"[recompile] {r.user}: {r.artifact or r.kept or r.error}", flush=True),
        )
        failed = [r for r in results if r.error]
        if failed:
            raise IntentMediatorError("; ".join(f"recompiling {r.user} failed: {r.error}" for r in failed))
        # 3. Compare on held-out conversations.
        rows = compare(settings, users, test, args.domain, root, out / "compare", args.runs, not args.no_progress)
    except (IntentMediatorError, ConfigMismatch) as exc:
        print(f"per_user_from_logs: error: {exc}", file=sys.stderr)
        return 2
    command = "python benchmarks/per_user_from_logs.py " + " ".join(argv if argv is not None else sys.argv[1:])
    data = {
        "command": command.strip(),
        "config": config,
        "logged": {u: sum(1 for d in logged if d["user"] == u) for u, _ in users},
        "logged_solved": {u: sum(1 for d in logged if d["user"] == u and d["solved"]) for u, _ in users},
        "users": rows,
        "recompile": outcomes(Path(args.out) / "artifacts", users, args.domain, results),
        "seconds": round(time.perf_counter() - started, 1),
    }
    text = markdown(data)
    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(results_dir / f"{args.name}.json", json.dumps(data, indent=2) + "\n")
    write_text_atomic(results_dir / f"{args.name}.md", text)
    print(text)
    return 0


def outcomes(root: Path, users: list[tuple[str, Any]], domain: str, results: list) -> dict[str, str | None]:
    """Each user's recompile outcome: the artifact written, why none was, or the error. A user no longer
    pending (a resumed run) gets what an earlier run left in their artifact folder."""
    from intent_mediator.artifacts import artifact_dir, read_kept

    ran = {r.user: r.artifact or r.kept or r.error for r in results}
    out: dict[str, str | None] = {}
    for user, _ in users:
        folder = artifact_dir(root, user, domain)
        if user in ran:
            out[user] = ran[user]
        elif (folder / "program.json").is_file():
            out[user] = str(folder)
        elif (kept := read_kept(folder)) is not None:
            out[user] = kept.get("reason")
    return out


def markdown(data: dict[str, Any]) -> str:
    header = ["user", "persona", "logged (solved)", "artifact", "P domain", "P user", "difference [95% CI]", ">= ?"]
    lines = [f"Command: `{data['command']}`", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for user, row in data["users"].items():
        logged = f"{data['logged'][user]} ({data['logged_solved'][user]})"
        domain = "–" if row["P_domain"] is None else f"{row['P_domain']:.1f}"
        if "P_user" not in row:
            outcome = data.get("recompile", {}).get(user) or ""
            if outcome.startswith(DomainKept.__name__):
                why = "none: " + outcome.split(": ", 2)[-1]
            elif data["logged_solved"][user] == data["logged"][user]:
                why = "none: no failure to learn from"
            else:
                why = "none"
            cells = [user, row["persona"], logged, why, domain, "–", "–", "–"]
        else:
            ci = row["difference_ci95"]
            diff = "–" if row["difference"] is None else f"{row['difference']:+.1f}"
            diff += f" [{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else ""
            cells = [user, row["persona"], logged, "own", domain, f"{row['P_user']:.1f}", diff]
            cells.append("yes" if row["at_least_as_well"] else "no")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Mediated P (0-100) on the held-out test split, simulated with each user's persona; difference = P(user's "
        "artifact) - P(domain artifact), paired per task, percentile-bootstrap interval over tasks.",
        "Guidelines learned: "
        + "; ".join(f"{u}: {r.get('guidelines')}" for u, r in data["users"].items() if "guidelines" in r),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
