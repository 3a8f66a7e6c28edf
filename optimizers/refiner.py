"""Refiner: a teleprompter that compiles Mediator guidelines from failed versus successful trajectories.

The 2602.07338 paper distills rules in one LLM call over five contrastive pairs and keeps them unvalidated
(`mode="paper"`). The default mode treats that call as a proposal step inside an optimizer:

1. simulate the trainset (full and multi-turn modes) or take logged trajectories, and pair each failed
   multi-turn conversation with the explicit request that solved the same task;
2. distill candidate guideline sets from batches of pairs with the refiner LM (`DistillGuidelines`);
3. select among candidates, and how many of their rules to keep, with a seeded optuna TPE study scored on the
   valset through mediated simulations (or the cheap faithfulness proxy); a pruner stops a candidate as soon
   as it can no longer beat the best; optional storage lets a killed compile resume without redoing trials;
4. later rounds revise the best set from the failures it still has, within a hard LM budget;
5. optionally (`confirm_runs`), re-score the winner and the uncompiled Mediator on fresh samples of the valset
   and ship the winner only if it still wins there: a search that scores one sample per task picks lucky lists.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import dspy
import optuna
from dspy.teleprompt import Teleprompter
from intent_mediator.data.records import Instruction
from intent_mediator.errors import IntentMediatorError
from intent_mediator.examples import to_example
from intent_mediator.files import write_json_atomic
from intent_mediator.lm import RoleLMs, lm_scope
from intent_mediator.metrics import MetricError, example_record
from intent_mediator.optimizers.budget import BudgetExhausted, LMBudget
from intent_mediator.optimizers.pairs import SourcedPair, build_pairs, successful_request
from intent_mediator.optimizers.proxy import proxy_score
from intent_mediator.optimizers.search import (
    CannotWinPruner,
    candidate_key,
    compile_config,
    load_or_create_study,
    study_best,
)
from intent_mediator.programs import MediatedAssistant
from intent_mediator.signatures.refiner import DistillGuidelines
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.simulation.runner import simulate
from intent_mediator.simulation.trajectory import Trajectory
from intent_mediator.simulation.usage import merge_usage
from intent_mediator.stats import aggregate, bootstrap_ci, paired_differences

logger = logging.getLogger(__name__)


class RefinerError(IntentMediatorError):
    """The Refiner could not produce guidelines (no contrastive pairs, or no usable refiner output)."""


# What a search's winner must show on fresh runs to ship (`Refiner(confirm_bar=...)`).
CONFIRM_BARS = ("higher", "interval")
# Fewest valset tasks the interval bar reads: over 3 tasks, 1 resample in 27 is one task thrice, so the interval's
# lower end is the smallest task's difference, and a win on every task but by luck on each would pass.
MIN_INTERVAL_TASKS = 4


class Refiner(Teleprompter):
    """Compile a MediatedAssistant's guidelines from contrastive pairs (see the module docstring).

    Args:
        metric: A DSPy metric `metric(example, pred, trace=None) -> float | bool | Prediction(score=...)` that
            scores each answer attempt (default: the task's own scorer). `example` is the trainset or valset
            example itself, every field intact (an `Instruction` is given as `to_example(record)`); `pred` has
            `response` (the assistant's reply) and `answer` (the answer the task's parser extracted).
        settings: How conversations are simulated: roles, user simulator, persona, classifier, turn bound,
            Mediator history (default: `ConversationSettings()` with every role taken from the surrounding
            `dspy.context` / `dspy.configure`).
        mode: "optimize" (default) or "paper" (one refiner call over `pairs_per_batch` pairs, no validation).
        failure_mode: The multi-turn mode whose failures become D- ("sharded", or "mediated" to learn from the
            student's own failures).
        pairs_per_batch: Pairs per distillation call (the paper: 5); `batch_sizes` searches several.
        mining_runs: Samples per train task in each of full and `failure_mode` when mining pairs. With sampling on
            (temperature > 0) each run is a distinct sample, so more runs find more tasks that failed multi-turn
            in one sample and were solved single-turn in another; at temperature 0 extra runs repeat the first.
        candidates_per_round: Guideline sets proposed per round.
        rounds: Propose/select rounds; later rounds revise the best set from its remaining failures.
        max_guidelines: Longest guideline list kept.
        trials_per_round: Optuna trials per round (default: twice the number of candidates).
        selection: "simulation" (mediated runs scored by the metric) or "proxy" (request faithfulness).
        confirm_runs: Fresh samples per valset task on which the search's winner and the uncompiled guidelines
            are scored again before the compile returns (0, the default: no confirmation). The search scores one
            sample per task (run 0), so on a small valset a win of a task or two can be luck, and the maximum
            over many trials favours luck. The winner ships only if its mean over the fresh runs beats the
            uncompiled guidelines' mean over the same runs; otherwise the compile returns the uncompiled
            guidelines. The fresh runs are 1..`confirm_runs`, or, when the valset shares tasks with the trainset,
            the `confirm_runs` runs after the mining runs (the pairs were mined from those samples). Confirmation
            always simulates mediated conversations scored by the metric, whatever `selection` is, and needs
            sampling: with the assistant (and an LLM user) at temperature 0 every run repeats run 0, so it is
            refused. Its size is fixed (2 x valset x `confirm_runs` conversations), so it is not counted against
            `max_lm_calls`/`max_tokens`, which bound the open-ended search: a search stopped by the budget still
            has its best list confirmed. Its calls are reported in `report["confirmation"]["budget"]`.
        confirm_bar: What the winner must show on the fresh runs. "higher" (default): a higher mean than the
            uncompiled guidelines. "interval": a paired difference per valset task whose percentile-bootstrap 95%
            interval over the tasks lies above 0, so one task's win on a small valset is not enough; it needs
            `confirm_runs` and a valset of at least `MIN_INTERVAL_TASKS` tasks (refused before any call).
        max_lm_calls, max_tokens: Hard budget over every LM call the compile makes (tokens as the LMs report
            them).
        storage: Optuna storage URL (e.g. "sqlite:///refiner.db") so a killed compile resumes. A study is
            resumed only for the same data, settings, models and options; anything else is refused.
        study_name: Name of the optuna study in `storage`.
        report_dir: Folder for `refiner_report.json` (written after every round and at the end).
        workers: Conversations simulated in parallel.
        seed: Seed of the batch shuffling and of the TPE sampler.
        progress: Show progress bars.
    """

    def __init__(
        self,
        metric: Callable[..., Any] | None = None,
        *,
        settings: ConversationSettings | None = None,
        mode: str = "optimize",
        failure_mode: str = "sharded",
        pairs_per_batch: int = 5,
        mining_runs: int = 1,
        batch_sizes: Iterable[int] | None = None,
        candidates_per_round: int = 3,
        rounds: int = 2,
        max_guidelines: int = 8,
        trials_per_round: int | None = None,
        selection: str = "simulation",
        confirm_runs: int = 0,
        confirm_bar: str = "higher",
        max_lm_calls: int | None = None,
        max_tokens: int | None = None,
        storage: str | None = None,
        study_name: str = "refiner",
        report_dir: str | Path | None = None,
        workers: int = 4,
        seed: int = 0,
        progress: bool = False,
    ):
        super().__init__()
        if mode not in ("optimize", "paper"):
            raise ValueError(f"mode must be 'optimize' or 'paper', got {mode!r}")
        if selection not in ("simulation", "proxy"):
            raise ValueError(f"selection must be 'simulation' or 'proxy', got {selection!r}")
        if failure_mode not in ("sharded", "mediated", "recap", "snowball"):
            raise ValueError(f"failure_mode must be a multi-turn mode, got {failure_mode!r}")
        if mining_runs < 1:
            raise ValueError(f"mining_runs must be at least 1, got {mining_runs}")
        if confirm_runs < 0:
            raise ValueError(f"confirm_runs must be 0 or more, got {confirm_runs}")
        if confirm_bar not in CONFIRM_BARS:
            raise ValueError(f"confirm_bar must be one of {', '.join(CONFIRM_BARS)}, got {confirm_bar!r}")
        if confirm_bar != "higher" and not confirm_runs:
            raise ValueError(f"confirm_bar={confirm_bar!r} needs confirm_runs > 0 (the fresh runs it is read on)")
        if isinstance(metric, ConversationSettings):
            raise TypeError("Refiner takes the metric first, as DSPy's optimizers do: Refiner(metric, settings=...)")
        if metric is not None and not callable(metric):
            raise TypeError(f"metric must be callable, got {type(metric).__name__}")
        self.metric = metric
        self.settings = settings if settings is not None else ConversationSettings(roles=RoleLMs())
        self.mode, self.failure_mode = mode, failure_mode
        self.batch_sizes = sorted(set(batch_sizes or [pairs_per_batch]))
        self.pairs_per_batch, self.mining_runs = pairs_per_batch, mining_runs
        self.candidates_per_round, self.rounds, self.max_guidelines = candidates_per_round, rounds, max_guidelines
        self.trials_per_round, self.selection, self.confirm_runs = trials_per_round, selection, confirm_runs
        self.confirm_bar = confirm_bar
        self.max_lm_calls, self.max_tokens = max_lm_calls, max_tokens
        self.storage, self.study_name = storage, study_name
        self.report_dir = Path(report_dir) if report_dir else None
        self.workers, self.seed, self.progress = workers, seed, progress
        self.distill = dspy.Predict(DistillGuidelines)
        self._reset()

    def _reset(self) -> None:
        """Each compile gets its own budget and usage counts."""
        self.budget = LMBudget(self.max_lm_calls, self.max_tokens)
        self._usage: list[dict] = []
        self._refiner_usage = {"calls": 0.0, "prompt_tokens": 0.0, "completion_tokens": 0.0}
        self._solved: list[Trajectory] = []
        self._examples: dict[str, dspy.Example] = {}

    # ---- public API -----------------------------------------------------------------------------------------
    def compile(
        self,
        student: MediatedAssistant,
        *,
        trainset: list,
        valset: list | None = None,
        trajectories: list[Trajectory] | None = None,
    ) -> MediatedAssistant:
        """Return a new MediatedAssistant with compiled guidelines; the student is left untouched.

        Args:
            student: The program whose Mediator gets the guidelines.
            trainset: `dspy.Example`s with a `record` (see `to_examples`), or `Instruction`s, the pairs are
                mined from. The metric receives these examples as given.
            valset: Examples candidates are scored on (default: the trainset).
            trajectories: Logged or earlier-simulated trajectories to mine instead of simulating the trainset.

        Raises:
            RefinerError: no contrastive pairs, no usable refiner output, every conversation failed, or a
                resumed study was made for other data or settings.
            MetricError: the metric raised.
        """
        started = time.perf_counter()
        self._reset()
        program = student.deepcopy()
        train = self._register(trainset, "trainset")
        val = self._register(valset, "valset") if valset else train
        if self.mode == "optimize" and not val:
            raise RefinerError(
                "mode='optimize' scores candidates on a valset (or the trainset); give one, or use "
                "mode='paper' to distill from trajectories alone"
            )
        report: dict[str, Any] = {
            "mode": self.mode,
            "selection": self.selection,
            "rounds": [],
            "train": [r.task_id for r in train],
            "val": [r.task_id for r in val],
        }
        self._report = report
        self._config = compile_config(self, student, train, val)
        try:
            if self.mode == "optimize":
                self._check_sampling()
                self._check_bar(val)
            mined = trajectories if trajectories is not None else self._mine(train, student)
            _raise_if_all_failed(mined, "mining pairs")
            # Explicit requests that solved a task stay valid D+ for every round; revisions re-simulate only
            # the mediated side.
            self._solved = [t for t in mined if successful_request(t) is not None]
            pairs = build_pairs(mined)
            report["pairs_found"] = len(pairs)
            if not pairs:
                raise RefinerError("no contrastive pairs: no task failed multi-turn while succeeding single-turn")
            if self.mode == "paper":
                chosen = self._paper(pairs[: self.pairs_per_batch], report)
            else:
                try:
                    chosen = self._optimize(student, pairs, train, val, report)
                except BudgetExhausted as exc:
                    chosen = self._stopped(exc, student, report)
                chosen = self._confirmed(student, chosen, val, report)
        except BudgetExhausted as exc:
            chosen = self._stopped(exc, student, report)
        finally:
            report["budget"] = self.budget.as_dict()
            report["usage"] = merge_usage([*self._usage, {"refiner": self._refiner_usage}])
            report["seconds"] = round(time.perf_counter() - started, 2)
            self._write_report(report)
        program.set_guidelines(chosen)
        report["guidelines"] = chosen
        self._write_report(report)
        program.refiner_report = report
        program._compiled = True
        return program

    # ---- steps ----------------------------------------------------------------------------------------------
    def _mine(self, train: list[Instruction], student: MediatedAssistant) -> list[Trajectory]:
        settings = self._settings(student)
        return self._simulate(train, ["full", self.failure_mode], settings, "mining pairs", runs=self.mining_runs)

    def _paper(self, pairs: list[SourcedPair], report: dict) -> list[str]:
        guidelines = self._distill(pairs, [])
        if guidelines is None:
            raise RefinerError("the refiner LM returned no usable guidelines (see the log for its output)")
        report["rounds"].append(
            {
                "round": 0,
                "pairs": [p.describe() for p in pairs],
                "candidates": [{"guidelines": guidelines, "batch_size": len(pairs)}],
            }
        )
        return guidelines

    def _optimize(self, student, pairs, train, val, report) -> list[str]:
        rng = random.Random(self.seed)
        baseline = self._score(student.guidelines, val, student)
        report["baseline_score"] = baseline
        best = {"guidelines": student.guidelines, "score": baseline, "round": -1}
        report["best"] = best
        for round_index in range(self.rounds):
            study = load_or_create_study(self.storage, f"{self.study_name}-r{round_index}", self.seed, self._config)
            candidates = study.user_attrs.get("candidates")
            if candidates is None:
                candidates = self._propose(pairs, best["guidelines"] if round_index else [], rng)
                if not candidates:
                    report["rounds"].append({"round": round_index, "candidates": [], "note": "no usable proposal"})
                    break
                study.set_user_attr("candidates", candidates)
            entry = {"round": round_index, "pairs": [p.describe() for p in pairs], "candidates": candidates}
            report["rounds"].append(entry)
            try:
                self._search(study, candidates, val, student, best)
            finally:  # also when the budget runs out mid-search: the trials that finished still count
                entry["trials"] = [
                    {"number": t.number, "params": t.params, "value": t.value, "state": t.state.name}
                    for t in study.trials
                ]
                best = self._best_of(study, candidates, best)
                report["best"] = best
                self._write_report(report)
            if round_index + 1 < self.rounds:
                pairs = build_pairs(self._revision_trajectories(train, student, best["guidelines"]))
                if not pairs:
                    break
        return best["guidelines"]

    def _propose(self, pairs: list[SourcedPair], current: list[str], rng: random.Random) -> list[dict]:
        candidates: list[dict] = []
        for batch_size in self.batch_sizes:
            for attempt in range(self.candidates_per_round):
                batch = rng.sample(pairs, min(batch_size, len(pairs)))
                guidelines = self._distill(batch, current, rollout=attempt)
                if guidelines and all(c["guidelines"] != guidelines for c in candidates):
                    candidates.append(
                        {"guidelines": guidelines, "batch_size": batch_size, "pairs": [p.pair.task_id for p in batch]}
                    )
        return candidates

    def _distill(self, batch: list[SourcedPair], current: list[str], rollout: int = 0) -> list[str] | None:
        lm = self.settings.roles.refiner
        if rollout and lm is not None and lm.kwargs.get("temperature"):
            lm = lm.copy(rollout_id=rollout)
        with dspy.track_usage() as tracker:
            try:
                with lm_scope(lm), dspy.context(callbacks=[self.budget]):
                    out = self.distill(
                        pairs=[p.pair for p in batch], current_guidelines=current, max_guidelines=self.max_guidelines
                    )
            except Exception as exc:  # garbage from the refiner LM costs one candidate, not the compile
                logger.warning("refiner output unusable, candidate skipped: %s", str(exc)[:300])
                self._report.setdefault("skipped_candidates", []).append(str(exc)[:300])
                out = None
            finally:
                self._count_refiner_usage(tracker)
        if out is None:
            return None
        return _clean(out.guidelines, self.max_guidelines)

    def _count_refiner_usage(self, tracker) -> None:
        for entries in tracker.usage_data.values():
            for entry in entries:
                self._refiner_usage["calls"] += 1
                self._refiner_usage["prompt_tokens"] += entry.get("prompt_tokens") or 0
                self._refiner_usage["completion_tokens"] += entry.get("completion_tokens") or 0

    def _search(self, study: optuna.Study, candidates: list[dict], val, student, best: dict) -> None:
        # A trial killed mid-way (FAIL or RUNNING in storage) is redone; complete and pruned ones are kept.
        kept_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        done = sum(t.state in kept_states for t in study.trials)
        wanted = self.trials_per_round or 2 * len(candidates)
        max_rules = max(len(c["guidelines"]) for c in candidates)
        memo = {t.user_attrs["key"]: t.value for t in study.trials if t.value is not None and "key" in t.user_attrs}

        def objective(trial: optuna.Trial) -> float:
            index = trial.suggest_categorical("candidate", list(range(len(candidates))))
            kept = trial.suggest_int("rules_kept", 1, max_rules)
            guidelines = candidates[index]["guidelines"][:kept]
            key = candidate_key(guidelines)
            trial.set_user_attr("key", key)
            if key in memo:  # the same guideline list was already scored: no LM call needed
                return memo[key]
            value = self._score(guidelines, val, student, trial=trial, best=max(best["score"], study_best(study)))
            memo[key] = value
            return value

        if wanted > done:
            study.optimize(objective, n_trials=wanted - done, catch=(RefinerError,))

    def _best_of(self, study: optuna.Study, candidates: list[dict], best: dict) -> dict:
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not complete:
            return best
        top = max(complete, key=lambda t: (t.value, -t.number))
        if top.value <= best["score"]:
            return best
        candidate = candidates[top.params["candidate"]]
        return {
            "guidelines": candidate["guidelines"][: top.params["rules_kept"]],
            "score": top.value,
            "round": len(self._report["rounds"]) - 1,
            "batch_size": candidate["batch_size"],
            "pairs": candidate.get("pairs", []),
        }

    def _revision_trajectories(self, train, student, guidelines) -> list[Trajectory]:
        """The current best set's own failures, with the explicit requests that solved the same tasks."""
        program = student.deepcopy()
        program.set_guidelines(guidelines)
        settings = self._settings(program)
        failures = self._simulate(train, ["mediated"], settings, "finding remaining failures")
        solved_ids = {t.task_id for t in self._solved}
        unsolved = [r for r in train if r.task_id not in solved_ids]
        # Full runs are simulated once (while mining); only tasks that never had one are run now.
        extra = self._simulate(unsolved, ["full"], settings, None) if unsolved else []
        return [*self._solved, *extra, *failures]

    def confirm(self, student: MediatedAssistant, guidelines: list[str], valset: list) -> dict[str, Any]:
        """Score `guidelines` and the student's own guidelines on `confirm_runs` fresh runs of every valset task.

        The runs are 1..`confirm_runs` (run 0 is what a search scores), the same runs for both lists, each a
        distinct sample when the assistant samples. Returns the runs, each list's P over them and per-task
        scores, the difference of the P's with a percentile-bootstrap 95% interval over the tasks' paired
        differences, the LM calls and tokens spent, and `confirmed`: whether `guidelines` passed `confirm_bar`
        (a strictly higher P, or an interval above 0).

        Raises:
            RefinerError: `confirm_runs` is 0, nothing samples, or a conversation failed (a crash is not a 0).
        """
        if not self.confirm_runs:
            raise RefinerError("confirm_runs is 0: give Refiner(confirm_runs=N) to confirm on N fresh runs")
        self._check_sampling()
        val = self._register(valset, "valset")
        if not val:
            raise RefinerError("confirm: the valset is empty")
        self._check_bar(val)
        return self._confirm(student, guidelines, val, first_run=1)

    def _confirm(self, student, guidelines: list[str], val: list[Instruction], *, first_run: int) -> dict[str, Any]:
        runs = list(range(first_run, first_run + self.confirm_runs))
        budget = LMBudget()  # counts only: confirmation's size is fixed by confirm_runs (see the class docstring)
        winner = self._fresh_scores(self._with(student, guidelines), val, runs, budget)
        uncompiled = self._fresh_scores(student, val, runs, budget)
        score, baseline = aggregate(winner)["P"], aggregate(uncompiled)["P"]
        interval = bootstrap_ci(paired_differences(winner, uncompiled))
        return {
            "runs": runs,
            "guidelines": list(guidelines),
            "score": score,
            "uncompiled_score": baseline,
            "scores": winner,
            "uncompiled_scores": uncompiled,
            "difference": score - baseline,
            "difference_ci": interval,
            "bar": self.confirm_bar,
            "confirmed": score > baseline if self.confirm_bar == "higher" else interval[0] > 0,
            "budget": budget.as_dict(),
        }

    def _confirmed(self, student, chosen: list[str], val: list[Instruction], report: dict) -> list[str]:
        """`chosen` if it is the student's own list or confirmation holds it up; else the student's list."""
        if not self.confirm_runs or chosen == student.guidelines:
            return chosen
        # Fresh for the search (run 0) and, on tasks the pairs were mined from, for the mining runs too.
        mined_from = set(report["train"]) & {record.task_id for record in val}
        first_run = max(1, self.mining_runs) if mined_from else 1
        confirmation = self._confirm(student, chosen, val, first_run=first_run)
        report["confirmation"] = confirmation
        logger.info(
            "confirmation over runs %s: winner %.1f, uncompiled %.1f",
            confirmation["runs"],
            confirmation["score"],
            confirmation["uncompiled_score"],
        )
        if confirmation["confirmed"]:
            return chosen
        report["search_best"] = report["best"]
        report["best"] = {"guidelines": student.guidelines, "score": report.get("baseline_score"), "round": -1}
        logger.warning("the search's winner was not confirmed on fresh runs; the uncompiled guidelines ship")
        return student.guidelines

    def _stopped(self, exc: BudgetExhausted, student, report: dict) -> list[str]:
        report["stopped"] = str(exc)
        logger.warning("%s; keeping the best guidelines found so far", exc)
        return report.get("best", {}).get("guidelines", student.guidelines)

    def _check_sampling(self) -> None:
        """Confirmation compares fresh samples; without sampling every run would replay run 0."""
        if not self.confirm_runs:
            return
        temperatures = self.settings.roles.temperatures()
        sampling = ["assistant", "user"] if self.settings.user_sim == "llm" else ["assistant"]
        if all(temperatures.get(role) == 0 for role in sampling):
            raise RefinerError(
                f"confirm_runs={self.confirm_runs} needs sampling, but the {' and '.join(sampling)} "
                "temperature is 0: every run would repeat run 0 (give the assistant a temperature above 0)"
            )

    def _check_bar(self, val: list[Instruction]) -> None:
        if self.confirm_runs and self.confirm_bar == "interval" and len(val) < MIN_INTERVAL_TASKS:
            raise RefinerError(
                f"confirm_bar='interval' needs at least {MIN_INTERVAL_TASKS} valset tasks, got {len(val)}: over "
                "fewer, a bootstrap over tasks cannot tell a win from one lucky task (use a larger valset, or "
                "confirm_bar='higher')"
            )

    def _fresh_scores(self, program, val: list[Instruction], runs: list[int], budget) -> dict[str, list[float]]:
        settings = self._settings(program, budget=budget)
        skip = {(record.task_id, "mediated", k) for record in val for k in range(runs[0])}
        done = self._simulate(val, ["mediated"], settings, None, runs=runs[-1] + 1, skip=skip, budget=budget)
        _raise_on_any_failure(done, "confirming")
        scores: dict[str, list[float]] = {record.task_id: [] for record in val}
        for trajectory in sorted(done, key=lambda t: (t.task_id, t.run)):
            scores[trajectory.task_id].append(trajectory.score or 0.0)
        return scores

    @staticmethod
    def _with(student: MediatedAssistant, guidelines: list[str]) -> MediatedAssistant:
        program = student.deepcopy()
        program.set_guidelines(guidelines)
        return program

    # ---- scoring --------------------------------------------------------------------------------------------
    def _score(self, guidelines: list[str], val: list[Instruction], student, *, trial=None, best=None) -> float:
        program = self._with(student, guidelines)
        if self.selection == "proxy":
            return self._proxy_score(program, val)
        settings = self._settings(program)
        total, seen = 0.0, 0
        chunk = max(1, self.workers)
        for start in range(0, len(val), chunk):
            batch = self._simulate(val[start : start + chunk], ["mediated"], settings, None)
            _raise_on_any_failure(batch, "validating")
            total += sum(t.score or 0.0 for t in batch)
            seen += len(batch)
            if trial is not None:
                bound = (total + 100.0 * (len(val) - seen)) / len(val)  # the best this candidate can still reach
                trial.report(bound, seen)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"cannot beat {best:.1f} (at most {bound:.1f})")
        return total / len(val)

    def _proxy_score(self, program: MediatedAssistant, val: list[Instruction]) -> float:
        with dspy.track_usage(), dspy.context(callbacks=[self.budget]):  # the budget reads the reported usage
            return proxy_score(program, val, self.settings.roles.mediator)

    # ---- plumbing -------------------------------------------------------------------------------------------
    def _settings(self, program: MediatedAssistant, budget: LMBudget | None = None) -> ConversationSettings:
        """The user's settings with this program, a budget (the compile's by default) and the metric; every other
        field kept as given."""
        metric = self._conversation_metric if self.metric is not None else self.settings.metric
        callbacks = [*self.settings.callbacks, budget or self.budget]
        return dataclasses.replace(self.settings, program=program, metric=metric, callbacks=callbacks)

    def _register(self, items: Iterable, what: str) -> list[Instruction]:
        """Keep each example as given (the metric gets it intact) and return the records to simulate."""
        records = []
        for index, item in enumerate(items):
            example = to_example(item) if isinstance(item, Instruction) else item
            try:
                record = example_record(example)
            except Exception as exc:
                raise RefinerError(
                    f"{what}[{index}]: give Instructions or dspy.Examples with a 'record' "
                    f"(intent_mediator.to_examples(records) builds them): {exc}"
                ) from None
            self._examples[record.task_id] = example
            records.append(record)
        return records

    def _conversation_metric(self, example: dspy.Example, pred: dspy.Prediction, trace: Any = None) -> Any:
        """The user's metric, called with the user's own example for this record."""
        task_id = example_record(example).task_id
        given = self._examples.get(task_id, example)
        metric = self.metric
        assert metric is not None  # only installed when the Refiner has a metric
        try:
            return metric(given, pred)
        except Exception as exc:
            name = getattr(metric, "__name__", type(metric).__name__)
            raise MetricError(f"the metric {name} raised {type(exc).__name__}: {exc} (example {task_id})") from exc

    def _simulate(self, records, modes, settings, desc, runs: int = 1, skip=None, budget=None) -> list[Trajectory]:
        trajectories = simulate(
            records,
            modes,
            runs,
            settings,
            workers=self.workers,
            skip=skip,
            progress=self.progress and desc is not None,
            desc=desc or "",
        )
        self._usage.extend(t.usage for t in trajectories)
        budget = budget or self.budget
        if budget.exhausted:
            raise BudgetExhausted(f"LM budget spent: {budget.as_dict()}")
        return trajectories

    def _write_report(self, report: dict) -> None:
        if self.report_dir is not None:
            write_json_atomic(self.report_dir / "refiner_report.json", report)


def confirmation_meta(report: dict) -> dict[str, Any]:
    """What an artifact's meta records of a Refiner report's confirmation: the fresh runs' scores and verdict,
    and, when the winner was not confirmed, the search's winner (`search_best`); empty without confirmation."""
    return {key: report[key] for key in ("confirmation", "search_best") if key in report}


def _raise_on_metric_failure(failed: list[Trajectory]) -> None:
    metric_failure = next((t.error for t in failed if t.error and t.error.startswith("MetricError")), None)
    if metric_failure is not None:
        raise MetricError(metric_failure.removeprefix("MetricError: "))


def _raise_on_any_failure(trajectories: list[Trajectory], step: str) -> None:
    """Scores are means over every conversation: one that crashed is an error, never scored as 0."""
    failed = [t for t in trajectories if t.error is not None]
    if failed:
        _raise_on_metric_failure(failed)  # a broken metric gets its own error
        first = failed[0]
        raise RefinerError(
            f"{len(failed)} of {len(trajectories)} conversations failed while {step}; the first, "
            f"{first.task_id}/{first.mode}/run {first.run}: {first.error}"
        )


def _raise_if_all_failed(trajectories: list[Trajectory], step: str) -> None:
    """A broken metric stops the compile at once; so does a step where every conversation failed."""
    failed = [t for t in trajectories if t.error is not None]
    _raise_on_metric_failure(failed)
    if trajectories and len(failed) == len(trajectories):
        raise RefinerError(f"all {len(failed)} conversations failed while {step}; the first error: {failed[0].error}")
    if failed:
        logger.warning(
            "%d of %d conversations failed while %s: %s", len(failed), len(trajectories), step, failed[0].error
        )


def _clean(guidelines: Any, limit: int) -> list[str] | None:
    if not isinstance(guidelines, list):
        return None
    cleaned: list[str] = []
    for rule in guidelines:
        text = " ".join(str(rule).split()).lstrip("-*0123456789.) ").strip()
        if text and text not in cleaned:
            cleaned.append(text)
    return cleaned[:limit] or None


__all__ = ["CONFIRM_BARS", "MIN_INTERVAL_TASKS", "CannotWinPruner", "Refiner", "RefinerError", "confirmation_meta"]
