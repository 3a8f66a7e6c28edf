"""Run one Lost-in-Conversation conversation in one mode and record its `Trajectory`.

Modes: `full` (the original instruction, one turn), `concat` (every shard in one message, one turn),
`sharded` (one shard per turn), `recap` (sharded plus a final turn restating every shard, added even when the
sharded part already solved the task, and scored on that turn alone, as in the reference), `snowball` (each
turn restates the earlier shards before the new one), `drop-assistant` (sharded, but the assistant's context
holds only the user's turns, as separate messages: Huang et al., arXiv 2602.24287), `ergo` (sharded, with
ERGO's entropy-triggered reset: `programs.ergo`) and `mediated` (sharded, answered through a
`MediatedAssistant`). The assistant model, system prompt and sampling are the same in every mode; the baseline
assistant gets the conversation as real chat messages, the mediated assistant one message holding the request.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import dspy
from intent_mediator.data.personas import Persona, get_persona
from intent_mediator.data.records import Instruction
from intent_mediator.facts import trajectory_fact_check
from intent_mediator.finish import cut_off, finish_reasons
from intent_mediator.lm import RoleLMs, lm_scope
from intent_mediator.metrics import MetricError
from intent_mediator.programs import Assistant, MediatedAssistant
from intent_mediator.programs.ergo import ErgoAssistant
from intent_mediator.programs.user_simulator import DeterministicUser, SimulatedUser, VerbatimUser, shard_texts
from intent_mediator.simulation.ergo import ErgoConfig, ErgoSession
from intent_mediator.simulation.fingerprint import digest
from intent_mediator.simulation.judging import ReplyJudge
from intent_mediator.simulation.trajectory import Trajectory, TurnRecord
from intent_mediator.simulation.usage import RoleUsage
from intent_mediator.tasks import get_task
from intent_mediator.tasks.base import Task, TaskConfig
from intent_mediator.transcript import MEDIATOR_HISTORIES, Turn

logger = logging.getLogger(__name__)

MODES = ("full", "concat", "sharded", "recap", "snowball", "drop-assistant", "ergo", "mediated")
SINGLE_TURN_MODES = ("full", "concat")


@dataclass
class ConversationSettings:
    """Everything a conversation needs besides the record, mode and run number.

    Args:
        roles: LMs by role; the assistant, mediator, user (LLM simulator) and judge roles are used.
        user_sim: "deterministic" (shards in order, persona templates) or "llm" (the user role's LM).
        persona: How the simulated user writes.
        classifier: "rules" or "llm" reply classification.
        llm_extraction: Let the judge extract answers the task's parser misses.
        max_turns: Bound on user turns (default: shards + 2; the recap turn comes on top).
        program: The MediatedAssistant to evaluate in mediated mode (default: uncompiled).
        programs: Per-domain programs for mediated mode (e.g. compiled artifacts): a record whose task is a key
            uses that program instead of `program`.
        metric: A DSPy metric `metric(example, pred) -> float | Prediction(score=...)` that scores answer
            attempts instead of the task's scorer; `example.record` is the Instruction, `pred.response` the
            reply and `pred.answer` the extracted answer.
        callbacks: DSPy callbacks active for every LM call of the conversation (e.g. a budget).
        mediator_history: "full" (the Mediator rereads the whole transcript every turn, as in the paper) or
            "incremental" (the default: it reads its previous request, the reply to it and the user's new turn).
        task_config: The scorers' per-run settings (summary judge LM, Spider folder); its judge LM defaults to
            the judge role's LM.
        ergo: Threshold and log-probability settings of `ergo` mode.
    """

    roles: RoleLMs
    user_sim: str = "deterministic"
    persona: Persona = field(default_factory=lambda: get_persona("lazy"))
    classifier: str = "rules"
    llm_extraction: bool = False
    max_turns: int | None = None
    program: MediatedAssistant | None = None
    programs: dict[str, MediatedAssistant] = field(default_factory=dict)
    metric: Callable[..., Any] | None = None
    callbacks: list[Any] = field(default_factory=list)
    mediator_history: str = "incremental"
    task_config: TaskConfig = field(default_factory=TaskConfig)
    ergo: ErgoConfig = field(default_factory=ErgoConfig)

    def __post_init__(self) -> None:
        if self.user_sim not in ("deterministic", "llm"):
            raise ValueError(f"user_sim must be 'deterministic' or 'llm', got {self.user_sim!r}")
        if self.mediator_history not in MEDIATOR_HISTORIES:
            raise ValueError(f"mediator_history must be one of {MEDIATOR_HISTORIES}, got {self.mediator_history!r}")
        if self.program is None:
            # Built once per run, not per conversation: building a program builds its signature classes.
            self.program = MediatedAssistant()
        if self.task_config.judge_lm is None and self.roles.judge is not None:
            self.task_config = replace(self.task_config, judge_lm=self.roles.judge)


def concat_message(texts: list[str]) -> str:
    return "\n".join(f"- {text}" for text in texts if text.strip())


def snowball_message(earlier: list[str], new: str) -> str:
    if not earlier:
        return new
    return "To restate what I have said so far:\n" + concat_message(earlier) + f"\n\nAnd now: {new}"


def recap_message(concat: str) -> str:
    """The recap turn: the task's concat message (every shard at once), framed as a summary of the chat."""
    ending = "Please solve it now, taking every detail above into account."
    return f"To sum up, this is the whole task:\n\n{concat}\n\n{ending}"


class Conversation:
    """One conversation: the mode's user turns, the assistant's replies, judging and scoring."""

    def __init__(self, record: Instruction, mode: str, run: int, settings: ConversationSettings):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
        self.record, self.mode, self.run, self.settings = record, mode, run, settings
        self.task: Task = get_task(record.task)
        self.system = self.task.system_prompt(record)
        self.usage = RoleUsage()
        roles = settings.roles
        assistant_lm = _sample(roles.assistant, run, f"{record.task_id}/assistant")
        self.assistant = Assistant(context=self.system, lm=assistant_lm)
        self.assistant_lm = assistant_lm
        if mode == "ergo":
            self.ergo = ErgoSession(
                ErgoAssistant(
                    self.system,
                    lm=assistant_lm,
                    threshold=settings.ergo.threshold,
                    top_logprobs=settings.ergo.top_logprobs,
                )
            )
        # Shared, never copied: a module's forward only reads its predictors, so threads can share it.
        program = settings.programs.get(record.task, settings.program)
        assert program is not None  # ConversationSettings.__post_init__ always sets `program`
        self.mediated: MediatedAssistant = program
        self.user: VerbatimUser | SimulatedUser | DeterministicUser
        if self.task.reveal_verbatim:
            # The reference reveals document shards (translation, summary, data2text) as they are, in order.
            self.user = VerbatimUser()
        elif settings.user_sim == "llm":
            self.user = SimulatedUser(settings.persona, lm=_sample(roles.user, run, f"{record.task_id}/user"))
        else:
            self.user = DeterministicUser(settings.persona)
        # Every role is sampled per run; at the default temperature 0 (judge, Mediator) that is the LM itself.
        self.mediator_lm = _sample(roles.mediator, run, f"{record.task_id}/mediator")
        judge_lm = _sample(roles.judge, run, f"{record.task_id}/judge")
        self.judge = ReplyJudge(settings.classifier, judge_lm, settings.llm_extraction)
        self.trajectory = Trajectory(
            task_id=record.task_id,
            task=record.task,
            mode=mode,
            run=run,
            persona=settings.persona.name,
            user_sim=settings.user_sim,
            models=roles.models(),
            guidelines=self.mediated.guidelines if mode == "mediated" else None,
        )

    def run_to_end(self) -> Trajectory:
        started = time.perf_counter()
        try:
            with dspy.context(callbacks=[*dspy.settings.callbacks, *self.settings.callbacks]):
                self._run()
            if self.mode == "recap":
                # As the reference: recap is judged on its recap turn alone (0 when that reply is no answer).
                last = self.trajectory.turns[-1].score if self.trajectory.turns else None
                attempts = [] if last is None else [last]
            else:
                attempts = [t.score for t in self.trajectory.turns if t.score is not None]
            self.trajectory.score = 100.0 * attempts[-1] if attempts else 0.0
            solved = bool(attempts) and attempts[-1] >= 1.0
            self.trajectory.outcome = "solved" if solved else "unsolved"
        except Exception as exc:  # one broken conversation must not end the run; it is recorded, not scored 0
            logger.warning("%s/%s/run %d failed: %s", self.record.task_id, self.mode, self.run, exc)
            self.trajectory.error = error_text(exc)
            self.trajectory.score = None
            self.trajectory.outcome = "error"
        self.trajectory.usage = self.usage.as_dict()
        self.trajectory.seconds = round(time.perf_counter() - started, 3)
        return self.trajectory

    def _run(self) -> None:
        if self.mode in SINGLE_TURN_MODES:
            self._single_turn()
        else:
            self._multi_turn()

    def _single_turn(self) -> None:
        if self.mode == "full":
            message = self.task.full_prompt(self.record)
        else:
            message = self.task.concat_prompt(self.record)
        self._exchange([Turn.user(message)], TurnRecord(index=0, user=message))

    def _multi_turn(self) -> None:
        texts = shard_texts(self.record, self.task.shard_text)
        max_turns = self.settings.max_turns or len(texts) + 2
        transcript: list[Turn] = []
        revealed: list[int] = []
        said: list[str] = []
        last_wrong = False
        for index in range(max_turns):
            with self.usage.track("user"):
                move = self.user.next_move(self.record, texts, transcript, revealed, last_wrong)
            if move.shard_id is not None:
                revealed.append(move.shard_id)
            message = snowball_message(said, move.message) if self.mode == "snowball" else move.message
            said.append(move.message)
            transcript.append(Turn.user(message))
            turn = TurnRecord(index=index, user=message, shard_id=move.shard_id, note=move.corrected)
            reply = self._exchange(transcript, turn)
            transcript.append(Turn.assistant(reply))
            if turn.score is not None and turn.score >= 1.0 and self.task.binary:
                break  # solved; a recap conversation still gets its recap turn, as in the reference
            last_wrong = turn.kind == "answer_attempt"
            if len(revealed) == len(texts):
                break
        else:
            self.trajectory.turn_capped = True
            logger.info(
                "%s/%s: stopped at the %d-turn bound with %d of %d shards revealed",
                self.record.task_id,
                self.mode,
                max_turns,
                len(revealed),
                len(texts),
            )
        if self.mode == "recap":
            message = recap_message(self.task.concat_prompt(self.record))
            transcript.append(Turn.user(message))
            self._exchange(transcript, TurnRecord(index=len(self.trajectory.turns), user=message))

    def _fact_loss(self, turn: TurnRecord) -> float | None:
        """Values the user gave so far, still in force, that `turn.request` lost (see `facts`)."""
        try:
            prompt = self.task.full_prompt(self.record)
        except Exception:  # a task without a fully specified prompt only loses the names it would give
            prompt = None
        partial = self.trajectory.model_copy(update={"turns": [*self.trajectory.turns, turn]})
        check = trajectory_fact_check(partial, self.record, prompt)
        return None if check is None else check.loss

    def _previous_request(self) -> str | None:
        if self.settings.mediator_history != "incremental" or not self.trajectory.turns:
            return None
        return self.trajectory.turns[-1].request

    def _exchange(self, transcript: list[Turn], turn: TurnRecord) -> str:
        if self.mode == "mediated":
            with self.usage.track("mediator"), lm_scope(self.mediator_lm):
                mediated = self.mediated.mediator(transcript=transcript, previous_request=self._previous_request())
            turn.request = mediated.request
            turn.mediation = mediated.get("mediation")
            turn.fact_loss = self._fact_loss(turn)
        with self.usage.track("assistant"), finish_reasons() as reasons:
            reply = self._reply(transcript, turn)
        turn.assistant = reply
        turn.cut_off = cut_off(reasons)
        with self.usage.track("judge"):
            judged = self.judge(reply, self.task, self.record)
            turn.kind = judged.kind
            if judged.kind == "answer_attempt":
                turn.answer = judged.answer
                if judged.answer is None:
                    turn.score, turn.reason = 0.0, "no answer could be extracted"
                elif self.settings.metric is not None:
                    turn.score, turn.reason = _metric_score(self.settings.metric, self.record, reply, judged.answer)
                else:
                    scored = self.task.score(self.record, judged.answer, self.settings.task_config)
                    turn.score, turn.reason = scored.value, scored.reason
        self.trajectory.turns.append(turn)
        return reply

    def _reply(self, transcript: list[Turn], turn: TurnRecord) -> str:
        """The assistant's reply in this mode: to the Mediator's request (`turn.request`), or to the transcript."""
        if self.mode == "mediated":
            return self.mediated.respond(turn.request or "", self.system, lm=self.assistant_lm)
        if self.mode == "ergo":
            return self.ergo.exchange(transcript, turn)
        if self.mode == "drop-assistant":
            return self.assistant(transcript=[t for t in transcript if t.role == "user"]).response
        return self.assistant(transcript=transcript).response


def _metric_score(metric: Callable[..., Any], record: Instruction, reply: str, answer: str) -> tuple[float, str]:
    result = metric(dspy.Example(record=record).with_inputs(), dspy.Prediction(response=reply, answer=answer))
    score, feedback = result, ""
    if isinstance(result, dspy.Prediction):
        score, feedback = result.score, str(result.get("feedback") or "")
    value = float(score)
    if not math.isfinite(value):  # a NaN would sort anywhere and pass or fail any comparison
        name = getattr(metric, "__name__", type(metric).__name__)
        raise MetricError(f"the metric {name} returned {score!r} for {record.task_id}: a score must be finite")
    return value, feedback


def _sample(lm: dspy.LM | None, run: int, key: str) -> dspy.LM | None:
    """Run k samples with `rollout_id=k` when sampling is on (temperature > 0, or None: the provider's default,
    usually 1.0): distinct samples, each cached on its own. At temperature 0 every run asks the same question.

    Models that take a sampling seed (the embedded model, OpenAI's, the lean client's servers) also get a seed
    derived from `key` (task and role) and k, so run k draws the same sample in every invocation rather than
    only within one DSPy cache: a fresh machine reproduces a run (the embedded model exactly when its calls come
    in the same order, as in a one-thread run). Modes of one task and run share the seed; tasks and roles do not,
    so their random draws are not replayed across tasks.
    """
    if lm is None or lm.kwargs.get("temperature") == 0:
        return lm
    if "seed" not in (lm.supported_params or ()) or lm.kwargs.get("seed") is not None:
        return lm.copy(rollout_id=run)
    return lm.copy(rollout_id=run, seed=sampling_seed(key, run))


def sampling_seed(key: str, run: int) -> int:
    """The seed of run `run` for `key` (see `_sample`): 31 bits of SHA-256, the same on every machine."""
    return int(digest(f"{key}/{run}")[:8], 16) & 0x7FFFFFFF


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def run_conversation(record: Instruction, mode: str, run: int, settings: ConversationSettings) -> Trajectory:
    """Simulate one conversation and return its trajectory (errors are recorded in it, never raised)."""
    try:
        conversation = Conversation(record, mode, run, settings)
    except Exception as exc:  # set-up failures (e.g. a record its task cannot handle) are recorded like any crash
        logger.warning("%s/%s/run %d could not start: %s", record.task_id, mode, run, exc)
        return Trajectory(
            task_id=record.task_id, task=record.task, mode=mode, run=run, outcome="error", error=error_text(exc)
        )
    return conversation.run_to_end()
