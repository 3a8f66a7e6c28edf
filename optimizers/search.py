"""Optuna plumbing for the Refiner: a resumable seeded study and a pruner for hopeless candidates."""

from __future__ import annotations

import hashlib
import json

import optuna


class CannotWinPruner(optuna.pruners.BasePruner):
    """Prune a trial once its optimistic bound (every remaining validation task solved) falls below the best
    completed trial: it is then certainly worse, so the rest of its validation runs would be wasted."""

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        bound = trial.intermediate_values[step]
        completed = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        return bool(completed) and bound < max(completed)


def load_or_create_study(storage: str | None, name: str, seed: int) -> optuna.Study:
    """A maximizing TPE study; with `storage`, an existing study of that name is resumed."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        study_name=name,
        storage=storage,
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=CannotWinPruner(),
    )


def candidate_key(guidelines: list[str]) -> str:
    return hashlib.sha256(json.dumps(guidelines).encode()).hexdigest()[:16]


def study_best(study: optuna.Study) -> float:
    values = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return max(values) if values else float("-inf")
