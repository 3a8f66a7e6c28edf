"""The Mediator's signature and the way learned guidelines are written into its instructions."""

from __future__ import annotations

import re

import dspy
from intent_mediator.transcript import Turn


class MediateRequest(dspy.Signature):
    """You sit between a user and an assistant model. Over several chat turns the user has been describing one
    task, often a single detail at a time, and the assistant may have replied with guesses along the way. Write
    the one message the user would have sent had they said everything at once.

    - Go through the user's turns in order and carry every detail of each into the message: numbers,
      amounts, prices, names, values, formats and conditions. A later detail adds to the earlier ones unless
      the user says it replaces them.
    - Write as the user, in the first person, addressed to the assistant.
    - When the user corrects or withdraws something, keep only the corrected version.
    - Replace references such as "it", "that one" or "same as before" with what they point to.
    - Assistant turns are not the user's intent: take nothing from them unless the user clearly accepted it.
    - Add no requirement, assumption or answer of your own, and do not solve the task yourself.
    """

    transcript: list[Turn] = dspy.InputField(
        desc="The conversation so far, oldest turn first; the last turn is the user's."
    )
    request: str = dspy.OutputField(
        desc="One explicit, self-contained request in the user's voice, sent to the assistant as its only message."
    )


GUIDELINES_HEADER = "Guidelines learned for this user and domain (apply each one whenever it fits):"
_NUMBERED = re.compile(r"^\s*(\d+)[.)]\s+(.*\S)\s*$")


def split_instructions(instructions: str) -> tuple[str, list[str]]:
    """Split Mediator instructions into the base prompt and the numbered guidelines written after it.

    Returns:
        The base instructions and the guidelines, in order; an empty list when there is no guidelines section.
    """
    base, header, rest = instructions.partition(GUIDELINES_HEADER)
    if not header:
        return instructions, []
    guidelines = [match.group(2) for line in rest.splitlines() if (match := _NUMBERED.match(line))]
    return base.rstrip(), guidelines


def render_instructions(base: str, guidelines: list[str]) -> str:
    """Append a numbered guidelines section to `base`; no section when there are no guidelines.

    Raises:
        ValueError: when a guideline is empty or spans several lines (it could not be read back unchanged).
    """
    cleaned = []
    for index, rule in enumerate(guidelines, start=1):
        if not isinstance(rule, str) or not rule.strip():
            raise ValueError(f"guideline {index} is empty; give each guideline as a non-empty string")
        if "\n" in rule.strip():
            raise ValueError(f"guideline {index} spans several lines; give each guideline as one line")
        cleaned.append(re.sub(r"^\s*\d+[.)]\s+", "", rule.strip()))
    if not cleaned:
        return base
    numbered = "\n".join(f"{number}. {rule}" for number, rule in enumerate(cleaned, start=1))
    return f"{base}\n\n{GUIDELINES_HEADER}\n{numbered}"
