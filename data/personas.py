"""Personas: how a simulated user phrases what they reveal. A persona is data, selectable per run.

2602.07338 argues that the intent gap comes from habits of expression that differ between users, which is why
guidelines are learned per user. These personas span the habits its analysis turns on: whether a user says
that a message refines the earlier ones, and whether they react to a wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Persona:
    """A named description for the LLM simulator, plus templates for the deterministic one.

    Args:
        name: Identifier used on the command line and in trajectories.
        description: How this user writes, given to the LLM simulator.
        followup: Template for a revealed shard after the first turn (`{shard}`).
        after_wrong_answer: Template used instead when the assistant's last reply was a wrong answer attempt.
    """

    name: str
    description: str
    followup: str = "{shard}"
    after_wrong_answer: str | None = None

    def render(self, shard: str, *, first: bool, assistant_was_wrong: bool) -> str:
        if first:
            return shard
        if assistant_was_wrong and self.after_wrong_answer:
            return self.after_wrong_answer.format(shard=shard)
        return self.followup.format(shard=shard)


PERSONAS: dict[str, Persona] = {
    persona.name: persona
    for persona in (
        Persona(
            name="lazy",
            description=(
                "Terse. Types short lowercase fragments, adds one piece of information per message without saying "
                "it adds to what came before, and never says whether the assistant's earlier answers were right."
            ),
        ),
        Persona(
            name="corrective",
            description=(
                "Reacts to wrong answers. When the assistant's last answer missed something, starts with 'no, I "
                "meant...' and states the missing piece as a correction; otherwise adds the next piece plainly."
            ),
            after_wrong_answer="No, that's not what I meant. {shard}",
        ),
        Persona(
            name="explicit",
            description=(
                "Cooperative and clear. Marks every follow-up as an addition to the same task, such as 'One more "
                "requirement: ...', so that nothing said earlier seems withdrawn."
            ),
            followup="One more requirement for the same task: {shard}",
        ),
    )
}


def get_persona(name: str) -> Persona:
    try:
        return PERSONAS[name]
    except KeyError:
        raise KeyError(f"unknown persona {name!r}; personas: {', '.join(PERSONAS)}") from None
