"""Optuna plumbing for the Refiner: a resumable seeded study and a pruner for hopeless candidates."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import optuna
from intent_mediator.errors import IntentMediatorError


class CannotWinPruner(optuna.pruners.BasePruner):
    """Prune a trial once its optimistic bound (every remaining validation task solved) falls below the best
    completed trial: it is then certainly worse, so the rest of its validation runs would be wasted."""

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        bound = trial.intermediate_values[step]
        completed = [
            t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None
        ]
        return bool(completed) and bound < max(completed)


class StudyMismatch(IntentMediatorError):
    """A stored study was made for other data, settings, models or options than this compile's."""


def load_or_create_study(
    storage: str | None, name: str, seed: int, config: dict[str, Any] | None = None
) -> optuna.Study:
    """A maximizing TPE study; with `storage`, an existing study of that name is resumed.

    Args:
        config: What the study's results depend on (see `compile_config`). It is stored with a new study; a
            stored study made with another config is refused, naming what differs.

    Raises:
        StudyMismatch: the stored study's config differs from `config`.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=CannotWinPruner(),
    )
    if config is None:
        return study
    stored = study.user_attrs.get("config")
    if stored is not None:
        from intent_mediator.simulation.fingerprint import as_recorded_now

        stored = as_recorded_now(stored, config)
    if stored is None:
        if study.trials:
            raise StudyMismatch(f"study {name!r} in {storage} has trials but no recorded config: use another name")
        study.set_user_attr("config", config)
        study.set_user_attr("fingerprint", fingerprint(config))
    elif stored != (config := {k: v for k, v in config.items() if k in stored or k not in LATER_KEYS}):
        differs = sorted(key for key in set(stored) | set(config) if stored.get(key) != config.get(key))
        detail = "; ".join(f"{key}: stored {_short(stored.get(key))}, now {_short(config.get(key))}" for key in differs)
        raise StudyMismatch(
            f"study {name!r} in {storage} was made for another compile ({detail}); resume only the same "
            "compile, or give another study name or storage"
        )
    return study


def fingerprint(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


# Keys `compile_config` gained later: a study stored before one existed is compared without it.
LATER_KEYS = ("temperatures", "max_tokens", "records", "endpoints")


def compile_config(refiner: Any, student: Any, train: list, val: list) -> dict[str, Any]:
    """Everything a Refiner study's scores depend on: data ids, simulation settings, models, metric, options
    and the student's starting prompt. JSON-plain, so it compares equal after a round trip through storage."""
    from intent_mediator.simulation.fingerprint import record_digest

    s = refiner.settings
    metric = refiner.metric if refiner.metric is not None else s.metric
    config = {
        "train": sorted(r.task_id for r in train),
        "val": sorted(r.task_id for r in val),
        "models": s.roles.models(),
        "temperatures": s.roles.temperatures(),
        "max_tokens": s.roles.max_tokens(),
        "endpoints": s.roles.endpoints(),
        "records": {r.task_id: record_digest(r) for r in sorted([*train, *val], key=lambda r: r.task_id)},
        "persona": s.persona.name,
        "user_sim": s.user_sim,
        "classifier": s.classifier,
        "llm_extraction": s.llm_extraction,
        "max_turns": s.max_turns,
        "mediator_history": s.mediator_history,
        "judge_lm": getattr(s.task_config.judge_lm, "model", None),
        "spider_dir": None if s.task_config.spider_dir is None else str(s.task_config.spider_dir),
        "metric": None
        if metric is None
        else f"{getattr(metric, '__module__', '')}.{getattr(metric, '__qualname__', type(metric).__name__)}",
        "mode": refiner.mode,
        "selection": refiner.selection,
        "failure_mode": refiner.failure_mode,
        "batch_sizes": list(refiner.batch_sizes),
        "candidates_per_round": refiner.candidates_per_round,
        "max_guidelines": refiner.max_guidelines,
        "seed": refiner.seed,
        "student": fingerprint({"instructions": student.mediator.predictor.signature.instructions}),
        "mediator_layout": student.mediator.layout_name(s.roles.mediator),
        "mediator_revision": student.mediator.behaviour_revision,
    }
    if refiner.mining_runs != 1:  # recorded only when set: studies made before the option existed still resume
        config["mining_runs"] = refiner.mining_runs
    if student.mediator.join_additions:  # the same: the candidates' Mediator joins additive turns
        config["join_additions"] = True
        config["join_revision"] = student.mediator.join_revision
    return json.loads(json.dumps(config, default=str))


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def candidate_key(guidelines: list[str]) -> str:
    return hashlib.sha256(json.dumps(guidelines).encode()).hexdigest()[:16]


def study_best(study: optuna.Study) -> float:
    values = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
    return max(values) if values else float("-inf")
