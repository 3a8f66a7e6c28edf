"""Personas: how a simulated user phrases what they reveal. A persona is data, selectable per run.

2602.07338 argues that the intent gap comes from habits of expression that differ between users, which is why
guidelines are learned per user. These personas span the habits its analysis turns on: whether a user says
that a message refines the earlier ones, whether they react to a wrong answer, and whether they revise what
they said (`revising`: on a record without revision shards it first states one number wrong and corrects it
with the next message, so concatenating the user's messages is wrong by construction).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A number that is not part of a clock time, a date, an identifier or a longer number.
_VALUE = re.compile(r"(?<![\w.:,/-])(\d+(?:\.\d+)?)(?![\w:/-]|[.,]\d)")


@dataclass(frozen=True)
class Persona:
    """A named description for the LLM simulator, plus templates for the deterministic one.

    Args:
        name: Identifier used on the command line and in trajectories.
        description: How this user writes, given to the LLM simulator.
        followup: Template for a revealed shard after the first turn (`{shard}`).
        after_wrong_answer: Template used instead when the assistant's last reply was a wrong answer attempt.
        misstates: The deterministic user states one number wrong and corrects it with its next message
            (records without revision shards only; see `misstate`).
        correction: Template of that correction, put before the next message (`{right}`, `{wrong}`, `{shard}`).
    """

    name: str
    description: str
    followup: str = "{shard}"
    after_wrong_answer: str | None = None
    misstates: bool = False
    correction: str = "actually, it's {right}, not {wrong}. {shard}"

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
        Persona(
            name="revising",
            description=(
                "Changes their mind and misremembers. At some point states one number from the task pieces "
                "wrong and, in a later message, corrects it in passing ('actually it's <the number in the "
                "piece>, not <the wrong one>'), always with the task's own numbers. Also takes back or changes "
                "details they gave earlier when the task pieces say so."
            ),
            misstates=True,
        ),
    )
}


def misstate(text: str) -> tuple[str, str, str] | None:
    """`text` with its first plain number stated wrong: (wrong text, right value, wrong value); None when the
    text has no such number. The wrong value is clearly different and keeps the number's format."""
    match = _VALUE.search(text)
    if match is None:
        return None
    right = match.group(1)
    if "." in right:
        decimals = len(right.split(".")[1])
        wrong = f"{float(right) * 1.5 + 1:.{decimals}f}"
    else:
        value = int(right)
        wrong = str(value + max(2, value // 4))
    return text[: match.start(1)] + wrong + text[match.end(1) :], right, wrong


def get_persona(name: str) -> Persona:
    try:
        return PERSONAS[name]
    except KeyError:
        raise KeyError(f"unknown persona {name!r}; personas: {', '.join(PERSONAS)}") from None
