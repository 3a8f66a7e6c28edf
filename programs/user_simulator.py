"""Simulated users for Lost-in-Conversation runs: an LLM simulator and a deterministic one.

Both reveal shard 1 verbatim on the first turn and at most one new shard per turn after that. The LLM's
choice of shard is validated: an unknown or already revealed id is corrected, never trusted. Like the
reference's user, the LLM sees the shards already revealed as well as those still to reveal. Tasks whose
shards are documents (`Task.reveal_verbatim`: translation, summary, data2text) use `VerbatimUser` whatever the
simulator chosen: each turn is the next shard's text as the task renders it, never reworded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import dspy
from intent_mediator.data.personas import Persona, misstate
from intent_mediator.data.records import Instruction
from intent_mediator.lm import lm_scope
from intent_mediator.signatures.user import SimulateUserTurn, TaskPiece
from intent_mediator.transcript import Turn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserMove:
    """The user's next message and the shard it reveals (None when it reveals none)."""

    message: str
    shard_id: int | None
    corrected: str | None = None


def shard_texts(record: Instruction, shard_text=None) -> dict[int, str]:
    render = shard_text or (lambda rec, shard: shard.shard)
    return {shard.shard_id: render(record, shard) for shard in record.shards}


def unrevealed(record: Instruction, texts: dict[int, str], revealed: list[int]) -> list[int]:
    """Shard ids not yet revealed, in order; an exhausted record is a harness bug worth a clear error."""
    remaining = [shard_id for shard_id in texts if shard_id not in revealed]
    if not remaining:
        raise ValueError(f"{record.task_id}: every shard is already revealed")
    return remaining


class DeterministicUser:
    """Reveals shards in the record's order (the 2602.07338 paper's sequential order), phrased by the persona.

    A persona that `misstates` (revising) states the first number of the first shard that has one (the last
    shard excluded) wrong, and corrects it at the start of the next message, on records without revision shards.
    """

    def __init__(self, persona: Persona):
        self.persona = persona
        self._correction: tuple[str, str] | None = None  # (right, wrong) to correct with the next message

    def next_move(
        self,
        record: Instruction,
        texts: dict[int, str],
        transcript: list[Turn],
        revealed: list[int],
        assistant_was_wrong: bool = False,
    ) -> UserMove:
        shard_id = unrevealed(record, texts, revealed)[0]
        text = texts[shard_id]
        if self._correction is not None:
            right, wrong = self._correction
            self._correction = None
            text = self.persona.correction.format(right=right, wrong=wrong, shard=text)
        elif self._misstated(record, texts, revealed) == shard_id and (stated := misstate(text)) is not None:
            text, right, wrong = stated
            self._correction = (right, wrong)
        message = self.persona.render(text, first=not revealed, assistant_was_wrong=assistant_was_wrong)
        return UserMove(message=message, shard_id=shard_id)

    def _misstated(self, record: Instruction, texts: dict[int, str], revealed: list[int]) -> int | None:
        """The shard this user states wrong: the first with a number, the last shard excluded (None: none)."""
        if not self.persona.misstates or record.revisions:
            return None
        return next((i for i in list(texts)[:-1] if misstate(texts[i])), None)


class VerbatimUser:
    """Reveals the next shard's text exactly as the task renders it: no persona, no LLM, no rewording."""

    def next_move(
        self,
        record: Instruction,
        texts: dict[int, str],
        transcript: list[Turn],
        revealed: list[int],
        assistant_was_wrong: bool = False,
    ) -> UserMove:
        shard_id = unrevealed(record, texts, revealed)[0]
        return UserMove(message=texts[shard_id], shard_id=shard_id)


class SimulatedUser(dspy.Module):
    """An LLM plays the user (role `user`); turn 1 is always shard 1 verbatim, with no LLM call.

    Args:
        persona: How the user writes.
        lm: The user role's LM (None: the surrounding context's LM).
    """

    def __init__(self, persona: Persona, *, lm: dspy.LM | None = None):
        super().__init__()
        self.persona = persona
        self.simulate = dspy.Predict(SimulateUserTurn)
        self.role_lm = lm

    def next_move(
        self,
        record: Instruction,
        texts: dict[int, str],
        transcript: list[Turn],
        revealed: list[int],
        assistant_was_wrong: bool = False,
    ) -> UserMove:
        remaining = unrevealed(record, texts, revealed)
        if not revealed:
            return UserMove(message=texts[remaining[0]], shard_id=remaining[0])
        with lm_scope(self.role_lm):
            out = self.simulate(
                persona=self.persona.description,
                conversation=transcript,
                revealed=[TaskPiece(shard_id=i, text=texts[i]) for i in revealed],
                unrevealed=[TaskPiece(shard_id=i, text=texts[i]) for i in remaining],
            )
        move = self._validated(out, texts, remaining)
        shard = next((s for s in record.shards if s.shard_id == move.shard_id), None)
        targets = set(shard.revises or []) if shard is not None else set()
        if targets - set(revealed):
            # A revision must come after what it revises, or the final intent is not the record's.
            note = f"simulator chose revision shard {move.shard_id} before shards {sorted(targets - set(revealed))}"
            return UserMove(message=texts[remaining[0]], shard_id=remaining[0], corrected=note)
        return move

    @staticmethod
    def _validated(out: dspy.Prediction, texts: dict[int, str], remaining: list[int]) -> UserMove:
        message = (out.message or "").strip()
        shard_id = out.shard_id
        if shard_id in (0, None) and message:
            return UserMove(message=message, shard_id=None)
        if shard_id not in remaining:
            # An unknown or repeated id would stall the run or double-count a shard: reveal the next one instead.
            fixed = remaining[0]
            note = f"simulator chose shard {shard_id!r}, not among unrevealed {remaining}; revealed {fixed} verbatim"
            logger.info(note)
            return UserMove(message=texts[fixed], shard_id=fixed, corrected=note)
        return UserMove(message=message or texts[shard_id], shard_id=shard_id)
